// Batch norm over channel-major activations: channel c is the contiguous row
// x[c, 0..<M] with M = N*H*W. Training-mode sums accumulate per row in Double so that
// the statistics of a 131k-element row keep Float32's precision. With the fused ReLU
// the backward ops read dy as dy * [y > 0] (y = the forward's output); the flag is
// loop-invariant, so the compiler unswitches the loops.

extension CPUDevice {
    public func batchNormTrainingForward(input x: Tensor, output y: Tensor, parameters p: BatchNormParameters,
                                         saved: BatchNormSavedStatistics) {
        let M = Check.batchNorm("batchNormTrainingForward", x, p, y, saved: saved)
        guard M > 1 else { Check.fail("batchNormTrainingForward", "needs more than one value per channel, got \(x.shape)") }
        let xs = x.hostFloats, ys = y.hostFloats, gs = p.gamma.hostFloats, bs = p.beta.hostFloats
        let sm = saved.mean.hostFloats, si = saved.invStd.hostFloats
        let rm = p.runningMean.hostFloats, rv = p.runningVar.hostFloats
        let momentum = p.momentum, epsilon = p.epsilon, relu = p.fusedReLU
        split(p.channels) { _, range in
            for c in range {
                let row = xs + c * M
                var sum = 0.0
                for i in 0..<M { sum += Double(row[i]) }
                let mean = sum / Double(M)
                let m32 = Float(mean)
                var sq = 0.0
                for i in 0..<M { let d = row[i] - m32; sq += Double(d * d) }
                let variance = sq / Double(M)
                let invStd = Float(1 / (variance + Double(epsilon)).squareRoot())
                sm[c] = m32
                si[c] = invStd
                rm[c] = (1 - momentum) * rm[c] + momentum * m32
                rv[c] = (1 - momentum) * rv[c] + momentum * Float(variance * Double(M) / Double(M - 1))
                let scale = gs[c] * invStd, shift = bs[c] - m32 * scale
                let out = ys + c * M
                if relu {
                    for i in 0..<M { out[i] = max(row[i] * scale + shift, 0) }
                } else {
                    for i in 0..<M { out[i] = row[i] * scale + shift }
                }
            }
        }
    }

    public func batchNormInferenceForward(input x: Tensor, output y: Tensor, parameters p: BatchNormParameters) {
        let M = Check.batchNorm("batchNormInferenceForward", x, p, y)
        let xs = x.hostFloats, ys = y.hostFloats, gs = p.gamma.hostFloats, bs = p.beta.hostFloats
        let rm = p.runningMean.hostFloats, rv = p.runningVar.hostFloats
        let epsilon = p.epsilon, relu = p.fusedReLU
        split(p.channels) { _, range in
            for c in range {
                let scale = gs[c] / (rv[c] + epsilon).squareRoot()
                let shift = bs[c] - rm[c] * scale
                let row = xs + c * M, out = ys + c * M
                if relu {
                    for i in 0..<M { out[i] = max(row[i] * scale + shift, 0) }
                } else {
                    for i in 0..<M { out[i] = row[i] * scale + shift }
                }
            }
        }
    }

