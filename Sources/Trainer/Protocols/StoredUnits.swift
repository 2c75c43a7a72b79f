import Metrics
import Storage

/// A protocol whose finished units a ``UnitStore`` keeps, so a killed run resumes
/// without redoing them, and whose units can run as shards on several machines and be
/// merged: a file name per unit, a lossless round trip of its result (float64 holds
/// every Int32 index and Float32 value exactly), and (defaults given) how a shard picks
/// its units and how the shards' stored results make the whole run's.
public protocol StoredUnits: ExperimentProtocol {
    /// The unit's file name in a unit folder (without the `.safetensors` suffix).
    func unitName(_ unit: Unit) -> String
    /// The unit's result as named arrays.
    func unitArrays(_ result: UnitResult) -> [(String, UnitArray)]
    /// The result ``unitArrays(_:)`` stored; throws naming `file` when the arrays do not fit `unit`.
    func unitResult(_ arrays: [String: UnitArray], of unit: Unit, file: String) throws -> UnitResult
    /// The units shard `index` of `count` runs. Default: those at positions p of ``units``
    /// with p % count == index.
    func units(inShard index: Int, of count: Int) throws -> [Unit]
    /// The unit a stored file name stands for; nil when it is none of this run's. Default:
    /// the unit of ``units`` with that ``unitName(_:)``.
    func unit(named name: String) -> Unit?
    /// The results of ``units``, in that order, from the stored results of a run's
    /// shards; throws naming what is missing or held twice. Default: each unit exactly once.
    func assemble(_ stored: [StoredResult<Unit, UnitResult>]) throws -> [UnitResult]
    /// How a progress line names the unit (default: `unit NAME`).
    func label(of unit: Unit) -> String
    /// The name of the training state a unit keeps in its store while it runs (dropped once
    /// its result is saved); nil when it keeps none.
    func stateName(of unit: Unit) -> String?
    /// The work of `selected` units (a shard's) for an overall ETA. Default: ``plan`` for
    /// all the units, unknown for fewer.
    func plan(of selected: [Unit]) -> WorkPlan
    /// Files `unit` writes into its store besides its result (an example stream), which
    /// the run folder takes; a shard folder carries them with the unit.
    func sideFiles(of unit: Unit) -> [String]
    /// Keep each training's state in `store` (the unit folder at `folder`; a killed training
    /// continues from it) at the end of each epoch, and every `steps` optimiser steps when
    /// given and the protocol can. Default: no state kept.
    mutating func keepState(in store: TrainingStateStore, folder: String, every steps: Int?) throws
}

/// One stored result of a run's shards: the unit, its file name, its result and the folder it came from.
public struct StoredResult<Unit, UnitResult> {
    public var unit: Unit
    public var name: String
    public var result: UnitResult
    public var folder: String

    public init(unit: Unit, name: String, result: UnitResult, folder: String) {
        self.unit = unit; self.name = name; self.result = result; self.folder = folder
    }
}

extension StoredUnits {
    public func units(inShard index: Int, of count: Int) throws -> [Unit] {
        guard count >= 1, index >= 0, index < count else { throw TrainerError.invalid("shard \(index)/\(count): need 0 <= I < N") }
        return units.enumerated().filter { $0.offset % count == index }.map(\.element)
    }

    public func unit(named name: String) -> Unit? { units.first { unitName($0) == name } }

    public func assemble(_ stored: [StoredResult<Unit, UnitResult>]) throws -> [UnitResult] {
        var byName: [String: StoredResult<Unit, UnitResult>] = [:]
        for s in stored {
            if let other = byName[s.name] { throw TrainerError.invalid("unit \(s.name) is in two shards: \(other.folder) and \(s.folder)") }
            byName[s.name] = s
        }
        let names = units.map(unitName)
        let missing = names.filter { byName[$0] == nil }
        guard missing.isEmpty else {
            throw TrainerError.invalid("unit\(missing.count > 1 ? "s" : "") \(missing.joined(separator: ", ")) "
                                       + "\(missing.count > 1 ? "are" : "is") in none of the shard folders (a shard missing or unfinished?)")
        }
        return names.map { byName[$0]!.result }
    }

    public func label(of unit: Unit) -> String { "unit " + unitName(unit) }

    public func stateName(of unit: Unit) -> String? { nil }

    public func plan(of selected: [Unit]) -> WorkPlan { selected.count == units.count ? plan : WorkPlan() }

    public func sideFiles(of unit: Unit) -> [String] { [] }

    public mutating func keepState(in store: TrainingStateStore, folder: String, every steps: Int?) throws {}

