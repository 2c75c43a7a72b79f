import Testing
@testable import Kernels

struct GEMMTests {
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func gemmMatchesReference(_ ta: Bool, _ tb: Bool) {
        let device = CPUDevice()
        var rng = TestRandom(ta ? 3 : 5)
        for (m, n, k) in [(1, 1, 1), (7, 13, 5), (33, 17, 65), (64, 129, 31)] {
            let a = rng.array(m * k), b = rng.array(k * n), c0 = rng.array(m * n)
            let lda = ta ? m : k, ldb = tb ? k : n
            var ref = [Double](repeating: 0, count: m * n)
            for i in 0..<m { for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    s += Double(ta ? a[p * lda + i] : a[i * lda + p]) * Double(tb ? b[j * ldb + p] : b[p * ldb + j])
                }
                ref[i * n + j] = 0.5 * s + 2 * Double(c0[i * n + j])
            }}
            let c = device.tensor(c0, [m, n])
            device.gemm(transposeA: ta, transposeB: tb, m: m, n: n, k: k, alpha: 0.5,
                        a: device.tensor(a, [a.count]), aOffset: 0, lda: lda,
                        b: device.tensor(b, [b.count]), bOffset: 0, ldb: ldb, beta: 2, c: c, cOffset: 0, ldc: n)
            #expect(relativeError(device.download(c), ref) < 1e-5)
        }
    }
}

struct BatchNormTests {
    @Test(arguments: [(3, 5), (16, 3), (1, 131), (8, 64), (2, 1531)])
    func trainingForwardAndBackward(_ C: Int, _ M: Int) {
        let device = CPUDevice()
        var rng = TestRandom(UInt64(C * 1000 + M))
        let x = rng.array(C * M).map { $0 * 3 + 0.5 }, gamma = rng.array(C), beta = rng.array(C), dy = rng.array(C * M)
        let rm0 = rng.array(C), rv0 = rng.array(C).map { abs($0) + 0.5 }
        let y = device.makeTensor([C * M])
        let saved = BatchNormSavedStatistics(mean: device.makeTensor([C]), invStd: device.makeTensor([C]))
        let rm = device.tensor(rm0, [C]), rv = device.tensor(rv0, [C])
        let xt = device.tensor(x, [C * M]), gt = device.tensor(gamma, [C])
        var p = BatchNormParameters(gamma: gt, beta: device.tensor(beta, [C]), runningMean: rm, runningVar: rv,
                                    channels: C, epsilon: 1e-5, momentum: 0.1)
        device.batchNormTrainingForward(input: xt, output: y, parameters: p, saved: saved)
        var yRef = [Double](), dxRef = [Double](), dgRef = [Double](), dbRef = [Double](), rmRef = [Double](), rvRef = [Double]()
        for c in 0..<C {
            let row = (0..<M).map { Double(x[c * M + $0]) }, g = (0..<M).map { Double(dy[c * M + $0]) }
            let mu = row.reduce(0, +) / Double(M)
            let v = row.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / Double(M)
            let s = 1 / (v + 1e-5).squareRoot()
            let xhat = row.map { ($0 - mu) * s }
            yRef += xhat.map { $0 * Double(gamma[c]) + Double(beta[c]) }
            let db = g.reduce(0, +), dg = zip(g, xhat).map(*).reduce(0, +)
            dbRef.append(db); dgRef.append(dg)
            dxRef += (0..<M).map { Double(gamma[c]) * s / Double(M) * (Double(M) * g[$0] - db - xhat[$0] * dg) }
            rmRef.append(0.9 * Double(rm0[c]) + 0.1 * mu)
            rvRef.append(0.9 * Double(rv0[c]) + 0.1 * (M > 1 ? v * Double(M) / Double(M - 1) : v))
        }
        #expect(relativeError(device.download(y), yRef) < 1e-5)
        #expect(relativeError(device.download(rm), rmRef) < 1e-5)
        #expect(relativeError(device.download(rv), rvRef) < 1e-5)
        let dx = device.makeTensor([C * M]), dg = device.makeTensor([C]), db = device.makeTensor([C])
        device.batchNormTrainingBackward(gradOutput: device.tensor(dy, [C * M]), input: xt, output: y, parameters: p,
                                         saved: saved, gradInput: dx, gradGamma: dg, gradBeta: db)
        #expect(relativeError(device.download(dx), dxRef) < 1e-4)
        #expect(relativeError(device.download(dg), dgRef) < 1e-5)
        #expect(relativeError(device.download(db), dbRef) < 1e-5)

        // Evaluation mode uses the running statistics.
        let ye = device.makeTensor([C * M])
        var running = p
        running.runningMean = device.tensor(rm0, [C])
        running.runningVar = device.tensor(rv0, [C])
        device.batchNormInferenceForward(input: xt, output: ye, parameters: running)
        let yeRef = (0..<(C * M)).map { i -> Double in
            let c = i / M
            return (Double(x[i]) - Double(rm0[c])) / (Double(rv0[c]) + 1e-5).squareRoot() * Double(gamma[c]) + Double(beta[c])
        }
        #expect(relativeError(device.download(ye), yeRef) < 1e-5)

        // Fused ReLU: the forward is relu(BN(x)); the backward is BN's backward of dy * [y > 0].
        let yr = device.makeTensor([C * M])
        p.runningMean = device.makeTensor([C])
        p.runningVar = device.makeTensor([C])
        p.fusedReLU = true
        device.batchNormTrainingForward(input: xt, output: yr, parameters: p, saved: saved)
        let fusedY = device.download(yr)
        #expect(relativeError(fusedY, yRef.map { max($0, 0) }) < 1e-5)
        let masked = zip(dy, fusedY).map { $1 > 0 ? $0 : 0 }
        let (dxF, dgF, dbF) = (device.makeTensor([C * M]), device.makeTensor([C]), device.makeTensor([C]))
        let (dxM, dgM, dbM) = (device.makeTensor([C * M]), device.makeTensor([C]), device.makeTensor([C]))
        device.batchNormTrainingBackward(gradOutput: device.tensor(dy, [C * M]), input: xt, output: yr, parameters: p,
                                         saved: saved, gradInput: dxF, gradGamma: dgF, gradBeta: dbF)
        var plain = p
        plain.fusedReLU = false
        device.batchNormTrainingBackward(gradOutput: device.tensor(masked, [C * M]), input: xt, output: yr, parameters: plain,
                                         saved: saved, gradInput: dxM, gradGamma: dgM, gradBeta: dbM)
        #expect(device.download(dxF) == device.download(dxM))
        #expect(device.download(dgF) == device.download(dgM) && device.download(dbF) == device.download(dbM))
    }
}

