import Kernels
import Metrics

/// Where the trainings of an experiment keep their state (at the end of each epoch, and
/// every so many steps when asked), so a killed training continues from its last
/// checkpoint (`--resume`). `UnitStore` is one.
public protocol TrainingCheckpoints {
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
    public func checkpointState(epochsDone: Int, position: EpochPosition? = nil) -> [(String, UnitArray)] {
        func values(_ t: Tensor) -> UnitArray { .float64(device.download(t).map(Double.init)) }
        var arrays: [(String, UnitArray)] = [("epochs_done", .float64([Double(epochsDone)])), ("step", .float64([Double(step)]))]
        if let position {
            precondition(position.epoch == epochsDone, "a position inside epoch \(position.epoch) after \(epochsDone) epochs")
            arrays += [("batches_done", .float64([Double(position.batchesDone)])), ("epoch_loss_sum", .float64([position.lossSum])),
                       ("epoch_correct", .float64([Double(position.correct)]))]
        }
        for p in model.parameters { arrays += [("value:" + p.name, values(p.value)), ("momentum:" + p.name, values(p.momentum))] }
        for b in model.buffers { arrays.append(("buffer:" + b.name, values(b.value))) }
        return arrays
    }

    /// Restores ``checkpointState(epochsDone:position:)``; returns the epochs done and,
    /// for a state taken inside an epoch, the position to resume that epoch from. Throws
    /// when the state does not fit this model (another architecture or width).
    public func restore(_ state: [String: UnitArray], from file: String) throws -> (epochsDone: Int, position: EpochPosition?) {
        func doubles(_ name: String, count: Int) throws -> [Double] {
            guard case .float64(let v)? = state[name], v.count == count else {
                throw TrainerError.invalid("\(file): no \(name) of \(count) values: the checkpoint is of another model; remove it")
            }
            return v
        }
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
        step = savedStep
        return (done, position)
    }
}
