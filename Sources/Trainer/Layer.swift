import Kernels

/// Per-example feature shape `(channels, height, width)`; features are `(F, 1, 1)`.
public struct FeatureShape: Hashable, Sendable, CustomStringConvertible {
    public var channels: Int
    public var height: Int
    public var width: Int
    public init(_ channels: Int, _ height: Int = 1, _ width: Int = 1) {
        self.channels = channels; self.height = height; self.width = width
    }
    public var plane: Int { height * width }
    public var count: Int { channels * height * width }
    /// Channel-major batch shape `[C, N, H, W]`.
    public func batched(_ n: Int) -> [Int] { [channels, n, height, width] }
    public var description: String { "\(channels)x\(height)x\(width)" }
}

/// Whether batch norm uses batch statistics (training) or running statistics (evaluation).
public enum Mode: Sendable {
    case training
    case evaluation
}

/// A network layer with a hand-written backward. Buffers (outputs, input gradients)
/// are allocated once for the model's largest batch and reused.
public protocol Layer: AnyObject {
    var inputShape: FeatureShape { get }
    var outputShape: FeatureShape { get }
    var parameters: [Parameter] { get }
    var buffers: [Buffer] { get }
    /// False for the first layer: its backward then skips the input gradient.
    var needsInputGradient: Bool { get set }
    /// `x` is `[C, N, H, W]` with `N = batch`; returns the layer's output tensor.
    func forward(_ x: Tensor, batch: Int, mode: Mode) -> Tensor
    /// Given the gradient of the loss w.r.t. the output of the last forward, writes
    /// the parameter gradients and returns the gradient w.r.t. the input (nil when
    /// ``needsInputGradient`` is false). May overwrite `dy`.
    func backward(_ dy: Tensor) -> Tensor?
    /// Sets the initial parameter values from a seeded stream.
    func initialize(seed: UInt64)
    /// The scoring backward, after an evaluation-mode forward: adds each example's
    /// squared gradient norm over this layer's parameters to `squaredNorms[N]` and
    /// returns the gradient w.r.t. the input (nil when not needed). Writes no
    /// parameter gradient and runs no weight-gradient GEMM.
    func backwardNorms(_ dy: Tensor, squaredNorms: Tensor) -> Tensor?
}

extension Layer {
    public var parameters: [Parameter] { [] }
    public var buffers: [Buffer] { [] }
    public func initialize(seed: UInt64) {}
    /// Layers without parameters: the ordinary backward.
    public func backwardNorms(_ dy: Tensor, squaredNorms: Tensor) -> Tensor? {
        precondition(parameters.isEmpty, "\(Self.self) has parameters and must implement backwardNorms")
        return backward(dy)
    }
}

/// Lazily allocated, reused activation tensor sized for `maxBatch`.
struct Workspace {
    let device: Device
    let shape: FeatureShape
    let maxBatch: Int
    private(set) var tensor: Tensor?

    init(_ device: Device, _ shape: FeatureShape, maxBatch: Int) {
        self.device = device; self.shape = shape; self.maxBatch = maxBatch
    }

    mutating func get(batch: Int) -> Tensor {
        precondition(batch <= maxBatch, "batch \(batch) exceeds the model's maximum \(maxBatch)")
        if tensor == nil { tensor = device.makeTensor(shape.batched(maxBatch)) }
        tensor!.resize(axis: 1, to: batch)   // [C, N, H, W]: the batch is axis 1
        return tensor!
    }
}

/// Uploads seeded values to a parameter.
func initialize(_ p: Parameter, device: Device, seed: UInt64, _ draw: (inout SeededRandom) -> Float) {
    var rng = SeededRandom(seed: seed, purpose: "init/" + p.name)
    let values = (0..<p.count).map { _ in draw(&rng) }
    device.upload(values, to: p.value)
    device.fill(p.momentum, with: 0)
    device.fill(p.gradient, with: 0)
}
