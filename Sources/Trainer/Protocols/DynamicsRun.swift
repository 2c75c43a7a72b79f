import Metrics
import Storage

/// Training-dynamics scores from one training run: forgetting events (Toneva et al.
/// 2019), first-learned epoch, AUM (Pleiss et al. 2020), data-map cartography
/// (Swayamdipta et al. 2020), optionally VoG (Agarwal et al. 2022) from input gradients
/// at every end-of-epoch checkpoint, EL2N of the final model, and EL2N with GraNd at
/// chosen end-of-epoch checkpoints of the same run (a scoring pass, not a second
/// training). One unit: the training.
public struct DynamicsRun: ExperimentProtocol {
    public var setup: ExperimentSetup
    public var epochs: Int
    public var seed: UInt64
    /// First epoch (1-based) whose margins enter AUM.
    public var aumFromEpoch: Int
    /// Also compute VoG (one forward and backward over the training set per epoch).
    public var vog: Bool
    /// More consumers of the per-example stream (e.g. a writer of every record).
    public var sinks: [ExampleStatsSink]
    /// Epochs (1-based, ascending) after which a scoring pass takes EL2N and GraNd of the
    /// model as it is then (evaluation-mode batch norm, no augmentation).
    public var checkpoints: [Int]
    /// Epochs (1-based, ascending) after which every class's probability of every example
    /// is taken (evaluation mode, no augmentation) and averaged: the verdict's input.
    public var probabilityEpochs: [Int]
    /// Also take the final model's penultimate features of every example (evaluation mode,
    /// no augmentation): the audit's `embeddings.npy` and its kNN scores.
    public var embeddings = false
    /// Where the training keeps its state at the end of every epoch, the last included (model, the
    /// accumulators, the checkpoint scores taken, the epoch summaries), so a killed run
    /// continues from its last finished epoch; nil: none kept. Stream sinks must then
    /// continue their files themselves after ``epochsDone()`` epochs of records (see
    /// `ExampleStatsNPYWriter(resumablePath:keepingRecords:)`); they are flushed before each save.
    public var trainingState: TrainingStateStore?
    /// The state's name in ``trainingState``.
    public var stateName = "dynamics.training"
    /// Where every record of the per-example stream goes (`examples.npy`, see
    /// ``ExampleStatsNPYWriter``), continued after ``epochsDone()`` epochs when the
    /// training resumes; nil: not written.
    public var streamPath: String?

    public init(setup: ExperimentSetup, epochs: Int, seed: UInt64, aumFromEpoch: Int = 2, vog: Bool = false,
                checkpoints: [Int] = [], probabilityEpochs: [Int] = [], sinks: [ExampleStatsSink] = []) throws {
        guard epochs >= 1 else { throw TrainerError.invalid("--epochs must be at least 1") }
        guard aumFromEpoch >= 1 && aumFromEpoch <= epochs else {
            throw TrainerError.invalid("--aum-from \(aumFromEpoch) must lie in 1...\(epochs) (the epochs of the run)")
        }
        if vog && epochs < 2 {
            throw TrainerError.invalid("--vog needs at least 2 epochs: VoG is a variance across end-of-epoch checkpoints")
        }
        if let bad = (checkpoints + probabilityEpochs).first(where: { $0 < 1 || $0 > epochs }) {
            throw TrainerError.invalid("checkpoint epoch \(bad) must lie in 1...\(epochs) (the epochs of the run)")
        }
        self.setup = setup; self.epochs = epochs; self.seed = seed; self.aumFromEpoch = aumFromEpoch
        self.vog = vog; self.sinks = sinks
        self.checkpoints = Array(Set(checkpoints)).sorted()
        self.probabilityEpochs = Array(Set(probabilityEpochs)).sorted()
    }

    public var units: [UInt64] { [seed] }

