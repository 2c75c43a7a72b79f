import Kernels
import Metrics
import Report
import Storage
import Trainer

#if canImport(Glibc)
import Glibc
#endif

/// How a job writes its results: where, and what to do with what is there. Not part of
/// the job (``JobSpec``): none of it changes the results.
public struct RunOptions: Sendable {
    /// The run folder.
    public var out: String
    /// Replace a run folder that holds another run; discard the unit folder of an interrupted run.
    public var force = false
    /// Continue an interrupted run from its unit folder (`OUT.units/`).
    public var resume = false
    /// Say only what the caller prints itself (no data or phase lines).
    public var quiet = false
    /// Write `report.html`.
    public var report = true
    /// Also keep each training's state every this many optimiser steps (nil: at the end of each epoch).
    public var saveStateEvery: Int?
    /// The command line, as `meta.json` records it.
    public var commandLine = ""

    public init(out: String) { self.out = out }
}

/// What a job tells its caller while it runs: lines, progress, warnings, and the unit
/// folder it opened (the CLI's last words on a signal name it). Every hook is optional.
public struct JobHooks {
    /// A line for the user (data loaded, a phase, a resumed unit).
    public var note: (String) -> Void = { _ in }
    /// The progress callbacks for a job of `plan`.
    public var progress: (WorkPlan) -> ProtocolProgress = { _ in .silent }
    /// The progress display is done.
    public var progressDone: () -> Void = {}
    /// Warnings kept with each stored unit (``UnitNotes``).
    public var notes = UnitNotes()
    /// The run's warnings so far, for `meta.json`.
    public var warnings: () -> [String] = { [] }
    /// The unit folder the job keeps its finished units in.
    public var storeOpened: (UnitStore) -> Void = { _ in }
    /// Creates the device the spec names (nil: the default).
    public var makeDevice: (String?) throws -> Device = { try Devices.make($0, note: { _ in }) }

    public init() {}
}

/// What a finished job did: a shard folder, or a whole run's folder.
public enum JobOutcome {
    case shard(ShardOutcome)
    case finished(FinishedRun)
}

/// A shard folder written: which units it ran, of how many.
public struct ShardOutcome: Sendable {
    public var command: String
    public var shard: Shard
    public var units: [String]
    public var folder: String
    /// The whole run's size, when worth saying (`10 seed(s) in all`).
    public var whole: String?
}

/// A run folder written.
public struct FinishedRun {
    public var command: String
    public var folder: String
    public var seconds: Double
    public var data: TrainingData
    public var device: Device
    /// The scores written (nil for a prune curve).
    public var table: ScoreTable?
    /// Whether `report.html` was written.
    public var report: Bool
    /// Results worth printing besides the scores.
    public var details: Details

    public enum Details {
        case scores
        /// GraNd's rank correlation with the input norm.
        case grand(inputNormCorrelation: Double)
        case pruneCurve(PruneCurve.Output, seeds: Int)
        /// The audit's verdict: which labels are wrong and what they should be.
        case verdict(LabelVerdict)
        /// Test accuracy after training on the noisy, the cleaned and a random subset.
        case cleaning(Cleaning.Output, seeds: Int)
    }
}

/// Not a failure: `--resume` into a folder that a finished run or shard of the same job
/// already holds (a scheduler retrying a task killed after its commit): nothing to do.
public struct RunFinishedEarlier: Error, CustomStringConvertible {
    public let folder: String
    public var description: String { "\(folder) already holds this run, finished with the same settings: nothing to do" }
}

/// Runs any job: checks, takes the run folder and its unit folder, loads the data,
/// builds the protocol, runs its units (all, or a shard's) storing each as it finishes
/// (`--resume` loads them), then writes the shard folder or the combined results.
/// `merge` combines shard folders into the folder one run writes.
public enum JobRunner {
    /// The file every run folder, shard folder and unit folder records its job in.
    public static let jobFile = "job.json"

