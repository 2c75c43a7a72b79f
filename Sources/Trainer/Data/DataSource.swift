/// The on-disk layouts `DataSource` recognises in a directory.
public enum DataFormat: String, Sendable, CaseIterable {
    /// `train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`, `t10k-...` (MNIST layout).
    case idx
    /// `data_batch_1.bin` ... `data_batch_5.bin`, `test_batch.bin` (optionally in `cifar-10-batches-bin/`).
    case cifar10 = "cifar-10"
    /// `train.bin`, `test.bin` (optionally in `cifar-100-binary/`).
    case cifar100 = "cifar-100"
    /// `train_images.npy`, `train_labels.npy`, `test_images.npy`, `test_labels.npy`.
    case npy
}

/// Turns a data set specification into a training and test set.
public enum DataSource {
    /// Where Debian's `dataset-fashion-mnist` package installs Fashion-MNIST.
    public static let fashionMNISTDirectory = "/usr/share/datasets/fashion-mnist"
    /// Where `mnist` is looked for (the same IDX layout as Fashion-MNIST).
    public static let mnistDirectory = "/usr/share/datasets/mnist"

    /// Loads a data set.
    ///
    /// - Parameter spec: `fashion-mnist` (Debian's copy in `fashionMNISTDirectory`), `mnist`
    ///   (IDX files in `mnistDirectory`), or the path of a directory holding IDX files,
    ///   CIFAR-10 or CIFAR-100 binaries, or the four NPY files (see `DataFormat`). The names
    ///   win over a directory of the same name; write `./mnist` to mean the directory.
    /// - Throws: `DataError` naming the file at fault and what to do about it.
    public static func load(_ spec: String) throws -> DataSplit {
        switch spec {
        case "fashion-mnist":
            return try named("fashion-mnist", directory: fashionMNISTDirectory,
                             hint: "install it with `sudo apt-get install dataset-fashion-mnist`")
        case "mnist":
            return try named("mnist", directory: mnistDirectory,
                             hint: "put the four MNIST IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                                 + "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) there, or pass their directory")
        default:
            return try directory(spec)
        }
    }

    /// Which layout `directory` holds and the directory its files are in (CIFAR files may
    /// sit one level down). A layout with all its files wins over one with only some.
    public static func detect(_ directory: String) -> (format: DataFormat, root: String)? {
        var partial: (format: DataFormat, root: String)?
        for format in DataFormat.allCases {
            for root in roots(format, directory) {
                let present = alternatives(format).map { BinaryFile.find($0, in: root) != nil }
                if present.allSatisfy({ $0 }) { return (format, root) }
                if partial == nil, present.contains(true) { partial = (format, root) }
            }
        }
        return partial
    }

    private static func named(_ name: String, directory: String, hint: String) throws -> DataSplit {
        guard BinaryFile.isDirectory(directory) else { throw DataError.missingFile(path: directory, hint: hint) }
        return try IDX.loadSplit(directory: directory, name: name, classes: 10, missingHint: hint)
    }

    private static func directory(_ path: String) throws -> DataSplit {
        let usage = "pass fashion-mnist, mnist, or a directory holding IDX, CIFAR-10/100 or NPY files"
        guard !path.isEmpty, BinaryFile.exists(path) else {
            throw DataError.missingFile(path: path.isEmpty ? "\"\"" : path, hint: usage)
        }
        guard BinaryFile.isDirectory(path) else {
            throw DataError.unsupported(path: path, what: "data set path (a file)", hint: "pass the directory holding it")
        }
        var name = path
        while name.count > 1, name.hasSuffix("/") { name.removeLast() }
        guard let (format, root) = detect(path) else {
            let looked = DataFormat.allCases.flatMap { f in markers(f).map { f == .idx ? $0 + "[.gz]" : $0 } }
            throw DataError.notADataSet(path: path, lookedFor: looked)
        }
        let hint = "the \(format.rawValue) layout needs \(markers(format).joined(separator: ", "))"
        switch format {
        case .idx: return try IDX.loadSplit(directory: root, name: name, classes: nil, missingHint: hint)
        case .cifar10: return try CIFAR.loadCIFAR10(directory: root, name: name)
        case .cifar100: return try CIFAR.loadCIFAR100(directory: root, name: name)
        case .npy: return try NPY.loadSplit(directory: root, name: name, missingHint: hint)
        }
    }

