#if canImport(Glibc)
import Glibc
#endif

/// An output folder written as one transaction: a run writes into a fresh staging
/// folder beside the target (`DIR.partial-PID`) and ``commit()`` renames it into place,
/// so a folder only ever holds the files of one complete run. A lock file beside the
/// target (`DIR.lock`, holding the writer's pid, host name and Slurm job) refuses a second writer at the start
/// instead of letting two runs interleave; a folder that already holds files is
/// refused unless `force`, which replaces it whole at commit. Every staging folder
/// and lock is removed on failure and on SIGINT/SIGTERM (see ``Cleanup``).
public final class RunDirectory {
    /// The folder the run's files end up in.
    public let target: String
    /// Where the files are written until ``commit()``.
    public let staging: String
    /// A fresh identifier of this run (recorded in `meta.json`).
    public let runID: String
    let lock: String
    let force: Bool
    /// The target already holds a whole run (taken with `resume`): a command whose settings
    /// match has nothing to do (a scheduler's retry of a task killed after its commit).
    public private(set) var holdsFinishedRun = false
    private var open = true

    /// Validates the target and takes the lock; nothing is written to the target itself.
    /// With `resume`, a folder holding a whole finished run is taken (``holdsFinishedRun``).
    /// - Throws: ``StorageError/invalidInput(_:)`` for an empty path, `/`, a path that
    ///   names a file, a parent folder that cannot be written, a folder that already
    ///   holds files without `force`, a folder holding anything a Sieve run did not write
    ///   (with `force` too: ``RunMark``), a lock file that is not Sieve's, or a folder
    ///   another live run is writing.
    ///   Also refused, `force` or not: a target that is, or holds, one of `reads` (the
    ///   files and folders the run reads, with the option that named each): replacing it
    ///   would delete the run's own input.
    public init(_ path: String, force: Bool, resume: Bool = false, option: String = "--out",
                reads: [(option: String, path: String)] = []) throws {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        guard !p.isEmpty else { throw StorageError.invalidInput("\(option) must not be empty") }
        guard p != "/" && p != "." && p != ".." && !p.hasSuffix("/.") && !p.hasSuffix("/..") else {
            throw StorageError.invalidInput("\(option) \(path) is not a folder Sieve can replace; name a new folder")
        }
        target = p
        self.force = force
        let parent = RunDirectory.parent(of: p)
        try RunDirectory.makeFolders(parent, option: option)
        guard access(parent, W_OK) == 0 else {
            throw StorageError.invalidInput("\(option) \(path): cannot write into \(parent): \(String(cString: strerror(errno)))")
        }
        var info = stat()
        if lstat(p, &info) == 0 {
            if (info.st_mode & S_IFMT) == S_IFLNK {
                throw StorageError.invalidInput("\(option) \(path) is a symbolic link; name the folder it points to "
                                                + "(a run replaces its folder whole)")
            }
            guard (info.st_mode & S_IFMT) == S_IFDIR else {
                throw StorageError.invalidInput("\(option) \(path) is a file, not a folder")
            }
            if resume && !force && RunMark.listedEntries(in: p) != nil && RunMark.foreignEntry(in: p) == nil {
                holdsFinishedRun = true
            } else if !force && !RunDirectory.isEmptyFolder(p) {
                throw StorageError.invalidInput("\(option) \(path) already holds files (another run's?); "
                                                + "choose a new folder, or pass --force to replace it whole")
            }
            try RunDirectory.checkReplaceable(p, option: option)
            let folder = RunDirectory.realPath(p)
            for input in reads where access(input.path, F_OK) == 0 {
                let read = RunDirectory.realPath(input.path)
                guard read != folder && !read.hasPrefix(folder + "/") else {
                    throw StorageError.invalidInput("\(option) \(path) is\(read == folder ? "" : " the folder of") \(input.option) \(input.path), "
                                                    + "which this run reads: the run would replace it; write the run into another folder")
                }
            }
        }
        lock = p + ".lock"
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var rng = SplitMix64(seed: UInt64(getpid()) &* 0x9e37_79b9_7f4a_7c15 ^ UInt64(ts.tv_sec) ^ UInt64(ts.tv_nsec) << 32)
        runID = String(rng.next(), radix: 16) + String(rng.next(), radix: 16)
        staging = p + ".partial-\(getpid())"
        try takeLock(option: option, path: path)
        Cleanup.shared.register(folder: staging, lock: lock)
        RunDirectory.removeStaleStaging(of: p, parent: parent)
        RunDirectory.removeTree(staging)
        do {
            guard mkdir(staging, 0o755) == 0 else { throw StorageError.cannotWrite(path: staging, reason: String(cString: strerror(errno))) }
            try RunMark.write(in: staging, runID: runID, entries: [])   // Sieve's from its first moment
        } catch {
            abandon()
            throw error
        }
    }