    /// The training, VoG at every epoch, a GraNd pass per checkpoint, the final EL2N pass
    /// (shared with a checkpoint at the last epoch) and one test evaluation.
    public var plan: WorkPlan {
        let n = setup.data.count
        var p = WorkPlan()
        p.add(.training(epoch: 0), epochs * n)
        if vog { p.add(.inputGradients, epochs * n) }
        p.add(.scoring(gradNorms: true), checkpoints.count * n)
        p.add(.prediction, probabilityEpochs.count * n)
        if checkpoints.last != epochs { p.add(.scoring(gradNorms: false), n) }
        if embeddings { p.add(.prediction, n) }
        p.add(.evaluation, setup.testExamplesPerTraining)
        return p
    }

    /// The epochs the kept training state has done (0 when there is none).
    public func epochsDone() throws -> Int {
        guard let trainingState, let state = try trainingState.load(stateName) else { return 0 }
        return Int(try state.doubles("epochs_done", count: 1, in: stateName)[0])
    }

    public func run(_ seed: UInt64, progress: ProtocolProgress) throws -> Result {
        let data = setup.data, n = data.count
        let session = try setup.session(epochs: epochs, seed: seed)
        let dynamics = TrainingDynamics(exampleCount: n, epochs: epochs, aumFirstEpoch: aumFromEpoch - 1)
        let vogAccumulator = vog ? VarianceOfGradients(exampleCount: n, pixels: data.train.height * data.train.width) : nil
        var taken: [(epoch: Int, scores: CheckpointScores)] = []
        var probabilitySum: [Double] = []
        var done: [EpochSummary] = []
        var from = 0
        var sinks = self.sinks
        if let streamPath {
            let kept = try epochsDone()
            sinks.append(try ExampleStatsNPYWriter(resumablePath: streamPath, keepingRecords: kept > 0 ? kept * n : nil))
        }
        if let trainingState, let state = try trainingState.load(stateName) {
            from = try session.restore(state, from: stateName).epochsDone
            try dynamics.restore(state, prefix: "dynamics:", file: stateName)
            try vogAccumulator?.restore(state, prefix: "vog:", file: stateName)
            if probabilityEpochs.contains(where: { $0 <= from }) {
                probabilitySum = try state.doubles("probabilities_sum", count: n * data.classes, in: stateName)
            }
            taken = try checkpoints.filter { $0 <= from }.map { e in
                let prefix = "checkpoint\(e):"
                let arrays = Dictionary(uniqueKeysWithValues: state.filter { $0.key.hasPrefix(prefix) }.map { (String($0.key.dropFirst(prefix.count)), $0.value) })
                return (e, try CheckpointScores(unitArrays: arrays, examples: n, gradNorms: true, unit: stateName))
            }
            done = try EpochSummary.restore(state, count: from, file: stateName)
            progress.note?("seed \(seed): continuing after epoch \(from) from its checkpoint")
        }
        let restored = done
        let summaries = try restored + setup.train(session, unit: "seed \(seed)", progress: progress, sinks: [dynamics] + sinks, from: from,
                                                   earlier: restored, afterEpoch: { s in
            if let vogAccumulator {
                vogAccumulator.add(try session.labelLogitInputGradients())
            }
            if checkpoints.contains(s.epoch + 1) {
                taken.append((s.epoch + 1, try session.scoreTrainingSet(gradNorms: true)))
            }
            if probabilityEpochs.contains(s.epoch + 1) {
                // Every class's probability under this epoch's model (the verdict's input).
                let p = try session.probabilities(of: (0..<Int32(n)).map { $0 })
                if probabilitySum.isEmpty { probabilitySum = p } else { for k in p.indices { probabilitySum[k] += p[k] } }
            }
            done.append(s)
            if let trainingState {
                for sink in sinks { try sink.flush() }
                var arrays = try session.trainingState(epochsDone: s.epoch + 1) + dynamics.state(prefix: "dynamics:")
                    + (vogAccumulator?.state(prefix: "vog:") ?? []) + EpochSummary.state(done)
                    + (probabilitySum.isEmpty ? [] : [("probabilities_sum", .float64(probabilitySum))])
                for (e, scores) in taken { arrays += scores.unitArrays.map { ("checkpoint\(e):" + $0.0, $0.1) } }
                try trainingState.save(stateName, arrays)
            }
        })
        let final = try taken.last.flatMap { $0.epoch == epochs ? $0.scores : nil } ?? session.scoreTrainingSet(gradNorms: false)
        let features = embeddings ? try session.embeddings(of: (0..<Int32(n)).map { $0 }) : nil
        var vogScores: (raw: [Double], classNormalized: [Double], checkpoints: Int)?
        if let v = vogAccumulator, v.checkpoints >= 2 {
            vogScores = (v.scores, v.classNormalized(labels: data.labels), v.checkpoints)
        }
        return Result(epochs: epochs, aumFromEpoch: aumFromEpoch, forgetting: dynamics.forgetting, neverLearned: dynamics.neverLearned,
                      firstLearnedEpoch: dynamics.firstLearnedEpoch, aum: dynamics.aum, confidence: dynamics.confidence,
                      variability: dynamics.variability, correctFraction: dynamics.correctFraction,
                      dynamicUncertainty: dynamics.dynamicUncertainty, dynamicUncertaintyWindow: dynamics.dynamicUncertaintyWindow,
                      unforgettable: dynamics.unforgettable, correctness: dynamics.correctness,
                      vog: vogScores?.raw, vogClassNormalized: vogScores?.classNormalized,
                      vogCheckpoints: vogScores?.checkpoints ?? 0, el2nFinal: final.el2n, el2nByEpoch: dynamics.el2nByEpoch,
                      checkpointScores: taken, inputNorm: final.inputNorm, epochSummaries: summaries,
                      probabilities: probabilityEpochs.isEmpty ? nil : probabilitySum.map { $0 / Double(probabilityEpochs.count) },
                      embeddings: features, embeddingDimensions: features == nil ? 0 : session.model.featureCount)
    }

