import COpenCL

/// GEMM tuning constants, passed to the kernel as `-D` build options. They come from
/// a tuning database entry for the device (`sieve tune` writes them; see
/// `TuningDatabase` in Trainer) or, without one, from ``forDevice(_:)``.
public struct OpenCLTuning: Sendable, Equatable, CustomStringConvertible {
    /// Work-group tile of C (rows, columns) and the depth of one local-memory tile.
    public var tileM: Int, tileN: Int, tileK: Int
    /// Register tile: outputs per work-item (rows, columns).
    public var workM: Int, workN: Int
    /// Work-items of the reduction kernels (a power of two).
    public var reduction: Int

    public init(tileM: Int, tileN: Int, tileK: Int, workM: Int, workN: Int, reduction: Int) {
        self.tileM = tileM; self.tileN = tileN; self.tileK = tileK; self.workM = workM; self.workN = workN
        self.reduction = reduction
    }

    public var buildOptions: String {
        "-DTSM=\(tileM) -DTSN=\(tileN) -DTSK=\(tileK) -DWPTM=\(workM) -DWPTN=\(workN)"
    }

    public var description: String {
        "TSM=\(tileM) TSN=\(tileN) TSK=\(tileK) WPTM=\(workM) WPTN=\(workN) reduction=\(reduction)"
    }

    /// The work-group size of the GEMM kernel (columns, rows).
    public var gemmLocal: (Int, Int) { (tileN / workN, tileM / workM) }

    /// Why these constants cannot run on `device` (nil when they can): positive sizes,
    /// register tiles dividing the tiles, a work-group and local memory within the
    /// device's limits, a power-of-two reduction.
    public func problem(on device: OpenCLDeviceInfo?) -> String? {
        for (name, v) in [("TSM", tileM), ("TSN", tileN), ("TSK", tileK), ("WPTM", workM), ("WPTN", workN), ("reduction", reduction)]
        where v < 1 || v > 1024 {
            return "\(name) = \(v) is outside 1...1024"
        }
        if tileM % workM != 0 { return "WPTM = \(workM) does not divide TSM = \(tileM)" }
        if tileN % workN != 0 { return "WPTN = \(workN) does not divide TSN = \(tileN)" }
        if reduction & (reduction - 1) != 0 { return "reduction = \(reduction) is not a power of two" }
        let group = (tileM / workM) * (tileN / workN)
        if let device, device.maxWorkGroupSize > 0, group > device.maxWorkGroupSize || reduction > device.maxWorkGroupSize {
            return "a work-group of \(max(group, reduction)) items exceeds the device's \(device.maxWorkGroupSize)"
        }
        // The tiles, plus the convolution kernels' index tables and tile-sum scratch (~2.5 KB at 64x64).
        let local = tileK * (tileM + tileN) * 4 + 16 * (tileM + tileN) + 4 * (tileM / workM) * (tileN / workN)
        if let device, device.localMemoryBytes > 0, local > device.localMemoryBytes {
            return "the tiles need \(local) bytes of local memory, the device has \(device.localMemoryBytes)"
        }
        return nil
    }

    /// The built-in defaults by device type (used without a database entry).
    public static func forDevice(_ info: OpenCLDeviceInfo) -> OpenCLTuning {
        switch info.type {
        case .gpu: OpenCLTuning(tileM: 64, tileN: 64, tileK: 16, workM: 8, workN: 8, reduction: 256)
        // PoCL on AVX-512 (benchmarks/gemm_vs_clblast.sh sweep): 64x64 tiles with 8x8 register
        // tiles ran 3x faster than 32x32 / 4x4 and 2x faster than 32x32 / 8x4
        default: OpenCLTuning(tileM: 64, tileN: 64, tileK: 16, workM: 8, workN: 8, reduction: 64)
        }
    }
}

