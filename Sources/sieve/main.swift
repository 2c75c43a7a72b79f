import ArgumentParser
import Kernels

#if canImport(Glibc)
import Glibc
#endif

// OpenBLAS picks slow generic kernels on CPUs it does not recognise; fix that before anything runs.
OpenBLASCore.relaunchIfMisdetected(arguments: CommandLine.arguments)

// Usage errors exit with 2 (Sieve's convention) instead of ArgumentParser's 64.
do {
    var command = try Sieve.parseAsRoot()
    try command.run()
} catch {
    let code = Sieve.exitCode(for: error)
    if code == .validationFailure {
        fputs(Sieve.fullMessage(for: error) + "\n", stderr)
        exit(2)
    }
    Sieve.exit(withError: error)
}