    public func combine(_ results: [Result]) throws -> Result {
        guard results.count == 1 else { throw TrainerError.invalid("a dynamics run has exactly one unit") }
        return results[0]
    }

    /// Every per-example value of the run.
    public struct Result: Sendable {
        public var epochs: Int
        public var aumFromEpoch: Int
        public var forgetting: [Double]
        /// Never classified correctly (their forgetting is `epochs + 1`).
        public var neverLearned: [Bool]
        public var firstLearnedEpoch: [Double], aum: [Double]
        public var confidence: [Double], variability: [Double], correctFraction: [Double]
        /// DynUnc over windows of `dynamicUncertaintyWindow` epochs.
        public var dynamicUncertainty: [Double]
        public var dynamicUncertaintyWindow: Int
        public var unforgettable: [Bool]
        /// `[epochs, N]` row-major: 1 where the example was classified correctly when
        /// presented in that epoch.
        public var correctness: [UInt8]
        public var vog: [Double]?, vogClassNormalized: [Double]?
        public var vogCheckpoints: Int
        public var el2nFinal: [Double]
        /// `[epochs, N]` row-major: each presentation's EL2N (training mode, augmented input).
        public var el2nByEpoch: [Float]
        /// The scoring passes at the checkpoints, ascending by epoch.
        public var checkpointScores: [(epoch: Int, scores: CheckpointScores)]
        /// `||x_i||` of the normalised input.
        public var inputNorm: [Double]
        public var epochSummaries: [EpochSummary]
        /// `[N, classes]` row-major: each class's probability, evaluation mode, averaged over
        /// the models after the probability epochs (nil without them): what the verdict reads.
        public var probabilities: [Double]?
        /// `[N, embeddingDimensions]` row-major: the final model's penultimate features (nil
        /// unless ``DynamicsRun/embeddings``).
        public var embeddings: [Float]?
        public var embeddingDimensions: Int

        public var testAccuracy: Double? { epochSummaries.last?.testAccuracy }

