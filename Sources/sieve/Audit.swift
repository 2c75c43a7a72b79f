import ArgumentParser
import Kernels
import Metrics
import Trainer

/// `sieve audit`: the main job. One training streams every dynamics score, scoring
/// passes inside it take EL2N and GraNd at checkpoints, optional extra protocols
/// (GraNd at initialisation, the two-split protocol, cross-validated predictions) run
/// after it, and one folder gets the scores, `pred_probs.npy` and `report.html`.
struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The main job: train once, score every example, write scores.csv, pred_probs.npy and report.html.",
        discussion: """
        One training run (default: the small CNN, --epochs 10) streams forgetting events, first-learned epoch, AUM, cartography and per-epoch EL2N; at the end of each --checkpoints epoch a scoring pass in the same run takes EL2N and GraNd (gradient norm over all parameters, batch norm in evaluation mode). Optional: GraNd at initialisation over --inits K networks (no training), the two-split protocol (--ssft), VoG (--vog), AUM threshold examples (--aum-threshold), and K-fold cross-validated predicted probabilities (--folds K: pred_probs.npy, N x classes, for cleanlab.filter.find_label_issues, plus self_confidence and normalized_margin). Writes into --out: scores.csv, one .npy per score, meta.json, correctness_by_epoch.npy, el2n_by_epoch.npy, examples.npy, flipped.txt (with --noise), pred_probs.npy (with --folds) and report.html (also `sieve report DIR`). Prints one line per score: AUROC and AP at finding the flipped labels with --noise, the most suspicious examples otherwise.

        Examples:
          sieve audit --limit 12000 --noise symmetric:0.2 --epochs 8 --out runs/audit
          sieve audit --data ./my-images --val 0.1 --folds 5 --out runs/mine
        """)

    @Option(parsing: .unconditional, help: "Epochs of the training run.")
    var epochs: Int = 10

    @Option(parsing: .unconditional, help: "Seed of the training run (initialisation, order, augmentation).")
    var seed: UInt64 = 0

    @Option(help: "End-of-epoch checkpoints (1-based, comma-separated) where a scoring pass takes EL2N and GraNd, or none (default: epoch ceil(epochs/5)).")
    var checkpoints: String?

    @Option(parsing: .unconditional, help: "Also GraNd at initialisation, averaged over K untrained networks (seeds seed+1000..).")
    var inits: Int = 0

    @Flag(help: "Also run the two-split protocol (second-split forgetting time, FSLT): two more trainings.")
    var ssft: Bool = false

    @Option(parsing: .unconditional, help: "Epochs of each split of --ssft (default: --epochs).")
    var ssftEpochs: Int?

    @Option(parsing: .unconditional, help: "Also K-fold cross-validation (K trainings on (K-1)/K of the data): writes pred_probs.npy, self_confidence, normalized_margin.")
    var folds: Int = 0

    @Flag(help: "Also VoG from input gradients at every end-of-epoch checkpoint.")
    var vog: Bool = false

    @Flag(help: "Also AUM's threshold-example procedure (two more trainings): writes aum_flagged.")
    var aumThreshold: Bool = false

    @Option(parsing: .unconditional, help: "First epoch (1-based) whose margins enter AUM (default: 2, or 1 for a one-epoch run).")
    var aumFrom: Int?

    @OptionGroup var options: TrainingOptions
    @OptionGroup var output: ScoreOutput
    @OptionGroup var resumeOption: ResumeOption

    /// `--checkpoints`, parsed and checked against `--epochs`.
    func checkpointEpochs() throws -> [Int] {
        guard let checkpoints else { return [(epochs + 4) / 5] }
        if checkpoints == "none" { return [] }
        let parts = checkpoints.split(separator: ",", omittingEmptySubsequences: false)
        let values = parts.compactMap { Int($0) }
        guard !parts.isEmpty, values.count == parts.count else {
            throw UsageError("--checkpoints \(checkpoints) is not a comma-separated list of epochs (e.g. 2,5) or none")
        }
        if let bad = values.first(where: { $0 < 1 || $0 > epochs }) {
            throw UsageError("--checkpoints: epoch \(bad) is outside the run's epochs 1...\(epochs)")
        }
        return Array(Set(values)).sorted()
    }

    func run() throws {
        guard epochs >= 1 else { throw UsageError("--epochs must be at least 1") }
        let aumFromEpoch = aumFrom ?? min(2, epochs)
        guard aumFromEpoch >= 1 && aumFromEpoch <= epochs else { throw UsageError("--aum-from must lie in 1...\(epochs)") }
        guard inits >= 0 else { throw UsageError("--inits must not be negative (0 = no GraNd at initialisation)") }
        guard folds == 0 || folds >= 2 else { throw UsageError("--folds must be 0 (none) or at least 2") }
        if let ssftEpochs, ssftEpochs < 1 { throw UsageError("--ssft-epochs must be at least 1") }
        if ssftEpochs != nil && !ssft { throw UsageError("--ssft-epochs needs --ssft") }
        let checkpointList = try checkpointEpochs()
        var options = self.options
        if options.model.model == nil { options.model.model = Architecture.cnn.rawValue }
        try options.check()
        let run = try output.prepare()
        let store = try unitStore(for: run, resume: resumeOption.resume, force: output.force)
        let t0 = monotonicSeconds()
        let setup = try options.setup(quiet: output.quiet)
        let n = setup.data.count

        var dynamics = try DynamicsRun(setup: setup, epochs: epochs, seed: seed, aumFromEpoch: aumFromEpoch, vog: vog,
                                       checkpoints: checkpointList)
        let threshold = aumThreshold ? try AUMThresholdRuns(setup: setup, epochs: epochs, seed: seed, aumFromEpoch: aumFromEpoch) : nil
        let atInit = inits > 0
            ? try CheckpointEnsemble(setup: setup, seeds: (0..<UInt64(inits)).map { seed &+ 1000 &+ $0 }, atEpoch: 0, gradNorms: true)
            : nil
        let twoSplit = ssft ? try SecondSplitForgetting(setup: setup, epochs: ssftEpochs ?? epochs, seeds: [seed]) : nil
        let crossValidation = folds > 0 ? try CrossValidation(setup: setup, folds: folds, epochs: epochs, seed: seed) : nil

        // The main training keeps its state every epoch and the extra protocols their units
        // in OUT.units/ as they finish (--resume continues from them).
        var meta = options.meta(setup) + [
            ("epochs", .int(epochs)), ("seed", .int(Int(seed))), ("aum_from_epoch", .int(aumFromEpoch)),
            ("checkpoints", .array(checkpointList.map { .int($0) })), ("inits", .int(inits)),
            ("ssft_epochs_per_split", ssft ? .int(ssftEpochs ?? epochs) : .string("none")), ("folds", .int(folds)),
            ("vog", .bool(vog)), ("aum_threshold", .bool(aumThreshold))]
        let settings = unitSettings(command: "audit", meta: meta, setup: setup)
        try adopt(store, settings: settings)
        let resume = resumeOption.resume
        let stream = try keepTrainingState(of: &dynamics, in: store, resume: resume)

        let plan = [dynamics.plan, threshold?.plan, atInit?.plan, twoSplit?.plan, crossValidation?.plan]
            .compactMap { $0 }.reduce(WorkPlan(), +)
        let display = JobProgress(quiet: output.quiet, plan: plan)
        let progress = display.callbacks
        let phases = 1 + [threshold != nil, atInit != nil, twoSplit != nil, crossValidation != nil].filter { $0 }.count
        var phase = 0
        func announce(_ what: String) {
            phase += 1
            if !output.quiet { display.line("phase \(phase)/\(phases): \(what)") }
        }
        let model = setup.configuration.architecture.rawValue
        announce("training \(model) for \(epochs) epochs on \(n) examples (dynamics"
                 + (checkpointList.isEmpty ? "" : ", EL2N and GraNd after epoch \(checkpointList.map(String.init).joined(separator: ", "))")
                 + (vog ? ", VoG" : "") + ")")
        let result = try dynamics.run(progress: progress)
        var scores = result.scores
        scores.append(Score(name: "input_norm", values: result.inputNorm, note: "||x_i|| of the normalised input (a baseline for GraNd)"))
        if let threshold {
            announce("AUM threshold runs (2 trainings of \(epochs) epochs)")
            scores.append(try threshold.run(storingIn: store, prefix: "aum-threshold.", reuse: resume, progress: progress, notes: unitNotes).score)
        }
        var grandPerInit: [[Double]]?
        if let atInit {
            announce("GraNd at initialisation over \(inits) networks")
            let r = try atInit.run(storingIn: store, prefix: "grand-init.", reuse: resume, progress: progress, notes: unitNotes)
            scores.append(Score(name: "grand_init", values: r.grand ?? [], direction: .higherIsSuspicious,
                                note: "mean over \(inits) untrained networks of ||grad_w loss_i||, BN in eval mode"))
            grandPerInit = r.gradNormPerRun
        }
        if let twoSplit {
            announce("two-split protocol (2 trainings of 2 x \(twoSplit.epochs) epochs)")
            scores += try twoSplit.run(storingIn: store, prefix: "ssft.", reuse: resume, progress: progress, notes: unitNotes).scores
        }
        var crossValidated: CrossValidation.Output?
        if let crossValidation {
            announce("\(folds)-fold cross-validation (\(folds) trainings of \(epochs) epochs)")
            let r = try crossValidation.run(storingIn: store, prefix: "folds.", reuse: resume, progress: progress, notes: unitNotes)
            scores += r.scores
            crossValidated = r
        }
        display.finish()

        meta += [("test_accuracy", .double(result.testAccuracy ?? .nan)),
                 ("batch_norm_while_scoring", .string("eval (running statistics)"))]
        if let crossValidated {
            meta.append(("cross_validation", .object([
                ("out_of_sample_accuracy", .double(crossValidated.outOfSampleAccuracy)),
                ("mean_test_accuracy", .double(crossValidated.meanTestAccuracy ?? .nan))])))
        }
        let seconds = monotonicSeconds() - t0
        try output.finish(scores, setup: setup, run: run, command: "audit", meta: meta, seconds: seconds) { run in
            try linkIntoRun(stream, run, as: "examples.npy")
            try NPYFormat.write(result.correctness, shape: [epochs, n], to: run.path("correctness_by_epoch.npy"))
            try NPYFormat.write(result.el2nByEpoch, shape: [epochs, n], to: run.path("el2n_by_epoch.npy"))
            if let grandPerInit { try NPYFormat.write(grandPerInit.flatMap { $0 }, shape: [inits, n], to: run.path("grand_init_per_init.npy")) }
            if let crossValidated {
                try NPYFormat.write(crossValidated.predProbs, shape: [n, crossValidated.classes], to: run.path("pred_probs.npy"))
            }
        }
        store.remove()
    }
}
