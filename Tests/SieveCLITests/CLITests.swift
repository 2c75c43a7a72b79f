import Foundation
import Testing
import TestSupport

/// End-to-end tests of the `sieve` binary built next to the test bundle.
struct CLITests {
    static var binary: String {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [dir, dir.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("sieve").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return dir.appendingPathComponent("sieve").path
    }

    struct Result { var status: Int32; var stdout: String; var stderr: String }

    static func run(_ arguments: [String], environment: [String: String] = [:], unsetting: Set<String> = []) throws -> Result {
        let r = try Subprocess.run(binary, arguments, environment: environment, unsetting: unsetting)
        return Result(status: r.status, stdout: r.stdout, stderr: r.stderr)
    }

    /// Writes a small IDX data set: class k = bright band k.
    static func makeIDX(_ dir: String, train: Int, test: Int, size: Int = 8) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        func write(_ name: String, _ count: Int, _ seed: Int) throws {
            var rng = UInt64(seed) &* 6364136223846793005 &+ 1442695040888963407
            var images = Data([0, 0, 8, 3] + be(count) + be(size) + be(size))
            var labels = Data([0, 0, 8, 1] + be(count))
            for _ in 0..<count {
                rng = rng &* 6364136223846793005 &+ 1442695040888963407
                let k = Int(rng >> 33) % 4
                labels.append(UInt8(k))
                for h in 0..<size { for _ in 0..<size { images.append(h * 4 / size == k ? 200 : 20) } }
            }
            try images.write(to: URL(fileURLWithPath: dir + "/\(name)-images-idx3-ubyte"))
            try labels.write(to: URL(fileURLWithPath: dir + "/\(name)-labels-idx1-ubyte"))
        }
        try write("train", train, 1)
        try write("t10k", test, 2)
    }

