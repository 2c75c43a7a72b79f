import Kernels
import Storage

/// Layers applied in order.
public final class Sequential: Layer {
    public var workspaceBytes: [Int] { [] }
    public let layers: [Layer]

    public init(_ layers: [Layer]) {
        guard !layers.isEmpty else { fatalError("Sequential needs at least one layer") }
        for (a, b) in zip(layers, layers.dropFirst()) where a.outputShape.count != b.inputShape.count {
            fatalError("layer output \(a.outputShape) does not feed input \(b.inputShape)")
        }
        self.layers = layers
    }

    public var inputShape: FeatureShape { layers[0].inputShape }
    public var outputShape: FeatureShape { layers[layers.count - 1].outputShape }
    public var parameters: [Parameter] { layers.flatMap(\.parameters) }
    public var normedParameters: [Parameter] { layers.flatMap(\.normedParameters) }
    public var buffers: [Buffer] { layers.flatMap(\.buffers) }
    public var sublayers: [Layer] { layers }
    public func initialize(seed: UInt64) { for l in layers { l.initialize(seed: seed) } }

    public func forward(_ x: Tensor, batch: Int, mode: Mode) -> Tensor {
        forward(x, batch: batch, mode: mode, layers: layers.count)
    }

    // the first `count` layers; in inference mode, a convolution and the batch norm after it run as one op
    func forward(_ x: Tensor, batch: Int, mode: Mode, layers count: Int) -> Tensor {
        var h = x
        var i = 0
        while i < count {
            if mode == .inference, i + 1 < count, let conv = layers[i] as? Conv2D, let bn = layers[i + 1] as? BatchNorm2D {
                h = bn.forward(after: conv, h, batch: batch)
                i += 2
            } else {
                h = layers[i].forward(h, batch: batch, mode: mode)
                i += 1
            }
        }
        return h
    }

    // every layer but the first passes its input gradient on; the first only when asked
    public func backward(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        var g = dy
        for (i, l) in layers.enumerated().reversed() {
            guard let next = l.backward(g, inputGradient: inputGradient || i > 0) else { return nil }
            g = next
        }
        return g
    }

    public func backwardNorms(_ dy: Tensor, squaredNorms: Tensor, inputGradient: Bool) -> Tensor? {
        var g = dy
        for (i, l) in layers.enumerated().reversed() {
            guard let next = l.backwardNorms(g, squaredNorms: squaredNorms, inputGradient: inputGradient || i > 0) else { return nil }
            g = next
        }
        return g
    }
}

/// ResNet BasicBlock: `relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`, the
/// shortcut a 1x1 strided convolution + batch norm when the shape changes.
/// Parameter names follow the common PyTorch CIFAR ResNet (`conv1`, `bn1`, `conv2`,
/// `bn2`, `shortcut.0`, `shortcut.1`).
public final class BasicBlock: Layer {
    public let inputShape: FeatureShape
    public let outputShape: FeatureShape
    let device: Device
    let main: Sequential
    let shortcut: Sequential?
    let finalReLU: ReLU
    public var workspaceBytes: [Int] { [] }

    /// - Parameter shortcutName: the projection's name within the block (torchvision's `downsample`).
    public init(_ device: Device, name: String, input: FeatureShape, planes: Int, stride: Int, maxBatch: Int,
                shortcutName: String = "shortcut") {
        self.device = device
        inputShape = input
        let conv1 = Conv2D(device, name: name + ".conv1", input: input, outChannels: planes,
                           kernel: 3, stride: stride, padding: 1, maxBatch: maxBatch)
        let mid = conv1.outputShape
        let conv2 = Conv2D(device, name: name + ".conv2", input: mid, outChannels: planes,
                           kernel: 3, stride: 1, padding: 1, maxBatch: maxBatch)
        main = Sequential([
            conv1, BatchNorm2D(device, name: name + ".bn1", shape: mid, maxBatch: maxBatch, fusedReLU: true),
            conv2, BatchNorm2D(device, name: name + ".bn2", shape: mid, maxBatch: maxBatch),
        ])
        if stride != 1 || input.channels != planes {
            let proj = Conv2D(device, name: name + "." + shortcutName + ".0", input: input, outChannels: planes,
                              kernel: 1, stride: stride, padding: 0, maxBatch: maxBatch)
            shortcut = Sequential([proj, BatchNorm2D(device, name: name + "." + shortcutName + ".1", shape: mid, maxBatch: maxBatch)])
        } else {
            shortcut = nil
        }
        outputShape = mid
        finalReLU = ReLU(device, shape: mid, maxBatch: maxBatch)
    }

