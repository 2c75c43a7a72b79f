/// NumPy `.npy` images and labels (C order, either byte order). Images are uint8 (`|u1`) or
/// float32 (`<f4`, `>f4`) with shape `(N, H, W)` (one channel), `(N, H, W, C)` with C 1 or 3,
/// or `(N, C, H, W)` with C 1 or 3 when the last size is neither; they are stored as CHW.
/// Labels are `(N,)` or `(N, 1)` of any integer type: int8, int16, int32, int64, uint8,
/// uint16, uint32 or uint64, little- or big-endian.
public enum NPY {
    /// The element types Sieve reads.
    public enum Element: Sendable, Equatable, CaseIterable {
        case uint8, int8, uint16, int16, uint32, int32, uint64, int64, float32

        /// The element type of a NumPy type string, or nil when Sieve does not read it.
        /// One-byte types take any byte-order mark (or none); wider ones need `<`, `>` or
        /// `=` (native, little-endian on every machine Sieve runs on).
        public init?(descr: String) {
            var body = Substring(descr)
            var order: Character = "|"
            if let first = body.first, "<>|=".contains(first) { order = first; body = body.dropFirst() }
            guard let element = Element.allCases.first(where: { $0.code == body }) else { return nil }
            guard element.size == 1 || order != "|" else { return nil }
            self = element
        }

        /// NumPy's kind and size, without the byte order: `u1`, `i2`, `f4`, ...
        public var code: String {
            switch self {
            case .uint8: "u1"
            case .int8: "i1"
            case .uint16: "u2"
            case .int16: "i2"
            case .uint32: "u4"
            case .int32: "i4"
            case .uint64: "u8"
            case .int64: "i8"
            case .float32: "f4"
            }
        }

        /// Bytes per element.
        public var size: Int {
            switch self {
            case .uint8, .int8: 1
            case .uint16, .int16: 2
            case .uint32, .int32, .float32: 4
            case .uint64, .int64: 8
            }
        }

        /// True for the integer types (what labels may be).
        public var isInteger: Bool { self != .float32 }

        /// True when `descr` stores multi-byte elements big-endian (`>`).
        public static func isBigEndian(descr: String) -> Bool { descr.hasPrefix(">") }
    }

    /// The four files of an NPY data set directory.
    static let splitFiles = ["train_images.npy", "train_labels.npy", "test_images.npy", "test_labels.npy"]

    /// Reads an image array, converted to CHW, example-major.
    public static func readImages(_ path: String, missingHint: String = "check the path")
        throws -> (count: Int, channels: Int, height: Int, width: Int, pixels: Pixels)
    {
        let (header, element, bytes, offset) = try readArray(path, missingHint: missingHint)
        guard element == .uint8 || element == .float32 else {
            throw DataError.unsupported(path: path, what: "image dtype '\(header.descr)'",
                                        hint: "save images as uint8 or float32 (arr.astype('float32'))")
        }
        let s = header.shape
        let n: Int, c: Int, h: Int, w: Int, interleaved: Bool
        if s.count == 3 {
            (n, c, h, w, interleaved) = (s[0], 1, s[1], s[2], false)
        } else if s.count == 4, s[3] == 1 || s[3] == 3 {
            (n, c, h, w, interleaved) = (s[0], s[3], s[1], s[2], s[3] == 3)
        } else if s.count == 4, s[1] == 1 || s[1] == 3 {
            (n, c, h, w, interleaved) = (s[0], s[1], s[2], s[3], false)
        } else {
            throw DataError.unsupported(path: path, what: "image shape \(shapeText(s))",
                                        hint: "use (N, H, W), (N, H, W, C) or (N, C, H, W) with C = 1 or 3")
        }
        guard n > 0 else { throw DataError.empty(path: path) }
        guard h > 0, w > 0 else {
            throw DataError.unsupported(path: path, what: "image shape \(shapeText(s))",
                                        hint: "images need at least one row and one column")
        }
        let pixels: Pixels
        if element == .uint8 {
            let raw = Array(bytes[offset...])
            pixels = .uint8(interleaved ? toCHW(raw, count: n, channels: c, plane: h * w) : raw)
        } else {
            let raw = decodeFloats(bytes, offset: offset, count: n * c * h * w,
                                   bigEndian: Element.isBigEndian(descr: header.descr))
            if let i = raw.firstIndex(where: { !$0.isFinite }) {
                throw DataError.nonFinite(path: path, index: i, value: raw[i])
            }
            pixels = .float32(interleaved ? toCHW(raw, count: n, channels: c, plane: h * w) : raw)
        }
        return (n, c, h, w, pixels)
    }

