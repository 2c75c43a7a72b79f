import Metrics
import Storage

/// Scores taken at a training checkpoint over several independent runs: GraNd (Paul
/// et al. 2021) over initialisations and EL2N over seeds. Unit = one seed: train
/// `atEpoch` epochs from it (none for GraNd at initialisation), then one scoring pass
/// over the training set (evaluation-mode batch norm, no augmentation). A run with more
/// shards than seeds splits a seed's scoring pass into ``Unit``s (ranges of examples).
public struct CheckpointEnsemble: ExperimentProtocol {
    public var setup: ExperimentSetup
    /// One seed per run.
    public var seeds: [UInt64]
    /// Epochs of training before the scoring pass (0 = at initialisation).
    public var atEpoch: Int
    /// Also compute per-example gradient norms (GraNd); EL2N alone otherwise.
    public var gradNorms: Bool
    /// Epochs of the learning-rate schedule the checkpoint is taken from: the scores are
    /// taken after `atEpoch` epochs of a `scheduleEpochs`-epoch run (Data Diet: epoch 20
    /// of 200, the learning rate still high). Equal to `atEpoch` by default.
    public var scheduleEpochs: Int
    /// Where each unit's training keeps its end-of-epoch state (`SEED.training`), so a
    /// killed training continues from its last finished epoch; nil: none kept. Dropped
    /// once the unit's result is stored (``StoredUnits/results(of:storingIn:prefix:reuse:progress:notes:)``).
    public var trainingStates: TrainingStateStore?
    /// Also keep the state every this many optimiser steps inside an epoch (nil: at the
    /// end of each epoch only): a long epoch killed loses at most this many steps.
    public var saveStateEvery: Int?

    public init(setup: ExperimentSetup, seeds: [UInt64], atEpoch: Int, gradNorms: Bool, scheduleEpochs: Int? = nil) throws {
        guard !seeds.isEmpty else { throw TrainerError.invalid("at least one seed (--inits / --seeds) is needed") }
        guard atEpoch >= 0 else { throw TrainerError.invalid("--at-epoch must not be negative") }
        let schedule = scheduleEpochs ?? atEpoch
        guard schedule >= atEpoch else {
            throw TrainerError.invalid("--schedule-epochs \(schedule) must be at least --at-epoch \(atEpoch)")
        }
        self.setup = setup; self.seeds = seeds; self.atEpoch = atEpoch; self.gradNorms = gradNorms
        self.scheduleEpochs = schedule
    }

    /// One whole seed each: its training and a scoring pass over every example.
    public var units: [Unit] { seeds.map { Unit(seed: $0, examples: 0..<setup.data.count) } }

    public var plan: WorkPlan { plan(scoring: seeds.map { _ in setup.data.count }) }

    public func plan(of selected: [Unit]) -> WorkPlan { plan(scoring: selected.map(\.examples.count)) }

    /// The work of one training per entry of `scoring`, each followed by a scoring pass
    /// over that many examples (whole seeds, or a shard's pieces of them).
    public func plan(scoring: [Int]) -> WorkPlan {
        var p = WorkPlan()
        p.add(.training(epoch: 0), scoring.count * atEpoch * setup.data.count)
        if atEpoch == scheduleEpochs && atEpoch > 0 { p.add(.evaluation, scoring.count * setup.testExamplesPerTraining) }
        p.add(.scoring(gradNorms: gradNorms), scoring.reduce(0, +))
        return p
    }

    /// One whole seed: its training and a scoring pass over every example.
    public func run(_ seed: UInt64, progress: ProtocolProgress) throws -> CheckpointScores {
        try run(seed, examples: nil, progress: progress)
    }

    public func run(_ piece: Unit, progress: ProtocolProgress) throws -> CheckpointScores {
        try run(piece.seed, examples: piece.examples == 0..<setup.data.count ? nil : piece.examples, progress: progress)
    }

