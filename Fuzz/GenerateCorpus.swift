// Writes the seed corpus of every fuzz target: valid files, made by Sieve's own writers
// where it has one (scores.csv, meta.json, safetensors, index lists) and by hand in the
// published layouts otherwise (IDX, CIFAR, NPY), some gzip-compressed; PNGs by libpng's
// simplified writer and by hand (stored deflate blocks), JPEGs by libjpeg. Each seed is
// framed for its target (mode byte, then the payload; FuzzInput in Support.swift).
// scripts/fuzz.sh builds it with Sources/Metrics and the CPNG and CJPEG modules:
// `generate-corpus OUTPUT_DIRECTORY`.
import CJPEG
import CPNG
#if canImport(Glibc)
import Glibc
#endif

@main
struct GenerateCorpus {
    static var root = ""

    static func main() throws {
        guard CommandLine.arguments.count == 2 else {
            fputs("usage: generate-corpus OUTPUT_DIRECTORY\n", stderr)
            exit(2)
        }
        root = CommandLine.arguments[1]
        try idx()
        try cifar()
        try npy()
        try safetensors()
        try scores()
        try indexLists()
        try json()
        images()
    }

    // MARK: data sets

    static func idx() throws {
        let images = be32(0x803) + be32(3) + be32(2) + be32(3) + ramp(18)
        let labels = be32(0x801) + be32(3) + [0, 1, 2]
        let testImages = be32(0x803) + be32(2) + be32(2) + be32(3) + ramp(12)
        let testLabels = be32(0x801) + be32(2) + [1, 0]
        seed("idx", "images", [0] + images)
        seed("idx", "images-gz", [0] + gzip(images))
        seed("idx", "labels", [1] + labels)
        seed("idx", "labels-gz", [1] + gzip(labels))
        seed("idx", "split", [2] + framed([images, labels, testImages, testLabels]))
        seed("idx", "split-classes-10", [2 | 2 << 4] + framed([gzip(images), labels, testImages, gzip(testLabels)]))
        seed("idx", "split-stray-label", [2] + framed([images, be32(0x801) + be32(3) + [0, 200, 2], testImages, testLabels]))
    }

    static func cifar() throws {
        func record(_ label: UInt8, fine: UInt8? = nil) -> [UInt8] {
            (fine.map { [label, $0] } ?? [label]) + ramp(3072)
        }
        seed("cifar", "cifar10-batch", [0] + record(3) + record(9))
        seed("cifar", "cifar10-batch-1-record", [0 | 1 << 4] + record(1))
        seed("cifar", "cifar10-batch-gz", [0 | 2 << 4] + gzip(record(3) + record(9)))
        seed("cifar", "cifar100-batch", [1] + record(19, fine: 99) + record(0, fine: 42))
        seed("cifar", "cifar10-directory", [2] + framed((0..<6).map { record(UInt8($0)) }))
        seed("cifar", "cifar10-directory-classes", [2 | 4 << 4] + framed((0..<6).map { record(UInt8($0 + 3)) }))
        seed("cifar", "cifar100-directory", [3] + framed([record(5, fine: 55), gzip(record(6, fine: 66))]))
    }

