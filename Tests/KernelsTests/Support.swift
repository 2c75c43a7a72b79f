import Kernels

/// Deterministic test values.
struct TestRandom {
    var state: UInt64
    init(_ seed: UInt64) { state = seed &* 0x9e37_79b9_7f4a_7c15 | 1 }
    mutating func next() -> UInt64 {
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        return state
    }
    /// Uniform in [-1, 1).
    mutating func float() -> Float { Float(Double(next() >> 11) / Double(1 << 53) * 2 - 1) }
    mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }
    mutating func array(_ n: Int) -> [Float] { (0..<n).map { _ in float() } }
}

/// Max |a - b| / max(1, max |b|): the error relative to the reference's scale.
func relativeError(_ a: [Float], _ b: [Double]) -> Double {
    precondition(a.count == b.count, "length \(a.count) vs \(b.count)")
    var worst = 0.0, scale = 1e-30
    for (x, y) in zip(a, b) {
        worst = max(worst, abs(Double(x) - y))
        scale = max(scale, abs(y))
    }
    return worst / max(scale, 1e-6)
}

extension Device {
    func tensor(_ values: [Float], _ shape: [Int]) -> Tensor {
        let t = makeTensor(shape)
        upload(values, to: t)
        return t
    }

    func labels(_ values: [Int32]) -> Tensor {
        let t = makeTensor([values.count], dtype: .int32)
        values.withUnsafeBufferPointer { upload($0, to: t) }
        return t
    }
}
