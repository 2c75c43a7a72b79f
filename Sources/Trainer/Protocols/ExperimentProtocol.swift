import Kernels
import Metrics

/// What a protocol reports while it runs. Every callback is optional: the CLI prints
/// them, tests leave them out.
public struct ProtocolProgress {
    /// After each training epoch: the unit's label, the epoch's summary and the number
    /// of epochs of that training.
    public var epoch: ((_ unit: String, _ summary: EpochSummary, _ epochs: Int) -> Void)?
    /// After each batch of every pass (training steps, scoring passes, test evaluation,
    /// VoG, predictions): the unit's label, the pass, the examples done in it and the
    /// examples it covers.
    public var step: ((_ unit: String, _ pass: Pass, _ done: Int, _ total: Int) -> Void)?
    /// One line about a phase (a scoring pass, a finished unit).
    public var note: ((String) -> Void)?
    /// Something the user must know about the results (a training that never left
    /// chance level): printed, and recorded with the results.
    public var warning: ((String) -> Void)?
    /// A unit loaded from its store instead of run (`--resume`): said even when quiet.
    public var resumed: ((String) -> Void)?

    public init(epoch: ((String, EpochSummary, Int) -> Void)? = nil,
                step: ((String, Pass, Int, Int) -> Void)? = nil,
                note: ((String) -> Void)? = nil, warning: ((String) -> Void)? = nil, resumed: ((String) -> Void)? = nil) {
        self.epoch = epoch; self.step = step; self.note = note; self.warning = warning; self.resumed = resumed
    }

    /// Reports nothing.
    public static let silent = ProtocolProgress()

    /// Routes `session`'s progress to ``step`` under the label `unit`; training epochs are
    /// reported `epochOffset` lower (the second split of the two-split protocol counts
    /// its own epochs from 0).
    func reportSteps(of session: TrainingSession, as unit: String, epochOffset: Int = 0) {
        session.onProgress = step.map { report in
            { pass, done, total in
                if case .training(let e) = pass, epochOffset != 0 {
                    report(unit, .training(epoch: e - epochOffset), done, total)
                } else {
                    report(unit, pass, done, total)
                }
            }
        }
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
    /// The passes over examples all units together will make (an overall ETA).
    var plan: WorkPlan { get }
}

/// Example-passes a job will make, by kind of pass: training presentations, scoring
/// passes with and without gradient norms, evaluation, recording, input gradients and
/// predictions. A progress display weighs them by their cost for an overall ETA.
public struct WorkPlan: Sendable, Equatable {
    public var training = 0, scoring = 0, gradNorms = 0, evaluation = 0, recording = 0, inputGradients = 0, prediction = 0

    public init() {}

    /// Adds `examples` example-passes of the kind of `pass`.
    public mutating func add(_ pass: Pass, _ examples: Int) {
        switch pass {
        case .training: training += examples
        case .scoring(let g): if g { gradNorms += examples } else { scoring += examples }
        case .evaluation: evaluation += examples
        case .recording: recording += examples
        case .inputGradients: inputGradients += examples
        case .prediction: prediction += examples
        }
    }

    public static func + (a: WorkPlan, b: WorkPlan) -> WorkPlan {
        var s = a
        s.training += b.training; s.scoring += b.scoring; s.gradNorms += b.gradNorms; s.evaluation += b.evaluation
        s.recording += b.recording; s.inputGradients += b.inputGradients; s.prediction += b.prediction
        return s
    }

    /// The plan's cost in training-presentation equivalents, with `weight` giving each
    /// kind's cost relative to a training presentation.
    public func cost(_ weight: (Pass) -> Double) -> Double {
        Double(training) * weight(.training(epoch: 0)) + Double(scoring) * weight(.scoring(gradNorms: false))
            + Double(gradNorms) * weight(.scoring(gradNorms: true)) + Double(evaluation) * weight(.evaluation)
            + Double(recording) * weight(.recording) + Double(inputGradients) * weight(.inputGradients)
            + Double(prediction) * weight(.prediction)
    }
}

extension ExperimentProtocol {
    /// Unknown by default: a display then shows each pass's progress without an overall ETA.
    public var plan: WorkPlan { WorkPlan() }
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
    /// Test-set evaluations a training of `epochs` epochs makes (after its last epoch).
    public var testExamplesPerTraining: Int { data.split.test.count }

    public var data: TrainingData
    public var device: Device
    public var configuration: TrainingConfiguration

    public init(data: TrainingData, device: Device, configuration: TrainingConfiguration) {
        self.data = data; self.device = device; self.configuration = configuration
    }

    /// Epochs over a subset of `subset` examples that make at least as many optimiser
    /// steps as `epochs` over the whole training set (Data Diet: pruned sets train for the
    /// same number of steps, not epochs).
    public func epochs(matchingStepsOf epochs: Int, subset: Int) -> Int {
        let b = configuration.batchSize
        let fullSteps = epochs * ((data.count + b - 1) / b), stepsPerEpoch = max(1, (subset + b - 1) / b)
        return (fullSteps + stepsPerEpoch - 1) / stepsPerEpoch
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
    /// inside a longer schedule), reporting progress under the label `unit` (also for
    /// the session's later passes). `earlier`: the summaries of the epochs a resumed
    /// training restored, judged with the new ones (a training that never learned is
    /// said whether or not it was interrupted).
    @discardableResult
    public func train(_ session: TrainingSession, unit: String, progress: ProtocolProgress,
                      sinks: [ExampleStatsSink] = [], stoppingAfter: Int? = nil, from: Int = 0, earlier: [EpochSummary] = [],
                      resuming position: EpochPosition? = nil, afterStep: (EpochPosition) throws -> Void = { _ in },
                      afterEpoch: (EpochSummary) throws -> Void = { _ in }) throws -> [EpochSummary] {
        progress.reportSteps(of: session, as: unit)
        let epochs = stoppingAfter ?? session.configuration.epochs
        let summaries = try session.run(epochs: epochs, from: from, sinks: sinks, resuming: position, afterStep: afterStep) { s in
            progress.epoch?(unit, s, epochs)
            try afterEpoch(s)
        }
        if let problem = TrainingSession.learningProblem(earlier + summaries, classes: session.model.classes) {
            progress.warning?((unit.isEmpty ? "" : unit + ": ") + problem)
        }
        return summaries
    }
}
