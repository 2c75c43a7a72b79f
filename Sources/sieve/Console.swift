import Metrics
import Trainer

#if canImport(Glibc)
import Glibc
#endif

/// Writes one line to standard error.
func log(_ message: String) {
    fputs(message + "\n", stderr)
}

/// One line per epoch.
func describe(_ s: EpochSummary, of epochs: Int) -> String {
    let test = s.testAccuracy.map { " test acc \(format(100 * $0, 2))%" } ?? ""
    return "epoch \(s.epoch + 1)/\(epochs): loss \(format(s.trainLoss, 4)) acc \(format(100 * s.trainAccuracy, 2))%"
        + "\(test) lr \(format(Double(s.learningRate), 4)) \(format(s.trainSeconds, 1)) s "
        + "(\(format(s.examplesPerSecond, 1)) ex/s)"
}

/// Progress of a protocol on standard error: a line per epoch and per phase, and a
/// line at most every 15 s within a long epoch. Nothing when `quiet`.
func consoleProgress(quiet: Bool) -> ProtocolProgress {
    if quiet { return .silent }
    var last = monotonicSeconds(), epochStart = last, lastDone = Int.max
    return ProtocolProgress(
        epoch: { unit, s, epochs in log("  \(unit) " + describe(s, of: epochs)) },
        step: { unit, epoch, done, total in
            let now = monotonicSeconds()
            if done < lastDone { epochStart = now; last = now }   // a new epoch began
            lastDone = done
            if now - last >= 15 && done < total {
                last = now
                let rate = Double(done) / max(now - epochStart, 1e-9)
                log("  \(unit) epoch \(epoch + 1): \(done)/\(total) examples, \(format(rate, 1)) ex/s, "
                    + "about \(format(Double(total - done) / rate, 0)) s left in the epoch")
            }
        },
        note: { log("  " + $0) })
}

/// `mkdir -p`, then a check that the directory can be written.
func makeDirectory(_ path: String) throws {
    guard !path.isEmpty else { throw UsageError("--out must not be empty") }
    var prefix = path.hasPrefix("/") ? "/" : ""
    for part in path.split(separator: "/") {
        prefix += part + "/"
        if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
            throw UsageError("cannot create directory \(prefix): \(String(cString: strerror(errno)))")
        }
    }
    var info = stat()
    guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { throw UsageError("\(path) is not a directory") }
    guard access(path, W_OK) == 0 else { throw UsageError("cannot write into \(path): \(String(cString: strerror(errno)))") }
}

/// Fixed-point formatting without Foundation; non-finite values as `nan`, `inf`, `-inf`.
func format(_ value: Double, _ digits: Int) -> String {
    guard value.isFinite else { return value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf") }
    if abs(value) >= 1e15 { return "\(value)" }   // beyond Int's exact range: Swift's shortest form
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let r = (abs(value) * scale).rounded()
    let whole = Int(r / scale), frac = Int(r - Double(whole) * scale)
    var f = String(frac)
    while f.count < digits { f = "0" + f }
    return (value < 0 && r > 0 ? "-" : "") + String(whole) + (digits > 0 ? "." + f : "")
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
