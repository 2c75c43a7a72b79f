import Dispatch

/// `(0..<count).map(body)` with the calls spread over Dispatch's thread pool; the
/// results come back in index order, so the page stays deterministic. `body` must be
/// safe to call from several threads at once.
func parallelMap<T>(_ count: Int, _ body: (Int) -> T) -> [T] {
    guard count > 1 else { return (0..<count).map(body) }
    var results = [T?](repeating: nil, count: count)
    results.withUnsafeMutableBufferPointer { slots in
        DispatchQueue.concurrentPerform(iterations: count) { i in slots[i] = body(i) }
    }
    return results.map { $0! }
}

/// Runs closures one at a time (callers' closures, such as ``ReportImages/pixel``, need
/// not be thread-safe).
final class SerialGate {
    private let semaphore = DispatchSemaphore(value: 1)

    func run<T>(_ body: () -> T) -> T {
        semaphore.wait()
        defer { semaphore.signal() }
        return body()
    }
}
