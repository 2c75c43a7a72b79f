import Foundation
import Testing

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

    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        let p = Process()
        if !environment.isEmpty {
            p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    /// Writes a small IDX data set: class k = bright band k.
    static func makeIDX(_ dir: String, train: Int, test: Int) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        func write(_ name: String, _ count: Int, _ seed: Int) throws {
            var rng = UInt64(seed) &* 6364136223846793005 &+ 1442695040888963407
            var images = Data([0, 0, 8, 3] + be(count) + be(8) + be(8))
            var labels = Data([0, 0, 8, 1] + be(count))
            for _ in 0..<count {
                rng = rng &* 6364136223846793005 &+ 1442695040888963407
                let k = Int(rng >> 33) % 4
                labels.append(UInt8(k))
                for h in 0..<8 { for _ in 0..<8 { images.append(h / 2 == k ? 200 : 20) } }
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
        #expect(FileManager.default.fileExists(atPath: dir + "/out/run.json"))
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
        #expect(b.stdout.contains("train step:"))
    }
}
