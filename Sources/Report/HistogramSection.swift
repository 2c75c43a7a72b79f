/// `histograms`: one histogram per score (clean vs flipped overlaid when the noise is
/// known), then per-class small multiples for up to 20 classes.
enum HistogramSection {
    static let title = "Score distributions"
    static let maxClasses = 20

    static func html(_ m: ReportModel) -> String {
        let split = m.noiseKnown && m.flippedCount > 0
        var out = HTML.note(split
            ? "Each group's share of its examples per bin: clean (blue) and flipped (red) examples. "
              + "40 bins over the 0.5%–99.5% quantiles; values outside count in the edge bins."
            : "Examples per bin; 40 bins over the 0.5%–99.5% quantiles; values outside count in the edge bins.")
        var main = "<div class=\"charts\">\n", perClass = ""
        for s in m.scores {
            guard let binning = Binning.robust(sorted: s.sortedValues) else {
                main += HTML.figure("", caption: "\(s.name): no finite values, nothing to bin.")
                continue
            }
            let binned = BinnedScore(values: s.values, binning: binning)
            main += HTML.figure(mainChart(s, binned, m, split: split), caption: caption(binned))
            if m.classCount <= maxClasses { perClass += classRow(s, binned, m, split: split) }
        }
        out += main + "</div>\n<h3>Per class (given label)</h3>\n"
            + HTML.note("Examples per bin" + (split ? ", clean and flipped" : "") + ", on each score's bins; "
                        + "every small chart has its own vertical scale.")
        if m.classCount > maxClasses {
            return out + HTML.note("Per-class histograms omitted: \(m.classCount) classes (drawn for at most \(maxClasses)).")
        }
        return out + perClass
    }

    private static func mainChart(_ s: ScoreInfo, _ b: BinnedScore, _ m: ReportModel, split: Bool) -> String {
        let series: [BarSeries]
        if split, let flipped = m.flipped {
            series = [BarSeries(name: "clean", style: .clean, heights: shares(b.counts { !flipped[$0] })),
                      BarSeries(name: "flipped", style: .flipped, heights: shares(b.counts { flipped[$0] }))]
        } else {
            series = [BarSeries(name: "all", style: .clean, heights: b.counts().map(Double.init))]
        }
        return Charts.histogram(series, binning: b.binning, title: s.name, xLabel: "value (\(s.directionText))",
                                yLabel: split ? "share of group" : "examples")
    }

    /// One small histogram per class, on the score's bins.
    private static func classRow(_ s: ScoreInfo, _ b: BinnedScore, _ m: ReportModel, split: Bool) -> String {
        let labels = m.input.givenLabels, flipped = m.flipped
        let counts = b.counts(groups: 2 * m.classCount) { i in
            m.classIndex(labels[i]).map { 2 * $0 + (flipped?[i] == true ? 1 : 0) }
        }
        var out = "<h4>\(Format.escape(s.name))</h4>\n<div class=\"multiples\">"
        for c in 0..<m.classCount {
            let clean = counts[2 * c], flip = counts[2 * c + 1]
            let total = clean.reduce(0, +) + flip.reduce(0, +)
            let series = split
                ? [BarSeries(name: "clean", style: .clean, heights: clean.map(Double.init)),
                   BarSeries(name: "flipped", style: .flipped, heights: flip.map(Double.init))]
                : [BarSeries(name: "all", style: .clean, heights: zip(clean, flip).map { Double($0 + $1) })]
            out += Charts.smallHistogram(series, binning: b.binning, title: "\(m.className(Int32(c))) (\(total))")
        }
        return out + "</div>\n"
    }

    /// Counts as shares of their sum (all zero when empty).
    private static func shares(_ counts: [Int]) -> [Double] {
        let total = counts.reduce(0, +)
        return counts.map { total > 0 ? Double($0) / Double(total) : 0 }
    }

    private static func caption(_ b: BinnedScore) -> String {
        let lo = Format.general(b.binning.lo), hi = Format.general(b.binning.hi)
        var parts = ["bins over [\(lo), \(hi)]"]
        if b.clampedLow + b.clampedHigh > 0 {
            var clamped = "\(b.clampedLow) below and \(b.clampedHigh) above in the edge bins"
            if b.infinite > 0 { clamped += " (\(b.infinite) infinite)" }
            parts.append(clamped)
        }
        if b.nanCount > 0 { parts.append("\(b.nanCount) NaN skipped") }
        return parts.joined(separator: "; ") + "."
    }
}
