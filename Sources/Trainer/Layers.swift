import Kernels

// Each layer: forward and backward side by side, shapes in comments,
// activations channel-major [C, N, H, W].

/// 2-D convolution without bias (batch norm follows). Weight `[K, C, R, S]`,
/// He-normal initialised with `std = sqrt(2 / (K*R*S))` (fan-out, as torchvision).
public final class Conv2D: Layer {
    public let inputShape: FeatureShape
    public let outputShape: FeatureShape
    public let weight: Parameter
    public var needsInputGradient = true
    let device: Device
    var geometry: Conv2DGeometry
    var output: Workspace
    var gradInput: Workspace
    var input: Tensor?

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
    }

    public var parameters: [Parameter] { [weight] }

    public func initialize(seed: UInt64) {
        let std = (2 / Float(geometry.outChannels * geometry.kernel * geometry.kernel)).squareRoot()
        Trainer.initialize(weight, device: device, seed: seed) { std * $0.normal() }
    }

    // y[K,N,P,Q] = conv(x[C,N,H,W], w[K,C,R,S])
    public func forward(_ x: Tensor, batch: Int, mode: Mode) -> Tensor {
        geometry.batch = batch
        input = x
        let y = output.get(batch: batch)
        device.conv2dForward(input: x, weight: weight.value, output: y, geometry: geometry)
        return y
    }

    // dw = sum_n dy_n (*) x_n;  dx = conv^T(dy, w)
    public func backward(_ dy: Tensor) -> Tensor? {
        device.conv2dBackwardWeight(input: input!, gradOutput: dy, gradWeight: weight.gradient, geometry: geometry)
        guard needsInputGradient else { return nil }
        let dx = gradInput.get(batch: geometry.batch)
        device.conv2dBackwardData(gradOutput: dy, weight: weight.value, gradInput: dx, geometry: geometry)
        return dx
    }

    // ||dw_i||^2 per example (explicit or ghost, by FLOPs); dx = conv^T(dy, w)
    public func backwardNorms(_ dy: Tensor, squaredNorms: Tensor) -> Tensor? {
        device.conv2dPerExampleGradNormsSquared(input: input!, gradOutput: dy, geometry: geometry, squaredNorms: squaredNorms)
        guard needsInputGradient else { return nil }
        let dx = gradInput.get(batch: geometry.batch)
        device.conv2dBackwardData(gradOutput: dy, weight: weight.value, gradInput: dx, geometry: geometry)
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
    public var needsInputGradient = true
    public var epsilon: Float = 1e-5
    public var momentum: Float = 0.1
    let device: Device
    let savedMean: Tensor, savedInvStd: Tensor
    var output: Workspace, gradInput: Workspace
    var input: Tensor?
    var batch = 0
    var mode = Mode.training
    var lastOutput: Tensor?
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
    }

    public var parameters: [Parameter] { [gamma, beta] }
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
        self.batch = batch
        self.mode = mode
        input = x
        let y = output.get(batch: batch)
        lastOutput = y
        switch mode {
        case .training:
            device.batchNormTrainingForward(input: x, gamma: gamma.value, beta: beta.value, output: y,
                                            savedMean: savedMean, savedInvStd: savedInvStd,
                                            runningMean: runningMean, runningVar: runningVar,
                                            channels: inputShape.channels, momentum: momentum, epsilon: epsilon,
                                            relu: fusedReLU)
        case .evaluation:
            device.batchNormInferenceForward(input: x, gamma: gamma.value, beta: beta.value, output: y,
                                             runningMean: runningMean, runningVar: runningVar,
                                             channels: inputShape.channels, epsilon: epsilon, relu: fusedReLU)
        }
        return y
    }

    // backward of the last forward's mode: dx, dgamma = sum dy*xhat, dbeta = sum dy
    public func backward(_ dy: Tensor) -> Tensor? {
        let dx = gradInput.get(batch: batch)
        if mode == .evaluation {
            device.batchNormInferenceBackward(gradOutput: dy, input: input!, gamma: gamma.value,
                                              runningMean: runningMean, runningVar: runningVar, gradInput: dx,
                                              gradGamma: gamma.gradient, gradBeta: beta.gradient, squaredNorms: nil,
                                              channels: inputShape.channels, batch: batch, epsilon: epsilon,
                                              reluOutput: fusedReLU ? lastOutput : nil)
            return dx
        }
        device.batchNormBackward(gradOutput: dy, input: input!, gamma: gamma.value,
                                 savedMean: savedMean, savedInvStd: savedInvStd,
                                 gradInput: dx, gradGamma: gamma.gradient, gradBeta: beta.gradient,
                                 channels: inputShape.channels, reluOutput: fusedReLU ? lastOutput : nil)
        return dx
    }

    // evaluation mode: per example sum_c (sum_hw dy*xhat)^2 + (sum_hw dy)^2; dx = dy*gamma/sqrt(rv+eps)
    public func backwardNorms(_ dy: Tensor, squaredNorms: Tensor) -> Tensor? {
        precondition(mode == .evaluation, "per-example norms need batch norm in evaluation mode")
        let dx = needsInputGradient ? gradInput.get(batch: batch) : nil
        device.batchNormInferenceBackward(gradOutput: dy, input: input!, gamma: gamma.value,
                                          runningMean: runningMean, runningVar: runningVar, gradInput: dx,
                                          gradGamma: nil, gradBeta: nil, squaredNorms: squaredNorms,
                                          channels: inputShape.channels, batch: batch, epsilon: epsilon,
                                          reluOutput: fusedReLU ? lastOutput : nil)
        return dx
    }
}

