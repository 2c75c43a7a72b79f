import Kernels

// Each layer: forward and backward side by side, shapes in comments,
// activations channel-major [C, N, H, W].

/// 2-D convolution without bias (batch norm follows). Weight `[K, C, R, S]`,
/// He-normal initialised with `std = sqrt(2 / (K*R*S))` (fan-out, as torchvision).
public final class Conv2D: Layer {
    public let inputShape: FeatureShape
    public let outputShape: FeatureShape
    public let weight: Parameter
    let device: Device
    let geometry: Conv2DGeometry
    var output: Workspace
    var gradInput: Workspace
    public var workspaceBytes: [Int] { [output.bytes, gradInput.bytes] }
    /// The forward's input and geometry (its batch), read by the backward.
    struct Activations { let input: Tensor; let geometry: Conv2DGeometry }
    var saved: Saved<Activations>

    public init(_ device: Device, name: String, input: FeatureShape, outChannels: Int,
                kernel: Int, stride: Int = 1, padding: Int = 0, maxBatch: Int) {
        self.device = device
        geometry = Conv2DGeometry(batch: maxBatch, inChannels: input.channels, height: input.height,
                                  width: input.width, outChannels: outChannels, kernel: kernel,
                                  stride: stride, padding: padding)
        inputShape = input
        outputShape = FeatureShape(outChannels, geometry.outHeight, geometry.outWidth)
        weight = Parameter(name: name + ".weight", shape: geometry.weightShape, device: device)
        output = Workspace(device, outputShape, maxBatch: maxBatch)
        gradInput = Workspace(device, input, maxBatch: maxBatch)
        saved = Saved(name)
    }

    public var parameters: [Parameter] { [weight] }
    public var normedParameters: [Parameter] { [weight] }

    public func initialize(seed: UInt64) {
        let std = (2 / Float(geometry.outChannels * geometry.kernel * geometry.kernel)).squareRoot()
        Trainer.initialize(weight, device: device, seed: seed) { std * $0.normal() }
    }

    // y[K,N,P,Q] = conv(x[C,N,H,W], w[K,C,R,S])
    public func forward(_ x: Tensor, batch: Int, mode: Mode) -> Tensor {
        var g = geometry
        g.batch = batch
        saved.save(Activations(input: x, geometry: g))
        let y = output.get(batch: batch)
        device.conv2dForward(input: x, weight: weight.value, output: y, geometry: g)
        return y
    }

    // inference: y = BN(conv(x)) with batch norm `p` on running statistics, one device call
    func forwardInference(_ x: Tensor, batch: Int, thenBatchNorm p: BatchNormParameters, output y: Tensor) {
        var g = geometry
        g.batch = batch
        saved.save(Activations(input: x, geometry: g))
        device.conv2dBatchNormInference(input: x, weight: weight.value, parameters: p, convOutput: output.get(batch: batch),
                                        output: y, geometry: g)
    }

    // dw = sum_n dy_n (*) x_n;  dx = conv^T(dy, w)
    public func backward(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        let a = saved.value
        device.conv2dBackwardWeight(input: a.input, gradOutput: dy, gradWeight: weight.gradient, geometry: a.geometry)
        return inputGradient ? backwardData(dy, a.geometry) : nil
    }

    // ||dw_i||^2 per example (explicit or ghost, by FLOPs); dx = conv^T(dy, w)
    public func backwardNorms(_ dy: Tensor, squaredNorms: Tensor, inputGradient: Bool) -> Tensor? {
        let a = saved.value
        device.conv2dPerExampleGradNormsSquared(input: a.input, gradOutput: dy, geometry: a.geometry, squaredNorms: squaredNorms)
        return inputGradient ? backwardData(dy, a.geometry) : nil
    }

    // dx[C,N,H,W] = conv^T(dy[K,N,P,Q], w)
    private func backwardData(_ dy: Tensor, _ g: Conv2DGeometry) -> Tensor {
        let dx = gradInput.get(batch: g.batch)
        device.conv2dBackwardData(gradOutput: dy, weight: weight.value, gradInput: dx, geometry: g)
        return dx
    }
}

