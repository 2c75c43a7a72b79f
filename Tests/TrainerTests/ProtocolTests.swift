import Testing
import Kernels
import Storage
import Metrics
@testable import Trainer

/// The experiment protocols as a library: units are independent (any order gives the
/// same combined result), combine is pure, and each protocol's rules hold.
struct ProtocolTests {
    static func setup(count: Int = 64, noise: LabelNoise? = nil, architecture: Architecture = .cnn) -> ExperimentSetup {
        let split = DataSplit(train: bandDataset(count: count, seed: 11), test: bandDataset(count: 32, seed: 12))
        var config = TrainingConfiguration.defaults(for: architecture, input: FeatureShape(1, 8, 8))
        config.width = 2
        config.batchSize = 16
        config.schedule.peak = 0.05
        return ExperimentSetup(data: TrainingData(split: split, noise: noise, noiseSeed: 3), device: CPUDevice(),
                               configuration: config)
    }

    /// Runs the units in reverse order, then combines them in ``units`` order.
    static func runReversed<P: ExperimentProtocol>(_ p: P) throws -> P.Output {
        var results: [P.UnitResult?] = Array(repeating: nil, count: p.units.count)
        for (i, u) in p.units.enumerated().reversed() { results[i] = try p.run(u, progress: .silent) }
        return try p.combine(results.map { $0! })
    }

    @Test func checkpointEnsembleIsAMeanOverIndependentSeeds() throws {
        let s = Self.setup()
        let ensemble = try CheckpointEnsemble(setup: s, seeds: [4, 5, 6], atEpoch: 1, gradNorms: true)
        #expect(ensemble.units.map(\.seed) == [4, 5, 6])
        let whole = try ensemble.run()
        let reversed = try Self.runReversed(ensemble)
        #expect(whole.grand == reversed.grand && whole.el2n == reversed.el2n)
        // The combined score is the per-example mean of the per-seed runs.
        let perSeed = try ensemble.units.map { try ensemble.run($0, progress: .silent) }
        for i in [0, 17, 63] {
            let mean = perSeed.map { $0.gradNorm![i] }.reduce(0, +) / 3
            #expect(abs(whole.grand![i] - mean) <= 1e-12 * max(1, mean))
        }
        #expect(whole.grandScores.map(\.name) == ["grand", "grand_std", "el2n", "input_norm"])
        #expect(whole.grand!.allSatisfy { $0.isFinite && $0 > 0 })
        // One seed: no std column; EL2N alone has no gradient norms.
        let single = try CheckpointEnsemble(setup: s, seeds: [4], atEpoch: 0, gradNorms: false).run()
        #expect(single.grand == nil && single.el2nScores.map(\.name) == ["el2n", "loss", "margin"])
        #expect(throws: TrainerError.self) { try CheckpointEnsemble(setup: s, seeds: [], atEpoch: 0, gradNorms: true) }
    }

    /// Shards of a checkpoint ensemble: up to one shard per seed, whole seeds; beyond,
    /// batch-aligned ranges that tile every seed once, balanced to one batch, and whose
    /// scores joined in order equal the whole pass bit for bit.
    @Test func shardPiecesTileEverySeedAndJoinToTheWholePass() throws {
        let s = Self.setup(count: 70)   // 5 batches of 16, the last of 6
        let ensemble = try CheckpointEnsemble(setup: s, seeds: [4, 5, 6], atEpoch: 1, gradNorms: true)
        #expect(try ensemble.pieces(shard: 1, of: 2).map(\.seed) == [5])
        #expect(try ensemble.pieces(shard: 0, of: 2).map(\.seed) == [4, 6])
        for count in [4, 7, 15] {
            let shards = try (0..<count).map { try ensemble.pieces(shard: $0, of: count) }
            var covered: [UInt64: [Range<Int>]] = [:]
            for pieces in shards {
                for p in pieces {
                    #expect(p.examples.lowerBound % 16 == 0 && (p.examples.upperBound % 16 == 0 || p.examples.upperBound == 70), "\(p)")
                    covered[p.seed, default: []].append(p.examples)
                    #expect(CheckpointEnsemble.Unit(name: p.name(total: 70), total: 70) == p)
                }
                let batches = pieces.map { ($0.examples.count + 15) / 16 }.reduce(0, +)
                #expect(batches >= 15 / count && batches <= 15 / count + 1, "shard of \(count): \(pieces)")
            }
            for seed in [UInt64(4), 5, 6] {
                let ranges = covered[seed]!.sorted { $0.lowerBound < $1.lowerBound }
                #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == 70)
                #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound }, "\(ranges)")
            }
        }
        #expect(throws: TrainerError.self) { try ensemble.pieces(shard: 0, of: 16) }
        #expect(CheckpointEnsemble.Unit(name: "5.16-80", total: 70) == nil && CheckpointEnsemble.Unit(name: "x", total: 70) == nil)
        #expect(CheckpointEnsemble.Unit(name: "5", total: 70) == CheckpointEnsemble.Unit(seed: 5, examples: 0..<70))

        let whole = try ensemble.run(5, progress: .silent)
        let joined = CheckpointScores(concatenating: try [0..<32, 32..<64, 64..<70].map {
            try ensemble.run(5, examples: $0, progress: .silent)
        })
        #expect(joined.gradNorm == whole.gradNorm && joined.el2n == whole.el2n && joined.loss == whole.loss)
        #expect(joined.margin == whole.margin && joined.correct == whole.correct && joined.inputNorm == whole.inputNorm)
    }

