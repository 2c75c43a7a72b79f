import ArgumentParser
import Kernels
import Metrics
import Trainer

#if canImport(Glibc)
import Glibc
#endif

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a classifier; stream per-example statistics and per-epoch metrics.",
        discussion: """
        Writes into --out DIR:
          epochs.csv    one row per epoch: loss, accuracy, test accuracy, learning rate, time
          examples.npy  one record per example per presentation (NumPy structured array with
                        fields index, epoch, step, loss, margin, probability, el2n, correct)
          run.json      the configuration, device and command line
        """)

    @Option(help: "Data set: fashion-mnist (Debian's dataset-fashion-mnist) or a directory with IDX, CIFAR binary or NPY files.")
    var data: String = "fashion-mnist"

    @Option(help: "Use only the first N training examples.")
    var limit: Int?

    @OptionGroup var model: ModelOptions

    @Option(help: "Epochs.")
    var epochs: Int = 10

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

    @Option(help: "Random seed (initialisation, order, augmentation).")
    var seed: UInt64 = 0

    @Option(help: "Augmentation: comma-separated crop, flip, reflect (mirror padding for crop), or none.")
    var augment: String = "crop,flip"

    @Option(help: "Output directory.")
    var out: String?

    @Option(help: "Write a JSON summary here.")
    var json: String?

    @Flag(help: "Print only the final line.")
    var quiet: Bool = false

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

    func run() throws {
        let arch = try model.architecture()
        guard epochs >= 1 else { throw badInput("--epochs must be at least 1") }
        guard lr > 0 else { throw badInput("--lr must be positive") }
        if let limit, limit < 2 { throw badInput("--limit must be at least 2") }
        var config = TrainingConfiguration()
        config.architecture = arch
        config.width = model.width
        config.epochs = epochs
        config.batchSize = model.batch
        config.momentum = momentum
        config.nesterov = nesterov
        config.weightDecay = weightDecay
        config.seed = seed
        config.augmentation = try parsedAugmentation()
        let device = try model.makeDevice()

        let t0 = monotonicSeconds()
        var split = try reportingErrors { try DataSource.load(data) }
        split.train = split.train.prefix(limit)
        let steps = (split.train.count + config.batchSize - 1) / config.batchSize
        config.schedule = LearningRateSchedule(peak: lr, kind: try parsedSchedule(), warmupSteps: warmup * steps)
        if !quiet {
            log("data: \(split.train.name) \(split.train.count) train, \(split.test.name) \(split.test.count) test, "
                + "\(split.train.channels)x\(split.train.height)x\(split.train.width), \(split.train.classes) classes "
                + "(loaded in \(format(monotonicSeconds() - t0, 1)) s)")
        }
        let session = try reportingErrors { try TrainingSession(configuration: config, data: split, device: device) }
        if !quiet {
            log("model: \(arch.rawValue)\(arch == .resnet18 ? " width \(config.width)" : ""), "
                + "\(session.model.parameterCount) parameters; device: \(device.name)")
        }

        if !quiet {
            // A progress line at most every 15 s, for long epochs.
            var last = monotonicSeconds(), epochStart = last
            session.onStep = { epoch, done, total in
                let now = monotonicSeconds()
                if done == session.configuration.batchSize { epochStart = now; last = now }
                if now - last >= 15 && done < total {
                    last = now
                    let rate = Double(done) / max(now - epochStart, 1e-9)
                    log("  epoch \(epoch + 1): \(done)/\(total) examples, \(format(rate, 1)) ex/s, "
                        + "about \(format(Double(total - done) / rate, 0)) s left in the epoch")
                }
            }
        }
        var sinks: [ExampleStatsSink] = []
        var csv: OutputFile?
        if let out {
            try makeDirectory(out)
            sinks.append(try reportingErrors { try ExampleStatsNPYWriter(path: out + "/examples.npy") })
            csv = try reportingErrors { try OutputFile(path: out + "/epochs.csv") }
            try csv?.write("epoch,lr,train_loss,train_accuracy,test_loss,test_accuracy,train_seconds,examples_per_second\n")
        }
        let summaries = try reportingErrors {
            try session.run(sinks: sinks) { s in
                if !quiet {
                    let test = s.testAccuracy.map { " test acc \(format(100 * $0, 2))%" } ?? ""
                    log("epoch \(s.epoch + 1)/\(epochs): loss \(format(s.trainLoss, 4)) acc \(format(100 * s.trainAccuracy, 2))%"
                        + "\(test) lr \(format(Double(s.learningRate), 4)) \(format(s.trainSeconds, 1)) s "
                        + "(\(format(s.examplesPerSecond, 1)) ex/s)")
                }
                try? csv?.write("\(s.epoch + 1),\(s.learningRate),\(s.trainLoss),\(s.trainAccuracy),"
                    + "\(s.testLoss.map { "\($0)" } ?? ""),\(s.testAccuracy.map { "\($0)" } ?? ""),"
                    + "\(s.trainSeconds),\(s.examplesPerSecond)\n")
            }
        }
        try reportingErrors { try csv?.commit() }
        let total = monotonicSeconds() - t0
        let last = summaries.last!
        let accuracy = last.testAccuracy ?? 0
        print("test accuracy \(format(100 * accuracy, 2))% after \(epochs) epochs (\(arch.rawValue), \(format(total, 1)) s)")

        let summary = JSON.object([
            ("command", .string(CommandLine.arguments.joined(separator: " "))),
            ("version", .string(Sieve.version)),
            ("data", .string(split.train.name)), ("train_examples", .int(split.train.count)),
            ("model", .string(arch.rawValue)), ("width", .int(config.width)),
            ("parameters", .int(session.model.parameterCount)),
            ("epochs", .int(epochs)), ("batch", .int(config.batchSize)), ("lr", .double(Double(lr))),
            ("schedule", .string(schedule)), ("momentum", .double(Double(momentum))), ("nesterov", .bool(nesterov)),
            ("weight_decay", .double(Double(weightDecay))), ("seed", .int(Int(seed))), ("augment", .string(augment)),
            ("device", .string(device.name)),
            ("test_accuracy", .double(accuracy)), ("seconds", .double(total)),
        ])
        if let out { try reportingErrors { try OutputFile.write(summary.rendered + "\n", to: out + "/run.json") } }
        if let json { try reportingErrors { try OutputFile.write(summary.rendered + "\n", to: json) } }
    }
}

