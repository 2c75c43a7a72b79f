import ArgumentParser
import Kernels
import Metrics
import Trainer

#if canImport(Glibc)
import Glibc
#endif

/// `--resume`, `--shard` and `--checkpoint-every` of the commands whose units are stored (`score grand`, `score el2n`).
struct UnitOptions: ParsableArguments {
    @OptionGroup var resumeOption: ResumeOption
    var resume: Bool { resumeOption.resume }

    @Option(help: "Run shard I of N (0-based: --shard 0/4 ... --shard 3/4) and write it into --out as a shard folder for `sieve merge`. Up to one shard per seed, a shard runs whole seeds (positions p with p % N == I); with more shards than seeds, each runs an equal run of the seeds' scoring batches (a range of examples of one or two seeds).")
    var shard: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Also keep each training's state every STEPS optimiser steps (default: at the end of each epoch only), so a killed long epoch resumes with --resume losing at most STEPS steps.", valueName: "steps"))
    var checkpointEvery: Int?

    /// `--shard I/N`, checked.
    func parsedShard() throws -> (index: Int, count: Int)? { try parseShard(shard) }
}

/// `--shard I/N`, checked (nil when not given).
func parseShard(_ shard: String?) throws -> (index: Int, count: Int)? {
    guard let shard else { return nil }
    let parts = shard.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, i >= 0, i < n else {
        throw UsageError("--shard \(shard) is not I/N with 0 <= I < N (0-based: --shard 0/2 and --shard 1/2)")
    }
    return (i, n)
}

/// What `score grand` and `score el2n` share: a ``CheckpointEnsemble`` over seeds whose
/// units are stored in `OUT.units/` as they finish (``UnitStore``), so a run can resume,
/// or run as shards that `sieve merge` combines.
protocol EnsembleCommand: ParsableCommand {
    static var name: String { get }
    var options: TrainingOptions { get set }
    var output: ScoreOutput { get set }
    var unitOptions: UnitOptions { get }
    var runs: Int { get }
    var runsFlag: String { get }
    var seed: UInt64 { get }
    var atEpoch: Int { get }
    var scheduleEpochs: Int? { get }
    var gradNorms: Bool { get }
    /// The options as `meta.json` records them (everything that changes the results).
    func meta(_ setup: ExperimentSetup) -> [(String, JSON)]
    /// Writes the combined result into `run` (through ``ScoreOutput/finish``) and prints.
    func write(_ result: CheckpointEnsemble.Output, setup: ExperimentSetup, run: RunDirectory, seconds: Double,
               extraMeta: [(String, JSON)], deviceName: String?) throws
}

extension EnsembleCommand {
    func ensemble(_ setup: ExperimentSetup, seeds: [UInt64]? = nil) throws -> CheckpointEnsemble {
        try CheckpointEnsemble(setup: setup, seeds: seeds ?? (0..<UInt64(runs)).map { seed + $0 }, atEpoch: atEpoch,
                               gradNorms: gradNorms, scheduleEpochs: scheduleEpochs)
    }

    /// Every setting that changes the results: the meta, the command, the data's
    /// fingerprint, the device kind and the units; `arguments` and the data's path are
    /// recorded but not compared (``comparable(_:)``).
    func settings(_ setup: ExperimentSetup, units: [UInt64]) -> [(String, JSON)] {
        unitSettings(command: Self.name, meta: meta(setup), setup: setup) + [
            ("units", .array(units.map { .string(String($0)) })),
            ("arguments", .array(commandArguments(of: Self.name).map { .string($0) }))]
    }

