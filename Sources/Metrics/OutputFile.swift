#if canImport(Glibc)
import Glibc
#endif

/// Errors of the Metrics module: output files that cannot be written.
public enum MetricsError: Error, CustomStringConvertible {
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
/// nothing) is ever renamed over: a path naming something else (`/dev/stdout`, a pipe)
/// is written directly, and `-` means standard output.
public final class OutputFile {
    public let path: String
    /// The temporary name, or nil when writing directly (`-`, devices, pipes).
    let temporaryPath: String?
    var handle: UnsafeMutablePointer<FILE>?

    public init(path: String) throws {
        self.path = path
        if path == "-" {
            temporaryPath = nil
            handle = stdout
            return
        }
        var info = stat()
        if stat(path, &info) == 0 && (info.st_mode & S_IFMT) != S_IFREG {
            guard (info.st_mode & S_IFMT) != S_IFDIR else { throw MetricsError.cannotWrite(path: path, reason: "it is a folder") }
            temporaryPath = nil
            guard let h = fopen(path, "wb") else { throw MetricsError.cannotWrite(path: path, reason: String(cString: strerror(errno))) }
            handle = h
            return
        }
        let temporary = path + ".partial-\(getpid())"
        temporaryPath = temporary
        Cleanup.shared.register(file: temporary)
        guard let h = fopen(temporary, "wb") else {
            Cleanup.shared.unregister(file: temporary)
            throw MetricsError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
        }
        handle = h
    }

    /// Checks, before any work, that `path` can be written later: its folder exists and
    /// is writable, and it does not name a folder.
    public static func checkWritable(_ path: String, option: String) throws {
        if path == "-" { return }
        var info = stat()
        if stat(path, &info) == 0 {
            if (info.st_mode & S_IFMT) == S_IFDIR { throw MetricsError.invalidInput("\(option) \(path) is a folder, not a file") }
            if (info.st_mode & S_IFMT) != S_IFREG { return }
        }
        let parent = RunDirectory.parent(of: path)
        guard access(parent, W_OK) == 0 else {
            throw MetricsError.invalidInput("\(option) \(path): cannot write into \(parent): \(String(cString: strerror(errno)))")
        }
    }

    deinit {
        if let handle, let temporaryPath {
            fclose(handle)
            unlink(temporaryPath)
            Cleanup.shared.unregister(file: temporaryPath)
        }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard let handle else { throw MetricsError.cannotWrite(path: path, reason: "already closed") }
        if bytes.count > 0, fwrite(bytes.baseAddress, 1, bytes.count, handle) != bytes.count {
            throw MetricsError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
        }
    }

    public func write(_ text: String) throws {
        var t = text
        try t.withUTF8 { try write(UnsafeRawBufferPointer($0)) }
    }

    /// Rewrites bytes at an absolute offset (NPY headers whose shape is known at the end).
    public func overwrite(at offset: Int, _ bytes: [UInt8]) throws {
        guard let handle else { throw MetricsError.cannotWrite(path: path, reason: "already closed") }
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
            if h == stdout { fflush(h) } else if fclose(h) != 0 {
                throw MetricsError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
            }
            return
        }
        defer { Cleanup.shared.unregister(file: temporaryPath) }
        if fclose(h) != 0 || rename(temporaryPath, path) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(temporaryPath)
            throw MetricsError.cannotWrite(path: path, reason: reason)
        }
    }

    /// Writes a whole text file atomically.
    public static func write(_ text: String, to path: String) throws {
        let f = try OutputFile(path: path)
        try f.write(text)
        try f.commit()
    }
}
