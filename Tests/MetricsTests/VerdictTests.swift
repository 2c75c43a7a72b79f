import Testing
@testable import Metrics
import Storage

@Suite struct VerdictTests {
    @Test func ranksShareTiesAndFollowTheDirection() {
        #expect(Suspicion.ranks([3, 1, 2], direction: .higherIsSuspicious) == [1, 0, 0.5])
        #expect(Suspicion.ranks([3, 1, 2], direction: .lowerIsSuspicious) == [0, 1, 0.5])
        // Ties share their mean rank; NaN sits in the middle.
        #expect(Suspicion.ranks([5, 5, 1, .nan], direction: .higherIsSuspicious) == [0.75, 0.75, 0, 0.5])
        let combined = Suspicion.combine([
            Score(name: "a", values: [3, 1, 2], direction: .higherIsSuspicious, note: ""),
            Score(name: "b", values: [3, 1, 2], direction: .lowerIsSuspicious, note: "")])
        #expect(combined == [0.5, 0.5, 0.5])
        #expect(Suspicion.isComponent("aum") && Suspicion.isComponent("el2n_e2") && !Suspicion.isComponent("grand_e2"))
    }

    /// 3 classes, 600 examples, 60 labels flipped to the next class: a model that still
    /// prefers the true class (as an early checkpoint does) gives the verdict every
    /// flipped example, its true label, and an estimate near 60.
    @Test func confidentLearningFindsFlippedLabelsAndTheirClass() {
        let n = 600, k = 3
        var rng = SplitMix64(seed: 3)
        var truth: [Int32] = [], given: [Int32] = [], p: [Double] = []
        for i in 0..<n {
            let y = Int32(i % k)
            truth.append(y)
            given.append(i % 10 == 0 ? (y + 1) % Int32(k) : y)
            let sure = 0.6 + 0.3 * Double(rng.below(1000)) / 1000
            for c in 0..<k { p.append(c == Int(y) ? sure : (1 - sure) / 2) }
        }
        let flipped = (0..<n).filter { given[$0] != truth[$0] }
        let ranking = (0..<n).map { i in 1 - p[i * k + Int(given[i])] }
        let v = LabelVerdict(labels: given, probabilities: p, classes: k, ranking: ranking, resamples: 50)
        #expect(abs(v.estimatedErrors - Double(flipped.count)) <= 6, "estimated \(v.estimatedErrors)")
        #expect(v.interval.low <= v.estimatedErrors && v.estimatedErrors <= v.interval.high)
        let found = Set(flipped).intersection(v.flagged).count
        #expect(found >= flipped.count - 3 && v.flagged.count <= flipped.count + 6, "\(found) of \(flipped.count) found, \(v.flagged.count) flagged")
        #expect(zip(v.flagged, v.suggested).allSatisfy { given[$0.0] == truth[$0.0] || truth[$0.0] == $0.1 })
        // Most suspicious first.
        #expect(zip(v.flagged, v.flagged.dropFirst()).allSatisfy { ranking[$0.0] >= ranking[$0.1] })
    }
}
