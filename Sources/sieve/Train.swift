import ArgumentParser
import Jobs
import Kernels
import Metrics
import Storage
import Trainer

#if canImport(Glibc)
import Glibc
#endif

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a classifier; stream per-example statistics and per-epoch metrics.",
        discussion: """
        Writes into --out DIR:
          epochs.csv    per epoch: loss, accuracy, test accuracy, lr, time
          examples.npy  one record per example per presentation (index, epoch,
                        step, loss, margin, probability, el2n, correct)
          meta.json     the configuration, device and command line
          flipped.txt   with --noise: the indices whose label was changed

        Examples:
          sieve train --model cnn --epochs 3 --out runs/cnn
          sieve train --model resnet18 --data ./cifar-10 --epochs 30 --subset keep.txt
        """)

    @Option(parsing: .unconditional, help: "Epochs.")
    var epochs: Int = 10

    @Option(parsing: .unconditional, help: "Random seed (initialisation, order, augmentation).")
    var seed: UInt64 = 0

    @Option(help: "Train only on these examples: a file with one 0-based index per line (see `sieve prune`).")
    var subset: String?

    @Option(help: "Output directory.")
    var out: String?

    @Option(help: "Write a JSON summary here.")
    var json: String?

    @Flag(help: "Print only the final line.")
    var quiet: Bool = false

    @Flag(help: "Replace --out whole if it already holds files (another run's).")
    var force: Bool = false

    @OptionGroup var options: TrainingOptions

    func run() throws {
        guard epochs >= 1 else { throw UsageError("--epochs must be at least 1") }
        try options.check()
        if let json { try OutputFile.checkWritable(json, option: "--json", replacing: .jsonSummary) }
        let reads = [(option: "--data", path: DataSource.folder(of: options.data))] + (subset.map { [(option: "--subset", path: $0)] } ?? [])
        let run = try out.map { try RunDirectory($0, force: force, reads: reads) }
        let t0 = monotonicSeconds()
        let setup = try options.setup(quiet: quiet)
        var indices: [Int32]? = nil
        if let subset {
            let list = try IndexList.read(subset)
            if list.isEmpty { throw UsageError("--subset \(subset) lists no example") }
            if let bad = list.first(where: { $0 >= setup.data.count }) {
                throw UsageError("--subset \(subset) lists example \(bad), but the training set has \(setup.data.count)")
            }
            indices = list.map { Int32($0) }
        }
        var config = setup.configuration
        config.epochs = epochs
        config.seed = seed
        let session = try TrainingSession(configuration: config, data: setup.data.split, device: setup.device,
                                          trainLabels: setup.data.labels)
        if let indices { try session.setTrainingIndices(indices) }
        if !quiet {
            let arch = config.architecture
            log("model: \(arch.rawValue)\(arch == .resnet18 ? " width \(config.width)" : ""), "
                + "\(session.model.parameterCount) parameters; device: \(setup.device.name); lr \(config.schedule.peak)"
                + (indices.map { "; training on a subset of \($0.count) examples" } ?? ""))
        }
        var sinks: [ExampleStatsSink] = []
        var csv: OutputFile?
        if let run {
            if let flipped = setup.data.flipped { try IndexList.write(flipped, to: run.path("flipped.txt")) }
            sinks.append(try ExampleStatsNPYWriter(path: run.path("examples.npy")))
            csv = try OutputFile(path: run.path("epochs.csv"))
            try csv?.write(EpochSummary.csvHeader)
        }
        var plan = WorkPlan()
        plan.add(.training(epoch: 0), epochs * (indices?.count ?? setup.data.count))
        plan.add(.evaluation, epochs * setup.data.split.test.count)
        let display = JobProgress(quiet: quiet, plan: plan)
        defer { display.finish() }
        var progress = display.callbacks
        if !quiet { progress.epoch = { _, s, epochs in display.line(describe(s, of: epochs)) } }
        let summaries = try setup.train(session, unit: "", progress: progress, sinks: sinks, afterEpoch: { s in
            try csv?.write(s.csvRow)
        })
        try csv?.commit()
        display.finish()
        let total = monotonicSeconds() - t0
        let accuracy = summaries.last?.testAccuracy ?? .nan
        let what = summaries.last?.testAccuracy == nil
            ? "training accuracy \(format(100 * (summaries.last?.trainAccuracy ?? .nan), 2))% (no test set)"
            : "test accuracy \(format(100 * accuracy, 2))%"
        print("\(what) after \(epochs) epochs (\(config.architecture.rawValue), \(format(total, 1)) s)")

        let summary = JSON.object(
            [("run_id", .string(run?.runID ?? "none")), ("command", .string(CommandLine.arguments.joined(separator: " "))),
             ("version", .string(Sieve.version)), ("warnings", .array(runWarnings.map { .string($0) }))]
                + JobSpec.settingsMeta(data: try options.dataSpec(), training: try options.trainingSpec(), configuration: config)
                + [("epochs", .int(epochs)), ("seed", .uint(seed)), ("subset", .string(subset ?? "none")),
                   ("train_examples", .int(indices?.count ?? setup.data.count)),
                   ("parameters", .int(session.model.parameterCount)), ("device", .string(setup.device.name)),
                   ("data_fingerprint", .string(setup.data.fingerprint)),
                   ("test_accuracy", .double(accuracy)), ("seconds", .double(total))])
        let profile = reportProfile(setup.device, title: "train, \(session.step) steps", steps: session.step)
        var withProfile = summary
        if let profile, case .object(let pairs) = summary { withProfile = .object(pairs + [("profile", profile)]) }
        if let run {
            try OutputFile.write(summary.rendered + "\n", to: run.path(RunFolder.metaFile))
            try run.commit()
        }
        if let json { try OutputFile.writeSummary(withProfile, to: json) }
    }
}

