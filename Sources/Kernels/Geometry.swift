/// Shape of a 2-D convolution over a batch (activations channel-major `[C, N, H, W]`).
public struct Conv2DGeometry: Hashable, Sendable, CustomStringConvertible {
    public var batch: Int
    public var inChannels: Int
    public var height: Int
    public var width: Int
    public var outChannels: Int
    public var kernel: Int
    public var stride: Int
    public var padding: Int

    public init(batch: Int, inChannels: Int, height: Int, width: Int,
                outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0) {
        guard batch >= 0 && inChannels > 0 && height > 0 && width > 0 && outChannels > 0
                && kernel > 0 && stride > 0 && padding >= 0 else {
            fatalError("Conv2DGeometry: bad geometry: batch \(batch), \(inChannels)x\(height)x\(width) -> \(outChannels), "
                       + "kernel \(kernel), stride \(stride), padding \(padding)")
        }
        self.batch = batch; self.inChannels = inChannels; self.height = height; self.width = width
        self.outChannels = outChannels; self.kernel = kernel; self.stride = stride; self.padding = padding
        guard outHeight > 0 && outWidth > 0 else { fatalError("Conv2DGeometry: the output of \(self) is empty") }
    }

    public var outHeight: Int { (height + 2 * padding - kernel) / stride + 1 }
    public var outWidth: Int { (width + 2 * padding - kernel) / stride + 1 }
    /// Rows of the im2col matrix: `C * R * S`.
    public var patchSize: Int { inChannels * kernel * kernel }
    /// Output pixels of one example: `P * Q`.
    public var outPlane: Int { outHeight * outWidth }
    /// True when the im2col matrix is the input itself (1x1, stride 1, no padding).
    public var isPointwise: Bool { kernel == 1 && stride == 1 && padding == 0 }
    /// Multiply-adds of the forward pass.
    public var macs: Int { batch * outPlane * outChannels * patchSize }

    public var inputShape: [Int] { [inChannels, batch, height, width] }
    public var outputShape: [Int] { [outChannels, batch, outHeight, outWidth] }
    public var weightShape: [Int] { [outChannels, inChannels, kernel, kernel] }

    public var description: String {
        "conv \(inChannels)x\(height)x\(width) -> \(outChannels)x\(outHeight)x\(outWidth) "
            + "k\(kernel) s\(stride) p\(padding) batch \(batch)"
    }
}

/// Shape of a max or average pooling window (no padding).
public struct Pool2DGeometry: Hashable, Sendable {
    public var channels: Int
    public var batch: Int
    public var height: Int
    public var width: Int
    public var window: Int
    public var stride: Int
    /// Implicit `-inf` border on every side (max-pooling only, at most half the window, as PyTorch).
    public var padding: Int

    public init(channels: Int, batch: Int, height: Int, width: Int, window: Int, stride: Int, padding: Int = 0) {
        guard channels > 0 && batch >= 0 && window > 0 && stride > 0 && padding >= 0 && 2 * padding <= window
                && window <= height + 2 * padding && window <= width + 2 * padding else {
            fatalError("Pool2DGeometry: bad geometry: \(channels) channels, batch \(batch), \(height)x\(width), "
                       + "window \(window), stride \(stride), padding \(padding)")
        }
        self.channels = channels; self.batch = batch; self.height = height; self.width = width
        self.window = window; self.stride = stride; self.padding = padding
    }

    public var outHeight: Int { (height + 2 * padding - window) / stride + 1 }
    public var outWidth: Int { (width + 2 * padding - window) / stride + 1 }
    /// A 2x2 window with stride 2 and no border (halves each side): the CPU's vector path.
    public var isHalving: Bool { window == 2 && stride == 2 && padding == 0 }
    public var inputShape: [Int] { [channels, batch, height, width] }
    public var outputShape: [Int] { [channels, batch, outHeight, outWidth] }
}

/// Hyper-parameters of one SGD step (PyTorch's `torch.optim.SGD` semantics).
public struct SGDHyperparameters: Sendable {
    public var learningRate: Float
    public var momentum: Float
    public var nesterov: Bool
    public var weightDecay: Float

    public init(learningRate: Float, momentum: Float = 0.9, nesterov: Bool = false, weightDecay: Float = 0) {
        self.learningRate = learningRate; self.momentum = momentum
        self.nesterov = nesterov; self.weightDecay = weightDecay
    }
}

/// Rows of the per-example output tensor `[ExampleOutput.rows, N]` written by
/// ``LossAndNormOps/softmaxCrossEntropy(logits:labels:gradScale:errors:outputs:)``:
/// row `r` of example `n` is element `r.rawValue * N + n`. This declaration is the only
/// place the rows are numbered: the OpenCL kernels get them as `-D` constants
/// (``openCLBuildOptions``: `EX_LOSS`, ..., `EX_ROWS`), and ``ExampleOutputs`` decodes
/// a downloaded batch by name.
public enum ExampleOutput: Int, CaseIterable, Sendable {
    /// Cross-entropy `-log p_y`.
    case loss
    /// 1 if `argmax z == y` (first maximum wins), else 0.
    case correct
    /// `z_y - max_{k != y} z_k` on the raw logits.
    case margin
    /// Softmax probability of the given label, `p_y`.
    case probability
    /// `||p - onehot(y)||_2`.
    case el2n
    /// Predicted class `argmax z` (as a float).
    case predicted

    /// Number of rows.
    public static let rows = allCases.count

    /// The name of the row's constant in the OpenCL sources: `EX_LOSS`, `EX_EL2N`, ...
    public var openCLName: String { "EX_" + "\(self)".uppercased() }

    /// `-DEX_LOSS=0 ... -DEX_ROWS=6`, part of every OpenCL program's build options.
    public static let openCLBuildOptions: String =
        (allCases.map { "-D\($0.openCLName)=\($0.rawValue)" } + ["-DEX_ROWS=\(rows)"]).joined(separator: " ")
}
