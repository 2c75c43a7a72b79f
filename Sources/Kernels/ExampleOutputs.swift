/// The host copy of one batch's per-example outputs `[ExampleOutput.rows, N]`
/// (written by ``LossAndNormOps/softmaxCrossEntropy(logits:labels:gradScale:errors:outputs:)``),
/// read by name. The buffer is allocated once for `maxBatch` examples and reused by
/// every ``download(_:count:from:)``.
///
/// ```swift
/// var decoded = ExampleOutputs(maxBatch: 128)
/// device.softmaxCrossEntropy(logits: z, labels: y, gradScale: 1, errors: e, outputs: outputs)
/// decoded.download(outputs, count: n, from: device)
/// for i in 0..<decoded.count where !decoded.correct(i) { print(decoded.loss(i), decoded.margin(i)) }
/// ```
public struct ExampleOutputs {
    /// Examples the buffer holds.
    public let maxBatch: Int
    /// Examples of the last download.
    public private(set) var count = 0
    /// `[rows, count]`, row-major (row stride `count`); sized `rows * maxBatch`.
    private var values: [Float]

    /// An empty decoder for batches of up to `maxBatch` examples.
    public init(maxBatch: Int) {
        guard maxBatch >= 0 else { fatalError("ExampleOutputs: negative maxBatch \(maxBatch)") }
        self.maxBatch = maxBatch
        values = [Float](repeating: 0, count: ExampleOutput.rows * maxBatch)
    }

    /// Copies the outputs of `n` examples from `tensor` (`[ExampleOutput.rows, n]`, as the
    /// loss op wrote them for a batch of `n`) to the host. Waits for the device.
    public mutating func download(_ tensor: Tensor, count n: Int, from device: MemoryOps) {
        guard n >= 0 && n <= maxBatch else { fatalError("ExampleOutputs: batch of \(n) exceeds maxBatch \(maxBatch)") }
        guard tensor.dtype == .float32, tensor.shape.count == 2, tensor.shape[0] == ExampleOutput.rows,
              tensor.shape[1] == n else {
            fatalError("ExampleOutputs: outputs tensor is \(tensor.shape), expected [\(ExampleOutput.rows), \(n)]")
        }
        count = n
        guard n > 0 else { return }
        values.withUnsafeMutableBufferPointer { all in
            device.download(tensor, into: UnsafeMutableBufferPointer(rebasing: all[0..<(ExampleOutput.rows * n)]))
        }
    }

    /// Row `row` of example `i` (`0 <= i < count`).
    @inline(__always)
    public subscript(row: ExampleOutput, i: Int) -> Float {
        guard i >= 0 && i < count else { fatalError("ExampleOutputs: example \(i) outside 0..<\(count)") }
        return values[row.rawValue * count + i]
    }

    /// Cross-entropy `-log p_y` of example `i`.
    public func loss(_ i: Int) -> Float { self[.loss, i] }
    /// Whether `argmax z == y` for example `i` (first maximum wins).
    public func correct(_ i: Int) -> Bool { self[.correct, i] > 0.5 }
    /// `z_y - max_{k != y} z_k` of example `i` (AUM's margin).
    public func margin(_ i: Int) -> Float { self[.margin, i] }
    /// `p_y` of example `i` (cartography's confidence).
    public func probability(_ i: Int) -> Float { self[.probability, i] }
    /// `||softmax(z) - onehot(y)||_2` of example `i`.
    public func el2n(_ i: Int) -> Float { self[.el2n, i] }
    /// `argmax z` of example `i`.
    public func predicted(_ i: Int) -> Int { Int(self[.predicted, i]) }
}
