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
          flipped.txt   with --noise: the indices whose training label was changed
        """)

    @OptionGroup var options: TrainingOptions

    @Option(help: "Epochs.")
    var epochs: Int = 10

    @Option(help: "Random seed (initialisation, order, augmentation).")
    var seed: UInt64 = 0

    @Option(help: "Train only on these examples: a file with one 0-based index per line (see `sieve prune`).")
    var subset: String?

    @Option(help: "Output directory.")
    var out: String?

    @Option(help: "Write a JSON summary here.")
    var json: String?

    @Flag(help: "Print only the final line.")
    var quiet: Bool = false

    func run() throws {
        guard epochs >= 1 else { throw badInput("--epochs must be at least 1") }
        try options.check()
        let device = try options.model.makeDevice()
        let t0 = monotonicSeconds()
        let loaded = try options.loadData(quiet: quiet)
        var indices: [Int32]? = nil
        if let subset {
            let list = try reportingErrors { try Pruning.readIndexList(subset) }
            if list.isEmpty { throw badInput("--subset \(subset) lists no example") }
            if let bad = list.first(where: { $0 >= loaded.split.train.count }) {
                throw badInput("--subset \(subset) lists example \(bad), but the training set has \(loaded.split.train.count)")
            }
            indices = list.map { Int32($0) }
        }
        try train(loaded, device: device, indices: indices, t0: t0)
    }

    func train(_ loaded: LoadedData, device: Device, indices: [Int32]?, t0: Double) throws {
        let config = try options.configuration(epochs: epochs, seed: seed, examples: indices?.count ?? loaded.split.train.count)
        let session = try reportingErrors {
            try TrainingSession(configuration: config, data: loaded.split, device: device, trainLabels: loaded.labels)
        }
        if let indices { session.trainingIndices = indices }
        if !quiet {
            let arch = config.architecture
            log("model: \(arch.rawValue)\(arch == .resnet18 ? " width \(config.width)" : ""), "
                + "\(session.model.parameterCount) parameters; device: \(device.name)"
                + (indices.map { "; training on a subset of \($0.count) examples" } ?? ""))
            attachProgress(session)
        }
        var sinks: [ExampleStatsSink] = []
        var csv: OutputFile?
        if let out {
            try makeDirectory(out)
            try loaded.writeFlipped(to: out)
            sinks.append(try reportingErrors { try ExampleStatsNPYWriter(path: out + "/examples.npy") })
            csv = try reportingErrors { try OutputFile(path: out + "/epochs.csv") }
            try csv?.write("epoch,lr,train_loss,train_accuracy,test_loss,test_accuracy,train_seconds,examples_per_second\n")
        }
        let summaries = try reportingErrors {
            try session.run(sinks: sinks) { s in
                if !quiet { log(describe(s, of: epochs)) }
                try? csv?.write("\(s.epoch + 1),\(s.learningRate),\(s.trainLoss),\(s.trainAccuracy),"
                    + "\(s.testLoss.map { "\($0)" } ?? ""),\(s.testAccuracy.map { "\($0)" } ?? ""),"
                    + "\(s.trainSeconds),\(s.examplesPerSecond)\n")
            }
        }
        try reportingErrors { try csv?.commit() }
        let total = monotonicSeconds() - t0
        let accuracy = summaries.last!.testAccuracy ?? 0
        print("test accuracy \(format(100 * accuracy, 2))% after \(epochs) epochs (\(config.architecture.rawValue), \(format(total, 1)) s)")

        let summary = JSON.object(
            [("command", .string(CommandLine.arguments.joined(separator: " "))), ("version", .string(Sieve.version))]
                + options.meta
                + [("epochs", .int(epochs)), ("seed", .int(Int(seed))), ("subset", .string(subset ?? "none")),
                   ("train_examples", .int(indices?.count ?? loaded.split.train.count)),
                   ("parameters", .int(session.model.parameterCount)), ("device", .string(device.name)),
                   ("test_accuracy", .double(accuracy)), ("seconds", .double(total))])
        if let out { try reportingErrors { try OutputFile.write(summary.rendered + "\n", to: out + "/run.json") } }
        if let json { try reportingErrors { try OutputFile.write(summary.rendered + "\n", to: json) } }
    }
}

/// One line per epoch.
func describe(_ s: EpochSummary, of epochs: Int) -> String {
    let test = s.testAccuracy.map { " test acc \(format(100 * $0, 2))%" } ?? ""
    return "epoch \(s.epoch + 1)/\(epochs): loss \(format(s.trainLoss, 4)) acc \(format(100 * s.trainAccuracy, 2))%"
        + "\(test) lr \(format(Double(s.learningRate), 4)) \(format(s.trainSeconds, 1)) s "
        + "(\(format(s.examplesPerSecond, 1)) ex/s)"
}

/// A progress line at most every 15 s, for long epochs.
func attachProgress(_ session: TrainingSession) {
    var last = monotonicSeconds(), epochStart = last
    let batch = session.configuration.batchSize
    session.onStep = { epoch, done, total in
        let now = monotonicSeconds()
        if done == batch { epochStart = now; last = now }
        if now - last >= 15 && done < total {
            last = now
            let rate = Double(done) / max(now - epochStart, 1e-9)
            log("  epoch \(epoch + 1): \(done)/\(total) examples, \(format(rate, 1)) ex/s, "
                + "about \(format(Double(total - done) / rate, 0)) s left in the epoch")
        }
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
