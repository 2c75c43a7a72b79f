import Kernels
import Metrics

#if canImport(Glibc)
import Glibc
#endif

/// Everything that defines a training run. ``init()`` gives the library's defaults
/// for a ResNet-18; ``defaults(for:input:)`` the per-model defaults the CLI uses.
public struct TrainingConfiguration: Sendable {
    public var architecture: Architecture = .resnet18
    /// ResNet-18 base width (64 = the standard network; Sieve's default is 16).
    public var width: Int = TrainingConfiguration.defaultWidth
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

    /// ResNet-18 base width unless set: a quarter of the standard 64, which trains in
    /// minutes per epoch on a CPU.
    public static let defaultWidth = 16

    public init() {}

    /// Checks every value (finite, in range) before any work; the one place options are
    /// validated. Messages name the CLI flag.
    public func validate() throws {
        func bad(_ m: String) -> TrainerError { .invalid(m) }
        guard width >= 1 else { throw bad("--width must be at least 1") }
        guard batchSize >= 2 else { throw bad("--batch must be at least 2 (batch norm needs two examples)") }
        guard epochs >= 0 else { throw bad("--epochs must not be negative") }
        guard schedule.peak.isFinite && schedule.peak > 0 else { throw bad("--lr must be a positive finite number, not \(schedule.peak)") }
        guard schedule.warmupEpochs >= 0 else { throw bad("--warmup must not be negative") }
        if case .step(let milestones, let factor) = schedule.kind {
            guard factor.isFinite && factor > 0 else { throw bad("--schedule step factor must be a positive finite number, not \(factor)") }
            guard milestones.allSatisfy({ $0 >= 0 }) else { throw bad("--schedule step milestones must not be negative") }
        }
        guard momentum.isFinite && momentum >= 0 && momentum < 1 else { throw bad("--momentum must lie in [0, 1), not \(momentum)") }
        guard weightDecay.isFinite && weightDecay >= 0 else { throw bad("--weight-decay must be a finite number >= 0, not \(weightDecay)") }
        guard augmentation.cropPadding >= 0 else { throw bad("crop padding must not be negative") }
    }

    /// Defaults that train `architecture` well on inputs of shape `input` in a few epochs
    /// (SGD with Nesterov momentum 0.9, weight decay 5e-4, cosine decay):
    /// - `mlp`: peak learning rate 0.05, no augmentation;
    /// - `cnn`: 0.02, no augmentation (a small network learns fastest without it);
    /// - `resnet18`: 0.1, random crops (padding 1/8 of the image side: 4 pixels at 32x32,
    ///   3 at 28x28) and, for colour
    ///   images only, horizontal flips (digits and letters are not mirror-symmetric).
    public static func defaults(for architecture: Architecture, input: FeatureShape) -> TrainingConfiguration {
        var c = TrainingConfiguration()
        c.architecture = architecture
        switch architecture {
        case .mlp:
            c.schedule.peak = 0.05
            c.augmentation = .none
        case .cnn:
            c.schedule.peak = 0.02
            c.augmentation = .none
        case .resnet18, .preactResnet18, .wrn28, .resnet9, .resnet18ImageNet:
            c.schedule.peak = 0.1
            c.augmentation = Augmentation(cropPadding: max(1, min(input.height, input.width) / 8), reflect: false,
                                          horizontalFlip: input.channels == 3)
        }
        return c
    }
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
public struct EvaluationSummary: Sendable {
    public var loss: Double
    public var accuracy: Double
    public var count: Int
}

/// What a pass over examples is doing (for progress displays).
public enum Pass: Sendable, Equatable {
    /// A training epoch (0-based, counted from the start of the schedule).
    case training(epoch: Int)
    /// A scoring pass over the training set, with or without per-example gradient norms.
    case scoring(gradNorms: Bool)
    /// The test (or validation) set.
    case evaluation
    /// Correctness of some training examples (the two-split protocol's record).
    case recording
    /// Input gradients of the training set (a VoG checkpoint).
    case inputGradients
    /// Class probabilities of held-out examples (cross-validation).
    case prediction
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
    /// Host copy of the last pass's per-example outputs.
    var decoded: ExampleOutputs
    var records: [ExampleStats]
    public internal(set) var step = 0
    /// The training examples an epoch presents (all by default; a pruned subset, or one
    /// half of the two-split protocol). Indices stay those of the data set.
    public private(set) var trainingIndices: [Int32]
    /// Called after every batch of every pass with the pass, the examples done in it and
    /// the examples it covers (progress displays).
    public var onProgress: ((Pass, _ done: Int, _ total: Int) -> Void)?

