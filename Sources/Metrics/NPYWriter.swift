/// Writes NumPy `.npy` files (format 1.0, little-endian).
public enum NPYFormat {
    /// The header for `descr` (a NumPy dtype literal, e.g. `'<f4'` or a list of
    /// fields) and `shape`, padded with spaces to `length` bytes in all (a multiple of
    /// 64; pass a larger value to leave room for rewriting the shape later).
    public static func header(descr: String, shape: [Int], length: Int? = nil) -> [UInt8] {
        let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var dict = "{'descr': \(descr), 'fortran_order': False, 'shape': \(dims), }"
        let minimum = 10 + dict.utf8.count + 1
        let total = max(length ?? 0, (minimum + 63) / 64 * 64)
        dict += String(repeating: " ", count: total - minimum) + "\n"
        let headerLength = UInt16(total - 10)
        return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(headerLength & 0xff), UInt8(headerLength >> 8)]
            + Array(dict.utf8)
    }

    /// Writes an array of float32 (`'<f4'`), float64 (`'<f8'`), int32 (`'<i4'`) or
    /// uint8 (`'|u1'`) values with the given shape.
    public static func write<T: NPYElement>(_ values: [T], shape: [Int], to path: String) throws {
        precondition(shape.reduce(1, *) == values.count, "shape does not match values")
        let f = try OutputFile(path: path)
        try header(descr: T.npyDescr, shape: shape).withUnsafeBytes { try f.write($0) }
        try values.withUnsafeBytes { try f.write($0) }
        try f.commit()
    }
}

/// Streams ``ExampleStats`` records into a NumPy structured array
/// (`np.load(path)['el2n']`), one 29-byte record per presentation with fields
/// `index <i4, epoch <i4, step <i4, loss <f4, margin <f4, probability <f4, el2n <f4,
/// correct |u1`. The record count is written into the header when the stream ends.
public final class ExampleStatsNPYWriter: ExampleStatsSink {
    public static let descr = "[('index', '<i4'), ('epoch', '<i4'), ('step', '<i4'), ('loss', '<f4'), "
        + "('margin', '<f4'), ('probability', '<f4'), ('el2n', '<f4'), ('correct', '|u1')]"
    public static let recordSize = 29
    static let headerLength = 256

    let file: OutputFile
    var count = 0
    var buffer: [UInt8] = []

    public init(path: String) throws {
        file = try OutputFile(path: path)
        try NPYFormat.header(descr: Self.descr, shape: [0], length: Self.headerLength).withUnsafeBytes { try file.write($0) }
    }

    /// A stream written in place at `path` that a resumed training continues: with
    /// `keepingRecords`, the existing file's first that many records are kept and the
    /// stream goes on after them (a killed run's later, unfinished records are dropped);
    /// nil starts a new file.
    public init(resumablePath path: String, keepingRecords: Int?) throws {
        file = try OutputFile(inPlace: path, keeping: keepingRecords.map { Self.headerLength + $0 * Self.recordSize })
        if let keepingRecords { count = keepingRecords } else {
            try NPYFormat.header(descr: Self.descr, shape: [0], length: Self.headerLength).withUnsafeBytes { try file.write($0) }
        }
    }

    public func flush() throws { file.flush() }

    public func consume(_ records: UnsafeBufferPointer<ExampleStats>) throws {
        buffer.removeAll(keepingCapacity: true)
        for r in records {
            append(r.index.bitPattern); append(r.epoch.bitPattern); append(r.step.bitPattern)
            append(r.loss.bitPattern); append(r.margin.bitPattern); append(r.probability.bitPattern)
            append(r.el2n.bitPattern)
            buffer.append(r.correct ? 1 : 0)
        }
        try buffer.withUnsafeBytes { try file.write($0) }
        count += records.count
    }

    @inline(__always) private func append(_ v: UInt32) {
        buffer.append(UInt8(v & 0xff)); buffer.append(UInt8((v >> 8) & 0xff))
        buffer.append(UInt8((v >> 16) & 0xff)); buffer.append(UInt8(v >> 24))
    }

    public func finish() throws {
        try file.overwrite(at: 0, NPYFormat.header(descr: Self.descr, shape: [count], length: Self.headerLength))
        try file.commit()
    }
}

extension Int32 {
    var bitPattern: UInt32 { UInt32(bitPattern: self) }
}

/// Element types ``NPYFormat`` writes, with their NumPy dtype literal (little-endian hosts).
public protocol NPYElement { static var npyDescr: String { get } }
extension Float: NPYElement { public static var npyDescr: String { "'<f4'" } }
extension Double: NPYElement { public static var npyDescr: String { "'<f8'" } }
extension Int32: NPYElement { public static var npyDescr: String { "'<i4'" } }
extension UInt8: NPYElement { public static var npyDescr: String { "'|u1'" } }
