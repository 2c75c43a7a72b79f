import Storage

#if canImport(Glibc)
import Glibc
#endif

/// Reads a `scores.csv` written by ``ScoreTable`` (or by pandas' `to_csv(index=False)`)
/// strictly: a header of distinct column names including `index` and `label`, then one
/// row per training example with as many fields as the header, in file order.
///
/// Fields are decimal numbers, `inf`, `-inf` or `nan` in any case, `True`/`False` (1/0)
/// or empty (NaN, as pandas writes a missing value); blanks around a field are ignored.
/// `index` must run 0, 1, 2, ...; `label` (and `original_label`) must be class indices.
/// The file must end with a newline: a last line without one is a truncated file (a
/// number cut in the middle would still parse). Every defect throws
/// ``StorageError/invalidInput(_:)`` naming the file and the line.
public struct ScoreFile: Sendable {
    public var path: String
    /// Column name -> values, in file order.
    public var columns: [String: [Double]]
    /// The column names in header order (distinct).
    public var names: [String]
    /// The `path` column (each example's image file, ImageFolder data), when present.
    public var paths: [String]?

    /// Reads and checks `path`.
    ///
    /// - Parameter expectedRows: when given, the number of rows must equal it (the
    ///   `examples` of the run's `meta.json`, see ``examples(inMetaFile:)``).
    public init(path: String, expectedRows: Int? = nil) throws {
        let bytes = try InputFile.read(path, expecting: "a scores.csv from `sieve score`")
        try self.init(bytes: bytes, path: path, expectedRows: expectedRows)
    }

    /// Parses the contents of a `scores.csv`; `path` only names it in errors.
    public init(bytes: [UInt8], path: String, expectedRows: Int? = nil) throws {
        var start = 0
        if bytes.count >= 3, bytes[0] == 0xef, bytes[1] == 0xbb, bytes[2] == 0xbf { start = 3 }  // UTF-8 BOM
        guard start < bytes.count else {
            throw StorageError.invalidInput("\(path): empty file; expected a scores.csv from `sieve score` "
                + "(a header line with index,label,... and one row per example)")
        }
        guard bytes[bytes.count - 1] == 0x0a else {
            let line = bytes[start...].reduce(1) { $0 + ($1 == 0x0a ? 1 : 0) }
            throw StorageError.invalidInput("\(path):\(line): the last line does not end with a newline, so the file "
                + "is truncated (an interrupted write or copy?); write it again")
        }
        var names: [String] = []
        var values: [[Double]] = []
        var labelColumns: [Int] = []
        var indexColumn = 0
        var textColumn: Int? = nil
        var texts: [String] = []
        var lineNumber = 0
        var lineStart = start
        var fields: [Range<Int>] = []
        while lineStart < bytes.count {
            lineNumber += 1
            var lineEnd = lineStart
            while bytes[lineEnd] != 0x0a { lineEnd += 1 }  // the file ends with a newline
            let next = lineEnd + 1
            if lineEnd > lineStart, bytes[lineEnd - 1] == 0x0d { lineEnd -= 1 }  // CRLF
            let at = "\(path):\(lineNumber)"
            try ScoreFile.split(bytes, lineStart..<lineEnd, into: &fields, at: at)
            if lineNumber == 1 {
                names = try ScoreFile.header(bytes, fields, at: at)
                values = names.map { _ in [] }
                indexColumn = names.firstIndex(of: "index")!
                textColumn = names.firstIndex(of: "path")
                labelColumns = names.indices.filter { ["label", "original_label"].contains(names[$0]) }
            } else {
                guard lineEnd > lineStart else {
                    throw StorageError.invalidInput("\(at): empty line; every row needs \(names.count) fields "
                        + "(\(names.joined(separator: ",")))")
                }
                guard fields.count == names.count else {
                    throw StorageError.invalidInput("\(at): \(fields.count) field\(fields.count == 1 ? "" : "s"), "
                        + "the header has \(names.count) (\(names.joined(separator: ",")))")
                }
                let row = values[indexColumn].count
                for (k, range) in fields.enumerated() {
                    if k == textColumn {
                        guard let text = ScoreFile.text(bytes[range]) else {
                            throw StorageError.invalidInput("\(at): \(names[k]) is not UTF-8 text")
                        }
                        texts.append(text)
                        continue
                    }
                    guard let v = ScoreFile.number(bytes[range]) else {
                        throw StorageError.invalidInput("\(at): \(names[k]) = \"\(ScoreFile.shown(bytes[range]))\" is not a "
                            + "number (expected a decimal, inf, -inf, nan, True, False or an empty field)")
                    }
                    if k == indexColumn, v != Double(row) {
                        throw StorageError.invalidInput("\(at): index \(ScoreFile.shown(bytes[range])) where \(row) is expected; "
                            + "the index column must run 0, 1, 2, ... (one row per training example, in order)")
                    }
                    if labelColumns.contains(k), !(v >= 0 && v < 2_147_483_648 && v == v.rounded(.towardZero)) {
                        throw StorageError.invalidInput("\(at): \(names[k]) = \"\(ScoreFile.shown(bytes[range]))\" is not a "
                            + "class index (0, 1, 2, ...)")
                    }
                    values[k].append(v)
                }
            }
            lineStart = next
        }
        guard !values[indexColumn].isEmpty else {
            throw StorageError.invalidInput("\(path): a header and no rows; a scores.csv holds one row per training example")
        }
        self.path = path
        self.names = names
        var columns: [String: [Double]] = [:]
        for (k, (name, column)) in zip(names, values).enumerated() where k != textColumn { columns[name] = column }
        self.columns = columns
        self.paths = textColumn == nil ? nil : texts
        if let expectedRows { try checkRowCount(expectedRows) }
    }

