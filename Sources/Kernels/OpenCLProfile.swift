import COpenCL

/// Per-kernel launch counts and device times of an ``OpenCLDevice`` created with
/// profiling (`--profile`): every launch keeps its event; ``collect()`` (called by
/// `synchronize`) reads each finished event's start and end
/// (`CL_PROFILING_COMMAND_START/END`) and adds them to its kernel's totals. Launches
/// are counted with profiling off too (``OpenCLDevice/launchCount``).
public final class OpenCLProfile {
    /// One kernel's totals.
    public struct Entry: Sendable {
        public var kernel: String
        public var launches: Int
        /// Device time between each launch's start and end, summed.
        public var seconds: Double
        /// Floating-point operations of the launches that declare them (GEMMs), summed.
        public var flops: Double
        public var meanMicroseconds: Double { launches > 0 ? seconds * 1e6 / Double(launches) : 0 }
        /// `flops / seconds` in GFLOP/s; nil for kernels without a FLOP count.
        public var gflopsPerSecond: Double? { flops > 0 && seconds > 0 ? flops / seconds / 1e9 : nil }
    }

    private var pending: [(kernel: Int, event: cl_event, flops: Double)] = []
    private var launches = [Int](repeating: 0, count: Kernel.allCases.count)
    private var nanoseconds = [UInt64](repeating: 0, count: Kernel.allCases.count)
    private var flops = [Double](repeating: 0, count: Kernel.allCases.count)

    init() { pending.reserveCapacity(4096) }

    deinit { for p in pending { clReleaseEvent(p.event) } }

    /// Keeps the event of one launch of `kernel` (`flops` > 0 for kernels that count them).
    func record(_ kernel: Kernel, event: cl_event, flops: Double) {
        pending.append((kernel.rawValue, event, flops))
        if pending.count >= 8192 { collect() }
    }

    /// Waits for the recorded launches and adds their times to the totals.
    public func collect() {
        for p in pending {
            var event: cl_event? = p.event
            clWaitForEvents(1, &event)
            var start: cl_ulong = 0, end: cl_ulong = 0
            clGetEventProfilingInfo(p.event, cl_profiling_info(CL_PROFILING_COMMAND_START), MemoryLayout<cl_ulong>.size, &start, nil)
            clGetEventProfilingInfo(p.event, cl_profiling_info(CL_PROFILING_COMMAND_END), MemoryLayout<cl_ulong>.size, &end, nil)
            launches[p.kernel] += 1
            nanoseconds[p.kernel] += end >= start ? end - start : 0
            flops[p.kernel] += p.flops
            clReleaseEvent(p.event)
        }
        pending.removeAll(keepingCapacity: true)
    }

    /// Forgets everything recorded so far (after a warm-up).
    public func reset() {
        collect()
        for i in launches.indices { launches[i] = 0; nanoseconds[i] = 0; flops[i] = 0 }
    }

    /// The kernels launched so far, most device time first.
    public var entries: [Entry] {
        collect()
        return Kernel.allCases.compactMap { k in
            launches[k.rawValue] == 0 ? nil : Entry(kernel: k.name, launches: launches[k.rawValue],
                                                    seconds: Double(nanoseconds[k.rawValue]) / 1e9, flops: flops[k.rawValue])
        }.sorted { $0.seconds > $1.seconds }
    }
}