    /// `path` with every link and `..` resolved (as given when that fails).
    public static func realPath(_ path: String) -> String {
        guard let r = realpath(path, nil) else { return path }
        defer { free(r) }
        return String(cString: r)
    }

    /// Refuses to replace `folder` unless a Sieve run wrote all of it (``RunMark``).
    static func checkReplaceable(_ folder: String, option: String) throws {
        guard let (entry, why) = RunMark.foreignEntry(in: folder) else { return }
        throw StorageError.invalidInput("\(option) \(folder): --force replaces only a folder that a Sieve run wrote, and "
                                        + "\(folder)/\(entry) is not a run's file (\(why)); nothing was deleted: "
                                        + "choose another \(option), or move that file or the folder away yourself")
    }

    private func takeLock(option: String, path: String) throws {
        for _ in 0..<2 {
            let fd = Glibc.open(lock, O_WRONLY | O_CREAT | O_EXCL, 0o644)
            if fd >= 0 {
                let text = "\(getpid()) \(RunDirectory.hostName)" + (RunDirectory.schedulerJob.map { " " + $0 } ?? "") + "\n"
                _ = text.withCString { Glibc.write(fd, $0, strlen($0)) }
                close(fd)
                return
            }
            guard errno == EEXIST else {
                throw StorageError.invalidInput("\(option) \(path): cannot create \(lock): \(String(cString: strerror(errno)))")
            }
            // A lock whose writer is gone (killed) is stale: take it over. So is one naming this
            // process's own pid: a restarted container's process often gets the dead one's pid (1).
            // A lock taken on another machine (a shared file system) cannot be checked: refused.
            // So is one taken by this very scheduler job on another node (a Slurm job requeued after
            // its node failed keeps its job id).
            // A file there that is not a lock (nor an empty one: a writer killed while writing
            // it) is the user's: never removed.
            guard RunDirectory.isSieveLock(lock) else {
                throw StorageError.invalidInput("\(option) \(path): \(lock) exists and is not a Sieve lock (a run's lock holds "
                                                + "'PID HOST'); nothing was deleted: move it away, or choose another \(option)")
            }
            if let owner = RunDirectory.lockOwner(lock), owner.job == nil || owner.job != RunDirectory.schedulerJob {
                if let host = owner.host, host != RunDirectory.hostName {
                    throw StorageError.invalidInput("\(option) \(path) is being written by another run (pid \(owner.pid) on \(host), "
                                                    + "\(lock)); wait for it, or remove \(lock) if that run is gone")
                }
                if owner.pid != getpid(), kill(owner.pid, 0) == 0 || errno == EPERM {
                    throw StorageError.invalidInput("\(option) \(path) is being written by another run (pid \(owner.pid), \(lock)); "
                                                    + "wait for it or choose another folder")
                }
            }
            unlink(lock)
        }
        throw StorageError.invalidInput("\(option) \(path): cannot take \(lock)")
    }