    static func npy() throws {
        let u8 = npyFile("|u1", [2, 2, 3], ramp(12))
        let hwc = npyFile("|u1", [2, 2, 2, 3], ramp(24))
        let f32 = npyFile("<f4", [2, 3, 2, 2], (0..<24).flatMap { le(Float($0) * 0.5 - 3) })
        let bigF32 = npyFile(">f4", [1, 1, 2, 2], (0..<4).flatMap { be32(Float($0).bitPattern) })
        seed("npy", "images-u1", [0] + u8)
        seed("npy", "images-hwc", [0] + gzip(hwc))
        seed("npy", "images-f4-v2", [0] + npyFile("<f4", [2, 3, 2, 2], (0..<24).flatMap { le(Float($0)) }, version: 2))
        seed("npy", "images-f4", [0] + f32)
        seed("npy", "images-f4-big", [0] + bigF32)
        for (code, size) in [("i1", 1), ("u1", 1), ("i2", 2), ("u2", 2), ("i4", 4), ("u4", 4), ("i8", 8), ("u8", 8)] {
            for order in size == 1 ? ["|"] : ["<", ">"] {
                let data = [Int64(2), 0, 1].flatMap { v -> [UInt8] in
                    let little = (0..<size).map { UInt8(truncatingIfNeeded: v >> (8 * Int64($0))) }
                    return order == ">" ? little.reversed() : little
                }
                seed("npy", "labels-\(code)-\(order == ">" ? "big" : "little")", [1] + npyFile(order + code, [3], data))
            }
        }
        seed("npy", "labels-n1", [1] + npyFile("<i8", [2, 1], le(Int64(1)) + le(Int64(0))))
        seed("npy", "header-v3", [2] + npyFile("<u4", [5, 1], [], version: 3))
        let python2 = Array("{\"descr\": \"|u1\", \"shape\": (2L, 3L), \"fortran_order\": False}\n".utf8)
        seed("npy", "header-python2", [2, 0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(python2.count), 0] + python2 + ramp(6))
        let labels = npyFile("<i8", [2], le(Int64(1)) + le(Int64(0)))
        let testLabels = npyFile("|u1", [2], [0, 1])
        seed("npy", "split", [3] + framed([u8, labels, npyFile("|u1", [2, 2, 3], ramp(12)), testLabels]))
        seed("npy", "split-f4-classes", [3 | 3 << 4] + framed([f32, npyFile("<i2", [2], le(Int16(3)) + le(Int16(10))),
                                                             f32, npyFile("<i4", [2], le(Int32(0)) + le(Int32(9)))]))
    }

    // MARK: Metrics files (Sieve's own writers)

    static func safetensors() throws {
        var writer = SafeTensorsWriter()
        writer.add("conv1.weight", (0..<8).map { Float($0) / 3 }, shape: [2, 1, 2, 2])
        writer.add("labels", [Int32(3), -1, 7], shape: [3])
        writer.add("scalar", [Float(1.5)], shape: [])
        writer.add("empty", [Float](), shape: [0, 4])
        seed("safetensors", "writer", try written { try writer.write(to: $0) })
        var one = SafeTensorsWriter()
        one.add("w", [Float(-0.0)], shape: [1])
        seed("safetensors", "one", try written { try one.write(to: $0) })
        let header = Array("{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}".utf8)
        seed("safetensors", "metadata", (0..<8).map { UInt8(truncatingIfNeeded: header.count >> (8 * $0)) } + header + [0, 0, 0x80, 0x3f])
    }

    static func scores() throws {
        var table = ScoreTable(givenLabels: [3, 0, 1], originalLabels: [3, 2, 1])
        table.add(Score(name: "el2n", values: [0.25, 1e-300, 12345.678], note: "n"))
        table.add(Score(name: "aum", values: [-.infinity, .nan, .infinity], note: "n"))
        let dir = temporaryDirectory()
        try table.write(to: dir, meta: [("command", .string("sieve score dynamics")), ("seed", .int(0))])
        let csv = read(dir + "/scores.csv")
        seed("scores", "sieve", [0] + csv)
        seed("scores", "sieve-rows", [3] + csv)
        seed("json", "meta", read(dir + "/meta.json"))
        for name in ["scores.csv", "meta.json", "el2n.npy", "aum.npy"] { unlink(dir + "/" + name) }
        var images = ScoreTable(givenLabels: [1, 0], originalLabels: [1, 1])
        images.sourceIndices = [4, 2]
        images.paths = ["train/cat/a,b.png", "train/dog/\"q\" é.JPG"]
        images.add(Score(name: "forgetting", values: [2, 0], note: "n"))
        try images.write(to: dir, meta: [("command", .string("sieve score dynamics"))])
        seed("scores", "sieve-paths", [0] + read(dir + "/scores.csv"))
        for name in ["scores.csv", "meta.json", "forgetting.npy"] { unlink(dir + "/" + name) }
        rmdir(dir)
        seed("scores", "pandas", [2] + Array("index,label,flag,score\r\n0,1,True,inf\r\n1,0,False,\r\n".utf8))
        seed("scores", "two", [0] + Array("\u{FEFF}index,label,forgetting,first_learned_epoch\n0,1,-inf,1e3\n1,9,NaN,.5\n".utf8))
    }

