import Storage

#if canImport(Glibc)
import Glibc
#endif

/// How a score chooses the examples that are kept.
public enum PruneStrategy: Sendable, Equatable {
    /// Keep the `count` largest scores (Data Diet's rule: keep the hardest examples).
    case highest
    /// Keep the `count` smallest scores (keep the easiest).
    case lowest
    /// Sliding window counted from the TOP: sort descending and keep ranks
    /// `[offset, offset + count)`, i.e. drop the `offset` highest-scored examples
    /// first (the very highest are often mislabeled), then keep the next `count`.
    /// `.window(offset: 0)` is `.highest`. (Data Diet's code sorts ascending and
    /// counts its offset from the bottom; its window that drops the `k` highest is
    /// Sieve's `.window(offset: k)`.)
    case window(offset: Int)
    /// A uniformly random subset of the same size (the baseline every score is
    /// compared against), drawn from a SplitMix64 stream seeded by `seed`.
    case random(seed: UInt64)
}

/// Subset selection by a per-example score, and the index-list files that carry a
/// subset from `sieve prune` to a training run.
public enum Pruning {
    /// The indices (ascending) of the examples kept when a fraction of a data set of
    /// `scores.count` examples is kept according to `strategy`.
    ///
    /// - `count = Int((fraction * N).rounded())`; `fraction` must be in (0, 1].
    /// - Ties are broken by index: among equal scores the smaller index ranks first,
    ///   in the descending order (`.highest`, `.window`) and in the ascending order
    ///   (`.lowest`) alike, so the result is deterministic.
    /// - `+infinity` / `-infinity` rank as the largest / smallest scores; NaN throws.
    /// - `alwaysKeep` (one flag per example; e.g. never-learned examples, whose
    ///   forgetting count is +infinity) are kept in any case and count toward `count`:
    ///   they take the first places, and the strategy fills the remaining
    ///   `count - k` places from the other examples only (a `.window` offset counts
    ///   ranks among those other examples). Throws if more than `count` are flagged.
    /// - `.window(offset:)` throws if `offset + places` exceeds the number of
    ///   examples it ranks (`offset + count > N` without `alwaysKeep`).
    public static func keep(scores: [Double], fraction: Double, strategy: PruneStrategy,
                            alwaysKeep: [Bool]? = nil) throws -> [Int] {
        let n = scores.count
        guard fraction > 0 && fraction <= 1 else {
            throw MetricsError.invalidInput("prune fraction must be in (0, 1], got \(fraction)")
        }
        if let i = scores.firstIndex(where: { $0.isNaN }) {
            throw MetricsError.invalidInput("cannot rank examples by a NaN score (example \(i))")
        }
        if let alwaysKeep, alwaysKeep.count != n {
            throw MetricsError.invalidInput("alwaysKeep has \(alwaysKeep.count) flags for \(n) examples")
        }
        let count = Int((fraction * Double(n)).rounded())
        let forced = alwaysKeep.map { flags in (0..<n).filter { flags[$0] } } ?? []
        guard forced.count <= count else {
            throw MetricsError.invalidInput(
                "\(forced.count) examples must always be kept, more than the \(count) kept at fraction \(fraction)")
        }
        let candidates = alwaysKeep.map { flags in (0..<n).filter { !flags[$0] } } ?? Array(0..<n)
        let places = count - forced.count

        var chosen: [Int]
        switch strategy {
        case .highest:
            chosen = Array(descending(candidates, scores).prefix(places))
        case .lowest:
            chosen = Array(candidates.sorted { scores[$0] < scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
                .prefix(places))
        case .window(let offset):
            guard offset >= 0 else {
                throw MetricsError.invalidInput("window offset must be non-negative, got \(offset)")
            }
            guard offset + places <= candidates.count else {
                throw MetricsError.invalidInput(
                    "window offset \(offset) + \(places) kept exceeds the \(candidates.count) ranked examples")
            }
            chosen = Array(descending(candidates, scores)[offset..<(offset + places)])
        case .random(let seed):
            var rng = SplitMix64(seed: seed)
            var pool = candidates
            // Partial Fisher-Yates: the first `places` entries become a uniform sample.
            for i in 0..<places {
                let j = i + Int(rng.below(UInt64(pool.count - i)))
                pool.swapAt(i, j)
            }
            chosen = Array(pool.prefix(places))
        }
        return (forced + chosen).sorted()
    }

    /// `indices` sorted by descending score, ties by ascending index.
    static func descending(_ indices: [Int], _ scores: [Double]) -> [Int] {
        indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
    }
}

/// What a user means by pruning, in terms of a score's direction (its suspicious end:
/// likely mislabeled, or hardest to learn): the same names in `sieve prune` and
/// `sieve prune-curve`.
public enum PruneSelection: Sendable, Equatable {
    /// Drop this fraction from the suspicious end (cleaning: remove likely mislabels).
    case dropSuspicious(Double)
    /// Keep this fraction from the suspicious end (Data Diet: keep the hardest), after
    /// skipping the `window` most suspicious ones (often mislabeled). Examples at the
    /// infinitely suspicious end (never learned: `+inf` forgetting) are always kept, as
    /// in the reference.
    case keepHardest(Double, window: Int)
    /// Keep this fraction uniformly at random (the baseline), seeded.
    case keepRandom(Double, seed: UInt64)

