import Foundation
import Testing
import TestSupport
import Storage
import Metrics

#if canImport(Glibc)
import Glibc
#endif

/// `--resume`, `--shard I/N` and `sieve merge` of `score grand` / `score el2n`: the
/// combined folder is byte-identical to an uninterrupted single run.
struct LongRunTests {
    static func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    static func expectSame(_ a: String, _ b: String, files: [String]) throws {
        for f in files {
            #expect(try bytes(a + "/" + f) == bytes(b + "/" + f), "\(f) differs between \(a) and \(b)")
        }
    }

    static func ok(_ args: [String]) throws -> CLITests.Result {
        let r = try CLITests.run(args)
        #expect(r.status == 0, "\(args.prefix(2)): \(r.stderr)")
        return r
    }

    /// Starts `sieve arguments` and SIGKILLs it as soon as `ready()` holds (polled every
    /// 0.5 ms, 30 s at most); returns whether the kill, not the end of the run, stopped it.
    static func runAndKill(_ arguments: [String], when ready: () -> Bool) throws -> Bool {
        let p = try Subprocess(CLITests.binary, arguments, stdout: .discard, stderr: .discard)
        var polls = 0
        while p.isRunning && !ready() && polls < 60_000 { usleep(500); polls += 1 }
        p.send(SIGKILL)
        return p.wait().termination.signal == SIGKILL
    }

    @Test func resumeAfterKillIsByteIdentical() throws {
        let dir = CLITests.tempDir()
        try CLITests.makeIDX(dir + "/data", train: 3000, test: 20)
        let common = ["score", "grand", "--data", dir + "/data", "--model", "mlp", "--batch", "16", "--at-epoch", "2",
                      "--inits", "3", "--no-report"]
        _ = try Self.ok(common + ["--out", dir + "/full", "--quiet"])

        // Start the run and SIGKILL it as soon as its first unit file appears.
        let units = dir + "/run.units"
        var finished: [String] = []
        let killed = try Self.runAndKill(common + ["--out", dir + "/run"]) {
            finished = ((try? FileManager.default.contentsOfDirectory(atPath: units)) ?? [])
                .filter { $0.hasSuffix(".safetensors") && !$0.contains(".training.") }
            return !finished.isEmpty
        }
        #expect(killed, "the run finished before it could be killed")
        finished = try FileManager.default.contentsOfDirectory(atPath: units).filter { $0.hasSuffix(".safetensors") && !$0.contains(".training.") }
        #expect(!finished.isEmpty && finished.count < 3, "\(finished)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/run/scores.csv"))

        // Without --resume the unit folder is refused, naming both ways out.
        let refused = try CLITests.run(common + ["--out", dir + "/run"])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("--resume") && refused.stderr.contains("--force"), "\(refused.stderr)")

        // A different setting is refused, naming it.
        let other = try CLITests.run(common + ["--out", dir + "/run", "--resume", "--lr", "0.01"])
        #expect(other.status == 2)
        #expect(other.stderr.contains("lr is"), "\(other.stderr)")