struct ElementwiseTests {
    @Test func reluAddAccumulateFillCopy() {
        let device = CPUDevice()
        var rng = TestRandom(11)
        let n = 1000 + 37
        let a = rng.array(n), b = rng.array(n)
        let at = device.tensor(a, [n]), bt = device.tensor(b, [n]), out = device.makeTensor([n])
        device.reluForward(at, output: out)
        #expect(device.download(out) == a.map { max($0, 0) })
        let dx = device.makeTensor([n])
        device.reluBackward(output: out, gradOutput: bt, gradInput: dx)
        #expect(device.download(dx) == zip(a, b).map { $0 > 0 ? $1 : 0 })
        device.addReLU(at, bt, into: out)
        #expect(device.download(out) == zip(a, b).map { max($0 + $1, 0) })
        device.add(at, bt, into: out)
        #expect(device.download(out) == zip(a, b).map(+))
        device.accumulate(at, into: out)
        #expect(relativeError(device.download(out), zip(a, b).map { 2 * Double($0) + Double($1) }) < 1e-6)
        device.copy(bt, to: out)
        #expect(device.download(out) == b)
        device.fill(out, with: 3)
        #expect(device.download(out).allSatisfy { $0 == 3 })
    }
}

struct PoolingTests {
    @Test(arguments: [(2, 2, 8, 8, 2, 2), (3, 1, 7, 5, 3, 2), (1, 3, 6, 6, 2, 1), (2, 3, 9, 19, 2, 2), (1, 2, 24, 24, 2, 2)])
    func maxAndAveragePooling(_ C: Int, _ N: Int, _ H: Int, _ W: Int, _ k: Int, _ s: Int) {
        let device = CPUDevice()
        let g = Pool2DGeometry(channels: C, batch: N, height: H, width: W, window: k, stride: s)
        var rng = TestRandom(UInt64(C * 100 + H))
        let x = rng.array(C * N * H * W), dy = rng.array(C * N * g.outHeight * g.outWidth)
        var maxRef = [Double](), avgRef = [Double]()
        var dxMax = [Double](repeating: 0, count: x.count), dxAvg = [Double](repeating: 0, count: x.count)
        for plane in 0..<(C * N) {
            for p in 0..<g.outHeight { for q in 0..<g.outWidth {
                var best = -Double.infinity, at = 0, sum = 0.0
                for i in 0..<k { for j in 0..<k {
                    let o = plane * H * W + (p * s + i) * W + q * s + j
                    if Double(x[o]) > best { best = Double(x[o]); at = o }
                    sum += Double(x[o])
                }}
                let d = Double(dy[(plane * g.outHeight + p) * g.outWidth + q])
                maxRef.append(best); avgRef.append(sum / Double(k * k))
                dxMax[at] += d
                for i in 0..<k { for j in 0..<k { dxAvg[plane * H * W + (p * s + i) * W + q * s + j] += d / Double(k * k) } }
            }}
        }
        let xt = device.tensor(x, g.inputShape), dyt = device.tensor(dy, g.outputShape)
        let y = device.makeTensor(g.outputShape), dx = device.makeTensor(g.inputShape)
        device.maxPoolForward(input: xt, output: y, geometry: g)
        #expect(relativeError(device.download(y), maxRef) < 1e-6)
        device.maxPoolBackward(input: xt, gradOutput: dyt, gradInput: dx, geometry: g)
        #expect(relativeError(device.download(dx), dxMax) < 1e-6)
        device.avgPoolForward(input: xt, output: y, geometry: g)
        #expect(relativeError(device.download(y), avgRef) < 1e-6)
        device.avgPoolBackward(gradOutput: dyt, gradInput: dx, geometry: g)
        #expect(relativeError(device.download(dx), dxAvg) < 1e-6)
    }

