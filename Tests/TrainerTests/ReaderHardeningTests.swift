import Foundation
import Testing
@testable import Trainer

// Issue 13: the data readers never return a silently wrong data set and never crash,
// whatever the input. Fuzz findings (Fuzz/, scripts/fuzz.sh) become tests here.

/// A fresh temporary directory, removed when the value is deinitialised.
private final class Scratch {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "sieve-harden-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let full = path + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: full))
        return full
    }
}

private func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)] }

private func idxImages(count: Int, rows: Int = 2, cols: Int = 2) -> [UInt8] {
    be32(0x803) + be32(UInt32(count)) + be32(UInt32(rows)) + be32(UInt32(cols))
        + (0..<(count * rows * cols)).map { UInt8(truncatingIfNeeded: $0) }
}

private func idxLabels(_ labels: [UInt8]) -> [UInt8] { be32(0x801) + be32(UInt32(labels.count)) + labels }

/// An NPY version 1.0 file (header padded to 64 bytes like numpy's).
private func npy(descr: String, shape: [Int], data: [UInt8]) -> [UInt8] {
    let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    var dict = Array("{'descr': '\(descr)', 'fortran_order': False, 'shape': \(dims), }".utf8)
    while (10 + dict.count + 1) % 64 != 0 { dict.append(0x20) }
    dict.append(0x0a)
    return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(dict.count & 0xff), UInt8(dict.count >> 8)] + dict + data
}

/// `values` as `size`-byte integers in the given byte order.
private func integers(_ values: [Int64], size: Int, bigEndian: Bool) -> [UInt8] {
    values.flatMap { v -> [UInt8] in
        let little = (0..<size).map { UInt8(truncatingIfNeeded: UInt64(bitPattern: v) >> (8 * UInt64($0))) }
        return bigEndian ? little.reversed() : little
    }
}

private func caught(_ body: () throws -> Any) -> DataError? {
    do { _ = try body(); return nil } catch let e as DataError { return e } catch { return nil }
}

/// An NPY data set directory: `n` 2x2 uint8 images per set with the given int64 labels.
private func npyDirectory(_ dir: Scratch, train: [Int64], test: [Int64]) throws {
    try dir.write("train_images.npy", npy(descr: "|u1", shape: [train.count, 2, 2], data: [UInt8](repeating: 1, count: 4 * train.count)))
    try dir.write("train_labels.npy", npy(descr: "<i8", shape: [train.count], data: integers(train, size: 8, bigEndian: false)))
    try dir.write("test_images.npy", npy(descr: "|u1", shape: [test.count, 2, 2], data: [UInt8](repeating: 2, count: 4 * test.count)))
    try dir.write("test_labels.npy", npy(descr: "<i8", shape: [test.count], data: integers(test, size: 8, bigEndian: false)))
}

@Suite struct ReaderHardeningTests {
    // MARK: labels against classes

