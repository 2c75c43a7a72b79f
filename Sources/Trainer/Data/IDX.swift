/// The IDX format of MNIST and Fashion-MNIST: a big-endian magic number `0x0000TTDD`
/// (element type `TT`, dimension count `DD`), `DD` big-endian 32-bit sizes, then the
/// elements in row-major order. Sieve reads unsigned-byte files (type 0x08) only:
/// images `[N, rows, cols]` (magic 0x00000803) and labels `[N]` (magic 0x00000801).
/// Files may be gzip-compressed or raw.
public enum IDX {
    /// Magic number of an unsigned-byte, three-dimensional (images) IDX file.
    public static let imagesMagic: UInt32 = 0x0000_0803
    /// Magic number of an unsigned-byte, one-dimensional (labels) IDX file.
    public static let labelsMagic: UInt32 = 0x0000_0801

    /// Reads an images file: `count` images of `rows` x `cols` bytes, example-major.
    public static func readImages(_ path: String, missingHint: String = "check the path")
        throws -> (count: Int, rows: Int, cols: Int, pixels: [UInt8])
    {
        let bytes = try BinaryFile.read(path, missingHint: missingHint)
        let (dims, offset) = try header(bytes, path: path, magic: imagesMagic)
        guard dims[0] > 0 else { throw DataError.empty(path: path) }
        guard dims[1] > 0, dims[2] > 0 else {
            throw DataError.unsupported(path: path, what: "image size \(dims[1])x\(dims[2])",
                                        hint: "images need at least one row and one column")
        }
        return (dims[0], dims[1], dims[2], Array(bytes[offset...]))
    }

    /// Reads a labels file: one byte per example.
    public static func readLabels(_ path: String, missingHint: String = "check the path") throws -> [UInt8] {
        let bytes = try BinaryFile.read(path, missingHint: missingHint)
        let (dims, offset) = try header(bytes, path: path, magic: labelsMagic)
        guard dims[0] > 0 else { throw DataError.empty(path: path) }
        return Array(bytes[offset...])
    }

    /// Loads one data set from an images file and a labels file.
    ///
    /// - Parameter classes: the number of classes (2 to `LabelRules.maxClasses`); labels
    ///   must lie in `0..<classes`. When nil it is the number of distinct labels, at least 2.
    public static func load(images: String, labels: String, name: String, classes: Int? = nil,
                            missingHint: String = "check the path") throws -> Dataset
    {
        if let classes { try LabelRules.validate(classes: classes, spec: labels) }
        let raw = try readSet(images: images, labels: labels, missingHint: missingHint)
        return try raw.dataset(name: name, classes: classes ?? LabelRules.inferClasses([raw]))
    }

    /// Reads and cross-checks an images/labels pair without fixing the class count.
    static func readSet(images: String, labels: String, missingHint: String) throws -> RawSet {
        let img = try readImages(images, missingHint: missingHint)
        let lab = try readLabels(labels, missingHint: missingHint)
        guard img.count == lab.count else {
            throw DataError.inconsistentCounts(images: images, imageCount: img.count,
                                               labels: labels, labelCount: lab.count)
        }
        return RawSet(imagePath: images, labelPath: labels, channels: 1, height: img.rows, width: img.cols,
                      pixels: .uint8(img.pixels), labels: lab.map { Int64($0) })
    }

    /// File names tried for each part, raw or with `.gz`: the original `-idx3-ubyte`
    /// names and the `.idx3-ubyte` spelling some mirrors use.
    static let trainImageNames = ["train-images-idx3-ubyte", "train-images.idx3-ubyte"]
    static let trainLabelNames = ["train-labels-idx1-ubyte", "train-labels.idx1-ubyte"]
    static let testImageNames = ["t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"]
    static let testLabelNames = ["t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"]

    /// Loads `directory`'s four IDX files as a split. A missing file is reported under
    /// its `.gz` name with `missingHint`.
    static func loadSplit(directory: String, name: String, classes: Int?, missingHint: String) throws -> DataSplit {
        func locate(_ names: [String]) throws -> String {
            if let path = BinaryFile.find(names, in: directory) { return path }
            throw DataError.missingFile(path: BinaryFile.join(directory, names[0] + ".gz"), hint: missingHint)
        }
        let train = try readSet(images: locate(trainImageNames), labels: locate(trainLabelNames),
                                missingHint: missingHint)
        let test = try readSet(images: locate(testImageNames), labels: locate(testLabelNames),
                               missingHint: missingHint)
        return try RawSet.split(train: train, test: test, name: name, classes: classes)
    }

    /// Validates the magic number and sizes; returns the dimensions and the data offset.
    static func header(_ bytes: [UInt8], path: String, magic: UInt32) throws -> (dims: [Int], offset: Int) {
        guard bytes.count >= 4 else {
            throw DataError.sizeMismatch(path: path, expectedBytes: 4, actualBytes: bytes.count)
        }
        let found = DataBytes.bigEndianUInt32(bytes, at: 0)
        let expectedDims = Int(magic & 0xff)
        guard found >> 16 == 0, Int(found & 0xff) == expectedDims else {
            throw DataError.badMagic(path: path, expected: hex(magic) + (magic == imagesMagic ? " (IDX images)" : " (IDX labels)"),
                                     found: hex(found))
        }
        guard (found >> 8) & 0xff == 0x08 else {
            throw DataError.unsupported(path: path, what: "IDX element type 0x\(String((found >> 8) & 0xff, radix: 16))",
                                        hint: "Sieve reads unsigned-byte IDX files (type 0x08)")
        }
        let offset = 4 + 4 * expectedDims
        guard bytes.count >= offset else {
            throw DataError.sizeMismatch(path: path, expectedBytes: offset, actualBytes: bytes.count)
        }
        var dims: [Int] = []
        var total = 1
        for d in 0..<expectedDims {
            let size = Int(DataBytes.bigEndianUInt32(bytes, at: 4 + 4 * d))
            dims.append(size)
            let (product, overflow) = total.multipliedReportingOverflow(by: size)
            guard !overflow else { throw DataError.badHeader(path: path, reason: "dimensions \(dims) overflow") }
            total = product
        }
        guard total <= Int.max - offset else { throw DataError.badHeader(path: path, reason: "dimensions \(dims) are too large") }
        guard bytes.count - offset == total else {
            throw DataError.sizeMismatch(path: path, expectedBytes: offset + total, actualBytes: bytes.count)
        }
        return (dims, offset)
    }

    static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }
}
