import Testing
@testable import Metrics
import Storage

@Suite struct VerdictTests {
    @Test func ranksShareTiesAndFollowTheDirection() {
        #expect(Suspicion.ranks([3, 1, 2], direction: .higherIsSuspicious) == [1, 0, 0.5])
        #expect(Suspicion.ranks([3, 1, 2], direction: .lowerIsSuspicious) == [0, 1, 0.5])
        // Ties share their mean rank; NaN sits in the middle.
        #expect(Suspicion.ranks([5, 5, 1, .nan], direction: .higherIsSuspicious) == [0.75, 0.75, 0, 0.5])
    }

    /// Probabilities of a model that still prefers the true class (as an early epoch's
    /// does): `[N, k]`, the given labels and the truth. `pairs`: every flipped label goes
    /// to the next class; otherwise to a random other class.
    static func noisyModel(n: Int, k: Int, pairs: Bool, seed: UInt64) -> (p: [Double], given: [Int32], truth: [Int32]) {
        var rng = SplitMix64(seed: seed)
        var truth: [Int32] = [], given: [Int32] = [], p: [Double] = []
        for i in 0..<n {
            let y = Int32(i % k)
            truth.append(y)
            let shift = pairs ? 1 : 1 + Int32(rng.below(UInt64(k - 1)))
            given.append(rng.below(10) == 0 ? (y + shift) % Int32(k) : y)
            let sure = 0.6 + 0.3 * Double(rng.below(1000)) / 1000
            for c in 0..<k { p.append(c == Int(y) ? sure : (1 - sure) / Double(k - 1)) }
        }
        return (p, given, truth)
    }

    /// 4 classes, 800 examples, about 80 labels flipped to the next class: the verdict gives
    /// every flipped example, its true label, an estimate near their number, a noise structure near
    /// one, and the error probability ranks the flipped labels first.
    @Test func confidentLearningFindsFlippedLabelsAndTheirClass() {
        let n = 800, k = 4
        let (p, given, truth) = Self.noisyModel(n: n, k: k, pairs: true, seed: 3)
        let flipped = (0..<n).filter { given[$0] != truth[$0] }
        let v = LabelVerdict(labels: given, probabilities: p, classes: k, resamples: 50)
        #expect(abs(v.estimatedErrors - Double(flipped.count)) <= 8, "estimated \(v.estimatedErrors)")
        #expect(v.interval.low <= v.estimatedErrors && v.estimatedErrors <= v.interval.high)
        #expect(v.noiseStructure > 0.9, "\(v.noiseStructure)")
        let found = Set(flipped).intersection(v.flagged).count
        #expect(found >= flipped.count - 4 && v.flagged.count <= flipped.count + 8, "\(found) of \(flipped.count) found, \(v.flagged.count) flagged")
        #expect(zip(v.flagged, v.suggested).allSatisfy { given[$0.0] == truth[$0.0] || truth[$0.0] == $0.1 })
        // Sure: the suggestion's probability at or above its class's mean (most of these).
        #expect(v.flagged.filter { given[$0] != truth[$0] && v.sure[$0] }.count > flipped.count / 2)
        #expect(v.flagged.allSatisfy { !v.sure[$0] || p[$0 * k + Int(v.suggestion[$0])] >= 0.6 })
        // Most suspicious first, and the error probability is a probability.
        #expect(zip(v.flagged, v.flagged.dropFirst()).allSatisfy { v.errorProbability[$0.0] >= v.errorProbability[$0.1] })
        #expect(v.errorProbability.allSatisfy { $0 >= 0 && $0 <= 1 })
        let positives = Set(flipped)
        let minFlipped = flipped.map { v.errorProbability[$0] }.min()!
        let maxClean = (0..<n).filter { !positives.contains($0) }.map { v.errorProbability[$0] }.max()!
        #expect(minFlipped > maxClean, "\(minFlipped) vs \(maxClean)")
        // Flagging by another ranking keeps the count and each example's suggestion.
        let other = v.flagging(by: (0..<n).map { Double($0) })
        #expect(other.flagged == Array((0..<n).reversed().prefix(v.flagged.count)))
        #expect(zip(other.flagged, other.suggested).allSatisfy { v.suggestion[$0.0] == $0.1 })
    }

    /// A network that has learned nothing (probabilities unrelated to the labels): the
    /// estimate says most labels are wrong, and the verdict says it is not to be trusted; a
    /// model that has learned, under 10% noise, is not doubted.
    @Test func aVerdictOnUnrelatedProbabilitiesIsDoubted() {
        let n = 1000, k = 5
        var rng = SplitMix64(seed: 11)
        let given = (0..<n).map { _ in Int32(rng.below(UInt64(k))) }
        var p: [Double] = []
        for _ in 0..<n {
            let row = (0..<k).map { _ in 0.05 + Double(rng.below(1000)) / 1000 }
            let sum = row.reduce(0, +)
            p += row.map { $0 / sum }
        }
        let v = LabelVerdict(labels: given, probabilities: p, classes: k, resamples: 0)
        #expect(v.mostLabelsLookWrong, "estimated \(v.estimatedErrors) of \(n)")
        let (q, noisy, _) = Self.noisyModel(n: 800, k: 4, pairs: false, seed: 3)
        #expect(!LabelVerdict(labels: noisy, probabilities: q, classes: 4, resamples: 0).mostLabelsLookWrong)
    }

    /// Symmetric noise: the structure is low, and the suspicion leans on the margins.
    @Test func evenNoiseHasLowStructureAndTheSuspicionFollowsTheMargins() {
        let n = 2000, k = 5
        let (p, given, truth) = Self.noisyModel(n: n, k: k, pairs: false, seed: 5)
        let v = LabelVerdict(labels: given, probabilities: p, classes: k, resamples: 0)
        #expect(v.noiseStructure < 0.3, "\(v.noiseStructure)")
        #expect(v.interval.low == v.estimatedErrors && v.interval.high == v.estimatedErrors)
        // An AUM that knows the truth exactly: the suspicion follows it by (1 - structure) / 2.
        let aum = (0..<n).map { given[$0] == truth[$0] ? 1.0 : -1.0 }
        let s = Suspicion.combine(verdict: v, views: [(aum, .lowerIsSuspicious)])
        let error = Suspicion.ranks(v.errorProbability, direction: .higherIsSuspicious)
        let margin = Suspicion.ranks(v.logMargin, direction: .lowerIsSuspicious)
        let a = Suspicion.ranks(aum, direction: .lowerIsSuspicious)
        for i in [0, 1, 17, 1999] {
            let expected = v.noiseStructure * error[i] + (1 - v.noiseStructure) * (a[i] + margin[i]) / 2
            #expect(abs(s[i] - expected) < 1e-12)
        }
        // More views share the (1 - structure) part equally, each with its own direction.
        let distance = (0..<n).map { Double($0 % 7) }
        let three = Suspicion.combine(verdict: v, views: [(aum, .lowerIsSuspicious), (distance, .higherIsSuspicious)])
        let d = Suspicion.ranks(distance, direction: .higherIsSuspicious)
        #expect(d[6] > d[0])
        for i in [0, 6, 17, 1999] {
            let expected = v.noiseStructure * error[i] + (1 - v.noiseStructure) * (a[i] + margin[i] + d[i]) / 3
            #expect(abs(three[i] - expected) < 1e-12)
        }
        // With nothing but the margin of the probabilities.
        let alone = Suspicion.combine(verdict: v, views: [])
        #expect(abs(alone[5] - (v.noiseStructure * error[5] + (1 - v.noiseStructure) * margin[5])) < 1e-12)
    }
}