    /// Checks, loads the data, runs the units not already finished (all, or the shard's)
    /// storing each as it finishes, then writes the combined scores (or the shard folder).
    func runEnsemble() throws {
        guard runs >= 1 else { throw UsageError("\(runsFlag) must be at least 1") }
        guard atEpoch >= 0 else { throw UsageError("--at-epoch must not be negative") }
        if let scheduleEpochs, scheduleEpochs < atEpoch {
            throw UsageError("--schedule-epochs \(scheduleEpochs) must be at least --at-epoch \(atEpoch)")
        }
        try options.check()
        let shard = try unitOptions.parsedShard()
        if let every = unitOptions.checkpointEvery, every < 1 { throw UsageError("--checkpoint-every must be at least 1 step") }
        let run = try output.prepare(resume: unitOptions.resume)
        let store = try unitStore(for: run, resume: unitOptions.resume, force: output.force)
        let t0 = monotonicSeconds()
        let setup = try options.setup(quiet: output.quiet)
        let ensemble = try ensemble(setup)
        let settings = settings(setup, units: ensemble.units)
        // The units this process runs: every seed whole, or the shard's pieces.
        let n = setup.data.count
        let pieces = try shard.map { try ensemble.pieces(shard: $0.index, of: $0.count) }
            ?? ensemble.seeds.map { CheckpointEnsemble.Piece(seed: $0, examples: 0..<n) }
        try endIfFinished(run, store: store, settings: settings, shard: shard)
        try adopt(store, settings: settings, shard: shard.map { ($0, Set(pieces.map { $0.name(total: n) })) })

        var results: [CheckpointEnsemble.Piece: CheckpointScores] = [:]
        var todo: [CheckpointEnsemble.Piece] = []
        for piece in pieces {
            let name = piece.name(total: n)
            if unitOptions.resume, let arrays = try store.load(name) {
                results[piece] = try CheckpointScores(unitArrays: arrays, examples: piece.examples.count, gradNorms: gradNorms,
                                                      unit: "\(store.folder)/\(name)\(UnitStore.suffix)")
                unitNotes.restore(arrays)
                log("resume: \(piece.examples == 0..<n ? "seed \(piece.seed)" : "\(piece)") finished earlier; skipping it (loaded from \(store.folder))")
                store.discard("\(piece.seed)\(UnitStore.trainingSuffix)")   // killed between keeping the unit and dropping its training
            } else {
                todo.append(piece)
            }
        }
        let plan = todo.isEmpty ? WorkPlan() : try self.ensemble(setup, seeds: todo.map(\.seed)).plan(scoring: todo.map(\.examples.count))
        let display = JobProgress(quiet: output.quiet, plan: plan)
        var training = ensemble
        training.checkpoints = store   // a killed training continues from its last epoch (or --checkpoint-every step)
        training.checkpointEvery = unitOptions.checkpointEvery
        for piece in todo {
            let wholeSet = piece.examples == 0..<n
            let mark = unitNotes.mark()
            let r = try training.run(piece.seed, examples: wholeSet ? nil : piece.examples, progress: display.callbacks)
            try store.save(piece.name(total: n), r.unitArrays + unitNotes.arrays(since: mark))
            store.discard("\(piece.seed)\(UnitStore.trainingSuffix)")
            results[piece] = r
        }
        display.finish()

        if let shard {
            try writeShard(shard, units: pieces.map { $0.name(total: n) }, store: store, run: run, setup: setup,
                           seconds: monotonicSeconds() - t0)
            return
        }
        let result = try ensemble.combine(pieces.map { results[$0]! })
        try write(result, setup: setup, run: run, seconds: monotonicSeconds() - t0, extraMeta: [], deviceName: nil)
        store.remove()
    }

    /// A shard's folder: `units/SEED.safetensors`, `settings.json` and a `meta.json` marking it a shard.
    func writeShard(_ shard: (index: Int, count: Int), units: [String], store: UnitStore, run: RunDirectory,
                    setup: ExperimentSetup, seconds: Double) throws {
        try writeShardFolder(command: Self.name, shard: shard, units: units, store: store, run: run, setup: setup, seconds: seconds,
                             of: "\(runs) seed(s) in all")
    }
}

