import Metrics

/// Out-of-sample predicted probabilities by K-fold cross-validation, the input
/// cleanlab's `find_label_issues(labels, pred_probs)` expects: the training set is split
/// into K folds stratified by given label (seeded), each fold's probabilities come from
/// a model trained on the other K-1 folds with the same settings. Unit = one fold.
///
/// The input normalisation is fitted on the whole training set (pixels only, no labels).
public struct CrossValidation: ExperimentProtocol {
    public var setup: ExperimentSetup
    public var epochs: Int
    public var seed: UInt64
    /// Per fold, its examples (ascending).
    public let folds: [[Int32]]

    public init(setup: ExperimentSetup, folds k: Int, epochs: Int, seed: UInt64) throws {
        let n = setup.data.count
        guard k >= 2 else { throw TrainerError.invalid("--folds must be at least 2 (or 0 for no cross-validation)") }
        guard k <= n / 2 else { throw TrainerError.invalid("--folds \(k) leaves folds of fewer than 2 of the \(n) examples") }
        guard epochs >= 1 else { throw TrainerError.invalid("--epochs must be at least 1") }
        self.setup = setup; self.epochs = epochs; self.seed = seed
        folds = CrossValidation.stratifiedFolds(labels: setup.data.labels, classes: setup.data.classes, k: k, seed: seed)
    }

    /// Splits the examples into `k` folds: each class's examples in a seeded order, dealt
    /// round robin (continuing across classes, so fold sizes differ by at most one).
    public static func stratifiedFolds(labels: [Int32], classes: Int, k: Int, seed: UInt64) -> [[Int32]] {
        var byClass = [[Int32]](repeating: [], count: classes)
        for (i, y) in labels.enumerated() { byClass[Int(y)].append(Int32(i)) }
        var folds = [[Int32]](repeating: [], count: k)
        var next = 0
        for (c, members) in byClass.enumerated() where !members.isEmpty {
            var rng = SeededRandom(seed: seed, purpose: "folds", epoch: c)
            for p in rng.permutation(members.count) {
                folds[next].append(members[Int(p)])
                next = (next + 1) % k
            }
        }
        return folds.map { $0.sorted() }
    }

    public var units: [Int] { Array(folds.indices) }

    public var plan: WorkPlan {
        let n = setup.data.count
        var p = WorkPlan()
        p.add(.training(epoch: 0), epochs * (folds.count - 1) * n)
        p.add(.prediction, n)
        p.add(.evaluation, folds.count * setup.testExamplesPerTraining)
        return p
    }

    /// Probabilities of the fold's examples, `[fold.count, classes]`.
    public struct UnitResult: Sendable {
        public var indices: [Int32]
        public var probabilities: [Double]
        public var testAccuracy: Double?
    }

    public func run(_ fold: Int, progress: ProtocolProgress) throws -> UnitResult {
        let held = Set(folds[fold])
        let training = (0..<Int32(setup.data.count)).filter { !held.contains($0) }
        let session = try setup.session(epochs: epochs, seed: seed &+ UInt64(fold), indices: training)
        let summaries = try setup.train(session, unit: "fold \(fold + 1)/\(folds.count)", progress: progress)
        return UnitResult(indices: folds[fold], probabilities: try session.probabilities(of: folds[fold]),
                          testAccuracy: summaries.last?.testAccuracy)
    }

    public func combine(_ results: [UnitResult]) throws -> Output {
        let n = setup.data.count, classes = setup.data.classes
        guard results.count == folds.count else { throw TrainerError.invalid("one result per fold is needed") }
        var probs = [Double](repeating: .nan, count: n * classes)
        for r in results {
            guard r.probabilities.count == r.indices.count * classes else {
                throw TrainerError.invalid("a fold's probabilities are not \(r.indices.count) x \(classes)")
            }
            for (j, i) in r.indices.enumerated() {
                for k in 0..<classes { probs[Int(i) * classes + k] = r.probabilities[j * classes + k] }
            }
        }
        let accuracies = results.compactMap(\.testAccuracy)
        return Output(folds: folds.count, epochs: epochs, classes: classes, predProbs: probs, labels: setup.data.labels,
                      meanTestAccuracy: accuracies.isEmpty ? nil : accuracies.reduce(0, +) / Double(accuracies.count))
    }

    /// The `[N, classes]` out-of-sample probabilities and the scores cleanlab derives from them.
    public struct Output: Sendable {
        public var folds: Int, epochs: Int, classes: Int
        /// `[N, classes]` row-major.
        public var predProbs: [Double]
        /// The given (training) labels the folds were stratified and scored by.
        public var labels: [Int32]
        /// Mean test accuracy of the fold models (nil without a test set).
        public var meanTestAccuracy: Double?

        /// `p[i, y_i]`: cleanlab's self-confidence label-quality score. Low = suspicious.
        public var selfConfidence: [Double] {
            labels.enumerated().map { i, y in predProbs[i * classes + Int(y)] }
        }

        /// `(p[i, y_i] - max_{k != y_i} p[i, k] + 1) / 2`: cleanlab's normalised margin. Low = suspicious.
        public var normalizedMargin: [Double] {
            labels.enumerated().map { i, y in
                var other = 0.0
                for k in 0..<classes where k != Int(y) { other = max(other, predProbs[i * classes + k]) }
                return (predProbs[i * classes + Int(y)] - other + 1) / 2
            }
        }

        /// Fraction of examples whose most probable class is the given label.
        public var outOfSampleAccuracy: Double {
            var hits = 0
            for (i, y) in labels.enumerated() {
                let row = predProbs[(i * classes)..<((i + 1) * classes)]
                if row.indices.max(by: { row[$0] < row[$1] }).map({ $0 - i * classes }) == Int(y) { hits += 1 }
            }
            return Double(hits) / Double(max(1, labels.count))
        }

        public var scores: [Score] {
            [Score(.selfConfidence, values: selfConfidence,
                   note: "p[i, given label] out of sample (\(folds)-fold cross-validation, \(epochs) epochs per fold)"),
             Score(.normalizedMargin, values: normalizedMargin,
                   note: "(p[i, y] - max_{k!=y} p[i, k] + 1) / 2 out of sample (\(folds)-fold cross-validation)")]
        }
    }
}
