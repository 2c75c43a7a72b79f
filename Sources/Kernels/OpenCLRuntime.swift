import COpenCL

/// An OpenCL call that failed: the call, the error code and its name, and for program
/// builds the compiler's log.
public struct OpenCLError: Error, CustomStringConvertible {
    public var call: String
    public var code: Int32
    public var log: String?

    public var name: String { OpenCLError.names[code] ?? "unknown OpenCL error" }

    public var description: String {
        "\(call) failed: \(name) (\(code))" + (log.map { "\nbuild log:\n\($0)" } ?? "")
    }

    static let names: [Int32: String] = [
        -1: "CL_DEVICE_NOT_FOUND", -2: "CL_DEVICE_NOT_AVAILABLE", -3: "CL_COMPILER_NOT_AVAILABLE",
        -4: "CL_MEM_OBJECT_ALLOCATION_FAILURE", -5: "CL_OUT_OF_RESOURCES", -6: "CL_OUT_OF_HOST_MEMORY",
        -11: "CL_BUILD_PROGRAM_FAILURE", -30: "CL_INVALID_VALUE", -33: "CL_INVALID_DEVICE",
        -34: "CL_INVALID_CONTEXT", -36: "CL_INVALID_COMMAND_QUEUE", -38: "CL_INVALID_MEM_OBJECT",
        -43: "CL_INVALID_BUILD_OPTIONS", -44: "CL_INVALID_PROGRAM", -45: "CL_INVALID_PROGRAM_EXECUTABLE",
        -46: "CL_INVALID_KERNEL_NAME", -48: "CL_INVALID_KERNEL", -49: "CL_INVALID_ARG_INDEX",
        -50: "CL_INVALID_ARG_VALUE", -51: "CL_INVALID_ARG_SIZE", -52: "CL_INVALID_KERNEL_ARGS",
        -54: "CL_INVALID_WORK_GROUP_SIZE", -55: "CL_INVALID_WORK_ITEM_SIZE", -56: "CL_INVALID_GLOBAL_OFFSET",
        -61: "CL_INVALID_BUFFER_SIZE", -63: "CL_INVALID_GLOBAL_WORK_SIZE", -1001: "CL_PLATFORM_NOT_FOUND_KHR",
    ]
}

@inline(__always)
func check(_ status: cl_int, _ call: @autoclosure () -> String) throws {
    if status != CL_SUCCESS { throw OpenCLError(call: call(), code: status, log: nil) }
}

/// The device memory a context's buffers hold: now and at most (``OpenCLContext/memoryUse``).
public final class OpenCLMemoryUse {
    /// Bytes of the buffers alive now.
    public internal(set) var bytes = 0
    /// The most ``bytes`` has been since the context was created (or ``resetPeak()``).
    public internal(set) var peakBytes = 0

    public func resetPeak() { peakBytes = bytes }

    func add(_ n: Int) {
        bytes += n
        peakBytes = max(peakBytes, bytes)
    }
}

/// Device memory of an OpenCL buffer, released with its owner.
public final class OpenCLMemory: DeviceMemory {
    public let buffer: cl_mem
    public let byteCount: Int
    let use: OpenCLMemoryUse

    init(context: cl_context, byteCount: Int, use: OpenCLMemoryUse) throws {
        var status: cl_int = 0
        guard let b = clCreateBuffer(context, cl_mem_flags(CL_MEM_READ_WRITE), max(byteCount, 4), nil, &status),
              status == CL_SUCCESS else { throw OpenCLError(call: "clCreateBuffer(\(byteCount) bytes)", code: status, log: nil) }
        buffer = b
        self.byteCount = byteCount
        self.use = use
        use.add(max(byteCount, 4))
    }

    deinit {
        clReleaseMemObject(buffer)
        use.add(-max(byteCount, 4))
    }
}

/// One OpenCL device with its context and in-order queue. Programs are built by
/// ``buildProgram(_:options:)``; ``OpenCLDevice`` keeps the programs and kernels it needs.
public final class OpenCLContext {
    public let info: OpenCLDeviceInfo
    public let device: cl_device_id
    public let context: cl_context
    public let queue: cl_command_queue