/// `mkdir -p`.
func makeDirectory(_ path: String) throws {
    var prefix = path.hasPrefix("/") ? "/" : ""
    for part in path.split(separator: "/") {
        prefix += part + "/"
        if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
            throw badInput("cannot create directory \(prefix): \(String(cString: strerror(errno)))")
        }
    }
}

/// Fixed-point formatting without Foundation.
func format(_ value: Double, _ digits: Int) -> String {
    guard value.isFinite else { return "\(value)" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let r = (abs(value) * scale).rounded()
    let whole = Int(r / scale), frac = Int(r - Double(whole) * scale)
    var f = String(frac)
    while f.count < digits { f = "0" + f }
    return (value < 0 && r > 0 ? "-" : "") + String(whole) + (digits > 0 ? "." + f : "")
}

/// A minimal JSON value for summaries.
enum JSON {
    case string(String), int(Int), double(Double), bool(Bool)
    case object([(String, JSON)])
    case array([JSON])

    var rendered: String {
        switch self {
        case .string(let s): return JSON.quote(s)
        case .int(let i): return String(i)
        case .double(let d): return d.isFinite ? "\(d)" : "null"
        case .bool(let b): return b ? "true" : "false"
        case .array(let a): return "[" + a.map(\.rendered).joined(separator: ", ") + "]"
        case .object(let fields):
            return "{" + fields.map { "\(JSON.quote($0.0)): \($0.1.rendered)" }.joined(separator: ", ") + "}"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if ch.value < 0x20 { out += "\\u00" + (ch.value < 16 ? "0" : "") + String(ch.value, radix: 16) }
                else { out.unicodeScalars.append(ch) }
            }
        }
        return out + "\""
    }
}
