import CBLAS
import CKernels
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// The CPU device: OpenBLAS `sgemm` for every matrix product (convolution is
/// im2col + sgemm per chunk of images), vectorisable Swift loops for everything else.
///
/// All parallelism goes through Dispatch: each worker runs single-threaded OpenBLAS
/// calls on its own share (a chunk of images, or a slice of a GEMM). OpenBLAS's own
/// thread pool stays off, because its threads spin (`sched_yield`) between calls and
/// then compete with the Swift loops for the same cores. Not thread-safe: one
/// training loop per device.
public final class CPUDevice: Device {
    public let name: String
    public let kind = DeviceKind.cpu
    /// Dispatch workers used by every op.
    public let workers: Int

    /// Per-worker scratch (im2col columns, partial weight gradients), grown to the
    /// largest layer once and reused afterwards.
    var scratch: [ScratchBuffer]
    var partials: [ScratchBuffer]
    /// Winograd-transformed weights of the current convolution (shared by the workers).
    let winogradWeights = ScratchBuffer()
    /// The algorithm for 3x3 stride-1 convolutions (`sieve bench --conv` compares them).
    public var convolutionAlgorithm: ConvolutionAlgorithm
    /// Whether F(4x4, 3x3) layers run CKernels' AVX2 + FMA code: the input transform (8
    /// tiles per vector, every such layer) and, where ``usesFusedWinogradProduct(inputs:outputs:)``
    /// says it pays, the 36 products fused with the output transform. True when the CPU has
    /// the instructions; false: the Swift transforms and 36 `sgemm` calls per chunk.
    public var winogradCKernels: Bool = CPUDevice.winogradCKernelsAvailable
    /// Upper bound on one worker's im2col chunk (floats): 1 Mi floats = 4 MiB, about
    /// one core's share of the last-level cache, while each GEMM stays large.
    let columnBudget = 1 << 20

    /// - Parameters:
    ///   - threads: workers (default: all cores).
    ///   - convolution: the algorithm for 3x3 stride-1 convolutions.
    public init(threads: Int? = nil, convolution: ConvolutionAlgorithm = .automatic) {
        workers = max(1, threads ?? workerCount)
        openblas_set_num_threads(1)
        let config = openblas_get_config().map { String(cString: $0) } ?? "OpenBLAS"
        name = "cpu (\(config), \(workers) threads)"
        scratch = (0..<workers).map { _ in ScratchBuffer() }
        partials = (0..<workers).map { _ in ScratchBuffer() }
        convolutionAlgorithm = convolution
    }

    /// Runs `body(worker, range)` over `0..<count` split evenly among the workers.
    @inline(__always)
    func split(_ count: Int, grain: Int = 1, _ body: (Int, Range<Int>) -> Void) {
        parallelRanges(count, grain: grain, workers: workers, indexed: body)
    }

    // MARK: Memory

    public func makeTensor(_ shape: [Int], dtype: DType) -> Tensor {
        let n = shape.reduce(1, *)
        return Tensor(shape: shape, dtype: dtype, memory: HostMemory(byteCount: n * dtype.size))
    }

    public func upload(_ values: UnsafeBufferPointer<Float>, to tensor: Tensor) {
        guard values.count > 0 else { return }
        tensor.requireCapacity(values.count, .float32, "upload")
        tensor.hostFloats.update(from: values.baseAddress!, count: values.count)
    }

    public func upload(_ values: UnsafeBufferPointer<Int32>, to tensor: Tensor) {
        guard values.count > 0 else { return }
        tensor.requireCapacity(values.count, .int32, "upload")
        tensor.hostInts.update(from: values.baseAddress!, count: values.count)
    }

    /// The CPU has no queue: the copy happens now.
    public func enqueueUpload(_ values: UnsafeRawBufferPointer, to tensor: Tensor) {
        guard values.count > 0 else { return }
        tensor.requireCapacity(values.count / tensor.dtype.size, tensor.dtype, "enqueueUpload")
        tensor.host(tensor.dtype).copyMemory(from: values.baseAddress!, byteCount: values.count)
    }