    /// The file `table` writes, as read back (every value exact: `scores.csv` writes the
    /// shortest text that reads back to the same Double).
    init(table: ScoreTable, path: String) {
        self.path = path
        var names = ["index", "label"]
        var columns: [String: [Double]] = ["index": (0..<table.count).map(Double.init), "label": table.givenLabels.map(Double.init)]
        if let o = table.originalLabels { names.append("original_label"); columns["original_label"] = o.map(Double.init) }
        if let s = table.sourceIndices { names.append("source_index"); columns["source_index"] = s.map(Double.init) }
        for s in table.scores { names.append(s.name); columns[s.name] = s.values }
        if table.paths != nil { names.append("path") }
        self.names = names
        self.columns = columns
        self.paths = table.paths
    }

    /// The number of rows (training examples).
    public var count: Int { columns["index"]?.count ?? 0 }

    /// Throws unless the file holds `expected` rows (the run's example count).
    public func checkRowCount(_ expected: Int) throws {
        guard count == expected else {
            throw StorageError.invalidInput("\(path): \(count) rows, but the run scored \(expected) examples (meta.json); "
                + "the file is truncated or comes from another run")
        }
    }

    /// Columns that describe the example rather than score it.
    public static let descriptiveColumns = ["index", "label", "original_label", "source_index", "path"]

    /// The score columns (everything but index, labels, source index and path).
    public var scoreNames: [String] { names.filter { !ScoreFile.descriptiveColumns.contains($0) } }

    public func values(_ name: String) throws -> [Double] {
        guard let v = columns[name] else {
            throw StorageError.invalidInput("\(path) has no column \(name); it has \(scoreNames.joined(separator: ", "))")
        }
        return v
    }

    /// The `examples` count recorded in a run's `meta.json` (a non-negative integer).
    public static func examples(inMetaFile path: String) throws -> Int {
        let meta = try JSONReader.read(path: path)
        guard let n = meta["examples"]?.int, n >= 0 else {
            throw StorageError.invalidInput("\(path): no \"examples\" count (a non-negative integer); "
                + "expected the meta.json of a `sieve score` run")
        }
        return n
    }

    /// The column names of the header line; throws for an empty, duplicate or quoted
    /// name and when `index` or `label` is missing.
    private static func header(_ bytes: [UInt8], _ fields: [Range<Int>], at: String) throws -> [String] {
        var names: [String] = []
        var seen = Set<String>()
        for (k, range) in fields.enumerated() {
            let raw = trimmed(bytes[range])
            guard let name = validUTF8(raw), !raw.contains(0) else {
                throw StorageError.invalidInput("\(at): column \(k + 1)'s name is not UTF-8 text")
            }
            guard !name.isEmpty else {
                throw StorageError.invalidInput("\(at): column \(k + 1) has no name (pandas writes one for its row "
                    + "index: save with to_csv(index=False))")
            }
            guard !name.contains("\"") else {
                throw StorageError.invalidInput("\(at): column name \(shown(raw)) is quoted; scores.csv names are plain")
            }
            guard seen.insert(name).inserted else {
                throw StorageError.invalidInput("\(at): column \(shown(raw)) appears twice; column names must be distinct")
            }
            names.append(name)
        }
        for required in ["index", "label"] where !seen.contains(required) {
            throw StorageError.invalidInput("\(at): no \(required) column (the header is \(shown(bytes[fields[0].lowerBound..<fields[fields.count - 1].upperBound]))); "
                + "expected a scores.csv from `sieve score` (index,label,...)")
        }
        return names
    }

