import Kernels
import Metrics

#if canImport(Glibc)
import Glibc
#endif

/// Everything that defines a training run.
public struct TrainingConfiguration: Sendable {
    public var architecture: Architecture = .resnet18
    /// ResNet-18 base width (64 = standard).
    public var width: Int = 64
    public var epochs: Int = 10
    public var batchSize: Int = 128
    public var schedule = LearningRateSchedule(peak: 0.1, kind: .cosine)
    public var momentum: Float = 0.9
    public var nesterov: Bool = true
    public var weightDecay: Float = 5e-4
    public var seed: UInt64 = 0
    public var augmentation = Augmentation()
    /// Evaluate test accuracy after every epoch (else only after the last).
    public var evaluateEveryEpoch = true

    public init() {}
}

/// Results of one epoch.
public struct EpochSummary: Sendable {
    public var epoch: Int
    public var learningRate: Float
    public var trainLoss: Double
    public var trainAccuracy: Double
    public var testLoss: Double?
    public var testAccuracy: Double?
    /// Wall time of the training part of the epoch.
    public var trainSeconds: Double
    public var evalSeconds: Double
    public var examplesPerSecond: Double { trainSeconds > 0 ? Double(trainExamples) / trainSeconds : 0 }
    public var trainExamples: Int
}

/// Accuracy and mean loss over a data set.
public struct Evaluation: Sendable {
    public var loss: Double
    public var accuracy: Double
    public var count: Int
}

/// Trains a model and streams one ``ExampleStats`` per example per presentation.
public final class TrainingSession {
    public let configuration: TrainingConfiguration
    public let device: Device
    public let data: DataSplit
    public let model: Model
    public let normalization: Normalization
    /// Labels used for training (the data set's, or noisy ones).
    public let trainLabels: [Int32]
    let trainBatcher: Batcher
    let testBatcher: Batcher
    let errors: Tensor
    let outputs: Tensor
    var hostOutputs: [Float]
    var records: [ExampleStats]
    public private(set) var step = 0
    /// The training examples an epoch presents (all by default; a pruned subset, or one
    /// half of the two-split protocol). Indices stay those of the data set.
    public var trainingIndices: [Int32] {
        didSet { precondition(!trainingIndices.isEmpty && trainingIndices.allSatisfy { $0 >= 0 && Int($0) < data.train.count }) }
    }
    /// Called after every training step with (epoch, examples done this epoch, examples per epoch).
    public var onStep: ((Int, Int, Int) -> Void)?

    /// - Parameters:
    ///   - trainLabels: labels to train with instead of the data set's (label noise, AUM's
    ///     threshold examples).
    ///   - extraClasses: output classes beyond the data set's (AUM's fake class).
    public init(configuration: TrainingConfiguration, data: DataSplit, device: Device,
                trainLabels: [Int32]? = nil, extraClasses: Int = 0) throws {
        guard configuration.batchSize >= 2 else { throw TrainerError.invalid("--batch must be at least 2 (batch norm needs it)") }
        guard configuration.epochs >= 0 else { throw TrainerError.invalid("--epochs must not be negative") }
        guard data.train.count > 0 else { throw TrainerError.invalid("the training set is empty") }
        guard (data.train.channels, data.train.height, data.train.width) == (data.test.channels, data.test.height, data.test.width)
        else { throw TrainerError.invalid("train and test images differ in shape") }
        if let trainLabels, trainLabels.count != data.train.count {
            throw TrainerError.invalid("\(trainLabels.count) labels for \(data.train.count) training examples")
        }
        let outputClasses = max(data.train.classes, data.test.classes) + extraClasses
        if let trainLabels, let bad = trainLabels.first(where: { $0 < 0 || Int($0) >= outputClasses }) {
            throw TrainerError.invalid("training label \(bad) outside 0..<\(outputClasses)")
        }
        self.configuration = configuration
        self.device = device
        self.data = data
        self.trainLabels = trainLabels ?? data.train.labels
        let classes = max(data.train.classes, data.test.classes) + extraClasses
        let input = FeatureShape(data.train.channels, data.train.height, data.train.width)
        let b = configuration.batchSize
        model = Model(configuration.architecture, input: input, classes: classes, width: configuration.width,
                      device: device, maxBatch: b)
        model.initialize(seed: configuration.seed)
        normalization = Normalization(fitting: data.train)
        trainBatcher = Batcher(dataset: data.train, normalization: normalization, device: device, maxBatch: b)
        testBatcher = Batcher(dataset: data.test, normalization: normalization, device: device, maxBatch: b)
        errors = device.makeTensor([classes, b])
        outputs = device.makeTensor([ExampleOutput.rows, b])
        hostOutputs = [Float](repeating: 0, count: ExampleOutput.rows * b)
        records = []
        records.reserveCapacity(b)
        trainingIndices = (0..<data.train.count).map { Int32($0) }
    }

