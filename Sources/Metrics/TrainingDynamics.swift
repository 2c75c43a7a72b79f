import Storage
/// Scores from the training pass itself (docs/scores.md),
/// accumulated from the ``ExampleStats`` stream of one training run: forgetting
/// events, first-learned epoch, AUM, dataset cartography, and the per-epoch
/// correctness matrix they all derive from.
///
/// Every presentation counts (one per example per epoch in ordinary training).
/// Epochs are 0-based in the stream; reported epochs are 1-based.
public final class TrainingDynamics: ExampleStatsSink {
    public let exampleCount: Int
    public let epochs: Int
    /// First 0-based epoch whose margins enter AUM (the reference starts at epoch 2, i.e. 1).
    public let aumFirstEpoch: Int

    /// `correct[e * N + i]`: 1 if example i was classified correctly at its presentation
    /// in epoch e, 0 if not, 255 if it was not presented.
    public private(set) var correctness: [UInt8]
    /// `el2nByEpoch[e * N + i]`: EL2N (`||softmax - onehot||`) of example i at its
    /// presentation in epoch e (training mode, before the update); NaN if not presented.
    public private(set) var el2nByEpoch: [Float]
    /// `probabilityByEpoch[e * N + i]`: `p_y`, the softmax probability of the given label
    /// of example i at its presentation in epoch e; NaN if not presented.
    public private(set) var probabilityByEpoch: [Float]
    var previousCorrect: [UInt8]      // 255 = no presentation yet
    var forgettingEvents: [Int32]
    var everCorrect: [Bool]
    var marginSum: [Double], marginCount: [Int32]
    var probabilitySum: [Double], probabilitySquares: [Double], presentations: [Int32], correctCount: [Int32]

    public init(exampleCount: Int, epochs: Int, aumFirstEpoch: Int = 1) {
        precondition(exampleCount > 0 && epochs > 0)
        self.exampleCount = exampleCount
        self.epochs = epochs
        self.aumFirstEpoch = aumFirstEpoch
        correctness = [UInt8](repeating: 255, count: exampleCount * epochs)
        el2nByEpoch = [Float](repeating: .nan, count: exampleCount * epochs)
        probabilityByEpoch = [Float](repeating: .nan, count: exampleCount * epochs)
        previousCorrect = [UInt8](repeating: 255, count: exampleCount)
        forgettingEvents = [Int32](repeating: 0, count: exampleCount)
        everCorrect = [Bool](repeating: false, count: exampleCount)
        marginSum = [Double](repeating: 0, count: exampleCount)
        marginCount = [Int32](repeating: 0, count: exampleCount)
        probabilitySum = [Double](repeating: 0, count: exampleCount)
        probabilitySquares = [Double](repeating: 0, count: exampleCount)
        presentations = [Int32](repeating: 0, count: exampleCount)
        correctCount = [Int32](repeating: 0, count: exampleCount)
    }

    public func consume(_ records: UnsafeBufferPointer<ExampleStats>) throws {
        for r in records {
            let i = Int(r.index), e = Int(r.epoch)
            guard i >= 0 && i < exampleCount && e >= 0 && e < epochs else {
                throw MetricsError.invalidInput("record for example \(i), epoch \(e) outside \(exampleCount) examples x \(epochs) epochs")
            }
            let c: UInt8 = r.correct ? 1 : 0
            correctness[e * exampleCount + i] = c
            el2nByEpoch[e * exampleCount + i] = r.el2n
            probabilityByEpoch[e * exampleCount + i] = r.probability
            // Toneva et al.: an event is a transition from correct to incorrect between
            // consecutive presentations; the first presentation is never an event.
            if previousCorrect[i] == 1 && c == 0 { forgettingEvents[i] += 1 }
            previousCorrect[i] = c
            if r.correct { everCorrect[i] = true; correctCount[i] += 1 }
            if e >= aumFirstEpoch { marginSum[i] += Double(r.margin); marginCount[i] += 1 }
            let p = Double(r.probability)
            probabilitySum[i] += p
            probabilitySquares[i] += p * p
            presentations[i] += 1
        }
    }

    public func finish() {}

    /// Everything accumulated so far, as unit arrays named `prefix + field` (a training
    /// checkpoint keeps it; counts are float64, exact).
    public func state(prefix: String) -> [(String, UnitArray)] {
        func counts(_ a: [Int32]) -> UnitArray { .float64(a.map(Double.init)) }
        return [(prefix + "correctness", .uint8(correctness)), (prefix + "el2n_by_epoch", .float32(el2nByEpoch)),
                (prefix + "probability_by_epoch", .float32(probabilityByEpoch)),
                (prefix + "previous_correct", .uint8(previousCorrect)), (prefix + "forgetting_events", counts(forgettingEvents)),
                (prefix + "ever_correct", .uint8(everCorrect.map { $0 ? 1 : 0 })), (prefix + "margin_sum", .float64(marginSum)),
                (prefix + "margin_count", counts(marginCount)), (prefix + "probability_sum", .float64(probabilitySum)),
                (prefix + "probability_squares", .float64(probabilitySquares)), (prefix + "presentations", counts(presentations)),
                (prefix + "correct_count", counts(correctCount))]
    }