    /// Splits `line` at commas into `fields` (RFC 4180: a field in double quotes may hold
    /// commas, a doubled quote stands for one; the range then covers the quotes).
    static func split(_ bytes: [UInt8], _ line: Range<Int>, into fields: inout [Range<Int>], at: String) throws {
        fields.removeAll(keepingCapacity: true)
        let comma = UInt8(ascii: ","), quote = UInt8(ascii: "\"")
        var k = line.lowerBound
        while true {
            let start = k
            if k < line.upperBound, bytes[k] == quote {
                k += 1
                while true {
                    guard k < line.upperBound else {
                        throw StorageError.invalidInput("\(at): a quoted field is not closed on its line")
                    }
                    if bytes[k] == quote {
                        if k + 1 < line.upperBound, bytes[k + 1] == quote { k += 2; continue }
                        k += 1
                        break
                    }
                    k += 1
                }
                guard k == line.upperBound || bytes[k] == comma else {
                    throw StorageError.invalidInput("\(at): text after a closing quote; a quoted field must end at a comma")
                }
            } else {
                while k < line.upperBound, bytes[k] != comma { k += 1 }
            }
            fields.append(start..<k)
            if k == line.upperBound { return }
            k += 1
        }
    }

    /// A text field, unquoted (nil when not UTF-8).
    static func text(_ field: ArraySlice<UInt8>) -> String? {
        let quote = UInt8(ascii: "\"")
        guard field.count >= 2, field.first == quote, field.last == quote else { return validUTF8(field) }
        var out: [UInt8] = []
        var k = field.startIndex + 1
        while k < field.endIndex - 1 {
            out.append(field[k])
            k += field[k] == quote ? 2 : 1
        }
        return validUTF8(out[...])
    }

    /// A field's value: a decimal number, `inf`/`infinity`/`nan` with an optional sign in
    /// any case, `True`/`False` in any case (1/0), or empty (NaN); nil for anything else.
    static func number(_ field: ArraySlice<UInt8>) -> Double? {
        let text = trimmed(field)
        if text.isEmpty { return .nan }
        var body = text[...]
        var negative = false
        if let c = body.first, c == UInt8(ascii: "+") || c == UInt8(ascii: "-") {
            negative = c == UInt8(ascii: "-")
            body = body.dropFirst()
        }
        let lower = String(decoding: body.prefix(9).map { $0 | ($0 >= 0x41 && $0 <= 0x5a ? 0x20 : 0) }, as: UTF8.self)
        if body.count <= 8 {
            switch lower {
            case "inf", "infinity": return negative ? -.infinity : .infinity
            case "nan": return .nan
            case "true" where text.count == 4: return 1
            case "false" where text.count == 5: return 0
            default: break
            }
        }
        // [+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?
        var i = body.startIndex
        func digits() -> Int {
            let from = i
            while i < body.endIndex, body[i] >= 0x30, body[i] <= 0x39 { i += 1 }
            return i - from
        }
        var mantissa = digits()
        if i < body.endIndex, body[i] == UInt8(ascii: ".") {
            i += 1
            mantissa += digits()
        }
        guard mantissa > 0 else { return nil }
        if i < body.endIndex, body[i] == UInt8(ascii: "e") || body[i] == UInt8(ascii: "E") {
            i += 1
            if i < body.endIndex, body[i] == UInt8(ascii: "+") || body[i] == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { return nil }
        }
        guard i == body.endIndex else { return nil }
        return Double(String(decoding: text, as: UTF8.self))
    }

    /// `field` without surrounding spaces and tabs.
    static func trimmed(_ field: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var lo = field.startIndex, hi = field.endIndex
        while lo < hi, field[lo] == 0x20 || field[lo] == 0x09 { lo += 1 }
        while hi > lo, field[hi - 1] == 0x20 || field[hi - 1] == 0x09 { hi -= 1 }
        return field[lo..<hi]
    }

    /// At most 40 bytes of `field` as one line of text (control bytes shown as `?`).
    static func shown(_ field: ArraySlice<UInt8>) -> String {
        let cut = field.prefix(40).map { $0 < 0x20 || $0 == 0x7f ? UInt8(ascii: "?") : $0 }
        return String(decoding: cut, as: UTF8.self) + (field.count > 40 ? "..." : "")
    }
}
