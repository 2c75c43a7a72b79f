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

    /// The work-group size of the GEMM kernel (columns, rows).
    public var gemmLocal: (Int, Int) { (tileN / workN, tileM / workM) }

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
/// are built once when the device is created, all with the same ``programOptions``
/// (a build failure throws there, so the caller can fall back to the CPU); a failure
/// to enqueue later is fatal with the OpenCL error name. Kernels are named by the
/// ``Kernel`` enum and launched with typed arguments, set in place (no allocation per
/// launch). Tested against ``CPUDevice`` on PoCL.
public final class OpenCLDevice: Device {
    public let cl: OpenCLContext
    public let tuning: OpenCLTuning
    public let name: String
    public var kind: DeviceKind { cl.info.type }
    /// Options every program is built with: the tuning constants and the per-example
    /// output rows (``ExampleOutput/openCLBuildOptions``).
    public let programOptions: String
    var scratch: OpenCLMemory
    var scratch2: OpenCLMemory
    /// Floats of the im2col scratch per chunk of images.
    let columnBudget = 1 << 22
    /// Indexed by ``KernelSource/rawValue``.
    private var programs: [cl_program] = []
    /// Indexed by ``Kernel/rawValue``.
    private var kernels: [cl_kernel] = []

    /// Creates the context and builds every program. - Parameter index: `opencl:N`.
    public init(index: Int = 0) throws {
        cl = try OpenCLContext(index: index)
        tuning = OpenCLTuning.forDevice(cl.info)
        name = "opencl:\(index) (\(cl.info.platform): \(cl.info.name))"
        programOptions = tuning.buildOptions + " " + ExampleOutput.openCLBuildOptions
        scratch = try cl.allocate(4)
        scratch2 = try cl.allocate(4)
        for source in KernelSource.allCases {
            programs.append(try cl.buildProgram((source.fileName, source.text), options: programOptions))
        }
        for k in Kernel.allCases {
            let kernel = try cl.createKernel(k.name, in: programs[k.source.rawValue])
            kernels.append(kernel)
            let count = try cl.argumentCount(of: kernel)
            guard count == k.arguments.count else {
                throw OpenCLError(call: "kernel \(k.name) in \(k.source.fileName) has \(count) arguments, "
                                  + "Kernel.\(k) declares \(k.arguments.count); clGetKernelInfo", code: -52, log: nil)
            }
        }
    }

    deinit {
        for k in kernels { clReleaseKernel(k) }
        for p in programs { clReleaseProgram(p) }
    }

    // MARK: Launch

    /// The built kernel `k` (owned by the device).
    func kernel(_ k: Kernel) -> cl_kernel { kernels[k.rawValue] }

    /// Sets `arguments` on kernel `k` (each checked against its declared kind, then
    /// `clSetKernelArg` on a stack copy) and enqueues it. No heap allocation: the
    /// arguments are a parameter pack, the sizes a ``WorkSize`` stored inline, the
    /// kernel an element of an array indexed by `k`.
    func launch<each A: KernelArgument>(_ k: Kernel, _ work: WorkSize, _ arguments: repeat each A) {
        let kernel = kernels[k.rawValue]
        let declared = Kernel.declarations[k.rawValue].arguments
        var index = 0
        for argument in repeat each arguments {
            guard index < declared.count, type(of: argument).kernelArgumentKind == declared[index] else {
                argumentMismatch(k, index, type(of: argument).kernelArgumentKind)
            }
            let status = argument.setArgument(of: kernel, at: cl_uint(index))
            if status != CL_SUCCESS { failed(k, "clSetKernelArg(\(index))", status) }
            index += 1
        }
        guard index == declared.count else { argumentMismatch(k, index, nil) }
        var sizes = (work.global.0, work.global.1, work.local.0, work.local.1)
        let status = withUnsafeMutablePointer(to: &sizes) {
            $0.withMemoryRebound(to: Int.self, capacity: 4) { s in
                clEnqueueNDRangeKernel(cl.queue, kernel, work.dimensions, nil, s, s + 2, 0, nil, nil)
            }
        }
        if status != CL_SUCCESS { failed(k, "clEnqueueNDRangeKernel(global \(work.global), local \(work.local))", status) }
    }

