import Storage

#if canImport(Glibc)
import Glibc
#endif

/// The audit's default ranking of likely label errors, built from fractional ranks
/// (0 = least, 1 = most suspicious; tied values share their mean rank; NaN values count
/// as the middle), which put scores of different units on one scale.
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

    /// The audit's default ranking: `s · rank(error probability) + (1 − s) · mean rank of
    /// the views`, where `s` is ``LabelVerdict/noiseStructure`` and the views are the
    /// log-probability margin of the verdict's probabilities and `views` (the audit: AUM
    /// and cartography's confidence, the margin and the mean probability of the given
    /// label over every presentation). The verdict's error probability reads the estimated
    /// noise between classes, and wins where the noise is class-dependent (each class's
    /// wrong labels in one other class); where it is spread evenly it reduces to a
    /// confidence score, and the mean of several views of the fit ranks better than any
    /// one of them. The weight comes from the data, not from a setting (docs/scores.md,
    /// "The verdict and the suspicion").
    ///
    /// - Parameters:
    ///   - verdict: the verdict of the run's averaged class probabilities.
    ///   - views: per-example scores, `[N]` each, with their suspicious end.
    public static func combine(verdict v: LabelVerdict, views: [(values: [Double], direction: ScoreDirection)]) -> [Double] {
        let error = ranks(v.errorProbability, direction: .higherIsSuspicious)
        let all = [ranks(v.logMargin, direction: .lowerIsSuspicious)] + views.map {
            precondition($0.values.count == error.count, "one value per example in every view")
            return ranks($0.values, direction: $0.direction)
        }
        let s = v.noiseStructure, m = Double(all.count)
        return error.indices.map { e in s * error[e] + (1 - s) * all.reduce(0) { $0 + $1[e] } / m }
    }
}

/// Which labels are wrong, how many, and what they should be: confident learning
/// (Northcutt et al., JAIR 2021) on per-example class probabilities, and the posterior
/// of each example's true class under the noise it estimates.
///
/// - Count: each class gets a threshold, the mean probability of that class over the
///   examples labelled with it; an example's confident class is its most probable class
///   among those at or above their threshold. Counting (given label, confident class)
///   pairs gives the confident joint; calibrated so each row sums to its class's size,
///   its off-diagonal sum estimates the number of label errors.
/// - Noise: the calibrated joint, read by column, is `P(given i | true j)`. An example
///   given `i` with class probabilities `p` has true class `j` with posterior
///   `∝ p_j · P(given i | true j)`; its error probability is one minus the posterior of `i`.
/// - Suggested label: the most probable other class, `argmax_{j≠i} p_j · P(given i | true j)^s`
///   with `s` the noise structure (the plain most probable class under even noise).
/// - Flagged: the estimated number of examples with the highest error probability
///   (``flagging(by:)``: from the top of another ranking, as the audit does with its
///   suspicion).
public struct LabelVerdict: Sendable {
    /// Flagged examples, most suspicious first.
    public var flagged: [Int]
    /// The suggested label of each flagged example (same order).
    public var suggested: [Int32]
    /// The estimated number of label errors in the data set.
    public var estimatedErrors: Double
    /// A 95% bootstrap interval of the estimate (examples resampled).
    public var interval: (low: Double, high: Double)
    /// `[N]`: the posterior probability that the given label is wrong.
    public var errorProbability: [Double]
    /// `[N]`: whether the suggested label is one the probabilities are confident of (its
    /// probability at or above its class's threshold), as confident learning counts.
    public var sure: [Bool]
    /// `[N]`: each example's suggested label (the most probable other class).
    public var suggestion: [Int32]
    /// `[N]`: `log p_given − max_{j≠given} log p_j` of the probabilities.
    public var logMargin: [Double]
    /// The calibrated confident joint, `[given][true]` example counts.
    public var joint: [[Double]]
    /// How class-dependent the estimated noise is, in [0, 1]: 0 when each class's wrong
    /// labels spread evenly over the other classes, 1 when they all sit in one other class
    /// (the share of each row's off-diagonal count in its largest cell, weighted by the
    /// row's count, rescaled from [1/(K−1), 1]).
    public var noiseStructure: Double

    /// Whether the estimate says most labels are wrong. No real data set is like that; a
    /// network that has not learned the classes (probabilities unrelated to the images)
    /// is: its confident classes disagree with most given labels, and the count, the
    /// flags and the suggestions then say nothing about the labels.
    public var mostLabelsLookWrong: Bool { Self.mostLabelsLookWrong(estimated: estimatedErrors, examples: errorProbability.count) }

    /// ``mostLabelsLookWrong`` of an estimate read back (a report of a run's `meta.json`).
    public static func mostLabelsLookWrong(estimated: Double, examples: Int) -> Bool { estimated > 0.5 * Double(examples) }