    public func download(_ tensor: Tensor, into values: UnsafeMutableBufferPointer<Float>) {
        guard values.count > 0 else { return }
        tensor.requireCapacity(values.count, .float32, "download")
        values.baseAddress!.update(from: tensor.hostFloats, count: values.count)
    }

    public func synchronize() {}

    /// The CPU's ops fail only by stopping the program (a programmer error), never here.
    public func checkFailure() {}

    /// This machine's physical memory (the tensors live in it).
    public var memoryCapacity: MemoryCapacity {
        #if canImport(Glibc)
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        let total = pages > 0 && size > 0 ? pages * size : 0
        #else
        let total = 0
        #endif
        return MemoryCapacity(totalBytes: total, largestAllocationBytes: 0, owner: "this machine")
    }

    // MARK: Elementwise

    public func fill(_ tensor: Tensor, with value: Float) {
        Check.elements("fill", tensor.count, tensor)
        let p = tensor.hostFloats
        split(tensor.count, grain: 1 << 16) { _, r in
            for i in r { p[i] = value }
        }
    }

    public func copy(_ x: Tensor, to y: Tensor) {
        Check.elements("copy", x.count, x, y)
        let xs = x.hostFloats, ys = y.hostFloats
        split(x.count, grain: 1 << 16) { _, r in
            (ys + r.lowerBound).update(from: xs + r.lowerBound, count: r.count)
        }
    }

    public func accumulate(_ x: Tensor, into y: Tensor) {
        Check.elements("accumulate", x.count, x, y)
        let xs = x.hostFloats, ys = y.hostFloats
        split(x.count, grain: 1 << 16) { _, r in
            for i in r { ys[i] += xs[i] }
        }
    }

    public func add(_ a: Tensor, _ b: Tensor, into out: Tensor) {
        Check.elements("add", a.count, a, b, out)
        let ap = a.hostFloats, bp = b.hostFloats, op = out.hostFloats
        split(a.count, grain: 1 << 16) { _, r in
            for i in r { op[i] = ap[i] + bp[i] }
        }
    }

    public func addReLU(_ a: Tensor, _ b: Tensor, into out: Tensor) {
        Check.elements("addReLU", a.count, a, b, out)
        let ap = a.hostFloats, bp = b.hostFloats, op = out.hostFloats
        split(a.count, grain: 1 << 16) { _, r in
            var i = r.lowerBound
            while i + 8 <= r.upperBound {
                let v = load8(ap + i) + load8(bp + i)
                store8(op + i, v.replacing(with: 0, where: v .<= 0))
                i += 8
            }
            while i < r.upperBound { op[i] = max(ap[i] + bp[i], 0); i += 1 }
        }
    }

    public func reluForward(_ x: Tensor, output y: Tensor) {
        Check.elements("reluForward", x.count, x, y)
        let xs = x.hostFloats, ys = y.hostFloats
        split(x.count, grain: 1 << 16) { _, r in
            affine(xs + r.lowerBound, scale: 1, shift: 0, relu: true, into: ys + r.lowerBound, r.count)
        }
    }

    public func reluBackward(output y: Tensor, gradOutput dy: Tensor, gradInput dx: Tensor) {
        Check.elements("reluBackward", y.count, y, dy, dx)
        let ys = y.hostFloats, dys = dy.hostFloats, dxs = dx.hostFloats
        split(y.count, grain: 1 << 16) { _, r in
            scaleGated(dys + r.lowerBound, gate: ys + r.lowerBound, by: 1, into: dxs + r.lowerBound, r.count)
        }
    }

    // MARK: GEMM

