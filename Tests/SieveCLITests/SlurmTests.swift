import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Root, with Slurm's daemons and client installed.
let slurmAvailable: Bool = getuid() == 0 && ["/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/bin/sbatch", "/usr/bin/squeue"]
    .allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }

/// `sieve score grand` as a Slurm job array of shards on a real one-node cluster
/// (scripts/slurm-local.sh), merged with `sieve merge`: byte-identical to one run.
/// Runs only as root with Slurm installed (scripts/test.sh installs it).
@Suite(.serialized, .enabled(if: slurmAvailable, "needs root and slurmctld, slurmd, sbatch (scripts/test.sh installs them)"))
struct SlurmTests {

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/slurm-local.sh").path

    /// Runs `bash -c command`, returning its status and output.
    static func shell(_ command: String, environment: [String: String] = [:]) throws -> CLITests.Result {
        let r = try Subprocess.shell(command, environment: environment)
        return .init(status: r.status, stdout: r.stdout, stderr: r.stderr)
    }

    static func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// A cluster under `dir`/cluster, started by the script; `stop()` in a defer.
    struct Cluster {
        let dir: String
        var environment: [String: String] { ["SLURM_CONF": dir + "/slurm.conf"] }

        init(_ dir: String) throws {
            self.dir = dir
            let r = try SlurmTests.shell("\(SlurmTests.quote(SlurmTests.script)) start \(SlurmTests.quote(dir))")
            guard r.status == 0, r.stdout.contains("export SLURM_CONF=") else {
                _ = try? SlurmTests.shell("\(SlurmTests.quote(SlurmTests.script)) stop \(SlurmTests.quote(dir))")
                throw ClusterError(message: "slurm-local.sh start failed (\(r.status)): \(r.stderr)")
            }
        }

        func stop() { _ = try? SlurmTests.shell("\(SlurmTests.quote(SlurmTests.script)) stop \(SlurmTests.quote(dir))") }

        func sh(_ command: String) throws -> CLITests.Result { try SlurmTests.shell(command, environment: environment) }

        /// `sbatch --parsable ARGS`: the job id.
        func submit(_ args: String) throws -> String {
            let r = try sh("sbatch --parsable " + args)
            guard r.status == 0, let id = r.stdout.split(separator: ";").first.map({ $0.trimmingCharacters(in: .whitespacesAndNewlines) }),
                  !id.isEmpty else { throw ClusterError(message: "sbatch \(args) failed: \(r.stderr)") }
            return id
        }