    /// Runs every unit and combines the results. With a `store`, each result is saved
    /// there the moment its unit finishes, under `prefix + unitName`; with `reuse`, units
    /// the store already holds are loaded instead of run (`--resume`).
    public func run(storingIn store: UnitStore?, prefix: String = "", reuse: Bool, progress: ProtocolProgress = .silent,
                    notes: UnitNotes = UnitNotes()) throws -> Output {
        try combine(results(of: units, storingIn: store, prefix: prefix, reuse: reuse, progress: progress, notes: notes))
    }

    /// The results of `selected` units (a shard's), in that order: each run and saved in
    /// `store` as it finishes (its training state then dropped), or (with `reuse`) loaded
    /// when the store holds it.
    public func results(of selected: [Unit], storingIn store: UnitStore?, prefix: String = "", reuse: Bool,
                        progress: ProtocolProgress = .silent, notes: UnitNotes = UnitNotes()) throws -> [UnitResult] {
        var results: [UnitResult] = []
        for unit in selected {
            let name = prefix + unitName(unit)
            if let store, reuse, let arrays = try store.load(name) {
                results.append(try unitResult(arrays, of: unit, file: "\(store.folder)/\(name)\(UnitStore.suffix)"))
                notes.restore(arrays)
                progress.resumed?("resume: \(label(of: unit)) finished earlier; skipping it (loaded from \(store.folder))")
            } else {
                let mark = notes.mark()
                let result = try run(unit, progress: progress)
                try store?.save(name, unitArrays(result) + notes.arrays(since: mark))
                results.append(result)
            }
            // Kept until the unit's result was: a kill between the two loses nothing.
            if let state = stateName(of: unit) { store?.discard(state) }
        }
        return results
    }
}

/// What a unit said besides its result (warnings such as a training left at chance level),
/// kept with it in its file so a resumed or merged run reports it too: `mark` before a
/// unit runs, `arrays(since:)` the lines said since (as a `notes` array), `restore` them
/// when the unit is loaded. The default keeps nothing.
public struct UnitNotes: Sendable {
    public var mark: @Sendable () -> Int
    public var lines: @Sendable (Int) -> [String]
    public var say: @Sendable ([String]) -> Void

    public init(mark: @escaping @Sendable () -> Int = { 0 }, lines: @escaping @Sendable (Int) -> [String] = { _ in [] },
                say: @escaping @Sendable ([String]) -> Void = { _ in }) {
        self.mark = mark; self.lines = lines; self.say = say
    }

    /// The lines said since `mark`, as unit arrays (none when there are none).
    public func arrays(since mark: Int) -> [(String, UnitArray)] {
        let said = lines(mark)
        return said.isEmpty ? [] : [("notes", .uint8(Array(said.joined(separator: "\n").utf8)))]
    }

    /// Re-says the lines a loaded unit kept.
    public func restore(_ arrays: [String: UnitArray]) {
        if case .uint8(let bytes)? = arrays["notes"] {
            say(String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init))
        }
    }
}

extension SecondSplitForgetting: StoredUnits {
    public func unitName(_ unit: Unit) -> String { "\(unit.seed).\(unit.firstHalf == 0 ? "A" : "B")" }

    public func unitArrays(_ r: UnitResult) -> [(String, UnitArray)] {
        [("indices", .float64(r.indices.map(Double.init))), ("fslt", .float64(r.fslt)), ("ssft", .float64(r.ssft))]
    }

    public func unitResult(_ arrays: [String: UnitArray], of unit: Unit, file: String) throws -> UnitResult {
        let expected = halves(seed: unit.seed)[unit.firstHalf]
        let indices = try arrays.indices("indices", count: expected.count, below: setup.data.count, in: file)
        guard indices == expected else { throw TrainerError.invalid("\(file): its examples are not this unit's half; remove it") }
        return UnitResult(indices: indices, fslt: try arrays.doubles("fslt", count: indices.count, in: file),
                          ssft: try arrays.doubles("ssft", count: indices.count, in: file))
    }
}

extension CrossValidation: StoredUnits {
    public func unitName(_ fold: Int) -> String { "fold\(fold)" }

    public func unitArrays(_ r: UnitResult) -> [(String, UnitArray)] {
        [("indices", .float64(r.indices.map(Double.init))), ("probabilities", .float64(r.probabilities)),
         ("test_accuracy", .float64([r.testAccuracy ?? .nan]))]
    }

    public func unitResult(_ arrays: [String: UnitArray], of fold: Int, file: String) throws -> UnitResult {
        let indices = try arrays.indices("indices", count: folds[fold].count, below: setup.data.count, in: file)
        guard indices == folds[fold] else { throw TrainerError.invalid("\(file): its examples are not fold \(fold)'s; remove it") }
        let accuracy = try arrays.number("test_accuracy", in: file)
        return UnitResult(indices: indices, probabilities: try arrays.doubles("probabilities", count: indices.count * setup.data.classes, in: file),
                          testAccuracy: accuracy.isNaN ? nil : accuracy)
    }
}

