import Kernels

/// How an ImageFolder's images of mixed sizes are brought to one size (`--resize`), as
/// torchvision's transforms on PIL images do it:
/// - `.shorter(S)`: `Resize(S)` then `CenterCrop(S)`: the shorter side scaled to `S`
///   (the longer to `Int(S * long / short)`, aspect kept), then the centre `S x S`
///   (offsets rounded half to even, as Python's `round`);
/// - `.exact(H, W)`: `Resize((H, W))`: both sides scaled, aspect not kept.
/// Scaling is PIL's bilinear filter with its antialiasing (the triangle's support widened
/// by the scale factor on downscale), separable, horizontal pass first, 8-bit rounding
/// between the passes: ``ImageResampler``.
public enum ImageResize: Equatable, Sendable, CustomStringConvertible {
    case shorter(Int)
    case exact(height: Int, width: Int)

    /// The largest side `--resize` accepts.
    public static let maxSide = 4096

    /// Parses `S` or `HxW` (`--resize 32`, `--resize 64x48`).
    public init(parsing text: String) throws {
        let parts = text.split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
        let hint = "--resize takes S (shorter side to S, then the centre SxS) or HxW, sides 1 to \(Self.maxSide), e.g. 32 or 64x48"
        guard parts.allSatisfy({ $0 != nil && $0! >= 1 && $0! <= Self.maxSide }) else {
            throw TrainerError.invalid("--resize \(text) is not a size: " + hint)
        }
        switch parts.count {
        case 1: self = .shorter(parts[0]!)
        case 2: self = .exact(height: parts[0]!, width: parts[1]!)
        default: throw TrainerError.invalid("--resize \(text) is not a size: " + hint)
        }
    }

    /// The text `init(parsing:)` reads back: `32` or `64x48`.
    public var description: String {
        switch self {
        case .shorter(let s): "\(s)"
        case .exact(let h, let w): "\(h)x\(w)"
        }
    }

    /// The size every image ends up with.
    public var output: (height: Int, width: Int) {
        switch self {
        case .shorter(let s): (s, s)
        case .exact(let h, let w): (h, w)
        }
    }

    /// What the transform does, in torchvision's words (for metadata and logs).
    public var torchvision: String {
        switch self {
        case .shorter(let s): "Resize(\(s), BILINEAR, antialias) + CenterCrop(\(s))"
        case .exact(let h, let w): "Resize((\(h), \(w)), BILINEAR, antialias)"
        }
    }

    /// The scaled size of an `h x w` image before the crop.
    func scaled(height h: Int, width w: Int) -> (height: Int, width: Int) {
        switch self {
        case .exact(let oh, let ow): return (oh, ow)
        case .shorter(let s):
            if w <= h { return (Int(Double(s) * Double(h) / Double(w)), s) }   // torchvision: int(size * long / short)
            return (s, Int(Double(s) * Double(w) / Double(h)))
        }
    }

    /// The top-left corner of the centre crop of `output` out of a `scaled` image:
    /// `round((scaled - output) / 2)`, halves to even.
    static func cropOffset(_ scaled: Int, _ output: Int) -> Int {
        let excess = scaled - output
        guard excess % 2 != 0 else { return excess / 2 }
        let half = excess / 2   // excess = 2 half + 1: (half + 0.5) rounds to the even one
        return half % 2 == 0 ? half : half + 1
    }

    /// Resizes one interleaved (HWC) 8-bit image of `channels` to this transform's output,
    /// into `destination` (CHW, `channels * H * W` bytes, of the output's size).
    func apply(_ hwc: UnsafePointer<UInt8>, height h: Int, width w: Int, channels c: Int,
               into destination: UnsafeMutablePointer<UInt8>) {
        plan(height: h, width: w).apply(hwc, channels: c, into: destination)
    }

    /// The resampling of an `h x w` image: its coefficients, computed once for every
    /// image of that size.
    func plan(height h: Int, width w: Int) -> ImageResizePlan {
        let (sh, sw) = scaled(height: h, width: w)
        let (oh, ow) = output
        let top = Self.cropOffset(sh, oh), left = Self.cropOffset(sw, ow)
        // Only the rows and columns the crop keeps are computed (PIL's box): the same pixels.
        return ImageResizePlan(height: h, width: w, outHeight: oh, outWidth: ow,
                               horizontal: ImageResampler(input: w, output: sw, keep: left..<(left + ow)),
                               vertical: ImageResampler(input: h, output: sh, keep: top..<(top + oh)))
    }
}

/// ``ImageResize`` for one input size: horizontal pass, then vertical, 8-bit between.
struct ImageResizePlan {
    let height: Int, width: Int, outHeight: Int, outWidth: Int
    let horizontal: ImageResampler, vertical: ImageResampler

    /// `hwc` (`height x width x channels`) into `destination` (CHW of the output size).
    func apply(_ hwc: UnsafePointer<UInt8>, channels c: Int, into destination: UnsafeMutablePointer<UInt8>) {
        let (h, w, oh, ow) = (height, width, outHeight, outWidth)
        var rows = [UInt8](repeating: 0, count: h * ow * c)   // [h, ow, c] after the horizontal pass
        rows.withUnsafeMutableBufferPointer { r in
            for y in 0..<h { horizontal.resample(hwc + y * w * c, stride: c, channels: c, into: r.baseAddress! + y * ow * c, outStride: c) }
            // The vertical pass reads columns (stride ow * c) and writes the CHW planes.
            for x in 0..<ow {
                for ch in 0..<c {
                    vertical.resample(UnsafePointer(r.baseAddress! + x * c + ch), stride: ow * c, channels: 1,
                                      into: destination + ch * oh * ow + x, outStride: ow)
                }
            }
        }
    }
}

