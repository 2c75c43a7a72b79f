import CKernels
import Testing
@testable import Kernels

/// Direct convolution in Double on channel-major tensors.
func referenceConv(_ x: [Float], _ w: [Float], _ g: Conv2DGeometry) -> [Double] {
    let (C, N, H, W) = (g.inChannels, g.batch, g.height, g.width)
    let (K, R, P, Q) = (g.outChannels, g.kernel, g.outHeight, g.outWidth)
    var y = [Double](repeating: 0, count: K * N * P * Q)
    for k in 0..<K { for n in 0..<N { for p in 0..<P { for q in 0..<Q {
        var s = 0.0
        for c in 0..<C { for i in 0..<R { for j in 0..<R {
            let h = p * g.stride - g.padding + i, ww = q * g.stride - g.padding + j
            if h >= 0 && h < H && ww >= 0 && ww < W {
                s += Double(x[((c * N + n) * H + h) * W + ww]) * Double(w[((k * C + c) * R + i) * R + j])
            }
        }}}
        y[((k * N + n) * P + p) * Q + q] = s
    }}}}
    return y
}

/// Adjoints of the direct convolution: dx and dw.
func referenceConvBackward(_ x: [Float], _ w: [Float], _ dy: [Float], _ g: Conv2DGeometry) -> (dx: [Double], dw: [Double]) {
    let (C, N, H, W) = (g.inChannels, g.batch, g.height, g.width)
    let (K, R, P, Q) = (g.outChannels, g.kernel, g.outHeight, g.outWidth)
    var dx = [Double](repeating: 0, count: x.count), dw = [Double](repeating: 0, count: w.count)
    for k in 0..<K { for n in 0..<N { for p in 0..<P { for q in 0..<Q {
        let d = Double(dy[((k * N + n) * P + p) * Q + q])
        for c in 0..<C { for i in 0..<R { for j in 0..<R {
            let h = p * g.stride - g.padding + i, ww = q * g.stride - g.padding + j
            if h >= 0 && h < H && ww >= 0 && ww < W {
                let xi = ((c * N + n) * H + h) * W + ww, wi = ((k * C + c) * R + i) * R + j
                dx[xi] += d * Double(w[wi])
                dw[wi] += d * Double(x[xi])
            }
        }}}
    }}}}
    return (dx, dw)
}

struct ConvolutionTests {
    static let geometries: [Conv2DGeometry] = [
        // odd sizes, every kernel/stride/padding combination ResNet-18 uses, and a few more
        Conv2DGeometry(batch: 3, inChannels: 3, height: 7, width: 5, outChannels: 4, kernel: 3, stride: 1, padding: 1),
        Conv2DGeometry(batch: 2, inChannels: 5, height: 9, width: 9, outChannels: 6, kernel: 3, stride: 2, padding: 1),
        Conv2DGeometry(batch: 4, inChannels: 4, height: 8, width: 8, outChannels: 8, kernel: 1, stride: 2, padding: 0),
        Conv2DGeometry(batch: 3, inChannels: 6, height: 5, width: 5, outChannels: 7, kernel: 1, stride: 1, padding: 0),
        Conv2DGeometry(batch: 1, inChannels: 2, height: 6, width: 11, outChannels: 3, kernel: 5, stride: 3, padding: 2),
        Conv2DGeometry(batch: 5, inChannels: 1, height: 28, width: 28, outChannels: 8, kernel: 3, stride: 1, padding: 0),
        // ResNet-18 width-16 layer shapes on 32x32 input
        Conv2DGeometry(batch: 2, inChannels: 16, height: 32, width: 32, outChannels: 16, kernel: 3, stride: 1, padding: 1),
        Conv2DGeometry(batch: 2, inChannels: 64, height: 8, width: 8, outChannels: 128, kernel: 3, stride: 2, padding: 1),
        Conv2DGeometry(batch: 2, inChannels: 128, height: 4, width: 4, outChannels: 128, kernel: 3, stride: 1, padding: 1),
        // stride 2 at the sizes of width-16 ResNet-18 on 28x28 (28 -> 14, 14 -> 7), odd
        // widths (15 -> 8, 21 -> 10 unpadded) and 1x1 stride 2
        Conv2DGeometry(batch: 2, inChannels: 3, height: 28, width: 28, outChannels: 4, kernel: 3, stride: 2, padding: 1),
        Conv2DGeometry(batch: 3, inChannels: 2, height: 14, width: 14, outChannels: 5, kernel: 3, stride: 2, padding: 1),
        Conv2DGeometry(batch: 2, inChannels: 2, height: 15, width: 15, outChannels: 3, kernel: 3, stride: 2, padding: 1),
        Conv2DGeometry(batch: 2, inChannels: 3, height: 13, width: 21, outChannels: 2, kernel: 3, stride: 2, padding: 0),
        Conv2DGeometry(batch: 2, inChannels: 4, height: 14, width: 14, outChannels: 6, kernel: 1, stride: 2, padding: 0),
    ]