    /// The 2x2 stride-2 vector path breaks ties as the general loop does: the first largest
    /// input of a window (row-major) takes the gradient.
    @Test(arguments: [(9, 19), (8, 8), (24, 24)])
    func halvingMaxPoolingTies(_ H: Int, _ W: Int) {
        let device = CPUDevice()
        let g = Pool2DGeometry(channels: 2, batch: 3, height: H, width: W, window: 2, stride: 2)
        #expect(g.isHalving)
        var rng = TestRandom(UInt64(H * 31 + W))
        let x = rng.array(2 * 3 * H * W).map { ($0 * 1.5).rounded() }, dy = rng.array(2 * 3 * g.outHeight * g.outWidth)
        var dxRef = [Float](repeating: 0, count: x.count), yRef = [Float]()
        for plane in 0..<6 {
            for p in 0..<g.outHeight { for q in 0..<g.outWidth {
                var at = -1
                for (i, j) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    let o = plane * H * W + (2 * p + i) * W + 2 * q + j
                    if at < 0 || x[o] > x[at] { at = o }
                }
                yRef.append(x[at])
                dxRef[at] = dy[(plane * g.outHeight + p) * g.outWidth + q]
            }}
        }
        let xt = device.tensor(x, g.inputShape), y = device.makeTensor(g.outputShape), dx = device.makeTensor(g.inputShape)
        device.fill(dx, with: 7)   // every element is written
        device.maxPoolForward(input: xt, output: y, geometry: g)
        #expect(device.download(y) == yRef)
        device.maxPoolBackward(input: xt, gradOutput: device.tensor(dy, g.outputShape), gradInput: dx, geometry: g)
        #expect(device.download(dx) == dxRef)
    }

    /// Max-pooling with an implicit -inf border (ImageNet ResNet's 3x3 stride-2 pad-1 pool).
    @Test(arguments: [(2, 2, 8, 8, 3, 2, 1), (1, 3, 7, 5, 3, 2, 1), (2, 1, 6, 6, 2, 2, 1), (1, 1, 1, 1, 3, 1, 1)])
    func paddedMaxPooling(_ C: Int, _ N: Int, _ H: Int, _ W: Int, _ k: Int, _ s: Int, _ pad: Int) {
        let device = CPUDevice()
        let g = Pool2DGeometry(channels: C, batch: N, height: H, width: W, window: k, stride: s, padding: pad)
        #expect(g.outHeight == (H + 2 * pad - k) / s + 1)
        var rng = TestRandom(UInt64(7 * C + H))
        let x = rng.array(C * N * H * W), dy = rng.array(C * N * g.outHeight * g.outWidth)
        var ref = [Double](), dxRef = [Double](repeating: 0, count: x.count)
        for plane in 0..<(C * N) {
            for p in 0..<g.outHeight { for q in 0..<g.outWidth {
                var best = -Double.infinity, at = -1
                for i in 0..<k { for j in 0..<k {
                    let r = p * s + i - pad, c = q * s + j - pad
                    guard r >= 0 && r < H && c >= 0 && c < W else { continue }
                    let o = plane * H * W + r * W + c
                    if at < 0 || Double(x[o]) > best { best = Double(x[o]); at = o }
                }}
                ref.append(best)
                dxRef[at] += Double(dy[(plane * g.outHeight + p) * g.outWidth + q])
            }}
        }
        let xt = device.tensor(x, g.inputShape), y = device.makeTensor(g.outputShape), dx = device.makeTensor(g.inputShape)
        device.maxPoolForward(input: xt, output: y, geometry: g)
        #expect(relativeError(device.download(y), ref) < 1e-6)
        device.maxPoolBackward(input: xt, gradOutput: device.tensor(dy, g.outputShape), gradInput: dx, geometry: g)
        #expect(relativeError(device.download(dx), dxRef) < 1e-6)
    }

    @Test func globalAveragePoolAndFlatten() {
        let device = CPUDevice()
        let (C, N, S) = (5, 3, 7)
        var rng = TestRandom(21)
        let x = rng.array(C * N * S), dyPool = rng.array(C * N), dyFlat = rng.array(C * S * N)
        let xt = device.tensor(x, [C, N, S])
        let y = device.makeTensor([C, N]), dx = device.makeTensor([C, N, S])
        device.globalAvgPoolForward(input: xt, output: y, channels: C, batch: N, plane: S)
        #expect(relativeError(device.download(y), (0..<(C * N)).map { i in (0..<S).map { Double(x[i * S + $0]) }.reduce(0, +) / Double(S) }) < 1e-6)
        device.globalAvgPoolBackward(gradOutput: device.tensor(dyPool, [C, N]), gradInput: dx, channels: C, batch: N, plane: S)
        #expect(relativeError(device.download(dx), (0..<(C * N * S)).map { Double(dyPool[$0 / S]) / Double(S) }) < 1e-6)
        let f = device.makeTensor([C * S, N])
        device.flattenForward(input: xt, output: f, channels: C, batch: N, plane: S)
        var fRef = [Double](repeating: 0, count: C * S * N)
        for c in 0..<C { for n in 0..<N { for s in 0..<S { fRef[(c * S + s) * N + n] = Double(x[(c * N + n) * S + s]) } } }
        #expect(relativeError(device.download(f), fRef) == 0)
        device.flattenBackward(gradOutput: device.tensor(dyFlat, [C * S, N]), gradInput: dx, channels: C, batch: N, plane: S)
        var dRef = [Double](repeating: 0, count: C * N * S)
        for c in 0..<C { for n in 0..<N { for s in 0..<S { dRef[(c * N + n) * S + s] = Double(dyFlat[(c * S + s) * N + n]) } } }
        #expect(relativeError(device.download(dx), dRef) == 0)
    }
}

