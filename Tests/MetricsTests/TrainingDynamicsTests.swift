import Testing
@testable import Metrics

/// Hand-computed scores from a synthetic stream of 4 examples over 4 epochs.
struct TrainingDynamicsTests {
    // correctness per epoch (rows: examples 0...3, columns: epochs 0...3)
    static let pattern: [[Bool]] = [
        [true, true, true, true],      // learned at once, never forgotten
        [false, true, false, true],    // one forgetting event, learned for good at epoch 4
        [false, false, false, false],  // never learned
        [true, false, true, false],    // forgotten twice, not correct at the end
    ]

    static func feed(_ d: TrainingDynamics) throws {
        for e in 0..<4 {
            // one batch per epoch, in reverse order to show order does not matter
            let records = (0..<4).reversed().map { i in
                ExampleStats(index: Int32(i), epoch: Int32(e), step: Int32(e), loss: 0,
                             correct: pattern[i][e], margin: Float(e * 10 + i) - 15,
                             probability: Float(e + 1) / 8, el2n: 0)
            }
            try records.withUnsafeBufferPointer { try d.consume($0) }
        }
    }

    @Test func scoresMatchHandComputation() throws {
        let d = TrainingDynamics(exampleCount: 4, epochs: 4, aumFirstEpoch: 1)
        try Self.feed(d)
        #expect(d.forgetting == [0, 1, 5, 2])                    // never learned: epochs + 1
        #expect(d.neverLearned == [false, false, true, false])
        #expect(d.unforgettable == [true, false, false, false])
        #expect(d.firstLearnedEpoch == [1, 4, 5, 5])
        // AUM over epochs 1...3: mean of (10e + i - 15) for e = 1, 2, 3 = 5 + i
        #expect(d.aum == [5, 6, 7, 8])
        // p = 1/8, 2/8, 3/8, 4/8: mean 0.3125, population std sqrt(0.078125 / 4)... = 0.1397542
        for c in d.confidence { #expect(abs(c - 0.3125) < 1e-12) }
        for v in d.variability { #expect(abs(v - 0.13975424859373686) < 1e-9) }
        #expect(d.correctFraction == [1, 0.5, 0, 0.5])
        #expect(d.correctness[0 * 4 + 3] == 1 && d.correctness[1 * 4 + 3] == 0)
    }

    @Test func dynamicUncertaintyIsTheMeanWindowSpread() throws {
        let d = TrainingDynamics(exampleCount: 4, epochs: 4, aumFirstEpoch: 1)
        try Self.feed(d)
        // window max(2, 4 / 4) = 2: each pair (a, a + 1/8) has population std 1/16.
        #expect(d.dynamicUncertaintyWindow == 2)
        for u in d.dynamicUncertainty { #expect(abs(u - 0.0625) < 1e-9) }

        // 8 epochs, window 2; example 0 oscillates 0.2/0.8, example 1 is constant, example
        // 2 is presented in epochs 0 and 5 only (its two presentations form one window).
        let e = TrainingDynamics(exampleCount: 3, epochs: 8)
        for epoch in 0..<8 {
            var records = [ExampleStats(index: 0, epoch: Int32(epoch), step: 0, loss: 0, correct: true, margin: 0,
                                        probability: epoch % 2 == 0 ? 0.2 : 0.8, el2n: 0),
                           ExampleStats(index: 1, epoch: Int32(epoch), step: 0, loss: 0, correct: true, margin: 0, probability: 0.5, el2n: 0)]
            if epoch == 0 || epoch == 5 {
                records.append(ExampleStats(index: 2, epoch: Int32(epoch), step: 0, loss: 0, correct: true, margin: 0,
                                            probability: epoch == 0 ? 0.1 : 0.5, el2n: 0))
            }
            try records.withUnsafeBufferPointer { try e.consume($0) }
        }
        let u = e.dynamicUncertainty
        #expect(abs(u[0] - 0.3) < 1e-6 && u[1] == 0 && abs(u[2] - 0.2) < 1e-6)
        // A checkpointed run restores the per-epoch probabilities with the rest.
        let restored = TrainingDynamics(exampleCount: 3, epochs: 8)
        try restored.restore(Dictionary(uniqueKeysWithValues: e.state(prefix: "d:")), prefix: "d:", file: "state")
        #expect(restored.dynamicUncertainty == u)
    }

    @Test func firstStableEpochOfForgetting() {
        // SSFT reads the same helper with value 0: first epoch from which always wrong.
        let matrix: [UInt8] = [1, 1, 1,   // epoch 1 (examples 0, 1, 2)
                               0, 1, 0,   // epoch 2
                               0, 1, 1]   // epoch 3
        #expect(TrainingDynamics.firstStableEpoch(matrix, examples: 3, epochs: 3, value: 0) == [2, 4, 4])
        #expect(TrainingDynamics.firstStableEpoch(matrix, examples: 3, epochs: 3, value: 1) == [4, 1, 3])
    }

    @Test func rejectsRecordsOutsideTheRun() {
        let d = TrainingDynamics(exampleCount: 2, epochs: 1)
        let bad = [ExampleStats(index: 5, epoch: 0, step: 0, loss: 0, correct: true, margin: 0, probability: 1, el2n: 0)]
        #expect(throws: MetricsError.self) { try bad.withUnsafeBufferPointer { try d.consume($0) } }
    }
}

struct VarianceOfGradientsTests {
    @Test func perPixelStdAveragedOverPixels() {
        // 2 examples x 2 pixels, 3 checkpoints.
        let v = VarianceOfGradients(exampleCount: 2, pixels: 2)
        v.add([1, 0, 5, 5])
        v.add([2, 0, 5, 5])
        v.add([3, 0, 5, 5])
        // example 0: pixel stds sqrt(2/3) and 0 -> mean sqrt(2/3)/2; example 1: constant -> 0
        #expect(abs(v.scores[0] - (2.0 / 3).squareRoot() / 2) < 1e-6)
        #expect(v.scores[1] == 0)
        let z = v.classNormalized(labels: [0, 0])
        #expect(abs(z[0] - 1) < 1e-6 && abs(z[1] + 1) < 1e-6)
    }
}

struct AUMThresholdTests {
    @Test func percentileMatchesNumPy() {
        // numpy.percentile([1, 2, 3, 4], 99) = 3.97; [5] -> 5
        #expect(abs(AUMThreshold.percentile([4, 1, 3, 2], 99) - 3.97) < 1e-12)
        #expect(AUMThreshold.percentile([5], 50) == 5)
    }

    @Test func flaggedOnlyWhenFlaggedInEveryRunWhereNotAThresholdExample() {
        // 6 examples; run 0 uses {0, 1} as threshold examples, run 1 uses {2, 3}.
        let run0: [Double] = [-1, 0, -2, 5, -3, 2]     // threshold = pct99 of {-1, 0} = -0.01
        let run1: [Double] = [-4, 1, -1, -2, -5, -6]   // threshold = pct99 of {-1, -2} = -1.01
        let (flags, t) = AUMThreshold.flag(aum: [run0, run1], thresholdSets: [[0, 1], [2, 3]])
        #expect(abs(t[0] + 0.01) < 1e-12 && abs(t[1] + 1.01) < 1e-12)
        // 0: only run 1 counts (-4 <= -1.01) -> flagged; 1: run 1: 1 > -1.01 -> no
        // 2: run 0: -2 <= -0.01 -> flagged; 3: run 0: 5 -> no
        // 4: both runs: -3, -5 -> flagged; 5: run 0: 2 -> no
        #expect(flags == [true, false, true, false, true, false])
    }
}
