import ArgumentParser
import Kernels
import Metrics
import Trainer

#if canImport(Glibc)
import Glibc
#endif

// OpenBLAS picks slow generic kernels on CPUs it does not recognise; fix that before anything runs.
OpenBLASCore.relaunchIfMisdetected(arguments: CommandLine.arguments)

/// Prints `error: message` and exits with `code`.
func fail(_ message: String, _ code: Int32) -> Never {
    fputs("error: \(message)\n", stderr)
    exit(code)
}

// Errors map to exit codes here, once: 2 for bad input or usage, 1 for anything else.
do {
    var command = try Sieve.parseAsRoot()
    try command.run()
} catch let e as UsageError {
    fail(e.description, 2)
} catch let e as DataError {
    fail(e.description, 2)
} catch let e as TrainerError {
    fail(e.description, 2)
} catch let e as DeviceError {
    fail(e.description, 2)
} catch MetricsError.invalidInput(let what) {
    fail(what, 2)
} catch let e as MetricsError {
    fail(e.description, 1)
} catch let e as OpenCLError {
    fail(e.description, 1)
} catch {
    if Sieve.exitCode(for: error) == .validationFailure {   // ArgumentParser's usage errors: 2, not 64
        fputs(Sieve.fullMessage(for: error) + "\n", stderr)
        exit(2)
    }
    Sieve.exit(withError: error)
}
