import COpenCL

/// GEMM tuning constants, passed to the kernel as `-D` build options; one entry per
/// device kind (CLBlast keeps such a table per device). GPU values are starting
/// points until they are tuned on the hardware.
public struct OpenCLTuning: Sendable, Equatable {
    /// Work-group tile of C (rows, columns) and the depth of one local-memory tile.
    public var tileM: Int, tileN: Int, tileK: Int
    /// Register tile: outputs per work-item (rows, columns).
    public var workM: Int, workN: Int
    /// Work-items of the reduction kernels (a power of two).
    public var reduction: Int

    public var buildOptions: String {
        "-DTSM=\(tileM) -DTSN=\(tileN) -DTSK=\(tileK) -DWPTM=\(workM) -DWPTN=\(workN)"
    }

    /// The work-group size of the GEMM kernel.
    public var gemmLocal: [Int] { [tileN / workN, tileM / workM] }

    /// The table: by device type (and later by vendor and name).
    public static func forDevice(_ info: OpenCLDeviceInfo) -> OpenCLTuning {
        switch info.type {
        case .gpu: OpenCLTuning(tileM: 64, tileN: 64, tileK: 16, workM: 8, workN: 8, reduction: 256)
        // PoCL on AVX-512 (benchmarks/gemm_vs_clblast.sh sweep): 64x64 tiles with 8x8 register
        // tiles ran 3x faster than 32x32 / 4x4 and 2x faster than 32x32 / 8x4
        default: OpenCLTuning(tileM: 64, tileN: 64, tileK: 16, workM: 8, workN: 8, reduction: 64)
        }
    }
}

/// An OpenCL device: every op of ``Device`` as batched OpenCL kernels (one op family
/// per embedded `.cl` file), tensors in device memory, one in-order queue. Programs
/// are built once when the device is created (a build failure throws there, so the
/// caller can fall back to the CPU); a failure to enqueue later is fatal with the
/// OpenCL error name. Tested against ``CPUDevice`` on PoCL.
public final class OpenCLDevice: Device {
    public let cl: OpenCLContext
    public let tuning: OpenCLTuning
    public let name: String
    public var kind: DeviceKind { cl.info.type }
    var scratch: OpenCLMemory
    var scratch2: OpenCLMemory
    /// Floats of the im2col scratch per chunk of images.
    let columnBudget = 1 << 22

    static let sources: [(name: String, text: [UInt8])] = [
        ("elementwise.cl", PackageResources.elementwise_cl), ("gemm.cl", PackageResources.gemm_cl),
        ("conv.cl", PackageResources.conv_cl), ("norm.cl", PackageResources.norm_cl),
        ("layers.cl", PackageResources.layers_cl),
    ]
    static let kernelsBySource: [String: [String]] = [
        "elementwise.cl": ["fill", "copy_buffer", "accumulate", "add", "relu_forward", "relu_backward", "sgd_step"],
        "gemm.cl": ["gemm"],
        "conv.cl": ["im2col", "col2im", "dot_into"],
        "norm.cl": ["bn_train_forward", "bn_infer_forward", "bn_backward", "bn_infer_backward", "bn_param_grads", "bn_norms"],
        "layers.cl": ["maxpool_forward", "maxpool_backward", "avgpool_forward", "avgpool_backward", "gap_forward",
                      "gap_backward", "flatten", "broadcast_bias", "row_sums", "linear_norms", "softmax_cross_entropy"],
    ]
    private var kernels: [String: cl_kernel] = [:]

    /// Creates the context and builds every program. - Parameter index: `opencl:N`.
    public init(index: Int = 0) throws {
        cl = try OpenCLContext(index: index)
        tuning = OpenCLTuning.forDevice(cl.info)
        name = "opencl:\(index) (\(cl.info.platform): \(cl.info.name))"
        scratch = try cl.allocate(4)
        scratch2 = try cl.allocate(4)
        for source in Self.sources {
            let options = source.name == "gemm.cl" ? tuning.buildOptions : ""
            for k in Self.kernelsBySource[source.name]! {
                kernels[k] = try cl.kernel(k, source: source, options: options)
            }
        }
    }

