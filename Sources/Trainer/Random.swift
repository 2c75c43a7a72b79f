import Storage

import Metrics

/// A seeded random stream derived from `(seed, purpose, epoch)`, so that every use
/// of randomness (initialisation, shuffling, augmentation, label noise) is
/// independent and any epoch can be replayed on its own. SplitMix64 underneath.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var stream: SplitMix64

    public init(seed: UInt64, purpose: String, epoch: Int = 0) {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325          // FNV-1a of the purpose
        for b in purpose.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        stream = SplitMix64(seed: SplitMix64.mix(seed &+ SplitMix64.mix(h &+ UInt64(bitPattern: Int64(epoch)) &* 0x9e37_79b9_7f4a_7c15)))
    }

    /// A stream for one sub-purpose (for example one example index) of this stream's key.
    public init(seed: UInt64, purpose: String, epoch: Int, item: Int) {
        self.init(seed: seed, purpose: purpose, epoch: epoch)
        stream.state = SplitMix64.mix(stream.state ^ (UInt64(item) &* 0xd1b5_4a32_d192_ed03))
    }

    @inline(__always)
    public mutating func next() -> UInt64 { stream.next() }

    /// Uniform in [0, 1).
    @inline(__always)
    public mutating func uniform() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// Standard normal (Box-Muller).
    public mutating func normal() -> Float {
        let u1 = max(Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0), 1e-300)
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }

    /// A uniformly random permutation of `0..<n` (Fisher-Yates).
    public mutating func permutation(_ n: Int) -> [Int32] {
        var a = (0..<n).map { Int32($0) }
        if n > 1 {
            for i in stride(from: n - 1, to: 0, by: -1) {
                let j = Int(next() % UInt64(i + 1))
                a.swapAt(i, j)
            }
        }
        return a
    }
}

#if canImport(Glibc)
import Glibc
#endif
