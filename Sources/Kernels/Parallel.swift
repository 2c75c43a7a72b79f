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

/// Runs `body(worker, range)` over `0..<count` split into contiguous ranges, at most one
/// per worker (`workers`, default one per core), on Dispatch's pool; inline when the
/// work is small (`count < 2 * grain`). Sieve's one range splitter.
@inline(__always)
public func parallelRanges(_ count: Int, grain: Int = 1, workers: Int = workerCount,
                           indexed body: (_ worker: Int, _ range: Range<Int>) -> Void) {
    if count <= 0 { return }
    let w = min(max(workers, 1), max(1, count / max(grain, 1)))
    if w <= 1 {
        body(0, 0..<count)
        return
    }
    DispatchQueue.concurrentPerform(iterations: w) { i in
        let lo = count * i / w, hi = count * (i + 1) / w
        if lo < hi { body(i, lo..<hi) }
    }
}

/// ``parallelRanges(_:grain:workers:indexed:)`` when the body does not need the worker index.
@inline(__always)
public func parallelRanges(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
    parallelRanges(count, grain: grain, indexed: { _, range in body(range) })
}

/// The shortest of `repeats` timed calls of `body` (seconds), after one untimed warm-up call.
public func bestSeconds(repeats: Int, _ body: () -> Void) -> Double {
    body()
    var best = Double.infinity
    for _ in 0..<max(1, repeats) {
        let t0 = monotonicSeconds()
        body()
        best = min(best, monotonicSeconds() - t0)
    }
    return best
}

/// Seconds on a monotonic clock.
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