    public var parameters: [Parameter] { main.parameters + (shortcut?.parameters ?? []) }
    public var normedParameters: [Parameter] { main.normedParameters + (shortcut?.normedParameters ?? []) }
    public var buffers: [Buffer] { main.buffers + (shortcut?.buffers ?? []) }
    public var sublayers: [Layer] { [main] + (shortcut.map { [$0] } ?? []) }
    public func initialize(seed: UInt64) {
        main.initialize(seed: seed)
        shortcut?.initialize(seed: seed)
    }

    public func forward(_ x: Tensor, batch: Int, mode: Mode) -> Tensor {
        let a = main.forward(x, batch: batch, mode: mode)
        let s = shortcut?.forward(x, batch: batch, mode: mode) ?? x
        return finalReLU.forward(sum: a, s, batch: batch)
    }

    // d(sum) = relu'(dy); dx = main^T(d sum) + shortcut^T(d sum). A block never starts a
    // network, and its main path needs d(sum) either way, so dx is always computed.
    public func backward(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        let dSum = finalReLU.backward(dy, inputGradient: true)!
        // The shortcut reads dSum before the main path (whose ReLU works in place
        // on its own buffers, never on dSum).
        let dShort = shortcut?.backward(dSum, inputGradient: true) ?? dSum
        let dx = main.backward(dSum, inputGradient: true)!
        device.accumulate(dShort, into: dx)
        return dx
    }

    public func backwardNorms(_ dy: Tensor, squaredNorms: Tensor, inputGradient: Bool) -> Tensor? {
        let dSum = finalReLU.backward(dy, inputGradient: true)!
        let dShort = shortcut?.backwardNorms(dSum, squaredNorms: squaredNorms, inputGradient: true) ?? dSum
        let dx = main.backwardNorms(dSum, squaredNorms: squaredNorms, inputGradient: true)!
        device.accumulate(dShort, into: dx)
        return dx
    }
}

/// Pre-activation ResNet block (He et al. 2016, "Identity Mappings in Deep Residual
/// Networks"; the CIFAR PreActResNet of kuangliu/pytorch-cifar that forgetting and AUM
/// code build on): `a = relu(bn1(x))`, `out = conv2(relu(bn2(conv1(a)))) + shortcut`,
/// the shortcut `x`, or a 1x1 strided convolution of `a` (no batch norm) when the shape
/// changes. No ReLU after the sum. Names: `bn1`, `conv1`, `bn2`, `conv2`, `shortcut.0`.
public final class PreActBlock: Layer {
    public let inputShape: FeatureShape
    public let outputShape: FeatureShape
    let device: Device
    let preActivation: BatchNorm2D
    let main: Sequential
    let shortcut: Conv2D?
    var sum: Workspace, keep: Workspace
    public var workspaceBytes: [Int] { [sum.bytes, keep.bytes] }

    /// - Parameter shortcutName: the projection's name within the block (WideResNet's
    ///   `convShortcut`).
    public init(_ device: Device, name: String, input: FeatureShape, planes: Int, stride: Int, maxBatch: Int,
                shortcutName: String = "shortcut.0") {
        self.device = device
        inputShape = input
        preActivation = BatchNorm2D(device, name: name + ".bn1", shape: input, maxBatch: maxBatch, fusedReLU: true)
        let conv1 = Conv2D(device, name: name + ".conv1", input: input, outChannels: planes,
                           kernel: 3, stride: stride, padding: 1, maxBatch: maxBatch)
        let mid = conv1.outputShape
        main = Sequential([
            conv1, BatchNorm2D(device, name: name + ".bn2", shape: mid, maxBatch: maxBatch, fusedReLU: true),
            Conv2D(device, name: name + ".conv2", input: mid, outChannels: planes, kernel: 3, stride: 1, padding: 1, maxBatch: maxBatch),
        ])
        shortcut = stride != 1 || input.channels != planes
            ? Conv2D(device, name: name + "." + shortcutName, input: input, outChannels: planes, kernel: 1, stride: stride,
                     padding: 0, maxBatch: maxBatch)
            : nil
        outputShape = mid
        sum = Workspace(device, mid, maxBatch: maxBatch)
        // identity shortcut: d(out) kept for the input's gradient (the main path may reuse it)
        keep = Workspace(device, shortcut == nil ? mid : FeatureShape(0), maxBatch: maxBatch)
    }

