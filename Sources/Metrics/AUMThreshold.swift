/// AUM's threshold-example procedure (Pleiss et al. 2020; docs/scores.md): in each of several runs a
/// disjoint set of N/(K+1) examples is relabelled to a fake class K+1; an example is flagged
/// in a run when its AUM is at or below the given percentile of the fake-class examples'
/// AUM, and flagged overall when flagged in every run in which it was not a threshold example.
public enum AUMThreshold {
    /// - Parameters:
    ///   - aum: per run, every example's AUM (threshold examples included).
    ///   - thresholdSets: per run, the indices moved to the fake class.
    /// - Returns: the overall flags and each run's threshold.
    public static func flag(aum: [[Double]], thresholdSets: [[Int]], percentile: Double = 99) -> (flags: [Bool], thresholds: [Double]) {
        precondition(!aum.isEmpty && aum.count == thresholdSets.count)
        let n = aum[0].count
        var flags = [Bool](repeating: true, count: n), evaluated = [Bool](repeating: false, count: n)
        var thresholds: [Double] = []
        for (run, set) in zip(aum, thresholdSets) {
            let t = Self.percentile(set.map { run[$0] }, percentile)
            thresholds.append(t)
            var isThreshold = [Bool](repeating: false, count: n)
            for i in set { isThreshold[i] = true }
            for i in 0..<n where !isThreshold[i] {
                evaluated[i] = true
                if !(run[i] <= t) { flags[i] = false }
            }
        }
        return (zip(flags, evaluated).map { $0 && $1 }, thresholds)
    }

    /// The `p`-th percentile with linear interpolation between order statistics (NumPy's default).
    public static func percentile(_ values: [Double], _ p: Double) -> Double {
        precondition(!values.isEmpty && p >= 0 && p <= 100)
        let sorted = values.sorted()
        let position = p / 100 * Double(sorted.count - 1)
        let lo = Int(position.rounded(.down)), hi = min(lo + 1, sorted.count - 1)
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (position - Double(lo))
    }
}
