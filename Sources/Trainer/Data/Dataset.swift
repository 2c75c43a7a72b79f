import Metrics
import Storage

/// Pixel storage of a data set, example-major: example i occupies
/// `[i * C*H*W, (i+1) * C*H*W)` in channel, row, column order (CHW).
public enum Pixels: Sendable {
    /// Raw bytes 0...255 (IDX, CIFAR, NPY uint8); scaled to [0, 1] when batched.
    case uint8([UInt8])
    /// Float values taken as they are (NPY float32).
    case float32([Float])

    public var count: Int {
        switch self {
        case .uint8(let a): a.count
        case .float32(let a): a.count
        }
    }
}

/// An image-classification data set held in memory. Example indices are positions
/// in the source files and stay stable through every stage of Sieve.
public struct Dataset: Sendable {
    /// Where it came from (a file or directory path, or a name like "fashion-mnist/train").
    public var name: String
    public var channels: Int
    public var height: Int
    public var width: Int
    /// Number of classes (labels lie in `0..<classes`).
    public var classes: Int
    public var pixels: Pixels
    public var labels: [Int32]
    /// Each example's source file, relative to the data set's directory
    /// (`train/cat/001.png`); nil for formats that hold many examples per file.
    public var paths: [String]?
    /// The name of each class, indexed by label (an ImageFolder's class folders); nil when
    /// the format has none. May be shorter than `classes` when `--classes` asked for more.
    public var classNames: [String]?

    public init(name: String, channels: Int, height: Int, width: Int, classes: Int, pixels: Pixels, labels: [Int32],
                paths: [String]? = nil, classNames: [String]? = nil) {
        precondition(pixels.count == labels.count * channels * height * width, "pixel count does not match labels")
        precondition(paths.map { $0.count == labels.count } ?? true, "path count does not match labels")
        self.name = name; self.channels = channels; self.height = height; self.width = width
        self.classes = classes; self.pixels = pixels; self.labels = labels
        self.paths = paths; self.classNames = classNames
    }

    public var count: Int { labels.count }
    /// Values per example: `C * H * W`.
    public var exampleSize: Int { channels * height * width }

    /// The first `n` examples (all when `n` is nil or larger than the set).
    public func prefix(_ n: Int?) -> Dataset {
        guard let n, n < count else { return self }
        let size = n * exampleSize
        let px: Pixels
        switch pixels {
        case .uint8(let a): px = .uint8(Array(a[0..<size]))
        case .float32(let a): px = .float32(Array(a[0..<size]))
        }
        return Dataset(name: name, channels: channels, height: height, width: width, classes: classes,
                       pixels: px, labels: Array(labels[0..<n]), paths: paths.map { Array($0[0..<n]) },
                       classNames: classNames)
    }
}

/// A training set and its test set.
public struct DataSplit: Sendable {
    public var train: Dataset
    public var test: Dataset
    public init(train: Dataset, test: Dataset) { self.train = train; self.test = test }

    /// A validation split: `count` seeded-random training examples become the test set
    /// (in their original order), the rest stay the training set (in order). Returns the
    /// split and, per remaining training example, its position in the original training set.
    public func holdingOut(_ count: Int, seed: UInt64) -> (DataSplit, [Int]) {
        precondition(count >= 1 && count < train.count, "hold out 1..<\(train.count) examples")
        var rng = SeededRandom(seed: seed, purpose: "validation-split")
        var held = [Bool](repeating: false, count: train.count)
        for i in rng.permutation(train.count).prefix(count) { held[Int(i)] = true }
        let kept = (0..<train.count).filter { !held[$0] }
        let out = (0..<train.count).filter { held[$0] }
        var validation = train.subset(out)
        validation.name = train.name + " (validation)"
        return (DataSplit(train: train.subset(kept), test: validation), kept)
    }
}

extension Dataset {
    /// The examples at `indices`, in that order.
    public func subset(_ indices: [Int]) -> Dataset {
        let size = exampleSize
        let px: Pixels
        switch pixels {
        case .uint8(let a): px = .uint8(indices.flatMap { a[($0 * size)..<(($0 + 1) * size)] })
        case .float32(let a): px = .float32(indices.flatMap { a[($0 * size)..<(($0 + 1) * size)] })
        }
        var d = Dataset(name: name, channels: channels, height: height, width: width, classes: classes,
                        pixels: px, labels: indices.map { labels[$0] })
        d.paths = paths.map { p in indices.map { p[$0] } }
        d.classNames = classNames
        return d
    }
}

extension Dataset {
    /// A 64-bit hash (16 hex digits) of the shape, classes, labels and every pixel: two
    /// copies of a data set on different machines (or paths) have the same fingerprint,
    /// and an edited or truncated copy almost surely another. Not cryptographic.
    public var fingerprint: String {
        var h = ContentHash()
        for v in [channels, height, width, classes, labels.count] { h.add(UInt64(v)) }
        labels.withUnsafeBytes { h.add($0) }
        switch pixels {
        case .uint8(let a): h.add(1); a.withUnsafeBytes { h.add($0) }
        case .float32(let a): h.add(2); a.withUnsafeBytes { h.add($0) }
        }
        return h.hex
    }
}