    /// One unit: trains seed `seed` to `atEpoch` (continuing from its checkpoint when
    /// there is one) and scores `examples` (nil: the whole training set).
    public func run(_ seed: UInt64, examples: Range<Int>?, progress: ProtocolProgress) throws -> CheckpointScores {
        let label = "seed \(seed)"
        let session = try setup.session(epochs: scheduleEpochs, seed: seed)
        let name = "\(seed).training"
        var from = 0
        var position: EpochPosition?
        if let trainingStates, let state = try trainingStates.load(name) {
            (from, position) = try session.restore(state, from: name)
            progress.note?("\(label): continuing " + (position.map { "epoch \($0.epoch + 1) after batch \($0.batchesDone)" }
                                                   ?? "after epoch \(from)") + " from its checkpoint")
        }
        try setup.train(session, unit: label, progress: progress, stoppingAfter: atEpoch, from: from, resuming: position,
                        afterStep: { p in
                            if let every = saveStateEvery, every > 0, session.step % every == 0 {
                                try trainingStates?.save(name, session.trainingState(epochsDone: p.epoch, position: p))
                            }
                        }) { s in
            try trainingStates?.save(name, session.trainingState(epochsDone: s.epoch + 1))
        }
        let what = examples.map { "examples \($0.lowerBound)..<\($0.upperBound)" } ?? "\(setup.data.count) examples"
        progress.note?("\(label): scoring pass over \(what)" + (gradNorms ? " (per-example gradient norms)" : ""))
        var scores = try session.scoreTrainingSet(gradNorms: gradNorms, examples: examples)
        if examples != nil { scores.modelFingerprint = try session.modelFingerprint() }
        return scores
    }

    public func combine(_ runs: [CheckpointScores]) throws -> Output {
        guard runs.count == seeds.count, let first = runs.first else { throw TrainerError.invalid("one result per seed is needed") }
        let el2n = Summary.meanAndStd(runs.map(\.el2n))
        let grand = gradNorms ? Summary.meanAndStd(runs.map { $0.gradNorm ?? [] }) : nil
        return Output(runs: runs.count, atEpoch: atEpoch, el2n: el2n.mean, el2nStd: el2n.std,
                      loss: Summary.meanAndStd(runs.map(\.loss)).mean, margin: Summary.meanAndStd(runs.map(\.margin)).mean,
                      grand: grand?.mean, grandStd: grand?.std, gradNormPerRun: gradNorms ? runs.map { $0.gradNorm ?? [] } : nil,
                      inputNorm: first.inputNorm)
    }

    /// Per-example means (and standard deviations) over the runs.
    public struct Output: Sendable {
        public var runs: Int
        public var atEpoch: Int
        public var el2n: [Double], el2nStd: [Double]
        public var loss: [Double], margin: [Double]
        public var grand: [Double]?, grandStd: [Double]?
        /// `[runs][N]`: each run's gradient norms.
        public var gradNormPerRun: [[Double]]?
        /// `||x_i||` of the normalised input: the baseline GraNd at initialisation tracks.
        public var inputNorm: [Double]

        /// Spearman correlation of GraNd with the input norm (nil without GraNd).
        public var grandInputNormCorrelation: Double? { grand.map { Ranking.spearman($0, inputNorm) } }

        /// The scores of `sieve score grand`.
        public var grandScores: [Score] {
            guard let grand, let grandStd else { return [] }
            var s = [Score(.grand, values: grand, note: "mean over \(runs) inits of ||grad_w loss_i|| at epoch \(atEpoch), BN in eval mode")]
            if runs > 1 { s.append(Score(.grandStd, values: grandStd, note: "population std over inits of the per-init GraNd")) }
            s.append(Score(.el2n, values: el2n, note: "mean over \(runs) inits of ||softmax - onehot|| at epoch \(atEpoch) (same checkpoints)"))
            s.append(Score(.inputNorm, values: inputNorm, note: "||x_i|| of the normalised input: the baseline GraNd at init tracks"))
            return s
        }

        /// The scores of `sieve score el2n`.
        public var el2nScores: [Score] {
            var s = [Score(.el2n, values: el2n, note: "mean over \(runs) seeds of ||softmax - onehot|| after \(atEpoch) epochs, eval mode, no augmentation")]
            if runs > 1 { s.append(Score(.el2nStd, values: el2nStd, note: "std over seeds")) }
            s.append(Score(.loss, values: loss, note: "mean over seeds of the cross-entropy at the same checkpoints"))
            s.append(Score(.margin, values: margin, note: "mean over seeds of z_y - max_{k!=y} z_k at the same checkpoints"))
            return s
        }
    }
}

extension CheckpointScores {
    /// The arrays a ``UnitStore`` keeps of this result (float64 bit for bit, `correct` as 0/1).
    public var unitArrays: [(String, UnitArray)] {
        var a: [(String, UnitArray)] = [("el2n", .float64(el2n))]
        if let gradNorm { a.append(("grad_norm", .float64(gradNorm))) }
        a += [("loss", .float64(loss)), ("margin", .float64(margin)), ("correct", .uint8(correct.map { $0 ? 1 : 0 })),
              ("input_norm", .float64(inputNorm))]
        if let modelFingerprint { a.append(("model_fingerprint", .uint8(Array(modelFingerprint.utf8)))) }
        return a
    }

