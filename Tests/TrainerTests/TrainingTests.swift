import Testing
import Kernels
import Metrics
@testable import Trainer

/// A synthetic, learnable data set: class k has a bright k-th horizontal band.
func bandDataset(count: Int, classes: Int = 4, size: Int = 8, seed: UInt64) -> Dataset {
    var rng = SeededRandom(seed: seed, purpose: "bands")
    var pixels = [UInt8](repeating: 0, count: count * size * size)
    var labels = [Int32]()
    for i in 0..<count {
        let k = Int(rng.next() % UInt64(classes))
        labels.append(Int32(k))
        for h in 0..<size {
            for w in 0..<size {
                let band = h * classes / size == k
                let noise = Int(rng.next() % 60)
                pixels[(i * size + h) * size + w] = UInt8(band ? 180 + noise / 2 : noise)
            }
        }
    }
    return Dataset(name: "bands", channels: 1, height: size, width: size, classes: classes,
                   pixels: .uint8(pixels), labels: labels)
}

struct TrainingTests {
    static func config(_ arch: Architecture, epochs: Int, lr: Float, seed: UInt64 = 0) -> TrainingConfiguration {
        precondition(epochs >= 0)
        var c = TrainingConfiguration()
        c.architecture = arch
        c.width = 4
        c.epochs = epochs
        c.batchSize = 32
        c.schedule = LearningRateSchedule(peak: lr, kind: .cosine)
        c.augmentation = .none
        c.seed = seed
        return c
    }

    @Test(arguments: [Architecture.mlp, .cnn, .resnet18])
    func learnsSyntheticBands(_ arch: Architecture) throws {
        let data = DataSplit(train: bandDataset(count: 300, seed: 1), test: bandDataset(count: 100, seed: 2))
        let session = try TrainingSession(configuration: Self.config(arch, epochs: 4, lr: 0.05), data: data, device: CPUDevice())
        let summaries = try session.run()
        #expect(summaries.count == 4)
        #expect(summaries.last!.testAccuracy! >= 0.95, "\(arch): \(summaries.map { $0.testAccuracy! })")
    }

    @Test func streamHasOneRecordPerExamplePerEpochAndIsReproducible() throws {
        let data = DataSplit(train: bandDataset(count: 70, seed: 3), test: bandDataset(count: 20, seed: 4))
        func stream(seed: UInt64) throws -> [ExampleStats] {
            var c = Self.config(.cnn, epochs: 2, lr: 0.05, seed: seed)
            c.augmentation = Augmentation(cropPadding: 2, reflect: false, horizontalFlip: true)
            let session = try TrainingSession(configuration: c, data: data, device: CPUDevice())
            let sink = ExampleStatsCollector()
            try session.run(sinks: [sink])
            return sink.records
        }
        let a = try stream(seed: 7)
        #expect(a.count == 140)
        for epoch in 0..<2 {
            let indices = a.filter { $0.epoch == epoch }.map(\.index).sorted()
            #expect(indices == (0..<70).map { Int32($0) })
        }
        // 70 examples in batches of 32: steps 0,1,2 then 3,4,5; the last batch holds 6.
        #expect(Set(a.map(\.step)) == [0, 1, 2, 3, 4, 5])
        #expect(a.filter { $0.step == 2 }.count == 6)
        for r in a {
            #expect(r.loss >= 0 && r.probability > 0 && r.probability <= 1)
            #expect(abs(r.loss + log(r.probability)) < 1e-3)
            #expect(r.el2n >= 0 && r.el2n <= Float(2).squareRoot() + 1e-5)
            #expect(r.correct == (r.margin > 0))
        }
        #expect(try stream(seed: 7) == a)
        #expect(try stream(seed: 8) != a)
    }