    static func indexLists() throws {
        seed("indexlist", "writer", [0] + (try written { try Pruning.writeIndexList([0, 3, 17, 42, 12_345], to: $0) }))
        seed("indexlist", "comments", [1] + Array("# kept by el2n\n\n  5 \n# another\n2\r\n9".utf8))
    }

    static func json() throws {
        let value = JSON.object([
            ("command", .string("sieve score dynamics --out \"a b\"\n\t\u{1} é 😀")), ("examples", .int(12000)),
            ("lr", .double(0.05)), ("tiny", .double(1e-05)), ("nan", .double(.nan)), ("quiet", .bool(false)),
            ("seeds", .array([.int(0), .int(-7), .int(Int.max)])),
            ("scores", .object([("aum", .object([("direction", .string("lower")), ("meaning", .string("m"))]))])),
        ])
        seed("json", "writer", Array(value.rendered.utf8))
        seed("json", "escapes", Array("[\"\\u00e9\\ud83d\\ude00\\/\\b\\f\\n\\r\\t\", -0.5E+2, 1e-7, true, null, {}]".utf8))
    }

    // MARK: images (ImageFolder)

    static let grayFormat = UInt32(PNG_FORMAT_GRAY), colorFormat = UInt32(PNG_FORMAT_FLAG_COLOR)
    static let alphaFlag = UInt32(PNG_FORMAT_FLAG_ALPHA), linearFlag = UInt32(PNG_FORMAT_FLAG_LINEAR)
    static let colormapFlag = UInt32(PNG_FORMAT_FLAG_COLORMAP)

