import ArgumentParser
import Kernels
import Metrics
import Trainer

#if canImport(Glibc)
import Glibc
#endif


struct Sieve: ParsableCommand {
    static let version = "0.1.0"
    static let configuration = CommandConfiguration(
        commandName: "sieve",
        abstract: "Train image classifiers and score every training example.",
        version: version,
        subcommands: [Train.self, ScoreCommand.self, Evaluate.self, Prune.self, PruneCurve.self, Bench.self, CrossCheck.self, DevicesCommand.self])
}

/// Writes one line to standard error.
func log(_ message: String) {
    fputs(message + "\n", stderr)
}

/// Prints `error: message` and exits with 2 (bad input or usage), per the CLI conventions.
func badInput(_ message: String) -> ExitCode {
    log("error: \(message)")
    return ExitCode(2)
}

/// Runs `body`, mapping the library's input errors to exit code 2 and anything else to 1.
func reportingErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let e as DataError {
        throw badInput(e.description)
    } catch let e as TrainerError {
        throw badInput(e.description)
    } catch let e as ExitCode {
        throw e
    } catch let e as MetricsError {
        log("error: \(e.description)")
        throw ExitCode(1)
    }
}

/// Options shared by commands that build a model.
struct ModelOptions: ParsableArguments {
    @Option(help: "Architecture: mlp, cnn or resnet18.")
    var model: String = "resnet18"

    @Option(help: "ResNet-18 base width (64 is the standard network).")
    var width: Int = 16

    @Option(help: "Mini-batch size.")
    var batch: Int = 128

    @Option(help: "Compute device: cpu, opencl or opencl:N (default: SIEVE_DEVICE, else the first GPU, else cpu).")
    var device: String?

    func architecture() throws -> Architecture {
        guard let a = Architecture(rawValue: model) else {
            throw badInput("--model \(model) is unknown; choose one of \(Architecture.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard width >= 1 else { throw badInput("--width must be at least 1") }
        guard batch >= 2 else { throw badInput("--batch must be at least 2") }
        return a
    }

    var deviceSpec: String? { device ?? getenv("SIEVE_DEVICE").map { String(cString: $0) } }

    /// Checks `--device` without creating the device.
    func checkDevice() throws {
        do { try Devices.validate(deviceSpec) } catch let e as DeviceError { throw badInput(e.description) }
    }

    func makeDevice() throws -> Device {
        let spec = deviceSpec
        do {
            return try Devices.make(spec) { log("note: " + $0) }
        } catch let e as DeviceError {
            throw badInput(e.description)
        }
    }

}
