/// What kind of hardware a device runs on.
public enum DeviceKind: String, Sendable {
    case cpu
    case gpu
    case accelerator
}

/// A compute device: memory plus the explicit batched operations Sieve's layers use,
/// one small protocol per op family (``MemoryOps``, ``ElementwiseOps``,
/// ``ConvolutionOps``, ``BatchNormOps``, ``PoolingAndLinearOps``, ``LossAndNormOps``,
/// ``OptimizerOps``).
///
/// There is no graph and no autodiff: each layer calls the forward op and, in its
/// backward, the matching backward op. Activations are channel-major `[C, N, H, W]`
/// (see ``Tensor``). Ops that produce gradients overwrite their outputs unless the
/// name or the documentation says they add. Every op checks the tensors it is given
/// against the shapes it will touch (in release builds too) and stops with a message
/// naming the op when they do not fit.
public protocol Device: MemoryOps, ElementwiseOps, ConvolutionOps, BatchNormOps, PoolingAndLinearOps,
                        LossAndNormOps, OptimizerOps {
    /// Human-readable name, for logs and `meta.json`.
    var name: String { get }
    var kind: DeviceKind { get }
    /// The memory tensors may use, checked before any work (``MemoryCapacity/check(planned:largestTensor:)``).
    var memoryCapacity: MemoryCapacity { get }
}

/// How much memory a device offers its tensors: in all, and in one allocation (0: unknown).
public struct MemoryCapacity: Sendable, Equatable {
    public var totalBytes: Int
    public var largestAllocationBytes: Int
    /// What the device allocates for itself at most (its ops' scratch buffers).
    public var reservedBytes: Int
    /// Where the memory is, for messages ("this machine", "the OpenCL device ...").
    public var owner: String

    public init(totalBytes: Int, largestAllocationBytes: Int, reservedBytes: Int = 0, owner: String) {
        self.totalBytes = totalBytes; self.largestAllocationBytes = largestAllocationBytes
        self.reservedBytes = reservedBytes; self.owner = owner
    }

    /// Why `planned` bytes of tensors in all (plus ``reservedBytes``), the largest
    /// `largestTensor` bytes, do not fit (nil when they do, or the capacity is unknown).
    public func problem(planned: Int, largestTensor: Int) -> String? {
        if totalBytes > 0 && planned + reservedBytes > totalBytes {
            return "needs about \(MemoryCapacity.text(planned + reservedBytes)) of memory, more than the "
                + "\(MemoryCapacity.text(totalBytes)) of \(owner)"
        }
        if largestAllocationBytes > 0 && largestTensor > largestAllocationBytes {
            return "needs a tensor of \(MemoryCapacity.text(largestTensor)), more than the \(MemoryCapacity.text(largestAllocationBytes)) "
                + "\(owner) allocates at once"
        }
        return nil
    }

    /// Bytes as `12.3 GiB` / `45.6 MiB`.
    public static func text(_ bytes: Int) -> String {
        let gib = Double(bytes) / Double(1 << 30)
        if gib >= 1 { return "\((gib * 10).rounded() / 10) GiB" }
        return "\((Double(bytes) / Double(1 << 20) * 10).rounded() / 10) MiB"
    }
}

