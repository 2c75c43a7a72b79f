/// One training presentation of one example: what the network said about it in the
/// forward pass of a training step (train-mode forward, augmented input, logits
/// before the update). The Trainer emits one per example per presentation.
public struct ExampleStats: Sendable, Equatable {
    /// Position of the example in the input files.
    public var index: Int32
    /// Epoch, 0-based.
    public var epoch: Int32
    /// Global optimiser step (0-based) of the batch the example was in.
    public var step: Int32
    /// Cross-entropy `-log p_y`.
    public var loss: Float
    /// `argmax z == y`.
    public var correct: Bool
    /// `z_y - max_{k != y} z_k` on the raw logits (AUM's margin).
    public var margin: Float
    /// Softmax probability of the given label (cartography's confidence).
    public var probability: Float
    /// `||softmax(z) - onehot(y)||_2`.
    public var el2n: Float

    public init(index: Int32, epoch: Int32, step: Int32, loss: Float, correct: Bool,
                margin: Float, probability: Float, el2n: Float) {
        self.index = index; self.epoch = epoch; self.step = step; self.loss = loss
        self.correct = correct; self.margin = margin; self.probability = probability; self.el2n = el2n
    }
}

/// Receives the per-example stream. Records of one step arrive together, in the
/// order of the batch.
public protocol ExampleStatsSink: AnyObject {
    func consume(_ records: UnsafeBufferPointer<ExampleStats>) throws
    /// Called once after the last record.
    func finish() throws
    /// Pushes what was consumed to its file, if any (before a training checkpoint).
    func flush() throws
}

extension ExampleStatsSink {
    public func flush() throws {}
}

/// Keeps every record in memory (tests, small runs).
public final class ExampleStatsCollector: ExampleStatsSink {
    public private(set) var records: [ExampleStats] = []
    public init() {}
    public func consume(_ batch: UnsafeBufferPointer<ExampleStats>) { records.append(contentsOf: batch) }
    public func finish() {}
}
