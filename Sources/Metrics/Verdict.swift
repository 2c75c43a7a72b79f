import Storage

/// One suspicion value per example from several scores: the mean, over the scores, of
/// each example's rank toward that score's suspicious end as a fraction (0 = least,
/// 1 = most suspicious; tied values share their mean rank; NaN values count as the
/// middle). Ranks make scores of different units comparable, and a mean of several
/// views of the training (margins, confidence, correctness, error norms) is steadier
/// than any one of them.
public enum Suspicion {
    /// `values`' fractional ranks toward the suspicious end of `direction`.
    public static func ranks(_ values: [Double], direction: ScoreDirection) -> [Double] {
        let n = values.count
        guard n > 1 else { return Array(repeating: 0.5, count: n) }
        let sign = direction == .higherIsSuspicious ? 1.0 : -1.0
        let order = values.indices.filter { !values[$0].isNaN }.sorted { sign * values[$0] < sign * values[$1] }
        var r = [Double](repeating: 0.5, count: n)
        let m = order.count
        var k = 0
        while k < m {
            var e = k
            while e + 1 < m && values[order[e + 1]] == values[order[k]] { e += 1 }
            let mean = Double(k + e) / 2 / Double(max(1, m - 1))
            for t in k...e { r[order[t]] = mean }
            k = e + 1
        }
        return r
    }

    /// The audit's scores the suspicion combines, when present: the training's view of the
    /// given label (its margins, how often and how early it was right) and the error norm
    /// at each checkpoint. Chosen on Fashion-MNIST audits with symmetric and class-pair
    /// noise, where the best single score changes with the noise (docs/scores.md, "Suspicion").
    public static func isComponent(_ name: String) -> Bool {
        [ScoreKind.aum, .correctness, .firstLearnedEpoch].map(\.name).contains(name)
            || (ScoreCatalog.checkpoint(name)?.0 == .el2n)
    }

    /// The mean fractional rank over `scores` (each toward its own suspicious end).
    public static func combine(_ scores: [Score]) -> [Double] {
        guard let n = scores.first?.values.count else { return [] }
        var sum = [Double](repeating: 0, count: n)
        for s in scores {
            let r = ranks(s.values, direction: s.direction)
            for i in 0..<n { sum[i] += r[i] }
        }
        return sum.map { $0 / Double(scores.count) }
    }
}

/// Which labels are wrong, how many, and what they should be: confident learning
/// (Northcutt et al., JAIR 2021) on per-example class probabilities. Each class gets a
/// threshold, the mean probability of that class over the examples labelled with it; an
/// example's confident class is its most probable class among those at or above their
/// threshold. Counting (given label, confident class) pairs gives the confident joint;
/// calibrated so each row sums to its class's size, its off-diagonal sum estimates the
/// number of label errors. The flagged set prunes by noise rate: for each (given i,
/// suggested j) cell, the examples labelled i with the largest margin p_j - p_i, as many
/// as the cell estimates.
public struct LabelVerdict: Sendable {
    /// Flagged examples, most suspicious first.
    public var flagged: [Int]
    /// The suggested label of each flagged example (same order).
    public var suggested: [Int32]
    /// The estimated number of label errors in the data set.
    public var estimatedErrors: Double
    /// A 95% bootstrap interval of the estimate (examples resampled).
    public var interval: (low: Double, high: Double)

