import Kernels

/// Seeded data augmentation: random crop after padding and horizontal flip
/// (torchvision's `RandomCrop(size, padding)` + `RandomHorizontalFlip`).
public struct Augmentation: Sendable, Equatable {
    /// Pixels of padding before the random crop; 0 disables cropping.
    public var cropPadding: Int
    /// Mirror-pad (`reflect`) instead of zero-pad.
    public var reflect: Bool
    public var horizontalFlip: Bool

    public init(cropPadding: Int = 4, reflect: Bool = false, horizontalFlip: Bool = true) {
        self.cropPadding = cropPadding; self.reflect = reflect; self.horizontalFlip = horizontalFlip
    }

    public static let none = Augmentation(cropPadding: 0, reflect: false, horizontalFlip: false)
    public var isNone: Bool { cropPadding == 0 && !horizontalFlip }
}

/// Per-channel normalisation `(v - mean) / std` with `v` in [0, 1] for byte images.
public struct Normalization: Sendable, Equatable {
    public var mean: [Float]
    public var std: [Float]

    public init(mean: [Float], std: [Float]) { self.mean = mean; self.std = std }

    /// `MEAN/STD` with one comma-separated value per channel on each side (torchvision's
    /// `Normalize(mean, std)` for pixels in [0, 1]), e.g. `0.4914,0.4822,0.4465/0.247,0.2435,0.2616`;
    /// one value on a side stands for every channel.
    /// - Throws: ``TrainerError`` for a malformed text, a count that is neither 1 nor
    ///   `channels`, a value that is not finite, or a standard deviation that is not positive.
    public init(parsing text: String, channels: Int) throws {
        let sides = text.split(separator: "/", omittingEmptySubsequences: false)
        func values(_ side: Substring, _ what: String) throws -> [Float] {
            let v = side.split(separator: ",", omittingEmptySubsequences: false).map { Float($0.filter { !$0.isWhitespace }) }
            guard !v.isEmpty, v.allSatisfy({ $0 != nil && $0!.isFinite }) else {
                throw TrainerError.invalid("--normalize \(text): the \(what) side is not a comma-separated list of numbers (MEAN/STD, e.g. 0.2860/0.3530)")
            }
            guard v.count == 1 || v.count == channels else {
                throw TrainerError.invalid("--normalize \(text): \(v.count) \(what) values for images of \(channels) channel(s); give \(channels == 1 ? "one" : "1 or \(channels)")")
            }
            return v.count == 1 ? Array(repeating: v[0]!, count: channels) : v.map { $0! }
        }
        guard sides.count == 2 else {
            throw TrainerError.invalid("--normalize \(text): expected MEAN/STD (comma-separated per channel), e.g. 0.4914,0.4822,0.4465/0.247,0.2435,0.2616")
        }
        let mean = try values(sides[0], "mean"), std = try values(sides[1], "std")
        guard std.allSatisfy({ $0 > 0 }) else { throw TrainerError.invalid("--normalize \(text): a standard deviation must be positive") }
        self.init(mean: mean, std: std)
    }

    /// Mean and (population) standard deviation of each channel over a data set.
    public init(fitting data: Dataset) {
        let C = data.channels, plane = data.height * data.width
        var sums = [Double](repeating: 0, count: C), squares = [Double](repeating: 0, count: C)
        func accumulate(_ value: (Int) -> Double) {
            for i in 0..<data.count {
                for c in 0..<C {
                    let base = (i * C + c) * plane
                    var s = 0.0, q = 0.0
                    for j in 0..<plane { let v = value(base + j); s += v; q += v * v }
                    sums[c] += s; squares[c] += q
                }
            }
        }
        switch data.pixels {
        case .uint8(let px): px.withUnsafeBufferPointer { p in accumulate { Double(p[$0]) / 255 } }
        case .float32(let px): px.withUnsafeBufferPointer { p in accumulate { Double(p[$0]) } }
        }
        let n = Double(max(1, data.count * plane))
        mean = sums.map { Float($0 / n) }
        std = zip(sums, squares).map { s, q in Float(max((q / n - (s / n) * (s / n)), 1e-12).squareRoot()) }
    }
}

/// Turns example indices into device batches: gathers, augments, normalises and
/// writes channel-major `[C, N, H, W]` images and int32 labels. Buffers are allocated
/// once for `maxBatch`, twice over: consecutive loads alternate between two slots (host
/// staging and device tensors), and the upload is queued without waiting, so the next
/// batch can be prepared and sent while the device still computes the current one
/// (a batch stays valid until the load after next).
public final class Batcher {
    public let dataset: Dataset
    public let normalization: Normalization
    public let device: Device
    public let maxBatch: Int
    /// Per slot: device images `[C, maxBatch, H, W]` and labels `[maxBatch]`.
    private let images: [Tensor]
    private let labels: [Tensor]
    /// Per slot: host staging that stays unchanged until its upload has run (the slot is
    /// reused two loads later, after the caller's download of the batch in between).
    private let hostImages: [UnsafeMutableBufferPointer<Float>]
    private let hostLabels: [UnsafeMutableBufferPointer<Int32>]
    /// The slot of the last load.
    private var slot = 1

