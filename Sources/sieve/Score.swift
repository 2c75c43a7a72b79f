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

    /// Writes the table, the flipped list and a summary; prints detection figures when
    /// the labels were noised.
    func finish(_ table: ScoreTable, loaded: LoadedData, command: String, meta: [(String, JSON)], device: Device,
                seconds: Double) throws {
        try makeDirectory(out)
        try loaded.writeFlipped(to: out)
        let all: [(String, JSON)] = [("command", .string(CommandLine.arguments.joined(separator: " "))),
                                     ("version", .string(Sieve.version)), ("score_command", .string(command)),
                                     ("device", .string(device.name)), ("seconds", .double(seconds))] + meta
        try reportingErrors { try table.write(to: out, meta: all) }
        var summary: [(String, JSON)] = [("command", .string(command)), ("examples", .int(table.count)),
                                         ("seconds", .double(seconds))]
        print("\(command): scored \(table.count) examples in \(format(seconds, 1)) s -> \(out)/scores.csv")
        if let positives = loaded.flippedMask {
            print("detecting the \(loaded.flipped!.count) flipped labels (\(loaded.noise!)):")
            print("  score                      AUROC   AP      (direction)")
            var detection: [(String, JSON)] = []
            for s in table.scores where s.values.allSatisfy({ !$0.isNaN }) {
                let auroc = Evaluation.auroc(scores: s.values, positives: positives, direction: s.direction)
                let ap = Evaluation.averagePrecision(scores: s.values, positives: positives, direction: s.direction)
                print("  \(s.name.padding(25)) \(format(auroc, 4))  \(format(ap, 4))  (\(s.direction.rawValue) = flagged)")
                detection.append((s.name, .object([("auroc", .double(auroc)), ("average_precision", .double(ap))])))
            }
            summary.append(("detection", .object(detection)))
        }
        if let json { try reportingErrors { try OutputFile.write(JSON.object(summary).rendered + "\n", to: json) } }
    }
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}

/// Mean and population standard deviation over runs, per example.
func meanAndStd(_ runs: [[Double]]) -> (mean: [Double], std: [Double]) {
    let n = runs[0].count, k = Double(runs.count)
    var mean = [Double](repeating: 0, count: n), std = [Double](repeating: 0, count: n)
    for r in runs { for i in 0..<n { mean[i] += r[i] / k } }
    for r in runs { for i in 0..<n { std[i] += (r[i] - mean[i]) * (r[i] - mean[i]) / k } }
    return (mean, std.map { $0.squareRoot() })
}

