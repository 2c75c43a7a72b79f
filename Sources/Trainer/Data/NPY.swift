/// NumPy `.npy` images and labels (C order, little-endian). Images are uint8 (`|u1`) or
/// float32 (`<f4`) with shape `(N, H, W)` (one channel), `(N, H, W, C)` with C 1 or 3, or
/// `(N, C, H, W)` with C 1 or 3 when the last size is neither; they are stored as CHW.
/// Labels are `(N,)` or `(N, 1)` of uint8, int32, int64 or uint32.
public enum NPY {
    /// The element types Sieve reads.
    public enum Element: Sendable, Equatable {
        case uint8, float32, int32, int64, uint32

        /// The element type of a NumPy type string, or nil when Sieve does not read it.
        /// One-byte types take any byte-order mark; wider ones must be little-endian.
        public init?(descr: String) {
            var body = Substring(descr)
            var order: Character = "|"
            if let first = body.first, "<>|=".contains(first) { order = first; body = body.dropFirst() }
            switch body {
            case "u1": self = .uint8
            case "f4" where order == "<" || order == "=": self = .float32
            case "i4" where order == "<" || order == "=": self = .int32
            case "i8" where order == "<" || order == "=": self = .int64
            case "u4" where order == "<" || order == "=": self = .uint32
            default: return nil
            }
        }

        /// Bytes per element.
        public var size: Int { self == .uint8 ? 1 : (self == .int64 ? 8 : 4) }
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
            let raw = decodeFloats(bytes, offset: offset, count: n * c * h * w)
            if let i = raw.firstIndex(where: { !$0.isFinite }) {
                throw DataError.nonFinite(path: path, index: i, value: raw[i])
            }
            pixels = .float32(interleaved ? toCHW(raw, count: n, channels: c, plane: h * w) : raw)
        }
        return (n, c, h, w, pixels)
    }

    /// Reads a label array of shape `(N,)` or `(N, 1)`.
    public static func readLabels(_ path: String, missingHint: String = "check the path") throws -> [Int64] {
        let (header, element, bytes, offset) = try readArray(path, missingHint: missingHint)
        let s = header.shape
        guard s.count == 1 || (s.count == 2 && s[1] == 1) else {
            throw DataError.unsupported(path: path, what: "label shape \(shapeText(s))",
                                        hint: "labels must be class indices of shape (N,)")
        }
        guard s[0] > 0 else { throw DataError.empty(path: path) }
        return try bytes.withUnsafeBytes { raw -> [Int64] in
            let n = s[0]
            switch element {
            case .uint8: return (0..<n).map { Int64(raw[offset + $0]) }
            case .int32:
                return (0..<n).map { Int64(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 4 * $0, as: Int32.self))) }
            case .uint32:
                return (0..<n).map { Int64(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 4 * $0, as: UInt32.self))) }
            case .int64:
                return (0..<n).map { Int64(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 8 * $0, as: Int64.self)) }
            case .float32:
                throw DataError.unsupported(path: path, what: "label dtype '\(header.descr)'",
                                            hint: "save labels as integers (arr.astype('int64'))")
            }
        }
    }

    /// Loads one data set from an image array and a label array.
    ///
    /// - Parameter classes: labels must lie in `0..<classes`; when nil, `max(label) + 1`, at least 2.
    public static func load(images: String, labels: String, name: String, classes: Int? = nil) throws -> Dataset {
        let raw = try readSet(images: images, labels: labels, missingHint: "check the path")
        return try raw.dataset(name: name, classes: classes ?? LabelRules.inferClasses([raw]))
    }

    /// Loads `train_images.npy`, `train_labels.npy`, `test_images.npy`, `test_labels.npy`
    /// from `directory`; the class count is inferred from both label arrays.
    static func loadSplit(directory: String, name: String, missingHint: String) throws -> DataSplit {
        let p = splitFiles.map { BinaryFile.join(directory, $0) }
        let train = try readSet(images: p[0], labels: p[1], missingHint: missingHint)
        let test = try readSet(images: p[2], labels: p[3], missingHint: missingHint)
        return try RawSet.split(train: train, test: test, name: name, classes: nil)
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
            let endian = header.descr.hasPrefix(">") ? "big-endian " : ""
            throw DataError.unsupported(path: path, what: "\(endian)dtype '\(header.descr)'",
                                        hint: "images must be uint8 or float32, labels uint8, int32, int64 or uint32 "
                                            + "(little-endian); convert with arr.astype(...)")
        }
        guard let count = header.elementCount, count <= (Int.max - offset) / element.size else {
            throw DataError.badHeader(path: path, reason: "shape \(shapeText(header.shape)) is too large")
        }
        guard bytes.count - offset == count * element.size else {
            throw DataError.sizeMismatch(path: path, expectedBytes: offset + count * element.size, actualBytes: bytes.count)
        }
        return (header, element, bytes, offset)
    }

    private static func decodeFloats(_ bytes: [UInt8], offset: Int, count: Int) -> [Float] {
        bytes.withUnsafeBytes { raw in
            (0..<count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 4 * $0, as: UInt32.self))) }
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
