/// A JSON number: the text as written, so integers beyond 2^53 (seeds) stay exact.
public struct JSONNumber: Sendable, Equatable, CustomStringConvertible {
    /// The number as written (valid JSON number syntax).
    public let text: String
    /// Its value; always finite (``JSONReader`` rejects numbers beyond Double's range).
    public let double: Double

    /// The exact value when written as an integer that fits in `Int`.
    public var int: Int? { Int(text) }
    /// The exact value when written as a non-negative integer that fits in `UInt64`.
    public var uint64: UInt64? { UInt64(text) }
    public var description: String { text }

    public init(_ value: Int) { text = String(value); double = Double(value) }
    public init(_ value: UInt64) { text = String(value); double = Double(value) }
    /// nil for NaN and the infinities, which JSON cannot hold.
    public init?(_ value: Double) {
        guard value.isFinite else { return nil }
        text = "\(value)"; double = value
    }

    init(text: String, double: Double) { self.text = text; self.double = double }
}

/// Why a JSON text was rejected: the byte offset (0-based) and what was wrong there.
public struct JSONError: Error, Equatable, CustomStringConvertible {
    public var offset: Int
    public var reason: String
    public var description: String { "byte \(offset): \(reason)" }
}

/// A strict JSON reader (RFC 8259) for the files Sieve writes (`meta.json`, `job.json`,
/// safetensors headers) and reads back.
///
/// Rejected, with the byte offset: anything but one value surrounded by blanks, trailing
/// commas, comments, single quotes, leading zeros, `NaN`/`Infinity`, numbers beyond
/// Double's range, unescaped control characters, bad escapes and lone surrogates,
/// invalid UTF-8, duplicate keys in an object, and nesting deeper than ``maxDepth``.
public enum JSONReader {
    /// The deepest nesting of arrays and objects read.
    public static let maxDepth = 256

    /// Parses a whole JSON text.
    public static func parse(_ bytes: [UInt8]) throws -> JSON {
        try bytes.withUnsafeBufferPointer { buffer in
            var parser = JSONParser(bytes: buffer)
            return try parser.document()
        }
    }

    /// Parses a whole JSON text.
    public static func parse(_ text: String) throws -> JSON { try parse(Array(text.utf8)) }

    /// Reads and parses the JSON file `path`; throws ``StorageError/invalidInput(_:)``
    /// naming the file and the byte offset.
    public static func read(path: String) throws -> JSON {
        let bytes = try InputFile.read(path, expecting: "a JSON file")
        do {
            return try parse(bytes)
        } catch let e as JSONError {
            throw StorageError.invalidInput("\(path): not valid JSON: \(e)")
        }
    }
}

