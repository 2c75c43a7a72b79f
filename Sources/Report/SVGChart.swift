#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An inline SVG picture built from a few primitives; every chart in the report is
/// made of these (no `xmlns`: inline SVG in HTML5 needs none). Coordinates are CSS
/// pixels; text is escaped here, so callers pass raw strings.
struct SVG {
    let width: Double, height: Double
    /// Read by screen readers and shown by nothing else.
    let label: String
    private(set) var body = ""

    init(width: Double, height: Double, label: String) {
        self.width = width; self.height = height; self.label = label
    }

    /// The `<svg>` element.
    var rendered: String {
        let w = Format.coord(width), h = Format.coord(height)
        return "<svg width=\"\(w)\" height=\"\(h)\" viewBox=\"0 0 \(w) \(h)\" role=\"img\" aria-label=\"\(Format.escape(label))\">"
            + body + "</svg>"
    }

    mutating func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String,
                       width: Double = 1, dash: String? = nil) {
        body += "<line x1=\"\(c(x1))\" y1=\"\(c(y1))\" x2=\"\(c(x2))\" y2=\"\(c(y2))\" stroke=\"\(stroke)\""
            + (width != 1 ? " stroke-width=\"\(c(width))\"" : "") + dashAttribute(dash) + "/>"
    }

    /// A rectangle; `tooltip` becomes a `<title>` child (shown on hover).
    mutating func rect(_ x: Double, _ y: Double, _ w: Double, _ h: Double, fill: String,
                       stroke: String? = nil, tooltip: String? = nil) {
        let attributes = "x=\"\(c(x))\" y=\"\(c(y))\" width=\"\(c(max(0, w)))\" height=\"\(c(max(0, h)))\" fill=\"\(fill)\""
            + (stroke.map { " stroke=\"\($0)\"" } ?? "")
        if let tooltip { body += "<rect \(attributes)><title>\(Format.escape(tooltip))</title></rect>" }
        else { body += "<rect \(attributes)/>" }
    }

    enum Anchor: String { case start, middle, end }

    /// Text with its baseline at `y`; `rotate` turns it (degrees) about (x, y).
    mutating func text(_ s: String, _ x: Double, _ y: Double, anchor: Anchor = .start, size: Double? = nil,
                       bold: Bool = false, fill: String? = nil, rotate: Double? = nil, tooltip: String? = nil) {
        var attributes = "x=\"\(c(x))\" y=\"\(c(y))\""
        if anchor != .start { attributes += " text-anchor=\"\(anchor.rawValue)\"" }
        if let size { attributes += " font-size=\"\(c(size))\"" }
        if bold { attributes += " font-weight=\"bold\"" }
        if let fill { attributes += " fill=\"\(fill)\"" }
        if let rotate { attributes += " transform=\"rotate(\(c(rotate)) \(c(x)) \(c(y)))\"" }
        let title = tooltip.map { "<title>\(Format.escape($0))</title>" } ?? ""
        body += "<text \(attributes)>\(title)\(Format.escape(s))</text>"
    }

    /// An open polyline through `points`.
    mutating func polyline(_ points: [(Double, Double)], stroke: String, width: Double = 1.5, dash: String? = nil) {
        guard !points.isEmpty else { return }
        let list = points.map { "\(c($0.0)),\(c($0.1))" }.joined(separator: " ")
        body += "<polyline points=\"\(list)\" fill=\"none\" stroke=\"\(stroke)\" stroke-width=\"\(c(width))\""
            + " stroke-linejoin=\"round\"" + dashAttribute(dash) + "/>"
    }

    /// A path from SVG path data `d` (already made of formatted coordinates).
    mutating func path(_ d: String, fill: String, fillOpacity: Double? = nil, stroke: String? = nil, width: Double = 1) {
        body += "<path d=\"\(d)\" fill=\"\(fill)\""
            + (fillOpacity.map { " fill-opacity=\"\(Format.fixed($0, 2))\"" } ?? "")
            + (stroke.map { " stroke=\"\($0)\" stroke-width=\"\(c(width))\"" } ?? "") + "/>"
    }

    mutating func circle(_ x: Double, _ y: Double, r: Double, fill: String) {
        body += "<circle cx=\"\(c(x))\" cy=\"\(c(y))\" r=\"\(c(r))\" fill=\"\(fill)\"/>"
    }

    private func c(_ v: Double) -> String { Format.coord(v) }
    private func dashAttribute(_ dash: String?) -> String { dash.map { " stroke-dasharray=\"\($0)\"" } ?? "" }
}

