import CBLAS

#if canImport(Glibc)
import Glibc
#endif

extension OpenBLASCore {
    /// Seconds of one `cblas_sgemm` `C[m,n] = A[m,k] B[k,n]` (row-major, one call, OpenBLAS's own
    /// threading), best of `repeats` after a warm-up, on seeded values in [-0.5, 0.5): how
    /// `sieve tune --device cpu` compares the kernel sets this process loaded.
    public static func sgemmSeconds(m: Int, n: Int, k: Int, repeats: Int) -> Double {
        var state = UInt64(m * n + k)
        func next() -> Float {
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return Float((z ^ (z >> 31)) >> 40) / Float(1 << 24) - 0.5
        }
        let a = (0..<(m * k)).map { _ in next() }, b = (0..<(k * n)).map { _ in next() }
        var c = [Float](repeating: 0, count: m * n)
        return bestSeconds(repeats: repeats) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(n), 0, &c, Int32(n))
        }
    }
}

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

    /// The CPU's `model name` in `/proc/cpuinfo` (e.g. `AMD EPYC 9B14`), or nil.
    public static var cpuModelName: String? { cpuinfoField("model name") }

    static func cpuinfoField(_ name: String) -> String? {
        guard let f = fopen("/proc/cpuinfo", "r") else { return nil }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 8192)
        while fgets(&line, Int32(line.count), f) != nil {
            let text = String(cString: line)
            guard text.hasPrefix(name), let colon = text.firstIndex(of: ":") else { continue }
            return trimmed(text[text.index(after: colon)...])
        }
        return nil
    }

    /// `text` without leading and trailing spaces, tabs and newlines.
    static func trimmed(_ text: Substring) -> String {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        return String(text.drop(while: blank).reversed().drop(while: blank).reversed())
    }

    /// The kernel sets worth measuring on this CPU (those its flags run), best guess first.
    public static func candidatesForThisCPU() -> [String] {
        let flags = Set((cpuinfoField("flags") ?? "").split(separator: " ").map(String.init))
        let amd = cpuinfoField("vendor_id") == "AuthenticAMD"
        var list: [String] = []
        if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq"]) {
            list += flags.contains("avx512_bf16") ? ["Cooperlake", "SkylakeX"] : ["SkylakeX"]
        }
        if flags.isSuperset(of: ["avx2", "fma"]) { list += amd ? ["Zen", "Haswell"] : ["Haswell", "Zen"] }
        if flags.contains("avx") { list.append("Sandybridge") }
        return list
    }

    /// A kernel set chosen by measurement (`sieve tune --device cpu`) for a CPU model.
    public struct MeasuredChoice: Sendable, Equatable {
        public var model: String, core: String, note: String
        public init(model: String, core: String, note: String) { self.model = model; self.core = core; self.note = note }
    }

    /// Measured on the machines of this project (docs/performance.md).
    public static let builtInChoices: [MeasuredChoice] = [
        MeasuredChoice(model: "AMD EPYC", core: "Haswell",
                       note: "sieve tune 0.1.0 on 2 cores of a Zen 4 EPYC with AVX-512: 185.0 GFLOP/s on ResNet-18 GEMMs (n/2) vs "
                           + "SkylakeX 155.9 and OpenBLAS's own Cooperlake 151.0; ResNet-18 train step +8%"),
    ]

    /// The user's measured choices: `SIEVE_OPENBLAS_CORE_FILE`, else
    /// `~/.config/sieve/openblas-core.tsv` (lines `MODEL<TAB>CORE<TAB>NOTE`).
    public static var userChoicesPath: String? {
        if let p = getenv("SIEVE_OPENBLAS_CORE_FILE") { return String(cString: p) }
        return getenv("HOME").map { String(cString: $0) + "/.config/sieve/openblas-core.tsv" }
    }

    /// The text of a user file holding `choices`: one `MODEL<TAB>CORE<TAB>NOTE` line each
    /// (what ``readChoices(_:)`` reads).
    public static func choicesText(_ choices: [MeasuredChoice]) -> String {
        choices.map { "\($0.model)\t\($0.core)\t\($0.note)\n" }.joined()
    }

    /// The choices in a user file (none when it is missing; malformed lines are skipped).
    public static func readChoices(_ path: String) -> [MeasuredChoice] {
        guard let f = fopen(path, "r") else { return [] }
        defer { fclose(f) }
        var out: [MeasuredChoice] = []
        var line = [CChar](repeating: 0, count: 4096)
        while fgets(&line, Int32(line.count), f) != nil {
            let fields = String(cString: line).split(separator: "\t", omittingEmptySubsequences: false).map { trimmed($0) }
            if fields.count >= 2, !fields[0].isEmpty, !fields[1].isEmpty {
                out.append(MeasuredChoice(model: fields[0], core: fields[1], note: fields.count > 2 ? fields[2] : ""))
            }
        }
        return out
    }

    /// The measured kernel set for CPU `model` (this CPU's by default): the user file's
    /// (`userFile`, by default ``userChoicesPath``), else a built-in one.
    public static func measuredChoice(model: String? = cpuModelName, userFile: String? = userChoicesPath) -> MeasuredChoice? {
        guard let model else { return nil }
        let user = userFile.map(readChoices) ?? []
        return user.last { $0.model == model } ?? builtInChoices.first { $0.model == model }
    }

    /// Sets `OPENBLAS_CORETYPE` for the next start of the program when the user did not
    /// choose and either a measured choice for this CPU model differs from OpenBLAS's
    /// own, or OpenBLAS fell back to generic kernels although the CPU supports better
    /// ones; returns whether it did.
    @discardableResult
    public static func chooseKernelsIfMisdetected() -> Bool {
        // An empty value chooses nothing (OpenBLAS then detects the CPU itself).
        if let chosen = getenv("OPENBLAS_CORETYPE"), chosen.pointee != 0 { return false }
        if let measured = measuredChoice(), measured.core.lowercased() != current.lowercased() {
            setenv("OPENBLAS_CORETYPE", measured.core, 1)
            return true
        }
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