    @inline(never)
    private func argumentMismatch(_ k: Kernel, _ index: Int, _ given: KernelArgumentKind?) -> Never {
        let what = given.map { "\($0)" } ?? "missing"
        fatalError("OpenCL kernel \(k.name): argument \(index) is \(what); declared \(k.arguments) (\(k.arguments.count) arguments)")
    }

    @inline(never)
    private func failed(_ k: Kernel, _ call: String, _ status: cl_int) -> Never {
        fatalError("OpenCL kernel \(k.name) on \(name): \(OpenCLError(call: call, code: status, log: nil))")
    }

    /// One work-item per element, `total` appended as the last argument.
    private func perElement<each A: KernelArgument>(_ k: Kernel, _ total: Int, _ arguments: repeat each A) {
        guard total > 0 else { return }
        launch(k, .items(total), repeat each arguments, total)
    }

    /// One work-group of `tuning.reduction` items per group, with local scratch as the last argument.
    private func perGroup<each A: KernelArgument>(_ k: Kernel, groups: Int, _ arguments: repeat each A) {
        guard groups > 0 else { return }
        let r = tuning.reduction
        launch(k, .groups(groups, of: r), repeat each arguments, LocalMemory(bytes: r * 4))
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
        guard shape.allSatisfy({ $0 >= 0 }) else { fatalError("OpenCLDevice.makeTensor: negative dimension in \(shape)") }
        do {
            let memory = try cl.allocate(shape.reduce(1, *) * dtype.size)
            try cl.zero(memory)   // as on the CPU: a new buffer's contents are otherwise undefined
            return Tensor(shape: shape, dtype: dtype, memory: memory)
        } catch {
            fatalError("OpenCL allocation of \(shape) on \(name): \(error)")
        }
    }

    public func upload(_ values: UnsafeBufferPointer<Float>, to tensor: Tensor) {
        guard values.count > 0 else { return }
        tensor.requireCapacity(values.count, .float32, "upload")
        write(UnsafeRawBufferPointer(values), to: tensor)
    }

    public func upload(_ values: UnsafeBufferPointer<Int32>, to tensor: Tensor) {
        guard values.count > 0 else { return }
        tensor.requireCapacity(values.count, .int32, "upload")
        write(UnsafeRawBufferPointer(values), to: tensor)
    }

    private func write(_ bytes: UnsafeRawBufferPointer, to tensor: Tensor) {
        do { try cl.write(bytes.baseAddress!, count: bytes.count, to: buffer(tensor)) } catch { fatalError("\(error)") }
    }

    public func download(_ tensor: Tensor, into values: UnsafeMutableBufferPointer<Float>) {
        guard values.count > 0 else { return }
        tensor.requireCapacity(values.count, .float32, "download")
        do { try cl.read(buffer(tensor), into: values.baseAddress!, count: values.count * 4) } catch { fatalError("\(error)") }
    }

    private func buffer(_ t: Tensor) -> OpenCLMemory {
        guard let m = t.memory as? OpenCLMemory else {
            fatalError("OpenCLDevice: a \(t.shape) tensor in \(type(of: t.memory)) is not OpenCL memory (a tensor of another device?)")
        }
        return m
    }

    public func synchronize() {
        do { try cl.finish() } catch { fatalError("\(error)") }
    }

    public func fill(_ t: Tensor, with value: Float) {
        Check.elements("fill", t.count, t)
        perElement(.fill, t.count, t, value)
    }

    public func copy(_ x: Tensor, to y: Tensor) {
        Check.elements("copy", x.count, x, y)
        perElement(.copyBuffer, x.count, x, y)
    }

    // MARK: Elementwise

    public func accumulate(_ x: Tensor, into y: Tensor) {
        Check.elements("accumulate", x.count, x, y)
        perElement(.accumulate, x.count, x, y)
    }

