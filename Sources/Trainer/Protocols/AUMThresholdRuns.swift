import Metrics

/// AUM's threshold-example procedure (Pleiss et al. 2020): in each of two runs a
/// disjoint, seeded set of N/(K+1) examples is relabelled to a fake class K (0-based);
/// an example is flagged when its AUM is at or below the 99th percentile of the fake
/// class's AUM in every run in which it kept its label. Unit = one threshold run.
public struct AUMThresholdRuns: ExperimentProtocol {
    public var setup: ExperimentSetup
    public var epochs: Int
    public var seed: UInt64
    /// First epoch (1-based) whose margins enter AUM.
    public var aumFromEpoch: Int
    /// Per run, the examples moved to the fake class.
    public let thresholdSets: [[Int]]

    public init(setup: ExperimentSetup, epochs: Int, seed: UInt64, aumFromEpoch: Int, runs: Int = 2) throws {
        let n = setup.data.count, classes = setup.data.classes
        let size = n / (classes + 1)
        guard size >= 1 else { throw TrainerError.invalid("--aum-threshold needs at least \(classes + 1) training examples") }
        guard runs >= 1 && runs * size <= n else { throw TrainerError.invalid("\(runs) threshold runs need \(runs * size) examples") }
        guard epochs >= 1 && aumFromEpoch >= 1 && aumFromEpoch <= epochs else {
            throw TrainerError.invalid("--aum-from \(aumFromEpoch) must lie in 1...\(epochs) (the epochs of the run)")
        }
        self.setup = setup; self.epochs = epochs; self.seed = seed; self.aumFromEpoch = aumFromEpoch
        var rng = SeededRandom(seed: seed, purpose: "aum-threshold")
        let order = rng.permutation(n).map(Int.init)
        thresholdSets = (0..<runs).map { Array(order[($0 * size)..<(($0 + 1) * size)]) }
    }

    public var units: [Int] { Array(thresholdSets.indices) }

    public var plan: WorkPlan {
        var p = WorkPlan()
        p.add(.training(epoch: 0), units.count * epochs * setup.data.count)
        p.add(.evaluation, units.count * setup.testExamplesPerTraining)
        return p
    }

    /// Every example's AUM in threshold run `r`.
    public func run(_ r: Int, progress: ProtocolProgress) throws -> [Double] {
        let classes = setup.data.classes
        var labels = setup.data.labels
        for i in thresholdSets[r] { labels[i] = Int32(classes) }
        let session = try setup.session(epochs: epochs, seed: seed, labels: labels, extraClasses: 1)
        let dynamics = TrainingDynamics(exampleCount: setup.data.count, epochs: epochs, aumFirstEpoch: aumFromEpoch - 1)
        try setup.train(session, unit: "threshold run \(r + 1)/\(thresholdSets.count)", progress: progress, sinks: [dynamics])
        return dynamics.aum
    }

    public func combine(_ aum: [[Double]]) throws -> Output {
        guard aum.count == thresholdSets.count else { throw TrainerError.invalid("one AUM list per threshold run is needed") }
        let (flags, thresholds) = AUMThreshold.flag(aum: aum, thresholdSets: thresholdSets)
        return Output(flags: flags, thresholds: thresholds)
    }

    public struct Output: Sendable {
        /// `[N]`: flagged as mislabeled.
        public var flags: [Bool]
        /// Each run's AUM threshold.
        public var thresholds: [Double]

        public var score: Score {
            Score(.aumFlagged, values: flags.map { $0 ? 1 : 0 },
                  note: "1 = AUM at or below the 99th percentile of fake-class threshold examples in every run where it was not one "
                      + "(\(thresholds.count) runs, thresholds \(thresholds.map { "\($0)" }.joined(separator: ", ")))")
        }
    }
}
