import Kernels
import Metrics
import Report
import Storage
import Trainer

#if canImport(Glibc)
import Glibc
#endif

/// Whether a progress status line is on the terminal now (``JobProgress``).
nonisolated(unsafe) var statusLineShown = false

/// Writes one line to standard error (first removing a progress status line).
func log(_ message: String) {
    if statusLineShown { fputs("\r\u{1B}[K", stderr); statusLineShown = false }
    fputs(message + "\n", stderr)
}

/// One line per epoch.
func describe(_ s: EpochSummary, of epochs: Int) -> String {
    let test = s.testAccuracy.map { " test acc \(format(100 * $0, 2))% (\(format(s.evalSeconds, 1)) s)" } ?? ""
    return "epoch \(s.epoch + 1)/\(epochs): loss \(format(s.trainLoss, 4)) acc \(format(100 * s.trainAccuracy, 2))%"
        + "\(test) lr \(format(Double(s.learningRate), 4)) \(format(s.trainSeconds, 1)) s "
        + "(\(format(s.examplesPerSecond, 1)) ex/s)"
}

/// Warnings of this run (a training that never left chance level, ...), printed when
/// they happen and recorded in `meta.json` and every summary.
nonisolated(unsafe) var runWarnings: [String] = []

/// Warnings kept with each stored unit: said again (and recorded once) when a resumed or
/// merged run loads the unit instead of running it.
let unitNotes = UnitNotes(mark: { runWarnings.count }, lines: { Array(runWarnings[min($0, runWarnings.count)...]) }, say: { lines in
    for line in lines where !runWarnings.contains(line) {
        log("warning (kept with a finished unit): " + line)
        runWarnings.append(line)
    }
})

/// Fixed-point text with `digits` decimals; non-finite values as `nan`, `inf`, `-inf`.
func format(_ value: Double, _ digits: Int) -> String { Format.fixed(value, digits) }

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}

/// The write end of the pipe that the SIGINT/SIGTERM handler writes the signal's number to.
private var signalPipeWrite: Int32 = -1

/// SIGINT and SIGTERM stop the run cleanly: a handler (on whichever thread the signal
/// lands, OpenBLAS's own threads included, which start before `main`) writes the signal's
/// number to a pipe; one thread reads it, removes the run's staging folder, lock and
/// partial files, prints one line and exits with 130 (SIGINT) or 143 (SIGTERM).
/// A SIGINT ignored when sieve started (`nohup`, a background job) stays ignored.
func installSignalHandling() {
    var fds: [Int32] = [-1, -1]
    guard pipe(&fds) == 0 else { return }
    for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    signalPipeWrite = fds[1]
    _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)   // a flood of signals never blocks the handler
    let handler: @convention(c) (Int32) -> Void = { signal in
        let saved = errno
        var byte = UInt8(truncatingIfNeeded: signal)
        _ = write(signalPipeWrite, &byte, 1)
        errno = saved
    }
    let previous = signal(SIGINT, handler)
    if unsafeBitCast(previous, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self) { signal(SIGINT, SIG_IGN) }
    signal(SIGTERM, handler)
    let readEnd = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    readEnd.pointee = fds[0]
    var thread = pthread_t()
    pthread_create(&thread, nil, { argument in
        let fd = argument!.assumingMemoryBound(to: Int32.self).pointee
        var byte: UInt8 = 0
        var got = read(fd, &byte, 1)
        while got < 0 && errno == EINTR { got = read(fd, &byte, 1) }
        guard got == 1 else { return nil }
        let received = Int32(byte)
        Cleanup.shared.removeAll()
        let name = received == SIGINT ? "SIGINT" : "SIGTERM"
        fputs("\nstopped by \(name): nothing was written (the run's unfinished files were removed)\n", stderr)
        if let kept = OpenUnitStores.shared.settle(discard: false) { fputs("note: \(kept)\n", stderr) }
        _exit(128 + received)
    }, readEnd)
}

/// The kernel profile of `device` (an OpenCL device created with `--profile`) as a
/// table on standard error and as JSON; nil when there is none. `steps`: launches are
/// also given per step.
@discardableResult
func reportProfile(_ device: Device, title: String, steps: Int? = nil) -> JSON? {
    guard let profile = (device as? OpenCLDevice)?.profile else { return nil }
    device.synchronize()
    let entries = profile.entries
    let total = entries.reduce(0) { $0 + $1.seconds }
    log("kernel profile (\(title)): \(entries.reduce(0) { $0 + $1.launches }) launches, \(format(total * 1e3, 1)) ms of device time")
    log("  kernel                    launches" + (steps != nil ? "  per step" : "") + "   total ms   mean us  share  GFLOP/s")
    for e in entries {
        let perStep = steps.map { "  " + format(Double(e.launches) / Double(max(1, $0)), 1).leftPadded(8) } ?? ""
        log("  \(e.kernel.padding(24)) \(String(e.launches).leftPadded(9))\(perStep) \(format(e.seconds * 1e3, 2).leftPadded(10)) "
            + "\(format(e.meanMicroseconds, 1).leftPadded(9)) \((format(100 * e.seconds / max(total, 1e-12), 1) + "%").leftPadded(6)) "
            + (e.gflopsPerSecond.map { format($0, 1) } ?? "-").leftPadded(8))
    }
    return .array(entries.map { e in
        JSON.object([("kernel", .string(e.kernel)), ("launches", .int(e.launches)), ("seconds", .double(e.seconds)),
                     ("mean_microseconds", .double(e.meanMicroseconds))]
                    + (steps.map { [("launches_per_step", JSON.double(Double(e.launches) / Double(max(1, $0))))] } ?? [])
                    + (e.gflopsPerSecond.map { [("gflops_per_second", JSON.double($0))] } ?? []))
    })
}
