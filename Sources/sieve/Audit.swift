import ArgumentParser
import Jobs

/// `sieve audit`: the main job. One training streams every dynamics score, scoring
/// passes inside it take EL2N and GraNd at checkpoints, optional extra protocols
/// (GraNd at initialisation, the two-split protocol, cross-validated predictions) run
/// after it, and one folder gets the scores, `pred_probs.npy` and `report.html`.
struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The main job: train once, score every example, write scores.csv, pred_probs.npy and report.html.",
        discussion: """
        One training run (default: the small CNN, --epochs 10) streams forgetting events, first-learned epoch, AUM, cartography and per-epoch EL2N; at the end of each --checkpoints epoch a scoring pass in the same run takes EL2N and GraNd (gradient norm over all parameters, batch norm in evaluation mode). The verdict: confident learning on the class probabilities of the --verdict-epochs models (default: the first half) estimates the number of label errors with an interval, the noise between classes and each label's error probability; the most suspicious examples, as many as the estimate, go to label_issues.csv with a suggested label (`sieve clean` acts on it). Optional: GraNd at initialisation over --inits K networks (no training), the two-split protocol (--ssft), VoG (--vog), AUM threshold examples (--aum-threshold), and K-fold cross-validated predicted probabilities (--folds K: pred_probs.npy, N x classes, for cleanlab.filter.find_label_issues, plus self_confidence and normalized_margin). Writes into --out: scores.csv (suspicion first), one .npy per score, label_issues.csv, verdict_probs.npy, meta.json, job.json, correctness_by_epoch.npy, el2n_by_epoch.npy, examples.npy, flipped.txt (with --noise), pred_probs.npy (with --folds), grand_per_init.npy (with --inits) and report.html (also `sieve report DIR`). With --shard I/N the parts run on N machines (`sieve merge` combines them); --resume continues a killed run. Prints one line per score: AUROC and AP at finding the flipped labels with --noise, the most suspicious examples otherwise.

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

    @Option(name: .customLong("verdict-epochs"), help: "Epochs (1-based, comma-separated) whose models' class probabilities the verdict averages (default: the first half, 1...ceil(epochs/2)).")
    var verdictEpochs: String?

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
    @OptionGroup var unitOptions: UnitOptions

    /// A comma-separated list of epochs (`none` where `allowsNone`), or nil for the default.
    static func epochList(_ text: String?, option: String, allowsNone: Bool) throws -> [Int]? {
        guard let text else { return nil }
        if allowsNone && text == "none" { return [] }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        let values = parts.compactMap { Int($0) }
        guard !parts.isEmpty, values.count == parts.count else {
            throw UsageError("\(option) \(text) is not a comma-separated list of epochs (e.g. 2,5)" + (allowsNone ? " or none" : ""))
        }
        return values
    }

    func run() throws {
        var a = AuditSpec()
        a.epochs = epochs; a.seed = seed; a.checkpoints = try Self.epochList(checkpoints, option: "--checkpoints", allowsNone: true)
        a.verdictEpochs = try Self.epochList(verdictEpochs, option: "--verdict-epochs", allowsNone: false); a.inits = inits
        a.ssft = ssft; a.ssftEpochs = ssftEpochs; a.folds = folds; a.vog = vog; a.aumThreshold = aumThreshold; a.aumFrom = aumFrom
        let spec = try options.job(.audit(a), defaultModel: .cnn, shard: unitOptions.shard)
        try runJob(spec, output: output, model: options.model, units: unitOptions)
    }
}
