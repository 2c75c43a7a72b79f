/// `prune-curve` (prune-curve points given): test accuracy against the fraction kept,
/// every selection against random subsets of the same size, error bars = std.
enum PruneCurveSection {
    static let title = "Prune curve"

    static func html(_ m: ReportModel) -> String? {
        guard let points = m.input.pruneCurve, !points.isEmpty else { return nil }
        let series = selectionSeries(points) + (randomSeries(points).map { [$0] } ?? [])
        let spans = series.flatMap { s in
            s.points.enumerated().map { k, p in (p.1 - (s.errors?[k] ?? 0), p.1 + (s.errors?[k] ?? 0)) }
        }.filter { $0.0.isFinite && $0.1.isFinite }
        let low = spans.map(\.0).min() ?? 0, high = spans.map(\.1).max() ?? 100
        let pad = max(0.5, (high - low) * 0.08)
        let fractions = points.map(\.fraction)
        let xLow = max(0, (fractions.min() ?? 0) - 0.05), xHigh = min(1, (fractions.max() ?? 1) + 0.05)
        let chart = Charts.lines(series, xDomain: (xLow, xHigh), yDomain: (low - pad, high + pad),
                                 title: "Test accuracy after pruning", xLabel: "fraction of the training set kept",
                                 yLabel: "test accuracy (%)", width: 980, height: max(380, 100 + 16 * Double(series.count)),
                                 legendWidth: 420)
        return HTML.note("Mean test accuracy over seeds; error bars: one standard deviation. "
                         + "Grey dashed: random subsets of the same size.")
            + chart + "\n" + table(points)
    }

    /// One series per strategy (a selection without its fraction: `el2n coverage hard-cut
    /// 0.1 per class` joins the points of every fraction kept that way), in the order they
    /// first appear, points by fraction.
    private static func selectionSeries(_ points: [PruneCurvePoint]) -> [LineSeries] {
        var names: [String] = []
        for p in points where !names.contains(strategy(p.selection)) { names.append(strategy(p.selection)) }
        return names.enumerated().map { k, name in
            let mine = points.filter { strategy($0.selection) == name }.sorted { $0.fraction < $1.fraction }
            return LineSeries(name: name, style: .palette(k), points: mine.map { ($0.fraction, 100 * $0.meanAccuracy) },
                              errors: mine.map { 100 * $0.std }, markers: true)
        }
    }

    /// `selection` without the fraction that follows its kind (`keep-hardest 0.5 window 10`
    /// -> `keep-hardest window 10`); a label of another form stays as it is.
    static func strategy(_ selection: String) -> String {
        var words = selection.split(separator: " ").map(String.init)
        let kinds: Set<String> = ["drop-suspicious", "keep-hardest", "keep-random", "coverage"]
        if let k = words.firstIndex(where: kinds.contains), k + 1 < words.count, Double(words[k + 1]) != nil {
            words.remove(at: k + 1)
        }
        return words.joined(separator: " ")
    }

    /// The random baseline, one point per fraction (the selections share it).
    private static func randomSeries(_ points: [PruneCurvePoint]) -> LineSeries? {
        var seen: [Double] = [], chosen: [PruneCurvePoint] = []
        for p in points where p.randomMeanAccuracy != nil && !seen.contains(p.fraction) {
            seen.append(p.fraction); chosen.append(p)
        }
        guard !chosen.isEmpty else { return nil }
        chosen.sort { $0.fraction < $1.fraction }
        return LineSeries(name: "random subsets", style: SeriesStyle(color: "#555555", dash: "5 4"),
                          points: chosen.map { ($0.fraction, 100 * $0.randomMeanAccuracy!) },
                          errors: chosen.map { 100 * ($0.randomStd ?? 0) }, markers: true)
    }

    private static func table(_ points: [PruneCurvePoint]) -> String {
        func pm(_ mean: Double?, _ std: Double?) -> String {
            guard let mean else { return "–" }
            return Format.fixed(100 * mean, 2) + "% ± " + Format.fixed(100 * (std ?? 0), 2)
        }
        let rows = points.map { p in
            [Format.fixed(p.fraction, 3), Format.escape(p.selection), pm(p.meanAccuracy, p.std),
             pm(p.randomMeanAccuracy, p.randomStd)]
        }
        return HTML.table(header: ["kept", "selection", "test accuracy", "random subsets"], rows: rows, numeric: [0, 2, 3])
    }
}