    /// Forward, backward data (into a tensor holding 42s) and weight gradient of `g` on `device`
    /// against the Double reference.
    static func expectAllOpsMatchReference(_ device: CPUDevice, _ g: Conv2DGeometry, seed: UInt64, tolerance: Double) {
        var rng = TestRandom(seed)
        let x = rng.array(g.inputShape.reduce(1, *)), w = rng.array(g.weightShape.reduce(1, *))
        let dy = rng.array(g.outputShape.reduce(1, *))
        let (dxRef, dwRef) = referenceConvBackward(x, w, dy, g)
        let y = device.makeTensor(g.outputShape), dx = device.makeTensor(g.inputShape), dw = device.makeTensor(g.weightShape)
        for t in [y, dx, dw] { device.fill(t, with: 42) }   // must be overwritten, not accumulated into
        let xt = device.tensor(x, g.inputShape), wt = device.tensor(w, g.weightShape), dyt = device.tensor(dy, g.outputShape)
        device.conv2dForward(input: xt, weight: wt, output: y, geometry: g)
        device.conv2dBackwardData(gradOutput: dyt, weight: wt, gradInput: dx, geometry: g)
        device.conv2dBackwardWeight(input: xt, gradOutput: dyt, gradWeight: dw, geometry: g)
        #expect(relativeError(device.download(y), referenceConv(x, w, g)) < tolerance, "forward \(g)")
        #expect(relativeError(device.download(dx), dxRef) < tolerance, "backward data \(g)")
        #expect(relativeError(device.download(dw), dwRef) < tolerance, "weight gradient \(g)")
    }

    @Test(arguments: geometries)
    func im2colMatchesDirectConvolution(_ g: Conv2DGeometry) {
        ConvolutionTests.expectAllOpsMatchReference(CPUDevice(convolution: .im2col), g, seed: UInt64(g.hashValue & 0xffff), tolerance: 1e-5)
    }

    @Test(arguments: geometries)
    func automaticChoiceMatchesDirectConvolution(_ g: Conv2DGeometry) {
        ConvolutionTests.expectAllOpsMatchReference(CPUDevice(), g, seed: UInt64(g.hashValue & 0xffff) + 7, tolerance: 1e-5)
    }

    @Test func chunkedIm2colMatchesSingleChunk() {
        // A batch big enough to need several im2col chunks.
        let g = Conv2DGeometry(batch: 40, inChannels: 64, height: 32, width: 32, outChannels: 8, kernel: 3, stride: 1, padding: 1)
        let device = CPUDevice(convolution: .im2col)
        #expect(device.imagesPerChunk(g) < g.batch)
        var rng = TestRandom(99)
        let x = rng.array(g.inputShape.reduce(1, *)), w = rng.array(g.weightShape.reduce(1, *))
        let dy = rng.array(g.outputShape.reduce(1, *))
        let y = device.makeTensor(g.outputShape), dw = device.makeTensor(g.weightShape), dx = device.makeTensor(g.inputShape)
        let xt = device.tensor(x, g.inputShape), wt = device.tensor(w, g.weightShape), dyt = device.tensor(dy, g.outputShape)
        device.conv2dForward(input: xt, weight: wt, output: y, geometry: g)
        device.conv2dBackwardWeight(input: xt, gradOutput: dyt, gradWeight: dw, geometry: g)
        device.conv2dBackwardData(gradOutput: dyt, weight: wt, gradInput: dx, geometry: g)
        #expect(relativeError(device.download(y), referenceConv(x, w, g)) < 1e-5)
        let (dxRef, dwRef) = referenceConvBackward(x, w, dy, g)
        #expect(relativeError(device.download(dw), dwRef) < 1e-5)
        #expect(relativeError(device.download(dx), dxRef) < 1e-5)
    }
}