    static func images() {
        let (w, h) = (7, 5)
        let grayPixels = ramp(w * h), rgbPixels = ramp(w * h * 3)
        let gray = png(grayPixels, w, h, grayFormat)
        let rgb = png(rgbPixels, w, h, colorFormat)
        let palette = png(ramp(w * h).map { $0 % 4 }, w, h, colorFormat | colormapFlag, colormap: ramp(12), entries: 4)
        seed("image", "png-gray", [0] + gray)
        seed("image", "png-gray-alpha", [0] + png(ramp(w * h * 2), w, h, grayFormat | alphaFlag))
        seed("image", "png-rgb", [0] + rgb)
        seed("image", "png-rgba", [0] + png(ramp(w * h * 4), w, h, colorFormat | alphaFlag))
        seed("image", "png-palette", [0] + palette)
        seed("image", "png-palette-trns", [0] + png(ramp(w * h).map { $0 % 3 }, w, h, colorFormat | alphaFlag | colormapFlag,
                                                      colormap: ramp(12), entries: 3))
        let samples = (0..<(w * h * 4)).map { UInt16(truncatingIfNeeded: $0 &* 2531) }
        seed("image", "png-gray-16", [0] + png16(Array(samples.prefix(w * h)), w, h, grayFormat | linearFlag))
        seed("image", "png-rgba-16", [0] + png16(samples, w, h, colorFormat | alphaFlag | linearFlag))
        // By hand: what the simplified writer cannot make.
        for depth in [1, 2, 4] as [UInt8] {
            let rowBytes = (w * Int(depth) + 7) / 8
            seed("image", "png-gray-\(depth)bit", [0] + rawPNG(w, h, depth: depth, colorType: 0, rows: (0..<h).map { y in (0..<rowBytes).map { UInt8(truncatingIfNeeded: 0xa5 &+ 37 &* ($0 + y)) } }))
        }
        seed("image", "png-rgb-16", [0] + rawPNG(w, h, depth: 16, colorType: 2, rows: (0..<h).map { ramp(w * 6 + $0).suffix(w * 6) }))
        seed("image", "png-adam7", [0] + rawPNG(w, h, depth: 8, colorType: 2, rows: (0..<h).map { _ in ramp(w * 3) }, interlaced: true))
        seed("image", "png-ancillary", [0] + rawPNG(w, h, depth: 8, colorType: 0, rows: (0..<h).map { _ in ramp(w) },
                                                    extra: [("gAMA", be32(45455)), ("tEXt", Array("Comment\0sieve".utf8)),
                                                            ("tRNS", [0, 7])]))
        seed("image", "png-palette-bare", [0] + rawPNG(w, h, depth: 2, colorType: 3, rows: (0..<h).map { _ in ramp(2) },
                                                       extra: [("PLTE", ramp(12))]))
        let jpegGray = jpeg(grayPixels, w, h, channels: 1)
        let jpegRGB = jpeg(rgbPixels, w, h, channels: 3)
        seed("image", "jpeg-gray", [0] + jpegGray)
        seed("image", "jpeg-rgb", [0] + jpegRGB)
        seed("image", "jpeg-rgb-q20", [0] + jpeg(rgbPixels, w, h, channels: 3, quality: 20))
        seed("image", "jpeg-cmyk", [0] + jpeg(ramp(w * h * 4), w, h, channels: 4))
        seed("image", "jpeg-rgb-17x9-progressive", [0] + jpeg(ramp(17 * 9 * 3), 17, 9, channels: 3, progressive: true))
        seed("image", "jpeg-rgb-arithmetic", [0] + jpeg(rgbPixels, w, h, channels: 3, arithmetic: true))
        seed("image", "jpeg-rgb-444-restart", [0] + jpeg(ramp(20 * 12 * 3), 20, 12, channels: 3, sampling444: true, restartRows: 1))
        seed("image", "jpeg-gray-progressive-arithmetic", [0] + jpeg(ramp(16 * 16), 16, 16, channels: 1, progressive: true, arithmetic: true))
        // Folders: images of one shape (mode 1: two classes; mode 2: train/ and test/).
        seed("image", "folder-gray", [1] + framed([gray, jpegGray]))
        seed("image", "folder-rgb-classes-10", [1 | 2 << 4] + framed([rgb, jpegRGB]))
        seed("image", "split-rgb", [2] + framed([jpegRGB, palette, rgb]))
    }

    /// A PNG from libpng's simplified writer (`format` a `PNG_FORMAT_*`; colour-mapped
    /// formats take `pixels` as indices into `colormap`, `entries` colours).
    static func png(_ pixels: [UInt8], _ width: Int, _ height: Int, _ format: UInt32,
                    colormap: [UInt8]? = nil, entries: Int = 0) -> [UInt8] {
        pixels.withUnsafeBytes { pngWrite($0, width, height, format, colormap: colormap, entries: entries) }
    }

    static func png16(_ samples: [UInt16], _ width: Int, _ height: Int, _ format: UInt32) -> [UInt8] {
        samples.withUnsafeBytes { pngWrite($0, width, height, format, colormap: nil, entries: 0) }
    }

