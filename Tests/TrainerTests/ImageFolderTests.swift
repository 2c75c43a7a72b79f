import CJPEG
import CPNG
import Foundation
import Testing
@testable import Trainer

// MARK: - Fixtures

/// A fresh `/tmp/sieve-imgfolder-<uuid>` directory, removed when the value is deinitialised.
private final class ImageDir {
    let path: String
    init() throws {
        path = "/tmp/sieve-imgfolder-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `bytes` to `name` (creating folders) and returns the full path.
    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let full = path + "/" + name
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: full))
        return full
    }

    @discardableResult
    func folder(_ name: String) throws -> String {
        try FileManager.default.createDirectory(atPath: path + "/" + name, withIntermediateDirectories: true)
        return path + "/" + name
    }
}

/// A PNG written by libpng's simplified API. `format` is a `PNG_FORMAT_FLAG_*` combination;
/// for colour-mapped formats `pixels` are indices into `colormap` (in the format without
/// the colormap flag, `entries` colours).
private func png(_ pixels: [UInt8], width: Int, height: Int, format: UInt32,
                 colormap: [UInt8]? = nil, entries: Int = 0) throws -> [UInt8] {
    try pixels.withUnsafeBytes { try pngWrite($0, width: width, height: height, format: format, colormap: colormap, entries: entries) }
}

/// A 16-bit PNG (`format` includes `PNG_FORMAT_FLAG_LINEAR`).
private func png16(_ samples: [UInt16], width: Int, height: Int, format: UInt32) throws -> [UInt8] {
    try samples.withUnsafeBytes { try pngWrite($0, width: width, height: height, format: format, colormap: nil, entries: 0) }
}

private func pngWrite(_ raw: UnsafeRawBufferPointer, width: Int, height: Int, format: UInt32,
                      colormap: [UInt8]?, entries: Int) throws -> [UInt8] {
    var image = png_image()
    image.version = png_uint_32(PNG_IMAGE_VERSION)
    image.width = png_uint_32(width)
    image.height = png_uint_32(height)
    image.format = format
    image.colormap_entries = png_uint_32(entries)
    defer { png_image_free(&image) }
    var size = 0
    let written = (colormap ?? []).withUnsafeBytes { map -> [UInt8]? in
        let cmap = colormap == nil ? nil : map.baseAddress
        // First call: the size only; second: the bytes.
        guard png_image_write_to_memory(&image, nil, &size, 0, raw.baseAddress, 0, cmap) != 0 else { return nil }
        var out = [UInt8](repeating: 0, count: size)
        let ok = out.withUnsafeMutableBytes { png_image_write_to_memory(&image, $0.baseAddress, &size, 0, raw.baseAddress, 0, cmap) }
        return ok != 0 ? Array(out.prefix(size)) : nil
    }
    guard let written else { throw WriteError() }
    return written
}

private struct WriteError: Error {}

/// A PNG assembled by hand (stored deflate blocks) for what the simplified writer cannot
/// make: 1/2/4-bit gray, 16-bit RGBA, a header with absurd dimensions.
private func rawPNG(width: Int, height: Int, bitDepth: UInt8, colorType: UInt8, rows: [[UInt8]]) -> [UInt8] {
    func be32(_ v: Int) -> [UInt8] { [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: v >> $0) } }
    func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return be32(data.count) + body + be32(Int(crc32(body)))
    }
    let filtered: [UInt8] = rows.flatMap { row -> [UInt8] in [0] + row }
    var zlib: [UInt8] = [0x78, 0x01]
    var start = 0
    repeat {
        let n = min(65535, filtered.count - start)
        let last: UInt8 = start + n == filtered.count ? 1 : 0
        let length = UInt16(n)
        zlib += [last, UInt8(length & 0xff), UInt8(length >> 8), UInt8(~length & 0xff), UInt8(~length >> 8)]
        zlib += filtered[start..<start + n]
        start += n
    } while start < filtered.count
    var a: UInt32 = 1, b: UInt32 = 0
    for byte in filtered { a = (a + UInt32(byte)) % 65521; b = (b + a) % 65521 }
    zlib += be32(Int(b << 16 | a))
    return [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]
        + chunk("IHDR", be32(width) + be32(height) + [bitDepth, colorType, 0, 0, 0])
        + chunk("IDAT", zlib) + chunk("IEND", [])
}

