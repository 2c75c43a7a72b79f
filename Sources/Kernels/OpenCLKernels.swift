import COpenCL

/// GEMM tuning constants, passed to the kernel as `-D` build options; one entry per
/// device kind (CLBlast keeps such a table per device). Values for GPUs are
/// placeholders until they are tuned on the hardware.
public struct OpenCLTuning: Sendable, Equatable {
    /// Work-group tile edge.
    public var tile: Int
    /// Outputs per work-item (register blocking along n); `tile % wpt == 0`.
    public var wpt: Int

    public var buildOptions: String { "-DTILE=\(tile) -DWPT=\(wpt)" }

    /// The table: by device type (and later by vendor and name).
    public static func forDevice(_ info: OpenCLDeviceInfo) -> OpenCLTuning {
        switch info.type {
        case .gpu: OpenCLTuning(tile: 32, wpt: 8)
        default: OpenCLTuning(tile: 16, wpt: 4)    // PoCL and other CPU devices
        }
    }
}

/// The OpenCL kernels built so far — elementwise ops, the SGD update and a tiled GEMM —
/// on one device, each tested against ``CPUDevice`` on PoCL. A working step toward the
/// full OpenCL `Device` (convolution, batch norm, pooling, loss and per-example norms
/// follow); tensors made here live in device memory.
public final class OpenCLKernels {
    public let cl: OpenCLContext
    public let tuning: OpenCLTuning
    static let elementwise = (name: "elementwise.cl", text: PackageResources.elementwise_cl)
    static let gemmSource = (name: "gemm.cl", text: PackageResources.gemm_cl)

    /// - Parameter index: `opencl:N`.
    public init(index: Int = 0) throws {
        cl = try OpenCLContext(index: index)
        tuning = OpenCLTuning.forDevice(cl.info)
    }

    public var name: String { "opencl (\(cl.info.platform): \(cl.info.name))" }

    public func makeTensor(_ shape: [Int], dtype: DType = .float32) throws -> Tensor {
        Tensor(shape: shape, dtype: dtype, memory: try cl.allocate(shape.reduce(1, *) * dtype.size))
    }

    func memory(_ t: Tensor) -> OpenCLMemory {
        guard let m = t.memory as? OpenCLMemory else { preconditionFailure("tensor is not in OpenCL memory") }
        return m
    }

    public func upload(_ values: [Float], to t: Tensor) throws {
        precondition(values.count <= t.capacity)
        try values.withUnsafeBytes { try cl.write($0.baseAddress!, count: $0.count, to: memory(t)) }
    }

    public func download(_ t: Tensor) throws -> [Float] {
        var out = [Float](repeating: 0, count: t.count)
        try out.withUnsafeMutableBytes { try cl.read(memory(t), into: $0.baseAddress!, count: $0.count) }
        return out
    }

    /// Runs a one-work-item-per-element kernel from elementwise.cl.
    private func elementwise(_ name: String, count n: Int, _ arguments: [KernelArgument]) throws {
        guard n > 0 else { return }
        let k = try cl.kernel(name, source: Self.elementwise)
        let local = 64
        try cl.run(k, global: [(n + local - 1) / local * local], local: [local], arguments + [.int(Int32(n))])
    }

    public func fill(_ t: Tensor, with value: Float) throws {
        try elementwise("fill", count: t.count, [.buffer(memory(t)), .float(value)])
    }

    public func copy(_ x: Tensor, to y: Tensor) throws {
        try elementwise("copy_buffer", count: x.count, [.buffer(memory(x)), .buffer(memory(y))])
    }

    public func accumulate(_ x: Tensor, into y: Tensor) throws {
        try elementwise("accumulate", count: x.count, [.buffer(memory(x)), .buffer(memory(y))])
    }

    public func add(_ a: Tensor, _ b: Tensor, into out: Tensor) throws {
        try elementwise("add", count: a.count, [.buffer(memory(a)), .buffer(memory(b)), .buffer(memory(out))])
    }

    public func reluForward(_ x: Tensor, output y: Tensor) throws {
        try elementwise("relu_forward", count: x.count, [.buffer(memory(x)), .buffer(memory(y))])
    }

    public func reluBackward(output y: Tensor, gradOutput dy: Tensor, gradInput dx: Tensor) throws {
        try elementwise("relu_backward", count: y.count, [.buffer(memory(y)), .buffer(memory(dy)), .buffer(memory(dx))])
    }

    public func sgdStep(parameter w: Tensor, gradient g: Tensor, momentum m: Tensor, hyper h: SGDHyperparameters) throws {
        try elementwise("sgd_step", count: w.count, [.buffer(memory(w)), .buffer(memory(g)), .buffer(memory(m)),
                                                     .float(h.learningRate), .float(h.momentum), .float(h.weightDecay),
                                                     .int(h.nesterov ? 1 : 0)])
    }

    /// Row-major `C = alpha * op(A) * op(B) + beta * C` (offsets in elements).
    public func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                     alpha: Float, a: Tensor, aOffset: Int, lda: Int,
                     b: Tensor, bOffset: Int, ldb: Int,
                     beta: Float, c: Tensor, cOffset: Int, ldc: Int) throws {
        guard m > 0 && n > 0 else { return }
        let kernel = try cl.kernel("gemm", source: Self.gemmSource, options: tuning.buildOptions)
        let T = tuning.tile, rts = T / tuning.wpt
        let global = [(n + T - 1) / T * rts, (m + T - 1) / T * T]
        try cl.run(kernel, global: global, local: [rts, T], [
            .int(Int32(m)), .int(Int32(n)), .int(Int32(k)), .float(alpha),
            .buffer(memory(a)), .int(Int32(aOffset)), .int(Int32(lda)), .int(transposeA ? 1 : 0),
            .buffer(memory(b)), .int(Int32(bOffset)), .int(Int32(ldb)), .int(transposeB ? 1 : 0),
            .float(beta), .buffer(memory(c)), .int(Int32(cOffset)), .int(Int32(ldc)),
        ])
    }

    public func synchronize() throws { try cl.finish() }
}
