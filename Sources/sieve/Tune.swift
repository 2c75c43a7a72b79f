import ArgumentParser
import Storage
import Kernels
import Metrics
import Trainer

#if canImport(Glibc)
import Glibc
#endif

/// `sieve tune`: sweeps the GEMM kernel's tiling constants on an OpenCL device over
/// ResNet-18's GEMM shapes and writes the fastest as the device's tuning entry.
struct Tune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find the fastest GEMM for the CPU (OpenBLAS's kernel set) or an OpenCL device (tiling) and save it.",
        discussion: """
        --device cpu: OpenBLAS picks its kernels from the CPU's model when it loads, and on some CPUs another kernel set they run is faster (or OpenBLAS does not know the CPU at all). Runs cblas_sgemm on the ResNet-18 shapes once with OpenBLAS's own choice and once with each kernel set the CPU's flags allow (OPENBLAS_CORETYPE, a fresh process each), and writes the fastest for this CPU model into SIEVE_OPENBLAS_CORE_FILE, else ~/.config/sieve/openblas-core.tsv; every later sieve run on a CPU of that model uses it (unless OPENBLAS_CORETYPE is set).

        OpenCL: times Sieve's GEMM kernel with each candidate tiling (work-group tile TSM x TSN x TSK, register tile WPTM x WPTN, within the device's work-group and local-memory limits) on the ResNet-18 layer shapes (each stage's convolution as the GEMM it is, n divided by --scale; the convolution kernels share the GEMM's tiles), keeps the candidate with the least total time, and writes an entry keyed by the device's vendor, type, name and driver into --out (the user tuning file every later run reads; default: SIEVE_TUNING, else ~/.config/sieve/opencl-tuning.json). `sieve bench --device opencl` then prints the entry it uses.

        Examples:
          sieve tune --device cpu
          sieve tune --device opencl
          sieve tune --device opencl:1 --budget 600 --out ./tuning.json
        """)

    @Option(help: "cpu (OpenBLAS's kernel set), or the OpenCL device: opencl or opencl:N.")
    var device: String = "opencl"

    @Option(help: "The tuning file to write (default: SIEVE_TUNING, else ~/.config/sieve/opencl-tuning.json).")
    var out: String?

    @Option(parsing: .unconditional, help: "Stop trying candidates after this many seconds (the best so far is kept).")
    var budget: Double = 300

    @Option(parsing: .unconditional, help: "Divide the shapes' n (batch x output pixels) by this (default: 16 for an OpenCL device, which suits a CPU device, use 1 on a GPU; 2 for --device cpu).")
    var scale: Int?

    @Option(parsing: .unconditional, help: "--device cpu: measure every kernel set this many times, in turns (the best time of each counts).")
    var rounds: Int = 3

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

    @Flag(help: .hidden)
    var cpuProbe: Bool = false

    func run() throws {
        if cpuProbe { probeCPU(); return }
        if device == "cpu" { try tuneCPU(); return }
        guard device == "opencl" || device.hasPrefix("opencl:") else {
            throw UsageError("--device \(device): sieve tune tunes the CPU's BLAS kernels (cpu) or an OpenCL device (opencl or opencl:N)")
        }
        let scale = self.scale ?? 16
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

    /// Times `cblas_sgemm` on ``shapes`` (n / `scale`, best of `repeats` after a warm-up)
    /// with the kernels this process loaded; prints `CORE SECONDS GFLOPS`.
    func probeCPU() {
        let scale = self.scale ?? 2
        let shapes = Tune.shapes.map { ($0.m, max(64, $0.n / scale), $0.k) }
        var total = 0.0, flops = 0.0
        for (m, n, k) in shapes {
            total += OpenBLASCore.sgemmSeconds(m: m, n: n, k: k, repeats: repeats)
            flops += 2 * Double(m) * Double(n) * Double(k)
        }
        print("\(OpenBLASCore.current) \(total) \(flops / total / 1e9)")
    }

    /// Measures OpenBLAS's own choice and every kernel set the CPU runs, each in a fresh
    /// process, and records the fastest for this CPU model.
    func tuneCPU() throws {
        let scale = self.scale ?? 2
        guard scale >= 1, repeats >= 1, rounds >= 1 else { throw UsageError("--scale, --repeats and --rounds must be positive") }
        guard let model = OpenBLASCore.cpuModelName else { throw UsageError("sieve tune --device cpu: /proc/cpuinfo names no CPU model") }
        let path = out ?? OpenBLASCore.userChoicesPath ?? "openblas-core.tsv"
        try TuningDatabase.makeFolder(of: path)
        try OutputFile.checkWritable(path, option: "--out", replacing: .kernelChoices)
        let candidates: [String?] = [nil] + OpenBLASCore.candidatesForThisCPU()
        log("measuring cblas_sgemm on \(model): OpenBLAS's own choice and \(candidates.count - 1) kernel sets, \(Tune.shapes.count) "
            + "ResNet-18 shapes (n/\(scale)), \(rounds) rounds in turns")
        // In turns, so a warming or throttling CPU does not favour whoever runs first; each candidate's best round counts.
        var best: [Int: (core: String, seconds: Double, gflops: Double)] = [:]
        for round in 0..<rounds {
            for (k, candidate) in candidates.enumerated() {
                guard let line = try probe(core: candidate, scale: scale) else {
                    if round == 0 { log("  \(candidate ?? "own choice"): did not run") }
                    continue
                }
                let fields = line.split(separator: " ")
                guard fields.count == 3, let seconds = Double(fields[1]), let gflops = Double(fields[2]) else { continue }
                let loaded = String(fields[0])
                if let candidate, loaded.lowercased() != candidate.lowercased() {
                    if round == 0 { log("  \(candidate): OpenBLAS loaded \(loaded) instead; skipped") }
                    continue
                }
                if seconds < best[k]?.seconds ?? .infinity { best[k] = (loaded, seconds, gflops) }
            }
        }
        for (k, candidate) in candidates.enumerated() {
            guard let b = best[k] else { continue }
            log("  \(candidate ?? "own choice (\(b.core))"): \(format(b.seconds * 1e3, 1)) ms, \(format(b.gflops, 1)) GFLOP/s")
        }
        let own = best[0].map { (core: $0.core, seconds: $0.seconds) }
        // A CPU whose flags allow no other kernel set keeps OpenBLAS's own choice.
        let results = candidates.count > 1 ? candidates.indices.dropFirst().compactMap { best[$0] } : best[0].map { [$0] } ?? []
        guard let best = results.min(by: { $0.seconds < $1.seconds }) else { throw UsageError("no kernel set ran on \(model)") }
        let note = "sieve tune \(Sieve.version): \(format(best.gflops, 1)) GFLOP/s on ResNet-18 GEMMs (n/\(scale))"
            + (own.map { ", \(format($0.seconds / best.seconds, 3))x OpenBLAS's own choice \($0.core)" } ?? "")
        var lines = OpenBLASCore.readChoices(path).filter { $0.model != model }
        lines.append(OpenBLASCore.MeasuredChoice(model: model, core: best.core, note: note))
        try OutputFile.write(OpenBLASCore.choicesText(lines), to: path)
        print("best: \(best.core): \(note)")
        print("wrote it for \(model) to \(path); later sieve runs on this CPU load \(best.core) (unless OPENBLAS_CORETYPE is set)")
    }

    /// Runs `sieve tune --cpu-probe` in a fresh process with `OPENBLAS_CORETYPE` = `core`
    /// (unset: OpenBLAS's own choice); its one line of output, or nil when it failed.
    func probe(core: String?, scale: Int) throws -> String? {
        var env: [String] = []
        var i = 0
        while let entry = environ[i] {
            let text = String(cString: entry)
            if !text.hasPrefix("OPENBLAS_CORETYPE=") && !text.hasPrefix("SIEVE_NO_RELAUNCH=") && !text.hasPrefix("SIEVE_OPENBLAS_CORE_FILE=") {
                env.append(text)
            }
            i += 1
        }
        env.append("SIEVE_NO_RELAUNCH=1")
        env.append("SIEVE_OPENBLAS_CORE_FILE=/nonexistent")   // the probe measures, it never follows a recorded choice
        if let core { env.append("OPENBLAS_CORETYPE=" + core) }
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return nil }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        let words: [String] = ["/proc/self/exe", "tune", "--cpu-probe", "--scale", String(scale), "--repeats", String(repeats)]
        let argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid = pid_t()
        let rc = posix_spawn(&pid, "/proc/self/exe", &actions, nil, argv, envp)
        close(fds[1])
        defer { close(fds[0]) }
        guard rc == 0 else { return nil }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let got = read(fds[0], &buffer, buffer.count)
            if got > 0 { output += buffer[0..<got] } else if got < 0 && errno == EINTR { continue } else { break }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        guard status == 0 else { return nil }
        return String(decoding: output, as: UTF8.self).split(separator: "\n").last.map(String.init)
    }
}

extension OutputFile.Kind {
    /// `sieve tune --device cpu`'s file of measured kernel sets (``OpenBLASCore/choicesText(_:)``):
    /// small, every line `MODEL<TAB>CORE[<TAB>NOTE]`. The run rewrites it keeping the other
    /// models' lines, so any other file would lose what it held.
    static let kernelChoices = OutputFile.Kind(name: "a file of measured kernel sets (MODEL<TAB>CORE<TAB>NOTE lines)") { head, size in
        size <= head.count && String(decoding: head, as: UTF8.self).split(separator: "\n").allSatisfy { line in
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            return fields.count >= 2 && !fields[0].isEmpty && !fields[1].isEmpty
        }
    }
}
