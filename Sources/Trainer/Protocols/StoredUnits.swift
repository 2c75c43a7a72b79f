import Metrics

/// A protocol whose finished units a ``UnitStore`` keeps, so a killed run resumes
/// without redoing them: a file name per unit and a lossless round trip of its result
/// (float64 holds every Int32 index and Float32 value exactly).
public protocol StoredUnits: ExperimentProtocol {
    /// The unit's file name in a unit folder (without the `.safetensors` suffix).
    func unitName(_ unit: Unit) -> String
    /// The unit's result as named arrays.
    func unitArrays(_ result: UnitResult) -> [(String, UnitArray)]
    /// The result ``unitArrays(_:)`` stored; throws naming `file` when the arrays do not fit `unit`.
    func unitResult(_ arrays: [String: UnitArray], of unit: Unit, file: String) throws -> UnitResult
}

extension StoredUnits {
    /// Runs every unit and combines the results. With a `store`, each result is saved
    /// there the moment its unit finishes, under `prefix + unitName`; with `reuse`, units
    /// the store already holds are loaded instead of run (`--resume`).
    public func run(storingIn store: UnitStore?, prefix: String = "", reuse: Bool, progress: ProtocolProgress = .silent,
                    notes: UnitNotes = UnitNotes()) throws -> Output {
        try combine(results(of: units, storingIn: store, prefix: prefix, reuse: reuse, progress: progress, notes: notes))
    }

    /// The results of `selected` units (a shard's), in that order: each run and saved in
    /// `store` as it finishes, or (with `reuse`) loaded when the store holds it.
    public func results(of selected: [Unit], storingIn store: UnitStore?, prefix: String = "", reuse: Bool,
                        progress: ProtocolProgress = .silent, notes: UnitNotes = UnitNotes()) throws -> [UnitResult] {
        var results: [UnitResult] = []
        for unit in selected {
            let name = prefix + unitName(unit)
            if let store, reuse, let arrays = try store.load(name) {
                results.append(try unitResult(arrays, of: unit, file: "\(store.folder)/\(name)\(UnitStore.suffix)"))
                notes.restore(arrays)
                progress.note?("resume: unit \(name) finished earlier; loaded from \(store.folder)")
            } else {
                let mark = notes.mark()
                let result = try run(unit, progress: progress)
                try store?.save(name, unitArrays(result) + notes.arrays(since: mark))
                results.append(result)
            }
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
    public func unitName(_ seed: UInt64) -> String { String(seed) }

    public func unitArrays(_ r: CheckpointScores) -> [(String, UnitArray)] { r.unitArrays }

    public func unitResult(_ arrays: [String: UnitArray], of seed: UInt64, file: String) throws -> CheckpointScores {
        try CheckpointScores(unitArrays: arrays, examples: setup.data.count, gradNorms: gradNorms, unit: file)
    }
}
