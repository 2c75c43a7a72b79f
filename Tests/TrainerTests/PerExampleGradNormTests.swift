import Testing
import Kernels
@testable import Trainer

/// The batched scoring pass against explicit per-example gradients (a full backward
/// of each example alone, batch of one), as GraNd defines them: loss per example,
/// batch norm in evaluation mode, every trainable parameter.
struct PerExampleGradNormTests {
    static func check(_ arch: Architecture, input: FeatureShape, width: Int, batch: Int) throws {
        let device = CPUDevice()
        let model = try Model(arch, input: input, classes: 7, width: width, device: device, maxBatch: batch)
        model.initialize(seed: 3)
        var rng = SeededRandom(seed: 4, purpose: "test")
        let x = device.makeTensor(input.batched(batch))
        let hostX = (0..<x.count).map { _ in rng.normal() }
        device.upload(hostX, to: x)
        // Non-trivial running statistics: a few training-mode forwards.
        for _ in 0..<3 { _ = model.forward(x, batch: batch, mode: .training) }
        let labels = (0..<batch).map { _ in Int32(rng.next() % 7) }
        let labelTensor = device.makeTensor([batch], dtype: .int32)
        labels.withUnsafeBufferPointer { device.upload($0, to: labelTensor) }
        let norms = model.perExampleGradNormsSquared(Batch(images: x, labels: labelTensor,
                                                           indices: ArraySlice((0..<Int32(batch)).map { $0 })))
        let batched = device.download(norms).map { Double($0).squareRoot() }

        // Reference: each example alone, evaluation-mode forward and full backward.
        let one = try Model(arch, input: input, classes: 7, width: width, device: device, maxBatch: 1)
        for (p, q) in zip(one.parameters, model.parameters) { device.copy(q.value, to: p.value) }
        for (p, q) in zip(one.buffers, model.buffers) { device.copy(q.value, to: p.value) }
        let x1 = device.makeTensor(input.batched(1)), l1 = device.makeTensor([1], dtype: .int32)
        let e1 = device.makeTensor([7, 1]), o1 = device.makeTensor([ExampleOutput.rows, 1])
        var worst = 0.0
        for i in 0..<batch {
            var xi = [Float]()
            for c in 0..<input.channels {
                let start = (c * batch + i) * input.plane
                xi += hostX[start..<(start + input.plane)]
            }
            device.upload(xi, to: x1)
            [labels[i]].withUnsafeBufferPointer { device.upload($0, to: l1) }
            let logits = one.forward(x1, batch: 1, mode: .evaluation)
            device.softmaxCrossEntropy(logits: logits, labels: l1, gradScale: 1, errors: e1, outputs: o1)
            one.backward(e1)
            let sq = one.parameters.map { device.download($0.gradient).map { Double($0) * Double($0) }.reduce(0, +) }.reduce(0, +)
            worst = max(worst, abs(batched[i] - sq.squareRoot()) / sq.squareRoot())
        }
        #expect(worst < 1e-4, "\(arch): max relative difference \(worst)")
    }

    @Test func mlp() throws { try Self.check(.mlp, input: FeatureShape(2, 6, 5), width: 1, batch: 5) }
    @Test func cnn() throws { try Self.check(.cnn, input: FeatureShape(1, 10, 10), width: 1, batch: 5) }
    @Test func tinyResNet18() throws { try Self.check(.resnet18, input: FeatureShape(3, 12, 12), width: 2, batch: 6) }
    @Test func tinyPreActResNet18() throws { try Self.check(.preactResnet18, input: FeatureShape(3, 12, 12), width: 2, batch: 6) }
    @Test func tinyWideResNet28() throws { try Self.check(.wrn28, input: FeatureShape(3, 8, 8), width: 2, batch: 4) }
    @Test func tinyResNet9() throws { try Self.check(.resnet9, input: FeatureShape(3, 16, 16), width: 2, batch: 5) }
    @Test func tinyResNet18ImageNet() throws { try Self.check(.resnet18ImageNet, input: FeatureShape(3, 37, 33), width: 2, batch: 4) }
    @Test func resnet9NeedsSquareImagesOfEightPixels() {
        #expect(throws: TrainerError.self) { try Model(.resnet9, input: FeatureShape(3, 16, 12), classes: 3, width: 2, device: CPUDevice(), maxBatch: 2) }
        #expect(throws: TrainerError.self) { try Model(.resnet9, input: FeatureShape(3, 6, 6), classes: 3, width: 2, device: CPUDevice(), maxBatch: 2) }
    }

    /// Every parameter of every model is covered by the scoring backward: a layer with
    /// parameters but no per-example norms can never silently drop out of GraNd.
    @Test(arguments: Architecture.allCases)
    func scoringPassCoversEveryParameter(_ arch: Architecture) throws {
        let side = max(12, arch.minimumInputSize)
        let model = try Model(arch, input: FeatureShape(3, side, side), classes: 5, width: 2, device: CPUDevice(), maxBatch: 2)
        let covered = model.body.normedParameters
        #expect(covered.map(\.name) == model.parameters.map(\.name))
        #expect(covered.reduce(0) { $0 + $1.count } == model.parameterCount)
        #expect(Set(covered.map(\.name)).count == covered.count)
    }
}
