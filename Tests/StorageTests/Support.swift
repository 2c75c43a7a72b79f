#if canImport(Glibc)
import Glibc
#endif

/// A fresh empty folder under /tmp.
func temporaryDirectory() -> String {
    var template = Array("/tmp/sieve-storage-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
}