    // MARK: Launch helpers

    private func launch(_ name: String, global: [Int], local: [Int]? = nil, _ arguments: [KernelArgument]) {
        do {
            try cl.run(kernels[name]!, global: global, local: local, arguments)
        } catch {
            fatalError("OpenCL kernel \(name) on \(self.name): \(error)")
        }
    }

    /// One work-item per element, `total` appended as the last argument.
    private func perElement(_ name: String, _ total: Int, _ arguments: [KernelArgument]) {
        guard total > 0 else { return }
        launch(name, global: [(total + 63) / 64 * 64], local: [64], arguments + [.int(Int32(total))])
    }

    /// One work-group of `tuning.reduction` items per group, with local scratch as the last argument.
    private func perGroup(_ name: String, groups: Int, _ arguments: [KernelArgument]) {
        guard groups > 0 else { return }
        let r = tuning.reduction
        launch(name, global: [groups * r], local: [r], arguments + [.local(r * 4)])
    }

    func mem(_ t: Tensor) -> KernelArgument {
        guard let m = t.memory as? OpenCLMemory else { preconditionFailure("tensor is not in OpenCL memory") }
        return .buffer(m)
    }

    /// One of two growable scratch buffers (im2col columns; per-example norm work).
    private func scratchBuffer(_ floats: Int, second: Bool = false) -> OpenCLMemory {
        let bytes = floats * 4
        do {
            if second {
                if scratch2.byteCount < bytes { scratch2 = try cl.allocate(bytes) }
                return scratch2
            }
            if scratch.byteCount < bytes { scratch = try cl.allocate(bytes) }
            return scratch
        } catch {
            fatalError("OpenCL scratch of \(bytes) bytes on \(name): \(error)")
        }
    }

    // MARK: Memory

    public func makeTensor(_ shape: [Int], dtype: DType) -> Tensor {
        do {
            return Tensor(shape: shape, dtype: dtype, memory: try cl.allocate(shape.reduce(1, *) * dtype.size))
        } catch {
            fatalError("OpenCL allocation of \(shape) on \(name): \(error)")
        }
    }

    public func upload(_ values: UnsafeBufferPointer<Float>, to tensor: Tensor) {
        write(UnsafeRawBufferPointer(values), to: tensor)
    }

    public func upload(_ values: UnsafeBufferPointer<Int32>, to tensor: Tensor) {
        write(UnsafeRawBufferPointer(values), to: tensor)
    }

    private func write(_ bytes: UnsafeRawBufferPointer, to tensor: Tensor) {
        precondition(bytes.count <= tensor.capacity * 4)
        guard bytes.count > 0, case .buffer(let m) = mem(tensor) else { return }
        do { try cl.write(bytes.baseAddress!, count: bytes.count, to: m) } catch { fatalError("\(error)") }
    }

    public func download(_ tensor: Tensor, into values: UnsafeMutableBufferPointer<Float>) {
        guard values.count > 0, case .buffer(let m) = mem(tensor) else { return }
        do { try cl.read(m, into: values.baseAddress!, count: values.count * 4) } catch { fatalError("\(error)") }
    }

    public func synchronize() {
        do { try cl.finish() } catch { fatalError("\(error)") }
    }

    // MARK: Elementwise

    public func fill(_ t: Tensor, with value: Float) { perElement("fill", t.count, [mem(t), .float(value)]) }
    public func copy(_ x: Tensor, to y: Tensor) { perElement("copy_buffer", x.count, [mem(x), mem(y)]) }
    public func accumulate(_ x: Tensor, into y: Tensor) { perElement("accumulate", x.count, [mem(x), mem(y)]) }
    public func add(_ a: Tensor, _ b: Tensor, into out: Tensor) { perElement("add", a.count, [mem(a), mem(b), mem(out)]) }
    public func reluForward(_ x: Tensor, output y: Tensor) { perElement("relu_forward", x.count, [mem(x), mem(y)]) }
    public func reluBackward(output y: Tensor, gradOutput dy: Tensor, gradInput dx: Tensor) {
        perElement("relu_backward", y.count, [mem(y), mem(dy), mem(dx)])
    }

