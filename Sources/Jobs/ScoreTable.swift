import Metrics
import Storage
import Trainer

/// Every score of a run for every example, indexed by the position of the example in
/// the input files, written as `scores.csv`, one `<score>.npy` per score (float64),
/// and `meta.json`.
public struct ScoreTable: Sendable {
    public var givenLabels: [Int32]
    /// Labels before noise was injected (nil when no noise).
    public var originalLabels: [Int32]?
    public private(set) var scores: [Score] = []
    /// Per example, its position in the source files when it differs from the row
    /// (a validation hold-out): written as `source_index`.
    public var sourceIndices: [Int]?
    /// Per example, its image file (ImageFolder data): written as the last column, `path`.
    public var paths: [String]?

    public init(givenLabels: [Int32], originalLabels: [Int32]? = nil) {
        self.givenLabels = givenLabels
        self.originalLabels = originalLabels
    }

    public var count: Int { givenLabels.count }

    public mutating func add(_ score: Score) {
        precondition(score.values.count == count, "\(score.name) has \(score.values.count) values for \(count) examples")
        scores.removeAll { $0.name == score.name }
        scores.append(score)
    }

    public subscript(name: String) -> Score? { scores.first { $0.name == name } }

    /// A CSV field (RFC 4180): quoted when it holds a comma, quote or line break, inner
    /// quotes doubled.
    static func quoted(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        var out = "\""
        for c in text { out += c == "\"" ? "\"\"" : String(c) }
        return out + "\""
    }

    /// Writes `scores.csv`, `<name>.npy` for each score and `meta.json` (with `meta`
    /// merged in first) into `directory`.
    /// `scores.csv` goes out in blocks of rows, so its text never sits in memory whole.
    /// Returns the `meta.json` written.
    @discardableResult
    public func write(to directory: String, meta: [(String, JSON)]) throws -> JSON {
        let file = try OutputFile(path: directory + "/scores.csv")
        var csv = "index,label" + (originalLabels != nil ? ",original_label" : "") + (sourceIndices != nil ? ",source_index" : "")
        for s in scores { csv += "," + s.name }
        csv += (paths != nil ? ",path" : "") + "\n"
        // Counts and flags (scores whose every value is a whole number) as integers, so
        // pandas reads them as int64.
        let integral = scores.map { s in s.values.allSatisfy { $0.isFinite && $0 == $0.rounded() && abs($0) < 1e15 } }
        for i in 0..<count {
            csv += "\(i),\(givenLabels[i])"
            if let originalLabels { csv += ",\(originalLabels[i])" }
            if let sourceIndices { csv += ",\(sourceIndices[i])" }
            for (k, s) in scores.enumerated() { csv += "," + (integral[k] ? String(Int(s.values[i])) : ScoreTable.format(s.values[i])) }
            if let paths { csv += "," + ScoreTable.quoted(paths[i]) }
            csv += "\n"
            if csv.utf8.count >= 1 << 20 { try file.write(csv); csv.removeAll(keepingCapacity: true) }
        }
        try file.write(csv)
        try file.commit()
        for s in scores { try NPYFormat.write(s.values, shape: [count], to: directory + "/\(s.name).npy") }
        let described = JSON.object(scores.map { s in
            (s.name, JSON.object([("direction", .string(s.direction.rawValue)), ("meaning", .string(s.note))]))
        })
        let all = JSON.object(meta + [("examples", .int(count)), ("scores", described)])
        try OutputFile.write(all.rendered + "\n", to: directory + "/meta.json")
        return all
    }

    /// Shortest text that reads back to the same Double (`inf`, `-inf`, `nan` as NumPy spells them).
    static func format(_ v: Double) -> String {
        if v.isNaN { return "nan" }
        if v.isInfinite { return v > 0 ? "inf" : "-inf" }
        return "\(v)"
    }
}

extension TrainingData {
    /// An empty score table for the training labels used (and the originals when noised).
    public func scoreTable() -> ScoreTable {
        var table = ScoreTable(givenLabels: labels, originalLabels: flipped == nil ? nil : split.train.labels)
        table.sourceIndices = sourceIndices
        table.paths = split.train.paths
        return table
    }
}