private func crc32(_ data: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xffff_ffff
    for byte in data {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xedb8_8320 : crc >> 1 }
    }
    return ~crc
}

/// A JPEG from the inline C encoder (`channels`: 1 gray, 3 RGB, 4 CMYK), stored in
/// libjpeg's default colour space for them or in `stored`.
private func jpeg(_ pixels: [UInt8], width: Int, height: Int, channels: Int, quality: Int32 = 100,
                  stored: J_COLOR_SPACE = JCS_UNKNOWN) throws -> [UInt8] {
    var out: UnsafeMutablePointer<UInt8>?
    var size: UInt = 0
    var message = [CChar](repeating: 0, count: 256)
    let messageSize = message.count
    let code = sieve_jpeg_encode(pixels, UInt32(width), UInt32(height), UInt32(channels), stored, quality, &out, &size, &message, messageSize)
    defer { free(out) }
    guard code == 0, let out else { throw WriteError() }
    return Array(UnsafeBufferPointer(start: out, count: Int(size)))
}

private let gray = UInt32(PNG_FORMAT_GRAY)
private let rgb = UInt32(PNG_FORMAT_FLAG_COLOR)
private let alpha = UInt32(PNG_FORMAT_FLAG_ALPHA)
private let linear = UInt32(PNG_FORMAT_FLAG_LINEAR)
private let colormap = UInt32(PNG_FORMAT_FLAG_COLORMAP)

/// A `w x h` gray PNG whose pixel p is `base + p`.
private func grayPNG(_ base: Int, width: Int = 3, height: Int = 2) throws -> [UInt8] {
    try png((0..<(width * height)).map { UInt8(truncatingIfNeeded: base + $0) }, width: width, height: height, format: gray)
}

private func dataError(_ body: () throws -> Any) -> DataError? {
    do { _ = try body(); return nil } catch let e as DataError { return e } catch { return nil }
}

private func shape(_ d: Dataset) -> [Int] { [d.channels, d.height, d.width] }

private func bytes(_ pixels: Pixels) -> [UInt8] {
    if case .uint8(let a) = pixels { return a }
    return []
}

