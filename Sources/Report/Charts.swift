/// One named series of a line chart.
struct LineSeries {
    var name: String
    var style: SeriesStyle
    /// Shown after the name in the legend and never cut (e.g. the AUROC).
    var detail: String? = nil
    var points: [(Double, Double)]
    /// A +- error per point (drawn as bars with caps), or nil.
    var errors: [Double]? = nil
    /// Dots at the points (for charts with few points).
    var markers = false
}

/// One named series of a histogram: a height per bin.
struct BarSeries {
    var name: String
    var style: SeriesStyle
    var heights: [Double]
}

/// The report's charts, each one SVG built from ``Plot`` and ``SVG`` primitives.
enum Charts {
    /// A histogram over `binning`, series overlaid (translucent), with a legend when
    /// there is more than one series.
    static func histogram(_ series: [BarSeries], binning: Binning, title: String, xLabel: String, yLabel: String,
                          width: Double = 370, height: Double = 230) -> String {
        let top = series.flatMap(\.heights).max() ?? 0
        var plot = Plot(width: width, height: height, xDomain: (binning.lo, binning.hi),
                        yDomain: (0, top > 0 ? top * 1.08 : 1), label: title)
        plot.axes(xLabel: xLabel, yLabel: yLabel, xTicks: 5, yTicks: 4)
        for s in series { plot.bars(s.heights, style: s.style) }
        let legendStart = series.count > 1 ? plot.legendRow(series.map { ($0.name, $0.style) }) : plot.right
        plot.leftTitle(title, maxCharacters: max(8, Int((legendStart - plot.left - 10) / 7.5)))
        return plot.svg.rendered
    }

    /// A small histogram without ticks (one of a row of small multiples): the bins, a
    /// baseline and a one-line title.
    static func smallHistogram(_ series: [BarSeries], binning: Binning, title: String,
                               width: Double = 110, height: Double = 66) -> String {
        let top = series.flatMap(\.heights).max() ?? 0
        let margins = Plot.Margins(left: 4, top: 16, right: 4, bottom: 4)
        var plot = Plot(width: width, height: height, margins: margins, xDomain: (binning.lo, binning.hi),
                        yDomain: (0, top > 0 ? top : 1), label: title)
        for s in series { plot.bars(s.heights, style: s.style) }
        plot.svg.line(plot.left, plot.bottom, plot.right, plot.bottom, stroke: "#666")
        let shown = title.count > 22 ? String(title.prefix(21)) + "…" : title
        plot.svg.text(shown, plot.left, 11, size: 10, tooltip: shown == title ? nil : title)
        return plot.svg.rendered
    }

    /// Lines (with optional error bars and markers) over fixed domains, dashed
    /// `references` under them, and a legend in a column right of the plot.
    static func lines(_ series: [LineSeries], references: [[(Double, Double)]] = [], xDomain: (Double, Double),
                      yDomain: (Double, Double), title: String, xLabel: String, yLabel: String,
                      width: Double = 580, height: Double = 400, legendWidth: Double = 190) -> String {
        let margins = Plot.Margins(left: 56, top: 28, right: 16 + legendWidth, bottom: 44)
        var plot = Plot(width: width, height: height, margins: margins, xDomain: xDomain, yDomain: yDomain, label: title)
        plot.title(title)
        plot.axes(xLabel: xLabel, yLabel: yLabel)
        for r in references { plot.line(r, style: SeriesStyle.reference, width: 1) }
        for s in series {
            plot.line(s.points, style: s.style)
            for (k, p) in s.points.enumerated() {
                if let e = s.errors?[k], e > 0 { plot.errorBar(at: p.0, low: p.1 - e, high: p.1 + e, style: s.style) }
                if s.markers { plot.svg.circle(plot.x(p.0), plot.y(p.1), r: 3, fill: s.style.color) }
            }
        }
        plot.legend(series.map { ($0.name, $0.style, $0.detail) }, atX: plot.right + 16, atY: plot.top + 8,
                    maxCharacters: max(8, Int((legendWidth - 30) / 6.2)))
        return plot.svg.rendered
    }

    /// A square matrix of values in -1...1 as coloured cells (blue -1, white 0,
    /// red +1) with the value printed in each; NaN cells grey with a dash.
    static func heatmap(labels: [String], values: [[Double]], title: String) -> String {
        let n = labels.count
        let cell = n <= 12 ? 46.0 : n <= 20 ? 36 : 26
        let labelWidth = min(170, 12 + 6.5 * Double(labels.map(\.count).max() ?? 1))
        let left = labelWidth, top = labelWidth * 0.75 + 24
        var svg = SVG(width: left + Double(n) * cell + 20, height: top + Double(n) * cell + 10, label: title)
        for (i, name) in labels.enumerated() {
            let shown = cut(name, Int((labelWidth - 12) / 6.5))
            svg.text(shown, left - 6, top + (Double(i) + 0.5) * cell + 4, anchor: .end, tooltip: name)
            let cx = left + (Double(i) + 0.5) * cell
            svg.text(shown, cx + 4, top - 6, rotate: -45, tooltip: name)
        }
        for i in 0..<n {
            for j in 0..<n {
                let v = values[i][j]
                let x = left + Double(j) * cell, y = top + Double(i) * cell
                svg.rect(x, y, cell, cell, fill: v.isNaN ? "#dddddd" : diverging(v), stroke: "#ffffff",
                         tooltip: "\(labels[i]) vs \(labels[j]): \(v.isNaN ? "undefined" : Format.fixed(v, 3))")
                svg.text(v.isNaN ? "–" : Format.fixed(v, 2), x + cell / 2, y + cell / 2 + 4, anchor: .middle,
                         size: cell >= 36 ? 11 : 9, fill: abs(v) > 0.6 ? "#ffffff" : "#222222")
            }
        }
        return svg.rendered
    }

    /// A colour for `v` in -1...1: blue through near-white to red.
    static func diverging(_ v: Double) -> String {
        let t = max(-1, min(1, v))
        let white = (247.0, 247.0, 247.0), red = (178.0, 24.0, 43.0), blue = (33.0, 102.0, 172.0)
        let end = t >= 0 ? red : blue, a = abs(t)
        func mix(_ p: Double, _ q: Double) -> Int { Int((p + (q - p) * a).rounded()) }
        return hex(mix(white.0, end.0), mix(white.1, end.1), mix(white.2, end.2))
    }

    static func hex(_ r: Int, _ g: Int, _ b: Int) -> String {
        let digits = Array("0123456789abcdef")
        return "#" + [r, g, b].map { String([digits[($0 >> 4) & 15], digits[$0 & 15]]) }.joined()
    }

    private static func cut(_ s: String, _ n: Int) -> String {
        s.count > n ? String(s.prefix(max(1, n - 1))) + "…" : s
    }
}
