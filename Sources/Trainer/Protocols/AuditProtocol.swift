import Metrics
import Storage

/// `sieve audit` as one protocol composed of the others: the main training
/// (``DynamicsRun``: every dynamics score, scoring passes at its checkpoints, VoG), and
/// optionally AUM's threshold runs, GraNd at initialisation (a ``CheckpointEnsemble`` at
/// epoch 0), the two-split protocol and K-fold cross-validation. Its units are theirs,
/// named with the part's prefix (`dynamics`, `aum-threshold.run0`, `grand-init.1000`,
/// `ssft.0.A`, `folds.fold0`), so an audit resumes, shards and merges like any protocol.
public struct AuditProtocol: ExperimentProtocol {
    public var training: DynamicsRun
    public var threshold: AUMThresholdRuns?
    public var atInit: CheckpointEnsemble?
    public var twoSplit: SecondSplitForgetting?
    public var crossValidation: CrossValidation?

    public init(training: DynamicsRun, threshold: AUMThresholdRuns? = nil, atInit: CheckpointEnsemble? = nil,
                twoSplit: SecondSplitForgetting? = nil, crossValidation: CrossValidation? = nil) {
        self.training = training; self.threshold = threshold; self.atInit = atInit
        self.twoSplit = twoSplit; self.crossValidation = crossValidation
    }

    public enum Unit: Sendable {
        case training(UInt64)
        case aumThreshold(Int)
        case grandInit(CheckpointEnsemble.Unit)
        case ssft(SecondSplitForgetting.Unit)
        case fold(Int)
    }

    public enum UnitResult: Sendable {
        case training(DynamicsRun.Result)
        case aumThreshold([Double])
        case grandInit(CheckpointScores)
        case ssft(SecondSplitForgetting.UnitResult)
        case fold(CrossValidation.UnitResult)
    }

    public var units: [Unit] {
        training.units.map(Unit.training) + (threshold?.units.map(Unit.aumThreshold) ?? [])
            + (atInit?.units.map(Unit.grandInit) ?? []) + (twoSplit?.units.map(Unit.ssft) ?? [])
            + (crossValidation?.units.map(Unit.fold) ?? [])
    }

    public var plan: WorkPlan {
        [training.plan, threshold?.plan, atInit?.plan, twoSplit?.plan, crossValidation?.plan].compactMap { $0 }.reduce(WorkPlan(), +)
    }

    /// The parts that run, in order, with the line that announces each.
    var phases: [(kind: String, line: String)] {
        let setup = training.setup
        var p = [("training", "training \(setup.configuration.architecture.rawValue) for \(training.epochs) epochs on \(setup.data.count) examples (dynamics"
                  + (training.checkpoints.isEmpty ? "" : ", EL2N and GraNd after epoch \(training.checkpoints.map(String.init).joined(separator: ", "))")
                  + (training.vog ? ", VoG" : "") + ")")]
        if let threshold { p.append(("aumThreshold", "AUM threshold runs (\(threshold.units.count) trainings of \(threshold.epochs) epochs)")) }
        if let atInit { p.append(("grandInit", "GraNd at initialisation over \(atInit.seeds.count) networks")) }
        if let twoSplit { p.append(("ssft", "two-split protocol (\(twoSplit.units.count) trainings of 2 x \(twoSplit.epochs) epochs)")) }
        if let crossValidation {
            p.append(("fold", "\(crossValidation.folds.count)-fold cross-validation (\(crossValidation.folds.count) trainings of \(crossValidation.epochs) epochs)"))
        }
        return p
    }

    static func kind(_ unit: Unit) -> String {
        switch unit {
        case .training: "training"
        case .aumThreshold: "aumThreshold"
        case .grandInit: "grandInit"
        case .ssft: "ssft"
        case .fold: "fold"
        }
    }

    public func run(_ unit: Unit, progress: ProtocolProgress) throws -> UnitResult {
        // The first unit of each part announces it.
        let phases = self.phases
        if let k = phases.firstIndex(where: { $0.kind == Self.kind(unit) }),
           let first = units.first(where: { Self.kind($0) == phases[k].kind }), unitName(first) == unitName(unit) {
            progress.note?("phase \(k + 1)/\(phases.count): \(phases[k].line)")
        }
        switch unit {
        case .training(let seed): return .training(try training.run(seed, progress: progress))
        case .aumThreshold(let r): return .aumThreshold(try threshold!.run(r, progress: progress))
        case .grandInit(let p): return .grandInit(try atInit!.run(p, progress: progress))
        case .ssft(let u): return .ssft(try twoSplit!.run(u, progress: progress))
        case .fold(let k): return .fold(try crossValidation!.run(k, progress: progress))
        }
    }