private struct JSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var pos = 0
    var depth = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    mutating func document() throws -> JSON {
        skipBlanks()
        let value = try self.value()
        skipBlanks()
        guard pos == bytes.count else { throw fail("\(found()) after the value; a JSON text holds one value") }
        return value
    }

    private mutating func value() throws -> JSON {
        guard pos < bytes.count else { throw fail("the text ends where a value is expected") }
        switch bytes[pos] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default: throw fail("\(found()) where a value is expected")
        }
    }

    private mutating func object() throws -> JSON {
        try enter()
        defer { depth -= 1 }
        pos += 1
        var members: [(key: String, value: JSON)] = []
        var keys = Set<String>()
        skipBlanks()
        if peek() == UInt8(ascii: "}") { pos += 1; return .object(members) }
        while true {
            skipBlanks()
            guard peek() == UInt8(ascii: "\"") else { throw fail("\(found()) where a member name (a string) is expected") }
            let keyOffset = pos
            let key = try string()
            guard keys.insert(key).inserted else {
                throw JSONError(offset: keyOffset, reason: "duplicate key \(JSON.quote(key))")
            }
            skipBlanks()
            try expect(UInt8(ascii: ":"), "after a member name")
            skipBlanks()
            members.append((key, try value()))
            skipBlanks()
            if peek() == UInt8(ascii: ",") { pos += 1; continue }
            try expect(UInt8(ascii: "}"), "after a member")
            return .object(members)
        }
    }

    private mutating func array() throws -> JSON {
        try enter()
        defer { depth -= 1 }
        pos += 1
        var items: [JSON] = []
        skipBlanks()
        if peek() == UInt8(ascii: "]") { pos += 1; return .array(items) }
        while true {
            skipBlanks()
            items.append(try value())
            skipBlanks()
            if peek() == UInt8(ascii: ",") { pos += 1; continue }
            try expect(UInt8(ascii: "]"), "after an element")
            return .array(items)
        }
    }

    private mutating func string() throws -> String {
        let start = pos
        pos += 1
        var out: [UInt8] = []
        while true {
            guard pos < bytes.count else { throw JSONError(offset: start, reason: "unterminated string") }
            let c = bytes[pos]
            switch c {
            case UInt8(ascii: "\""):
                pos += 1
                guard let text = validUTF8(out[...]) else {
                    throw JSONError(offset: start, reason: "string is not valid UTF-8")
                }
                return text
            case UInt8(ascii: "\\"):
                pos += 1
                guard pos < bytes.count else { throw JSONError(offset: start, reason: "unterminated string") }
                let e = bytes[pos]
                pos += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0c)
                case UInt8(ascii: "n"): out.append(0x0a)
                case UInt8(ascii: "r"): out.append(0x0d)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"): out.append(contentsOf: try unicodeEscape())
                default:
                    pos -= 2
                    throw fail("invalid escape: \(printable(e)) after a backslash")
                }
            case 0..<0x20:
                throw fail("control character 0x\(hex(c)) in a string (write it as \\u00\(hex(c)))")
            default:
                out.append(c)
                pos += 1
            }
        }
    }

    /// The UTF-8 bytes of a `\uXXXX` escape (a surrogate pair takes two), `pos` after the `u`.
    private mutating func unicodeEscape() throws -> [UInt8] {
        let escapeStart = pos - 2
        let high = try hex4()
        var scalar = high
        if high >= 0xd800 && high < 0xdc00 {
            guard pos + 1 < bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else {
                throw JSONError(offset: escapeStart, reason: "lone high surrogate \\u\(hex16(high))")
            }
            pos += 2
            let low = try hex4()
            guard low >= 0xdc00 && low < 0xe000 else {
                throw JSONError(offset: escapeStart, reason: "high surrogate \\u\(hex16(high)) without a low surrogate")
            }
            scalar = 0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00)
        } else if high >= 0xdc00 && high < 0xe000 {
            throw JSONError(offset: escapeStart, reason: "lone low surrogate \\u\(hex16(high))")
        }
        return Array(String(Character(Unicode.Scalar(scalar)!)).utf8)
    }

    private mutating func hex4() throws -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard pos < bytes.count else { throw fail("the text ends inside a \\u escape") }
            let c = bytes[pos]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw fail("\(found()) in a \\u escape (four hex digits expected)")
            }
            v = v << 4 | d
            pos += 1
        }
        return v
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    private mutating func number() throws -> JSONNumber {
        let start = pos
        if peek() == UInt8(ascii: "-") { pos += 1 }
        guard let first = peek(), isDigit(first) else { throw fail("\(found()) where a digit is expected") }
        pos += 1
        if first == UInt8(ascii: "0") {
            if let next = peek(), isDigit(next) { throw fail("leading zero in a number") }
        } else {
            skipDigits()
        }
        if peek() == UInt8(ascii: ".") {
            pos += 1
            guard let d = peek(), isDigit(d) else { throw fail("\(found()) where a digit after '.' is expected") }
            skipDigits()
        }
        if let e = peek(), e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            pos += 1
            if let s = peek(), s == UInt8(ascii: "+") || s == UInt8(ascii: "-") { pos += 1 }
            guard let d = peek(), isDigit(d) else { throw fail("\(found()) where an exponent digit is expected") }
            skipDigits()
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else {
            throw JSONError(offset: start, reason: "number \(text.prefix(40)) is beyond Double's range")
        }
        return JSONNumber(text: text, double: value)
    }

    private mutating func literal(_ word: StaticString) throws {
        let w = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        guard bytes.count - pos >= w.count, bytes[pos..<(pos + w.count)].elementsEqual(w) else {
            throw fail("\(found()) where a value is expected")
        }
        pos += w.count
    }

    private mutating func enter() throws {
        guard depth < JSONReader.maxDepth else { throw fail("arrays and objects nested deeper than \(JSONReader.maxDepth)") }
        depth += 1
    }

    private mutating func expect(_ c: UInt8, _ context: String) throws {
        guard peek() == c else { throw fail("\(found()) where '\(Character(Unicode.Scalar(c)))' is expected \(context)") }
        pos += 1
    }

    private func peek() -> UInt8? { pos < bytes.count ? bytes[pos] : nil }

    private func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    private mutating func skipDigits() { while let c = peek(), isDigit(c) { pos += 1 } }

    private mutating func skipBlanks() {
        while let c = peek(), c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09 { pos += 1 }
    }

    /// What sits at `pos`, for messages.
    private func found() -> String {
        guard let c = peek() else { return "the end of the text" }
        return printable(c)
    }

    private func printable(_ c: UInt8) -> String {
        c > 0x20 && c < 0x7f ? "'\(Character(Unicode.Scalar(c)))'" : "byte 0x\(hex(c))"
    }

    private func hex(_ c: UInt8) -> String { (c < 16 ? "0" : "") + String(c, radix: 16) }

    private func hex16(_ v: UInt32) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }

    private func fail(_ reason: String) -> JSONError { JSONError(offset: pos, reason: reason) }
}