/// Checks the options, loads the data, then trains `runs` independent models (seeds
/// `seed`, `seed+1`, ...) for `atEpoch` epochs each and takes a scoring pass over the
/// training set from each. Returns the device, the data, the passes and the start time.
func checkpointScores(options: TrainingOptions, output: ScoreOutput, runs: Int, seed: UInt64, atEpoch: Int,
                      gradNorms: Bool) throws -> (Device, LoadedData, [CheckpointScores], Double) {
    guard atEpoch >= 0 else { throw badInput("--at-epoch must not be negative") }
    try options.check()
    let device = try options.model.makeDevice()
    let t0 = monotonicSeconds()
    let quiet = output.quiet
    let loaded = try options.loadData(quiet: quiet)
    var result: [CheckpointScores] = []
    for k in 0..<runs {
        var config = try options.configuration(epochs: atEpoch, seed: seed + UInt64(k), examples: loaded.split.train.count)
        config.evaluateEveryEpoch = false
        let session = try reportingErrors {
            try TrainingSession(configuration: config, data: loaded.split, device: device, trainLabels: loaded.labels)
        }
        if !quiet && atEpoch > 0 { attachProgress(session) }
        let t0 = monotonicSeconds()
        try reportingErrors {
            try session.run { s in if !quiet { log("  run \(k + 1)/\(runs) " + describe(s, of: atEpoch)) } }
        }
        let t1 = monotonicSeconds()
        result.append(session.scoreTrainingSet(gradNorms: gradNorms))
        if !quiet {
            let rate = Double(loaded.split.train.count) / (monotonicSeconds() - t1)
            log("run \(k + 1)/\(runs) (seed \(config.seed)): trained \(atEpoch) epochs in \(format(t1 - t0, 1)) s, "
                + "scoring pass \(format(monotonicSeconds() - t1, 1)) s (\(format(rate, 1)) ex/s)")
        }
    }
    return (device, loaded, result, t0)
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

        @OptionGroup var options: TrainingOptions
        @OptionGroup var output: ScoreOutput

        @Option(help: "Independent initialisations K (seeds seed..seed+K-1).")
        var inits: Int = 10

        @Option(help: "Score after this many training epochs (0 = at initialisation).")
        var atEpoch: Int = 0

        @Option(help: "First seed.")
        var seed: UInt64 = 0

        func run() throws {
            guard inits >= 1 else { throw badInput("--inits must be at least 1") }
            let (device, loaded, runs, t0) = try checkpointScores(options: options, output: output, runs: inits, seed: seed,
                                                                  atEpoch: atEpoch, gradNorms: true)
            let grand = meanAndStd(runs.map { $0.gradNorm! })
            let el2n = meanAndStd(runs.map(\.el2n))
            var table = loaded.scoreTable()
            table.add(Score(name: "grand", values: grand.mean, note: "mean over \(inits) inits of ||grad_w loss_i|| at epoch \(atEpoch), BN in eval mode"))
            if inits > 1 { table.add(Score(name: "grand_std", values: grand.std, note: "population std over inits of the per-init GraNd")) }
            table.add(Score(name: "el2n", values: el2n.mean, note: "mean over \(inits) inits of ||softmax - onehot|| at epoch \(atEpoch) (same checkpoints)"))
            table.add(Score(name: "input_norm", values: runs[0].inputNorm, note: "||x_i|| of the normalised input: the baseline GraNd at init tracks"))
            let rho = Evaluation.spearman(grand.mean, runs[0].inputNorm)
            let seconds = monotonicSeconds() - t0
            try output.finish(table, loaded: loaded, command: "score grand", meta: options.meta + [
                ("inits", .int(inits)), ("at_epoch", .int(atEpoch)), ("first_seed", .int(Int(seed))),
                ("batch_norm_while_scoring", .string("eval (running statistics)")),
                ("spearman_grand_input_norm", .double(rho))], device: device, seconds: seconds)
            try reportingErrors {
                try NPYFormat.write(runs.flatMap { $0.gradNorm! }, shape: [inits, table.count], to: output.out + "/grand_per_init.npy")
            }
            print("rank correlation of GraNd with the input norm: \(format(rho, 3))")
        }
    }

    struct EL2N: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "el2n",
            abstract: "EL2N: the norm of each example's softmax error vector after E epochs, averaged over seeds.")

        @OptionGroup var options: TrainingOptions
        @OptionGroup var output: ScoreOutput

        @Option(help: "Independent trainings (seeds seed..seed+K-1).")
        var seeds: Int = 10

        @Option(help: "Epochs of training before scoring (Data Diet: 20 of 200).")
        var atEpoch: Int = 20

        @Option(help: "First seed.")
        var seed: UInt64 = 0

        func run() throws {
            guard seeds >= 1 else { throw badInput("--seeds must be at least 1") }
            let (device, loaded, runs, t0) = try checkpointScores(options: options, output: output, runs: seeds, seed: seed,
                                                                  atEpoch: atEpoch, gradNorms: false)
            let el2n = meanAndStd(runs.map(\.el2n))
            var table = loaded.scoreTable()
            table.add(Score(name: "el2n", values: el2n.mean, note: "mean over \(seeds) seeds of ||softmax - onehot|| after \(atEpoch) epochs, eval mode, no augmentation"))
            if seeds > 1 { table.add(Score(name: "el2n_std", values: el2n.std, note: "std over seeds")) }
            table.add(Score(name: "loss", values: meanAndStd(runs.map(\.loss)).mean, note: "mean over seeds of the cross-entropy at the same checkpoints"))
            table.add(Score(name: "margin", values: meanAndStd(runs.map(\.margin)).mean, note: "mean over seeds of z_y - max_{k!=y} z_k at the same checkpoints"))
            try output.finish(table, loaded: loaded, command: "score el2n", meta: options.meta + [
                ("seeds", .int(seeds)), ("at_epoch", .int(atEpoch)), ("first_seed", .int(Int(seed)))],
                device: device, seconds: monotonicSeconds() - t0)
        }
    }

    struct Dynamics: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "dynamics",
            abstract: "Forgetting events, first-learned epoch, AUM and cartography from one training run.")

        @OptionGroup var options: TrainingOptions
        @OptionGroup var output: ScoreOutput

        @Option(help: "Epochs.")
        var epochs: Int = 10

        @Option(help: "Seed.")
        var seed: UInt64 = 0

        @Option(help: "First epoch (1-based) whose margins enter AUM (the reference starts at 2).")
        var aumFrom: Int = 2

        @Flag(help: "Also run AUM's threshold-example procedure: two more trainings, each with a disjoint N/(K+1) examples moved to a fake class; writes aum_flagged.")
        var aumThreshold: Bool = false

        @Flag(help: "Also compute VoG from input gradients at the end of every epoch (one forward and backward over the training set per epoch).")
        var vog: Bool = false

        func run() throws {
            guard epochs >= 1 else { throw badInput("--epochs must be at least 1") }
            guard aumFrom >= 1 && aumFrom <= epochs else { throw badInput("--aum-from must lie in 1...\(epochs)") }
            try options.check()
            let device = try options.model.makeDevice()
            let t0 = monotonicSeconds()
            let loaded = try options.loadData(quiet: output.quiet)
            let config = try options.configuration(epochs: epochs, seed: seed, examples: loaded.split.train.count)
            let session = try reportingErrors {
                try TrainingSession(configuration: config, data: loaded.split, device: device, trainLabels: loaded.labels)
            }
            if !output.quiet { attachProgress(session) }
            let n = loaded.split.train.count
            let dynamics = TrainingDynamics(exampleCount: n, epochs: epochs, aumFirstEpoch: aumFrom - 1)
            try makeDirectory(output.out)
            let stream = try reportingErrors { try ExampleStatsNPYWriter(path: output.out + "/examples.npy") }
            let vogAccumulator = vog ? VarianceOfGradients(exampleCount: n, pixels: loaded.split.train.height * loaded.split.train.width) : nil
            let summaries = try reportingErrors {
                try session.run(sinks: [dynamics, stream]) { s in
                    if !output.quiet { log(describe(s, of: epochs)) }
                    vogAccumulator?.add(session.labelLogitInputGradients())
                }
            }
            let final = session.scoreTrainingSet(gradNorms: false)
            var table = loaded.scoreTable()
            table.add(Score(name: "forgetting", values: dynamics.forgetting, note: "forgetting events over training presentations; +inf = never learned"))
            table.add(Score(name: "first_learned_epoch", values: dynamics.firstLearnedEpoch, note: "first epoch (1-based) from which the example is correct at every later presentation; epochs+1 = not learned"))
            table.add(Score(name: "aum", values: dynamics.aum, note: "mean margin z_y - max_{k!=y} z_k over presentations from epoch \(aumFrom)"))
            table.add(Score(name: "confidence", values: dynamics.confidence, note: "cartography: mean p_y over presentations"))
            table.add(Score(name: "variability", values: dynamics.variability, note: "cartography: population std of p_y over presentations (low with low confidence = hard to learn, often mislabeled)"))
            table.add(Score(name: "correctness", values: dynamics.correctFraction, note: "cartography: fraction of presentations classified correctly"))
            table.add(Score(name: "unforgettable", values: dynamics.unforgettable.map { $0 ? 1 : 0 }, note: "1 = learned and never forgotten"))
            if let v = vogAccumulator, v.checkpoints >= 2 {
                table.add(Score(name: "vog", values: v.scores,
                                note: "VoG over \(v.checkpoints) end-of-epoch checkpoints: mean over pixels of the std of d z_y / d x"))
                table.add(Score(name: "vog_class_normalized", values: v.classNormalized(labels: loaded.labels),
                                note: "VoG z-scored within each given class"))
            }
            if aumThreshold {
                let (flags, thresholds) = try thresholdRuns(loaded: loaded, device: device, n: n)
                table.add(Score(name: "aum_flagged", values: flags.map { $0 ? 1 : 0 },
                                note: "1 = AUM at or below the 99th percentile of fake-class threshold examples in every run where "
                                    + "it was not one (2 runs, thresholds \(thresholds.map { format($0, 3) }.joined(separator: ", ")))"))
            }
            table.add(Score(name: "el2n_final", values: final.el2n, note: "||softmax - onehot|| of the final model (eval mode, no augmentation)"))
            try output.finish(table, loaded: loaded, command: "score dynamics", meta: options.meta + [
                ("epochs", .int(epochs)), ("seed", .int(Int(seed))), ("aum_from_epoch", .int(aumFrom)),
                ("test_accuracy", .double(summaries.last?.testAccuracy ?? 0))],
                device: device, seconds: monotonicSeconds() - t0)
            try reportingErrors {
                try NPYFormat.write(dynamics.correctness, shape: [epochs, n], to: output.out + "/correctness_by_epoch.npy")
            }
        }

        /// AUM's threshold runs: two trainings, each with a disjoint set of N/(K+1) examples
        /// relabelled to the fake class K (0-based), same epochs and seed.
        func thresholdRuns(loaded: LoadedData, device: Device, n: Int) throws -> ([Bool], [Double]) {
            let classes = max(loaded.split.train.classes, loaded.split.test.classes)
            let size = n / (classes + 1)
            guard size >= 1 else { throw badInput("--aum-threshold needs at least \(classes + 1) training examples") }
            var rng = SeededRandom(seed: seed, purpose: "aum-threshold")
            let order = rng.permutation(n).map(Int.init)
            let sets = [Array(order[0..<size]), Array(order[size..<(2 * size)])]
            var runs: [[Double]] = []
            for (r, set) in sets.enumerated() {
                var labels = loaded.labels
                for i in set { labels[i] = Int32(classes) }
                var config = try options.configuration(epochs: epochs, seed: seed, examples: n)
                config.evaluateEveryEpoch = false
                let session = try reportingErrors {
                    try TrainingSession(configuration: config, data: loaded.split, device: device, trainLabels: labels, extraClasses: 1)
                }
                let d = TrainingDynamics(exampleCount: n, epochs: epochs, aumFirstEpoch: aumFrom - 1)
                try reportingErrors {
                    try session.run(sinks: [d]) { s in if !output.quiet { log("  threshold run \(r + 1)/2 " + describe(s, of: epochs)) } }
                }
                runs.append(d.aum)
            }
            return AUMThreshold.flag(aum: runs, thresholdSets: sets)
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

        @OptionGroup var options: TrainingOptions
        @OptionGroup var output: ScoreOutput

        @Option(help: "Epochs of each split.")
        var epochs: Int = 10

        @Option(help: "Independent repetitions (split, initialisation and order all change).")
        var seeds: Int = 1

        @Option(help: "First seed.")
        var seed: UInt64 = 0

        func run() throws {
            guard epochs >= 1 else { throw badInput("--epochs must be at least 1") }
            guard seeds >= 1 else { throw badInput("--seeds must be at least 1") }
            try options.check()
            let device = try options.model.makeDevice()
            let t0 = monotonicSeconds()
            let loaded = try options.loadData(quiet: output.quiet)
            let n = loaded.split.train.count
            var fsltRuns: [[Double]] = [], ssftRuns: [[Double]] = []
            for k in 0..<seeds {
                let runSeed = seed + UInt64(k)
                var rng = SeededRandom(seed: runSeed, purpose: "ssft-split")
                let order = rng.permutation(n)
                let halves = [Array(order[0..<(n / 2)]).sorted(), Array(order[(n / 2)...]).sorted()]
                var fslt = [Double](repeating: 0, count: n), ssft = [Double](repeating: 0, count: n)
                for (a, b) in [(0, 1), (1, 0)] {
                    var config = try options.configuration(epochs: epochs, seed: runSeed &* 2 &+ UInt64(a), examples: halves[a].count)
                    config.evaluateEveryEpoch = false
                    let session = try reportingErrors {
                        try TrainingSession(configuration: config, data: loaded.split, device: device, trainLabels: loaded.labels)
                    }
                    if !output.quiet { attachProgress(session) }
                    let A = halves[a]
                    var first = [UInt8](), second = [UInt8]()
                    session.trainingIndices = A
                    for e in 0..<epochs {
                        let s = try reportingErrors { try session.trainEpoch(e, sinks: []) }
                        first += session.correctness(of: A).map { $0 ? 1 : 0 }
                        if !output.quiet { log("  seed \(runSeed) split \(a == 0 ? "A" : "B") first  " + describe(s, of: epochs)) }
                    }
                    session.resetOptimizer()
                    session.trainingIndices = halves[b]
                    for e in 0..<epochs {
                        let s = try reportingErrors { try session.trainEpoch(epochs + e, sinks: []) }
                        second += session.correctness(of: A).map { $0 ? 1 : 0 }
                        if !output.quiet { log("  seed \(runSeed) split \(a == 0 ? "A" : "B") second " + describe(s, of: epochs)) }
                    }
                    let learned = TrainingDynamics.firstStableEpoch(first, examples: A.count, epochs: epochs, value: 1)
                    let forgotten = TrainingDynamics.firstStableEpoch(second, examples: A.count, epochs: epochs, value: 0)
                    for (j, i) in A.enumerated() {
                        fslt[Int(i)] = learned[j]
                        ssft[Int(i)] = forgotten[j]
                    }
                }
                fsltRuns.append(fslt)
                ssftRuns.append(ssft)
            }
            var table = loaded.scoreTable()
            table.add(Score(name: "ssft", values: meanAndStd(ssftRuns).mean, note: "second-split forgetting time, mean over \(seeds) seeds; \(epochs + 1) = never forgotten"))
            table.add(Score(name: "fslt", values: meanAndStd(fsltRuns).mean, note: "first-split learning time, mean over \(seeds) seeds; \(epochs + 1) = never learned"))
            try output.finish(table, loaded: loaded, command: "score ssft", meta: options.meta + [
                ("epochs_per_split", .int(epochs)), ("seeds", .int(seeds)), ("first_seed", .int(Int(seed))),
                ("batch_norm_while_recording", .string("eval (running statistics)"))],
                device: device, seconds: monotonicSeconds() - t0)
        }
    }
}
