/// `curves` (label noise known): the ROC and precision-recall curves of every score
/// at finding the flipped labels, each score ranked from its suspicious end.
enum CurvesSection {
    static let title = "Finding the flipped labels: ROC and precision-recall"

    static func html(_ m: ReportModel) -> String? {
        guard let flipped = m.flipped else { return nil }
        guard m.flippedCount > 0, m.flippedCount < m.count else {
            return HTML.note("Curves omitted: \(m.flippedCount == 0 ? "no" : "every") example is flipped, "
                             + "so there is nothing to tell apart.")
        }
        var roc: [LineSeries] = [], pr: [LineSeries] = [], skipped: [String] = []
        for s in m.scores {
            guard s.nanCount == 0, let d = s.detection,
                  let curves = DetectionCurves(values: s.values, order: s.order, positives: flipped) else {
                skipped.append(s.name)
                continue
            }
            roc.append(LineSeries(name: s.name, style: s.style, detail: "(\(Format.fixed(d.auroc, 3)))", points: curves.roc))
            pr.append(LineSeries(name: s.name, style: s.style, detail: "(\(Format.fixed(d.averagePrecision, 3)))",
                                 points: curves.pr))
        }
        var out = HTML.note("Every score ranks its suspicious end first; the legend gives AUROC and AP. "
                            + "Dashed grey: a random ranking.")
        if !skipped.isEmpty { out += HTML.note("Left out (NaN values): " + skipped.joined(separator: ", ") + ".") }
        guard !roc.isEmpty else { return out }
        let base = Double(m.flippedCount) / Double(m.count)
        let height = max(400, 100 + 16 * Double(roc.count))
        out += "<div class=\"charts\">\n"
        out += Charts.lines(roc, references: [[(0, 0), (1, 1)]], xDomain: (0, 1), yDomain: (0, 1), title: "ROC",
                            xLabel: "false positive rate (clean examples flagged)",
                            yLabel: "true positive rate (recall)", width: 568, height: height)
        out += Charts.lines(pr, references: [[(0, base), (1, base)]], xDomain: (0, 1), yDomain: (0, 1),
                            title: "Precision-recall", xLabel: "recall (flipped examples found)",
                            yLabel: "precision", width: 568, height: height)
        return out + "</div>\n"
    }
}
