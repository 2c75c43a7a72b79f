#if canImport(Glibc)
import Glibc
#endif

/// The text of `bytes` when they are valid UTF-8, else nil.
public func validUTF8(_ bytes: ArraySlice<UInt8>) -> String? {
    let text = String(decoding: bytes, as: UTF8.self)
    return text.utf8.elementsEqual(bytes) ? text : nil
}

/// Whole-file reads for the readers (scores.csv, meta.json, safetensors, index lists).
public enum InputFile {
    /// The lines of a text file's bytes, ending at "\n" or "\r\n" (a file saved on
    /// Windows or by a spreadsheet), empty lines kept. (Swift reads "\r\n" as one
    /// `Character`, so splitting at "\n" alone leaves such a file one line.)
    public static func lines(_ bytes: [UInt8]) -> [Substring] {
        String(decoding: bytes, as: UTF8.self).split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }
    }

    /// The bytes of `path`; throws ``StorageError/invalidInput(_:)`` naming the file, the
    /// reason and `expecting` (what the file should be) when it cannot be read.
    public static func read(_ path: String, expecting: String) throws -> [UInt8] {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw StorageError.invalidInput("cannot read \(path): \(String(cString: strerror(errno))) (expected \(expecting))")
        }
        guard st.st_mode & S_IFMT != S_IFDIR else {
            throw StorageError.invalidInput("cannot read \(path): it is a directory (expected \(expecting))")
        }
        guard let f = fopen(path, "rb") else {
            throw StorageError.invalidInput("cannot read \(path): \(String(cString: strerror(errno))) (expected \(expecting))")
        }
        defer { fclose(f) }
        var out = [UInt8](repeating: 0, count: max(Int(st.st_size), 0) + 1)
        var filled = 0
        while true {
            if filled == out.count { out.append(contentsOf: repeatElement(0, count: out.count)) }
            let n = out.withUnsafeMutableBytes { fread($0.baseAddress! + filled, 1, $0.count - filled, f) }
            filled += n
            if n == 0 { break }
        }
        if ferror(f) != 0 {
            throw StorageError.invalidInput("cannot read \(path): \(String(cString: strerror(errno))) (expected \(expecting))")
        }
        out.removeLast(out.count - filled)
        return out
    }
}
