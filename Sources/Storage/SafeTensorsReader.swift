/// Reads the safetensors files ``SafeTensorsWriter`` writes (and any safetensors file of
/// F32, I32, F64 and U8 tensors): an 8-byte little-endian header length, a JSON header
/// `{name: {"dtype", "shape", "data_offsets"}, "__metadata__": {...}}` padded with
/// spaces, then the little-endian data.
///
/// Everything is checked before a value is read: the header length against the file
/// size, the header as strict JSON (``JSONReader``), each entry's keys, dtype and shape,
/// its byte count against its shape, and the offsets, which must tile the data exactly
/// (no gap, no overlap, nothing after the last tensor). Errors are
/// ``StorageError/invalidInput(_:)`` naming the file.
///
/// ```swift
/// let file = try SafeTensorsReader(path: "export/model.safetensors")
/// let weight = try file.floats("fc.weight")       // file.entry("fc.weight")!.shape
/// ```
public struct SafeTensorsReader: Sendable {
    /// The element types read.
    public enum DType: String, Sendable {
        case float32 = "F32"
        case int32 = "I32"
        case float64 = "F64"
        case uint8 = "U8"

        /// Bytes per element.
        public var size: Int {
            switch self {
            case .float32, .int32: 4
            case .float64: 8
            case .uint8: 1
            }
        }
    }

