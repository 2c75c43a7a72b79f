import ArgumentParser
import Kernels
import Metrics
import Trainer
import Report

struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Score every training example (writes scores.csv, one .npy per score, meta.json).",
        subcommands: [GraNd.self, EL2N.self, Dynamics.self, SSFT.self])
}

/// Output options shared by the score commands.
struct ScoreOutput: ParsableArguments {
    @Option(help: "Output directory.")
    var out: String = "scores"

    @Option(help: "Also write a JSON summary (detection AUROC/AP with --noise) here.")
    var json: String?

    @Flag(help: "Print only the summary.")
    var quiet: Bool = false

    @Flag(help: "Replace --out whole if it already holds files (another run's); also discards the finished units of an interrupted run in OUT.units/.")
    var force: Bool = false

    @Flag(inversion: .prefixedNo, help: "Write report.html (histograms, ROC/PR curves, correlations, image grids) into --out.")
    var report: Bool = true

    /// Checks `--json` and takes the output folder (a staging folder beside it, renamed
    /// into place at the end), before any work.
    func prepare(resume: Bool = false) throws -> RunDirectory {
        if let json { try OutputFile.checkWritable(json, option: "--json") }
        return try RunDirectory(out, force: force, resume: resume)
    }

    /// Writes the table, `flipped.txt`, `meta.json`, the command's `extra` files and
    /// `report.html` into the run folder and commits it, prints a summary (detection
    /// figures when the labels were noised, the most suspicious examples otherwise) and
    /// writes the JSON summary.
    /// `deviceName` replaces the setup's device in `meta.json` (a merge records the shards' device).
    func finish(_ scores: [Score], setup: ExperimentSetup, run: RunDirectory, command: String, meta: [(String, JSON)],
                seconds: Double, deviceName: String? = nil, extra: (RunDirectory) throws -> Void = { _ in }) throws {
        let data = setup.data
        var table = data.scoreTable()
        for s in scores { table.add(s) }
        if let flipped = data.flipped { try Pruning.writeIndexList(flipped, to: run.path("flipped.txt")) }
        let all: [(String, JSON)] = runMeta(run: run, command: command, device: deviceName ?? setup.device.name, seconds: seconds, data: data)
            + meta
        try table.write(to: run.staging, meta: all)
        try extra(run)
        if report {
            let meta = try JSONReader.read(path: run.path("meta.json"))
            let scores = table.scores.filter { $0.name != "input_norm" }
            let html = HTMLReport.render(ReportInput(
                title: reportTitle(meta: meta, examples: table.count), facts: reportFacts(meta), scores: scores,
                givenLabels: table.givenLabels, originalLabels: table.originalLabels,
                classNames: classNames(data.train.classNames, classes: data.classes),
                inputNorm: table["input_norm"]?.values, images: reportImages(data.train), paths: data.train.paths))
            try OutputFile.write(html, to: run.path("report.html"))
        }
        try run.commit()
        var summary: [(String, JSON)] = [("command", .string(command)), ("examples", .int(table.count)),
                                         ("seconds", .double(seconds)), ("warnings", .array(runWarnings.map { .string($0) }))]
        print("\(command): scored \(table.count) examples in \(JobProgress.duration(seconds)) -> \(run.target)/scores.csv")
        if let positives = data.flippedMask, let noise = data.noise {
            print("detecting the \(data.flipped?.count ?? 0) flipped labels (\(noise)):")
            print("  score                      AUROC   AP      (suspicious end)")
            let (results, _) = Detection.evaluate(table.scores.map { ($0.name, $0.values, $0.direction) }, positives: positives)
            for r in results.sorted(by: { $0.auroc > $1.auroc }) {
                print("  \(r.name.padding(25)) \(format(r.auroc, 4))  \(format(r.averagePrecision, 4))  (\(r.direction.rawValue))")
            }
            summary.append(("detection", .object(results.map {
                ($0.name, .object([("auroc", .double($0.auroc)), ("average_precision", .double($0.averagePrecision))]))
            })))
        } else {
            print("most suspicious examples (index) by each score:")
            for s in table.scores {
                let top = Pruning.mostSuspicious(s.values, direction: s.direction, count: 8)
                print("  \(s.name.padding(25)) " + top.map(String.init).joined(separator: " "))
            }
        }
        if report { print("report: \(run.target)/report.html") }
        if let profile = reportProfile(setup.device, title: command) { summary.append(("profile", profile)) }
        if let json { try OutputFile.write(JSON.object(summary).rendered + "\n", to: json) }
    }
}