    /// Whether the queue records each command's start and end (`CL_QUEUE_PROFILING_ENABLE`).
    public let profiling: Bool
    /// The bytes of the buffers allocated in this context.
    public let memoryUse = OpenCLMemoryUse()

    /// - Parameters:
    ///   - index: position in ``Devices/openCL()``'s list (`--device opencl:N`).
    ///   - profiling: create the queue with profiling on (`--profile`).
    public init(index: Int = 0, profiling: Bool = false) throws {
        self.profiling = profiling
        let all = Devices.openCLDeviceIDs()
        guard index >= 0 && index < all.count else {
            let why = Devices.openCL().problem ?? "\(all.count) OpenCL devices found"
            throw OpenCLError(call: "opencl:\(index): \(why); device lookup", code: -1, log: nil)
        }
        let id = all[index].id
        device = id
        info = Devices.openCL().devices[index]
        var status: cl_int = 0
        var ids: [cl_device_id?] = [id]
        guard let ctx = clCreateContext(nil, 1, &ids, nil, nil, &status), status == CL_SUCCESS else {
            throw OpenCLError(call: "clCreateContext", code: status, log: nil)
        }
        context = ctx
        let properties = cl_command_queue_properties(profiling ? CL_QUEUE_PROFILING_ENABLE : 0)
        guard let q = clCreateCommandQueue(ctx, id, properties, &status), status == CL_SUCCESS else {
            clReleaseContext(ctx)
            throw OpenCLError(call: "clCreateCommandQueue", code: status, log: nil)
        }
        queue = q
    }

    deinit {
        clReleaseCommandQueue(queue)
        clReleaseContext(context)
    }

    /// Builds `source` (a file name for messages and its text) with `-cl-std=CL1.2` and
    /// `options`; the caller releases the program (`clReleaseProgram`). A failed build
    /// throws with the compiler's log.
    public func buildProgram(_ source: (name: String, text: [UInt8]), options: String = "") throws -> cl_program {
        var status: cl_int = 0
        let text = String(decoding: source.text, as: UTF8.self)
        let program: cl_program? = text.withCString { cstr in
            var pointer: UnsafePointer<CChar>? = cstr
            var length = strlen(cstr)
            return clCreateProgramWithSource(context, 1, &pointer, &length, &status)
        }
        guard let program, status == CL_SUCCESS else { throw OpenCLError(call: "clCreateProgramWithSource(\(source.name))", code: status, log: nil) }
        var ids: [cl_device_id?] = [device]
        let built = clBuildProgram(program, 1, &ids, "-cl-std=CL1.2 " + options, nil, nil)
        if built != CL_SUCCESS {
            var size = 0
            clGetProgramBuildInfo(program, device, cl_program_build_info(CL_PROGRAM_BUILD_LOG), 0, nil, &size)
            var log = [CChar](repeating: 0, count: max(size, 1))
            clGetProgramBuildInfo(program, device, cl_program_build_info(CL_PROGRAM_BUILD_LOG), size, &log, nil)
            clReleaseProgram(program)
            throw OpenCLError(call: "clBuildProgram(\(source.name) \(options))", code: built, log: String(cString: log))
        }
        return program
    }

    /// The kernel `name` of a built program; the caller releases it (`clReleaseKernel`).
    public func createKernel(_ name: String, in program: cl_program) throws -> cl_kernel {
        var status: cl_int = 0
        guard let k = clCreateKernel(program, name, &status), status == CL_SUCCESS else {
            throw OpenCLError(call: "clCreateKernel(\(name))", code: status, log: nil)
        }
        return k
    }

    /// `CL_KERNEL_NUM_ARGS` of a kernel.
    public func argumentCount(of kernel: cl_kernel) throws -> Int {
        var count: cl_uint = 0
        try check(clGetKernelInfo(kernel, cl_kernel_info(CL_KERNEL_NUM_ARGS), MemoryLayout<cl_uint>.size, &count, nil),
                  "clGetKernelInfo(CL_KERNEL_NUM_ARGS)")
        return Int(count)
    }

