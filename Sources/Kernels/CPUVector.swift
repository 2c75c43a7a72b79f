// Vector helpers of the CPU loops: unaligned SIMD loads and stores, and row reductions
// that vectorise. Swift keeps a scalar `sum += x[i]` in order (floating-point addition is
// not associative), so a plain loop runs one dependent add per element; these helpers sum
// in SIMD lanes instead, in Float within a block and in Double across blocks, so a long row
// (a batch-norm channel of 100k values) keeps close to Double's precision.

@inline(__always) func load4(_ p: UnsafePointer<Float>) -> SIMD4<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Float>.self)
}
@inline(__always) func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}
@inline(__always) func store4(_ p: UnsafeMutablePointer<Float>, _ v: SIMD4<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD4<Float>.self)
}
@inline(__always) func store8(_ p: UnsafeMutablePointer<Float>, _ v: SIMD8<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// (x0, y0, x1, y1, x2, y2, x3, y3): two 4-lane vectors interleaved.
@inline(__always) func interleave(_ x: SIMD4<Float>, _ y: SIMD4<Float>) -> SIMD8<Float> {
    SIMD8(x[0], y[0], x[1], y[1], x[2], y[2], x[3], y[3])
}

/// Values per Float block of ``blockedSums(_:vector:scalar:)``: 512 values, 64 per lane.
let reductionBlock = 512

/// Two sums over `0..<count` at once: `vector(i)` gives the terms of `i ..< i+8` as two
/// 8-lane vectors, `scalar(i)` the terms of one `i` (the tail). Lanes add in Float over a
/// block of ``reductionBlock`` values, blocks add in Double.
@inline(__always)
func blockedSums(_ count: Int, vector: (Int) -> (SIMD8<Float>, SIMD8<Float>),
                 scalar: (Int) -> (Float, Float)) -> (Double, Double) {
    var total0 = 0.0, total1 = 0.0
    let whole = count & ~7
    var start = 0
    while start < whole {
        let end = min(whole, start + reductionBlock)
        var a = SIMD8<Float>(), b = SIMD8<Float>()
        var i = start
        while i < end {
            let (u, v) = vector(i)
            a += u; b += v
            i += 8
        }
        total0 += Double(a.sum()); total1 += Double(b.sum())
        start = end
    }
    for i in whole..<count {
        let (u, v) = scalar(i)
        total0 += Double(u); total1 += Double(v)
    }
    return (total0, total1)
}

/// out[i] = k * (dy[i] gated by gate[i] > 0, or dy[i] without a gate) for i in 0..<count.
@inline(__always)
func scaleGated(_ dy: UnsafePointer<Float>, gate: UnsafePointer<Float>?, by k: Float,
                into out: UnsafeMutablePointer<Float>, _ count: Int) {
    let k8 = SIMD8(repeating: k)
    var i = 0
    if let gate {
        while i + 8 <= count { store8(out + i, k8 * load8(dy + i).gated(by: load8(gate + i))); i += 8 }
        while i < count { out[i] = gate[i] <= 0 ? 0 : dy[i] * k; i += 1 }
    } else {
        while i + 8 <= count { store8(out + i, k8 * load8(dy + i)); i += 8 }
        while i < count { out[i] = dy[i] * k; i += 1 }
    }
}

/// out[i] = x[i] * scale + shift, then max(·, 0) when `relu`, for i in 0..<count.
@inline(__always)
func affine(_ x: UnsafePointer<Float>, scale: Float, shift: Float, relu: Bool,
            into out: UnsafeMutablePointer<Float>, _ count: Int) {
    let scale8 = SIMD8(repeating: scale), shift8 = SIMD8(repeating: shift), zero = SIMD8<Float>()
    var i = 0
    if relu {
        while i + 8 <= count {
            let v = load8(x + i) * scale8 + shift8
            store8(out + i, v.replacing(with: zero, where: v .<= zero))
            i += 8
        }
        while i < count { out[i] = max(x[i] * scale + shift, 0); i += 1 }
    } else {
        while i + 8 <= count { store8(out + i, load8(x + i) * scale8 + shift8); i += 8 }
        while i < count { out[i] = x[i] * scale + shift; i += 1 }
    }
}

/// `v * scale[c] + shift[c]` per channel `c`, then `max(., 0)` when `relu`: batch norm in
/// evaluation mode (``init(inference:)``) applied where a convolution writes its output.
struct ChannelAffine {
    let scale: [Float], shift: [Float], relu: Bool

    /// Batch norm with running statistics: `scale = gamma / sqrt(runningVar + eps)`,
    /// `shift = beta - runningMean * scale` (``CPUDevice/batchNormInferenceForward(input:output:parameters:)``
    /// applies it too, so the fused result is the same to the bit).
    init(inference p: BatchNormParameters) {
        let gs = p.gamma.hostFloats, bs = p.beta.hostFloats, rm = p.runningMean.hostFloats, rv = p.runningVar.hostFloats
        let epsilon = p.epsilon
        let scale = (0..<p.channels).map { c in gs[c] / (rv[c] + epsilon).squareRoot() }
        self.scale = scale
        shift = (0..<p.channels).map { c in bs[c] - rm[c] * scale[c] }
        relu = p.fusedReLU
    }

    /// Channel `c`'s `count` values from `x` into `out` (the same place allowed).
    @inline(__always) func apply(_ c: Int, _ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, _ count: Int) {
        affine(x, scale: scale[c], shift: shift[c], relu: relu, into: out, count)
    }

    /// Channel `c`'s scale and shift, for a loop over that channel's values.
    @inline(__always) func lanes(_ c: Int) -> Lanes { Lanes(scale: scale[c], shift: shift[c], relu: relu) }

    /// One channel's affine (+ ReLU), on one value or four.
    struct Lanes {
        let scale: Float, shift: Float, relu: Bool

        @inline(__always) func apply(_ v: SIMD4<Float>) -> SIMD4<Float> {
            let u = v * SIMD4(repeating: scale) + SIMD4(repeating: shift)
            return relu ? u.replacing(with: 0, where: u .<= 0) : u
        }

        @inline(__always) func apply(_ v: Float) -> Float {
            let u = v * scale + shift
            return relu ? (u <= 0 ? 0 : u) : u
        }
    }
}

/// The larger lane of `a` and `b` (`a` where they are unordered): a compare and a blend,
/// where `pointwiseMax` runs lane by lane.
@inline(__always) func lanesMax(_ a: SIMD4<Float>, _ b: SIMD4<Float>) -> SIMD4<Float> {
    a.replacing(with: b, where: b .> a)
}

/// sum of x[i]^2 over 0..<count (``blockedSums(_:vector:scalar:)``).
@inline(__always)
func squaredSum(_ x: UnsafePointer<Float>, _ count: Int) -> Double {
    blockedSums(count, vector: { i in let v = load8(x + i); return (v * v, SIMD8()) },
                scalar: { i in (x[i] * x[i], 0) }).0
}

/// sum of a[i] * b[i] over 0..<count (``blockedSums(_:vector:scalar:)``).
@inline(__always)
func productSum(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Double {
    blockedSums(count, vector: { i in (load8(a + i) * load8(b + i), SIMD8()) },
                scalar: { i in (a[i] * b[i], 0) }).0
}

extension SIMD8 where Scalar == Float {
    /// The lanes where `mask > 0`, zero elsewhere (the fused ReLU's gradient gate, `y > 0`).
    @inline(__always) func gated(by mask: SIMD8<Float>) -> SIMD8<Float> {
        replacing(with: 0, where: mask .<= 0)
    }
}