    /// The fraction of the data set that is kept.
    public var keptFraction: Double {
        switch self {
        case .dropSuspicious(let f): 1 - f
        case .keepHardest(let f, _), .keepRandom(let f, _): f
        }
    }

    /// One line for logs: `drop-suspicious 0.2`, `keep-hardest 0.5 window 10`, ...
    public var description: String {
        switch self {
        case .dropSuspicious(let f): "drop-suspicious \(f)"
        case .keepHardest(let f, let w): "keep-hardest \(f)" + (w > 0 ? " window \(w)" : "")
        case .keepRandom(let f, _): "keep-random \(f)"
        }
    }
}

extension Pruning {
    /// The indices (ascending) kept by `selection` on a score ranked by `direction`.
    /// - Parameter neverLearned: examples `.keepHardest` always keeps (never learned:
    ///   the `never_learned` column of a dynamics run), besides those at `±inf`.
    public static func select(scores: [Double], direction: ScoreDirection, _ selection: PruneSelection,
                              neverLearned: [Bool]? = nil) throws -> [Int] {
        // Suspiciousness: larger = further toward the suspicious end.
        let s = direction == .higherIsSuspicious ? scores : scores.map { -$0 }
        switch selection {
        case .dropSuspicious(let f):
            guard f >= 0 && f < 1 else { throw MetricsError.invalidInput("--drop-suspicious must lie in [0, 1), not \(f)") }
            return try keep(scores: s, fraction: 1 - f, strategy: .lowest)
        case .keepHardest(let f, let window):
            if let neverLearned, neverLearned.count != scores.count {
                throw MetricsError.invalidInput("never_learned has \(neverLearned.count) flags for \(scores.count) examples")
            }
            guard f > 0 && f <= 1 else { throw MetricsError.invalidInput("--keep-hardest must lie in (0, 1], not \(f)") }
            guard window >= 0 else { throw MetricsError.invalidInput("--window must not be negative") }
            return try keep(scores: s, fraction: f, strategy: window > 0 ? .window(offset: window) : .highest,
                            alwaysKeep: s.indices.map { s[$0] == .infinity || (neverLearned?[$0] ?? false) })
        case .keepRandom(let f, let seed):
            guard f > 0 && f <= 1 else { throw MetricsError.invalidInput("--keep-random must lie in (0, 1], not \(f)") }
            return try keep(scores: s, fraction: f, strategy: .random(seed: seed))
        }
    }
}

extension Pruning {
    /// The `count` most suspicious examples by a score ranked by `direction`, most
    /// suspicious first (ties by index); NaN scores are skipped.
    /// Ties (discrete scores: forgetting counts, flags, epochs) go to the higher `tieBreak`
    /// (the audit's suspicion), then the lower index.
    public static func mostSuspicious(_ scores: [Double], direction: ScoreDirection, count: Int, tieBreak: [Double]? = nil) -> [Int] {
        let s = direction == .higherIsSuspicious ? scores : scores.map { -$0 }
        let candidates = s.indices.filter { !s[$0].isNaN }
        guard let t = tieBreak, t.count == s.count else { return Array(descending(candidates, s).prefix(count)) }
        return Array(candidates.sorted { s[$0] > s[$1] || (s[$0] == s[$1] && (t[$0] > t[$1] || (t[$0] == t[$1] && $0 < $1))) }.prefix(count))
    }
}
