import Kernels
import Metrics
import Storage

/// Where the trainings of an experiment keep their state (at the end of each epoch, and
/// every so many steps when asked), so a killed training continues from its last
/// checkpoint (`--resume`). `UnitStore` is one.
public protocol TrainingStateStore {
    func load(_ name: String) throws -> [String: UnitArray]?
    func save(_ name: String, _ arrays: [(String, UnitArray)]) throws
    func discard(_ name: String)
}

extension TrainingSession {
    /// Everything a training continues from: each parameter's value and momentum, each
    /// buffer (batch-norm running statistics), the optimiser step and the epochs done;
    /// inside an epoch (`position`), also the batches done and the epoch's running loss
    /// and correct count. Data order and augmentation are keyed by (seed, epoch,
    /// example), so a restored session trains bit for bit as the uninterrupted one
    /// would. Float32 values are stored as float64 (exactly).
    public func trainingState(epochsDone: Int, position: EpochPosition? = nil) throws -> [(String, UnitArray)] {
        func values(_ t: Tensor) -> UnitArray { .float64(device.download(t).map(Double.init)) }
        var arrays: [(String, UnitArray)] = [("epochs_done", .float64([Double(epochsDone)])), ("step", .float64([Double(step)]))]
        if let position {
            precondition(position.epoch == epochsDone, "a position inside epoch \(position.epoch) after \(epochsDone) epochs")
            arrays += [("batches_done", .float64([Double(position.batchesDone)])), ("epoch_loss_sum", .float64([position.lossSum])),
                       ("epoch_correct", .float64([Double(position.correct)]))]
        }
        for p in model.parameters { arrays += [("value:" + p.name, values(p.value)), ("momentum:" + p.name, values(p.momentum))] }
        for b in model.buffers { arrays.append(("buffer:" + b.name, values(b.value))) }
        try device.checkFailure()   // never a state of NaN
        return arrays
    }

    /// Restores ``trainingState(epochsDone:position:)``; returns the epochs done and,
    /// for a state taken inside an epoch, the position to resume that epoch from. Throws
    /// when the state does not fit this model (another architecture or width).
    public func restore(_ state: [String: UnitArray], from file: String) throws -> (epochsDone: Int, position: EpochPosition?) {
        func doubles(_ name: String, count: Int) throws -> [Double] { try state.doubles(name, count: count, in: file) }
        func floats(_ name: String, count: Int) throws -> [Float] { try doubles(name, count: count).map(Float.init) }
        let done = Int(try doubles("epochs_done", count: 1)[0])
        let savedStep = Int(try doubles("step", count: 1)[0])
        var position: EpochPosition?
        if state["batches_done"] != nil {
            position = EpochPosition(epoch: done, batchesDone: Int(try doubles("batches_done", count: 1)[0]),
                                     lossSum: try doubles("epoch_loss_sum", count: 1)[0],
                                     correct: Int(try doubles("epoch_correct", count: 1)[0]))
        }
        for p in model.parameters {
            device.upload(try floats("value:" + p.name, count: p.count), to: p.value)
            device.upload(try floats("momentum:" + p.name, count: p.count), to: p.momentum)
        }
        for b in model.buffers { device.upload(try floats("buffer:" + b.name, count: b.value.count), to: b.value) }
        try device.checkFailure()
        step = savedStep
        return (done, position)
    }
}

extension TrainingSession {
    /// A hash of every parameter and buffer value (16 hex digits): two trainings that
    /// ended with bit-identical models have the same one.
    public func modelFingerprint() throws -> String {
        var h = ContentHash()
        for p in model.parameters { device.download(p.value).withUnsafeBytes { h.add($0) } }
        for b in model.buffers { device.download(b.value).withUnsafeBytes { h.add($0) } }
        try device.checkFailure()
        return h.hex
    }
}

extension EpochSummary {
    /// `summaries` as unit arrays (one float64 array per field, NaN for a missing test
    /// figure), for a training checkpoint.
    public static func state(_ summaries: [EpochSummary]) -> [(String, UnitArray)] {
        func field(_ name: String, _ value: (EpochSummary) -> Double) -> (String, UnitArray) {
            ("epochs:" + name, .float64(summaries.map(value)))
        }
        return [field("epoch") { Double($0.epoch) }, field("learning_rate") { Double($0.learningRate) },
                field("train_loss") { $0.trainLoss }, field("train_accuracy") { $0.trainAccuracy },
                field("test_loss") { $0.testLoss ?? .nan }, field("test_accuracy") { $0.testAccuracy ?? .nan },
                field("train_seconds") { $0.trainSeconds }, field("eval_seconds") { $0.evalSeconds },
                field("train_examples") { Double($0.trainExamples) }]
    }

    /// The `count` summaries ``state(_:)`` kept; throws naming `file` when they are missing.
    public static func restore(_ arrays: [String: UnitArray], count: Int, file: String) throws -> [EpochSummary] {
        func field(_ name: String) throws -> [Double] { try arrays.doubles("epochs:" + name, count: count, in: file) }
        let epoch = try field("epoch"), lr = try field("learning_rate"), loss = try field("train_loss")
        let accuracy = try field("train_accuracy"), testLoss = try field("test_loss"), testAccuracy = try field("test_accuracy")
        let trainSeconds = try field("train_seconds"), evalSeconds = try field("eval_seconds"), examples = try field("train_examples")
        return (0..<count).map { k in
            EpochSummary(epoch: Int(epoch[k]), learningRate: Float(lr[k]), trainLoss: loss[k], trainAccuracy: accuracy[k],
                         testLoss: testLoss[k].isNaN ? nil : testLoss[k], testAccuracy: testAccuracy[k].isNaN ? nil : testAccuracy[k],
                         trainSeconds: trainSeconds[k], evalSeconds: evalSeconds[k], trainExamples: Int(examples[k]))
        }
    }
}
extension UnitStore: TrainingStateStore {}