struct LinearTests {
    @Test(arguments: [(7, 3, 5), (64, 10, 33), (1, 1, 1)])
    func forwardAndBackward(_ inF: Int, _ outF: Int, _ N: Int) {
        let device = CPUDevice()
        var rng = TestRandom(UInt64(inF * outF + N))
        let x = rng.array(inF * N), w = rng.array(outF * inF), b = rng.array(outF), dy = rng.array(outF * N)
        let xt = device.tensor(x, [inF, N]), wt = device.tensor(w, [outF, inF])
        let y = device.makeTensor([outF, N])
        device.linearForward(input: xt, weight: wt, bias: device.tensor(b, [outF]), output: y, inFeatures: inF, outFeatures: outF, batch: N)
        var yRef = [Double](repeating: 0, count: outF * N), dxRef = [Double](repeating: 0, count: inF * N)
        var dwRef = [Double](repeating: 0, count: outF * inF)
        let dbRef = (0..<outF).map { o in (0..<N).map { Double(dy[o * N + $0]) }.reduce(0, +) }
        for o in 0..<outF { for n in 0..<N {
            var s = Double(b[o])
            for i in 0..<inF {
                s += Double(w[o * inF + i]) * Double(x[i * N + n])
                dxRef[i * N + n] += Double(w[o * inF + i]) * Double(dy[o * N + n])
                dwRef[o * inF + i] += Double(dy[o * N + n]) * Double(x[i * N + n])
            }
            yRef[o * N + n] = s
        }}
        #expect(relativeError(device.download(y), yRef) < 1e-5)
        let dx = device.makeTensor([inF, N]), dw = device.makeTensor([outF, inF]), db = device.makeTensor([outF])
        device.linearBackward(input: xt, weight: wt, gradOutput: device.tensor(dy, [outF, N]), gradInput: dx,
                              gradWeight: dw, gradBias: db, inFeatures: inF, outFeatures: outF, batch: N)
        #expect(relativeError(device.download(dx), dxRef) < 1e-5)
        #expect(relativeError(device.download(dw), dwRef) < 1e-5)
        #expect(relativeError(device.download(db), dbRef) < 1e-5)
    }
}

