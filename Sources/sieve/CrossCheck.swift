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

    @OptionGroup var synthetic: SyntheticOptions

    @Option(help: "Training-mode steps on random data before exporting (non-trivial weights and BN statistics).")
    var steps: Int = 3

    @Option(help: "Output directory.")
    var out: String = "cross-check"

    func run() throws {
        let setup = try synthetic.make()
        let (net, device, n, shape) = (setup.net, setup.device, setup.batch, setup.shape)
        let hyper = SGDHyperparameters(learningRate: 0.05, momentum: 0.9, nesterov: true, weightDecay: 5e-4)
        for _ in 0..<steps {
            net.trainStep(setup.value, hyper: hyper)
            setup.refill()
        }
        let (hostImages, hostLabels) = (setup.hostImages, setup.hostLabels)
        let norms = net.perExampleGradNormsSquared(setup.value)
        var o = ExampleOutputs(maxBatch: n)
        o.download(net.outputs, count: n, from: device)

        try makeDirectory(out)
        var weights = SafeTensorsWriter()
        for p in net.parameters { weights.add(p.name, device.download(p.value), shape: p.shape) }
        for b in net.buffers { weights.add(b.name, device.download(b.value), shape: b.value.shape) }
        try weights.write(to: out + "/model.safetensors")
        // channel-major [C, N, H, W] -> NCHW
        var nchw = [Float](repeating: 0, count: hostImages.count)
        let plane = shape.plane
        for c in 0..<shape.channels { for i in 0..<n { for j in 0..<plane {
            nchw[(i * shape.channels + c) * plane + j] = hostImages[(c * n + i) * plane + j]
        } } }
        var batch = SafeTensorsWriter()
        batch.add("images", nchw, shape: [n, shape.channels, shape.height, shape.width])
        batch.add("labels", hostLabels, shape: [n])
        try batch.write(to: out + "/batch.safetensors")
        var scores = SafeTensorsWriter()
        scores.add("grad_norm", device.download(norms).map { $0.squareRoot() }, shape: [n])
        scores.add("el2n", (0..<n).map { o.el2n($0) }, shape: [n])
        scores.add("loss", (0..<n).map { o.loss($0) }, shape: [n])
        try scores.write(to: out + "/sieve.safetensors")
        print("wrote \(out)/model.safetensors, batch.safetensors, sieve.safetensors (\(net.architecture.rawValue) width \(net.width), batch \(n))")
    }
}
