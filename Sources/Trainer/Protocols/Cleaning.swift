import Metrics
import Storage

/// Whether cleaning pays off: the same network trained on the noisy labels, on the
/// cleaned training set (flagged examples dropped or relabelled), and on a random subset
/// of the cleaned set's size, each for the same number of optimiser steps as the full
/// set, then tested; with planted noise, optionally also the oracle (exactly the flipped
/// examples dropped) and the clean labels. Unit = one (variant, seed) training.
public struct Cleaning: ExperimentProtocol {
    public var setup: ExperimentSetup
    /// The examples the cleaned set keeps (ascending).
    public var kept: [Int]
    /// The cleaned training labels, `[N]` (relabelled where the verdict suggested).
    public var labels: [Int32]
    /// Seeds per variant (`0..<seeds`).
    public var seeds: Int
    /// Epochs of a full-data training (subsets get the same number of steps).
    public var epochs: Int
    /// Also train the oracle and clean-label variants (planted noise only).
    public var oracle: Bool

    public init(setup: ExperimentSetup, kept: [Int], labels: [Int32], seeds: Int, epochs: Int, oracle: Bool = false) throws {
        guard !kept.isEmpty else { throw TrainerError.invalid("the cleaning keeps no example") }
        guard labels.count == setup.data.count, kept.allSatisfy({ $0 >= 0 && $0 < setup.data.count }) else {
            throw TrainerError.invalid("the cleaning does not fit the \(setup.data.count) training examples")
        }
        guard seeds >= 1, epochs >= 1 else { throw TrainerError.invalid("--seeds and --epochs must be at least 1") }
        guard setup.data.split.test.count > 0 else {
            throw TrainerError.invalid("the data has no test set, and cleaning is judged by test accuracy: hold one out with --val 0.1")
        }
        guard !oracle || setup.data.flipped != nil else {
            throw TrainerError.invalid("--oracle needs planted noise (--noise on the audit): only then are the wrong labels known")
        }
        self.setup = setup; self.kept = kept; self.labels = labels; self.seeds = seeds; self.epochs = epochs; self.oracle = oracle
    }

    public enum Variant: String, Sendable, CaseIterable {
        /// Every example, the given (noisy) labels.
        case noisy
        /// The cleaned set and labels.
        case cleaned
        /// A random subset of the cleaned set's size, the given labels.
        case random
        /// Exactly the flipped examples dropped (planted noise).
        case oracle
        /// Every example with its label before the noise (planted noise).
        case clean
    }

    public struct Unit: Sendable, Hashable {
        public var variant: Variant
        public var seed: Int
    }

    /// The variants trained: a random drop only when the cleaning drops examples (a
    /// relabelling keeps them all, and a random drop of none is the noisy training).
    public var variants: [Variant] {
        (kept.count < setup.data.count ? [.noisy, .cleaned, .random] : [.noisy, .cleaned]) + (oracle ? [.oracle, .clean] : [])
    }

    public var units: [Unit] { variants.flatMap { v in (0..<seeds).map { Unit(variant: v, seed: $0) } } }

    public struct UnitResult: Sendable {
        public var kept: Int
        public var epochs: Int
        public var testAccuracy: Double
    }

    public func run(_ unit: Unit, progress: ProtocolProgress) throws -> UnitResult {
        let n = setup.data.count
        let indices: [Int]
        switch unit.variant {
        case .noisy: indices = Array(0..<n)
        case .cleaned: indices = kept
        case .random:
            indices = try Pruning.select(scores: [Double](repeating: 0, count: n), direction: .higherIsSuspicious,
                                         .keepRandom(Double(kept.count) / Double(n), seed: UInt64(unit.seed)))
        case .oracle:
            let flipped = Set(setup.data.flipped ?? [])
            indices = (0..<n).filter { !flipped.contains($0) }
        case .clean: indices = Array(0..<n)
        }
        let unitEpochs = indices.count == n ? epochs : setup.epochs(matchingStepsOf: epochs, subset: indices.count)
        let unitLabels: [Int32]? = switch unit.variant {
        case .cleaned: labels
        case .clean: setup.data.split.train.labels
        default: nil
        }
        let session = try setup.session(epochs: unitEpochs, seed: UInt64(unit.seed), indices: indices.map { Int32($0) },
                                        labels: unitLabels)
        let label = "\(unit.variant.rawValue), seed \(unit.seed)"
        let summaries = try setup.train(session, unit: label, progress: progress)
        guard let accuracy = summaries.last?.testAccuracy else { throw TrainerError.invalid("no test accuracy after training") }
        return UnitResult(kept: indices.count, epochs: unitEpochs, testAccuracy: accuracy)
    }

    public var plan: WorkPlan {
        var p = WorkPlan()
        let n = setup.data.count
        p.add(.training(epoch: 0), seeds * epochs * n * variants.count)
        p.add(.evaluation, variants.count * seeds * setup.testExamplesPerTraining)
        return p
    }

    public func combine(_ results: [UnitResult]) throws -> Output {
        guard results.count == units.count else { throw TrainerError.invalid("one result per cleaning unit is needed") }
        var csv = "variant,seed,kept,epochs,test_accuracy\n"
        var accuracies: [Variant: [Double]] = [:], sizes: [Variant: Int] = [:]
        for (u, r) in zip(units, results) {
            csv += "\(u.variant.rawValue),\(u.seed),\(r.kept),\(r.epochs),\(r.testAccuracy)\n"
            accuracies[u.variant, default: []].append(r.testAccuracy)
            sizes[u.variant] = r.kept
        }
        return Output(csv: csv, kept: kept.count, sizes: sizes, accuracies: accuracies)
    }

    public struct Output: Sendable {
        /// `cleaning.csv`: one row per unit.
        public var csv: String
        public var kept: Int
        /// The training-set size of each variant.
        public var sizes: [Variant: Int]
        public var accuracies: [Variant: [Double]]

        /// The share of the noisy-to-oracle gap in mean test accuracy the cleaning
        /// recovers (nil without the oracle).
        public var gapRecovered: Double? {
            guard accuracies[.oracle] != nil else { return nil }
            let noisy = summary(.noisy).mean
            return (summary(.cleaned).mean - noisy) / (summary(.oracle).mean - noisy)
        }

        /// Mean and population std of a variant's test accuracies.
        public func summary(_ v: Variant) -> (mean: Double, std: Double) { Summary.meanAndStd(accuracies[v] ?? []) }
    }
}

extension Cleaning: StoredUnits {
    public func unitName(_ unit: Unit) -> String { "\(unit.variant.rawValue).seed\(unit.seed)" }

    public func unitArrays(_ r: UnitResult) -> [(String, UnitArray)] {
        [("kept", .float64([Double(r.kept)])), ("epochs", .float64([Double(r.epochs)])), ("test_accuracy", .float64([r.testAccuracy]))]
    }

    public func unitResult(_ arrays: [String: UnitArray], of unit: Unit, file: String) throws -> UnitResult {
        UnitResult(kept: Int(try arrays.number("kept", in: file)), epochs: Int(try arrays.number("epochs", in: file)),
                   testAccuracy: try arrays.number("test_accuracy", in: file))
    }
}
