/// What kind of hardware a device runs on.
public enum DeviceKind: String, Sendable {
    case cpu
    case gpu
    case accelerator
}

/// A compute device: memory plus the explicit batched operations Sieve's layers use.
///
/// There is no graph and no autodiff: each layer calls the forward op and, in its
/// backward, the matching backward op. Activations are channel-major `[C, N, H, W]`
/// (see ``Tensor``). Ops that produce gradients overwrite their outputs unless the
/// name says `accumulate`.
public protocol Device: AnyObject {
    /// Human-readable name, for logs and `meta.json`.
    var name: String { get }
    var kind: DeviceKind { get }

    // MARK: Memory
    func makeTensor(_ shape: [Int], dtype: DType) -> Tensor
    /// Copies `values` into the first `values.count` elements of `tensor`.
    func upload(_ values: UnsafeBufferPointer<Float>, to tensor: Tensor)
    func upload(_ values: UnsafeBufferPointer<Int32>, to tensor: Tensor)
    /// Copies the first `values.count` elements of `tensor` out.
    func download(_ tensor: Tensor, into values: UnsafeMutableBufferPointer<Float>)
    /// Waits for all queued work (a no-op on the CPU).
    func synchronize()

    // MARK: Elementwise
    func fill(_ tensor: Tensor, with value: Float)
    /// `y = x` over `x.count` elements.
    func copy(_ x: Tensor, to y: Tensor)
    /// `y += x` over `x.count` elements.
    func accumulate(_ x: Tensor, into y: Tensor)
    /// `out = a + b` (residual connections).
    func add(_ a: Tensor, _ b: Tensor, into out: Tensor)
    /// `y = max(x, 0)`.
    func reluForward(_ x: Tensor, output y: Tensor)
    /// `dx = dy * [y > 0]` (uses the forward *output*, so it can run in place on `dy`).
    func reluBackward(output y: Tensor, gradOutput dy: Tensor, gradInput dx: Tensor)

    // MARK: GEMM (row-major, offsets in elements)
    /// `C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C`.
    func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
              alpha: Float, a: Tensor, aOffset: Int, lda: Int,
              b: Tensor, bOffset: Int, ldb: Int,
              beta: Float, c: Tensor, cOffset: Int, ldc: Int)

    // MARK: Convolution (no bias; batch norm follows every convolution)
    /// `y[K,N,P,Q] = conv(x[C,N,H,W], w[K,C,R,S])`.
    func conv2dForward(input x: Tensor, weight w: Tensor, output y: Tensor, geometry g: Conv2DGeometry)
    /// `dx[C,N,H,W] = conv^T(dy[K,N,P,Q], w)`.
    func conv2dBackwardData(gradOutput dy: Tensor, weight w: Tensor, gradInput dx: Tensor, geometry g: Conv2DGeometry)
    /// `dw[K,C,R,S] = sum_n dy_n (*) x_n`.
    func conv2dBackwardWeight(input x: Tensor, gradOutput dy: Tensor, gradWeight dw: Tensor, geometry g: Conv2DGeometry)

    // MARK: Batch norm over `[C, M]` rows (M = N*H*W)
    /// Training mode: batch statistics (biased variance) normalise `x`; saves `mean` and
    /// `invStd` for the backward and updates the running averages (unbiased variance,
    /// PyTorch's `momentum` convention: `r = (1 - momentum) * r + momentum * batch`).
    func batchNormTrainingForward(input x: Tensor, gamma: Tensor, beta: Tensor, output y: Tensor,
                                  savedMean: Tensor, savedInvStd: Tensor,
                                  runningMean: Tensor, runningVar: Tensor,
                                  channels: Int, momentum: Float, epsilon: Float, relu: Bool)
    /// Evaluation mode: running statistics.
    func batchNormInferenceForward(input x: Tensor, gamma: Tensor, beta: Tensor, output y: Tensor,
                                   runningMean: Tensor, runningVar: Tensor, channels: Int, epsilon: Float, relu: Bool)
    /// Backward of the training-mode forward: `dx`, `dgamma`, `dbeta`. With `reluOutput`
    /// (the output of a forward with `relu`), `dy` is taken as `dy * [reluOutput > 0]`.
    func batchNormBackward(gradOutput dy: Tensor, input x: Tensor, gamma: Tensor,
                           savedMean: Tensor, savedInvStd: Tensor,
                           gradInput dx: Tensor, gradGamma: Tensor, gradBeta: Tensor, channels: Int,
                           reluOutput: Tensor?)

    /// Backward of the evaluation-mode forward (running statistics, examples
    /// independent): `dx = dy * gamma / sqrt(runningVar + eps)`; writes `dgamma`, `dbeta`
    /// when given, and adds each example's squared gamma/beta gradient norm
    /// (`sum_c (sum_hw dy*xhat)^2 + (sum_hw dy)^2`) to `squaredNorms[N]` when given;
    /// `reluOutput` masks `dy` as in ``batchNormBackward``.
    func batchNormInferenceBackward(gradOutput dy: Tensor, input x: Tensor, gamma: Tensor,
                                    runningMean: Tensor, runningVar: Tensor, gradInput dx: Tensor?,
                                    gradGamma: Tensor?, gradBeta: Tensor?, squaredNorms: Tensor?,
                                    channels: Int, batch: Int, epsilon: Float, reluOutput: Tensor?)

    // MARK: Per-example gradient norms (batched; never one backward per example)
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

    // MARK: Pooling
    func maxPoolForward(input x: Tensor, output y: Tensor, geometry g: Pool2DGeometry)
    /// Routes each output gradient to the first maximum of its window.
    func maxPoolBackward(input x: Tensor, gradOutput dy: Tensor, gradInput dx: Tensor, geometry g: Pool2DGeometry)
    func avgPoolForward(input x: Tensor, output y: Tensor, geometry g: Pool2DGeometry)
    func avgPoolBackward(gradOutput dy: Tensor, gradInput dx: Tensor, geometry g: Pool2DGeometry)
    /// `y[C,N] = mean_hw x[C,N,H,W]`.
    func globalAvgPoolForward(input x: Tensor, output y: Tensor, channels: Int, batch: Int, plane: Int)
    func globalAvgPoolBackward(gradOutput dy: Tensor, gradInput dx: Tensor, channels: Int, batch: Int, plane: Int)
    /// `y[C*S, N] = x[C, N, S]` (feature index `c*S + s`, PyTorch's flatten order).
    func flattenForward(input x: Tensor, output y: Tensor, channels: Int, batch: Int, plane: Int)
    func flattenBackward(gradOutput dy: Tensor, gradInput dx: Tensor, channels: Int, batch: Int, plane: Int)

    // MARK: Linear
    /// `y[out,N] = w[out,in] * x[in,N] + b[out]`.
    func linearForward(input x: Tensor, weight w: Tensor, bias b: Tensor, output y: Tensor,
                       inFeatures: Int, outFeatures: Int, batch: Int)
    /// `dw = dy x^T`, `db = sum_n dy`, and `dx = w^T dy` when `dx` is given.
    func linearBackward(input x: Tensor, weight w: Tensor, gradOutput dy: Tensor,
                        gradInput dx: Tensor?, gradWeight dw: Tensor, gradBias db: Tensor,
                        inFeatures: Int, outFeatures: Int, batch: Int)

    // MARK: Loss
    /// Batched softmax cross-entropy on logits `[K, N]` with labels `[N]` (int32).
    /// Writes the softmax error vectors `errors = gradScale * (softmax(z) - onehot(y))`
    /// (`gradScale = 1/N` gives the gradient of the mean loss) and the per-example
    /// outputs `[ExampleOutput.rows, N]`.
    func softmaxCrossEntropy(logits: Tensor, labels: Tensor, gradScale: Float,
                             errors: Tensor, outputs: Tensor)

    // MARK: Optimiser
    /// One SGD step in place: `g += wd*w; m = mu*m + g; w -= lr * (nesterov ? g + mu*m : m)`.
    func sgdStep(parameter w: Tensor, gradient g: Tensor, momentum m: Tensor, hyper: SGDHyperparameters)
}