    /// The path of `name` inside the staging folder.
    public func path(_ name: String) -> String { staging + "/" + name }

    /// Renames the staging folder into place (replacing an earlier run's folder when
    /// `force`) and releases the lock.
    public func commit() throws {
        guard open else { return }
        try RunMark.write(in: staging, runID: runID, entries: RunMark.entries(of: staging))
        var info = stat()
        var replaced: String?
        if lstat(target, &info) == 0 {
            // Checked again: a file may have appeared in the folder since the run began.
            guard (info.st_mode & S_IFMT) == S_IFDIR else {
                throw StorageError.invalidInput("\(target) is no longer a folder; nothing was replaced")
            }
            try RunDirectory.checkReplaceable(target, option: "the run's folder")
            let old = RunDirectory.freeName(target + ".replaced-\(getpid())")
            guard rename(target, old) == 0 else {
                throw StorageError.cannotWrite(path: target, reason: String(cString: strerror(errno)))
            }
            replaced = old
        }
        guard rename(staging, target) == 0 else {
            let reason = String(cString: strerror(errno))
            if let replaced { rename(replaced, target) }
            throw StorageError.cannotWrite(path: target, reason: reason)
        }
        // Removed only as checked: anything that appeared in it since stays, parked under that name.
        if let replaced, RunMark.foreignEntry(in: replaced) == nil { RunDirectory.removeTree(replaced) }
        open = false
        RunDirectory.release(lock)
        Cleanup.shared.unregister(folder: staging)
    }

    /// Removes the staging folder and releases the lock (a failed run).
    public func abandon() {
        guard open else { return }
        open = false
        RunDirectory.removeTree(staging)
        RunDirectory.release(lock)
        Cleanup.shared.unregister(folder: staging)
    }

    deinit { abandon() }