/// Finds the tuning for a device: its constants and a line saying where they come from;
/// nil for the built-in defaults. Throws for a database that is present but wrong.
public typealias TuningLookup = (OpenCLDeviceInfo) throws -> (tuning: OpenCLTuning, source: String)?

/// An OpenCL device: every op of ``Device`` as batched OpenCL kernels (one op family
/// per embedded `.cl` file), tensors in device memory, one in-order queue. Programs
/// are built once when the device is created, all with the same ``programOptions``
/// (a build failure throws there, so the caller can fall back to the CPU). A failure
/// later (an allocation, an enqueue, a transfer) never stops the program: it is kept as
/// ``failure`` and thrown by ``checkFailure()`` (see ``MemoryOps/checkFailure()``). Kernels are named by the
/// ``Kernel`` enum and launched with typed arguments, set in place (no allocation per
/// launch). Tested against ``CPUDevice`` on PoCL.
public final class OpenCLDevice: Device {
    public let cl: OpenCLContext
    public let tuning: OpenCLTuning
    /// Where ``tuning`` comes from (a database entry, or the built-in defaults).
    public let tuningSource: String
    /// The constants and their source, as `sieve bench` prints them.
    public var tuningDescription: String { "\(tuning) (\(tuningSource))" }
    public let name: String
    public var kind: DeviceKind { cl.info.type }
    /// Options every program is built with: the tuning constants and the per-example
    /// output rows (``ExampleOutput/openCLBuildOptions``).
    public let programOptions: String
    var scratch: OpenCLMemory
    var scratch2: OpenCLMemory
    /// Indexed by ``KernelSource/rawValue``.
    private var programs: [cl_program] = []
    /// Indexed by ``Kernel/rawValue``.
    private var kernels: [cl_kernel] = []
    /// Kernel launches so far (profiling or not): tests count the launches of a pass.
    public private(set) var launchCount = 0
    /// Per-kernel times, when created with `profiling` (`--profile`).
    public let profile: OpenCLProfile?
    /// FLOPs of the next launch (set by GEMM launches for the profile), then reset.
    private var nextLaunchFlops = 0.0
    /// The first op that failed, or nil; once set, ops do nothing and downloads read NaN.
    public private(set) var failure: OpenCLFailure?

    /// Creates the context and builds every program.
    /// - Parameters:
    ///   - index: `opencl:N`.
    ///   - profiling: record every launch's device time (``profile``).
    ///   - tuning: looks the device up in a tuning database (nil: built-in defaults).
    public init(index: Int = 0, profiling: Bool = false, tuning lookup: TuningLookup? = nil) throws {
        cl = try OpenCLContext(index: index, profiling: profiling)
        profile = profiling ? OpenCLProfile() : nil
        if let found = try lookup?(cl.info) {
            if let problem = found.tuning.problem(on: cl.info) {
                throw OpenCLError(call: "tuning entry (\(found.source)): \(problem); fix or remove it", code: -30, log: nil)
            }
            (tuning, tuningSource) = found
        } else {
            tuning = OpenCLTuning.forDevice(cl.info)
            tuningSource = "built-in default for \(cl.info.type.rawValue) devices"
        }
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
        guard failure == nil else { return }
        let kernel = kernels[k.rawValue]
        let declared = Kernel.declarations[k.rawValue].arguments
        var index = 0
        for argument in repeat each arguments {
            guard index < declared.count, type(of: argument).kernelArgumentKind == declared[index] else {
                argumentMismatch(k, index, type(of: argument).kernelArgumentKind)
            }
            let status = argument.setArgument(of: kernel, at: cl_uint(index))
            if status != CL_SUCCESS { return failed(k, "clSetKernelArg(\(index))", status) }
            index += 1
        }
        guard index == declared.count else { argumentMismatch(k, index, nil) }
        var sizes = (work.global.0, work.global.1, work.local.0, work.local.1)
        var event: cl_event? = nil
        let status = withUnsafeMutablePointer(to: &sizes) {
            $0.withMemoryRebound(to: Int.self, capacity: 4) { s in
                if profile == nil { return clEnqueueNDRangeKernel(cl.queue, kernel, work.dimensions, nil, s, s + 2, 0, nil, nil) }
                return clEnqueueNDRangeKernel(cl.queue, kernel, work.dimensions, nil, s, s + 2, 0, nil, &event)
            }
        }
        if status != CL_SUCCESS { return failed(k, "clEnqueueNDRangeKernel(global \(work.global), local \(work.local))", status) }
        launchCount += 1
        if let profile, let event { profile.record(k, event: event, flops: nextLaunchFlops) }
        nextLaunchFlops = 0
    }