    public func batchNormTrainingBackward(gradOutput dy: Tensor, input x: Tensor, output y: Tensor,
                                          parameters p: BatchNormParameters, saved: BatchNormSavedStatistics,
                                          gradInput dx: Tensor, gradGamma: Tensor, gradBeta: Tensor) {
        let M = Check.batchNorm("batchNormTrainingBackward", x, p, dy, y, dx, saved: saved)
        gradGamma.require(p.channels, .float32, "batchNormTrainingBackward", "gradGamma [C]")
        gradBeta.require(p.channels, .float32, "batchNormTrainingBackward", "gradBeta [C]")
        let xs = x.hostFloats, dys = dy.hostFloats, ys = y.hostFloats, dxs = dx.hostFloats, gs = p.gamma.hostFloats
        let sm = saved.mean.hostFloats, si = saved.invStd.hostFloats, dg = gradGamma.hostFloats, db = gradBeta.hostFloats
        let relu = p.fusedReLU
        split(p.channels) { _, range in
            for c in range {
                let row = xs + c * M, grad = dys + c * M, mask = ys + c * M
                let mean = sm[c], invStd = si[c]
                // dbeta = sum dy, dgamma = sum dy * xhat
                var sumDy = 0.0, sumDyXhat = 0.0
                for i in 0..<M {
                    let g = relu && mask[i] <= 0 ? 0 : grad[i]
                    sumDy += Double(g)
                    sumDyXhat += Double(g * ((row[i] - mean) * invStd))
                }
                db[c] = Float(sumDy)
                dg[c] = Float(sumDyXhat)
                // dx = gamma*invStd/M * (M*dy - sum(dy) - xhat*sum(dy*xhat))
                let k = gs[c] * invStd
                let meanDy = Float(sumDy / Double(M)), meanDyXhat = Float(sumDyXhat / Double(M))
                let out = dxs + c * M
                for i in 0..<M {
                    let xhat = (row[i] - mean) * invStd
                    let g = relu && mask[i] <= 0 ? 0 : grad[i]
                    out[i] = k * (g - meanDy - xhat * meanDyXhat)
                }
            }
        }
    }

    public func batchNormInferenceBackward(gradOutput dy: Tensor, input x: Tensor, output y: Tensor,
                                           parameters p: BatchNormParameters,
                                           gradInput dx: Tensor, gradGamma: Tensor, gradBeta: Tensor) {
        let M = Check.batchNorm("batchNormInferenceBackward", x, p, dy, y, dx)
        gradGamma.require(p.channels, .float32, "batchNormInferenceBackward", "gradGamma [C]")
        gradBeta.require(p.channels, .float32, "batchNormInferenceBackward", "gradBeta [C]")
        let xs = x.hostFloats, dys = dy.hostFloats, ys = y.hostFloats, dxs = dx.hostFloats, gs = p.gamma.hostFloats
        let rm = p.runningMean.hostFloats, rv = p.runningVar.hostFloats
        let dg = gradGamma.hostFloats, db = gradBeta.hostFloats
        let epsilon = p.epsilon, relu = p.fusedReLU
        split(p.channels) { _, range in
            for c in range {
                let invStd = 1 / (rv[c] + epsilon).squareRoot(), mean = rm[c], k = gs[c] * invStd
                let row = xs + c * M, grad = dys + c * M, mask = ys + c * M, out = dxs + c * M
                var sumDy = 0.0, sumDyXhat = 0.0
                for i in 0..<M {
                    let g = relu && mask[i] <= 0 ? 0 : grad[i]
                    sumDy += Double(g)
                    sumDyXhat += Double(g * ((row[i] - mean) * invStd))
                    out[i] = g * k
                }
                db[c] = Float(sumDy)
                dg[c] = Float(sumDyXhat)
            }
        }
    }

    public func batchNormInferenceBackwardData(gradOutput dy: Tensor, output y: Tensor, parameters p: BatchNormParameters,
                                               gradInput dx: Tensor) {
        let M = Check.batchNorm("batchNormInferenceBackwardData", dy, p, y, dx)
        let dys = dy.hostFloats, ys = y.hostFloats, dxs = dx.hostFloats, gs = p.gamma.hostFloats, rv = p.runningVar.hostFloats
        let epsilon = p.epsilon, relu = p.fusedReLU
        split(p.channels) { _, range in
            for c in range {
                let k = gs[c] * (1 / (rv[c] + epsilon).squareRoot())   // as in batchNormInferenceBackward
                let grad = dys + c * M, mask = ys + c * M, out = dxs + c * M
                if relu {
                    for i in 0..<M { out[i] = mask[i] > 0 ? grad[i] * k : 0 }
                } else {
                    for i in 0..<M { out[i] = grad[i] * k }
                }
            }
        }
    }
}
