import Foundation
import Testing
import TestSupport
import Storage
@testable import Trainer
import Metrics

// MARK: - Fixtures

/// A fresh temporary directory, removed when the value is deinitialised.
private final class TempDir {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "sieve-data-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `bytes` to `name` (creating subdirectories) and returns the full path.
    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let full = path + "/" + name
        let dir = (full as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: full))
        return full
    }

    /// Replaces `name` with `name.gz` using the system gzip.
    @discardableResult
    func gzip(_ name: String) throws -> String {
        let gzip = FileManager.default.fileExists(atPath: "/bin/gzip") ? "/bin/gzip" : "/usr/bin/gzip"
        let r = try Subprocess.run(gzip, ["-n", "-f", path + "/" + name])
        #expect(r.status == 0, "gzip: \(r.termination) \(r.stderr)")
        return path + "/" + name + ".gz"
    }
}

private func bigEndian(_ v: UInt32) -> [UInt8] {
    [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
}

private func idxImages(_ images: [[UInt8]], rows: Int, cols: Int) -> [UInt8] {
    bigEndian(0x803) + bigEndian(UInt32(images.count)) + bigEndian(UInt32(rows)) + bigEndian(UInt32(cols))
        + images.flatMap { $0 }
}

private func idxLabels(_ labels: [UInt8]) -> [UInt8] {
    bigEndian(0x801) + bigEndian(UInt32(labels.count)) + labels
}

/// An image whose bytes are `seed, seed+1, ...` (mod 256), so every position is distinct.
private func ramp(_ seed: Int, _ count: Int) -> [UInt8] {
    (0..<count).map { UInt8((seed + $0) & 0xff) }
}

/// An NPY file written the way NumPy does (independently of Metrics' `NPYFormat`).
private func npy(descr: String, shape: [Int], fortran: Bool = false, version: UInt8 = 1, data: [UInt8]) -> [UInt8] {
    let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    var dict = Array("{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(dims), }".utf8)
    let fixed = version == 1 ? 10 : 12
    while (fixed + dict.count + 1) % 64 != 0 { dict.append(0x20) }
    dict.append(0x0a)
    var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [version, 0]
    out += version == 1 ? [UInt8(dict.count & 0xff), UInt8(dict.count >> 8)]
                        : [UInt8(dict.count & 0xff), UInt8(dict.count >> 8), 0, 0]
    return out + dict + data
}

private func littleEndian<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
}

private func float32Bytes(_ values: [Float]) -> [UInt8] { littleEndian(values.map(\.bitPattern)) }

/// The error `body` throws, or nil.
private func dataError(_ body: () throws -> Any) -> DataError? {
    do { _ = try body(); return nil } catch let e as DataError { return e } catch { return nil }
}

/// `[channels, height, width]`.
private func shape(_ d: Dataset) -> [Int] { [d.channels, d.height, d.width] }

private func bytes(_ pixels: Pixels) -> [UInt8] {
    if case .uint8(let a) = pixels { return a }
    Issue.record("expected uint8 pixels")
    return []
}

private func floats(_ pixels: Pixels) -> [Float] {
    if case .float32(let a) = pixels { return a }
    Issue.record("expected float32 pixels")
    return []
}

/// Train: 3 images of 2x3, labels 0, 9, 4. Test: 2 images, labels 3, 1 (5 distinct labels,
/// so they need `classes: 10`).
private func writeIDX(_ dir: TempDir, gzip: Bool) throws {
    let files = [
        ("train-images-idx3-ubyte", idxImages([ramp(0, 6), ramp(10, 6), ramp(250, 6)], rows: 2, cols: 3)),
        ("train-labels-idx1-ubyte", idxLabels([0, 9, 4])),
        ("t10k-images-idx3-ubyte", idxImages([ramp(100, 6), ramp(200, 6)], rows: 2, cols: 3)),
        ("t10k-labels-idx1-ubyte", idxLabels([3, 1])),
    ]
    for (name, content) in files {
        try dir.write(name, content)
        if gzip { try dir.gzip(name) }
    }
}

// MARK: - IDX

