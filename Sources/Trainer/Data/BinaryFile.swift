import CZlib
import Glibc

/// Whole-file reads and path checks for the data loaders. Gzip-compressed files are
/// decompressed transparently (zlib's `gzread` passes uncompressed files through).
public enum BinaryFile {
    /// Reads all of `path` into memory, decompressing it when it is gzip data.
    ///
    /// - Parameter missingHint: the advice given when the file does not exist.
    /// - Throws: `DataError.missingFile`, or `DataError.readFailed` for a directory or
    ///   anything else that is not a regular file, an unreadable file, or a truncated or
    ///   corrupt gzip stream.
    public static func read(_ path: String, missingHint: String = "check the path") throws -> [UInt8] {
        guard exists(path) else { throw DataError.missingFile(path: path, hint: missingHint) }
        guard !isDirectory(path) else { throw DataError.readFailed(path: path, reason: "it is a directory") }
        guard fileExists(path) else {
            throw DataError.readFailed(path: path, reason: "not a regular file (a device, pipe or socket)")
        }
        guard let file = gzopen(path, "rb") else {
            throw DataError.readFailed(path: path, reason: String(cString: strerror(errno)))
        }
        _ = gzbuffer(file, 1 << 18)
        var out = [UInt8](repeating: 0, count: max(sizeHint(path), 4096))
        var filled = 0
        while true {
            if filled == out.count { out.append(contentsOf: repeatElement(0, count: out.count)) }
            let room = min(out.count - filled, Int(Int32.max))
            let n = out.withUnsafeMutableBytes { buf in
                gzread(file, buf.baseAddress! + filled, UInt32(room))
            }
            if n < 0 { break }
            if n == 0 { break }
            filled += Int(n)
        }
        var errnum: Int32 = 0
        let message = gzerror(file, &errnum).map { String(cString: $0) } ?? ""
        let closed = gzclose(file)
        if errnum != Z_OK || closed != Z_OK {
            let reason = errnum == Z_ERRNO || closed == Z_ERRNO
                ? String(cString: strerror(errno))
                : (message.isEmpty ? "gzip stream is corrupt" : "gzip: \(message)")
            throw DataError.readFailed(path: path, reason: reason)
        }
        out.removeLast(out.count - filled)
        return out
    }

    /// True when `path` names a regular file (following symbolic links).
    public static func fileExists(_ path: String) -> Bool {
        guard let mode = mode(path) else { return false }
        return mode & S_IFMT == S_IFREG
    }

    /// True when `path` names a directory (following symbolic links).
    public static func isDirectory(_ path: String) -> Bool {
        guard let mode = mode(path) else { return false }
        return mode & S_IFMT == S_IFDIR
    }

    /// True when anything exists at `path`.
    public static func exists(_ path: String) -> Bool { mode(path) != nil }

    /// The size of `path` in bytes as stored on disk (compressed size for gzip), or nil.
    public static func size(_ path: String) -> Int? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Int(st.st_size)
    }

    /// `directory/name`, without doubling a trailing slash.
    public static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// The first of `names` present in `directory` as a regular file, each tried as
    /// it is and then with `.gz` appended; nil when none is.
    public static func find(_ names: [String], in directory: String) -> String? {
        for name in names {
            for suffix in ["", ".gz"] {
                let path = join(directory, name + suffix)
                if fileExists(path) { return path }
            }
        }
        return nil
    }

    private static func mode(_ path: String) -> mode_t? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return st.st_mode
    }

    /// Bytes expected after decompression, plus one so the end is seen without growing:
    /// the gzip trailer's size field (bounded by deflate's largest ratio), or the file size.
    private static func sizeHint(_ path: String) -> Int {
        guard let stored = size(path) else { return 0 }
        guard stored >= 18, let f = fopen(path, "rb") else { return stored + 1 }
        defer { fclose(f) }
        var head = [UInt8](repeating: 0, count: 2)
        guard fread(&head, 1, 2, f) == 2, head == [0x1f, 0x8b], fseek(f, -4, SEEK_END) == 0 else {
            return stored + 1
        }
        var tail = [UInt8](repeating: 0, count: 4)
        guard fread(&tail, 1, 4, f) == 4 else { return stored + 1 }
        let isize = Int(tail[0]) | Int(tail[1]) << 8 | Int(tail[2]) << 16 | Int(tail[3]) << 24
        return min(isize, stored * 1032 + 1024) + 1
    }
}

/// Integer reads from byte arrays at a given offset. Callers check bounds first (this
/// target builds with bounds checks, so a missed check traps instead of reading past the end).
enum DataBytes {
    static func bigEndianUInt32(_ b: [UInt8], at offset: Int) -> UInt32 {
        UInt32(b[offset]) << 24 | UInt32(b[offset + 1]) << 16 | UInt32(b[offset + 2]) << 8 | UInt32(b[offset + 3])
    }

    static func littleEndianUInt16(_ b: [UInt8], at offset: Int) -> UInt16 {
        UInt16(b[offset]) | UInt16(b[offset + 1]) << 8
    }

    static func littleEndianUInt32(_ b: [UInt8], at offset: Int) -> UInt32 {
        UInt32(b[offset]) | UInt32(b[offset + 1]) << 8 | UInt32(b[offset + 2]) << 16 | UInt32(b[offset + 3]) << 24
    }
}
