/// Which end of a score ranks an example as "flagged" (the positive class when a score
/// is evaluated at finding, e.g., the flipped labels).
public enum ScoreDirection: String, Sendable {
    /// Large values are suspicious / important (EL2N, GraNd, forgetting counts).
    case higherIsSuspicious = "higher"
    /// Small values are suspicious (AUM, SSFT, cartography confidence).
    case lowerIsSuspicious = "lower"
}

/// Ranking metrics used to score a per-example score against a ground truth
/// (noise detection) or against another score (rank correlation).
///
/// Scores may contain `+infinity` / `-infinity` (never-learned examples, never-forgotten
/// examples); they rank as the largest / smallest values and tie with each other.
/// NaN is a precondition failure everywhere: a NaN score is a bug upstream.
public enum Ranking {
    /// 1-based ranks, tied values sharing the average of the ranks they span
    /// (`ranks([10, 20, 20, 5]) == [2, 3.5, 3.5, 1]`). The order is ascending:
    /// the smallest value has rank 1.
    public static func ranks(_ values: [Double]) -> [Double] {
        let n = values.count
        precondition(!values.contains(where: { $0.isNaN }), "ranks: NaN values cannot be ranked")
        let order = (0..<n).sorted { values[$0] < values[$1] || (values[$0] == values[$1] && $0 < $1) }
        var result = [Double](repeating: 0, count: n)
        var start = 0
        while start < n {
            var end = start + 1
            while end < n && values[order[end]] == values[order[start]] { end += 1 }
            // Positions start..<end (0-based) hold ranks start+1 ... end; their mean:
            let average = Double(start + 1 + end) / 2
            for k in start..<end { result[order[k]] = average }
            start = end
        }
        return result
    }

    /// Area under the ROC curve of `scores` at ranking the `positives` first, read in
    /// `direction`: the probability that a random positive is ranked above a random
    /// negative, ties counting 1/2 (Mann-Whitney U with average ranks; equals
    /// scikit-learn's `roc_auc_score` on the oriented scores). `.nan` when there are no
    /// positives or no negatives.
    public static func auroc(scores: [Double], positives: [Bool], direction: ScoreDirection) -> Double {
        precondition(scores.count == positives.count, "auroc: \(scores.count) scores but \(positives.count) labels")
        precondition(!scores.contains(where: { $0.isNaN }), "auroc: NaN score")
        let nPositive = positives.reduce(0) { $0 + ($1 ? 1 : 0) }
        let nNegative = positives.count - nPositive
        if nPositive == 0 || nNegative == 0 { return .nan }
        let r = ranks(oriented(scores, direction))
        var rankSum = 0.0
        for i in 0..<r.count where positives[i] { rankSum += r[i] }
        let u = rankSum - Double(nPositive) * Double(nPositive + 1) / 2
        return u / (Double(nPositive) * Double(nNegative))
    }

    /// Average precision as scikit-learn's `average_precision_score` computes it:
    /// `sum_n (R_n - R_{n-1}) P_n` over the distinct score values taken as thresholds
    /// from the most suspicious end (all examples with a tied score enter together),
    /// with `R_0 = 0`. No interpolation. `.nan` when there are no positives
    /// (scikit-learn warns and returns a meaningless value there); 1.0 when every
    /// example is positive.
    public static func averagePrecision(scores: [Double], positives: [Bool], direction: ScoreDirection) -> Double {
        precondition(scores.count == positives.count, "averagePrecision: \(scores.count) scores but \(positives.count) labels")
        precondition(!scores.contains(where: { $0.isNaN }), "averagePrecision: NaN score")
        let totalPositive = positives.reduce(0) { $0 + ($1 ? 1 : 0) }
        if totalPositive == 0 { return .nan }
        let s = oriented(scores, direction)
        // Most suspicious first.
        let order = s.indices.sorted { s[$0] > s[$1] || (s[$0] == s[$1] && $0 < $1) }
        var truePositives = 0, seen = 0
        var previousRecall = 0.0, ap = 0.0
        var k = 0
        while k < order.count {
            let value = s[order[k]]
            while k < order.count && s[order[k]] == value {
                if positives[order[k]] { truePositives += 1 }
                seen += 1
                k += 1
            }
            let recall = Double(truePositives) / Double(totalPositive)
            let precision = Double(truePositives) / Double(seen)
            ap += (recall - previousRecall) * precision
            previousRecall = recall
        }
        return ap
    }

    /// Spearman's rank correlation: Pearson's correlation of the average ranks.
    /// `.nan` if either input is constant (or has fewer than two values).
    public static func spearman(_ a: [Double], _ b: [Double]) -> Double {
        precondition(a.count == b.count, "spearman: \(a.count) vs \(b.count) values")
        return pearson(ranks(a), ranks(b))
    }

    /// Pearson's correlation, clamped to -1...1; `.nan` if either input is constant or
    /// has fewer than two values (Spearman's on ``ranks(_:)`` computed once per column).
    public static func pearson(_ x: [Double], _ y: [Double]) -> Double {
        let n = x.count
        if n < 2 { return .nan }
        let mx = x.reduce(0, +) / Double(n), my = y.reduce(0, +) / Double(n)
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for i in 0..<n {
            let dx = x[i] - mx, dy = y[i] - my
            sxy += dx * dy; sxx += dx * dx; syy += dy * dy
        }
        if sxx == 0 || syy == 0 { return .nan }
        return max(-1, min(1, sxy / (sxx * syy).squareRoot()))
    }

    /// Scores turned so that larger always means more suspicious (negation maps
    /// +inf to -inf and keeps ties).
    static func oriented(_ scores: [Double], _ direction: ScoreDirection) -> [Double] {
        direction == .higherIsSuspicious ? scores : scores.map { -$0 }
    }
}
