/// Element type of a ``Tensor``.
public enum DType: Sendable {
    case float32
    case int32

    /// Bytes per element.
    public var size: Int { 4 }
}

/// Storage owned by a device. The CPU device uses ``HostMemory``; other devices
/// bring their own buffer types.
public protocol DeviceMemory: AnyObject {
    /// Size of the allocation in bytes.
    var byteCount: Int { get }
}

/// 64-byte aligned host memory, zero-initialised, freed with its owner.
public final class HostMemory: DeviceMemory {
    public let byteCount: Int
    /// The allocation (CPUDevice reads it through `Tensor.hostFloats`, checked once per op).
    let raw: UnsafeMutableRawPointer

    public init(byteCount: Int) {
        self.byteCount = byteCount
        raw = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 64), alignment: 64)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 64))
    }

    deinit { raw.deallocate() }
}

/// A dense array of Float32 or Int32 values on one device.
///
/// Layout conventions used across Sieve:
/// - **Activations are channel-major**: shape `[C, N, H, W]` (one contiguous `N*H*W`
///   plane per channel), and features `[F, N]`. A convolution over the whole batch is
///   then one GEMM `Y[K, N*P*Q] = W[K, C*R*S] * cols[C*R*S, N*P*Q]` with no transpose,
///   and batch norm works on contiguous per-channel rows.
/// - **Parameters use PyTorch's layout**: convolution weights `[K, C, R, S]`, linear
///   weights `[out, in]`, so exported weights load into PyTorch unchanged.
///
/// A tensor's capacity is fixed at creation; ``resize(axis:to:)`` changes one dimension
/// within it (for instance a smaller last batch) without allocating device memory.
public final class Tensor {
    /// The logical shape.
    public private(set) var shape: [Int]
    /// Number of elements of the logical shape.
    public private(set) var count: Int
    /// Number of elements the storage holds.
    public let capacity: Int
    public let dtype: DType
    /// Device storage.
    public let memory: DeviceMemory

    /// Wraps `memory` (at least `shape.reduce(1, *) * dtype.size` bytes) as a tensor of `shape`.
    public init(shape: [Int], dtype: DType = .float32, memory: DeviceMemory) {
        guard shape.allSatisfy({ $0 >= 0 }) else { fatalError("Tensor: negative dimension in \(shape)") }
        let n = shape.reduce(1, *)
        guard memory.byteCount >= n * dtype.size else {
            fatalError("Tensor: \(memory.byteCount) bytes of memory are too small for \(shape) \(dtype)")
        }
        self.shape = shape
        self.count = n
        self.capacity = memory.byteCount / dtype.size
        self.dtype = dtype
        self.memory = memory
    }

    /// Sets one dimension (typically the batch) in place; allocation-free, for the
    /// per-step shape changes of a training loop. Stops the program when the new shape
    /// does not fit the capacity.
    public func resize(axis: Int, to n: Int) {
        guard axis >= 0 && axis < shape.count else { fatalError("Tensor.resize: axis \(axis) of a \(shape.count)-D tensor") }
        if shape[axis] == n { return }
        guard n >= 0 else { fatalError("Tensor.resize: negative size \(n)") }
        guard shape[axis] > 0 || count == 0 else { fatalError("Tensor.resize: axis \(axis) of \(shape) is empty") }
        let others = count / max(shape[axis], 1)
        guard others * n <= capacity else {
            fatalError("Tensor.resize: axis \(axis) of \(shape) to \(n) needs \(others * n) elements, capacity \(capacity)")
        }
        shape[axis] = n
        count = others * n
    }

    /// Stops the program with a message naming `op` unless the tensor is `dtype` and
    /// holds at least `elements` elements of its logical shape. Device ops call this
    /// once per tensor (never per element), in every build configuration.
    @inline(__always)
    func require(_ elements: Int, _ dtype: DType = .float32, _ op: StaticString, _ role: StaticString) {
        if count < elements || self.dtype != dtype { Tensor.mismatch(self, elements, dtype, op, role) }
    }

    @inline(never)
    static func mismatch(_ t: Tensor, _ elements: Int, _ dtype: DType, _ op: StaticString, _ role: StaticString) -> Never {
        fatalError("\(op): \(role) is \(t.shape) \(t.dtype) (\(t.count) elements), needs \(elements) \(dtype) elements")
    }
}
