/// The binary versions of CIFAR-10 and CIFAR-100: fixed-size records of label byte(s)
/// followed by a 32x32 colour image stored as red, green and blue planes (already CHW).
/// Files may also be gzip-compressed (`name.bin.gz`).
public enum CIFAR {
    /// Which of the two data sets, and so the record layout.
    public enum Variant: Sendable {
        /// Records of 1 label byte + 3072 pixel bytes; 10 classes.
        case cifar10
        /// Records of 1 coarse label byte (20 classes) + 1 fine label byte + 3072 pixel bytes;
        /// Sieve uses the fine label (100 classes).
        case cifar100

        /// Label bytes before each image.
        public var labelBytes: Int { self == .cifar10 ? 1 : 2 }
        /// Bytes per record.
        public var recordSize: Int { labelBytes + CIFAR.imageBytes }
        /// Number of classes of the label Sieve uses.
        public var classes: Int { self == .cifar10 ? 10 : 100 }
        /// Records in each training file: 10,000 in each of CIFAR-10's five
        /// `data_batch_N.bin`, 50,000 in CIFAR-100's `train.bin`.
        public var trainRecordsPerFile: Int { self == .cifar10 ? 10_000 : 50_000 }
        /// Records in the test file (`test_batch.bin`, `test.bin`): 10,000.
        public var testRecords: Int { 10_000 }
    }

    /// How many records each file of a set must hold (tests use small files).
    struct RecordCounts {
        var trainPerFile: Int
        var test: Int
        static func standard(_ variant: Variant) -> RecordCounts {
            RecordCounts(trainPerFile: variant.trainRecordsPerFile, test: variant.testRecords)
        }
    }

    /// Channels, height and width of every image.
    public static let channels = 3, height = 32, width = 32
    /// Pixel bytes per image: 3 x 32 x 32.
    public static let imageBytes = 3 * 32 * 32

    static let cifar10TrainFiles = (1...5).map { "data_batch_\($0).bin" }
    static let cifar10TestFile = "test_batch.bin"
    static let cifar10Subdirectory = "cifar-10-batches-bin"
    static let cifar100TrainFile = "train.bin"
    static let cifar100TestFile = "test.bin"
    static let cifar100Subdirectory = "cifar-100-binary"

    /// Reads one batch file: its images (CHW, example-major) and labels, checking that
    /// the file is a whole number of records and every label is in range.
    ///
    /// - Parameter records: when given, the file must hold exactly this many records
    ///   (`Variant.trainRecordsPerFile`, `Variant.testRecords`): a file cut at a record
    ///   boundary is a `DataError.sizeMismatch` naming the expected and actual bytes.
    public static func readBatch(_ path: String, variant: Variant, records: Int? = nil,
                                 missingHint: String = "check the path")
        throws -> (count: Int, pixels: [UInt8], labels: [Int32])
    {
        let bytes = try BinaryFile.read(path, missingHint: missingHint)
        return try parseBatch(bytes, path: path, variant: variant, records: records)
    }

    /// `readBatch` on bytes already in memory; `path` names the file in errors.
    static func parseBatch(_ bytes: [UInt8], path: String, variant: Variant, records: Int?)
        throws -> (count: Int, pixels: [UInt8], labels: [Int32])
    {
        let size = variant.recordSize
        if let records {
            precondition(records > 0 && records <= Int.max / size, "a CIFAR file holds a positive number of records")
            guard bytes.count == records * size else {
                throw DataError.sizeMismatch(path: path, expectedBytes: records * size, actualBytes: bytes.count)
            }
        }
        guard !bytes.isEmpty else { throw DataError.empty(path: path) }
        guard bytes.count % size == 0 else {
            throw DataError.notWholeRecords(path: path, recordSize: size, actualBytes: bytes.count)
        }
        let count = bytes.count / size
        var pixels: [UInt8] = []
        pixels.reserveCapacity(count * imageBytes)
        var labels: [Int32] = []
        labels.reserveCapacity(count)
        for i in 0..<count {
            let start = i * size
            if variant == .cifar100, bytes[start] >= 20 {
                throw DataError.labelOutOfRange(path: path, index: i, label: Int64(bytes[start]), classes: 20)
            }
            let label = bytes[start + variant.labelBytes - 1]
            guard Int(label) < variant.classes else {
                throw DataError.labelOutOfRange(path: path, index: i, label: Int64(label), classes: variant.classes)
            }
            labels.append(Int32(label))
            pixels.append(contentsOf: bytes[(start + variant.labelBytes)..<(start + size)])
        }
        return (count, pixels, labels)
    }