extension ScoreCommand {
    struct GraNd: EnsembleCommand {
        static let configuration = CommandConfiguration(
            commandName: "grand",
            abstract: "GraNd: each example's loss-gradient norm over all parameters, averaged over K initialisations.",
            discussion: """
            Batch norm in evaluation mode while scoring; gradient of each example's own loss over every trainable parameter, computed batched (mixed ghost norms) in one backward per batch. Also writes input_norm (||x_i|| of the normalised input), the baseline a reproduction found GraNd at initialisation tracks, and prints their rank correlation.

            Examples:
              sieve score grand --model resnet18 --data ./cifar-10 --inits 10 --out runs/grand
              sieve score grand --model cnn --limit 12000 --at-epoch 2 --inits 3
            """)

        @Option(name: [.customLong("inits"), .customLong("seeds")], parsing: .unconditional,
                help: "Independent initialisations K (seeds seed..seed+K-1; --seeds is the same option).")
        var inits: Int = 10

        @Option(parsing: .unconditional, help: "Score after this many training epochs (0 = at initialisation).")
        var atEpoch: Int = 0

        @Option(parsing: .unconditional, help: "Epochs of the learning-rate schedule the checkpoint is taken from (Data Diet: --at-epoch 20 --schedule-epochs 200); default: --at-epoch, so the schedule ends at the checkpoint.")
        var scheduleEpochs: Int?

        @Option(parsing: .unconditional, help: "First seed.")
        var seed: UInt64 = 0

        @OptionGroup var options: TrainingOptions
        @OptionGroup var output: ScoreOutput
        @OptionGroup var unitOptions: UnitOptions

        static let name = "score grand"
        var runs: Int { inits }
        var runsFlag: String { "--inits" }
        var gradNorms: Bool { true }

        func meta(_ setup: ExperimentSetup) -> [(String, JSON)] {
            options.meta(setup) + [
                ("inits", .int(inits)), ("at_epoch", .int(atEpoch)), ("schedule_epochs", .int(scheduleEpochs ?? atEpoch)), ("first_seed", .int(Int(seed))),
                ("batch_norm_while_scoring", .string("eval (running statistics)"))]
        }

        func run() throws { try runEnsemble() }

        func write(_ result: CheckpointEnsemble.Output, setup: ExperimentSetup, run: RunDirectory, seconds: Double,
                   extraMeta: [(String, JSON)], deviceName: String?) throws {
            let rho = result.grandInputNormCorrelation ?? .nan
            try output.finish(result.grandScores, setup: setup, run: run, command: Self.name,
                              meta: meta(setup) + [("spearman_grand_input_norm", .double(rho))] + extraMeta,
                              seconds: seconds, deviceName: deviceName) { run in
                try NPYFormat.write((result.gradNormPerRun ?? []).flatMap { $0 }, shape: [inits, setup.data.count],
                                    to: run.path("grand_per_init.npy"))
            }
            print("rank correlation of GraNd with the input norm: \(format(rho, 3))")
        }
    }

    struct EL2N: EnsembleCommand {
        static let configuration = CommandConfiguration(
            commandName: "el2n",
            abstract: "EL2N: the norm of each example's softmax error vector after E epochs, averaged over seeds.",
            discussion: """
            Examples:
              sieve score el2n --model resnet18 --data ./cifar-10 --at-epoch 20 --schedule-epochs 200 --seeds 10
              sieve score el2n --model cnn --limit 12000 --at-epoch 2 --seeds 3 --out runs/el2n
            """)

        @Option(name: [.customLong("seeds"), .customLong("inits")], parsing: .unconditional,
                help: "Independent trainings K (seeds seed..seed+K-1; --inits is the same option).")
        var seeds: Int = 10

        @Option(parsing: .unconditional, help: "Epochs of training before scoring (Data Diet: 20 of 200).")
        var atEpoch: Int = 20