    /// Training checkpoints kept in memory, every save recorded.
    final class RecordingCheckpoints: TrainingStateStore {
        var saved: [[String: UnitArray]] = []
        var current: [String: [String: UnitArray]] = [:]
        func load(_ name: String) throws -> [String: UnitArray]? { current[name] }
        func save(_ name: String, _ arrays: [(String, UnitArray)]) throws {
            let state = Dictionary(uniqueKeysWithValues: arrays)
            saved.append(state)
            current[name] = state
        }
        func discard(_ name: String) { current[name] = nil }
    }

    /// `saveStateEvery`: states taken inside an epoch (and at its end) each resume to
    /// bit for bit the scores of the uninterrupted unit.
    @Test func everyStepCheckpointResumesBitForBit() throws {
        let s = Self.setup(count: 70)   // 5 steps per epoch
        let plain = try CheckpointEnsemble(setup: s, seeds: [5], atEpoch: 2, gradNorms: true)
        let whole = try plain.run(5, progress: .silent)
        var recording = plain
        let store = RecordingCheckpoints()
        recording.trainingStates = store
        recording.saveStateEvery = 3
        let recorded = try recording.run(5, progress: .silent)
        #expect(recorded.gradNorm == whole.gradNorm)
        func number(_ state: [String: UnitArray], _ name: String) -> Double? {
            if case .float64(let v)? = state[name] { return v.first }
            return nil
        }
        // Steps 3 (epoch 1, batch 3), 5 (end of epoch 1), 6 (epoch 2, batch 1), 9 (epoch 2, batch 4), 10 (end).
        #expect(store.saved.map { number($0, "step") } == [3, 5, 6, 9, 10])
        #expect(store.saved.map { number($0, "batches_done") } == [3, nil, 1, 4, nil])
        for state in store.saved {
            var resumed = plain
            let one = RecordingCheckpoints()
            one.current["5.training"] = state
            resumed.trainingStates = one
            let r = try resumed.run(5, progress: .silent)
            #expect(r.gradNorm == whole.gradNorm && r.el2n == whole.el2n && r.loss == whole.loss, "from step \(number(state, "step") ?? -1)")
        }
    }

    /// A checkpoint inside a longer schedule: the first E epochs of a T-epoch run, with
    /// the learning rate of that run (not one decayed to zero at epoch E).
    @Test func checkpointInsideALongerSchedule() throws {
        let s = Self.setup()
        let short = try CheckpointEnsemble(setup: s, seeds: [1], atEpoch: 1, gradNorms: false)
        let long = try CheckpointEnsemble(setup: s, seeds: [1], atEpoch: 1, gradNorms: false, scheduleEpochs: 10)
        #expect(try short.run().el2n != long.run().el2n)
        // The first epoch of a 10-epoch session is what the long checkpoint saw.
        let session = try s.session(epochs: 10, seed: 1)
        let summaries = try s.train(session, unit: "", progress: .silent, stoppingAfter: 1)
        #expect(summaries.count == 1 && summaries[0].learningRate > 0.9 * s.configuration.schedule.peak)
        #expect(try session.scoreTrainingSet(gradNorms: false).el2n == (try long.run().el2n))
        #expect(throws: TrainerError.self) { try CheckpointEnsemble(setup: s, seeds: [1], atEpoch: 3, gradNorms: false, scheduleEpochs: 2) }
    }