/// Batch norm over channels (`eps = 1e-5`, running-average momentum 0.1, as PyTorch),
/// optionally with the following ReLU fused in (one memory pass fewer each way; the
/// backward masks the incoming gradient with the fused output).
public final class BatchNorm2D: Layer {
    public let inputShape: FeatureShape
    public var outputShape: FeatureShape { inputShape }
    public let gamma: Parameter
    public let beta: Parameter
    public let runningMean: Tensor
    public let runningVar: Tensor
    public var epsilon: Float = 1e-5
    public var momentum: Float = 0.1
    let device: Device
    /// Batch statistics of the last training-mode forward (device tensors `[C]`).
    let savedMean: Tensor, savedInvStd: Tensor
    var output: Workspace, gradInput: Workspace
    public var workspaceBytes: [Int] { [output.bytes, gradInput.bytes] }
    /// The forward's input and output (the fused ReLU's mask), batch and mode.
    struct Activations { let input: Tensor; let output: Tensor; let batch: Int; let mode: Mode }
    var saved: Saved<Activations>
    let name: String
    /// `y = relu(bn(x))` when true.
    public let fusedReLU: Bool

    public init(_ device: Device, name: String, shape: FeatureShape, maxBatch: Int, fusedReLU: Bool = false) {
        self.device = device
        self.name = name
        self.fusedReLU = fusedReLU
        inputShape = shape
        let c = shape.channels
        gamma = Parameter(name: name + ".weight", shape: [c], device: device)
        beta = Parameter(name: name + ".bias", shape: [c], device: device)
        runningMean = device.makeTensor([c])
        runningVar = device.makeTensor([c])
        savedMean = device.makeTensor([c])
        savedInvStd = device.makeTensor([c])
        output = Workspace(device, shape, maxBatch: maxBatch)
        gradInput = Workspace(device, shape, maxBatch: maxBatch)
        saved = Saved(name)
    }

    public var parameters: [Parameter] { [gamma, beta] }
    public var normedParameters: [Parameter] { [gamma, beta] }
    public var buffers: [Buffer] {
        [Buffer(name: name + ".running_mean", value: runningMean), Buffer(name: name + ".running_var", value: runningVar)]
    }

    public func initialize(seed: UInt64) {
        Trainer.initialize(gamma, device: device, seed: seed) { _ in 1 }
        Trainer.initialize(beta, device: device, seed: seed) { _ in 0 }
        device.fill(runningMean, with: 0)
        device.fill(runningVar, with: 1)
    }

    // y = gamma * (x - mean) / sqrt(var + eps) + beta, per channel (then max(y, 0) when fused)
    public func forward(_ x: Tensor, batch: Int, mode: Mode) -> Tensor {
        let y = output.get(batch: batch)
        saved.save(Activations(input: x, output: y, batch: batch, mode: mode))
        switch mode {
        case .training:
            device.batchNormTrainingForward(input: x, output: y, parameters: kernelParameters, saved: savedStatistics)
        case .evaluation, .inference:
            device.batchNormInferenceForward(input: x, output: y, parameters: kernelParameters)
        }
        return y
    }

    // inference: y = BN(conv(x)) in one device call (the normalisation applied as the convolution writes)
    func forward(after conv: Conv2D, _ x: Tensor, batch: Int) -> Tensor {
        let y = output.get(batch: batch)
        conv.forwardInference(x, batch: batch, thenBatchNorm: kernelParameters, output: y)
        saved.save(Activations(input: y, output: y, batch: batch, mode: .inference))
        return y
    }