        /// The result as a unit's arrays (float64 holds every value exactly; the
        /// checkpoints' scores prefixed `checkpointE:`).
        public var unitArrays: [(String, UnitArray)] {
            func flags(_ b: [Bool]) -> UnitArray { .uint8(b.map { $0 ? 1 : 0 }) }
            var a: [(String, UnitArray)] = [
                ("epochs", .float64([Double(epochs)])), ("aum_from_epoch", .float64([Double(aumFromEpoch)])),
                ("forgetting", .float64(forgetting)), ("never_learned", flags(neverLearned)),
                ("first_learned_epoch", .float64(firstLearnedEpoch)), ("aum", .float64(aum)), ("confidence", .float64(confidence)),
                ("variability", .float64(variability)), ("correct_fraction", .float64(correctFraction)),
                ("dyn_unc", .float64(dynamicUncertainty)), ("dyn_unc_window", .float64([Double(dynamicUncertaintyWindow)])),
                ("unforgettable", flags(unforgettable)), ("correctness", .uint8(correctness)),
                ("vog_checkpoints", .float64([Double(vogCheckpoints)])), ("el2n_final", .float64(el2nFinal)),
                ("el2n_by_epoch", .float64(el2nByEpoch.map(Double.init))), ("input_norm", .float64(inputNorm)),
                ("checkpoint_epochs", .float64(checkpointScores.map { Double($0.epoch) }))]
            if let vog, let vogClassNormalized { a += [("vog", .float64(vog)), ("vog_class_normalized", .float64(vogClassNormalized))] }
            if let probabilities { a.append(("probabilities", .float64(probabilities))) }
            if let embeddings { a += [("embeddings", .float32(embeddings)), ("embedding_dimensions", .float64([Double(embeddingDimensions)]))] }
            for (e, scores) in checkpointScores { a += scores.unitArrays.map { ("checkpoint\(e):" + $0.0, $0.1) } }
            return a + EpochSummary.state(epochSummaries)
        }

        /// The scores of `sieve score dynamics`.
        public var scores: [Score] {
            var s = [
                Score(.forgetting, values: forgetting, note: "forgetting events over training presentations; \(epochs + 1) (epochs + 1) = never learned"),
                Score(.neverLearned, values: neverLearned.map { $0 ? 1 : 0 }, note: "1 = never classified correctly (forgetting = epochs + 1)"),
                Score(.firstLearnedEpoch, values: firstLearnedEpoch, note: "first epoch (1-based) from which the example is correct at every later presentation; epochs+1 = not learned"),
                Score(.aum, values: aum, note: "mean margin z_y - max_{k!=y} z_k over presentations from epoch \(aumFromEpoch)"),
                Score(.confidence, values: confidence, note: "cartography: mean p_y over presentations"),
                Score(.variability, values: variability, note: "cartography: population std of p_y over presentations (low with low confidence = hard to learn, often mislabeled)"),
                Score(.correctness, values: correctFraction, note: "cartography: fraction of presentations classified correctly"),
                Score(.dynamicUncertainty, values: dynamicUncertainty,
                      note: "DynUnc: mean over windows of \(dynamicUncertaintyWindow) consecutive epochs of the population std of p_y (high = uncertain, kept when pruning)"),
                Score(.unforgettable, values: unforgettable.map { $0 ? 1 : 0 }, note: "1 = learned and never forgotten"),
            ]
            if let vog, let vogClassNormalized {
                s.append(Score(.vog, values: vog, note: "VoG over \(vogCheckpoints) end-of-epoch checkpoints: mean over pixels of the std of d z_y / d x"))
                s.append(Score(.vogClassNormalized, values: vogClassNormalized, note: "VoG z-scored within each given class"))
            }
            s.append(Score(.el2nFinal, values: el2nFinal, note: "||softmax - onehot|| of the final model (eval mode, no augmentation)"))
            for (epoch, c) in checkpointScores {
                s.append(Score(.grand, afterEpoch: epoch, values: c.gradNorm ?? [],
                               note: "||grad_w loss_i|| after epoch \(epoch) of this run, BN in eval mode, no augmentation"))
                s.append(Score(.el2n, afterEpoch: epoch, values: c.el2n,
                               note: "||softmax - onehot|| after epoch \(epoch) of this run, eval mode, no augmentation"))
            }
            return s
        }
    }
}

