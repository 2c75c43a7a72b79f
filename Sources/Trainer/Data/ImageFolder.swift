import CJPEG
import CPNG
import Dispatch
import Glibc

/// torchvision's ImageFolder layout: PNG and JPEG files in one folder per class.
///
/// `ROOT/<class>/<image>` is a training set alone (its test set is empty);
/// `ROOT/train/<class>/<image>` is a training set, with `ROOT/test/<class>/<image>` (or
/// `ROOT/val/...` when there is no `test/`) its test set. The classes are the training
/// folder's subfolders sorted byte-wise, as torchvision sorts them; a label is a class's
/// position in that list. Test class folders must be named like training ones. Images
/// are taken in byte-wise name order within each class folder, `.png`, `.jpg` and `.jpeg`
/// in any case; hidden files and folders (names starting with `.`) are skipped, other
/// files are an error, and links are followed. A file is decoded as PNG or JPEG by its
/// signature, as PIL does: to 8-bit grayscale (1 channel) or RGB (3 channels), alpha
/// dropped, palettes expanded, 16-bit samples cut to their high byte, CMYK and YCCK
/// JPEGs converted to RGB as PIL's `convert("RGB")` does (Adobe's inverted samples). Without a
/// ``ImageResize`` every image must have the same height, width and channel count; with
/// one (`--resize`) each is scaled (and cropped) to its output size, and an image with
/// another channel count than the first is converted as PIL's `convert` does (RGB to
/// gray by ITU-R 601-2 luma, gray to RGB by copying).
public enum ImageFolder {
    /// File name extensions read as images (compared case-insensitively).
    public static let imageExtensions = ["png", "jpg", "jpeg"]
    /// The most pixels (width x height) one image may have: 2^26.
    public static let maxPixels = 1 << 26
    /// The most pixel bytes a data set (training and test sets together) may hold: 16 GiB.
    public static let maxTotalBytes = 16 << 30

    static let trainFolder = "train"
    /// The folders tried for the test set, in order.
    static let testFolders = ["test", "val"]
    static let acceptedHint = "an ImageFolder class folder holds only .png, .jpg and .jpeg images "
        + "(any case; names starting with . are skipped)"

    /// True when `directory` holds an ImageFolder layout: a subfolder with an image file in
    /// it, or a `train/` folder with such subfolders. Reads no image and stops at the first.
    public static func detect(_ directory: String) -> Bool {
        hasClassWithImage(isSplit(directory) ? BinaryFile.join(directory, trainFolder) : directory)
    }

    /// Loads the data set in `directory` (see `ImageFolder`), decoding files in parallel.
    ///
    /// - Parameters:
    ///   - name: the data set's name; its sets are `name/train` and `name/test`.
    ///   - classes: the number of classes (`--classes`), at least the number of class
    ///     folders; nil for that number.
    /// - Returns: both sets with `paths` (relative to `directory`) and `classNames`; the
    ///   test set is empty (same shape and classes) when there is no test folder.
    /// - Throws: `DataError` naming the file or folder at fault and what to do about it.
    ///   - resize: how images of mixed sizes are brought to one (nil: they must have one).
    public static func loadSplit(directory: String, name: String, classes: Int?, resize: ImageResize? = nil) throws -> DataSplit {
        let layout = try scan(directory)
        let k = try classCount(classes, found: layout.classNames.count, root: directory)
        guard let first = layout.train.first else {
            throw DataError.empty(path: BinaryFile.join(directory, layout.trainFolder))
        }
        var shape = try withDecoded(first, root: directory) { shape, _ in shape }
        if let resize { (shape.height, shape.width) = resize.output }
        try checkTotalSize(shape: shape, count: layout.train.count + layout.test.count, root: directory)
        let reference = BinaryFile.join(directory, first.path)
        let train = try decodeAll(layout.train, root: directory, shape: shape, reference: reference, resize: resize)
        let test = try decodeAll(layout.test, root: directory, shape: shape, reference: reference, resize: resize)
        func dataset(_ set: String, _ files: [ImageFile], _ pixels: [UInt8]) throws -> Dataset {
            let labels = files.map(\.label)
            try LabelRules.check(labels.map(Int64.init), files: [(directory, 0)], classes: k)
            return Dataset(name: name + "/" + set, channels: shape.channels, height: shape.height, width: shape.width,
                           classes: k, pixels: .uint8(pixels), labels: labels, paths: files.map(\.path),
                           classNames: layout.classNames)
        }
        return DataSplit(train: try dataset("train", layout.train, train), test: try dataset("test", layout.test, test))
    }