    // backward of the last forward's mode: dx, dgamma = sum dy*xhat, dbeta = sum dy
    // (the gradient w.r.t. the input is always computed: batch norm never starts a network)
    public func backward(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        let a = saved.value
        let dx = gradInput.get(batch: a.batch)
        switch a.mode {
        case .inference:
            fatalError("\(name): backward after a forward-only (inference) pass")
        case .evaluation:
            device.batchNormInferenceBackward(gradOutput: dy, input: a.input, output: a.output, parameters: kernelParameters,
                                              gradInput: dx, gradGamma: gamma.gradient, gradBeta: beta.gradient)
        case .training:
            device.batchNormTrainingBackward(gradOutput: dy, input: a.input, output: a.output, parameters: kernelParameters,
                                             saved: savedStatistics, gradInput: dx, gradGamma: gamma.gradient,
                                             gradBeta: beta.gradient)
        }
        return dx
    }

    // evaluation mode: per example sum_c (sum_hw dy*xhat)^2 + (sum_hw dy)^2; dx = dy*gamma/sqrt(rv+eps)
    public func backwardNorms(_ dy: Tensor, squaredNorms: Tensor, inputGradient: Bool) -> Tensor? {
        let a = saved.value
        guard a.mode == .evaluation else {
            fatalError("\(name): per-example gradient norms need an evaluation-mode forward (examples are independent only then)")
        }
        guard inputGradient else {
            device.batchNormPerExampleGradNormsSquared(gradOutput: dy, input: a.input, output: a.output,
                                                       parameters: kernelParameters, batch: a.batch, squaredNorms: squaredNorms)
            return nil
        }
        let dx = gradInput.get(batch: a.batch)
        device.batchNormScoringBackward(gradOutput: dy, input: a.input, output: a.output, parameters: kernelParameters,
                                        batch: a.batch, gradInput: dx, squaredNorms: squaredNorms)
        return dx
    }

    /// The layer's state as the batch-norm ops take it.
    var kernelParameters: BatchNormParameters {
        BatchNormParameters(gamma: gamma.value, beta: beta.value, runningMean: runningMean, runningVar: runningVar,
                            channels: inputShape.channels, epsilon: epsilon, momentum: momentum, fusedReLU: fusedReLU)
    }

    var savedStatistics: BatchNormSavedStatistics { BatchNormSavedStatistics(mean: savedMean, invStd: savedInvStd) }
}

/// `y = max(x, 0)`; the backward works in place on `dy`.
public final class ReLU: ParameterFreeLayer {
    public let inputShape: FeatureShape
    public var outputShape: FeatureShape { inputShape }
    let device: Device
    var output: Workspace
    public var workspaceBytes: [Int] { [output.bytes] }
    /// The forward's output (the mask of the backward).
    var saved = Saved<Tensor>("ReLU")

    public init(_ device: Device, shape: FeatureShape, maxBatch: Int) {
        self.device = device
        inputShape = shape
        output = Workspace(device, shape, maxBatch: maxBatch)
    }

    public func forward(_ x: Tensor, batch: Int, mode: Mode) -> Tensor {
        let y = output.get(batch: batch)
        device.reluForward(x, output: y)
        saved.save(y)
        return y
    }

    // y = max(a + b, 0): a residual sum and this ReLU in one pass (the sum is never kept)
    func forward(sum a: Tensor, _ b: Tensor, batch: Int) -> Tensor {
        let y = output.get(batch: batch)
        device.addReLU(a, b, into: y)
        saved.save(y)
        return y
    }

    // dx = dy * [y > 0], in place on dy
    public func backward(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        guard inputGradient else { return nil }
        device.reluBackward(output: saved.value, gradOutput: dy, gradInput: dy)
        return dy
    }
}

/// Max pooling with a square window.
public final class MaxPool2D: ParameterFreeLayer {
    public let inputShape: FeatureShape
    public let outputShape: FeatureShape
    let device: Device
    let geometry: Pool2DGeometry
    var output: Workspace, gradInput: Workspace
    public var workspaceBytes: [Int] { [output.bytes, gradInput.bytes] }
    /// The forward's input (where the maxima are) and geometry (its batch).
    struct Activations { let input: Tensor; let geometry: Pool2DGeometry }
    var saved = Saved<Activations>("MaxPool2D")

