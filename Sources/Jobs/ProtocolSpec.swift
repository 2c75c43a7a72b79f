import Metrics
import Trainer

/// The protocol a job runs, with its parameters: one case per command that trains.
public enum ProtocolSpec: Equatable, Sendable {
    /// `score grand`: GraNd over `runs` initialisations (``CheckpointEnsemble`` with gradient norms).
    case grand(EnsembleSpec)
    /// `score el2n`: EL2N over `runs` trainings.
    case el2n(EnsembleSpec)
    /// `score dynamics`: one training's dynamics scores (``DynamicsRun``).
    case dynamics(DynamicsSpec)
    /// `score ssft`: the two-split protocol (``SecondSplitForgetting``).
    case ssft(SSFTSpec)
    /// `prune-curve`: score -> prune -> retrain (``PruneCurve``).
    case pruneCurve(PruneCurveSpec)
    /// `audit`: the main job (``AuditProtocol``).
    case audit(AuditSpec)
    /// `clean`: an audit's verdict turned into a training set, retrained against the noisy labels and a random drop (``Cleaning``).
    case clean(CleanSpec)

    public var command: String {
        switch self {
        case .grand: "score grand"
        case .el2n: "score el2n"
        case .dynamics: "score dynamics"
        case .ssft: "score ssft"
        case .pruneCurve: "prune-curve"
        case .audit: "audit"
        case .clean: "clean"
        }
    }

    func check() throws {
        switch self {
        case .grand(let e), .el2n(let e): try e.check(runsFlag: self.command == "score grand" ? "--inits" : "--seeds")
        case .dynamics(let d): try d.check()
        case .ssft(let s): try s.check()
        case .pruneCurve(let p): try p.check()
        case .audit(let a): try a.check()
        case .clean(let c): try c.check()
        }
    }
}

/// `score grand` and `score el2n`: `runs` seeds from `firstSeed`, scored after `atEpoch`
/// epochs of a `scheduleEpochs`-epoch schedule (default: `atEpoch`).
public struct EnsembleSpec: Equatable, Sendable {
    public var runs: Int
    public var atEpoch: Int
    public var scheduleEpochs: Int?
    public var firstSeed: UInt64 = 0

    public init(runs: Int, atEpoch: Int, scheduleEpochs: Int? = nil, firstSeed: UInt64 = 0) {
        self.runs = runs; self.atEpoch = atEpoch; self.scheduleEpochs = scheduleEpochs; self.firstSeed = firstSeed
    }

    public var seeds: [UInt64] { (0..<UInt64(max(0, runs))).map { firstSeed &+ $0 } }

    func check(runsFlag: String) throws {
        guard runs >= 1 else { throw TrainerError.invalid("\(runsFlag) must be at least 1") }
        guard atEpoch >= 0 else { throw TrainerError.invalid("--at-epoch must not be negative") }
        if let scheduleEpochs, scheduleEpochs < atEpoch {
            throw TrainerError.invalid("--schedule-epochs \(scheduleEpochs) must be at least --at-epoch \(atEpoch)")
        }
    }
}

/// `score dynamics`: one training of `epochs` epochs from `seed`.
public struct DynamicsSpec: Equatable, Sendable {
    public var epochs = 10
    public var seed: UInt64 = 0
    /// First epoch (1-based) whose margins enter AUM (nil: 2, or 1 for a one-epoch run).
    public var aumFrom: Int?
    public var aumThreshold = false
    public var vog = false

    public init() {}

    /// `aumFrom` with its default.
    public var aumFromEpoch: Int { aumFrom ?? min(2, epochs) }

    func check() throws {
        guard epochs >= 1 else { throw TrainerError.invalid("--epochs must be at least 1") }
        guard aumFromEpoch >= 1 && aumFromEpoch <= epochs else { throw TrainerError.invalid("--aum-from must lie in 1...\(epochs)") }
    }
}

/// `score ssft`: `seeds` repetitions from `firstSeed`, `epochs` per split.
public struct SSFTSpec: Equatable, Sendable {
    public var epochs = 10
    public var seeds = 1
    public var firstSeed: UInt64 = 0

    public init() {}

    func check() throws {
        guard epochs >= 1 else { throw TrainerError.invalid("--epochs must be at least 1") }
        guard seeds >= 1 else { throw TrainerError.invalid("--seeds must be at least 1") }
    }
}

/// `prune-curve`: the scores of `scoresFile` named in `scores`, ranked by their direction
/// (`direction` for every score when given, else the run's meta.json, else the catalog),
/// pruned by each selection, trained `seeds` times for `epochs` full-data epochs of steps.
public struct PruneCurveSpec: Equatable, Sendable {
    /// A scores.csv, or the run folder holding it.
    public var scoresFile: String
    public var scores: [String]
    public var selections: [PruneSelection]
    public var direction: ScoreDirection?
    public var seeds = 3
    public var epochs = 10
    /// A fingerprint of the ranked values, filled in when the job starts: a resumed or
    /// merged curve must rank by the same values.
    public var scoresFingerprint: String?

