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

        func time(_ body: () -> Void) -> Double {
            body()                                   // warm-up: allocations, OpenBLAS threads
            device.synchronize()
            let t0 = monotonicSeconds()
            for _ in 0..<steps { body() }
            device.synchronize()
            return Double(steps * n) / (monotonicSeconds() - t0)
        }
        let train = time { net.trainStep(batch, hyper: hyper) }
        let forward = time { net.evaluate(batch) }
        let grand = time { net.perExampleGradNormsSquared(batch) }
        print("sieve \(arch.rawValue) width \(model.width) batch \(n) input \(input) on \(device.name)")
        print("train step:   \(format(train, 1)) examples/s")
        print("eval forward: \(format(forward, 1)) examples/s   (EL2N)")
        print("grand:        \(format(grand, 1)) examples/s   (per-example gradient norms, \(format(grand / train, 2))x the train step)")
        if let json {
            let j = JSON.object([("model", .string(arch.rawValue)), ("width", .int(model.width)), ("batch", .int(n)),
                                 ("input", .string(input)), ("device", .string(device.name)),
                                 ("train_step_examples_per_second", .double(train)),
                                 ("eval_forward_examples_per_second", .double(forward)),
                                 ("grand_examples_per_second", .double(grand))])
            try Metrics.OutputFile.write(j.rendered + "\n", to: json)
        }
    }
}
