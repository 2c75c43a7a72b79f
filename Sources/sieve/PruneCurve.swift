import Kernels
import ArgumentParser
import Metrics
import Trainer

struct PruneCurveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune-curve",
        abstract: "Score -> prune -> retrain -> test accuracy for several fractions and seeds, against random subsets.",
        discussion: """
        Subsets train for the same number of steps as the full set (Data Diet), not the same number of epochs; a random subset of the same size is the baseline at every point. `sieve report SCORES_DIR --prune-curve OUT` adds the curve to the scores' report.

        Examples:
          sieve prune-curve --scores runs/el2n --score el2n --keep-hardest 0.7,0.5 --seeds 3 --epochs 10
          sieve prune-curve --scores runs/audit --score aum,el2n_e2 --drop-suspicious 0.1,0.2 --model cnn --limit 12000 --noise symmetric:0.2
        """)

    @Option(help: "A scores.csv, or the directory holding it (from `sieve score ...` on the same --data/--limit).")
    var scores: String

    @Option(help: "Score columns to rank by, comma-separated (they share the random baseline).")
    var score: String

    @OptionGroup var selection: SelectionOptions

    @Option(parsing: .unconditional, help: "Seeds per point.")
    var seeds: Int = 3

    @Option(parsing: .unconditional, help: "Epochs of a full-data training (subsets get the same number of steps).")
    var epochs: Int = 10

    @Option(help: "Output directory.")
    var out: String = "prune-curve"

    @Flag(help: "Print only the table.")
    var quiet: Bool = false

    @Flag(help: "Replace --out whole if it already holds files (another run's).")
    var force: Bool = false

    @OptionGroup var options: TrainingOptions
    @OptionGroup var resumeOption: ResumeOption

    @Option(help: "Run the units (selection, score or random, seed) at positions p with p % N == I (0-based I/N) and write them into --out as a shard folder for `sieve merge`.")
    var shard: String?

    static let name = "prune-curve"

    /// The curve's protocol on `setup` and the settings that change its results (the
    /// scores ranked by, as names, directions and a fingerprint of their values).
    func curve(_ setup: ExperimentSetup) throws -> (PruneCurve, [(String, JSON)]) {
        let selections = try selection.selections(allowList: true)
        guard selections.allSatisfy({ $0.keptFraction < 1 }) else { throw UsageError("--keep-hardest 1 keeps everything: no curve") }
        guard seeds >= 1, epochs >= 1 else { throw UsageError("--seeds and --epochs must be at least 1") }
        let file = try readRun(scores: scores)
        // Never-learned examples rank as infinitely forgettable, so keep-hardest always keeps them (the reference's rule).
        let neverLearned = file.columns["never_learned"]
        let columns = try score.split(separator: ",").map { name in
            var values = try file.values(String(name))
            if name == "forgetting", let neverLearned { for i in values.indices where neverLearned[i] > 0.5 { values[i] = .infinity } }
            return (name: String(name), values: values, direction: try selection.direction(of: String(name), in: file))
        }
        guard setup.data.split.test.count > 0 else {
            throw UsageError("\(options.data) has no test set, and a prune curve is test accuracy: hold one out with --val 0.1")
        }
        let curve = try PruneCurve(setup: setup, scores: columns, selections: selections, seeds: seeds, epochs: epochs)
        // The scores ranked by are part of the settings: a resumed curve must rank by the same values.
        var hash = ContentHash()
        for c in columns { hash.add(c.name); hash.add(c.values) }
        return (curve, options.meta(setup) + [
            ("scores", .string(columns.map(\.name).joined(separator: ","))), ("scores_fingerprint", .string(hash.hex)),
            ("directions", .string(columns.map { "\($0.direction)" }.joined(separator: ","))),
            ("selections", .array(selections.map { .string($0.description) })), ("seeds", .int(seeds)), ("epochs", .int(epochs))])
    }

    func run() throws {
        _ = try selection.selections(allowList: true)   // bad selections before any work
        try options.check()
        let shard = try parseShard(shard)
        let run = try RunDirectory(out, force: force, resume: resumeOption.resume)
        let store = try unitStore(for: run, resume: resumeOption.resume, force: force)
        let t0 = monotonicSeconds()
        let setup = try options.setup(quiet: quiet)
        let (curve, meta) = try curve(setup)
        let progress = JobProgress(quiet: quiet, plan: shard == nil ? curve.plan : WorkPlan())
        guard let result = try runUnits(curve, meta: meta, setup: setup, run: run, store: store, shard: shard,
                                        resume: resumeOption.resume, progress: progress, since: t0) else { return }
        try write(result, run: run)
        store.remove()
    }

    /// Writes `prune_curve.csv`, commits and prints the table (also what `sieve merge` does with the shards' units).
    func write(_ result: PruneCurve.Output, run: RunDirectory) throws {
        try OutputFile.write(result.csv, to: run.path("prune_curve.csv"))
        try run.commit()
        print("kept    selection                          test accuracy (mean ± std over \(seeds) seeds)")
        for p in result.points {
            print("\((format(100 * p.keptFraction, 0) + "%").padding(7)) \(p.selection.padding(34)) "
                  + "\(format(100 * p.mean, 2))% ± \(format(100 * p.std, 2))")
        }
    }
}
