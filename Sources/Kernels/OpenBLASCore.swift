import CBLAS

#if canImport(Glibc)
import Glibc
#endif

/// OpenBLAS's choice of CPU kernels, and a fix for when it guesses wrong.
///
/// OpenBLAS built with `DYNAMIC_ARCH` (Debian's) picks its kernels by CPU model number
/// when the library loads. On virtual machines whose CPU model it does not know it
/// falls back to `Prescott` (SSE3), several times slower than the AVX2/AVX-512
/// kernels the CPU supports. The choice can only be changed by `OPENBLAS_CORETYPE`
/// before the library loads, so ``relaunchIfMisdetected(arguments:)`` re-executes
/// the program once with it set from the CPU's feature flags.
public enum OpenBLASCore {
    /// The kernel set OpenBLAS chose, e.g. `Haswell`, `SkylakeX`, `Prescott`.
    public static var current: String {
        openblas_get_corename().map { String(cString: $0) } ?? "unknown"
    }

    /// The best kernel set for this CPU's flags in `/proc/cpuinfo`, if better than SSE3.
    public static func bestForThisCPU() -> String? {
        guard let f = fopen("/proc/cpuinfo", "r") else { return nil }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 8192)
        while fgets(&line, Int32(line.count), f) != nil {
            let text = String(cString: line)
            guard text.hasPrefix("flags") else { continue }
            let flags = Set(text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init))
            if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq"]) { return "SkylakeX" }
            if flags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
            if flags.contains("avx") { return "Sandybridge" }
            return nil
        }
        return nil
    }

    /// Sets `OPENBLAS_CORETYPE` for the next start of the program when OpenBLAS fell
    /// back to generic kernels although the CPU supports better ones and the user did
    /// not choose; returns whether it did.
    @discardableResult
    public static func chooseKernelsIfMisdetected() -> Bool {
        guard getenv("OPENBLAS_CORETYPE") == nil else { return false }
        let core = current.lowercased()
        guard core == "prescott" || core == "core2" || core == "nehalem" || core == "unknown",
              let better = bestForThisCPU() else { return false }
        setenv("OPENBLAS_CORETYPE", better, 1)
        return true
    }

    /// When OpenBLAS fell back to generic kernels although the CPU supports better
    /// ones and the user did not choose (`OPENBLAS_CORETYPE` unset), re-executes this
    /// program with `OPENBLAS_CORETYPE` set. Returns only when no relaunch is needed
    /// or it failed.
    public static func relaunchIfMisdetected(arguments: [String]) {
        guard getenv("SIEVE_NO_RELAUNCH") == nil, chooseKernelsIfMisdetected() else { return }
        setenv("SIEVE_NO_RELAUNCH", "1", 1)
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        argv.append(nil)
        execv("/proc/self/exe", &argv)
        // execv only returns on failure: go on with the slow kernels.
    }
}
