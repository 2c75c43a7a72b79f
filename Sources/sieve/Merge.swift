import ArgumentParser
import Jobs
import Storage

/// `sieve merge`: combines the shard folders of one job (`--shard I/N`) into the folder a
/// single run writes (``JobRunner/merge(shards:data:options:hooks:)``).
struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Combine the shard folders of an `audit`, `score` or `prune-curve` run (--shard I/N) into one folder.",
        discussion: """
        The shards must hold the same job (their job.json) and together every unit exactly once (seeds, splits, folds, the audit's parts; ranges of examples when `score grand`/`el2n` had more shards than seeds). The result is the same scores.csv, .npy files, meta.json and report.html a single run writes; the data set is read again (from the path the shards were given, or from --data; its fingerprint must match) for labels and images.

        Examples:
          sieve score el2n --seeds 10 --shard 0/2 --out runs/el2n-0    # on one machine
          sieve score el2n --seeds 10 --shard 1/2 --out runs/el2n-1    # on another
          sieve merge runs/el2n-0 runs/el2n-1 --out runs/el2n
        """)

    @Argument(help: "The shard folders.")
    var shards: [String] = []

    @Option(help: "Read the data set from here instead of the path the shards were given (the same data on another machine; checked by its fingerprint).")
    var data: String?

    @Option(help: "prune-curve: read the scores it ranked from here instead of the path the shards were given (checked by their fingerprint).")
    var scores: String?

    @OptionGroup var output: ScoreOutput

    func run() throws {
        if let json = output.json { try OutputFile.checkWritable(json, option: "--json", replacing: .jsonSummary) }
        let outcome = try JobRunner.merge(shards: shards, data: data, scores: scores, options: output.runOptions(), hooks: consoleHooks(quiet: output.quiet))
        try printOutcome(outcome, json: output.json)
    }
}
