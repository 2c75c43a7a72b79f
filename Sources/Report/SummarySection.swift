/// `summary`: the facts of the run, what was left out and why, and one row per score
/// (with AUROC / AP at finding the flipped labels when they are known).
enum SummarySection {
    static let title = "Summary"

    static func html(_ m: ReportModel) -> String {
        var out = ""
        if !m.input.facts.isEmpty {
            out += "<table class=\"facts\">\n<tbody>\n" + factsRows(m) + "</tbody></table>\n"
        }
        out += "<p>\(m.count) examples, \(m.classCount) classes, \(m.scores.count) scores. \(Format.escape(noiseLine(m)))</p>\n"
        for w in m.warnings { out += "<p class=\"note warn\">Warning: \(Format.escape(w))</p>\n" }
        if m.scores.isEmpty || m.count == 0 {
            return out + "<p><strong>There is nothing to show:</strong> the run has \(m.count == 0 ? "no examples" : "no scores").</p>\n"
        }
        for o in omissions(m) { out += HTML.note(o) }
        return out + "<h3>Scores</h3>\n" + scoreTable(m)
    }

    private static func factsRows(_ m: ReportModel) -> String {
        m.input.facts.map { "<tr><th>\(Format.escape($0.0))</th><td>\(Format.escape($0.1))</td></tr>\n" }.joined()
    }

    private static func noiseLine(_ m: ReportModel) -> String {
        guard m.noiseKnown else { return "The original labels are not known: no detection figures." }
        let share = m.count > 0 ? Double(m.flippedCount) / Double(m.count) : 0
        return "\(m.flippedCount) labels flipped by injected noise (\(Format.percent(share)))."
    }

    private static func omissions(_ m: ReportModel) -> [String] {
        var notes: [String] = []
        if !m.noiseKnown { notes.append("ROC and precision-recall curves omitted: they need the original labels.") }
        if m.input.images == nil { notes.append("Image grids omitted: no images were given.") }
        return notes
    }

    private static func scoreTable(_ m: ReportModel) -> String {
        let anyNaN = m.scores.contains { $0.nanCount > 0 }
        var header = ["", "score", "suspicious end", "meaning"]
        var numeric: Set<Int> = []
        if m.noiseKnown {
            numeric = [4, 5]
            header += ["AUROC", "AP"]
        } else {
            header += ["10 most suspicious (example index)"]
        }
        if anyNaN { numeric.insert(header.count); header.append("NaN values") }
        let rows = ordered(m).map { s -> [String] in
            var row = ["<span class=\"swatch\" style=\"background:\(s.style.color)\"></span>",
                       "<strong>\(Format.escape(s.name))</strong>", s.directionText, Format.escape(s.score.note)]
            if m.noiseKnown {
                row += [figure(s.detection?.auroc), figure(s.detection?.averagePrecision)]
            } else {
                row.append(s.order.prefix(10).map(String.init).joined(separator: ", "))
            }
            if anyNaN { row.append(String(s.nanCount)) }
            return row
        }
        var out = HTML.table(header: header, rows: rows, numeric: numeric)
        if m.noiseKnown {
            let base = m.count > 0 ? Double(m.flippedCount) / Double(m.count) : 0
            out += HTML.note("AUROC and average precision (AP) of each score at ranking the flipped examples first, "
                             + "sorted by AUROC; a random ranking has AUROC 0.5 and AP \(Format.fixed(base, 3)) "
                             + "(the flipped share). – : undefined (NaN values in the score, or no flipped examples).")
        }
        return out
    }

    /// By AUROC, best first (undefined last) when noise is known; as given otherwise.
    private static func ordered(_ m: ReportModel) -> [ScoreInfo] {
        guard m.noiseKnown else { return m.scores }
        func key(_ s: ScoreInfo) -> Double { s.detection.map { $0.auroc.isNaN ? -1 : $0.auroc } ?? -1 }
        return m.scores.enumerated().sorted { a, b in
            key(a.element) > key(b.element) || (key(a.element) == key(b.element) && a.offset < b.offset)
        }.map(\.element)
    }

    private static func figure(_ v: Double?) -> String {
        guard let v, !v.isNaN else { return "–" }
        return Format.fixed(v, 3)
    }
}
