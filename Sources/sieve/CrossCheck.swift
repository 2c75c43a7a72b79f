import ArgumentParser
import Kernels
import Metrics
import Trainer

struct CrossCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cross-check",
        abstract: "Export a model, a batch and Sieve's per-example scores for comparison with PyTorch.",
        discussion: """
        Writes DIR/model.safetensors (PyTorch parameter and buffer names, NCHW/OIHW layouts),
        DIR/batch.safetensors (images NCHW, labels) and DIR/sieve.safetensors (per-example gradient
        norms, EL2N, loss). benchmarks/crosscheck_pytorch.py DIR loads them into the same architecture
        in PyTorch and prints the largest relative differences.
        """)

    @OptionGroup var model: ModelOptions

    @Option(help: "Input shape CxHxW.")
    var input: String = "3x32x32"

    @Option(help: "Classes.")
    var classes: Int = 10

    @Option(help: "Seed of the initialisation and the random batch.")
    var seed: UInt64 = 0

    @Option(help: "Training-mode steps on random data before exporting (non-trivial weights and BN statistics).")
    var steps: Int = 3

    @Option(help: "Output directory.")
    var out: String = "cross-check"

    func run() throws {
        let arch = try model.architecture()
        let dims = input.split(separator: "x").compactMap { Int($0) }
        guard dims.count == 3, dims.allSatisfy({ $0 > 0 }) else { throw badInput("--input \(input) is not CxHxW") }
        let device = try model.makeDevice()
        let shape = FeatureShape(dims[0], dims[1], dims[2])
        let n = model.batch
        let net = Model(arch, input: shape, classes: classes, width: model.width, device: device, maxBatch: n)
        net.initialize(seed: seed)
        var rng = SeededRandom(seed: seed, purpose: "cross-check")
        let images = device.makeTensor(shape.batched(n)), labels = device.makeTensor([n], dtype: .int32)
        let errors = device.makeTensor([classes, n]), outputs = device.makeTensor([ExampleOutput.rows, n])
        let hyper = SGDHyperparameters(learningRate: 0.05, momentum: 0.9, nesterov: true, weightDecay: 5e-4)
        var hostImages: [Float] = [], hostLabels: [Int32] = []
        func randomBatch() {
            hostImages = (0..<images.count).map { _ in rng.normal() }
            hostLabels = (0..<n).map { _ in Int32(rng.next() % UInt64(classes)) }
            device.upload(hostImages, to: images)
            hostLabels.withUnsafeBufferPointer { device.upload($0, to: labels) }
        }
        for _ in 0..<steps {
            randomBatch()
            net.trainStep(images: images, labels: labels, batch: n, hyper: hyper, errors: errors, outputs: outputs)
        }
        randomBatch()   // the exported batch
        let norms = device.makeTensor([n])
        net.perExampleGradNormsSquared(images: images, labels: labels, batch: n, errors: errors, outputs: outputs, squaredNorms: norms)
        let o = device.download(outputs)

        try makeDirectory(out)
        var weights = SafeTensorsWriter()
        for p in net.parameters { weights.add(p.name, device.download(p.value), shape: p.shape) }
        for b in net.buffers { weights.add(b.name, device.download(b.value), shape: b.value.shape) }
        try reportingErrors { try weights.write(to: out + "/model.safetensors") }
        // channel-major [C, N, H, W] -> NCHW
        var nchw = [Float](repeating: 0, count: hostImages.count)
        let plane = shape.plane
        for c in 0..<shape.channels { for i in 0..<n { for j in 0..<plane {
            nchw[(i * shape.channels + c) * plane + j] = hostImages[(c * n + i) * plane + j]
        } } }
        var batch = SafeTensorsWriter()
        batch.add("images", nchw, shape: [n, shape.channels, shape.height, shape.width])
        batch.add("labels", hostLabels, shape: [n])
        try reportingErrors { try batch.write(to: out + "/batch.safetensors") }
        var scores = SafeTensorsWriter()
        scores.add("grad_norm", device.download(norms).map { $0.squareRoot() }, shape: [n])
        scores.add("el2n", (0..<n).map { o[ExampleOutput.el2n * n + $0] }, shape: [n])
        scores.add("loss", (0..<n).map { o[ExampleOutput.loss * n + $0] }, shape: [n])
        try reportingErrors { try scores.write(to: out + "/sieve.safetensors") }
        print("wrote \(out)/model.safetensors, batch.safetensors, sieve.safetensors (\(arch.rawValue) width \(model.width), batch \(n))")
    }
}
