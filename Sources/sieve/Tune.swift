import ArgumentParser
import Kernels
import Metrics
import Trainer

/// `sieve tune`: sweeps the GEMM kernel's tiling constants on an OpenCL device over
/// ResNet-18's GEMM shapes and writes the fastest as the device's tuning entry.
struct Tune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find the fastest GEMM tiling for an OpenCL device and save it as the device's tuning entry.",
        discussion: """
        Times Sieve's GEMM kernel with each candidate tiling (work-group tile TSM x TSN x TSK, register tile WPTM x WPTN, within the device's work-group and local-memory limits) on the ResNet-18 layer shapes (each stage's convolution as the GEMM it is, n divided by --scale; the convolution kernels share the GEMM's tiles), keeps the candidate with the least total time, and writes an entry keyed by the device's vendor, type, name and driver into --out (the user tuning file every later run reads; default: SIEVE_TUNING, else ~/.config/sieve/opencl-tuning.json). `sieve bench --device opencl` then prints the entry it uses.

        Examples:
          sieve tune --device opencl
          sieve tune --device opencl:1 --budget 600 --out ./tuning.json
        """)

    @Option(help: "The OpenCL device: opencl or opencl:N.")
    var device: String = "opencl"

    @Option(help: "The tuning file to write (default: SIEVE_TUNING, else ~/.config/sieve/opencl-tuning.json).")
    var out: String?

    @Option(parsing: .unconditional, help: "Stop trying candidates after this many seconds (the best so far is kept).")
    var budget: Double = 300

    @Option(parsing: .unconditional, help: "Divide the shapes' n (batch x output pixels) by this (16 suits a CPU device; 1 a GPU).")
    var scale: Int = 16

    @Option(parsing: .unconditional, help: "Timed runs per shape.")
    var repeats: Int = 3

    /// ResNet-18 (width 64, CIFAR 32x32, batch 128) GEMMs: (m, n, k) of each stage's 3x3
    /// convolution as a GEMM (K x N*P*Q x C*R*R), and a square 1024^3.
    static let shapes: [(m: Int, n: Int, k: Int)] = [(64, 131_072, 576), (128, 32_768, 1152), (256, 8192, 2304),
                                                     (512, 2048, 4608), (1024, 1024, 1024)]

    /// Candidate tilings, the built-in default first.
    static let candidates: [(Int, Int, Int, Int, Int)] = [
        (64, 64, 16, 8, 8), (64, 64, 8, 8, 8), (64, 64, 32, 8, 8), (128, 64, 16, 8, 8), (64, 128, 16, 8, 8),
        (128, 128, 16, 8, 8), (128, 128, 8, 8, 8), (32, 64, 16, 4, 8), (64, 32, 16, 8, 4), (32, 32, 16, 4, 4),
        (64, 64, 16, 4, 4), (128, 64, 16, 8, 4), (64, 128, 16, 4, 8), (32, 128, 16, 4, 8), (128, 32, 16, 8, 4),
        (128, 128, 16, 16, 8), (128, 128, 16, 8, 16), (64, 64, 16, 8, 4), (64, 64, 16, 4, 8), (32, 32, 8, 4, 4),
        // larger register tiles (CPU devices vectorise across work-items; few, long work-items pay there)
        (128, 128, 8, 8, 16), (128, 128, 32, 8, 16), (128, 128, 16, 16, 16), (64, 128, 16, 4, 16), (64, 128, 16, 8, 16),
        (128, 256, 16, 8, 16), (256, 128, 16, 16, 8), (64, 256, 16, 8, 32), (128, 64, 16, 8, 16), (64, 64, 16, 8, 16),
    ]

    func run() throws {
        guard device == "opencl" || device.hasPrefix("opencl:") else { throw UsageError("--device \(device): sieve tune tunes an OpenCL device (opencl or opencl:N)") }
        guard budget > 0, scale >= 1, repeats >= 1 else { throw UsageError("--budget, --scale and --repeats must be positive") }
        try Devices.validate(device)
        let index = device == "opencl" ? 0 : Int(device.dropFirst(7))!
        let found = Devices.openCL()
        guard index < found.devices.count else {
            throw UsageError("--device \(device): \(found.devices.count) OpenCL devices found" + (found.problem.map { " (\($0))" } ?? ""))
        }
        let info = found.devices[index]
        let path = out ?? TuningDatabase.userFilePath ?? "opencl-tuning.json"
        try TuningDatabase.makeFolder(of: path)
        try OutputFile.checkWritable(path, option: "--out")
        _ = try TuningDatabase.load(userFile: path)   // refuse to add to a broken file before spending the time
        let shapes = Tune.shapes.map { ($0.m, max(64, $0.n / scale), $0.k) }
        let flops = shapes.reduce(0.0) { $0 + 2 * Double($1.0) * Double($1.1) * Double($1.2) }
        log("tuning \(info.name) (\(info.vendor), driver \(info.driver)): \(Tune.candidates.count) candidates x \(shapes.count) shapes, budget \(Int(budget)) s")
        let t0 = monotonicSeconds()
        var results: [(OpenCLTuning, Double)] = []
        for c in Tune.candidates {
            if !results.isEmpty, monotonicSeconds() - t0 > budget { log("budget reached after \(results.count) candidates"); break }
            let defaults = OpenCLTuning.forDevice(info)
            let t = OpenCLTuning(tileM: c.0, tileN: c.1, tileK: c.2, workM: c.3, workN: c.4, reduction: defaults.reduction)
            if let problem = t.problem(on: info) { log("  \(t): skipped (\(problem))"); continue }
            let seconds: Double
            do { seconds = try time(t, index: index, shapes: shapes) } catch {
                log("  \(t): failed (\(error))"); continue
            }
            results.append((t, seconds))
            log("  \(t): \(format(seconds * 1e3, 1)) ms, \(format(flops / seconds / 1e9, 1)) GFLOP/s")
        }
        guard let best = results.min(by: { $0.1 < $1.1 }) else { throw UsageError("no candidate ran on \(info.name)") }
        let baseline = results.first { $0.0 == OpenCLTuning.forDevice(info) }
        let note = "sieve tune \(Sieve.version): \(format(flops / best.1 / 1e9, 1)) GFLOP/s on ResNet-18 GEMMs (n/\(scale))"
            + (baseline.map { ", \(format($0.1 / best.1, 2))x the built-in default" } ?? "")
        let entry = TuningDatabase.Entry(vendor: info.vendor, type: info.type.rawValue, device: info.name, driver: info.driver,
                                         tuning: best.0, note: note, file: path)
        try TuningDatabase.save(entry, to: path)
        print("best: \(best.0): \(note)")
        print("wrote the entry for \(info.name) to \(path); `sieve bench --device \(device)` uses it")
    }

    /// Seconds for one pass over `shapes` (the mean of `repeats` after a warm-up) with
    /// the GEMM built from `t`.
    func time(_ t: OpenCLTuning, index: Int, shapes: [(Int, Int, Int)]) throws -> Double {
        let cl = try OpenCLDevice(index: index, tuning: { _ in (t, "candidate") })
        var total = 0.0
        for (m, n, k) in shapes {
            let a = cl.makeTensor([m, k]), b = cl.makeTensor([k, n]), c = cl.makeTensor([m, n])
            let run = { cl.gemm(transposeA: false, transposeB: false, m: m, n: n, k: k, alpha: 1, a: a, aOffset: 0, lda: k,
                                b: b, bOffset: 0, ldb: n, beta: 0, c: c, cOffset: 0, ldc: n) }
            run()
            cl.synchronize()
            let t0 = monotonicSeconds()
            for _ in 0..<repeats { run() }
            cl.synchronize()
            total += (monotonicSeconds() - t0) / Double(repeats)
        }
        return total
    }
}
