import Kernels
#if canImport(Glibc)
import Glibc
#endif

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
    /// The scored model's ``TrainingSession/modelFingerprint``, kept for a shard's range of
    /// examples: a merge checks that the pieces of one seed came from one model.
    public var modelFingerprint: String? = nil
}

extension TrainingSession {
    /// A scoring pass over the whole training set as the reference code takes it: raw
    /// normalised images (no augmentation), batch norm in evaluation mode, the
    /// training labels (noisy ones included), loss per example. With `gradNorms`, also
    /// each example's gradient norm over every trainable parameter (batched; no
    /// weight-gradient GEMM). Does not change the model.
    ///
    /// `examples`: score only this range of the training set (a shard's piece), in batches
    /// starting at its lower bound; the arrays hold `examples.count` values. A range whose
    /// bounds are multiples of the batch size (or the set's end) is scored in the very
    /// batches of the whole pass, so its values equal theirs bit for bit.
    public func scoreTrainingSet(gradNorms: Bool, examples: Range<Int>? = nil) throws -> CheckpointScores {
        let range = examples ?? 0..<data.train.count
        precondition(range.lowerBound >= 0 && range.upperBound <= data.train.count, "scoring range \(range) outside the training set")
        let n = range.count
        var scores = CheckpointScores(el2n: .init(repeating: 0, count: n), gradNorm: gradNorms ? .init(repeating: 0, count: n) : nil,
                                      loss: .init(repeating: 0, count: n), margin: .init(repeating: 0, count: n),
                                      correct: .init(repeating: false, count: n), inputNorm: .init(repeating: 0, count: n))
        var hostNorms = [Float](repeating: 0, count: batchSize)
        try forEachBatch(of: range.map { Int32($0) }, pass: .scoring(gradNorms: gradNorms)) { first, batch in
            let m = batch.count
            if gradNorms {
                let norms = model.perExampleGradNormsSquared(batch)
                hostNorms.withUnsafeMutableBufferPointer { device.download(norms, into: UnsafeMutableBufferPointer(rebasing: $0[0..<m])) }
            } else {
                model.evaluate(batch)
            }
            decoded.download(model.outputs, count: m, from: device)
            let inputNorms = trainBatcher.squaredNorms(ofLast: m)
            for j in 0..<m {
                let i = first + j
                scores.el2n[i] = Double(decoded.el2n(j))
                scores.loss[i] = Double(decoded.loss(j))
                scores.margin[i] = Double(decoded.margin(j))
                scores.correct[i] = decoded.correct(j)
                scores.inputNorm[i] = inputNorms[j].squareRoot()
                if gradNorms { scores.gradNorm![i] = Double(hostNorms[j]).squareRoot() }
            }
        }
        return scores
    }

    /// For every training example, the gradient of its given-label logit w.r.t. the
    /// normalised input, averaged over colour channels: `[N * H * W]`, example-major
    /// (VoG's per-checkpoint input; no augmentation, evaluation mode).
    public func labelLogitInputGradients() throws -> [Float] {
        let n = data.train.count, K = model.classes
        let C = data.train.channels, plane = data.train.height * data.train.width
        var result = [Float](repeating: 0, count: n * plane)
        let oneHot = device.makeTensor([K, batchSize])
        var host = [Float](repeating: 0, count: K * batchSize)
        var grads = [Float](repeating: 0, count: C * batchSize * plane)
        try forEachBatch(of: (0..<n).map { Int32($0) }, pass: .inputGradients) { first, batch in
            let m = batch.count
            for k in 0..<(K * m) { host[k] = 0 }
            for j in 0..<m { host[Int(trainLabels[first + j]) * m + j] = 1 }
            oneHot.resize(axis: 1, to: m)
            host.withUnsafeBufferPointer { device.upload(UnsafeBufferPointer(rebasing: $0[0..<(K * m)]), to: oneHot) }
            let dx = model.inputGradientsOfLabelLogit(batch, oneHot: oneHot)
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

extension TrainingSession {
    /// Softmax class probabilities of the training examples `indices` under the current
    /// model: `[indices.count, classes]` row-major, evaluation mode, no augmentation
    /// (cross-validation's out-of-sample predictions).
    public func probabilities(of indices: [Int32]) throws -> [Double] {
        let K = model.classes
        let logits = try rows(of: indices, width: K) { batch in model.forward(batch.images, batch: batch.count, mode: .inference) }
        var result = [Double](repeating: 0, count: indices.count * K)
        for row in stride(from: 0, to: result.count, by: K) {
            var top = -Double.infinity
            for k in 0..<K { top = max(top, Double(logits[row + k])) }
            var sum = 0.0
            for k in 0..<K {
                result[row + k] = Glibc.exp(Double(logits[row + k]) - top)
                sum += result[row + k]
            }
            for k in 0..<K { result[row + k] /= sum }
        }
        return result
    }

    /// `[indices.count, width]` row-major: for each batch of the training examples
    /// `indices`, the `[width, m]` tensor `pass` returns, transposed (a prediction pass).
    func rows(of indices: [Int32], width: Int, _ pass: (Batch) -> Tensor) throws -> [Float] {
        var result = [Float](repeating: 0, count: indices.count * width)
        var block = [Float](repeating: 0, count: width * batchSize)
        try forEachBatch(of: indices, pass: .prediction) { first, batch in
            let m = batch.count
            let t = pass(batch)
            block.withUnsafeMutableBufferPointer { device.download(t, into: UnsafeMutableBufferPointer(rebasing: $0[0..<(width * m)])) }
            for j in 0..<m {
                let row = (first + j) * width
                for f in 0..<width { result[row + f] = block[f * m + j] }
            }
        }
        return result
    }
}

extension TrainingSession {
    /// Penultimate features of the training examples `indices` under the current model:
    /// `[indices.count, d]` row-major float32 (``Model/featureCount``), evaluation mode, no
    /// augmentation (the audit's `embeddings.npy`).
    public func embeddings(of indices: [Int32]) throws -> [Float] {
        try rows(of: indices, width: model.featureCount) { batch in model.features(batch.images, batch: batch.count) }
    }
}
