import Testing
@testable import Kernels

struct PerExampleNormTests {
    /// Each example's weight gradient from the direct-convolution adjoint of that example alone.
    static func reference(_ x: [Float], _ dy: [Float], _ g: Conv2DGeometry) -> [Double] {
        var one = g
        one.batch = 1
        let plane = g.height * g.width, outPlane = g.outPlane
        return (0..<g.batch).map { n in
            var xi = [Float](), dyi = [Float]()
            for c in 0..<g.inChannels { xi += x[((c * g.batch + n) * plane)..<((c * g.batch + n + 1) * plane)] }
            for k in 0..<g.outChannels { dyi += dy[((k * g.batch + n) * outPlane)..<((k * g.batch + n + 1) * outPlane)] }
            let w = [Float](repeating: 0, count: g.weightShape.reduce(1, *))
            return referenceConvBackward(xi, w, dyi, one).dw.map { $0 * $0 }.reduce(0, +)
        }
    }

    /// Each method's norms (added to 0.5s: they accumulate) against the Double reference.
    static func expectNormsMatchReference(_ g: Conv2DGeometry, _ methods: [PerExampleNormMethod], seed: UInt64, tolerance: Double) {
        let device = CPUDevice()
        var rng = TestRandom(seed)
        let x = rng.array(g.inputShape.reduce(1, *)), dy = rng.array(g.outputShape.reduce(1, *))
        let ref = Self.reference(x, dy, g)
        for method in methods {
            let norms = device.tensor([Float](repeating: 0.5, count: g.batch), [g.batch])
            device.conv2dPerExampleGradNormsSquared(input: device.tensor(x, g.inputShape), gradOutput: device.tensor(dy, g.outputShape),
                                                    geometry: g, squaredNorms: norms, method: method)
            #expect(relativeError(device.download(norms), ref.map { $0 + 0.5 }) < tolerance, "\(method) \(g)")
        }
    }

    @Test(arguments: ConvolutionTests.geometries)
    func convolutionExplicitAndGhostMatchReference(_ g: Conv2DGeometry) {
        Self.expectNormsMatchReference(g, [.explicit, .ghost], seed: UInt64(g.hashValue & 0xfff) + 3, tolerance: 1e-4)
    }

    /// Winograd run backwards on every 3x3 stride-1 shape of the Winograd tests (padding 0, 1 and
    /// 2; odd planes, one-pixel planes, ResNet-18 and small-CNN layers).
    @Test(arguments: WinogradTests.geometries)
    func winogradMatchesReference(_ g: Conv2DGeometry) {
        Self.expectNormsMatchReference(g, [.winograd], seed: UInt64(g.hashValue & 0xfff) + 11, tolerance: 1e-5)
    }

