import Kernels

/// Per-example values of one scoring pass over the training set.
public struct CheckpointScores: Sendable {
    /// `||softmax(z) - onehot(y)||_2` (EL2N of this model).
    public var el2n: [Double]
    /// `||grad_w l(x_i, y_i)||_2` over all parameters (GraNd of this model), when computed.
    public var gradNorm: [Double]?
    public var loss: [Double]
    public var margin: [Double]
    public var correct: [Bool]
    /// `||x_i||_2` of the normalised input the network sees (the GraNd-at-init baseline).
    public var inputNorm: [Double]
}

extension TrainingSession {
    /// A scoring pass over the whole training set as the reference code takes it: raw
    /// normalised images (no augmentation), batch norm in evaluation mode, the
    /// training labels (noisy ones included), loss per example. With `gradNorms`, also
    /// each example's gradient norm over every trainable parameter (batched; no
    /// weight-gradient GEMM). Does not change the model.
    public func scoreTrainingSet(gradNorms: Bool) -> CheckpointScores {
        let n = data.train.count, b = configuration.batchSize
        var scores = CheckpointScores(el2n: .init(repeating: 0, count: n), gradNorm: gradNorms ? .init(repeating: 0, count: n) : nil,
                                      loss: .init(repeating: 0, count: n), margin: .init(repeating: 0, count: n),
                                      correct: .init(repeating: false, count: n), inputNorm: .init(repeating: 0, count: n))
        let norms = device.makeTensor([b])
        var hostNorms = [Float](repeating: 0, count: b)
        let all = (0..<n).map { Int32($0) }
        for first in stride(from: 0, to: n, by: b) {
            let batch = all[first..<min(first + b, n)]
            let m = batch.count
            trainBatcher.load(batch, augmentation: .none, seed: 0, epoch: 0, labelOverride: trainLabels)
            if gradNorms {
                model.perExampleGradNormsSquared(images: trainBatcher.images, labels: trainBatcher.labels, batch: m,
                                                 errors: errors, outputs: outputs, squaredNorms: norms)
                hostNorms.withUnsafeMutableBufferPointer { device.download(norms, into: UnsafeMutableBufferPointer(rebasing: $0[0..<m])) }
            } else {
                model.evaluate(images: trainBatcher.images, labels: trainBatcher.labels, batch: m, errors: errors, outputs: outputs)
            }
            hostOutputs.withUnsafeMutableBufferPointer {
                device.download(outputs, into: UnsafeMutableBufferPointer(rebasing: $0[0..<(ExampleOutput.rows * m)]))
            }
            let inputNorms = trainBatcher.lastSquaredNorms()
            for j in 0..<m {
                let i = first + j
                scores.el2n[i] = Double(hostOutputs[ExampleOutput.el2n * m + j])
                scores.loss[i] = Double(hostOutputs[ExampleOutput.loss * m + j])
                scores.margin[i] = Double(hostOutputs[ExampleOutput.margin * m + j])
                scores.correct[i] = hostOutputs[ExampleOutput.correct * m + j] > 0.5
                scores.inputNorm[i] = inputNorms[j].squareRoot()
                if gradNorms { scores.gradNorm![i] = Double(hostNorms[j]).squareRoot() }
            }
        }
        return scores
    }
}

extension Batcher {
    /// Squared L2 norm of each normalised (and augmented) example of the last batch.
    public func lastSquaredNorms() -> [Double] {
        let n = lastIndices.count, plane = dataset.height * dataset.width, C = dataset.channels
        return (0..<n).map { b in
            var s = 0.0
            for c in 0..<C {
                let base = (c * n + b) * plane
                for j in 0..<plane { let v = Double(hostImages[base + j]); s += v * v }
            }
            return s
        }
    }
}

extension TrainingSession {
    /// For every training example, the gradient of its given-label logit w.r.t. the
    /// normalised input, averaged over colour channels: `[N * H * W]`, example-major
    /// (VoG's per-checkpoint input; no augmentation, evaluation mode).
    public func labelLogitInputGradients() -> [Float] {
        let n = data.train.count, b = configuration.batchSize, K = model.classes
        let C = data.train.channels, plane = data.train.height * data.train.width
        var result = [Float](repeating: 0, count: n * plane)
        let oneHot = device.makeTensor([K, b])
        var host = [Float](repeating: 0, count: K * b)
        var grads = [Float](repeating: 0, count: C * b * plane)
        let all = (0..<n).map { Int32($0) }
        for first in stride(from: 0, to: n, by: b) {
            let batch = all[first..<min(first + b, n)]
            let m = batch.count
            trainBatcher.load(batch, augmentation: .none, seed: 0, epoch: 0, labelOverride: trainLabels)
            for k in 0..<(K * m) { host[k] = 0 }
            for j in 0..<m { host[Int(trainLabels[first + j]) * m + j] = 1 }
            oneHot.resize(axis: 1, to: m)
            host.withUnsafeBufferPointer { device.upload(UnsafeBufferPointer(rebasing: $0[0..<(K * m)]), to: oneHot) }
            let dx = model.inputGradientsOfLabelLogit(images: trainBatcher.images, oneHot: oneHot, batch: m)
            grads.withUnsafeMutableBufferPointer { device.download(dx, into: UnsafeMutableBufferPointer(rebasing: $0[0..<(C * m * plane)])) }
            for j in 0..<m {
                let dst = (first + j) * plane
                for c in 0..<C {
                    let src = (c * m + j) * plane
                    for p in 0..<plane { result[dst + p] += grads[src + p] / Float(C) }
                }
            }
        }
        return result
    }
}
