import Kernels

/// Layers applied in order.
public final class Sequential: Layer {
    public let layers: [Layer]
    public var needsInputGradient: Bool {
        get { layers.first?.needsInputGradient ?? true }
        set { layers.first?.needsInputGradient = newValue }
    }

    public init(_ layers: [Layer]) {
        precondition(!layers.isEmpty)
        for (a, b) in zip(layers, layers.dropFirst()) {
            precondition(a.outputShape.count == b.inputShape.count,
                         "layer output \(a.outputShape) does not feed input \(b.inputShape)")
        }
        self.layers = layers
    }

    public var inputShape: FeatureShape { layers[0].inputShape }
    public var outputShape: FeatureShape { layers[layers.count - 1].outputShape }
    public var parameters: [Parameter] { layers.flatMap(\.parameters) }
    public var buffers: [Buffer] { layers.flatMap(\.buffers) }
    public func initialize(seed: UInt64) { for l in layers { l.initialize(seed: seed) } }

    public func forward(_ x: Tensor, batch: Int, mode: Mode) -> Tensor {
        var h = x
        for l in layers { h = l.forward(h, batch: batch, mode: mode) }
        return h
    }

    public func backward(_ dy: Tensor) -> Tensor? {
        var g: Tensor? = dy
        for l in layers.reversed() {
            guard let grad = g else { return nil }
            g = l.backward(grad)
        }
        return g
    }

    public func backwardNorms(_ dy: Tensor, squaredNorms: Tensor) -> Tensor? {
        var g: Tensor? = dy
        for l in layers.reversed() {
            guard let grad = g else { return nil }
            g = l.backwardNorms(grad, squaredNorms: squaredNorms)
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
    public var needsInputGradient = true
    let device: Device
    let main: Sequential
    let shortcut: Sequential?
    let finalReLU: ReLU
    var sum: Workspace
    var batch = 0

    public init(_ device: Device, name: String, input: FeatureShape, planes: Int, stride: Int, maxBatch: Int) {
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
            let proj = Conv2D(device, name: name + ".shortcut.0", input: input, outChannels: planes,
                              kernel: 1, stride: stride, padding: 0, maxBatch: maxBatch)
            shortcut = Sequential([proj, BatchNorm2D(device, name: name + ".shortcut.1", shape: mid, maxBatch: maxBatch)])
        } else {
            shortcut = nil
        }
        outputShape = mid
        sum = Workspace(device, mid, maxBatch: maxBatch)
        finalReLU = ReLU(device, shape: mid, maxBatch: maxBatch)
    }

    public var parameters: [Parameter] { main.parameters + (shortcut?.parameters ?? []) }
    public var buffers: [Buffer] { main.buffers + (shortcut?.buffers ?? []) }
    public func initialize(seed: UInt64) {
        main.initialize(seed: seed)
        shortcut?.initialize(seed: seed)
    }

    public func forward(_ x: Tensor, batch: Int, mode: Mode) -> Tensor {
        self.batch = batch
        let a = main.forward(x, batch: batch, mode: mode)
        let s = shortcut?.forward(x, batch: batch, mode: mode) ?? x
        let total = sum.get(batch: batch)
        device.add(a, s, into: total)
        return finalReLU.forward(total, batch: batch, mode: mode)
    }

    // d(sum) = relu'(dy); dx = main^T(d sum) + shortcut^T(d sum)
    public func backward(_ dy: Tensor) -> Tensor? {
        let dSum = finalReLU.backward(dy)!
        // The shortcut reads dSum before the main path (whose ReLU works in place
        // on its own buffers, never on dSum).
        let dShort = shortcut?.backward(dSum) ?? dSum
        let dx = main.backward(dSum)!
        device.accumulate(dShort, into: dx)
        return dx
    }

    public func backwardNorms(_ dy: Tensor, squaredNorms: Tensor) -> Tensor? {
        let dSum = finalReLU.backward(dy)!
        let dShort = shortcut?.backwardNorms(dSum, squaredNorms: squaredNorms) ?? dSum
        let dx = main.backwardNorms(dSum, squaredNorms: squaredNorms)!
        device.accumulate(dShort, into: dx)
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

    /// - Parameters:
    ///   - width: base width of ResNet-18 (64 is the standard network); hidden width
    ///     multiplier elsewhere is ignored.
    public init(_ architecture: Architecture, input: FeatureShape, classes: Int, width: Int = 64,
                device: Device, maxBatch: Int) {
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
            precondition(width >= 1, "width must be positive")
            let stem = Conv2D(device, name: "conv1", input: input, outChannels: width, kernel: 3,
                              stride: 1, padding: 1, maxBatch: b)
            layers = [stem, BatchNorm2D(device, name: "bn1", shape: stem.outputShape, maxBatch: b, fusedReLU: true)]
            var shape = stem.outputShape
            for (stage, multiplier) in [1, 2, 4, 8].enumerated() {
                for blockIndex in 0..<2 {
                    let block = BasicBlock(device, name: "layer\(stage + 1).\(blockIndex)", input: shape,
                                           planes: width * multiplier,
                                           stride: stage > 0 && blockIndex == 0 ? 2 : 1, maxBatch: b)
                    layers.append(block)
                    shape = block.outputShape
                }
            }
            layers.append(GlobalAvgPool(device, shape: shape, maxBatch: b))
            layers.append(Linear(device, name: "linear", inFeatures: shape.channels, outFeatures: classes, maxBatch: b))
        }
        body = Sequential(layers)
        body.needsInputGradient = false
        parameters = body.parameters
        buffers = body.buffers
    }

    /// Number of trainable values.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    /// Seeded initialisation of every parameter and buffer.
    public func initialize(seed: UInt64) { body.initialize(seed: seed) }

    /// `x[C, N, H, W]` -> logits `[classes, N]`.
    public func forward(_ x: Tensor, batch: Int, mode: Mode) -> Tensor {
        body.forward(x, batch: batch, mode: mode)
    }

    /// Back-propagates the gradient w.r.t. the logits into every parameter's gradient.
    public func backward(_ gradLogits: Tensor) {
        _ = body.backward(gradLogits)
    }
}

extension Model {
    /// One SGD step: training-mode forward of `images[C, N, H, W]`, softmax error
    /// vectors and per-example outputs (`outputs[ExampleOutput.rows, N]`), backward,
    /// and the update of every parameter.
    public func trainStep(images: Tensor, labels: Tensor, batch n: Int, hyper: SGDHyperparameters,
                          errors: Tensor, outputs: Tensor) {
        let logits = forward(images, batch: n, mode: .training)
        errors.resize(axis: 1, to: n)
        outputs.resize(axis: 1, to: n)
        device.softmaxCrossEntropy(logits: logits, labels: labels, gradScale: 1 / Float(n), errors: errors, outputs: outputs)
        backward(errors)
        for p in parameters {
            device.sgdStep(parameter: p.value, gradient: p.gradient, momentum: p.momentum, hyper: hyper)
        }
    }