    public func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                     alpha: Float, a: Tensor, aOffset: Int, lda: Int,
                     b: Tensor, bOffset: Int, ldb: Int,
                     beta: Float, c: Tensor, cOffset: Int, ldc: Int) {
        Check.gemm(transposeA, transposeB, m, n, k, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc)
        parallelSgemm(transposeA, transposeB, m, n, k, alpha, a.hostFloats + aOffset, lda,
                      b.hostFloats + bOffset, ldb, beta, c.hostFloats + cOffset, ldc)
    }

    /// Row-major `C = alpha * op(A) * op(B) + beta * C`, split over the workers along
    /// the larger of `m` and `n` when the product is big enough to share.
    func parallelSgemm(_ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                       _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                       _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        if m * n * k < 1 << 18 || workers == 1 {
            sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        } else if n >= m {
            // C[:, j0..<j1] = op(A) * op(B)[:, j0..<j1]
            split(n, grain: 16) { _, js in
                sgemm(ta, tb, m, js.count, k, alpha, a, lda, b + (tb ? js.lowerBound * ldb : js.lowerBound), ldb,
                      beta, c + js.lowerBound, ldc)
            }
        } else {
            // C[i0..<i1, :] = op(A)[i0..<i1, :] * op(B)
            split(m, grain: 16) { _, rows in
                sgemm(ta, tb, rows.count, n, k, alpha, a + (ta ? rows.lowerBound : rows.lowerBound * lda), lda,
                      b, ldb, beta, c + rows.lowerBound * ldc, ldc)
            }
        }
    }

    /// Single-threaded row-major `C = alpha * op(A) * op(B) + beta * C` through OpenBLAS.
    @inline(__always)
    func sgemm(_ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
               _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
               _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        if m == 0 || n == 0 { return }
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb),
                    beta, c, Int32(ldc))
    }
}

extension Tensor {
    /// Host pointer to the float32 elements of a CPU tensor. The memory type and dtype
    /// are checked here, once per op and tensor (never per element), in every build
    /// configuration: a tensor of another device stops the program with a message.
    @inline(__always)
    var hostFloats: UnsafeMutablePointer<Float> { host(.float32).assumingMemoryBound(to: Float.self) }

    /// Host pointer to the int32 elements of a CPU tensor (labels), checked like ``hostFloats``.
    @inline(__always)
    var hostInts: UnsafeMutablePointer<Int32> { host(.int32).assumingMemoryBound(to: Int32.self) }

    @inline(__always)
    func host(_ type: DType) -> UnsafeMutableRawPointer {
        guard let m = memory as? HostMemory, dtype == type else { notHost(type) }
        return m.raw
    }

    @inline(never)
    private func notHost(_ type: DType) -> Never {
        fatalError("CPUDevice: a \(shape) \(dtype) tensor in \(Swift.type(of: memory)) is not \(type) host memory "
                   + "(a tensor of another device?)")
    }
}

/// A growable float buffer owned by one worker.
final class ScratchBuffer {
    private(set) var pointer: UnsafeMutablePointer<Float>
    private(set) var capacity: Int

    init() {
        capacity = 1 << 12
        pointer = .allocate(capacity: capacity)
    }

    deinit { pointer.deallocate() }

    /// At least `count` floats (contents undefined after growth).
    func reserve(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity {
            pointer.deallocate()
            capacity = count
            pointer = .allocate(capacity: count)
        }
        return pointer
    }
}

extension CPUDevice {
    /// The machine's practical GEMM ceiling as Sieve runs it: `cblas_sgemm` on
    /// `size`^3 float matrices, each worker a block of rows single-threaded, best of
    /// `repeats` after a warm-up. GFLOP/s (2 * size^3 per product).
    public func sgemmRate(size n: Int = 2048, repeats: Int = 3) -> Double {
        let a = UnsafeMutablePointer<Float>.allocate(capacity: n * n), b = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
        let c = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
        defer { a.deallocate(); b.deallocate(); c.deallocate() }
        for i in 0..<(n * n) { a[i] = Float(i % 7) * 0.25 - 0.75; b[i] = Float(i % 5) * 0.5 - 1 }
        func product() {
            split(n) { _, rows in
                sgemm(false, false, rows.count, n, n, 1, a + rows.lowerBound * n, n, b, n, 0, c + rows.lowerBound * n, n)
            }
        }
        return 2 * Double(n) * Double(n) * Double(n) / bestSeconds(repeats: repeats, product) / 1e9
    }
}