        let resumed = try Self.ok(common + ["--out", dir + "/run", "--resume"])
        for name in finished {
            let seed = name.dropLast(".safetensors".count)
            #expect(resumed.stderr.contains("seed \(seed) finished earlier; skipping it"), "\(resumed.stderr)")
        }
        try Self.expectSame(dir + "/full", dir + "/run", files: ["scores.csv", "grand.npy", "grand_per_init.npy", "el2n.npy"])
        #expect(!FileManager.default.fileExists(atPath: units), "the unit folder is removed once the run commits")
    }

    /// Runs `body` with a fresh folder holding an IDX data set (`dir/data`, see
    /// `CLITests.makeIDX`), removed afterwards.
    static func withData(train: Int, test: Int, _ body: (String) throws -> Void) throws {
        let dir = CLITests.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try CLITests.makeIDX(dir + "/data", train: train, test: test)
        try body(dir)
    }

    /// Runs `common` whole, then again killed as soon as its training checkpoint
    /// (`0.training` in the unit folder) appears, resumes it (both with `extra`) and
    /// compares `files`; the resumed run's stderr must contain `note`.
    static func killTrainingAndResume(_ common: [String], extra: [String] = [], note: String, files: [String]) throws {
        let dir = CLITests.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try CLITests.makeIDX(dir + "/data", train: 4000, test: 20)
        let common = common + ["--data", dir + "/data", "--model", "mlp", "--batch", "16", "--no-report"]
        _ = try ok(common + ["--out", dir + "/full", "--quiet"])
        let checkpoint = dir + "/run.units/0.training.safetensors"
        let killed = try runAndKill(common + extra + ["--out", dir + "/run"]) { FileManager.default.fileExists(atPath: checkpoint) }
        guard killed, FileManager.default.fileExists(atPath: checkpoint) else {
            Issue.record("the run finished before it could be killed after a checkpoint")
            return
        }
        let resumed = try ok(common + extra + ["--out", dir + "/run", "--resume"])
        #expect(resumed.stderr.contains(note), "\(resumed.stderr)")
        try expectSame(dir + "/full", dir + "/run", files: files)
        #expect(!FileManager.default.fileExists(atPath: dir + "/run.units"))
    }

    /// A training killed between two epochs continues from its last end-of-epoch
    /// checkpoint (`SEED.training` in the unit folder) and ends bit for bit where the
    /// uninterrupted run does.
    @Test func trainingKilledMidUnitContinuesFromItsLastEpoch() throws {
        try Self.killTrainingAndResume(["score", "el2n", "--at-epoch", "4", "--seeds", "1"], note: "continuing after epoch",
                                       files: ["scores.csv", "el2n.npy", "loss.npy", "margin.npy"])
    }

    /// `--checkpoint-every`: a training killed inside an epoch continues from its last
    /// step checkpoint (or epoch end) and still gives the uninterrupted run's bytes.
    @Test func trainingKilledMidEpochContinuesFromItsLastStepCheckpoint() throws {
        try Self.killTrainingAndResume(["score", "grand", "--at-epoch", "2", "--inits", "1"], extra: ["--checkpoint-every", "7"],
                                       note: "from its checkpoint", files: ["scores.csv", "grand.npy", "el2n.npy"])
        let bad = try CLITests.run(["score", "grand", "--checkpoint-every", "0", "--out", CLITests.tempDir() + "/bad"])
        #expect(bad.status == 2 && bad.stderr.contains("--save-state-every must be at least 1"), "\(bad.stderr)")
    }

    /// Kills `arguments` (a command writing `--out DIR/run`) once its first unit file
    /// appears in DIR/run.units, resumes it, and compares `files` with an uninterrupted run.
    static func killResumeAndCompare(_ dir: String, _ arguments: [String], files: [String], unit: String,
                                     note: String? = nil) throws {
        _ = try ok(arguments + ["--out", dir + "/full", "--quiet"])
        let units = dir + "/run.units"
        let killed = try runAndKill(arguments + ["--out", dir + "/run"]) {
            ((try? FileManager.default.contentsOfDirectory(atPath: units)) ?? []).contains { $0.hasPrefix(unit) && $0.hasSuffix(".safetensors") }
        }
        #expect(killed, "\(arguments.prefix(2)): the run finished before it could be killed")
        let resumed = try ok(arguments + ["--out", dir + "/run", "--resume"])
        #expect(resumed.stderr.contains(note ?? "resume: unit \(unit)"), "\(resumed.stderr)")
        try expectSame(dir + "/full", dir + "/run", files: files)
        #expect(!FileManager.default.fileExists(atPath: units))
    }

    /// `score ssft`, `audit` (its extra protocols) and `prune-curve` keep their units too:
    /// killed after one and resumed, the same bytes as one run.
    @Test func ssftAuditAndPruneCurveResume() throws {
        let dir = CLITests.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try CLITests.makeIDX(dir + "/data", train: 3000, test: 100)
        let base = ["--data", dir + "/data", "--model", "mlp", "--batch", "16", "--no-report"]

        try FileManager.default.createDirectory(atPath: dir + "/ssft", withIntermediateDirectories: true)
        try Self.killResumeAndCompare(dir + "/ssft", ["score", "ssft", "--epochs", "2", "--seeds", "2"] + base,
                                      files: ["scores.csv", "ssft.npy", "fslt.npy"], unit: "0.A")

        try FileManager.default.createDirectory(atPath: dir + "/audit", withIntermediateDirectories: true)
        try Self.killResumeAndCompare(dir + "/audit", ["audit", "--epochs", "2", "--folds", "3", "--noise", "symmetric:0.2"] + base,
                                      files: ["scores.csv", "pred_probs.npy", "aum.npy"], unit: "folds.fold0")

        try FileManager.default.createDirectory(atPath: dir + "/curve", withIntermediateDirectories: true)
        try Self.killResumeAndCompare(dir + "/curve", ["prune-curve", "--scores", dir + "/audit/full", "--score", "aum",
                                                       "--keep-hardest", "0.5,0.7", "--seeds", "2", "--epochs", "1",
                                                       "--data", dir + "/data", "--model", "mlp", "--batch", "16"],
                                      files: ["prune_curve.csv"], unit: "0.score0.seed0")
        // The main training of audit (with VoG and a GraNd checkpoint) and of score dynamics keeps its
        // state every epoch: killed after one, it continues there, stream included.
        try FileManager.default.createDirectory(atPath: dir + "/main", withIntermediateDirectories: true)
        try Self.killResumeAndCompare(dir + "/main", ["audit", "--epochs", "4", "--vog", "--checkpoints", "1,3"] + base,
                                      files: ["scores.csv", "examples.npy", "correctness_by_epoch.npy", "el2n_by_epoch.npy",
                                              "vog.npy", "grand_e1.npy", "grand_e3.npy"],
                                      unit: "dynamics.training", note: "continuing after epoch")
        try FileManager.default.createDirectory(atPath: dir + "/dyn", withIntermediateDirectories: true)
        try Self.killResumeAndCompare(dir + "/dyn", ["score", "dynamics", "--epochs", "3"] + base,
                                      files: ["scores.csv", "examples.npy", "aum.npy"], unit: "dynamics.training",
                                      note: "continuing after epoch")

        // Another score to rank by is another setting: a resume is refused, naming it.
        let curve = ["prune-curve", "--scores", dir + "/audit/full", "--keep-hardest", "0.5,0.7", "--seeds", "2", "--epochs", "1",
                     "--data", dir + "/data", "--model", "mlp", "--batch", "16", "--out", dir + "/curve/other"]
        let killed = try Self.runAndKill(curve + ["--score", "aum"]) {
            ((try? FileManager.default.contentsOfDirectory(atPath: dir + "/curve/other.units")) ?? []).contains { $0.hasPrefix("0.score0") }
        }
        #expect(killed)
        let other = try CLITests.run(curve + ["--score", "el2n_final", "--resume"])
        #expect(other.status == 2 && other.stderr.contains("protocol.scores is [\"aum\"] there but [\"el2n_final\"] now"), "\(other.stderr)")
        let both = try CLITests.run(curve + ["--score", "aum", "--resume", "--force"])
        #expect(both.status == 2 && both.stderr.contains("give one of the two"), "\(both.stderr)")
    }

    /// A shard resumed into a unit folder with another shard's seeds is refused (merge would
    /// see them twice); `--resume` with `--force` is refused.
    @Test func resumeGuards() throws {
        let dir = CLITests.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try CLITests.makeIDX(dir + "/data", train: 200, test: 20)
        let common = ["score", "grand", "--data", dir + "/data", "--model", "mlp", "--batch", "16", "--inits", "2",
                      "--no-report", "--quiet"]
        // A unit folder as a killed run without --shard leaves it: seed 1 finished.
        _ = try Self.ok(common + ["--shard", "1/2", "--out", dir + "/s1"])
        try FileManager.default.moveItem(atPath: dir + "/s1/units", toPath: dir + "/run.units")
        try FileManager.default.copyItem(atPath: dir + "/s1/job.json", toPath: dir + "/run.units/job.json")
        let foreign = try CLITests.run(common + ["--shard", "0/2", "--resume", "--out", dir + "/run"])
        #expect(foreign.status == 2 && foreign.stderr.contains("holds seed 1, which belongs to another shard"), "\(foreign.stderr)")
        let both = try CLITests.run(common + ["--resume", "--force", "--out", dir + "/run"])
        #expect(both.status == 2 && both.stderr.contains("give one of the two"), "\(both.stderr)")
        // The right shard resumes: seed 1 is loaded, not rerun.
        let right = try CLITests.run(common + ["--shard", "1/2", "--resume", "--out", dir + "/run"])
        #expect(right.status == 0 && right.stderr.contains("seed 1 finished earlier"), "\(right.stderr)")
    }

    /// A shard retried after it committed (a scheduler requeueing a task killed at its very
    /// end): `--resume` with the same settings has nothing to do (exit 0, the folder kept, a
    /// unit folder left beside it removed); with other settings it is refused.
    @Test func aFinishedShardRetriedWithResumeHasNothingToDo() throws {
        let dir = CLITests.tempDir()
        try CLITests.makeIDX(dir + "/data", train: 60, test: 20)
        let common = ["score", "grand", "--data", dir + "/data", "--model", "mlp", "--batch", "16", "--seeds", "2", "--quiet",
                      "--shard", "1/2", "--out", dir + "/s1"]
        _ = try Self.ok(common)
        let before = try Self.bytes(dir + "/s1/units/1.safetensors")
        // What a kill between the commit and the unit folder's removal leaves.
        try FileManager.default.createDirectory(atPath: dir + "/s1.units", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: dir + "/s1/units/1.safetensors", toPath: dir + "/s1.units/1.safetensors")
        try FileManager.default.copyItem(atPath: dir + "/s1/units/.sieve-units", toPath: dir + "/s1.units/.sieve-units")
        let retry = try Self.ok(common + ["--resume"])
        #expect(retry.stdout.contains("nothing to do"), "\(retry.stdout)")
        #expect(try Self.bytes(dir + "/s1/units/1.safetensors") == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["data", "s1"])
        let other = try CLITests.run(common + ["--resume", "--lr", "0.01"])
        #expect(other.status == 2 && other.stderr.contains("other settings"), "\(other.stderr)")
        let whole = try CLITests.run(Array(common.prefix(10)) + ["--out", dir + "/s1", "--resume"])   // not a shard now
        #expect(whole.status == 2, "\(whole.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["data", "s1"])
    }

    @Test func shardsMergeToTheSingleRun() throws {
        let dir = CLITests.tempDir()
        try CLITests.makeIDX(dir + "/data", train: 90, test: 20)
        let common = ["score", "el2n", "--data", dir + "/data", "--model", "mlp", "--batch", "16", "--at-epoch", "1",
                      "--seeds", "3", "--noise", "symmetric:0.2", "--quiet"]
        _ = try Self.ok(common + ["--out", dir + "/single"])
        let a = try Self.ok(common + ["--shard", "0/2", "--out", dir + "/a"])
        #expect(a.stdout.contains("sieve merge"))
        _ = try Self.ok(common + ["--shard", "1/2", "--out", dir + "/b"])
        #expect(FileManager.default.fileExists(atPath: dir + "/a/units/0.safetensors"))
        #expect(FileManager.default.fileExists(atPath: dir + "/a/units/2.safetensors"))
        #expect(FileManager.default.fileExists(atPath: dir + "/b/units/1.safetensors"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/a/scores.csv"))

        _ = try Self.ok(["merge", dir + "/a", dir + "/b", "--out", dir + "/merged", "--quiet"])
        try Self.expectSame(dir + "/single", dir + "/merged",
                            files: ["scores.csv", "el2n.npy", "el2n_std.npy", "loss.npy", "margin.npy", "flipped.txt"])
        #expect(FileManager.default.fileExists(atPath: dir + "/merged/report.html"))
        let meta = try JSONSerialization.jsonObject(with: Self.bytes(dir + "/merged/meta.json")) as? [String: Any]
        #expect((meta?["merged_shards"] as? [String])?.count == 2)
        #expect(meta?["seeds"] as? Int == 3)

        // A shard with another learning rate is refused, naming the setting and both folders.
        _ = try Self.ok(common + ["--shard", "1/2", "--lr", "0.01", "--out", dir + "/c"])
        let mismatch = try CLITests.run(["merge", dir + "/a", dir + "/c", "--out", dir + "/m2"])
        #expect(mismatch.status == 2)
        #expect(mismatch.stderr.contains("lr is") && mismatch.stderr.contains(dir + "/c"), "\(mismatch.stderr)")

        // A missing shard is refused, naming the missing seed.
        let missing = try CLITests.run(["merge", dir + "/a", "--out", dir + "/m3"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("seed 1 is in none"), "\(missing.stderr)")

        // The merged folder may not replace a shard it reads.
        let over = try CLITests.run(["merge", dir + "/a", dir + "/b", "--out", dir + "/b/", "--force"])
        #expect(over.status == 2 && over.stderr.contains("is the shard folder"), "\(over.stderr)")

        // The same folder twice, or a copy of a shard, is refused, naming the duplicate.
        let twice = try CLITests.run(["merge", dir + "/a", dir + "/b", dir + "/b", "--out", dir + "/m4"])
        #expect(twice.status == 2)
        #expect(twice.stderr.contains("is named twice"), "\(twice.stderr)")
        try FileManager.default.copyItem(atPath: dir + "/b", toPath: dir + "/b2")
        let copy = try CLITests.run(["merge", dir + "/a", dir + "/b", dir + "/b2", "--out", dir + "/m5"])
        #expect(copy.status == 2)
        #expect(copy.stderr.contains("examples 0..<90 of seed 1 are in two shards"), "\(copy.stderr)")

        // The data is compared by content, not path: a moved copy merges (--data), an edited one is refused.
        try FileManager.default.copyItem(atPath: dir + "/data", toPath: dir + "/moved")
        _ = try Self.ok(["merge", dir + "/a", dir + "/b", "--data", dir + "/moved", "--out", dir + "/merged-moved", "--quiet", "--no-report"])
        try Self.expectSame(dir + "/single", dir + "/merged-moved", files: ["scores.csv", "el2n.npy"])
        let labels = dir + "/moved/train-labels-idx1-ubyte"
        var bytes = try Self.bytes(labels)
        bytes[8] = (bytes[8] + 1) % 4
        try bytes.write(to: URL(fileURLWithPath: labels))
        let edited = try CLITests.run(["merge", dir + "/a", dir + "/b", "--data", dir + "/moved", "--out", dir + "/m7"])
        #expect(edited.status == 2)
        #expect(edited.stderr.contains("is not the data the shards ran on"), "\(edited.stderr)")

        // More shards than seeds: each scores a batch-aligned range of one or two seeds
        // (after training them to the checkpoint); merged, still the single run.
        let ranges = (0..<5).map { dir + "/r\($0)" }
        for (i, out) in ranges.enumerated() { _ = try Self.ok(common + ["--shard", "\(i)/5", "--out", out]) }
        #expect(FileManager.default.fileExists(atPath: dir + "/r1/units/0.48-90.safetensors"))
        #expect(FileManager.default.fileExists(atPath: dir + "/r1/units/1.0-16.safetensors"))
        _ = try Self.ok(["merge"] + ranges + ["--out", dir + "/merged-ranges", "--quiet", "--no-report"])
        try Self.expectSame(dir + "/single", dir + "/merged-ranges",
                            files: ["scores.csv", "el2n.npy", "el2n_std.npy", "loss.npy", "margin.npy"])
        // Pieces of one seed trained to other weights (another kind of machine) are refused.
        let store = UnitStore(folder: dir + "/r3/units")
        var arrays = try #require(try store.load("1.64-90"))
        #expect(arrays["model_fingerprint"] != nil)
        arrays["model_fingerprint"] = .uint8(Array("0123456789abcdef".utf8))
        try store.save("1.64-90", arrays.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        let models = try CLITests.run(["merge"] + ranges + ["--out", dir + "/m8"])
        #expect(models.status == 2 && models.stderr.contains("seed 1 was trained to different models"), "\(models.stderr)")

        let gap = try CLITests.run(["merge"] + ranges.filter { !$0.hasSuffix("r3") } + ["--out", dir + "/m6"])
        #expect(gap.status == 2)
        #expect(gap.stderr.contains("seed 1 examples 64..<90, seed 2 examples 0..<32 are in none"), "\(gap.stderr)")
    }

    /// `score ssft` shards its (seed, half) units and `prune-curve` its trainings; merged,
    /// the single run's bytes.
    @Test func ssftAndPruneCurveShardsMergeToTheSingleRun() throws {
        try Self.withData(train: 120, test: 20) { dir in
            let common = ["score", "ssft", "--data", dir + "/data", "--model", "mlp", "--batch", "16", "--epochs", "3", "--seeds", "2",
                          "--noise", "symmetric:0.2", "--quiet", "--no-report"]
            _ = try Self.ok(common + ["--out", dir + "/single"])
            for i in 0..<3 { _ = try Self.ok(common + ["--shard", "\(i)/3", "--out", dir + "/s\(i)"]) }
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/s0/units").sorted() == [".sieve-units", "0.A.safetensors", "1.B.safetensors"])
            _ = try Self.ok(["merge", dir + "/s0", dir + "/s1", dir + "/s2", "--out", dir + "/merged", "--quiet", "--no-report"])
            try Self.expectSame(dir + "/single", dir + "/merged", files: ["scores.csv", "ssft.npy", "fslt.npy"])
            let missing = try CLITests.run(["merge", dir + "/s0", dir + "/s2", "--out", dir + "/m2"])
            #expect(missing.status == 2 && missing.stderr.contains("unit 0.B is in none"), "\(missing.stderr)")

            let curve = ["prune-curve", "--scores", dir + "/single", "--score", "ssft,fslt", "--keep-hardest", "0.5,0.7", "--seeds", "2",
                         "--epochs", "1", "--data", dir + "/data", "--model", "mlp", "--batch", "16", "--noise", "symmetric:0.2", "--quiet"]
            _ = try Self.ok(curve + ["--out", dir + "/curve"])
            for i in 0..<4 { _ = try Self.ok(curve + ["--shard", "\(i)/4", "--out", dir + "/c\(i)"]) }
            _ = try Self.ok(["merge"] + (0..<4).map { dir + "/c\($0)" } + ["--out", dir + "/curve-merged", "--quiet"])
            try Self.expectSame(dir + "/curve", dir + "/curve-merged", files: ["prune_curve.csv"])
        }
    }

    /// A unit's warnings are kept with it: a merge (or resume) that loads the unit reports them in meta.json.
    @Test func unitWarningsSurviveTheMerge() throws {
        try Self.withData(train: 96, test: 20) { dir in
            let common = ["score", "el2n", "--data", dir + "/data", "--model", "mlp", "--batch", "16", "--at-epoch", "2", "--seeds", "2",
                          "--lr", "1e-9", "--quiet", "--no-report"]
            let advice = "try a smaller --lr or more --epochs"
            _ = try Self.ok(common + ["--shard", "0/2", "--out", dir + "/a"])
            _ = try Self.ok(common + ["--shard", "1/2", "--out", dir + "/b"])
            let merged = try Self.ok(["merge", dir + "/a", dir + "/b", "--out", dir + "/m", "--quiet", "--no-report"])
            #expect(merged.stderr.contains("kept with a finished unit"), "\(merged.stderr)")
            let meta = try String(contentsOfFile: dir + "/m/meta.json", encoding: .utf8)
            #expect(meta.contains(advice), "\(meta)")
        }
    }

    @Test func badShardIsRefused() throws {
        let r = try CLITests.run(["score", "el2n", "--shard", "2/2"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("--shard 2/2"), "\(r.stderr)")
    }
}