extension AUMThresholdRuns: StoredUnits {
    public func unitName(_ r: Int) -> String { "run\(r)" }

    public func unitArrays(_ aum: [Double]) -> [(String, UnitArray)] { [("aum", .float64(aum))] }

    public func unitResult(_ arrays: [String: UnitArray], of r: Int, file: String) throws -> [Double] {
        try arrays.doubles("aum", count: setup.data.count, in: file)
    }
}

extension PruneCurve: StoredUnits {
    public func unitName(_ unit: Unit) -> String {
        "\(unit.selection).\(unit.score.map { "score\($0)" } ?? "random").seed\(unit.seed)"
    }

    public func unitArrays(_ r: UnitResult) -> [(String, UnitArray)] {
        [("kept", .float64([Double(r.kept)])), ("epochs", .float64([Double(r.epochs)])), ("test_accuracy", .float64([r.testAccuracy]))]
    }

    public func unitResult(_ arrays: [String: UnitArray], of unit: Unit, file: String) throws -> UnitResult {
        UnitResult(kept: Int(try arrays.number("kept", in: file)), epochs: Int(try arrays.number("epochs", in: file)),
                   testAccuracy: try arrays.number("test_accuracy", in: file))
    }
}

extension CheckpointEnsemble: StoredUnits {
    public func unitName(_ piece: Unit) -> String { piece.name(total: setup.data.count) }

    public func unitArrays(_ r: CheckpointScores) -> [(String, UnitArray)] { r.unitArrays }

    public func unitResult(_ arrays: [String: UnitArray], of piece: Unit, file: String) throws -> CheckpointScores {
        try CheckpointScores(unitArrays: arrays, examples: piece.examples.count, gradNorms: gradNorms, unit: file)
    }

    public func units(inShard index: Int, of count: Int) throws -> [Unit] { try pieces(shard: index, of: count) }

    public func unit(named name: String) -> Unit? {
        Unit(name: name, total: setup.data.count).flatMap { seeds.contains($0.seed) ? $0 : nil }
    }

    public func label(of piece: Unit) -> String {
        piece.examples == 0..<setup.data.count ? "seed \(piece.seed)" : "\(piece)"
    }

    public func stateName(of piece: Unit) -> String? { "\(piece.seed).training" }

    public mutating func keepState(in store: TrainingStateStore, folder: String, every steps: Int?) throws {
        trainingStates = store
        saveStateEvery = steps
    }

    /// Each seed's pieces must tile its examples (no gap, no overlap) and, trained on
    /// different shards, have ended with one model; they are joined in example order.
    public func assemble(_ stored: [StoredResult<Unit, CheckpointScores>]) throws -> [CheckpointScores] {
        let n = setup.data.count
        var missing: [String] = []
        var joined: [CheckpointScores] = []
        for seed in seeds {
            let parts = stored.filter { $0.unit.seed == seed }.sorted { $0.unit.examples.lowerBound < $1.unit.examples.lowerBound }
            var next = 0
            for (k, p) in parts.enumerated() {
                if p.unit.examples.lowerBound < next {
                    let other = parts[k - 1]
                    let holders = other.folder == p.folder ? "twice in \(p.folder) (\(other.name), \(p.name))" : "in two shards: \(other.folder) and \(p.folder)"
                    throw TrainerError.invalid("examples \(p.unit.examples.lowerBound)..<\(next) of seed \(seed) are \(holders)")
                }
                if p.unit.examples.lowerBound > next { missing.append("seed \(seed) examples \(next)..<\(p.unit.examples.lowerBound)") }
                next = p.unit.examples.upperBound
            }
            if next < n { missing.append(next == 0 ? "seed \(seed)" : "seed \(seed) examples \(next)..<\(n)") }
            let models = parts.compactMap { p in p.result.modelFingerprint.map { (p.folder, $0) } }
            if let first = models.first, let other = models.first(where: { $0.1 != first.1 }) {
                throw TrainerError.invalid("seed \(seed) was trained to different models in \(first.0) and \(other.0) (weights "
                                           + "\(first.1) vs \(other.1)): machines with other CPUs or BLAS kernels round differently; "
                                           + "run the shards on one kind of machine, or use no more shards than seeds")
            }
            joined.append(CheckpointScores(concatenating: parts.map(\.result)))
        }
        guard missing.isEmpty else {
            throw TrainerError.invalid("\(missing.joined(separator: ", ")) \(missing.count > 1 ? "are" : "is") "
                                       + "in none of the shard folders (a shard missing or unfinished?)")
        }
        return joined
    }
}
