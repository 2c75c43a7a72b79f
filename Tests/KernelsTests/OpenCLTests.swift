import Testing
@testable import Kernels

/// Every OpenCL op against CPUDevice, on the first OpenCL device (PoCL in CI: a CPU
/// OpenCL device). Bounds are relative to the output's scale: 1e-5 for ops whose
/// Float32 sums only change order, 1e-4 for reductions over long rows.
@Suite(.enabled(if: !Devices.openCL().devices.isEmpty, "needs an OpenCL platform (Debian: pocl-opencl-icd)"))
struct OpenCLTests {
    let cl: OpenCLDevice
    let cpu = CPUDevice()

    init() throws { cl = try OpenCLDevice() }

    /// Runs `body` on both devices with the same inputs; returns (opencl, cpu) outputs.
    func both(_ body: (Device) -> [[Float]]) -> [([Float], [Float])] {
        Array(zip(body(cl), body(cpu)))
    }

    func expectClose(_ pairs: [([Float], [Float])], _ bound: Double, _ what: String) {
        for (k, (a, b)) in pairs.enumerated() {
            #expect(relativeError(a, b.map(Double.init)) < bound, "\(what) output \(k)")
        }
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func gemm(_ ta: Bool, _ tb: Bool) {
        var rng = TestRandom(ta ? 7 : 9)
        // odd sizes, below and above a tile, ResNet-18 layer shapes (K x N*PQ x CRS), and offsets
        for (m, n, k) in [(1, 1, 1), (7, 13, 5), (33, 17, 65), (64, 1024, 576), (128, 256, 1152), (10, 128, 512)] {
            let a = rng.array(m * k + 3), b = rng.array(k * n + 5), c0 = rng.array(m * n + 2)
            let lda = ta ? m : k, ldb = tb ? k : n
            expectClose(both { d in
                let c = d.tensor(c0, [c0.count])
                d.gemm(transposeA: ta, transposeB: tb, m: m, n: n, k: k, alpha: 0.5, a: d.tensor(a, [a.count]), aOffset: 3,
                       lda: lda, b: d.tensor(b, [b.count]), bOffset: 5, ldb: ldb, beta: 2, c: c, cOffset: 2, ldc: n)
                return [d.download(c)]
            }, 1e-5, "gemm \(m)x\(n)x\(k) \(ta) \(tb)")
        }
    }

    @Test func elementwiseAndSGD() {
        var rng = TestRandom(3)
        let n = 1033
        let a = rng.array(n), b = rng.array(n), m0 = rng.array(n)
        expectClose(both { d in
            let (x, y, out) = (d.tensor(a, [n]), d.tensor(b, [n]), d.makeTensor([n]))
            var r: [[Float]] = []
            d.add(x, y, into: out); r.append(d.download(out))
            d.accumulate(x, into: out); r.append(d.download(out))
            d.reluForward(x, output: out); r.append(d.download(out))
            d.reluBackward(output: out, gradOutput: y, gradInput: y); r.append(d.download(y))
            d.copy(x, to: out); r.append(d.download(out))
            d.fill(out, with: -2); r.append(d.download(out))
            for nesterov in [false, true] {
                let (w, g, m) = (d.tensor(a, [n]), d.tensor(b, [n]), d.tensor(m0, [n]))
                d.sgdStep(parameter: w, gradient: g, momentum: m,
                          hyper: SGDHyperparameters(learningRate: 0.1, momentum: 0.9, nesterov: nesterov, weightDecay: 5e-4))
                r += [d.download(w), d.download(m)]
            }
            return r
        }, 1e-6, "elementwise")
    }

    @Test(arguments: ConvolutionTests.geometries)
    func convolution(_ g: Conv2DGeometry) {
        var rng = TestRandom(UInt64(g.hashValue & 0xffff))
        let x = rng.array(g.inputShape.reduce(1, *)), w = rng.array(g.weightShape.reduce(1, *))
        let dy = rng.array(g.outputShape.reduce(1, *))
        expectClose(both { d in
            let (xt, wt, dyt) = (d.tensor(x, g.inputShape), d.tensor(w, g.weightShape), d.tensor(dy, g.outputShape))
            let (y, dx, dw, norms) = (d.makeTensor(g.outputShape), d.makeTensor(g.inputShape), d.makeTensor(g.weightShape),
                                      d.makeTensor([g.batch]))
            d.conv2dForward(input: xt, weight: wt, output: y, geometry: g)
            d.conv2dBackwardData(gradOutput: dyt, weight: wt, gradInput: dx, geometry: g)
            d.conv2dBackwardWeight(input: xt, gradOutput: dyt, gradWeight: dw, geometry: g)
            d.fill(norms, with: 0)
            d.conv2dPerExampleGradNormsSquared(input: xt, gradOutput: dyt, geometry: g, squaredNorms: norms)
            return [d.download(y), d.download(dx), d.download(dw), d.download(norms)]
        }, 1e-4, "\(g)")
    }

    @Test(arguments: [(3, 2, 5), (16, 4, 9), (8, 3, 64)])
    func batchNorm(_ C: Int, _ N: Int, _ S: Int) {
        var rng = TestRandom(UInt64(C * N * S))
        let x = rng.array(C * N * S).map { 3 * $0 + 1 }, dy = rng.array(C * N * S), gamma = rng.array(C), beta = rng.array(C)
        let rm = rng.array(C), rv = rng.array(C).map { abs($0) + 0.3 }
        expectClose(both { d in
            let shape = [C, N, S]
            let (xt, dyt, gt, bt) = (d.tensor(x, shape), d.tensor(dy, shape), d.tensor(gamma, [C]), d.tensor(beta, [C]))
            let (rmt, rvt) = (d.tensor(rm, [C]), d.tensor(rv, [C]))
            let (y, mean, inv, dx, dg, db) = (d.makeTensor(shape), d.makeTensor([C]), d.makeTensor([C]), d.makeTensor(shape),
                                              d.makeTensor([C]), d.makeTensor([C]))
            var r: [[Float]] = []
            d.batchNormTrainingForward(input: xt, gamma: gt, beta: bt, output: y, savedMean: mean, savedInvStd: inv,
                                       runningMean: rmt, runningVar: rvt, channels: C, momentum: 0.1, epsilon: 1e-5)
            r += [d.download(y), d.download(mean), d.download(inv), d.download(rmt), d.download(rvt)]
            d.batchNormBackward(gradOutput: dyt, input: xt, gamma: gt, savedMean: mean, savedInvStd: inv, gradInput: dx,
                                gradGamma: dg, gradBeta: db, channels: C)
            r += [d.download(dx), d.download(dg), d.download(db)]
            d.batchNormInferenceForward(input: xt, gamma: gt, beta: bt, output: y, runningMean: rmt, runningVar: rvt,
                                        channels: C, epsilon: 1e-5)
            let norms = d.makeTensor([N])
            d.fill(norms, with: 1)
            d.batchNormInferenceBackward(gradOutput: dyt, input: xt, gamma: gt, runningMean: rmt, runningVar: rvt,
                                         gradInput: dx, gradGamma: dg, gradBeta: db, squaredNorms: norms,
                                         channels: C, batch: N, epsilon: 1e-5)
            r += [d.download(y), d.download(dx), d.download(dg), d.download(db), d.download(norms)]
            // the fused ReLU variants
            d.batchNormTrainingForward(input: xt, gamma: gt, beta: bt, output: y, savedMean: mean, savedInvStd: inv,
                                       runningMean: rmt, runningVar: rvt, channels: C, momentum: 0.1, epsilon: 1e-5, relu: true)
            d.batchNormBackward(gradOutput: dyt, input: xt, gamma: gt, savedMean: mean, savedInvStd: inv, gradInput: dx,
                                gradGamma: dg, gradBeta: db, channels: C, reluOutput: y)
            r += [d.download(y), d.download(dx), d.download(dg), d.download(db)]
            d.batchNormInferenceForward(input: xt, gamma: gt, beta: bt, output: y, runningMean: rmt, runningVar: rvt,
                                        channels: C, epsilon: 1e-5, relu: true)
            d.batchNormInferenceBackward(gradOutput: dyt, input: xt, gamma: gt, runningMean: rmt, runningVar: rvt,
                                         gradInput: dx, gradGamma: dg, gradBeta: db, squaredNorms: norms,
                                         channels: C, batch: N, epsilon: 1e-5, reluOutput: y)
            r += [d.download(y), d.download(dx), d.download(dg), d.download(db), d.download(norms)]
            return r
        }, 1e-4, "batch norm \(C)x\(N)x\(S)")
    }

    @Test(arguments: [(2, 3, 8, 8, 2, 2), (3, 1, 7, 5, 3, 2), (1, 2, 6, 6, 2, 1)])
    func poolingFlattenAndGlobalPool(_ C: Int, _ N: Int, _ H: Int, _ W: Int, _ k: Int, _ s: Int) {
        let g = Pool2DGeometry(channels: C, batch: N, height: H, width: W, window: k, stride: s)
        var rng = TestRandom(UInt64(C + 10 * H))
        let x = rng.array(C * N * H * W), dy = rng.array(C * N * g.outHeight * g.outWidth), dg = rng.array(C * N)
        expectClose(both { d in
            let (xt, dyt) = (d.tensor(x, g.inputShape), d.tensor(dy, g.outputShape))
            let (y, dx) = (d.makeTensor(g.outputShape), d.makeTensor(g.inputShape))
            var r: [[Float]] = []
            d.maxPoolForward(input: xt, output: y, geometry: g); r.append(d.download(y))
            d.maxPoolBackward(input: xt, gradOutput: dyt, gradInput: dx, geometry: g); r.append(d.download(dx))
            d.avgPoolForward(input: xt, output: y, geometry: g); r.append(d.download(y))
            d.avgPoolBackward(gradOutput: dyt, gradInput: dx, geometry: g); r.append(d.download(dx))
            let pooled = d.makeTensor([C, N])
            d.globalAvgPoolForward(input: xt, output: pooled, channels: C, batch: N, plane: H * W); r.append(d.download(pooled))
            d.globalAvgPoolBackward(gradOutput: d.tensor(dg, [C, N]), gradInput: dx, channels: C, batch: N, plane: H * W)
            r.append(d.download(dx))
            let flat = d.makeTensor([C * H * W, N])
            d.flattenForward(input: xt, output: flat, channels: C, batch: N, plane: H * W); r.append(d.download(flat))
            d.flattenBackward(gradOutput: flat, gradInput: dx, channels: C, batch: N, plane: H * W); r.append(d.download(dx))
            return r
        }, 1e-6, "pooling")
    }

    @Test(arguments: [(7, 3, 5), (64, 10, 33)])
    func linearAndLoss(_ inF: Int, _ outF: Int, _ N: Int) {
        var rng = TestRandom(UInt64(inF * outF + N))
        let x = rng.array(inF * N), w = rng.array(outF * inF), b = rng.array(outF), dy = rng.array(outF * N)
        let labels = (0..<N).map { _ in Int32(rng.int(0...(outF - 1))) }
        expectClose(both { d in
            let (xt, wt, dyt) = (d.tensor(x, [inF, N]), d.tensor(w, [outF, inF]), d.tensor(dy, [outF, N]))
            let (y, dx, dw, db, norms) = (d.makeTensor([outF, N]), d.makeTensor([inF, N]), d.makeTensor([outF, inF]),
                                          d.makeTensor([outF]), d.makeTensor([N]))
            d.linearForward(input: xt, weight: wt, bias: d.tensor(b, [outF]), output: y, inFeatures: inF, outFeatures: outF, batch: N)
            d.linearBackward(input: xt, weight: wt, gradOutput: dyt, gradInput: dx, gradWeight: dw, gradBias: db,
                             inFeatures: inF, outFeatures: outF, batch: N)
            d.fill(norms, with: 0)
            d.linearPerExampleGradNormsSquared(input: xt, gradOutput: dyt, inFeatures: inF, outFeatures: outF, batch: N,
                                               squaredNorms: norms)
            let errors = d.makeTensor([outF, N]), outputs = d.makeTensor([ExampleOutput.rows, N])
            d.softmaxCrossEntropy(logits: y, labels: d.labels(labels), gradScale: 0.5, errors: errors, outputs: outputs)
            return [d.download(y), d.download(dx), d.download(dw), d.download(db), d.download(norms),
                    d.download(errors), d.download(outputs)]
        }, 1e-5, "linear \(inF)x\(outF)x\(N)")
    }

    @Test func buildErrorsCarryTheLogAndName() throws {
        let bad = (name: "bad.cl", text: Array("__kernel void k(__global float* x) { x[0] = undefined_name; }".utf8))
        do {
            _ = try cl.cl.kernel("k", source: bad)
            Issue.record("a broken kernel built")
        } catch let e as OpenCLError {
            #expect(e.code == -11 && e.name == "CL_BUILD_PROGRAM_FAILURE")
            #expect(e.log?.contains("undefined_name") == true)
        }
    }
}
