#if canImport(Glibc)
import Glibc
#endif

/// Reads a `scores.csv` written by ``ScoreTable`` (or any CSV with an `index` column
/// and numeric score columns).
public struct ScoreFile: Sendable {
    public var path: String
    /// Column name -> values, in file order.
    public var columns: [String: [Double]]
    public var names: [String]

    public init(path: String) throws {
        guard let f = fopen(path, "r") else {
            throw MetricsError.invalidInput("cannot read \(path): \(String(cString: strerror(errno))) (expected a scores.csv from `sieve score`)")
        }
        defer { fclose(f) }
        var line: UnsafeMutablePointer<CChar>? = nil
        var capacity = 0
        defer { free(line) }
        var header: [String]? = nil
        var values: [[Double]] = []
        var number = 0
        while getline(&line, &capacity, f) > 0 {
            number += 1
            let text = String(cString: line!).droppingLineEnd()
            if text.isEmpty { continue }
            let fields = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard let names = header else {
                header = fields
                values = fields.map { _ in [] }
                continue
            }
            guard fields.count == names.count else {
                throw MetricsError.invalidInput("\(path):\(number): \(fields.count) fields, the header has \(names.count)")
            }
            for (k, field) in fields.enumerated() {
                guard let v = Double(field) else {
                    throw MetricsError.invalidInput("\(path):\(number): \(names[k]) = \"\(field)\" is not a number")
                }
                values[k].append(v)
            }
        }
        guard let names = header, names.contains("index") else {
            throw MetricsError.invalidInput("\(path) has no header with an index column")
        }
        let index = values[names.firstIndex(of: "index")!]
        guard index == (0..<index.count).map(Double.init) else {
            throw MetricsError.invalidInput("\(path): the index column must run 0, 1, 2, ... (one row per training example)")
        }
        self.path = path
        self.names = names
        columns = Dictionary(uniqueKeysWithValues: zip(names, values))
    }

    public var count: Int { columns["index"]!.count }

    /// The score columns (everything but index and labels).
    public var scoreNames: [String] { names.filter { !["index", "label", "original_label"].contains($0) } }

    public func values(_ name: String) throws -> [Double] {
        guard let v = columns[name] else {
            throw MetricsError.invalidInput("\(path) has no column \(name); it has \(scoreNames.joined(separator: ", "))")
        }
        return v
    }
}

extension String {
    /// Without trailing `\n`, `\r` or `\r\n` (one grapheme in Swift, so compared as such).
    fileprivate func droppingLineEnd() -> String {
        var s = Substring(self)
        while let l = s.last, l == "\n" || l == "\r" || l == "\r\n" { s.removeLast() }
        return String(s)
    }
}

/// The scores Sieve writes and the end of each that flags an example as suspicious
/// (likely mislabeled) or important (docs/scores.md).
public enum ScoreCatalog {
    public static let directions: [String: ScoreDirection] = [
        "grand": .higherIsSuspicious, "grand_std": .higherIsSuspicious, "el2n": .higherIsSuspicious,
        "el2n_std": .higherIsSuspicious, "el2n_final": .higherIsSuspicious, "loss": .higherIsSuspicious,
        "margin": .lowerIsSuspicious, "input_norm": .higherIsSuspicious,
        "forgetting": .higherIsSuspicious, "first_learned_epoch": .higherIsSuspicious, "fslt": .higherIsSuspicious,
        "aum": .lowerIsSuspicious, "confidence": .lowerIsSuspicious, "variability": .lowerIsSuspicious,
        "correctness": .lowerIsSuspicious, "unforgettable": .lowerIsSuspicious, "ssft": .lowerIsSuspicious,
        "vog": .higherIsSuspicious, "aum_flagged": .higherIsSuspicious, "vog_class_normalized": .higherIsSuspicious,
    ]

    public static func direction(of name: String) -> ScoreDirection? { directions[name] }
}
