import Testing
@testable import Kernels

/// The implicit-GEMM convolutions of conv.cl (no im2col buffer) against the CPU device, and
/// the batched per-example norms (one GEMM launch and one reduction per chunk of examples)
/// against each example's own weight gradient, on every ResNet-18 layer shape, both methods,
/// across chunk boundaries.
@Suite(.enabled(if: !Devices.openCL().devices.isEmpty, "needs an OpenCL platform (Debian: pocl-opencl-icd)"))
struct OpenCLBatchedNormTests {
    let cl: OpenCLDevice
    let cpu = CPUDevice()

    init() throws { cl = try OpenCLDevice() }
    /// On another OpenCL device (the simulator's, ``OclgrindTests``).
    init(device: OpenCLDevice) { cl = device }

    /// Geometries beyond ``ConvolutionTests/geometries``: 7x7 stems, stride 2 with padding 0
    /// and 1, 1x1 with stride and padding, odd sizes, C = 3, and channel counts past one
    /// 64-wide tile in every GEMM dimension.
    static let geometries: [Conv2DGeometry] = [
        Conv2DGeometry(batch: 3, inChannels: 3, height: 11, width: 9, outChannels: 5, kernel: 7, stride: 2, padding: 3),
        Conv2DGeometry(batch: 2, inChannels: 3, height: 9, width: 7, outChannels: 4, kernel: 7, stride: 1, padding: 0),
        Conv2DGeometry(batch: 3, inChannels: 5, height: 7, width: 7, outChannels: 6, kernel: 3, stride: 2, padding: 0),
        Conv2DGeometry(batch: 2, inChannels: 3, height: 13, width: 13, outChannels: 8, kernel: 1, stride: 2, padding: 1),
        Conv2DGeometry(batch: 4, inChannels: 6, height: 9, width: 9, outChannels: 5, kernel: 1, stride: 2, padding: 0),
        Conv2DGeometry(batch: 2, inChannels: 7, height: 5, width: 7, outChannels: 3, kernel: 3, stride: 1, padding: 1),
        Conv2DGeometry(batch: 3, inChannels: 3, height: 6, width: 6, outChannels: 70, kernel: 3, stride: 1, padding: 1),
        Conv2DGeometry(batch: 2, inChannels: 80, height: 5, width: 5, outChannels: 9, kernel: 3, stride: 1, padding: 1),
        Conv2DGeometry(batch: 2, inChannels: 66, height: 11, width: 11, outChannels: 3, kernel: 3, stride: 2, padding: 1),
    ]

    @Test(arguments: geometries)
    func convolutionMatchesCPU(_ g: Conv2DGeometry) {
        var rng = TestRandom(UInt64(g.hashValue & 0xffff) + 11)
        let x = rng.array(g.inputShape.reduce(1, *)), w = rng.array(g.weightShape.reduce(1, *))
        let dy = rng.array(g.outputShape.reduce(1, *))
        var outputs: [[[Float]]] = []
        for d in [cl as Device, cpu] {
            let (xt, wt, dyt) = (d.tensor(x, g.inputShape), d.tensor(w, g.weightShape), d.tensor(dy, g.outputShape))
            let (y, dx, dw) = (d.makeTensor(g.outputShape), d.makeTensor(g.inputShape), d.makeTensor(g.weightShape))
            for t in [y, dx, dw] { d.fill(t, with: 42) }   // overwritten, not accumulated into
            d.conv2dForward(input: xt, weight: wt, output: y, geometry: g)
            d.conv2dBackwardData(gradOutput: dyt, weight: wt, gradInput: dx, geometry: g)
            d.conv2dBackwardWeight(input: xt, gradOutput: dyt, gradWeight: dw, geometry: g)
            outputs.append([d.download(y), d.download(dx), d.download(dw)])
        }
        for (k, what) in ["forward", "backward data", "weight gradient"].enumerated() {
            #expect(relativeError(outputs[0][k], outputs[1][k].map(Double.init)) < 1e-5, "\(what) \(g)")
        }
        // and the direct-convolution reference
        let (dxRef, dwRef) = referenceConvBackward(x, w, dy, g)
        #expect(relativeError(outputs[0][0], referenceConv(x, w, g)) < 1e-5, "forward \(g)")
        #expect(relativeError(outputs[0][1], dxRef) < 1e-5, "backward data \(g)")
        #expect(relativeError(outputs[0][2], dwRef) < 1e-5, "weight gradient \(g)")
    }

    /// Every distinct convolution of CIFAR ResNet-18 at width `width` on `size` x `size` inputs:
    /// the 3x3 stem, each stage's stride-2 3x3, stride-1 3x3s and 1x1 stride-2 shortcut.
    static func resnet18Layers(width: Int, size: Int, batch: Int) -> [Conv2DGeometry] {
        var layers = [Conv2DGeometry(batch: batch, inChannels: 3, height: size, width: size, outChannels: width, kernel: 3,
                                     stride: 1, padding: 1)]
        var (channels, side) = (width, size)
        for multiplier in [1, 2, 4, 8] {
            let planes = width * multiplier, stride = multiplier == 1 ? 1 : 2
            layers.append(Conv2DGeometry(batch: batch, inChannels: channels, height: side, width: side, outChannels: planes,
                                         kernel: 3, stride: stride, padding: 1))
            if stride != 1 {
                layers.append(Conv2DGeometry(batch: batch, inChannels: channels, height: side, width: side, outChannels: planes,
                                             kernel: 1, stride: stride, padding: 0))
            }
            side = (side - 1) / stride + 1
            channels = planes
            layers.append(Conv2DGeometry(batch: batch, inChannels: planes, height: side, width: side, outChannels: planes,
                                         kernel: 3, stride: 1, padding: 1))
        }
        return layers
    }

