import Kernels
import Trainer

#if canImport(Glibc)
import Glibc
#endif

/// The progress display of a whole job on standard error: every pass (training epochs,
/// scoring passes, test evaluation, VoG, predictions) of every unit moves one overall
/// percentage and ETA, weighted by each pass's cost. On a terminal one status line is
/// redrawn in place (at most 5 times a second) under the epoch and phase lines; on a
/// pipe or file a status line is printed every 10 seconds instead. `quiet` prints only
/// warnings.
final class JobProgress {
    /// Each pass's cost per example relative to a training presentation (forward,
    /// backward and update), measured on the CPU device with the small CNN and ResNet-18:
    /// an evaluation forward costs about a third of a step, a scoring pass with gradient
    /// norms about one step.
    static func weight(_ pass: Pass) -> Double {
        switch pass {
        case .training: 1
        case .scoring(let gradNorms): gradNorms ? 1 : 0.35
        case .evaluation, .recording, .prediction: 0.35
        case .inputGradients: 0.8
        }
    }

    let quiet: Bool
    let terminal: Bool
    let totalCost: Double?
    let start = monotonicSeconds()
    private var doneCost = 0.0
    /// The pass reported last: its unit, kind, examples done of `total`, and start time.
    private var current: (unit: String, pass: Pass, done: Int, total: Int, started: Double)?
    private var lastDraw = -Double.infinity

    /// - Parameter plan: the job's passes (nil or empty: percentages per pass, no overall ETA).
    init(quiet: Bool, plan: WorkPlan? = nil) {
        self.quiet = quiet
        terminal = isatty(2) != 0 && (getenv("TERM").map { String(cString: $0) } ?? "dumb") != "dumb"
        let cost = plan?.cost(JobProgress.weight) ?? 0
        totalCost = cost > 0 ? cost : nil
    }

    /// The callbacks protocols report to.
    var callbacks: ProtocolProgress {
        let warning = { [self] (text: String) in line("warning: " + text); runWarnings.append(text) }
        let resumed = { [self] (text: String) in line(text) }
        if quiet { return ProtocolProgress(warning: warning, resumed: resumed) }
        return ProtocolProgress(
            epoch: { [self] unit, s, epochs in line("  " + (unit.isEmpty ? "" : unit + " ") + describe(s, of: epochs)) },
            step: { [self] unit, pass, done, total in step(unit, pass, done, total) },
            note: { [self] in line("  " + $0) },
            warning: warning, resumed: resumed)
    }

    /// Prints one line above the status line.
    func line(_ text: String) {
        clearStatus()
        log(text)
        if terminal, current != nil { draw() }
    }

    /// Removes the status line (before the final output).
    func finish() { clearStatus() }

    private func step(_ unit: String, _ pass: Pass, _ done: Int, _ total: Int) {
        let now = monotonicSeconds()
        var previous = 0
        if let c = current, c.unit == unit, c.pass == pass, done >= c.done { previous = c.done } else {
            current = (unit, pass, 0, total, now)
        }
        doneCost += Double(done - previous) * JobProgress.weight(pass)
        current?.done = done
        if terminal {
            if now - lastDraw >= 0.2 || done == total { draw() }
        } else if now - lastDraw >= 10 {
            lastDraw = now
            log("  " + status(now: now))
        }
    }

    private func draw() {
        let now = monotonicSeconds()
        lastDraw = now
        var text = status(now: now)
        let width = terminalWidth()
        if text.count > width - 1 { text = String(text.prefix(width - 1)) }
        fputs("\r\u{1B}[K" + text, stderr)
        statusLineShown = true
    }

    private func clearStatus() {
        if statusLineShown { fputs("\r\u{1B}[K", stderr); statusLineShown = false }
    }

    /// `[ 42%] seed 0: training epoch 3, 4608/12000 (1534 ex/s), about 1 min 20 s left`
    private func status(now: Double) -> String {
        guard let c = current else { return "" }
        let total = c.total
        let elapsed = now - start
        var text = ""
        if let totalCost {
            let fraction = min(1, doneCost / totalCost)
            text += "[\(String(Int((100 * fraction).rounded(.down))).leftPadded(3))%] "
        }
        text += (c.unit.isEmpty ? "" : c.unit + ": ") + JobProgress.name(of: c.pass)
        text += " \(c.done)/\(total)"
        let passSeconds = now - c.started
        if passSeconds > 0.5 { text += " (\(format(Double(c.done) / passSeconds, 0)) ex/s)" }
        if let totalCost, doneCost > 0, elapsed > 3 {
            let left = elapsed * max(0, totalCost - doneCost) / doneCost
            text += ", about \(JobProgress.duration(left)) left"
        } else if totalCost == nil, passSeconds > 0.5, c.done > 0, total > c.done {
            text += ", \(JobProgress.duration(passSeconds * Double(total - c.done) / Double(c.done))) left in this pass"
        }
        return text
    }

    static func name(of pass: Pass) -> String {
        switch pass {
        case .training(let e): "training epoch \(e + 1)"
        case .scoring(let g): g ? "scoring pass (EL2N, GraNd)" : "scoring pass (EL2N)"
        case .evaluation: "test evaluation"
        case .recording: "recording correctness"
        case .inputGradients: "input gradients (VoG)"
        case .prediction: "predicting held-out fold"
        }
    }

    /// `45 s`, `3 min 05 s`, `1 h 02 min`.
    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s < 60 { return "\(s) s" }
        if s < 3600 { return "\(s / 60) min \(String(s % 60).leftPadded(2, with: "0")) s" }
        return "\(s / 3600) h \(String((s % 3600) / 60).leftPadded(2, with: "0")) min"
    }
}

/// Columns of the terminal on standard error (`COLUMNS`, else the tty's, else 80).
func terminalWidth() -> Int {
    if let c = getenv("COLUMNS").flatMap({ Int(String(cString: $0)) }), c >= 20 { return c }
    var size = winsize()
    if ioctl(2, UInt(TIOCGWINSZ), &size) == 0, size.ws_col >= 20 { return Int(size.ws_col) }
    return 80
}

extension String {
    func leftPadded(_ width: Int, with pad: Character = " ") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
