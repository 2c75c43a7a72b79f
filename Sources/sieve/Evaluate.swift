import ArgumentParser
import Metrics

#if canImport(Glibc)
import Glibc
#endif

/// `--scores DIR|FILE` -> the scores.csv path.
func scoresPath(_ p: String) -> String { p.hasSuffix(".csv") ? p : p + "/scores.csv" }

/// The folder of a file path ("" for a bare name).
func folder(of path: String) -> String {
    path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
}

/// Reads `scores.csv` strictly and, when the run's `meta.json` sits beside it, checks
/// that the file holds that run's example count and that `flipped` (the list read from
/// `flippedPath`) is the list that run injected: files of different runs are refused.
func readRun(scores: String, flipped: [Int]? = nil, flippedPath: String? = nil) throws -> ScoreFile {
    let path = scoresPath(scores)
    let file = try ScoreFile(path: path)
    let dir = folder(of: path)
    let metaPath = (dir.isEmpty ? "" : dir + "/") + "meta.json"
    guard access(metaPath, F_OK) == 0 else { return file }
    let meta = try JSONReader.read(path: metaPath)
    if let n = meta["examples"]?.int { try file.checkRowCount(n) }
    if let flipped, let flippedPath {
        if let recorded = meta["flipped"] {
            let count = recorded["count"]?.int, checksum = recorded["checksum"]?.string
            guard count == flipped.count, checksum == indexChecksum(flipped) else {
                throw UsageError("\(flippedPath) (\(flipped.count) indices) is not the list of flipped labels of the run in "
                                 + "\(metaPath) (\(count ?? 0) flipped): the files come from different runs")
            }
        } else if meta["run_id"] != nil {
            throw UsageError("the run in \(metaPath) injected no label noise, so \(flippedPath) belongs to another run; "
                             + "pass the flipped list of this run's data with --flipped")
        }
    }
    return file
}

/// The suspicious end of score `name` of `file`: as the run's `meta.json` beside it
/// records it, else Sieve's catalog; nil when neither knows it.
func recordedDirection(of name: String, in file: ScoreFile) throws -> ScoreDirection? {
    let dir = folder(of: file.path)
    let metaPath = (dir.isEmpty ? "" : dir + "/") + "meta.json"
    if access(metaPath, F_OK) == 0, let text = try JSONReader.read(path: metaPath)["scores"]?[name]?["direction"]?.string,
       let d = ScoreDirection(rawValue: text) {
        return d
    }
    return ScoreCatalog.direction(of: name)
}

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "AUROC and average precision of every score at finding the flipped (noisy) labels.",
        discussion: """
        Each score ranks examples from its suspicious end (meta.json's direction; e.g. high EL2N, low AUM). Reads scores.csv files written by pandas too (to_csv(index=False); empty fields are NaN).

        Examples:
          sieve evaluate --scores runs/audit
          sieve evaluate --scores my_scores.csv --flipped flipped.txt --direction my_score=higher
        """)

    @Option(help: "A scores.csv, or the directory holding it.")
    var scores: String

    @Option(help: "The flipped indices (default: flipped.txt beside scores.csv).")
    var flipped: String?

    @Option(help: "Direction of a score not in Sieve's catalog: NAME=higher|lower (repeatable).")
    var direction: [String] = []

    @Option(help: "Write the figures as JSON here.")
    var json: String?

    func run() throws {
        if let json { try OutputFile.checkWritable(json, option: "--json") }
        var overrides: [String: ScoreDirection] = [:]
        for d in direction {
            let parts = d.split(separator: "=")
            guard parts.count == 2, let dir = ScoreDirection(rawValue: String(parts[1])) else {
                throw UsageError("--direction \(d) is not NAME=higher or NAME=lower")
            }
            overrides[String(parts[0])] = dir
        }
        let path = scoresPath(scores)
        let dir = folder(of: path)
        let flippedPath = flipped ?? (dir.isEmpty ? "flipped.txt" : dir + "/flipped.txt")
        let list = try Pruning.readIndexList(flippedPath)
        // A list given by hand may come from elsewhere (the same data, noised by another run).
        let file = try readRun(scores: scores, flipped: flipped == nil ? list : nil, flippedPath: flippedPath)
        if let bad = list.first(where: { $0 >= file.count }) {
            throw UsageError("\(flippedPath) lists example \(bad) but \(path) has \(file.count)")
        }
        let columns = try file.scoreNames.map { name in
            (name: name, values: try file.values(name), direction: try overrides[name] ?? recordedDirection(of: name, in: file))
        }
        let (results, skipped) = Detection.evaluate(columns, positives: Detection.mask(list, count: file.count),
                                                    reference: file.columns["input_norm"])
        for s in skipped {
            log("note: skipping \(s.name): \(s.reason)" + (s.reason == "unknown direction" ? " (give --direction \(s.name)=higher|lower)" : ""))
        }
        print("\(list.count) flipped of \(file.count) examples (\(flippedPath))")
        print("  score                      AUROC   AP      rank corr. with input_norm")
        for r in results {
            print("  \(r.name.padding(25)) \(format(r.auroc, 4))  \(format(r.averagePrecision, 4))  "
                  + (r.spearmanWithReference.map { format($0, 3) } ?? "-"))
        }
        if let json {
            let j = JSON.object(results.map { r in
                (r.name, .object([("direction", .string(r.direction.rawValue)), ("auroc", .double(r.auroc)),
                                  ("average_precision", .double(r.averagePrecision))]
                                 + (r.spearmanWithReference.map { [("spearman_input_norm", JSON.double($0))] } ?? [])))
            })
            try OutputFile.write(j.rendered + "\n", to: json)
        }
    }
}