/// Maps a data interval onto a pixel interval.
struct LinearScale {
    let domain: (Double, Double), range: (Double, Double)

    /// A scale over `domain`; an empty domain is widened so nothing divides by zero.
    init(domain: (Double, Double), range: (Double, Double)) {
        var d = domain
        if !(d.1 > d.0) { d = (d.0 - 0.5, d.0 + 0.5) }
        self.domain = d; self.range = range
    }

    func callAsFunction(_ v: Double) -> Double {
        range.0 + (v - domain.0) / (domain.1 - domain.0) * (range.1 - range.0)
    }

    /// Round tick values (1, 2, 5 x 10^k apart) inside the domain, about `count` of them.
    func ticks(_ count: Int) -> (values: [Double], step: Double) {
        let span = domain.1 - domain.0
        let raw = span / Double(max(1, count))
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        var values: [Double] = []
        var k = (domain.0 / step).rounded(.up)
        while k * step <= domain.1 + step * 1e-9 && values.count < 50 {
            values.append(abs(k * step) < step * 1e-9 ? 0 : k * step)
            k += 1
        }
        return (values, step)
    }
}

/// How one data series is drawn: a colour and an optional dash pattern.
struct SeriesStyle {
    var color: String
    var dash: String?

    /// Tableau 10: distinguishable, and readable on white.
    static let colors = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                         "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#7f7f7f"]

    /// The style of series `i`: ten colours, then the same colours dashed, then dotted.
    static func palette(_ i: Int) -> SeriesStyle {
        let dashes: [String?] = [nil, "6 3", "2 2"]
        return SeriesStyle(color: colors[i % colors.count], dash: dashes[(i / colors.count) % dashes.count])
    }

    static let clean = SeriesStyle(color: "#4e79a7")
    static let flipped = SeriesStyle(color: "#e15759")
    static let reference = SeriesStyle(color: "#999999", dash: "4 4")
}

/// A rectangular plot area inside an SVG with an x and a y scale, and the decorations
/// every chart shares: axes with ticks and labels, a title, a legend.
struct Plot {
    var svg: SVG
    let x: LinearScale, y: LinearScale
    let left: Double, top: Double, right: Double, bottom: Double

    struct Margins {
        var left = 56.0, top = 28.0, right = 16.0, bottom = 44.0
    }

    init(width: Double, height: Double, margins: Margins = Margins(), xDomain: (Double, Double),
         yDomain: (Double, Double), label: String) {
        svg = SVG(width: width, height: height, label: label)
        left = margins.left; top = margins.top
        right = width - margins.right; bottom = height - margins.bottom
        x = LinearScale(domain: xDomain, range: (left, right))
        y = LinearScale(domain: yDomain, range: (bottom, top))
    }

    /// A title centred above the plot area.
    mutating func title(_ s: String) {
        svg.text(s, (left + right) / 2, top - 10, anchor: .middle, size: 12, bold: true)
    }

    /// A title at the left above the plot area, cut to `maxCharacters`.
    mutating func leftTitle(_ s: String, maxCharacters: Int) {
        let shown = s.count > maxCharacters ? String(s.prefix(maxCharacters - 1)) + "…" : s
        svg.text(shown, left, top - 10, size: 12, bold: true, tooltip: shown == s ? nil : s)
    }

