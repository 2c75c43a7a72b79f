import Kernels
import Metrics
import Storage
import Trainer

/// Everything that defines a run, as one value: the data and how it is cut, the training
/// configuration, the protocol with its parameters, the device and the shard. The CLI
/// builds it from its options; every later command (`merge`, `report`, `--resume`) reads
/// it back from the run's `job.json` (``JobSpec/json``, ``JobSpec/init(json:file:)``)
/// instead of re-parsing a command line.
///
/// ```swift
/// var spec = JobSpec(protocol: .el2n(EnsembleSpec(runs: 3, atEpoch: 2)))
/// spec.data.limit = 12000
/// spec.training.model = .cnn
/// ```
public struct JobSpec: Equatable, Sendable {
    /// The version of `job.json`'s layout; a file of another version is refused.
    public static let formatVersion = 1

    public var data = DataSpec()
    public var training = TrainingSpec()
    public var `protocol`: ProtocolSpec
    /// `cpu`, `opencl`, `opencl:N`, or nil for the default (SIEVE_DEVICE, else the first GPU, else cpu).
    public var device: String?
    /// Run only shard `index` of `count` (``Shard``); nil: the whole run.
    public var shard: Shard?

    public init(protocol: ProtocolSpec) { self.protocol = `protocol` }

    /// The command that runs the job (`score grand`, `audit`, ...), as meta.json and messages name it.
    public var command: String { `protocol`.command }

    /// The files and folders the job reads, with the option that names each: a run
    /// folder must not be one of them, nor hold one (``RunDirectory``).
    public var reads: [(option: String, path: String)] {
        var list = [(option: "--data", path: DataSource.folder(of: data.source))]
        switch `protocol` {
        case .clean(let c): list.append((option: "--audit", path: c.audit))
        case .pruneCurve(let p): list.append((option: "--scores", path: p.scoresFile))
        default: break
        }
        return list
    }

    /// Checks every value that needs no data or device, so bad input fails before work.
    public func check() throws {
        try data.check()
        _ = try training.configuration(input: FeatureShape(1, 32, 32))
        try `protocol`.check()
        if let shard { try shard.check() }
    }
}

/// `--shard I/N`: shard `index` of `count` (0-based).
public struct Shard: Equatable, Sendable, CustomStringConvertible {
    public var index: Int
    public var count: Int

    public init(index: Int, count: Int) { self.index = index; self.count = count }

    /// Parses `I/N`.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else {
            throw TrainerError.invalid("--shard \(text) is not I/N with 0 <= I < N (0-based: --shard 0/2 and --shard 1/2)")
        }
        self.init(index: i, count: n)
        try check()
    }

    func check() throws {
        guard count >= 1, index >= 0, index < count else {
            throw TrainerError.invalid("--shard \(self) is not I/N with 0 <= I < N (0-based: --shard 0/2 and --shard 1/2)")
        }
    }

    public var description: String { "\(index)/\(count)" }
}

/// The data a run trains on and how it is cut: the first `limit` training examples, a
/// seeded `val` hold-out as the test set, the first `testLimit` test examples, and
/// seeded label noise.
public struct DataSpec: Equatable, Sendable {
    /// `fashion-mnist`, `mnist`, or a directory (IDX, CIFAR binary, NPY, ImageFolder).
    public var source = "fashion-mnist"
    public var limit: Int?
    public var testLimit: Int?
    public var val: Double?
    public var valSeed: UInt64 = 0
    /// The number of classes when the labels do not show it.
    public var classes: Int?
    public var noise: LabelNoise?
    public var noiseSeed: UInt64 = 0
    /// How images are brought to one size (`--resize`), nil for none.
    public var resize: ImageResize?

    public init() {}

    public func check() throws {
        if let limit, limit < 2 { throw TrainerError.invalid("--limit must be at least 2") }
        if let classes, classes < 2 { throw TrainerError.invalid("--classes must be at least 2") }
        if let testLimit, testLimit < 1 { throw TrainerError.invalid("--test-limit must be at least 1") }
        if let val, !(val > 0 && val < 1) { throw TrainerError.invalid("--val \(val) must lie strictly between 0 and 1 (a fraction)") }
    }

    /// The training examples a `val` fraction of `count` holds out.
    public static func heldOut(_ val: Double, of count: Int) -> Int { Int((val * Double(count)).rounded()) }

