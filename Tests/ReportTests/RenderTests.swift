import Foundation
import Testing
import TestSupport
@testable import Report

/// Whether headless Chromium is here to render the report.
let chromiumAvailable: Bool = {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    return (path.split(separator: ":").map(String.init) + ["/usr/bin"]).contains {
        FileManager.default.isExecutableFile(atPath: $0 + "/chromium")
    }
}()

/// The repository root: three levels up from Tests/ReportTests/RenderTests.swift.
func repositoryRoot(_ file: String = #filePath) -> URL {
    URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

/// Runs `executable` with `arguments`; its exit status and standard output.
func run(_ executable: URL, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let r = try Subprocess(executable.path, arguments, stderr: .discard).wait()
    return (r.status, r.stdout)
}

@Suite struct RenderTests {
    /// Renders a 2000-example report with Chromium (scripts/render-report.sh): the
    /// screenshot is a real picture and the DOM holds every section and heading.
    /// SIEVE_REPORT_OUT=DIR keeps report.html and report.png in DIR.
    @Test(.enabled(if: chromiumAvailable, "chromium is not installed"))
    func chromiumRendersEverySection() throws {
        let keep = ProcessInfo.processInfo.environment["SIEVE_REPORT_OUT"]
        let directory = keep.map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("sieve-report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { if keep == nil { try? FileManager.default.removeItem(at: directory) } }
        let html = directory.appendingPathComponent("report.html"), png = directory.appendingPathComponent("report.png")
        try HTMLReport.render(Synthetic.input(n: 2000, classes: 10, pruneCurve: true, scoreCount: 4))
            .write(to: html, atomically: true, encoding: .utf8)
        let script = repositoryRoot().appendingPathComponent("scripts/render-report.sh")

        let shot = try run(script, [html.path, png.path, "1200", "9000"])
        #expect(shot.status == 0)
        let size = (try FileManager.default.attributesOfItem(atPath: png.path)[.size] as? Int) ?? 0
        #expect(size > 50_000)

        let dom = try run(script, ["--dump-dom", html.path])
        #expect(dom.status == 0)
        for id in PageTests.allSections { #expect(dom.output.contains("<section id=\"\(id)\">"), "section \(id)") }
        for heading in ["Summary", "Score distributions", "Finding the flipped labels: ROC and precision-recall",
                        "Rank correlations between scores", "Prune curve", "Flagged examples per class",
                        "Most and least suspicious examples"] {
            #expect(dom.output.contains("<h2>\(heading)</h2>"), "heading \(heading)")
        }
        #expect(dom.output.contains("<svg"))
    }
}
