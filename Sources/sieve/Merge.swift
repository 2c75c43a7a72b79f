import ArgumentParser
import Kernels
import Metrics
import Trainer

#if canImport(Glibc)
import Glibc
#endif

/// `sieve merge`: combines the shard folders of one `score grand` / `score el2n` run
/// (`--shard I/N`) into the folder a single run writes.
struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Combine the shard folders of a `score grand` / `score el2n` run (--shard I/N) into one scores folder.",
        discussion: """
        The shards must have identical settings and together hold every unit (seed) exactly once. The result is the same scores.csv, .npy files, meta.json and report.html a single run writes; the data set is read again (from the path the shards were given) for labels and images.

        Examples:
          sieve score el2n --seeds 10 --shard 0/2 --out runs/el2n-0    # on one machine
          sieve score el2n --seeds 10 --shard 1/2 --out runs/el2n-1    # on another
          sieve merge runs/el2n-0 runs/el2n-1 --out runs/el2n
        """)

    @Argument(help: "The shard folders.")
    var shards: [String] = []

    @OptionGroup var output: ScoreOutput

    func run() throws {
        guard !shards.isEmpty else { throw UsageError("merge: name the shard folders (sieve merge A B ... --out OUT)") }
        // Settings: identical in every shard.
        var settings: [JSONValue] = []
        for dir in shards {
            guard UnitStore(folder: dir + "/units").exists, fileExists(dir + "/settings.json") else {
                throw UsageError("merge: \(dir) is not a shard folder (no settings.json and units/; run `sieve score ... --shard I/N --out \(dir)`)")
            }
            settings.append(try JSONReader.read(path: dir + "/settings.json"))
        }
        for (k, s) in settings.enumerated().dropFirst() {
            if let d = UnitStore.firstDifference(comparable(settings[0]), comparable(s)) {
                throw UsageError("merge: the shards were run with different settings: \(d.key) is \(d.expected) in \(shards[0]) "
                                 + "but \(d.found) in \(shards[k])")
            }
        }
        let first = settings[0]
        guard let command = first["score_command"]?.string, let units = first["units"]?.array?.compactMap(\.string),
              let arguments = first["arguments"]?.array?.compactMap(\.string) else {
            throw UsageError("merge: \(shards[0])/settings.json lacks score_command, units or arguments")
        }
        // Units: every one exactly once.
        var holder: [String: String] = [:]
        for dir in shards {
            for unit in UnitStore(folder: dir + "/units").units {
                guard units.contains(unit) else { throw UsageError("merge: \(dir)/units holds seed \(unit), which is not a unit of this run") }
                if let other = holder[unit] { throw UsageError("merge: seed \(unit) is in two shards: \(other) and \(dir)") }
                holder[unit] = dir
            }
        }
        let missing = units.filter { holder[$0] == nil }
        guard missing.isEmpty else {
            throw UsageError("merge: seed\(missing.count > 1 ? "s" : "") \(missing.joined(separator: ", ")) \(missing.count > 1 ? "are" : "is") "
                             + "in none of the shard folders (a shard missing or unfinished?)")
        }
        switch command {
        case ScoreCommand.GraNd.name: try merge(ScoreCommand.GraNd.parse(arguments), units: units, holder: holder)
        case ScoreCommand.EL2N.name: try merge(ScoreCommand.EL2N.parse(arguments), units: units, holder: holder)
        default: throw UsageError("merge: \(shards[0]) holds units of `\(command)`, which merge does not combine")
        }
    }

    /// Loads the data the shards ran on, combines the units in unit order and writes
    /// the folder through the command's own `write`.
    func merge<C: EnsembleCommand>(_ parsed: C, units: [String], holder: [String: String]) throws {
        var command = parsed
        command.output = output
        let run = try output.prepare()
        let t0 = monotonicSeconds()
        let data = try command.options.loadData(quiet: output.quiet)
        let setup = ExperimentSetup(data: data, device: CPUDevice(),
                                    configuration: try command.options.configuration(input: data.inputShape))
        let results = try units.map { unit in
            let dir = holder[unit]!
            guard let arrays = try UnitStore(folder: dir + "/units").load(unit) else {
                throw UsageError("merge: \(dir)/units/\(unit)\(UnitStore.suffix) disappeared")
            }
            return try CheckpointScores(unitArrays: arrays, examples: data.count, gradNorms: command.gradNorms,
                                        unit: "\(dir)/units/\(unit)\(UnitStore.suffix)")
        }
        let ensemble = try command.ensemble(setup, seeds: units.map { UInt64($0)! })
        let result = try ensemble.combine(results)
        let device = try? JSONReader.read(path: shards[0] + "/meta.json")["device"]?.string
        try command.write(result, setup: setup, run: run, seconds: monotonicSeconds() - t0,
                          extraMeta: [("merged_shards", .array(shards.map { .string($0) }))], deviceName: device ?? nil)
    }

    func fileExists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }
}
