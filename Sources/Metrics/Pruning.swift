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
    /// Keep this fraction spread over the score's range (coverage-centric coreset
    /// selection, CCS): cut the `hardCut` most suspicious fraction of the data set (the
    /// paper's rule: ``Pruning/coverageHardCut(keeping:)``), then sample the budget evenly
    /// over equal-width strata of the rest (``Pruning/coverage(_:count:hardCut:strata:seed:)``).
    /// `perClass`: cut and sample each class on its own, its share of the budget and of
    /// the cut in proportion to its size (``Pruning/coverage(_:labels:count:hardCut:strata:seed:)``),
    /// so a score that is larger on some classes (shirts are harder than trousers) does
    /// not empty them; `false` is the paper's pooled selection.
    case coverage(Double, hardCut: Double, perClass: Bool = true)

    /// The fraction of the data set that is kept.
    public var keptFraction: Double {
        switch self {
        case .dropSuspicious(let f): 1 - f
        case .keepHardest(let f, _), .keepRandom(let f, _), .coverage(let f, _, _): f
        }
    }

    /// One line for logs: `drop-suspicious 0.2`, `keep-hardest 0.5 window 10`, ...
    public var description: String {
        switch self {
        case .dropSuspicious(let f): "drop-suspicious \(f)"
        case .keepHardest(let f, let w): "keep-hardest \(f)" + (w > 0 ? " window \(w)" : "")
        case .keepRandom(let f, _): "keep-random \(f)"
        case .coverage(let f, let cut, let perClass): "coverage \(f) hard-cut \(cut)" + (perClass ? " per class" : " pooled")
        }
    }
}

