/// SplitMix64 (Steele, Lea and Flood, 2014): a small, fast, fully deterministic
/// generator, so every seeded draw (subsets, shuffles, initialisation) is the same on
/// every platform and Swift version. Sieve's one generator: the Trainer's keyed
/// streams (`SeededRandom`) are SplitMix64 states derived from (seed, purpose, epoch).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// The SplitMix64 output function: a bijective mix of 64 bits.
    @inline(__always)
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let z = SplitMix64.mix(state)
        state &+= 0x9e37_79b9_7f4a_7c15
        return z
    }

    /// Uniform in `0..<bound` without modulo bias (Lemire's multiply-and-reject).
    public mutating func below(_ bound: UInt64) -> UInt64 {
        guard bound > 0 else { fatalError("SplitMix64.below(0): the bound must be positive") }
        var m = next().multipliedFullWidth(by: bound)
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold { m = next().multipliedFullWidth(by: bound) }
        }
        return m.high
    }
}