    @Test func rejectsBadConfiguration() throws {
        let data = DataSplit(train: bandDataset(count: 10, seed: 3), test: bandDataset(count: 5, seed: 4))
        var c = Self.config(.mlp, epochs: 1, lr: 0.1)
        c.batchSize = 1
        #expect(throws: TrainerError.self) { try TrainingSession(configuration: c, data: data, device: CPUDevice()) }
        #expect(throws: TrainerError.self) {
            try TrainingSession(configuration: Self.config(.mlp, epochs: 1, lr: 0.1), data: data, device: CPUDevice(),
                                trainLabels: [1, 2])
        }
    }

    @Test func schedules() {
        let cosine = LearningRateSchedule(peak: 0.1, kind: .cosine, warmupEpochs: 1)
        #expect(abs(cosine.rate(step: 0, totalSteps: 110, stepsPerEpoch: 10) - 0.01) < 1e-7)
        #expect(abs(cosine.rate(step: 9, totalSteps: 110, stepsPerEpoch: 10) - 0.1) < 1e-7)
        #expect(abs(cosine.rate(step: 60, totalSteps: 110, stepsPerEpoch: 10) - 0.05) < 1e-6)
        let step = LearningRateSchedule(peak: 0.1, kind: .step(milestones: [2, 4], factor: 0.2))
        #expect(step.rate(step: 19, totalSteps: 100, stepsPerEpoch: 10) == 0.1)
        #expect(abs(step.rate(step: 20, totalSteps: 100, stepsPerEpoch: 10) - 0.02) < 1e-8)
        #expect(abs(step.rate(step: 45, totalSteps: 100, stepsPerEpoch: 10) - 0.004) < 1e-8)
    }

    @Test func augmentationIsSeededAndShapePreserving() {
        let data = bandDataset(count: 4, seed: 5)
        let device = CPUDevice()
        let norm = Normalization(mean: [0], std: [1])
        let b = Batcher(dataset: data, normalization: norm, device: device, maxBatch: 4)
        let plain = device.download(b.load([0, 1, 2, 3], augmentation: .none, seed: 0, epoch: 0).images)
        // No augmentation: exactly the pixels / 255, channel-major.
        guard case .uint8(let px) = data.pixels else { return }
        #expect(zip(plain, px).allSatisfy { abs($0 - Float($1) / 255) < 1e-6 })
        let aug = Augmentation(cropPadding: 2, reflect: true, horizontalFlip: true)
        let first = device.download(b.load([0, 1, 2, 3], augmentation: aug, seed: 9, epoch: 3).images)
        let again = device.download(b.load([2, 3], augmentation: aug, seed: 9, epoch: 3).images)
        #expect(Array(first[128..<256]) == again)          // per-example streams: order-independent
        #expect(device.download(b.load([0, 1, 2, 3], augmentation: aug, seed: 9, epoch: 4).images) != first)
        // Two loads alternate between two slots: the batch before the last stays intact
        // (the next batch is prepared while the device still reads the current one).
        let one = b.load([0, 1], augmentation: .none, seed: 0, epoch: 0)
        let two = b.load([2, 3], augmentation: .none, seed: 0, epoch: 0)
        #expect(device.download(one.images) == Array(plain[0..<128]) && device.download(two.images) == Array(plain[128..<256]))
        // Reflect padding never leaves the image's value range.
        #expect(first.allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    static let fashionMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"

    @Test(.enabled(if: BinaryFile.fileExists(fashionMNIST), "needs Debian's dataset-fashion-mnist"))
    func shortFashionMNISTRunPassesAccuracyBar() throws {
        var data = try DataSource.load("fashion-mnist")
        data.train = data.train.prefix(6000)
        data.test = data.test.prefix(2000)
        var c = Self.config(.cnn, epochs: 2, lr: 0.02)
        c.batchSize = 64
        let session = try TrainingSession(configuration: c, data: data, device: CPUDevice())
        let s = try session.run()
        // A small CNN reaches about 84% here; 80% leaves room for seeds and BLAS rounding.
        #expect(s.last!.testAccuracy! >= 0.80, "test accuracy \(s.last!.testAccuracy!)")
    }
}

#if canImport(Glibc)
import Glibc
#endif

