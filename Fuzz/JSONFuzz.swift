// libFuzzer target: the JSON reader (meta.json, run.json, safetensors headers; scripts/fuzz.sh
// builds it with Sources/Metrics). What it accepts must read back the same after being
// written again, and what Sieve's own writer renders from it must parse.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: data, count: size))
    guard let value = try? JSONReader.parse(bytes) else { return 0 }
    let again = try? JSONReader.parse(render(value))
    require(again == value, "parse(render(v)) != v for \(render(value).prefix(200))")
    require((try? JSONReader.parse(writerJSON(value).rendered)) != nil, "the writer's rendering does not parse")
    _ = value["examples"]?.int
    return 0
}

/// Canonical text of a value (numbers as written, strings escaped by the writer's rule).
private func render(_ v: JSONValue) -> String {
    switch v {
    case .object(let members): return "{" + members.map { JSON.quote($0.key) + ":" + render($0.value) }.joined(separator: ",") + "}"
    case .array(let items): return "[" + items.map(render).joined(separator: ",") + "]"
    case .string(let s): return JSON.quote(s)
    case .number(let n): return n.text
    case .bool(let b): return b ? "true" : "false"
    case .null: return "null"
    }
}

/// The same value as the writer's `JSON` (null as a non-finite double, which it writes as null).
private func writerJSON(_ v: JSONValue) -> JSON {
    switch v {
    case .object(let members): return .object(members.map { ($0.key, writerJSON($0.value)) })
    case .array(let items): return .array(items.map(writerJSON))
    case .string(let s): return .string(s)
    case .number(let n): return n.int.map { .int($0) } ?? .double(n.double)
    case .bool(let b): return .bool(b)
    case .null: return .double(.nan)
    }
}
