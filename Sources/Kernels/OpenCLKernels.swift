import COpenCL

/// The embedded OpenCL C sources, one op family per file (SwiftPM `embedInCode`
/// resources, so a copied or static binary carries them).
public enum KernelSource: Int, CaseIterable, Sendable {
    case elementwise, gemm, conv, norm, layers

    /// The file under `Sources/Kernels/OpenCL/`.
    public var fileName: String {
        switch self {
        case .elementwise: "elementwise.cl"
        case .gemm: "gemm.cl"
        case .conv: "conv.cl"
        case .norm: "norm.cl"
        case .layers: "layers.cl"
        }
    }

    /// The source text. GEMM-shaped files (``usesTiledGEMM``) get `tiles.cl`, the tiled-GEMM
    /// macros they share, prepended (and a `#line 1`, so build logs count the file's own lines).
    public var text: [UInt8] {
        let own: [UInt8]
        switch self {
        case .elementwise: own = PackageResources.elementwise_cl
        case .gemm: own = PackageResources.gemm_cl
        case .conv: own = PackageResources.conv_cl
        case .norm: own = PackageResources.norm_cl
        case .layers: own = PackageResources.layers_cl
        }
        return usesTiledGEMM ? PackageResources.tiles_cl + Array("\n#line 1\n".utf8) + own : own
    }

    /// True for the files built on `tiles.cl` (the plain GEMM and the implicit-GEMM convolutions).
    public var usesTiledGEMM: Bool { self == .gemm || self == .conv }
}

/// What one kernel argument is, as the `.cl` source declares it.
public enum KernelArgumentKind: Sendable, Equatable, CustomStringConvertible {
    /// `__global T*`.
    case buffer
    /// `const int`.
    case int
    /// `const float`.
    case float
    /// `__local T*` (size set at launch, no value).
    case local

    public var description: String {
        switch self {
        case .buffer: "__global buffer"
        case .int: "int"
        case .float: "float"
        case .local: "__local buffer"
        }
    }
}

/// Every OpenCL kernel Sieve launches: its name in the source, its source file and
/// its declared arguments. ``OpenCLDevice`` builds each source once, keeps the kernels
/// in an array indexed by this enum, checks `CL_KERNEL_NUM_ARGS` against ``arguments``
/// when it creates them, and checks every launch's argument kinds against them.
/// A test builds every source and checks both directions (every declared kernel
/// exists with these arguments; no kernel in a `.cl` file is undeclared).
public enum Kernel: Int, CaseIterable, Sendable {
    // elementwise.cl
    case fill, copyBuffer, accumulate, add, reluForward, reluBackward, sgdStep
    // gemm.cl
    case gemm
    // conv.cl
    case convForward, convBackwardWeight, convBackwardData, convNormsExplicit, convNormsGhost, sumPartials
    // norm.cl
    case bnTrainForward, bnInferForward, bnTrainBackward, bnInferBackwardData, bnInferSums, bnParamGrads, bnNorms
    // layers.cl
    case maxpoolForward, maxpoolBackward, avgpoolForward, avgpoolBackward, gapForward, gapBackward, flatten,
         broadcastBias, rowSums, linearNorms, softmaxCrossEntropy

    /// The `__kernel` function's name.
    public var name: String { Kernel.declarations[rawValue].name }
    /// The file that defines it.
    public var source: KernelSource { Kernel.declarations[rawValue].source }
    /// Its arguments, in order.
    public var arguments: [KernelArgumentKind] { Kernel.declarations[rawValue].arguments }

    /// Built once (reading it allocates nothing).
    static let declarations: [(name: String, source: KernelSource, arguments: [KernelArgumentKind])] =
        allCases.map { $0.declaration }