    /// - Parameters:
    ///   - labels: the given labels, `[N]`.
    ///   - probabilities: `[N, classes]` row-major class probabilities.
    ///   - ranking: higher = more suspicious (orders the flagged set; ties by index).
    ///   - resamples: bootstrap resamples for the interval, seeded by `seed`.
    public init(labels: [Int32], probabilities: [Double], classes: Int, ranking: [Double], resamples: Int = 200, seed: UInt64 = 0) {
        let n = labels.count
        precondition(probabilities.count == n * classes && ranking.count == n, "one probability row and one rank per example")
        let (joint, _) = Self.confidentJoint(labels: labels, probabilities: probabilities, classes: classes, sample: nil)
        let calibrated = Self.calibrate(joint, labels: labels, classes: classes, sample: nil)
        estimatedErrors = Self.offDiagonal(calibrated)
        // Prune by noise rate: per (i, j) cell, the examples labelled i with the largest p_j - p_i.
        var best: [Int: (suggested: Int32, margin: Double)] = [:]
        for i in 0..<classes {
            let members = (0..<n).filter { Int(labels[$0]) == i }
            for j in 0..<classes where j != i {
                let count = Int(calibrated[i][j].rounded())
                guard count > 0 else { continue }
                let margin = { (e: Int) in probabilities[e * classes + j] - probabilities[e * classes + i] }
                let chosen = members.sorted { margin($0) > margin($1) || (margin($0) == margin($1) && $0 < $1) }.prefix(count)
                for e in chosen where margin(e) > (best[e]?.margin ?? -.infinity) { best[e] = (Int32(j), margin(e)) }
            }
        }
        flagged = best.keys.sorted { ranking[$0] > ranking[$1] || (ranking[$0] == ranking[$1] && $0 < $1) }
        suggested = flagged.map { best[$0]!.suggested }
        // The interval: the same estimate on examples drawn with replacement.
        var rng = SplitMix64(seed: seed)
        var estimates: [Double] = []
        for _ in 0..<resamples {
            let sample = (0..<n).map { _ in Int(rng.below(UInt64(n))) }
            let (j, _) = Self.confidentJoint(labels: labels, probabilities: probabilities, classes: classes, sample: sample)
            estimates.append(Self.offDiagonal(Self.calibrate(j, labels: labels, classes: classes, sample: sample)))
        }
        estimates.sort()
        interval = estimates.isEmpty ? (estimatedErrors, estimatedErrors)
            : (estimates[Int(0.025 * Double(estimates.count - 1))], estimates[Int((0.975 * Double(estimates.count - 1)).rounded())])
    }

    /// The confident joint `[given][confident]` over `sample` (all examples when nil) and
    /// each example's confident class (-1: none at or above its threshold).
    static func confidentJoint(labels: [Int32], probabilities p: [Double], classes k: Int, sample: [Int]?) -> ([[Double]], [Int]) {
        let rows = sample ?? Array(labels.indices)
        var sums = [Double](repeating: 0, count: k), counts = [Double](repeating: 0, count: k)
        for e in rows {
            let i = Int(labels[e])
            sums[i] += p[e * k + i]
            counts[i] += 1
        }
        let threshold = (0..<k).map { counts[$0] > 0 ? sums[$0] / counts[$0] : .infinity }
        var joint = [[Double]](repeating: [Double](repeating: 0, count: k), count: k)
        var confident = [Int](repeating: -1, count: labels.count)
        for e in rows {
            var top = -1, topP = -Double.infinity
            for j in 0..<k where p[e * k + j] >= threshold[j] && p[e * k + j] > topP { top = j; topP = p[e * k + j] }
            guard top >= 0 else { continue }
            confident[e] = top
            joint[Int(labels[e])][top] += 1
        }
        return (joint, confident)
    }

    /// Each row scaled to the number of examples given that label.
    static func calibrate(_ joint: [[Double]], labels: [Int32], classes k: Int, sample: [Int]?) -> [[Double]] {
        var size = [Double](repeating: 0, count: k)
        for e in sample ?? Array(labels.indices) { size[Int(labels[e])] += 1 }
        return joint.enumerated().map { i, row in
            let total = row.reduce(0, +)
            return total > 0 ? row.map { $0 / total * size[i] } : row
        }
    }

    static func offDiagonal(_ m: [[Double]]) -> Double {
        var s = 0.0
        for i in m.indices { for j in m[i].indices where i != j { s += m[i][j] } }
        return s
    }
}