    static func pngWrite(_ raw: UnsafeRawBufferPointer, _ width: Int, _ height: Int, _ format: UInt32,
                         colormap: [UInt8]?, entries: Int) -> [UInt8] {
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
            guard png_image_write_to_memory(&image, nil, &size, 0, raw.baseAddress, 0, cmap) != 0 else { return nil }
            var out = [UInt8](repeating: 0, count: size)
            let ok = out.withUnsafeMutableBytes { png_image_write_to_memory(&image, $0.baseAddress, &size, 0, raw.baseAddress, 0, cmap) }
            return ok != 0 ? Array(out.prefix(size)) : nil
        }
        guard let written else { fatalError("libpng could not write a \(width)x\(height) PNG of format \(format)") }
        return written
    }

    /// A PNG assembled by hand: `rows` of packed samples (unfiltered), zlib in stored
    /// blocks, Adam7-interlaced when asked (8-bit and 16-bit samples only), `extra` chunks
    /// before IDAT.
    static func rawPNG(_ width: Int, _ height: Int, depth: UInt8, colorType: UInt8, rows: [[UInt8]],
                       interlaced: Bool = false, extra: [(String, [UInt8])] = []) -> [UInt8] {
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let body = Array(type.utf8) + data
            return be32(UInt32(data.count)) + body + be32(crc32(body))
        }
        var filtered: [UInt8] = []
        if interlaced {
            let pixelBytes = rows[0].count / width
            let passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
            for (x0, y0, dx, dy) in passes where x0 < width && y0 < height {
                for y in stride(from: y0, to: height, by: dy) {
                    filtered.append(0)
                    for x in stride(from: x0, to: width, by: dx) { filtered += rows[y][(x * pixelBytes)..<((x + 1) * pixelBytes)] }
                }
            }
        } else {
            filtered = rows.flatMap { [0] + $0 }
        }
        var zlib: [UInt8] = [0x78, 0x01]
        var start = 0
        repeat {
            let n = min(65535, filtered.count - start)
            let last: UInt8 = start + n == filtered.count ? 1 : 0
            zlib += [last, UInt8(n & 0xff), UInt8(n >> 8), UInt8(~n & 0xff), UInt8((~n >> 8) & 0xff)]
            zlib += filtered[start..<(start + n)]
            start += n
        } while start < filtered.count
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in filtered { a = (a + UInt32(byte)) % 65521; b = (b + a) % 65521 }
        zlib += be32(b << 16 | a)
        let header = be32(UInt32(width)) + be32(UInt32(height)) + [depth, colorType, 0, 0, interlaced ? 1 : 0]
        return [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] + chunk("IHDR", header)
            + extra.flatMap { chunk($0.0, $0.1) } + chunk("IDAT", zlib) + chunk("IEND", [])
    }

    /// A JPEG written by libjpeg (`channels` 1 gray, 3 RGB stored as YCbCr, 4 CMYK), baseline
    /// Huffman 4:2:0 unless asked otherwise.
    static func jpeg(_ pixels: [UInt8], _ width: Int, _ height: Int, channels: Int, quality: Int32 = 90,
                     progressive: Bool = false, arithmetic: Bool = false, sampling444: Bool = false,
                     restartRows: Int32 = 0) -> [UInt8] {
        precondition(pixels.count == width * height * channels)
        var errors = jpeg_error_mgr()
        var cinfo = jpeg_compress_struct()
        cinfo.err = jpeg_std_error(&errors) // error_exit prints and exits: fine for the generator
        jpeg_CreateCompress(&cinfo, JPEG_LIB_VERSION, MemoryLayout<jpeg_compress_struct>.size)
        var out: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        jpeg_mem_dest(&cinfo, &out, &size)
        cinfo.image_width = JDIMENSION(width)
        cinfo.image_height = JDIMENSION(height)
        cinfo.input_components = Int32(channels)
        cinfo.in_color_space = channels == 1 ? JCS_GRAYSCALE : channels == 3 ? JCS_RGB : JCS_CMYK
        jpeg_set_defaults(&cinfo)
        jpeg_set_quality(&cinfo, quality, 1)
        if progressive { jpeg_simple_progression(&cinfo) }
        cinfo.arith_code = arithmetic ? 1 : 0
        cinfo.restart_in_rows = restartRows
        if sampling444, channels == 3 { cinfo.comp_info[0].h_samp_factor = 1; cinfo.comp_info[0].v_samp_factor = 1 }
        jpeg_start_compress(&cinfo, 1)
        pixels.withUnsafeBufferPointer { p in
            while cinfo.next_scanline < cinfo.image_height {
                var row: JSAMPROW? = UnsafeMutablePointer(mutating: p.baseAddress! + Int(cinfo.next_scanline) * width * channels)
                jpeg_write_scanlines(&cinfo, &row, 1)
            }
        }
        jpeg_finish_compress(&cinfo)
        jpeg_destroy_compress(&cinfo)
        defer { free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(size)))
    }

    // MARK: helpers

    static func seed(_ target: String, _ name: String, _ bytes: [UInt8]) {
        mkdir(root, 0o755)
        mkdir(root + "/" + target, 0o755)
        let path = root + "/" + target + "/" + name
        guard let f = fopen(path, "wb") else { fatalError("cannot write \(path)") }
        _ = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, f) }
        fclose(f)
    }

    /// Parts framed for FuzzInput.parts: each but the last prefixed by its 2-byte length.
    static func framed(_ parts: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = []
        for (k, p) in parts.enumerated() {
            if k < parts.count - 1 {
                precondition(p.count <= 0xffff)
                out += [UInt8(p.count & 0xff), UInt8(p.count >> 8)]
            }
            out += p
        }
        return out
    }

    static func written(_ write: (String) throws -> Void) throws -> [UInt8] {
        let dir = temporaryDirectory()
        let path = dir + "/file"
        try write(path)
        let bytes = read(path)
        unlink(path)
        rmdir(dir)
        return bytes
    }

    static func temporaryDirectory() -> String {
        var template = Array("/tmp/sieve-corpus-XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }

    static func read(_ path: String) -> [UInt8] {
        guard let f = fopen(path, "rb") else { fatalError("cannot read \(path)") }
        defer { fclose(f) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buffer, 1, buffer.count, f)
            if n <= 0 { break }
            out += buffer[0..<n]
        }
        return out
    }

    static func ramp(_ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 37) } }

    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)] }

    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

    static func le(_ v: Float) -> [UInt8] { le(v.bitPattern) }

    /// An NPY file as numpy writes it (header padded to a multiple of 64 bytes).
    static func npyFile(_ descr: String, _ shape: [Int], _ data: [UInt8], version: UInt8 = 1) -> [UInt8] {
        let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var dict = Array("{'descr': '\(descr)', 'fortran_order': False, 'shape': \(dims), }".utf8)
        let fixed = version == 1 ? 10 : 12
        while (fixed + dict.count + 1) % 64 != 0 { dict.append(0x20) }
        dict.append(0x0a)
        let length = version == 1 ? [UInt8(dict.count & 0xff), UInt8(dict.count >> 8)]
                                  : [UInt8(dict.count & 0xff), UInt8(dict.count >> 8), 0, 0]
        return [0x93] + Array("NUMPY".utf8) + [version, 0] + length + dict + data
    }

    /// A gzip member holding `data` in stored (uncompressed) deflate blocks.
    static func gzip(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]
        var offset = 0
        repeat {
            let n = min(65535, data.count - offset)
            let last: UInt8 = offset + n == data.count ? 1 : 0
            out += [last, UInt8(n & 0xff), UInt8(n >> 8), UInt8(~n & 0xff), UInt8((~n >> 8) & 0xff)]
            out += data[offset..<(offset + n)]
            offset += n
        } while offset < data.count
        return out + le(crc32(data)) + le(UInt32(truncatingIfNeeded: data.count))
    }

    static func crc32(_ data: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xffff_ffff
        for byte in data {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xedb8_8320 : crc >> 1 }
        }
        return ~crc
    }
}
