import ArgumentParser
import Storage
import Foundation
import Kernels
import Trainer
import Metrics

extension ConvolutionAlgorithm: ExpressibleByArgument {}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure throughput: training step, eval forward and GraNd pass, and each convolution op.",
        discussion: """
        Every pass is warmed up once, then timed --repeats times over --steps batches: the table gives the median \
        examples/s with the slowest and fastest round, the pass's nominal GFLOP/s (direct-convolution FLOPs: a \
        training step counts 3 forwards, a GraNd pass 2, whatever the algorithm does) as a share of the machine's \
        cblas_sgemm rate measured in the same run, and the peak resident memory during the pass. --ops adds every \
        convolution shape of the model: forward, backward-data, backward-weight and per-example gradient norms. \
        benchmarks/compare_pytorch_cpu.sh puts the passes beside PyTorch's in one run.

        Examples:
          sieve bench --model resnet18 --width 64 --batch 128 --input 3x32x32
          sieve bench --suite --input 1x28x28 --json bench.json
          sieve bench --width 64 --ops --conv im2col
          sieve bench --model cnn --input 1x28x28 --device opencl
          sieve bench --knn 60000x128        (the audit's exact kNN of N x d embeddings, alone)
        """)

    @OptionGroup var synthetic: SyntheticOptions

    @Option(parsing: .unconditional, help: "Batches per timed round (after one warm-up batch).")
    var steps: Int = 3

    @Option(parsing: .unconditional, help: "Timed rounds per pass; the table gives their median and range.")
    var repeats: Int = 3

    @Flag(help: "Run mlp, cnn and resnet18 at widths 16 and 64 (ignores --model and --width).")
    var suite = false

    @Flag(help: "Also time every convolution shape of the model (forward, backward-data, backward-weight, norms); with --suite, ResNet-18 width 64's.")
    var ops = false

    @Option(help: "CPU algorithm for 3x3 stride-1 convolutions: automatic, im2col or winograd.")
    var conv: ConvolutionAlgorithm = .automatic

    @Flag(name: .customLong("no-c-kernels"),
          help: "CPU: run the F(4x4) Winograd layers on the Swift transforms and sgemm alone, where the AVX2 kernels would run (to compare the two).")
    var noCKernels = false

    @Option(name: .customLong("pass"),
            help: "Time only this pass: train, eval or grand (repeat for several; default: all three). For profiling one pass.")
    var only: [BenchPass] = []

    @Option(help: "Time only the audit's exact 10-nearest-neighbour search (cosine, GEMM blocks) of NxD random embeddings, e.g. 60000x128, --repeats times.")
    var knn: String?

    @Option(help: "Write the figures as JSON here.")
    var json: String?

    func run() throws {
        guard steps >= 1 else { throw UsageError("--steps must be at least 1") }
        guard repeats >= 1 else { throw UsageError("--repeats must be at least 1") }
        if let json { try OutputFile.checkWritable(json, option: "--json", replacing: .jsonSummary) }
        if let knn { return try measureNeighbours(knn) }
        let first = try synthetic.make()
        let device = first.device
        if let cpu = device as? CPUDevice {
            cpu.convolutionAlgorithm = conv
            if noCKernels { cpu.winogradCKernels = false }
        } else if conv != .automatic || noCKernels {
            throw UsageError("--conv and --no-c-kernels choose the CPU's convolution algorithm; \(device.name) is not the CPU")
        }
        let sgemm = (device as? CPUDevice).map { $0.sgemmRate() }
        print("sieve bench on \(device.name), batch \(first.batch), input \(synthetic.input)")
        if let cl = device as? OpenCLDevice { print("opencl tuning: \(cl.tuningDescription)") }
        if let cpu = device as? CPUDevice {
            print("3x3 stride-1 convolutions: \(conv.summary)")
            print("F(4x4) layers: " + (cpu.winogradCKernels
                ? "AVX2 + FMA input transform; products fused with the output transform at <= \(CPUDevice.fusedWinogradMaximumChannels) channels"
                : CPUDevice.winogradCKernelsAvailable ? "Swift transforms and sgemm (--no-c-kernels)"
                : "Swift transforms and sgemm (this CPU has no AVX2 + FMA)"))
        }
        if let sgemm { print("cblas_sgemm 2048^3 on all workers: \(format(sgemm, 1)) GFLOP/s") }
        if device is OpenCLDevice, synthetic.model.profile {
            print("(--profile: queue profiling is on, which slows launches; compare rates without it)")
        }

        let models: [(Architecture, Int)] = suite
            ? [(.mlp, 16), (.cnn, 16), (.resnet18, 16), (.resnet18, 64)]
            : [(first.net.architecture, first.net.width)]
        var results: [JSON] = []
        var primary: [PassFigures] = []
        var opRows: [JSON] = []
        for (index, (arch, width)) in models.enumerated() {
            let setup = index == 0 && !suite ? first
                : try SyntheticBatch(architecture: arch, input: first.shape, classes: synthetic.classes, width: width,
                                     batch: first.batch, device: device, seed: synthetic.seed)
            let forward = Double(setup.net.forwardMACsPerExample) * 2e-9   // GFLOP per example
            let passes = measurePasses(setup, forwardGFLOP: forward, sgemm: sgemm, only: Set(only))
            try device.checkFailure()   // rates of a device that refused its work are no rates
            print("\n\(arch.rawValue)\(arch == .resnet18 ? " width \(width)" : ""): \(format(forward, 3)) GFLOP per example forward")
            printTable(passes)
            if let cl = device as? OpenCLDevice {   // the estimate the model is checked with, against what it used
                print("device memory: peak \(MemoryCapacity.text(cl.cl.memoryUse.peakBytes)) of buffers, estimated "
                      + "\(MemoryCapacity.text(setup.net.plannedBytes + cl.memoryCapacity.reservedBytes)) before the model was built "
                      + "(the device has \(MemoryCapacity.text(cl.memoryCapacity.totalBytes)))")
                cl.cl.memoryUse.resetPeak()
            }
            if index == 0 || (suite && arch == .resnet18 && width == 64) { primary = passes }
            results.append(.object([("model", .string(arch.rawValue)), ("width", .int(width)),
                                    ("forward_gflop_per_example", .double(forward)),
                                    ("passes", .array(passes.map(\.json)))]))
            // --ops: the model's convolutions; in the suite, ResNet-18 width 64's
            if ops && (!suite || (arch == .resnet18 && width == 64)) {
                let shapes = setup.net.convolutions
                if shapes.isEmpty { print("\n(--ops: \(arch.rawValue) has no convolutions)") }
                else { opRows = measureOps(shapes, device: device, sgemm: sgemm) }
                try device.checkFailure()
            }
        }
        if let json {
            func rate(_ pass: BenchPass) -> JSON { primary.first { $0.name == pass.title }.map { .double($0.median) } ?? .null }
            var fields: [(String, JSON)] = [
                ("model", .string(suite ? "resnet18" : first.net.architecture.rawValue)),
                ("width", .int(suite ? 64 : first.net.width)), ("batch", .int(first.batch)),
                ("input", .string(synthetic.input)), ("device", .string(device.name)),
                ("convolution", .string(conv.rawValue)), ("steps", .int(steps)), ("repeats", .int(repeats)),
                ("train_step_examples_per_second", rate(.train)),
                ("eval_forward_examples_per_second", rate(.eval)),
                ("grand_examples_per_second", rate(.grand)),
                ("models", .array(results)),
            ]
            if let sgemm { fields.append(("sgemm_gflops", .double(sgemm))) }
            if !opRows.isEmpty { fields.append(("ops", .array(opRows))) }
            let profiles = primary.compactMap { p in p.profile.map { (p.name, $0) } }
            if !profiles.isEmpty { fields.append(("profile", .object(profiles))) }
            try Storage.OutputFile.writeSummary(JSON.object(fields), to: json)
        }
    }

    // MARK: Nearest neighbours

    /// `--knn NxD`: the audit's kNN (``Neighbours``, k = 10) of `N x D` seeded Gaussian
    /// embeddings around 10 class means (the search's cost does not depend on the values),
    /// once to warm up, then timed `--repeats` times.
    func measureNeighbours(_ shape: String) throws {
        let dims = shape.split(separator: "x").compactMap { Int($0) }
        guard dims.count == 2, dims[0] >= 2, dims[1] >= 1, dims[0] <= 1_000_000 else {
            throw UsageError("--knn \(shape) is not NxD with 2 <= N <= 1000000 and D >= 1, e.g. 60000x128")
        }
        let (n, d) = (dims[0], dims[1])
        let device = try synthetic.model.makeDevice()
        var rng = SplitMix64(seed: synthetic.seed)
        func gaussian() -> Float {   // Box-Muller
            let u = max(Double(rng.next() >> 11) / Double(1 << 53), 1e-300), v = Double(rng.next() >> 11) / Double(1 << 53)
            return Float((-2 * log(u)).squareRoot() * cos(2 * Double.pi * v))
        }
        let means = (0..<(10 * d)).map { _ in gaussian() }
        var e = [Float](repeating: 0, count: n * d)
        for i in 0..<n { for j in 0..<d { e[i * d + j] = means[(i % 10) * d + j] + 0.5 * gaussian() } }
        print("sieve bench: exact 10-nearest neighbours of \(n) x \(d) embeddings (cosine, blocks of 512 queries) on \(device.name)")
        let warm = min(n, 2048)
        _ = try Neighbours(embeddings: Array(e.prefix(warm * d)), count: warm, dimensions: d, k: 10, device: device)   // warm-up
        var seconds: [Double] = []
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try Neighbours(embeddings: e, count: n, dimensions: d, k: 10, device: device)
            seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
        }
        let sorted = seconds.sorted(), median = sorted[sorted.count / 2]
        let gflops = 2 * Double(n) * Double(n) * Double(d) * 1e-9 / median
        print("knn: median \(format(median, 3)) s (\(format(sorted.first!, 3)) to \(format(sorted.last!, 3))) over \(repeats) rounds, "
              + "Gram matrix at \(format(gflops, 1)) GFLOP/s")
        if let json {
            try OutputFile.writeSummary(JSON.object([("knn_examples", .int(n)), ("knn_dimensions", .int(d)), ("device", .string(device.name)),
                                                     ("repeats", .int(repeats)), ("knn_seconds_median", .double(median)),
                                                     ("knn_seconds", .array(seconds.map { .double($0) }))]), to: json)
        }
    }

    // MARK: Model passes

    /// One pass's timed rounds.
    struct PassFigures {
        let name: String
        let rates: [Double]             // examples/s per round
        let gflopPerExample: Double     // nominal
        let sgemm: Double?
        let peakResidentBytes: Int?
        /// The OpenCL kernel profile of the timed rounds (`--profile`).
        let profile: JSON?

        var median: Double { rates.sorted()[rates.count / 2] }
        var gflops: Double { median * gflopPerExample }
        var shareOfSgemm: Double? { sgemm.map { gflops / $0 } }

        var json: JSON {
            var f: [(String, JSON)] = [("pass", .string(name)), ("examples_per_second", .double(median)),
                                       ("rounds", .array(rates.map { .double($0) })), ("gflops", .double(gflops))]
            if let s = shareOfSgemm { f.append(("share_of_sgemm", .double(s))) }
            if let p = peakResidentBytes { f.append(("peak_resident_bytes", .int(p))) }
            if let profile { f.append(("profile", profile)) }
            return .object(f)
        }
    }

    /// Seconds per call of `body` in each of `repeats` rounds of `steps` calls, after one warm-up call.
    func rounds(_ device: Device, beforeTiming: () -> Void = {}, _ body: () -> Void) -> [Double] {
        body()                                       // warm-up: allocations, caches
        device.synchronize()
        beforeTiming()
        return (0..<repeats).map { _ in
            let t0 = monotonicSeconds()
            for _ in 0..<steps { body() }
            device.synchronize()
            return (monotonicSeconds() - t0) / Double(steps)
        }
    }

    func measurePasses(_ setup: SyntheticBatch, forwardGFLOP forward: Double, sgemm: Double?,
                       only: Set<BenchPass> = []) -> [PassFigures] {
        let net = setup.net, device = setup.device, n = setup.batch, batch = setup.value
        let hyper = SGDHyperparameters(learningRate: 0.01, momentum: 0.9, nesterov: true, weightDecay: 5e-4)
        let profile = (device as? OpenCLDevice)?.profile
        func time(_ pass: BenchPass, nominal: Double, _ body: () -> Void) -> PassFigures? {
            guard only.isEmpty || only.contains(pass) else { return nil }
            let name = pass.title
            PeakMemory.reset()
            let seconds = rounds(device, beforeTiming: { profile?.reset() }, body)
            let profile = reportProfile(device, title: "\(name), \(repeats * steps) batches of \(n)", steps: repeats * steps)
            return PassFigures(name: name, rates: seconds.map { Double(n) / $0 }, gflopPerExample: nominal * forward,
                               sgemm: sgemm, peakResidentBytes: PeakMemory.residentBytes(), profile: profile)
        }
        return [
            time(.train, nominal: 3) { net.trainStep(batch, hyper: hyper) },
            time(.eval, nominal: 1) { net.evaluate(batch) },
            time(.grand, nominal: 2) { net.perExampleGradNormsSquared(batch) },
        ].compactMap { $0 }
    }

    func printTable(_ passes: [PassFigures]) {
        print(pad("pass", 14) + pad("examples/s", 12, right: true) + pad("range", 22, right: true)
              + pad("GFLOP/s", 9, right: true) + pad("of sgemm", 10, right: true) + pad("peak RSS", 11, right: true))
        for p in passes {
            let range = "\(format(p.rates.min()!, 1))-\(format(p.rates.max()!, 1))"
            print(pad(p.name, 14) + pad(format(p.median, 1), 12, right: true) + pad(range, 22, right: true)
                  + pad(format(p.gflops, 1), 9, right: true)
                  + pad(p.shareOfSgemm.map { format($0 * 100, 0) + "%" } ?? "-", 10, right: true)
                  + pad(p.peakResidentBytes.map { format(Double($0) / 1048576, 0) + " MiB" } ?? "-", 11, right: true))
        }
    }

    // MARK: Op level

    /// Times each distinct convolution shape's four ops (median of `repeats` rounds of
    /// `steps` calls after a warm-up); prints and returns one JSON row per (shape, op).
    func measureOps(_ shapes: [Conv2DGeometry], device: Device, sgemm: Double?) -> [JSON] {
        var distinct: [Conv2DGeometry] = [], count: [String: Int] = [:]   // first-seen order; layers per shape
        for g in shapes {
            if count[g.description] == nil { distinct.append(g) }
            count[g.description, default: 0] += 1
        }
        print("\nconvolutions (nominal GFLOP/s = 2 * direct multiply-adds / time; Winograd does fewer)")
        print(pad("shape", 46) + pad("x", 3, right: true) + pad("op", 16, right: true) + pad("algorithm", 11, right: true)
              + pad("ms", 9, right: true) + pad("GFLOP/s", 9, right: true) + pad("of sgemm", 10, right: true))
        var rows: [JSON] = []
        var random = SeededRandom(seed: synthetic.seed, purpose: "bench ops")
        for g in distinct {
            func tensor(_ shape: [Int]) -> Tensor {
                let t = device.makeTensor(shape)
                let values = (0..<shape.reduce(1, *)).map { _ in random.uniform() * 2 - 1 }
                values.withUnsafeBufferPointer { device.upload($0, to: t) }
                return t
            }
            let x = tensor(g.inputShape), w = tensor(g.weightShape), dy = tensor(g.outputShape)
            let y = device.makeTensor(g.outputShape), dx = device.makeTensor(g.inputShape)
            let dw = device.makeTensor(g.weightShape), norms = device.makeTensor([g.batch])
            let cpu = device as? CPUDevice
            let weightAlgorithm = cpu.map { $0.usesWinograd(g) ? "winograd" : g.isPointwise ? "gemm" : "im2col" } ?? "opencl"
            let dataAlgorithm = cpu.map { $0.usesLargeWinogradTiles(g) ? "winograd4" : weightAlgorithm } ?? "opencl"
            let normAlgorithm = cpu.map { $0.normMethod(for: g).rawValue } ?? "opencl"
            let opsOfShape: [(String, String, () -> Void)] = [
                ("forward", dataAlgorithm, { device.conv2dForward(input: x, weight: w, output: y, geometry: g) }),
                ("backward-data", dataAlgorithm, { device.conv2dBackwardData(gradOutput: dy, weight: w, gradInput: dx, geometry: g) }),
                ("backward-weight", weightAlgorithm,
                 { device.conv2dBackwardWeight(input: x, gradOutput: dy, gradWeight: dw, geometry: g) }),
                ("norms", normAlgorithm, {
                    device.fill(norms, with: 0)
                    device.conv2dPerExampleGradNormsSquared(input: x, gradOutput: dy, geometry: g, squaredNorms: norms)
                }),
            ]
            let layers = count[g.description]!
            for (op, algorithm, body) in opsOfShape {
                let seconds = rounds(device, body).sorted()[repeats / 2]
                let gflops = 2 * Double(g.macs) / seconds / 1e9
                print(pad(g.description, 46) + pad("\(layers)", 3, right: true) + pad(op, 16, right: true)
                      + pad(algorithm, 11, right: true) + pad(format(seconds * 1e3, 2), 9, right: true)
                      + pad(format(gflops, 1), 9, right: true)
                      + pad(sgemm.map { format(gflops / $0 * 100, 0) + "%" } ?? "-", 10, right: true))
                var f: [(String, JSON)] = [("shape", .string(g.description)), ("count", .int(layers)), ("op", .string(op)),
                                           ("algorithm", .string(algorithm)), ("seconds", .double(seconds)),
                                           ("gflops", .double(gflops))]
                if let sgemm { f.append(("share_of_sgemm", .double(gflops / sgemm))) }
                rows.append(.object(f))
            }
        }
        return rows
    }

    private func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, width - s.count))
        return right ? fill + s : s + fill
    }
}