    public init(dataset: Dataset, normalization: Normalization, device: Device, maxBatch: Int) {
        self.dataset = dataset
        self.normalization = normalization
        self.device = device
        self.maxBatch = maxBatch
        let shape = FeatureShape(dataset.channels, dataset.height, dataset.width)
        images = (0..<2).map { _ in device.makeTensor(shape.batched(maxBatch)) }
        labels = (0..<2).map { _ in device.makeTensor([maxBatch], dtype: .int32) }
        hostImages = (0..<2).map { _ in
            let b = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(1, shape.count * maxBatch))
            b.initialize(repeating: 0)
            return b
        }
        hostLabels = (0..<2).map { _ in
            let b = UnsafeMutableBufferPointer<Int32>.allocate(capacity: max(1, maxBatch))
            b.initialize(repeating: 0)
            return b
        }
    }

    deinit {
        device.synchronize()   // no queued upload may still read the staging
        for b in hostImages { b.deallocate() }
        for b in hostLabels { b.deallocate() }
    }

    /// Loads the examples `indices` (at most `maxBatch`), augmented with streams keyed
    /// by `(seed, epoch, example index)` so a batch is reproducible on its own.
    /// `labelOverride` replaces the data set's labels (label noise).
    @discardableResult
    public func load(_ indices: ArraySlice<Int32>, augmentation: Augmentation, seed: UInt64, epoch: Int,
                     labelOverride: [Int32]? = nil) -> Batch {
        let n = indices.count
        guard n > 0 && n <= maxBatch else { fatalError("batch of \(n) outside 1...\(maxBatch)") }
        if let bad = indices.first(where: { $0 < 0 || Int($0) >= dataset.count }) {
            fatalError("example \(bad) outside the data set of \(dataset.count)")
        }
        let C = dataset.channels, H = dataset.height, W = dataset.width, plane = H * W
        let mean = normalization.mean, std = normalization.std
        let pad = augmentation.cropPadding, reflect = augmentation.reflect, flip = augmentation.horizontalFlip
        let first = indices.startIndex
        slot = 1 - slot
        let out = hostImages[slot], outLabels = hostLabels[slot], images = images[slot], labels = labels[slot]
        do {
            let dst = out.baseAddress!
            func fill(_ value: (Int) -> Float) {
                parallelRanges(n) { range in
                    for b in range {
                        let index = Int(indices[first + b])
                        var top = pad, left = pad, mirror = false
                        if !augmentation.isNone {
                            var rng = SeededRandom(seed: seed, purpose: "augment", epoch: epoch, item: index)
                            if pad > 0 {
                                top = Int(rng.next() % UInt64(2 * pad + 1))
                                left = Int(rng.next() % UInt64(2 * pad + 1))
                            }
                            if flip { mirror = rng.next() & 1 == 1 }
                        }
                        for c in 0..<C {
                            let src = (index * C + c) * plane
                            let o = dst + (c * n + b) * plane
                            let m = mean[c], inv = 1 / std[c]
                            for h in 0..<H {
                                var sh = h + top - pad
                                if sh < 0 || sh >= H {
                                    if !reflect { for w in 0..<W { o[h * W + w] = -m * inv }; continue }
                                    sh = sh < 0 ? -sh : 2 * H - 2 - sh
                                }
                                for w in 0..<W {
                                    var sw = (mirror ? W - 1 - w : w) + left - pad
                                    if sw < 0 || sw >= W {
                                        if !reflect { o[h * W + w] = -m * inv; continue }
                                        sw = sw < 0 ? -sw : 2 * W - 2 - sw
                                    }
                                    o[h * W + w] = (value(src + sh * W + sw) - m) * inv
                                }
                            }
                        }
                    }
                }
            }
            switch dataset.pixels {
            case .uint8(let px): px.withUnsafeBufferPointer { p in let q = p.baseAddress!; fill { Float(q[$0]) * (1 / 255) } }
            case .float32(let px): px.withUnsafeBufferPointer { p in let q = p.baseAddress!; fill { q[$0] } }
            }
        }
        let source = labelOverride ?? dataset.labels
        for b in 0..<n { outLabels[b] = source[Int(indices[first + b])] }
        images.resize(axis: 1, to: n)
        labels.resize(axis: 0, to: n)
        device.enqueueUpload(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: out[0..<(n * C * plane)])), to: images)
        device.enqueueUpload(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: outLabels[0..<n])), to: labels)
        return Batch(images: images, labels: labels, indices: indices)
    }

    /// Squared L2 norm of each normalised (and augmented) example of the batch just
    /// loaded (`n` examples), from the host copy.
    public func squaredNorms(ofLast n: Int) -> [Double] {
        let plane = dataset.height * dataset.width, C = dataset.channels
        return (0..<n).map { b in
            var s = 0.0
            for c in 0..<C {
                let base = (c * n + b) * plane
                for j in 0..<plane { let v = Double(hostImages[slot][base + j]); s += v * v }
            }
            return s
        }
    }
}