/// Tensors on the device, transfers, and the two ops every other family relies on.
/// Reading a tensor is always an explicit ``download(_:into:)``: no tensor gives out
/// host pointers.
public protocol MemoryOps: AnyObject {
    /// A zero-initialised tensor of `shape`; its capacity is fixed (see ``Tensor/resize(axis:to:)``).
    func makeTensor(_ shape: [Int], dtype: DType) -> Tensor
    /// Copies `values` into the first `values.count` elements of a float32 `tensor`.
    func upload(_ values: UnsafeBufferPointer<Float>, to tensor: Tensor)
    /// Copies `values` into the first `values.count` elements of an int32 `tensor`.
    func upload(_ values: UnsafeBufferPointer<Int32>, to tensor: Tensor)
    /// Queues a copy of `values` into `tensor` without waiting for it: the caller keeps
    /// `values` unchanged until the next ``download(_:into:)`` or ``synchronize()``
    /// (which wait for it). Uploads of the next batch go this way, so no step waits
    /// for a host-to-device copy.
    func enqueueUpload(_ values: UnsafeRawBufferPointer, to tensor: Tensor)
    /// Copies the first `values.count` elements of a float32 `tensor` out (waits for
    /// queued work that writes it).
    func download(_ tensor: Tensor, into values: UnsafeMutableBufferPointer<Float>)
    /// Waits for all queued work (a no-op on the CPU).
    func synchronize()
    /// Throws the first failure of an op since the device was created (an allocation or a
    /// launch the device refused), or nothing. Ops never stop the program for the device's
    /// own failures (as ggml's backends return a status): the first failure is kept, every
    /// later op does nothing and every download reads NaN, and callers check here before
    /// they use what they downloaded (the Trainer after every batch). A failed device stays
    /// failed.
    func checkFailure() throws
    /// `tensor[i] = value` over `tensor.count` elements.
    func fill(_ tensor: Tensor, with value: Float)
    /// `y = x` over `x.count` elements.
    func copy(_ x: Tensor, to y: Tensor)
}

/// Elementwise arithmetic over `x.count` elements.
public protocol ElementwiseOps: AnyObject {
    /// `y += x`.
    func accumulate(_ x: Tensor, into y: Tensor)
    /// `out = a + b` (residual connections).
    func add(_ a: Tensor, _ b: Tensor, into out: Tensor)
    /// `y = max(x, 0)`.
    func reluForward(_ x: Tensor, output y: Tensor)
    /// `out = max(a + b, 0)` (a residual block's end), the same values as ``add(_:_:into:)``
    /// then ``reluForward(_:output:)`` in one pass where the device can.
    func addReLU(_ a: Tensor, _ b: Tensor, into out: Tensor)
    /// `dx = dy * [y > 0]` (uses the forward *output*, so it can run in place on `dy`).
    func reluBackward(output y: Tensor, gradOutput dy: Tensor, gradInput dx: Tensor)
}

/// Matrix products and convolutions (no bias; batch norm follows every convolution).
public protocol ConvolutionOps: AnyObject {
    /// Row-major `C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C`, offsets in
    /// elements, `op(X) = X^T` when transposed.
    func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
              alpha: Float, a: Tensor, aOffset: Int, lda: Int,
              b: Tensor, bOffset: Int, ldb: Int,
              beta: Float, c: Tensor, cOffset: Int, ldc: Int)
    /// `y[K,N,P,Q] = conv(x[C,N,H,W], w[K,C,R,S])`.
    func conv2dForward(input x: Tensor, weight w: Tensor, output y: Tensor, geometry g: Conv2DGeometry)
    /// `dx[C,N,H,W] = conv^T(dy[K,N,P,Q], w)`.
    func conv2dBackwardData(gradOutput dy: Tensor, weight w: Tensor, gradInput dx: Tensor, geometry g: Conv2DGeometry)
    /// `dw[K,C,R,S] = sum_n dy_n (*) x_n`.
    func conv2dBackwardWeight(input x: Tensor, gradOutput dy: Tensor, gradWeight dw: Tensor, geometry g: Conv2DGeometry)
    /// Forward-only passes: `y[K,N,P,Q] = BN(conv(x, w))` with batch norm in evaluation mode
    /// (running statistics; then `max(., 0)` with ``BatchNormParameters/fusedReLU``), the
    /// same values as ``conv2dForward(input:weight:output:geometry:)`` followed by
    /// ``BatchNormOps/batchNormInferenceForward(input:output:parameters:)``. A device that
    /// applies the normalisation as the convolution writes its output saves a pass over
    /// `y`; `convOutput` `[K,N,P,Q]` holds the convolution on devices that run the two apart
    /// (the default).
    func conv2dBatchNormInference(input x: Tensor, weight w: Tensor, parameters p: BatchNormParameters,
                                  convOutput: Tensor, output y: Tensor, geometry g: Conv2DGeometry)
}

