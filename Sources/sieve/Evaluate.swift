import ArgumentParser
import Jobs
import Metrics
import Storage

#if canImport(Glibc)
import Glibc
#endif

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
        if let json { try OutputFile.checkWritable(json, option: "--json", replacing: .jsonSummary) }
        var overrides: [String: ScoreDirection] = [:]
        for d in direction {
            let parts = d.split(separator: "=")
            guard parts.count == 2, let dir = ScoreDirection(rawValue: String(parts[1])) else {
                throw UsageError("--direction \(d) is not NAME=higher or NAME=lower")
            }
            overrides[String(parts[0])] = dir
        }
        let run = try RunFolder(scores: scores)
        let file = run.scores
        let flippedPath = flipped ?? run.file("flipped.txt")
        let list = try IndexList.read(flippedPath)
        // A list given by hand may come from elsewhere (the same data, noised by another run).
        if flipped == nil { try run.check(flipped: list, from: flippedPath) }
        if let bad = list.first(where: { $0 >= file.count }) {
            throw UsageError("\(flippedPath) lists example \(bad) but \(file.path) has \(file.count)")
        }
        let columns = try file.scoreNames.map { name in
            (name: name, values: try file.values(name), direction: try overrides[name] ?? run.direction(of: name))
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
            try OutputFile.writeSummary(j, to: json)
        }
    }
}