@Suite struct DataTests {
    @Test(arguments: [false, true])
    func idxDirectoryLoads(gzipped: Bool) throws {
        let dir = try TempDir()
        try writeIDX(dir, gzip: gzipped)
        let split = try DataSource.load(dir.path, classes: 10)
        #expect(split.train.name == dir.path + "/train")
        #expect(split.test.name == dir.path + "/test")
        #expect(shape(split.train) == [1, 2, 3])
        #expect(split.train.classes == 10)
        #expect(split.test.classes == 10)
        #expect(split.train.labels == [0, 9, 4])
        #expect(split.test.labels == [3, 1])
        #expect(bytes(split.train.pixels) == ramp(0, 6) + ramp(10, 6) + ramp(250, 6))
        #expect(bytes(split.test.pixels) == ramp(100, 6) + ramp(200, 6))
    }

    @Test func idxDottedNamesAndTrailingSlash() throws {
        let dir = try TempDir()
        try dir.write("train-images.idx3-ubyte", idxImages([ramp(1, 4), ramp(2, 4)], rows: 2, cols: 2))
        try dir.write("train-labels.idx1-ubyte", idxLabels([1, 0]))
        try dir.write("t10k-images.idx3-ubyte", idxImages([ramp(3, 4)], rows: 2, cols: 2))
        try dir.write("t10k-labels.idx1-ubyte", idxLabels([1]))
        let split = try DataSource.load(dir.path + "/")
        #expect(split.train.name == dir.path + "/train")
        #expect(split.train.classes == 2)
        #expect(split.test.count == 1)
    }

