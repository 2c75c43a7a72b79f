import Kernels
import Metrics
import Storage
import Trainer

#if canImport(Glibc)
import Glibc
#endif

/// Runs a protocol's units in the unit folder `store` beside the run folder: the job
/// recorded there (and checked against it on `--resume`), finished units loaded, each new
/// one saved as it finishes. A shard then becomes a shard folder; a whole run hands its
/// results back to be combined.
struct Runner: UnitsHandler {
    let context: Context
    let store: UnitStore

    func handle<P: StoredUnits>(_ protocol_: P, job: Job) throws -> Handled<P.UnitResult> {
        var p = protocol_
        let options = context.options, shard = job.spec.shard
        let selected = try shard.map { try p.units(inShard: $0.index, of: $0.count) } ?? p.units
        let mine = selected.map(p.unitName)
        let record = JobRecord.make(job)
        try endIfFinished(record: record, shard: shard)
        try adopt(record: record, shard: shard, units: Set(mine),
                  owned: Set(selected.compactMap(p.stateName).map { $0 + UnitStore.suffix } + selected.flatMap(p.sideFiles)),
                  others: Set(p.units.compactMap(p.stateName).map { $0 + UnitStore.suffix } + p.units.flatMap(p.sideFiles)))
        try p.keepState(in: store, folder: store.folder, every: options.saveStateEvery)
        let progress = context.hooks.progress(p.plan(of: selected))
        let results = try p.results(of: selected, storingIn: store, reuse: options.resume, progress: progress, notes: context.hooks.notes)
        context.hooks.progressDone()
        if let shard {
            try writeShardFolder(job: job, shard: shard, units: mine)
            let whole: String? = if case .ensemble(let e) = job.built { "\(e.seeds.count) seed(s) in all" } else { nil }
            return .shardWritten(ShardOutcome(command: job.spec.command, shard: shard, units: mine, folder: context.run.target, whole: whole))
        }
        var files: [String: String] = [:]
        for name in p.units.flatMap(p.sideFiles) where access(store.folder + "/" + name, F_OK) == 0 { files[name] = store.folder + "/" + name }
        return .results(results, files: files)
    }

    /// Takes the unit folder for this job: one kept for `--resume` must hold the same job
    /// (the first difference is named) and, for a shard, only that shard's units (they
    /// move into the shard's folder, and a merge would see another's twice); then the job
    /// is recorded in it. `owned` are the training states and side files of the shard's
    /// units; any other of `others` (another shard's training state or example stream)
    /// is refused the same way.
    func adopt(record: JSON, shard: Shard?, units: Set<String>, owned: Set<String>, others: Set<String>) throws {
        if store.exists {
            if let stored = try store.job() {
                if let d = JobRecord.difference(stored, record) {
                    throw TrainerError.invalid("--resume: \(store.folder) was made with other settings: \(d.key) is \(d.expected) there "
                                               + "but \(d.found) now; rerun with the same options, or use --force to discard those units")
                }
            } else if store.holdsWork {
                let earlier = access(store.folder + "/settings.json", F_OK) == 0 ? " (an earlier sieve wrote it, with settings.json)" : ""
                throw TrainerError.invalid("--resume: \(store.folder) has unit files but no \(JobRunner.jobFile)\(earlier); remove it or use --force")
            }
            let files = RunDirectory.entries(of: store.folder) ?? []
            // Another shard's finished unit, or its training state or example stream.
            let foreign = store.units.first(where: { !units.contains($0) }).map { UInt64($0) != nil ? "seed \($0)" : "unit \($0)" }
                ?? files.first(where: { others.contains($0) && !owned.contains($0) })
            if let shard, let what = foreign {
                throw TrainerError.invalid("--resume --shard \(shard): \(store.folder) holds \(what), which belongs to another shard "
                                           + "(a run with another --shard, or none, used this --out); resume with that run's --shard, or choose another --out")
            }
        }
        try store.create()
        try store.writeJob(record)
    }