    public var parameters: [Parameter] { preActivation.parameters + main.parameters + (shortcut?.parameters ?? []) }
    public var normedParameters: [Parameter] { preActivation.normedParameters + main.normedParameters + (shortcut?.normedParameters ?? []) }
    public var buffers: [Buffer] { preActivation.buffers + main.buffers }
    public var sublayers: [Layer] { [preActivation, main] + (shortcut.map { [$0] } ?? []) }
    public func initialize(seed: UInt64) {
        preActivation.initialize(seed: seed)
        main.initialize(seed: seed)
        shortcut?.initialize(seed: seed)
    }

    // a = relu(bn1(x)); out = main(a) + (shortcut(a) or x)
    public func forward(_ x: Tensor, batch: Int, mode: Mode) -> Tensor {
        let a = preActivation.forward(x, batch: batch, mode: mode)
        let m = main.forward(a, batch: batch, mode: mode)
        let s = shortcut?.forward(a, batch: batch, mode: mode) ?? x
        let out = sum.get(batch: batch)
        device.add(m, s, into: out)
        return out
    }

    // da = main^T(dy) + shortcut^T(dy); dx = bn1relu^T(da) (+ dy for the identity)
    public func backward(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        backward(dy) { layer, d in layer.backward(d, inputGradient: true)! }
    }

    public func backwardNorms(_ dy: Tensor, squaredNorms: Tensor, inputGradient: Bool) -> Tensor? {
        backward(dy) { layer, d in layer.backwardNorms(d, squaredNorms: squaredNorms, inputGradient: true)! }
    }

    /// The backward with `step` as each sublayer's (ordinary or scoring) backward.
    private func backward(_ dy: Tensor, step: (Layer, Tensor) -> Tensor) -> Tensor {
        var kept: Tensor?
        if shortcut == nil {
            let k = keep.get(batch: dy.shape[1])
            device.copy(dy, to: k)
            kept = k
        }
        let dShort = shortcut.map { step($0, dy) }
        let da = step(main, dy)
        if let dShort { device.accumulate(dShort, into: da) }
        let dx = step(preActivation, da)
        if let kept { device.accumulate(kept, into: dx) }
        return dx
    }
}

/// `y = x + f(x)` with an identity skip (ResNet-9's residual layers): `dx = dy + f^T(dy)`.
public final class Residual: Layer {
    public var inputShape: FeatureShape { body.inputShape }
    public var outputShape: FeatureShape { body.outputShape }
    let device: Device
    let body: Sequential
    var sum: Workspace, keep: Workspace
    public var workspaceBytes: [Int] { [sum.bytes, keep.bytes] }

    public init(_ device: Device, _ body: Sequential, maxBatch: Int) {
        precondition(body.inputShape == body.outputShape, "a residual body keeps its shape")
        self.device = device
        self.body = body
        sum = Workspace(device, body.outputShape, maxBatch: maxBatch)
        keep = Workspace(device, body.outputShape, maxBatch: maxBatch)
    }

    public var parameters: [Parameter] { body.parameters }
    public var normedParameters: [Parameter] { body.normedParameters }
    public var buffers: [Buffer] { body.buffers }
    public var sublayers: [Layer] { [body] }
    public func initialize(seed: UInt64) { body.initialize(seed: seed) }

    public func forward(_ x: Tensor, batch: Int, mode: Mode) -> Tensor {
        let f = body.forward(x, batch: batch, mode: mode)
        let out = sum.get(batch: batch)
        device.add(f, x, into: out)
        return out
    }

    public func backward(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        backward(dy) { body.backward($0, inputGradient: true)! }
    }

    public func backwardNorms(_ dy: Tensor, squaredNorms: Tensor, inputGradient: Bool) -> Tensor? {
        backward(dy) { body.backwardNorms($0, squaredNorms: squaredNorms, inputGradient: true)! }
    }

    // dy is kept first: the body's backward may reuse it.
    private func backward(_ dy: Tensor, _ step: (Tensor) -> Tensor) -> Tensor {
        let kept = keep.get(batch: dy.shape[1])
        device.copy(dy, to: kept)
        let dx = step(dy)
        device.accumulate(kept, into: dx)
        return dx
    }
}

