import ArgumentParser
import Jobs
import Kernels
import Metrics
import Storage
import Trainer

struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Score every training example (writes scores.csv, one .npy per score, meta.json).",
        subcommands: [GraNd.self, EL2N.self, Dynamics.self, SSFT.self, Weights.self])
}

extension ScoreCommand {
    struct GraNd: ParsableCommand {
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

        func run() throws {
            let spec = try options.job(.grand(EnsembleSpec(runs: inits, atEpoch: atEpoch, scheduleEpochs: scheduleEpochs, firstSeed: seed)),
                                       shard: unitOptions.shard)
            try runJob(spec, output: output, model: options.model, units: unitOptions)
        }
    }

    struct EL2N: ParsableCommand {
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

        func run() throws {
            let spec = try options.job(.el2n(EnsembleSpec(runs: seeds, atEpoch: atEpoch, scheduleEpochs: scheduleEpochs, firstSeed: seed)),
                                       shard: unitOptions.shard)
            try runJob(spec, output: output, model: options.model, units: unitOptions)
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
        @OptionGroup var unitOptions: UnitOptions

        func run() throws {
            var d = DynamicsSpec()
            d.epochs = epochs; d.seed = seed; d.aumFrom = aumFrom; d.aumThreshold = aumThreshold; d.vog = vog
            let spec = try options.job(.dynamics(d), shard: unitOptions.shard)
            try runJob(spec, output: output, model: options.model, units: unitOptions)
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
        @OptionGroup var unitOptions: UnitOptions

        func run() throws {
            var s = SSFTSpec()
            s.epochs = epochs; s.seeds = seeds; s.firstSeed = seed
            try runJob(try options.job(.ssft(s), shard: unitOptions.shard), output: output, model: options.model, units: unitOptions)
        }
    }
}

extension ScoreCommand {
    /// `score weights`: a model trained elsewhere scores the data, no training.
    struct Weights: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "weights",
            abstract: "Score every training example with a model trained elsewhere (safetensors of PyTorch names), without training.",
            discussion: """
            Loads --weights FILE.safetensors (a PyTorch state_dict saved by safetensors.torch.save_file, float32 or \
            float64; the names and layouts of benchmarks/pytorch_resnet18.py's networks, which are what sieve cross-check \
            exports) into --model (and --width, --classes, the input size of --data after --resize), refusing the first \
            missing, unexpected or misshapen tensor by name. Then one scoring pass over the training set in evaluation \
            mode: EL2N, GraNd (the loss-gradient norm over all parameters), loss and margin per example in scores.csv, \
            the class probabilities in pred_probs.npy (N x classes, float64: cleanlab's pred_probs), test accuracy. \
            The verdict that needs no training: confident learning on those probabilities estimates the number of \
            label errors (with an interval) and each label's error probability (scores.csv's error_probability); the \
            most suspicious examples, as many as the estimate, go to label_issues.csv with a suggested label, as in \
            `sieve audit`. The probabilities are out-of-sample only for examples the model did not train on: a model \
            that trained on these labels has memorised some of them, and its count comes out low.
            The model sees pixels / 255 normalised per channel: with --normalize MEAN/STD as the model was trained \
            (torchvision's Normalize), else with the training set's mean and standard deviation (Sieve's own training).

            Examples:
              sieve score weights --weights model.safetensors --model resnet18 --width 64 --data ./cifar-10 --out runs/w
              sieve score weights --weights net.safetensors --model resnet18-imagenet --data photos --resize 64 --out runs/p
              sieve score weights --weights c10.safetensors --data ./cifar-10 --normalize 0.4914,0.4822,0.4465/0.247,0.2435,0.2616 --out runs/c
            """)

        @Option(help: "The trained model: a safetensors file with PyTorch parameter and buffer names.")
        var weights: String

        @Option(help: "The input normalisation the model was trained with, MEAN/STD per channel for pixels in [0, 1] (torchvision's Normalize), e.g. 0.2860/0.3530 (default: the training set's mean and std, as Sieve trains).")
        var normalize: String?

