import Kernels

/// A trainable tensor with its gradient and SGD momentum buffer.
public final class Parameter {
    /// PyTorch-style name, e.g. `layer1.0.conv1.weight`.
    public let name: String
    public let value: Tensor
    public let gradient: Tensor
    public let momentum: Tensor

    init(name: String, shape: [Int], device: Device) {
        self.name = name
        value = device.makeTensor(shape)
        gradient = device.makeTensor(shape)
        momentum = device.makeTensor(shape)
    }

    public var shape: [Int] { value.shape }
    public var count: Int { value.count }
}

/// A non-trainable tensor saved with the model (batch norm running statistics).
public struct Buffer {
    public let name: String
    public let value: Tensor
}