    /// - Parameters:
    ///   - labels: the given labels, `[N]`.
    ///   - probabilities: `[N, classes]` row-major class probabilities.
    ///   - resamples: bootstrap resamples for the interval, seeded by `seed`.
    public init(labels: [Int32], probabilities p: [Double], classes k: Int, resamples: Int = 200, seed: UInt64 = 0) {
        let n = labels.count
        precondition(p.count == n * k, "one probability row per example")
        let (counts, threshold) = Self.confidentJoint(labels: labels, probabilities: p, classes: k, sample: nil)
        let calibrated = Self.calibrate(counts, labels: labels, classes: k, sample: nil)
        joint = calibrated
        estimatedErrors = Self.offDiagonal(calibrated)
        noiseStructure = Self.structure(calibrated)
        // P(given i | true j): the joint's columns normalised (a class never confidently seen keeps its label).
        let column = (0..<k).map { j in (0..<k).reduce(0) { $0 + calibrated[$1][j] } }
        let given = (0..<k).map { i in (0..<k).map { j in column[j] > 0 ? calibrated[i][j] / column[j] : (i == j ? 1 : 0) } }
        var error = [Double](repeating: 0, count: n), margin = error, sure = [Bool](repeating: false, count: n)
        var suggestion = [Int32](repeating: 0, count: n)
        for e in 0..<n {
            let i = Int(labels[e]), row = e * k
            var total = 0.0, best = -1, bestWeight = -Double.infinity, other = 0.0
            for j in 0..<k {
                let w = p[row + j] * given[i][j]
                total += w
                guard j != i else { continue }
                other = max(other, p[row + j])
                let pick = p[row + j] * Self.power(given[i][j], noiseStructure)
                if pick > bestWeight { best = j; bestWeight = pick }
            }
            error[e] = total > 0 ? 1 - p[row + i] * given[i][i] / total : 1 - p[row + i]
            sure[e] = best >= 0 && p[row + best] >= threshold[best]
            suggestion[e] = Int32(best)
            margin[e] = Self.logOf(p[row + i]) - Self.logOf(other)
        }
        errorProbability = error
        self.sure = sure
        self.suggestion = suggestion
        logMargin = margin
        flagged = Self.top(error, count: min(n, Int(estimatedErrors.rounded())))
        suggested = flagged.map { suggestion[$0] }
        // The interval: the same estimate on examples drawn with replacement.
        var rng = SplitMix64(seed: seed)
        var estimates: [Double] = []
        for _ in 0..<resamples {
            let sample = (0..<n).map { _ in Int(rng.below(UInt64(n))) }
            let joint = Self.confidentJoint(labels: labels, probabilities: p, classes: k, sample: sample).joint
            estimates.append(Self.offDiagonal(Self.calibrate(joint, labels: labels, classes: k, sample: sample)))
        }
        estimates.sort()
        interval = estimates.isEmpty ? (estimatedErrors, estimatedErrors)
            : (estimates[Int(0.025 * Double(estimates.count - 1))], estimates[Int((0.975 * Double(estimates.count - 1)).rounded())])
    }

    /// The same verdict with the flagged set taken from the top of `ranking` (higher = more
    /// suspicious; ties by index), as many as the estimate.
    public func flagging(by ranking: [Double]) -> LabelVerdict {
        precondition(ranking.count == errorProbability.count, "one rank per example")
        var v = self
        v.flagged = Self.top(ranking, count: flagged.count)
        v.suggested = v.flagged.map { suggestion[$0] }
        return v
    }

    /// The `count` highest of `ranking`, highest first (ties by index).
    static func top(_ ranking: [Double], count: Int) -> [Int] {
        Array(ranking.indices.sorted { ranking[$0] > ranking[$1] || (ranking[$0] == ranking[$1] && $0 < $1) }.prefix(count))
    }

    static func power(_ x: Double, _ s: Double) -> Double { s == 0 ? 1 : x == 0 ? 0 : pow(x, s) }
    static func logOf(_ x: Double) -> Double { log(Swift.max(x, 1e-12)) }

    /// ``noiseStructure`` of a calibrated joint.
    static func structure(_ m: [[Double]]) -> Double {
        let k = m.count
        guard k > 2 else { return 1 }
        var weighted = 0.0, total = 0.0
        for i in 0..<k {
            let off = (0..<k).filter { $0 != i }.map { m[i][$0] }
            let sum = off.reduce(0, +)
            guard sum > 0 else { continue }
            weighted += off.max()!
            total += sum
        }
        guard total > 0 else { return 0 }
        let share = weighted / total, even = 1 / Double(k - 1)
        return Swift.min(1, Swift.max(0, (share - even) / (1 - even)))
    }

    /// The confident joint `[given][confident]` over `sample` (all examples when nil) and
    /// the class thresholds it counted with.
    static func confidentJoint(labels: [Int32], probabilities p: [Double], classes k: Int, sample: [Int]?) -> (joint: [[Double]], thresholds: [Double]) {
        let threshold = thresholds(labels: labels, probabilities: p, classes: k, sample: sample)
        var joint = [[Double]](repeating: [Double](repeating: 0, count: k), count: k)
        for e in sample ?? Array(labels.indices) {
            var top = -1, topP = -Double.infinity
            for j in 0..<k where p[e * k + j] >= threshold[j] && p[e * k + j] > topP { top = j; topP = p[e * k + j] }
            if top >= 0 { joint[Int(labels[e])][top] += 1 }
        }
        return (joint, threshold)
    }

    /// Each class's threshold: its mean probability over the examples labelled with it
    /// (+infinity for a class no example in `sample` has).
    static func thresholds(labels: [Int32], probabilities p: [Double], classes k: Int, sample: [Int]?) -> [Double] {
        var sums = [Double](repeating: 0, count: k), counts = [Double](repeating: 0, count: k)
        for e in sample ?? Array(labels.indices) {
            let i = Int(labels[e])
            sums[i] += p[e * k + i]
            counts[i] += 1
        }
        return (0..<k).map { counts[$0] > 0 ? sums[$0] / counts[$0] : .infinity }
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