    /// ResNet-18 width 16 on 16x16 (layer4: 128 channels on 2x2), batch 7, each shape once.
    static let resnetLayers = resnet18Layers(width: 16, size: 16, batch: 7).reduce(into: [Conv2DGeometry]()) {
        if !$0.contains($1) { $0.append($1) }
    }

    /// Both methods, each in one chunk and in chunks of 3 (3 + 3 + 1: a remainder), against
    /// the per-example reference (batch-of-one adjoint); the norms accumulate into 0.5.
    /// Each chunk costs exactly two launches.
    @Test(arguments: resnetLayers + ConvolutionTests.geometries + geometries)
    func batchedNormsMatchPerExampleReference(_ g: Conv2DGeometry) {
        var rng = TestRandom(UInt64(g.hashValue & 0xfff) + 5)
        let x = rng.array(g.inputShape.reduce(1, *)), dy = rng.array(g.outputShape.reduce(1, *))
        let ref = PerExampleNormTests.reference(x, dy, g).map { $0 + 0.5 }
        let (xt, dyt) = (cl.tensor(x, g.inputShape), cl.tensor(dy, g.outputShape))
        for method in [PerExampleNormMethod.explicit, .ghost] {
            for chunk in [g.batch, 3] {
                cl.normBudget = chunk * cl.normTiles(g, method)
                #expect(cl.normChunk(g, method) == min(chunk, g.batch))
                let norms = cl.tensor([Float](repeating: 0.5, count: g.batch), [g.batch])
                let before = cl.launchCount
                cl.conv2dPerExampleGradNormsSquared(input: xt, gradOutput: dyt, geometry: g, squaredNorms: norms, method: method)
                let chunks = (g.batch + chunk - 1) / chunk
                #expect(cl.launchCount - before == 2 * chunks, "\(method): launches for \(chunks) chunks")
                #expect(relativeError(cl.download(norms), ref) < 1e-4, "\(method), chunks of \(chunk): \(g)")
            }
        }
    }

    /// The default budget holds a batch of 128 in one chunk on every layer of CIFAR ResNet-18
    /// width 64 (32x32), whichever method a layer takes.
    @Test func defaultBudgetHoldsResNet18Width64Batch128() {
        for g in Self.resnet18Layers(width: 64, size: 32, batch: 128) {
            for method in [PerExampleNormMethod.explicit, .ghost] {
                #expect(cl.normChunk(g, method) == 128, "\(method) \(g)")
            }
        }
        #expect(cl.normBudget == 1 << 20)
    }

    /// The method by tile-rounded multiply-adds agrees with the CPU's exact count where the
    /// layer fills the 64 x 64 tiles (ResNet-18 width 64, 32x32: all but layer4's 1x1 shortcut)
    /// and takes explicit where a small [PQ, PQ] Gram would fill a tile poorly (layer4 on 16x16).
    @Test func methodFollowsTheTiledWork() throws {
        try #require(cl.tuning.tileM == 64 && cl.tuning.tileN == 64 && cl.tuning.tileK == 16, "the default PoCL tiles")
        let wide = Self.resnet18Layers(width: 64, size: 32, batch: 128)
        for g in wide where !(g.kernel == 1 && g.outChannels == 512) {
            #expect(cl.normMethod(for: g) == PerExampleNormMethod.cheaper(for: g), "\(g)")
        }
        #expect(wide.contains { cl.normMethod(for: $0) == .ghost } && wide.contains { cl.normMethod(for: $0) == .explicit })
        let layer4 = Conv2DGeometry(batch: 8, inChannels: 64, height: 2, width: 2, outChannels: 64, kernel: 3, stride: 1, padding: 1)
        #expect(PerExampleNormMethod.cheaper(for: layer4) == .ghost && cl.normMethod(for: layer4) == .explicit)
    }

    /// The launch count of a layer's norms does not grow with the batch.
    @Test func normLaunchesDoNotGrowWithTheBatch() {
        for batch in [1, 8, 64] {
            let g = Conv2DGeometry(batch: batch, inChannels: 8, height: 8, width: 8, outChannels: 16, kernel: 3, stride: 2, padding: 1)
            let (x, dy, norms) = (cl.makeTensor(g.inputShape), cl.makeTensor(g.outputShape), cl.makeTensor([batch]))
            let before = cl.launchCount
            cl.conv2dPerExampleGradNormsSquared(input: x, gradOutput: dy, geometry: g, squaredNorms: norms)
            cl.conv2dForward(input: x, weight: cl.makeTensor(g.weightShape), output: dy, geometry: g)
            cl.conv2dBackwardData(gradOutput: dy, weight: cl.makeTensor(g.weightShape), gradInput: x, geometry: g)
            cl.conv2dBackwardWeight(input: x, gradOutput: dy, gradWeight: cl.makeTensor(g.weightShape), geometry: g)
            #expect(cl.launchCount - before == 2 + 3, "batch \(batch)")
        }
    }
}
