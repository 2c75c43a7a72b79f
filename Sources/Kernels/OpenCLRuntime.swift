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

/// Device memory of an OpenCL buffer, released with its owner.
public final class OpenCLMemory: DeviceMemory {
    public let buffer: cl_mem
    public let byteCount: Int

    init(context: cl_context, byteCount: Int) throws {
        var status: cl_int = 0
        guard let b = clCreateBuffer(context, cl_mem_flags(CL_MEM_READ_WRITE), max(byteCount, 4), nil, &status),
              status == CL_SUCCESS else { throw OpenCLError(call: "clCreateBuffer(\(byteCount) bytes)", code: status, log: nil) }
        buffer = b
        self.byteCount = byteCount
    }

    deinit { clReleaseMemObject(buffer) }
}

/// One OpenCL device with its context, in-order queue, and the programs built for it
/// (built once per source and options, kernels cached).
public final class OpenCLContext {
    public let info: OpenCLDeviceInfo
    public let device: cl_device_id
    public let context: cl_context
    public let queue: cl_command_queue
    private var programs: [String: cl_program] = [:]
    private var kernels: [String: cl_kernel] = [:]

    /// - Parameter index: position in ``Devices/openCL()``'s list (`--device opencl:N`).
    public init(index: Int = 0) throws {
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
        guard let q = clCreateCommandQueue(ctx, id, 0, &status), status == CL_SUCCESS else {
            clReleaseContext(ctx)
            throw OpenCLError(call: "clCreateCommandQueue", code: status, log: nil)
        }
        queue = q
    }

    deinit {
        for k in kernels.values { clReleaseKernel(k) }
        for p in programs.values { clReleaseProgram(p) }
        clReleaseCommandQueue(queue)
        clReleaseContext(context)
    }

    /// The kernel `name` from `source` (an embedded `.cl` file) built with `options`.
    public func kernel(_ name: String, source: (name: String, text: [UInt8]), options: String = "") throws -> cl_kernel {
        let key = source.name + "|" + options + "|" + name
        if let k = kernels[key] { return k }
        let program = try self.program(source, options: options)
        var status: cl_int = 0
        guard let k = clCreateKernel(program, name, &status), status == CL_SUCCESS else {
            throw OpenCLError(call: "clCreateKernel(\(name))", code: status, log: nil)
        }
        kernels[key] = k
        return k
    }

    private func program(_ source: (name: String, text: [UInt8]), options: String) throws -> cl_program {
        let key = source.name + "|" + options
        if let p = programs[key] { return p }
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
        programs[key] = program
        return program
    }

    /// A buffer of `byteCount` bytes.
    public func allocate(_ byteCount: Int) throws -> OpenCLMemory { try OpenCLMemory(context: context, byteCount: byteCount) }

    /// Runs a 1-D or 2-D kernel after setting its arguments.
    public func run(_ kernel: cl_kernel, global: [Int], local: [Int]? = nil, _ arguments: [KernelArgument]) throws {
        for (i, a) in arguments.enumerated() { try a.set(kernel, i) }
        let status: cl_int = global.withUnsafeBufferPointer { g in
            if let local {
                return local.withUnsafeBufferPointer { l in
                    clEnqueueNDRangeKernel(queue, kernel, cl_uint(g.count), nil, g.baseAddress, l.baseAddress, 0, nil, nil)
                }
            }
            return clEnqueueNDRangeKernel(queue, kernel, cl_uint(g.count), nil, g.baseAddress, nil, 0, nil, nil)
        }
        try check(status, "clEnqueueNDRangeKernel(global \(global), local \(local ?? []))")
    }

    public func write(_ bytes: UnsafeRawPointer, count: Int, to memory: OpenCLMemory) throws {
        try check(clEnqueueWriteBuffer(queue, memory.buffer, cl_bool(CL_TRUE), 0, count, bytes, 0, nil, nil), "clEnqueueWriteBuffer")
    }

    public func read(_ memory: OpenCLMemory, into bytes: UnsafeMutableRawPointer, count: Int) throws {
        try check(clEnqueueReadBuffer(queue, memory.buffer, cl_bool(CL_TRUE), 0, count, bytes, 0, nil, nil), "clEnqueueReadBuffer")
    }

    public func finish() throws { try check(clFinish(queue), "clFinish") }
}

/// A kernel argument: a buffer, an int or a float.
public enum KernelArgument {
    case buffer(OpenCLMemory)
    case int(Int32)
    case float(Float)
    /// `__local` memory of this many bytes.
    case local(Int)

    func set(_ kernel: cl_kernel, _ index: Int) throws {
        let status: cl_int
        switch self {
        case .buffer(let m):
            var b: cl_mem? = m.buffer
            status = clSetKernelArg(kernel, cl_uint(index), MemoryLayout<cl_mem>.size, &b)
        case .int(let v):
            var x = v
            status = clSetKernelArg(kernel, cl_uint(index), 4, &x)
        case .float(let v):
            var x = v
            status = clSetKernelArg(kernel, cl_uint(index), 4, &x)
        case .local(let bytes):
            status = clSetKernelArg(kernel, cl_uint(index), bytes, nil)
        }
        try check(status, "clSetKernelArg(\(index))")
    }
}

#if canImport(Glibc)
import Glibc
#endif