/// Writes a shard's folder: `meta.json` marking it shard I/N of `command` with its
/// `units`, then the unit folder moved in as `units/` with `settings.json` beside it, and
/// commits (a signal's cleanup held off while the only copy of the units moves); then
/// says what it ran (`of`: the whole run's size, when worth saying) and what comes next.
func writeShardFolder(command: String, shard: (index: Int, count: Int), units: [String], store: UnitStore, run: RunDirectory,
                      setup: ExperimentSetup, seconds: Double, of whole: String? = nil) throws {
    // meta.json first; the only copy of the units moves in last, and back if the commit fails.
    let meta: [(String, JSON)] = runMeta(run: run, command: command, device: setup.device.name, seconds: seconds, data: setup.data)
        + [("shard", .string("\(shard.index)/\(shard.count)")), ("shard_units", .array(units.map { .string($0) }))]
    try OutputFile.write(JSON.object(meta).rendered + "\n", to: run.path("meta.json"))
    for name in RunDirectory.entries(of: store.folder) ?? []
    where name.contains(".partial-") || name.contains(UnitStore.trainingSuffix + ".") {
        unlink(store.folder + "/" + name)   // a killed earlier run's unfinished writes and trainings
    }
    // The units go in as second names (hard links): a run killed before or during the commit
    // still has them in the unit folder for --resume; the unit folder goes once committed.
    let unitsFolder = run.path("units")
    guard mkdir(unitsFolder, 0o755) == 0 else { throw MetricsError.cannotWrite(path: unitsFolder, reason: String(cString: strerror(errno))) }
    for name in RunDirectory.entries(of: store.folder) ?? [] {
        let target = name == "settings.json" ? run.path(name) : unitsFolder + "/" + name
        guard link(store.folder + "/" + name, target) == 0 else {
            throw MetricsError.cannotWrite(path: target, reason: String(cString: strerror(errno)))
        }
    }
    try Cleanup.shared.committing { try run.commit() }
    store.remove()
    print("\(command): shard \(shard.index)/\(shard.count) ran \(units.count) unit(s) (\(units.joined(separator: ", "))"
          + (whole.map { "; \($0)" } ?? "") + ") -> \(run.target)")
    print("once all \(shard.count) shards are done: sieve merge <their folders, this one is \(run.target)> --out OUT")
}

/// The unit folder of a run into `run` (`OUT.units/`, beside it), checked before any
/// work: an existing one is kept only with `resume` (a folder without finished units or
/// training states, from a run that failed before its first checkpoint, holds nothing to
/// keep), discarded with `force`, refused otherwise.
func unitStore(for run: RunDirectory, resume: Bool, force: Bool) throws -> UnitStore {
    let store = UnitStore(folder: run.target + ".units")
    OpenUnitStores.shared.add(store)
    if resume && force { throw UsageError("--resume keeps the finished units and --force discards them: give one of the two") }
    try store.checkRemovable(option: "--out \(run.target)")   // a folder of that name holding what Sieve did not write
    if store.exists && !resume {
        guard force || !store.holdsWork else {
            throw UsageError("\(store.folder) holds the finished units of an interrupted run into --out \(run.target); "
                             + "pass --resume to continue it with the same settings, or --force to discard them")
        }
        store.remove()
    }
    return store
}

/// Takes `store` for a run with `settings`: a folder kept for `--resume` must have been
/// made with the same settings (the first difference is named) and, for a shard, hold only
/// that shard's `units` (it moves into the shard's folder, and a merge would see another's
/// twice); then `settings` are recorded in it.
func adopt(_ store: UnitStore, settings: [(String, JSON)], shard: (range: (index: Int, count: Int), units: Set<String>)? = nil) throws {
    if store.exists {
        if let stored = try store.settings() {
            let current = comparable(JSON.object(settings), against: stored)
            if let d = UnitStore.firstDifference(current, comparable(stored, against: current)) {
                throw UsageError("--resume: \(store.folder) was made with other settings: \(d.key) is \(d.found) there "
                                 + "but \(d.expected) now; rerun with the same options, or use --force to discard those units")
            }
        } else if store.holdsWork {
            throw UsageError("--resume: \(store.folder) has unit files but no settings.json; remove it or use --force")
        }
        if let shard, let other = store.units.first(where: { !shard.units.contains($0) }) {
            let what = UInt64(other) != nil ? "seed \(other)" : "unit \(other)"
            throw UsageError("--resume --shard \(shard.range.index)/\(shard.range.count): \(store.folder) holds \(what), "
                             + "which belongs to another shard (a run with another --shard, or none, used this --out); "
                             + "resume with that run's --shard, or choose another --out")
        }
    }
    try store.create()
    try store.writeSettings(settings)
}