    /// Loads CIFAR-10 from `directory` or its `cifar-10-batches-bin` subdirectory:
    /// training set `data_batch_1.bin` ... `data_batch_5.bin` in order (10,000 records
    /// each), test set `test_batch.bin` (10,000 records).
    ///
    /// - Parameter classes: the model's class count (at least the 10 of CIFAR-10 for its
    ///   labels to fit); nil means 10.
    public static func loadCIFAR10(directory: String, name: String? = nil, classes: Int? = nil) throws -> DataSplit {
        try loadCIFAR10(directory: directory, name: name, classes: classes, records: .standard(.cifar10))
    }

    static func loadCIFAR10(directory: String, name: String?, classes: Int?, records: RecordCounts) throws -> DataSplit {
        if let classes { try LabelRules.validate(classes: classes, spec: directory) }
        let root = resolve(directory, subdirectory: cifar10Subdirectory, marker: cifar10TestFile)
        let hint = "CIFAR-10 needs \(cifar10TrainFiles.joined(separator: ", ")) and \(cifar10TestFile) "
            + "(the binary version of the data set)"
        let train = try readSet(cifar10TrainFiles, in: root, variant: .cifar10, records: records.trainPerFile, hint: hint)
        let test = try readSet([cifar10TestFile], in: root, variant: .cifar10, records: records.test, hint: hint)
        return try RawSet.split(train: train, test: test, name: name ?? directory, classes: classes ?? 10)
    }

    /// Loads CIFAR-100 (fine labels) from `directory` or its `cifar-100-binary`
    /// subdirectory: `train.bin` (50,000 records) and `test.bin` (10,000 records).
    ///
    /// - Parameter classes: the model's class count (at least the 100 of CIFAR-100 for its
    ///   labels to fit); nil means 100.
    public static func loadCIFAR100(directory: String, name: String? = nil, classes: Int? = nil) throws -> DataSplit {
        try loadCIFAR100(directory: directory, name: name, classes: classes, records: .standard(.cifar100))
    }

    static func loadCIFAR100(directory: String, name: String?, classes: Int?, records: RecordCounts) throws -> DataSplit {
        if let classes { try LabelRules.validate(classes: classes, spec: directory) }
        let root = resolve(directory, subdirectory: cifar100Subdirectory, marker: cifar100TestFile)
        let hint = "CIFAR-100 needs \(cifar100TrainFile) and \(cifar100TestFile) (the binary version of the data set)"
        let train = try readSet([cifar100TrainFile], in: root, variant: .cifar100, records: records.trainPerFile, hint: hint)
        let test = try readSet([cifar100TestFile], in: root, variant: .cifar100, records: records.test, hint: hint)
        return try RawSet.split(train: train, test: test, name: name ?? directory, classes: classes ?? 100)
    }

    /// `directory`, or its `subdirectory` when only that holds `marker`.
    private static func resolve(_ directory: String, subdirectory: String, marker: String) -> String {
        let inner = BinaryFile.join(directory, subdirectory)
        if BinaryFile.find([marker], in: directory) == nil, BinaryFile.find([marker], in: inner) != nil { return inner }
        return directory
    }

    /// The concatenation of `files` (each `name` or `name.gz`) in `root`.
    private static func readSet(_ files: [String], in root: String, variant: Variant, records: Int,
                                hint: String) throws -> RawSet {
        var pixels: [UInt8] = []
        var labels: [Int64] = []
        var paths: [(path: String, first: Int)] = []
        for file in files {
            let path = BinaryFile.find([file], in: root) ?? BinaryFile.join(root, file)
            paths.append((path, labels.count))
            let batch = try readBatch(path, variant: variant, records: records, missingHint: hint)
            pixels.append(contentsOf: batch.pixels)
            labels.append(contentsOf: batch.labels.lazy.map { Int64($0) })
        }
        return RawSet(imagePath: paths[0].path, labelPath: paths[0].path, channels: channels, height: height, width: width,
                      pixels: .uint8(pixels), labels: labels, labelFiles: paths)
    }
}