        @Option(parsing: .unconditional, help: "Epochs of the learning-rate schedule the checkpoint is taken from (Data Diet: --at-epoch 20 --schedule-epochs 200); default: --at-epoch, so the schedule ends at the checkpoint.")
        var scheduleEpochs: Int?

        @Option(parsing: .unconditional, help: "First seed.")
        var seed: UInt64 = 0

        @OptionGroup var options: TrainingOptions
        @OptionGroup var output: ScoreOutput
        @OptionGroup var unitOptions: UnitOptions

        static let name = "score el2n"
        var runs: Int { seeds }
        var runsFlag: String { "--seeds" }
        var gradNorms: Bool { false }

        func meta(_ setup: ExperimentSetup) -> [(String, JSON)] {
            options.meta(setup) + [
                ("seeds", .int(seeds)), ("at_epoch", .int(atEpoch)), ("schedule_epochs", .int(scheduleEpochs ?? atEpoch)), ("first_seed", .int(Int(seed)))]
        }

        func run() throws { try runEnsemble() }

        func write(_ result: CheckpointEnsemble.Output, setup: ExperimentSetup, run: RunDirectory, seconds: Double,
                   extraMeta: [(String, JSON)], deviceName: String?) throws {
            try output.finish(result.el2nScores, setup: setup, run: run, command: Self.name, meta: meta(setup) + extraMeta,
                              seconds: seconds, deviceName: deviceName)
        }
    }