struct LossTests {
    @Test(arguments: [(10, 7), (2, 1), (100, 33)])
    func softmaxCrossEntropyAndErrorVectors(_ K: Int, _ N: Int) {
        let device = CPUDevice()
        var rng = TestRandom(UInt64(K + 31 * N))
        let z = rng.array(K * N).map { $0 * 8 }
        let y = (0..<N).map { _ in Int32(rng.int(0...(K - 1))) }
        let errors = device.makeTensor([K, N]), outputs = device.makeTensor([ExampleOutput.rows, N])
        device.softmaxCrossEntropy(logits: device.tensor(z, [K, N]), labels: device.labels(y), gradScale: 0.5,
                                   errors: errors, outputs: outputs)
        let e = device.download(errors)
        var o = ExampleOutputs(maxBatch: N + 3)
        o.download(outputs, count: N, from: device)
        #expect(o.count == N)
        for n in 0..<N {
            let col = (0..<K).map { Double(z[$0 * N + n]) }
            let top = col.max()!
            let sum = col.map { exp($0 - top) }.reduce(0, +)
            let p = col.map { exp($0 - top) / sum }
            let label = Int(y[n])
            let err = (0..<K).map { p[$0] - ($0 == label ? 1 : 0) }
            #expect(relativeError((0..<K).map { e[$0 * N + n] }, err.map { 0.5 * $0 }) < 1e-5)
            #expect(abs(Double(o.loss(n)) - (log(sum) + top - col[label])) < 1e-4)
            #expect(abs(Double(o.probability(n)) - p[label]) < 1e-5)
            #expect(abs(Double(o.el2n(n)) - err.map { $0 * $0 }.reduce(0, +).squareRoot()) < 1e-5)
            let other = (0..<K).filter { $0 != label }.map { col[$0] }.max()!
            #expect(abs(Double(o.margin(n)) - (col[label] - other)) < 1e-5)
            let argmax = col.firstIndex(of: top)!
            #expect(o.correct(n) == (argmax == label))
            #expect(o.predicted(n) == argmax)
            #expect(o[.el2n, n] == o.el2n(n))
        }
    }
}

struct OptimizerTests {
    @Test(arguments: [false, true])
    func sgdMatchesPyTorchSemantics(_ nesterov: Bool) {
        let device = CPUDevice()
        var rng = TestRandom(nesterov ? 1 : 2)
        let n = 777
        var w = rng.array(n).map(Double.init), m = [Double](repeating: 0, count: n)
        let wt = device.tensor(w.map { Float($0) }, [n]), mt = device.makeTensor([n])
        let h = SGDHyperparameters(learningRate: 0.1, momentum: 0.9, nesterov: nesterov, weightDecay: 5e-4)
        for _ in 0..<3 {
            let g = rng.array(n)
            device.sgdStep(parameter: wt, gradient: device.tensor(g, [n]), momentum: mt, hyper: h)
            for i in 0..<n {
                let grad = Double(g[i]) + 5e-4 * w[i]
                m[i] = 0.9 * m[i] + grad
                w[i] -= 0.1 * (nesterov ? grad + 0.9 * m[i] : m[i])
            }
        }
        #expect(relativeError(device.download(wt), w) < 1e-5)
        #expect(relativeError(device.download(mt), m) < 1e-5)
    }
}

#if canImport(Glibc)
import Glibc
#endif