/// The architectures Sieve trains.
public enum Architecture: String, CaseIterable, Sendable {
    /// Two hidden layers (512, 256) with ReLU.
    case mlp
    /// conv3x3(32)-BN-ReLU, conv3x3(64)-BN-ReLU, max-pool 2, fc 128-ReLU, fc classes
    /// (the small CNN of the reference figures, with batch norm in place of conv bias).
    case cnn
    /// CIFAR ResNet-18: 3x3 stride-1 stem, no max-pool, BasicBlocks [2,2,2,2] with
    /// widths (64,128,256,512) scaled by `width/64`, global average pool, linear.
    case resnet18
    /// CIFAR pre-activation ResNet-18: 3x3 stride-1 stem convolution (no batch norm after
    /// it), ``PreActBlock``s [2,2,2,2] with widths (64,128,256,512) scaled by `width/64`,
    /// global average pool of the last block's sum, linear (kuangliu/pytorch-cifar's
    /// `PreActResNet18`). No dropout.
    case preactResnet18 = "preact-resnet18"
    /// WideResNet-28-k (Zagoruyko & Komodakis 2016; the layout of xternalz/WideResNet-pytorch
    /// that label-noise code builds on): 3x3 stem convolution of 16, three stages of four
    /// ``PreActBlock``s with widths 16k, 32k, 64k (k = `width`) and strides 1, 2, 2, final
    /// batch norm + ReLU, global average pool, linear. No dropout (the reference's
    /// default drop rate is 0).
    case wrn28 = "wrn-28"
    /// ResNet-9 (Page's cifar10-fast network, the one of second-split forgetting's code):
    /// conv-BN-ReLU blocks of `width`, then `2 width` + max-pool 2 + a ``Residual`` of two
    /// such blocks, `4 width` + max-pool 2, `8 width` + max-pool 2 + a residual, global
    /// max-pool, linear. `width` 64 is the reference network. Deviations: the linear layer
    /// has a bias and the logits are not scaled by 0.125 (a learning-rate choice).
    /// Square inputs of at least 8x8 pixels.
    case resnet9
    /// torchvision's `resnet18` (ImageNet stem: 7x7 stride-2 convolution, BN-ReLU, 3x3
    /// stride-2 max-pool with a 1-pixel border; BasicBlocks [2,2,2,2] with widths
    /// (64,128,256,512) scaled by `width/64`; `downsample` shortcuts; global average pool;
    /// `fc`), with its parameter names, for images of 64 px and up (as in ImageNet-style
    /// data at 64-224 px). Inputs of at least 32x32 pixels.
    case resnet18ImageNet = "resnet18-imagenet"
}

extension Architecture {
    /// `--width` when not given: the widening factor 10 of WideResNet-28-10, else
    /// ``TrainingConfiguration/defaultWidth``.
    public var defaultWidth: Int { self == .wrn28 ? 10 : TrainingConfiguration.defaultWidth }

    /// Smallest input height and width the architecture takes: the small CNN's two
    /// unpadded 3x3 convolutions and 2x2 max-pool need 6x6; ResNet-18's padded, strided
    /// convolutions and the MLP take any size.
    public var minimumInputSize: Int {
        switch self {
        case .cnn: 6
        case .resnet9: 8
        case .resnet18ImageNet: 32
        default: 1
        }
    }

    /// Throws when a model of this architecture cannot be built for these sizes.
    public func check(input: FeatureShape, classes: Int, width: Int, maxBatch: Int) throws {
        guard input.channels >= 1 && input.height >= 1 && input.width >= 1 else {
            throw TrainerError.invalid("input shape \(input) has an empty dimension")
        }
        guard input.height >= minimumInputSize && input.width >= minimumInputSize else {
            throw TrainerError.invalid("--model \(rawValue) needs images of at least \(minimumInputSize)x\(minimumInputSize) pixels; "
                                       + "these are \(input.height)x\(input.width) (use resnet18 or mlp for smaller images)")
        }
        if self == .resnet9 && input.height != input.width {
            throw TrainerError.invalid("--model resnet9 pools its last feature map whole and needs square images; these are "
                                       + "\(input.height)x\(input.width) (--resize S makes them SxS)")
        }
        guard classes >= 2 else { throw TrainerError.invalid("a classifier needs at least 2 classes, the data has \(classes)") }
        guard width >= 1 else { throw TrainerError.invalid("--width must be at least 1") }
        guard maxBatch >= 1 else { throw TrainerError.invalid("--batch must be at least 1") }
    }
}

/// A network plus the bookkeeping the trainer needs.
public final class Model {
    public let architecture: Architecture
    public let width: Int
    public let device: Device
    public let maxBatch: Int
    public let inputShape: FeatureShape
    public let classes: Int
    public let body: Sequential
    public let parameters: [Parameter]
    public let buffers: [Buffer]
    /// `[classes, maxBatch]`: the softmax error vectors of the last pass.
    public let errors: Tensor
    /// `[ExampleOutput.rows, maxBatch]`: the per-example outputs of the last pass.
    public let outputs: Tensor
    /// `[maxBatch]`: the squared per-example gradient norms of the last scoring pass.
    public let squaredNorms: Tensor
    /// The device memory the model's tensors were estimated to need before it was built
    /// (activations, parameters with gradients and momenta, outputs), in bytes; the device's
    /// own scratch (``MemoryCapacity/reservedBytes``) comes on top.
    public let plannedBytes: Int