    /// The scoring pass: evaluation-mode forward (batch norm on running statistics, so
    /// examples are independent), softmax error vectors of each example's own loss,
    /// and a backward to the activations that adds every example's squared gradient
    /// norm over all parameters into `squaredNorms[N]` (overwritten). No weight-gradient
    /// GEMM, no update; `outputs` gets the per-example outputs as in ``evaluate``.
    public func perExampleGradNormsSquared(images: Tensor, labels: Tensor, batch n: Int, errors: Tensor,
                                           outputs: Tensor, squaredNorms: Tensor) {
        let logits = forward(images, batch: n, mode: .evaluation)
        errors.resize(axis: 1, to: n)
        outputs.resize(axis: 1, to: n)
        squaredNorms.resize(axis: 0, to: n)
        device.softmaxCrossEntropy(logits: logits, labels: labels, gradScale: 1, errors: errors, outputs: outputs)
        device.fill(squaredNorms, with: 0)
        _ = body.backwardNorms(errors, squaredNorms: squaredNorms)
    }

    /// VoG's input gradients: for each example, the gradient of its given-label logit
    /// `z_y` w.r.t. its input, `[C, N, H, W]`, from an evaluation-mode forward.
    /// `oneHot` must hold `onehot(y)` as `[classes, N]`. Overwrites the parameter
    /// gradients (harmless between steps).
    public func inputGradientsOfLabelLogit(images: Tensor, oneHot: Tensor, batch n: Int) -> Tensor {
        _ = forward(images, batch: n, mode: .evaluation)
        oneHot.resize(axis: 1, to: n)
        body.needsInputGradient = true
        defer { body.needsInputGradient = false }
        return body.backward(oneHot)!
    }

    /// Evaluation-mode forward with the per-example outputs (EL2N, loss, correctness).
    public func evaluate(images: Tensor, labels: Tensor, batch n: Int, errors: Tensor, outputs: Tensor) {
        let logits = forward(images, batch: n, mode: .evaluation)
        errors.resize(axis: 1, to: n)
        outputs.resize(axis: 1, to: n)
        device.softmaxCrossEntropy(logits: logits, labels: labels, gradScale: 1, errors: errors, outputs: outputs)
    }
}
