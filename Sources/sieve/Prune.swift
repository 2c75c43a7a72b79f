import ArgumentParser
import Metrics

struct Prune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Keep a fraction of the training set by a score; writes the kept indices for `sieve train --subset`.",
        discussion: """
        highest keeps the highest scores (Data Diet: the hardest examples); window:K first drops the K
        highest (often mislabeled) and keeps the next ones; lowest and random as named. Examples never
        learned (+inf forgetting) are always kept, as in the reference.
        """)

    @Option(help: "A scores.csv, or the directory holding it.")
    var scores: String

    @Option(help: "Score column to rank by.")
    var score: String

    @Option(parsing: .unconditional, help: "Fraction of the training set to keep, in (0, 1].")
    var keep: Double

    @Option(help: "highest, lowest, window:K or random.")
    var strategy: String = "highest"

    @Option(parsing: .unconditional, help: "Seed for random.")
    var seed: UInt64 = 0

    @Option(help: "Output file (one index per line).")
    var out: String = "subset.txt"

    func run() throws {
        let selection = try PruneStrategy(parsing: strategy, seed: seed)
        guard keep.isFinite && keep > 0 && keep <= 1 else { throw UsageError("--keep must lie in (0, 1], not \(keep)") }
        let file = try readRun(scores: scores)
        let v = try file.values(score)
        let kept = try Pruning.keep(scores: v, fraction: keep, strategy: selection, alwaysKeep: v.map { $0 == .infinity })
        try Pruning.writeIndexList(kept, to: out)
        print("kept \(kept.count) of \(v.count) examples by \(score) (\(strategy)) -> \(out)")
    }
}
