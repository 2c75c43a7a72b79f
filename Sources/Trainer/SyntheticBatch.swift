import Kernels

/// A model and the tensors of one random batch (normal images, uniform labels).
public final class SyntheticBatch {
    public let net: Model
    public let shape: FeatureShape
    public let batch: Int
    public let images: Tensor, labels: Tensor
    /// The batch's images, channel-major `[C, N, H, W]`.
    public private(set) var hostImages: [Float] = []
    public private(set) var hostLabels: [Int32] = []
    var rng: SeededRandom
    public var device: Device { net.device }
    /// The batch as the model's passes take it.
    public var value: Batch { Batch(images: images, labels: labels, indices: ArraySlice((0..<Int32(batch)).map { $0 })) }

    /// A seeded model of `architecture` for inputs of `input` shape, with buffers for
    /// one random batch of `batch` examples (initialisation and data keyed by `seed`).
    public init(architecture: Architecture, input: FeatureShape, classes: Int, width: Int, batch: Int, device: Device,
                seed: UInt64) throws {
        guard classes >= 2 else { throw TrainerError.invalid("--classes must be at least 2") }
        net = try Model(architecture, input: input, classes: classes, width: width, device: device, maxBatch: batch)
        net.initialize(seed: seed)
        shape = input
        self.batch = batch
        rng = SeededRandom(seed: seed, purpose: "synthetic-batch")
        let d = net.device
        images = d.makeTensor(shape.batched(batch))
        labels = d.makeTensor([batch], dtype: .int32)
        refill()
    }

    /// Draws a new random batch and uploads it.
    public func refill() {
        hostImages = (0..<images.count).map { _ in rng.normal() }
        hostLabels = (0..<batch).map { _ in Int32(rng.next() % UInt64(net.classes)) }
        device.upload(hostImages, to: images)
        hostLabels.withUnsafeBufferPointer { device.upload($0, to: labels) }
    }
}
