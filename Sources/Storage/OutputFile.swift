#if canImport(Glibc)
import Glibc
#endif

/// Errors of the Metrics module: output files that cannot be written.
public enum StorageError: Error, CustomStringConvertible {
    case cannotWrite(path: String, reason: String)
    case invalidInput(String)

    public var description: String {
        switch self {
        case .cannotWrite(let path, let reason): "cannot write \(path): \(reason)"
        case .invalidInput(let what): what
        }
    }
}

/// A file written under a temporary name (`PATH.partial-PID`) and renamed into place by
/// ``commit()``, so a reader never sees a half-written output. Only a regular file (or
/// nothing) is ever renamed over, and a symbolic link to a regular file is followed (the
/// link stays, its target is replaced). `-`, and any path that names this process's own
/// standard output or error (`/dev/stdout` whatever fd 1 is: terminal, pipe or a file the
/// shell redirected to), are written through that stream, after what was printed before;
/// other non-regular files (devices, pipes) are written directly.
public final class OutputFile {
    public let path: String
    /// The temporary name, or nil when writing directly (`-`, devices, pipes).
    let temporaryPath: String?
    /// The regular file the temporary file is renamed to: `path`, or the target of the link `path` is.
    let finalPath: String
    var handle: UnsafeMutablePointer<FILE>?

    /// Where the bytes written to a path go.
    enum Destination: Equatable {
        /// This process's standard output (1) or error (2).
        case stream(Int32)
        /// A device or pipe, opened and written in place.
        case direct
        /// A regular file (or nothing yet) at this path, replaced by rename.
        case replace(String)
    }

    /// Where `path`'s bytes go; throws for a folder.
    static func destination(of path: String) throws -> Destination {
        if path == "-" { return .stream(1) }
        var info = stat()
        guard stat(path, &info) == 0 else { return .replace(path) }
        let kind = info.st_mode & S_IFMT
        if kind == S_IFDIR { throw StorageError.cannotWrite(path: path, reason: "it is a folder") }
        for fd: Int32 in [1, 2] {
            var standard = stat()
            if fstat(fd, &standard) == 0 && standard.st_dev == info.st_dev && standard.st_ino == info.st_ino { return .stream(fd) }
        }
        guard kind == S_IFREG else { return .direct }
        var link = stat()
        if lstat(path, &link) == 0 && (link.st_mode & S_IFMT) == S_IFLNK, let resolved = realpath(path, nil) {
            defer { free(resolved) }
            return .replace(String(cString: resolved))
        }
        return .replace(path)
    }

    public init(path: String) throws {
        self.path = path
        switch try Self.destination(of: path) {
        case .stream(let fd):
            temporaryPath = nil
            finalPath = path
            handle = fd == 1 ? stdout : stderr
            fflush(stdout)
        case .direct:
            temporaryPath = nil
            finalPath = path
            guard let h = fopen(path, "wb") else { throw StorageError.cannotWrite(path: path, reason: String(cString: strerror(errno))) }
            handle = h
        case .replace(let target):
            finalPath = target
            let temporary = target + ".partial-\(getpid())"
            temporaryPath = temporary
            Cleanup.shared.register(file: temporary)
            guard let h = fopen(temporary, "wb") else {
                Cleanup.shared.unregister(file: temporary)
                throw StorageError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
            }
            handle = h
        }
    }

    /// Writes `path` in place, without a temporary name: a stream a resumed run continues.
    /// `keeping`: keep the existing file's first `keeping` bytes and write after them (it
    /// must be that long); nil: start an empty file.
    public init(inPlace path: String, keeping: Int? = nil) throws {
        self.path = path
        temporaryPath = nil
        finalPath = path
        guard let h = fopen(path, keeping == nil ? "wb" : "r+b") else {
            if keeping != nil && errno == ENOENT {
                throw StorageError.invalidInput("\(path) is missing, but its checkpoint recorded \(keeping!) bytes of it: "
                                                + "remove its folder (or use --force) to start over")
            }
            throw StorageError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
        }
        handle = h
        if let keeping {
            var info = stat()
            guard fstat(fileno(h), &info) == 0, Int(info.st_size) >= keeping else {
                fclose(h)
                handle = nil
                throw StorageError.invalidInput("\(path) is shorter than the \(keeping) bytes its checkpoint recorded: "
                                                + "remove its folder (or use --force) to start over")
            }
            guard ftruncate(fileno(h), off_t(keeping)) == 0, fseek(h, 0, SEEK_END) == 0 else {
                let reason = String(cString: strerror(errno))
                fclose(h)
                handle = nil
                throw StorageError.cannotWrite(path: path, reason: reason)
            }
        }
    }

    /// A kind of file Sieve writes, recognised by its content before one is replaced: a
    /// command replaces an existing file only when it is empty or of this kind, so a path
    /// typed wrong never costs the user a file Sieve did not write (``RunMark``).
    public struct Kind: Sendable {
        /// What the file holds, for messages.
        public let name: String
        /// Whether the file's first bytes (up to 4 KiB) and its size say it is of this kind.
        let recognizes: @Sendable (_ head: [UInt8], _ size: Int) -> Bool

        /// A kind recognised by `recognizes`, given the file's first bytes (up to 4 KiB) and size.
        public init(name: String, recognizes: @escaping @Sendable (_ head: [UInt8], _ size: Int) -> Bool) {
            self.name = name
            self.recognizes = recognizes
        }

