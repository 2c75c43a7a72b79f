import Storage

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
