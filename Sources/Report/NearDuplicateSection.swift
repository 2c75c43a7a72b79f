/// `near-duplicates` (an audit's near_duplicates.csv given): how many pairs of training
/// examples the final model's embeddings put within the near-duplicate threshold, how
/// many of them carry two different labels, and the closest pairs side by side (pairs
/// with conflicting labels first), as a grid of two tiles per pair.
enum NearDuplicateSection {
    static let title = "Near duplicates"
    /// Pairs drawn (8 tiles a row: four pairs).
    static let pairs = 32

    static func html(_ m: ReportModel) -> String? {
        guard let all = m.input.nearDuplicates else { return nil }
        let valid = all.filter { $0.first >= 0 && $0.first < m.count && $0.second >= 0 && $0.second < m.count }
        let given = m.input.givenLabels
        let conflicting = valid.filter { given[$0.first] != given[$0.second] }.count
        var out = "<p><b>\(valid.count)</b> pairs of training examples are near duplicates by the final model's embeddings "
            + "(cosine distance at most 0.13 times the median distance to the nearest other example; near_duplicates.csv), <b>\(conflicting)</b> "
            + "of them with two different labels: one of each such pair is likely mislabeled, or the class boundary is ambiguous there.</p>\n"
        guard !valid.isEmpty else { return out }
        guard let images = m.input.images else { return out + HTML.note("The pairs are drawn when the run's images can be read.") }
        let shown = Array(valid.prefix(pairs))
        let tiles = shown.flatMap { [GridTile(example: $0.first, flipped: m.flipped?[$0.first] == true),
                                     GridTile(example: $0.second, flipped: m.flipped?[$0.second] == true)] }
        let layout = ImageGrid(images: images, count: tiles.count)
        let gate = SerialGate()
        guard let png = layout.png(tiles, fetch: { gate.run($0) }) else { return out + HTML.note("The PNG encoder failed.") }
        out += HTML.note("Each row holds four pairs, left to right; captions give both examples, their labels and the distance"
                         + " (≠ between two labels: they conflict)" + (m.noiseKnown ? "; a red frame: a flipped label." : "."))
        out += "<h4>The \(shown.count) closest pairs\(conflicting > 0 ? ", conflicting labels first" : "")</h4>\n"
            + "<div class=\"grid-row\"><div class=\"grid\"><img src=\"data:image/png;base64,\(Base64.encode(png))\" "
            + "width=\"\(layout.width)\" height=\"\(layout.height)\" alt=\"near-duplicate pairs\"></div>\n"
            + "<ol class=\"tiles\" style=\"grid-template-rows:repeat(\((shown.count + 1) / 2),auto)\">"
        for (k, p) in shown.enumerated() {
            let conflict = given[p.first] != given[p.second]
            let labels = conflict
                ? "\(Format.escape(m.className(given[p.first]))) ≠ \(Format.escape(m.className(given[p.second])))"
                : Format.escape(m.className(given[p.first]))
            out += "<li><b>\(k + 1)</b>#\(p.first) ↔ #\(p.second) \(labels) "
                + "<i>\(Format.general(p.distance, significant: 2))</i></li>"
        }
        return out + "</ol></div>\n"
    }
}
