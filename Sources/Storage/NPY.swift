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

extension Int32 {
    public var bitPattern: UInt32 { UInt32(bitPattern: self) }
}

/// Element types ``NPYFormat`` writes, with their NumPy dtype literal (little-endian hosts).
public protocol NPYElement { static var npyDescr: String { get } }
extension Float: NPYElement { public static var npyDescr: String { "'<f4'" } }
extension Double: NPYElement { public static var npyDescr: String { "'<f8'" } }
extension Int32: NPYElement { public static var npyDescr: String { "'<i4'" } }
extension UInt8: NPYElement { public static var npyDescr: String { "'|u1'" } }