    public init(scoresFile: String, scores: [String], selections: [PruneSelection]) {
        self.scoresFile = scoresFile; self.scores = scores; self.selections = selections
    }

    func check() throws {
        guard !scores.isEmpty, scores.allSatisfy({ !$0.isEmpty }) else { throw TrainerError.invalid("--score must name at least one score column") }
        guard !selections.isEmpty else { throw TrainerError.invalid("give --drop-suspicious F or --keep-hardest F") }
        guard selections.allSatisfy({ $0.keptFraction < 1 }) else { throw TrainerError.invalid("--keep-hardest 1 keeps everything: no curve") }
        guard seeds >= 1, epochs >= 1 else { throw TrainerError.invalid("--seeds and --epochs must be at least 1") }
    }
}

/// `audit`: one training of `epochs` epochs from `seed` streaming every dynamics score,
/// scoring passes after the `checkpoints` epochs, and the optional extra protocols.
public struct AuditSpec: Equatable, Sendable {
    public var epochs = 10
    public var seed: UInt64 = 0
    /// End-of-epoch scoring passes (1-based; nil: epoch ceil(epochs/5); empty: none).
    public var checkpoints: [Int]?
    /// Epochs whose models' class probabilities the verdict averages (1-based; nil: the
    /// first half of the training, 1...ceil(epochs/2), before the network has memorised
    /// the wrong labels).
    public var verdictEpochs: [Int]?
    /// GraNd at initialisation over this many networks (seeds seed+1000...); 0: none.
    public var inits = 0
    public var ssft = false
    /// Epochs of each split of the two-split protocol (nil: `epochs`).
    public var ssftEpochs: Int?
    /// K-fold cross-validated predictions; 0: none.
    public var folds = 0
    public var vog = false
    public var aumThreshold = false
    /// First epoch (1-based) whose margins enter AUM (nil: 2, or 1 for a one-epoch run).
    public var aumFrom: Int?

    public init() {}

    public var aumFromEpoch: Int { aumFrom ?? min(2, epochs) }
    /// `checkpoints` with its default, ascending.
    public var checkpointEpochs: [Int] { Array(Set(checkpoints ?? [(epochs + 4) / 5])).sorted() }
    /// `verdictEpochs` with its default, ascending.
    public var probabilityEpochs: [Int] { Array(Set(verdictEpochs ?? Array(1...(epochs + 1) / 2))).sorted() }

    func check() throws {
        guard epochs >= 1 else { throw TrainerError.invalid("--epochs must be at least 1") }
        guard aumFromEpoch >= 1 && aumFromEpoch <= epochs else { throw TrainerError.invalid("--aum-from must lie in 1...\(epochs)") }
        guard inits >= 0 else { throw TrainerError.invalid("--inits must not be negative (0 = no GraNd at initialisation)") }
        guard folds == 0 || folds >= 2 else { throw TrainerError.invalid("--folds must be 0 (none) or at least 2") }
        if let ssftEpochs, ssftEpochs < 1 { throw TrainerError.invalid("--ssft-epochs must be at least 1") }
        if ssftEpochs != nil && !ssft { throw TrainerError.invalid("--ssft-epochs needs --ssft") }
        if let bad = checkpointEpochs.first(where: { $0 < 1 || $0 > epochs }) {
            throw TrainerError.invalid("--checkpoints: epoch \(bad) is outside the run's epochs 1...\(epochs)")
        }
        if verdictEpochs?.isEmpty == true { throw TrainerError.invalid("--verdict-epochs needs at least one epoch") }
        if let bad = probabilityEpochs.first(where: { $0 < 1 || $0 > epochs }) {
            throw TrainerError.invalid("--verdict-epochs: epoch \(bad) is outside the run's epochs 1...\(epochs)")
        }
    }
}

/// `clean`: the flagged examples of the audit in `audit` (its `label_issues.csv`) dropped
/// or relabelled, and `seeds` trainings of each of noisy / cleaned / random drop of the
/// same size, `epochs` full-data epochs of steps each.
public struct CleanSpec: Equatable, Sendable {
    public enum Mode: String, Sendable, CaseIterable {
        /// Drop the flagged examples.
        case drop
        /// Keep them with their suggested labels.
        case relabel
        /// Relabel the sure ones (``LabelVerdict/sure``), drop the rest.
        case fix
    }

    /// The audit's run folder.
    public var audit: String
    public var mode = Mode.drop
    public var seeds = 2
    public var epochs = 10
    /// Also train the oracle (exactly the flipped examples dropped) and the clean labels.
    public var oracle = false
    /// A fingerprint of the verdict cleaned by, filled in when the job starts.
    public var issuesFingerprint: String?

    public init(audit: String) { self.audit = audit }

    func check() throws {
        guard seeds >= 1, epochs >= 1 else { throw TrainerError.invalid("--seeds and --epochs must be at least 1") }
    }
}