        @Option(help: "Output directory.")
        var out: String

        @Flag(help: "Replace --out whole if it already holds files (another run's).")
        var force = false

        @Flag(help: "Print nothing but errors.")
        var quiet = false

        @OptionGroup var options: TrainingOptions

        func run() throws {
            try options.check()
            let file = try SafeTensorsReader(path: weights)
            let run = try RunDirectory(out, force: force, reads: [(option: "--weights", path: weights), (option: "--data", path: DataSource.folder(of: options.data))])
            defer { run.abandon() }
            let t0 = monotonicSeconds()
            let setup = try options.setup(quiet: true)
            let normalization = try normalize.map { try Normalization(parsing: $0, channels: setup.data.split.train.channels) }
            let session = try TrainingSession(configuration: setup.configuration, data: setup.data.split, device: setup.device,
                                              trainLabels: setup.data.labels, normalization: normalization)
            try session.model.load(weights: file)
            let scores = try session.scoreTrainingSet(gradNorms: true)
            let n = setup.data.count
            let probabilities = try session.probabilities(of: (0..<Int32(n)).map { $0 })
            let accuracy = session.hasTestSet ? try session.evaluateTest().accuracy : nil
            let verdict = LabelVerdict(labels: setup.data.labels, probabilities: probabilities, classes: setup.data.classes)
            var table = setup.data.scoreTable()
            table.add(Score(.errorProbability, values: verdict.errorProbability,
                            note: "posterior probability that the given label is wrong, under the noise the confident joint estimates"))
            table.add(Score(.el2n, values: scores.el2n, note: "EL2N of the loaded model"))
            if let g = scores.gradNorm { table.add(Score(.grand, values: g, note: "GraNd of the loaded model")) }
            table.add(Score(.loss, values: scores.loss, note: "cross-entropy of the loaded model"))
            table.add(Score(.margin, values: scores.margin, note: "logit margin of the loaded model"))
            try NPYFormat.write(probabilities, shape: [n, setup.data.classes], to: run.path("pred_probs.npy"))
            var meta: [(String, JSON)] = [("score_command", .string("score weights")),
                                          ("command", .string(CommandLine.arguments.joined(separator: " "))),
                                          ("version", .string(Sieve.version)), ("weights", .string(weights))]
            meta += JobSpec.settingsMeta(data: try options.dataSpec(), training: try options.trainingSpec(), configuration: setup.configuration)
            meta.append(("classes", .int(setup.data.classes)))
            meta.append(("train_examples", .int(n)))
            meta.append(("normalization", .object([("mean", .array(session.normalization.mean.map { .double(Double($0)) })),
                                                   ("std", .array(session.normalization.std.map { .double(Double($0)) })),
                                                   ("source", .string(normalize == nil ? "the training set" : "--normalize"))])))
            meta.append(("label_errors", RunFolder.labelErrorsMeta(verdict, method: "confident learning on the loaded model's class probabilities")))
            meta.append(("device", .string(setup.device.name)))
            meta.append(("data_fingerprint", .string(setup.data.fingerprint)))
            let testFigure: JSON = accuracy.map { JSON.double($0) } ?? .string("none")
            meta.append(("test_accuracy", testFigure))
            meta.append(("seconds", .double(monotonicSeconds() - t0)))
            try table.write(to: run.staging, meta: meta)
            try RunFolder.writeLabelIssues(verdict, data: setup.data, suspicion: verdict.errorProbability,
                                           to: run.path(RunFolder.labelIssuesFile))
            try run.commit()
            guard !quiet else { return }
            print("scored \(n) examples with \(weights) (\(setup.configuration.architecture.rawValue))"
                  + (accuracy.map { ", test accuracy \(format(100 * $0, 2))%" } ?? "") + " -> \(out)")
            print(labelErrorsLine(verdict, examples: n, folder: out))
        }
    }
}