    @Test func idxLabelOutOfRange() throws {
        let dir = try TempDir()
        let images = try dir.write("i", idxImages([ramp(0, 4), ramp(0, 4), ramp(0, 4)], rows: 2, cols: 2))
        let labels = try dir.write("l", idxLabels([1, 12, 3]))
        #expect(throws: DataError.labelOutOfRange(path: labels, index: 1, label: 12, classes: 10)) {
            try IDX.load(images: images, labels: labels, name: "x", classes: 10)
        }
        // Inferred: 3 distinct labels, so 12 is out of range; the message says how to fix it.
        let inferred = DataError.labelOutOfRange(path: labels, index: 1, label: 12, classes: 3)
        #expect(throws: inferred) { try IDX.load(images: images, labels: labels, name: "x") }
        #expect(inferred.description.contains("--classes"))
        #expect(try IDX.load(images: images, labels: labels, name: "x", classes: 13).classes == 13)
        let dense = try dir.write("d", idxLabels([1, 0, 2]))
        #expect(try IDX.load(images: images, labels: dense, name: "x").classes == 3)
    }

    @Test func idxTruncatedAndTrailing() throws {
        let dir = try TempDir()
        let full = idxImages([ramp(0, 6), ramp(6, 6)], rows: 2, cols: 3)
        let cut = try dir.write("cut", Array(full.dropLast()))
        #expect(throws: DataError.sizeMismatch(path: cut, expectedBytes: 28, actualBytes: 27)) {
            try IDX.readImages(cut)
        }
        let long = try dir.write("long", full + [7])
        #expect(throws: DataError.sizeMismatch(path: long, expectedBytes: 28, actualBytes: 29)) {
            try IDX.readImages(long)
        }
        let stub = try dir.write("stub", [0, 0, 8, 3, 0, 0])
        #expect(throws: DataError.sizeMismatch(path: stub, expectedBytes: 16, actualBytes: 6)) {
            try IDX.readImages(stub)
        }
        let message = DataError.sizeMismatch(path: cut, expectedBytes: 28, actualBytes: 27).description
        #expect(message.contains("truncated") && message.contains(cut) && !message.contains("\n"))
    }

    @Test func idxBadMagic() throws {
        let dir = try TempDir()
        let labels = try dir.write("labels", idxLabels([1, 2]))
        #expect(throws: DataError.badMagic(path: labels, expected: "0x00000803 (IDX images)", found: "0x00000801")) {
            try IDX.readImages(labels)
        }
        let junk = try dir.write("junk", Array("GIF89a and more bytes".utf8))
        #expect(dataError { try IDX.readLabels(junk) }.map { if case .badMagic = $0 { true } else { false } } == true)
        let floats = try dir.write("floats", [0, 0, 0x0d, 1] + bigEndian(1) + [0, 0, 0, 0])
        #expect(dataError { try IDX.readLabels(floats) }.map { if case .unsupported = $0 { true } else { false } } == true)
    }

    @Test func idxCountsMustAgree() throws {
        let dir = try TempDir()
        let images = try dir.write("i", idxImages([ramp(0, 4), ramp(0, 4)], rows: 2, cols: 2))
        let labels = try dir.write("l", idxLabels([1, 2, 3]))
        #expect(throws: DataError.inconsistentCounts(images: images, imageCount: 2, labels: labels, labelCount: 3)) {
            try IDX.load(images: images, labels: labels, name: "x")
        }
    }

    @Test func truncatedGzipIsAnError() throws {
        let dir = try TempDir()
        try dir.write("big", (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7919 >> 3) })
        let gz = try dir.gzip("big")
        let whole = try #require(FileManager.default.contents(atPath: gz))
        let cut = try dir.write("cut.gz", Array(whole.prefix(whole.count / 2)))
        let error = dataError { try BinaryFile.read(cut) }
        #expect(error.map { if case .readFailed = $0 { true } else { false } } == true, "\(String(describing: error))")
        #expect(try BinaryFile.read(gz).count == 100_000)
    }

    @Test func binaryFileHelpers() throws {
        let dir = try TempDir()
        let file = try dir.write("f", [1, 2, 3])
        #expect(BinaryFile.fileExists(file))
        #expect(!BinaryFile.isDirectory(file))
        #expect(BinaryFile.isDirectory(dir.path))
        #expect(!BinaryFile.fileExists(dir.path))
        #expect(!BinaryFile.fileExists(dir.path + "/nope"))
        #expect(try BinaryFile.read(file) == [1, 2, 3])
        #expect(try BinaryFile.read(try dir.write("empty", [])) == [])
        #expect(throws: DataError.missingFile(path: dir.path + "/nope", hint: "check the path")) {
            try BinaryFile.read(dir.path + "/nope")
        }
    }

    // MARK: - CIFAR

    /// A CIFAR record whose plane `c` holds `(seed + 3 * c + i) mod 256` at pixel i.
    private func cifarImage(_ seed: Int) -> [UInt8] {
        (0..<3).flatMap { c in (0..<1024).map { UInt8((seed + 3 * c + $0) & 0xff) } }
    }

    /// Small CIFAR files: the loaders' record counts (10,000 per file) are lowered to these.
    private let twoPerFile = CIFAR.RecordCounts(trainPerFile: 2, test: 2)

    @Test func cifar10InSubdirectory() throws {
        let dir = try TempDir()
        for b in 1...5 {
            let records = (0..<2).flatMap { r in [UInt8((b + r) % 10)] + cifarImage(b * 10 + r) }
            try dir.write("cifar-10-batches-bin/data_batch_\(b).bin", records)
        }
        try dir.write("cifar-10-batches-bin/test_batch.bin", [7] + cifarImage(99) + [0] + cifarImage(98))
        try dir.gzip("cifar-10-batches-bin/data_batch_3.bin")
        let split = try CIFAR.loadCIFAR10(directory: dir.path, name: nil, classes: nil, records: twoPerFile)
        #expect(split.train.count == 10)
        #expect(split.train.classes == 10)
        #expect(shape(split.train) == [3, 32, 32])
        let expectedLabels = (1...5).flatMap { b in (0..<2).map { Int32((b + $0) % 10) } }
        #expect(split.train.labels == expectedLabels)
        let px = bytes(split.train.pixels)
        let expectedPixels = (1...5).flatMap { b in (0..<2).flatMap { cifarImage(b * 10 + $0) } }
        #expect(px == expectedPixels)
        // Example 2 is data_batch_2's first record (seed 20): green plane starts at 23.
        #expect(px[2 * 3072 + 1024] == 23)
        #expect(split.test.labels == [7, 0])
        #expect(bytes(split.test.pixels) == cifarImage(99) + cifarImage(98))
    }

    @Test func cifar10Errors() throws {
        let dir = try TempDir()
        let one = CIFAR.RecordCounts(trainPerFile: 1, test: 1)
        for b in 1...5 { try dir.write("data_batch_\(b).bin", [1] + cifarImage(b)) }
        try dir.write("test_batch.bin", [10] + cifarImage(0))
        #expect(throws: DataError.labelOutOfRange(path: dir.path + "/test_batch.bin", index: 0, label: 10, classes: 10)) {
            try CIFAR.loadCIFAR10(directory: dir.path, name: nil, classes: nil, records: one)
        }
        try dir.write("test_batch.bin", [1] + cifarImage(0) + [2, 3])
        #expect(throws: DataError.sizeMismatch(path: dir.path + "/test_batch.bin", expectedBytes: 3073, actualBytes: 3075)) {
            try CIFAR.loadCIFAR10(directory: dir.path, name: nil, classes: nil, records: one)
        }
        #expect(throws: DataError.notWholeRecords(path: dir.path + "/test_batch.bin", recordSize: 3073, actualBytes: 3075)) {
            try CIFAR.readBatch(dir.path + "/test_batch.bin", variant: .cifar10)
        }
        try FileManager.default.removeItem(atPath: dir.path + "/data_batch_4.bin")
        let error = try #require(dataError { try CIFAR.loadCIFAR10(directory: dir.path, name: nil, classes: nil, records: one) })
        guard case .missingFile(let path, _) = error else { Issue.record("\(error)"); return }
        #expect(path == dir.path + "/data_batch_4.bin")
    }

    @Test func cifar100UsesFineLabels() throws {
        let dir = try TempDir()
        let records = CIFAR.RecordCounts(trainPerFile: 2, test: 1)
        try dir.write("train.bin", [19, 99] + cifarImage(1) + [0, 42] + cifarImage(2))
        try dir.write("test.bin", [5, 7] + cifarImage(3))
        let split = try CIFAR.loadCIFAR100(directory: dir.path, name: nil, classes: nil, records: records)
        #expect(split.train.classes == 100)
        #expect(split.train.labels == [99, 42])
        #expect(split.test.labels == [7])
        #expect(bytes(split.train.pixels) == cifarImage(1) + cifarImage(2))
        try dir.write("test.bin", [5, 100] + cifarImage(3))
        #expect(throws: DataError.labelOutOfRange(path: dir.path + "/test.bin", index: 0, label: 100, classes: 100)) {
            try CIFAR.loadCIFAR100(directory: dir.path, name: nil, classes: nil, records: records)
        }
        try dir.write("test.bin", [5, 7] + cifarImage(3) + [5])
        #expect(throws: DataError.sizeMismatch(path: dir.path + "/test.bin", expectedBytes: 3074, actualBytes: 3075)) {
            try CIFAR.loadCIFAR100(directory: dir.path, name: nil, classes: nil, records: records)
        }
        #expect(throws: DataError.notWholeRecords(path: dir.path + "/test.bin", recordSize: 3074, actualBytes: 3075)) {
            try CIFAR.readBatch(dir.path + "/test.bin", variant: .cifar100)
        }
    }

    @Test func cifar100BinarySubdirectory() throws {
        let dir = try TempDir()
        try dir.write("cifar-100-binary/train.bin", [1, 2] + cifarImage(1))
        try dir.write("cifar-100-binary/test.bin", [3, 4] + cifarImage(2))
        let split = try CIFAR.loadCIFAR100(directory: dir.path, name: "c100", classes: nil,
                                           records: CIFAR.RecordCounts(trainPerFile: 1, test: 1))
        #expect(split.train.name == "c100/train")
        #expect(split.test.labels == [4])
    }

    // MARK: - NPY

    @Test func npyUint8HWCBecomesCHW() throws {
        let dir = try TempDir()
        // 2 images, 2x3 pixels, 3 channels; value = 100*example + 10*channel + pixel.
        func hwc(_ e: Int) -> [UInt8] { (0..<6).flatMap { p in (0..<3).map { c in UInt8(100 * e + 10 * c + p) } } }
        func chw(_ e: Int) -> [UInt8] { (0..<3).flatMap { c in (0..<6).map { p in UInt8(100 * e + 10 * c + p) } } }
        try dir.write("train_images.npy", npy(descr: "|u1", shape: [2, 2, 3, 3], data: hwc(0) + hwc(1)))
        try dir.write("train_labels.npy", npy(descr: "<i8", shape: [2], data: littleEndian([Int64(4), 1])))
        try dir.write("test_images.npy", npy(descr: "|u1", shape: [1, 2, 3, 3], data: hwc(2)))
        try dir.write("test_labels.npy", npy(descr: "<i8", shape: [1], data: littleEndian([Int64(0)])))
        // Labels 4, 1, 0: three distinct labels, so the five classes must be given.
        #expect(throws: DataError.labelOutOfRange(path: dir.path + "/train_labels.npy", index: 0, label: 4, classes: 3)) {
            try DataSource.load(dir.path)
        }
        let split = try DataSource.load(dir.path, classes: 5)
        #expect(shape(split.train) == [3, 2, 3])
        #expect(bytes(split.train.pixels) == chw(0) + chw(1))
        #expect(bytes(split.test.pixels) == chw(2))
        #expect(split.train.labels == [4, 1])
        #expect(split.train.classes == 5)
        #expect(split.test.classes == 5)
    }

    @Test func npyFloat32NCHWAndInt32Labels() throws {
        let dir = try TempDir()
        let values: [Float] = (0..<24).map { Float($0) * 0.25 - 1 }
        let images = try dir.write("imgs.npy", npy(descr: "<f4", shape: [2, 3, 2, 2], version: 2, data: float32Bytes(values)))
        let labels = try dir.write("labs.npy", npy(descr: "<i4", shape: [2, 1], data: littleEndian([Int32(2), 0])))
        let set = try NPY.load(images: images, labels: labels, name: "f", classes: 3)
        #expect(shape(set) == [3, 2, 2])
        #expect(floats(set.pixels) == values)
        #expect(set.labels == [2, 0])
        #expect(set.classes == 3)
    }

    @Test func npyOneChannelShapes() throws {
        let dir = try TempDir()
        let labels = try dir.write("l.npy", npy(descr: "|u1", shape: [2], data: [0, 1]))
        let nhw = try dir.write("a.npy", npy(descr: "|u1", shape: [2, 2, 2], data: ramp(0, 8)))
        let nhwc = try dir.write("b.npy", npy(descr: "|u1", shape: [2, 2, 2, 1], data: ramp(0, 8)))
        let nchw = try dir.write("c.npy", npy(descr: "|u1", shape: [2, 1, 2, 2], data: ramp(0, 8)))
        for path in [nhw, nhwc, nchw] {
            let set = try NPY.load(images: path, labels: labels, name: "x")
            #expect(shape(set) == [1, 2, 2])
            #expect(bytes(set.pixels) == ramp(0, 8))
        }
        let odd = try dir.write("d.npy", npy(descr: "|u1", shape: [2, 2, 2, 2], data: ramp(0, 16)))
        #expect(dataError { try NPY.readImages(odd) }.map { if case .unsupported = $0 { true } else { false } } == true)
    }

    @Test func npyErrors() throws {
        let dir = try TempDir()
        let labels = try dir.write("l.npy", npy(descr: "<i8", shape: [2], data: littleEndian([Int64(0), -1])))
        let images = try dir.write("i.npy", npy(descr: "|u1", shape: [2, 2, 2], data: ramp(0, 8)))
        #expect(throws: DataError.labelOutOfRange(path: labels, index: 1, label: -1, classes: 2)) {
            try NPY.load(images: images, labels: labels, name: "x")
        }
        let nan = try dir.write("nan.npy", npy(descr: "<f4", shape: [1, 1, 2], data: float32Bytes([1, .nan])))
        let error = dataError { try NPY.readImages(nan) }
        guard case .nonFinite(let path, let index, _)? = error else { Issue.record("\(String(describing: error))"); return }
        #expect(path == nan && index == 1)
        let inf = try dir.write("inf.npy", npy(descr: "<f4", shape: [1, 1, 2], data: float32Bytes([-.infinity, 0])))
        #expect(throws: DataError.nonFinite(path: inf, index: 0, value: -.infinity)) { try NPY.readImages(inf) }
        let f8 = try dir.write("f8.npy", npy(descr: "<f8", shape: [1, 1, 1], data: [UInt8](repeating: 0, count: 8)))
        #expect(dataError { try NPY.readImages(f8) }.map { if case .unsupported = $0 { true } else { false } } == true)
        let fortran = try dir.write("fo.npy", npy(descr: "|u1", shape: [1, 2, 2], fortran: true, data: ramp(0, 4)))
        #expect(dataError { try NPY.readImages(fortran) }.map { if case .unsupported = $0 { true } else { false } } == true)
        let short = try dir.write("short.npy", npy(descr: "|u1", shape: [2, 2, 2], data: ramp(0, 7)))
        #expect(throws: DataError.sizeMismatch(path: short, expectedBytes: 128 + 8, actualBytes: 128 + 7)) {
            try NPY.readImages(short)
        }
        let notNPY = try dir.write("x.npy", Array("PK\u{3}\u{4} this is a zip archive".utf8))
        #expect(dataError { try NPY.readImages(notNPY) }.map { if case .badMagic = $0 { true } else { false } } == true)
        let floatLabels = try dir.write("fl.npy", npy(descr: "<f4", shape: [2], data: float32Bytes([0, 1])))
        #expect(dataError { try NPY.readLabels(floatLabels) }.map { if case .unsupported = $0 { true } else { false } } == true)
    }

    @Test func npyTrainAndTestMustMatch() throws {
        let dir = try TempDir()
        try dir.write("train_images.npy", npy(descr: "|u1", shape: [1, 2, 2], data: ramp(0, 4)))
        try dir.write("train_labels.npy", npy(descr: "|u1", shape: [1], data: [0]))
        try dir.write("test_images.npy", npy(descr: "|u1", shape: [1, 3, 3], data: ramp(0, 9)))
        try dir.write("test_labels.npy", npy(descr: "|u1", shape: [1], data: [1]))
        #expect(throws: DataError.inconsistentShapes(train: dir.path + "/train_images.npy", trainShape: "1x2x2 uint8",
                                                    test: dir.path + "/test_images.npy", testShape: "1x3x3 uint8")) {
            try DataSource.load(dir.path)
        }
        try FileManager.default.removeItem(atPath: dir.path + "/test_labels.npy")
        let error = try #require(dataError { try DataSource.load(dir.path) })
        guard case .missingFile(let path, _) = error else { Issue.record("\(error)"); return }
        #expect(path == dir.path + "/test_labels.npy")
    }

    @Test func npyHeaderParsesAndEncodes() throws {
        let numpyStyle = npy(descr: "<f4", shape: [3, 4], data: [])
        let (header, offset) = try NPYHeader.parse(numpyStyle, path: "h")
        #expect(header == NPYHeader(descr: "<f4", fortranOrder: false, shape: [3, 4]))
        #expect(offset == 128)
        #expect(header.elementCount == 12)
        // Sieve's writer (Metrics) produces numpy's bytes, and this reader reads them back.
        #expect(NPYFormat.header(descr: "'<f4'", shape: [3, 4]) == numpyStyle)
        #expect(String(decoding: NPYFormat.header(descr: "'<i8'", shape: [7]), as: UTF8.self)
            .contains("{'descr': '<i8', 'fortran_order': False, 'shape': (7,), }"))
        let scalar = NPYHeader(descr: "|u1", shape: [])
        #expect(try NPYHeader.parse(NPYFormat.header(descr: "'|u1'", shape: []), path: "s").header == scalar)
        let v3 = npy(descr: "<i4", shape: [5, 1], version: 3, data: [])
        #expect(try NPYHeader.parse(v3, path: "v3").header.shape == [5, 1])
        // Python 2 era headers: double quotes, long suffixes, no trailing comma.
        let text = Array("{\"descr\": \"|u1\", \"shape\": (2L, 3L), \"fortran_order\": False}\n".utf8)
        let old: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(text.count), 0] + text
        #expect(try NPYHeader.parse(old, path: "o").header.shape == [2, 3])
        let broken = Array("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,), }\n".utf8)
        let bad: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(broken.count), 0] + broken
        #expect(dataError { try NPYHeader.parse(bad, path: "b") }.map { if case .badHeader = $0 { true } else { false } } == true)
        let structured = Array("{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (1,), }\n".utf8)
        let st: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(structured.count), 0] + structured
        #expect(dataError { try NPYHeader.parse(st, path: "st") }.map { if case .unsupported = $0 { true } else { false } } == true)
    }

    /// The bytes `numpy.save` (2.x) writes for `np.arange(12, dtype=np.float32).reshape(3, 2, 2)`:
    /// its header carries extra spaces so the shape can grow in place.
    @Test func numpyWrittenFileReads() throws {
        let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2, 2), }" + String(repeating: " ", count: 55) + "\n"
        let file: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, 0x76, 0] + Array(dict.utf8)
            + float32Bytes((0..<12).map(Float.init))
        #expect(file.count == 176)
        let dir = try TempDir()
        let path = try dir.write("a.npy", file)
        let (header, offset) = try NPYHeader.parse(file, path: path)
        #expect(header.shape == [3, 2, 2] && offset == 128)
        let labels = try dir.write("l.npy", npy(descr: "<u4", shape: [3], data: littleEndian([UInt32(0), 1, 2])))
        let set = try NPY.load(images: path, labels: labels, name: "a")
        #expect(shape(set) == [1, 2, 2])
        #expect(floats(set.pixels) == (0..<12).map(Float.init))
        #expect(set.labels == [0, 1, 2])
    }

    // MARK: - DataSource

    @Test func missingAndUnknownPaths() throws {
        let dir = try TempDir()
        let gone = dir.path + "/does-not-exist"
        let error = try #require(dataError { try DataSource.load(gone) })
        guard case .missingFile(let path, _) = error else { Issue.record("\(error)"); return }
        #expect(path == gone)
        let empty = try #require(dataError { try DataSource.load(dir.path) })
        guard case .notADataSet(_, let looked) = empty else { Issue.record("\(empty)"); return }
        #expect(looked.contains("train_images.npy") && looked.contains("test_batch.bin") && looked.contains("train.bin"))
        #expect(looked.contains("train-images-idx3-ubyte[.gz]"))
        let file = try dir.write("file.bin", [1])
        #expect(dataError { try DataSource.load(file) }.map { if case .unsupported = $0 { true } else { false } } == true)
        for e in [error, empty] { #expect(!e.description.contains("\n")) }
    }

    @Test func detectPrefersCompleteLayout() throws {
        let dir = try TempDir()
        try dir.write("train.bin", [0, 0] + cifarImage(0))
        try dir.write("test.bin", [0, 0] + cifarImage(0))
        try dir.write("train_images.npy", [])
        #expect(DataSource.detect(dir.path)?.format == .cifar100)
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")))
    func realFashionMNIST() throws {
        let split = try DataSource.load("fashion-mnist")
        #expect(split.train.name == "fashion-mnist/train")
        #expect(split.test.name == "fashion-mnist/test")
        #expect(split.train.count == 60000)
        #expect(split.test.count == 10000)
        for set in [split.train, split.test] {
            #expect(shape(set) == [1, 28, 28])
            #expect(set.classes == 10)
            #expect(set.pixels.count == set.count * 784)
            var histogram = [Int](repeating: 0, count: 10)
            for label in set.labels { histogram[Int(label)] += 1 }
            #expect(histogram == [Int](repeating: set.count / 10, count: 10))
        }
    }
}
