import Dispatch

#if canImport(Glibc)
import Glibc
#endif

/// Number of worker threads for data-parallel loops (the machine's online cores).
public let workerCount: Int = {
    #if canImport(Glibc)
    return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    #else
    return 1
    #endif
}()

/// Runs `body` over `0..<count` split into contiguous ranges, one per core, on
/// Dispatch's pool. Runs inline when the work is small (`count < 2 * grain`).
@inline(__always)
public func parallelRanges(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
    if count <= 0 { return }
    let workers = min(workerCount, max(1, count / max(grain, 1)))
    if workers <= 1 {
        body(0..<count)
        return
    }
    DispatchQueue.concurrentPerform(iterations: workers) { w in
        let lo = count * w / workers
        let hi = count * (w + 1) / workers
        if lo < hi { body(lo..<hi) }
    }
}