extension ElementwiseOps {
    public func addReLU(_ a: Tensor, _ b: Tensor, into out: Tensor) {
        add(a, b, into: out)
        reluForward(out, output: out)
    }
}

extension ConvolutionOps where Self: BatchNormOps {
    public func conv2dBatchNormInference(input x: Tensor, weight w: Tensor, parameters p: BatchNormParameters,
                                         convOutput: Tensor, output y: Tensor, geometry g: Conv2DGeometry) {
        conv2dForward(input: x, weight: w, output: convOutput, geometry: g)
        batchNormInferenceForward(input: convOutput, output: y, parameters: p)
    }
}

/// Batch norm over `[C, M]` rows (`M = N*H*W`), with an optional fused ReLU chosen by
/// ``BatchNormParameters/fusedReLU``: the forward then writes `max(BN(x), 0)` and the
/// backward ops take `dy * [y > 0]` for `dy` (`y` = that forward's output).
public protocol BatchNormOps: AnyObject {
    /// Training mode: batch statistics (biased variance) normalise `x[C, M]` into
    /// `y[C, M]`; writes `saved` for the backward and updates the running averages
    /// (unbiased variance, PyTorch's `momentum` convention:
    /// `r = (1 - momentum) * r + momentum * batch`). Needs `M > 1`.
    func batchNormTrainingForward(input x: Tensor, output y: Tensor, parameters p: BatchNormParameters,
                                  saved: BatchNormSavedStatistics)
    /// Evaluation mode: `y[C, M] = gamma * (x - runningMean) / sqrt(runningVar + eps) + beta`.
    func batchNormInferenceForward(input x: Tensor, output y: Tensor, parameters p: BatchNormParameters)
    /// Backward of the training-mode forward: `dx[C, M]`, `dgamma[C] = sum dy*xhat`,
    /// `dbeta[C] = sum dy`. `y` is the forward's output (read only with the fused ReLU).
    func batchNormTrainingBackward(gradOutput dy: Tensor, input x: Tensor, output y: Tensor,
                                   parameters p: BatchNormParameters, saved: BatchNormSavedStatistics,
                                   gradInput dx: Tensor, gradGamma: Tensor, gradBeta: Tensor)
    /// Backward of the evaluation-mode forward (running statistics, so examples are
    /// independent): `dx = dy * gamma / sqrt(runningVar + eps)`, `dgamma[C] = sum dy*xhat`,
    /// `dbeta[C] = sum dy`.
    func batchNormInferenceBackward(gradOutput dy: Tensor, input x: Tensor, output y: Tensor,
                                    parameters p: BatchNormParameters,
                                    gradInput dx: Tensor, gradGamma: Tensor, gradBeta: Tensor)
    /// Only the `dx` of ``batchNormInferenceBackward(gradOutput:input:output:parameters:gradInput:gradGamma:gradBeta:)``
    /// (the scoring pass needs no parameter gradients).
    func batchNormInferenceBackwardData(gradOutput dy: Tensor, output y: Tensor, parameters p: BatchNormParameters,
                                        gradInput dx: Tensor)
}

