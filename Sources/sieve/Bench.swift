import ArgumentParser
import Kernels
import Trainer
import Metrics

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training-step and evaluation-forward throughput on random data.",
        discussion: """
        Prints examples/s; benchmarks/compare_pytorch_cpu.sh puts them beside PyTorch's in one run.

        Examples:
          sieve bench --model resnet18 --width 64 --batch 128 --input 3x32x32
          sieve bench --model cnn --input 1x28x28 --device opencl
        """)

    @OptionGroup var synthetic: SyntheticOptions

    @Option(parsing: .unconditional, help: "Timed steps (after one warm-up step).")
    var steps: Int = 5

    @Option(help: "Write the figures as JSON here.")
    var json: String?

    func run() throws {
        guard steps >= 1 else { throw UsageError("--steps must be at least 1") }
        if let json { try OutputFile.checkWritable(json, option: "--json") }
        let setup = try synthetic.make()
        let (net, device, n) = (setup.net, setup.device, setup.batch)
        let batch = setup.value
        let model = synthetic.model, input = synthetic.input, arch = net.architecture
        let hyper = SGDHyperparameters(learningRate: 0.01, momentum: 0.9, nesterov: true, weightDecay: 5e-4)

        let profile = (device as? OpenCLDevice)?.profile
        var profiles: [(String, JSON)] = []
        func time(_ phase: String, _ body: () -> Void) -> Double {
            body()                                   // warm-up: allocations, OpenBLAS threads
            device.synchronize()
            profile?.reset()
            let t0 = monotonicSeconds()
            for _ in 0..<steps { body() }
            device.synchronize()
            let rate = Double(steps * n) / (monotonicSeconds() - t0)
            if let p = reportProfile(device, title: "\(phase), \(steps) steps of batch \(n)", steps: steps) { profiles.append((phase, p)) }
            return rate
        }
        let train = time("train step") { net.trainStep(batch, hyper: hyper) }
        let forward = time("eval forward") { net.evaluate(batch) }
        let grand = time("grand") { net.perExampleGradNormsSquared(batch) }
        print("sieve \(arch.rawValue) width \(model.width) batch \(n) input \(input) on \(device.name)")
        if let cl = device as? OpenCLDevice { print("opencl tuning: \(cl.tuningDescription)") }
        if profile != nil { print("(--profile: queue profiling is on, which slows launches; compare rates without it)") }
        print("train step:   \(format(train, 1)) examples/s")
        print("eval forward: \(format(forward, 1)) examples/s   (EL2N)")
        print("grand:        \(format(grand, 1)) examples/s   (per-example gradient norms, \(format(grand / train, 2))x the train step)")
        if let json {
            let j = JSON.object([("model", .string(arch.rawValue)), ("width", .int(model.width)), ("batch", .int(n)),
                                 ("input", .string(input)), ("device", .string(device.name)),
                                 ("train_step_examples_per_second", .double(train)),
                                 ("eval_forward_examples_per_second", .double(forward)),
                                 ("grand_examples_per_second", .double(grand))]
                                + (profiles.isEmpty ? [] : [("profile", JSON.object(profiles))]))
            try Metrics.OutputFile.write(j.rendered + "\n", to: json)
        }
    }
}