/// PIL's resampling of one axis (`Resample.c`, bilinear): output pixel `i` centred at
/// `(i + 0.5) * scale` (`scale = input / output`) averages the inputs within the
/// triangle's support, `max(1, scale)` wide on each side, weights `1 - |x - centre| /
/// max(1, scale)` normalised to one and held in 22-bit fixed point; the sum is rounded
/// and clipped to 0...255.
struct ImageResampler {
    static let precisionBits = 22
    /// Per kept output pixel: the first input and the fixed-point weights.
    let first: [Int]
    let weights: [[Int32]]

    /// - Parameter keep: the output pixels computed (a crop of `0..<output`).
    init(input: Int, output: Int, keep: Range<Int>) {
        let scale = Double(input) / Double(output)
        let filterScale = max(scale, 1)
        let support = 1.0 * filterScale
        var first: [Int] = [], weights: [[Int32]] = []
        for i in keep {
            let centre = (Double(i) + 0.5) * scale
            let lo = max(Int(centre - support + 0.5), 0)
            let hi = min(Int(centre + support + 0.5), input)
            var k = (lo..<hi).map { x in max(0, 1 - abs((Double(x) - centre + 0.5) / filterScale)) }
            let total = k.reduce(0, +)
            if total != 0 { k = k.map { $0 / total } }
            first.append(lo)
            weights.append(k.map { Int32(($0 * Double(1 << Self.precisionBits) + 0.5).rounded(.towardZero)) })
        }
        self.first = first; self.weights = weights
    }

    /// Resamples one line of `channels` interleaved samples: input sample `x`, channel
    /// `ch` at `line[x * stride + ch]`; output `j`, channel `ch` at `out[j * outStride + ch]`.
    func resample(_ line: UnsafePointer<UInt8>, stride: Int, channels: Int, into out: UnsafeMutablePointer<UInt8>, outStride: Int) {
        for j in first.indices {
            let w = weights[j], x0 = first[j]
            for ch in 0..<channels {
                var sum = Int64(1) << (Self.precisionBits - 1)
                for t in w.indices { sum += Int64(line[(x0 + t) * stride + ch]) * Int64(w[t]) }
                out[j * outStride + ch] = UInt8(clamping: sum >> Self.precisionBits)
            }
        }
    }
}

extension DataSplit {
    /// Both sets resized (nil: unchanged); see ``Dataset/resized(_:)``.
    func resized(_ resize: ImageResize?) throws -> DataSplit {
        guard let resize else { return self }
        return DataSplit(train: try train.resized(resize), test: try test.resized(resize))
    }
}

extension Dataset {
    /// The pixels of an 8-bit set as `(N, H, W, C)` bytes (NumPy's image layout).
    public func pixelsHWC() throws -> [UInt8] {
        guard case .uint8(let chw) = pixels else {
            throw TrainerError.invalid("\(name) holds float32 pixels, not 8-bit images")
        }
        guard channels > 1 else { return chw }
        var out = [UInt8](repeating: 0, count: chw.count)
        chw.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<count { Self.toHWC(src.baseAddress! + i * exampleSize, channels: channels, plane: height * width,
                                                into: dst.baseAddress! + i * exampleSize) }
            }
        }
        return out
    }

    /// One CHW image as HWC.
    static func toHWC(_ chw: UnsafePointer<UInt8>, channels c: Int, plane: Int, into hwc: UnsafeMutablePointer<UInt8>) {
        for p in 0..<plane { for ch in 0..<c { hwc[p * c + ch] = chw[ch * plane + p] } }
    }

    /// Every image brought to `resize`'s output size (8-bit data sets held in memory:
    /// IDX, CIFAR, NPY uint8), in parallel; float images are refused.
    public func resized(_ resize: ImageResize) throws -> Dataset {
        let (oh, ow) = resize.output
        if oh == height && ow == width { return self }   // the identity (PIL's resize returns a copy too)
        guard case .uint8(let source) = pixels else {
            throw TrainerError.invalid("--resize scales 8-bit images; \(name) holds float32 pixels: resize them before saving the NPY file")
        }
        let c = channels, inSize = exampleSize, outSize = c * oh * ow, n = count
        let (bytes, overflow) = n.multipliedReportingOverflow(by: outSize)
        guard !overflow && bytes <= ImageFolder.maxTotalBytes else {
            throw TrainerError.invalid("--resize \(resize) makes \(n) images of \(c)x\(oh)x\(ow): more than Sieve's "
                                       + "\(ImageFolder.maxTotalBytes >> 30) GiB of pixels; choose a smaller size or fewer images (--limit)")
        }
        let plan = resize.plan(height: height, width: width)   // one size: one set of coefficients
        let out = [UInt8](unsafeUninitializedCapacity: n * outSize) { buffer, initialized in
            source.withUnsafeBufferPointer { src in
                let base = buffer.baseAddress!
                parallelRanges(n, grain: 64) { range in
                    var hwc = [UInt8](repeating: 0, count: inSize)
                    hwc.withUnsafeMutableBufferPointer { scratch in
                        for i in range {
                            Self.toHWC(src.baseAddress! + i * inSize, channels: c, plane: height * width, into: scratch.baseAddress!)
                            plan.apply(scratch.baseAddress!, channels: c, into: base + i * outSize)
                        }
                    }
                }
            }
            initialized = n * outSize
        }
        return Dataset(name: name, channels: c, height: oh, width: ow, classes: classes, pixels: .uint8(out), labels: labels,
                       paths: paths, classNames: classNames)
    }
}