/// The convolution with batch norm applied as it writes (forward-only passes) gives the
/// same bits as the two ops one after the other, on every CPU path (im2col, 1x1, strided,
/// Winograd with padding 0 and 1, odd planes; the F(4x4) product fused in C or not), with
/// and without the fused ReLU.
struct FusedBatchNormTests {
    static let geometries: [Conv2DGeometry] = [
        Conv2DGeometry(batch: 3, inChannels: 3, height: 9, width: 7, outChannels: 5, kernel: 3, stride: 1, padding: 1),
        Conv2DGeometry(batch: 2, inChannels: 16, height: 8, width: 8, outChannels: 24, kernel: 1),
        Conv2DGeometry(batch: 2, inChannels: 16, height: 9, width: 9, outChannels: 32, kernel: 3, stride: 2, padding: 1),
        Conv2DGeometry(batch: 3, inChannels: 16, height: 11, width: 7, outChannels: 16, kernel: 3, stride: 1, padding: 1),
        Conv2DGeometry(batch: 2, inChannels: 32, height: 26, width: 26, outChannels: 64, kernel: 3, stride: 1, padding: 0),
        Conv2DGeometry(batch: 3, inChannels: 16, height: 28, width: 28, outChannels: 18, kernel: 3, stride: 1, padding: 1),
    ]

    @Test(arguments: geometries, [true, false])
    func fusedEqualsConvolutionThenBatchNorm(_ g: Conv2DGeometry, fusedProduct: Bool) {
        let device = CPUDevice()
        device.winogradCKernels = fusedProduct && CPUDevice.winogradCKernelsAvailable
        var rng = TestRandom(UInt64(g.hashValue & 0xffff) + 5)
        let K = g.outChannels
        let x = device.tensor(rng.array(g.inputShape.reduce(1, *)), g.inputShape), w = device.tensor(rng.array(g.weightShape.reduce(1, *)), g.weightShape)
        for relu in [false, true] {
            let p = BatchNormParameters(gamma: device.tensor(rng.array(K), [K]), beta: device.tensor(rng.array(K), [K]),
                                        runningMean: device.tensor(rng.array(K), [K]),
                                        runningVar: device.tensor(rng.array(K).map { abs($0) + 0.1 }, [K]),
                                        channels: K, fusedReLU: relu)
            let conv = device.makeTensor(g.outputShape), apart = device.makeTensor(g.outputShape)
            device.conv2dForward(input: x, weight: w, output: conv, geometry: g)
            device.batchNormInferenceForward(input: conv, output: apart, parameters: p)
            let fused = device.makeTensor(g.outputShape), unused = device.makeTensor(g.outputShape)
            device.fill(fused, with: 42)
            device.conv2dBatchNormInference(input: x, weight: w, parameters: p, convOutput: unused, output: fused, geometry: g)
            #expect(device.download(fused) == device.download(apart), "\(g) relu \(relu)")
        }
    }
}