    /// A legend in one row above the plot area, ending at its right edge; returns the
    /// x where it starts.
    @discardableResult
    mutating func legendRow(_ entries: [(String, SeriesStyle)]) -> Double {
        let widths = entries.map { 34 + 6.2 * Double($0.0.count) }
        var x = right - widths.reduce(0, +)
        let start = x
        for (entry, w) in zip(entries, widths) {
            svg.rect(x, top - 19, 12, 10, fill: entry.1.color)
            svg.text(entry.0, x + 16, top - 10)
            x += w
        }
        return start
    }

    /// Axis lines, ticks with labels, light grid lines and the axis titles.
    mutating func axes(xLabel: String, yLabel: String, xTicks: Int = 6, yTicks: Int = 5, grid: Bool = true) {
        let xt = x.ticks(xTicks), yt = y.ticks(yTicks)
        for v in yt.values {
            let py = y(v)
            if grid { svg.line(left, py, right, py, stroke: "#e6e6e6") }
            svg.line(left - 4, py, left, py, stroke: "#666")
            svg.text(Format.tick(v, step: yt.step), left - 6, py + 3.5, anchor: .end, size: 10)
        }
        for v in xt.values {
            let px = x(v)
            svg.line(px, bottom, px, bottom + 4, stroke: "#666")
            svg.text(Format.tick(v, step: xt.step), px, bottom + 15, anchor: .middle, size: 10)
        }
        svg.line(left, bottom, right, bottom, stroke: "#666")
        svg.line(left, top, left, bottom, stroke: "#666")
        svg.text(xLabel, (left + right) / 2, bottom + 32, anchor: .middle)
        svg.text(yLabel, left - 40, (top + bottom) / 2, anchor: .middle, rotate: -90)
    }

    /// A data polyline.
    mutating func line(_ points: [(Double, Double)], style: SeriesStyle, width: Double = 1.5) {
        svg.polyline(points.map { (x($0.0), y($0.1)) }, stroke: style.color, width: width, dash: style.dash)
    }

    /// A vertical error bar from `low` to `high` at `at`, with caps.
    mutating func errorBar(at: Double, low: Double, high: Double, style: SeriesStyle) {
        let px = x(at), y0 = y(low), y1 = y(high)
        svg.line(px, y0, px, y1, stroke: style.color)
        svg.line(px - 3, y0, px + 3, y0, stroke: style.color)
        svg.line(px - 3, y1, px + 3, y1, stroke: style.color)
    }

    /// A filled step outline over equal-width bins spanning the x domain (a histogram).
    mutating func bars(_ heights: [Double], style: SeriesStyle) {
        guard !heights.isEmpty else { return }
        let x0 = x.domain.0, step = (x.domain.1 - x.domain.0) / Double(heights.count)
        var d = "M\(Format.coord(x(x0))),\(Format.coord(bottom))"
        for (k, h) in heights.enumerated() {
            d += "V\(Format.coord(y(h)))H\(Format.coord(x(x0 + Double(k + 1) * step)))"
        }
        d += "V\(Format.coord(bottom))Z"
        svg.path(d, fill: style.color, fillOpacity: 0.4, stroke: style.color)
    }

    /// A legend, one entry a line, starting at (`atX`, `atY`): a name, cut so that
    /// name and detail fit in `maxCharacters` (the full name in a tooltip), then the detail.
    mutating func legend(_ entries: [(String, SeriesStyle, String?)], atX: Double, atY: Double, maxCharacters: Int = 26) {
        for (k, (full, style, detail)) in entries.enumerated() {
            let ly = atY + Double(k) * 16
            svg.line(atX, ly - 4, atX + 22, ly - 4, stroke: style.color, width: 2.5, dash: style.dash)
            let room = max(4, maxCharacters - (detail.map { $0.count + 1 } ?? 0))
            let name = full.count > room ? String(full.prefix(room - 1)) + "…" : full
            svg.text(name + (detail.map { " " + $0 } ?? ""), atX + 28, ly, tooltip: name == full ? nil : full)
        }
    }
}
