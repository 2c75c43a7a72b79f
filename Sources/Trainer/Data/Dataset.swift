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

    public init(name: String, channels: Int, height: Int, width: Int, classes: Int, pixels: Pixels, labels: [Int32]) {
        precondition(pixels.count == labels.count * channels * height * width, "pixel count does not match labels")
        self.name = name; self.channels = channels; self.height = height; self.width = width
        self.classes = classes; self.pixels = pixels; self.labels = labels
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
                       pixels: px, labels: Array(labels[0..<n]))
    }
}

/// A training set and its test set.
public struct DataSplit: Sendable {
    public var train: Dataset
    public var test: Dataset
    public init(train: Dataset, test: Dataset) { self.train = train; self.test = test }
}