    /// - Parameters:
    ///   - trainLabels: labels to train with instead of the data set's (label noise, AUM's
    ///     threshold examples).
    ///   - extraClasses: output classes beyond the data set's (AUM's fake class).
    ///   - normalization: the per-channel input normalisation (default: the training set's
    ///     mean and standard deviation; a model trained elsewhere brings its own).
    public init(configuration: TrainingConfiguration, data: DataSplit, device: Device,
                trainLabels: [Int32]? = nil, extraClasses: Int = 0, normalization: Normalization? = nil) throws {
        try configuration.validate()
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
        model = try Model(configuration.architecture, input: input, classes: classes, width: configuration.width,
                      device: device, maxBatch: b)
        model.initialize(seed: configuration.seed)
        if let n = normalization, n.mean.count != data.train.channels || n.std.count != data.train.channels {
            throw TrainerError.invalid("a normalisation of \(n.mean.count) channel(s) for images of \(data.train.channels)")
        }
        self.normalization = normalization ?? Normalization(fitting: data.train)
        trainBatcher = Batcher(dataset: data.train, normalization: self.normalization, device: device, maxBatch: b)
        testBatcher = Batcher(dataset: data.test, normalization: self.normalization, device: device, maxBatch: b)
        decoded = ExampleOutputs(maxBatch: b)
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

    /// Presents only `indices` (positions in the training set) from now on.
    public func setTrainingIndices(_ indices: [Int32]) throws {
        guard !indices.isEmpty else { throw TrainerError.invalid("the subset of training examples is empty") }
        if let bad = indices.first(where: { $0 < 0 || Int($0) >= data.train.count }) {
            throw TrainerError.invalid("the subset lists example \(bad), but the training set has \(data.train.count)")
        }
        trainingIndices = indices
    }

    public var stepsPerEpoch: Int { (trainingIndices.count + configuration.batchSize - 1) / configuration.batchSize }
    public var totalSteps: Int { stepsPerEpoch * configuration.epochs }

    /// Runs every epoch (or the first `epochs` of the schedule), calling `onEpoch` after
    /// each; sinks get `finish()` at the end.
    @discardableResult
    /// - Parameter from: the first epoch to run (a training restored from an end-of-epoch
    ///   checkpoint continues there).
    public func run(epochs: Int? = nil, from: Int = 0, sinks: [ExampleStatsSink] = [], resuming position: EpochPosition? = nil,
                    afterStep: (EpochPosition) throws -> Void = { _ in },
                    onEpoch: (EpochSummary) throws -> Void = { _ in }) throws -> [EpochSummary] {
        var summaries: [EpochSummary] = []
        for epoch in min(from, configuration.epochs)..<min(epochs ?? configuration.epochs, configuration.epochs) {
            let s = try trainEpoch(epoch, sinks: sinks, resuming: position?.epoch == epoch ? position : nil, afterStep: afterStep)
            summaries.append(s)
            try onEpoch(s)
        }
        for sink in sinks { try sink.finish() }
        return summaries
    }

    /// Why a finished training looks like it learned nothing, or nil: the final training
    /// accuracy at chance level (below 1.5 / classes), or a training loss that never fell
    /// (the last epoch's at least 99% of the first's, over two or more epochs).
    public static func learningProblem(_ summaries: [EpochSummary], classes: Int) -> String? {
        guard let first = summaries.first, let last = summaries.last, classes >= 2 else { return nil }
        let chance = 1 / Double(classes)
        if last.trainAccuracy < 1.5 * chance {
            return "training accuracy ended at \(Int((100 * last.trainAccuracy).rounded()))%, chance level for \(classes) classes "
                + "(\(Int((100 * chance).rounded()))%): the scores of this run carry no signal; try a smaller --lr or more --epochs"
        }
        if summaries.count >= 2 && last.trainLoss >= 0.99 * first.trainLoss {
            return "the training loss never fell (\(first.trainLoss) in epoch 1, \(last.trainLoss) in epoch \(summaries.count)); "
                + "try a smaller --lr or more --epochs"
        }
        return nil
    }

    /// The batch size: the configuration's, the one place it is set (the model, the
    /// batchers and every pass take it from there).
    public var batchSize: Int { configuration.batchSize }

    /// Runs `body` over `indices` in batches of ``batchSize``, loaded without
    /// augmentation from `batcher` (the training set's, with the training labels, when nil).
    /// Reports each batch to ``onProgress`` as `pass`.
    func forEachBatch(of indices: [Int32], from batcher: Batcher? = nil, pass: Pass,
                      _ body: (_ first: Int, _ batch: Batch) throws -> Void) throws {
        let batcher = batcher ?? trainBatcher
        for first in stride(from: 0, to: indices.count, by: batchSize) {
            let slice = indices[first..<min(first + batchSize, indices.count)]
            let batch = batcher.load(slice, augmentation: .none, seed: 0, epoch: 0,
                                     labelOverride: batcher === trainBatcher ? trainLabels : nil)
            try body(first, batch)
            try device.checkFailure()   // before anything downloaded is used: a failed device reads NaN
            onProgress?(pass, first + batch.count, indices.count)
        }
    }

    /// One pass over the training set in a seeded order, then (optionally) the test set.
    /// `resuming`: continue an epoch interrupted at that position (the model restored to
    /// it, see ``restore(_:from:)``); `afterStep` is called after every step with the
    /// position reached (a training checkpoints from it).
    public func trainEpoch(_ epoch: Int, sinks: [ExampleStatsSink], resuming position: EpochPosition? = nil,
                           afterStep: (EpochPosition) throws -> Void = { _ in }) throws -> EpochSummary {
        var rng = SeededRandom(seed: configuration.seed, purpose: "shuffle", epoch: epoch)
        let order = rng.permutation(trainingIndices.count).map { trainingIndices[Int($0)] }
        let b = batchSize
        var lossSum = position?.lossSum ?? 0, correct = position?.correct ?? 0
        let resumeAt = (position?.batchesDone ?? 0) * b
        var lr: Float = 0
        let start = monotonicSeconds()
        let hyper = { (lr: Float) in
            SGDHyperparameters(learningRate: lr, momentum: self.configuration.momentum, nesterov: self.configuration.nesterov,
                               weightDecay: self.configuration.weightDecay)
        }
        let load = { (first: Int) in
            self.trainBatcher.load(order[first..<min(first + b, order.count)], augmentation: self.configuration.augmentation,
                                   seed: self.configuration.seed, epoch: epoch, labelOverride: self.trainLabels)
        }
        // One wait per step: the step's kernels are queued, the next batch is prepared on
        // the host and its upload queued while they run, then the step's per-example
        // outputs are read (the only blocking call).
        var next = resumeAt < order.count ? load(resumeAt) : nil
        for first in stride(from: resumeAt, to: order.count, by: b) {
            lr = configuration.schedule.rate(step: step, totalSteps: totalSteps, stepsPerEpoch: stepsPerEpoch)
            guard let batch = next else { break }
            let outputs = model.trainStep(batch, hyper: hyper(lr))
            next = first + b < order.count ? load(first + b) : nil
            let (l, c) = try emit(outputs, batch: batch, epoch: epoch, sinks: sinks)
            guard l.isFinite else {
                throw TrainerError.diverged("training diverged: the loss is \(l) at epoch \(epoch + 1), step \(step + 1) "
                                            + "(learning rate \(lr)); try a smaller --lr")
            }
            lossSum += l
            correct += c
            step += 1
            onProgress?(.training(epoch: epoch), first + batch.count, order.count)
            if first + b < order.count {
                try afterStep(EpochPosition(epoch: epoch, batchesDone: first / b + 1, lossSum: lossSum, correct: correct))
            }
        }
        let trainSeconds = monotonicSeconds() - start
        if let bad = try model.firstNonFiniteParameter() {
            throw TrainerError.diverged("training diverged: parameter \(bad) is not finite after epoch \(epoch + 1) "
                                        + "(learning rate \(lr)); try a smaller --lr")
        }
        var summary = EpochSummary(epoch: epoch, learningRate: lr, trainLoss: lossSum / Double(order.count),
                                   trainAccuracy: Double(correct) / Double(order.count),
                                   trainSeconds: trainSeconds, evalSeconds: 0, trainExamples: order.count)
        if hasTestSet && (configuration.evaluateEveryEpoch || epoch == configuration.epochs - 1) {
            let t0 = monotonicSeconds()
            let e = try evaluateTest()
            summary.testLoss = e.loss
            summary.testAccuracy = e.accuracy
            summary.evalSeconds = monotonicSeconds() - t0
        }
        return summary
    }

    /// Downloads the per-example outputs of a training step and hands one record per
    /// example to the sinks; returns the summed loss and the number correct.
    func emit(_ outputs: Tensor, batch: Batch, epoch: Int, sinks: [ExampleStatsSink]) throws -> (Double, Int) {
        decoded.download(outputs, count: batch.count, from: device)
        try device.checkFailure()
        records.removeAll(keepingCapacity: true)
        var loss = 0.0, correct = 0
        for (i, index) in batch.indices.enumerated() {
            let r = ExampleStats(index: index, epoch: Int32(epoch), step: Int32(step), loss: decoded.loss(i),
                                 correct: decoded.correct(i), margin: decoded.margin(i),
                                 probability: decoded.probability(i), el2n: decoded.el2n(i))
            loss += Double(r.loss)
            if r.correct { correct += 1 }
            records.append(r)
        }
        try records.withUnsafeBufferPointer { buf in for s in sinks { try s.consume(buf) } }
        return (loss, correct)
    }

    /// Accuracy and mean loss of the current model on a data set (evaluation mode,
    /// no augmentation), in batches of the training batch size.
    public func evaluate(_ dataset: Dataset) throws -> EvaluationSummary {
        try evaluate(using: Batcher(dataset: dataset, normalization: normalization, device: device, maxBatch: batchSize))
    }

    /// Whether each of `indices` (training examples, with the training labels) is
    /// classified correctly by the current model: evaluation mode, no augmentation.
    public func correctness(of indices: [Int32]) throws -> [Bool] {
        var result: [Bool] = []
        result.reserveCapacity(indices.count)
        try forEachBatch(of: indices, pass: .recording) { _, batch in
            decoded.download(model.evaluate(batch), count: batch.count, from: device)
            for j in 0..<batch.count { result.append(decoded.correct(j)) }
        }
        return result
    }

    /// ``evaluate(_:)`` on the test set, reusing its buffers.
    public func evaluateTest() throws -> EvaluationSummary { try evaluate(using: testBatcher) }

    /// Whether there is a test set to evaluate on (it may be empty: an ImageFolder
    /// without `test/`); without one, epochs carry no test accuracy.
    public var hasTestSet: Bool { data.test.count > 0 }

    func evaluate(using batcher: Batcher) throws -> EvaluationSummary {
        let count = batcher.dataset.count
        var loss = 0.0, correct = 0
        try forEachBatch(of: (0..<count).map { Int32($0) }, from: batcher, pass: .evaluation) { _, batch in
            decoded.download(model.evaluate(batch), count: batch.count, from: device)
            for i in 0..<batch.count {
                loss += Double(decoded.loss(i))
                if decoded.correct(i) { correct += 1 }
            }
        }
        return EvaluationSummary(loss: loss / Double(max(1, count)), accuracy: Double(correct) / Double(max(1, count)), count: count)
    }
}

/// Errors of the Trainer module for bad configuration.
public enum TrainerError: Error, CustomStringConvertible {
    /// A bad option or input (exit code 2).
    case invalid(String)
    /// Training went numerically wrong: a non-finite loss or parameter (exit code 1).
    case diverged(String)
    public var description: String {
        switch self { case .invalid(let s), .diverged(let s): s }
    }
}

/// Where a training stands inside an epoch: the batches done and the epoch's running
/// loss sum and correct count (so the resumed epoch's summary is the uninterrupted one's).
public struct EpochPosition: Sendable, Equatable {
    public var epoch: Int
    public var batchesDone: Int
    public var lossSum: Double
    public var correct: Int

    public init(epoch: Int, batchesDone: Int, lossSum: Double, correct: Int) {
        self.epoch = epoch; self.batchesDone = batchesDone; self.lossSum = lossSum; self.correct = correct
    }
}