extension Device {
    public func makeTensor(_ shape: [Int]) -> Tensor { makeTensor(shape, dtype: .float32) }

    // Batch norm without the fused ReLU.
    public func batchNormTrainingForward(input x: Tensor, gamma: Tensor, beta: Tensor, output y: Tensor,
                                         savedMean: Tensor, savedInvStd: Tensor, runningMean: Tensor, runningVar: Tensor,
                                         channels: Int, momentum: Float, epsilon: Float) {
        batchNormTrainingForward(input: x, gamma: gamma, beta: beta, output: y, savedMean: savedMean, savedInvStd: savedInvStd,
                                 runningMean: runningMean, runningVar: runningVar, channels: channels, momentum: momentum,
                                 epsilon: epsilon, relu: false)
    }

    public func batchNormInferenceForward(input x: Tensor, gamma: Tensor, beta: Tensor, output y: Tensor,
                                          runningMean: Tensor, runningVar: Tensor, channels: Int, epsilon: Float) {
        batchNormInferenceForward(input: x, gamma: gamma, beta: beta, output: y, runningMean: runningMean,
                                  runningVar: runningVar, channels: channels, epsilon: epsilon, relu: false)
    }

    public func batchNormBackward(gradOutput dy: Tensor, input x: Tensor, gamma: Tensor, savedMean: Tensor,
                                  savedInvStd: Tensor, gradInput dx: Tensor, gradGamma: Tensor, gradBeta: Tensor, channels: Int) {
        batchNormBackward(gradOutput: dy, input: x, gamma: gamma, savedMean: savedMean, savedInvStd: savedInvStd,
                          gradInput: dx, gradGamma: gradGamma, gradBeta: gradBeta, channels: channels, reluOutput: nil)
    }

    public func batchNormInferenceBackward(gradOutput dy: Tensor, input x: Tensor, gamma: Tensor,
                                           runningMean: Tensor, runningVar: Tensor, gradInput dx: Tensor?,
                                           gradGamma: Tensor?, gradBeta: Tensor?, squaredNorms: Tensor?,
                                           channels: Int, batch: Int, epsilon: Float) {
        batchNormInferenceBackward(gradOutput: dy, input: x, gamma: gamma, runningMean: runningMean, runningVar: runningVar,
                                   gradInput: dx, gradGamma: gradGamma, gradBeta: gradBeta, squaredNorms: squaredNorms,
                                   channels: channels, batch: batch, epsilon: epsilon, reluOutput: nil)
    }

    /// Uploads a Swift array.
    public func upload(_ values: [Float], to tensor: Tensor) {
        values.withUnsafeBufferPointer { upload($0, to: tensor) }
    }

    /// Downloads the logical contents of a float tensor.
    public func download(_ tensor: Tensor) -> [Float] {
        [Float](unsafeUninitializedCapacity: tensor.count) { buf, n in
            download(tensor, into: buf)
            n = tensor.count
        }
    }
}