struct WinogradTests {
    static let geometries: [Conv2DGeometry] = [
        // odd planes (partial tiles on the right and bottom), one-pixel planes, ResNet-18 shapes
        Conv2DGeometry(batch: 3, inChannels: 5, height: 7, width: 5, outChannels: 4, kernel: 3, stride: 1, padding: 1),
        Conv2DGeometry(batch: 2, inChannels: 3, height: 1, width: 1, outChannels: 2, kernel: 3, stride: 1, padding: 1),
        Conv2DGeometry(batch: 2, inChannels: 2, height: 2, width: 3, outChannels: 3, kernel: 3, stride: 1, padding: 1),
        Conv2DGeometry(batch: 2, inChannels: 16, height: 32, width: 32, outChannels: 16, kernel: 3, stride: 1, padding: 1),
        Conv2DGeometry(batch: 3, inChannels: 64, height: 8, width: 8, outChannels: 32, kernel: 3, stride: 1, padding: 1),
        Conv2DGeometry(batch: 2, inChannels: 128, height: 4, width: 4, outChannels: 128, kernel: 3, stride: 1, padding: 1),
        Conv2DGeometry(batch: 2, inChannels: 8, height: 28, width: 28, outChannels: 16, kernel: 3, stride: 1, padding: 1),
        // valid (padding 0; backward data as a padding-2 convolution): odd output, one output
        // pixel, the small CNN's second layer
        Conv2DGeometry(batch: 3, inChannels: 5, height: 7, width: 6, outChannels: 4, kernel: 3, stride: 1, padding: 0),
        Conv2DGeometry(batch: 2, inChannels: 3, height: 3, width: 3, outChannels: 2, kernel: 3, stride: 1, padding: 0),
        Conv2DGeometry(batch: 2, inChannels: 32, height: 26, width: 26, outChannels: 64, kernel: 3, stride: 1, padding: 0),
        // padding 2 (a 1x1 input to a 3x3 output; backward data as a padding-0 convolution)
        Conv2DGeometry(batch: 2, inChannels: 4, height: 5, width: 4, outChannels: 3, kernel: 3, stride: 1, padding: 2),
        Conv2DGeometry(batch: 2, inChannels: 2, height: 1, width: 1, outChannels: 3, kernel: 3, stride: 1, padding: 2),
    ]

    /// Forward, backward data and weight gradient by Winograd F(2x2, 3x3) against the Double
    /// reference (outputs overwritten, not accumulated into).
    @Test(arguments: geometries + [Conv2DGeometry(batch: 9, inChannels: 16, height: 6, width: 6, outChannels: 24, kernel: 3, stride: 1, padding: 1)])
    func matchesDirectConvolution(_ g: Conv2DGeometry) {
        let device = CPUDevice(convolution: .winograd)
        #expect(device.usesWinograd(g))
        ConvolutionTests.expectAllOpsMatchReference(device, g, seed: UInt64(g.hashValue & 0xffff) + 3, tolerance: 2e-6)
    }

    /// Forward and backward data on F(4x4, 3x3) tiles (weight gradient on F(2x2)) against the
    /// Double reference: the larger interpolation points round more than F(2x2)'s.
    @Test(arguments: geometries + [Conv2DGeometry(batch: 9, inChannels: 16, height: 6, width: 6, outChannels: 24, kernel: 3, stride: 1, padding: 1),
                                   Conv2DGeometry(batch: 2, inChannels: 16, height: 14, width: 14, outChannels: 16, kernel: 3, stride: 1, padding: 1),
                                   Conv2DGeometry(batch: 5, inChannels: 16, height: 9, width: 13, outChannels: 8, kernel: 3, stride: 1, padding: 0)])
    func largeTilesMatchDirectConvolution(_ g: Conv2DGeometry) {
        let device = CPUDevice(convolution: .winograd4)
        #expect(device.usesLargeWinogradTiles(g))
        ConvolutionTests.expectAllOpsMatchReference(device, g, seed: UInt64(g.hashValue & 0xffff) + 4, tolerance: 1e-5)
    }

