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
        precondition(kernel > 0 && stride > 0 && padding >= 0, "bad convolution geometry")
        self.batch = batch; self.inChannels = inChannels; self.height = height; self.width = width
        self.outChannels = outChannels; self.kernel = kernel; self.stride = stride; self.padding = padding
        precondition(outHeight > 0 && outWidth > 0, "convolution output is empty for \(self)")
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

    public init(channels: Int, batch: Int, height: Int, width: Int, window: Int, stride: Int) {
        precondition(window > 0 && stride > 0 && window <= height && window <= width, "bad pooling geometry")
        self.channels = channels; self.batch = batch; self.height = height; self.width = width
        self.window = window; self.stride = stride
    }

    public var outHeight: Int { (height - window) / stride + 1 }
    public var outWidth: Int { (width - window) / stride + 1 }
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
/// ``Device/softmaxCrossEntropy(logits:labels:gradScale:errors:outputs:)``.
public enum ExampleOutput {
    /// Cross-entropy `-log p_y`.
    public static let loss = 0
    /// 1 if `argmax z == y` (first maximum wins), else 0.
    public static let correct = 1
    /// `z_y - max_{k != y} z_k` on the raw logits.
    public static let margin = 2
    /// Softmax probability of the given label, `p_y`.
    public static let probability = 3
    /// `||p - onehot(y)||_2`.
    public static let el2n = 4
    /// Predicted class `argmax z` (as a float).
    public static let predicted = 5
    public static let rows = 6
}
