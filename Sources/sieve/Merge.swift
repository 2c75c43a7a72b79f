import ArgumentParser
import Kernels
import Metrics
import Trainer

#if canImport(Glibc)
import Glibc
#endif

/// `sieve merge`: combines the shard folders of one `score grand` / `el2n` / `ssft` or `prune-curve` run
/// (`--shard I/N`) into the folder a single run writes.
struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Combine the shard folders of a `score grand` / `el2n` / `ssft` or `prune-curve` run (--shard I/N) into one folder.",
        discussion: """
        The shards must have identical settings and together hold every seed's scores exactly once (whole seeds, or ranges of examples when there were more shards than seeds). The result is the same scores.csv, .npy files, meta.json and report.html a single run writes; the data set is read again (from the path the shards were given, or from --data; its fingerprint must match) for labels and images.

        Examples:
          sieve score el2n --seeds 10 --shard 0/2 --out runs/el2n-0    # on one machine
          sieve score el2n --seeds 10 --shard 1/2 --out runs/el2n-1    # on another
          sieve merge runs/el2n-0 runs/el2n-1 --out runs/el2n
        """)

    @Argument(help: "The shard folders.")
    var shards: [String] = []

    @Option(help: "Read the data set from here instead of the path the shards were given (the same data on another machine; checked by its fingerprint).")
    var data: String?

    @OptionGroup var output: ScoreOutput

    func run() throws {
        guard !shards.isEmpty else { throw UsageError("merge: name the shard folders (sieve merge A B ... --out OUT)") }
        func resolved(_ path: String) -> String {
            guard let r = realpath(path, nil) else { return path }
            defer { free(r) }
            return String(cString: r)
        }
        if let same = shards.first(where: { resolved($0) == resolved(output.out) }) {
            throw UsageError("merge: --out \(output.out) is the shard folder \(same); write the merged folder elsewhere")
        }
        if let twice = shards.first(where: { s in shards.filter { $0 == s }.count > 1 }) {
            throw UsageError("merge: \(twice) is named twice")
        }
        // Settings: identical in every shard.
        var settings: [JSONValue] = []
        for dir in shards {
            guard UnitStore(folder: dir + "/units").exists, fileExists(dir + "/settings.json") else {
                throw UsageError("merge: \(dir) is not a shard folder (no settings.json and units/; run `sieve score ... --shard I/N --out \(dir)`)")
            }
            settings.append(try JSONReader.read(path: dir + "/settings.json"))
        }
        for (k, s) in settings.enumerated().dropFirst() {
            if let d = UnitStore.firstDifference(comparable(settings[0], against: s), comparable(s, against: settings[0])) {
                throw UsageError("merge: the shards were run with different settings: \(d.key) is \(d.expected) in \(shards[0]) "
                                 + "but \(d.found) in \(shards[k])")
            }
        }
        let first = settings[0]
        guard let command = first["score_command"]?.string, let units = first["units"]?.array?.compactMap(\.string),
              let arguments = first["arguments"]?.array?.compactMap(\.string) else {
            throw UsageError("merge: \(shards[0])/settings.json lacks score_command, units or arguments")
        }
        let fingerprint = first["data_fingerprint"]?.string
        switch command {
        case ScoreCommand.GraNd.name: try merge(ScoreCommand.GraNd.parse(arguments), seeds: units, fingerprint: fingerprint)
        case ScoreCommand.EL2N.name: try merge(ScoreCommand.EL2N.parse(arguments), seeds: units, fingerprint: fingerprint)
        case ScoreCommand.SSFT.name: try mergeUnits(ScoreCommand.SSFT.parse(arguments), units: units, settings: first)
        case PruneCurveCommand.name: try mergeUnits(PruneCurveCommand.parse(arguments), units: units, settings: first)
        default: throw UsageError("merge: \(shards[0]) holds units of `\(command)`, which merge does not combine")
        }
    }

    /// Loads the data the shards ran on, checks that the shards' units cover every seed's
    /// examples exactly once, joins each seed's pieces in example order, combines the
    /// seeds in unit order and writes the folder through the command's own `write`.
    func merge<C: EnsembleCommand>(_ parsed: C, seeds: [String], fingerprint: String?) throws {
        var command = parsed
        command.output = output
        let (run, t0, data) = try begin(&command.options, fingerprint: fingerprint)
        let n = data.count
        // Every shard's units, as pieces of seeds.
        var pieces: [String: [(piece: CheckpointEnsemble.Piece, dir: String, unit: String)]] = [:]
        for dir in shards {
            for unit in UnitStore(folder: dir + "/units").units {
                guard let piece = CheckpointEnsemble.Piece(name: unit, total: n) else {
                    throw UsageError("merge: \(dir)/units/\(unit)\(UnitStore.suffix) is not a unit of a \(n)-example run (SEED or SEED.LO-HI)")
                }
                guard seeds.contains(String(piece.seed)) else {
                    throw UsageError("merge: \(dir)/units holds seed \(piece.seed), which is not a unit of this run")
                }
                pieces[String(piece.seed), default: []].append((piece, dir, unit))
            }
        }
        // Each seed's pieces tile 0..<n: no gap, no overlap.
        var missing: [String] = []
        for seed in seeds {
            let sorted = (pieces[seed] ?? []).sorted { $0.piece.examples.lowerBound < $1.piece.examples.lowerBound }
            pieces[seed] = sorted
            var next = 0
            for (k, p) in sorted.enumerated() {
                if p.piece.examples.lowerBound < next {
                    let other = sorted[k - 1]
                    let holders = other.dir == p.dir ? "twice in \(p.dir) (\(other.unit), \(p.unit))" : "in two shards: \(other.dir) and \(p.dir)"
                    throw UsageError("merge: examples \(p.piece.examples.lowerBound)..<\(next) of seed \(seed) are \(holders)")
                }
                if p.piece.examples.lowerBound > next { missing.append("seed \(seed) examples \(next)..<\(p.piece.examples.lowerBound)") }
                next = p.piece.examples.upperBound
            }
            if next < n { missing.append(next == 0 ? "seed \(seed)" : "seed \(seed) examples \(next)..<\(n)") }
        }
        guard missing.isEmpty else {
            throw UsageError("merge: \(missing.joined(separator: ", ")) \(missing.count > 1 ? "are" : "is") "
                             + "in none of the shard folders (a shard missing or unfinished?)")
        }
        let setup = ExperimentSetup(data: data, device: CPUDevice(),
                                    configuration: try command.options.configuration(input: data.inputShape))
        let results = try seeds.map { seed in
            let scores = try pieces[seed]!.map { p in
                guard let arrays = try UnitStore(folder: p.dir + "/units").load(p.unit) else {
                    throw UsageError("merge: \(p.dir)/units/\(p.unit)\(UnitStore.suffix) disappeared")
                }
                unitNotes.restore(arrays)
                return try CheckpointScores(unitArrays: arrays, examples: p.piece.examples.count, gradNorms: command.gradNorms,
                                            unit: "\(p.dir)/units/\(p.unit)\(UnitStore.suffix)")
            }
            // Each shard trained its pieces' seed itself: they must have ended with one model.
            let models = zip(pieces[seed]!, scores).compactMap { p, s in s.modelFingerprint.map { (p.dir, $0) } }
            if let first = models.first, let other = models.first(where: { $0.1 != first.1 }) {
                throw UsageError("merge: seed \(seed) was trained to different models in \(first.0) and \(other.0) (weights "
                                 + "\(first.1) vs \(other.1)): machines with other CPUs or BLAS kernels round differently; "
                                 + "run the shards on one kind of machine, or use no more shards than seeds")
            }
            return CheckpointScores(concatenating: scores)
        }
        let ensemble = try command.ensemble(setup, seeds: seeds.map { UInt64($0)! })
        let result = try ensemble.combine(results)
        let device = try? JSONReader.read(path: shards[0] + "/meta.json")["device"]?.string
        try command.write(result, setup: setup, run: run, seconds: monotonicSeconds() - t0,
                          extraMeta: [("merged_shards", .array(shards.map { .string($0) }))], deviceName: device ?? nil)
    }

    /// Takes the output folder and reads the shards' data (from `--data` when given).
    func begin(_ options: inout TrainingOptions, fingerprint: String?) throws -> (run: RunDirectory, t0: Double, data: TrainingData) {
        if let data { options.data = data }
        let run = try output.prepare()
        return (run, monotonicSeconds(), try shardsData(options, fingerprint: fingerprint))
    }

    /// The data set the shards ran on, read from `options.data` and checked against their fingerprint.
    func shardsData(_ options: TrainingOptions, fingerprint: String?) throws -> TrainingData {
        let data: TrainingData
        do { data = try options.loadData(quiet: output.quiet) } catch let error as DataError {
            throw UsageError("merge: reading the data set the shards ran on: \(error) (give its location with --data)")
        }
        if let fingerprint, data.fingerprint != fingerprint {
            throw UsageError("merge: the data at \(options.data) (fingerprint \(data.fingerprint)) is not the data the shards "
                             + "ran on (fingerprint \(fingerprint)); give the same data with --data")
        }
        return data
    }

    /// The shards of a command of ``UnitsCommand``: every unit exactly once, loaded, combined
    /// in unit order and written through the command's own `writeMerged`.
    func mergeUnits<C: UnitsCommand>(_ parsed: C, units: [String], settings: JSONValue) throws {
        var command = parsed
        let (run, t0, data) = try begin(&command.options, fingerprint: settings["data_fingerprint"]?.string)
        var holder: [String: String] = [:]
        for dir in shards {
            for unit in UnitStore(folder: dir + "/units").units {
                guard units.contains(unit) else { throw UsageError("merge: \(dir)/units holds unit \(unit), which is not a unit of this run") }
                if let other = holder[unit] { throw UsageError("merge: unit \(unit) is in two shards: \(other) and \(dir)") }
                holder[unit] = dir
            }
        }
        let missing = units.filter { holder[$0] == nil }
        guard missing.isEmpty else {
            throw UsageError("merge: unit\(missing.count > 1 ? "s" : "") \(missing.joined(separator: ", ")) \(missing.count > 1 ? "are" : "is") "
                             + "in none of the shard folders (a shard missing or unfinished?)")
        }
        let setup = ExperimentSetup(data: data, device: CPUDevice(), configuration: try command.options.configuration(input: data.inputShape))
        let (protocol_, meta) = try command.protocolAndMeta(setup)
        // What the merge rebuilt (from the shards' arguments, and the files they name) must be what they ran.
        let rebuilt = (try? JSONReader.parse(JSON.object(unitSettings(command: C.name, meta: meta, setup: setup)).rendered)) ?? .null
        let ignored: Set<String> = ["units", "arguments", "device_kind", "data"]
        func kept(_ v: JSONValue) -> JSONValue { .object((v.object ?? []).filter { !ignored.contains($0.key) }) }
        if let d = UnitStore.firstDifference(kept(settings), kept(rebuilt)) {
            throw UsageError("merge: rebuilt from the shards' command line, \(d.key) is \(d.found) but the shards ran with "
                             + "\(d.expected) (a file they read has changed since?)")
        }
        let results = try protocol_.units.map { unit in
            let name = protocol_.unitName(unit), dir = holder[name]!
            guard let arrays = try UnitStore(folder: dir + "/units").load(name) else {
                throw UsageError("merge: \(dir)/units/\(name)\(UnitStore.suffix) disappeared")
            }
            unitNotes.restore(arrays)
            return try protocol_.unitResult(arrays, of: unit, file: "\(dir)/units/\(name)\(UnitStore.suffix)")
        }
        let device = try? JSONReader.read(path: shards[0] + "/meta.json")["device"]?.string
        try command.writeMerged(protocol_.combine(results), setup: setup, run: run, output: output,
                                meta: meta + [("merged_shards", .array(shards.map { .string($0) }))],
                                seconds: monotonicSeconds() - t0, deviceName: device ?? nil)
    }

    func fileExists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }
}

extension ScoreCommand.SSFT: UnitsCommand {
    func writeMerged(_ result: SecondSplitForgetting.Output, setup: ExperimentSetup, run: RunDirectory, output: ScoreOutput,
                     meta: [(String, JSON)], seconds: Double, deviceName: String?) throws {
        var command = self
        command.output = output
        try command.write(result, setup: setup, run: run, meta: meta, seconds: seconds, deviceName: deviceName)
    }
}

extension PruneCurveCommand: UnitsCommand {
    func protocolAndMeta(_ setup: ExperimentSetup) throws -> (PruneCurve, [(String, JSON)]) { try curve(setup) }

    func writeMerged(_ result: PruneCurve.Output, setup: ExperimentSetup, run: RunDirectory, output: ScoreOutput,
                     meta: [(String, JSON)], seconds: Double, deviceName: String?) throws {
        try write(result, run: run)
    }
}
