import Kernels
import Metrics
import Storage

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

extension SyntheticBatch {
    /// The batch's images in PyTorch's NCHW order (from Sieve's channel-major `[C, N, H, W]`).
    public var imagesNCHW: [Float] {
        let n = batch, channels = shape.channels, plane = shape.plane
        var nchw = [Float](repeating: 0, count: hostImages.count)
        for c in 0..<channels { for i in 0..<n { for j in 0..<plane {
            nchw[(i * channels + c) * plane + j] = hostImages[(c * n + i) * plane + j]
        } } }
        return nchw
    }

    /// The cross-check against PyTorch: `steps` training-mode SGD steps on fresh random
    /// batches (non-trivial weights and batch-norm statistics), then one scoring pass on
    /// a new batch. Returns three safetensors files: the model (PyTorch's parameter and
    /// buffer names and layouts), the batch (images NCHW, labels) and Sieve's
    /// per-example gradient norms, EL2N and loss.
    public func crossCheckExport(steps: Int) -> (model: SafeTensorsWriter, batch: SafeTensorsWriter, scores: SafeTensorsWriter) {
        let hyper = SGDHyperparameters(learningRate: 0.05, momentum: 0.9, nesterov: true, weightDecay: 5e-4)
        for _ in 0..<steps {
            net.trainStep(value, hyper: hyper)
            refill()
        }
        let norms = net.perExampleGradNormsSquared(value)
        var outputs = ExampleOutputs(maxBatch: batch)
        outputs.download(net.outputs, count: batch, from: device)
        var model = SafeTensorsWriter()
        for p in net.parameters { model.add(p.name, device.download(p.value), shape: p.shape) }
        for b in net.buffers { model.add(b.name, device.download(b.value), shape: b.value.shape) }
        var data = SafeTensorsWriter()
        data.add("images", imagesNCHW, shape: [batch, shape.channels, shape.height, shape.width])
        data.add("labels", hostLabels, shape: [batch])
        var scores = SafeTensorsWriter()
        scores.add("grad_norm", device.download(norms).map { $0.squareRoot() }, shape: [batch])
        scores.add("el2n", (0..<batch).map { outputs.el2n($0) }, shape: [batch])
        scores.add("loss", (0..<batch).map { outputs.loss($0) }, shape: [batch])
        return (model, data, scores)
    }
}
