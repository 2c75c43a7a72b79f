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

/// Page-aligned host memory, zero-initialised, freed with its owner.
public final class HostMemory: DeviceMemory {
    public let byteCount: Int
    public let raw: UnsafeMutableRawPointer

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

    public init(shape: [Int], dtype: DType = .float32, memory: DeviceMemory) {
        let n = shape.reduce(1, *)
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        precondition(memory.byteCount >= n * dtype.size, "memory too small for \(shape)")
        self.shape = shape
        self.count = n
        self.capacity = memory.byteCount / dtype.size
        self.dtype = dtype
        self.memory = memory
    }

    /// Sets one dimension (typically the batch) in place; allocation-free, for the
    /// per-step shape changes of a training loop.
    public func resize(axis: Int, to n: Int) {
        if shape[axis] == n { return }
        let others = count / max(shape[axis], 1)
        precondition(shape[axis] > 0 || count == 0, "resize of an empty dimension")
        precondition(others * n <= capacity, "resize to \(n) exceeds capacity \(capacity)")
        shape[axis] = n
        count = others * n
    }

    /// Host pointer to Float32 elements (CPU tensors only).
    @inlinable public var floats: UnsafeMutablePointer<Float> {
        guard let host = memory as? HostMemory else { preconditionFailure("tensor is not in host memory") }
        precondition(dtype == .float32, "tensor is not float32")
        return host.raw.assumingMemoryBound(to: Float.self)
    }

    /// Host pointer to Int32 elements (CPU tensors only).
    @inlinable public var ints: UnsafeMutablePointer<Int32> {
        guard let host = memory as? HostMemory else { preconditionFailure("tensor is not in host memory") }
        precondition(dtype == .int32, "tensor is not int32")
        return host.raw.assumingMemoryBound(to: Int32.self)
    }
}
