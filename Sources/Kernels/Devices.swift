import COpenCL

/// One OpenCL device as reported by the ICD loader.
public struct OpenCLDeviceInfo: Sendable, CustomStringConvertible {
    public var platform: String
    public var name: String
    public var type: DeviceKind
    public var globalMemoryBytes: UInt64
    public var computeUnits: UInt32
    public var version: String
    /// `CL_DEVICE_VENDOR` and `CL_DRIVER_VERSION`: with the name, the key of a tuning entry.
    public var vendor: String = ""
    public var driver: String = ""
    /// `CL_DEVICE_MAX_WORK_GROUP_SIZE` and `CL_DEVICE_LOCAL_MEM_SIZE`: the limits a tuning must respect.
    public var maxWorkGroupSize: Int = 0
    public var localMemoryBytes: Int = 0
    /// `CL_DEVICE_MAX_MEM_ALLOC_SIZE`: the largest single buffer (0 when not reported).
    public var maxAllocationBytes: Int = 0

    public var description: String {
        let gib = Double(globalMemoryBytes) / Double(1 << 30)
        let mem = (gib * 10).rounded() / 10
        return "\(platform): \(name) [\(type.rawValue), \(computeUnits) compute units, \(mem) GiB, \(version)]"
    }
}

/// Device discovery.
public enum Devices {
    /// What the OpenCL ICD loader reports, or the reason it reports nothing
    /// (`CL_PLATFORM_NOT_FOUND_KHR`, -1001, when no vendor is installed).
    public static func openCL() -> (devices: [OpenCLDeviceInfo], problem: String?) {
        var platformCount: cl_uint = 0
        let status = clGetPlatformIDs(0, nil, &platformCount)
        if status != CL_SUCCESS || platformCount == 0 {
            let why = status == -1001 || platformCount == 0
                ? "no OpenCL platform found (CL_PLATFORM_NOT_FOUND_KHR, -1001): install an ICD such as pocl-opencl-icd or a GPU driver"
                : "clGetPlatformIDs failed with OpenCL error \(status)"
            return ([], why)
        }
        var platforms = [cl_platform_id?](repeating: nil, count: Int(platformCount))
        clGetPlatformIDs(platformCount, &platforms, nil)
        var found: [OpenCLDeviceInfo] = []
        for platform in platforms {
            let platformName = infoString { clGetPlatformInfo(platform, cl_platform_info(CL_PLATFORM_NAME), $0, $1, $2) }
            var deviceCount: cl_uint = 0
            guard clGetDeviceIDs(platform, cl_device_type(CL_DEVICE_TYPE_ALL), 0, nil, &deviceCount) == CL_SUCCESS,
                  deviceCount > 0 else { continue }
            var ids = [cl_device_id?](repeating: nil, count: Int(deviceCount))
            clGetDeviceIDs(platform, cl_device_type(CL_DEVICE_TYPE_ALL), deviceCount, &ids, nil)
            for id in ids {
                let name = infoString { clGetDeviceInfo(id, cl_device_info(CL_DEVICE_NAME), $0, $1, $2) }
                let version = infoString { clGetDeviceInfo(id, cl_device_info(CL_DEVICE_VERSION), $0, $1, $2) }
                var type: cl_device_type = 0
                clGetDeviceInfo(id, cl_device_info(CL_DEVICE_TYPE), MemoryLayout<cl_device_type>.size, &type, nil)
                var memory: cl_ulong = 0
                clGetDeviceInfo(id, cl_device_info(CL_DEVICE_GLOBAL_MEM_SIZE), MemoryLayout<cl_ulong>.size, &memory, nil)
                var units: cl_uint = 0
                clGetDeviceInfo(id, cl_device_info(CL_DEVICE_MAX_COMPUTE_UNITS), MemoryLayout<cl_uint>.size, &units, nil)
                let kind: DeviceKind = type & cl_device_type(CL_DEVICE_TYPE_GPU) != 0 ? .gpu
                    : type & cl_device_type(CL_DEVICE_TYPE_CPU) != 0 ? .cpu : .accelerator
                var info = OpenCLDeviceInfo(platform: platformName, name: name, type: kind,
                                            globalMemoryBytes: memory, computeUnits: units, version: version)
                info.vendor = infoString { clGetDeviceInfo(id, cl_device_info(CL_DEVICE_VENDOR), $0, $1, $2) }
                info.driver = infoString { clGetDeviceInfo(id, cl_device_info(CL_DRIVER_VERSION), $0, $1, $2) }
                var group = 0
                clGetDeviceInfo(id, cl_device_info(CL_DEVICE_MAX_WORK_GROUP_SIZE), MemoryLayout<Int>.size, &group, nil)
                var local: cl_ulong = 0
                clGetDeviceInfo(id, cl_device_info(CL_DEVICE_LOCAL_MEM_SIZE), MemoryLayout<cl_ulong>.size, &local, nil)
                var largest: cl_ulong = 0
                clGetDeviceInfo(id, cl_device_info(CL_DEVICE_MAX_MEM_ALLOC_SIZE), MemoryLayout<cl_ulong>.size, &largest, nil)
                info.maxWorkGroupSize = group
                info.localMemoryBytes = Int(local)
                info.maxAllocationBytes = Int(largest)
                found.append(info)
            }
        }
        return (found, nil)
    }