        /// An HTML report (it names Sieve as its generator in its head: ``generatorTag``).
        public static let htmlReport = Kind(name: "a Sieve HTML report") { head, _ in
            String(decoding: head, as: UTF8.self).contains(generatorTag)
        }
        /// An index list (`sieve prune --out`): digits, one number a line.
        public static let indexList = Kind(name: "an index list (one number a line)") { head, size in
            size <= head.count && head.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x0a || $0 == 0x0d }
        }
        /// A `--json` summary (``OutputFile/writeSummary(_:to:)``: its first member names Sieve).
        public static let jsonSummary = Kind(name: "a Sieve JSON summary (its first member \"generator\": \"Sieve\")") { head, _ in
            String(decoding: head, as: UTF8.self).hasPrefix("{\"generator\": \"Sieve\"")
        }
        /// The tag ``htmlReport`` looks for; the report writes it into its head.
        public static let generatorTag = "<meta name=\"generator\" content=\"Sieve"
    }

    /// Writes a `--json` summary, a JSON object, with `"generator": "Sieve"` as its first
    /// member: what ``Kind/jsonSummary`` recognises before a later summary replaces it.
    public static func writeSummary(_ summary: JSON, to path: String) throws {
        guard case .object(let members) = summary else { preconditionFailure("a summary is a JSON object") }
        try write(JSON.object([("generator", .string("Sieve"))] + members).rendered + "\n", to: path)
    }

    /// Checks, before any work, that `path` can be written later: its folder exists and
    /// is writable, it does not name a folder, and (with `replacing`) it is not a file a
    /// run folder's mark lists and a file already there is empty or of that kind.
    public static func checkWritable(_ path: String, option: String, replacing kind: Kind? = nil) throws {
        let target: String
        do {
            guard case .replace(let t) = try destination(of: path) else { return }
            target = t
        } catch {
            throw StorageError.invalidInput("\(option) \(path) is a folder, not a file")
        }
        let parent = RunDirectory.parent(of: target)
        guard access(parent, W_OK) == 0 else {
            throw StorageError.invalidInput("\(option) \(path): cannot write into \(parent): \(String(cString: strerror(errno)))")
        }
        // A file of a run folder belongs to its run: replacing it would leave the run's
        // other files disagreeing with it (a clean run's kept.txt and labels.npy).
        if kind != nil, let listed = RunMark.listedEntries(in: parent), let name = target.split(separator: "/").last,
           listed.contains(String(name)) {
            throw StorageError.invalidInput("\(option) \(path) is a file of the Sieve run in \(parent) (its \(RunMark.fileName) lists it); "
                                            + "nothing was replaced: write it elsewhere")
        }
        var info = stat()
        if let kind, stat(target, &info) == 0, info.st_size > 0 {
            var head = [UInt8](repeating: 0, count: 4096)
            var count = 0
            if let f = fopen(target, "rb") {
                count = fread(&head, 1, head.count, f)
                fclose(f)
            }
            guard kind.recognizes(Array(head[0..<count]), Int(info.st_size)) else {
                throw StorageError.invalidInput("\(option) \(path) already exists and is not \(kind.name), so Sieve did not write it; "
                                                + "nothing was replaced: choose another path, or move that file away yourself")
            }
        }
    }

    deinit {
        if let handle, let temporaryPath {
            fclose(handle)
            unlink(temporaryPath)
            Cleanup.shared.unregister(file: temporaryPath)
        } else if let handle {
            // A file written in place or directly: what was written stays (flushed), the handle is closed.
            if handle == stdout || handle == stderr { fflush(handle) } else { fclose(handle) }
        }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard let handle else { throw StorageError.cannotWrite(path: path, reason: "already closed") }
        if bytes.count > 0, fwrite(bytes.baseAddress, 1, bytes.count, handle) != bytes.count {
            throw StorageError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
        }
    }

    public func write(_ text: String) throws {
        var t = text
        try t.withUTF8 { try write(UnsafeRawBufferPointer($0)) }
    }

    /// Rewrites bytes at an absolute offset (NPY headers whose shape is known at the end).
    public func overwrite(at offset: Int, _ bytes: [UInt8]) throws {
        guard let handle else { throw StorageError.cannotWrite(path: path, reason: "already closed") }
        let here = ftell(handle)
        fseek(handle, offset, SEEK_SET)
        try bytes.withUnsafeBytes { try write($0) }
        fseek(handle, here, SEEK_SET)
    }

    public func flush() { if let handle { fflush(handle) } }

    /// Closes the file and renames it into place.
    public func commit() throws {
        guard let h = handle else { return }
        handle = nil
        guard let temporaryPath else {
            if h == stdout || h == stderr { fflush(h) } else if fclose(h) != 0 {
                throw StorageError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
            }
            return
        }
        defer { Cleanup.shared.unregister(file: temporaryPath) }
        if fclose(h) != 0 || rename(temporaryPath, finalPath) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(temporaryPath)
            throw StorageError.cannotWrite(path: path, reason: reason)
        }
    }

    /// Writes a whole text file atomically.
    public static func write(_ text: String, to path: String) throws {
        let f = try OutputFile(path: path)
        try f.write(text)
        try f.commit()
    }
}
