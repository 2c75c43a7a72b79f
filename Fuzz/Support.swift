// Shared by every fuzz target (compiled into each; see scripts/fuzz.sh).
#if canImport(Glibc)
import Glibc
#endif

/// A fuzz input: byte 0 picks a mode, the rest is the payload. A payload for several
/// files is split by `parts`: each part but the last is prefixed by its length (two
/// bytes, little-endian), the last takes what remains.
struct FuzzInput {
    let mode: UInt8
    let payload: [UInt8]

    init(_ data: UnsafeRawPointer, _ size: Int) {
        let bytes = Array(UnsafeRawBufferPointer(start: data, count: size))
        mode = bytes.first ?? 0
        payload = Array(bytes.dropFirst())
    }

    /// `count` byte strings cut from the payload (missing ones are empty).
    func parts(_ count: Int) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var i = 0
        for k in 0..<count {
            if k == count - 1 {
                out.append(i < payload.count ? Array(payload[i...]) : [])
                break
            }
            guard i + 2 <= payload.count else { out.append([]); continue }
            let length = Int(payload[i]) | Int(payload[i + 1]) << 8
            i += 2
            let end = min(payload.count, i + length)
            out.append(Array(payload[i..<end]))
            i = end
        }
        return out
    }
}

/// A per-process scratch directory for readers that take paths: inside `$SIEVE_FUZZ_SCRATCH`
/// (scripts/fuzz.sh sets it and removes it afterwards), else in /dev/shm or /tmp.
enum FuzzFiles {
    static let directory: String = {
        let base = getenv("SIEVE_FUZZ_SCRATCH").map { String(cString: $0) }
            ?? (access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp")
        mkdir(base, 0o755)
        var template = Array("\(base)/sieve-fuzz-XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }()

    /// Writes `bytes` to `name` in the scratch directory (or a subdirectory, created with
    /// its parents) and returns its path.
    @discardableResult
    static func write(_ bytes: [UInt8], _ name: String) -> String {
        let path = directory + "/" + name
        for (i, c) in name.enumerated() where c == "/" { mkdir(directory + "/" + name.prefix(i), 0o755) }
        guard let f = fopen(path, "wb") else { fatalError("fuzz harness: cannot write \(path)") }
        _ = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, f) }
        fclose(f)
        return path
    }

    /// Removes `name` from the scratch directory.
    static func remove(_ name: String) { unlink(directory + "/" + name) }
}

/// Stops the run with a message when a reader returned something it should have refused:
/// libFuzzer records the input as a crash.
func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("invariant broken: \(message())") }
}