extension Pruning {
    /// The indices (ascending) kept by `selection` on a score ranked by `direction`.
    /// - Parameter neverLearned: examples `.keepHardest` always keeps (never learned:
    ///   the `never_learned` column of a dynamics run), besides those at `±inf`.
    /// - Parameter seed: the sampling within strata of `.coverage`.
    /// - Parameter labels: the given labels (`[N]`), which a per-class `.coverage` needs.
    public static func select(scores: [Double], direction: ScoreDirection, _ selection: PruneSelection,
                              neverLearned: [Bool]? = nil, labels: [Int]? = nil, seed: UInt64 = 0) throws -> [Int] {
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
        case .coverage(let f, let hardCut, let perClass):
            guard f > 0 && f <= 1 else { throw MetricsError.invalidInput("--coverage must lie in (0, 1], not \(f)") }
            guard hardCut >= 0 && hardCut < 1 else { throw MetricsError.invalidInput("--hard-cut must lie in [0, 1), not \(hardCut)") }
            if let i = s.firstIndex(where: { $0.isNaN }) {
                throw MetricsError.invalidInput("cannot rank examples by a NaN score (example \(i))")
            }
            let n = s.count, count = Int((f * Double(n)).rounded()), cutCount = Int((hardCut * Double(n)).rounded())
            guard count + cutCount <= n else {
                throw MetricsError.invalidInput("--coverage \(f) with --hard-cut \(hardCut) keeps more examples than the \(n - cutCount) left after the cut")
            }
            guard perClass else { return coverage(s, count: count, hardCut: cutCount, seed: seed) }
            guard let labels else { throw MetricsError.invalidInput("coverage per class needs the examples' labels") }
            guard labels.count == n else { throw MetricsError.invalidInput("\(labels.count) labels for \(n) examples") }
            return coverage(s, labels: labels, count: count, hardCut: cutCount, seed: seed)
        }
    }

    /// The hard cut CCS makes before sampling when keeping `fraction` of the data set: none
    /// while half or more is kept, 10% of the data set down to 20% kept, 30% below that
    /// (Zheng et al. 2023's settings for CIFAR-10: pruning 30/50/70/80/90% cut 0/0/10/10/30%).
    public static func coverageHardCut(keeping fraction: Double) -> Double {
        let pruned = 1 - fraction
        return pruned <= 0.5 + 1e-9 ? 0 : pruned <= 0.8 + 1e-9 ? 0.1 : 0.3
    }

    /// Coverage-centric coreset selection (Zheng et al., ICLR 2023) on suspiciousness `s`
    /// (larger = harder; ascending indices returned):
    /// 1. drop the `hardCut` examples with the largest `s` (ties by index, as every cut);
    /// 2. split the range of the rest into `strata` equal-width bins (infinite values count
    ///    as the nearest finite extreme);
    /// 3. visit the bins from the fewest examples up, giving each
    ///    `min(its size, remaining budget / bins left)`, so sparse regions are kept whole
    ///    and the dense ones share the rest evenly;
    /// 4. sample each bin's share uniformly (a SplitMix64 stream seeded by `seed`).
    public static func coverage(_ s: [Double], count: Int, hardCut: Int, strata: Int = 50, seed: UInt64) -> [Int] {
        precondition(count >= 0 && hardCut >= 0 && count + hardCut <= s.count && strata >= 1)
        var rng = SplitMix64(seed: seed)
        return coverage(s, among: Array(s.indices), count: count, hardCut: hardCut, strata: strata, rng: &rng).sorted()
    }

    /// Coverage within each class: the budget `count` and the cut `hardCut` are shared out
    /// over the classes in proportion to their sizes (largest remainders, ties to the
    /// smaller label; a class's share of the budget is capped by what its cut leaves),
    /// then ``coverage(_:count:hardCut:strata:seed:)``'s steps run on each class in label
    /// order with one SplitMix64 stream. Ascending indices.
    public static func coverage(_ s: [Double], labels: [Int], count: Int, hardCut: Int, strata: Int = 50, seed: UInt64) -> [Int] {
        precondition(labels.count == s.count && count >= 0 && hardCut >= 0 && count + hardCut <= s.count && strata >= 1)
        var members: [Int: [Int]] = [:]
        for i in s.indices { members[labels[i], default: []].append(i) }
        let classes = members.keys.sorted()
        let sizes = classes.map { members[$0]!.count }
        let cuts = apportion(hardCut, sizes: sizes, caps: sizes)
        let budgets = apportion(count, sizes: sizes, caps: zip(sizes, cuts).map { $0 - $1 })
        var rng = SplitMix64(seed: seed)
        var chosen: [Int] = []
        for (k, c) in classes.enumerated() {
            chosen += coverage(s, among: members[c]!, count: budgets[k], hardCut: cuts[k], strata: strata, rng: &rng)
        }
        return chosen.sorted()
    }

    /// `total` shared out in proportion to `sizes` by largest remainders (ties to the
    /// earlier entry), no share above its cap; what a cap turns away goes to the entries
    /// with the most room first (ties to the earlier). Requires `total <= caps.sum()`.
    static func apportion(_ total: Int, sizes: [Int], caps: [Int]) -> [Int] {
        let n = sizes.reduce(0, +)
        precondition(total <= caps.reduce(0, +) && n > 0)
        var share = sizes.map { total * $0 / n }
        let byRemainder = sizes.indices.sorted { a, b in
            let ra = total * sizes[a] % n, rb = total * sizes[b] % n
            return ra > rb || (ra == rb && a < b)
        }
        for k in byRemainder.prefix(total - share.reduce(0, +)) { share[k] += 1 }
        var spare = 0
        for k in share.indices where share[k] > caps[k] { spare += share[k] - caps[k]; share[k] = caps[k] }
        let room = sizes.indices.map { caps[$0] - share[$0] }
        for k in sizes.indices.sorted(by: { room[$0] > room[$1] || (room[$0] == room[$1] && $0 < $1) }) where spare > 0 {
            let add = min(spare, caps[k] - share[k]); share[k] += add; spare -= add
        }
        return share
    }

    /// The steps of CCS on the examples `among` (larger `s` = harder), in any order.
    private static func coverage(_ s: [Double], among: [Int], count: Int, hardCut: Int, strata: Int,
                                 rng: inout SplitMix64) -> [Int] {
        let rest = Array(descending(among, s).dropFirst(hardCut))
        let finite = rest.map { s[$0] }.filter(\.isFinite)
        let low = finite.min() ?? 0, high = finite.max() ?? 0
        let width = (high - low) / Double(strata)
        func bin(_ v: Double) -> Int {
            guard width > 0 else { return 0 }
            let c = Swift.min(Swift.max(v, low), high)
            return Swift.min(strata - 1, Int((c - low) / width))
        }
        var bins = [[Int]](repeating: [], count: strata)
        for i in rest.sorted() { bins[bin(s[i])].append(i) }
        let order = bins.indices.filter { !bins[$0].isEmpty }.sorted { bins[$0].count < bins[$1].count || (bins[$0].count == bins[$1].count && $0 < $1) }
        var budget = count, chosen: [Int] = []
        for (k, b) in order.enumerated() {
            let take = Swift.min(bins[b].count, budget / (order.count - k))
            budget -= take
            var pool = bins[b]
            for i in 0..<take { pool.swapAt(i, i + Int(rng.below(UInt64(pool.count - i)))) }
            chosen += pool.prefix(take)
        }
        return chosen
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