    /// F(4x4) layers with the fused product kernel (AVX2 + FMA: products, output transform
    /// and epilogue in one pass, CKernels) and without it, against the Double reference:
    /// channel counts not a multiple of 4, tile groups cut short by the chunk, partial tiles
    /// at odd plane sizes, padding 0 to 2, chunks of several images. Skipped where the CPU
    /// lacks the instructions (the other path runs there).
    @Test(.enabled(if: CPUDevice.winogradCKernelsAvailable),
          arguments: geometries + [Conv2DGeometry(batch: 9, inChannels: 16, height: 6, width: 6, outChannels: 24, kernel: 3, stride: 1, padding: 1),
                                   Conv2DGeometry(batch: 3, inChannels: 16, height: 28, width: 28, outChannels: 16, kernel: 3, stride: 1, padding: 1),
                                   Conv2DGeometry(batch: 5, inChannels: 7, height: 9, width: 13, outChannels: 5, kernel: 3, stride: 1, padding: 0),
                                   Conv2DGeometry(batch: 4, inChannels: 32, height: 14, width: 14, outChannels: 33, kernel: 3, stride: 1, padding: 1),
                                   Conv2DGeometry(batch: 3, inChannels: 64, height: 7, width: 7, outChannels: 66, kernel: 3, stride: 1, padding: 1)])
    func fusedProductMatchesDirectConvolution(_ g: Conv2DGeometry) {
        let device = CPUDevice(convolution: .winograd4)
        #expect(device.usesLargeWinogradTiles(g) && device.winogradCKernels)
        let fused = min(g.inChannels, g.outChannels) <= CPUDevice.fusedWinogradMaximumChannels
        #expect(device.usesFusedWinogradProduct(inputs: g.inChannels, outputs: g.outChannels) == fused)
        ConvolutionTests.expectAllOpsMatchReference(device, g, seed: UInt64(g.hashValue & 0xffff) + 6, tolerance: 1e-5)
        device.winogradCKernels = false
        #expect(!device.usesFusedWinogradProduct(inputs: g.inChannels, outputs: g.outChannels))
        ConvolutionTests.expectAllOpsMatchReference(device, g, seed: UInt64(g.hashValue & 0xffff) + 6, tolerance: 1e-5)
    }

    /// The C kernels' results agree with the sgemm path's within rounding (equal bits where
    /// OpenBLAS also sums the input channels in order with FMA, as its Haswell kernel does),
    /// and do not change from one call to the next.
    @Test(.enabled(if: CPUDevice.winogradCKernelsAvailable))
    func fusedProductAgreesWithSgemmPath() {
        let g = Conv2DGeometry(batch: 6, inChannels: 16, height: 28, width: 28, outChannels: 16, kernel: 3, stride: 1, padding: 1)
        let device = CPUDevice()
        var rng = TestRandom(17)
        let x = device.tensor(rng.array(g.inputShape.reduce(1, *)), g.inputShape)
        let w = device.tensor(rng.array(g.weightShape.reduce(1, *)), g.weightShape)
        func forward() -> [Float] {
            let y = device.makeTensor(g.outputShape)
            device.conv2dForward(input: x, weight: w, output: y, geometry: g)
            return device.download(y)
        }
        let fused = forward(), again = forward()
        device.winogradCKernels = false
        let plain = forward()
        #expect(fused == again)
        #expect(relativeError(fused, plain.map(Double.init)) < 1e-6)
    }