struct LabelNoiseTests {
    @Test func symmetricFlipsExactlyTheRateToOtherClasses() throws {
        let labels = (0..<1000).map { Int32($0 % 10) }
        let noise = try LabelNoise(parsing: "symmetric:0.2")
        let (noisy, flipped) = noise.apply(to: labels, classes: 10, seed: 4)
        #expect(flipped.count == 200)
        #expect(zip(labels, noisy).filter { $0 != $1 }.count == 200)
        for i in flipped { #expect(noisy[i] != labels[i] && noisy[i] >= 0 && noisy[i] < 10) }
        #expect(noise.apply(to: labels, classes: 10, seed: 4).flipped == flipped)
        #expect(noise.apply(to: labels, classes: 10, seed: 5).flipped != flipped)
        // every other class is reachable
        #expect(Set(flipped.map { (Int(noisy[$0]) - Int(labels[$0]) + 10) % 10 }).count == 9)
    }

    @Test func pairsFlipToTheNextClass() throws {
        let labels = (0..<100).map { Int32($0 % 4) }
        let (noisy, flipped) = try LabelNoise(parsing: "pairs:0.3").apply(to: labels, classes: 4, seed: 1)
        #expect(flipped.count == 30)
        for i in flipped { #expect(noisy[i] == (labels[i] + 1) % 4) }
    }

    @Test(arguments: ["symmetric", "symmetric:1.5", "gaussian:0.2", "pairs:-0.1"])
    func badSpecificationsAreRejected(_ text: String) {
        #expect(throws: TrainerError.self) { try LabelNoise(parsing: text) }
    }
}

struct InferenceModeTests {
    /// Forward-only passes fuse each convolution with its batch norm; the logits are the
    /// same bits as the evaluation-mode forward's (ResNet-18 blocks, projections, and the
    /// small CNN's valid convolutions).
    @Test(arguments: [Architecture.resnet18, .cnn, .preactResnet18])
    func inferenceForwardEqualsEvaluationForward(_ arch: Architecture) throws {
        let device = CPUDevice()
        let model = try Model(arch, input: FeatureShape(1, 16, 16), classes: 4, width: 16, device: device, maxBatch: 6)
        model.initialize(seed: 3)
        var rng = SeededRandom(seed: 9, purpose: "running statistics")
        for b in model.buffers {   // statistics away from the initial 0 / 1
            device.upload((0..<b.value.count).map { _ in b.name.hasSuffix("var") ? 0.5 + rng.uniform() : rng.uniform() - 0.5 }, to: b.value)
        }
        let x = device.makeTensor([1, 6, 16, 16])
        device.upload((0..<(6 * 256)).map { _ in rng.uniform() * 2 - 1 }, to: x)
        var h = x
        for l in model.body.layers.dropLast() { h = l.forward(h, batch: 6, mode: .evaluation) }
        let featuresApart = device.download(h)
        let a = device.download(model.forward(x, batch: 6, mode: .evaluation))
        let b = device.download(model.forward(x, batch: 6, mode: .inference))
        #expect(a == b)
        #expect(device.download(model.features(x, batch: 6)) == featuresApart)   // the embeddings' pass, fused
    }
}

struct ScoringPassTests {
    @Test func scoringPassIsDeterministicAndMatchesEvaluate() throws {
        let data = DataSplit(train: bandDataset(count: 50, seed: 1), test: bandDataset(count: 20, seed: 2))
        var c = TrainingTests.config(.cnn, epochs: 1, lr: 0.05)
        c.augmentation = Augmentation()
        let session = try TrainingSession(configuration: c, data: data, device: CPUDevice())
        try session.run()
        let a = try session.scoreTrainingSet(gradNorms: true), b = try session.scoreTrainingSet(gradNorms: false)
        #expect(a.el2n == b.el2n && a.loss == b.loss)          // augmentation never applies while scoring
        #expect(a.gradNorm!.allSatisfy { $0 > 0 && $0.isFinite })
        let accuracy = Double(a.correct.filter { $0 }.count) / 50
        #expect(abs(accuracy - (try session.evaluate(data.train)).accuracy) < 1e-12)
        #expect(try session.correctness(of: (0..<50).map { Int32($0) }) == a.correct)
    }
}