    public func combine(_ results: [UnitResult]) throws -> Output {
        var main: [DynamicsRun.Result] = [], aum: [[Double]] = [], grand: [CheckpointScores] = []
        var halves: [SecondSplitForgetting.UnitResult] = [], folds: [CrossValidation.UnitResult] = []
        for r in results {
            switch r {
            case .training(let x): main.append(x)
            case .aumThreshold(let x): aum.append(x)
            case .grandInit(let x): grand.append(x)
            case .ssft(let x): halves.append(x)
            case .fold(let x): folds.append(x)
            }
        }
        return Output(training: try training.combine(main), threshold: try threshold?.combine(aum), atInit: try atInit?.combine(grand),
                      twoSplit: try twoSplit?.combine(halves), crossValidation: try crossValidation?.combine(folds))
    }

    /// Every part's output.
    public struct Output: Sendable {
        public var training: DynamicsRun.Result
        public var threshold: AUMThresholdRuns.Output?
        public var atInit: CheckpointEnsemble.Output?
        public var twoSplit: SecondSplitForgetting.Output?
        public var crossValidation: CrossValidation.Output?

        /// The audit's scores, in the order of `scores.csv`.
        public var scores: [Score] {
            var s = training.scores
            s.append(Score(.inputNorm, values: training.inputNorm, note: "||x_i|| of the normalised input (a baseline for GraNd)"))
            if let threshold { s.append(threshold.score) }
            if let atInit, let grand = atInit.grand {
                s.append(Score(.grandInit, values: grand, note: "mean over \(atInit.runs) untrained networks of ||grad_w loss_i||, BN in eval mode"))
            }
            if let twoSplit { s += twoSplit.scores }
            if let crossValidation { s += crossValidation.scores }
            return s
        }
    }
}

extension AuditProtocol: StoredUnits {
    public func unitName(_ unit: Unit) -> String {
        switch unit {
        case .training(let seed): training.unitName(seed)
        case .aumThreshold(let r): "aum-threshold." + threshold!.unitName(r)
        case .grandInit(let p): "grand-init." + atInit!.unitName(p)
        case .ssft(let u): "ssft." + twoSplit!.unitName(u)
        case .fold(let k): "folds." + crossValidation!.unitName(k)
        }
    }

    public func unitArrays(_ result: UnitResult) -> [(String, UnitArray)] {
        switch result {
        case .training(let r): training.unitArrays(r)
        case .aumThreshold(let r): threshold!.unitArrays(r)
        case .grandInit(let r): atInit!.unitArrays(r)
        case .ssft(let r): twoSplit!.unitArrays(r)
        case .fold(let r): crossValidation!.unitArrays(r)
        }
    }

    public func unitResult(_ arrays: [String: UnitArray], of unit: Unit, file: String) throws -> UnitResult {
        switch unit {
        case .training(let seed): .training(try training.unitResult(arrays, of: seed, file: file))
        case .aumThreshold(let r): .aumThreshold(try threshold!.unitResult(arrays, of: r, file: file))
        case .grandInit(let p): .grandInit(try atInit!.unitResult(arrays, of: p, file: file))
        case .ssft(let u): .ssft(try twoSplit!.unitResult(arrays, of: u, file: file))
        case .fold(let k): .fold(try crossValidation!.unitResult(arrays, of: k, file: file))
        }
    }

    public func label(of unit: Unit) -> String {
        switch unit {
        case .training(let seed): training.label(of: seed)
        case .grandInit(let p): "GraNd at initialisation, " + atInit!.label(of: p)
        default: "unit " + unitName(unit)
        }
    }

    public func stateName(of unit: Unit) -> String? {
        if case .training(let seed) = unit { return training.stateName(of: seed) }
        return nil
    }

    public func sideFiles(of unit: Unit) -> [String] {
        if case .training(let seed) = unit { return training.sideFiles(of: seed) }
        return []
    }

    public mutating func keepState(in store: TrainingStateStore, folder: String, every steps: Int?) throws {
        try training.keepState(in: store, folder: folder, every: steps)
    }
}
