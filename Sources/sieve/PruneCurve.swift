import ArgumentParser
import Metrics
import Trainer

struct PruneCurveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune-curve",
        abstract: "Score -> prune -> retrain -> test accuracy for several fractions and seeds, against random subsets.",
        discussion: "Subsets train for the same number of steps as the full set (Data Diet), not the same number of epochs.")

    @OptionGroup var options: TrainingOptions

    @Option(help: "A scores.csv, or the directory holding it (from `sieve score ...` on the same --data/--limit).")
    var scores: String

    @Option(help: "Score columns to rank by, comma-separated (they share the random baseline).")
    var score: String

    @Option(help: "Fractions to prune, comma-separated (0.3 = drop 30%).")
    var prune: String = "0.3,0.5"

    @Option(help: "highest or window:K (K highest dropped first).")
    var strategy: String = "highest"

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

    func run() throws {
        let parts = prune.split(separator: ",", omittingEmptySubsequences: false)
        let fractions = parts.compactMap { Double($0) }
        guard fractions.count == parts.count, !fractions.isEmpty, fractions.allSatisfy({ $0 > 0 && $0 < 1 }) else {
            throw UsageError("--prune \(prune) must list fractions in (0, 1), comma-separated")
        }
        let selection = try PruneStrategy(parsing: strategy)
        guard seeds >= 1, epochs >= 1 else { throw UsageError("--seeds and --epochs must be at least 1") }
        let file = try readRun(scores: scores)
        let columns = try score.split(separator: ",").map { name in (name: String(name), values: try file.values(String(name))) }
        try options.check()
        let run = try RunDirectory(out, force: force)
        let setup = try options.setup(quiet: quiet)
        let curve = try PruneCurve(setup: setup, scores: columns, fractions: fractions, strategy: selection, seeds: seeds, epochs: epochs)
        let result = try curve.run(progress: consoleProgress(quiet: quiet))
        try OutputFile.write(result.csv, to: run.path("prune_curve.csv"))
        try run.commit()
        print("pruned  selection            test accuracy (mean ± std over \(seeds) seeds)")
        for p in result.points {
            print("\((format(100 * p.fraction, 0) + "%").padding(7)) \(p.selection.padding(20)) "
                  + "\(format(100 * p.mean, 2))% ± \(format(100 * p.std, 2))")
        }
    }
}