/// Pooling, flatten and fully connected layers.
public protocol PoolingAndLinearOps: AnyObject {
    /// `y[C,N,P,Q]` = the maximum of each window of `x[C,N,H,W]`.
    func maxPoolForward(input x: Tensor, output y: Tensor, geometry g: Pool2DGeometry)
    /// Routes each output gradient to the first maximum of its window.
    func maxPoolBackward(input x: Tensor, gradOutput dy: Tensor, gradInput dx: Tensor, geometry g: Pool2DGeometry)
    /// `y[C,N,P,Q]` = the mean of each window of `x[C,N,H,W]`.
    func avgPoolForward(input x: Tensor, output y: Tensor, geometry g: Pool2DGeometry)
    func avgPoolBackward(gradOutput dy: Tensor, gradInput dx: Tensor, geometry g: Pool2DGeometry)
    /// `y[C,N] = mean_hw x[C,N,H,W]` (`plane = H*W`).
    func globalAvgPoolForward(input x: Tensor, output y: Tensor, channels: Int, batch: Int, plane: Int)
    func globalAvgPoolBackward(gradOutput dy: Tensor, gradInput dx: Tensor, channels: Int, batch: Int, plane: Int)
    /// `y[C*S, N] = x[C, N, S]` (feature index `c*S + s`, PyTorch's flatten order).
    func flattenForward(input x: Tensor, output y: Tensor, channels: Int, batch: Int, plane: Int)
    func flattenBackward(gradOutput dy: Tensor, gradInput dx: Tensor, channels: Int, batch: Int, plane: Int)
    /// `y[out,N] = w[out,in] * x[in,N] + b[out]`.
    func linearForward(input x: Tensor, weight w: Tensor, bias b: Tensor, output y: Tensor,
                       inFeatures: Int, outFeatures: Int, batch: Int)
    /// `dw = dy x^T`, `db = sum_n dy`, and `dx = w^T dy` when `dx` is given (the first
    /// layer of a model needs no input gradient).
    func linearBackward(input x: Tensor, weight w: Tensor, gradOutput dy: Tensor,
                        gradInput dx: Tensor?, gradWeight dw: Tensor, gradBias db: Tensor,
                        inFeatures: Int, outFeatures: Int, batch: Int)
}

/// The loss and the per-example gradient norms (batched; never one backward per example).
/// The norm ops *add* each example's squared norm to `squaredNorms[N]`.
public protocol LossAndNormOps: AnyObject {
    /// Batched softmax cross-entropy on logits `[K, N]` with labels `[N]` (int32).
    /// Writes the softmax error vectors `errors[K, N] = gradScale * (softmax(z) - onehot(y))`
    /// (`gradScale = 1/N` gives the gradient of the mean loss) and the per-example
    /// outputs `[ExampleOutput.rows, N]` (decode them with ``ExampleOutputs``).
    func softmaxCrossEntropy(logits: Tensor, labels: Tensor, gradScale: Float,
                             errors: Tensor, outputs: Tensor)
    /// Adds `||dw_i||_F^2` to `squaredNorms[i]` for every example, where `dw_i` is the
    /// weight gradient of example i alone: `dw_i = G_i A_i^T` with `A_i = im2col(x_i)`
    /// `[CRS, PQ]` and `G_i = dy_i` `[K, PQ]`. Per layer, whichever needs fewer FLOPs:
    /// the explicit product (`K*CRS*PQ`) or the ghost norm `<A_i^T A_i, G_i^T G_i>`
    /// (`PQ^2 (CRS + K) / 2` with symmetric rank-k updates).
    func conv2dPerExampleGradNormsSquared(input x: Tensor, gradOutput dy: Tensor, geometry g: Conv2DGeometry,
                                          squaredNorms: Tensor)
    /// Adds `||a_i||^2 ||g_i||^2 + ||g_i||^2` (weight and bias of `y = w a + b`) to
    /// `squaredNorms[i]`, with `a = x[in, N]`, `g = dy[out, N]`.
    func linearPerExampleGradNormsSquared(input x: Tensor, gradOutput dy: Tensor, inFeatures: Int, outFeatures: Int,
                                          batch: Int, squaredNorms: Tensor)
    /// Evaluation-mode batch norm on `x[C, N, plane]`: adds each example's squared
    /// gamma/beta gradient norm `sum_c (sum_hw dy*xhat)^2 + (sum_hw dy)^2` to
    /// `squaredNorms[N]` (`dy` masked by `y > 0` with the fused ReLU).
    func batchNormPerExampleGradNormsSquared(gradOutput dy: Tensor, input x: Tensor, output y: Tensor,
                                             parameters p: BatchNormParameters, batch: Int, squaredNorms: Tensor)
    /// The scoring pass's evaluation-mode batch-norm backward: writes `dx` as
    /// ``BatchNormOps/batchNormInferenceBackwardData(gradOutput:output:parameters:gradInput:)``
    /// and adds the squared norms as
    /// ``batchNormPerExampleGradNormsSquared(gradOutput:input:output:parameters:batch:squaredNorms:)``,
    /// reading `dy` once (on the CPU one memory pass instead of two).
    func batchNormScoringBackward(gradOutput dy: Tensor, input x: Tensor, output y: Tensor,
                                  parameters p: BatchNormParameters, batch: Int, gradInput dx: Tensor, squaredNorms: Tensor)
}