    /// The split as cut (before label noise): the first `limit` training examples, the
    /// `val` hold-out, the first `testLimit` test examples, and the training set's
    /// positions in the source files when a hold-out reorders them. `warning` hears what
    /// a user must know (a limit beyond the data), `note` what a user may want to (the hold-out).
    public func split(warning: (String) -> Void = { _ in }, note: (String) -> Void = { _ in }) throws
        -> (split: DataSplit, sourceIndices: [Int]?) {
        var split = try DataSource.load(source, classes: classes, resize: resize)
        if let limit, limit > split.train.count {
            warning("note: --limit \(limit) is more than the \(split.train.count) training examples of \(source); using all of them")
        }
        split.train = split.train.prefix(limit)
        var sourceIndices: [Int]?
        if let val {
            let held = Self.heldOut(val, of: split.train.count)
            guard held >= 1, held < split.train.count else {
                throw TrainerError.invalid("--val \(val) of \(split.train.count) training examples holds out \(held); "
                                           + "it must hold out at least 1 and keep at least 1")
            }
            (split, sourceIndices) = split.holdingOut(held, seed: valSeed)
            note("note: --val \(val) holds out \(held) training examples (seed \(valSeed)) as the test set")
        }
        split.test = split.test.prefix(testLimit)
        return (split, sourceIndices)
    }

    /// The data with its training labels (noise applied).
    public func load(warning: (String) -> Void = { _ in }, note: (String) -> Void = { _ in }) throws -> TrainingData {
        let (split, source) = try self.split(warning: warning, note: note)
        var loaded = TrainingData(split: split, noise: noise, noiseSeed: noiseSeed)
        loaded.sourceIndices = source
        return loaded
    }
}

/// The training configuration as asked for; unset values take the model's defaults
/// (``TrainingConfiguration/defaults(for:input:)``).
public struct TrainingSpec: Equatable, Sendable {
    public var model: Architecture = .resnet18
    public var width = TrainingConfiguration.defaultWidth
    public var batch = 128
    /// Peak learning rate (nil: the model's default).
    public var lr: Float?
    public var schedule: ScheduleKind = .cosine
    public var warmup = 0
    public var momentum: Float = 0.9
    public var nesterov = true
    public var weightDecay: Float = 5e-4
    /// nil: the model's default.
    public var augment: AugmentationSpec?

    public init() {}

    /// The configuration for inputs of `input` shape: the model's defaults, then every
    /// value set here; validated.
    public func configuration(input: FeatureShape, epochs: Int = 1, seed: UInt64 = 0) throws -> TrainingConfiguration {
        var config = TrainingConfiguration.defaults(for: model, input: input)
        config.width = width
        config.batchSize = batch
        config.epochs = epochs
        config.seed = seed
        if let lr { config.schedule.peak = lr }
        config.schedule.kind = schedule
        config.schedule.warmupEpochs = warmup
        config.momentum = momentum
        config.nesterov = nesterov
        config.weightDecay = weightDecay
        if let augment { config.augmentation = augment.augmentation(input: input) }
        try config.validate()
        return config
    }
}

/// `--augment`: crop (zero padding of a side/8, as the models' default), flip, reflect
/// (mirror padding for crop), or none.
public struct AugmentationSpec: Equatable, Sendable, CustomStringConvertible {
    public var crop = false, flip = false, reflect = false

    public init(crop: Bool = false, flip: Bool = false, reflect: Bool = false) {
        self.crop = crop; self.flip = flip; self.reflect = reflect
    }

    /// Parses `none` or a comma-separated list of crop, flip, reflect.
    public init(parsing text: String) throws {
        if text == "none" { return }
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            switch part {
            case "crop": crop = true
            case "flip": flip = true
            case "reflect": reflect = true
            default: throw TrainerError.invalid("--augment \(part) is unknown; use crop, flip, reflect or none")
            }
        }
    }

    /// The augmentation for inputs of `input` shape: crops pad a side/8 (at least 1), as the models' default does.
    public func augmentation(input: FeatureShape) -> Augmentation {
        Augmentation(cropPadding: crop ? max(1, min(input.height, input.width) / 8) : 0, reflect: reflect, horizontalFlip: flip)
    }

    public var description: String {
        let parts = [crop ? "crop" : nil, flip ? "flip" : nil, reflect ? "reflect" : nil].compactMap { $0 }
        return parts.isEmpty ? "none" : parts.joined(separator: ",")
    }
}

extension ScheduleKind {
    /// Parses `cosine`, `constant` or `step:E1,E2,...[@FACTOR]` (default factor 0.2).
    public init(parsing text: String) throws {
        if text == "cosine" { self = .cosine; return }
        if text == "constant" { self = .constant; return }
        if text.hasPrefix("step:") {
            let spec = text.dropFirst(5).split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
            let parts = spec.first.map { $0.split(separator: ",", omittingEmptySubsequences: false) } ?? []
            let milestones = parts.compactMap { Int($0) }
            let factor = spec.count > 1 ? Float(spec[1]) : 0.2
            if let factor, !milestones.isEmpty, milestones.count == parts.count {
                self = .step(milestones: milestones, factor: factor)
                return
            }
        }
        throw TrainerError.invalid("--schedule \(text) is not cosine, constant or step:E1,E2[@FACTOR]")
    }

    /// The text ``init(parsing:)`` reads.
    public var spec: String {
        switch self {
        case .cosine: "cosine"
        case .constant: "constant"
        case .step(let m, let f): "step:" + m.map(String.init).joined(separator: ",") + (f == 0.2 ? "" : "@\(f)")
        }
    }
}