    /// A fresh optimiser and schedule (zero momentum, step 0), keeping the weights: the
    /// start of the second split.
    public func resetOptimizer() {
        for p in model.parameters { device.fill(p.momentum, with: 0) }
        step = 0
    }

    public var stepsPerEpoch: Int { (trainingIndices.count + configuration.batchSize - 1) / configuration.batchSize }
    public var totalSteps: Int { stepsPerEpoch * configuration.epochs }

    /// Runs every epoch, calling `onEpoch` after each; sinks get `finish()` at the end.
    @discardableResult
    public func run(sinks: [ExampleStatsSink] = [], onEpoch: (EpochSummary) -> Void = { _ in }) throws -> [EpochSummary] {
        var summaries: [EpochSummary] = []
        for epoch in 0..<configuration.epochs {
            let s = try trainEpoch(epoch, sinks: sinks)
            summaries.append(s)
            onEpoch(s)
        }
        for sink in sinks { try sink.finish() }
        return summaries
    }

    /// One pass over the training set in a seeded order, then (optionally) the test set.
    public func trainEpoch(_ epoch: Int, sinks: [ExampleStatsSink]) throws -> EpochSummary {
        var rng = SeededRandom(seed: configuration.seed, purpose: "shuffle", epoch: epoch)
        let order = rng.permutation(trainingIndices.count).map { trainingIndices[Int($0)] }
        let b = configuration.batchSize
        var lossSum = 0.0, correct = 0
        var lr: Float = 0
        let start = monotonicSeconds()
        for first in stride(from: 0, to: order.count, by: b) {
            let batch = order[first..<min(first + b, order.count)]
            lr = configuration.schedule.rate(step: step, totalSteps: totalSteps, stepsPerEpoch: stepsPerEpoch)
            trainBatcher.load(batch, augmentation: configuration.augmentation, seed: configuration.seed,
                              epoch: epoch, labelOverride: trainLabels)
            let (l, c) = try trainStep(batch: batch.count, learningRate: lr, epoch: epoch, sinks: sinks)
            lossSum += l
            correct += c
            step += 1
            onStep?(epoch, first + batch.count, order.count)
        }
        let trainSeconds = monotonicSeconds() - start
        var summary = EpochSummary(epoch: epoch, learningRate: lr, trainLoss: lossSum / Double(order.count),
                                   trainAccuracy: Double(correct) / Double(order.count),
                                   trainSeconds: trainSeconds, evalSeconds: 0, trainExamples: order.count)
        if configuration.evaluateEveryEpoch || epoch == configuration.epochs - 1 {
            let t0 = monotonicSeconds()
            let e = evaluateTest()
            summary.testLoss = e.loss
            summary.testAccuracy = e.accuracy
            summary.evalSeconds = monotonicSeconds() - t0
        }
        return summary
    }

    /// One SGD step on the batch already in `trainBatcher`: forward (training mode),
    /// softmax error vectors, backward, update; returns the summed loss and the number
    /// correct, and streams the per-example records.
    func trainStep(batch n: Int, learningRate: Float, epoch: Int, sinks: [ExampleStatsSink]) throws -> (Double, Int) {
        let hyper = SGDHyperparameters(learningRate: learningRate, momentum: configuration.momentum,
                                       nesterov: configuration.nesterov, weightDecay: configuration.weightDecay)
        model.trainStep(images: trainBatcher.images, labels: trainBatcher.labels, batch: n, hyper: hyper,
                        errors: errors, outputs: outputs)
        return try emit(n: n, epoch: epoch, indices: trainBatcher.lastIndices, sinks: sinks)
    }