/// The parameter update.
public protocol OptimizerOps: AnyObject {
    /// One SGD step in place: `g += wd*w; m = mu*m + g; w -= lr * (nesterov ? g + mu*m : m)`.
    func sgdStep(parameter w: Tensor, gradient g: Tensor, momentum m: Tensor, hyper: SGDHyperparameters)
}

/// A batch-norm layer's state as the batch-norm ops see it: learned scale and shift,
/// running statistics (all `[C]` float tensors on the device) and constants.
public struct BatchNormParameters {
    /// Scale `[C]`.
    public var gamma: Tensor
    /// Shift `[C]`.
    public var beta: Tensor
    /// Running mean `[C]`, updated by the training-mode forward.
    public var runningMean: Tensor
    /// Running (unbiased) variance `[C]`, updated by the training-mode forward.
    public var runningVar: Tensor
    /// `C`.
    public var channels: Int
    /// Added to the variance before the square root.
    public var epsilon: Float
    /// Weight of the batch statistics in the running averages.
    public var momentum: Float
    /// The forward applies `max(., 0)` after the normalisation; the backward ops mask `dy`
    /// by the forward's output.
    public var fusedReLU: Bool

    public init(gamma: Tensor, beta: Tensor, runningMean: Tensor, runningVar: Tensor, channels: Int,
                epsilon: Float = 1e-5, momentum: Float = 0.1, fusedReLU: Bool = false) {
        self.gamma = gamma; self.beta = beta; self.runningMean = runningMean; self.runningVar = runningVar
        self.channels = channels; self.epsilon = epsilon; self.momentum = momentum; self.fusedReLU = fusedReLU
    }
}

/// The batch statistics a training-mode batch-norm forward saves for its backward: `[C]` each.
public struct BatchNormSavedStatistics {
    /// Batch mean per channel.
    public var mean: Tensor
    /// `1 / sqrt(biased batch variance + eps)` per channel.
    public var invStd: Tensor

    public init(mean: Tensor, invStd: Tensor) {
        self.mean = mean; self.invStd = invStd
    }
}

extension MemoryOps {
    /// A float32 tensor of `shape`.
    public func makeTensor(_ shape: [Int]) -> Tensor { makeTensor(shape, dtype: .float32) }

    /// Uploads a Swift array.
    public func upload(_ values: [Float], to tensor: Tensor) {
        values.withUnsafeBufferPointer { upload($0, to: tensor) }
    }

    /// Uploads a Swift array of int32 values (labels).
    public func upload(_ values: [Int32], to tensor: Tensor) {
        values.withUnsafeBufferPointer { upload($0, to: tensor) }
    }

    /// Downloads the logical contents (`tensor.count` elements) of a float tensor.
    public func download(_ tensor: Tensor) -> [Float] {
        [Float](unsafeUninitializedCapacity: tensor.count) { buf, n in
            download(tensor, into: buf)
            n = tensor.count
        }
    }
}
