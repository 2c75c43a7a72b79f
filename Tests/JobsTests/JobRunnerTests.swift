import Foundation
import Testing
@testable import Jobs
import Kernels
import Metrics
import Storage
import Trainer

/// The job runner called as a library (no process): which units each shard runs, resume
/// from a unit folder, and the checks a merge makes.
@Suite(.serialized) struct JobRunnerTests {
    /// Four classes of 8x8 images, each class a bright band at its own height (IDX files).
    static func makeData(_ dir: String, train: Int, test: Int) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        func be(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 255), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }
        func write(_ name: String, _ count: Int, _ seed: UInt64) throws {
            var rng = SplitMix64(seed: seed)
            var images: [UInt8] = [0, 0, 8, 3] + be(count) + be(8) + be(8), labels: [UInt8] = [0, 0, 8, 1] + be(count)
            for _ in 0..<count {
                let k = Int(rng.below(4))
                labels.append(UInt8(k))
                for h in 0..<8 { for _ in 0..<8 { images.append(h / 2 == k ? 200 : UInt8(rng.below(40))) } }
            }
            try Data(images).write(to: URL(fileURLWithPath: dir + "/\(name)-images-idx3-ubyte"))
            try Data(labels).write(to: URL(fileURLWithPath: dir + "/\(name)-labels-idx1-ubyte"))
        }
        try write("train", train, 1)
        try write("t10k", test, 2)
    }

    static func tempDir() -> String {
        let d = NSTemporaryDirectory() + "sieve-jobs-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// An audit with every part on `data`: 1 + 2 + 2 + 2 + 2 = 9 units.
    static func auditSpec(data: String) -> JobSpec {
        var a = AuditSpec()
        a.epochs = 2; a.inits = 2; a.ssft = true; a.ssftEpochs = 1; a.folds = 2; a.aumThreshold = true; a.vog = true
        a.checkpoints = [1, 2]
        var spec = JobSpec(protocol: .audit(a))
        spec.data.source = data
        spec.data.noise = .symmetric(rate: 0.25)
        spec.training.model = .mlp
        spec.training.batch = 32
        spec.device = "cpu"
        return spec
    }

    static func options(_ out: String) -> RunOptions {
        var o = RunOptions(out: out)
        o.quiet = true
        o.report = false
        return o
    }

    static func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    /// Every shard count from 1 to 10 covers the audit's 9 units exactly once, in the
    /// positions p % N == I; a grand ensemble with more shards than seeds tiles each seed's
    /// examples.
    @Test func shardsCoverEveryUnitExactlyOnce() throws {
        let dir = Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.makeData(dir + "/data", train: 96, test: 32)
        let spec = Self.auditSpec(data: dir + "/data")
        let data = try spec.data.load()
        let setup = ExperimentSetup(data: data, device: CPUDevice(), configuration: try spec.training.configuration(input: data.inputShape))
        let job = try Job(spec: spec, setup: setup)
        guard case .audit(let audit) = job.built else { Issue.record("not an audit"); return }
        let all = audit.units.map(audit.unitName)
        #expect(all == ["dynamics", "aum-threshold.run0", "aum-threshold.run1", "grand-init.1000", "grand-init.1001",
                        "ssft.0.A", "ssft.0.B", "folds.fold0", "folds.fold1"])
        for n in 1...10 {
            let shards = try (0..<n).map { try audit.units(inShard: $0, of: n).map(audit.unitName) }
            #expect(shards.flatMap { $0 }.sorted() == all.sorted(), "\(n) shards")
            #expect(shards.enumerated().allSatisfy { i, names in names == all.enumerated().filter { $0.offset % n == i }.map(\.element) })
        }
        #expect(throws: TrainerError.self) { try audit.units(inShard: 3, of: 3) }

        var grand = JobSpec(protocol: .grand(EnsembleSpec(runs: 2, atEpoch: 0)))
        grand.data.source = dir + "/data"
        grand.training.model = .mlp
        grand.training.batch = 32
        let g = try Job(spec: grand, setup: ExperimentSetup(data: data, device: CPUDevice(), configuration: try grand.training.configuration(input: data.inputShape)))
        guard case .ensemble(let e) = g.built else { Issue.record("not an ensemble"); return }
        // 2 seeds x 3 batches of 32: 5 shards split the 6 scoring batches.
        let pieces = try (0..<5).flatMap { try e.units(inShard: $0, of: 5) }
        for seed: UInt64 in [0, 1] {
            let ranges = pieces.filter { $0.seed == seed }.map(\.examples).sorted { $0.lowerBound < $1.lowerBound }
            #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == 96)
            #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        }
    }

    /// Three shards run through the library and merged equal the single run byte for byte;
    /// a shard resumed from a unit folder loads what it holds instead of running it; a
    /// merge missing a shard, holding one twice, or mixing jobs is refused naming why.
    @Test func shardResumeAndMergeChecks() throws {
        let dir = Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.makeData(dir + "/data", train: 96, test: 32)
        var spec = Self.auditSpec(data: dir + "/data")
        _ = try JobRunner.run(spec, options: Self.options(dir + "/single"))

        // Shard 1 first runs only until its first unit is stored: a unit folder as a killed run leaves it.
        spec.shard = Shard(index: 1, count: 3)
        let job = try Job(spec: spec, setup: ExperimentSetup(data: try spec.data.load(), device: CPUDevice(),
                                                             configuration: try spec.training.configuration(input: FeatureShape(1, 8, 8))))
        guard case .audit(let audit) = job.built else { Issue.record("not an audit"); return }
        let first = try audit.units(inShard: 1, of: 3)[0]
        let store = UnitStore(folder: dir + "/shard-1.units")
        try store.create()
        try store.writeJob(JobRecord.make(job))
        try store.save(audit.unitName(first), audit.unitArrays(try audit.run(first, progress: .silent)))

        var resumedNotes: [String] = []
        var hooks = JobHooks()
        hooks.progress = { _ in ProtocolProgress(resumed: { resumedNotes.append($0) }) }
        var resume = Self.options(dir + "/shard-1")
        resume.resume = true
        guard case .shard(let outcome) = try JobRunner.run(spec, options: resume, hooks: hooks) else { Issue.record("no shard"); return }
        #expect(outcome.units == ["aum-threshold.run0", "grand-init.1001", "folds.fold0"])
        #expect(resumedNotes.count == 1 && resumedNotes[0].contains("aum-threshold.run0 finished earlier"), "\(resumedNotes)")
        #expect(!FileManager.default.fileExists(atPath: store.folder))   // moved into the shard folder

        // A unit folder of another job is refused on resume, naming the first difference.
        var other = spec
        other.shard = Shard(index: 0, count: 3)
        other.training.batch = 16
        let otherStore = UnitStore(folder: dir + "/shard-0.units")
        try otherStore.create()
        try otherStore.writeJob(JobRecord.make(job))
        var r0 = Self.options(dir + "/shard-0")
        r0.resume = true
        #expect { try JobRunner.run(other, options: r0) } throws: { "\($0)".contains("training.batch is 32 there but 16 now") }
        otherStore.remove()

        for i in [0, 2] {
            spec.shard = Shard(index: i, count: 3)
            _ = try JobRunner.run(spec, options: Self.options(dir + "/shard-\(i)"))
        }
        let shards = (0..<3).map { dir + "/shard-\($0)" }
        _ = try JobRunner.merge(shards: shards, data: nil, options: Self.options(dir + "/merged"))
        for file in try FileManager.default.contentsOfDirectory(atPath: dir + "/single") where file.hasSuffix(".npy") || file == "scores.csv" {
            #expect(Self.bytes(dir + "/single/" + file) == Self.bytes(dir + "/merged/" + file), "\(file)")
        }
        #expect(FileManager.default.fileExists(atPath: dir + "/merged/examples.npy"))

        // Merge checks: a shard missing, a shard twice, shards of different jobs.
        #expect { try JobRunner.merge(shards: Array(shards.prefix(2)), data: nil, options: Self.options(dir + "/m1")) }
            throws: { "\($0)".contains("units aum-threshold.run1, ssft.0.A, folds.fold1 are in none of the shard folders") }
        #expect { try JobRunner.merge(shards: [shards[0], shards[0]], data: nil, options: Self.options(dir + "/m2")) }
            throws: { "\($0)".contains("named twice") }
        try FileManager.default.copyItem(atPath: shards[2], toPath: dir + "/copy-2")
        #expect { try JobRunner.merge(shards: shards + [dir + "/copy-2"], data: nil, options: Self.options(dir + "/m3")) }
            throws: { "\($0)".contains("is in two shards") }
        var elsewhere = Self.auditSpec(data: dir + "/data")
        elsewhere.protocol = .audit({ var a = AuditSpec(); a.epochs = 1; return a }())
        elsewhere.shard = Shard(index: 0, count: 3)
        _ = try JobRunner.run(elsewhere, options: Self.options(dir + "/foreign-0"))
        #expect { try JobRunner.merge(shards: [dir + "/foreign-0"] + shards.dropFirst(), data: nil, options: Self.options(dir + "/m4")) }
            throws: { "\($0)".contains("different settings: protocol.epochs is 1 in") }
        #expect(!FileManager.default.fileExists(atPath: dir + "/m1") && !FileManager.default.fileExists(atPath: dir + "/m4"))
    }

    /// job.json round-trips every field, and other versions or damaged files are refused naming the member.
    @Test func jobFileRoundTrips() throws {
        var spec = Self.auditSpec(data: "/data/x")
        spec.data.limit = 1200; spec.data.val = 0.1; spec.data.valSeed = UInt64.max; spec.data.classes = 7
        spec.training.lr = 0.03; spec.training.schedule = .step(milestones: [3, 6], factor: 0.5)
        spec.training.augment = AugmentationSpec(crop: true, flip: true)
        spec.shard = Shard(index: 2, count: 5)
        let text = spec.json.rendered
        #expect(try JobSpec(json: try JSONReader.parse(text), file: "j") == spec)
        let curve = JobSpec(protocol: .pruneCurve(PruneCurveSpec(scoresFile: "s", scores: ["aum", "el2n"],
                                                                 selections: [.keepHardest(0.5, window: 3), .dropSuspicious(0.1),
                                                                             .coverage(0.2, hardCut: 0.1), .keepRandom(0.3, seed: 4)])))
        #expect(try JobSpec(json: try JSONReader.parse(curve.json.rendered), file: "j") == curve)
        #expect { try JobSpec(json: try JSONReader.parse(text.replacingOccurrences(of: "\"format_version\": 1", with: "\"format_version\": 9")), file: "j") }
            throws: { "\($0)".contains("format 9") }
        #expect { try JobSpec(json: try JSONReader.parse(text.replacingOccurrences(of: "\"batch\": 32", with: "\"batch\": \"32\"")), file: "j") }
            throws: { "\($0)".contains("j: training.batch is not an integer") }
    }

    /// A job typed with its defaults spelled out is the same job; a finished whole run
    /// resumed has nothing to do; a shard never adopts another shard's training state; a
    /// misspelt member of job.json is refused.
    @Test func defaultsOwnershipAndStrictness() throws {
        let dir = Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.makeData(dir + "/data", train: 96, test: 32)
        var plain = Self.auditSpec(data: dir + "/data")
        plain.protocol = .audit({ var a = AuditSpec(); a.epochs = 10; return a }())
        var spelled = plain
        spelled.protocol = .audit({ var a = AuditSpec(); a.epochs = 10; a.checkpoints = [2, 2]; a.aumFrom = 2; return a }())
        spelled.training.lr = 0.05   // mlp's default
        spelled.training.augment = AugmentationSpec()
        let data = try plain.data.load()
        let setup = ExperimentSetup(data: data, device: CPUDevice(), configuration: try plain.training.configuration(input: data.inputShape))
        #expect(JobRecord.difference(JobRecord.make(try Job(spec: plain, setup: setup)),
                                     JobRecord.make(try Job(spec: spelled, setup: setup))) == nil)

        // A whole run resumed after its commit (killed while its unit folder was removed).
        var small = Self.auditSpec(data: dir + "/data")
        small.protocol = .audit({ var a = AuditSpec(); a.epochs = 1; return a }())
        _ = try JobRunner.run(small, options: Self.options(dir + "/run"))
        try UnitStore(folder: dir + "/run.units").create()
        var again = Self.options(dir + "/run")
        again.resume = true
        #expect(throws: RunFinishedEarlier.self) { try JobRunner.run(small, options: again) }
        #expect(!FileManager.default.fileExists(atPath: dir + "/run.units"))

        // The main training's state belongs to shard 0 (it runs `dynamics`), not shard 1.
        var shard = Self.auditSpec(data: dir + "/data")
        shard.shard = Shard(index: 1, count: 3)
        let store = UnitStore(folder: dir + "/s1.units")
        try store.create()
        try store.writeJob(JobRecord.make(try Job(spec: shard, setup: setup)))
        try store.save("dynamics.training", [("epochs_done", .float64([1]))])
        var resume = Self.options(dir + "/s1")
        resume.resume = true
        #expect { try JobRunner.run(shard, options: resume) } throws: { "\($0)".contains("holds dynamics.training.safetensors, which belongs to another shard") }

        let text = small.json.rendered.replacingOccurrences(of: "\"epochs\": 1,", with: "\"epoch\": 1,")
        #expect { try JobSpec(json: try JSONReader.parse(text), file: "j") } throws: { "\($0)".contains("j: protocol.epoch is not a member of a job") }
    }
}