    /// - Parameters:
    ///   - width: base width of ResNet-18 (64 is the standard network); hidden width
    ///     multiplier elsewhere is ignored.
    /// - Throws: ``TrainerError`` when the input is too small for the architecture (every
    ///   layer's output must be at least 1x1), or a size is not positive.
    public init(_ architecture: Architecture, input: FeatureShape, classes: Int, width: Int = TrainingConfiguration.defaultWidth,
                device: Device, maxBatch: Int) throws {
        try architecture.check(input: input, classes: classes, width: width, maxBatch: maxBatch)
        self.architecture = architecture
        self.width = width
        self.device = device
        self.maxBatch = maxBatch
        self.inputShape = input
        self.classes = classes
        let b = maxBatch
        var layers: [Layer] = []
        switch architecture {
        case .mlp:
            layers = [
                Flatten(device, shape: input, maxBatch: b),
                Linear(device, name: "fc1", inFeatures: input.count, outFeatures: 512, maxBatch: b),
                ReLU(device, shape: FeatureShape(512), maxBatch: b),
                Linear(device, name: "fc2", inFeatures: 512, outFeatures: 256, maxBatch: b),
                ReLU(device, shape: FeatureShape(256), maxBatch: b),
                Linear(device, name: "fc3", inFeatures: 256, outFeatures: classes, maxBatch: b),
            ]
        case .cnn:
            let c1 = Conv2D(device, name: "conv1", input: input, outChannels: 32, kernel: 3, maxBatch: b)
            let c2 = Conv2D(device, name: "conv2", input: c1.outputShape, outChannels: 64, kernel: 3, maxBatch: b)
            let pool = MaxPool2D(device, shape: c2.outputShape, window: 2, stride: 2, maxBatch: b)
            layers = [
                c1, BatchNorm2D(device, name: "bn1", shape: c1.outputShape, maxBatch: b, fusedReLU: true),
                c2, BatchNorm2D(device, name: "bn2", shape: c2.outputShape, maxBatch: b, fusedReLU: true),
                pool, Flatten(device, shape: pool.outputShape, maxBatch: b),
                Linear(device, name: "fc1", inFeatures: pool.outputShape.count, outFeatures: 128, maxBatch: b),
                ReLU(device, shape: FeatureShape(128), maxBatch: b),
                Linear(device, name: "fc2", inFeatures: 128, outFeatures: classes, maxBatch: b),
            ]
        case .resnet18:
            let stem = Conv2D(device, name: "conv1", input: input, outChannels: width, kernel: 3,
                              stride: 1, padding: 1, maxBatch: b)
            layers = [stem, BatchNorm2D(device, name: "bn1", shape: stem.outputShape, maxBatch: b, fusedReLU: true)]
            var shape = stem.outputShape
            layers += Self.stages([1, 2, 4, 8].map { width * $0 }, blocks: 2, from: &shape) { name, input, planes, stride in
                BasicBlock(device, name: "layer" + name, input: input, planes: planes, stride: stride, maxBatch: b)
            }
            layers.append(GlobalAvgPool(device, shape: shape, maxBatch: b))
            layers.append(Linear(device, name: "linear", inFeatures: shape.channels, outFeatures: classes, maxBatch: b))
        case .preactResnet18:
            let stem = Conv2D(device, name: "conv1", input: input, outChannels: width, kernel: 3, stride: 1, padding: 1, maxBatch: b)
            layers = [stem]
            var shape = stem.outputShape
            layers += Self.stages([1, 2, 4, 8].map { width * $0 }, blocks: 2, from: &shape) { name, input, planes, stride in
                PreActBlock(device, name: "layer" + name, input: input, planes: planes, stride: stride, maxBatch: b)
            }
            layers.append(GlobalAvgPool(device, shape: shape, maxBatch: b))
            layers.append(Linear(device, name: "linear", inFeatures: shape.channels, outFeatures: classes, maxBatch: b))
        case .resnet9:
            var shape = input
            func block(_ name: String, _ channels: Int) -> [Layer] {
                let conv = Conv2D(device, name: name + ".conv", input: shape, outChannels: channels, kernel: 3, stride: 1, padding: 1, maxBatch: b)
                shape = conv.outputShape
                return [conv, BatchNorm2D(device, name: name + ".bn", shape: shape, maxBatch: b, fusedReLU: true)]
            }
            func pool() -> Layer {
                let p = MaxPool2D(device, shape: shape, window: 2, stride: 2, maxBatch: b)
                shape = p.outputShape
                return p
            }
            func residual(_ name: String) -> Layer {
                Residual(device, Sequential(block(name + ".res1", shape.channels) + block(name + ".res2", shape.channels)), maxBatch: b)
            }
            layers = block("prep", width)
            layers += block("layer1", 2 * width) + [pool()]
            layers.append(residual("layer1"))
            layers += block("layer2", 4 * width) + [pool()]
            layers += block("layer3", 8 * width) + [pool()]
            layers.append(residual("layer3"))
            layers.append(MaxPool2D(device, shape: shape, window: shape.height, stride: shape.height, maxBatch: b))
            layers.append(Flatten(device, shape: FeatureShape(shape.channels), maxBatch: b))
            layers.append(Linear(device, name: "linear", inFeatures: shape.channels, outFeatures: classes, maxBatch: b))
        case .resnet18ImageNet:
            let stem = Conv2D(device, name: "conv1", input: input, outChannels: width, kernel: 7, stride: 2, padding: 3, maxBatch: b)
            let pool = MaxPool2D(device, shape: stem.outputShape, window: 3, stride: 2, padding: 1, maxBatch: b)
            layers = [stem, BatchNorm2D(device, name: "bn1", shape: stem.outputShape, maxBatch: b, fusedReLU: true), pool]
            var shape = pool.outputShape
            layers += Self.stages([1, 2, 4, 8].map { width * $0 }, blocks: 2, from: &shape) { name, input, planes, stride in
                BasicBlock(device, name: "layer" + name, input: input, planes: planes, stride: stride, maxBatch: b,
                           shortcutName: "downsample")
            }
            layers.append(GlobalAvgPool(device, shape: shape, maxBatch: b))
            layers.append(Linear(device, name: "fc", inFeatures: shape.channels, outFeatures: classes, maxBatch: b))
        case .wrn28:
            let stem = Conv2D(device, name: "conv1", input: input, outChannels: 16, kernel: 3, stride: 1, padding: 1, maxBatch: b)
            layers = [stem]
            var shape = stem.outputShape
            layers += Self.stages([16, 32, 64].map { width * $0 }, blocks: 4, from: &shape) { name, input, planes, stride in
                let stageAndBlock = name.split(separator: ".")   // "S.B" -> blockS.layer.B
                return PreActBlock(device, name: "block\(stageAndBlock[0]).layer.\(stageAndBlock[1])", input: input, planes: planes,
                                   stride: stride, maxBatch: b, shortcutName: "convShortcut")
            }
            layers.append(BatchNorm2D(device, name: "bn1", shape: shape, maxBatch: b, fusedReLU: true))
            layers.append(GlobalAvgPool(device, shape: shape, maxBatch: b))
            layers.append(Linear(device, name: "fc", inFeatures: shape.channels, outFeatures: classes, maxBatch: b))
        }
        body = Sequential(layers)
        // Before any work: activations, parameters with their gradients and momenta and the
        // per-example outputs, plus the device's scratch, against the device's memory.
        let floats = MemoryLayout<Float>.size
        let parameterBytes = 3 * body.parameters.reduce(0) { $0 + $1.count } * floats
        let workspaces = Self.everyLayer(of: body).flatMap(\.workspaceBytes)
        let planned = workspaces.reduce(0, +) + parameterBytes + (classes + ExampleOutput.rows + 1) * maxBatch * floats
        let largest = max(workspaces.max() ?? 0, (body.parameters.map(\.count).max() ?? 0) * floats)
        if let problem = device.memoryCapacity.problem(planned: planned, largestTensor: largest) {
            throw TrainerError.invalid("--batch \(maxBatch) with \(architecture.rawValue) \(problem); use a smaller --batch"
                                       + (device is CPUDevice ? "" : ", or --device cpu"))
        }
        plannedBytes = planned
        parameters = body.parameters
        buffers = body.buffers
        errors = device.makeTensor([classes, maxBatch])
        outputs = device.makeTensor([ExampleOutput.rows, maxBatch])
        squaredNorms = device.makeTensor([maxBatch])
        try device.checkFailure()   // a device that could not allocate the parameters stops here
    }


