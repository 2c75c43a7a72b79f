import ArgumentParser
import Jobs

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
    @OptionGroup var unitOptions: UnitOptions

    func run() throws {
        let selections = try selection.selections(allowList: true)
        var p = PruneCurveSpec(scoresFile: scores, scores: score.split(separator: ",", omittingEmptySubsequences: false).map(String.init),
                               selections: selections)
        p.direction = try selection.parsedDirection()
        p.seeds = seeds
        p.epochs = epochs
        var run = RunOptions(out: out)
        run.quiet = quiet; run.force = force; run.resume = unitOptions.resume; run.report = false
        run.saveStateEvery = unitOptions.saveStateEvery
        run.commandLine = CommandLine.arguments.joined(separator: " ")
        try runJob(try options.job(.pruneCurve(p), shard: unitOptions.shard), options: run, json: nil, model: options.model)
    }
}
