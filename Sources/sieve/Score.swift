import ArgumentParser
import Kernels
import Metrics
import Trainer

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

    @Flag(help: "Replace --out whole if it already holds files (another run's).")
    var force: Bool = false

    /// Checks `--json` and takes the output folder (a staging folder beside it, renamed
    /// into place at the end), before any work.
    func prepare() throws -> RunDirectory {
        if let json { try OutputFile.checkWritable(json, option: "--json") }
        return try RunDirectory(out, force: force)
    }

    /// `score grand` and `score el2n`: checks, loads the data and runs the checkpoint
    /// ensemble over seeds `seed..<seed+runs`; returns the setup, the result and the start time.
    func runEnsemble(_ options: TrainingOptions, runs: Int, flag: String, seed: UInt64, atEpoch: Int, scheduleEpochs: Int?,
                     gradNorms: Bool) throws -> (ExperimentSetup, CheckpointEnsemble.Output, RunDirectory, Double) {
        guard runs >= 1 else { throw UsageError("\(flag) must be at least 1") }
        guard atEpoch >= 0 else { throw UsageError("--at-epoch must not be negative") }
        if let scheduleEpochs, scheduleEpochs < atEpoch {
            throw UsageError("--schedule-epochs \(scheduleEpochs) must be at least --at-epoch \(atEpoch)")
        }
        try options.check()
        let run = try prepare()
        let t0 = monotonicSeconds()
        let setup = try options.setup(quiet: quiet)
        let ensemble = try CheckpointEnsemble(setup: setup, seeds: (0..<UInt64(runs)).map { seed + $0 }, atEpoch: atEpoch,
                                              gradNorms: gradNorms, scheduleEpochs: scheduleEpochs)
        return (setup, try ensemble.run(progress: consoleProgress(quiet: quiet)), run, t0)
    }

    /// Writes the table, `flipped.txt`, `meta.json` and the command's `extra` files into
    /// the run folder and commits it, prints the detection figures when the labels were
    /// noised, and writes the JSON summary.
    func finish(_ scores: [Score], setup: ExperimentSetup, run: RunDirectory, command: String, meta: [(String, JSON)],
                seconds: Double, extra: (RunDirectory) throws -> Void = { _ in }) throws {
        let data = setup.data
        var table = data.scoreTable()
        for s in scores { table.add(s) }
        if let flipped = data.flipped { try Pruning.writeIndexList(flipped, to: run.path("flipped.txt")) }
        let all: [(String, JSON)] = runMeta(run: run, command: command, device: setup.device.name, seconds: seconds, data: data)
            + meta
        try table.write(to: run.staging, meta: all)
        try extra(run)
        try run.commit()
        var summary: [(String, JSON)] = [("command", .string(command)), ("examples", .int(table.count)),
                                         ("seconds", .double(seconds)), ("warnings", .array(runWarnings.map { .string($0) }))]
        print("\(command): scored \(table.count) examples in \(format(seconds, 1)) s -> \(run.target)/scores.csv")
        if let positives = data.flippedMask, let noise = data.noise {
            print("detecting the \(data.flipped?.count ?? 0) flipped labels (\(noise)):")
            print("  score                      AUROC   AP      (direction)")
            let (results, _) = Detection.evaluate(table.scores.map { ($0.name, $0.values, $0.direction) }, positives: positives)
            for r in results {
                print("  \(r.name.padding(25)) \(format(r.auroc, 4))  \(format(r.averagePrecision, 4))  (\(r.direction.rawValue) = flagged)")
            }
            summary.append(("detection", .object(results.map {
                ($0.name, .object([("auroc", .double($0.auroc)), ("average_precision", .double($0.averagePrecision))]))
            })))
        }
        if let json { try OutputFile.write(JSON.object(summary).rendered + "\n", to: json) }
    }
}