    /// Residual stages: stage `s` (1-based) of `blocks` blocks of `planes[s - 1]`
    /// channels, the first block of every stage but the first with stride 2; `make`
    /// builds block `"s.b"` (b 0-based) from its input shape. `shape` ends as the last
    /// block's output.
    static func stages(_ planes: [Int], blocks: Int, from shape: inout FeatureShape,
                       _ make: (_ name: String, _ input: FeatureShape, _ planes: Int, _ stride: Int) -> Layer) -> [Layer] {
        var layers: [Layer] = []
        for (stage, p) in planes.enumerated() {
            for index in 0..<blocks {
                let block = make("\(stage + 1).\(index)", shape, p, stage > 0 && index == 0 ? 2 : 1)
                layers.append(block)
                shape = block.outputShape
            }
        }
        return layers
    }

    /// The name of the first parameter holding a NaN or an infinity, or nil; throws the
    /// device's failure first (its downloads read NaN, which is not a divergence).
    public func firstNonFiniteParameter() throws -> String? {
        for p in parameters where device.download(p.value).contains(where: { !$0.isFinite }) {
            try device.checkFailure()
            return p.name
        }
        return nil
    }

    /// Number of trainable values.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    /// Seeded initialisation of every parameter and buffer.
    public func initialize(seed: UInt64) { body.initialize(seed: seed) }