    /// - Parameter padding: an implicit `-inf` border (at most `window / 2`), as PyTorch's `MaxPool2d(padding:)`.
    public init(_ device: Device, shape: FeatureShape, window: Int, stride: Int, padding: Int = 0, maxBatch: Int) {
        self.device = device
        inputShape = shape
        geometry = Pool2DGeometry(channels: shape.channels, batch: maxBatch, height: shape.height,
                                  width: shape.width, window: window, stride: stride, padding: padding)
        outputShape = FeatureShape(shape.channels, geometry.outHeight, geometry.outWidth)
        output = Workspace(device, outputShape, maxBatch: maxBatch)
        gradInput = Workspace(device, shape, maxBatch: maxBatch)
    }

    public func forward(_ x: Tensor, batch: Int, mode: Mode) -> Tensor {
        var g = geometry
        g.batch = batch
        saved.save(Activations(input: x, geometry: g))
        let y = output.get(batch: batch)
        device.maxPoolForward(input: x, output: y, geometry: g)
        return y
    }

    // dx: each output gradient routed to the first maximum of its window
    public func backward(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        guard inputGradient else { return nil }
        let a = saved.value
        let dx = gradInput.get(batch: a.geometry.batch)
        device.maxPoolBackward(input: a.input, gradOutput: dy, gradInput: dx, geometry: a.geometry)
        return dx
    }
}

/// `[C, N, H, W] -> [C, N]` by the mean over each plane.
public final class GlobalAvgPool: ParameterFreeLayer {
    public let inputShape: FeatureShape
    public var outputShape: FeatureShape { FeatureShape(inputShape.channels) }
    let device: Device
    var output: Workspace, gradInput: Workspace
    public var workspaceBytes: [Int] { [output.bytes, gradInput.bytes] }
    /// The forward's batch.
    var saved = Saved<Int>("GlobalAvgPool")

    public init(_ device: Device, shape: FeatureShape, maxBatch: Int) {
        self.device = device
        inputShape = shape
        output = Workspace(device, FeatureShape(shape.channels), maxBatch: maxBatch)
        gradInput = Workspace(device, shape, maxBatch: maxBatch)
    }

    public func forward(_ x: Tensor, batch: Int, mode: Mode) -> Tensor {
        saved.save(batch)
        let y = output.get(batch: batch)
        device.globalAvgPoolForward(input: x, output: y, channels: inputShape.channels, batch: batch, plane: inputShape.plane)
        return y
    }

    // dx[c,n,:] = dy[c,n] / (H*W)
    public func backward(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        guard inputGradient else { return nil }
        let batch = saved.value
        let dx = gradInput.get(batch: batch)
        device.globalAvgPoolBackward(gradOutput: dy, gradInput: dx, channels: inputShape.channels, batch: batch, plane: inputShape.plane)
        return dx
    }
}

/// `[C, N, H, W] -> [C*H*W, N]`, feature index `c*H*W + h*W + w` (PyTorch's flatten).
public final class Flatten: ParameterFreeLayer {
    public let inputShape: FeatureShape
    public var outputShape: FeatureShape { FeatureShape(inputShape.count) }
    let device: Device
    var output: Workspace, gradInput: Workspace
    public var workspaceBytes: [Int] { [output.bytes, gradInput.bytes] }
    /// The forward's batch.
    var saved = Saved<Int>("Flatten")

    public init(_ device: Device, shape: FeatureShape, maxBatch: Int) {
        self.device = device
        inputShape = shape
        output = Workspace(device, FeatureShape(shape.count), maxBatch: maxBatch)
        gradInput = Workspace(device, shape, maxBatch: maxBatch)
    }

    public func forward(_ x: Tensor, batch: Int, mode: Mode) -> Tensor {
        saved.save(batch)
        if inputShape.plane == 1 { return x }   // already [C, N]
        let y = output.get(batch: batch)
        device.flattenForward(input: x, output: y, channels: inputShape.channels, batch: batch, plane: inputShape.plane)
        return y
    }