    /// Downloads the per-example outputs of the last step and hands them to the sinks.
    func emit(n: Int, epoch: Int, indices: ArraySlice<Int32>, sinks: [ExampleStatsSink]) throws -> (Double, Int) {
        hostOutputs.withUnsafeMutableBufferPointer {
            device.download(outputs, into: UnsafeMutableBufferPointer(rebasing: $0[0..<(ExampleOutput.rows * n)]))
        }
        records.removeAll(keepingCapacity: true)
        var loss = 0.0, correct = 0
        let first = indices.startIndex
        for i in 0..<n {
            let r = ExampleStats(index: indices[first + i], epoch: Int32(epoch), step: Int32(step),
                                 loss: hostOutputs[ExampleOutput.loss * n + i],
                                 correct: hostOutputs[ExampleOutput.correct * n + i] > 0.5,
                                 margin: hostOutputs[ExampleOutput.margin * n + i],
                                 probability: hostOutputs[ExampleOutput.probability * n + i],
                                 el2n: hostOutputs[ExampleOutput.el2n * n + i])
            loss += Double(r.loss)
            if r.correct { correct += 1 }
            records.append(r)
        }
        try records.withUnsafeBufferPointer { buf in for s in sinks { try s.consume(buf) } }
        return (loss, correct)
    }

    /// Accuracy and mean loss of the current model on a data set (evaluation mode,
    /// no augmentation), in batches of the training batch size.
    public func evaluate(_ dataset: Dataset) -> Evaluation {
        evaluate(using: Batcher(dataset: dataset, normalization: normalization, device: device,
                                maxBatch: configuration.batchSize))
    }

    /// Whether each of `indices` (training examples, with the training labels) is
    /// classified correctly by the current model: evaluation mode, no augmentation.
    public func correctness(of indices: [Int32]) -> [Bool] {
        var result: [Bool] = []
        result.reserveCapacity(indices.count)
        let b = configuration.batchSize
        for first in stride(from: 0, to: indices.count, by: b) {
            let batch = indices[first..<min(first + b, indices.count)]
            let m = batch.count
            trainBatcher.load(batch, augmentation: .none, seed: 0, epoch: 0, labelOverride: trainLabels)
            model.evaluate(images: trainBatcher.images, labels: trainBatcher.labels, batch: m, errors: errors, outputs: outputs)
            hostOutputs.withUnsafeMutableBufferPointer {
                device.download(outputs, into: UnsafeMutableBufferPointer(rebasing: $0[0..<(ExampleOutput.rows * m)]))
            }
            for j in 0..<m { result.append(hostOutputs[ExampleOutput.correct * m + j] > 0.5) }
        }
        return result
    }

    /// ``evaluate(_:)`` on the test set, reusing its buffers.
    public func evaluateTest() -> Evaluation { evaluate(using: testBatcher) }

    func evaluate(using batcher: Batcher) -> Evaluation {
        let dataset = batcher.dataset
        let b = configuration.batchSize
        let all = (0..<dataset.count).map { Int32($0) }
        var loss = 0.0, correct = 0
        for first in stride(from: 0, to: all.count, by: b) {
            let batch = all[first..<min(first + b, all.count)]
            let n = batch.count
            batcher.load(batch, augmentation: .none, seed: 0, epoch: 0)
            model.evaluate(images: batcher.images, labels: batcher.labels, batch: n, errors: errors, outputs: outputs)
            hostOutputs.withUnsafeMutableBufferPointer {
                device.download(outputs, into: UnsafeMutableBufferPointer(rebasing: $0[0..<(ExampleOutput.rows * n)]))
            }
            for i in 0..<n {
                loss += Double(hostOutputs[ExampleOutput.loss * n + i])
                if hostOutputs[ExampleOutput.correct * n + i] > 0.5 { correct += 1 }
            }
        }
        return Evaluation(loss: loss / Double(max(1, dataset.count)),
                          accuracy: Double(correct) / Double(max(1, dataset.count)), count: dataset.count)
    }
}

/// Errors of the Trainer module for bad configuration.
public enum TrainerError: Error, CustomStringConvertible {
    case invalid(String)
    public var description: String {
        switch self { case .invalid(let s): s }
    }
}

/// Seconds on a monotonic clock.
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
