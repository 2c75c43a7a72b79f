import COpenCL
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
    /// On another OpenCL device (the simulator's, ``OclgrindTests``).
    init(device: OpenCLDevice) { cl = device }

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
        // odd sizes, below and above a tile, ResNet-18 layer shapes (K x N*PQ x CRS), and offsets
        gemm(ta, tb, shapes: [(1, 1, 1), (7, 13, 5), (33, 17, 65), (64, 1024, 576), (128, 256, 1152), (10, 128, 512)])
    }

    func gemm(_ ta: Bool, _ tb: Bool, shapes: [(Int, Int, Int)]) {
        var rng = TestRandom(ta ? 7 : 9)
        for (m, n, k) in shapes {
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
            d.addReLU(x, y, into: out); r.append(d.download(out))
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
            let (xt, dyt) = (d.tensor(x, shape), d.tensor(dy, shape))
            var p = BatchNormParameters(gamma: d.tensor(gamma, [C]), beta: d.tensor(beta, [C]), runningMean: d.tensor(rm, [C]),
                                        runningVar: d.tensor(rv, [C]), channels: C, epsilon: 1e-5, momentum: 0.1)
            let saved = BatchNormSavedStatistics(mean: d.makeTensor([C]), invStd: d.makeTensor([C]))
            let (y, dx, dg, db) = (d.makeTensor(shape), d.makeTensor(shape), d.makeTensor([C]), d.makeTensor([C]))
            let norms = d.makeTensor([N])
            var r: [[Float]] = []
            for fused in [false, true] {
                p.fusedReLU = fused
                d.batchNormTrainingForward(input: xt, output: y, parameters: p, saved: saved)
                r += [d.download(y), d.download(saved.mean), d.download(saved.invStd), d.download(p.runningMean),
                      d.download(p.runningVar)]
                d.batchNormTrainingBackward(gradOutput: dyt, input: xt, output: y, parameters: p, saved: saved, gradInput: dx,
                                            gradGamma: dg, gradBeta: db)
                r += [d.download(dx), d.download(dg), d.download(db)]
                d.batchNormInferenceForward(input: xt, output: y, parameters: p)
                r.append(d.download(y))
                d.batchNormInferenceBackward(gradOutput: dyt, input: xt, output: y, parameters: p, gradInput: dx,
                                             gradGamma: dg, gradBeta: db)
                r += [d.download(dx), d.download(dg), d.download(db)]
                d.fill(dx, with: 7)
                d.batchNormInferenceBackwardData(gradOutput: dyt, output: y, parameters: p, gradInput: dx)
                r.append(d.download(dx))
                d.fill(norms, with: 1)
                d.batchNormPerExampleGradNormsSquared(gradOutput: dyt, input: xt, output: y, parameters: p, batch: N,
                                                      squaredNorms: norms)
                r.append(d.download(norms))
                d.batchNormScoringBackward(gradOutput: dyt, input: xt, output: y, parameters: p, batch: N, gradInput: dx,
                                           squaredNorms: norms)
                r += [d.download(dx), d.download(norms)]
            }
            return r
        }, 1e-4, "batch norm \(C)x\(N)x\(S)")
    }

    @Test(arguments: [(2, 3, 8, 8, 3, 2, 1), (1, 2, 7, 5, 3, 2, 1), (2, 1, 6, 6, 2, 2, 1)])
    func paddedMaxPooling(_ C: Int, _ N: Int, _ H: Int, _ W: Int, _ k: Int, _ s: Int, _ pad: Int) {
        let g = Pool2DGeometry(channels: C, batch: N, height: H, width: W, window: k, stride: s, padding: pad)
        var rng = TestRandom(UInt64(3 * C + H))
        let x = rng.array(C * N * H * W), dy = rng.array(C * N * g.outHeight * g.outWidth)
        expectClose(both { d in
            let (xt, dyt) = (d.tensor(x, g.inputShape), d.tensor(dy, g.outputShape))
            let (y, dx) = (d.makeTensor(g.outputShape), d.makeTensor(g.inputShape))
            d.maxPoolForward(input: xt, output: y, geometry: g)
            d.maxPoolBackward(input: xt, gradOutput: dyt, gradInput: dx, geometry: g)
            return [d.download(y), d.download(dx)]
        }, 1e-6, "padded max-pool \(C)x\(N)x\(H)x\(W) k\(k) s\(s) p\(pad)")
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

    @Test func perExampleOutputsDecodeAlikeOnBothDevices() {
        let (K, N) = (10, 37)
        var rng = TestRandom(41)
        let z = rng.array(K * N).map { $0 * 6 }
        let labels = (0..<N).map { _ in Int32(rng.int(0...(K - 1))) }
        var decoded: [ExampleOutputs] = []
        for d in [cl as Device, cpu] {
            let outputs = d.makeTensor([ExampleOutput.rows, N + 5]), errors = d.makeTensor([K, N])
            outputs.resize(axis: 1, to: N)   // as the training loop does for a short last batch
            d.softmaxCrossEntropy(logits: d.tensor(z, [K, N]), labels: d.labels(labels), gradScale: 1, errors: errors,
                                  outputs: outputs)
            var o = ExampleOutputs(maxBatch: N + 5)
            o.download(outputs, count: N, from: d)
            decoded.append(o)
        }
        let (a, b) = (decoded[0], decoded[1])
        #expect(a.count == N && b.count == N)
        for i in 0..<N {
            #expect(abs(a.loss(i) - b.loss(i)) < 1e-5 * max(1, abs(b.loss(i))))
            #expect(abs(a.margin(i) - b.margin(i)) < 1e-5 * max(1, abs(b.margin(i))))
            #expect(abs(a.probability(i) - b.probability(i)) < 1e-5)
            #expect(abs(a.el2n(i) - b.el2n(i)) < 1e-5)
            #expect(a.correct(i) == b.correct(i) && a.predicted(i) == b.predicted(i))
            #expect(a.correct(i) == (a.predicted(i) == Int(labels[i])))
            // the margin is positive exactly when the given label wins
            #expect((b.margin(i) > 0) == b.correct(i))
        }
        #expect((0..<N).contains { a.correct($0) } && (0..<N).contains { !a.correct($0) })
    }

    @Test func exampleOutputRowsReachTheKernelsAsConstants() {
        #expect(ExampleOutput.rows == ExampleOutput.allCases.count)
        #expect(ExampleOutput.allCases.map(\.rawValue) == Array(0..<ExampleOutput.rows))
        #expect(ExampleOutput.openCLBuildOptions
            == "-DEX_LOSS=0 -DEX_CORRECT=1 -DEX_MARGIN=2 -DEX_PROBABILITY=3 -DEX_EL2N=4 -DEX_PREDICTED=5 -DEX_ROWS=6")
        #expect(cl.programOptions.contains(ExampleOutput.openCLBuildOptions))
        // layers.cl refuses to build without them
        let source = (KernelSource.layers.fileName, KernelSource.layers.text)
        #expect(throws: OpenCLError.self) { try cl.cl.buildProgram(source, options: cl.tuning.buildOptions) }
        // and every row name appears in the source
        let text = String(decoding: KernelSource.layers.text, as: UTF8.self)
        for row in ExampleOutput.allCases { #expect(text.contains(row.openCLName + " * N + n")) }
    }

    @Test func everyKernelIsDeclaredWithItsArguments() throws {
        for source in KernelSource.allCases {
            let found = try cl.cl.kernelSignatures((source.fileName, source.text), options: cl.programOptions)
            let declared = Kernel.allCases.filter { $0.source == source }
            // every declared kernel is in its file, and no kernel in the file is undeclared
            #expect(Set(found.map(\.name)) == Set(declared.map(\.name)), "\(source.fileName)")
            for k in declared {
                guard let f = found.first(where: { $0.name == k.name }) else { continue }
                #expect(f.argumentCount == k.arguments.count, "\(k.name): CL_KERNEL_NUM_ARGS")
                #expect(f.arguments == k.arguments.map(Optional.some), "\(k.name): argument kinds")
            }
        }
        #expect(Set(Kernel.allCases.map(\.name)).count == Kernel.allCases.count)
    }

    /// Heap allocations per op, counted per thread by the LD_PRELOAD library of
    /// `scripts/count-launch-allocations.sh` (skipped without it). The OpenCL driver
    /// allocates in `clEnqueueNDRangeKernel` itself (PoCL: a fixed number per enqueue plus
    /// one per non-`__local` argument); two raw `clSetKernelArg` + `clEnqueueNDRangeKernel`
    /// sequences of different arity measure those two numbers, and every op must allocate
    /// exactly what its launches cost the driver: Sieve's launch path adds nothing.
    @Test(.enabled(if: mallocCalls != nil, "counts allocations under scripts/count-launch-allocations.sh only"))
    func launchesAllocateNothing() {
        let calls = mallocCalls!, repeats = 2000
        func perCall(_ body: () -> Void) -> Double {
            body()
            cl.synchronize()   // first use: scratch buffers grow once
            let before = calls()
            for _ in 0..<repeats { body() }
            let after = calls()
            cl.synchronize()
            return Double(after - before) / Double(repeats)
        }
        let n = 4096
        let (x, y, z) = (cl.makeTensor([n]), cl.makeTensor([n]), cl.makeTensor([n]))
        guard let bx = (x.memory as? OpenCLMemory)?.buffer, let by = (y.memory as? OpenCLMemory)?.buffer,
              let bz = (z.memory as? OpenCLMemory)?.buffer else { Issue.record("not OpenCL memory"); return }
        // the driver alone: fill (3 arguments) and sgd_step (8 arguments), set and enqueued by hand
        let fill = cl.kernel(.fill), sgd = cl.kernel(.sgdStep)
        let rawFill = perCall {
            var b: cl_mem? = bx, value: Float = 1, total = Int32(n)
            var global = n, local = 64
            clSetKernelArg(fill, 0, MemoryLayout<cl_mem>.size, &b)
            clSetKernelArg(fill, 1, 4, &value)
            clSetKernelArg(fill, 2, 4, &total)
            clEnqueueNDRangeKernel(cl.cl.queue, fill, 1, nil, &global, &local, 0, nil, nil)
        }
        let rawSGD = perCall {
            var w: cl_mem? = bx, g: cl_mem? = by, m: cl_mem? = bz, lr: Float = 0.1, mu: Float = 0.9, wd: Float = 0
            var nesterov: Int32 = 1, total = Int32(n), global = n, local = 64
            clSetKernelArg(sgd, 0, MemoryLayout<cl_mem>.size, &w)
            clSetKernelArg(sgd, 1, MemoryLayout<cl_mem>.size, &g)
            clSetKernelArg(sgd, 2, MemoryLayout<cl_mem>.size, &m)
            clSetKernelArg(sgd, 3, 4, &lr)
            clSetKernelArg(sgd, 4, 4, &mu)
            clSetKernelArg(sgd, 5, 4, &wd)
            clSetKernelArg(sgd, 6, 4, &nesterov)
            clSetKernelArg(sgd, 7, 4, &total)
            clEnqueueNDRangeKernel(cl.cl.queue, sgd, 1, nil, &global, &local, 0, nil, nil)
        }
        let perArgument = (rawSGD - rawFill) / 5, perEnqueue = rawFill - 3 * perArgument
        /// What the driver allocates for one launch of each kernel.
        func driver(_ kernels: Kernel...) -> Double {
            kernels.map { k in perEnqueue + perArgument * Double(k.arguments.filter { $0 != .local }.count) }.reduce(0, +)
        }
        let g = Conv2DGeometry(batch: 2, inChannels: 4, height: 8, width: 8, outChannels: 8, kernel: 3, stride: 1, padding: 1)
        let (cx, cw, cy) = (cl.makeTensor(g.inputShape), cl.makeTensor(g.weightShape), cl.makeTensor(g.outputShape))
        let bn = BatchNormParameters(gamma: cl.makeTensor([8]), beta: cl.makeTensor([8]), runningMean: cl.makeTensor([8]),
                                     runningVar: cl.makeTensor([8]), channels: 8, fusedReLU: true)
        let saved = BatchNormSavedStatistics(mean: cl.makeTensor([8]), invStd: cl.makeTensor([8]))
        let (logits, labels) = (cl.makeTensor([10, 64]), cl.makeTensor([64], dtype: .int32))
        let (errors, outputs, norms) = (cl.makeTensor([10, 64]), cl.makeTensor([ExampleOutput.rows, 64]), cl.makeTensor([2]))
        let pool = Pool2DGeometry(channels: 8, batch: 2, height: 8, width: 8, window: 2, stride: 2)
        let pooled = cl.makeTensor(pool.outputShape)
        let hyper = SGDHyperparameters(learningRate: 0.1, nesterov: true, weightDecay: 5e-4)
        let ops: [(name: String, driver: Double, perCall: Double)] = [
            ("fill", driver(.fill), perCall { cl.fill(x, with: 1) }),
            ("add", driver(.add), perCall { cl.add(x, y, into: z) }),
            ("sgdStep", driver(.sgdStep), perCall { cl.sgdStep(parameter: x, gradient: y, momentum: z, hyper: hyper) }),
            ("gemm", driver(.gemm), perCall {
                cl.gemm(transposeA: true, transposeB: false, m: 64, n: 64, k: 64, alpha: 1, a: x, aOffset: 0, lda: 64,
                        b: y, bOffset: 0, ldb: 64, beta: 0, c: z, cOffset: 0, ldc: 64)
            }),
            ("conv2dForward", driver(.convForward), perCall { cl.conv2dForward(input: cx, weight: cw, output: cy, geometry: g) }),
            ("conv2dBackwardData", driver(.convBackwardData), perCall {
                cl.conv2dBackwardData(gradOutput: cy, weight: cw, gradInput: cx, geometry: g)
            }),
            ("conv2dBackwardWeight", driver(.convBackwardWeight), perCall {
                cl.conv2dBackwardWeight(input: cx, gradOutput: cy, gradWeight: cw, geometry: g)
            }),
            ("conv2dPerExampleGradNormsSquared",
             driver(cl.normMethod(for: g) == .explicit ? .convNormsExplicit : .convNormsGhost, .sumPartials), perCall {
                cl.conv2dPerExampleGradNormsSquared(input: cx, gradOutput: cy, geometry: g, squaredNorms: norms)
            }),
            ("batchNormTrainingForward", driver(.bnTrainForward), perCall { cl.batchNormTrainingForward(input: cy, output: cy, parameters: bn, saved: saved) }),
            ("batchNormPerExampleGradNormsSquared", driver(.bnInferSums, .bnNorms), perCall {
                cl.batchNormPerExampleGradNormsSquared(gradOutput: cy, input: cy, output: cy, parameters: bn, batch: 2,
                                                       squaredNorms: norms)
            }),
            ("maxPoolForward", driver(.maxpoolForward), perCall { cl.maxPoolForward(input: cy, output: pooled, geometry: pool) }),
            ("softmaxCrossEntropy", driver(.softmaxCrossEntropy), perCall {
                cl.softmaxCrossEntropy(logits: logits, labels: labels, gradScale: 1, errors: errors, outputs: outputs)
            }),
        ]
        print("heap allocations per call (\(repeats) calls each): raw fill \(rawFill), raw sgd_step \(rawSGD) "
              + "(driver: \(perEnqueue) per enqueue + \(perArgument) per argument); "
              + ops.map { "\($0.name) \($0.perCall) (driver \($0.driver))" }.joined(separator: ", "))
        for op in ops {
            #expect(abs(op.perCall - op.driver) < 0.01, "\(op.name): \(op.perCall) allocations per call, the driver's \(op.driver)")
        }
    }

    @Test func buildErrorsCarryTheLogAndName() throws {
        let bad = (name: "bad.cl", text: Array("__kernel void k(__global float* x) { x[0] = undefined_name; }".utf8))
        do {
            _ = try cl.cl.kernelSignatures(bad, options: "")
            Issue.record("a broken kernel built")
        } catch let e as OpenCLError {
            #expect(e.code == -11 && e.name == "CL_BUILD_PROGRAM_FAILURE")
            #expect(e.log?.contains("undefined_name") == true)
        }
    }
}

/// The calling thread's allocation count from `scripts/count-launch-allocations.sh`'s
/// LD_PRELOAD library, nil without it.
let mallocCalls: (@convention(c) () -> UInt)? = {
    guard let symbol = dlsym(nil, "sieve_malloc_calls") else { return nil }   // nil handle: RTLD_DEFAULT
    return unsafeBitCast(symbol, to: (@convention(c) () -> UInt).self)
}()

#if canImport(Glibc)
import Glibc
#endif
