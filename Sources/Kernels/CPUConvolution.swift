// Convolution on the CPU as im2col + one sgemm per chunk of images.
//
// With channel-major activations x[C, N, H, W] the column matrix of a chunk of `nb`
// images is cols[C*R*S, nb*P*Q] (row r = (c, kh, kw), column j = (n, p, q)), and
//   forward:         y[K, n0.., P*Q]  = w[K, CRS] * cols            (ldc = N*P*Q)
//   backward data:   dcols[CRS, nb*PQ] = w^T * dy[K, n0..]; dx = col2im(dcols)
//   backward weight: dw[K, CRS]      += dy[K, n0..] * cols^T
// A 1x1 stride-1 unpadded convolution uses x itself as the column matrix.

extension CPUDevice {
    /// Images per im2col chunk so that a chunk stays within `columnBudget` floats.
    func imagesPerChunk(_ g: Conv2DGeometry) -> Int {
        max(1, min(g.batch, columnBudget / max(1, g.patchSize * g.outPlane)))
    }

    public func conv2dForward(input x: Tensor, weight w: Tensor, output y: Tensor, geometry g: Conv2DGeometry) {
        precondition(x.count == g.inputShape.reduce(1, *) && y.count == g.outputShape.reduce(1, *),
                     "conv2dForward shapes do not match \(g)")
        let K = g.outChannels, CRS = g.patchSize, PQ = g.outPlane, N = g.batch
        if g.isPointwise {
            sgemm(false, false, K, N * PQ, CRS, 1, w.floats, CRS, x.floats, N * PQ, 0, y.floats, N * PQ)
            return
        }
        let chunk = imagesPerChunk(g)
        let cols = scratchBuffer(CRS * chunk * PQ)
        for n0 in stride(from: 0, to: N, by: chunk) {
            let nb = min(chunk, N - n0)
            im2col(x.floats, cols, g, n0: n0, count: nb)
            sgemm(false, false, K, nb * PQ, CRS, 1, w.floats, CRS, cols, nb * PQ,
                  0, y.floats + n0 * PQ, N * PQ)
        }
    }

    public func conv2dBackwardData(gradOutput dy: Tensor, weight w: Tensor, gradInput dx: Tensor, geometry g: Conv2DGeometry) {
        let K = g.outChannels, CRS = g.patchSize, PQ = g.outPlane, N = g.batch
        if g.isPointwise {
            sgemm(true, false, CRS, N * PQ, K, 1, w.floats, CRS, dy.floats, N * PQ, 0, dx.floats, N * PQ)
            return
        }
        let chunk = imagesPerChunk(g)
        let cols = scratchBuffer(CRS * chunk * PQ)
        for n0 in stride(from: 0, to: N, by: chunk) {
            let nb = min(chunk, N - n0)
            sgemm(true, false, CRS, nb * PQ, K, 1, w.floats, CRS, dy.floats + n0 * PQ, N * PQ, 0, cols, nb * PQ)
            col2im(cols, dx.floats, g, n0: n0, count: nb)
        }
    }

    public func conv2dBackwardWeight(input x: Tensor, gradOutput dy: Tensor, gradWeight dw: Tensor, geometry g: Conv2DGeometry) {
        let K = g.outChannels, CRS = g.patchSize, PQ = g.outPlane, N = g.batch
        if g.isPointwise {
            sgemm(false, true, K, CRS, N * PQ, 1, dy.floats, N * PQ, x.floats, N * PQ, 0, dw.floats, CRS)
            return
        }
        let chunk = imagesPerChunk(g)
        let cols = scratchBuffer(CRS * chunk * PQ)
        for n0 in stride(from: 0, to: N, by: chunk) {
            let nb = min(chunk, N - n0)
            im2col(x.floats, cols, g, n0: n0, count: nb)
            sgemm(false, true, K, CRS, nb * PQ, 1, dy.floats + n0 * PQ, N * PQ, cols, nb * PQ,
                  n0 == 0 ? 0 : 1, dw.floats, CRS)
        }
    }

    /// Valid output columns `q` of a kernel column `kw`: those whose input column
    /// `q*stride - padding + kw` lies in `0..<width`.
    @inline(__always)
    static func validRange(_ k: Int, stride s: Int, padding: Int, input: Int, output: Int) -> Range<Int> {
        // q*s >= padding - k  and  q*s < input + padding - k
        let lo = max(0, (padding - k + s - 1) / s)
        let hi = min(output, max(0, (input + padding - k + s - 1) / s))
        return lo..<max(lo, hi)
    }

    /// cols[r, b*PQ + p*Q + q] = x[c, n0+b, p*s-pad+kh, q*s-pad+kw] (0 outside), r = (c*R+kh)*S+kw.
    func im2col(_ x: UnsafePointer<Float>, _ cols: UnsafeMutablePointer<Float>, _ g: Conv2DGeometry,
                n0: Int, count nb: Int) {
        let R = g.kernel, H = g.height, W = g.width, P = g.outHeight, Q = g.outWidth
        let s = g.stride, pad = g.padding, N = g.batch
        let width = nb * P * Q
        parallelRanges(g.patchSize) { rows in
            for r in rows {
                let c = r / (R * R), kh = (r / R) % R, kw = r % R
                let qs = CPUDevice.validRange(kw, stride: s, padding: pad, input: W, output: Q)
                let dstRow = cols + r * width
                for b in 0..<nb {
                    let plane = x + ((c * N) + n0 + b) * H * W
                    for p in 0..<P {
                        let d = dstRow + (b * P + p) * Q
                        let ih = p * s - pad + kh
                        if ih < 0 || ih >= H {
                            d.update(repeating: 0, count: Q)
                            continue
                        }
                        let src = plane + ih * W - pad + kw
                        for q in 0..<qs.lowerBound { d[q] = 0 }
                        if s == 1 {
                            (d + qs.lowerBound).update(from: src + qs.lowerBound, count: qs.count)
                        } else {
                            for q in qs { d[q] = src[q * s] }
                        }
                        for q in qs.upperBound..<Q { d[q] = 0 }
                    }
                }
            }
        }
    }

    /// dx[c, n0+b, ...] = sum over patches of cols (the adjoint of ``im2col``); the
    /// chunk's images of `dx` are overwritten.
    func col2im(_ cols: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ g: Conv2DGeometry,
                n0: Int, count nb: Int) {
        let R = g.kernel, H = g.height, W = g.width, P = g.outHeight, Q = g.outWidth
        let s = g.stride, pad = g.padding, N = g.batch
        let width = nb * P * Q
        parallelRanges(g.inChannels) { channels in
            for c in channels {
                let base = dx + (c * N + n0) * H * W
                base.update(repeating: 0, count: nb * H * W)
                for kh in 0..<R {
                    for kw in 0..<R {
                        let r = (c * R + kh) * R + kw
                        let qs = CPUDevice.validRange(kw, stride: s, padding: pad, input: W, output: Q)
                        let srcRow = cols + r * width
                        for b in 0..<nb {
                            let plane = base + b * H * W
                            for p in 0..<P {
                                let ih = p * s - pad + kh
                                if ih < 0 || ih >= H { continue }
                                let d = plane + ih * W - pad + kw
                                let src = srcRow + (b * P + p) * Q
                                if s == 1 {
                                    for q in qs { d[q] += src[q] }
                                } else {
                                    for q in qs { d[q * s] += src[q] }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