    /// Restores ``state(prefix:)``; throws naming `file` when it does not fit these examples and epochs.
    public func restore(_ arrays: [String: UnitArray], prefix: String, file: String) throws {
        let n = exampleCount, cells = exampleCount * epochs
        func counts(_ name: String) throws -> [Int32] { try arrays.doubles(prefix + name, count: n, in: file).map { Int32($0) } }
        correctness = try arrays.bytes(prefix + "correctness", count: cells, in: file)
        el2nByEpoch = try arrays.floats(prefix + "el2n_by_epoch", count: cells, in: file)
        probabilityByEpoch = try arrays.floats(prefix + "probability_by_epoch", count: cells, in: file)
        previousCorrect = try arrays.bytes(prefix + "previous_correct", count: n, in: file)
        forgettingEvents = try counts("forgetting_events")
        everCorrect = try arrays.bytes(prefix + "ever_correct", count: n, in: file).map { $0 != 0 }
        marginSum = try arrays.doubles(prefix + "margin_sum", count: n, in: file)
        marginCount = try counts("margin_count")
        probabilitySum = try arrays.doubles(prefix + "probability_sum", count: n, in: file)
        probabilitySquares = try arrays.doubles(prefix + "probability_squares", count: n, in: file)
        presentations = try counts("presentations")
        correctCount = try counts("correct_count")
    }

    /// Forgetting events per example; examples never classified correctly get
    /// ``neverLearnedForgetting`` (`epochs + 1`, more than any real count: an example
    /// presented once per epoch can be forgotten at most `epochs / 2` times), so the
    /// column stays finite for pandas and scikit-learn while ranking them highest, as the
    /// reference's infinity does; ``neverLearned`` flags them.
    /// High = forgettable (important / possibly mislabeled).
    public var forgetting: [Double] {
        (0..<exampleCount).map { everCorrect[$0] ? Double(forgettingEvents[$0]) : neverLearnedForgetting }
    }

    /// The forgetting count written for never-learned examples: `epochs + 1`.
    public var neverLearnedForgetting: Double { Double(epochs + 1) }

    /// Never classified correctly at any presentation.
    public var neverLearned: [Bool] { everCorrect.map { !$0 } }

    /// Learned at some presentation and never forgotten afterwards.
    public var unforgettable: [Bool] { (0..<exampleCount).map { everCorrect[$0] && forgettingEvents[$0] == 0 } }

    /// First-learned epoch (1-based): the first epoch from which the example is correct
    /// at every later epoch; `epochs + 1` when it is not correct at the last epoch.
    /// High = learned late (hard or mislabeled).
    public var firstLearnedEpoch: [Double] { TrainingDynamics.firstStableEpoch(correctness, examples: exampleCount, epochs: epochs, value: 1) }

    /// Area under the margin: mean of `z_y - max_{k != y} z_k` over presentations from
    /// ``aumFirstEpoch`` on. Low / negative = likely mislabeled. NaN when no epoch counted.
    public var aum: [Double] { (0..<exampleCount).map { marginCount[$0] > 0 ? marginSum[$0] / Double(marginCount[$0]) : .nan } }

    /// Cartography confidence: mean `p_y` over presentations.
    public var confidence: [Double] { (0..<exampleCount).map { probabilitySum[$0] / Double(max(presentations[$0], 1)) } }

    /// Cartography variability: population standard deviation of `p_y`.
    public var variability: [Double] {
        (0..<exampleCount).map { i in
            let n = Double(max(presentations[i], 1)), m = probabilitySum[i] / n
            return max(probabilitySquares[i] / n - m * m, 0).squareRoot()
        }
    }

    /// Dynamic uncertainty (He et al. 2024, DynUnc): the population standard deviation of
    /// `p_y` over each window of ``dynamicUncertaintyWindow`` consecutive epochs, averaged
    /// over the windows. High = the prediction keeps moving (uncertain: worth keeping when
    /// pruning). Epochs an example was not presented in are skipped; NaN with no window
    /// of two presentations.
    public var dynamicUncertainty: [Double] {
        let n = exampleCount, w = dynamicUncertaintyWindow
        return (0..<n).map { i in
            let p = (0..<epochs).map { Double(probabilityByEpoch[$0 * n + i]) }.filter { !$0.isNaN }
            guard p.count >= 2 else { return .nan }
            let width = Swift.min(w, p.count)
            var total = 0.0
            for start in 0...(p.count - width) {
                let window = p[start..<(start + width)]
                let mean = window.reduce(0, +) / Double(width)
                total += (window.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(width)).squareRoot()
            }
            return total / Double(p.count - width + 1)
        }
    }

    /// The window of ``dynamicUncertainty``: a quarter of the epochs, at least 2 and at
    /// most 10 (the paper's window on its 200-epoch runs).
    public var dynamicUncertaintyWindow: Int { Swift.min(10, Swift.max(2, epochs / 4)) }

    /// Cartography correctness: fraction of presentations classified correctly.
    public var correctFraction: [Double] { (0..<exampleCount).map { Double(correctCount[$0]) / Double(max(presentations[$0], 1)) } }

    /// The first 1-based epoch `e` such that `matrix[e' * N + i] == value` for every
    /// `e' >= e`; `epochs + 1` when the last epoch differs (never settled).
    public static func firstStableEpoch(_ matrix: [UInt8], examples N: Int, epochs E: Int, value: UInt8) -> [Double] {
        (0..<N).map { i in
            var first = E + 1
            var e = E - 1
            while e >= 0 && matrix[e * N + i] == value {
                first = e + 1
                e -= 1
            }
            return Double(first)
        }
    }
}
