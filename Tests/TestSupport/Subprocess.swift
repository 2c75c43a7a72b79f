import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A child process for tests: started with `posix_spawn`, its standard output and error
/// captured in temporary files (no pipe to fill, no reader thread), and reaped by `waitpid` on its own pid.
///
/// Tests do not use Foundation's `Process`: all test targets run in one process, and once
/// an exit test has run, Swift Testing's exit-test monitor thread loops on
/// `waitid(P_ALL, ..., WNOWAIT)` for every child; with it `Process.waitUntilExit()` was
/// seen to wait forever for a child that had already exited (a zombie nobody reaped).
/// Waiting on the pid itself has no such race.
///
/// Not thread-safe: one test owns one child.
public final class Subprocess {
    /// How a child ended: its exit code, or the signal that killed it.
    public struct Termination: Equatable, CustomStringConvertible {
        public var exitCode: Int32?
        public var signal: Int32?
        /// The exit code, or the signal number when a signal ended it (as Foundation's `terminationStatus`).
        public var status: Int32 { exitCode ?? signal ?? -1 }
        public var description: String { signal.map { "killed by signal \($0)" } ?? "exit \(exitCode ?? -1)" }
    }

    /// What a finished child left: how it ended and what it wrote.
    public struct Result {
        public var termination: Termination
        public var stdout: String
        public var stderr: String
        public var status: Int32 { termination.status }
    }

    /// Where a standard stream goes.
    public enum Output { case capture, discard }

    public let pid: pid_t
    private let outFile: String?, errFile: String?
    private var ended: Termination?

    /// Starts `executable` (a path) with `arguments`; `environment` entries are added to
    /// (and replace) this process's environment.
    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:], unsetting: Set<String> = [],
                stdout: Output = .capture, stderr: Output = .capture) throws {
        let base = NSTemporaryDirectory() + "sieve-subprocess-" + UUID().uuidString
        outFile = stdout == .capture ? base + ".out" : nil
        errFile = stderr == .capture ? base + ".err" : nil

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outFile ?? "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errFile ?? "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o600)

        // The child starts with default signal handling and nothing blocked, whatever this
        // process (or whoever started the tests) set.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var all = sigset_t(), none = sigset_t()
        sigfillset(&all)
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        // Its own process group, so a timeout kills whatever it started too (`bash -c` and its children).
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))

        let env = ProcessInfo.processInfo.environment.merging(environment) { $1 }.filter { !unsetting.contains($0.key) }
            .map { "\($0.key)=\($0.value)" }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var child = pid_t()
        let rc = posix_spawn(&child, executable, &actions, &attributes, argv, envp)
        guard rc == 0 else {
            throw NSError(domain: "Subprocess", code: Int(rc),
                          userInfo: [NSLocalizedDescriptionKey: "cannot start \(executable): \(String(cString: strerror(rc)))"])
        }
        pid = child
    }

    /// Runs `executable` to its end.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                           unsetting: Set<String> = []) throws -> Result {
        try Subprocess(executable, arguments, environment: environment, unsetting: unsetting).wait()
    }

    /// Runs `bash -c command` to its end.
    public static func shell(_ command: String, environment: [String: String] = [:]) throws -> Result {
        try run("/bin/bash", ["-c", command], environment: environment)
    }

    /// Sends `signal` to the child (nothing once it has been reaped).
    public func send(_ signal: Int32) { if ended == nil { kill(pid, signal) } }

    /// Whether the child still runs (reaps it when it has ended).
    public var isRunning: Bool {
        if ended != nil { return false }
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid { ended = Self.decode(status); return false }
        if r < 0 && errno != EINTR { ended = Termination(exitCode: nil, signal: nil); return false }
        return true
    }

    /// Waits for the child to end and returns what it wrote; the capture files are removed.
    /// A child still running after `timeout` seconds is killed (SIGKILL), so a hung child
    /// fails its test instead of hanging the whole run.
    @discardableResult
    public func wait(timeout: Double = 900) -> Result {
        let deadline = Date().addingTimeInterval(timeout)
        var killed = false
        while isRunning {
            if !killed && Date() > deadline { kill(-pid, SIGKILL); kill(pid, SIGKILL); killed = true }
            usleep(2_000)
        }
        func take(_ file: String?) -> String {
            guard let file else { return "" }
            defer { unlink(file) }
            return FileManager.default.contents(atPath: file).map { String(decoding: $0, as: UTF8.self) } ?? ""
        }
        let note = killed ? "\n[Subprocess: killed after \(Int(timeout)) s]\n" : ""
        return Result(termination: ended!, stdout: take(outFile), stderr: take(errFile) + note)
    }

    private static func decode(_ status: Int32) -> Termination {
        let signal = status & 0x7f
        return signal == 0 ? Termination(exitCode: (status >> 8) & 0xff, signal: nil) : Termination(exitCode: nil, signal: signal)
    }

    deinit {
        // A child never waited for is killed and reaped, and its capture files removed.
        if ended == nil { kill(-pid, SIGKILL); kill(pid, SIGKILL); wait() }
    }
}