    public func sgdStep(parameter w: Tensor, gradient g: Tensor, momentum m: Tensor, hyper h: SGDHyperparameters) {
        perElement("sgd_step", w.count, [mem(w), mem(g), mem(m), .float(h.learningRate), .float(h.momentum),
                                         .float(h.weightDecay), .int(h.nesterov ? 1 : 0)])
    }

    // MARK: GEMM

    public func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                     alpha: Float, a: Tensor, aOffset: Int, lda: Int,
                     b: Tensor, bOffset: Int, ldb: Int,
                     beta: Float, c: Tensor, cOffset: Int, ldc: Int) {
        gemm(transposeA, transposeB, m, n, k, alpha, mem(a), aOffset, lda, mem(b), bOffset, ldb, beta, mem(c), cOffset, ldc)
    }

    func gemm(_ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
              _ a: KernelArgument, _ aOffset: Int, _ lda: Int, _ b: KernelArgument, _ bOffset: Int, _ ldb: Int,
              _ beta: Float, _ c: KernelArgument, _ cOffset: Int, _ ldc: Int) {
        guard m > 0 && n > 0 else { return }
        let t = tuning, local = t.gemmLocal
        launch("gemm", global: [(n + t.tileN - 1) / t.tileN * local[0], (m + t.tileM - 1) / t.tileM * local[1]], local: local, [
            .int(Int32(m)), .int(Int32(n)), .int(Int32(k)), .float(alpha),
            a, .int(Int32(aOffset)), .int(Int32(lda)), .int(ta ? 1 : 0),
            b, .int(Int32(bOffset)), .int(Int32(ldb)), .int(tb ? 1 : 0),
            .float(beta), c, .int(Int32(cOffset)), .int(Int32(ldc)),
        ])
    }

    // MARK: Convolution (im2col + GEMM per chunk of images, as on the CPU)

    private func chunk(_ g: Conv2DGeometry) -> Int { max(1, min(g.batch, columnBudget / max(1, g.patchSize * g.outPlane))) }

    private func geometryArguments(_ g: Conv2DGeometry, n0: Int, nb: Int) -> [KernelArgument] {
        [.int(Int32(g.inChannels)), .int(Int32(g.batch)), .int(Int32(g.height)), .int(Int32(g.width)), .int(Int32(g.kernel)),
         .int(Int32(g.stride)), .int(Int32(g.padding)), .int(Int32(g.outHeight)), .int(Int32(g.outWidth)),
         .int(Int32(n0)), .int(Int32(nb))]
    }

    private func im2col(_ x: Tensor, _ cols: OpenCLMemory, _ g: Conv2DGeometry, n0: Int, nb: Int) {
        let width = nb * g.outPlane
        launch("im2col", global: [(width + 15) / 16 * 16, g.patchSize], local: [16, 1],
               [mem(x), .buffer(cols)] + geometryArguments(g, n0: n0, nb: nb))
    }

    public func conv2dForward(input x: Tensor, weight w: Tensor, output y: Tensor, geometry g: Conv2DGeometry) {
        let K = g.outChannels, CRS = g.patchSize, PQ = g.outPlane, N = g.batch
        if g.isPointwise {
            gemm(false, false, K, N * PQ, CRS, 1, mem(w), 0, CRS, mem(x), 0, N * PQ, 0, mem(y), 0, N * PQ)
            return
        }
        let c = chunk(g), cols = scratchBuffer(CRS * c * PQ)
        for n0 in stride(from: 0, to: N, by: c) {
            let nb = min(c, N - n0)
            im2col(x, cols, g, n0: n0, nb: nb)
            gemm(false, false, K, nb * PQ, CRS, 1, mem(w), 0, CRS, .buffer(cols), 0, nb * PQ, 0, mem(y), n0 * PQ, N * PQ)
        }
    }

    public func conv2dBackwardData(gradOutput dy: Tensor, weight w: Tensor, gradInput dx: Tensor, geometry g: Conv2DGeometry) {
        let K = g.outChannels, CRS = g.patchSize, PQ = g.outPlane, N = g.batch
        if g.isPointwise {
            gemm(true, false, CRS, N * PQ, K, 1, mem(w), 0, CRS, mem(dy), 0, N * PQ, 0, mem(dx), 0, N * PQ)
            return
        }
        let c = chunk(g), cols = scratchBuffer(CRS * c * PQ)
        for n0 in stride(from: 0, to: N, by: c) {
            let nb = min(c, N - n0)
            gemm(true, false, CRS, nb * PQ, K, 1, mem(w), 0, CRS, mem(dy), n0 * PQ, N * PQ, 0, .buffer(cols), 0, nb * PQ)
            let total = g.inChannels * nb * g.height * g.width   // the kernel derives it from the geometry
            launch("col2im", global: [(total + 63) / 64 * 64], local: [64],
                   [.buffer(cols), mem(dx)] + geometryArguments(g, n0: n0, nb: nb))
        }
    }

    public func conv2dBackwardWeight(input x: Tensor, gradOutput dy: Tensor, gradWeight dw: Tensor, geometry g: Conv2DGeometry) {
        let K = g.outChannels, CRS = g.patchSize, PQ = g.outPlane, N = g.batch
        if g.isPointwise {
            gemm(false, true, K, CRS, N * PQ, 1, mem(dy), 0, N * PQ, mem(x), 0, N * PQ, 0, mem(dw), 0, CRS)
            return
        }
        let c = chunk(g), cols = scratchBuffer(CRS * c * PQ)
        for n0 in stride(from: 0, to: N, by: c) {
            let nb = min(c, N - n0)
            im2col(x, cols, g, n0: n0, nb: nb)
            gemm(false, true, K, CRS, nb * PQ, 1, mem(dy), n0 * PQ, N * PQ, .buffer(cols), 0, nb * PQ,
                 n0 == 0 ? 0 : 1, mem(dw), 0, CRS)
        }
    }

    public func conv2dPerExampleGradNormsSquared(input x: Tensor, gradOutput dy: Tensor, geometry g: Conv2DGeometry,
                                                 squaredNorms: Tensor) {
        let K = g.outChannels, CRS = g.patchSize, PQ = g.outPlane, N = g.batch
        let method = PerExampleNormMethod.cheaper(for: g)
        let work = method == .explicit ? K * CRS : 2 * PQ * PQ
        let buffer = scratchBuffer(work, second: true)
        let c = g.isPointwise ? N : chunk(g)
        let cols = g.isPointwise ? nil : scratchBuffer(CRS * c * PQ)
        for n0 in stride(from: 0, to: N, by: c) {
            let nb = min(c, N - n0)
            let a: KernelArgument, ldA: Int, first: Int
            if let cols {
                im2col(x, cols, g, n0: n0, nb: nb)
                a = .buffer(cols); ldA = nb * PQ; first = 0
            } else {
                a = mem(x); ldA = N * PQ; first = n0 * PQ
            }
            for b in 0..<nb {
                let i = n0 + b
                switch method {
                case .explicit:   // dw_i[K, CRS] = G_i A_i^T, then its sum of squares
                    gemm(false, true, K, CRS, PQ, 1, mem(dy), i * PQ, N * PQ, a, first + b * PQ, ldA, 0, .buffer(buffer), 0, CRS)
                    perGroup("dot_into", groups: 1, [.buffer(buffer), .buffer(buffer), .int(0), .int(Int32(K * CRS)),
                                                      mem(squaredNorms), .int(Int32(i))])
                case .ghost:      // <A_i^T A_i, G_i^T G_i>, both [PQ, PQ]
                    gemm(true, false, PQ, PQ, CRS, 1, a, first + b * PQ, ldA, a, first + b * PQ, ldA, 0, .buffer(buffer), 0, PQ)
                    gemm(true, false, PQ, PQ, K, 1, mem(dy), i * PQ, N * PQ, mem(dy), i * PQ, N * PQ, 0,
                         .buffer(buffer), PQ * PQ, PQ)
                    perGroup("dot_into", groups: 1, [.buffer(buffer), .buffer(buffer), .int(Int32(PQ * PQ)), .int(Int32(PQ * PQ)),
                                                      mem(squaredNorms), .int(Int32(i))])
                }
            }
        }
    }

    // MARK: Batch norm

    public func batchNormTrainingForward(input x: Tensor, gamma: Tensor, beta: Tensor, output y: Tensor,
                                         savedMean: Tensor, savedInvStd: Tensor, runningMean: Tensor, runningVar: Tensor,
                                         channels: Int, momentum: Float, epsilon: Float, relu: Bool) {
        perGroup("bn_train_forward", groups: channels, [mem(x), mem(gamma), mem(beta), mem(y), mem(savedMean), mem(savedInvStd),
                                                        mem(runningMean), mem(runningVar), .int(Int32(x.count / channels)),
                                                        .float(momentum), .float(epsilon), .int(relu ? 1 : 0)])
    }

    public func batchNormInferenceForward(input x: Tensor, gamma: Tensor, beta: Tensor, output y: Tensor,
                                          runningMean: Tensor, runningVar: Tensor, channels: Int, epsilon: Float, relu: Bool) {
        perElement("bn_infer_forward", x.count, [mem(x), mem(gamma), mem(beta), mem(y), mem(runningMean), mem(runningVar),
                                                 .int(Int32(x.count / channels)), .float(epsilon), .int(relu ? 1 : 0)])
    }

    public func batchNormBackward(gradOutput dy: Tensor, input x: Tensor, gamma: Tensor, savedMean: Tensor,
                                  savedInvStd: Tensor, gradInput dx: Tensor, gradGamma: Tensor, gradBeta: Tensor, channels: Int,
                                  reluOutput: Tensor?) {
        perGroup("bn_backward", groups: channels, [mem(dy), mem(x), mem(gamma), mem(savedMean), mem(savedInvStd), mem(dx),
                                                   mem(gradGamma), mem(gradBeta), mem(reluOutput ?? dy),
                                                   .int(reluOutput == nil ? 0 : 1), .int(Int32(x.count / channels))])
    }

    public func batchNormInferenceBackward(gradOutput dy: Tensor, input x: Tensor, gamma: Tensor,
                                           runningMean: Tensor, runningVar: Tensor, gradInput dx: Tensor?,
                                           gradGamma: Tensor?, gradBeta: Tensor?, squaredNorms: Tensor?,
                                           channels C: Int, batch N: Int, epsilon: Float, reluOutput: Tensor?) {
        let sums = scratchBuffer(2 * C * N, second: true)
        perGroup("bn_infer_backward", groups: C * N, [mem(dy), mem(x), mem(gamma), mem(runningMean), mem(runningVar),
                                                      dx.map(mem) ?? mem(dy), .int(dx == nil ? 0 : 1),
                                                      mem(reluOutput ?? dy), .int(reluOutput == nil ? 0 : 1), .buffer(sums),
                                                      .int(Int32(N)), .int(Int32(x.count / (C * N))), .float(epsilon)])
        if let gradGamma, let gradBeta {
            launch("bn_param_grads", global: [(C + 63) / 64 * 64], local: [64],
                   [.buffer(sums), mem(gradGamma), mem(gradBeta), .int(Int32(C)), .int(Int32(N))])
        }
        if let squaredNorms {
            launch("bn_norms", global: [(N + 63) / 64 * 64], local: [64], [.buffer(sums), mem(squaredNorms), .int(Int32(C)), .int(Int32(N))])
        }
    }

    // MARK: Pooling, flatten

    private func poolArguments(_ g: Pool2DGeometry) -> [KernelArgument] {
        [.int(Int32(g.height)), .int(Int32(g.width)), .int(Int32(g.outHeight)), .int(Int32(g.outWidth)),
         .int(Int32(g.window)), .int(Int32(g.stride))]
    }

    public func maxPoolForward(input x: Tensor, output y: Tensor, geometry g: Pool2DGeometry) {
        perElement("maxpool_forward", y.count, [mem(x), mem(y)] + poolArguments(g))
    }

    public func maxPoolBackward(input x: Tensor, gradOutput dy: Tensor, gradInput dx: Tensor, geometry g: Pool2DGeometry) {
        perElement("maxpool_backward", x.count, [mem(x), mem(dy), mem(dx)] + poolArguments(g))
    }

    public func avgPoolForward(input x: Tensor, output y: Tensor, geometry g: Pool2DGeometry) {
        perElement("avgpool_forward", y.count, [mem(x), mem(y)] + poolArguments(g))
    }

    public func avgPoolBackward(gradOutput dy: Tensor, gradInput dx: Tensor, geometry g: Pool2DGeometry) {
        perElement("avgpool_backward", dx.count, [mem(dy), mem(dx)] + poolArguments(g))
    }

    public func globalAvgPoolForward(input x: Tensor, output y: Tensor, channels: Int, batch: Int, plane: Int) {
        perElement("gap_forward", channels * batch, [mem(x), mem(y), .int(Int32(plane))])
    }

    public func globalAvgPoolBackward(gradOutput dy: Tensor, gradInput dx: Tensor, channels: Int, batch: Int, plane: Int) {
        perElement("gap_backward", channels * batch * plane, [mem(dy), mem(dx), .int(Int32(plane))])
    }

    public func flattenForward(input x: Tensor, output y: Tensor, channels: Int, batch: Int, plane: Int) {
        perElement("flatten", channels * batch * plane, [mem(x), mem(y), .int(Int32(batch)), .int(Int32(plane)), .int(0)])
    }

    public func flattenBackward(gradOutput dy: Tensor, gradInput dx: Tensor, channels: Int, batch: Int, plane: Int) {
        perElement("flatten", channels * batch * plane, [mem(dy), mem(dx), .int(Int32(batch)), .int(Int32(plane)), .int(1)])
    }

    // MARK: Linear

    public func linearForward(input x: Tensor, weight w: Tensor, bias b: Tensor, output y: Tensor,
                              inFeatures: Int, outFeatures: Int, batch: Int) {
        perElement("broadcast_bias", outFeatures * batch, [mem(b), mem(y), .int(Int32(batch))])
        gemm(false, false, outFeatures, batch, inFeatures, 1, mem(w), 0, inFeatures, mem(x), 0, batch, 1, mem(y), 0, batch)
    }

    public func linearBackward(input x: Tensor, weight w: Tensor, gradOutput dy: Tensor, gradInput dx: Tensor?,
                               gradWeight dw: Tensor, gradBias db: Tensor, inFeatures: Int, outFeatures: Int, batch: Int) {
        gemm(false, true, outFeatures, inFeatures, batch, 1, mem(dy), 0, batch, mem(x), 0, batch, 0, mem(dw), 0, inFeatures)
        launch("row_sums", global: [(outFeatures + 63) / 64 * 64], local: [64],
               [mem(dy), mem(db), .int(Int32(batch)), .int(Int32(outFeatures))])
        if let dx {
            gemm(true, false, inFeatures, batch, outFeatures, 1, mem(w), 0, inFeatures, mem(dy), 0, batch, 0, mem(dx), 0, batch)
        }
    }

    public func linearPerExampleGradNormsSquared(input x: Tensor, gradOutput dy: Tensor, inFeatures: Int, outFeatures: Int,
                                                 batch: Int, squaredNorms: Tensor) {
        launch("linear_norms", global: [(batch + 63) / 64 * 64], local: [64],
               [mem(x), mem(dy), mem(squaredNorms), .int(Int32(inFeatures)), .int(Int32(outFeatures)), .int(Int32(batch))])
    }

    // MARK: Loss

    public func softmaxCrossEntropy(logits: Tensor, labels: Tensor, gradScale: Float, errors: Tensor, outputs: Tensor) {
        let N = labels.count, K = logits.count / N
        launch("softmax_cross_entropy", global: [(N + 63) / 64 * 64], local: [64],
               [mem(logits), mem(labels), .float(gradScale), mem(errors), mem(outputs), .int(Int32(K)), .int(Int32(N))])
    }
}
