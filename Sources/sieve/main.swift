import ArgumentParser
import Jobs
import Kernels
import Metrics
import Storage
import Trainer

#if canImport(Glibc)
import Glibc
#endif

// Crashes print one line and exit: Swift's backtracer (which can wait on a terminal)
// stays off unless the user asked for it. The runtime reads SWIFT_BACKTRACE at start,
// so set it and re-execute once; OpenBLAS's kernel choice rides along.
if getenv("SWIFT_BACKTRACE") == nil && getenv("SIEVE_NO_RELAUNCH") == nil {
    setenv("SWIFT_BACKTRACE", "enable=no", 1)
    OpenBLASCore.chooseKernelsIfMisdetected()
    setenv("SIEVE_NO_RELAUNCH", "1", 1)
    var argv: [UnsafeMutablePointer<CChar>?] = CommandLine.arguments.map { strdup($0) }
    argv.append(nil)
    execv("/proc/self/exe", &argv)   // returns only on failure: go on as we are
}
// OpenBLAS picks slow generic kernels on CPUs it does not recognise; fix that before anything runs.
OpenBLASCore.relaunchIfMisdetected(arguments: CommandLine.arguments)

/// Prints `error: message`, removes what the run left half-written, and exits with `code`.
func fail(_ message: String, _ code: Int32, diverged: Bool = false) -> Never {
    Cleanup.shared.removeAll()
    fputs("error: \(message)\n", stderr)
    if let kept = OpenUnitStores.shared.settle(discard: diverged) { fputs("note: \(kept)\n", stderr) }
    exit(code)
}

// SIGINT and SIGTERM stop the run cleanly: one line, no staging folder, lock or
// .partial file left (a handler wakes one thread that cleans up and exits).
installSignalHandling()
// A crash (a failed internal check) ends with one line, not a backtrace.
for sig in [SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGABRT, SIGFPE] {
    signal(sig) { s in
        let text = "error: sieve stopped on an internal error (signal \(s)); please report it with the command line\n"
        _ = text.withCString { write(2, $0, strlen($0)) }
        _exit(70)
    }
}

/// The exit code of an error: 2 for bad input or usage, 1 for anything else; nil for
/// errors ArgumentParser reports itself.
func exitCode(of error: Error) -> Int32? {
    switch error {
    case is UsageError, is DataError, is DeviceError, TrainerError.invalid, MetricsError.invalidInput, StorageError.invalidInput: return 2
    case is TrainerError, is StorageError, is OpenCLError, is OpenCLFailure: return 1
    default: return nil
    }
}

// Errors map to exit codes here, once.
do {
    var command = try Sieve.parseAsRoot()
    try command.run()
} catch let done as RunFinishedEarlier {
    Cleanup.shared.removeAll()   // the staging folder and lock this start took
    print("\(done)")
    exit(0)
} catch {
    if let code = exitCode(of: error) {
        if case TrainerError.diverged = error { fail("\(error)", code, diverged: true) }
        fail("\(error)", code)
    }
    Cleanup.shared.removeAll()
    if Sieve.exitCode(for: error) == .validationFailure {   // ArgumentParser's usage errors: 2, not 64
        fputs(Sieve.fullMessage(for: error) + "\n", stderr)
        exit(2)
    }
    Sieve.exit(withError: error)
}