/// `y = max(x, 0)`; the backward works in place on `dy`.
public final class ReLU: Layer {
    public let inputShape: FeatureShape
    public var outputShape: FeatureShape { inputShape }
    public var needsInputGradient = true
    let device: Device
    var output: Workspace
    var y: Tensor?

    public init(_ device: Device, shape: FeatureShape, maxBatch: Int) {
        self.device = device
        inputShape = shape
        output = Workspace(device, shape, maxBatch: maxBatch)
    }

    public func forward(_ x: Tensor, batch: Int, mode: Mode) -> Tensor {
        let out = output.get(batch: batch)
        device.reluForward(x, output: out)
        y = out
        return out
    }

    // dx = dy * [y > 0]
    public func backward(_ dy: Tensor) -> Tensor? {
        device.reluBackward(output: y!, gradOutput: dy, gradInput: dy)
        return dy
    }
}

/// Max pooling with a square window.
public final class MaxPool2D: Layer {
    public let inputShape: FeatureShape
    public let outputShape: FeatureShape
    public var needsInputGradient = true
    let device: Device
    var geometry: Pool2DGeometry
    var output: Workspace, gradInput: Workspace
    var input: Tensor?

    public init(_ device: Device, shape: FeatureShape, window: Int, stride: Int, maxBatch: Int) {
        self.device = device
        inputShape = shape
        geometry = Pool2DGeometry(channels: shape.channels, batch: maxBatch, height: shape.height,
                                  width: shape.width, window: window, stride: stride)
        outputShape = FeatureShape(shape.channels, geometry.outHeight, geometry.outWidth)
        output = Workspace(device, outputShape, maxBatch: maxBatch)
        gradInput = Workspace(device, shape, maxBatch: maxBatch)
    }

    public func forward(_ x: Tensor, batch: Int, mode: Mode) -> Tensor {
        geometry.batch = batch
        input = x
        let y = output.get(batch: batch)
        device.maxPoolForward(input: x, output: y, geometry: geometry)
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor? {
        let dx = gradInput.get(batch: geometry.batch)
        device.maxPoolBackward(input: input!, gradOutput: dy, gradInput: dx, geometry: geometry)
        return dx
    }
}

/// `[C, N, H, W] -> [C, N]` by the mean over each plane.
public final class GlobalAvgPool: Layer {
    public let inputShape: FeatureShape
    public var outputShape: FeatureShape { FeatureShape(inputShape.channels) }
    public var needsInputGradient = true
    let device: Device
    var output: Workspace, gradInput: Workspace
    var batch = 0

    public init(_ device: Device, shape: FeatureShape, maxBatch: Int) {
        self.device = device
        inputShape = shape
        output = Workspace(device, FeatureShape(shape.channels), maxBatch: maxBatch)
        gradInput = Workspace(device, shape, maxBatch: maxBatch)
    }

