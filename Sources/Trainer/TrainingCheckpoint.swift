import Kernels
import Metrics

/// Where the trainings of an experiment keep their end-of-epoch state, so a killed
/// training continues from its last finished epoch (`--resume`). `UnitStore` is one.
public protocol TrainingCheckpoints {
    func load(_ name: String) throws -> [String: UnitArray]?
    func save(_ name: String, _ arrays: [(String, UnitArray)]) throws
    func discard(_ name: String)
}

extension TrainingSession {
    /// Everything a training continues from at an epoch boundary: each parameter's
    /// value and momentum, each buffer (batch-norm running statistics), the optimiser
    /// step and the number of epochs done. Data order and augmentation are keyed by
    /// (seed, epoch, example), so a restored session trains bit for bit as the
    /// uninterrupted one would. Float32 values are stored as float64 (exactly).
    public func checkpointState(epochsDone: Int) -> [(String, UnitArray)] {
        func values(_ t: Tensor) -> UnitArray { .float64(device.download(t).map(Double.init)) }
        var arrays: [(String, UnitArray)] = [("epochs_done", .float64([Double(epochsDone)])), ("step", .float64([Double(step)]))]
        for p in model.parameters { arrays += [("value:" + p.name, values(p.value)), ("momentum:" + p.name, values(p.momentum))] }
        for b in model.buffers { arrays.append(("buffer:" + b.name, values(b.value))) }
        return arrays
    }

    /// Restores ``checkpointState(epochsDone:)``; returns the epochs done. Throws when the
    /// state does not fit this model (another architecture or width).
    public func restore(_ state: [String: UnitArray], from file: String) throws -> Int {
        func floats(_ name: String, count: Int) throws -> [Float] {
            guard case .float64(let v)? = state[name], v.count == count else {
                throw TrainerError.invalid("\(file): no \(name) of \(count) values: the checkpoint is of another model; remove it")
            }
            return v.map(Float.init)
        }
        let done = Int(try floats("epochs_done", count: 1)[0])
        let savedStep = Int(try floats("step", count: 1)[0])
        for p in model.parameters {
            device.upload(try floats("value:" + p.name, count: p.count), to: p.value)
            device.upload(try floats("momentum:" + p.name, count: p.count), to: p.momentum)
        }
        for b in model.buffers { device.upload(try floats("buffer:" + b.name, count: b.value.count), to: b.value) }
        step = savedStep
        return done
    }
}