extension ScoreCommand {
    struct GraNd: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "grand",
            abstract: "GraNd: each example's loss-gradient norm over all parameters, averaged over K initialisations.",
            discussion: """
            Batch norm in evaluation mode while scoring; gradient of each example's own loss over every
            trainable parameter, computed batched (mixed ghost norms) in one backward per batch.
            Also writes input_norm (||x_i|| of the normalised input), the baseline a reproduction found
            GraNd at initialisation tracks, and prints their rank correlation.
            """)

        @Option(parsing: .unconditional, help: "Independent initialisations K (seeds seed..seed+K-1).")
        var inits: Int = 10

        @Option(parsing: .unconditional, help: "Score after this many training epochs (0 = at initialisation).")
        var atEpoch: Int = 0

        @Option(parsing: .unconditional, help: "Epochs of the learning-rate schedule the checkpoint is taken from (Data Diet: --at-epoch 20 --schedule-epochs 200); default: --at-epoch, so the schedule ends at the checkpoint.")
        var scheduleEpochs: Int?

        @Option(parsing: .unconditional, help: "First seed.")
        var seed: UInt64 = 0

        @OptionGroup var options: TrainingOptions
        @OptionGroup var output: ScoreOutput

        func run() throws {
            let (setup, result, run, t0) = try output.runEnsemble(options, runs: inits, flag: "--inits", seed: seed,
                                                                  atEpoch: atEpoch, scheduleEpochs: scheduleEpochs, gradNorms: true)
            let rho = result.grandInputNormCorrelation ?? .nan
            try output.finish(result.grandScores, setup: setup, run: run, command: "score grand", meta: options.meta(setup) + [
                ("inits", .int(inits)), ("at_epoch", .int(atEpoch)), ("schedule_epochs", .int(scheduleEpochs ?? atEpoch)), ("first_seed", .int(Int(seed))),
                ("batch_norm_while_scoring", .string("eval (running statistics)")),
                ("spearman_grand_input_norm", .double(rho))], seconds: monotonicSeconds() - t0) { run in
                try NPYFormat.write((result.gradNormPerRun ?? []).flatMap { $0 }, shape: [inits, setup.data.count],
                                    to: run.path("grand_per_init.npy"))
            }
            print("rank correlation of GraNd with the input norm: \(format(rho, 3))")
        }
    }

    struct EL2N: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "el2n",
            abstract: "EL2N: the norm of each example's softmax error vector after E epochs, averaged over seeds.")

        @Option(parsing: .unconditional, help: "Independent trainings (seeds seed..seed+K-1).")
        var seeds: Int = 10

        @Option(parsing: .unconditional, help: "Epochs of training before scoring (Data Diet: 20 of 200).")
        var atEpoch: Int = 20

        @Option(parsing: .unconditional, help: "Epochs of the learning-rate schedule the checkpoint is taken from (Data Diet: --at-epoch 20 --schedule-epochs 200); default: --at-epoch, so the schedule ends at the checkpoint.")
        var scheduleEpochs: Int?

        @Option(parsing: .unconditional, help: "First seed.")
        var seed: UInt64 = 0

        @OptionGroup var options: TrainingOptions
        @OptionGroup var output: ScoreOutput

        func run() throws {
            let (setup, result, run, t0) = try output.runEnsemble(options, runs: seeds, flag: "--seeds", seed: seed,
                                                                  atEpoch: atEpoch, scheduleEpochs: scheduleEpochs, gradNorms: false)
            try output.finish(result.el2nScores, setup: setup, run: run, command: "score el2n", meta: options.meta(setup) + [
                ("seeds", .int(seeds)), ("at_epoch", .int(atEpoch)), ("schedule_epochs", .int(scheduleEpochs ?? atEpoch)), ("first_seed", .int(Int(seed)))],
                seconds: monotonicSeconds() - t0)
        }
    }

    struct Dynamics: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "dynamics",
            abstract: "Forgetting events, first-learned epoch, AUM and cartography from one training run.")

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

        func run() throws {
            guard epochs >= 1 else { throw UsageError("--epochs must be at least 1") }
            let aumFromEpoch = aumFrom ?? min(2, epochs)
            guard aumFromEpoch >= 1 && aumFromEpoch <= epochs else { throw UsageError("--aum-from must lie in 1...\(epochs)") }
            try options.check()
            let run = try output.prepare()
            let t0 = monotonicSeconds()
            let setup = try options.setup(quiet: output.quiet)
            let progress = consoleProgress(quiet: output.quiet)
            let stream = try ExampleStatsNPYWriter(path: run.path("examples.npy"))
            let result = try DynamicsRun(setup: setup, epochs: epochs, seed: seed, aumFromEpoch: aumFromEpoch, vog: vog,
                                         sinks: [stream]).run(progress: progress)
            var scores = result.scores
            if aumThreshold {
                let runs = try AUMThresholdRuns(setup: setup, epochs: epochs, seed: seed, aumFromEpoch: aumFromEpoch)
                scores.insert(try runs.run(progress: progress).score, at: scores.count - 1)
            }
            try output.finish(scores, setup: setup, run: run, command: "score dynamics", meta: options.meta(setup) + [
                ("epochs", .int(epochs)), ("seed", .int(Int(seed))), ("aum_from_epoch", .int(aumFromEpoch)),
                ("test_accuracy", .double(result.testAccuracy ?? .nan))], seconds: monotonicSeconds() - t0) { run in
                try NPYFormat.write(result.correctness, shape: [epochs, setup.data.count], to: run.path("correctness_by_epoch.npy"))
            }
        }
    }

    struct SSFT: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ssft",
            abstract: "Second-split forgetting time (Maini et al.): train on half A, then on half B, watching A forget.",
            discussion: """
            The training set is split in two seeded halves. Each half in turn is the first split: train
            on it for --epochs (recording its correctness after every epoch: FSLT), then continue the same
            network on the other half with a fresh optimiser and schedule for --epochs, recording the first
            half's correctness after every epoch (SSFT = first epoch from which it stays misclassified;
            epochs+1 = never forgotten). Evaluation uses batch norm in evaluation mode (the reference code
            uses train mode). Averaged over --seeds.
            """)

        @Option(parsing: .unconditional, help: "Epochs of each split.")
        var epochs: Int = 10

        @Option(parsing: .unconditional, help: "Independent repetitions (split, initialisation and order all change).")
        var seeds: Int = 1

        @Option(parsing: .unconditional, help: "First seed.")
        var seed: UInt64 = 0

        @OptionGroup var options: TrainingOptions
        @OptionGroup var output: ScoreOutput

        func run() throws {
            guard epochs >= 1 else { throw UsageError("--epochs must be at least 1") }
            guard seeds >= 1 else { throw UsageError("--seeds must be at least 1") }
            try options.check()
            let run = try output.prepare()
            let t0 = monotonicSeconds()
            let setup = try options.setup(quiet: output.quiet)
            let result = try SecondSplitForgetting(setup: setup, epochs: epochs, seeds: (0..<UInt64(seeds)).map { seed + $0 })
                .run(progress: consoleProgress(quiet: output.quiet))
            try output.finish(result.scores, setup: setup, run: run, command: "score ssft", meta: options.meta(setup) + [
                ("epochs_per_split", .int(epochs)), ("seeds", .int(seeds)), ("first_seed", .int(Int(seed))),
                ("batch_norm_while_recording", .string("eval (running statistics)"))],
                seconds: monotonicSeconds() - t0)
        }
    }
}
