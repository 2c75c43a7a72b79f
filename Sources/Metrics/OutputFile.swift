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

/// A file written under a temporary name (`PATH.partial`) and renamed into place by
/// ``commit()``, so a reader never sees a half-written output.
public final class OutputFile {
    public let path: String
    let temporaryPath: String
    var handle: UnsafeMutablePointer<FILE>?

    public init(path: String) throws {
        self.path = path
        temporaryPath = path + ".partial"
        guard let h = fopen(temporaryPath, "wb") else {
            throw MetricsError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
        }
        handle = h
    }

    deinit {
        if let handle {
            fclose(handle)
            unlink(temporaryPath)
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
        if fclose(h) != 0 || rename(temporaryPath, path) != 0 {
            throw MetricsError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
        }
    }

    /// Writes a whole text file atomically.
    public static func write(_ text: String, to path: String) throws {
        let f = try OutputFile(path: path)
        try f.write(text)
        try f.commit()
    }
}
