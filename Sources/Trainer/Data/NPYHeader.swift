/// The header of a NumPy `.npy` file: element type, memory order and shape. Parses the
/// header of format versions 1.0, 2.0 and 3.0 and builds one for writing.
public struct NPYHeader: Equatable, Sendable {
    /// NumPy's type string, e.g. `"<f4"`, `"|u1"`, `"<i8"`.
    public var descr: String
    /// True for column-major (Fortran) element order.
    public var fortranOrder: Bool
    /// The array's dimensions; empty for a scalar.
    public var shape: [Int]

    public init(descr: String, fortranOrder: Bool = false, shape: [Int]) {
        self.descr = descr; self.fortranOrder = fortranOrder; self.shape = shape
    }

    /// The file signature: `\x93NUMPY`.
    public static let magic: [UInt8] = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]

    /// Number of elements, or nil when the product overflows.
    public var elementCount: Int? {
        var total = 1
        for d in shape {
            let (p, overflow) = total.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            total = p
        }
        return total
    }

    /// Parses the preamble at the start of `bytes`.
    ///
    /// - Returns: the header and the offset of the first data byte.
    /// - Throws: `DataError` (`badMagic`, `sizeMismatch`, `unsupported` version, `badHeader`)
    ///   naming `path`.
    public static func parse(_ bytes: [UInt8], path: String) throws -> (header: NPYHeader, dataOffset: Int) {
        guard bytes.count >= 10 else {
            throw DataError.sizeMismatch(path: path, expectedBytes: 10, actualBytes: bytes.count)
        }
        guard Array(bytes[0..<6]) == magic else {
            throw DataError.badMagic(path: path, expected: "\\x93NUMPY (a .npy file)",
                                     found: bytes[0..<6].map { hexByte($0) }.joined(separator: " "))
        }
        let start: Int, length: Int
        switch bytes[6] {
        case 1:
            start = 10
            length = Int(DataBytes.littleEndianUInt16(bytes, at: 8))
        case 2, 3:
            guard bytes.count >= 12 else {
                throw DataError.sizeMismatch(path: path, expectedBytes: 12, actualBytes: bytes.count)
            }
            start = 12
            length = Int(DataBytes.littleEndianUInt32(bytes, at: 8))
        default:
            throw DataError.unsupported(path: path, what: "NPY format version \(bytes[6]).\(bytes[7])",
                                        hint: "save the array with numpy.save (versions 1.0 to 3.0)")
        }
        guard bytes.count - start >= length else {
            throw DataError.sizeMismatch(path: path, expectedBytes: start + length, actualBytes: bytes.count)
        }
        var parser = PyLiteralParser(bytes: Array(bytes[start..<(start + length)]), path: path)
        let dict = try parser.parseHeaderDictionary()
        return (try header(from: dict, path: path), start + length)
    }

    private static func header(from dict: [String: PyLiteral], path: String) throws -> NPYHeader {
        guard let descrValue = dict["descr"] else {
            throw DataError.badHeader(path: path, reason: "no 'descr' key")
        }
        guard case .string(let descr) = descrValue else {
            throw DataError.unsupported(path: path, what: "structured NPY dtype",
                                        hint: "save a plain array (one number per element)")
        }
        guard case .bool(let fortran)? = dict["fortran_order"] else {
            throw DataError.badHeader(path: path, reason: "'fortran_order' missing or not True/False")
        }
        guard case .sequence(let dims)? = dict["shape"] else {
            throw DataError.badHeader(path: path, reason: "'shape' missing or not a tuple")
        }
        var shape: [Int] = []
        for d in dims {
            guard case .int(let n) = d, n >= 0 else {
                throw DataError.badHeader(path: path, reason: "'shape' holds \(d), not a size")
            }
            shape.append(n)
        }
        return NPYHeader(descr: descr, fortranOrder: fortran, shape: shape)
    }

    static func hexByte(_ b: UInt8) -> String {
        let s = String(b, radix: 16)
        return s.count == 1 ? "0" + s : s
    }
}

/// A value of the Python literal subset NumPy writes in headers.
enum PyLiteral: Equatable, CustomStringConvertible {
    case string(String)
    case int(Int)
    case bool(Bool)
    case none
    case sequence([PyLiteral])

    var description: String {
        switch self {
        case .string(let s): "'\(s)'"
        case .int(let n): String(n)
        case .bool(let b): b ? "True" : "False"
        case .none: "None"
        case .sequence(let items): "(" + items.map(\.description).joined(separator: ", ") + ")"
        }
    }
}