/// With `--resume` into a folder a finished shard already committed (a scheduler retrying a
/// task killed after its commit): the same settings end the command with nothing to do
/// (``RunFinishedEarlier``, exit 0; a unit folder the kill left beside it, whose files the
/// shard folder holds, is removed); other settings, another shard, or a finished whole run
/// (it records no settings to compare) are refused.
func endIfFinished(_ run: RunDirectory, store: UnitStore, settings: [(String, JSON)], shard: (index: Int, count: Int)?) throws {
    guard run.holdsFinishedRun else { return }
    let path = run.target + "/settings.json"
    let finished = (try? JSONReader.read(path: run.target + "/meta.json"))?["shard"]?.string
    guard let shard, access(path, F_OK) == 0, finished == "\(shard.index)/\(shard.count)" else {
        throw UsageError("--resume: \(run.target) already holds a finished run; choose a new --out, or pass --force to replace it")
    }
    let stored = try JSONReader.read(path: path)
    let current = comparable(JSON.object(settings), against: stored)
    if let d = UnitStore.firstDifference(current, comparable(stored, against: current)) {
        throw UsageError("--resume: \(run.target) holds a finished shard made with other settings: \(d.key) is \(d.found) there "
                         + "but \(d.expected) now; choose a new --out, or pass --force to replace it")
    }
    store.remove()
    throw RunFinishedEarlier(folder: run.target)
}

/// Not a failure: the run had finished before (see ``endIfFinished(_:store:settings:)``).
struct RunFinishedEarlier: Error, CustomStringConvertible {
    let folder: String
    var description: String { "\(folder) already holds this shard, finished with the same settings: nothing to do" }
}

/// The settings a unit folder records: the command, its meta (every option that changes
/// the results), the data's fingerprint and the device kind.
func unitSettings(command: String, meta: [(String, JSON)], setup: ExperimentSetup) -> [(String, JSON)] {
    [("score_command", .string(command))] + meta + [
        ("data_fingerprint", .string(setup.data.fingerprint)),
        ("device_kind", .string(setup.device is OpenCLDevice ? "opencl" : "cpu"))]
}

/// `--resume` of the commands whose units are stored (`score ssft`, `prune-curve`,
/// `audit`, and with ``UnitOptions`` `score grand` and `score el2n`).
struct ResumeOption: ParsableArguments {
    @Flag(help: "Continue an interrupted run into the same --out: load the units finished in OUT.units/ (refused when its settings differ) and run only the rest.")
    var resume: Bool = false
}

/// Settings as runs compare them: without `arguments` (how `sieve merge` rebuilds the
/// command) and without the data's path (`data`: machines may hold the same data in
/// different places; `data_fingerprint` compares the content).
func comparable(_ settings: JSON, against other: JSONValue) -> JSONValue {
    comparable((try? JSONReader.parse(settings.rendered)) ?? .null, against: other)
}

/// `settings` as compared with `other`: when either lacks `data_fingerprint` (written by
/// an older version), the data's path is compared instead.
func comparable(_ settings: JSONValue, against other: JSONValue) -> JSONValue {
    let fingerprints = settings["data_fingerprint"] != nil && other["data_fingerprint"] != nil
    return .object((settings.object ?? []).filter {
        $0.key != "arguments" && (fingerprints ? $0.key != "data" : $0.key != "data_fingerprint")
    })
}

extension UnitStore: TrainingCheckpoints {}

/// The main training of `score dynamics` and `audit`, made resumable: its state (every
/// epoch) and its example stream live in `store` until the run commits; with `resume`
/// the stream keeps the records of the epochs the state has done. Returns the stream's
/// path, to link into the run folder before it commits (``linkIntoRun(_:_:as:)``).
func keepTrainingState(of dynamics: inout DynamicsRun, in store: UnitStore, resume: Bool) throws -> String {
    dynamics.trainingState = store
    let done = resume ? try dynamics.epochsDone() : 0
    let path = store.folder + "/examples.npy"
    dynamics.sinks.append(try ExampleStatsNPYWriter(resumablePath: path, keepingRecords: done > 0 ? done * dynamics.setup.data.count : nil))
    return path
}