    /// A result read back from ``unitArrays``; `examples` values per array, `grad_norm`
    /// required when `gradNorms`. `unit` names the file in errors.
    public init(unitArrays a: [String: UnitArray], examples: Int, gradNorms: Bool, unit: String) throws {
        func doubles(_ name: String) throws -> [Double] { try a.doubles(name, count: examples, in: unit) }
        let c = try a.bytes("correct", count: examples, in: unit)
        self.init(el2n: try doubles("el2n"), gradNorm: gradNorms ? try doubles("grad_norm") : nil, loss: try doubles("loss"),
                  margin: try doubles("margin"), correct: c.map { $0 != 0 }, inputNorm: try doubles("input_norm"))
        if case .uint8(let f)? = a["model_fingerprint"] { modelFingerprint = String(decoding: f, as: UTF8.self) }
    }
}

extension CheckpointEnsemble {
    /// One unit of a sharded run: a seed's training and the examples its scoring pass covers.
    public struct Unit: Hashable, Sendable, CustomStringConvertible {
        public var seed: UInt64
        public var examples: Range<Int>

        public init(seed: UInt64, examples: Range<Int>) { self.seed = seed; self.examples = examples }

        /// The unit's name in a unit folder: `SEED` for the whole set of `total` examples,
        /// `SEED.LO-HI` for examples LO..<HI.
        public func name(total: Int) -> String {
            examples == 0..<total ? String(seed) : "\(seed).\(examples.lowerBound)-\(examples.upperBound)"
        }

        /// The piece a unit name stands for; nil when `name` is no unit name or its range
        /// lies outside `0..<total`.
        public init?(name: String, total: Int) {
            let parts = name.split(separator: ".", omittingEmptySubsequences: false)
            guard let seed = parts.first.flatMap({ UInt64($0) }) else { return nil }
            if parts.count == 1 { self.init(seed: seed, examples: 0..<total); return }
            let bounds = parts.count == 2 ? parts[1].split(separator: "-", omittingEmptySubsequences: false) : []
            guard bounds.count == 2, let lo = Int(bounds[0]), let hi = Int(bounds[1]), 0 <= lo, lo < hi, hi <= total else { return nil }
            self.init(seed: seed, examples: lo..<hi)
        }

        public var description: String { "seed \(seed) examples \(examples.lowerBound)..<\(examples.upperBound)" }
    }

    /// The pieces shard `index` of `count` runs. With no more shards than seeds, whole
    /// seeds: those at positions p with p % count == index. With more shards than seeds,
    /// the seeds' scoring batches in seed-major order are cut into `count` runs of equal
    /// length (to one batch): a shard scores a range of one or two seeds, after training
    /// each of them to the checkpoint (at initialisation: no training at all). Ranges start
    /// and end on batch boundaries, so every example is scored in the same batch as in a
    /// single run and the merged scores equal it bit for bit.
    public func pieces(shard index: Int, of count: Int) throws -> [Unit] {
        let n = setup.data.count, batch = setup.configuration.batchSize
        guard count >= 1, index >= 0, index < count else { throw TrainerError.invalid("shard \(index)/\(count): need 0 <= I < N") }
        if count <= seeds.count {
            return seeds.enumerated().filter { $0.offset % count == index }.map { Unit(seed: $0.element, examples: 0..<n) }
        }
        let perSeed = (n + batch - 1) / batch, total = seeds.count * perSeed
        guard count <= total else {
            throw TrainerError.invalid("--shard \(index)/\(count): \(seeds.count) seed(s) x \(perSeed) batch(es) of \(batch) "
                                       + "make \(total) scoring batches; use at most \(total) shards")
        }
        let lo = index * total / count, hi = (index + 1) * total / count
        var pieces: [Unit] = []
        for (k, seed) in seeds.enumerated() {
            let a = max(lo, k * perSeed) - k * perSeed, b = min(hi, (k + 1) * perSeed) - k * perSeed
            if a < b { pieces.append(Unit(seed: seed, examples: (a * batch)..<min(n, b * batch))) }
        }
        return pieces
    }
}

extension CheckpointScores {
    /// The scores of consecutive pieces of one model's scoring pass, joined in order.
    public init(concatenating pieces: [CheckpointScores]) {
        self.init(el2n: pieces.flatMap(\.el2n), gradNorm: pieces.allSatisfy { $0.gradNorm != nil } ? pieces.flatMap { $0.gradNorm! } : nil,
                  loss: pieces.flatMap(\.loss), margin: pieces.flatMap(\.margin), correct: pieces.flatMap(\.correct),
                  inputNorm: pieces.flatMap(\.inputNorm))
    }
}