    private var declaration: (name: String, source: KernelSource, arguments: [KernelArgumentKind]) {
        let B = KernelArgumentKind.buffer, I = KernelArgumentKind.int, F = KernelArgumentKind.float
        let L = KernelArgumentKind.local
        let convGeometry = [I, I, I, I, I, I, I, I, I, I]   // C N H W K R stride pad P Q
        let poolGeometry = [I, I, I, I, I, I, I]               // H W P Q k s pad
        switch self {
        case .fill: return ("fill", .elementwise, [B, F, I])
        case .copyBuffer: return ("copy_buffer", .elementwise, [B, B, I])
        case .accumulate: return ("accumulate", .elementwise, [B, B, I])
        case .add: return ("add", .elementwise, [B, B, B, I])
        case .reluForward: return ("relu_forward", .elementwise, [B, B, I])
        case .reluBackward: return ("relu_backward", .elementwise, [B, B, B, I])
        case .sgdStep: return ("sgd_step", .elementwise, [B, B, B, F, F, F, I, I])
        case .gemm: return ("gemm", .gemm, [I, I, I, F, B, I, I, I, B, I, I, I, F, B, I, I])
        case .convForward: return ("conv_forward", .conv, [B, B, B] + convGeometry)
        case .convBackwardWeight: return ("conv_backward_weight", .conv, [B, B, B] + convGeometry)
        case .convBackwardData: return ("conv_backward_data", .conv, [B, B, B] + convGeometry)
        case .convNormsExplicit: return ("conv_norms_explicit", .conv, [B, B, B] + convGeometry + [I])   // ... n0
        case .convNormsGhost: return ("conv_norms_ghost", .conv, [B, B, B] + convGeometry + [I])         // ... n0
        case .sumPartials: return ("sum_partials", .conv, [B, I, B, I, L])
        case .bnTrainForward: return ("bn_train_forward", .norm, [B, B, B, B, B, B, B, B, I, F, F, I, L])
        case .bnInferForward: return ("bn_infer_forward", .norm, [B, B, B, B, B, B, I, F, I, I])
        case .bnTrainBackward: return ("bn_train_backward", .norm, [B, B, B, B, B, B, B, B, B, I, I, L])
        case .bnInferBackwardData: return ("bn_infer_backward_data", .norm, [B, B, B, B, B, I, F, I, I])
        case .bnInferSums: return ("bn_infer_sums", .norm, [B, B, B, B, B, B, I, I, I, F, L])
        case .bnParamGrads: return ("bn_param_grads", .norm, [B, B, B, I, I])
        case .bnNorms: return ("bn_norms", .norm, [B, B, I, I])
        case .maxpoolForward: return ("maxpool_forward", .layers, [B, B] + poolGeometry + [I])
        case .maxpoolBackward: return ("maxpool_backward", .layers, [B, B, B] + poolGeometry + [I])
        case .avgpoolForward: return ("avgpool_forward", .layers, [B, B] + poolGeometry + [I])
        case .avgpoolBackward: return ("avgpool_backward", .layers, [B, B] + poolGeometry + [I])
        case .gapForward: return ("gap_forward", .layers, [B, B, I, I])
        case .gapBackward: return ("gap_backward", .layers, [B, B, I, I])
        case .flatten: return ("flatten", .layers, [B, B, I, I, I, I])
        case .broadcastBias: return ("broadcast_bias", .layers, [B, B, I, I])
        case .rowSums: return ("row_sums", .layers, [B, B, I, I])
        case .linearNorms: return ("linear_norms", .layers, [B, B, B, I, I, I])
        case .softmaxCrossEntropy: return ("softmax_cross_entropy", .layers, [B, B, F, B, B, I, I])
        }
    }
}

/// A value that can be a kernel argument: ``Tensor`` and ``OpenCLMemory`` (buffers),
/// `Int32`, `Int` and `Bool` (`int`), `Float` (`float`), ``LocalMemory`` (`__local`).
/// Setting one calls `clSetKernelArg` on a stack copy: nothing is allocated.
protocol KernelArgument {
    /// The declared kind this value fills.
    static var kernelArgumentKind: KernelArgumentKind { get }
    /// `clSetKernelArg(kernel, index, ...)`; returns the OpenCL status.
    func setArgument(of kernel: cl_kernel, at index: cl_uint) -> cl_int
}

