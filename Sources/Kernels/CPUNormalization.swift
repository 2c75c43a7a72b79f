

// Batch norm over channel-major activations: channel c is the contiguous row
// x[c, 0..<M] with M = N*H*W. Sums accumulate per row in Double so that the
// statistics of a 131k-element row keep Float32's precision.

extension CPUDevice {
    public func batchNormTrainingForward(input x: Tensor, gamma: Tensor, beta: Tensor, output y: Tensor,
                                         savedMean: Tensor, savedInvStd: Tensor,
                                         runningMean: Tensor, runningVar: Tensor,
                                         channels C: Int, momentum: Float, epsilon: Float, relu: Bool) {
        let M = x.count / C
        precondition(M * C == x.count && M > 1, "batch norm needs more than one value per channel")
        let xs = x.floats, ys = y.floats, gs = gamma.floats, bs = beta.floats
        let sm = savedMean.floats, si = savedInvStd.floats, rm = runningMean.floats, rv = runningVar.floats
        split(C) { _, range in
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

    public func batchNormInferenceForward(input x: Tensor, gamma: Tensor, beta: Tensor, output y: Tensor,
                                          runningMean: Tensor, runningVar: Tensor, channels C: Int, epsilon: Float,
                                          relu: Bool) {
        let M = x.count / C
        let xs = x.floats, ys = y.floats, gs = gamma.floats, bs = beta.floats
        let rm = runningMean.floats, rv = runningVar.floats
        split(C) { _, range in
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

    public func batchNormBackward(gradOutput dy: Tensor, input x: Tensor, gamma: Tensor,
                                  savedMean: Tensor, savedInvStd: Tensor,
                                  gradInput dx: Tensor, gradGamma: Tensor, gradBeta: Tensor, channels C: Int,
                                  reluOutput: Tensor?) {
        let M = x.count / C
        let xs = x.floats, dys = dy.floats, dxs = dx.floats, gs = gamma.floats
        let mask = reluOutput?.floats
        let sm = savedMean.floats, si = savedInvStd.floats, dg = gradGamma.floats, db = gradBeta.floats
        split(C) { _, range in
            for c in range {
                let row = xs + c * M, grad = dys + c * M
                let mean = sm[c], invStd = si[c]
                // dbeta = sum dy, dgamma = sum dy * xhat
                var sumDy = 0.0, sumDyXhat = 0.0
                let maskRow = mask.map { $0 + c * M }
                for i in 0..<M {
                    let g = maskRow.map { $0[i] > 0 ? grad[i] : 0 } ?? grad[i]
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
                    let g = maskRow.map { $0[i] > 0 ? grad[i] : 0 } ?? grad[i]
                    out[i] = k * (g - meanDy - xhat * meanDyXhat)
                }
            }
        }
    }
}