/// Loading `dir` fails with an error whose one-line message mentions every one of `parts`.
private func expectError(_ dir: ImageDir, classes: Int? = nil, mentions parts: [String],
                         sourceLocation: SourceLocation = #_sourceLocation) {
    guard let error = dataError({ try DataSource.load(dir.path, classes: classes) }) else {
        Issue.record("expected a DataError", sourceLocation: sourceLocation)
        return
    }
    let message = error.description
    for part in parts { #expect(message.contains(part), "\(message)", sourceLocation: sourceLocation) }
    #expect(!message.contains("\n"), sourceLocation: sourceLocation)
}

// MARK: - Tests

@Suite struct ImageFolderTests {
    /// (a) classes sorted byte-wise, labels by class position, files in byte-wise name
    /// order, hidden entries skipped, exact pixels and relative paths, test set by name.
    @Test func trainTestLayoutWithGrayPNGs() throws {
        let dir = try ImageDir()
        // Write in scrambled order; expected order: ant, cat, dog; "B.png" < "a.PNG" < "b.png".
        try dir.write("train/dog/x.png", grayPNG(50))
        try dir.write("train/cat/b.png", grayPNG(40))
        try dir.write("train/cat/a.PNG", grayPNG(30))
        try dir.write("train/cat/B.png", grayPNG(20))
        try dir.write("train/ant/1.jpeg.png", grayPNG(10))
        try dir.write("train/ant/.DS_Store", [1, 2, 3])
        try dir.write("train/.ipynb_checkpoints/junk.txt", [1])
        try dir.write("train/notes.txt", [1])
        try dir.write("test/dog/t.png", grayPNG(90))
        try dir.write("test/cat/t.png", grayPNG(80))
        try dir.write("val/cat/ignored.png", grayPNG(0, width: 5))

        let split = try DataSource.load(dir.path)
        let train = split.train, test = split.test
        #expect(train.name == dir.path + "/train" && test.name == dir.path + "/test")
        #expect(shape(train) == [1, 2, 3])
        #expect(train.classes == 3 && test.classes == 3)
        #expect(train.classNames == ["ant", "cat", "dog"] && test.classNames == ["ant", "cat", "dog"])
        #expect(train.labels == [0, 1, 1, 1, 2])
        #expect(train.paths == ["train/ant/1.jpeg.png", "train/cat/B.png", "train/cat/a.PNG", "train/cat/b.png", "train/dog/x.png"])
        #expect(bytes(train.pixels) == [10, 20, 30, 40, 50].flatMap { b in (0..<6).map { UInt8(b + $0) } })
        #expect(test.labels == [1, 2])
        #expect(test.paths == ["test/cat/t.png", "test/dog/t.png"])
        #expect(bytes(test.pixels) == [80, 90].flatMap { b in (0..<6).map { UInt8(b + $0) } })
        // prefix keeps paths in step.
        #expect(train.prefix(2).paths == ["train/ant/1.jpeg.png", "train/cat/B.png"])
        #expect(train.prefix(2).classNames == train.classNames)

        // --classes: more is fine, fewer than the folders is an error naming the root.
        #expect(try DataSource.load(dir.path, classes: 5).train.classes == 5)
        expectError(dir, classes: 2, mentions: [dir.path, "--classes", "3"])
    }

    /// `val/` is the test set when there is no `test/`.
    @Test func valIsTheTestSetWithoutTest() throws {
        let dir = try ImageDir()
        try dir.write("train/a/1.png", grayPNG(1))
        try dir.write("train/b/1.png", grayPNG(2))
        try dir.write("val/b/1.png", grayPNG(3))
        let split = try DataSource.load(dir.path)
        #expect(split.test.paths == ["val/b/1.png"] && split.test.labels == [1])
    }

    /// Many files: the parallel decode keeps every example in its place.
    @Test func manyFilesKeepTheirOrder() throws {
        let dir = try ImageDir()
        for i in 0..<150 { try dir.write(String(format: "c%ld/%03ld.png", i % 3, i), grayPNG(i, width: 2, height: 2)) }
        let set = try DataSource.load(dir.path).train
        let order = (0..<3).flatMap { c in (0..<150).filter { $0 % 3 == c } }
        #expect(set.count == 150)
        #expect(set.paths == order.map { String(format: "c%ld/%03ld.png", $0 % 3, $0) })
        #expect(bytes(set.pixels) == order.flatMap { i in (0..<4).map { UInt8(truncatingIfNeeded: i + $0) } })
    }

    /// (b) RGBA drops alpha (no compositing), palettes (with and without transparency)
    /// expand to RGB, gray+alpha to gray, 16-bit to its high byte, 1/2-bit gray to 8 bits;
    /// colour comes out as CHW.
    @Test func pngColourTypesDecode() throws {
        // 2x1 RGBA: (10,20,30, alpha 0), (40,50,60, alpha 128).
        let rgba = try png([10, 20, 30, 0, 40, 50, 60, 128], width: 2, height: 1, format: rgb | alpha)
        var image = try ImageFolder.decode(rgba, path: "rgba.png")
        #expect(image.shape == ImageShape(channels: 3, height: 1, width: 2))
        #expect(image.pixels == [10, 40, 20, 50, 30, 60])

        // Palette of 3 colours (written at 2 bits per pixel), 2x2.
        let palette: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255]
        let indexed = try png([0, 1, 2, 1], width: 2, height: 2, format: rgb | colormap, colormap: palette, entries: 3)
        image = try ImageFolder.decode(indexed, path: "palette.png")
        #expect(image.shape == ImageShape(channels: 3, height: 2, width: 2))
        #expect(image.pixels == [255, 0, 0, 0, /* G */ 0, 255, 0, 255, /* B */ 0, 0, 255, 0])

        // Palette with transparency (tRNS): still RGB.
        let rgbaPalette: [UInt8] = [9, 8, 7, 0, 1, 2, 3, 255]
        let transparent = try png([0, 1], width: 2, height: 1, format: rgb | alpha | colormap, colormap: rgbaPalette, entries: 2)
        image = try ImageFolder.decode(transparent, path: "trns.png")
        #expect(image.shape.channels == 3 && image.pixels == [9, 1, 8, 2, 7, 3])

        // Gray + alpha.
        let ga = try png([7, 0, 200, 255], width: 2, height: 1, format: gray | alpha)
        image = try ImageFolder.decode(ga, path: "ga.png")
        #expect(image.shape == ImageShape(channels: 1, height: 1, width: 2) && image.pixels == [7, 200])

        // 16-bit gray: the high byte.
        let deep = try png16([0x1234, 0xabcd], width: 2, height: 1, format: gray | linear)
        image = try ImageFolder.decode(deep, path: "16.png")
        #expect(image.shape.channels == 1 && image.pixels == [0x12, 0xab])

        // 16-bit RGBA, by hand: high bytes, alpha dropped.
        let rgba16 = rawPNG(width: 1, height: 1, bitDepth: 16, colorType: 6, rows: [[0x10, 1, 0x20, 2, 0x30, 3, 0, 0]])
        image = try ImageFolder.decode(rgba16, path: "rgba16.png")
        #expect(image.shape.channels == 3 && image.pixels == [0x10, 0x20, 0x30])

        // 1-bit and 2-bit gray expand to 0...255.
        let bits1 = rawPNG(width: 8, height: 1, bitDepth: 1, colorType: 0, rows: [[0b1010_0001]])
        image = try ImageFolder.decode(bits1, path: "1bit.png")
        #expect(image.pixels == [255, 0, 255, 0, 0, 0, 0, 255])
        let bits2 = rawPNG(width: 4, height: 1, bitDepth: 2, colorType: 0, rows: [[0b00_01_10_11]])
        image = try ImageFolder.decode(bits2, path: "2bit.png")
        #expect(image.pixels == [0, 85, 170, 255])
    }

    /// Colour images through the loader: CHW per example, 3 channels.
    @Test func rgbFolderIsCHW() throws {
        let dir = try ImageDir()
        try dir.write("a/1.png", png([1, 2, 3, 4, 5, 6], width: 2, height: 1, format: rgb))
        try dir.write("b/1.png", png([7, 8, 9, 99, 10, 11, 12, 99], width: 2, height: 1, format: rgb | alpha))
        let set = try DataSource.load(dir.path).train
        #expect(shape(set) == [3, 1, 2])
        #expect(bytes(set.pixels) == [1, 4, 2, 5, 3, 6, 7, 10, 8, 11, 9, 12])
    }

    /// (c) JPEG: grayscale stays 1 channel, RGB is 3, values close to the source at quality 100.
    @Test func jpegDecodesCloseToSource() throws {
        let flat = try jpeg([UInt8](repeating: 77, count: 16 * 16), width: 16, height: 16, channels: 1)
        var image = try ImageFolder.decode(flat, path: "gray.jpg")
        #expect(image.shape == ImageShape(channels: 1, height: 16, width: 16))
        #expect(image.pixels.allSatisfy { abs(Int($0) - 77) <= 1 })

        // 32x16: left half (200, 50, 100), right half (20, 220, 40); halves on MCU boundaries.
        let colours: [[UInt8]] = [[200, 50, 100], [20, 220, 40]]
        let source = (0..<16).flatMap { _ in (0..<32).flatMap { x in colours[x / 16] } }
        image = try ImageFolder.decode(try jpeg(source, width: 32, height: 16, channels: 3), path: "rgb.jpg")
        #expect(image.shape == ImageShape(channels: 3, height: 16, width: 32))
        // Columns 15 and 16 are left out: the decoder's chroma upsampling blends across the edge.
        var worst = 0
        for c in 0..<3 {
            for p in 0..<(16 * 32) where p % 32 != 15 && p % 32 != 16 {
                worst = max(worst, abs(Int(image.pixels[c * 512 + p]) - Int(colours[(p % 32) / 16][c])))
            }
        }
        #expect(worst <= 4)

        // And through the loader, with a .JPG/.jpeg mix.
        let dir = try ImageDir()
        try dir.write("x/1.JPG", flat)
        try dir.write("y/2.jpeg", flat)
        let set = try DataSource.load(dir.path).train
        #expect(set.count == 2 && set.channels == 1 && set.paths == ["x/1.JPG", "y/2.jpeg"])
    }

    /// CMYK and YCCK JPEGs (print and Photoshop exports) decode to RGB as PIL's
    /// `convert("RGB")` does: samples are Adobe's inverted inks, and each channel is
    /// (255 - K) - round((255 - K) * ink / 255). Expected values: Pillow 12 on the same
    /// inks (a CMYK JPEG it wrote, read back and converted).
    @Test func cmykAndYcckJPEGsDecodeToRGBAsPILDoes() throws {
        // four flat 8x8 blocks of inks (C, M, Y, K), stored inverted
        let inks: [[Int]] = [[200, 30, 0, 10], [0, 0, 0, 255], [10, 200, 60, 40], [0, 0, 0, 0]]
        let expected: [[Int]] = [[53, 216, 245], [0, 0, 0], [207, 46, 164], [255, 255, 255]]
        var samples = [UInt8](repeating: 0, count: 16 * 16 * 4)
        for y in 0..<16 {
            for x in 0..<16 {
                let block = (y / 8) * 2 + x / 8
                for c in 0..<4 { samples[(y * 16 + x) * 4 + c] = UInt8(255 - inks[block][c]) }
            }
        }
        for stored in [JCS_CMYK, JCS_YCCK] {
            let file = try jpeg(samples, width: 16, height: 16, channels: 4, stored: stored)
            let (shape, pixels) = try ImageFolder.decode(file, path: "c.jpg")
            #expect(shape == ImageShape(channels: 3, height: 16, width: 16), "\(stored)")
            for (block, rgb) in expected.enumerated() {
                let y = (block / 2) * 8 + 4, x = (block % 2) * 8 + 4   // the block's middle (CHW planes)
                let got = (0..<3).map { Int(pixels[$0 * 256 + y * 16 + x]) }
                // JPEG rounding (YCCK's colour transform more than CMYK's): within 2 of PIL's values
                #expect(zip(got, rgb).allSatisfy { abs($0 - $1) <= 2 }, "\(stored) block \(block): \(got) vs \(rgb)")
            }
        }
    }

    /// Corrupt and truncated JPEGs are errors naming the file.
    @Test func jpegErrors() throws {
        let good = try jpeg((0..<(64 * 64)).map { UInt8(truncatingIfNeeded: $0 * 7) }, width: 64, height: 64, channels: 1, quality: 90)
        for cut in [good.count / 2, 3, good.count - 2] {
            let truncated = try #require(dataError { try ImageFolder.decode(Array(good.prefix(cut)), path: "t.jpg") })
            #expect(truncated.description.hasPrefix("t.jpg: "), "\(truncated)")
        }
    }

    /// (d) Class folders directly in the root: training set only, an empty test set of the
    /// same shape and classes; files at the root are ignored; links to files are followed.
    @Test func rootWithoutTrainIsTrainingOnly() throws {
        let dir = try ImageDir()
        try dir.write("README.md", Array("hello".utf8))
        try dir.write("b/2.png", grayPNG(2))
        try dir.write("a/1.png", grayPNG(1))
        let outside = "/tmp/sieve-imgfolder-link-\(UUID().uuidString).png"
        try Data(grayPNG(9)).write(to: URL(fileURLWithPath: outside))
        defer { try? FileManager.default.removeItem(atPath: outside) }
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/b/3.png", withDestinationPath: outside)
        #expect(DataSource.detect(dir.path)?.format == .imageFolder)
        let split = try DataSource.load(dir.path)
        #expect(split.train.paths == ["a/1.png", "b/2.png", "b/3.png"] && split.train.labels == [0, 1, 1])
        #expect(bytes(split.train.pixels).suffix(6) == (9..<15).map { UInt8($0) })
        #expect(split.test.count == 0 && split.test.classes == 2 && split.test.paths == [])
        #expect(shape(split.test) == [1, 2, 3])
        #expect(split.test.classNames == ["a", "b"])
    }

    /// (e) Every bad layout or file is an error naming the file or folder at fault.
    @Test func mixedShapesNameTheOddFile() throws {
        let dir = try ImageDir()
        try dir.write("a/1.png", grayPNG(1))
        try dir.write("a/2.png", grayPNG(1, width: 4))
        try dir.write("b/1.png", grayPNG(1, width: 5))
        expectError(dir, mentions: [dir.path + "/a/2.png", "2x4x1", "2x3x1", dir.path + "/a/1.png", "--resize S"])

        let colour = try ImageDir()
        try colour.write("a/1.png", png([UInt8](repeating: 1, count: 18), width: 3, height: 2, format: rgb))
        try colour.write("b/1.png", grayPNG(1))
        expectError(colour, mentions: [colour.path + "/b/1.png", "grayscale", "colour"])

        let test = try ImageDir()
        try test.write("train/a/1.png", grayPNG(1))
        try test.write("train/b/1.png", grayPNG(1))
        try test.write("test/a/1.png", grayPNG(1, width: 2))
        expectError(test, mentions: [test.path + "/test/a/1.png", "2x2x1", "2x3x1"])
    }

    @Test func badFilesAreErrors() throws {
        let valid = try grayPNG(1)
        let cases: [(name: String, bytes: [UInt8], mentions: [String])] = [
            ("a/cut.png", Array(valid.prefix(valid.count / 2)), ["truncated"]),
            ("a/cut-end.png", Array(valid.prefix(valid.count - 4)), ["PNG"]),
            ("a/x.png", Array("just some text\n".utf8), ["PNG", "JPEG"]),
            ("a/empty.png", [], ["PNG"]),
            ("a/notes.txt", Array("hi".utf8), [".png, .jpg and .jpeg"]),
            ("a/huge.png", rawPNG(width: 10_000, height: 10_000, bitDepth: 8, colorType: 0, rows: [[0]]), ["10000x10000", "2^26"]),
        ]
        for c in cases {
            let dir = try ImageDir()
            try dir.write("a/0.png", valid)
            try dir.write("b/0.png", valid)
            try dir.write(c.name, c.bytes)
            expectError(dir, mentions: [dir.path + "/" + c.name] + c.mentions)
        }
    }

    @Test func badLayoutsAreErrors() throws {
        let valid = try grayPNG(1)
        // An empty class folder (a hidden file does not count).
        var dir = try ImageDir()
        try dir.write("train/a/0.png", valid)
        try dir.write("train/b/.hidden.png", valid)
        expectError(dir, mentions: [dir.path + "/train/b", "empty class folder"])

        // A test class the training set lacks.
        dir = try ImageDir()
        try dir.write("train/a/0.png", valid)
        try dir.write("train/b/0.png", valid)
        try dir.write("test/zebra/0.png", valid)
        expectError(dir, mentions: [dir.path + "/test/zebra", "zebra", dir.path + "/train"])

        // A folder inside a class folder.
        dir = try ImageDir()
        try dir.write("a/0.png", valid)
        try dir.write("b/0.png", valid)
        try dir.write("b/deeper/0.png", valid)
        expectError(dir, mentions: [dir.path + "/b/deeper", "folder inside a class folder"])

        // One class only.
        dir = try ImageDir()
        try dir.write("train/a/0.png", valid)
        expectError(dir, mentions: [dir.path + "/train", "1 class folder"])

        // A test folder without class folders.
        dir = try ImageDir()
        try dir.write("train/a/0.png", valid)
        try dir.write("train/b/0.png", valid)
        try dir.write("test/0.png", valid)
        expectError(dir, mentions: [dir.path + "/test", "class folders"])

        // A broken link.
        dir = try ImageDir()
        try dir.write("a/0.png", valid)
        try dir.write("b/0.png", valid)
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/b/1.png", withDestinationPath: dir.path + "/gone.png")
        expectError(dir, mentions: [dir.path + "/b/1.png", "broken symbolic link"])
    }

    /// The first file at fault is reported, whatever the decoding order.
    @Test func firstBadFileIsReported() throws {
        let dir = try ImageDir()
        for i in 0..<40 { try dir.write(String(format: "c%ld/%02ld.png", i % 2, i), grayPNG(i)) }
        try dir.write("c1/33.png", [1, 2, 3, 4])
        try dir.write("c0/30.png", grayPNG(0, width: 7))
        try dir.write("c1/05.png", [5, 6, 7, 8])
        expectError(dir, mentions: [dir.path + "/c0/30.png"])
    }

    /// (f) Detection: ImageFolder is found by `DataSource`, but an IDX directory with
    /// image subfolders is still IDX, and the not-a-data-set error mentions the layout.
    @Test func detection() throws {
        #expect(DataFormat(rawValue: "image-folder") == .imageFolder)
        let dir = try ImageDir()
        try dir.write("train/a/0.png", grayPNG(1))
        try dir.write("train/b/0.png", grayPNG(2))
        #expect(DataSource.detect(dir.path)?.format == .imageFolder)
        #expect(DataSource.detect(dir.path + "/train")?.format == .imageFolder)
        #expect(DataSource.detect(dir.path + "/train/a") == nil)
        #expect(try DataSource.load(dir.path + "/").train.count == 2)

        // IDX files win over class folders of images.
        func be32(_ v: UInt32) -> [UInt8] { [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: v >> $0) } }
        let idxImages = be32(0x803) + be32(2) + be32(2) + be32(2) + [UInt8](repeating: 3, count: 8)
        let idxLabels = be32(0x801) + be32(2) + [0, 1]
        try dir.write("train-images-idx3-ubyte", idxImages)
        try dir.write("train-labels-idx1-ubyte", idxLabels)
        try dir.write("t10k-images-idx3-ubyte", idxImages)
        try dir.write("t10k-labels-idx1-ubyte", idxLabels)
        #expect(DataSource.detect(dir.path)?.format == .idx)
        #expect(try DataSource.load(dir.path).train.paths == nil)

        // Hidden folders and images at the root alone are no ImageFolder.
        let other = try ImageDir()
        try other.write("1.png", grayPNG(1))
        try other.write(".hidden/1.png", grayPNG(1))
        try other.write("docs/readme.txt", [1])
        #expect(DataSource.detect(other.path) == nil)
        let error = try #require(dataError { try DataSource.load(other.path) })
        guard case .notADataSet(_, let looked) = error else { Issue.record("\(error)"); return }
        #expect(looked.contains { $0.contains("ImageFolder") })
    }

    /// `--resize`: mixed sizes and channel counts brought to one shape as torchvision's
    /// transforms on PIL images would, pixel for pixel (the expected values are Pillow 12's and 13's).
    @Test func resizeMatchesPILAndMixesSizes() throws {
        // A 5x7 gray gradient (pixel p = 7p mod 256).
        let a = (0..<35).map { UInt8(7 * $0 % 256) }
        func resized(_ r: ImageResize, _ src: [UInt8], h: Int, w: Int, c: Int) -> [UInt8] {
            let (oh, ow) = r.output
            var out = [UInt8](repeating: 0, count: c * oh * ow)
            src.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { r.apply(s.baseAddress!, height: h, width: w, channels: c, into: $0.baseAddress!) } }
            return out
        }
        #expect(resized(.exact(height: 2, width: 3), a, h: 5, w: 7, c: 1) == [55, 70, 85, 153, 168, 183])   // downscale: antialiased
        #expect(resized(.exact(height: 9, width: 11), a, h: 5, w: 7, c: 1) == [
            0, 3, 8, 12, 17, 21, 25, 30, 34, 39, 42, 16, 19, 24, 28, 33, 37, 41, 46, 50, 55, 58,
            44, 47, 52, 56, 61, 65, 69, 74, 78, 83, 86, 71, 74, 79, 83, 88, 92, 96, 101, 105, 110, 113,
            98, 101, 106, 110, 115, 119, 123, 128, 132, 137, 140, 125, 128, 133, 137, 142, 146, 150, 155, 159, 164, 167,
            152, 155, 160, 164, 169, 173, 177, 182, 186, 191, 194, 180, 183, 188, 192, 197, 201, 205, 210, 214, 219, 222,
            196, 199, 204, 208, 213, 217, 221, 226, 230, 235, 238])
        // Resize(3): 5x7 -> 3x4, CenterCrop(3): left offset round(0.5) = 0.
        #expect(resized(.shorter(3), a, h: 5, w: 7, c: 1) == [25, 36, 48, 102, 113, 125, 179, 190, 202])
        #expect(ImageResize.cropOffset(4, 3) == 0 && ImageResize.cropOffset(6, 3) == 2 && ImageResize.cropOffset(8, 3) == 2
                && ImageResize.cropOffset(9, 3) == 3)
        // A 4x9 RGB image (HWC, value 11p mod 256): Resize(2) -> 2x4, crop columns 1..<3, CHW.
        let b = (0..<108).map { UInt8(11 * $0 % 256) }
        #expect(resized(.shorter(2), b, h: 4, w: 9, c: 3) == [123, 179, 185, 140, 133, 174, 170, 82, 144, 156, 181, 83])
        // PIL's convert("L").
        let luma = b.withUnsafeBufferPointer { ImageFolder.convert($0.baseAddress!, pixels: 36, from: 3, to: 1) }
        #expect(Array(luma.prefix(16)) == [9, 42, 75, 108, 141, 174, 207, 240, 17, 50, 83, 116, 149, 182, 215, 219])
        // Parsing, and what it refuses.
        #expect(try ImageResize(parsing: "32") == .shorter(32))
        #expect(try ImageResize(parsing: "64x48") == .exact(height: 64, width: 48))
        for bad in ["0", "x", "32x", "1x2x3", "-4", "5000", ""] {
            #expect(throws: TrainerError.self) { try ImageResize(parsing: bad) }
        }

        // A folder of mixed sizes and colour: refused without --resize, one shape with it.
        let dir = try ImageDir()
        try dir.write("a/1.png", png([UInt8](repeating: 200, count: 3 * 6 * 8), width: 8, height: 6, format: rgb))
        try dir.write("a/2.png", grayPNG(1, width: 5, height: 9))
        try dir.write("b/1.jpg", jpeg([UInt8](repeating: 90, count: 3 * 20 * 30), width: 30, height: 20, channels: 3))
        #expect(dataError { try DataSource.load(dir.path) } != nil)
        let split = try DataSource.load(dir.path, resize: .shorter(4))
        #expect(shape(split.train) == [3, 4, 4] && split.train.count == 3)
        let px = bytes(split.train.pixels)
        #expect(px[0..<48].allSatisfy { $0 == 200 })                      // a uniform image stays uniform
        #expect(px[48..<96].elementsEqual(px[48..<64] + px[48..<64] + px[48..<64]))   // gray copied to the three planes
        #expect(px[96..<144].allSatisfy { abs(Int($0) - 90) <= 2 })          // JPEG's rounding
        let exact = try DataSource.load(dir.path, resize: .exact(height: 3, width: 5))
        #expect(shape(exact.train) == [3, 3, 5])
    }

    /// `--resize` on data sets held in memory (IDX here): every image scaled, labels kept.
    @Test func resizeScalesAnIDXSet() throws {
        let set = Dataset(name: "t", channels: 1, height: 5, width: 7, classes: 2,
                          pixels: .uint8((0..<70).map { UInt8(7 * ($0 % 35) % 256) }), labels: [0, 1])
        let r = try set.resized(.exact(height: 2, width: 3))
        #expect(shape(r) == [1, 2, 3] && r.labels == [0, 1] && bytes(r.pixels) == [55, 70, 85, 153, 168, 183, 55, 70, 85, 153, 168, 183])
        let floats = Dataset(name: "f", channels: 1, height: 2, width: 2, classes: 2, pixels: .float32([0, 1, 2, 3]), labels: [0])
        #expect(throws: TrainerError.self) { try floats.resized(.shorter(4)) }
        // More pixels than Sieve holds: refused before any allocation.
        let many = Dataset(name: "m", channels: 3, height: 2, width: 2, classes: 2, pixels: .uint8([UInt8](repeating: 0, count: 3 * 4 * 1000)),
                           labels: [Int32](repeating: 0, count: 1000))
        #expect(throws: TrainerError.self) { try many.resized(.shorter(4096)) }
    }
}
