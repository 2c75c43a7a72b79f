// Batch norm over channel-major activations: channel c is the contiguous row
// x[c, 0..<M] with M = N*H*W. Training-mode sums run in SIMD lanes and accumulate across
// blocks in Double (``blockedSums(_:vector:scalar:)``), so that the statistics of a
// 131k-element row keep Float32's precision. With the fused ReLU
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
                let sum = blockedSums(M, vector: { i in (load8(row + i), SIMD8()) }, scalar: { i in (row[i], 0) }).0
                let mean = sum / Double(M)
                let m32 = Float(mean), m8 = SIMD8(repeating: m32)
                let sq = blockedSums(M, vector: { i in let d = load8(row + i) - m8; return (d * d, SIMD8()) },
                                     scalar: { i in let d = row[i] - m32; return (d * d, 0) }).0
                let variance = sq / Double(M)
                let invStd = Float(1 / (variance + Double(epsilon)).squareRoot())
                sm[c] = m32
                si[c] = invStd
                rm[c] = (1 - momentum) * rm[c] + momentum * m32
                rv[c] = (1 - momentum) * rv[c] + momentum * Float(variance * Double(M) / Double(M - 1))
                let scale = gs[c] * invStd, shift = bs[c] - m32 * scale
                affine(row, scale: scale, shift: shift, relu: relu, into: ys + c * M, M)
            }
        }
    }

    public func batchNormInferenceForward(input x: Tensor, output y: Tensor, parameters p: BatchNormParameters) {
        let M = Check.batchNorm("batchNormInferenceForward", x, p, y)
        let xs = x.hostFloats, ys = y.hostFloats, norm = ChannelAffine(inference: p)
        split(p.channels) { _, range in
            for c in range { norm.apply(c, xs + c * M, into: ys + c * M, M) }
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
                // dbeta = sum dy, dgamma = sum dy * xhat (dy gated by y > 0 with the fused ReLU)
                let (sumDy, sumDyXhat) = Self.gatedSums(grad, gate: relu ? mask : nil, row, mean: mean, invStd: invStd, M)
                db[c] = Float(sumDy)
                dg[c] = Float(sumDyXhat)
                // dx = gamma*invStd/M * (M*dy - sum(dy) - xhat*sum(dy*xhat))
                let k = gs[c] * invStd
                let meanDy = Float(sumDy / Double(M)), meanDyXhat = Float(sumDyXhat / Double(M))
                let out = dxs + c * M
                let k8 = SIMD8(repeating: k), meanDy8 = SIMD8(repeating: meanDy), meanDyXhat8 = SIMD8(repeating: meanDyXhat)
                let mean8 = SIMD8(repeating: mean), invStd8 = SIMD8(repeating: invStd)
                var i = 0
                while i + 8 <= M {
                    let xhat = (load8(row + i) - mean8) * invStd8
                    let g = relu ? load8(grad + i).gated(by: load8(mask + i)) : load8(grad + i)
                    store8(out + i, k8 * (g - meanDy8 - xhat * meanDyXhat8))
                    i += 8
                }
                while i < M {
                    let xhat = (row[i] - mean) * invStd
                    let g = relu && mask[i] <= 0 ? 0 : grad[i]
                    out[i] = k * (g - meanDy - xhat * meanDyXhat)
                    i += 1
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
                let (sumDy, sumDyXhat) = Self.gatedSums(grad, gate: relu ? mask : nil, row, mean: mean, invStd: invStd, M)
                scaleGated(grad, gate: relu ? mask : nil, by: k, into: out, M)
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
                scaleGated(dys + c * M, gate: relu ? ys + c * M : nil, by: k, into: dxs + c * M, M)
            }
        }
    }

    /// `(sum g, sum g * (x - mean) * invStd)` over `count` values, `g = dy` gated by `gate > 0`
    /// when a gate (the fused ReLU's output) is given; SIMD lanes, Double across blocks.
    @inline(__always)
    static func gatedSums(_ dy: UnsafePointer<Float>, gate: UnsafePointer<Float>?, _ x: UnsafePointer<Float>,
                          mean: Float, invStd: Float, _ count: Int) -> (Double, Double) {
        let mean8 = SIMD8(repeating: mean), invStd8 = SIMD8(repeating: invStd)
        if let gate {
            return blockedSums(count, vector: { i in
                let g = load8(dy + i).gated(by: load8(gate + i))
                return (g, g * ((load8(x + i) - mean8) * invStd8))
            }, scalar: { i in
                let g = gate[i] <= 0 ? 0 : dy[i]
                return (g, g * ((x[i] - mean) * invStd))
            })
        }
        return blockedSums(count, vector: { i in
            let g = load8(dy + i)
            return (g, g * ((load8(x + i) - mean8) * invStd8))
        }, scalar: { i in (dy[i], dy[i] * ((x[i] - mean) * invStd)) })
    }
}