/// Parses `{'key': value, ...}` where values are strings, integers, True/False/None,
/// tuples or lists of these. Anything else is a `DataError.badHeader`.
struct PyLiteralParser {
    let bytes: [UInt8]
    let path: String
    var pos = 0
    /// Tuples and lists open now; bounded so a hostile header cannot exhaust the stack.
    var depth = 0
    static let maxDepth = 16

    init(bytes: [UInt8], path: String) { self.bytes = bytes; self.path = path }

    mutating func parseHeaderDictionary() throws -> [String: PyLiteral] {
        skipSpace()
        try expect(UInt8(ascii: "{"))
        var dict: [String: PyLiteral] = [:]
        while true {
            skipSpace()
            if peek() == UInt8(ascii: "}") { pos += 1; break }
            guard case .string(let key) = try value() else { throw fail("dictionary keys must be strings") }
            skipSpace()
            try expect(UInt8(ascii: ":"))
            dict[key] = try value()
            skipSpace()
            if peek() == UInt8(ascii: ",") { pos += 1; continue }
            skipSpace()
            try expect(UInt8(ascii: "}"))
            break
        }
        skipSpace()
        guard pos == bytes.count else { throw fail("unexpected text after the dictionary") }
        return dict
    }

    private mutating func value() throws -> PyLiteral {
        skipSpace()
        guard let c = peek() else { throw fail("header ends early") }
        switch c {
        case UInt8(ascii: "'"), UInt8(ascii: "\""): return .string(try string(quote: c))
        case UInt8(ascii: "("): return .sequence(try sequence(close: UInt8(ascii: ")")))
        case UInt8(ascii: "["): return .sequence(try sequence(close: UInt8(ascii: "]")))
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .int(try integer())
        default:
            for (word, literal) in [("True", PyLiteral.bool(true)), ("False", .bool(false)), ("None", .none)]
            where hasPrefix(word) {
                pos += word.utf8.count
                return literal
            }
            throw fail(c > 0x20 && c < 0x7f ? "unexpected character '\(Character(Unicode.Scalar(c)))' at byte \(pos)"
                                              : "unexpected byte 0x\(NPYHeader.hexByte(c)) at byte \(pos)")
        }
    }

    private mutating func string(quote: UInt8) throws -> String {
        pos += 1
        var out: [UInt8] = []
        while let c = peek() {
            pos += 1
            if c == quote { return String(decoding: out, as: UTF8.self) }
            if c == UInt8(ascii: "\\") {
                guard let next = peek() else { break }
                out.append(next); pos += 1
            } else {
                out.append(c)
            }
        }
        throw fail("unterminated string")
    }

    private mutating func sequence(close: UInt8) throws -> [PyLiteral] {
        guard depth < PyLiteralParser.maxDepth else { throw fail("tuples nested deeper than \(PyLiteralParser.maxDepth)") }
        depth += 1
        defer { depth -= 1 }
        pos += 1
        var items: [PyLiteral] = []
        while true {
            skipSpace()
            if peek() == close { pos += 1; return items }
            items.append(try value())
            skipSpace()
            if peek() == UInt8(ascii: ",") { pos += 1; continue }
            try expect(close)
            return items
        }
    }

    private mutating func integer() throws -> Int {
        var negative = false
        if peek() == UInt8(ascii: "-") { negative = true; pos += 1 }
        var n = 0
        var digits = 0
        while let c = peek(), c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") {
            let (m, o1) = n.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(Int(c - UInt8(ascii: "0")))
            guard !o1, !o2 else { throw fail("integer too large") }
            n = s; digits += 1; pos += 1
        }
        guard digits > 0 else { throw fail("expected a digit") }
        if peek() == UInt8(ascii: "L") { pos += 1 }  // Python 2 long suffix
        return negative ? -n : n
    }

    private func peek() -> UInt8? { pos < bytes.count ? bytes[pos] : nil }

    private func hasPrefix(_ word: String) -> Bool {
        let w = Array(word.utf8)
        return bytes.count - pos >= w.count && Array(bytes[pos..<(pos + w.count)]) == w
    }

    private mutating func skipSpace() {
        while let c = peek(), c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09 || c == 0 { pos += 1 }
    }

    private mutating func expect(_ c: UInt8) throws {
        guard peek() == c else { throw fail("expected '\(Character(Unicode.Scalar(c)))' at byte \(pos)") }
        pos += 1
    }

    private func fail(_ reason: String) -> DataError { .badHeader(path: path, reason: reason) }
}