    /// One label of 200 among labels 0...9 used to build a 201-class model.
    @Test func idxStrayLabelIsAnErrorNamingTheFile() throws {
        let dir = try Scratch()
        var train = (0..<30).map { UInt8($0 % 10) }
        train[17] = 200
        try dir.write("train-images-idx3-ubyte", idxImages(count: 30))
        let labels = try dir.write("train-labels-idx1-ubyte", idxLabels(train))
        try dir.write("t10k-images-idx3-ubyte", idxImages(count: 10))
        try dir.write("t10k-labels-idx1-ubyte", idxLabels((0..<10).map { UInt8($0) }))
        let error = try #require(caught { try DataSource.load(dir.path) })
        #expect(error == .labelOutOfRange(path: labels, index: 17, label: 200, classes: 11))
        let message = error.description
        #expect(message.hasPrefix(labels + ": label 200 of example 17 is outside 0..<11"))
        #expect(message.contains("--classes") && !message.contains("\n"))
        // --classes 201 says the data set really has 201 classes.
        #expect(try DataSource.load(dir.path, classes: 201).train.classes == 201)
        #expect(try DataSource.load(dir.path, classes: 201).test.classes == 201)
        #expect(throws: DataError.labelOutOfRange(path: labels, index: 17, label: 200, classes: 100)) {
            try DataSource.load(dir.path, classes: 100)
        }
        // Without the stray label: 10 distinct labels, 10 classes.
        train[17] = 7
        try dir.write("train-labels-idx1-ubyte", idxLabels(train))
        let split = try DataSource.load(dir.path)
        #expect(split.train.classes == 10 && split.test.classes == 10)
    }

    @Test func npyStrayLabelIsAnErrorNamingTheFile() throws {
        let dir = try Scratch()
        var train = (0..<20).map { Int64($0 % 10) }
        train[3] = 200
        try npyDirectory(dir, train: train, test: (0..<10).map { Int64($0) })
        #expect(throws: DataError.labelOutOfRange(path: dir.path + "/train_labels.npy", index: 3, label: 200, classes: 11)) {
            try DataSource.load(dir.path)
        }
        #expect(try DataSource.load(dir.path, classes: 256).train.classes == 256)
    }

    @Test func strayLabelInTheTestSetNamesTheTestFile() throws {
        let dir = try Scratch()
        try npyDirectory(dir, train: [0, 1, 2, 0, 1, 2], test: [2, 0, 5])
        #expect(throws: DataError.labelOutOfRange(path: dir.path + "/test_labels.npy", index: 2, label: 5, classes: 4)) {
            try DataSource.load(dir.path)
        }
    }

    /// Classes are the number of distinct labels: a class with no example shifts the rest.
    @Test func labelsWithAGapNeedClasses() throws {
        let dir = try Scratch()
        try npyDirectory(dir, train: [0, 1, 3, 3], test: [1])
        #expect(throws: DataError.labelOutOfRange(path: dir.path + "/train_labels.npy", index: 2, label: 3, classes: 3)) {
            try DataSource.load(dir.path)
        }
        let split = try DataSource.load(dir.path, classes: 4)
        #expect(split.train.labels == [0, 1, 3, 3] && split.train.classes == 4)
        // One distinct label still makes a two-class problem.
        try npyDirectory(dir, train: [0, 0], test: [0])
        #expect(try DataSource.load(dir.path).train.classes == 2)
    }

    @Test func negativeAndHugeLabels() throws {
        let dir = try Scratch()
        try npyDirectory(dir, train: [0, 1, -1], test: [1])
        #expect(throws: DataError.labelOutOfRange(path: dir.path + "/train_labels.npy", index: 2, label: -1, classes: 3)) {
            try DataSource.load(dir.path, classes: 3)
        }
        try npyDirectory(dir, train: [0, 1, 1 << 40], test: [1])
        #expect(throws: DataError.labelOutOfRange(path: dir.path + "/train_labels.npy", index: 2, label: 1 << 40, classes: 3)) {
            try DataSource.load(dir.path)
        }
        #expect(throws: DataError.labelOutOfRange(path: dir.path + "/train_labels.npy", index: 2, label: 1 << 40, classes: 65536)) {
            try DataSource.load(dir.path, classes: 65536)
        }
        let negative = DataError.labelOutOfRange(path: "l", index: 0, label: -1, classes: 3).description
        #expect(!negative.contains("--classes"))
    }

    @Test func classesOptionIsValidated() throws {
        let dir = try Scratch()
        try npyDirectory(dir, train: [0, 1], test: [1])
        for bad in [-1, 0, 1, LabelRules.maxClasses + 1, Int.max] {
            let error = caught { try DataSource.load(dir.path, classes: bad) }
            guard case .unsupported(let path, let what, _)? = error else { Issue.record("\(bad): \(String(describing: error))"); continue }
            #expect(path == dir.path && what.contains("\(bad)"))
        }
        #expect(try DataSource.load(dir.path, classes: 2).train.classes == 2)
    }

    /// CIFAR declares its classes: a split with only two labels in it still has 10 (or 100).
    @Test func cifarClassesAreDeclaredUnlessGiven() throws {
        let dir = try Scratch()
        let record = [UInt8](repeating: 9, count: 3072)
        for b in 1...5 { try dir.write("data_batch_\(b).bin", [1] + record) }
        try dir.write("test_batch.bin", [0] + record)
        let one = CIFAR.RecordCounts(trainPerFile: 1, test: 1)
        #expect(try CIFAR.loadCIFAR10(directory: dir.path, name: nil, classes: nil, records: one).train.classes == 10)
        #expect(try CIFAR.loadCIFAR10(directory: dir.path, name: nil, classes: 12, records: one).test.classes == 12)
        let refused = caught { try CIFAR.loadCIFAR10(directory: dir.path, name: nil, classes: 1, records: one) }
        #expect(refused.map { if case .unsupported = $0 { true } else { false } } == true)
        try dir.write("data_batch_2.bin", [5] + record)
        #expect(throws: DataError.labelOutOfRange(path: dir.path + "/data_batch_2.bin", index: 0, label: 5, classes: 3)) {
            try CIFAR.loadCIFAR10(directory: dir.path, name: nil, classes: 3, records: one)
        }
        try dir.write("train.bin", [0, 42] + record)
        try dir.write("test.bin", [0, 7] + record)
        let c100 = try CIFAR.loadCIFAR100(directory: dir.path, name: nil, classes: nil, records: one)
        #expect(c100.train.classes == 100)
        #expect(throws: DataError.labelOutOfRange(path: dir.path + "/train.bin", index: 0, label: 42, classes: 20)) {
            try CIFAR.loadCIFAR100(directory: dir.path, name: nil, classes: 20, records: one)
        }
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz")))
    func fashionMNISTWithFewerClassesIsRefused() throws {
        let error = try #require(caught { try DataSource.load("fashion-mnist", classes: 5) })
        guard case .labelOutOfRange(let path, _, let label, let classes) = error else { Issue.record("\(error)"); return }
        #expect(path.hasSuffix("train-labels-idx1-ubyte.gz") && label >= 5 && classes == 5)
    }

    // MARK: NPY label types

    @Test(arguments: ["i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8"])
    func npyLabelsOfEveryIntegerType(code: String) throws {
        let dir = try Scratch()
        let size = Int(code.dropFirst())!
        let images = try dir.write("i.npy", npy(descr: "|u1", shape: [3, 2, 2], data: [UInt8](repeating: 0, count: 12)))
        let orders = size == 1 ? ["|", "<", ">", ""] : ["<", ">", "="]
        for order in orders {
            let labels = try dir.write("l.npy", npy(descr: order + code, shape: [3],
                                                    data: integers([2, 0, 1], size: size, bigEndian: order == ">")))
            #expect(try NPY.readLabels(labels) == [2, 0, 1], "\(order)\(code)")
            let set = try NPY.load(images: images, labels: labels, name: "x")
            #expect(set.labels == [2, 0, 1] && set.classes == 3, "\(order)\(code)")
        }
        if size > 1 {
            let noOrder = try dir.write("n.npy", npy(descr: "|" + code, shape: [3], data: [UInt8](repeating: 0, count: 3 * size)))
            #expect(caught { try NPY.readLabels(noOrder) }.map { if case .unsupported = $0 { true } else { false } } == true)
        }
    }

    @Test func npyInt16LabelsWithNegativeValue() throws {
        let dir = try Scratch()
        let images = try dir.write("i.npy", npy(descr: "|u1", shape: [3, 2, 2], data: [UInt8](repeating: 0, count: 12)))
        let labels = try dir.write("l.npy", npy(descr: "<i2", shape: [3], data: integers([1, -2, 0], size: 2, bigEndian: false)))
        #expect(try NPY.readLabels(labels) == [1, -2, 0])
        #expect(throws: DataError.labelOutOfRange(path: labels, index: 1, label: -2, classes: 3)) {
            try NPY.load(images: images, labels: labels, name: "x")
        }
        let big = try dir.write("b.npy", npy(descr: ">i2", shape: [2, 1], data: integers([300, 7], size: 2, bigEndian: true)))
        #expect(try NPY.readLabels(big) == [300, 7])
    }

    @Test func npyUInt64LabelBeyondInt64() throws {
        let dir = try Scratch()
        let labels = try dir.write("l.npy", npy(descr: "<u8", shape: [2], data: integers([0, -1], size: 8, bigEndian: false)))
        let error = caught { try NPY.readLabels(labels) }
        guard case .unsupported(_, let what, _)? = error else { Issue.record("\(String(describing: error))"); return }
        #expect(what.contains("18446744073709551615") && what.contains("example 1"))
    }

    @Test func npyBigEndianFloatImages() throws {
        let dir = try Scratch()
        let values: [Float] = [0.5, -2, 3.25, 1e-3]
        let data = values.flatMap { v in withUnsafeBytes(of: v.bitPattern.bigEndian) { Array($0) } }
        let images = try dir.write("i.npy", npy(descr: ">f4", shape: [1, 2, 2], data: data))
        let read = try NPY.readImages(images)
        guard case .float32(let px) = read.pixels else { Issue.record("not float"); return }
        #expect(px == values)
    }

    // MARK: CIFAR record counts

    /// A CIFAR file of `records` records with labels `r % 10` and blank images.
    private func cifarFile(records: Int, labelBytes: Int) -> [UInt8] {
        let size = labelBytes + 3072
        var bytes = [UInt8](repeating: 0, count: records * size)
        for r in 0..<records { bytes[r * size + labelBytes - 1] = UInt8(r % 10) }
        return bytes
    }

    /// The real sizes: five training files and a test file of exactly 10,000 records each.
    /// A file cut at a record boundary used to load as a smaller data set.
    @Test func cifar10FilesMustHoldTenThousandRecords() throws {
        let dir = try Scratch()
        let full = cifarFile(records: 10_000, labelBytes: 1)
        for b in 1...5 { try dir.write("data_batch_\(b).bin", full) }
        try dir.write("test_batch.bin", full)
        let split = try DataSource.load(dir.path)
        #expect(split.train.count == 50_000 && split.test.count == 10_000 && split.train.classes == 10)
        #expect(split.train.labels[10_001] == 1)
        let cut = try dir.write("data_batch_3.bin", Array(full.prefix(9_999 * 3073)))
        #expect(throws: DataError.sizeMismatch(path: cut, expectedBytes: 30_730_000, actualBytes: 30_726_927)) {
            try DataSource.load(dir.path)
        }
        let message = DataError.sizeMismatch(path: cut, expectedBytes: 30_730_000, actualBytes: 30_726_927).description
        #expect(message.contains("truncated") && message.contains("30730000") && message.contains("30726927"))
        try dir.write("data_batch_3.bin", full)
        let long = try dir.write("test_batch.bin", full + Array(full.prefix(3073)))
        #expect(throws: DataError.sizeMismatch(path: long, expectedBytes: 30_730_000, actualBytes: 30_733_073)) {
            try DataSource.load(dir.path)
        }
    }

    @Test func cifar100TrainMustHoldFiftyThousandRecords() throws {
        let dir = try Scratch()
        let tenThousand = cifarFile(records: 10_000, labelBytes: 2)
        let train = try dir.write("train.bin", tenThousand)
        try dir.write("test.bin", tenThousand)
        #expect(throws: DataError.sizeMismatch(path: train, expectedBytes: 153_700_000, actualBytes: 30_740_000)) {
            try DataSource.load(dir.path)
        }
        #expect(throws: DataError.sizeMismatch(path: train, expectedBytes: 3074, actualBytes: 30_740_000)) {
            try CIFAR.readBatch(train, variant: .cifar100, records: 1)
        }
        #expect(try CIFAR.readBatch(train, variant: .cifar100, records: 10_000).count == 10_000)
    }

    // MARK: headers and messages

    @Test func deeplyNestedNPYHeaderIsRejected() throws {
        let text = Array(("{'descr': '|u1', 'fortran_order': False, 'shape': " + String(repeating: "(", count: 5000) + "}\n").utf8)
        let bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [2, 0] + integers([Int64(text.count)], size: 4, bigEndian: false) + text
        let error = caught { try NPYHeader.parse(bytes, path: "deep.npy") }
        guard case .badHeader(let path, let reason)? = error else { Issue.record("\(String(describing: error))"); return }
        #expect(path == "deep.npy" && reason.contains("nested"))
    }

    /// A device (or pipe) named as a data file is refused instead of read forever.
    @Test func onlyRegularFilesAreRead() {
        let error = caught { try BinaryFile.read("/dev/zero") }
        guard case .readFailed(let path, let reason)? = error else { Issue.record("\(String(describing: error))"); return }
        #expect(path == "/dev/zero" && reason.contains("not a regular file"))
    }

    @Test func messagesStayOnOneLine() throws {
        let error = DataError.badHeader(path: "a\nb.npy", reason: "unexpected 'x\r\u{2028}'")
        #expect(!error.description.contains("\n") && !error.description.contains("\r"))
        #expect(error.description.contains("a\\u{a}b.npy"))
        let dir = try Scratch()
        let path = try dir.write("t.npy", npy(descr: "<f4\n", shape: [1], data: [0, 0, 0, 0]))
        let dtype = caught { try NPY.readImages(path) }
        #expect(dtype != nil && dtype?.description.contains("\n") == false)
    }
}
