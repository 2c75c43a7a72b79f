import Testing
import Kernels
@testable import Trainer

/// Finite-difference checks of every layer's hand-written backward, through whole
/// models: for each parameter tensor, the directional derivative along a random
/// unit direction must match `<grad, v>` from the backward pass.
struct GradientCheckTests {
    /// Summed cross-entropy of the batch in Double, from the logits of a training-mode forward.
    static func loss(_ body: Layer, _ device: Device, _ x: Tensor, _ labels: [Int32]) -> Double {
        let n = labels.count
        let z = device.download(body.forward(x, batch: n, mode: .training))
        let K = body.outputShape.channels
        var total = 0.0
        for i in 0..<n {
            let col = (0..<K).map { Double(z[$0 * n + i]) }
            let top = col.max()!
            total += log(col.map { exp($0 - top) }.reduce(0, +)) + top - col[Int(labels[i])]
        }
        return total
    }

    static func check(_ arch: Architecture, input: FeatureShape, width: Int = 2, batch: Int = 3,
                      epsilon: Double = 1e-3, tolerance: Double = 2e-2) throws {
        let device = CPUDevice()
        let model = Model(arch, input: input, classes: 5, width: width, device: device, maxBatch: batch)
        try check(model.body, device: device, input: input, batch: batch, epsilon: epsilon, tolerance: tolerance)
    }

    static func check(_ body: Layer, device: Device, input: FeatureShape, batch: Int,
                      epsilon: Double = 1e-3, tolerance: Double = 2e-2) throws {
        body.initialize(seed: 1)
        body.needsInputGradient = false
        var rng = SeededRandom(seed: 2, purpose: "test")
        let x = device.makeTensor(input.batched(batch))
        device.upload((0..<x.count).map { _ in rng.normal() }, to: x)
        let labels = (0..<batch).map { _ in Int32(rng.next() % 5) }
        let labelTensor = device.makeTensor([batch], dtype: .int32)
        labels.withUnsafeBufferPointer { device.upload($0, to: labelTensor) }

        // Analytic gradient of the summed loss.
        let errors = device.makeTensor([5, batch]), outputs = device.makeTensor([ExampleOutput.rows, batch])
        let logits = body.forward(x, batch: batch, mode: .training)
        device.softmaxCrossEntropy(logits: logits, labels: labelTensor, gradScale: 1, errors: errors, outputs: outputs)
        _ = body.backward(errors)

        var failures: [String] = []
        for p in body.parameters {
            let g = device.download(p.gradient)
            let w0 = device.download(p.value)
            var v = (0..<p.count).map { _ in Double(rng.normal()) }
            let norm = v.map { $0 * $0 }.reduce(0, +).squareRoot()
            v = v.map { $0 / norm }
            let analytic = zip(g, v).map { Double($0) * $1 }.reduce(0, +)
            let step = epsilon * max(1, w0.map { abs(Double($0)) }.max()!)
            device.upload(zip(w0, v).map { Float(Double($0) + step * $1) }, to: p.value)
            let up = loss(body, device, x, labels)
            device.upload(zip(w0, v).map { Float(Double($0) - step * $1) }, to: p.value)
            let down = loss(body, device, x, labels)
            device.upload(w0, to: p.value)
            let numeric = (up - down) / (2 * step)
            if abs(numeric - analytic) > tolerance * max(abs(numeric), abs(analytic)) + 2e-3 {
                failures.append("\(p.name): numeric \(numeric) analytic \(analytic)")
            }
        }
        #expect(failures.isEmpty, "gradient mismatches:\n\(failures.joined(separator: "\n"))")
    }

    @Test func mlp() throws { try Self.check(.mlp, input: FeatureShape(2, 5, 5)) }

    @Test func cnn() throws { try Self.check(.cnn, input: FeatureShape(1, 9, 9)) }

    @Test(arguments: [2, 3, 4]) func chain(_ depth: Int) throws {
        let d = CPUDevice()
        let input = FeatureShape(2, 10, 10)
        var layers: [Layer] = []
        var shape = input
        for i in 0..<depth {
            let b = BasicBlock(d, name: "b\(i)", input: shape, planes: shape.channels * (i % 2 == 1 ? 2 : 1), stride: i % 2 == 1 ? 2 : 1, maxBatch: 4)
            layers.append(b); shape = b.outputShape
        }
        let body = Sequential(layers + [GlobalAvgPool(d, shape: shape, maxBatch: 4),
                               Linear(d, name: "fc", inFeatures: shape.channels, outFeatures: 5, maxBatch: 4)])
        try Self.check(body, device: d, input: input, batch: 4)
    }

    @Test(arguments: [1, 2]) func block(_ stride: Int) throws {
        let d = CPUDevice()
        let input = FeatureShape(2, 6, 6)
        let block = BasicBlock(d, name: "b", input: input, planes: stride == 1 ? 2 : 4, stride: stride, maxBatch: 4)
        let body = Sequential([block, GlobalAvgPool(d, shape: block.outputShape, maxBatch: 4),
                               Linear(d, name: "fc", inFeatures: block.outputShape.channels, outFeatures: 5, maxBatch: 4)])
        try Self.check(body, device: d, input: input, batch: 4)
    }

    @Test func tinyResNet18() throws {
        // Width 2: widths 2/4/8/16, every block type, 1x1 shortcuts, global pooling.
        try Self.check(.resnet18, input: FeatureShape(3, 10, 10), width: 2, batch: 4)
    }
}

#if canImport(Glibc)
import Glibc
#endif
