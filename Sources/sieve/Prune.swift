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

    @Option(parsing: .unconditional, help: "Keep this fraction spread over the score's range (coverage-centric selection, CCS: cut the hardest, sample evenly over 50 strata of the rest), e.g. 0.2. prune-curve: a comma-separated list.")
    var coverage: String?

    @Option(parsing: .unconditional, help: "With --coverage: the most suspicious fraction of the data set cut first (default: by the fraction kept, 0 down to 50% kept, 0.1 down to 20%, 0.3 below).")
    var hardCut: Double?

    @Flag(help: "With --coverage: cut and stratify the whole data set at once (the paper's selection) instead of each class on its own, its share in proportion to its size.")
    var pooled = false

    @Option(parsing: .unconditional, help: "Keep this fraction uniformly at random (the baseline; prune-curve trains it at every fraction anyway). prune-curve: a comma-separated list.")
    var keepRandom: String?

    @Option(help: "The suspicious end of a score Sieve's catalog does not know: higher or lower.")
    var direction: String?

    /// Whether only `--keep-random` was given (no score is needed then).
    var randomOnly: Bool { keepRandom != nil && dropSuspicious == nil && keepHardest == nil && coverage == nil }

    /// The selections asked for: one per listed fraction (`prune`: exactly one; `prune-curve`:
    /// any of the four flags together). `seed` seeds a `--keep-random` subset.
    func selections(allowList: Bool, seed: UInt64 = 0) throws -> [PruneSelection] {
        let given = [("--drop-suspicious", dropSuspicious), ("--keep-hardest", keepHardest), ("--coverage", coverage),
                     ("--keep-random", keepRandom)].compactMap { flag, text in text.map { (flag, $0) } }
        guard !given.isEmpty else { throw UsageError("give one of --drop-suspicious F, --keep-hardest F, --coverage F and --keep-random F") }
        guard allowList || given.count == 1 else {
            throw UsageError("give only one of \(given.map(\.0).joined(separator: ", ")): prune writes one subset")
        }
        guard window >= 0 else { throw UsageError("--window must not be negative") }
        if window > 0 && keepHardest == nil { throw UsageError("--window goes with --keep-hardest") }
        if hardCut != nil && coverage == nil { throw UsageError("--hard-cut goes with --coverage") }
        if pooled && coverage == nil { throw UsageError("--pooled goes with --coverage") }
        if let hardCut, !(hardCut >= 0 && hardCut < 1) { throw UsageError("--hard-cut \(hardCut) must lie in [0, 1)") }
        return try given.flatMap { flag, text in
            let parts = text.split(separator: ",", omittingEmptySubsequences: false)
            let values = parts.compactMap { Double($0) }
            guard values.count == parts.count, !values.isEmpty, allowList || values.count == 1 else {
                throw UsageError("\(flag) \(text) must be \(allowList ? "a comma-separated list of fractions" : "one fraction")")
            }
            return try values.map { f -> PruneSelection in
                switch flag {
                case "--drop-suspicious":
                    guard f.isFinite && f > 0 && f < 1 else { throw UsageError("--drop-suspicious \(f) must lie in (0, 1)") }
                    return .dropSuspicious(f)
                default:
                    guard f.isFinite && f > 0 && f <= 1 else { throw UsageError("\(flag) \(f) must lie in (0, 1]") }
                    switch flag {
                    case "--keep-hardest": return .keepHardest(f, window: window)
                    case "--coverage":
                        let cut = hardCut ?? Pruning.coverageHardCut(keeping: f)
                        guard f + cut <= 1 + 1e-12 else {
                            throw UsageError("--coverage \(f) with a hard cut of \(cut) keeps more than the \(1 - cut) left after the cut: lower --hard-cut")
                        }
                        return .coverage(f, hardCut: cut, perClass: !pooled)
                    default: return .keepRandom(f, seed: seed)
                    }
                }
            }
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
          --coverage 0.2          keep 20% spread over the score's range (CCS: the hardest cut
                                  first, --hard-cut B, then even sampling over 50 strata; --seed),
                                  each class on its own in proportion to its size (--pooled: not)
          --keep-random 0.2       a uniformly random 20% (the baseline; --seed)
        The subset file lists the kept indices in data-set order (one per line).
        Examples:
          sieve prune --scores runs/dyn --score aum --drop-suspicious 0.2 --out keep.txt
          sieve prune --scores runs/el2n --score el2n --keep-hardest 0.5 --window 500
          sieve prune --scores runs/audit --score aum --coverage 0.1 --out keep10.txt
        """)

    @Option(help: "A scores.csv, or the folder holding it.")
    var scores: String

    @Option(help: "Score column to rank by.")
    var score: String

    @OptionGroup var selection: SelectionOptions

    @Option(help: "Output file (one index per line).")
    var out: String = "subset.txt"

    @Option(parsing: .unconditional, help: "Seed of --coverage's sampling within strata and of --keep-random.")
    var seed: UInt64 = 0

    func run() throws {
        let chosen = try selection.selections(allowList: false, seed: seed)[0]
        try OutputFile.checkWritable(out, option: "--out", replacing: .indexList)
        let run = try RunFolder(scores: scores)
        let v = try run.scores.values(score)
        let kept = try Pruning.select(scores: v, direction: try selection.direction(of: score, in: run), chosen,
                                      neverLearned: run.alwaysKept(by: score),
                                      labels: try run.scores.values("label").map { Int($0) }, seed: seed)
        let seeded = if case .coverage = chosen { true } else if case .keepRandom = chosen { true } else { false }
        try IndexList.write(kept, to: out, comments: [
            "sieve prune: \(kept.count) of \(v.count) examples kept by \(score) \(chosen.description)" + (seeded ? " seed \(seed)" : ""),
            "scores: \(scores)", "one 0-based training-set index per line, ascending (data-set order)"])
        print("kept \(kept.count) of \(v.count) examples by \(score) (\(chosen.description)) -> \(out)")
    }
}
