import Metrics

/// The two-split protocol of second-split forgetting time (Maini et al. 2022). Each
/// repetition splits the training set into two seeded halves; each half A in turn is
/// the first split: train on A for `epochs` epochs, recording A's correctness after
/// every epoch (first-split learning time, FSLT), then continue the same network on
/// the other half with a fresh optimiser and schedule for `epochs` epochs, recording
/// A's correctness after every epoch (SSFT: the first epoch from which A's example
/// stays misclassified; `epochs + 1` = never forgotten). Correctness is taken in
/// evaluation mode (running batch-norm statistics, no augmentation).
/// Unit = one (repetition seed, first half) pair.
public struct SecondSplitForgetting: ExperimentProtocol {
    public var setup: ExperimentSetup
    /// Epochs of each split.
    public var epochs: Int
    /// One seed per repetition (split, initialisation and order all change).
    public var seeds: [UInt64]

    public init(setup: ExperimentSetup, epochs: Int, seeds: [UInt64]) throws {
        guard epochs >= 1 else { throw TrainerError.invalid("--epochs must be at least 1") }
        guard !seeds.isEmpty else { throw TrainerError.invalid("--seeds must be at least 1") }
        guard setup.data.count >= 4 else { throw TrainerError.invalid("the two-split protocol needs at least 4 training examples") }
        self.setup = setup; self.epochs = epochs; self.seeds = seeds
    }

    public struct Unit: Sendable, Hashable {
        public var seed: UInt64
        /// 0: the first half is A, 1: the second half is.
        public var firstHalf: Int
    }

    public var units: [Unit] { seeds.flatMap { s in [Unit(seed: s, firstHalf: 0), Unit(seed: s, firstHalf: 1)] } }

    /// Per unit: each half trained `epochs` epochs, the first half recorded after each
    /// epoch of both splits (per seed: both halves, twice), one test evaluation.
    public var plan: WorkPlan {
        let n = setup.data.count
        var p = WorkPlan()
        p.add(.training(epoch: 0), units.count * epochs * n)
        p.add(.recording, seeds.count * 2 * epochs * n)
        p.add(.evaluation, units.count * setup.testExamplesPerTraining)
        return p
    }

    /// The two seeded halves of the training set for repetition `seed`, each sorted.
    public func halves(seed: UInt64) -> [[Int32]] {
        let n = setup.data.count
        var rng = SeededRandom(seed: seed, purpose: "ssft-split")
        let order = rng.permutation(n)
        return [Array(order[0..<(n / 2)]).sorted(), Array(order[(n / 2)...]).sorted()]
    }

    /// FSLT and SSFT of the examples of the unit's first split.
    public struct UnitResult: Sendable {
        public var indices: [Int32]
        public var fslt: [Double]
        public var ssft: [Double]
    }

    public func run(_ unit: Unit, progress: ProtocolProgress) throws -> UnitResult {
        let split = halves(seed: unit.seed)
        let a = split[unit.firstHalf], b = split[1 - unit.firstHalf]
        let session = try setup.session(epochs: epochs, seed: unit.seed &* 2 &+ UInt64(unit.firstHalf), indices: a)
        let name = "seed \(unit.seed) split \(unit.firstHalf == 0 ? "A" : "B")"
        progress.reportSteps(of: session, as: name + " first")
        var first = [UInt8](), second = [UInt8]()
        for e in 0..<epochs {
            let s = try session.trainEpoch(e, sinks: [])
            first += try session.correctness(of: a).map { $0 ? 1 : 0 }
            progress.epoch?(name + " first", s, epochs)
        }
        session.resetOptimizer()
        try session.setTrainingIndices(b)
        progress.reportSteps(of: session, as: name + " second", epochOffset: epochs)
        for e in 0..<epochs {
            let s = try session.trainEpoch(epochs + e, sinks: [])
            second += try session.correctness(of: a).map { $0 ? 1 : 0 }
            var shown = s
            shown.epoch = e
            progress.epoch?(name + " second", shown, epochs)
        }
        return UnitResult(indices: a,
                          fslt: TrainingDynamics.firstStableEpoch(first, examples: a.count, epochs: epochs, value: 1),
                          ssft: TrainingDynamics.firstStableEpoch(second, examples: a.count, epochs: epochs, value: 0))
    }

    public func combine(_ results: [UnitResult]) throws -> Output {
        guard results.count == units.count else { throw TrainerError.invalid("one result per (seed, half) unit is needed") }
        let n = setup.data.count
        var fsltRuns: [[Double]] = [], ssftRuns: [[Double]] = []
        for pair in stride(from: 0, to: results.count, by: 2) {
            var fslt = [Double](repeating: .nan, count: n), ssft = [Double](repeating: .nan, count: n)
            for r in results[pair..<(pair + 2)] {
                for (j, i) in r.indices.enumerated() { fslt[Int(i)] = r.fslt[j]; ssft[Int(i)] = r.ssft[j] }
            }
            fsltRuns.append(fslt)
            ssftRuns.append(ssft)
        }
        return Output(epochs: epochs, seeds: seeds.count, ssft: Summary.meanAndStd(ssftRuns).mean,
                      fslt: Summary.meanAndStd(fsltRuns).mean)
    }

    public struct Output: Sendable {
        public var epochs: Int
        public var seeds: Int
        public var ssft: [Double]
        public var fslt: [Double]

        public var scores: [Score] {
            [Score(.ssft, values: ssft, note: "second-split forgetting time, mean over \(seeds) seeds; \(epochs + 1) = never forgotten"),
             Score(.fslt, values: fslt, note: "first-split learning time, mean over \(seeds) seeds; \(epochs + 1) = never learned")]
        }
    }
}