    struct Dynamics: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "dynamics",
            abstract: "Forgetting events, first-learned epoch, AUM and cartography from one training run.",
            discussion: """
            Examples:
              sieve score dynamics --model cnn --limit 12000 --noise symmetric:0.2 --epochs 8 --out runs/dyn
              sieve score dynamics --model resnet18 --data ./cifar-10 --epochs 30 --vog --aum-threshold
            """)

        @Option(parsing: .unconditional, help: "Epochs.")
        var epochs: Int = 10

        @Option(parsing: .unconditional, help: "Seed.")
        var seed: UInt64 = 0

        @Option(parsing: .unconditional, help: "First epoch (1-based) whose margins enter AUM (default: 2, or 1 for a one-epoch run).")
        var aumFrom: Int?

        @Flag(help: "Also run AUM's threshold-example procedure: two more trainings, each with a disjoint N/(K+1) examples moved to a fake class; writes aum_flagged.")
        var aumThreshold: Bool = false

        @Flag(help: "Also compute VoG from input gradients at the end of every epoch (one forward and backward over the training set per epoch).")
        var vog: Bool = false

        @OptionGroup var options: TrainingOptions
        @OptionGroup var output: ScoreOutput
        @OptionGroup var resumeOption: ResumeOption

        func run() throws {
            guard epochs >= 1 else { throw UsageError("--epochs must be at least 1") }
            let aumFromEpoch = aumFrom ?? min(2, epochs)
            guard aumFromEpoch >= 1 && aumFromEpoch <= epochs else { throw UsageError("--aum-from must lie in 1...\(epochs)") }
            try options.check()
            let run = try output.prepare()
            let store = try unitStore(for: run, resume: resumeOption.resume, force: output.force)
            let t0 = monotonicSeconds()
            let setup = try options.setup(quiet: output.quiet)
            let meta = options.meta(setup) + [("epochs", .int(epochs)), ("seed", .int(Int(seed))), ("aum_from_epoch", .int(aumFromEpoch)),
                                              ("vog", .bool(vog)), ("aum_threshold", .bool(aumThreshold))]
            let settings = unitSettings(command: "score dynamics", meta: meta, setup: setup)
            try adopt(store, settings: settings)
            var dynamics = try DynamicsRun(setup: setup, epochs: epochs, seed: seed, aumFromEpoch: aumFromEpoch, vog: vog)
            let stream = try keepTrainingState(of: &dynamics, in: store, resume: resumeOption.resume)
            let threshold = aumThreshold ? try AUMThresholdRuns(setup: setup, epochs: epochs, seed: seed, aumFromEpoch: aumFromEpoch) : nil
            let display = JobProgress(quiet: output.quiet, plan: dynamics.plan + (threshold?.plan ?? WorkPlan()))
            let result = try dynamics.run(progress: display.callbacks)
            var scores = result.scores
            if let threshold {
                let r = try threshold.run(storingIn: store, prefix: "aum-threshold.", reuse: resumeOption.resume, progress: display.callbacks, notes: unitNotes)
                scores.insert(r.score, at: scores.count - 1)
            }
            display.finish()
            try output.finish(scores, setup: setup, run: run, command: "score dynamics",
                              meta: meta + [("test_accuracy", .double(result.testAccuracy ?? .nan))], seconds: monotonicSeconds() - t0) { run in
                try linkIntoRun(stream, run, as: "examples.npy")
                try NPYFormat.write(result.correctness, shape: [epochs, setup.data.count], to: run.path("correctness_by_epoch.npy"))
                try NPYFormat.write(result.el2nByEpoch, shape: [epochs, setup.data.count], to: run.path("el2n_by_epoch.npy"))
            }
            store.remove()
        }
    }

    struct SSFT: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ssft",
            abstract: "Second-split forgetting time (Maini et al.): train on half A, then on half B, watching A forget.",
            discussion: """
            The training set is split in two seeded halves. Each half in turn is the first split: train on it for --epochs (recording its correctness after every epoch: FSLT), then continue the same network on the other half with a fresh optimiser and schedule for --epochs, recording the first half's correctness after every epoch (SSFT = first epoch from which it stays misclassified; epochs+1 = never forgotten). Evaluation uses batch norm in evaluation mode (the reference code uses train mode). Averaged over --seeds.

            Examples:
              sieve score ssft --model cnn --limit 12000 --noise symmetric:0.2 --epochs 5 --out runs/ssft
              sieve score ssft --model resnet18 --data ./cifar-10 --epochs 20 --seeds 3
            """)

        @Option(parsing: .unconditional, help: "Epochs of each split.")
        var epochs: Int = 10

        @Option(parsing: .unconditional, help: "Independent repetitions (split, initialisation and order all change).")
        var seeds: Int = 1

        @Option(parsing: .unconditional, help: "First seed.")
        var seed: UInt64 = 0

        @OptionGroup var options: TrainingOptions
        @OptionGroup var output: ScoreOutput
        @OptionGroup var resumeOption: ResumeOption

        @Option(help: "Run the units (seed, half) at positions p with p % N == I (0-based I/N; two units per seed) and write them into --out as a shard folder for `sieve merge`.")
        var shard: String?

        static let name = "score ssft"

        func protocolAndMeta(_ setup: ExperimentSetup) throws -> (SecondSplitForgetting, [(String, JSON)]) {
            let protocol_ = try SecondSplitForgetting(setup: setup, epochs: epochs, seeds: (0..<UInt64(seeds)).map { seed + $0 })
            return (protocol_, options.meta(setup) + [
                ("epochs_per_split", .int(epochs)), ("seeds", .int(seeds)), ("first_seed", .int(Int(seed))),
                ("batch_norm_while_recording", .string("eval (running statistics)"))])
        }

        func run() throws {
            guard epochs >= 1 else { throw UsageError("--epochs must be at least 1") }
            guard seeds >= 1 else { throw UsageError("--seeds must be at least 1") }
            try options.check()
            let shard = try parseShard(shard)
            let run = try output.prepare(resume: resumeOption.resume)
            let store = try unitStore(for: run, resume: resumeOption.resume, force: output.force)
            let t0 = monotonicSeconds()
            let setup = try options.setup(quiet: output.quiet)
            let (protocol_, meta) = try protocolAndMeta(setup)
            let progress = JobProgress(quiet: output.quiet, plan: shard == nil ? protocol_.plan : WorkPlan())
            guard let result = try runUnits(protocol_, meta: meta, setup: setup, run: run, store: store, shard: shard,
                                            resume: resumeOption.resume, progress: progress, since: t0) else { return }
            try write(result, setup: setup, run: run, meta: meta, seconds: monotonicSeconds() - t0)
            store.remove()
        }

        /// Writes the scores folder (also what `sieve merge` does with the shards' units).
        func write(_ result: SecondSplitForgetting.Output, setup: ExperimentSetup, run: RunDirectory, meta: [(String, JSON)],
                   seconds: Double, deviceName: String? = nil) throws {
            try output.finish(result.scores, setup: setup, run: run, command: Self.name, meta: meta, seconds: seconds, deviceName: deviceName)
        }
    }
}