    /// With `--resume` into a folder a finished run or shard already committed (a scheduler
    /// retrying a task killed after its commit, a run killed while its unit folder was being
    /// removed): the same job ends with nothing to do (``RunFinishedEarlier``; a unit folder
    /// the kill left beside it is removed); another job or another shard is refused.
    func endIfFinished(record: JSON, shard: Shard?) throws {
        let run = context.run
        guard run.holdsFinishedRun else { return }
        let path = run.target + "/" + JobRunner.jobFile
        let finished = access(path, F_OK) == 0 ? try JSONReader.read(path: path) : nil
        guard let finished, finished["shard"]?.string == shard?.description else {   // nil == nil: a whole run
            throw TrainerError.invalid("--resume: \(run.target) already holds a finished run; choose a new --out, or pass --force to replace it")
        }
        if let d = JobRecord.difference(finished, record) {
            throw TrainerError.invalid("--resume: \(run.target) holds a finished \(shard == nil ? "run" : "shard") made with other settings: "
                                       + "\(d.key) is \(d.expected) there but \(d.found) now; choose a new --out, or pass --force to replace it")
        }
        store.remove()
        throw RunFinishedEarlier(folder: run.target)
    }

    /// A shard's folder: `meta.json` and `job.json` (with the shard), then the unit folder's
    /// files as `units/`, committed (a signal's cleanup held off while the only copy of the
    /// units moves); the unit folder goes once committed.
    func writeShardFolder(job: Job, shard: Shard, units: [String]) throws {
        let run = context.run
        let meta = context.runMeta(seconds: monotonicSeconds() - context.t0) + [("shard", .string(shard.description))]
        try OutputFile.write(JSON.object(meta).rendered + "\n", to: run.path("meta.json"))
        for name in RunDirectory.entries(of: store.folder) ?? []
        where name.contains(".partial-") || name.contains(UnitStore.trainingSuffix + ".") {
            unlink(store.folder + "/" + name)   // a killed earlier run's unfinished writes and trainings
        }
        // The units go in as second names (hard links): a run killed before or during the commit
        // still has them in the unit folder for --resume.
        let unitsFolder = run.path("units")
        guard mkdir(unitsFolder, 0o755) == 0 else { throw StorageError.cannotWrite(path: unitsFolder, reason: String(cString: strerror(errno))) }
        for name in RunDirectory.entries(of: store.folder) ?? [] {
            let target = name == JobRunner.jobFile ? run.path(name) : unitsFolder + "/" + name
            guard link(store.folder + "/" + name, target) == 0 else {
                throw StorageError.cannotWrite(path: target, reason: String(cString: strerror(errno)))
            }
        }
        try Cleanup.shared.committing { try run.commit() }
        store.remove()
    }
}

/// Collects a job's units from its shard folders (each `units/` a unit folder) and hands
/// them back combined in order, checked: every unit is one of the job's and the shards
/// together hold each exactly once (``StoredUnits/assemble(_:)``).
struct Merger: UnitsHandler {
    let context: Context
    let shards: [String]

    func handle<P: StoredUnits>(_ p: P, job: Job) throws -> Handled<P.UnitResult> {
        var stored: [StoredResult<P.Unit, P.UnitResult>] = []
        var files: [String: String] = [:]
        for dir in shards {
            let folder = UnitStore(folder: dir + "/units")
            for name in folder.units {
                guard let unit = p.unit(named: name) else {
                    throw TrainerError.invalid("merge: \(dir)/units/\(name)\(UnitStore.suffix) is not a unit of this run")
                }
                guard let arrays = try folder.load(name) else {
                    throw TrainerError.invalid("merge: \(dir)/units/\(name)\(UnitStore.suffix) disappeared")
                }
                context.hooks.notes.restore(arrays)
                stored.append(StoredResult(unit: unit, name: name, result: try p.unitResult(arrays, of: unit, file: "\(dir)/units/\(name)\(UnitStore.suffix)"),
                                           folder: dir))
                // The unit's side files come from the shard that ran it, never another's.
                for file in p.sideFiles(of: unit) {
                    guard access(folder.folder + "/" + file, F_OK) == 0 else {
                        throw TrainerError.invalid("merge: \(dir)/units holds unit \(name) but not its \(file); run that shard again")
                    }
                    files[file] = folder.folder + "/" + file
                }
            }
        }
        do {
            return .results(try p.assemble(stored), files: files)
        } catch TrainerError.invalid(let why) {
            throw TrainerError.invalid("merge: " + why)
        }
    }
}
