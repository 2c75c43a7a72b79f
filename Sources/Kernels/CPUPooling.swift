// Pooling, flatten and global average pooling over channel-major planes:
// plane (c, n) of x[C, N, H, W] starts at (c*N + n) * H*W.

extension CPUDevice {
    public func maxPoolForward(input x: Tensor, output y: Tensor, geometry g: Pool2DGeometry) {
        Check.pool("maxPoolForward", input: x, output: y, g)
        let H = g.height, W = g.width, P = g.outHeight, Q = g.outWidth, k = g.window, s = g.stride, pad = g.padding
        let xs = x.hostFloats, ys = y.hostFloats
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