    /// `x[C, N, H, W]` -> logits `[classes, N]`.
    public func forward(_ x: Tensor, batch: Int, mode: Mode) -> Tensor {
        body.forward(x, batch: batch, mode: mode)
    }

    /// `x[C, N, H, W]` -> penultimate features `[d, N]` (evaluation mode): every layer but
    /// the classifier, i.e. what the last linear layer reads (after the ReLU of `fc1` for
    /// mlp/cnn's last hidden layer, after the global average pool for resnet18).
    public func features(_ x: Tensor, batch: Int) -> Tensor {
        body.forward(x, batch: batch, mode: .inference, layers: body.layers.count - 1)
    }

    /// `d`, the length of ``features(_:batch:)``'s rows.
    public var featureCount: Int { body.layers[body.layers.count - 1].inputShape.count }

    /// Back-propagates the gradient w.r.t. the logits into every parameter's gradient
    /// (no gradient w.r.t. the input).
    public func backward(_ gradLogits: Tensor) {
        _ = body.backward(gradLogits, inputGradient: false)
    }
}

/// One mini-batch on the device, as ``Batcher`` loads it and every pass reads it.
public struct Batch {
    /// `[C, N, H, W]`: normalised (and augmented) images.
    public let images: Tensor
    /// `[N]` int32: the labels trained or scored with.
    public let labels: Tensor
    /// `[N]`: each example's position in its data set.
    public let indices: ArraySlice<Int32>
    /// `N`.
    public var count: Int { indices.count }

    public init(images: Tensor, labels: Tensor, indices: ArraySlice<Int32>) {
        guard images.shape.count == 4, images.shape[1] == indices.count, labels.count == indices.count else {
            fatalError("Batch: images \(images.shape) and labels [\(labels.count)] do not hold \(indices.count) examples")
        }
        self.images = images; self.labels = labels; self.indices = indices
    }
}

extension Model {
    /// Softmax cross-entropy of `logits[classes, N]` against the batch's labels: writes
    /// ``errors`` (`gradScale * (softmax - onehot)`) and ``outputs``.
    private func loss(_ logits: Tensor, _ batch: Batch, gradScale: Float) {
        errors.resize(axis: 1, to: batch.count)
        outputs.resize(axis: 1, to: batch.count)
        device.softmaxCrossEntropy(logits: logits, labels: batch.labels, gradScale: gradScale, errors: errors, outputs: outputs)
    }

    /// One SGD step: training-mode forward, softmax error vectors of the mean loss and
    /// per-example outputs, backward, and the update of every parameter. Returns
    /// ``outputs`` `[ExampleOutput.rows, N]`.
    @discardableResult
    public func trainStep(_ batch: Batch, hyper: SGDHyperparameters) -> Tensor {
        let logits = forward(batch.images, batch: batch.count, mode: .training)
        loss(logits, batch, gradScale: 1 / Float(batch.count))
        backward(errors)
        for p in parameters {
            device.sgdStep(parameter: p.value, gradient: p.gradient, momentum: p.momentum, hyper: hyper)
        }
        return outputs
    }

    /// The scoring pass: evaluation-mode forward (batch norm on running statistics, so
    /// examples are independent), softmax error vectors of each example's own loss,
    /// and a backward to the activations that writes every example's squared gradient
    /// norm over all parameters into ``squaredNorms`` `[N]`. No weight-gradient GEMM, no
    /// update; ``outputs`` gets the per-example outputs as in ``evaluate(_:)``.
    /// Returns ``squaredNorms``.
    @discardableResult
    public func perExampleGradNormsSquared(_ batch: Batch) -> Tensor {
        let logits = forward(batch.images, batch: batch.count, mode: .evaluation)
        loss(logits, batch, gradScale: 1)
        squaredNorms.resize(axis: 0, to: batch.count)
        device.fill(squaredNorms, with: 0)
        _ = body.backwardNorms(errors, squaredNorms: squaredNorms, inputGradient: false)
        return squaredNorms
    }