    /// File names that identify a layout (without `.gz`; `BinaryFile.find` tries it too).
    private static func markers(_ format: DataFormat) -> [String] {
        switch format {
        case .idx: [IDX.trainImageNames[0], IDX.trainLabelNames[0], IDX.testImageNames[0], IDX.testLabelNames[0]]
        case .cifar10: CIFAR.cifar10TrainFiles + [CIFAR.cifar10TestFile]
        case .cifar100: [CIFAR.cifar100TrainFile, CIFAR.cifar100TestFile]
        case .npy: NPY.splitFiles
        }
    }

    /// Per file of a layout, the names accepted for it (each also with `.gz`).
    private static func alternatives(_ format: DataFormat) -> [[String]] {
        switch format {
        case .idx: [IDX.trainImageNames, IDX.trainLabelNames, IDX.testImageNames, IDX.testLabelNames]
        default: markers(format).map { [$0] }
        }
    }

    private static func roots(_ format: DataFormat, _ directory: String) -> [String] {
        switch format {
        case .cifar10: [directory, BinaryFile.join(directory, CIFAR.cifar10Subdirectory)]
        case .cifar100: [directory, BinaryFile.join(directory, CIFAR.cifar100Subdirectory)]
        case .idx, .npy: [directory]
        }
    }
}

/// One set's images and labels as read, before the class count is fixed.
struct RawSet {
    var imagePath: String
    var labelPath: String
    var channels: Int
    var height: Int
    var width: Int
    var pixels: Pixels
    var labels: [Int64]

    var shapeDescription: String {
        let kind: String
        switch pixels {
        case .uint8: kind = "uint8"
        case .float32: kind = "float32"
        }
        return "\(channels)x\(height)x\(width) \(kind)"
    }

    /// The data set, after checking every label against `classes`.
    func dataset(name: String, classes: Int) throws -> Dataset {
        try LabelRules.check(labels, path: labelPath, classes: classes)
        return Dataset(name: name, channels: channels, height: height, width: width, classes: classes,
                       pixels: pixels, labels: labels.map { Int32(truncatingIfNeeded: $0) })
    }

    /// A split named `name/train` and `name/test`; the sets must agree in shape and
    /// element type. With `classes` nil, it is inferred from both sets' labels.
    static func split(train: RawSet, test: RawSet, name: String, classes: Int?) throws -> DataSplit {
        guard train.shapeDescription == test.shapeDescription else {
            throw DataError.inconsistentShapes(train: train.imagePath, trainShape: train.shapeDescription,
                                               test: test.imagePath, testShape: test.shapeDescription)
        }
        let k = classes ?? LabelRules.inferClasses([train, test])
        return DataSplit(train: try train.dataset(name: name + "/train", classes: k),
                         test: try test.dataset(name: name + "/test", classes: k))
    }
}

/// Class-count inference and label validation shared by the loaders.
enum LabelRules {
    /// The largest class count inferred from labels; a larger label is reported as out of range.
    static let maxClasses = 1 << 16

    /// `max(label) + 1` over all sets, at least 2 and at most `maxClasses`.
    static func inferClasses(_ sets: [RawSet]) -> Int {
        let top = sets.lazy.compactMap { $0.labels.max() }.max() ?? 0
        return Int(min(max(top + 1, 2), Int64(maxClasses)))
    }

    /// Throws for the first label outside `0..<classes`.
    static func check(_ labels: [Int64], path: String, classes: Int) throws {
        let limit = Int64(classes)
        if let i = labels.firstIndex(where: { $0 < 0 || $0 >= limit }) {
            throw DataError.labelOutOfRange(path: path, index: i, label: labels[i], classes: classes)
        }
    }
}