    static func be(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 255), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }

    static func tempDir() -> String {
        let d = NSTemporaryDirectory() + "sieve-cli-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    @Test func trainWritesItsOutputs() throws {
        let dir = Self.tempDir()
        try Self.makeIDX(dir + "/data", train: 100, test: 40)
        let r = try Self.run(["train", "--data", dir + "/data", "--model", "mlp", "--epochs", "3", "--batch", "16",
                              "--lr", "0.05", "--augment", "none", "--out", dir + "/out", "--json", dir + "/s.json"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stdout.contains("test accuracy"))
        #expect(r.stderr.contains("epoch 3/3"))
        let csv = try String(contentsOfFile: dir + "/out/epochs.csv", encoding: .utf8)
        #expect(csv.split(separator: "\n").count == 4)
        let stream = try Data(contentsOf: URL(fileURLWithPath: dir + "/out/examples.npy"))
        #expect(stream.count == 256 + 300 * 29)
        #expect(String(decoding: stream[10..<256], as: UTF8.self).contains("'shape': (300,)"))
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/s.json"))) as? [String: Any]
        let accuracy = try #require(json?["test_accuracy"] as? Double)
        #expect(accuracy > 0.9)
        #expect(json?["model"] as? String == "mlp")
        #expect(FileManager.default.fileExists(atPath: dir + "/out/meta.json"))
    }

    /// `--resize` on an in-memory (IDX) set, into torchvision's ResNet-18 with the ImageNet
    /// stem: 8 px band images scaled to 64 px learn, and the transform is recorded.
    @Test func resizedImagesTrainTheImageNetStem() throws {
        let dir = Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.makeIDX(dir + "/data", train: 96, test: 32)
        let r = try Self.run(["train", "--data", dir + "/data", "--resize", "64", "--model", "resnet18-imagenet", "--width", "4",
                              "--epochs", "4", "--batch", "16", "--out", dir + "/out", "--json", dir + "/s.json"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/s.json"))) as? [String: Any]
        let accuracy = try #require(json?["test_accuracy"] as? Double)
        #expect(accuracy > 0.5, "\(accuracy)")   // 4 classes
        let meta = try String(contentsOfFile: dir + "/out/meta.json", encoding: .utf8)
        #expect(meta.contains("Resize(64, BILINEAR, antialias) + CenterCrop(64)"), "\(meta)")
        let small = try Self.run(["train", "--data", dir + "/data", "--model", "resnet18-imagenet", "--epochs", "1"])
        #expect(small.status == 2 && small.stderr.contains("at least 32x32"), "\(small.stderr)")
        let bad = try Self.run(["train", "--data", dir + "/data", "--resize", "0x5", "--epochs", "1"])
        #expect(bad.status == 2 && bad.stderr.contains("--resize 0x5 is not a size"), "\(bad.stderr)")
    }

    /// `score weights`: a model exported with PyTorch names (here by cross-check) scores the
    /// data without training; a file of another architecture or width is refused by name.
    @Test func scoreWeightsLoadsPyTorchNamesStrictly() throws {
        let dir = Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.makeIDX(dir + "/data", train: 40, test: 12)
        let x = try Self.run(["cross-check", "--model", "resnet18", "--width", "2", "--input", "1x8x8", "--classes", "4",
                              "--batch", "4", "--device", "cpu", "--out", dir + "/x"])
        #expect(x.status == 0, "\(x.stderr)")
        let common = ["--data", dir + "/data", "--model", "resnet18", "--device", "cpu"]
        let w = try Self.run(["score", "weights", "--weights", dir + "/x/model.safetensors", "--width", "2", "--out", dir + "/w"] + common)
        #expect(w.status == 0 && w.stdout.contains("scored 40 examples"), "\(w.stdout)\(w.stderr)")
        let scores = try String(contentsOfFile: dir + "/w/scores.csv", encoding: .utf8)
        let csv = scores.split(separator: "\n")
        #expect(csv.first == "index,label,error_probability,el2n,grand,loss,margin" && csv.count == 41, "\(csv.first ?? "")")
        let probs = try Data(contentsOf: URL(fileURLWithPath: dir + "/w/pred_probs.npy")).prefix(128)
        #expect(String(decoding: probs, as: UTF8.self).contains("'shape': (40, 4)"))
        // The verdict from the loaded model's probabilities: label_issues.csv holds as many rows as meta.json's estimate.
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/w/meta.json"))) as? [String: Any]
        let errors = meta?["label_errors"] as? [String: Any], flagged = errors?["flagged"] as? Int
        let issues = try String(contentsOfFile: dir + "/w/label_issues.csv", encoding: .utf8).split(separator: "\n")
        #expect(issues.first?.hasPrefix("index,given_label,suggested_label,suspicion,error_probability,sure") == true)
        #expect(flagged != nil && issues.count == 1 + flagged!, "\(issues.count) lines, \(String(describing: flagged)) flagged")
        #expect(w.stdout.contains("label errors: about"), "\(w.stdout)")
        // --normalize with the training set's own mean and std (meta.json's) scores exactly alike; other values do not.
        let norm = meta?["normalization"] as? [String: Any]
        let mean = (norm?["mean"] as? [Double])?.first, std = (norm?["std"] as? [Double])?.first
        #expect(mean != nil && std != nil && norm?["source"] as? String == "the training set")
        let same = try Self.run(["score", "weights", "--weights", dir + "/x/model.safetensors", "--width", "2", "--out", dir + "/ws",
                                 "--normalize", "\(Float(mean ?? 0))/\(Float(std ?? 1))"] + common)
        #expect(same.status == 0, "\(same.stderr)")
        #expect(try String(contentsOfFile: dir + "/ws/scores.csv", encoding: .utf8) == scores)
        let shifted = try Self.run(["score", "weights", "--weights", dir + "/x/model.safetensors", "--width", "2", "--out", dir + "/wt",
                                    "--normalize", "0.5/0.25"] + common)
        #expect(shifted.status == 0, "\(shifted.stderr)")
        #expect(try String(contentsOfFile: dir + "/wt/scores.csv", encoding: .utf8) != scores)
        for bad in ["0.5,0.4/0.2", "0.5/0", "0.5", "a/0.2"] {
            let r = try Self.run(["score", "weights", "--weights", dir + "/x/model.safetensors", "--width", "2", "--out", dir + "/wb",
                                  "--normalize", bad] + common)
            #expect(r.status == 2 && r.stderr.contains("--normalize \(bad)") && !FileManager.default.fileExists(atPath: dir + "/wb"), "\(bad): \(r.stderr)")
        }
        let wide = try Self.run(["score", "weights", "--weights", dir + "/x/model.safetensors", "--width", "4", "--out", dir + "/w4"] + common)
        #expect(wide.status == 2 && wide.stderr.contains("conv1.weight is [2, 1, 3, 3]"), "\(wide.stderr)")
        let other = try Self.run(["score", "weights", "--weights", dir + "/x/model.safetensors", "--model", "preact-resnet18", "--width", "2",
                                  "--data", dir + "/data", "--device", "cpu", "--out", dir + "/wp"])
        #expect(other.status == 2 && other.stderr.contains("is not in preact-resnet18"), "\(other.stderr)")
        let missing = try Self.run(["score", "weights", "--weights", dir + "/none.safetensors", "--out", dir + "/wn"] + common)
        #expect(missing.status == 2 && missing.stderr.contains("none.safetensors"), "\(missing.stderr)")
    }

    /// `sieve convert`: the data as Sieve reads it, resized, as NPY files that --data reads
    /// back to the same pixels (the fingerprint of the training set is the same).
    @Test func convertWritesWhatDataReadsBack() throws {
        let dir = Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.makeIDX(dir + "/data", train: 30, test: 10)
        let c = try Self.run(["convert", "--data", dir + "/data", "--resize", "5x6", "--limit", "20", "--out", dir + "/npy"])
        #expect(c.status == 0 && c.stdout.contains("20 training and 10 test images of 5x6x1"), "\(c.stdout)\(c.stderr)")
        let header = try Data(contentsOf: URL(fileURLWithPath: dir + "/npy/train_images.npy")).prefix(128)
        #expect(String(decoding: header, as: UTF8.self).contains("'shape': (20, 5, 6, 1)"))
        let again = try Self.run(["convert", "--data", dir + "/data", "--out", dir + "/npy"])
        #expect(again.status == 2 && again.stderr.contains("--force"), "\(again.stderr)")
        let a = try Self.run(["train", "--data", dir + "/data", "--resize", "5x6", "--limit", "20", "--model", "mlp", "--epochs", "1",
                              "--batch", "8", "--out", dir + "/a"])
        let b = try Self.run(["train", "--data", dir + "/npy", "--model", "mlp", "--epochs", "1", "--batch", "8", "--out", dir + "/b"])
        #expect(a.status == 0 && b.status == 0, "\(a.stderr)\(b.stderr)")
        func fingerprint(_ run: String) throws -> String? {
            let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/" + run + "/meta.json"))) as? [String: Any]
            return meta?["data_fingerprint"] as? String
        }
        #expect(try fingerprint("a") != nil && fingerprint("a") == fingerprint("b"))
    }

    /// Every score command end to end on a small generated data set with label noise,
    /// then evaluate, prune, train --subset and prune-curve on their outputs.
    @Test func scoreEvaluatePruneRetrain() throws {
        let dir = Self.tempDir()
        try Self.makeIDX(dir + "/data", train: 120, test: 40)
        let common = ["--data", dir + "/data", "--model", "mlp", "--batch", "16", "--lr", "0.05", "--augment", "none",
                      "--noise", "symmetric:0.25", "--noise-seed", "3", "--quiet"]
        func run(_ args: [String]) throws -> Result {
            let r = try Self.run(args)
            #expect(r.status == 0, "\(args.prefix(2)): \(r.stderr)")
            return r
        }
        let dyn = try run(["score", "dynamics", "--epochs", "3", "--vog", "--aum-threshold", "--out", dir + "/dyn"] + common)
        #expect(dyn.stdout.contains("aum"))
        let csv = try String(contentsOfFile: dir + "/dyn/scores.csv", encoding: .utf8)
        let header = csv.split(separator: "\n").first.map(String.init) ?? ""
        for column in ["index", "label", "original_label", "forgetting", "first_learned_epoch", "aum", "confidence",
                       "variability", "correctness", "vog", "aum_flagged", "el2n_final"] {
            #expect(header.split(separator: ",").contains(Substring(column)), "missing \(column) in \(header)")
        }
        #expect(csv.split(separator: "\n").count == 121)
        let flipped = try String(contentsOfFile: dir + "/dyn/flipped.txt", encoding: .utf8).split(separator: "\n")
        #expect(flipped.count == 30)
        let aum = try Data(contentsOf: URL(fileURLWithPath: dir + "/dyn/aum.npy"))
        #expect(aum.count == 128 + 120 * 8)
        let matrix = try Data(contentsOf: URL(fileURLWithPath: dir + "/dyn/correctness_by_epoch.npy"))
        #expect(String(decoding: matrix[10..<100], as: UTF8.self).contains("(3, 120)"))
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/dyn/meta.json"))) as? [String: Any]
        #expect((meta?["scores"] as? [String: Any])?["aum"] != nil)
        #expect(meta?["noise"] as? String == "symmetric:0.25")

        _ = try run(["score", "ssft", "--epochs", "2", "--out", dir + "/ssft"] + common)
        _ = try run(["score", "grand", "--inits", "2", "--out", dir + "/grand"] + common)
        _ = try run(["score", "el2n", "--seeds", "2", "--at-epoch", "1", "--out", dir + "/el2n"] + common)
        for (sub, column) in [("ssft", "ssft"), ("grand", "grand"), ("grand", "input_norm"), ("el2n", "el2n_std")] {
            let text = try String(contentsOfFile: dir + "/\(sub)/scores.csv", encoding: .utf8)
            #expect(text.hasPrefix("index,label,original_label,") && text.contains(column), "\(sub): \(column)")
        }
        let grandPerInit = try Data(contentsOf: URL(fileURLWithPath: dir + "/grand/grand_per_init.npy"))
        #expect(String(decoding: grandPerInit[10..<100], as: UTF8.self).contains("(2, 120)"))

        let evaluation = try run(["evaluate", "--scores", dir + "/dyn", "--json", dir + "/eval.json"])
        #expect(evaluation.stdout.contains("30 flipped of 120"))
        let figures = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/eval.json"))) as? [String: Any]
        let auroc = try #require((figures?["aum"] as? [String: Any])?["auroc"] as? Double)
        #expect(auroc > 0.5 && auroc <= 1)

        _ = try run(["prune", "--scores", dir + "/dyn", "--score", "el2n_final", "--keep-hardest", "0.5", "--window", "10",
                     "--out", dir + "/keep.txt"])
        let lines = try String(contentsOfFile: dir + "/keep.txt", encoding: .utf8).split(separator: "\n")
        let kept = lines.filter { !$0.hasPrefix("#") }
        #expect(kept.count == 60 && kept.map { Int($0)! } == kept.map { Int($0)! }.sorted())
        #expect(lines[0] == "# sieve prune: 60 of 120 examples kept by el2n_final keep-hardest 0.5 window 10", "\(lines[0])")
        // Coverage and random subsets are seeded; prune writes one selection only.
        let coverage = try run(["prune", "--scores", dir + "/dyn", "--score", "aum", "--coverage", "0.25", "--seed", "3", "--out", dir + "/cov.txt"])
        #expect(coverage.status == 0 && coverage.stdout.contains("kept 30 of 120 examples by aum (coverage 0.25 hard-cut 0.1 per class)"), "\(coverage.stdout)")
        let both = try Self.run(["prune", "--scores", dir + "/dyn", "--score", "aum", "--coverage", "0.25", "--keep-random", "0.5", "--out", dir + "/x.txt"])
        #expect(both.status == 2 && both.stderr.contains("give only one of --coverage, --keep-random"), "\(both.stderr)")
        let cut = try Self.run(["prune", "--scores", dir + "/dyn", "--score", "aum", "--coverage", "0.95", "--hard-cut", "0.1", "--out", dir + "/x.txt"])
        #expect(cut.status == 2 && cut.stderr.contains("lower --hard-cut"), "\(cut.stderr)")
        let sub = try run(["train", "--subset", dir + "/keep.txt", "--epochs", "1", "--out", dir + "/sub"] + common)
        #expect(sub.stdout.contains("test accuracy"))
        let stream = try Data(contentsOf: URL(fileURLWithPath: dir + "/sub/examples.npy"))
        #expect(stream.count == 256 + 60 * 29)   // only the subset is presented

        let curve = try run(["prune-curve", "--scores", dir + "/dyn", "--score", "aum", "--keep-hardest", "0.5", "--window", "5",
                             "--seeds", "1", "--epochs", "1", "--out", dir + "/curve"] + common)
        #expect(curve.stdout.contains("random"))
        let rows = try String(contentsOfFile: dir + "/curve/prune_curve.csv", encoding: .utf8).split(separator: "\n")
        #expect(rows.count == 3)
        // Two prune-curve runs drawn in one report figure.
        let second = try run(["prune-curve", "--scores", dir + "/dyn", "--score", "aum", "--coverage", "0.5",
                              "--seeds", "1", "--epochs", "1", "--out", dir + "/curve2"] + common)
        #expect(second.status == 0)
        let combined = try run(["report", dir + "/dyn", "--prune-curve", dir + "/curve", "--prune-curve", dir + "/curve2/prune_curve.csv",
                            "--output", dir + "/curves.html"])
        #expect(combined.status == 0, "\(combined.stderr)")
        let page = try String(contentsOfFile: dir + "/curves.html", encoding: .utf8)
        #expect(page.contains("aum keep-hardest 0.5 window 5") && page.contains("aum coverage 0.5 hard-cut 0.0 per class"))

        // Cleaning by what the user means: drop the 25% most suspicious by AUM (low AUM).
        let cleaned = try run(["prune", "--scores", dir + "/dyn", "--score", "aum", "--drop-suspicious", "0.25",
                               "--out", dir + "/clean.txt"])
        #expect(cleaned.stdout.contains("kept 90 of 120"))
        let cleanKept = Set(try String(contentsOfFile: dir + "/clean.txt", encoding: .utf8).split(separator: "\n").compactMap { Int(String($0)) })
        let flippedSet = Set(flipped.compactMap { Int(String($0)) })
        // Most kept examples are clean ones (a random 75% would keep 22 of the 30 flipped).
        #expect(cleanKept.intersection(flippedSet).count < 22, "kept \(cleanKept.intersection(flippedSet).count) flipped")
    }

    @Test(arguments: [
        (["train", "--model", "vgg"], "--model vgg"),
        (["train", "--data", "/nonexistent/sieve-data"], "/nonexistent/sieve-data"),
        (["train", "--epochs", "0"], "--epochs"),
        (["train", "--schedule", "linear"], "--schedule"),
        (["bench", "--input", "3x32"], "--input"),
        (["train", "--device", "tpu"], "--device tpu"),
    ])
    func badInputExitsWithTwoAndNamesTheProblem(_ arguments: [String], _ mention: String) throws {
        let r = try Self.run(arguments)
        #expect(r.status == 2, "stderr: \(r.stderr)")
        #expect(r.stderr.contains(mention), "stderr: \(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1)
    }

    @Test func noOpenCLPlatformIsOneLineNotACrash() throws {
        let empty = Self.tempDir()
        let r = try Self.run(["devices"], environment: ["OCL_ICD_VENDORS": empty])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stdout.contains("no OpenCL platform found"))
        #expect(r.stdout.hasPrefix("cpu:"))
    }

    @Test func devicesAndBench() throws {
        let d = try Self.run(["devices"])
        #expect(d.status == 0)
        #expect(d.stdout.hasPrefix("cpu:"))
        #expect(d.stdout.contains("opencl"))
        let b = try Self.run(["bench", "--model", "cnn", "--input", "1x12x12", "--batch", "8", "--steps", "1"])
        #expect(b.status == 0, "stderr: \(b.stderr)")
        let rows = b.stdout.split(separator: "\n").map(String.init)
        for pass in ["train step", "eval forward", "grand"] {
            #expect(rows.contains { $0.hasPrefix(pass + " ") && $0.hasSuffix(" MiB") }, "\(pass): \(b.stdout)")
        }
    }
}