    public func add(_ a: Tensor, _ b: Tensor, into out: Tensor) {
        Check.elements("add", a.count, a, b, out)
        perElement(.add, a.count, a, b, out)
    }

    public func reluForward(_ x: Tensor, output y: Tensor) {
        Check.elements("reluForward", x.count, x, y)
        perElement(.reluForward, x.count, x, y)
    }

    public func reluBackward(output y: Tensor, gradOutput dy: Tensor, gradInput dx: Tensor) {
        Check.elements("reluBackward", y.count, y, dy, dx)
        perElement(.reluBackward, y.count, y, dy, dx)
    }

    public func sgdStep(parameter w: Tensor, gradient g: Tensor, momentum m: Tensor, hyper h: SGDHyperparameters) {
        Check.elements("sgdStep", w.count, w, g, m)
        perElement(.sgdStep, w.count, w, g, m, h.learningRate, h.momentum, h.weightDecay, h.nesterov)
    }

    // MARK: GEMM

    public func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                     alpha: Float, a: Tensor, aOffset: Int, lda: Int,
                     b: Tensor, bOffset: Int, ldb: Int,
                     beta: Float, c: Tensor, cOffset: Int, ldc: Int) {
        Check.gemm(transposeA, transposeB, m, n, k, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc)
        gemm(transposeA, transposeB, m, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc)
    }

    /// The GEMM launch on any buffers (tensors or scratch).
    private func gemm<A: KernelArgument, B: KernelArgument, C: KernelArgument>(
        _ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
        _ a: A, _ aOffset: Int, _ lda: Int, _ b: B, _ bOffset: Int, _ ldb: Int,
        _ beta: Float, _ c: C, _ cOffset: Int, _ ldc: Int) {
        guard m > 0 && n > 0 else { return }
        let t = tuning, local = t.gemmLocal
        let work = WorkSize(global: ((n + t.tileN - 1) / t.tileN * local.0, (m + t.tileM - 1) / t.tileM * local.1), local: local)
        launch(.gemm, work, m, n, k, alpha, a, aOffset, lda, ta, b, bOffset, ldb, tb, beta, c, cOffset, ldc)
    }

    // MARK: Convolution (im2col + GEMM per chunk of images, as on the CPU)

    private func chunk(_ g: Conv2DGeometry) -> Int { max(1, min(g.batch, columnBudget / max(1, g.patchSize * g.outPlane))) }

    /// im2col / col2im with the geometry arguments appended.
    private func convLaunch(_ k: Kernel, _ work: WorkSize, _ from: some KernelArgument, _ to: some KernelArgument,
                            _ g: Conv2DGeometry, n0: Int, nb: Int) {
        launch(k, work, from, to, g.inChannels, g.batch, g.height, g.width, g.kernel, g.stride, g.padding,
               g.outHeight, g.outWidth, n0, nb)
    }

    private func im2col(_ x: Tensor, _ cols: OpenCLMemory, _ g: Conv2DGeometry, n0: Int, nb: Int) {
        let width = nb * g.outPlane
        convLaunch(.im2col, WorkSize(global: ((width + 15) / 16 * 16, g.patchSize), local: (16, 1)), x, cols, g, n0: n0, nb: nb)
    }

    public func conv2dForward(input x: Tensor, weight w: Tensor, output y: Tensor, geometry g: Conv2DGeometry) {
        Check.conv("conv2dForward", input: x, weight: w, output: y, g)
        let K = g.outChannels, CRS = g.patchSize, PQ = g.outPlane, N = g.batch
        if g.isPointwise {
            gemm(false, false, K, N * PQ, CRS, 1, w, 0, CRS, x, 0, N * PQ, 0, y, 0, N * PQ)
            return
        }
        let c = chunk(g), cols = scratchBuffer(CRS * c * PQ)
        for n0 in stride(from: 0, to: N, by: c) {
            let nb = min(c, N - n0)
            im2col(x, cols, g, n0: n0, nb: nb)
            gemm(false, false, K, nb * PQ, CRS, 1, w, 0, CRS, cols, 0, nb * PQ, 0, y, n0 * PQ, N * PQ)
        }
    }

    public func conv2dBackwardData(gradOutput dy: Tensor, weight w: Tensor, gradInput dx: Tensor, geometry g: Conv2DGeometry) {
        Check.conv("conv2dBackwardData", input: dx, weight: w, output: dy, g)
        let K = g.outChannels, CRS = g.patchSize, PQ = g.outPlane, N = g.batch
        if g.isPointwise {
            gemm(true, false, CRS, N * PQ, K, 1, w, 0, CRS, dy, 0, N * PQ, 0, dx, 0, N * PQ)
            return
        }
        let c = chunk(g), cols = scratchBuffer(CRS * c * PQ)
        for n0 in stride(from: 0, to: N, by: c) {
            let nb = min(c, N - n0)
            gemm(true, false, CRS, nb * PQ, K, 1, w, 0, CRS, dy, n0 * PQ, N * PQ, 0, cols, 0, nb * PQ)
            let total = g.inChannels * nb * g.height * g.width   // the kernel derives it from the geometry
            convLaunch(.col2im, .items(total), cols, dx, g, n0: n0, nb: nb)
        }
    }

    public func conv2dBackwardWeight(input x: Tensor, gradOutput dy: Tensor, gradWeight dw: Tensor, geometry g: Conv2DGeometry) {
        Check.conv("conv2dBackwardWeight", input: x, weight: dw, output: dy, g)
        let K = g.outChannels, CRS = g.patchSize, PQ = g.outPlane, N = g.batch
        if g.isPointwise {
            gemm(false, true, K, CRS, N * PQ, 1, dy, 0, N * PQ, x, 0, N * PQ, 0, dw, 0, CRS)
            return
        }
        let c = chunk(g), cols = scratchBuffer(CRS * c * PQ)
        for n0 in stride(from: 0, to: N, by: c) {
            let nb = min(c, N - n0)
            im2col(x, cols, g, n0: n0, nb: nb)
            gemm(false, true, K, CRS, nb * PQ, 1, dy, n0 * PQ, N * PQ, cols, 0, nb * PQ, n0 == 0 ? 0 : 1, dw, 0, CRS)
        }
    }

    public func conv2dPerExampleGradNormsSquared(input x: Tensor, gradOutput dy: Tensor, geometry g: Conv2DGeometry,
                                                 squaredNorms: Tensor) {
        Check.conv("conv2dPerExampleGradNormsSquared", input: x, weight: nil, output: dy, g)
        squaredNorms.require(g.batch, .float32, "conv2dPerExampleGradNormsSquared", "squaredNorms [N]")
        let K = g.outChannels, CRS = g.patchSize, PQ = g.outPlane, N = g.batch
        let method = PerExampleNormMethod.cheaper(for: g)
        let work = method == .explicit ? K * CRS : 2 * PQ * PQ
        let buffer = scratchBuffer(work, second: true)
        if g.isPointwise {
            for i in 0..<N { exampleNorm(method, a: x, firstColumn: i * PQ, ldA: N * PQ, dy, i, g, buffer, squaredNorms) }
            return
        }
        let c = chunk(g), cols = scratchBuffer(CRS * c * PQ)
        for n0 in stride(from: 0, to: N, by: c) {
            let nb = min(c, N - n0)
            im2col(x, cols, g, n0: n0, nb: nb)
            for b in 0..<nb { exampleNorm(method, a: cols, firstColumn: b * PQ, ldA: nb * PQ, dy, n0 + b, g, buffer, squaredNorms) }
        }
    }

    /// Adds `||G_i A_i^T||_F^2` of example `i` to `squaredNorms[i]`; `A_i` is `[CRS, PQ]`
    /// at column `firstColumn` of `a` (row stride `ldA`), `G_i` `[K, PQ]` in `dy`.
    private func exampleNorm(_ method: PerExampleNormMethod, a: some KernelArgument, firstColumn: Int, ldA: Int,
                             _ dy: Tensor, _ i: Int, _ g: Conv2DGeometry, _ buffer: OpenCLMemory, _ squaredNorms: Tensor) {
        let K = g.outChannels, CRS = g.patchSize, PQ = g.outPlane, N = g.batch
        switch method {
        case .explicit:   // dw_i[K, CRS] = G_i A_i^T, then its sum of squares
            gemm(false, true, K, CRS, PQ, 1, dy, i * PQ, N * PQ, a, firstColumn, ldA, 0, buffer, 0, CRS)
            perGroup(.dotInto, groups: 1, buffer, buffer, 0, K * CRS, squaredNorms, i)
        case .ghost:      // <A_i^T A_i, G_i^T G_i>, both [PQ, PQ]
            gemm(true, false, PQ, PQ, CRS, 1, a, firstColumn, ldA, a, firstColumn, ldA, 0, buffer, 0, PQ)
            gemm(true, false, PQ, PQ, K, 1, dy, i * PQ, N * PQ, dy, i * PQ, N * PQ, 0, buffer, PQ * PQ, PQ)
            perGroup(.dotInto, groups: 1, buffer, buffer, PQ * PQ, PQ * PQ, squaredNorms, i)
        }
    }

    // MARK: Batch norm

    public func batchNormTrainingForward(input x: Tensor, output y: Tensor, parameters p: BatchNormParameters,
                                         saved: BatchNormSavedStatistics) {
        let M = Check.batchNorm("batchNormTrainingForward", x, p, y, saved: saved)
        guard M > 1 else { Check.fail("batchNormTrainingForward", "needs more than one value per channel, got \(x.shape)") }
        perGroup(.bnTrainForward, groups: p.channels, x, p.gamma, p.beta, y, saved.mean, saved.invStd,
                 p.runningMean, p.runningVar, M, p.momentum, p.epsilon, p.fusedReLU)
    }

    public func batchNormInferenceForward(input x: Tensor, output y: Tensor, parameters p: BatchNormParameters) {
        let M = Check.batchNorm("batchNormInferenceForward", x, p, y)
        perElement(.bnInferForward, x.count, x, p.gamma, p.beta, y, p.runningMean, p.runningVar, M, p.epsilon, p.fusedReLU)
    }

    public func batchNormTrainingBackward(gradOutput dy: Tensor, input x: Tensor, output y: Tensor,
                                          parameters p: BatchNormParameters, saved: BatchNormSavedStatistics,
                                          gradInput dx: Tensor, gradGamma: Tensor, gradBeta: Tensor) {
        let M = Check.batchNorm("batchNormTrainingBackward", x, p, dy, y, dx, saved: saved)
        gradGamma.require(p.channels, .float32, "batchNormTrainingBackward", "gradGamma [C]")
        gradBeta.require(p.channels, .float32, "batchNormTrainingBackward", "gradBeta [C]")
        perGroup(.bnTrainBackward, groups: p.channels, dy, x, y, p.gamma, saved.mean, saved.invStd, dx, gradGamma, gradBeta,
                 p.fusedReLU, M)
    }

    public func batchNormInferenceBackward(gradOutput dy: Tensor, input x: Tensor, output y: Tensor,
                                           parameters p: BatchNormParameters,
                                           gradInput dx: Tensor, gradGamma: Tensor, gradBeta: Tensor) {
        let M = Check.batchNorm("batchNormInferenceBackward", x, p, dy, y, dx)
        gradGamma.require(p.channels, .float32, "batchNormInferenceBackward", "gradGamma [C]")
        gradBeta.require(p.channels, .float32, "batchNormInferenceBackward", "gradBeta [C]")
        perElement(.bnInferBackwardData, x.count, dy, y, p.gamma, p.runningVar, dx, M, p.epsilon, p.fusedReLU)
        // one (c, n) pair per sample of M: the parameter gradients need no example split
        let sums = inferenceSums(dy, x, y, p, batch: 1, plane: M)
        launch(.bnParamGrads, .items(p.channels), sums, gradGamma, gradBeta, p.channels, 1)
    }

    public func batchNormInferenceBackwardData(gradOutput dy: Tensor, output y: Tensor, parameters p: BatchNormParameters,
                                               gradInput dx: Tensor) {
        let M = Check.batchNorm("batchNormInferenceBackwardData", dy, p, y, dx)
        perElement(.bnInferBackwardData, dy.count, dy, y, p.gamma, p.runningVar, dx, M, p.epsilon, p.fusedReLU)
    }

    public func batchNormPerExampleGradNormsSquared(gradOutput dy: Tensor, input x: Tensor, output y: Tensor,
                                                    parameters p: BatchNormParameters, batch N: Int, squaredNorms: Tensor) {
        _ = Check.batchNorm("batchNormPerExampleGradNormsSquared", x, p, dy, y)
        let plane = Check.examples("batchNormPerExampleGradNormsSquared", x, channels: p.channels, batch: N)
        squaredNorms.require(N, .float32, "batchNormPerExampleGradNormsSquared", "squaredNorms [N]")
        let sums = inferenceSums(dy, x, y, p, batch: N, plane: plane)
        launch(.bnNorms, .items(N), sums, squaredNorms, p.channels, N)
    }

    /// Two launches here (the per-element input gradient and the per-(channel, example) sums).
    public func batchNormScoringBackward(gradOutput dy: Tensor, input x: Tensor, output y: Tensor,
                                         parameters p: BatchNormParameters, batch N: Int, gradInput dx: Tensor,
                                         squaredNorms: Tensor) {
        batchNormInferenceBackwardData(gradOutput: dy, output: y, parameters: p, gradInput: dx)
        batchNormPerExampleGradNormsSquared(gradOutput: dy, input: x, output: y, parameters: p, batch: N,
                                            squaredNorms: squaredNorms)
    }

    /// Per (channel, example) `s = sum dy*xhat`, `t = sum dy` over the plane, `[C, N, 2]` in scratch.
    private func inferenceSums(_ dy: Tensor, _ x: Tensor, _ y: Tensor, _ p: BatchNormParameters,
                               batch N: Int, plane: Int) -> OpenCLMemory {
        let sums = scratchBuffer(2 * p.channels * N, second: true)
        perGroup(.bnInferSums, groups: p.channels * N, dy, x, y, p.runningMean, p.runningVar, sums, p.fusedReLU, N, plane,
                 p.epsilon)
        return sums
    }

    // MARK: Pooling, flatten

    /// A pooling kernel with the geometry arguments and the element count appended.
    private func pool<each A: KernelArgument>(_ k: Kernel, _ total: Int, _ g: Pool2DGeometry, _ buffers: repeat each A) {
        perElement(k, total, repeat each buffers, g.height, g.width, g.outHeight, g.outWidth, g.window, g.stride)
    }

    public func maxPoolForward(input x: Tensor, output y: Tensor, geometry g: Pool2DGeometry) {
        Check.pool("maxPoolForward", input: x, output: y, g)
        pool(.maxpoolForward, y.count, g, x, y)
    }

    public func maxPoolBackward(input x: Tensor, gradOutput dy: Tensor, gradInput dx: Tensor, geometry g: Pool2DGeometry) {
        Check.pool("maxPoolBackward", input: x, output: dy, g)
        Check.pool("maxPoolBackward", input: dx, output: dy, g)
        pool(.maxpoolBackward, x.count, g, x, dy, dx)
    }

    public func avgPoolForward(input x: Tensor, output y: Tensor, geometry g: Pool2DGeometry) {
        Check.pool("avgPoolForward", input: x, output: y, g)
        pool(.avgpoolForward, y.count, g, x, y)
    }

    public func avgPoolBackward(gradOutput dy: Tensor, gradInput dx: Tensor, geometry g: Pool2DGeometry) {
        Check.pool("avgPoolBackward", input: dx, output: dy, g)
        pool(.avgpoolBackward, dx.count, g, dy, dx)
    }

    public func globalAvgPoolForward(input x: Tensor, output y: Tensor, channels: Int, batch: Int, plane: Int) {
        Check.planes("globalAvgPoolForward", x, y, channels: channels, batch: batch, plane: plane)
        perElement(.gapForward, channels * batch, x, y, plane)
    }

    public func globalAvgPoolBackward(gradOutput dy: Tensor, gradInput dx: Tensor, channels: Int, batch: Int, plane: Int) {
        Check.planes("globalAvgPoolBackward", dx, dy, channels: channels, batch: batch, plane: plane)
        perElement(.gapBackward, channels * batch * plane, dy, dx, plane)
    }

    public func flattenForward(input x: Tensor, output y: Tensor, channels: Int, batch: Int, plane: Int) {
        Check.planes("flattenForward", x, y, channels: channels, batch: batch, plane: plane)
        Check.elements("flattenForward", channels * batch * plane, x, y)
        perElement(.flatten, channels * batch * plane, x, y, batch, plane, false)
    }

    public func flattenBackward(gradOutput dy: Tensor, gradInput dx: Tensor, channels: Int, batch: Int, plane: Int) {
        Check.planes("flattenBackward", dx, dy, channels: channels, batch: batch, plane: plane)
        Check.elements("flattenBackward", channels * batch * plane, dx, dy)
        perElement(.flatten, channels * batch * plane, dy, dx, batch, plane, true)
    }

    // MARK: Linear

    public func linearForward(input x: Tensor, weight w: Tensor, bias b: Tensor, output y: Tensor,
                              inFeatures: Int, outFeatures: Int, batch: Int) {
        Check.linear("linearForward", x, y, inFeatures: inFeatures, outFeatures: outFeatures, batch: batch)
        w.require(outFeatures * inFeatures, .float32, "linearForward", "weight [out, in]")
        b.require(outFeatures, .float32, "linearForward", "bias [out]")
        perElement(.broadcastBias, outFeatures * batch, b, y, batch)
        gemm(false, false, outFeatures, batch, inFeatures, 1, w, 0, inFeatures, x, 0, batch, 1, y, 0, batch)
    }

    public func linearBackward(input x: Tensor, weight w: Tensor, gradOutput dy: Tensor, gradInput dx: Tensor?,
                               gradWeight dw: Tensor, gradBias db: Tensor, inFeatures: Int, outFeatures: Int, batch: Int) {
        Check.linear("linearBackward", x, dy, inFeatures: inFeatures, outFeatures: outFeatures, batch: batch)
        w.require(outFeatures * inFeatures, .float32, "linearBackward", "weight [out, in]")
        dw.require(outFeatures * inFeatures, .float32, "linearBackward", "gradWeight [out, in]")
        db.require(outFeatures, .float32, "linearBackward", "gradBias [out]")
        dx?.require(inFeatures * batch, .float32, "linearBackward", "gradInput [in, N]")
        gemm(false, true, outFeatures, inFeatures, batch, 1, dy, 0, batch, x, 0, batch, 0, dw, 0, inFeatures)
        launch(.rowSums, .items(outFeatures), dy, db, batch, outFeatures)
        if let dx {
            gemm(true, false, inFeatures, batch, outFeatures, 1, w, 0, inFeatures, dy, 0, batch, 0, dx, 0, batch)
        }
    }

    public func linearPerExampleGradNormsSquared(input x: Tensor, gradOutput dy: Tensor, inFeatures: Int, outFeatures: Int,
                                                 batch: Int, squaredNorms: Tensor) {
        Check.linear("linearPerExampleGradNormsSquared", x, dy, inFeatures: inFeatures, outFeatures: outFeatures, batch: batch)
        squaredNorms.require(batch, .float32, "linearPerExampleGradNormsSquared", "squaredNorms [N]")
        launch(.linearNorms, .items(batch), x, dy, squaredNorms, inFeatures, outFeatures, batch)
    }

    // MARK: Loss

    public func softmaxCrossEntropy(logits: Tensor, labels: Tensor, gradScale: Float, errors: Tensor, outputs: Tensor) {
        let (K, N) = Check.loss(logits: logits, labels: labels, errors: errors, outputs: outputs)
        launch(.softmaxCrossEntropy, .items(N), logits, labels, gradScale, errors, outputs, K, N)
    }
}