extension ConvolutionAlgorithm {
    var summary: String {
        switch self {
        case .automatic: "Winograd where both sides have >= \(CPUDevice.winogradMinimumChannels) channels (forward and backward data F(4x4,3x3), weight gradient F(2x2,3x3)), else im2col"
        case .im2col: "im2col + sgemm"
        case .winograd: "Winograd F(2x2,3x3)"
        case .winograd4: "Winograd: forward and backward data F(4x4,3x3), weight gradient F(2x2,3x3)"
        }
    }
}

/// The process's peak resident memory (Linux: VmHWM, reset through /proc/self/clear_refs).
enum PeakMemory {
    /// Starts a new peak at the current resident size (no effect where the kernel refuses).
    static func reset() {
        guard let f = fopen("/proc/self/clear_refs", "w") else { return }
        fputs("5", f)
        fclose(f)
    }

    /// Peak resident bytes since the last ``reset()``, nil where /proc is not there.
    static func residentBytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let digits = line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
            return digits.map { $0 * 1024 }
        }
        return nil
    }
}

/// A pass `sieve bench` times (`--pass`).
enum BenchPass: String, CaseIterable, ExpressibleByArgument {
    case train, eval, grand

    /// The row's name in the table and the JSON.
    var title: String {
        switch self {
        case .train: return "train step"
        case .eval: return "eval forward"
        case .grand: return "grand"
        }
    }
}
