/// Index lists: plain text, one 0-based example index per line (`flipped.txt`, the
/// subsets of `sieve prune`, `sieve train --subset`).
public enum IndexList {
    /// Writes a plain text file with one 0-based example index per line (atomically),
    /// after `comments` as `# ` lines (``read(_:)``, NumPy's `loadtxt` and pandas with
    /// `comment="#"` skip them). Throws on negative or duplicate indices, which
    /// ``read(_:)`` would reject.
    public static func write(_ indices: [Int], to path: String, comments: [String] = []) throws {
        var seen = Set<Int>()
        var text = comments.map { "# " + $0.split(whereSeparator: \.isNewline).joined(separator: " ") + "\n" }.joined()
        text.reserveCapacity(indices.count * 7)
        for i in indices {
            guard i >= 0 else { throw StorageError.invalidInput("cannot write \(path): negative index \(i)") }
            guard seen.insert(i).inserted else {
                throw StorageError.invalidInput("cannot write \(path): duplicate index \(i)")
            }
            text += String(i)
            text += "\n"
        }
        try OutputFile.write(text, to: path)
    }

    /// Reads an index list: one non-negative integer per line, surrounding blanks
    /// ignored; empty lines and lines starting with `#` are skipped. Returns the
    /// indices in file order. Throws ``StorageError/invalidInput(_:)`` naming the
    /// file and line for anything else, and for a repeated index.
    public static func read(_ path: String) throws -> [Int] {
        try parse(InputFile.read(path, expecting: "an index list: one example index per line"), path: path)
    }

    /// ``read(_:)`` on the bytes of a file; `path` names it in errors.
    static func parse(_ bytes: [UInt8], path: String) throws -> [Int] {
        var result: [Int] = []
        var seen = Set<Int>()
        var lineNumber = 0
        var lineStart = 0
        func isBlank(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d }
        while lineStart < bytes.count {
            lineNumber += 1
            var lineEnd = lineStart
            while lineEnd < bytes.count, bytes[lineEnd] != 0x0a { lineEnd += 1 }
            defer { lineStart = lineEnd + 1 }
            var lo = lineStart, hi = lineEnd
            while lo < hi && isBlank(bytes[lo]) { lo += 1 }
            while hi > lo && isBlank(bytes[hi - 1]) { hi -= 1 }
            if lo == hi || bytes[lo] == UInt8(ascii: "#") { continue }
            var value = 0
            var valid = true
            for k in lo..<hi {
                let c = bytes[k]
                guard c >= 0x30 && c <= 0x39 else { valid = false; break }
                let (times10, o1) = value.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(Int(c - 0x30))
                guard !o1 && !o2 else { valid = false; break }
                value = sum
            }
            guard valid else {
                let shown = bytes[lo..<min(hi, lo + 40)].map { $0 < 0x20 || $0 == 0x7f ? UInt8(ascii: "?") : $0 }
                throw StorageError.invalidInput("\(path):\(lineNumber): expected a non-negative example index, got \""
                    + String(decoding: shown, as: UTF8.self) + (hi - lo > 40 ? "...\"" : "\""))
            }
            guard seen.insert(value).inserted else {
                throw StorageError.invalidInput("\(path):\(lineNumber): duplicate index \(value)")
            }
            result.append(value)
        }
        return result
    }

    /// FNV-1a over the sorted indices: identifies a list (a run's flipped labels in its
    /// `meta.json`) without storing it twice.
    public static func checksum(_ indices: [Int]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for i in indices.sorted() {
            var v = UInt64(i)
            for _ in 0..<8 { h = (h ^ (v & 0xff)) &* 0x0000_0100_0000_01b3; v >>= 8 }
        }
        return String(h, radix: 16)
    }
}
