import ArgumentParser
import Jobs
import Report
import Storage
import Trainer

#if canImport(Glibc)
import Glibc
#endif

/// `sieve report DIR`: (re)writes `DIR/report.html` for any output folder of `audit`,
/// `score` or `prune-curve`.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write report.html for an output folder of `sieve audit` or `sieve score` (one self-contained file).",
        discussion: """
        Reads DIR/scores.csv and DIR/meta.json (and flipped.txt, prune_curve.csv when present) and reloads the run's data set (meta.json's data, limit and val) for the image grids; when the data cannot be loaded, the report says so and leaves the grids out.

        Examples:
          sieve report runs/audit
          sieve report runs/dyn --output /tmp/dyn.html
        """)

    @Argument(help: "The output folder of a run (holding scores.csv and meta.json).")
    var runFolder: String

    @Option(help: "Where to write the report (default: FOLDER/report.html).")
    var output: String?

    @Option(help: "Also show the prune curve of this `sieve prune-curve` output folder (its prune_curve.csv); repeat it to draw the points of several runs in one figure; default: FOLDER/prune_curve.csv when present.")
    var pruneCurve: [String] = []

    func run() throws {
        guard access(runFolder, F_OK) == 0 else { throw UsageError("\(runFolder): no such folder") }
        let scoresFile = RunFolder.scoresPath(runFolder)
        let dir = scoresFile.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        if access(scoresFile, F_OK) != 0, access((dir.isEmpty ? "" : dir + "/") + RunFolder.pruneCurveFile, F_OK) == 0 {
            throw UsageError("\(runFolder) is a prune-curve folder (no scores.csv); show its curve in the report of the scores it ranked: "
                             + "sieve report SCORES_DIR --prune-curve \(runFolder)")
        }
        guard access((dir.isEmpty ? "" : dir + "/") + RunFolder.metaFile, F_OK) == 0 else {
            throw UsageError("\(runFolder) has no meta.json: pass the output folder of `sieve audit` or `sieve score`")
        }
        let path = output ?? ((dir.isEmpty ? "" : dir + "/") + RunFolder.reportFile)
        // The run's own report.html is replaced as the run's: listed in its mark, or in a run of
        // an earlier version (no mark); any other existing file only if it is a Sieve report.
        let listed = RunMark.listedEntries(in: dir.isEmpty ? "." : dir)
        let ownReport = output == nil && (listed == nil || listed!.contains(RunFolder.reportFile))
        try OutputFile.checkWritable(path, option: "--output", replacing: ownReport ? nil : .htmlReport)
        let run = try RunFolder(scores: runFolder)
        let scores = try run.reportScores { log("note: \($0) left out of the report: its suspicious end is unknown") }
        var images: Dataset?
        do { images = try run.trainingImages() } catch {
            log("note: the image grids are left out: \(error)")
        }
        var curvePaths: [String] = pruneCurve.map { (p: String) -> String in p.hasSuffix(".csv") ? p : p + "/" + RunFolder.pruneCurveFile }
        let own: String = run.file(RunFolder.pruneCurveFile)
        if pruneCurve.isEmpty && access(own, F_OK) == 0 { curvePaths = [own] }
        let curve = curvePaths.isEmpty ? nil : try curvePaths.flatMap { try RunFolder.readPruneCurve($0) }
        let given = try run.scores.values("label") + (run.scores.columns["original_label"] ?? [])
        let classes = max(run.meta?["classes"]?.int ?? 0, Int(given.max() ?? 0) + 1)
        let html = HTMLReport.render(try run.reportInput(scores: scores, images: images, classes: classes,
                                                         classNames: images?.classNames, pruneCurve: curve))
        try OutputFile.write(html, to: path)
        if output == nil { try RunMark.record(RunFolder.reportFile, in: dir.isEmpty ? "." : dir) }   // part of the run now
        if path == "-" || path.hasPrefix("/dev/") { log("report: \(path)") } else { print("report: \(path)") }
    }
}
