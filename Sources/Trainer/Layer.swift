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

/// Whether batch norm uses batch statistics (training) or running statistics (evaluation,
/// inference), and whether a backward may follow.
public enum Mode: Sendable {
    case training
    /// Running statistics; a backward may follow (the scoring pass, VoG's input gradients).
    case evaluation
    /// Running statistics, forward only (test accuracy, probabilities, EL2N without GraNd,
    /// embeddings): a convolution and the batch norm after it run as one device call
    /// (``ConvolutionOps/conv2dBatchNormInference(input:weight:parameters:convOutput:output:geometry:)``),
    /// and a backward after it stops with a message.
    case inference
}

/// A network layer with a hand-written backward. Buffers (outputs, input gradients)
/// are allocated once for the model's largest batch and reused.
///
/// A forward saves what its backward reads in a named field (``Saved``), as llm.c's
/// named activation structs do: there is no hidden state between the two calls, and
/// a backward before any forward stops with a message naming the layer.
///
/// Layers without parameters conform to ``ParameterFreeLayer``, which supplies the
/// scoring backward; every layer with parameters must write its own
/// ``backwardNorms(_:squaredNorms:inputGradient:)`` and say which parameters it covers
/// (``normedParameters``), so no parameter can silently drop out of GraNd.
public protocol Layer: AnyObject {
    var inputShape: FeatureShape { get }
    var outputShape: FeatureShape { get }
    var parameters: [Parameter] { get }
    var buffers: [Buffer] { get }
    /// `x` is `[C, N, H, W]` with `N = batch`; returns the layer's output tensor.
    func forward(_ x: Tensor, batch: Int, mode: Mode) -> Tensor
    /// Given the gradient of the loss w.r.t. the output of the last forward, writes the
    /// parameter gradients and, when `inputGradient`, returns the gradient w.r.t. the
    /// input (nil otherwise). May overwrite `dy`.
    func backward(_ dy: Tensor, inputGradient: Bool) -> Tensor?
    /// The scoring backward, after an evaluation-mode forward: adds each example's
    /// squared gradient norm over ``normedParameters`` to `squaredNorms[N]` and returns
    /// the gradient w.r.t. the input when `inputGradient`. Writes no parameter gradient
    /// and runs no weight-gradient GEMM.
    func backwardNorms(_ dy: Tensor, squaredNorms: Tensor, inputGradient: Bool) -> Tensor?
    /// The parameters whose per-example gradient norms ``backwardNorms(_:squaredNorms:inputGradient:)``
    /// adds: all of ``parameters`` for a correct layer (a test checks every model).
    var normedParameters: [Parameter] { get }
    /// Sets the initial parameter values from a seeded stream.
    func initialize(seed: UInt64)
    /// The layers this one is made of (empty for a leaf), for walks over the network.
    var sublayers: [Layer] { get }
    /// The bytes of each workspace this layer itself holds (not its sublayers'): its
    /// output and input gradient at the largest batch.
    var workspaceBytes: [Int] { get }
}

extension Layer {
    public var buffers: [Buffer] { [] }
    public func initialize(seed: UInt64) {}
    public var sublayers: [Layer] { [] }
}

/// A layer without parameters: its scoring backward is its ordinary backward.
public protocol ParameterFreeLayer: Layer {}

extension ParameterFreeLayer {
    public var parameters: [Parameter] { [] }
    public var normedParameters: [Parameter] { [] }
    public func backwardNorms(_ dy: Tensor, squaredNorms: Tensor, inputGradient: Bool) -> Tensor? {
        backward(dy, inputGradient: inputGradient)
    }
}

/// What a layer's forward saved for its backward: set by every forward, read by the
/// backward of that forward.
struct Saved<State> {
    let layer: String
    private var state: State?

    init(_ layer: String) { self.layer = layer }

    mutating func save(_ s: State) { state = s }

    /// The state of the last forward; a backward before any forward is a bug.
    var value: State {
        guard let state else { fatalError("\(layer): backward called before any forward") }
        return state
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

    /// The bytes the workspace holds at the model's largest batch (allocated on first use;
    /// a model sums them to check its memory against the device's before any work).
    var bytes: Int { shape.count * maxBatch * MemoryLayout<Float>.size }

    mutating func get(batch: Int) -> Tensor {
        guard batch >= 1 && batch <= maxBatch else { fatalError("batch of \(batch) outside the model's 1...\(maxBatch)") }
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