    // dx[C,N,H,W] <- dy[C*H*W, N]
    public func backward(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        guard inputGradient else { return nil }
        let batch = saved.value
        if inputShape.plane == 1 { return dy }
        let dx = gradInput.get(batch: batch)
        device.flattenBackward(gradOutput: dy, gradInput: dx, channels: inputShape.channels, batch: batch, plane: inputShape.plane)
        return dx
    }
}

/// Fully connected layer, `y[out, N] = w[out, in] x[in, N] + b`; PyTorch's default
/// initialisation `U(-1/sqrt(in), 1/sqrt(in))` for weight and bias.
public final class Linear: Layer {
    public let inputShape: FeatureShape
    public let outputShape: FeatureShape
    public let weight: Parameter
    public let bias: Parameter
    let device: Device
    var output: Workspace, gradInput: Workspace
    public var workspaceBytes: [Int] { [output.bytes, gradInput.bytes] }
    /// The forward's input and batch.
    struct Activations { let input: Tensor; let batch: Int }
    var saved: Saved<Activations>

    public init(_ device: Device, name: String, inFeatures: Int, outFeatures: Int, maxBatch: Int) {
        self.device = device
        inputShape = FeatureShape(inFeatures)
        outputShape = FeatureShape(outFeatures)
        weight = Parameter(name: name + ".weight", shape: [outFeatures, inFeatures], device: device)
        bias = Parameter(name: name + ".bias", shape: [outFeatures], device: device)
        output = Workspace(device, outputShape, maxBatch: maxBatch)
        gradInput = Workspace(device, inputShape, maxBatch: maxBatch)
        saved = Saved(name)
    }

    public var parameters: [Parameter] { [weight, bias] }
    public var normedParameters: [Parameter] { [weight, bias] }

    public func initialize(seed: UInt64) {
        let bound = 1 / Float(inputShape.channels).squareRoot()
        Trainer.initialize(weight, device: device, seed: seed) { bound * (2 * $0.uniform() - 1) }
        Trainer.initialize(bias, device: device, seed: seed) { bound * (2 * $0.uniform() - 1) }
    }

    public func forward(_ x: Tensor, batch: Int, mode: Mode) -> Tensor {
        saved.save(Activations(input: x, batch: batch))
        let y = output.get(batch: batch)
        device.linearForward(input: x, weight: weight.value, bias: bias.value, output: y,
                             inFeatures: inputShape.channels, outFeatures: outputShape.channels, batch: batch)
        return y
    }

    // dw = dy x^T, db = sum_n dy, dx = w^T dy
    public func backward(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        let a = saved.value, batch = a.batch
        let dx = inputGradient ? gradInput.get(batch: batch) : nil
        device.linearBackward(input: a.input, weight: weight.value, gradOutput: dy, gradInput: dx,
                              gradWeight: weight.gradient, gradBias: bias.gradient,
                              inFeatures: inputShape.channels, outFeatures: outputShape.channels, batch: batch)
        return dx
    }

    // ||a_i||^2 ||g_i||^2 + ||g_i||^2 per example; dx = w^T dy
    public func backwardNorms(_ dy: Tensor, squaredNorms: Tensor, inputGradient: Bool) -> Tensor? {
        let a = saved.value, batch = a.batch
        device.linearPerExampleGradNormsSquared(input: a.input, gradOutput: dy, inFeatures: inputShape.channels,
                                                outFeatures: outputShape.channels, batch: batch, squaredNorms: squaredNorms)
        guard inputGradient else { return nil }
        let dx = gradInput.get(batch: batch)
        device.gemm(transposeA: true, transposeB: false, m: inputShape.channels, n: batch, k: outputShape.channels,
                    alpha: 1, a: weight.value, aOffset: 0, lda: inputShape.channels, b: dy, bOffset: 0, ldb: batch,
                    beta: 0, c: dx, cOffset: 0, ldc: batch)
        return dx
    }
}
