import Metrics
import Storage

/// A loaded data split with the training labels a run actually uses: the data set's, or
/// noisy ones when label noise was injected (with the indices it changed).
public struct TrainingData: Sendable {
    public var split: DataSplit
    /// Training labels after noise, `[N]`.
    public var labels: [Int32]
    /// Sorted indices whose label the noise changed (nil without noise).
    public var flipped: [Int]?
    public var noise: LabelNoise?
    public var noiseSeed: UInt64
    /// Per training example, its position in the data set's training files when the
    /// training set is not all of them in order (a `--val` hold-out); nil otherwise.
    public var sourceIndices: [Int]?

    /// - Parameters:
    ///   - noise: label noise to inject into the training labels, seeded by `noiseSeed`.
    public init(split: DataSplit, noise: LabelNoise? = nil, noiseSeed: UInt64 = 0) {
        self.split = split
        self.noise = noise
        self.noiseSeed = noiseSeed
        labels = split.train.labels
        if let noise {
            let (noisy, flipped) = noise.apply(to: split.train.labels, classes: max(split.train.classes, split.test.classes),
                                               seed: noiseSeed)
            labels = noisy
            self.flipped = flipped
        }
    }

    public var train: Dataset { split.train }
    public var count: Int { split.train.count }

    /// The content of this run's data in 16 hex digits: training and test sets (every
    /// pixel and label) and the training labels used (noise included). Shards and resumed
    /// runs compare it, not the data's path, which may differ between machines.
    public var fingerprint: String {
        var h = ContentHash()
        for part in [split.train.fingerprint, split.test.fingerprint] { h.add(UInt64(part, radix: 16) ?? 0) }
        labels.withUnsafeBytes { h.add($0) }
        return h.hex
    }
    /// Output classes of a model for this data: the larger of the two sets' counts.
    public var classes: Int { max(split.train.classes, split.test.classes) }
    public var inputShape: FeatureShape { FeatureShape(split.train.channels, split.train.height, split.train.width) }

    /// `[N]`: true where the noise changed the label (nil without noise).
    public var flippedMask: [Bool]? { flipped.map { Detection.mask($0, count: count) } }
}