    @inline(never)
    private func argumentMismatch(_ k: Kernel, _ index: Int, _ given: KernelArgumentKind?) -> Never {
        let what = given.map { "\($0)" } ?? "missing"
        fatalError("OpenCL kernel \(k.name): argument \(index) is \(what); declared \(k.arguments) (\(k.arguments.count) arguments)")
    }

    /// Keeps the first failure (``checkFailure()`` throws it).
    @inline(never)
    func fail(_ what: String, _ error: Error) {
        guard failure == nil else { return }
        let cause = error as? OpenCLError ?? OpenCLError(call: "\(error)", code: 0, log: nil)
        failure = OpenCLFailure(device: name, what: what, error: cause, inUse: cl.memoryUse.bytes,
                                capacity: memoryCapacity)
    }

    @inline(never)
    private func failed(_ k: Kernel, _ call: String, _ status: cl_int) {
        fail("kernel \(k.name)", OpenCLError(call: call, code: status, log: nil))
    }

    public func checkFailure() throws {
        if let failure { throw failure }
    }

    /// `CL_DEVICE_GLOBAL_MEM_SIZE` and `CL_DEVICE_MAX_MEM_ALLOC_SIZE`.
    public var memoryCapacity: MemoryCapacity {
        // Scratch: the per-example norms' partial sums (normBudget floats) and batch-norm sums.
        MemoryCapacity(totalBytes: Int(cl.info.globalMemoryBytes), largestAllocationBytes: cl.info.maxAllocationBytes,
                       reservedBytes: normBudget * 4 + (1 << 20), owner: "the device \(name)")
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

    /// One of two growable scratch buffers (conv per-example norm partial sums; batch-norm
    /// sums). When it cannot grow, the failure is kept and the old buffer returned: the
    /// launches that would use it do nothing.
    private func scratchBuffer(_ floats: Int, second: Bool = false) -> OpenCLMemory {
        let bytes = floats * 4
        do {
            if second {
                if scratch2.byteCount < bytes && failure == nil { scratch2 = try cl.allocate(bytes) }
                return scratch2
            }
            if scratch.byteCount < bytes && failure == nil { scratch = try cl.allocate(bytes) }
            return scratch
        } catch {
            fail("allocating \(MemoryCapacity.text(bytes)) of scratch", error)
            return second ? scratch2 : scratch
        }
    }

    // MARK: Memory

    /// A zeroed tensor in device memory; when the device cannot allocate it, the failure is
    /// kept (``checkFailure()``) and the tensor has no device memory (every op on it does
    /// nothing, as every op after a failure).
    public func makeTensor(_ shape: [Int], dtype: DType) -> Tensor {
        guard shape.allSatisfy({ $0 >= 0 }) else { fatalError("OpenCLDevice.makeTensor: negative dimension in \(shape)") }
        let bytes = shape.reduce(1, *) * dtype.size
        if failure == nil {
            do {
                let memory = try cl.allocate(bytes)
                try cl.zero(memory)   // as on the CPU: a new buffer's contents are otherwise undefined
                return Tensor(shape: shape, dtype: dtype, memory: memory)
            } catch {
                fail("allocating \(MemoryCapacity.text(bytes)) for a \(shape) tensor", error)
            }
        }
        return Tensor(shape: shape, dtype: dtype, memory: UnallocatedMemory(byteCount: bytes))
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

    /// A non-blocking `clEnqueueWriteBuffer`: queued behind the work before it, waited
    /// for by the next blocking read or `synchronize`.
    public func enqueueUpload(_ values: UnsafeRawBufferPointer, to tensor: Tensor) {
        guard values.count > 0 else { return }
        tensor.requireCapacity(values.count / tensor.dtype.size, tensor.dtype, "enqueueUpload")
        guard failure == nil else { return }
        do { try cl.write(values.baseAddress!, count: values.count, to: buffer(tensor), blocking: false) } catch { fail("an upload", error) }
    }

    private func write(_ bytes: UnsafeRawBufferPointer, to tensor: Tensor) {
        guard failure == nil else { return }
        do { try cl.write(bytes.baseAddress!, count: bytes.count, to: buffer(tensor)) } catch { fail("an upload", error) }
    }

    /// Reads the tensor; after a failure (before or during the read) `values` reads NaN.
    public func download(_ tensor: Tensor, into values: UnsafeMutableBufferPointer<Float>) {
        guard values.count > 0 else { return }
        tensor.requireCapacity(values.count, .float32, "download")
        if failure == nil {
            do { try cl.read(buffer(tensor), into: values.baseAddress!, count: values.count * 4) } catch { fail("a download", error) }
        }
        if failure != nil { values.update(repeating: .nan) }
    }

    private func buffer(_ t: Tensor) -> OpenCLMemory {
        guard let m = t.memory as? OpenCLMemory else {
            fatalError("OpenCLDevice: a \(t.shape) tensor in \(type(of: t.memory)) is not OpenCL memory (a tensor of another device?)")
        }
        return m
    }

    public func synchronize() {
        guard failure == nil else { return }
        do { try cl.finish() } catch { fail("waiting for the queue", error) }
        profile?.collect()
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
        nextLaunchFlops = 2 * Double(m) * Double(n) * Double(k)
        launch(.gemm, work, m, n, k, alpha, a, aOffset, lda, ta, b, bOffset, ldb, tb, beta, c, cOffset, ldc)
    }

    // MARK: Convolution (implicit GEMMs: conv.cl gathers the im2col matrix in its tile loads)

    /// The geometry arguments of every conv.cl kernel (`C N H W K R stride pad P Q`), after
    /// its three buffers and before `extra`.
    private func convLaunch<each E: KernelArgument>(_ k: Kernel, _ work: WorkSize, _ a: some KernelArgument,
                                                     _ b: some KernelArgument, _ c: some KernelArgument,
                                                     _ g: Conv2DGeometry, _ extra: repeat each E) {
        launch(k, work, a, b, c, g.inChannels, g.batch, g.height, g.width, g.outChannels, g.kernel, g.stride, g.padding,
               g.outHeight, g.outWidth, repeat each extra)
    }

    /// Tiles of a tiled GEMM's `[rows, columns]` output: work-groups (columns, rows).
    private func tiles(rows: Int, columns: Int) -> (columns: Int, rows: Int) {
        ((columns + tuning.tileN - 1) / tuning.tileN, (rows + tuning.tileM - 1) / tuning.tileM)
    }

    /// The NDRange of a tiled GEMM over a `[rows, columns]` output, `batches` times (the
    /// per-example kernels stack examples along dimension 1: `launch` has two dimensions).
    private func tiledWork(rows: Int, columns: Int, batches: Int = 1) -> WorkSize {
        let t = tiles(rows: rows, columns: columns), local = tuning.gemmLocal
        return WorkSize(global: (t.columns * local.0, batches * t.rows * local.1), local: local)
    }

    // y[K, N*PQ] = w[K, CRS] * im2col(x)[CRS, N*PQ]: one launch, no scratch.
    public func conv2dForward(input x: Tensor, weight w: Tensor, output y: Tensor, geometry g: Conv2DGeometry) {
        Check.conv("conv2dForward", input: x, weight: w, output: y, g)
        let K = g.outChannels, CRS = g.patchSize, PQ = g.outPlane, N = g.batch
        guard N > 0 else { return }
        if g.isPointwise {   // im2col(x) is x
            gemm(false, false, K, N * PQ, CRS, 1, w, 0, CRS, x, 0, N * PQ, 0, y, 0, N * PQ)
            return
        }
        nextLaunchFlops = 2 * Double(g.macs)
        convLaunch(.convForward, tiledWork(rows: K, columns: N * PQ), x, w, y, g)
    }

    // dx[C, N*HW] = the transposed convolution of dy[K, N*PQ] with w, gathered by stride phases: one launch, no scratch.
    public func conv2dBackwardData(gradOutput dy: Tensor, weight w: Tensor, gradInput dx: Tensor, geometry g: Conv2DGeometry) {
        Check.conv("conv2dBackwardData", input: dx, weight: w, output: dy, g)
        let K = g.outChannels, CRS = g.patchSize, PQ = g.outPlane, N = g.batch
        guard N > 0 else { return }
        if g.isPointwise {   // dx = w^T dy
            gemm(true, false, CRS, N * PQ, K, 1, w, 0, CRS, dy, 0, N * PQ, 0, dx, 0, N * PQ)
            return
        }
        // one GEMM per stride phase of the input pixels (conv.cl), stacked along dimension 1;
        // the columns: the largest phase's pixels
        let s = g.stride, phasePixels = N * ((g.height + s - 1) / s) * ((g.width + s - 1) / s)
        nextLaunchFlops = 2 * Double(g.macs)
        convLaunch(.convBackwardData, tiledWork(rows: g.inChannels, columns: phasePixels, batches: s * s), dy, w, dx, g)
    }

    // dw[K, CRS] = dy[K, N*PQ] * im2col(x)^T: one launch, no scratch.
    public func conv2dBackwardWeight(input x: Tensor, gradOutput dy: Tensor, gradWeight dw: Tensor, geometry g: Conv2DGeometry) {
        Check.conv("conv2dBackwardWeight", input: x, weight: dw, output: dy, g)
        let K = g.outChannels, CRS = g.patchSize, PQ = g.outPlane, N = g.batch
        guard N > 0 else { fill(dw, with: 0); return }
        if g.isPointwise {
            gemm(false, true, K, CRS, N * PQ, 1, dy, 0, N * PQ, x, 0, N * PQ, 0, dw, 0, CRS)
            return
        }
        nextLaunchFlops = 2 * Double(g.macs)
        convLaunch(.convBackwardWeight, tiledWork(rows: K, columns: CRS), x, dy, dw, g)
    }

    /// Floats of per-example partial sums one per-example-norm launch may write: the only
    /// scratch of the convolution ops (forward, data and weight gradients need none).
    /// Neither method stores its per-example matrices (`dw_i`, `K*CRS` floats, or the two
    /// Grams, `2*PQ^2`): each work-group reduces its output tile to one float, so an example
    /// needs ``normTiles(_:_:)`` floats, and a launch covers a chunk of
    /// `max(1, min(N, normBudget / normTiles))` examples (``normChunk(_:_:)``). The default,
    /// 2^20 floats (4 MiB), with 64 x 64 tiles on CIFAR ResNet-18 width 64 (32x32 inputs):
    /// the methods ``normMethod(for:)`` picks need at most 36 floats per example (layer2's
    /// 128 -> 128 3x3, explicit: 2 x 18 tiles), 29,127 examples a chunk; either method on any
    /// layer at most 256 (ghost on a 32x32 layer: 16 x 16 tiles), 4,096 a chunk. A batch of
    /// 128 is one chunk on every layer. Settable for tests (chunk boundaries).
    var normBudget = 1 << 20

    /// The per-example partial sums of a layer: output tiles of one example's GEMM,
    /// `dw_i [K, CRS]` (explicit) or the Grams `[PQ, PQ]` (ghost, lower tiles included: they write 0).
    func normTiles(_ g: Conv2DGeometry, _ method: PerExampleNormMethod) -> Int {
        let t = method != .ghost ? tiles(rows: g.outChannels, columns: g.patchSize) : tiles(rows: g.outPlane, columns: g.outPlane)
        return t.columns * t.rows
    }

    /// Examples per per-example-norm launch (see ``normBudget``).
    func normChunk(_ g: Conv2DGeometry, _ method: PerExampleNormMethod) -> Int {
        max(1, min(g.batch, normBudget / normTiles(g, method)))
    }

    /// The method with fewer multiply-adds *as the tiled kernels execute them*: every GEMM
    /// dimension rounded up to its tile, and only the ghost's tiles on or above the diagonal
    /// (the others exit at once):
    ///
    ///     explicit  ceil(K / TSM) TSM * ceil(CRS / TSN) TSN * ceil(PQ / TSK) TSK
    ///     ghost     (upper tiles of [PQ, PQ]) TSM TSN * (ceil(CRS / TSK) + ceil(K / TSK)) TSK
    ///
    /// Where the dimensions fill the tiles this is ``PerExampleNormMethod/cheaper(for:)`` (exact
    /// multiply-adds, the CPU's rule): on CIFAR ResNet-18 width 64 (32x32) the two agree on every
    /// layer but layer4's 1x1 shortcut. They part where PQ is small next to a tile: a `[4, 4]` Gram
    /// fills 1/256 of a 64 x 64 tile (layer4 on 16x16 inputs), and explicit, whose `[K, CRS]` tiles
    /// stay full, is cheaper in fact. Memory does not enter: both methods need only
    /// ``normTiles(_:_:)`` floats per example (no per-example matrix is stored).
    func normMethod(for g: Conv2DGeometry) -> PerExampleNormMethod {
        let t = tuning
        func up(_ n: Int, _ tile: Int) -> Int { (n + tile - 1) / tile * tile }
        let explicitCost = up(g.outChannels, t.tileM) * up(g.patchSize, t.tileN) * up(g.outPlane, t.tileK)
        let grid = tiles(rows: g.outPlane, columns: g.outPlane)
        var upper = 0   // tiles (i, j) with i * TSM < (j + 1) * TSN, as conv_norms_ghost computes them
        for i in 0..<grid.rows { for j in 0..<grid.columns where i * t.tileM < (j + 1) * t.tileN { upper += 1 } }
        let ghostCost = upper * t.tileM * t.tileN * (up(g.patchSize, t.tileK) + up(g.outChannels, t.tileK))
        return ghostCost < explicitCost ? .ghost : .explicit
    }

    /// Each example's squared weight-gradient norm by ``normMethod(for:)``.
    public func conv2dPerExampleGradNormsSquared(input x: Tensor, gradOutput dy: Tensor, geometry g: Conv2DGeometry,
                                                 squaredNorms: Tensor) {
        conv2dPerExampleGradNormsSquared(input: x, gradOutput: dy, geometry: g, squaredNorms: squaredNorms,
                                         method: normMethod(for: g))
    }

    /// Adds each example's `||G_i A_i^T||_F^2` to `squaredNorms[i]` with a chosen method: per
    /// chunk of examples (``normChunk(_:_:)``; one chunk for a whole batch normally) two
    /// launches, whatever the chunk's size: the batched GEMM (`conv_norms_explicit`: tiles of
    /// `dw_i = G_i A_i^T`, `[K, CRS]`, reduced to sums of squares; `conv_norms_ghost`: tiles of
    /// `G_i^T G_i` and `A_i^T A_i`, `[PQ, PQ]`, upper triangle only, reduced to their weighted
    /// inner product) and `sum_partials`, one work-group per example.
    public func conv2dPerExampleGradNormsSquared(input x: Tensor, gradOutput dy: Tensor, geometry g: Conv2DGeometry,
                                                 squaredNorms: Tensor, method: PerExampleNormMethod) {
        Check.conv("conv2dPerExampleGradNormsSquared", input: x, weight: nil, output: dy, g)
        squaredNorms.require(g.batch, .float32, "conv2dPerExampleGradNormsSquared", "squaredNorms [N]")
        let K = g.outChannels, CRS = g.patchSize, PQ = g.outPlane, N = g.batch
        guard N > 0 else { return }
        let method = method == .winograd ? .explicit : method   // no Winograd kernels here
        let perExample = normTiles(g, method), chunk = normChunk(g, method)
        let partials = scratchBuffer(perExample * chunk)
        for n0 in stride(from: 0, to: N, by: chunk) {
            let nb = min(chunk, N - n0)
            switch method {
            case .explicit, .winograd:
                nextLaunchFlops = 2 * Double(nb) * Double(K) * Double(CRS) * Double(PQ)
                convLaunch(.convNormsExplicit, tiledWork(rows: K, columns: CRS, batches: nb), x, dy, partials, g, n0)
            case .ghost:
                nextLaunchFlops = Double(nb) * Double(PQ) * Double(PQ) * Double(CRS + K)
                convLaunch(.convNormsGhost, tiledWork(rows: PQ, columns: PQ, batches: nb), x, dy, partials, g, n0)
            }
            perGroup(.sumPartials, groups: nb, partials, perExample, squaredNorms, n0)
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
        perElement(k, total, repeat each buffers, g.height, g.width, g.outHeight, g.outWidth, g.window, g.stride, g.padding)
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
        precondition(g.padding == 0, "avgPoolForward: average pooling has no padding")
        pool(.avgpoolForward, y.count, g, x, y)
    }

    public func avgPoolBackward(gradOutput dy: Tensor, gradInput dx: Tensor, geometry g: Pool2DGeometry) {
        Check.pool("avgPoolBackward", input: dx, output: dy, g)
        precondition(g.padding == 0, "avgPoolBackward: average pooling has no padding")
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

/// The placeholder memory of a tensor the device could not allocate (see
/// ``OpenCLDevice/makeTensor(_:dtype:)``): no op ever reaches it, because every op after
/// a failure does nothing.
final class UnallocatedMemory: DeviceMemory {
    let byteCount: Int
    init(byteCount: Int) { self.byteCount = byteCount }
}

/// An OpenCL op the device refused: which device, what it was doing, the OpenCL error,
/// the memory in use then and the device's capacity, and what to do about it.
public struct OpenCLFailure: Error, CustomStringConvertible {
    public var device: String
    public var what: String
    public var error: OpenCLError
    /// Bytes of Sieve's buffers on the device when it failed.
    public var inUse: Int
    public var capacity: MemoryCapacity

    /// Errors that mean the device ran out of memory or resources.
    public var isOutOfMemory: Bool { [-4, -5, -6, -61].contains(error.code) }

    public var description: String {
        var text = "\(device): \(what) failed: \(error.name) (\(error.code)) in \(error.call)"
        if isOutOfMemory {
            text += "; Sieve held \(MemoryCapacity.text(inUse)) of the device's \(MemoryCapacity.text(capacity.totalBytes))"
            if capacity.largestAllocationBytes > 0 {
                text += " (at most \(MemoryCapacity.text(capacity.largestAllocationBytes)) in one buffer)"
            }
            text += "; use a smaller --batch, or --device cpu"
        } else {
            text += "; rerun with --device cpu (and report this failure with the device's name and driver)"
        }
        return text
    }
}