    public static func run(_ spec: JobSpec, options: RunOptions, hooks: JobHooks = JobHooks()) throws -> JobOutcome {
        try spec.check()
        if options.resume && options.force {
            throw TrainerError.invalid("--resume keeps the finished units and --force discards them: give one of the two")
        }
        if let every = options.saveStateEvery, every < 1 { throw TrainerError.invalid("--save-state-every must be at least 1 step") }
        switch spec.protocol {
        case .grand, .el2n: break
        default:
            if options.saveStateEvery != nil {
                hooks.note("note: --save-state-every applies to score grand and score el2n; \(spec.command) keeps each training's state at the end of every epoch")
            }
        }
        let run = try RunDirectory(options.out, force: options.force, resume: options.resume, reads: spec.reads)
        let store = try openStore(for: run, resume: options.resume, force: options.force)
        hooks.storeOpened(store)
        let t0 = monotonicSeconds()
        let device = try hooks.makeDevice(spec.device)
        let data = try load(spec.data, quiet: options.quiet, hooks: hooks)
        let setup = ExperimentSetup(data: data, device: device, configuration: try spec.training.configuration(input: data.inputShape))
        let job = try Job(spec: spec, setup: setup)
        let context = Context(job: job, run: run, options: options, hooks: hooks, t0: t0)
        let outcome = try job.dispatch(Runner(context: context, store: store))
        if case .finished = outcome { store.remove() }   // the run folder has committed: the units' only copy is no longer needed
        return outcome
    }

    /// Combines the shard folders of one job into the folder a single run writes. The
    /// shards must hold the same job (the first difference is named) and together every
    /// unit exactly once; the data is read again (from the job's path, or `data`) and must
    /// have the shards' fingerprint.
    /// `scores`: where a prune curve's scores file is now (checked by its fingerprint).
    public static func merge(shards: [String], data: String?, scores: String? = nil, options: RunOptions,
                             hooks: JobHooks = JobHooks()) throws -> JobOutcome {
        guard !shards.isEmpty else { throw TrainerError.invalid("merge: name the shard folders (sieve merge A B ... --out OUT)") }
        if let same = shards.first(where: { RunDirectory.realPath($0) == RunDirectory.realPath(options.out) }) {
            throw TrainerError.invalid("merge: --out \(options.out) is the shard folder \(same); write the merged folder elsewhere")
        }
        if let twice = shards.first(where: { s in shards.filter { $0 == s }.count > 1 }) {
            throw TrainerError.invalid("merge: \(twice) is named twice")
        }
        var records: [JSON] = []
        for dir in shards {
            guard UnitStore(folder: dir + "/units").exists, access(dir + "/" + jobFile, F_OK) == 0 else {
                if access(dir + "/settings.json", F_OK) == 0 {
                    throw TrainerError.invalid("merge: \(dir) is a shard folder of an earlier sieve (settings.json, no \(jobFile)); "
                                               + "run its shards again with this version")
                }
                throw TrainerError.invalid("merge: \(dir) is not a shard folder (no \(jobFile) and units/; run `sieve score ... --shard I/N --out \(dir)`)")
            }
            records.append(try JSONReader.read(path: dir + "/" + jobFile))
        }
        for (k, r) in records.enumerated().dropFirst() {
            if let d = JobRecord.difference(records[0], r) {
                throw TrainerError.invalid("merge: the shards were run with different settings: \(d.key) is \(d.expected) in \(shards[0]) "
                                           + "but \(d.found) in \(shards[k])")
            }
        }
        var spec = try JobSpec(json: records[0], file: shards[0] + "/" + jobFile)
        spec.shard = nil
        if let data { spec.data.source = data }
        if let scores, case .pruneCurve(var p) = spec.protocol {
            p.scoresFile = scores
            spec.protocol = .pruneCurve(p)
        }
        let run = try RunDirectory(options.out, force: options.force, reads: spec.reads)
        let t0 = monotonicSeconds()
        let loaded: TrainingData
        do { loaded = try load(spec.data, quiet: options.quiet, hooks: hooks) } catch let error as DataError {
            throw TrainerError.invalid("merge: reading the data set the shards ran on: \(error) (give its location with --data)")
        }
        if let fingerprint = records[0]["data_fingerprint"]?.string, loaded.fingerprint != fingerprint {
            throw TrainerError.invalid("merge: the data at \(spec.data.source) (fingerprint \(loaded.fingerprint)) is not the data the shards "
                                       + "ran on (fingerprint \(fingerprint)); give the same data with --data")
        }
        let setup = ExperimentSetup(data: loaded, device: CPUDevice(), configuration: try spec.training.configuration(input: loaded.inputShape))
        let job = try Job(spec: spec, setup: setup)
        var context = Context(job: job, run: run, options: options, hooks: hooks, t0: t0)
        context.mergedShards = shards
        context.deviceName = try? JSONReader.read(path: shards[0] + "/meta.json")["device"]?.string ?? nil
        context.backend = records[0]["backend"]?.string
        return try job.dispatch(Merger(context: context, shards: shards))
    }