    private static func classCount(_ classes: Int?, found: Int, root: String) throws -> Int {
        guard let classes else { return found }
        guard classes >= found else {
            throw DataError.unsupported(path: root, what: "class count \(classes) (--classes) for \(found) class folders",
                                        hint: "pass at least \(found), or leave --classes out")
        }
        return classes
    }

    private static func checkTotalSize(shape: ImageShape, count: Int, root: String) throws {
        let (bytes, overflow) = count.multipliedReportingOverflow(by: shape.size)
        guard overflow || bytes > maxTotalBytes else { return }
        throw DataError.unsupported(path: root, what: "data set size (\(count) images of \(shape))",
                                    hint: "Sieve holds at most \(maxTotalBytes >> 30) GiB of pixels; use fewer or smaller images")
    }
}

// MARK: - Layout

/// One image of the data set: its path relative to the root and its label.
struct ImageFile {
    var path: String
    var label: Int32
}

/// What a scan of the folders found, before any image is read.
struct ImageFolderLayout {
    /// `train` or "" (classes directly in the root).
    var trainFolder: String
    var classNames: [String]
    var train: [ImageFile]
    var test: [ImageFile]
}

extension ImageFolder {
    /// The classes, training files and test files under `root`, in data set order.
    static func scan(_ root: String) throws -> ImageFolderLayout {
        let trainRel = isSplit(root) ? trainFolder : ""
        let trainDir = BinaryFile.join(root, trainRel)
        let names = try classFolders(trainDir)
        guard names.count >= 2, names.count <= LabelRules.maxClasses else {
            throw DataError.unsupported(path: trainDir, what: "ImageFolder with \(names.count) class folder(s)",
                                        hint: "a classifier needs 2 to \(LabelRules.maxClasses) classes, one folder of images each")
        }
        var train: [ImageFile] = []
        for (label, name) in names.enumerated() {
            train += try images(root: root, folder: relative(trainRel, name), label: Int32(label))
        }
        var layout = ImageFolderLayout(trainFolder: trainRel, classNames: names, train: train, test: [])
        if !trainRel.isEmpty, let testRel = testFolders.first(where: { BinaryFile.isDirectory(BinaryFile.join(root, $0)) }) {
            layout.test = try testImages(root: root, folder: testRel, classNames: names, trainDir: trainDir)
        }
        return layout
    }

    /// The test set's files: each class folder must be one of the training classes.
    private static func testImages(root: String, folder: String, classNames: [String], trainDir: String) throws -> [ImageFile] {
        // Keyed by bytes: String equality would merge names that differ only in Unicode normalisation.
        let labels = Dictionary(classNames.enumerated().map { (Array($1.utf8), Int32($0)) }, uniquingKeysWith: { a, _ in a })
        let testDir = BinaryFile.join(root, folder)
        let names = try classFolders(testDir)
        guard !names.isEmpty else {
            throw DataError.unsupported(path: testDir, what: "test folder without class folders",
                                        hint: "put test images in one folder per class, named as in \(trainDir), or remove it")
        }
        var files: [ImageFile] = []
        for name in names {
            guard let label = labels[Array(name.utf8)] else {
                throw DataError.unsupported(path: BinaryFile.join(testDir, name), what: "test class \"\(name)\" (no such folder in \(trainDir))",
                                            hint: "test class folders must be named like training ones; rename or remove it")
            }
            files += try images(root: root, folder: relative(folder, name), label: label)
        }
        return files
    }

    /// True when `root/train` is a folder with (non-hidden) subfolders.
    static func isSplit(_ root: String) -> Bool {
        let train = BinaryFile.join(root, trainFolder)
        guard BinaryFile.isDirectory(train) else { return false }
        var found = false
        _ = forEachEntry(train) { _, kind in
            found = kind == .directory
            return !found
        }
        return found
    }

    /// True when a subfolder of `directory` holds an image file (stops at the first).
    private static func hasClassWithImage(_ directory: String) -> Bool {
        var found = false
        _ = forEachEntry(directory) { name, kind in
            guard kind == .directory, let name else { return true }
            _ = forEachEntry(BinaryFile.join(directory, name)) { file, kind in
                found = kind == .file && file.map(isImageName) == true
                return !found
            }
            return !found
        }
        return found
    }

