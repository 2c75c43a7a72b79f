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
    /// torchvision's ImageFolder: `<class>/<image>.png|.jpg|.jpeg`, or `train/<class>/...`
    /// with an optional `test/<class>/...` (or `val/`). See `ImageFolder`.
    case imageFolder = "image-folder"
}

/// Turns a data set specification into a training and test set.
public enum DataSource {
    /// Where Debian's `dataset-fashion-mnist` package installs Fashion-MNIST.
    public static let fashionMNISTDirectory = "/usr/share/datasets/fashion-mnist"
    /// Where `mnist` is looked for (the same IDX layout as Fashion-MNIST).
    public static let mnistDirectory = "/usr/share/datasets/mnist"

    /// Loads a data set.
    ///
    /// - Parameters:
    ///   - spec: `fashion-mnist` (Debian's copy in `fashionMNISTDirectory`), `mnist`
    ///     (IDX files in `mnistDirectory`), or the path of a directory holding IDX files,
    ///     CIFAR-10 or CIFAR-100 binaries, the four NPY files, or ImageFolder class folders of
    ///     PNG/JPEG images (see `DataFormat`). The names win over a directory of the same
    ///     name; write `./mnist` to mean the directory.
    ///   - classes: the number of classes (`--classes`), 2 to `LabelRules.maxClasses`. When
    ///     nil, it is the data set's own where the format declares it (Fashion-MNIST, MNIST
    ///     and CIFAR-10: 10; CIFAR-100: 100; ImageFolder: its class folders), else the number
    ///     of distinct labels in the training and test sets together (at least 2). Given, it
    ///     overrides both (for ImageFolder it must be at least the number of class folders).
    ///     Either way every label must lie in `0..<classes`: a stray label (one 200 among
    ///     labels 0...9) is an error, never a model with more outputs.
    ///   - resize: bring every image to one size (`--resize`): an ImageFolder's as each is
    ///     decoded (mixed sizes allowed), other 8-bit layouts after loading.
    /// - Throws: `DataError` naming the file at fault and what to do about it
    ///   (`labelOutOfRange` names the file, the example and the label).
    public static func load(_ spec: String, classes: Int? = nil, resize: ImageResize? = nil) throws -> DataSplit {
        if let classes { try LabelRules.validate(classes: classes, spec: spec) }
        switch spec {
        case "fashion-mnist":
            return try named("fashion-mnist", directory: fashionMNISTDirectory, classes: classes,
                             hint: "install it with `sudo apt-get install dataset-fashion-mnist`").resized(resize)
        case "mnist":
            return try named("mnist", directory: mnistDirectory, classes: classes,
                             hint: "put the four MNIST IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                                 + "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) there, or pass their directory").resized(resize)
        default:
            return try directory(spec, classes: classes, resize: resize)
        }
    }

    /// The folder ``load(_:classes:resize:)`` reads for `spec`: a named data set's
    /// directory, else `spec` itself.
    public static func folder(of spec: String) -> String {
        switch spec {
        case "fashion-mnist": fashionMNISTDirectory
        case "mnist": mnistDirectory
        default: spec
        }
    }

    /// Which layout `directory` holds and the directory its files are in (CIFAR files may
    /// sit one level down). A layout with all its files wins over ImageFolder class
    /// folders, which win over a layout with only some of its files.
    public static func detect(_ directory: String) -> (format: DataFormat, root: String)? {
        var partial: (format: DataFormat, root: String)?
        for format in DataFormat.allCases where format != .imageFolder {
            for root in roots(format, directory) {
                let present = alternatives(format).map { BinaryFile.find($0, in: root) != nil }
                if present.allSatisfy({ $0 }) { return (format, root) }
                if partial == nil, present.contains(true) { partial = (format, root) }
            }
        }
        if ImageFolder.detect(directory) { return (.imageFolder, directory) }
        return partial
    }

    private static func named(_ name: String, directory: String, classes: Int?, hint: String) throws -> DataSplit {
        guard BinaryFile.isDirectory(directory) else { throw DataError.missingFile(path: directory, hint: hint) }
        var split = try IDX.loadSplit(directory: directory, name: name, classes: classes ?? 10, missingHint: hint)
        if name == "fashion-mnist", split.train.classes == 10 {
            split.train.classNames = fashionMNISTClasses
            split.test.classNames = fashionMNISTClasses
        }
        return split
    }