    @Test func secondSplitForgettingCoversEveryExampleOnce() throws {
        let s = Self.setup(count: 48)
        let p = try SecondSplitForgetting(setup: s, epochs: 2, seeds: [1])
        #expect(p.units.count == 2)
        let halves = p.halves(seed: 1)
        #expect(Set(halves[0]).isDisjoint(with: halves[1]) && halves[0].count + halves[1].count == 48)
        let out = try p.run()
        #expect(out.ssft.allSatisfy { $0 >= 1 && $0 <= 3 } && out.fslt.allSatisfy { $0 >= 1 && $0 <= 3 })
        let reversed = try Self.runReversed(p)
        #expect(out.ssft == reversed.ssft && out.fslt == reversed.fslt)
        // combine is pure: hand-made unit results land at their indices.
        let fake = p.units.map { u in
            SecondSplitForgetting.UnitResult(indices: halves[u.firstHalf], fslt: halves[u.firstHalf].map { _ in Double(u.firstHalf + 1) },
                                             ssft: halves[u.firstHalf].map { _ in 3 })
        }
        let combined = try p.combine(fake)
        for i in halves[1] { #expect(combined.fslt[Int(i)] == 2) }
        #expect(throws: TrainerError.self) { try p.combine(Array(fake.prefix(1))) }
    }

    @Test func aumThresholdRunsUseDisjointFakeClassSets() throws {
        let s = Self.setup(count: 60)
        let p = try AUMThresholdRuns(setup: s, epochs: 2, seed: 0, aumFromEpoch: 1)
        #expect(p.thresholdSets.count == 2 && p.thresholdSets.allSatisfy { $0.count == 60 / 5 })
        #expect(Set(p.thresholdSets[0]).isDisjoint(with: p.thresholdSets[1]))
        // combine: an example whose AUM is below both runs' thresholds is flagged.
        var a = [Double](repeating: 5, count: 60), b = a
        for i in p.thresholdSets[0] { a[i] = 0 }
        for i in p.thresholdSets[1] { b[i] = 0 }
        let free = (0..<60).first { !p.thresholdSets[0].contains($0) && !p.thresholdSets[1].contains($0) }!
        a[free] = -1; b[free] = -1
        let out = try p.combine([a, b])
        #expect(out.flags[free] && out.flags.filter { $0 }.count == 1 && out.thresholds == [0, 0])
        #expect(try p.run(0, progress: .silent).count == 60)
    }

    @Test func pruneCurveTrainsSubsetsForTheSameNumberOfSteps() throws {
        let s = Self.setup(count: 64)
        let score = (0..<64).map { Double($0) }
        let p = try PruneCurve(setup: s, scores: [("index", score, .higherIsSuspicious)], selections: [.keepHardest(0.5, window: 0)],
                               seeds: 1, epochs: 2)
        #expect(p.units.count == 2)                                 // the score and the random baseline
        #expect(try p.kept(p.units[0]) == Array(32..<64))          // the hardest (highest) kept
        let out = try p.run()
        let rows = out.csv.split(separator: "\n")
        #expect(rows.count == 3 && rows[1].hasPrefix("0.5,32,index keep-hardest 0.5,0,4,"))   // 2 epochs of 4 steps = 4 epochs of 2
        #expect(out.points.map(\.selection) == ["index keep-hardest 0.5", "random"])
        // Dropping the suspicious end of a lower-is-suspicious score keeps its highest values.
        let clean = try PruneCurve(setup: s, scores: [("index", score, .lowerIsSuspicious)], selections: [.dropSuspicious(0.25)],
                                   seeds: 1, epochs: 1)
        #expect(try clean.kept(clean.units[0]) == Array(16..<64))
        #expect(throws: TrainerError.self) {
            try PruneCurve(setup: s, scores: [("short", [1, 2], .higherIsSuspicious)], selections: [.dropSuspicious(0.5)],
                           seeds: 1, epochs: 1)
        }
    }