extension OpenCLMemory: KernelArgument {
    static var kernelArgumentKind: KernelArgumentKind { .buffer }
    @inline(__always)
    func setArgument(of kernel: cl_kernel, at index: cl_uint) -> cl_int {
        var b: cl_mem? = buffer
        return clSetKernelArg(kernel, index, MemoryLayout<cl_mem>.size, &b)
    }
}

extension Tensor: KernelArgument {
    static var kernelArgumentKind: KernelArgumentKind { .buffer }
    /// The tensor's buffer; a tensor of another device stops the program.
    @inline(__always)
    func setArgument(of kernel: cl_kernel, at index: cl_uint) -> cl_int {
        guard let m = memory as? OpenCLMemory else {
            fatalError("OpenCLDevice: a \(shape) tensor in \(type(of: memory)) is not OpenCL memory (a tensor of another device?)")
        }
        return m.setArgument(of: kernel, at: index)
    }
}

extension Int32: KernelArgument {
    static var kernelArgumentKind: KernelArgumentKind { .int }
    @inline(__always)
    func setArgument(of kernel: cl_kernel, at index: cl_uint) -> cl_int {
        var v = self
        return clSetKernelArg(kernel, index, 4, &v)
    }
}

extension Int: KernelArgument {
    static var kernelArgumentKind: KernelArgumentKind { .int }
    /// As a 32-bit `int`; a value that does not fit stops the program (the kernels index with `int`).
    @inline(__always)
    func setArgument(of kernel: cl_kernel, at index: cl_uint) -> cl_int {
        guard let v = Int32(exactly: self) else { fatalError("OpenCL kernel argument \(index): \(self) does not fit a 32-bit int") }
        return v.setArgument(of: kernel, at: index)
    }
}

extension Bool: KernelArgument {
    static var kernelArgumentKind: KernelArgumentKind { .int }
    /// As the `int` 1 or 0.
    @inline(__always)
    func setArgument(of kernel: cl_kernel, at index: cl_uint) -> cl_int {
        Int32(self ? 1 : 0).setArgument(of: kernel, at: index)
    }
}

extension Float: KernelArgument {
    static var kernelArgumentKind: KernelArgumentKind { .float }
    @inline(__always)
    func setArgument(of kernel: cl_kernel, at index: cl_uint) -> cl_int {
        var v = self
        return clSetKernelArg(kernel, index, 4, &v)
    }
}

/// A `__local` buffer of `bytes` bytes (work-group scratch).
struct LocalMemory: KernelArgument {
    var bytes: Int
    init(bytes: Int) { self.bytes = bytes }
    static var kernelArgumentKind: KernelArgumentKind { .local }
    @inline(__always)
    func setArgument(of kernel: cl_kernel, at index: cl_uint) -> cl_int {
        clSetKernelArg(kernel, index, bytes, nil)
    }
}

/// The work of one launch: global and local sizes in one or two dimensions, stored
/// inline (no arrays). A 1-D range has `global.1 == local.1 == 1`.
struct WorkSize {
    var global: (Int, Int)
    var local: (Int, Int)

    init(global: (Int, Int), local: (Int, Int)) {
        self.global = global; self.local = local
    }

    /// `count` work-items in groups of `group`, rounded up to whole groups.
    static func items(_ count: Int, group: Int = 64) -> WorkSize {
        WorkSize(global: ((count + group - 1) / group * group, 1), local: (group, 1))
    }

    /// `groups` work-groups of `size` work-items.
    static func groups(_ groups: Int, of size: Int) -> WorkSize {
        WorkSize(global: (groups * size, 1), local: (size, 1))
    }

    var dimensions: cl_uint { global.1 == 1 && local.1 == 1 ? 1 : 2 }
}
