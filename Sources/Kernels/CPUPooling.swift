// Pooling, flatten and global average pooling over channel-major planes:
// plane (c, n) of x[C, N, H, W] starts at (c*N + n) * H*W.

extension CPUDevice {
    public func maxPoolForward(input x: Tensor, output y: Tensor, geometry g: Pool2DGeometry) {
        Check.pool("maxPoolForward", input: x, output: y, g)
        let H = g.height, W = g.width, P = g.outHeight, Q = g.outWidth, k = g.window, s = g.stride, pad = g.padding
        let xs = x.hostFloats, ys = y.hostFloats
        if g.isHalving { return maxPoolHalvingForward(xs, ys, g) }
        split(g.channels * g.batch, grain: 8) { _, planes in
            for plane in planes {
                let src = xs + plane * H * W, dst = ys + plane * P * Q
                for p in 0..<P {
                    for q in 0..<Q {
                        var best = -Float.infinity
                        for i in 0..<k {
                            let r = p * s + i - pad
                            guard r >= 0 && r < H else { continue }
                            for j in 0..<k {
                                let c = q * s + j - pad
                                if c >= 0 && c < W { best = max(best, src[r * W + c]) }
                            }
                        }
                        dst[p * Q + q] = best
                    }
                }
            }
        }
    }

    public func maxPoolBackward(input x: Tensor, gradOutput dy: Tensor, gradInput dx: Tensor, geometry g: Pool2DGeometry) {
        Check.pool("maxPoolBackward", input: x, output: dy, g)
        Check.pool("maxPoolBackward", input: dx, output: dy, g)
        let H = g.height, W = g.width, P = g.outHeight, Q = g.outWidth, k = g.window, s = g.stride, pad = g.padding
        let xs = x.hostFloats, dys = dy.hostFloats, dxs = dx.hostFloats
        if g.isHalving { return maxPoolHalvingBackward(xs, dys, dxs, g) }
        split(g.channels * g.batch, grain: 8) { _, planes in
            for plane in planes {
                let src = xs + plane * H * W, grad = dys + plane * P * Q, out = dxs + plane * H * W
                out.update(repeating: 0, count: H * W)
                for p in 0..<P {
                    for q in 0..<Q {
                        var best = -Float.infinity, at = -1
                        for i in 0..<k {
                            let r = p * s + i - pad
                            guard r >= 0 && r < H else { continue }
                            for j in 0..<k {
                                let c = q * s + j - pad
                                guard c >= 0 && c < W else { continue }
                                let o = r * W + c
                                if src[o] > best || at < 0 { best = src[o]; at = o }
                            }
                        }
                        out[at] += grad[p * Q + q]
                    }
                }
            }
        }
    }

    /// y = max over each 2x2 window (stride 2, no border) of x: four outputs per two 8-float
    /// loads (the even and odd columns of two input rows). A last odd row or column is
    /// outside every window, as in the general loop.
    private func maxPoolHalvingForward(_ xs: UnsafePointer<Float>, _ ys: UnsafeMutablePointer<Float>, _ g: Pool2DGeometry) {
        let H = g.height, W = g.width, P = g.outHeight, Q = g.outWidth
        split(g.channels * g.batch, grain: 8) { _, planes in
            for plane in planes {
                let src = xs + plane * H * W, dst = ys + plane * P * Q
                for p in 0..<P {
                    let r0 = src + 2 * p * W, r1 = r0 + W, out = dst + p * Q
                    var q = 0
                    while q + 4 <= Q && 2 * q + 8 <= W {
                        let top = load8(r0 + 2 * q), low = load8(r1 + 2 * q)
                        store4(out + q, lanesMax(lanesMax(top.evenHalf, top.oddHalf), lanesMax(low.evenHalf, low.oddHalf)))
                        q += 4
                    }
                    while q < Q {
                        out[q] = max(max(r0[2 * q], r0[2 * q + 1]), max(r1[2 * q], r1[2 * q + 1]))
                        q += 1
                    }
                }
            }
        }
    }

    /// dx of ``maxPoolHalvingForward(_:_:_:)``: each window's gradient goes to its first
    /// largest input in row-major order (the general loop's choice, ties included), zero to
    /// the other three; the windows tile the plane, so no pass zeroes dx first (except a last
    /// odd row or column).
    private func maxPoolHalvingBackward(_ xs: UnsafePointer<Float>, _ dys: UnsafePointer<Float>,
                                        _ dxs: UnsafeMutablePointer<Float>, _ g: Pool2DGeometry) {
        let H = g.height, W = g.width, P = g.outHeight, Q = g.outWidth
        split(g.channels * g.batch, grain: 8) { _, planes in
            for plane in planes {
                let src = xs + plane * H * W, grad = dys + plane * P * Q, out = dxs + plane * H * W
                if H != 2 * P || W != 2 * Q { out.update(repeating: 0, count: H * W) }
                for p in 0..<P {
                    let r0 = src + 2 * p * W, r1 = r0 + W, o0 = out + 2 * p * W, o1 = o0 + W, gp = grad + p * Q
                    var q = 0
                    while q + 4 <= Q && 2 * q + 8 <= W {
                        let top = load8(r0 + 2 * q), low = load8(r1 + 2 * q), gq = load4(gp + q)
                        // a, b, c, d: the window's values in row-major order; later ones win only when larger
                        let a = top.evenHalf, b = top.oddHalf, c = low.evenHalf, d = low.oddHalf
                        let takeB = b .> a
                        let bestAB = a.replacing(with: b, where: takeB)
                        let takeC = c .> bestAB
                        let takeD = d .> bestAB.replacing(with: c, where: takeC)
                        let zero = SIMD4<Float>()
                        let gd = zero.replacing(with: gq, where: takeD)
                        let gc = zero.replacing(with: gq, where: takeC .& .!takeD)
                        let gb = zero.replacing(with: gq, where: takeB .& .!takeC .& .!takeD)
                        let ga = zero.replacing(with: gq, where: .!(takeB .| takeC .| takeD))
                        store8(o0 + 2 * q, interleave(ga, gb))
                        store8(o1 + 2 * q, interleave(gc, gd))
                        q += 4
                    }
                    while q < Q {
                        let v = (r0[2 * q], r0[2 * q + 1], r1[2 * q], r1[2 * q + 1])
                        var best = v.0, at = 0
                        if v.1 > best { best = v.1; at = 1 }
                        if v.2 > best { best = v.2; at = 2 }
                        if v.3 > best { at = 3 }
                        o0[2 * q] = at == 0 ? gp[q] : 0; o0[2 * q + 1] = at == 1 ? gp[q] : 0
                        o1[2 * q] = at == 2 ? gp[q] : 0; o1[2 * q + 1] = at == 3 ? gp[q] : 0
                        q += 1
                    }
                }
            }
        }
    }

