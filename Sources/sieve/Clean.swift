import ArgumentParser
import Jobs
import Storage

/// `sieve clean`: an audit's verdict turned into a training set, and whether it pays off.
struct Clean: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Turn an audit's verdict into a cleaned training set and retrain: test accuracy noisy / cleaned / random drop.",
        discussion: """
        Reads the audit's label_issues.csv and job.json (its data, noise and model). --mode drop keeps every example but the flagged ones; --mode relabel keeps all of them with the flagged ones relabelled to their suggested label; --mode fix relabels the flagged examples whose suggestion is sure (label_issues.csv's sure column) and drops the rest. Then trains the audit's model --seeds times on each of: the noisy labels, the cleaned set, and a random subset of the cleaned set's size (drop and fix), the subsets for the same number of optimiser steps as the full set, and prints each one's test accuracy. With --oracle (planted noise only) also the oracle, exactly the flipped examples dropped, and the labels before the noise, and the share of the noisy-to-oracle gap the cleaning recovers. Writes into --out: kept.txt (for `sieve train --subset`), labels.npy (the cleaned labels, int32), cleaning.csv (every training), meta.json and job.json. Resumes (--resume) and shards (--shard I/N, `sieve merge`) like every job.

        Examples:
          sieve audit --limit 12000 --noise pairs:0.25 --epochs 8 --out runs/audit
          sieve clean --audit runs/audit --mode drop --seeds 2 --out runs/clean
        """)

    @Option(help: "The folder of the audit whose verdict to apply (its label_issues.csv and job.json).")
    var audit: String

    @Option(help: "drop (remove the flagged examples), relabel (give them their suggested label) or fix (relabel the sure ones, drop the rest).")
    var mode: String = "drop"

    @Flag(help: "Also train the oracle (the flipped examples dropped) and the clean labels: needs an audit with --noise.")
    var oracle: Bool = false

    @Option(parsing: .unconditional, help: "Trainings of each variant (seeds 0..<K).")
    var seeds: Int = 2

    @Option(parsing: .unconditional, help: "Epochs of a full-data training (default: the audit's).")
    var epochs: Int?

    @OptionGroup var output: ScoreOutput
    @OptionGroup var unitOptions: UnitOptions

    func run() throws {
        guard let m = CleanSpec.Mode(rawValue: mode) else { throw UsageError("--mode \(mode) is not drop, relabel or fix") }
        let path = audit + "/" + JobRunner.jobFile
        let auditJob: JobSpec
        do { auditJob = try JobSpec.read(path: path) } catch {
            throw UsageError("--audit \(audit): \(error) (pass the folder of a `sieve audit` run)")
        }
        guard case .audit(let a) = auditJob.protocol else { throw UsageError("--audit \(audit) holds a `\(auditJob.command)` run, not an audit") }
        var c = CleanSpec(audit: audit)
        c.mode = m
        c.seeds = seeds
        c.oracle = oracle
        c.epochs = epochs ?? a.epochs
        var spec = JobSpec(protocol: .clean(c))
        spec.data = auditJob.data
        spec.training = auditJob.training
        spec.device = auditJob.device
        spec.shard = try unitOptions.shard.map { try Shard(parsing: $0) }
        try spec.check()
        var options = output.runOptions(resume: unitOptions.resume, saveStateEvery: unitOptions.saveStateEvery)
        options.report = false
        try runJob(spec, options: options, json: output.json, model: nil)
    }
}