    /// The C input transform (8 tiles per vector) writes the same bits as the Swift one into
    /// every tile of V: planes narrower and wider than 8 tiles, odd sizes, padding 0 to 2.
    @Test(.enabled(if: CPUDevice.winogradCKernelsAvailable), arguments: [
        Conv2DGeometry(batch: 3, inChannels: 5, height: 28, width: 28, outChannels: 4, kernel: 3, stride: 1, padding: 1),
        Conv2DGeometry(batch: 4, inChannels: 3, height: 7, width: 7, outChannels: 4, kernel: 3, stride: 1, padding: 1),
        Conv2DGeometry(batch: 2, inChannels: 2, height: 45, width: 37, outChannels: 4, kernel: 3, stride: 1, padding: 0),
        Conv2DGeometry(batch: 3, inChannels: 4, height: 9, width: 6, outChannels: 4, kernel: 3, stride: 1, padding: 2),
    ])
    func vectorInputTransformEqualsSwift(_ g: Conv2DGeometry) {
        let tiles = WinogradTiles(g, tile: 4)
        let C = g.inChannels, N = g.batch, H = g.height, W = g.width
        var rng = TestRandom(UInt64(H * 100 + W))
        let x = rng.array(C * N * H * W)
        for (n0, nb) in [(0, N), (1, N - 1)] {
            let T = nb * tiles.perImage, vs = WinogradTiles.blockStride(C, T)
            let scratchCount = Int(sieve_winograd4_input_scratch(Int32(W), Int32(tiles.rows), Int32(tiles.columns))) + tiles.rowScratch
            var swift = [Float](repeating: .nan, count: 36 * vs), c = swift
            var rows = [Float](repeating: .nan, count: scratchCount)
            x.withUnsafeBufferPointer { xs in
                swift.withUnsafeMutableBufferPointer { v in
                    rows.withUnsafeMutableBufferPointer { r in
                        tiles.transformInput6x6(xs.baseAddress!, channels: C, n0: n0, count: nb, into: v.baseAddress!, rows: r.baseAddress!)
                    }
                }
                rows = [Float](repeating: .nan, count: scratchCount)   // the C kernel clears what it reads
                c.withUnsafeMutableBufferPointer { v in
                    rows.withUnsafeMutableBufferPointer { r in
                        sieve_winograd4_input_transform(xs.baseAddress! + n0 * H * W, N * H * W, Int32(C), Int32(nb), Int32(H), Int32(W),
                                                        Int32(g.padding), Int32(tiles.rows), Int32(tiles.columns), v.baseAddress!, vs, r.baseAddress!)
                    }
                }
            }
            var mismatches = 0
            for xi in 0..<36 { for i in 0..<(C * T) where swift[xi * vs + i].bitPattern != c[xi * vs + i].bitPattern { mismatches += 1 } }
            #expect(mismatches == 0, "\(g) images \(n0)..<\(n0 + nb): \(mismatches) values differ")
            #expect(!swift.prefix(C * T).contains { $0.isNaN }, "the Swift transform left tiles unwritten")
        }
    }

