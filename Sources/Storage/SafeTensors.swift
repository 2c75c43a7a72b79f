/// Writes the safetensors format (an 8-byte little-endian header length, a JSON header
/// `{name: {"dtype", "shape", "data_offsets"}}`, then the raw little-endian data), the
/// format PyTorch, JAX and NumPy users load with `safetensors` or by hand.
public struct SafeTensorsWriter {
    private var entries: [(name: String, dtype: String, shape: [Int], bytes: [UInt8])] = []

    public init() {}

    public mutating func add(_ name: String, _ values: [Float], shape: [Int]) {
        precondition(shape.reduce(1, *) == values.count, "\(name): shape does not match values")
        entries.append((name, "F32", shape, values.withUnsafeBytes { Array($0) }))
    }

    public mutating func add(_ name: String, _ values: [Int32], shape: [Int]) {
        precondition(shape.reduce(1, *) == values.count, "\(name): shape does not match values")
        entries.append((name, "I32", shape, values.withUnsafeBytes { Array($0) }))
    }

    public mutating func add(_ name: String, _ values: [Double], shape: [Int]) {
        precondition(shape.reduce(1, *) == values.count, "\(name): shape does not match values")
        entries.append((name, "F64", shape, values.withUnsafeBytes { Array($0) }))
    }

    public mutating func add(_ name: String, _ values: [UInt8], shape: [Int]) {
        precondition(shape.reduce(1, *) == values.count, "\(name): shape does not match values")
        entries.append((name, "U8", shape, values))
    }

    /// Writes the file atomically.
    public func write(to path: String) throws {
        var offset = 0
        var fields: [(String, JSON)] = []
        for e in entries {
            fields.append((e.name, .object([("dtype", .string(e.dtype)), ("shape", .array(e.shape.map { .int($0) })),
                                            ("data_offsets", .array([.int(offset), .int(offset + e.bytes.count)]))])))
            offset += e.bytes.count
        }
        var header = Array(JSON.object(fields).rendered.utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        let length = UInt64(header.count)
        let file = try OutputFile(path: path)
        try (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) }.withUnsafeBytes { try file.write($0) }
        try header.withUnsafeBytes { try file.write($0) }
        for e in entries { try e.bytes.withUnsafeBytes { try file.write($0) } }
        try file.commit()
    }
}