    /// One tensor of the file.
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var dtype: DType
        public var shape: [Int]
        /// Its bytes, relative to the start of the data (after the header).
        public var byteRange: Range<Int>
        /// The number of elements: the product of `shape` (1 for a scalar).
        public var count: Int { byteRange.count / dtype.size }
    }

    /// The largest header read (the format's own limit: 100 MB).
    public static let maxHeaderBytes = 100_000_000

    /// The file named in errors.
    public let path: String
    /// The tensors in header order.
    public let entries: [Entry]
    /// The optional `__metadata__` map (string to string).
    public let metadata: [String: String]
    private let data: [UInt8]

    /// Reads and checks `path`.
    public init(path: String) throws {
        try self.init(bytes: InputFile.read(path, expecting: "a safetensors file"), path: path)
    }

    /// Parses a safetensors file held in memory; `path` only names it in errors.
    public init(bytes: [UInt8], path: String) throws {
        func bad(_ reason: String) -> StorageError { .invalidInput("\(path): not a valid safetensors file: \(reason)") }
        guard bytes.count >= 8 else { throw bad("\(bytes.count) bytes, shorter than the 8-byte header length") }
        let length = (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[$1]) << (8 * UInt64($1)) }
        guard length <= UInt64(bytes.count - 8) else {
            throw bad("its header length \(length) exceeds the \(bytes.count - 8) bytes after it (truncated?)")
        }
        guard length <= UInt64(SafeTensorsReader.maxHeaderBytes) else {
            throw bad("header length \(length) exceeds the format's limit of \(SafeTensorsReader.maxHeaderBytes)")
        }
        let headerEnd = 8 + Int(length)
        guard length >= 2, bytes[8] == UInt8(ascii: "{") else { throw bad("the header does not start with '{'") }
        let header: JSON
        do {
            header = try JSONReader.parse(Array(bytes[8..<headerEnd]))
        } catch let e as JSONError {
            throw bad("header at byte \(8 + e.offset): \(e.reason)")
        }
        guard let members = header.object else { throw bad("the header is not a JSON object") }
        let dataSize = bytes.count - headerEnd
        var entries: [Entry] = []
        var metadata: [String: String] = [:]
        for (name, value) in members {
            if name == "__metadata__" {
                guard let fields = value.object else { throw bad("__metadata__ is not an object") }
                for (key, item) in fields {
                    guard let text = item.string else { throw bad("__metadata__ value of \(JSON.quote(key)) is not a string") }
                    metadata[key] = text
                }
                continue
            }
            entries.append(try SafeTensorsReader.entry(name, value, dataSize: dataSize, bad: bad))
        }
        // The tensors must tile the data: sorted by offset, each starts where the last ended.
        var end = 0
        for e in entries.sorted(by: { ($0.byteRange.lowerBound, $0.byteRange.upperBound) < ($1.byteRange.lowerBound, $1.byteRange.upperBound) }) {
            guard e.byteRange.lowerBound == end else {
                throw bad(e.byteRange.lowerBound > end
                    ? "bytes \(end)..<\(e.byteRange.lowerBound) of the data belong to no tensor"
                    : "tensor \(JSON.quote(e.name)) overlaps another at data byte \(e.byteRange.lowerBound)")
            }
            end = e.byteRange.upperBound
        }
        guard end == dataSize else {
            throw bad("the tensors cover \(end) bytes of data but \(dataSize) follow the header")
        }
        self.path = path
        self.entries = entries
        self.metadata = metadata
        data = Array(bytes[headerEnd...])
    }

    /// The tensor names in header order.
    public var names: [String] { entries.map(\.name) }

    /// The entry named `name`, or nil.
    public func entry(_ name: String) -> Entry? { entries.first { $0.name == name } }

    /// The values of an F32 tensor, row-major.
    public func floats(_ name: String) throws -> [Float] {
        try littleEndian(name, .float32, as: UInt32.self).map(Float.init(bitPattern:))
    }

    /// The values of an I32 tensor, row-major.
    public func int32s(_ name: String) throws -> [Int32] {
        try littleEndian(name, .int32, as: UInt32.self).map { Int32(bitPattern: $0) }
    }

    /// The values of an F64 tensor, row-major (bit for bit).
    public func doubles(_ name: String) throws -> [Double] {
        try littleEndian(name, .float64, as: UInt64.self).map(Double.init(bitPattern:))
    }

    /// The elements of the `dtype` tensor `name` as little-endian words of `T`'s width.
    private func littleEndian<T: FixedWidthInteger>(_ name: String, _ dtype: DType, as: T.Type) throws -> [T] {
        let e = try entry(name, dtype: dtype)
        let size = MemoryLayout<T>.size
        return data.withUnsafeBytes { raw in
            (0..<e.count).map { T(littleEndian: raw.loadUnaligned(fromByteOffset: e.byteRange.lowerBound + size * $0, as: T.self)) }
        }
    }

    /// The values of a U8 tensor, row-major.
    public func uint8s(_ name: String) throws -> [UInt8] {
        let e = try entry(name, dtype: .uint8)
        return Array(data[e.byteRange])
    }

    private func entry(_ name: String, dtype: DType) throws -> Entry {
        guard let e = entry(name) else {
            throw StorageError.invalidInput("\(path) has no tensor \(JSON.quote(name)); it has \(names.map(JSON.quote).joined(separator: ", "))")
        }
        guard e.dtype == dtype else {
            throw StorageError.invalidInput("\(path): tensor \(JSON.quote(name)) is \(e.dtype.rawValue), not \(dtype.rawValue)")
        }
        return e
    }

    /// One header entry, checked: exactly the keys dtype, shape and data_offsets; a dtype
    /// Sieve reads; a shape of non-negative sizes whose byte count matches the offsets,
    /// which lie inside the data.
    private static func entry(_ name: String, _ value: JSON, dataSize: Int,
                              bad: (String) -> StorageError) throws -> Entry {
        let quoted = JSON.quote(name)
        guard let fields = value.object else { throw bad("tensor \(quoted) is not an object") }
        for (key, _) in fields where !["dtype", "shape", "data_offsets"].contains(key) {
            throw bad("tensor \(quoted) has an unknown key \(JSON.quote(key))")
        }
        guard let dtypeText = value["dtype"]?.string else { throw bad("tensor \(quoted) has no dtype string") }
        guard let dtype = DType(rawValue: dtypeText) else {
            throw bad("tensor \(quoted) has dtype \(JSON.quote(dtypeText)); Sieve reads F32, I32, F64 and U8")
        }
        guard let dims = value["shape"]?.array else { throw bad("tensor \(quoted) has no shape array") }
        var shape: [Int] = []
        var count = 1
        for d in dims {
            guard let n = d.int, n >= 0 else { throw bad("tensor \(quoted) has a shape entry that is not a size") }
            let (product, overflow) = count.multipliedReportingOverflow(by: n)
            guard !overflow, product <= dataSize else { throw bad("tensor \(quoted)'s shape \(dims.count)-D is larger than the file") }
            shape.append(n)
            count = product
        }
        guard let offsets = value["data_offsets"]?.array, offsets.count == 2,
              let begin = offsets[0].int, let end = offsets[1].int else {
            throw bad("tensor \(quoted) has no data_offsets [begin, end]")
        }
        guard begin >= 0, begin <= end, end <= dataSize else {
            throw bad("tensor \(quoted)'s data_offsets [\(begin), \(end)] lie outside the \(dataSize) bytes of data")
        }
        guard end - begin == count * dtype.size else {
            throw bad("tensor \(quoted) holds \(end - begin) bytes, but \(dtype.rawValue) of shape \(shape) needs \(count * dtype.size)")
        }
        return Entry(name: name, dtype: dtype, shape: shape, byteRange: begin..<end)
    }
}
