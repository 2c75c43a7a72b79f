import ArgumentParser
import Jobs
import Metrics
import Storage

#if canImport(Glibc)
import Glibc
#endif

/// How `prune` and `prune-curve` choose what to keep, by what the user means; each
/// score's suspicious end comes from the run's meta.json (else Sieve's catalog, else
/// `--direction`).
struct SelectionOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Drop this fraction from the score's suspicious end (cleaning: remove likely mislabeled examples), e.g. 0.2. prune-curve: a comma-separated list.")
    var dropSuspicious: String?

    @Option(parsing: .unconditional, help: "Keep this fraction from the score's suspicious end (Data Diet: keep the hardest), e.g. 0.5. prune-curve: a comma-separated list.")
    var keepHardest: String?

    @Option(parsing: .unconditional, help: "With --keep-hardest: first skip this many most suspicious examples (often mislabeled).")
    var window: Int = 0

    @Option(help: "The suspicious end of a score Sieve's catalog does not know: higher or lower.")
    var direction: String?

    /// The selections asked for: one per listed fraction.
    func selections(allowList: Bool) throws -> [PruneSelection] {
        guard (dropSuspicious == nil) != (keepHardest == nil) else {
            throw UsageError("give exactly one of --drop-suspicious F and --keep-hardest F")
        }
        guard window >= 0 else { throw UsageError("--window must not be negative") }
        if window > 0 && keepHardest == nil { throw UsageError("--window goes with --keep-hardest") }
        let (flag, text) = dropSuspicious.map { ("--drop-suspicious", $0) } ?? ("--keep-hardest", keepHardest!)
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        let values = parts.compactMap { Double($0) }
        guard values.count == parts.count, !values.isEmpty, allowList || values.count == 1 else {
            throw UsageError("\(flag) \(text) must be \(allowList ? "a comma-separated list of fractions" : "one fraction")")
        }
        return try values.map { f in
            if dropSuspicious != nil {
                guard f.isFinite && f > 0 && f < 1 else { throw UsageError("--drop-suspicious \(f) must lie in (0, 1)") }
                return .dropSuspicious(f)
            }
            guard f.isFinite && f > 0 && f <= 1 else { throw UsageError("--keep-hardest \(f) must lie in (0, 1]") }
            return .keepHardest(f, window: window)
        }
    }

    /// `--direction`, checked (nil when not given).
    func parsedDirection() throws -> ScoreDirection? {
        guard let direction else { return nil }
        guard let d = ScoreDirection(rawValue: direction) else { throw UsageError("--direction \(direction) is not higher or lower") }
        return d
    }

    /// The suspicious end of `name`: `--direction`, the run's meta.json, Sieve's catalog.
    func direction(of name: String, in run: RunFolder) throws -> ScoreDirection {
        try run.rankingDirection(of: name, override: parsedDirection())
    }
}

struct Prune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Choose training examples by a score; writes the kept indices for `sieve train --subset`.",
        discussion: """
        Each score's suspicious end (likely mislabeled, or hardest) comes from the run's meta.json:
        high EL2N, GraNd, forgetting; low AUM, margin, SSFT, confidence.
          --drop-suspicious 0.2   drop the 20% most suspicious (cleaning a noisy data set)
          --keep-hardest 0.5      keep the hardest half (Data Diet); --window K skips the K most
                                  suspicious first; never-learned examples are always kept
        Examples:
          sieve prune --scores runs/dyn --score aum --drop-suspicious 0.2 --out keep.txt
          sieve prune --scores runs/el2n --score el2n --keep-hardest 0.5 --window 500
        """)

    @Option(help: "A scores.csv, or the folder holding it.")
    var scores: String

    @Option(help: "Score column to rank by.")
    var score: String

    @OptionGroup var selection: SelectionOptions

    @Option(help: "Output file (one index per line).")
    var out: String = "subset.txt"

    func run() throws {
        let chosen = try selection.selections(allowList: false)[0]
        try OutputFile.checkWritable(out, option: "--out", replacing: .indexList)
        let run = try RunFolder(scores: scores)
        let v = try run.scores.values(score)
        let kept = try Pruning.select(scores: v, direction: try selection.direction(of: score, in: run), chosen,
                                      neverLearned: run.alwaysKept(by: score))
        try IndexList.write(kept, to: out)
        print("kept \(kept.count) of \(v.count) examples by \(score) (\(chosen.description)) -> \(out)")
    }
}