/// Puts a file of the unit folder into the run folder as a second name (a hard link, the
/// same file system): if the run fails before it commits, the unit folder still has it
/// for `--resume`; the unit folder is removed once the run has committed.
func linkIntoRun(_ path: String, _ run: RunDirectory, as name: String) throws {
    guard link(path, run.path(name)) == 0 else {
        throw MetricsError.cannotWrite(path: run.path(name), reason: String(cString: strerror(errno)))
    }
}

/// The unit folders this process opened, for its last words when it stops early: a run
/// stopped by a signal or an error keeps its finished units and training states for
/// `--resume` (an empty folder is removed), except after a divergence, which the same
/// settings would repeat.
final class OpenUnitStores: @unchecked Sendable {
    static let shared = OpenUnitStores()
    private var stores: [UnitStore] = []
    private var mutex = pthread_mutex_t()

    init() { pthread_mutex_init(&mutex, nil) }

    func add(_ store: UnitStore) {
        pthread_mutex_lock(&mutex)
        stores.append(store)
        pthread_mutex_unlock(&mutex)
    }

    /// Removes the folders without work (all of them when `discard`) and returns a line
    /// naming those kept, or nil.
    func settle(discard: Bool) -> String? {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        var kept: [String] = []
        for store in stores where store.exists {
            if discard || !store.holdsWork { store.remove() } else { kept.append(store.folder) }
        }
        guard !kept.isEmpty else { return nil }
        return "the finished units and training state are kept in \(kept.joined(separator: ", ")): "
            + "rerun the same command with --resume to continue, or with --force to start over"
    }
}

/// The arguments after the subcommand `name` (`score ssft`) on this command line: how
/// `sieve merge` rebuilds the command of the shards.
func commandArguments(of name: String) -> [String] {
    let args = CommandLine.arguments
    let sub = name.split(separator: " ").map(String.init)
    for i in 0..<max(0, args.count - sub.count + 1) where Array(args[i..<(i + sub.count)]) == sub {
        return Array(args[(i + sub.count)...])
    }
    return Array(args.dropFirst())
}

/// A command whose ``StoredUnits`` protocol runs as shards that `sieve merge` combines.
protocol UnitsCommand: ParsableCommand {
    associatedtype Units: StoredUnits
    static var name: String { get }
    var options: TrainingOptions { get set }
    /// The protocol on `setup` and the meta recorded with its results.
    func protocolAndMeta(_ setup: ExperimentSetup) throws -> (Units, [(String, JSON)])
    /// Writes the combined result into the merge's `run` (with the merge's `output` options).
    func writeMerged(_ result: Units.Output, setup: ExperimentSetup, run: RunDirectory, output: ScoreOutput,
                     meta: [(String, JSON)], seconds: Double, deviceName: String?) throws
}

extension UnitsCommand {
    /// Runs the units of `protocol_` (all, or those of `shard`) with the unit folder
    /// `store` beside `run`: settings checked (on resume) and recorded, finished units
    /// loaded with `resume`, each new one saved as it finishes. A shard then writes its
    /// folder and returns nil; a whole run returns the combined output (the caller writes
    /// it and removes the store).
    func runUnits(_ protocol_: Units, meta: [(String, JSON)], setup: ExperimentSetup, run: RunDirectory, store: UnitStore,
                  shard: (index: Int, count: Int)?, resume: Bool, progress: JobProgress, since t0: Double) throws -> Units.Output? {
        let names = protocol_.units.map(protocol_.unitName)
        let settings = unitSettings(command: Self.name, meta: meta, setup: setup)
            + [("units", .array(names.map { .string($0) })), ("arguments", .array(commandArguments(of: Self.name).map { .string($0) }))]
        let selected = protocol_.units.enumerated().filter { shard == nil || $0.offset % shard!.count == shard!.index }.map(\.element)
        let mine = selected.map(protocol_.unitName)
        try endIfFinished(run, store: store, settings: settings, shard: shard)
        try adopt(store, settings: settings, shard: shard.map { ($0, Set(mine)) })
        let results = try protocol_.results(of: selected, storingIn: store, reuse: resume, progress: progress.callbacks, notes: unitNotes)
        progress.finish()
        guard let shard else { return try protocol_.combine(results) }
        try writeShardFolder(command: Self.name, shard: shard, units: mine, store: store, run: run, setup: setup,
                             seconds: monotonicSeconds() - t0)
        return nil
    }
}