    /// Fashion-MNIST's class names, by label.
    public static let fashionMNISTClasses = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                             "Sneaker", "Bag", "Ankle boot"]

    private static func directory(_ path: String, classes: Int?, resize: ImageResize?) throws -> DataSplit {
        let usage = "pass fashion-mnist, mnist, or a directory holding IDX, CIFAR-10/100 or NPY files or ImageFolder class folders"
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
                + ["ImageFolder class folders (CLASS/IMAGE.png|jpg|jpeg or train/CLASS/IMAGE...)"]
            throw DataError.notADataSet(path: path, lookedFor: looked)
        }
        let hint = "the \(format.rawValue) layout needs \(markers(format).joined(separator: ", "))"
        switch format {
        // An ImageFolder is resized as each image is decoded; the others after loading.
        case .idx: return try IDX.loadSplit(directory: root, name: name, classes: classes, missingHint: hint).resized(resize)
        case .cifar10: return try CIFAR.loadCIFAR10(directory: root, name: name, classes: classes).resized(resize)
        case .cifar100: return try CIFAR.loadCIFAR100(directory: root, name: name, classes: classes).resized(resize)
        case .npy: return try NPY.loadSplit(directory: root, name: name, classes: classes, missingHint: hint).resized(resize)
        case .imageFolder: return try ImageFolder.loadSplit(directory: root, name: name, classes: classes, resize: resize)
        }
    }

    /// File names that identify a layout (without `.gz`; `BinaryFile.find` tries it too).
    private static func markers(_ format: DataFormat) -> [String] {
        switch format {
        case .idx: [IDX.trainImageNames[0], IDX.trainLabelNames[0], IDX.testImageNames[0], IDX.testLabelNames[0]]
        case .cifar10: CIFAR.cifar10TrainFiles + [CIFAR.cifar10TestFile]
        case .cifar100: [CIFAR.cifar100TrainFile, CIFAR.cifar100TestFile]
        case .npy: NPY.splitFiles
        case .imageFolder: []
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
        case .idx, .npy, .imageFolder: [directory]
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
    /// Where each label file's examples start when the set spans several files (CIFAR-10's
    /// five training batches); empty for one file, `labelPath`.
    var labelFiles: [(path: String, first: Int)] = []

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
        try LabelRules.check(labels, files: labelFiles.isEmpty ? [(labelPath, 0)] : labelFiles, classes: classes)
        return Dataset(name: name, channels: channels, height: height, width: width, classes: classes,
                       pixels: pixels, labels: labels.map { Int32(truncatingIfNeeded: $0) })
    }

    /// A split named `name/train` and `name/test`; the sets must agree in shape and
    /// element type. With `classes` nil, it is the number of distinct labels in both sets.
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
public enum LabelRules {
    /// The largest class count Sieve accepts (given or inferred).
    public static let maxClasses = 1 << 16

    /// Throws unless `classes` lies in `2...maxClasses`; `spec` names the data set in the error.
    static func validate(classes: Int, spec: String) throws {
        guard classes >= 2, classes <= maxClasses else {
            throw DataError.unsupported(path: spec.isEmpty ? "\"\"" : spec, what: "class count \(classes) (--classes)",
                                        hint: "a classifier needs 2 to \(maxClasses) classes")
        }
    }

    /// The number of distinct labels over all sets, at least 2 and at most `maxClasses`.
    /// Labels that are class indices `0..<K` with every class present give K; a stray
    /// label (200 among 0...9) gives a count it exceeds, so `check` reports it.
    static func inferClasses(_ sets: [RawSet]) -> Int {
        var seen = [Bool](repeating: false, count: maxClasses)
        var distinct = 0
        var others = Set<Int64>()
        for set in sets {
            for label in set.labels {
                if label >= 0, label < Int64(maxClasses) {
                    if !seen[Int(label)] { seen[Int(label)] = true; distinct += 1 }
                } else if others.count < maxClasses {
                    others.insert(label)
                }
            }
        }
        return min(max(distinct + others.count, 2), maxClasses)
    }

    /// Throws for the first label outside `0..<classes`, naming the file that holds it
    /// and its position there (`files`: each file's path and first example, ascending).
    static func check(_ labels: [Int64], files: [(path: String, first: Int)], classes: Int) throws {
        let limit = Int64(classes)
        if let i = labels.firstIndex(where: { $0 < 0 || $0 >= limit }) {
            let file = files.last { $0.first <= i } ?? files[0]
            throw DataError.labelOutOfRange(path: file.path, index: i - file.first, label: labels[i], classes: classes)
        }
    }
}
