import ArgumentParser
import Kernels
import Metrics
import Trainer

/// Data and optimisation options shared by `train` and every `score` command.
struct TrainingOptions: ParsableArguments {
    @Option(help: "Data set: fashion-mnist (Debian's dataset-fashion-mnist), mnist, or a directory with IDX, CIFAR binary or NPY files.")
    var data: String = "fashion-mnist"

    @Option(help: "Use only the first N training examples.")
    var limit: Int?

    @OptionGroup var model: ModelOptions

    @Option(help: "Peak learning rate.")
    var lr: Float = 0.1

    @Option(help: "Learning-rate schedule: cosine, constant, or step:E1,E2,...[@FACTOR] (default factor 0.2).")
    var schedule: String = "cosine"

    @Option(help: "Epochs of linear learning-rate warm-up.")
    var warmup: Int = 0

    @Option(help: "SGD momentum.")
    var momentum: Float = 0.9

    @Flag(inversion: .prefixedNo, help: "Nesterov momentum.")
    var nesterov: Bool = true

    @Option(help: "Weight decay (on all parameters).")
    var weightDecay: Float = 5e-4

    @Option(help: "Augmentation: comma-separated crop, flip, reflect (mirror padding for crop), or none.")
    var augment: String = "crop,flip"

    @Option(help: "Label noise injected into the training labels: symmetric:RATE or pairs:RATE.")
    var noise: String?

    @Option(help: "Seed of the label noise.")
    var noiseSeed: UInt64 = 0

    func parsedSchedule() throws -> ScheduleKind {
        if schedule == "cosine" { return .cosine }
        if schedule == "constant" { return .constant }
        if schedule.hasPrefix("step:") {
            let spec = schedule.dropFirst(5).split(separator: "@", maxSplits: 1)
            let milestones = spec.first.map { $0.split(separator: ",").compactMap { Int($0) } } ?? []
            let factor = spec.count > 1 ? Float(spec[1]) : 0.2
            if let factor, !milestones.isEmpty { return .step(milestones: milestones, factor: factor) }
        }
        throw badInput("--schedule \(schedule) is not cosine, constant or step:E1,E2[@FACTOR]")
    }

    func parsedAugmentation() throws -> Augmentation {
        if augment == "none" { return .none }
        var a = Augmentation(cropPadding: 0, reflect: false, horizontalFlip: false)
        for part in augment.split(separator: ",") {
            switch part {
            case "crop": a.cropPadding = 4
            case "flip": a.horizontalFlip = true
            case "reflect": a.reflect = true
            default: throw badInput("--augment \(part) is unknown; use crop, flip, reflect or none")
            }
        }
        return a
    }

    /// Checks every option that needs no data, so bad input fails before loading.
    func check() throws {
        _ = try model.architecture()
        try model.checkDevice()
        _ = try parsedSchedule()
        _ = try parsedAugmentation()
        guard lr > 0 else { throw badInput("--lr must be positive") }
        guard warmup >= 0 else { throw badInput("--warmup must not be negative") }
        if let noise { _ = try reportingErrors { try LabelNoise(parsing: noise) } }
        if let limit, limit < 2 { throw badInput("--limit must be at least 2") }
    }

    /// Validated configuration (seed and epochs are the caller's).
    func configuration(epochs: Int, seed: UInt64, examples: Int) throws -> TrainingConfiguration {
        guard lr > 0 else { throw badInput("--lr must be positive") }
        guard epochs >= 0 else { throw badInput("--epochs must not be negative") }
        var config = TrainingConfiguration()
        config.architecture = try model.architecture()
        config.width = model.width
        config.epochs = epochs
        config.batchSize = model.batch
        config.momentum = momentum
        config.nesterov = nesterov
        config.weightDecay = weightDecay
        config.seed = seed
        config.augmentation = try parsedAugmentation()
        let steps = (examples + config.batchSize - 1) / config.batchSize
        config.schedule = LearningRateSchedule(peak: lr, kind: try parsedSchedule(), warmupSteps: warmup * steps)
        return config
    }

    /// Loads `--data` (first `--limit` training examples) and applies `--noise`.
    func loadData(quiet: Bool) throws -> LoadedData {
        if let limit, limit < 2 { throw badInput("--limit must be at least 2") }
        let noiseModel = try noise.map { n in try reportingErrors { try LabelNoise(parsing: n) } }
        let t0 = monotonicSeconds()
        var split = try reportingErrors { try DataSource.load(data) }
        split.train = split.train.prefix(limit)
        if !quiet {
            log("data: \(split.train.name) \(split.train.count) train, \(split.test.name) \(split.test.count) test, "
                + "\(split.train.channels)x\(split.train.height)x\(split.train.width), \(split.train.classes) classes "
                + "(loaded in \(format(monotonicSeconds() - t0, 1)) s)")
        }
        var loaded = LoadedData(split: split, labels: split.train.labels, flipped: nil, noise: noiseModel)
        if let noiseModel {
            let (labels, flipped) = noiseModel.apply(to: split.train.labels, classes: max(split.train.classes, split.test.classes),
                                                     seed: noiseSeed)
            loaded.labels = labels
            loaded.flipped = flipped
            if !quiet { log("noise: \(noiseModel), \(flipped.count) labels flipped (noise seed \(noiseSeed))") }
        }
        return loaded
    }

    /// The options as `meta.json` records them.
    var meta: [(String, JSON)] {
        [("data", .string(data)), ("limit", limit.map { .int($0) } ?? .string("none")),
         ("model", .string(model.model)), ("width", .int(model.width)), ("batch", .int(model.batch)),
         ("lr", .double(Double(lr))), ("schedule", .string(schedule)), ("warmup_epochs", .int(warmup)),
         ("momentum", .double(Double(momentum))), ("nesterov", .bool(nesterov)),
         ("weight_decay", .double(Double(weightDecay))), ("augment", .string(augment)),
         ("noise", .string(noise ?? "none")), ("noise_seed", .int(Int(noiseSeed)))]
    }
}

/// A loaded data set with the training labels actually used.
struct LoadedData {
    var split: DataSplit
    /// Training labels after noise.
    var labels: [Int32]
    /// Indices whose label the noise changed (nil without noise).
    var flipped: [Int]?
    var noise: LabelNoise?

    /// Writes `flipped.txt` (one index per line) when noise was injected.
    func writeFlipped(to directory: String) throws {
        guard let flipped else { return }
        try reportingErrors { try Pruning.writeIndexList(flipped, to: directory + "/flipped.txt") }
    }

    /// An empty score table for the training labels used (and the originals when noised).
    func scoreTable() -> ScoreTable {
        ScoreTable(givenLabels: labels, originalLabels: flipped == nil ? nil : split.train.labels)
    }

    var flippedMask: [Bool]? {
        flipped.map { f in
            var mask = [Bool](repeating: false, count: labels.count)
            for i in f { mask[i] = true }
            return mask
        }
    }
}
