import ArgumentParser
import Storage
import Kernels
import Metrics
import Trainer

struct CrossCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cross-check",
        abstract: "Export a model, a batch and Sieve's per-example scores for comparison with PyTorch.",
        discussion: """
        Writes DIR/model.safetensors (PyTorch parameter and buffer names, NCHW/OIHW layouts), DIR/batch.safetensors (images NCHW, labels) and DIR/sieve.safetensors (per-example gradient norms, EL2N, loss). benchmarks/crosscheck_pytorch.py DIR loads them into the same architecture in PyTorch and prints the largest relative differences.
        """)

    @OptionGroup var synthetic: SyntheticOptions

    @Option(parsing: .unconditional, help: "Training-mode steps on random data before exporting (non-trivial weights and BN statistics).")
    var steps: Int = 3

    @Option(help: "Output directory.")
    var out: String = "cross-check"

    @Flag(help: "Replace --out whole if it already holds files.")
    var force: Bool = false

    func run() throws {
        guard steps >= 0 else { throw UsageError("--steps must not be negative") }
        let setup = try synthetic.make()
        let run = try RunDirectory(out, force: force)
        let files = setup.crossCheckExport(steps: steps)
        try files.model.write(to: run.path("model.safetensors"))
        try files.batch.write(to: run.path("batch.safetensors"))
        try files.scores.write(to: run.path("sieve.safetensors"))
        try run.commit()
        print("wrote \(out)/model.safetensors, batch.safetensors, sieve.safetensors "
              + "(\(setup.net.architecture.rawValue) width \(setup.net.width), batch \(setup.batch))")
    }
}
