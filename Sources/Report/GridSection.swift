/// `grids` (images given): per score, the 64 most and the 64 least suspicious examples
/// as PNG grids (flipped ones framed red) with a caption per tile.
enum GridSection {
    static let title = "Most and least suspicious examples"
    static let tiles = 64

    static func html(_ m: ReportModel) -> String? {
        guard let images = m.input.images else { return nil }
        var out = HTML.note("Tiles read row by row, most extreme first; a tile's caption gives its position, "
                            + "example index, score value and given label. "
                            + (m.noiseKnown ? "Red frame and red caption: a flipped label (← its original label). " : "")
                            + (m.paths != nil ? "Hover over a tile or caption for its file." : ""))
        // Grids are drawn and encoded in parallel; the caller's pixel closure runs one call at a time.
        let gate = SerialGate()
        let grids = parallelMap(2 * m.scores.count) { job -> String in
            let s = m.scores[job / 2], most = job % 2 == 0
            let examples = most ? Array(s.order.prefix(tiles)) : Array(s.order.suffix(tiles).reversed())
            return grid(examples, heading: "\(examples.count) \(most ? "most" : "least") suspicious",
                        id: "g\(job / 2)\(most ? "m" : "l")", s, images, m, gate: gate)
        }
        for (k, s) in m.scores.enumerated() {
            out += "<h3>\(Format.escape(s.name)) <span class=\"note\">(\(Format.escape(s.directionText)))</span></h3>\n"
            out += grids[2 * k] + grids[2 * k + 1]
        }
        return out
    }

    /// One grid: the PNG with a hover box per tile, and the numbered captions beside it.
    private static func grid(_ examples: [Int], heading: String, id: String, _ s: ScoreInfo,
                             _ images: ReportImages, _ m: ReportModel, gate: SerialGate) -> String {
        guard !examples.isEmpty else { return HTML.note(heading + ": no examples with a defined value.") }
        let tiles = examples.map { GridTile(example: $0, flipped: m.flipped?[$0] == true) }
        let layout = ImageGrid(images: images, count: tiles.count)
        var out = "<h4>\(Format.escape(heading))</h4>\n"
        guard let png = layout.png(tiles, fetch: { gate.run($0) }) else { return out + HTML.note("The PNG encoder failed.") }
        out += "<div class=\"grid-row\">"
        out += "<div class=\"grid\"><img id=\"\(id)\" src=\"data:image/png;base64,\(Base64.encode(png))\" "
            + "width=\"\(layout.width)\" height=\"\(layout.height)\" alt=\"\(Format.escape(s.name + ": " + heading))\">"
        for (k, i) in examples.enumerated() {
            let o = layout.origin(of: k)
            out += "<span style=\"left:\(o.x)px;top:\(o.y)px;width:\(layout.tileWidth)px;height:\(layout.tileHeight)px\" "
                + "title=\"\(Format.escape(tooltip(i, position: k + 1, s, m)))\"></span>"
        }
        out += "</div>\n<ol class=\"tiles\" style=\"grid-template-rows:repeat(\((examples.count + 1) / 2),auto)\">"
        for (k, i) in examples.enumerated() {
            let flipped = m.flipped?[i] == true
            out += "<li\(flipped ? " class=\"flipped\"" : "") title=\"\(Format.escape(tooltip(i, position: k + 1, s, m)))\">"
                + "<b>\(k + 1)</b>#\(i) <i>\(value(i, s))</i> \(Format.escape(labels(i, m)))</li>"
        }
        return out + "</ol></div>\n"
    }

    /// The given label, with `← original` for a flipped one.
    private static func labels(_ i: Int, _ m: ReportModel) -> String {
        var text = m.className(m.input.givenLabels[i])
        if m.flipped?[i] == true, let original = m.input.originalLabels?[i] { text += " ← \(m.className(original))" }
        return text
    }

    private static func value(_ i: Int, _ s: ScoreInfo) -> String { Format.general(s.values[i], significant: 3) }

    /// `position: #index label (value)`, and the file path when known.
    private static func tooltip(_ i: Int, position: Int, _ s: ScoreInfo, _ m: ReportModel) -> String {
        var text = "\(position): #\(i) \(labels(i, m)) (\(s.name) \(value(i, s)))"
        if let path = m.paths?[i] { text += "\n" + path }
        return text
    }
}