    /// Builds `source` with `options` and `-cl-kernel-arg-info` and lists every kernel it
    /// defines: its name, `CL_KERNEL_NUM_ARGS`, and the kind of each argument as declared
    /// (nil for a kind Sieve does not use). For the test that checks ``Kernel``'s declarations.
    func kernelSignatures(_ source: (name: String, text: [UInt8]), options: String) throws
        -> [(name: String, argumentCount: Int, arguments: [KernelArgumentKind?])] {
        let program = try buildProgram(source, options: options + " -cl-kernel-arg-info")
        defer { clReleaseProgram(program) }
        var count: cl_uint = 0
        try check(clCreateKernelsInProgram(program, 0, nil, &count), "clCreateKernelsInProgram")
        var kernels = [cl_kernel?](repeating: nil, count: Int(count))
        try check(clCreateKernelsInProgram(program, count, &kernels, nil), "clCreateKernelsInProgram")
        defer { for k in kernels { if let k { clReleaseKernel(k) } } }
        return try kernels.compactMap { $0 }.map { k in
            let name = try infoString { clGetKernelInfo(k, cl_kernel_info(CL_KERNEL_FUNCTION_NAME), $0, $1, $2) }
            let argumentCount = try self.argumentCount(of: k)
            var arguments: [KernelArgumentKind?] = []
            for i in 0..<cl_uint(argumentCount) {
                var qualifier: cl_kernel_arg_address_qualifier = 0
                try check(clGetKernelArgInfo(k, i, cl_kernel_arg_info(CL_KERNEL_ARG_ADDRESS_QUALIFIER),
                                             MemoryLayout<cl_kernel_arg_address_qualifier>.size, &qualifier, nil),
                          "clGetKernelArgInfo(CL_KERNEL_ARG_ADDRESS_QUALIFIER)")
                let type = try infoString { clGetKernelArgInfo(k, i, cl_kernel_arg_info(CL_KERNEL_ARG_TYPE_NAME), $0, $1, $2) }
                switch Int32(qualifier) {
                case CL_KERNEL_ARG_ADDRESS_GLOBAL: arguments.append(.buffer)
                case CL_KERNEL_ARG_ADDRESS_LOCAL: arguments.append(.local)
                case CL_KERNEL_ARG_ADDRESS_PRIVATE where type == "int": arguments.append(.int)
                case CL_KERNEL_ARG_ADDRESS_PRIVATE where type == "float": arguments.append(.float)
                default: arguments.append(nil)
                }
            }
            return (name, argumentCount, arguments)
        }
    }

    private func infoString(_ query: (Int, UnsafeMutableRawPointer?, UnsafeMutablePointer<Int>?) -> cl_int) throws -> String {
        var size = 0
        try check(query(0, nil, &size), "clGet*Info")
        var bytes = [UInt8](repeating: 0, count: max(size, 1))
        try check(bytes.withUnsafeMutableBytes { query(size, $0.baseAddress, nil) }, "clGet*Info")
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// A buffer of `byteCount` bytes.
    public func allocate(_ byteCount: Int) throws -> OpenCLMemory {
        try OpenCLMemory(context: context, byteCount: byteCount, use: memoryUse)
    }

    /// Sets every byte of `memory` to zero (queued).
    public func zero(_ memory: OpenCLMemory) throws {
        guard memory.byteCount > 0 else { return }
        var pattern: UInt8 = 0
        try check(clEnqueueFillBuffer(queue, memory.buffer, &pattern, 1, 0, memory.byteCount, 0, nil, nil), "clEnqueueFillBuffer")
    }

    /// Copies `count` bytes into `memory`; with `blocking` false it returns at once and
    /// `bytes` must stay unchanged until the queue has run the copy.
    public func write(_ bytes: UnsafeRawPointer, count: Int, to memory: OpenCLMemory, blocking: Bool = true) throws {
        try check(clEnqueueWriteBuffer(queue, memory.buffer, cl_bool(blocking ? CL_TRUE : CL_FALSE), 0, count, bytes, 0, nil, nil),
                  "clEnqueueWriteBuffer")
    }

    public func read(_ memory: OpenCLMemory, into bytes: UnsafeMutableRawPointer, count: Int) throws {
        try check(clEnqueueReadBuffer(queue, memory.buffer, cl_bool(CL_TRUE), 0, count, bytes, 0, nil, nil), "clEnqueueReadBuffer")
    }

    public func finish() throws { try check(clFinish(queue), "clFinish") }
}

#if canImport(Glibc)
import Glibc
#endif
