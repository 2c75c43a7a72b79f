import ArgumentParser
import Kernels
import Jobs
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
    @Option(help: "Architecture: mlp, cnn, resnet18, preact-resnet18, wrn-28 (WideResNet-28-k, k = --width), resnet9 or resnet18-imagenet (torchvision's, for 64 px and up) (default: resnet18; cnn for `audit`).")
    var model: String?

    @Option(parsing: .unconditional, help: "ResNet base width (64 is the standard network; default 16), or WideResNet's widening factor k (default 10).")
    var width: Int?

    /// `--width`, else the architecture's default.
    func width(for architecture: Architecture) -> Int { width ?? architecture.defaultWidth }

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

    @Option(parsing: .unconditional, help: "Peak learning rate (default: 0.05 mlp, 0.02 cnn, 0.1 the ResNets).")
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

    @Option(help: "Augmentation: comma-separated crop, flip, reflect (mirror padding for crop), or none (default: none for mlp and cnn; crop for the ResNets, plus flip on colour images).")
    var augment: String?

    @Option(help: "Label noise injected into the training labels: symmetric:RATE or pairs:RATE.")
    var noise: String?

    @Option(parsing: .unconditional, help: "Seed of the label noise.")
    var noiseSeed: UInt64 = 0

    @Option(help: "Bring every image to one size: S (shorter side to S, aspect kept, then the centre SxS, as torchvision's Resize(S) + CenterCrop(S)) or HxW (both sides, as Resize((H, W))); bilinear with antialiasing, as PIL. Needed for image folders of mixed sizes.")
    var resize: String?

    /// The data options as a job's ``DataSpec``.
    func dataSpec() throws -> DataSpec {
        var d = DataSpec()
        d.source = data
        d.limit = limit
        d.testLimit = testLimit
        d.val = val
        d.valSeed = valSeed
        d.classes = classes
        d.noise = try noise.map { try LabelNoise(parsing: $0) }
        d.noiseSeed = noiseSeed
        d.resize = try resize.map { try ImageResize(parsing: $0) }
        return d
    }

    /// The model and optimisation options as a job's ``TrainingSpec`` (`defaultModel` when `--model` is not given).
    func trainingSpec(defaultModel: Architecture = .resnet18) throws -> TrainingSpec {
        var t = TrainingSpec()
        t.model = model.model == nil ? defaultModel : try model.architecture()
        t.width = model.width(for: t.model)
        t.batch = model.batch
        t.lr = lr
        t.schedule = try ScheduleKind(parsing: schedule)
        t.warmup = warmup
        t.momentum = momentum
        t.nesterov = nesterov
        t.weightDecay = weightDecay
        t.augment = try augment.map { try AugmentationSpec(parsing: $0) }
        return t
    }

    /// A job running `protocol_` with these options, checked (before anything loads).
    func job(_ protocol_: ProtocolSpec, defaultModel: Architecture = .resnet18, shard: String? = nil) throws -> JobSpec {
        var spec = JobSpec(protocol: protocol_)
        spec.data = try dataSpec()
        spec.training = try trainingSpec(defaultModel: defaultModel)
        spec.device = model.deviceSpec.spec
        spec.shard = try shard.map { try Shard(parsing: $0) }
        try spec.check()
        try model.checkDevice()
        return spec
    }

    /// Checks every data and training option and the device choice, before anything loads.
    func check() throws {
        try dataSpec().check()
        _ = try trainingSpec().configuration(input: FeatureShape(1, 32, 32))
        try model.checkDevice()
    }

    /// Creates the device and loads the data (`train`, which runs no job).
    func setup(quiet: Bool) throws -> ExperimentSetup {
        try check()
        let device = try model.makeDevice()
        let data = try JobRunner.load(try dataSpec(), quiet: quiet, hooks: consoleHooks())
        return ExperimentSetup(data: data, device: device, configuration: try trainingSpec().configuration(input: data.inputShape))
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
        guard model.width(for: arch) >= 1 else { throw UsageError("--width must be at least 1") }
        guard model.batch >= 2 else { throw UsageError("--batch must be at least 2") }
        let device = try model.makeDevice()
        return try SyntheticBatch(architecture: arch, input: FeatureShape(dims[0], dims[1], dims[2]), classes: classes,
                                  width: model.width(for: arch), batch: model.batch, device: device, seed: seed)
    }
}