    @Test func cpuPicksWinogradWhereItIsCheaper() {
        func g(_ c: Int, _ hw: Int, _ k: Int) -> Conv2DGeometry {
            Conv2DGeometry(batch: 128, inChannels: c, height: hw, width: hw, outChannels: k, kernel: 3, stride: 1, padding: 1)
        }
        let device = CPUDevice()
        #expect(device.normMethod(for: g(64, 32, 64)) == .winograd)
        #expect(device.normMethod(for: g(128, 16, 128)) == .winograd)
        #expect(device.normMethod(for: g(512, 4, 512)) == .ghost)
        #expect(device.normMethod(for: g(64, 8, 64)) == .ghost)             // too few tiles per example to pay
        #expect(device.normMethod(for: g(3, 32, 64)) == .explicit)          // too few channels for Winograd
        // the small CNN's second layer (32x26x26 -> 64, valid)
        #expect(device.normMethod(for: Conv2DGeometry(batch: 128, inChannels: 32, height: 26, width: 26, outChannels: 64,
                                                      kernel: 3, stride: 1, padding: 0)) == .winograd)
        #expect(CPUDevice(convolution: .im2col).normMethod(for: g(64, 32, 64)) == .explicit)
    }

    @Test func cheaperMethodFollowsFLOPs() {
        func g(_ c: Int, _ hw: Int, _ k: Int) -> Conv2DGeometry {
            Conv2DGeometry(batch: 128, inChannels: c, height: hw, width: hw, outChannels: k, kernel: 3, stride: 1, padding: 1)
        }
        // CIFAR ResNet-18 width 64: explicit for layer1, ghost for layer3 and layer4.
        #expect(PerExampleNormMethod.cheaper(for: g(64, 32, 64)) == .explicit)
        #expect(PerExampleNormMethod.cheaper(for: g(256, 8, 256)) == .ghost)
        #expect(PerExampleNormMethod.cheaper(for: g(512, 4, 512)) == .ghost)
    }

    @Test func linearNorms() {
        let device = CPUDevice()
        var rng = TestRandom(17)
        let (inF, outF, N) = (13, 5, 7)
        let x = rng.array(inF * N), dy = rng.array(outF * N)
        let norms = device.makeTensor([N])
        device.linearPerExampleGradNormsSquared(input: device.tensor(x, [inF, N]), gradOutput: device.tensor(dy, [outF, N]),
                                                inFeatures: inF, outFeatures: outF, batch: N, squaredNorms: norms)
        let ref = (0..<N).map { n -> Double in
            var w = 0.0, b = 0.0
            for o in 0..<outF {
                let g = Double(dy[o * N + n])
                b += g * g
                for i in 0..<inF { let v = g * Double(x[i * N + n]); w += v * v }
            }
            return w + b
        }
        #expect(relativeError(device.download(norms), ref) < 1e-5)
    }

    @Test(arguments: [false, true])
    func batchNormEvaluationBackwardAndNorms(_ fusedReLU: Bool) {
        let device = CPUDevice()
        var rng = TestRandom(fusedReLU ? 29 : 23)
        let (C, N, S) = (3, 4, 5)
        let x = rng.array(C * N * S), dy = rng.array(C * N * S), gamma = rng.array(C), beta = rng.array(C)
        let mean = rng.array(C), variance = rng.array(C).map { abs($0) + 0.2 }
        let shape = [C, N, S]
        let p = BatchNormParameters(gamma: device.tensor(gamma, [C]), beta: device.tensor(beta, [C]),
                                    runningMean: device.tensor(mean, [C]), runningVar: device.tensor(variance, [C]),
                                    channels: C, epsilon: 1e-5, fusedReLU: fusedReLU)
        let xt = device.tensor(x, shape), dyt = device.tensor(dy, shape), y = device.makeTensor(shape)
        device.batchNormInferenceForward(input: xt, output: y, parameters: p)
        let yv = device.download(y)
        let dx = device.makeTensor(shape), dg = device.makeTensor([C]), db = device.makeTensor([C])
        let dxOnly = device.makeTensor(shape), norms = device.tensor([Float](repeating: 0.25, count: N), [N])   // adds
        device.batchNormInferenceBackward(gradOutput: dyt, input: xt, output: y, parameters: p, gradInput: dx,
                                          gradGamma: dg, gradBeta: db)
        device.batchNormInferenceBackwardData(gradOutput: dyt, output: y, parameters: p, gradInput: dxOnly)
        device.batchNormPerExampleGradNormsSquared(gradOutput: dyt, input: xt, output: y, parameters: p, batch: N,
                                                   squaredNorms: norms)
        var dxRef = [Double](repeating: 0, count: C * N * S), dgRef = [Double](repeating: 0, count: C)
        var dbRef = [Double](repeating: 0, count: C), nRef = [Double](repeating: 0.25, count: N)
        for c in 0..<C {
            let inv = 1 / (Double(variance[c]) + 1e-5).squareRoot()
            for n in 0..<N {
                var s = 0.0, t = 0.0
                for j in 0..<S {
                    let i = (c * N + n) * S + j
                    let g = fusedReLU && yv[i] <= 0 ? 0 : Double(dy[i])
                    dxRef[i] = g * Double(gamma[c]) * inv
                    s += g * (Double(x[i]) - Double(mean[c])) * inv
                    t += g
                }
                dgRef[c] += s; dbRef[c] += t; nRef[n] += s * s + t * t
            }
        }
        // the scoring pass's fused form: the same dx and norms in one pass
        let dxScoring = device.makeTensor(shape), normsScoring = device.tensor([Float](repeating: 0.25, count: N), [N])
        device.batchNormScoringBackward(gradOutput: dyt, input: xt, output: y, parameters: p, batch: N, gradInput: dxScoring,
                                        squaredNorms: normsScoring)
        #expect(device.download(dxScoring) == device.download(dxOnly))
        #expect(device.download(normsScoring) == device.download(norms))
        if fusedReLU { #expect(yv.contains { $0 == 0 } && yv.contains { $0 > 0 }) }
        #expect(relativeError(device.download(dx), dxRef) < 1e-5)
        #expect(device.download(dxOnly) == device.download(dx))
        #expect(relativeError(device.download(dg), dgRef) < 1e-5)
        #expect(relativeError(device.download(db), dbRef) < 1e-5)
        #expect(relativeError(device.download(norms), nRef) < 1e-5)
    }
}