    /// The data of `spec`, with a line about what was loaded (unless `quiet`).
    public static func load(_ spec: DataSpec, quiet: Bool, hooks: JobHooks) throws -> TrainingData {
        let t0 = monotonicSeconds()
        let note = quiet ? { (_: String) in } : hooks.note
        let data = try spec.load(warning: hooks.note, note: note)
        let split = data.split
        note("data: \(split.train.name) \(split.train.count) train, \(split.test.name) \(split.test.count) test, "
             + "\(split.train.channels)x\(split.train.height)x\(split.train.width), \(split.train.classes) classes "
             + "(loaded in \(Format.fixed(monotonicSeconds() - t0, 1)) s)")
        if split.test.count == 0 {
            note("note: \(spec.source) has no test set: test evaluation is skipped (hold out a validation set with --val 0.1)")
        }
        if let noise = data.noise, let flipped = data.flipped {
            note("noise: \(noise), \(flipped.count) labels flipped (noise seed \(data.noiseSeed))")
        }
        return data
    }

    /// The unit folder of `run` (`OUT.units/`, beside it), checked before any work: an
    /// existing one is kept only with `resume` (one without finished units or training
    /// states holds nothing to keep), discarded with `force`, refused otherwise.
    static func openStore(for run: RunDirectory, resume: Bool, force: Bool) throws -> UnitStore {
        let store = UnitStore(folder: run.target + ".units")
        try store.checkRemovable(option: "--out \(run.target)")   // a folder of that name holding what Sieve did not write
        if store.exists && !resume {
            guard force || !store.holdsWork else {
                throw TrainerError.invalid("\(store.folder) holds the finished units of an interrupted run into --out \(run.target); "
                                           + "pass --resume to continue it with the same settings, or --force to discard them")
            }
            store.remove()
        }
        return store
    }
}

/// `job.json` as stored: the spec, the data's fingerprint, the backend (cpu or opencl) and the
/// whole run's unit names. Two records describe the same job when they agree on all but
/// the shard, the device's name and the paths of the data and of a prune curve's scores
/// (machines may hold the same files in different places; the fingerprints compare the
/// content).
enum JobRecord {
    /// `backend`: the shards' backend for a merge (which runs on the CPU); else the device's.
    static func make(_ job: Job, backend: String? = nil) -> JSON {
        guard case .object(let fields) = job.spec.json else { return job.spec.json }
        return .object(fields + [("data_fingerprint", .string(job.setup.data.fingerprint)),
                                 ("backend", .string(backend ?? (job.setup.device is OpenCLDevice ? "opencl" : "cpu"))),
                                 ("units", .array(job.unitNames.map(JSON.string)))])
    }

    /// The first member (as a dotted path) in which `a` and `b` differ as jobs, or nil.
    static func difference(_ a: JSON, _ b: JSON) -> (key: String, expected: String, found: String)? {
        UnitStore.firstDifference(comparable(a), comparable(b))
    }

    static func comparable(_ record: JSON) -> JSON {
        .object(flattened(record).filter { !["shard", "device", "data.source", "protocol.scores_file", "protocol.audit"].contains($0.0) })
    }

    /// Nested objects as dotted keys (`data.limit`), so a difference names the member.
    static func flattened(_ json: JSON, prefix: String = "") -> [(String, JSON)] {
        guard case .object(let fields) = json else { return [(prefix, json)] }
        return fields.flatMap { key, value -> [(String, JSON)] in
            if case .object = value { return flattened(value, prefix: prefix + key + ".") }
            return [(prefix + key, value)]
        }
    }
}
