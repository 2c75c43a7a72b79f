/// `flagged-per-class`: per given class, how many of each score's flagged examples
/// (its `k` most suspicious) carry that label, next to how many were flipped.
enum FlaggedSection {
    static let title = "Flagged examples per class"

    static func html(_ m: ReportModel) -> String {
        let k = m.flaggedCount
        let labels = m.input.givenLabels
        var examples = [Int](repeating: 0, count: m.classCount), flippedPerClass = examples
        for (i, l) in labels.enumerated() {
            guard let c = m.classIndex(l) else { continue }
            examples[c] += 1
            if m.flipped?[i] == true { flippedPerClass[c] += 1 }
        }
        let flagged = m.scores.map { s in
            var counts = [Int](repeating: 0, count: m.classCount)
            for i in s.order.prefix(k) { if let c = m.classIndex(labels[i]) { counts[c] += 1 } }
            return counts
        }
        let scale = max(1, (flagged.flatMap { $0 } + (m.noiseKnown ? flippedPerClass : [])).max() ?? 1)
        var header = ["class", "examples"]
        if m.noiseKnown { header.append("flipped") }
        header += m.scores.map(\.name)
        let rows = (0..<m.classCount).filter { examples[$0] > 0 }.map { c -> [String] in
            var row = [Format.escape(m.className(Int32(c))), String(examples[c])]
            if m.noiseKnown { row.append(cell(flippedPerClass[c], scale, flip: true)) }
            return row + flagged.map { cell($0[c], scale, flip: false) }
        }
        let why = m.flippedCount > 0 ? "the number of flipped labels" : "10% of the examples"
        return HTML.note("Flagged: the \(k) most suspicious examples of each score (\(why)); "
                         + "bars share one scale across the table.")
            + HTML.table(header: header, rows: rows, numeric: Set(1..<header.count), vertical: Set(1..<header.count),
                         className: "flagged")
    }

    /// A count with a bar under it, `scale` = a full 40 px bar.
    private static func cell(_ n: Int, _ scale: Int, flip: Bool) -> String {
        let width = Format.coord(40 * Double(n) / Double(scale))
        return "\(n)<span class=\"bar\(flip ? " flip" : "")\" style=\"width:\(width)px\"></span>"
    }
}
