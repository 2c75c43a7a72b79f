import Kernels
import Metrics

/// What a protocol reports while it runs. Every callback is optional: the CLI prints
/// them, tests leave them out.
public struct ProtocolProgress {
    /// After each training epoch: the unit's label, the epoch's summary and the number
    /// of epochs of that training.
    public var epoch: ((_ unit: String, _ summary: EpochSummary, _ epochs: Int) -> Void)?
    /// After each training step: the unit's label, the epoch (0-based), the examples done
    /// in that epoch and the examples per epoch.
    public var step: ((_ unit: String, _ epoch: Int, _ done: Int, _ total: Int) -> Void)?
    /// One line about a phase (a scoring pass, a finished unit).
    public var note: ((String) -> Void)?
    /// Something the user must know about the results (a training that never left
    /// chance level): printed, and recorded with the results.
    public var warning: ((String) -> Void)?

    public init(epoch: ((String, EpochSummary, Int) -> Void)? = nil,
                step: ((String, Int, Int, Int) -> Void)? = nil,
                note: ((String) -> Void)? = nil, warning: ((String) -> Void)? = nil) {
        self.epoch = epoch; self.step = step; self.note = note; self.warning = warning
    }

    /// Reports nothing.
    public static let silent = ProtocolProgress()

    /// Routes `session`'s per-step callback to ``step`` under the label `unit`.
    func reportSteps(of session: TrainingSession, as unit: String) {
        session.onStep = step.map { report in { epoch, done, total in report(unit, epoch, done, total) } }
    }
}

/// An experiment protocol: a list of independent units (one seed, one initialisation,
/// one split, one pruned subset) whose results a pure function combines. Any unit can
/// run on its own, in any order, on any machine; running every unit and combining is
/// the whole experiment.
public protocol ExperimentProtocol {
    associatedtype Unit: Sendable
    associatedtype UnitResult: Sendable
    associatedtype Output
    /// The units, in the order their results are combined.
    var units: [Unit] { get }
    /// Runs one unit from scratch.
    func run(_ unit: Unit, progress: ProtocolProgress) throws -> UnitResult
    /// Combines one result per unit, in ``units`` order (pure: no device, no I/O).
    func combine(_ results: [UnitResult]) throws -> Output
}

extension ExperimentProtocol {
    /// Runs every unit in order and combines the results.
    public func run(progress: ProtocolProgress = .silent) throws -> Output {
        try combine(units.map { try run($0, progress: progress) })
    }
}

/// What every protocol trains on: the data (with its training labels), the device, and
/// the base configuration each unit derives its trainings from (seed and epochs are the
/// unit's).
public struct ExperimentSetup {
    public var data: TrainingData
    public var device: Device
    public var configuration: TrainingConfiguration

    public init(data: TrainingData, device: Device, configuration: TrainingConfiguration) {
        self.data = data; self.device = device; self.configuration = configuration
    }

    /// A session for one training of this setup: `epochs` epochs from `seed`, on the
    /// examples `indices` (all when nil), with `labels` (the setup's training labels when
    /// nil) and `extraClasses` more outputs; test accuracy after the last epoch only.
    public func session(epochs: Int, seed: UInt64, indices: [Int32]? = nil, labels: [Int32]? = nil,
                        extraClasses: Int = 0) throws -> TrainingSession {
        var config = configuration
        config.epochs = epochs
        config.seed = seed
        config.evaluateEveryEpoch = false
        let session = try TrainingSession(configuration: config, data: data.split, device: device,
                                          trainLabels: labels ?? data.labels, extraClasses: extraClasses)
        if let indices { try session.setTrainingIndices(indices) }
        return session
    }

    /// Runs every epoch of `session` (or only the first `stoppingAfter`: a checkpoint
    /// inside a longer schedule), reporting progress under the label `unit`.
    @discardableResult
    public func train(_ session: TrainingSession, unit: String, progress: ProtocolProgress,
                      sinks: [ExampleStatsSink] = [], stoppingAfter: Int? = nil,
                      afterEpoch: (EpochSummary) throws -> Void = { _ in }) throws -> [EpochSummary] {
        progress.reportSteps(of: session, as: unit)
        defer { session.onStep = nil }
        let epochs = stoppingAfter ?? session.configuration.epochs
        let summaries = try session.run(epochs: epochs, sinks: sinks) { s in
            progress.epoch?(unit, s, epochs)
            try afterEpoch(s)
        }
        if let problem = TrainingSession.learningProblem(summaries, classes: session.model.classes) {
            progress.warning?((unit.isEmpty ? "" : unit + ": ") + problem)
        }
        return summaries
    }
}