    /// The C kernel alone against Double: M = U V per tile position, y = A^T M A, the
    /// epilogue, written only inside the chunk's planes (partial tiles clipped), for
    /// channel counts not a multiple of 4 and tile counts not a multiple of its group.
    @Test(.enabled(if: CPUDevice.winogradCKernelsAvailable), arguments: [(3, 5, 7, 6, 2), (16, 16, 28, 28, 1), (9, 6, 5, 9, 3)])
    func fusedProductKernelMatchesDouble(_ shape: (inputs: Int, outputs: Int, height: Int, width: Int, images: Int)) {
        let (Ci, Co, H, W, nb) = shape
        let rows = (H + 3) / 4, columns = (W + 3) / 4, T = nb * rows * columns
        let vs = Ci * T + 16, us = Co * Ci + 16
        var rng = TestRandom(UInt64(Ci * 1000 + Co * 10 + H))
        let v = rng.array(36 * vs), u = rng.array(36 * us)
        let scale = rng.array(Co), shift = rng.array(Co)
        let at: [[Double]] = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]
        // planes of nb + 1 images per channel: the kernel writes the first nb (image 0 at offset 0)
        let channelStride = (nb + 1) * H * W, sentinel: Float = 42
        for relu in [false, true] {
            var y = [Float](repeating: sentinel, count: Co * channelStride)
            var scratch = [Float](repeating: .nan, count: Int(sieve_winograd4_product_scratch(Int32(Co))))
            y.withUnsafeMutableBufferPointer { out in
                sieve_winograd4_product_output(v, vs, Int32(Ci), Int32(T), u, us, Int32(Co), out.baseAddress, channelStride,
                                               Int32(H), Int32(W), Int32(rows), Int32(columns), scale, shift, relu ? 1 : 0, &scratch)
            }
            var worst = 0.0
            for k in 0..<Co {
                for t in 0..<T {
                    let b = t / (rows * columns), i = t % (rows * columns) / columns, j = t % columns
                    var m = [Double](repeating: 0, count: 36)
                    for xi in 0..<36 { for c in 0..<Ci { m[xi] += Double(u[xi * us + k * Ci + c]) * Double(v[xi * vs + c * T + t]) } }
                    for r in 0..<4 where 4 * i + r < H {
                        for q in 0..<4 where 4 * j + q < W {
                            var value = 0.0
                            for a in 0..<6 { for e in 0..<6 { value += at[r][a] * m[a * 6 + e] * at[q][e] } }
                            value = value * Double(scale[k]) + Double(shift[k])
                            if relu { value = max(value, 0) }
                            let got = Double(y[k * channelStride + b * H * W + (4 * i + r) * W + 4 * j + q])
                            worst = max(worst, abs(got - value) / max(1, abs(value)))
                        }
                    }
                }
                #expect(y[(k * channelStride + nb * H * W)...].prefix(H * W).allSatisfy { $0 == sentinel }, "image past the chunk written")
            }
            #expect(worst < 1e-4, "\(shape) relu \(relu): \(worst)")
        }
    }

    /// Several chunks per worker (a batch larger than one chunk) give the same result as the reference.
    @Test func chunkedBatch() {
        let g = Conv2DGeometry(batch: 24, inChannels: 32, height: 16, width: 16, outChannels: 32, kernel: 3, stride: 1, padding: 1)
        let device = CPUDevice()
        #expect(device.usesWinograd(g) && device.usesLargeWinogradTiles(g))
        var rng = TestRandom(5)
        let x = rng.array(g.inputShape.reduce(1, *)), w = rng.array(g.weightShape.reduce(1, *))
        let y = device.makeTensor(g.outputShape)
        device.conv2dForward(input: device.tensor(x, g.inputShape), weight: device.tensor(w, g.weightShape),
                             output: y, geometry: g)
        #expect(relativeError(device.download(y), referenceConv(x, w, g)) < 1e-5)
    }

    @Test func automaticChoice() {
        let device = CPUDevice()
        let wide = Conv2DGeometry(batch: 1, inChannels: 64, height: 8, width: 8, outChannels: 64, kernel: 3, stride: 1, padding: 1)
        #expect(device.usesWinograd(wide))
        #expect(!device.usesWinograd(Conv2DGeometry(batch: 1, inChannels: 3, height: 8, width: 8, outChannels: 64, kernel: 3, stride: 1, padding: 1)))
        #expect(!device.usesWinograd(Conv2DGeometry(batch: 1, inChannels: 64, height: 8, width: 8, outChannels: 64, kernel: 3, stride: 2, padding: 1)))
        #expect(device.usesWinograd(Conv2DGeometry(batch: 1, inChannels: 64, height: 8, width: 8, outChannels: 64, kernel: 3, stride: 1, padding: 0)))
        #expect(!device.usesWinograd(Conv2DGeometry(batch: 1, inChannels: 64, height: 8, width: 8, outChannels: 64, kernel: 3, stride: 1, padding: 3)))
        #expect(!device.usesWinograd(Conv2DGeometry(batch: 1, inChannels: 64, height: 8, width: 8, outChannels: 64, kernel: 5, stride: 1, padding: 2)))
        #expect(!CPUDevice(convolution: .im2col).usesWinograd(wide))
        // large tiles where both planes exceed one 4x4 tile, never under .winograd
        #expect(device.usesLargeWinogradTiles(wide))
        #expect(!device.usesLargeWinogradTiles(Conv2DGeometry(batch: 1, inChannels: 64, height: 4, width: 4, outChannels: 64, kernel: 3, stride: 1, padding: 1)))
        #expect(!device.usesLargeWinogradTiles(Conv2DGeometry(batch: 1, inChannels: 64, height: 6, width: 6, outChannels: 64, kernel: 3, stride: 1, padding: 0)))
        #expect(!CPUDevice(convolution: .winograd).usesLargeWinogradTiles(wide))
        #expect(CPUDevice(convolution: .winograd4).usesLargeWinogradTiles(wide))
    }
}