    /// VoG's input gradients: for each example, the gradient of its given-label logit
    /// `z_y` w.r.t. its input, `[C, N, H, W]`, from an evaluation-mode forward.
    /// `oneHot` must hold `onehot(y)` as `[classes, N]`. Overwrites the parameter
    /// gradients (harmless between steps).
    public func inputGradientsOfLabelLogit(_ batch: Batch, oneHot: Tensor) -> Tensor {
        _ = forward(batch.images, batch: batch.count, mode: .evaluation)
        oneHot.resize(axis: 1, to: batch.count)
        guard let dx = body.backward(oneHot, inputGradient: true) else { fatalError("the model returned no input gradient") }
        return dx
    }

    /// Evaluation-mode forward with the per-example outputs (EL2N, loss, correctness);
    /// returns ``outputs``. Forward only (``Mode/inference``).
    @discardableResult
    public func evaluate(_ batch: Batch) -> Tensor {
        let logits = forward(batch.images, batch: batch.count, mode: .inference)
        loss(logits, batch, gradScale: 1)
        return outputs
    }
}

#if canImport(Glibc)
import Glibc
#endif

extension Model {
    /// Every convolution of the network, in forward order, at the model's batch size.
    public var convolutions: [Conv2DGeometry] { leaves.compactMap { ($0 as? Conv2D)?.geometry } }

    /// Multiply-adds of one example's forward pass: convolutions and fully connected layers.
    public var forwardMACsPerExample: Int {
        leaves.reduce(0) { total, layer in
            if let conv = layer as? Conv2D { return total + conv.geometry.macs / conv.geometry.batch }
            if let fc = layer as? Linear { return total + fc.inputShape.count * fc.outputShape.count }
            return total
        }
    }

    /// `layer` and every layer inside it, composites included.
    static func everyLayer(of layer: Layer) -> [Layer] { [layer] + layer.sublayers.flatMap(everyLayer) }

    /// The network's leaf layers in forward order (a block's main path before its shortcut).
    var leaves: [Layer] {
        func walk(_ l: Layer) -> [Layer] { l.sublayers.isEmpty ? [l] : l.sublayers.flatMap(walk) }
        return walk(body)
    }
}

extension Model {
    /// Loads every parameter and buffer from a safetensors file of PyTorch names and
    /// layouts (`state_dict()` as `safetensors.torch.save_file` writes it; what
    /// `sieve cross-check` exports), float32 or float64. Strict as PyTorch's
    /// `load_state_dict(strict=True)`: the first tensor the model has and the file lacks,
    /// the first the file has and the model lacks (batch norm's `num_batches_tracked`
    /// aside) and the first of another shape are named in the error.
    public func load(weights file: SafeTensorsReader) throws {
        let wanted: [(name: String, tensor: Tensor)] = parameters.map { ($0.name, $0.value) } + buffers.map { ($0.name, $0.value) }
        let names = Set(wanted.map(\.name))
        let what = "\(architecture.rawValue) (width \(width), \(inputShape) input, \(classes) classes)"
        if let missing = wanted.first(where: { file.entry($0.name) == nil }) {
            throw TrainerError.invalid("\(file.path): no tensor \(missing.name), which \(what) has; "
                                       + "the file holds \(file.names.prefix(4).joined(separator: ", "))\(file.names.count > 4 ? ", ..." : "")")
        }
        if let extra = file.names.first(where: { !names.contains($0) && !$0.hasSuffix("num_batches_tracked") }) {
            throw TrainerError.invalid("\(file.path): tensor \(extra) is not in \(what): another architecture or --model?")
        }
        for (name, tensor) in wanted {
            let e = file.entry(name)!
            guard e.shape == tensor.shape else {
                throw TrainerError.invalid("\(file.path): \(name) is \(e.shape), \(what) needs \(tensor.shape): another --width, --classes or input size?")
            }
            let values: [Float]
            switch e.dtype {
            case .float32: values = try file.floats(name)
            case .float64: values = try file.doubles(name).map(Float.init)
            default: throw TrainerError.invalid("\(file.path): \(name) is \(e.dtype.rawValue); Sieve reads F32 or F64 weights")
            }
            guard values.allSatisfy(\.isFinite) else { throw TrainerError.invalid("\(file.path): \(name) holds a NaN or an infinity") }
            device.upload(values, to: tensor)
        }
        try device.checkFailure()
    }
}
