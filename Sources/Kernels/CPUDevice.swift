import CBLAS

/// The CPU device: OpenBLAS `sgemm` for every matrix product (convolution is
/// im2col + sgemm over the whole batch), vectorisable Swift loops on Dispatch's
/// pool for everything else. Not thread-safe: one training loop per device.
public final class CPUDevice: Device {
    public let name: String
    public let kind = DeviceKind.cpu

    /// im2col scratch, grown to the largest layer once and reused afterwards.
    var scratch: UnsafeMutablePointer<Float>
    var scratchCount: Int
    /// Upper bound on the im2col chunk (floats): 4 Mi floats = 16 MiB keeps a chunk
    /// near the last-level cache while each GEMM stays large.
    let columnBudget = 4 << 20

    /// - Parameter threads: OpenBLAS threads (default: all cores).
    public init(threads: Int? = nil) {
        let t = threads ?? workerCount
        openblas_set_num_threads(Int32(t))
        let config = openblas_get_config().map { String(cString: $0) } ?? "OpenBLAS"
        name = "cpu (\(config), \(t) threads)"
        scratchCount = 1 << 16
        scratch = .allocate(capacity: scratchCount)
    }

    deinit { scratch.deallocate() }

    func scratchBuffer(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > scratchCount {
            scratch.deallocate()
            scratchCount = count
            scratch = .allocate(capacity: count)
        }
        return scratch
    }

    // MARK: Memory

    public func makeTensor(_ shape: [Int], dtype: DType) -> Tensor {
        let n = shape.reduce(1, *)
        return Tensor(shape: shape, dtype: dtype, memory: HostMemory(byteCount: n * dtype.size))
    }

    public func upload(_ values: UnsafeBufferPointer<Float>, to tensor: Tensor) {
        precondition(values.count <= tensor.capacity)
        tensor.floats.update(from: values.baseAddress!, count: values.count)
    }

    public func upload(_ values: UnsafeBufferPointer<Int32>, to tensor: Tensor) {
        precondition(values.count <= tensor.capacity)
        tensor.ints.update(from: values.baseAddress!, count: values.count)
    }

    public func download(_ tensor: Tensor, into values: UnsafeMutableBufferPointer<Float>) {
        precondition(values.count <= tensor.capacity)
        values.baseAddress!.update(from: tensor.floats, count: values.count)
    }

    public func synchronize() {}

    // MARK: Elementwise

    public func fill(_ tensor: Tensor, with value: Float) {
        let p = tensor.floats
        parallelRanges(tensor.count, grain: 1 << 16) { r in
            for i in r { p[i] = value }
        }
    }

    public func copy(_ x: Tensor, to y: Tensor) {
        let xs = x.floats, ys = y.floats
        parallelRanges(x.count, grain: 1 << 16) { r in
            (ys + r.lowerBound).update(from: xs + r.lowerBound, count: r.count)
        }
    }

    public func accumulate(_ x: Tensor, into y: Tensor) {
        let xs = x.floats, ys = y.floats
        parallelRanges(x.count, grain: 1 << 16) { r in
            for i in r { ys[i] += xs[i] }
        }
    }

    public func add(_ a: Tensor, _ b: Tensor, into out: Tensor) {
        let ap = a.floats, bp = b.floats, op = out.floats
        parallelRanges(a.count, grain: 1 << 16) { r in
            for i in r { op[i] = ap[i] + bp[i] }
        }
    }

    public func reluForward(_ x: Tensor, output y: Tensor) {
        let xs = x.floats, ys = y.floats
        parallelRanges(x.count, grain: 1 << 16) { r in
            for i in r { ys[i] = max(xs[i], 0) }
        }
    }

    public func reluBackward(output y: Tensor, gradOutput dy: Tensor, gradInput dx: Tensor) {
        let ys = y.floats, dys = dy.floats, dxs = dx.floats
        parallelRanges(y.count, grain: 1 << 16) { r in
            for i in r { dxs[i] = ys[i] > 0 ? dys[i] : 0 }
        }
    }

    // MARK: GEMM

    public func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                     alpha: Float, a: Tensor, aOffset: Int, lda: Int,
                     b: Tensor, bOffset: Int, ldb: Int,
                     beta: Float, c: Tensor, cOffset: Int, ldc: Int) {
        sgemm(transposeA, transposeB, m, n, k, alpha, a.floats + aOffset, lda,
              b.floats + bOffset, ldb, beta, c.floats + cOffset, ldc)
    }

    /// Row-major `C = alpha * op(A) * op(B) + beta * C` through OpenBLAS.
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
