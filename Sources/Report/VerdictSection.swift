import Metrics

/// `verdict` (an audit's): the estimated number of label errors with its interval, the
/// flagged count, the precision and recall against the flipped labels when the noise is
/// known, and the most suspicious flagged examples as a grid captioned `given → suggested`.
enum VerdictSection {
    static let title = "Verdict: label errors"
    static let tiles = 64

    static func html(_ m: ReportModel) -> String? {
        guard let v = m.input.verdict, v.flagged.count == v.suggested.count,
              v.flagged.allSatisfy({ $0 >= 0 && $0 < m.count }) else { return nil }
        let share = 100 * v.estimated / Double(max(1, m.count))
        var out = "<p>About <b>\(Format.fixed(v.estimated, 0))</b> label errors (95% interval \(Format.fixed(v.interval.low, 0))–"
            + "\(Format.fixed(v.interval.high, 0)), \(Format.fixed(share, 1))% of \(m.count) labels); <b>\(v.flagged.count)</b> examples flagged "
            + "with a suggested label in label_issues.csv, most suspicious first.</p>\n"
        if LabelVerdict.mostLabelsLookWrong(estimated: v.estimated, examples: m.count) {
            out += HTML.note("More than half the labels look wrong, as they do to a network that has not learned the classes: "
                             + "check the test accuracy, and train longer or at another learning rate before acting on this verdict.")
        }
        if let flipped = m.flipped {
            let hits = v.flagged.filter { flipped[$0] }.count
            let right = zip(v.flagged, v.suggested).filter { flipped[$0.0] && m.input.originalLabels?[$0.0] == $0.1 }.count
            out += HTML.note("Against the \(m.flippedCount) flipped labels: precision \(Format.fixed(Double(hits) / Double(max(1, v.flagged.count)), 3)), "
                             + "recall \(Format.fixed(Double(hits) / Double(max(1, m.flippedCount)), 3)); the suggested label is the original one "
                             + "for \(right) of the \(hits) flagged flipped examples.")
        }
        guard let images = m.input.images, !v.flagged.isEmpty else { return out }
        let shown = Array(zip(v.flagged, v.suggested).prefix(tiles))
        let layout = ImageGrid(images: images, count: shown.count)
        let gate = SerialGate()
        guard let png = layout.png(shown.map { GridTile(example: $0.0, flipped: m.flipped?[$0.0] == true) }, fetch: { gate.run($0) }) else {
            return out + HTML.note("The PNG encoder failed.")
        }
        out += "<h4>The \(shown.count) most suspicious flagged examples</h4>\n<div class=\"grid-row\"><div class=\"grid\">"
            + "<img src=\"data:image/png;base64,\(Base64.encode(png))\" width=\"\(layout.width)\" height=\"\(layout.height)\" alt=\"flagged examples\"></div>\n"
            + "<ol class=\"tiles\" style=\"grid-template-rows:repeat(\((shown.count + 1) / 2),auto)\">"
        for (k, (i, s)) in shown.enumerated() {
            out += "<li\(m.flipped?[i] == true ? " class=\"flipped\"" : "")><b>\(k + 1)</b>#\(i) "
                + "\(Format.escape(m.className(m.input.givenLabels[i]))) → \(Format.escape(m.className(s)))</li>"
        }
        return out + "</ol></div>\n"
    }
}