    /// Every OpenCL device id, in the order of ``openCL()``.
    static func openCLDeviceIDs() -> [(platform: cl_platform_id?, id: cl_device_id)] {
        var platformCount: cl_uint = 0
        guard clGetPlatformIDs(0, nil, &platformCount) == CL_SUCCESS, platformCount > 0 else { return [] }
        var platforms = [cl_platform_id?](repeating: nil, count: Int(platformCount))
        clGetPlatformIDs(platformCount, &platforms, nil)
        var result: [(platform: cl_platform_id?, id: cl_device_id)] = []
        for platform in platforms {
            var deviceCount: cl_uint = 0
            guard clGetDeviceIDs(platform, cl_device_type(CL_DEVICE_TYPE_ALL), 0, nil, &deviceCount) == CL_SUCCESS,
                  deviceCount > 0 else { continue }
            var ids = [cl_device_id?](repeating: nil, count: Int(deviceCount))
            clGetDeviceIDs(platform, cl_device_type(CL_DEVICE_TYPE_ALL), deviceCount, &ids, nil)
            for id in ids { if let id { result.append((platform, id)) } }
        }
        return result
    }

    private static func infoString(_ query: (Int, UnsafeMutableRawPointer?, UnsafeMutablePointer<Int>?) -> cl_int) -> String {
        var size = 0
        guard query(0, nil, &size) == CL_SUCCESS, size > 0 else { return "?" }
        var bytes = [UInt8](repeating: 0, count: size)
        _ = bytes.withUnsafeMutableBytes { query(size, $0.baseAddress, nil) }
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            .trimmingCharacters(in: " ")
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s.removeFirst() }
        while s.last == set { s.removeLast() }
        return String(s)
    }
}

extension Devices {
    /// The device for a `--device` / `SIEVE_DEVICE` value: `cpu`, `opencl` (= `opencl:0`),
    /// `opencl:N`, or nil/`auto` for ``best(note:)``. An OpenCL device that cannot be used
    /// (no platform, failed build) falls back to the CPU with one line through `note`.
    /// Throws only for a value that names no device kind.
    /// - Parameter tuning: the GEMM tuning for an OpenCL device and where it comes from
    ///   (a tuning database); nil or returning nil: ``OpenCLTuning/forDevice(_:)``.
    public static func make(_ spec: String?, profiling: Bool = false, tuning: TuningLookup? = nil,
                            note: (String) -> Void) throws -> Device {
        try validate(spec)
        switch spec {
        case nil, "auto": return best(profiling: profiling, tuning: tuning, note: note)
        case "cpu": return CPUDevice()
        case let s? where s == "opencl" || s.hasPrefix("opencl:"):
            let index = s == "opencl" ? 0 : Int(s.dropFirst(7))
            guard let index, index >= 0 else { throw DeviceError.unknown(s) }
            if s != "opencl" {
                let found = openCL()
                guard index < found.devices.count else {
                    throw DeviceError.notFound(s, available: found.devices.count, problem: found.problem)
                }
            }
            do {
                return try OpenCLDevice(index: index, profiling: profiling, tuning: tuning)
            } catch {
                note("opencl:\(index) is not usable (\(firstLine(of: error))); using the CPU")
                return CPUDevice()
            }
        case let s?:
            throw DeviceError.unknown(s)
        }
    }

    /// Throws ``DeviceError`` when `spec` names no device kind (without creating one).
    public static func validate(_ spec: String?) throws {
        guard let s = spec, s != "auto", s != "cpu", s != "opencl" else { return }
        guard s.hasPrefix("opencl:"), let i = Int(s.dropFirst(7)), i >= 0 else { throw DeviceError.unknown(s) }
    }

    /// The first OpenCL GPU, else the CPU.
    public static func best(profiling: Bool = false, tuning: TuningLookup? = nil, note: (String) -> Void) -> Device {
        let (devices, _) = openCL()
        guard let gpu = devices.firstIndex(where: { $0.type == .gpu }) else { return CPUDevice() }
        do {
            return try OpenCLDevice(index: gpu, profiling: profiling, tuning: tuning)
        } catch {
            note("opencl:\(gpu) (\(devices[gpu].name)) is not usable (\(firstLine(of: error))); using the CPU")
            return CPUDevice()
        }
    }

    private static func firstLine(of error: Error) -> String {
        String("\(error)".split(separator: "\n").first ?? "")
    }
}

/// A `--device` value that names no device.
public enum DeviceError: Error, CustomStringConvertible {
    case unknown(String)
    /// `opencl:N` asked for a device that does not exist.
    case notFound(String, available: Int, problem: String?)
    public var description: String {
        switch self {
        case .unknown(let s): "--device \(s) is unknown; use cpu, opencl or opencl:N (see `sieve devices`)"
        case .notFound(let s, let n, let problem):
            "--device \(s): there is no such OpenCL device (\(n) found\(problem.map { ": " + $0 } ?? "")); see `sieve devices`"
        }
    }
}