    /// Reads a label array of shape `(N,)` or `(N, 1)` of any integer type (either byte order).
    public static func readLabels(_ path: String, missingHint: String = "check the path") throws -> [Int64] {
        let (header, element, bytes, offset) = try readArray(path, missingHint: missingHint)
        let s = header.shape
        guard s.count == 1 || (s.count == 2 && s[1] == 1) else {
            throw DataError.unsupported(path: path, what: "label shape \(shapeText(s))",
                                        hint: "labels must be class indices of shape (N,)")
        }
        guard s[0] > 0 else { throw DataError.empty(path: path) }
        let n = s[0]
        let big = Element.isBigEndian(descr: header.descr)
        func decode<T: FixedWidthInteger>(_: T.Type) -> [Int64] {
            bytes.withUnsafeBytes { raw in
                (0..<n).map { i in
                    let v = raw.loadUnaligned(fromByteOffset: offset + i * MemoryLayout<T>.size, as: T.self)
                    return Int64(truncatingIfNeeded: big ? T(bigEndian: v) : T(littleEndian: v))
                }
            }
        }
        switch element {
        case .uint8: return decode(UInt8.self)
        case .int8: return decode(Int8.self)
        case .uint16: return decode(UInt16.self)
        case .int16: return decode(Int16.self)
        case .uint32: return decode(UInt32.self)
        case .int32: return decode(Int32.self)
        case .int64: return decode(Int64.self)
        case .uint64:
            // Values above Int64.max would wrap to negative numbers: name them as they are.
            let labels = decode(UInt64.self)
            if let i = labels.firstIndex(where: { $0 < 0 }) {
                throw DataError.unsupported(path: path, what: "label \(UInt64(bitPattern: labels[i])) of example \(i)",
                                            hint: "labels must be class indices 0, 1, ..., K-1")
            }
            return labels
        case .float32:
            throw DataError.unsupported(path: path, what: "label dtype '\(header.descr)'",
                                        hint: "save labels as integers (arr.astype('int64'))")
        }
    }

    /// Loads one data set from an image array and a label array.
    ///
    /// - Parameter classes: the number of classes (2 to `LabelRules.maxClasses`); labels must
    ///   lie in `0..<classes`. When nil, the number of distinct labels, at least 2.
    public static func load(images: String, labels: String, name: String, classes: Int? = nil) throws -> Dataset {
        if let classes { try LabelRules.validate(classes: classes, spec: labels) }
        let raw = try readSet(images: images, labels: labels, missingHint: "check the path")
        return try raw.dataset(name: name, classes: classes ?? LabelRules.inferClasses([raw]))
    }

    /// Loads `train_images.npy`, `train_labels.npy`, `test_images.npy`, `test_labels.npy`
    /// from `directory`; without `classes`, the class count is the number of distinct
    /// labels in both label arrays.
    static func loadSplit(directory: String, name: String, classes: Int?, missingHint: String) throws -> DataSplit {
        let p = splitFiles.map { BinaryFile.join(directory, $0) }
        let train = try readSet(images: p[0], labels: p[1], missingHint: missingHint)
        let test = try readSet(images: p[2], labels: p[3], missingHint: missingHint)
        return try RawSet.split(train: train, test: test, name: name, classes: classes)
    }

    static func readSet(images: String, labels: String, missingHint: String) throws -> RawSet {
        let img = try readImages(images, missingHint: missingHint)
        let lab = try readLabels(labels, missingHint: missingHint)
        guard img.count == lab.count else {
            throw DataError.inconsistentCounts(images: images, imageCount: img.count, labels: labels, labelCount: lab.count)
        }
        return RawSet(imagePath: images, labelPath: labels, channels: img.channels, height: img.height,
                      width: img.width, pixels: img.pixels, labels: lab)
    }

    /// The file's header, element type, bytes and data offset, with the data size checked exactly.
    private static func readArray(_ path: String, missingHint: String)
        throws -> (NPYHeader, Element, [UInt8], Int)
    {
        let bytes = try BinaryFile.read(path, missingHint: missingHint)
        let (header, offset) = try NPYHeader.parse(bytes, path: path)
        guard !header.fortranOrder else {
            throw DataError.unsupported(path: path, what: "Fortran-ordered array",
                                        hint: "save numpy.ascontiguousarray(arr) instead")
        }
        guard let element = Element(descr: header.descr) else {
            throw DataError.unsupported(path: path, what: "dtype '\(header.descr)'",
                                        hint: "images must be uint8 or float32, labels any integer type "
                                            + "(int8 to int64, uint8 to uint64); convert with arr.astype(...)")
        }
        guard let count = header.elementCount, count <= (Int.max - offset) / element.size else {
            throw DataError.badHeader(path: path, reason: "shape \(shapeText(header.shape)) is too large")
        }
        guard bytes.count - offset == count * element.size else {
            throw DataError.sizeMismatch(path: path, expectedBytes: offset + count * element.size, actualBytes: bytes.count)
        }
        return (header, element, bytes, offset)
    }

    private static func decodeFloats(_ bytes: [UInt8], offset: Int, count: Int, bigEndian: Bool) -> [Float] {
        bytes.withUnsafeBytes { raw in
            (0..<count).map {
                let v = raw.loadUnaligned(fromByteOffset: offset + 4 * $0, as: UInt32.self)
                return Float(bitPattern: bigEndian ? UInt32(bigEndian: v) : UInt32(littleEndian: v))
            }
        }
    }

    /// Reorders `count` examples of `plane` pixels x `channels` interleaved values into planes.
    static func toCHW<T>(_ a: [T], count: Int, channels: Int, plane: Int) -> [T] {
        var out = a
        let size = channels * plane
        a.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for e in 0..<count {
                    let base = e * size
                    for p in 0..<plane {
                        for ch in 0..<channels { dst[base + ch * plane + p] = src[base + p * channels + ch] }
                    }
                }
            }
        }
        return out
    }

    static func shapeText(_ shape: [Int]) -> String {
        shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    }
}
