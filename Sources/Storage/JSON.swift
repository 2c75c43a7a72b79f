/// A JSON value: what Sieve writes (summaries, `meta.json`, `job.json`, safetensors
/// headers) and what ``JSONReader`` reads back. Objects keep their members in order.
///
/// ```swift
/// let meta = try JSONReader.read(path: "scores/meta.json")
/// let examples = meta["examples"]?.int            // 12000
/// let text = JSON.object([("seed", .uint(7)), ("lr", .double(0.1))]).rendered
/// ```
public enum JSON: Sendable, Equatable {
    case object([(String, JSON)])
    case array([JSON])
    case string(String)
    case number(JSONNumber)
    case bool(Bool)
    case null

    public static func int(_ value: Int) -> JSON { .number(JSONNumber(value)) }
    public static func uint(_ value: UInt64) -> JSON { .number(JSONNumber(value)) }
    /// A Float as its shortest text (`0.9`, not `0.8999999761581421`); NaN and the infinities as `null`.
    public static func float(_ value: Float) -> JSON { value.isFinite ? .number(JSONNumber(text: "\(value)", double: Double("\(value)") ?? Double(value))) : .null }
    /// A number; NaN and the infinities as `null`.
    public static func double(_ value: Double) -> JSON { JSONNumber(value).map(JSON.number) ?? .null }

    /// The member `key` of an object (nil for a missing key or when not an object).
    public subscript(key: String) -> JSON? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }

    /// Element `index` of an array (nil out of bounds or when not an array).
    public subscript(index: Int) -> JSON? {
        guard case .array(let items) = self, items.indices.contains(index) else { return nil }
        return items[index]
    }

    /// The members of an object, in file order.
    public var object: [(key: String, value: JSON)]? {
        if case .object(let members) = self { return members.map { (key: $0.0, value: $0.1) } }
        return nil
    }

    public var array: [JSON]? {
        if case .array(let items) = self { return items }
        return nil
    }

    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var number: JSONNumber? {
        if case .number(let n) = self { return n }
        return nil
    }

    /// A number's value as a Double.
    public var double: Double? { number?.double }

    /// A number written as an integer (no fraction, no exponent) that fits in `Int`.
    public var int: Int? { number?.int }

    public var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    public static func == (a: JSON, b: JSON) -> Bool {
        switch (a, b) {
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case let (.array(x), .array(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.bool(x), .bool(y)): return x == y
        case (.null, .null): return true
        default: return false
        }
    }

    /// Compact JSON text.
    public var rendered: String {
        switch self {
        case .string(let s): return JSON.quote(s)
        case .number(let n): return n.text
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .array(let a): return "[" + a.map(\.rendered).joined(separator: ", ") + "]"
        case .object(let fields):
            return "{" + fields.map { "\(JSON.quote($0.0)): \($0.1.rendered)" }.joined(separator: ", ") + "}"
        }
    }

    public static func quote(_ s: String) -> String {
        var out = "\""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if ch.value < 0x20 { out += "\\u00" + (ch.value < 16 ? "0" : "") + String(ch.value, radix: 16) }
                else { out.unicodeScalars.append(ch) }
            }
        }
        return out + "\""
    }
}
