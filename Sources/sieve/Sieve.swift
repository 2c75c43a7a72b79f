import ArgumentParser
import Jobs

/// The `sieve` root command: parsing only; each subcommand lives in its own file.
struct Sieve: ParsableCommand {
    static let version = Version.sieve
    static let configuration = CommandConfiguration(
        commandName: "sieve",
        abstract: "Train image classifiers and score every training example.",
        version: version,
        subcommands: [Audit.self, Clean.self, Train.self, ScoreCommand.self, Merge.self, ReportCommand.self, Evaluate.self, Prune.self, PruneCurveCommand.self, Bench.self, Tune.self,
                      CrossCheck.self, Convert.self, DevicesCommand.self])
}
