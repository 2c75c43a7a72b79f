import Foundation
import Testing

/// `sieve audit` end to end on a small IDX data set: every file of the main job, the
/// summary, cross-validated probabilities, a validation hold-out, and `sieve report`.
struct AuditTests {
    /// The verdict: label_issues.csv, verdict_probs.npy and the estimate; then
    /// `sieve clean` from it (drop with the oracle, fix), and its refusals.
    @Test func verdictAndClean() throws {
        let dir = CLITests.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try CLITests.makeIDX(dir + "/data", train: 240, test: 40)
        let out = dir + "/audit"
        let r = try CLITests.run(["audit", "--data", dir + "/data", "--model", "mlp", "--epochs", "3", "--batch", "32",
                                  "--noise", "pairs:0.25", "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        let page = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
        #expect(page.contains("Verdict: label errors") && page.contains(" label errors (95% interval "))
        #expect(r.stdout.contains("label errors: about ") && r.stdout.contains("against the flipped labels: precision"), "\(r.stdout)")
        let issues = try String(contentsOfFile: out + "/label_issues.csv", encoding: .utf8).split(separator: "\n")
        #expect(issues.first == "index,given_label,suggested_label,suspicion,error_probability,sure" && issues.count > 1)
        let suspicion = issues.dropFirst().map { Double($0.split(separator: ",")[3])! }
        #expect(zip(suspicion, suspicion.dropFirst()).allSatisfy { $0 >= $1 }, "most suspicious first")
        #expect(issues.dropFirst().allSatisfy { $0.split(separator: ",")[5] == "0" || $0.split(separator: ",")[5] == "1" })
        #expect(FileManager.default.fileExists(atPath: out + "/verdict_probs.npy"))
        let names = try String(contentsOfFile: out + "/scores.csv", encoding: .utf8).split(separator: "\n")[0].split(separator: ",")
        #expect(names[3] == "suspicion" && names[4] == "error_probability", "\(names)")
        let meta = try String(contentsOfFile: out + "/meta.json", encoding: .utf8)
        #expect(meta.contains("\"noise_structure\"") && meta.contains("\"verdict_epochs\"") && meta.contains("\"most_labels_look_wrong\""), "\(meta)")

        let clean = try CLITests.run(["clean", "--audit", out, "--seeds", "1", "--epochs", "1", "--oracle", "--quiet", "--out", dir + "/clean"])
        #expect(clean.status == 0, "\(clean.stderr)")
        for row in ["noisy labels    240", "cleaned", "random drop", "oracle drop     180", "clean labels    240", "of the noisy-to-oracle gap"] {
            #expect(clean.stdout.contains(row), "\(row): \(clean.stdout)")
        }
        for file in ["kept.txt", "labels.npy", "cleaning.csv", "job.json", "meta.json"] {
            #expect(FileManager.default.fileExists(atPath: dir + "/clean/" + file), "\(file)")
        }
        let kept = try String(contentsOfFile: dir + "/clean/kept.txt", encoding: .utf8).split(separator: "\n").count
        #expect(kept == 240 - (issues.count - 1))
        let missing = try CLITests.run(["clean", "--audit", dir + "/nowhere", "--out", dir + "/c2"])
        #expect(missing.status == 2 && missing.stderr.contains("pass the folder of a `sieve audit` run"), "\(missing.stderr)")
        let itself = try CLITests.run(["clean", "--audit", out, "--seeds", "1", "--epochs", "1", "--force", "--out", out])
        #expect(itself.status == 2 && itself.stderr.contains("is --audit \(out), which this run reads"), "\(itself.stderr)")
        #expect(FileManager.default.fileExists(atPath: out + "/label_issues.csv"))
        let mode = try CLITests.run(["clean", "--audit", out, "--mode", "mend", "--out", dir + "/c3"])
        #expect(mode.status == 2 && mode.stderr.contains("--mode mend is not drop, relabel or fix"), "\(mode.stderr)")
        // fix: the sure ones relabelled, the rest dropped.
        let fix = try CLITests.run(["clean", "--audit", out, "--mode", "fix", "--seeds", "1", "--epochs", "1", "--quiet", "--out", dir + "/fix"])
        #expect(fix.status == 0, "\(fix.stderr)")
        let unsure = issues.dropFirst().filter { $0.split(separator: ",")[5] == "0" }.count
        #expect(try String(contentsOfFile: dir + "/fix/kept.txt", encoding: .utf8).split(separator: "\n").count == 240 - unsure)
        try "index,given_label,suggested_label,suspicion,error_probability,sure\n999,1,2,0.5,0.5,1\n".write(toFile: out + "/label_issues.csv", atomically: true, encoding: .utf8)
        let other = try CLITests.run(["clean", "--audit", out, "--seeds", "1", "--epochs", "1", "--out", dir + "/c4"])
        #expect(other.status == 2 && other.stderr.contains("example 999 with label 1 is not in this data"), "\(other.stderr)")
        let first = issues[1].split(separator: ",")
        try "index,given_label,suggested_label,suspicion,error_probability,sure\n\(first[0]),\(first[1]),99,0.5,0.5,1\n".write(toFile: out + "/label_issues.csv", atomically: true, encoding: .utf8)
        let label = try CLITests.run(["clean", "--audit", out, "--mode", "fix", "--seeds", "1", "--epochs", "1", "--out", dir + "/c5"])
        #expect(label.status == 2 && label.stderr.contains("the suggested label 99 of example \(first[0]) is not a class"), "\(label.stderr)")
    }

    @Test func auditWritesTheWholeJob() throws {
        let dir = CLITests.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try CLITests.makeIDX(dir + "/data", train: 160, test: 40)
        let out = dir + "/audit"
        let r = try CLITests.run(["audit", "--data", dir + "/data", "--model", "mlp", "--epochs", "3", "--batch", "32",
                                  "--noise", "symmetric:0.25", "--folds", "3", "--inits", "2", "--ssft", "--ssft-epochs", "2",
                                  "--checkpoints", "1,3", "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        for file in ["scores.csv", "meta.json", "report.html", "pred_probs.npy", "flipped.txt", "examples.npy",
                     "correctness_by_epoch.npy", "el2n_by_epoch.npy", "grand_per_init.npy", "grand_e1.npy", "ssft.npy",
                     "self_confidence.npy"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + file), "\(file)")
        }
        // The summary: a detection line per score, and the report's path.
        #expect(r.stdout.contains("detecting the 40 flipped labels"))
        for score in ["aum", "grand_e1", "el2n_e3", "grand_init", "ssft", "self_confidence", "normalized_margin"] {
            #expect(r.stdout.contains("  " + score + " "), "\(score)")
        }
        #expect(r.stdout.contains("report: \(out)/report.html"))
        // Phases and the overall percentage on stderr (not a terminal: periodic lines).
        #expect(r.stderr.contains("phase 1/4: training mlp for 3 epochs") && r.stderr.contains("phase 4/4: 3-fold cross-validation"))
        // The final model's embeddings (mlp: the 256 features fc3 reads) and their nearest neighbours.
        let embeddings = try Data(contentsOf: URL(fileURLWithPath: out + "/embeddings.npy"))
        #expect(String(decoding: embeddings.prefix(128), as: UTF8.self).contains("'descr': '<f4', 'fortran_order': False, 'shape': (160, 256)"))
        let pairs = try String(contentsOfFile: out + "/near_duplicates.csv", encoding: .utf8).split(separator: "\n")
        #expect(pairs.first == "index,nearest,distance,label,nearest_label,conflict,near_duplicate" && pairs.count == 161)
        let columns = try String(contentsOfFile: out + "/scores.csv", encoding: .utf8).split(separator: "\n")[0]
        for name in ["outlier", "near_duplicate", "prototype_distance", "dyn_unc"] { #expect(columns.contains(name), "\(name)") }
        // pred_probs: [N, classes] float64 rows that sum to one.
        let npy = try Data(contentsOf: URL(fileURLWithPath: out + "/pred_probs.npy"))
        let header = String(decoding: npy.prefix(128), as: UTF8.self)
        #expect(header.contains("'descr': '<f8'") && header.contains("'shape': (160, 4)"))
        let headerLength = Int(npy[8]) | Int(npy[9]) << 8
        let values = npy.dropFirst(10 + headerLength).withUnsafeBytes { Array($0.bindMemory(to: Double.self)) }
        #expect(values.count == 640)
        for i in 0..<160 { #expect(abs(values[(4 * i)..<(4 * i + 4)].reduce(0, +) - 1) < 1e-9) }
        // Counts and flags are integers in scores.csv.
        let csv = try String(contentsOfFile: out + "/scores.csv", encoding: .utf8).split(separator: "\n")
        let names = csv[0].split(separator: ",").map(String.init)
        let row = csv[1].split(separator: ",").map(String.init)
        for column in ["forgetting", "never_learned", "unforgettable"] {
            let v = row[names.firstIndex(of: column)!]
            #expect(Int(v) != nil, "\(column) = \(v)")
        }
        // `sieve report` rewrites the report from the folder alone.
        let again = try CLITests.run(["report", out, "--output", dir + "/again.html"])
        #expect(again.status == 0, "\(again.stderr)")
        let html = try String(contentsOfFile: dir + "/again.html", encoding: .utf8)
        #expect(html.contains("id=\"grids\"") && html.contains("self_confidence") && !html.contains("<script"))
        #expect(html.contains("id=\"near-duplicates\""))
        // A damaged near_duplicates.csv is named, not drawn.
        let pairsFile = out + "/near_duplicates.csv"
        let intact = try String(contentsOfFile: pairsFile, encoding: .utf8)
        try (intact + "7,7,0.1,0,0,0,1\n").write(toFile: pairsFile, atomically: true, encoding: .utf8)
        let damaged = try CLITests.run(["report", out, "--output", dir + "/damaged.html"])
        #expect(damaged.status == 2 && damaged.stderr.contains("near_duplicates.csv:162: not a row of"), "\(damaged.stderr)")
        try intact.write(toFile: pairsFile, atomically: true, encoding: .utf8)
        // The same folder again is refused without --force.
        let reused = try CLITests.run(["audit", "--data", dir + "/data", "--model", "mlp", "--epochs", "1", "--out", out])
        #expect(reused.status == 2 && reused.stderr.contains("--force"))
    }

    @Test func auditHoldsOutAValidationSetAndChecksItsOptions() throws {
        let dir = CLITests.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try CLITests.makeIDX(dir + "/data", train: 100, test: 20)
        let out = dir + "/val"
        let r = try CLITests.run(["audit", "--data", dir + "/data", "--model", "mlp", "--epochs", "2", "--val", "0.2",
                                  "--checkpoints", "none", "--quiet", "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("most suspicious examples"))
        let csv = try String(contentsOfFile: out + "/scores.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 81 && csv[0].hasPrefix("index,label,source_index,"))
        let sources = csv.dropFirst().map { Int($0.split(separator: ",")[2])! }
        #expect(Set(sources).count == 80 && sources == sources.sorted() && sources.allSatisfy { $0 < 100 })
        for bad in [["--val", "1.5"], ["--folds", "1"], ["--checkpoints", "0"], ["--checkpoints", "3"], ["--checkpoints", "x"],
                    ["--ssft-epochs", "2"], ["--inits", "-1"]] {
            let e = try CLITests.run(["audit", "--data", dir + "/data", "--epochs", "2", "--out", dir + "/bad"] + bad)
            #expect(e.status == 2 && e.stderr.contains(bad[0]), "\(bad): \(e.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/bad"))
        }
    }
}

/// `--profile` and `sieve tune` on PoCL (the OpenCL device of the test machines).
struct OpenCLToolTests {
    static var hasOpenCL: Bool {
        (try? CLITests.run(["devices"]))?.stdout.contains("opencl:0") ?? false
    }

    @Test(.enabled(if: hasOpenCL, "needs an OpenCL device (PoCL)"))
    func benchProfilesEveryKernelAndTuneWritesAnEntryBenchUses() throws {
        let dir = CLITests.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = ["SIEVE_TUNING": dir + "/cfg/tuning.json"]
        let bench = try CLITests.run(["bench", "--device", "opencl", "--model", "cnn", "--input", "1x8x8", "--batch", "8", "--steps", "2",
                                      "--profile", "--json", dir + "/bench.json"], environment: env)
        #expect(bench.status == 0, "\(bench.stderr)")
        #expect(bench.stderr.contains("kernel profile (train step, 6 batches of 8)") && bench.stderr.contains("gemm"))
        #expect(bench.stdout.contains("opencl tuning: TSM=") && bench.stdout.contains("built-in"))
        #expect(!bench.stdout.contains("Winograd"), "the CPU's algorithm is not the OpenCL device's: \(bench.stdout)")
        let json = try String(contentsOfFile: dir + "/bench.json", encoding: .utf8)
        #expect(json.contains("\"profile\"") && json.contains("\"launches_per_step\"") && json.contains("\"gflops_per_second\""))
        let tune = try CLITests.run(["tune", "--budget", "0.001", "--scale", "512", "--repeats", "1"], environment: env)
        #expect(tune.status == 0, "\(tune.stderr)")
        #expect(tune.stdout.contains("wrote the entry"))
        let after = try CLITests.run(["bench", "--device", "opencl", "--model", "mlp", "--input", "1x4x4", "--batch", "4", "--steps", "1"],
                                     environment: env)
        #expect(after.stdout.contains("opencl tuning: TSM=") && after.stdout.contains(dir + "/cfg/tuning.json: sieve tune"), "\(after.stdout)")
        // A broken user file is an error naming it, not a silent default.
        try "{\"format\": \"sieve-opencl-tuning-1\", \"entries\": [{}]}".write(toFile: dir + "/cfg/tuning.json", atomically: true, encoding: .utf8)
        let broken = try CLITests.run(["bench", "--device", "opencl", "--model", "mlp", "--input", "1x4x4", "--batch", "4", "--steps", "1"],
                                      environment: env)
        #expect(broken.status == 2 && broken.stderr.contains("tuning.json: entry 1"), "\(broken.stderr)")
    }
}

/// `sieve tune --device cpu`: OpenBLAS's kernel sets measured in fresh processes, the
/// fastest recorded for this CPU model, and later runs (without OPENBLAS_CORETYPE) load it.
struct CPUTuneTests {
    @Test func measuredKernelSetIsRecordedAndLoaded() throws {
        let dir = CLITests.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/openblas-core.tsv"
        let r = try CLITests.run(["tune", "--device", "cpu", "--scale", "64", "--repeats", "1", "--rounds", "1", "--out", file],
                                 unsetting: ["OPENBLAS_CORETYPE"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("own choice ("), "\(r.stderr)")
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 1)
        let fields = lines.first.map { $0.split(separator: "\t").map(String.init) } ?? []
        #expect(fields.count == 3 && fields[2].contains("GFLOP/s"), "\(fields)")
        guard fields.count == 3 else { return }
        // A later run on this CPU loads the recorded kernel set (bench names it in the device line).
        let bench = try CLITests.run(["bench", "--model", "mlp", "--input", "1x8x8", "--batch", "16", "--steps", "1", "--device", "cpu"],
                                     environment: ["SIEVE_OPENBLAS_CORE_FILE": file], unsetting: ["OPENBLAS_CORETYPE", "SIEVE_NO_RELAUNCH"])
        #expect(bench.status == 0, "\(bench.stderr)")
        #expect((bench.stdout + bench.stderr).contains(" \(fields[1]) "), "\(bench.stdout)\(bench.stderr)")
        // The file is rewritten, not appended to: one line per CPU model.
        _ = try CLITests.run(["tune", "--device", "cpu", "--scale", "64", "--repeats", "1", "--rounds", "1", "--out", file],
                             unsetting: ["OPENBLAS_CORETYPE"])
        #expect(try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").count == 1)
        // Any other file at --out is refused before the measuring, and kept.
        let notes = dir + "/notes.txt"
        try "dear diary\n".write(toFile: notes, atomically: true, encoding: .utf8)
        let other = try CLITests.run(["tune", "--device", "cpu", "--scale", "64", "--repeats", "1", "--rounds", "1", "--out", notes])
        #expect(other.status == 2 && other.stderr.contains("is not a file of measured kernel sets"), "\(other.stderr)")
        #expect(try String(contentsOfFile: notes, encoding: .utf8) == "dear diary\n")
    }

    @Test func badOptionsAreRefused() throws {
        let r = try CLITests.run(["tune", "--device", "cpu", "--rounds", "0"])
        #expect(r.status == 2 && r.stderr.contains("--rounds"), "\(r.stderr)")
        let d = try CLITests.run(["tune", "--device", "gpu"])
        #expect(d.status == 2 && d.stderr.contains("cpu"), "\(d.stderr)")
    }
}

/// `sieve bench` as the performance dashboard: every pass with its rounds, nominal GFLOP/s
/// against the sgemm rate of the same run, peak memory, and the convolution ops.
struct BenchDashboardTests {
    @Test func suiteAndOpsReportEveryPassAndShape() throws {
        let dir = CLITests.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try CLITests.run(["bench", "--device", "cpu", "--suite", "--ops", "--width", "16", "--input", "1x8x8",
                                  "--batch", "4", "--steps", "1", "--repeats", "2", "--json", dir + "/bench.json"])
        #expect(r.status == 0, "\(r.stderr)")
        for model in ["mlp", "cnn", "resnet18 width 16", "resnet18 width 64"] { #expect(r.stdout.contains("\n\(model):"), "\(model)") }
        #expect(r.stdout.contains("cblas_sgemm 2048^3"))
        #expect(r.stdout.contains("winograd") && r.stdout.contains("im2col") && r.stdout.contains("backward-weight"))
        let data = try #require(FileManager.default.contents(atPath: dir + "/bench.json"))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let models = try #require(json["models"] as? [[String: Any]])
        #expect(models.count == 4)
        for m in models {
            let passes = try #require(m["passes"] as? [[String: Any]])
            #expect(passes.map { $0["pass"] as? String } == ["train step", "eval forward", "grand"])
            for p in passes {
                #expect((p["rounds"] as? [Double])?.count == 2)
                #expect(((p["examples_per_second"] as? Double) ?? 0) > 0)
                #expect(((p["share_of_sgemm"] as? Double) ?? 0) > 0)
                #expect(((p["peak_resident_bytes"] as? Int) ?? 0) > 1 << 20)
            }
        }
        // ResNet-18 width 64 on 1x8x8: 20 convolutions, 11 distinct shapes, four ops each.
        let ops = try #require(json["ops"] as? [[String: Any]])
        #expect(ops.count == 4 * Set(ops.compactMap { $0["shape"] as? String }).count && ops.count >= 4 * 8)
        #expect(((json["grand_examples_per_second"] as? Double) ?? 0) > 0 && json["sgemm_gflops"] != nil)
    }

    /// `--pass`: only the named passes are timed; the JSON has no rate for the others.
    @Test func passTimesOnlyTheNamedPasses() throws {
        let dir = CLITests.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try CLITests.run(["bench", "--device", "cpu", "--model", "cnn", "--input", "1x8x8", "--batch", "4", "--steps", "1",
                                  "--repeats", "1", "--pass", "eval", "--json", dir + "/eval.json"])
        #expect(r.status == 0 && r.stdout.contains("eval forward") && !r.stdout.contains("train step")
                && !r.stdout.contains("\ngrand"), "\(r.stdout)\(r.stderr)")
        let data = try #require(FileManager.default.contents(atPath: dir + "/eval.json"))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(((json["eval_forward_examples_per_second"] as? Double) ?? 0) > 0)
        #expect(json["train_step_examples_per_second"] is NSNull && json["grand_examples_per_second"] is NSNull)
        let bad = try CLITests.run(["bench", "--device", "cpu", "--pass", "backward"])
        #expect(bad.status != 0 && bad.stderr.contains("--pass"), "\(bad.stderr)")
    }

    /// `--knn`: the audit's neighbour search alone, timed, its JSON, and shapes it refuses.
    @Test func knnTimesTheNeighbourSearch() throws {
        let dir = CLITests.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try CLITests.run(["bench", "--knn", "700x16", "--repeats", "2", "--device", "cpu", "--json", dir + "/knn.json"])
        #expect(r.status == 0 && r.stdout.contains("exact 10-nearest neighbours of 700 x 16 embeddings")
                && r.stdout.contains("over 2 rounds"), "\(r.stdout)\(r.stderr)")
        let json = try String(contentsOfFile: dir + "/knn.json", encoding: .utf8)
        #expect(json.contains("\"knn_examples\": 700") || json.contains("\"knn_examples\":700"), "\(json)")
        for bad in ["1x16", "700", "700x0", "axb"] {
            let b = try CLITests.run(["bench", "--knn", bad])
            #expect(b.status == 2 && b.stderr.contains("is not NxD"), "\(bad): \(b.stderr)")
        }
    }

    @Test func forcedAlgorithmsAndBadOptions() throws {
        let im2col = try CLITests.run(["bench", "--device", "cpu", "--model", "resnet18", "--width", "16", "--input", "3x8x8",
                                       "--batch", "2", "--steps", "1", "--repeats", "1", "--ops", "--conv", "im2col"])
        #expect(im2col.status == 0 && !im2col.stdout.contains("winograd") && im2col.stdout.contains("im2col + sgemm"), "\(im2col.stderr)")
        let cnn = try CLITests.run(["bench", "--device", "cpu", "--model", "cnn", "--input", "1x8x8", "--batch", "2", "--steps", "1",
                                    "--repeats", "1", "--ops"])
        #expect(cnn.status == 0 && cnn.stdout.contains("forward") && cnn.stdout.contains("norms"), "\(cnn.stdout)")
        let mlp = try CLITests.run(["bench", "--device", "cpu", "--model", "mlp", "--input", "1x8x8", "--batch", "2", "--steps", "1",
                                    "--repeats", "1", "--ops"])
        #expect(mlp.status == 0 && mlp.stdout.contains("mlp has no convolutions"), "\(mlp.stdout)")
        let bad = try CLITests.run(["bench", "--device", "cpu", "--conv", "fft"])
        #expect(bad.status != 0 && bad.stderr.contains("--conv"), "\(bad.stderr)")
        let repeats = try CLITests.run(["bench", "--device", "cpu", "--repeats", "0"])
        #expect(repeats.status != 0 && repeats.stderr.contains("--repeats must be at least 1"), "\(repeats.stderr)")
        let opencl = try CLITests.run(["bench", "--device", "opencl", "--model", "mlp", "--input", "1x4x4", "--batch", "2",
                                       "--steps", "1", "--conv", "winograd"])
        #expect(opencl.status != 0 && opencl.stderr.contains("is not the CPU"), "\(opencl.stderr)")
    }
}