    /// Selections of several kinds in one curve: each kept fraction's random baseline is
    /// trained once, a keep-random selection is the baseline alone, coverage samples by the
    /// unit's seed, and a cut that leaves too few examples is refused before any training.
    @Test func pruneCurveSharesEachFractionsBaseline() throws {
        let s = Self.setup(count: 64)
        let score = (0..<64).map { Double($0 / 8) }   // 8 values, 8 examples each
        let p = try PruneCurve(setup: s, scores: [("index", score, .higherIsSuspicious)],
                               selections: [.keepHardest(0.5, window: 0), .coverage(0.5, hardCut: 0.25, perClass: false), .coverage(0.25, hardCut: 0),
                                            .keepRandom(0.75, seed: 0)], seeds: 2, epochs: 1)
        let names = p.units.map(p.unitName)
        #expect(names == ["0.score0.seed0", "0.score0.seed1", "0.random.seed0", "0.random.seed1",
                          "1.score0.seed0", "1.score0.seed1",
                          "2.score0.seed0", "2.score0.seed1", "2.random.seed0", "2.random.seed1",
                          "3.random.seed0", "3.random.seed1"], "\(names)")
        let covered = try p.kept(p.units[4])
        #expect(covered.count == 32 && covered.allSatisfy { $0 < 48 })   // the 16 hardest (values 6, 7) cut
        #expect(try p.kept(p.units[5]) != covered)                       // another seed, another sample
        #expect(try p.kept(p.units[10]).count == 48)
        #expect(throws: MetricsError.self) {
            try PruneCurve(setup: s, scores: [("index", score, .higherIsSuspicious)], selections: [.coverage(0.9, hardCut: 0.2)],
                           seeds: 1, epochs: 1)
        }
    }

    @Test func dynamicsRunNamesEveryScoreAndStreams() throws {
        let s = Self.setup(count: 40)
        let sink = ExampleStatsCollector()
        let out = try DynamicsRun(setup: s, epochs: 2, seed: 0, aumFromEpoch: 1, vog: true, sinks: [sink]).run()
        #expect(sink.records.count == 80)
        #expect(out.scores.map(\.name) == ["forgetting", "never_learned", "first_learned_epoch", "aum", "confidence", "variability", "correctness",
                                           "dyn_unc", "unforgettable", "vog", "vog_class_normalized", "el2n_final"])
        #expect(out.correctness.count == 80 && out.testAccuracy != nil)
        #expect(throws: TrainerError.self) { try DynamicsRun(setup: s, epochs: 1, seed: 0, aumFromEpoch: 2) }
    }

    @Test func perModelDefaultsLearnWithNoOptions() throws {
        // With only the architecture chosen, every model learns the band data in 3 epochs (4 classes:
        // chance is 0.25; the models reach 0.89-1.0, and the bound keeps a margin below that so a
        // change of float rounding in a kernel, which moves a 3-epoch training a little, does not flip it).
        let split = DataSplit(train: bandDataset(count: 256, size: 16, seed: 11), test: bandDataset(count: 64, size: 16, seed: 12))
        // (resnet18-imagenet needs 32 px and more; CLITests.resizedImagesTrainTheImageNetStem trains it on 64 px)
        for arch in Architecture.allCases where arch.minimumInputSize <= 16 {
            var s = ExperimentSetup(data: TrainingData(split: split), device: CPUDevice(), configuration: TrainingConfiguration())
            s.configuration = TrainingConfiguration.defaults(for: arch, input: FeatureShape(1, 16, 16))
            s.configuration.width = 4
            s.configuration.batchSize = 32
            let session = try s.session(epochs: 3, seed: 0)
            let summaries = try s.train(session, unit: "", progress: .silent)
            #expect(summaries.last!.testAccuracy! > 0.85, "\(arch): \(summaries.map { $0.testAccuracy ?? -1 }) \(s.configuration.augmentation)")
        }
    }

    @Test func configurationRejectsNonFiniteAndOutOfRangeValues() {
        var c = TrainingConfiguration()
        for change in [{ (c: inout TrainingConfiguration) in c.schedule.peak = .infinity },
                       { $0.schedule.peak = .nan }, { $0.schedule.peak = 0 }, { $0.momentum = .nan }, { $0.momentum = 1 },
                       { $0.weightDecay = .nan }, { $0.weightDecay = -1 }, { $0.batchSize = 1 },
                       { $0.schedule.kind = .step(milestones: [1], factor: .nan) }] {
            c = TrainingConfiguration()
            change(&c)
            #expect(throws: TrainerError.self) { try c.validate() }
        }
        #expect(throws: TrainerError.self) {
            try Model(.cnn, input: FeatureShape(1, 5, 5), classes: 10, device: CPUDevice(), maxBatch: 4)
        }
    }
}