extension DynamicsRun.Result {
    /// A result read back from ``unitArrays`` of a run over `n` examples; `file` names the unit in errors.
    public init(unitArrays a: [String: UnitArray], examples n: Int, file: String) throws {
        func doubles(_ name: String, _ count: Int? = n) throws -> [Double] { try a.doubles(name, count: count, in: file) }
        func flags(_ name: String) throws -> [Bool] { try a.bytes(name, count: n, in: file).map { $0 != 0 } }
        let epochs = Int(try a.number("epochs", in: file))
        guard epochs >= 1 && epochs <= 1 << 20 else { throw TrainerError.invalid("\(file): \(epochs) epochs is no dynamics run; remove it") }
        self.epochs = epochs
        aumFromEpoch = Int(try a.number("aum_from_epoch", in: file))
        forgetting = try doubles("forgetting"); neverLearned = try flags("never_learned")
        firstLearnedEpoch = try doubles("first_learned_epoch"); aum = try doubles("aum")
        confidence = try doubles("confidence"); variability = try doubles("variability")
        correctFraction = try doubles("correct_fraction"); unforgettable = try flags("unforgettable")
        dynamicUncertainty = try doubles("dyn_unc")
        dynamicUncertaintyWindow = Int(try a.number("dyn_unc_window", in: file))
        correctness = try a.bytes("correctness", count: epochs * n, in: file)
        vogCheckpoints = Int(try a.number("vog_checkpoints", in: file))
        vog = a["vog"] == nil ? nil : try doubles("vog")
        vogClassNormalized = a["vog_class_normalized"] == nil ? nil : try doubles("vog_class_normalized")
        el2nFinal = try doubles("el2n_final")
        el2nByEpoch = try doubles("el2n_by_epoch", epochs * n).map(Float.init)
        inputNorm = try doubles("input_norm")
        checkpointScores = try doubles("checkpoint_epochs", nil).map { e in
            let prefix = "checkpoint\(Int(e)):"
            let arrays = Dictionary(uniqueKeysWithValues: a.filter { $0.key.hasPrefix(prefix) }.map { (String($0.key.dropFirst(prefix.count)), $0.value) })
            return (Int(e), try CheckpointScores(unitArrays: arrays, examples: n, gradNorms: true, unit: file))
        }
        epochSummaries = try EpochSummary.restore(a, count: epochs, file: file)
        probabilities = a["probabilities"] == nil ? nil : try doubles("probabilities", nil)
        if a["embeddings"] != nil {
            let d = Int(try a.number("embedding_dimensions", in: file))
            guard d >= 1 && d <= 1 << 16 else { throw TrainerError.invalid("\(file): embeddings of \(d) dimensions; remove it") }
            embeddingDimensions = d
            embeddings = try a.floats("embeddings", count: n * d, in: file)
        } else {
            embeddings = nil; embeddingDimensions = 0
        }
    }
}

extension DynamicsRun: StoredUnits {
    public func unitName(_ seed: UInt64) -> String { "dynamics" }

    public func unitArrays(_ r: Result) -> [(String, UnitArray)] { r.unitArrays }

    public func unitResult(_ arrays: [String: UnitArray], of seed: UInt64, file: String) throws -> Result {
        let r = try Result(unitArrays: arrays, examples: setup.data.count, file: file)
        guard r.epochs == epochs, r.checkpointScores.map(\.epoch) == checkpoints, (r.vog != nil) == (vog && epochs >= 2),
              (r.embeddings != nil) == embeddings else {
            throw TrainerError.invalid("\(file): made with other settings than this run's; remove it")
        }
        return r
    }

    public func label(of seed: UInt64) -> String { "the training (seed \(seed))" }

    public func stateName(of seed: UInt64) -> String? { stateName }

    public func sideFiles(of seed: UInt64) -> [String] { ["examples.npy"] }

    public mutating func keepState(in store: TrainingStateStore, folder: String, every steps: Int?) throws {
        trainingState = store
        streamPath = folder + "/examples.npy"
    }
}