    /// The sorted names of the subfolders of `directory` (the class folders).
    private static func classFolders(_ directory: String) throws -> [String] {
        try listing(directory).filter { $0.kind == .directory }.map(\.name)
    }

    /// The images of one class folder (`folder` relative to `root`), sorted by name.
    private static func images(root: String, folder: String, label: Int32) throws -> [ImageFile] {
        let directory = BinaryFile.join(root, folder)
        var files: [ImageFile] = []
        for entry in try listing(directory) {
            let path = BinaryFile.join(directory, entry.name)
            switch entry.kind {
            case .directory:
                throw DataError.unsupported(path: path, what: "folder inside a class folder",
                                            hint: "Sieve reads the images directly in each class folder; move them up or remove it")
            case .broken:
                throw DataError.missingFile(path: path, hint: "it is a broken symbolic link; fix or remove it")
            case .other:
                throw DataError.readFailed(path: path, reason: "not a regular file (a device, pipe or socket)")
            case .file:
                guard isImageName(entry.name) else {
                    throw DataError.unsupported(path: path, what: "file in a class folder", hint: acceptedHint + "; move it out")
                }
                files.append(ImageFile(path: relative(folder, entry.name), label: label))
            }
        }
        guard !files.isEmpty else {
            throw DataError.unsupported(path: directory, what: "empty class folder",
                                        hint: "every class folder needs at least one .png, .jpg or .jpeg image; add some or remove it")
        }
        return files
    }

    static func isImageName(_ name: String) -> Bool {
        guard let dot = name.lastIndex(of: ".") else { return false }
        return imageExtensions.contains(name[name.index(after: dot)...].lowercased())
    }

    private static func relative(_ folder: String, _ name: String) -> String {
        folder.isEmpty ? name : folder + "/" + name
    }
}

// MARK: - Folder listing

/// What a directory entry is once links are followed.
enum EntryKind {
    case file, directory, other
    /// A symbolic link to nothing.
    case broken
}

extension ImageFolder {
    /// The non-hidden entries of `directory`, sorted byte-wise by name (torchvision's order).
    static func listing(_ directory: String) throws -> [(name: String, kind: EntryKind)] {
        var entries: [(name: String, kind: EntryKind)] = []
        var badName: String?
        let opened = forEachEntry(directory) { name, kind in
            guard let name else { badName = ""; return false }
            entries.append((name, kind))
            return true
        }
        guard opened else {
            throw DataError.readFailed(path: directory, reason: String(cString: strerror(errno)))
        }
        if badName != nil {
            throw DataError.unsupported(path: directory, what: "file name (not UTF-8) in this folder",
                                        hint: "rename the file so its name is UTF-8")
        }
        entries.sort { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        return entries
    }

    /// Calls `body` with each non-hidden entry of `directory` (name nil when it is not
    /// UTF-8) until it returns false. Returns false when the folder cannot be opened.
    static func forEachEntry(_ directory: String, _ body: (String?, EntryKind) -> Bool) -> Bool {
        guard let dir = opendir(directory) else { return false }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let (raw, name) = withUnsafeBytes(of: entry.pointee.d_name) { bytes -> ([UInt8], String?) in
                let raw = Array(bytes.prefix { $0 != 0 })
                return (raw, String(validating: raw, as: UTF8.self))
            }
            if raw.first == UInt8(ascii: ".") { continue }
            let kind = entryKind(type: entry.pointee.d_type, path: BinaryFile.join(directory, String(decoding: raw, as: UTF8.self)))
            if !body(name, kind) { break }
        }
        return true
    }

    /// The entry's kind from `readdir`'s type, or from `stat` for links and unknown types.
    private static func entryKind(type: UInt8, path: String) -> EntryKind {
        switch Int(type) {
        case Int(DT_REG): return .file
        case Int(DT_DIR): return .directory
        case Int(DT_LNK), Int(DT_UNKNOWN):
            if BinaryFile.isDirectory(path) { return .directory }
            if BinaryFile.fileExists(path) { return .file }
            return BinaryFile.exists(path) ? .other : .broken
        default: return .other
        }
    }
}

// MARK: - Decoding

