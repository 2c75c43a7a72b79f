import ArgumentParser
import Kernels
import Metrics
import Trainer

#if canImport(Glibc)
import Glibc
#endif

/// Bad input or usage found by the CLI itself: exit code 2 (mapped in main.swift).
struct UsageError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Options shared by commands that build a model.
struct ModelOptions: ParsableArguments {
    @Option(help: "Architecture: mlp, cnn or resnet18 (default: resnet18; cnn for `audit`).")
    var model: String?

    @Option(parsing: .unconditional, help: "ResNet-18 base width (64 is the standard network).")
    var width: Int = TrainingConfiguration.defaultWidth

    @Option(parsing: .unconditional, help: "Mini-batch size.")
    var batch: Int = 128

    @Option(help: "Compute device: cpu, opencl or opencl:N (default: SIEVE_DEVICE, else the first GPU, else cpu).")
    var device: String?

    @Flag(help: "OpenCL: print each kernel's launches, device time and GFLOP/s at the end (queue profiling; also in --json).")
    var profile: Bool = false

    /// `--model`, or resnet18 when unset.
    var modelName: String { model ?? Architecture.resnet18.rawValue }

    func architecture() throws -> Architecture {
        guard let a = Architecture(rawValue: modelName) else {
            throw UsageError("--model \(modelName) is unknown; choose one of \(Architecture.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return a
    }

    /// `--device`, else `SIEVE_DEVICE`, with the name of where it came from.
    var deviceSpec: (spec: String?, source: String) {
        if let device { return (device, "--device") }
        return (getenv("SIEVE_DEVICE").map { String(cString: $0) }, "SIEVE_DEVICE")
    }

    /// Checks the device choice without creating the device.
    func checkDevice() throws {
        do { try Devices.validate(deviceSpec.spec) } catch let e as DeviceError { throw blame(e) }
    }

    func makeDevice() throws -> Device {
        try checkDevice()
        let device: Device
        // A broken user tuning file is an error, not a silent default (read only when OpenCL may be used).
        let tuning = deviceSpec.spec == "cpu" ? nil : try TuningDatabase.load()
        do {
            device = try Devices.make(deviceSpec.spec, profiling: profile, tuning: tuning?.lookupFunction) { log("note: " + $0) }
        } catch let e as DeviceError { throw blame(e) }
        if profile && (device as? OpenCLDevice)?.profile == nil {
            log("note: --profile covers OpenCL devices; \(device.name) is not one, so there is no kernel profile")
        }
        return device
    }

    /// The device error, naming where the choice came from (`--device` or `SIEVE_DEVICE`).
    private func blame(_ e: DeviceError) -> UsageError {
        let (spec, source) = deviceSpec
        guard source == "SIEVE_DEVICE" else { return UsageError(e.description) }
        var text = e.description
        if text.hasPrefix("--device ") { text.removeFirst("--device ".count) }
        return UsageError("SIEVE_DEVICE=\(spec ?? ""): \(text)")
    }
}

/// Data and optimisation options shared by `train`, every `score` command and
/// `prune-curve`. Options left unset take the model's defaults
/// (``TrainingConfiguration/defaults(for:input:)``).
struct TrainingOptions: ParsableArguments {
    @Option(help: "Data set: fashion-mnist (Debian's dataset-fashion-mnist), mnist, or a directory with IDX, CIFAR binary or NPY files.")
    var data: String = "fashion-mnist"

    @Option(parsing: .unconditional, help: "Use only the first N training examples.")
    var limit: Int?

    @Option(parsing: .unconditional, help: "Evaluate on only the first N test examples (default: all).")
    var testLimit: Int?

    @Option(parsing: .unconditional, help: "Hold out this fraction of the training examples (seeded by --val-seed) as the test set, in place of the data set's own (scores.csv then gives each example's source_index).")
    var val: Double?

    @Option(parsing: .unconditional, help: "Seed of the --val split.")
    var valSeed: UInt64 = 0

    @Option(parsing: .unconditional, help: "Number of classes, when the labels do not show it (default: the data set's own, else the number of distinct labels; every label must lie in 0..<classes).")
    var classes: Int?

    @OptionGroup var model: ModelOptions

    @Option(parsing: .unconditional, help: "Peak learning rate (default: 0.05 mlp, 0.02 cnn, 0.1 resnet18).")
    var lr: Float?

    @Option(help: "Learning-rate schedule: cosine, constant, or step:E1,E2,...[@FACTOR] (default factor 0.2).")
    var schedule: String = "cosine"

    @Option(parsing: .unconditional, help: "Epochs of linear learning-rate warm-up.")
    var warmup: Int = 0

    @Option(parsing: .unconditional, help: "SGD momentum.")
    var momentum: Float = 0.9

    @Flag(inversion: .prefixedNo, help: "Nesterov momentum.")
    var nesterov: Bool = true

    @Option(parsing: .unconditional, help: "Weight decay (on all parameters).")
    var weightDecay: Float = 5e-4

    @Option(help: "Augmentation: comma-separated crop, flip, reflect (mirror padding for crop), or none (default: none for mlp and cnn; crop for resnet18, plus flip on colour images).")
    var augment: String?

    @Option(help: "Label noise injected into the training labels: symmetric:RATE or pairs:RATE.")
    var noise: String?

    @Option(parsing: .unconditional, help: "Seed of the label noise.")
    var noiseSeed: UInt64 = 0

    func parsedSchedule() throws -> ScheduleKind {
        if schedule == "cosine" { return .cosine }
        if schedule == "constant" { return .constant }
        if schedule.hasPrefix("step:") {
            let spec = schedule.dropFirst(5).split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
            let parts = spec.first.map { $0.split(separator: ",", omittingEmptySubsequences: false) } ?? []
            let milestones = parts.compactMap { Int($0) }
            let factor = spec.count > 1 ? Float(spec[1]) : 0.2
            if let factor, !milestones.isEmpty, milestones.count == parts.count { return .step(milestones: milestones, factor: factor) }
        }
        throw UsageError("--schedule \(schedule) is not cosine, constant or step:E1,E2[@FACTOR]")
    }

    /// `--augment`, or nil when unset (the model's default).
    func parsedAugmentation() throws -> Augmentation? {
        guard let augment else { return nil }
        if augment == "none" { return Augmentation.none }
        var a = Augmentation.none
        for part in augment.split(separator: ",", omittingEmptySubsequences: false) {
            switch part {
            case "crop": a.cropPadding = 4
            case "flip": a.horizontalFlip = true
            case "reflect": a.reflect = true
            default: throw UsageError("--augment \(part) is unknown; use crop, flip, reflect or none")
            }
        }
        return a
    }

    /// The configuration for inputs of `input` shape: the model's defaults, then every
    /// option given; validated (the library's checks, one place).
    func configuration(input: FeatureShape, epochs: Int = 1, seed: UInt64 = 0) throws -> TrainingConfiguration {
        var config = TrainingConfiguration.defaults(for: try model.architecture(), input: input)
        config.width = model.width
        config.batchSize = model.batch
        config.epochs = epochs
        config.seed = seed
        if let lr { config.schedule.peak = lr }
        config.schedule.kind = try parsedSchedule()
        config.schedule.warmupEpochs = warmup
        config.momentum = momentum
        config.nesterov = nesterov
        config.weightDecay = weightDecay
        if let a = try parsedAugmentation() { config.augmentation = a }
        try config.validate()
        return config
    }

    /// Checks every option that needs no data, so bad input fails before anything loads.
    func check() throws {
        _ = try configuration(input: FeatureShape(1, 32, 32))
        try model.checkDevice()
        if let noise { _ = try LabelNoise(parsing: noise) }
        if let limit, limit < 2 { throw UsageError("--limit must be at least 2") }
        if let classes, classes < 2 { throw UsageError("--classes must be at least 2") }
        if let testLimit, testLimit < 1 { throw UsageError("--test-limit must be at least 1") }
        if let val, !(val > 0 && val < 1) { throw UsageError("--val \(val) must lie strictly between 0 and 1 (a fraction)") }
    }

    /// Loads `--data` (the first `--limit` training examples) and applies `--noise`.
    func loadData(quiet: Bool) throws -> TrainingData {
        let noiseModel = try noise.map { try LabelNoise(parsing: $0) }
        let t0 = monotonicSeconds()
        var split = try DataSource.load(data, classes: classes)
        if let limit, limit > split.train.count {
            log("note: --limit \(limit) is more than the \(split.train.count) training examples of \(data); using all of them")
        }
        split.train = split.train.prefix(limit)
        var source: [Int]? = nil
        if let val {
            let held = Int((val * Double(split.train.count)).rounded())
            guard held >= 1, held < split.train.count else {
                throw UsageError("--val \(val) of \(split.train.count) training examples holds out \(held); "
                    + "it must hold out at least 1 and keep at least 1")
            }
            (split, source) = split.holdingOut(held, seed: valSeed)
            if !quiet { log("note: --val \(val) holds out \(held) training examples (seed \(valSeed)) as the test set") }
        }
        split.test = split.test.prefix(testLimit)
        if !quiet {
            log("data: \(split.train.name) \(split.train.count) train, \(split.test.name) \(split.test.count) test, "
                + "\(split.train.channels)x\(split.train.height)x\(split.train.width), \(split.train.classes) classes "
                + "(loaded in \(format(monotonicSeconds() - t0, 1)) s)")
        }
        var loaded = TrainingData(split: split, noise: noiseModel, noiseSeed: noiseSeed)
        loaded.sourceIndices = source
        if split.test.count == 0 && !quiet {
            log("note: \(data) has no test set: test evaluation is skipped (hold out a validation set with --val 0.1)")
        }
        if let noiseModel, let flipped = loaded.flipped, !quiet {
            log("noise: \(noiseModel), \(flipped.count) labels flipped (noise seed \(noiseSeed))")
        }
        return loaded
    }

    /// Checks the options, creates the device and loads the data: everything a protocol runs on.
    func setup(quiet: Bool) throws -> ExperimentSetup {
        try check()
        let device = try model.makeDevice()
        let data = try loadData(quiet: quiet)
        return ExperimentSetup(data: data, device: device, configuration: try configuration(input: data.inputShape))
    }

    /// The options as `meta.json` records them, with the values the run used.
    func meta(_ setup: ExperimentSetup) -> [(String, JSON)] {
        meta(setup.configuration) + [("train_examples", .int(setup.data.count)), ("classes", .int(setup.data.classes))]
    }

    func meta(_ config: TrainingConfiguration) -> [(String, JSON)] {
        let a = config.augmentation
        let augmentation = a.isNone ? "none"
            : ([a.cropPadding > 0 ? "crop:\(a.cropPadding)" : nil, a.horizontalFlip ? "flip" : nil, a.reflect ? "reflect" : nil]
                .compactMap { $0 }.joined(separator: ","))
        return [("data", .string(data)), ("limit", limit.map { .int($0) } ?? .string("none")),
                ("test_limit", testLimit.map { .int($0) } ?? .string("none")),
                ("model", .string(model.modelName)), ("width", .int(config.width)), ("batch", .int(config.batchSize)),
                ("lr", .double(Double(config.schedule.peak))), ("schedule", .string(schedule)), ("warmup_epochs", .int(warmup)),
                ("momentum", .double(Double(momentum))), ("nesterov", .bool(nesterov)),
                ("weight_decay", .double(Double(weightDecay))), ("augment", .string(augmentation)),
                ("noise", .string(noise ?? "none")), ("noise_seed", .int(Int(noiseSeed))),
                ("val", val.map { .double($0) } ?? .string("none")), ("val_seed", .int(Int(valSeed)))]
    }
}

/// Options of the commands that run a model on random data (`bench`, `cross-check`).
struct SyntheticOptions: ParsableArguments {
    @OptionGroup var model: ModelOptions

    @Option(help: "Input shape CxHxW.")
    var input: String = "3x32x32"

    @Option(parsing: .unconditional, help: "Classes.")
    var classes: Int = 10

    @Option(parsing: .unconditional, help: "Seed of the initialisation and the random batches.")
    var seed: UInt64 = 0

    /// A seeded model with buffers for one random batch of `--batch` examples.
    func make() throws -> SyntheticBatch {
        let arch = try model.architecture()
        let dims = input.split(separator: "x").compactMap { Int($0) }
        guard dims.count == 3, dims.allSatisfy({ $0 > 0 }) else { throw UsageError("--input \(input) is not CxHxW") }
        guard classes >= 2 else { throw UsageError("--classes must be at least 2") }
        guard model.width >= 1 else { throw UsageError("--width must be at least 1") }
        guard model.batch >= 2 else { throw UsageError("--batch must be at least 2") }
        let device = try model.makeDevice()
        return try SyntheticBatch(architecture: arch, input: FeatureShape(dims[0], dims[1], dims[2]), classes: classes,
                                  width: model.width, batch: model.batch, device: device, seed: seed)
    }
}