    public func forward(_ x: Tensor, batch: Int, mode: Mode) -> Tensor {
        self.batch = batch
        let y = output.get(batch: batch)
        device.globalAvgPoolForward(input: x, output: y, channels: inputShape.channels, batch: batch, plane: inputShape.plane)
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor? {
        let dx = gradInput.get(batch: batch)
        device.globalAvgPoolBackward(gradOutput: dy, gradInput: dx, channels: inputShape.channels, batch: batch, plane: inputShape.plane)
        return dx
    }
}

/// `[C, N, H, W] -> [C*H*W, N]`, feature index `c*H*W + h*W + w` (PyTorch's flatten).
public final class Flatten: Layer {
    public let inputShape: FeatureShape
    public var outputShape: FeatureShape { FeatureShape(inputShape.count) }
    public var needsInputGradient = true
    let device: Device
    var output: Workspace, gradInput: Workspace
    var batch = 0

    public init(_ device: Device, shape: FeatureShape, maxBatch: Int) {
        self.device = device
        inputShape = shape
        output = Workspace(device, FeatureShape(shape.count), maxBatch: maxBatch)
        gradInput = Workspace(device, shape, maxBatch: maxBatch)
    }

    public func forward(_ x: Tensor, batch: Int, mode: Mode) -> Tensor {
        self.batch = batch
        if inputShape.plane == 1 { return x }   // already [C, N]
        let y = output.get(batch: batch)
        device.flattenForward(input: x, output: y, channels: inputShape.channels, batch: batch, plane: inputShape.plane)
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor? {
        guard needsInputGradient else { return nil }
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
    public var needsInputGradient = true
    let device: Device
    var output: Workspace, gradInput: Workspace
    var input: Tensor?
    var batch = 0

    public init(_ device: Device, name: String, inFeatures: Int, outFeatures: Int, maxBatch: Int) {
        self.device = device
        inputShape = FeatureShape(inFeatures)
        outputShape = FeatureShape(outFeatures)
        weight = Parameter(name: name + ".weight", shape: [outFeatures, inFeatures], device: device)
        bias = Parameter(name: name + ".bias", shape: [outFeatures], device: device)
        output = Workspace(device, outputShape, maxBatch: maxBatch)
        gradInput = Workspace(device, inputShape, maxBatch: maxBatch)
    }

    public var parameters: [Parameter] { [weight, bias] }

    public func initialize(seed: UInt64) {
        let bound = 1 / Float(inputShape.channels).squareRoot()
        Trainer.initialize(weight, device: device, seed: seed) { bound * (2 * $0.uniform() - 1) }
        Trainer.initialize(bias, device: device, seed: seed) { bound * (2 * $0.uniform() - 1) }
    }

    public func forward(_ x: Tensor, batch: Int, mode: Mode) -> Tensor {
        self.batch = batch
        input = x
        let y = output.get(batch: batch)
        device.linearForward(input: x, weight: weight.value, bias: bias.value, output: y,
                             inFeatures: inputShape.channels, outFeatures: outputShape.channels, batch: batch)
        return y
    }

    // dw = dy x^T, db = sum_n dy, dx = w^T dy
    public func backward(_ dy: Tensor) -> Tensor? {
        let dx = needsInputGradient ? gradInput.get(batch: batch) : nil
        device.linearBackward(input: input!, weight: weight.value, gradOutput: dy, gradInput: dx,
                              gradWeight: weight.gradient, gradBias: bias.gradient,
                              inFeatures: inputShape.channels, outFeatures: outputShape.channels, batch: batch)
        return dx
    }

    // ||a_i||^2 ||g_i||^2 + ||g_i||^2 per example; dx = w^T dy
    public func backwardNorms(_ dy: Tensor, squaredNorms: Tensor) -> Tensor? {
        device.linearPerExampleGradNormsSquared(input: input!, gradOutput: dy, inFeatures: inputShape.channels,
                                                outFeatures: outputShape.channels, batch: batch, squaredNorms: squaredNorms)
        guard needsInputGradient else { return nil }
        let dx = gradInput.get(batch: batch)
        device.gemm(transposeA: true, transposeB: false, m: inputShape.channels, n: batch, k: outputShape.channels,
                    alpha: 1, a: weight.value, aOffset: 0, lda: inputShape.channels, b: dy, bOffset: 0, ldb: batch,
                    beta: 0, c: dx, cOffset: 0, ldc: batch)
        return dx
    }
}
