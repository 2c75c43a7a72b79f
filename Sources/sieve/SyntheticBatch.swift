import ArgumentParser
import Kernels
import Trainer

/// Options of the commands that run a model on random data (`bench`, `cross-check`).
struct SyntheticOptions: ParsableArguments {
    @OptionGroup var model: ModelOptions

    @Option(help: "Input shape CxHxW.")
    var input: String = "3x32x32"

    @Option(help: "Classes.")
    var classes: Int = 10

    @Option(help: "Seed of the initialisation and the random batches.")
    var seed: UInt64 = 0

    /// A seeded model with buffers for one random batch of `--batch` examples.
    func make() throws -> SyntheticBatch {
        let arch = try model.architecture()
        let dims = input.split(separator: "x").compactMap { Int($0) }
        guard dims.count == 3, dims.allSatisfy({ $0 > 0 }) else { throw badInput("--input \(input) is not CxHxW") }
        guard classes >= 2 else { throw badInput("--classes must be at least 2") }
        let device = try model.makeDevice()
        let shape = FeatureShape(dims[0], dims[1], dims[2])
        let n = model.batch
        let net = Model(arch, input: shape, classes: classes, width: model.width, device: device, maxBatch: n)
        net.initialize(seed: seed)
        return SyntheticBatch(net: net, shape: shape, batch: n, rng: SeededRandom(seed: seed, purpose: "synthetic-batch"))
    }
}

/// A model and the tensors of one random batch (normal images, uniform labels).
final class SyntheticBatch {
    let net: Model
    let shape: FeatureShape
    let batch: Int
    let images: Tensor, labels: Tensor, errors: Tensor, outputs: Tensor
    private(set) var hostImages: [Float] = []   // channel-major [C, N, H, W]
    private(set) var hostLabels: [Int32] = []
    var rng: SeededRandom
    var device: Device { net.device }

    init(net: Model, shape: FeatureShape, batch: Int, rng: SeededRandom) {
        self.net = net; self.shape = shape; self.batch = batch; self.rng = rng
        let d = net.device
        images = d.makeTensor(shape.batched(batch))
        labels = d.makeTensor([batch], dtype: .int32)
        errors = d.makeTensor([net.classes, batch])
        outputs = d.makeTensor([ExampleOutput.rows, batch])
        refill()
    }

    /// Draws a new random batch and uploads it.
    func refill() {
        hostImages = (0..<images.count).map { _ in rng.normal() }
        hostLabels = (0..<batch).map { _ in Int32(rng.next() % UInt64(net.classes)) }
        device.upload(hostImages, to: images)
        hostLabels.withUnsafeBufferPointer { device.upload($0, to: labels) }
    }
}