    // MARK: File-system helpers

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// `mkdir -p`.
    static func makeFolders(_ path: String, option: String) throws {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part + "/"
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw StorageError.invalidInput("\(option): cannot create folder \(prefix): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Removes `DIR.partial-PID` folders of runs that were killed (their pid is gone).
    static func removeStaleStaging(of target: String, parent: String) {
        let base = target.split(separator: "/").last.map(String.init) ?? target
        for name in entries(of: parent) ?? [] {
            guard name.hasPrefix(base + ".partial-"), let pid = pid_t(name.dropFirst(base.count + 9)) else { continue }
            // Only a folder a run staged (it holds the run's mark from its first moment).
            let folder = parent + "/" + name
            let staged = RunMark.listedEntries(in: folder) != nil   // or killed before its mark was written:
                || (entries(of: folder) ?? ["?"]).allSatisfy { isUnfinishedWrite($0) { $0 == RunMark.fileName } }
            if pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH && staged { removeTree(folder) }
        }
    }

    static func isEmptyFolder(_ path: String) -> Bool { entries(of: path)?.isEmpty == true }

    /// `path`, or `path.2`, `path.3`, ...: the first name nothing has.
    static func freeName(_ path: String) -> String {
        var candidate = path, n = 1
        var info = stat()
        while lstat(candidate, &info) == 0 { n += 1; candidate = path + ".\(n)" }
        return candidate
    }

    /// The names in a folder, without `.` and `..` (nil when it cannot be read).
    public static func entries(of path: String) -> [String]? {
        guard let dir = opendir(path) else { return nil }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The writer a lock file names: `PID HOST` (HOST absent in locks of older versions);
    /// nil when the file is gone or unreadable (a writer killed while writing it).
    static func lockOwner(_ lock: String) -> (pid: pid_t, host: String?, job: String?)? {
        guard let f = fopen(lock, "r") else { return nil }
        defer { fclose(f) }
        var buffer = [CChar](repeating: 0, count: 320)
        guard fgets(&buffer, 320, f) != nil else { return nil }
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).trimmingNewline
        let parts = text.split(separator: " ").map(String.init)
        guard let first = parts.first, let pid = pid_t(first) else { return nil }
        return (pid, parts.count > 1 ? parts[1] : nil, parts.count > 2 ? parts[2] : nil)
    }

    /// Whether `lock` is a regular file that reads as a lock (``lockOwner(_:)``) or is empty.
    static func isSieveLock(_ lock: String) -> Bool {
        var info = stat()
        guard lstat(lock, &info) == 0 else { return true }   // gone meanwhile: nothing to protect
        guard (info.st_mode & S_IFMT) == S_IFREG, info.st_size < 320 else { return false }
        guard info.st_size > 0 else { return true }
        guard let text = try? RunMark.readText(lock, expecting: "a lock"), let owner = lockOwner(lock) else { return false }
        return text.trimmingNewline.split(separator: " ").count <= 3 && !text.dropLast().contains("\n") && owner.pid > 0
    }

    /// The Slurm job (and array task) this process runs in, or nil: `slurm:JOB[_TASK]`.
    static let schedulerJob: String? = {
        func variable(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
        guard let job = variable("SLURM_JOB_ID"), !job.isEmpty, !job.contains(" ") else { return nil }
        return "slurm:" + job + (variable("SLURM_ARRAY_TASK_ID").map { "_" + $0 } ?? "")
    }()

    /// Removes `lock` if this process holds it: a run whose folder was taken over (its lock
    /// judged stale and replaced by another run's) must not remove the new owner's lock.
    static func release(_ lock: String) {
        guard let owner = lockOwner(lock), owner.pid == getpid(), owner.host.map({ $0 == hostName }) ?? true else { return }
        unlink(lock)
    }

    /// This machine's host name (the pid in a lock is only meaningful on it).
    static let hostName: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, 255) == 0 else { return "unknown-host" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()

    /// `rm -rf` of a folder Sieve created (plain files and folders, no links followed).
    public static func removeTree(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            for n in entries(of: path) ?? [] { removeTree(path + "/" + n) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }
}

extension String {
    var trimmingNewline: String {
        var s = self
        while let last = s.last, last == "\n" || last == "\r" || last == " " { s.removeLast() }
        return s
    }
}

/// What a run leaves behind if it stops early: staging folders, locks and `.partial`
/// files, removed on a thrown error (by the CLI) and on SIGINT/SIGTERM (by the handler
/// ``installSignalHandlers(message:)`` installs).
public final class Cleanup: @unchecked Sendable {
    public static let shared = Cleanup()
    private var mutex = pthread_mutex_t()
    private var folders: [String: String] = [:]   // staging -> lock
    private var files: Set<String> = []

    /// Held while a run moves its results into place (``committing(_:)``): a signal's
    /// cleanup waits for it instead of removing a folder that half holds them.
    private var commitMutex = pthread_mutex_t()

    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_mutex_init(&commitMutex, nil)
    }

    /// Runs `body` (renames that put a run's results into place) with the cleanup of a
    /// signal held off until it ends.
    public func committing<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&commitMutex)
        defer { pthread_mutex_unlock(&commitMutex) }
        return try body()
    }

    func register(folder: String, lock: String) { locked { folders[folder] = lock } }
    func unregister(folder: String) { locked { folders[folder] = nil } }
    func register(file: String) { locked { _ = files.insert(file) } }
    func unregister(file: String) { locked { _ = files.remove(file) } }

    private func locked(_ body: () -> Void) {
        pthread_mutex_lock(&mutex)
        body()
        pthread_mutex_unlock(&mutex)
    }

    /// Removes every registered staging folder, lock and partial file.
    public func removeAll() {
        pthread_mutex_lock(&commitMutex)
        defer { pthread_mutex_unlock(&commitMutex) }
        locked {
            for (folder, lock) in folders {
                RunDirectory.removeTree(folder)
                RunDirectory.release(lock)
            }
            for f in files { unlink(f) }
            folders = [:]
            files = []
        }
    }
}