    public func avgPoolForward(input x: Tensor, output y: Tensor, geometry g: Pool2DGeometry) {
        Check.pool("avgPoolForward", input: x, output: y, g)
        precondition(g.padding == 0, "avgPoolForward: average pooling has no padding")
        let H = g.height, W = g.width, P = g.outHeight, Q = g.outWidth, k = g.window, s = g.stride
        let xs = x.hostFloats, ys = y.hostFloats, scale = 1 / Float(k * k)
        split(g.channels * g.batch, grain: 8) { _, planes in
            for plane in planes {
                let src = xs + plane * H * W, dst = ys + plane * P * Q
                for p in 0..<P {
                    for q in 0..<Q {
                        var sum: Float = 0
                        for i in 0..<k { for j in 0..<k { sum += src[(p * s + i) * W + q * s + j] } }
                        dst[p * Q + q] = sum * scale
                    }
                }
            }
        }
    }

    public func avgPoolBackward(gradOutput dy: Tensor, gradInput dx: Tensor, geometry g: Pool2DGeometry) {
        Check.pool("avgPoolBackward", input: dx, output: dy, g)
        precondition(g.padding == 0, "avgPoolBackward: average pooling has no padding")
        let H = g.height, W = g.width, P = g.outHeight, Q = g.outWidth, k = g.window, s = g.stride
        let dys = dy.hostFloats, dxs = dx.hostFloats, scale = 1 / Float(k * k)
        split(g.channels * g.batch, grain: 8) { _, planes in
            for plane in planes {
                let grad = dys + plane * P * Q, out = dxs + plane * H * W
                out.update(repeating: 0, count: H * W)
                for p in 0..<P {
                    for q in 0..<Q {
                        let v = grad[p * Q + q] * scale
                        for i in 0..<k { for j in 0..<k { out[(p * s + i) * W + q * s + j] += v } }
                    }
                }
            }
        }
    }

    public func globalAvgPoolForward(input x: Tensor, output y: Tensor, channels: Int, batch: Int, plane: Int) {
        Check.planes("globalAvgPoolForward", x, y, channels: channels, batch: batch, plane: plane)
        let xs = x.hostFloats, ys = y.hostFloats, scale = 1 / Float(plane)
        split(channels * batch, grain: 64) { _, planes in
            for i in planes {
                let src = xs + i * plane
                var sum: Float = 0
                for j in 0..<plane { sum += src[j] }
                ys[i] = sum * scale
            }
        }
    }

    public func globalAvgPoolBackward(gradOutput dy: Tensor, gradInput dx: Tensor, channels: Int, batch: Int, plane: Int) {
        Check.planes("globalAvgPoolBackward", dx, dy, channels: channels, batch: batch, plane: plane)
        let dys = dy.hostFloats, dxs = dx.hostFloats, scale = 1 / Float(plane)
        split(channels * batch, grain: 64) { _, planes in
            for i in planes { (dxs + i * plane).update(repeating: dys[i] * scale, count: plane) }
        }
    }

    public func flattenForward(input x: Tensor, output y: Tensor, channels: Int, batch: Int, plane: Int) {
        Check.planes("flattenForward", x, y, channels: channels, batch: batch, plane: plane)
        Check.elements("flattenForward", channels * batch * plane, x, y)
        let xs = x.hostFloats, ys = y.hostFloats
        split(channels) { _, cs in
            for c in cs {
                for n in 0..<batch {
                    let src = xs + (c * batch + n) * plane
                    for s in 0..<plane { ys[(c * plane + s) * batch + n] = src[s] }
                }
            }
        }
    }

    public func flattenBackward(gradOutput dy: Tensor, gradInput dx: Tensor, channels: Int, batch: Int, plane: Int) {
        Check.planes("flattenBackward", dx, dy, channels: channels, batch: batch, plane: plane)
        Check.elements("flattenBackward", channels * batch * plane, dx, dy)
        let dys = dy.hostFloats, dxs = dx.hostFloats
        split(channels) { _, cs in
            for c in cs {
                for n in 0..<batch {
                    let dst = dxs + (c * batch + n) * plane
                    for s in 0..<plane { dst[s] = dys[(c * plane + s) * batch + n] }
                }
            }
        }
    }
}
