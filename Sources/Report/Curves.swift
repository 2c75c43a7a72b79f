/// ROC and precision-recall curves of a score at finding the positives, walking the
/// examples from the most suspicious end (tied values enter together, as in
/// ``Metrics/Ranking``).
struct DetectionCurves {
    /// (false positive rate, true positive rate), from (0, 0) to (1, 1).
    var roc: [(Double, Double)]
    /// (recall, precision) at every threshold.
    var pr: [(Double, Double)]

    /// The curves of `values` (no NaN) given `order`, every example most suspicious
    /// first, downsampled to at most about `maxPoints` points each; nil without
    /// positives or without negatives.
    init?(values: [Double], order: [Int], positives: [Bool], maxPoints: Int = 200) {
        let totalPositive = order.reduce(0) { $0 + (positives[$1] ? 1 : 0) }
        let totalNegative = order.count - totalPositive
        guard totalPositive > 0, totalNegative > 0 else { return nil }
        var roc: [(Double, Double)] = [(0, 0)], pr: [(Double, Double)] = []
        var tp = 0, fp = 0, k = 0
        while k < order.count {
            let value = values[order[k]]
            while k < order.count && values[order[k]] == value {
                if positives[order[k]] { tp += 1 } else { fp += 1 }
                k += 1
            }
            let recall = Double(tp) / Double(totalPositive)
            roc.append((Double(fp) / Double(totalNegative), recall))
            pr.append((recall, Double(tp) / Double(tp + fp)))
        }
        self.roc = Self.thin(roc, maxPoints)
        self.pr = Self.thin(pr, maxPoints)
    }

    /// At most `maxPoints` of `points`, first and last kept: a point stays when the
    /// curve moved at least `2 / maxPoints` (in x + y) since the last one kept, then
    /// evenly spaced ones if there are still too many.
    static func thin(_ points: [(Double, Double)], _ maxPoints: Int) -> [(Double, Double)] {
        guard points.count > maxPoints, maxPoints >= 2 else { return points }
        let step = 2 / Double(maxPoints)
        var kept = [points[0]]
        for p in points.dropFirst().dropLast() {
            let q = kept[kept.count - 1]
            if abs(p.0 - q.0) + abs(p.1 - q.1) >= step { kept.append(p) }
        }
        kept.append(points[points.count - 1])
        guard kept.count > maxPoints else { return kept }
        let stride = Double(kept.count - 1) / Double(maxPoints - 1)
        return (0..<maxPoints).map { kept[Int((Double($0) * stride).rounded())] }
    }
}