        /// Waits until `squeue` no longer lists the job (all its array tasks ended).
        func wait(_ job: String, timeout: Double = 180) throws {
            let start = Date()
            while Date().timeIntervalSince(start) < timeout {
                let r = try sh("squeue -h -j \(job)")
                if r.status == 0 && r.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return }
                usleep(250_000)
            }
            let q = try? sh("squeue -j \(job); tail -n 20 \(SlurmTests.quote(dir))/log/*.log")
            throw ClusterError(message: "job \(job) still queued after \(Int(timeout)) s:\n\(q?.stdout ?? "")")
        }
    }

    struct ClusterError: Error, CustomStringConvertible { var message: String; var description: String { message } }

    /// The job scripts' choice of OpenBLAS kernels: the test's own when it has one, else
    /// none, so each task chooses as the single run does (an empty OPENBLAS_CORETYPE
    /// exported to the tasks made them differ from a run of `swift test` without one).
    static var coretypeLine: String {
        guard let core = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"], !core.isEmpty else { return "" }
        return "export OPENBLAS_CORETYPE=\(quote(core))\n"
    }

    /// A job script running one array task's shard of `score grand` (extra arguments to sbatch go to sieve).
    static func jobScript(_ dir: String, data: String, limit: Int, inits: Int, shards: Int) throws -> String {
        let text = """
        #!/bin/bash
        #SBATCH --cpus-per-task=1
        \(coretypeLine)export OPENBLAS_NUM_THREADS=1
        exec \(quote(CLITests.binary)) score grand --data \(quote(data)) --model mlp --batch 16 --limit \(limit) \\
            --inits \(inits) --at-epoch 1 --no-report --quiet \\
            --shard "$SLURM_ARRAY_TASK_ID/\(shards)" --out \(quote(dir))/shard-"$SLURM_ARRAY_TASK_ID" "$@"

        """
        let path = dir + "/grand.sbatch"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The single run, the merge of the shards, and the byte-for-byte comparison of scores.csv and every .npy.
    static func mergeAndCompare(_ dir: String, data: String, limit: Int, inits: Int, shards: Int) throws {
        let folders = (0..<shards).map { dir + "/shard-\($0)" }
        for f in folders {
            #expect(FileManager.default.fileExists(atPath: f + "/meta.json"), "shard \(f) did not finish:\n\(logs(dir))")
        }
        _ = try LongRunTests.ok(["merge"] + folders + ["--out", dir + "/merged", "--no-report", "--quiet"])
        _ = try LongRunTests.ok(["score", "grand", "--data", data, "--model", "mlp", "--batch", "16", "--limit", String(limit),
                                 "--inits", String(inits), "--at-epoch", "1", "--no-report", "--quiet", "--out", dir + "/single"])
        let npy = try FileManager.default.contentsOfDirectory(atPath: dir + "/single").filter { $0.hasSuffix(".npy") }.sorted()
        #expect(npy.contains("grand.npy") && npy.contains("el2n.npy"), "\(npy)")
        let merged = try FileManager.default.contentsOfDirectory(atPath: dir + "/merged").filter { $0.hasSuffix(".npy") }.sorted()
        #expect(npy == merged)
        try LongRunTests.expectSame(dir + "/single", dir + "/merged", files: ["scores.csv"] + npy)
    }

    static func logs(_ dir: String) -> String {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir + "/logs")) ?? []
        return files.sorted().map { "== \($0)\n" + ((try? String(contentsOfFile: dir + "/logs/" + $0, encoding: .utf8)) ?? "") }
            .joined(separator: "\n")
    }

    @Test func jobArrayOfShardsMergesToTheSingleRun() throws {
        let dir = CLITests.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cluster = try Cluster(dir + "/cluster")
        defer { cluster.stop() }
        try CLITests.makeIDX(dir + "/data", train: 300, test: 20)
        try FileManager.default.createDirectory(atPath: dir + "/logs", withIntermediateDirectories: true)
        let job = try Self.jobScript(dir, data: dir + "/data", limit: 200, inits: 4, shards: 4)
        let id = try cluster.submit("--array=0-3 --output=\(Self.quote(dir))/logs/%A_%a.out \(Self.quote(job))")
        try cluster.wait(id)
        try Self.mergeAndCompare(dir, data: dir + "/data", limit: 200, inits: 4, shards: 4)
    }

    @Test func killedArrayTaskResumesToTheSingleRun() throws {
        let dir = CLITests.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cluster = try Cluster(dir + "/cluster")
        defer { cluster.stop() }
        // 3 units of 6000 examples per shard: time to kill a task between its first and last unit.
        let (limit, inits, shards) = (6000, 12, 4)
        try CLITests.makeIDX(dir + "/data", train: limit, test: 20)
        try FileManager.default.createDirectory(atPath: dir + "/logs", withIntermediateDirectories: true)
        let job = try Self.jobScript(dir, data: dir + "/data", limit: limit, inits: inits, shards: shards)
        let id = try cluster.submit("--array=0-3 --output=\(Self.quote(dir))/logs/%A_%a.out \(Self.quote(job))")

        // SIGKILL task 1 as soon as the first of its three units is stored.
        let units = dir + "/shard-1.units"
        var finished: [String] = []
        let start = Date()
        while Date().timeIntervalSince(start) < 180 {
            finished = ((try? FileManager.default.contentsOfDirectory(atPath: units)) ?? []).filter { $0.hasSuffix(".safetensors") && !$0.contains(".training.") }
            if !finished.isEmpty || FileManager.default.fileExists(atPath: dir + "/shard-1/meta.json") { break }
            usleep(1000)
        }
        let cancel = try cluster.sh("scancel --signal=KILL \(id)_1")
        #expect(cancel.status == 0, "\(cancel.stderr)")
        try cluster.wait(id)
        finished = ((try? FileManager.default.contentsOfDirectory(atPath: units)) ?? []).filter { $0.hasSuffix(".safetensors") && !$0.contains(".training.") }
        if FileManager.default.fileExists(atPath: dir + "/shard-1/meta.json") {
            // The kill came after task 1's last unit (a fast machine): nothing to resume, and
            // the kill-and-resume path is covered without Slurm by LongRunTests; the merge must
            // still equal the single run.
            print("note: task 1 finished before SIGKILL reached it; resume not exercised in this run")
        } else {
            #expect((1..<inits / shards).contains(finished.count), "task 1 was not killed between its units: \(finished)\n\(Self.logs(dir))")
            // Task 1 again, with --resume: it skips the units it finished.
            let again = try cluster.submit("--array=1 --output=\(Self.quote(dir))/logs/resumed-%A_%a.out \(Self.quote(job)) --resume")
            try cluster.wait(again)
            let log = Self.logs(dir)
            for name in finished {
                #expect(log.contains("seed \(name.dropLast(".safetensors".count)) finished earlier; skipping it"), "\(log)")
            }
        }
        try Self.mergeAndCompare(dir, data: dir + "/data", limit: limit, inits: inits, shards: shards)
    }

    /// The audit's options of the Slurm test: every part (the main training, AUM threshold
    /// runs, GraNd at initialisation, the two-split protocol, folds, VoG), 9 units.
    static func auditArguments(data: String) -> [String] {
        ["audit", "--data", data, "--model", "mlp", "--batch", "16", "--limit", "6000", "--epochs", "8", "--noise", "symmetric:0.2",
         "--inits", "2", "--ssft", "--ssft-epochs", "2", "--folds", "2", "--aum-threshold", "--vog", "--checkpoints", "1,3",
         "--no-report", "--quiet"]
    }

    /// `sieve audit --shard I/3` as a job array (3 units per task), one task killed after
    /// its first unit and run again with `--resume`, merged: byte for byte the single audit
    /// (scores.csv, every .npy including examples.npy and pred_probs.npy).
    @Test func auditShardsWithAKilledTaskMergeToTheSingleAudit() throws {
        let dir = CLITests.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cluster = try Cluster(dir + "/cluster")
        defer { cluster.stop() }
        // 6000 examples, 8 epochs: a task's units take seconds, time to kill it between them.
        try CLITests.makeIDX(dir + "/data", train: 6000, test: 100)
        try FileManager.default.createDirectory(atPath: dir + "/logs", withIntermediateDirectories: true)
        let script = dir + "/audit.sbatch"
        try """
        #!/bin/bash
        #SBATCH --cpus-per-task=1
        \(Self.coretypeLine)export OPENBLAS_NUM_THREADS=1
        exec \(Self.quote(CLITests.binary)) \(Self.auditArguments(data: dir + "/data").map(Self.quote).joined(separator: " ")) \\
            --shard "$SLURM_ARRAY_TASK_ID/3" --out \(Self.quote(dir))/shard-"$SLURM_ARRAY_TASK_ID" "$@"

        """.write(toFile: script, atomically: true, encoding: .utf8)
        let id = try cluster.submit("--array=0-2 --output=\(Self.quote(dir))/logs/%A_%a.out \(Self.quote(script))")
        // SIGKILL task 1 as soon as the first of its units is stored.
        let units = dir + "/shard-1.units"
        func finished() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: units)) ?? []).filter { $0.hasSuffix(".safetensors") && !$0.contains(".training") }
        }
        let start = Date()
        while Date().timeIntervalSince(start) < 180 && finished().isEmpty && !FileManager.default.fileExists(atPath: dir + "/shard-1/meta.json") {
            usleep(1000)
        }
        _ = try cluster.sh("scancel --signal=KILL \(id)_1")
        try cluster.wait(id)
        let done = finished()
        if FileManager.default.fileExists(atPath: dir + "/shard-1/meta.json") {
            print("note: audit task 1 finished before SIGKILL reached it; resume not exercised in this run")
        } else {
            #expect((1..<3).contains(done.count), "task 1 was not killed between its units: \(done)\n\(Self.logs(dir))")
            let again = try cluster.submit("--array=1 --output=\(Self.quote(dir))/logs/resumed-%A_%a.out \(Self.quote(script)) --resume")
            try cluster.wait(again)
            let log = Self.logs(dir)
            for file in done {
                // Units are named by their label: `unit NAME`, GraNd at init by its seed.
                let name = String(file.dropLast(".safetensors".count))
                let label = name.hasPrefix("grand-init.") ? "seed \(name.dropFirst("grand-init.".count))" : "unit \(name)"
                #expect(log.contains("\(label) finished earlier; skipping it"), "\(log)")
            }
        }
        let folders = (0..<3).map { dir + "/shard-\($0)" }
        for f in folders { #expect(FileManager.default.fileExists(atPath: f + "/meta.json"), "shard \(f) did not finish:\n\(Self.logs(dir))") }
        _ = try LongRunTests.ok(["merge"] + folders + ["--out", dir + "/merged", "--no-report", "--quiet"])
        _ = try LongRunTests.ok(Self.auditArguments(data: dir + "/data") + ["--out", dir + "/single"])
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/single").filter { $0.hasSuffix(".npy") || $0.hasSuffix(".txt") }.sorted()
        for expected in ["examples.npy", "pred_probs.npy", "grand_per_init.npy", "aum_flagged.npy", "ssft.npy", "vog.npy", "flipped.txt"] {
            #expect(files.contains(expected), "\(files)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/merged").filter { $0.hasSuffix(".npy") || $0.hasSuffix(".txt") }.sorted() == files)
        try LongRunTests.expectSame(dir + "/single", dir + "/merged", files: ["scores.csv"] + files)
    }
}
