import Metrics

/// Score -> prune -> retrain -> test accuracy (Data Diet, Paul et al. 2021): for each
/// pruned fraction, each score and a random baseline, train from scratch on the kept
/// examples and measure test accuracy. Subsets train for the same number of optimiser
/// steps as the full data set (not the same number of epochs). Examples never learned
/// (`never_learned`, or `+inf` scores) are always kept by `keep-hardest` selections.
/// Unit = one (fraction, selection, seed) training.
public struct PruneCurve: ExperimentProtocol {
    public var setup: ExperimentSetup
    /// Score columns by name with their direction, each `[N]` over the training set.
    public var scores: [(name: String, values: [Double], direction: ScoreDirection)]
    /// The points of the curve: what each score keeps (the random baseline keeps the
    /// same fraction).
    public var selections: [PruneSelection]
    /// Seeds per point (`0..<seeds`).
    public var seeds: Int
    /// Epochs of a full-data training.
    public var epochs: Int
    /// Never-learned flags of a dynamics run (`[N]`): a `forgetting` score's keep-hardest
    /// selections always keep those examples (they rank as infinitely forgettable, the
    /// reference's rule; ``Pruning/select(scores:direction:_:neverLearned:)``).
    public var neverLearned: [Bool]?

    public init(setup: ExperimentSetup, scores: [(name: String, values: [Double], direction: ScoreDirection)],
                selections: [PruneSelection], seeds: Int, epochs: Int) throws {
        guard !scores.isEmpty else { throw TrainerError.invalid("--score must name at least one score column") }
        for s in scores where s.values.count != setup.data.count {
            throw TrainerError.invalid("score \(s.name) has \(s.values.count) values but --data/--limit give \(setup.data.count) examples")
        }
        guard !selections.isEmpty, selections.allSatisfy({ $0.keptFraction > 0 && $0.keptFraction < 1 }) else {
            throw TrainerError.invalid("each point of a prune curve must keep a fraction in (0, 1)")
        }
        guard seeds >= 1 else { throw TrainerError.invalid("--seeds must be at least 1") }
        guard epochs >= 1 else { throw TrainerError.invalid("--epochs must be at least 1") }
        self.setup = setup; self.scores = scores; self.selections = selections
        self.seeds = seeds; self.epochs = epochs
        // A selection that cannot be made (a coverage cut leaving too few examples, a NaN
        // score) fails now, not after the trainings before it.
        for u in units where u.seed == 0 { _ = try kept(u) }
    }

    public struct Unit: Sendable, Hashable {
        /// Index into ``selections``.
        public var selection: Int
        /// Index into ``scores``, or nil for the random baseline.
        public var score: Int?
        public var seed: Int
    }

    /// Each selection's scores, then the random baseline of its kept fraction, seeds
    /// innermost. A `keep-random` selection is the baseline alone, and a kept fraction's
    /// baseline is trained once however many selections keep it (at its first).
    public var units: [Unit] {
        selections.indices.flatMap { p in
            let isRandom = if case .keepRandom = selections[p] { true } else { false }
            let baseline = !selections[..<p].contains { $0.keptFraction == selections[p].keptFraction }
            let columns = (isRandom ? [] : Array(scores.indices).map(Optional.some)) + (baseline ? [nil] : [])
            return columns.flatMap { s in (0..<seeds).map { Unit(selection: p, score: s, seed: $0) } }
        }
    }

    /// The selection's label: `NAME SELECTION` or `random`.
    public func label(_ unit: Unit) -> String {
        unit.score.map { "\(scores[$0].name) \(selections[unit.selection].description)" } ?? "random"
    }

    /// The examples a unit keeps (ascending).
    public func kept(_ unit: Unit) throws -> [Int] {
        let selection = selections[unit.selection]
        guard let s = unit.score else {
            return try Pruning.select(scores: scores[0].values, direction: scores[0].direction,
                                      .keepRandom(selection.keptFraction, seed: UInt64(unit.seed)))
        }
        return try Pruning.select(scores: scores[s].values, direction: scores[s].direction, selection,
                                  neverLearned: scores[s].name == "forgetting" ? neverLearned : nil,
                                  labels: setup.data.labels.map { Int($0) }, seed: UInt64(unit.seed))
    }

    public struct UnitResult: Sendable {
        public var kept: Int
        public var epochs: Int
        public var testAccuracy: Double
    }

    public func run(_ unit: Unit, progress: ProtocolProgress) throws -> UnitResult {
        let kept = try self.kept(unit)
        let subsetEpochs = setup.epochs(matchingStepsOf: epochs, subset: kept.count)
        let session = try setup.session(epochs: subsetEpochs, seed: UInt64(unit.seed), indices: kept.map { Int32($0) })
        let label = "kept \(kept.count) by \(self.label(unit)), seed \(unit.seed)"
        let summaries = try setup.train(session, unit: label, progress: progress)
        guard let accuracy = summaries.last?.testAccuracy else { throw TrainerError.invalid("no test accuracy after training") }
        progress.note?("\(label): test accuracy \(accuracy) after \(subsetEpochs) epochs")
        return UnitResult(kept: kept.count, epochs: subsetEpochs, testAccuracy: accuracy)
    }

    public func combine(_ results: [UnitResult]) throws -> Output {
        let units = self.units
        guard results.count == units.count else { throw TrainerError.invalid("one result per prune-curve unit is needed") }
        var csv = "kept_fraction,kept,selection,seed,epochs,test_accuracy\n"
        var points: [Output.Point] = []
        for (u, r) in zip(units, results) {
            let fraction = selections[u.selection].keptFraction
            csv += "\(fraction),\(r.kept),\(label(u)),\(u.seed),\(r.epochs),\(r.testAccuracy)\n"
            if let last = points.last, last.keptFraction == fraction, last.selection == label(u) {
                points[points.count - 1].accuracies.append(r.testAccuracy)
            } else {
                points.append(Output.Point(keptFraction: fraction, selection: label(u), accuracies: [r.testAccuracy]))
            }
        }
        return Output(csv: csv, points: points)
    }

    public struct Output: Sendable {
        /// `prune_curve.csv`: one row per unit.
        public var csv: String
        /// One point per (selection, score or random), over the seeds.
        public var points: [Point]

        public struct Point: Sendable {
            public var keptFraction: Double
            public var selection: String
            public var accuracies: [Double]
            public var mean: Double { Summary.meanAndStd(accuracies).mean }
            /// Population standard deviation over seeds.
            public var std: Double { Summary.meanAndStd(accuracies).std }
        }
    }
}
