// Shape checks shared by every device: each op checks, once per call and tensor, that
// the tensors it is given hold the elements it will touch. They are `fatalError`s, not
// `precondition`s, so they stay in `-Ounchecked` builds: the kernels behind them read
// and write raw memory without bounds checks.

enum Check {
    /// A failed check: stops the program naming the op.
    @inline(never)
    static func fail(_ op: StaticString, _ message: String) -> Never {
        fatalError("\(op): \(message)")
    }

    /// `count` elements of every tensor (elementwise ops). Fixed arity, not variadic:
    /// a variadic argument would be an array allocated on every call.
    @inline(__always)
    static func elements(_ op: StaticString, _ count: Int, _ a: Tensor, _ b: Tensor? = nil, _ c: Tensor? = nil,
                         _ d: Tensor? = nil) {
        a.require(count, .float32, op, "operand")
        b?.require(count, .float32, op, "operand")
        c?.require(count, .float32, op, "operand")
        d?.require(count, .float32, op, "operand")
    }

    /// A row-major `rows x cols` matrix with leading dimension `ld` at `offset` in `t`.
    @inline(__always)
    static func matrix(_ op: StaticString, _ t: Tensor, _ role: StaticString, offset: Int, rows: Int, cols: Int, ld: Int) {
        guard rows > 0 && cols > 0 else { return }
        guard offset >= 0 && ld >= cols else { fail(op, "\(role): offset \(offset), leading dimension \(ld) < \(cols) columns") }
        t.require(offset + (rows - 1) * ld + cols, .float32, op, role)
    }

    static func gemm(_ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ a: Tensor, _ aOffset: Int, _ lda: Int,
                     _ b: Tensor, _ bOffset: Int, _ ldb: Int, _ c: Tensor, _ cOffset: Int, _ ldc: Int) {
        guard m >= 0 && n >= 0 && k >= 0 else { fail("gemm", "negative size \(m)x\(n)x\(k)") }
        matrix("gemm", a, "A", offset: aOffset, rows: ta ? k : m, cols: ta ? m : k, ld: lda)
        matrix("gemm", b, "B", offset: bOffset, rows: tb ? n : k, cols: tb ? k : n, ld: ldb)
        matrix("gemm", c, "C", offset: cOffset, rows: m, cols: n, ld: ldc)
    }

    /// The input (or its gradient) `[C, N, H, W]`, the weight (or its gradient) and the
    /// output (or its gradient) `[K, N, P, Q]` of a convolution.
    static func conv(_ op: StaticString, input x: Tensor, weight w: Tensor?, output y: Tensor, _ g: Conv2DGeometry) {
        x.require(g.inChannels * g.batch * g.height * g.width, .float32, op, "input [C, N, H, W]")
        w?.require(g.outChannels * g.patchSize, .float32, op, "weight [K, C, R, S]")
        y.require(g.outChannels * g.batch * g.outPlane, .float32, op, "output [K, N, P, Q]")
    }

    static func pool(_ op: StaticString, input x: Tensor, output y: Tensor, _ g: Pool2DGeometry) {
        x.require(g.channels * g.batch * g.height * g.width, .float32, op, "input [C, N, H, W]")
        y.require(g.channels * g.batch * g.outHeight * g.outWidth, .float32, op, "output [C, N, P, Q]")
    }

    /// Batch norm on `x[C, M]`: returns `M`. `a`, `b`, `c` are the `[C, M]` companions
    /// of `x`, `saved` the training-mode statistics.
    @inline(__always)
    static func batchNorm(_ op: StaticString, _ x: Tensor, _ p: BatchNormParameters, _ a: Tensor, _ b: Tensor? = nil,
                          _ c: Tensor? = nil, saved: BatchNormSavedStatistics? = nil) -> Int {
        let C = p.channels
        guard C > 0 && x.count % C == 0 else { fail(op, "input \(x.shape) is not [\(C), M]") }
        p.gamma.require(C, .float32, op, "gamma [C]")
        p.beta.require(C, .float32, op, "beta [C]")
        p.runningMean.require(C, .float32, op, "runningMean [C]")
        p.runningVar.require(C, .float32, op, "runningVar [C]")
        saved?.mean.require(C, .float32, op, "saved mean [C]")
        saved?.invStd.require(C, .float32, op, "saved invStd [C]")
        elements(op, x.count, x, a, b, c)
        return x.count / C
    }

    /// `N` examples of `x[C, N, plane]`: returns the plane.
    @inline(__always)
    static func examples(_ op: StaticString, _ x: Tensor, channels C: Int, batch N: Int) -> Int {
        guard N > 0 && x.count % (C * N) == 0 else { fail(op, "input \(x.shape) is not [\(C), \(N), plane]") }
        return x.count / (C * N)
    }

    static func linear(_ op: StaticString, _ x: Tensor, _ dy: Tensor, inFeatures: Int, outFeatures: Int, batch: Int) {
        guard inFeatures >= 0 && outFeatures >= 0 && batch >= 0 else { fail(op, "negative size") }
        x.require(inFeatures * batch, .float32, op, "input [in, N]")
        dy.require(outFeatures * batch, .float32, op, "[out, N] operand")
    }

    static func planes(_ op: StaticString, _ big: Tensor, _ small: Tensor, channels: Int, batch: Int, plane: Int) {
        guard channels >= 0 && batch >= 0 && plane > 0 else { fail(op, "bad sizes \(channels)x\(batch)x\(plane)") }
        big.require(channels * batch * plane, .float32, op, "[C, N, plane] operand")
        small.require(channels * batch, .float32, op, "[C, N] operand")
    }

    /// Softmax cross-entropy: returns `(K, N)`.
    static func loss(logits: Tensor, labels: Tensor, errors: Tensor, outputs: Tensor) -> (Int, Int) {
        let N = labels.count
        guard labels.dtype == .int32 else { fail("softmaxCrossEntropy", "labels must be int32") }
        guard N > 0 && logits.count % N == 0 && logits.count / N >= 2 else {
            fail("softmaxCrossEntropy", "logits \(logits.shape) are not [classes >= 2, \(N)]")
        }
        let K = logits.count / N
        logits.require(K * N, .float32, "softmaxCrossEntropy", "logits [K, N]")
        errors.require(K * N, .float32, "softmaxCrossEntropy", "errors [K, N]")
        outputs.require(ExampleOutput.rows * N, .float32, "softmaxCrossEntropy", "outputs [rows, N]")
        return (K, N)
    }
}

extension Tensor {
    /// Stops the program unless `elements` elements of `type` fit in the capacity.
    @inline(__always)
    func requireCapacity(_ elements: Int, _ type: DType, _ op: StaticString) {
        if elements > capacity || dtype != type {
            Check.fail(op, "\(elements) \(type) elements do not fit a \(shape) \(dtype) tensor of capacity \(capacity)")
        }
    }
}
