/// Summaries over repeated runs (seeds, initialisations, folds).
public enum Summary {
    /// Per example, the mean and the population standard deviation over runs:
    /// `runs[r][i]` -> `(mean[i], std[i])`. All runs must have the same length.
    public static func meanAndStd(_ runs: [[Double]]) -> (mean: [Double], std: [Double]) {
        guard let n = runs.first?.count else { return ([], []) }
        guard runs.allSatisfy({ $0.count == n }) else { fatalError("Summary.meanAndStd: runs of different lengths") }
        let k = Double(runs.count)
        var mean = [Double](repeating: 0, count: n), std = [Double](repeating: 0, count: n)
        for r in runs { for i in 0..<n { mean[i] += r[i] / k } }
        for r in runs { for i in 0..<n { std[i] += (r[i] - mean[i]) * (r[i] - mean[i]) / k } }
        return (mean, std.map { $0.squareRoot() })
    }

    /// The mean and population standard deviation of one list of values.
    public static func meanAndStd(_ values: [Double]) -> (mean: Double, std: Double) {
        let s = meanAndStd(values.map { [$0] })
        return (s.mean.first ?? .nan, s.std.first ?? .nan)
    }
}

/// How well one score finds known positives (flipped labels).
public struct DetectionResult: Sendable {
    public var name: String
    public var direction: ScoreDirection
    public var auroc: Double
    public var averagePrecision: Double
    /// Spearman rank correlation with a reference score (the input norm), when given.
    public var spearmanWithReference: Double?
}

/// Detection figures for a set of scores against known positives.
public enum Detection {
    /// AUROC and average precision of every score, each ranked from its suspicious end;
    /// scores with NaN values (or unknown direction) are returned in `skipped` with the
    /// reason instead of silently dropping out.
    /// - Parameters:
    ///   - scores: `(name, values, direction)`; direction nil = unknown.
    ///   - positives: `[N]`, true for the examples to find.
    ///   - reference: a score to rank-correlate every score with (e.g. `input_norm`).
    public static func evaluate(_ scores: [(name: String, values: [Double], direction: ScoreDirection?)],
                                positives: [Bool], reference: [Double]? = nil)
        -> (results: [DetectionResult], skipped: [(name: String, reason: String)]) {
        var results: [DetectionResult] = [], skipped: [(String, String)] = []
        for s in scores {
            guard let direction = s.direction else { skipped.append((s.name, "unknown direction")); continue }
            if s.values.contains(where: \.isNaN) { skipped.append((s.name, "it has NaN values")); continue }
            results.append(DetectionResult(
                name: s.name, direction: direction,
                auroc: Ranking.auroc(scores: s.values, positives: positives, direction: direction),
                averagePrecision: Ranking.averagePrecision(scores: s.values, positives: positives, direction: direction),
                spearmanWithReference: reference.map { Ranking.spearman(s.values, $0) }))
        }
        return (results, skipped)
    }

    /// A boolean mask `[count]` from a list of positive indices.
    public static func mask(_ indices: [Int], count: Int) -> [Bool] {
        var mask = [Bool](repeating: false, count: count)
        for i in indices where i >= 0 && i < count { mask[i] = true }
        return mask
    }
}