/// Channels, height and width of an image.
struct ImageShape: Equatable, CustomStringConvertible {
    var channels: Int
    var height: Int
    var width: Int
    /// Bytes of one image: `C * H * W`.
    var size: Int { channels * height * width }
    /// `HxWxC (HxWxC, grayscale|colour)`.
    var description: String { "\(height)x\(width)x\(channels) (HxWxC, \(channels == 1 ? "grayscale" : "colour"))" }
}

extension ImageFolder {
    static let pngSignature: [UInt8] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]
    static let jpegSignature: [UInt8] = [0xff, 0xd8, 0xff]

    /// Decodes every file into one CHW, example-major buffer, in parallel over contiguous
    /// chunks (one decoded original per worker at a time). Every image must have `shape`
    /// (`reference` names the image that set it), or is resized to it by `resize`. The
    /// error reported is the one of the first file at fault, whatever the scheduling.
    static func decodeAll(_ files: [ImageFile], root: String, shape: ImageShape, reference: String,
                          resize: ImageResize? = nil) throws -> [UInt8] {
        guard !files.isEmpty else { return [] }
        let size = shape.size
        let chunks = min(files.count, max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))) * 4)
        var failures = [DataError?](repeating: nil, count: chunks)
        let pixels = [UInt8](unsafeUninitializedCapacity: files.count * size) { buffer, initialized in
            guard let base = buffer.baseAddress else { return }
            failures.withUnsafeMutableBufferPointer { failed in
                DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                    // Each chunk stops at its first error: the first chunk with one holds the earliest.
                    for i in (chunk * files.count / chunks)..<((chunk + 1) * files.count / chunks) {
                        do {
                            try decode(files[i], root: root, into: base + i * size, shape: shape, reference: reference, resize: resize)
                        } catch {
                            let path = BinaryFile.join(root, files[i].path)
                            failed[chunk] = error as? DataError ?? .readFailed(path: path, reason: "\(error)")
                            return
                        }
                    }
                }
            }
            initialized = files.count * size
        }
        if let error = failures.lazy.compactMap({ $0 }).first { throw error }
        return pixels
    }

    /// Decodes one file into `destination` (CHW), which holds `shape.size` bytes.
    private static func decode(_ file: ImageFile, root: String, into destination: UnsafeMutablePointer<UInt8>,
                               shape: ImageShape, reference: String, resize: ImageResize?) throws {
        try withDecoded(file, root: root) { found, hwc in
            let path = BinaryFile.join(root, file.path)
            guard let resize else {
                guard found == shape else {
                    throw DataError.unsupported(path: path, what: "image shape \(found) where the first image, \(reference), is \(shape)",
                                                hint: "pass --resize S (shorter side to S, then the centre SxS, as torchvision's "
                                                    + "Resize + CenterCrop) or --resize HxW to bring every image to one size")
                }
                copyToCHW(hwc, shape: shape, destination: destination)
                return
            }
            guard found.channels != shape.channels else {
                resize.apply(hwc, height: found.height, width: found.width, channels: found.channels, into: destination)
                return
            }
            let converted = convert(hwc, pixels: found.height * found.width, from: found.channels, to: shape.channels)
            converted.withUnsafeBufferPointer {
                resize.apply($0.baseAddress!, height: found.height, width: found.width, channels: shape.channels, into: destination)
            }
        }
    }

    /// Interleaved pixels of `from` channels (1 or 3) as `to` channels, as PIL's `convert`:
    /// RGB to gray `L = (19595 R + 38470 G + 7471 B + 2^15) >> 16` (ITU-R 601-2 luma),
    /// gray to RGB by copying the gray value.
    static func convert(_ hwc: UnsafePointer<UInt8>, pixels: Int, from: Int, to: Int) -> [UInt8] {
        if from == 3 && to == 1 {
            return (0..<pixels).map { p in
                let r = UInt32(hwc[3 * p]), g = UInt32(hwc[3 * p + 1]), b = UInt32(hwc[3 * p + 2])
                return UInt8((19595 * r + 38470 * g + 7471 * b + 0x8000) >> 16)
            }
        }
        precondition(from == 1 && to == 3)
        var out = [UInt8](repeating: 0, count: 3 * pixels)
        for p in 0..<pixels { out[3 * p] = hwc[p]; out[3 * p + 1] = hwc[p]; out[3 * p + 2] = hwc[p] }
        return out
    }

    /// Decodes one PNG or JPEG file held in `bytes` to its shape and CHW pixels; `path`
    /// names the file in errors.
    static func decode(_ bytes: [UInt8], path: String) throws -> (shape: ImageShape, pixels: [UInt8]) {
        try withDecoded(bytes, path: path) { shape, hwc in
            (shape, [UInt8](unsafeUninitializedCapacity: shape.size) { buffer, initialized in
                guard let base = buffer.baseAddress else { return }
                copyToCHW(hwc, shape: shape, destination: base)
                initialized = shape.size
            })
        }
    }

    /// Reads and decodes `file`, handing `body` its shape and interleaved (HWC) pixels.
    static func withDecoded<R>(_ file: ImageFile, root: String,
                               _ body: (ImageShape, UnsafePointer<UInt8>) throws -> R) throws -> R {
        let path = BinaryFile.join(root, file.path)
        return try withDecoded(try BinaryFile.read(path), path: path, body)
    }

    /// Decodes PNG or JPEG `bytes` (told apart by their signature); `path` names the file in errors.
    static func withDecoded<R>(_ bytes: [UInt8], path: String,
                               _ body: (ImageShape, UnsafePointer<UInt8>) throws -> R) throws -> R {
        let isPNG = bytes.starts(with: pngSignature)
        guard isPNG || bytes.starts(with: jpegSignature) else {
            throw DataError.badMagic(path: path, expected: "89 50 4e 47 (PNG) or ff d8 ff (JPEG)",
                                     found: bytes.isEmpty ? "(an empty file)" : bytes.prefix(4).map(NPYHeader.hexByte).joined(separator: " "))
        }
        var pixels: UnsafeMutablePointer<UInt8>?
        var width: UInt32 = 0, height: UInt32 = 0, channels: UInt32 = 0
        var message = [CChar](repeating: 0, count: 256)
        let messageSize = message.count
        let code = bytes.withUnsafeBufferPointer { b in
            isPNG ? sieve_png_decode(b.baseAddress, b.count, maxPixels, &pixels, &width, &height, &channels, &message, messageSize)
                : sieve_jpeg_decode(b.baseAddress, b.count, maxPixels, &pixels, &width, &height, &channels, &message, messageSize)
        }
        defer { free(pixels) }
        let shape = ImageShape(channels: Int(channels), height: Int(height), width: Int(width))
        let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        try checkDecoded(code: Int(code), isPNG: isPNG, shape: shape, message: text, path: path)
        guard let pixels, shape.size > 0, shape.channels == 1 || shape.channels == 3 else {
            throw DataError.readFailed(path: path, reason: "the decoder returned no \(shape) image")
        }
        return try body(shape, pixels)
    }

    /// Throws the error for a decoder's return code (the PNG and JPEG codes agree).
    private static func checkDecoded(code: Int, isPNG: Bool, shape: ImageShape, message: String, path: String) throws {
        let format = isPNG ? "PNG" : "JPEG"
        switch code {
        case Int(SIEVE_PNG_OK): return
        case Int(SIEVE_PNG_TOO_LARGE):
            throw DataError.unsupported(path: path, what: "image size \(shape.width)x\(shape.height)",
                                        hint: "Sieve reads images of at most 2^26 pixels; resize it")
        case Int(SIEVE_PNG_NO_MEMORY):
            throw DataError.readFailed(path: path, reason: "out of memory decoding the \(format) image")
        case Int(SIEVE_JPEG_UNSUPPORTED_COLOR) where !isPNG:
            throw DataError.unsupported(path: path, what: "\(message) JPEG", hint: "convert it to RGB or grayscale")
        default:
            throw DataError.readFailed(path: path, reason: "corrupt or truncated \(format) (\(isPNG ? "libpng" : "libjpeg"): \(message))")
        }
    }

    /// Copies interleaved pixels (HWC) to channel planes (CHW).
    private static func copyToCHW(_ hwc: UnsafePointer<UInt8>, shape: ImageShape, destination: UnsafeMutablePointer<UInt8>) {
        let plane = shape.height * shape.width
        let c = shape.channels
        guard c > 1 else { destination.update(from: hwc, count: plane); return }
        for channel in 0..<c {
            let out = destination + channel * plane
            for p in 0..<plane { out[p] = hwc[p * c + channel] }
        }
    }
}
