// Convolution on the CPU as im2col + sgemm, each worker owning a share of the images.
//
// With channel-major activations x[C, N, H, W] the column matrix of a chunk of `nb`
// images is cols[C*R*S, nb*P*Q] (row r = (c, kh, kw), column j = (n, p, q)), and
//   forward:         y[K, n0.., P*Q]   = w[K, CRS] * cols             (ldc = N*P*Q)
//   backward data:   dcols[CRS, nb*PQ] = w^T * dy[K, n0..];  dx = col2im(dcols)
//   backward weight: dw[K, CRS]       += dy[K, n0..] * cols^T   (per-worker partials, summed)
// A 1x1 stride-1 unpadded convolution uses x itself as the column matrix; 3x3 stride-1
// layers run as Winograd where it pays (F(2x2, 3x3) in CPUWinograd.swift, F(4x4, 3x3) for
// forward and backward data in CPUWinograd4.swift). Each worker
// runs im2col and a single-threaded sgemm on chunks of its own images, so a chunk's
// columns stay in that core's cache between the two and no worker waits on another.

extension CPUDevice {
    /// Images per im2col chunk so that a chunk stays within `columnBudget` floats.
    func imagesPerChunk(_ g: Conv2DGeometry) -> Int {
        max(1, min(g.batch, columnBudget / max(1, g.patchSize * g.outPlane)))
    }

    /// Calls `body(worker, n0, nb)` for consecutive chunks of at most `chunk` images,
    /// each worker taking an equal share of the batch.
    @inline(__always)
    func forEachChunk(_ g: Conv2DGeometry, chunk: Int, _ body: (Int, Int, Int) -> Void) {
        forEachChunk(g.batch, chunk: chunk, body)
    }

    /// ``forEachChunk(_:chunk:_:)`` over `batch` images.
    @inline(__always)
    func forEachChunk(_ batch: Int, chunk: Int, _ body: (Int, Int, Int) -> Void) {
        split(batch) { w, images in
            for n0 in stride(from: images.lowerBound, to: images.upperBound, by: chunk) {
                body(w, n0, min(chunk, images.upperBound - n0))
            }
        }
    }

    public func conv2dForward(input x: Tensor, weight w: Tensor, output y: Tensor, geometry g: Conv2DGeometry) {
        Check.conv("conv2dForward", input: x, weight: w, output: y, g)
        convolve(x.hostFloats, w.hostFloats, y.hostFloats, g, epilogue: nil)
    }

    /// The convolution with the batch norm applied as each chunk's output is written (in
    /// the Winograd output transform, or on the chunk's rows right after its GEMM, while
    /// they are in cache): one pass over `y` fewer than the two ops; `convOutput` is unused.
    public func conv2dBatchNormInference(input x: Tensor, weight w: Tensor, parameters p: BatchNormParameters,
                                         convOutput: Tensor, output y: Tensor, geometry g: Conv2DGeometry) {
        Check.conv("conv2dBatchNormInference", input: x, weight: w, output: y, g)
        _ = Check.batchNorm("conv2dBatchNormInference", y, p, y)
        guard p.channels == g.outChannels else {
            Check.fail("conv2dBatchNormInference", "batch norm of \(p.channels) channels after a convolution of \(g.outChannels)")
        }
        convolve(x.hostFloats, w.hostFloats, y.hostFloats, g, epilogue: ChannelAffine(inference: p))
    }

    /// y[K, N, P, Q] = conv(x, w), then `epilogue` on each output channel's values.
    private func convolve(_ xs: UnsafePointer<Float>, _ ws: UnsafePointer<Float>, _ ys: UnsafeMutablePointer<Float>,
                          _ g: Conv2DGeometry, epilogue: ChannelAffine?) {
        let K = g.outChannels, CRS = g.patchSize, PQ = g.outPlane, N = g.batch
        if usesWinograd(g) { return winogradForward(xs, ws, ys, g, epilogue: epilogue) }
        // rows k of images n0 ..< n0+nb, just written by the chunk's GEMM
        func finish(_ n0: Int, _ nb: Int) {
            guard let e = epilogue else { return }
            for k in 0..<K { let rows = ys + k * N * PQ + n0 * PQ; e.apply(k, rows, into: rows, nb * PQ) }
        }
        if g.isPointwise {
            forEachChunk(g, chunk: N) { _, n0, nb in
                sgemm(false, false, K, nb * PQ, CRS, 1, ws, CRS, xs + n0 * PQ, N * PQ, 0, ys + n0 * PQ, N * PQ)
                finish(n0, nb)
            }
            return
        }
        let chunk = imagesPerChunk(g)
        for s in scratch { _ = s.reserve(CRS * chunk * PQ) }
        forEachChunk(g, chunk: chunk) { worker, n0, nb in
            let cols = scratch[worker].pointer
            im2col(xs, cols, g, n0: n0, count: nb)
            sgemm(false, false, K, nb * PQ, CRS, 1, ws, CRS, cols, nb * PQ, 0, ys + n0 * PQ, N * PQ)
            finish(n0, nb)
        }
    }

    public func conv2dBackwardData(gradOutput dy: Tensor, weight w: Tensor, gradInput dx: Tensor, geometry g: Conv2DGeometry) {
        Check.conv("conv2dBackwardData", input: dx, weight: w, output: dy, g)
        let K = g.outChannels, CRS = g.patchSize, PQ = g.outPlane, N = g.batch
        let dys = dy.hostFloats, ws = w.hostFloats, dxs = dx.hostFloats
        if usesWinograd(g) { return winogradBackwardData(dys, ws, dxs, g) }
        if g.isPointwise {
            forEachChunk(g, chunk: N) { _, n0, nb in
                sgemm(true, false, CRS, nb * PQ, K, 1, ws, CRS, dys + n0 * PQ, N * PQ, 0, dxs + n0 * PQ, N * PQ)
            }
            return
        }
        let chunk = imagesPerChunk(g)
        for s in scratch { _ = s.reserve(CRS * chunk * PQ) }
        forEachChunk(g, chunk: chunk) { worker, n0, nb in
            let cols = scratch[worker].pointer
            sgemm(true, false, CRS, nb * PQ, K, 1, ws, CRS, dys + n0 * PQ, N * PQ, 0, cols, nb * PQ)
            col2im(cols, dxs, g, n0: n0, count: nb)
        }
    }

    public func conv2dBackwardWeight(input x: Tensor, gradOutput dy: Tensor, gradWeight dw: Tensor, geometry g: Conv2DGeometry) {
        Check.conv("conv2dBackwardWeight", input: x, weight: dw, output: dy, g)
        let K = g.outChannels, CRS = g.patchSize, PQ = g.outPlane, N = g.batch
        let xs = x.hostFloats, dys = dy.hostFloats, dws = dw.hostFloats
        if usesWinograd(g) { return winogradBackwardWeight(xs, dys, dws, g) }
        let chunk = g.isPointwise ? N : imagesPerChunk(g)
        let active = min(workers, N)
        for s in partials.prefix(active) { _ = s.reserve(K * CRS) }
        if !g.isPointwise { for s in scratch { _ = s.reserve(CRS * chunk * PQ) } }
        forEachChunk(g, chunk: chunk) { worker, n0, nb in
            // Worker 0 writes dw directly; the others write partials summed below.
            let target = worker == 0 ? dws : partials[worker].pointer
            let first = n0 == N * worker / active
            if g.isPointwise {
                sgemm(false, true, K, CRS, nb * PQ, 1, dys + n0 * PQ, N * PQ, xs + n0 * PQ, N * PQ,
                      first ? 0 : 1, target, CRS)
            } else {
                let cols = scratch[worker].pointer
                im2col(xs, cols, g, n0: n0, count: nb)
                sgemm(false, true, K, CRS, nb * PQ, 1, dys + n0 * PQ, N * PQ, cols, nb * PQ,
                      first ? 0 : 1, target, CRS)
            }
        }
        if active > 1 {
            split(K * CRS, grain: 1 << 14) { _, r in
                for worker in 1..<active {
                    let p = partials[worker].pointer
                    for i in r { dws[i] += p[i] }
                }
            }
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
        for r in 0..<g.patchSize {
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
                    CPUDevice.gatherRow(src, stride: s, d, qs)
                    for q in qs.upperBound..<Q { d[q] = 0 }
                }
            }
        }
    }

    /// d[q] = src[q * stride] for q in `qs`: a copy for stride 1, the even lanes of
    /// eight-wide loads for stride 2 (a load never reaches past `src[stride * (qs.upperBound - 1)]`).
    @inline(__always)
    static func gatherRow(_ src: UnsafePointer<Float>, stride s: Int, _ d: UnsafeMutablePointer<Float>, _ qs: Range<Int>) {
        guard !qs.isEmpty else { return }
        if s == 1 { return (d + qs.lowerBound).update(from: src + qs.lowerBound, count: qs.count) }
        var q = qs.lowerBound
        if s == 2 {
            // src[2q ..< 2q + 8] covers q ..< q + 4; its last lane 2q + 7 < 2(qs.upperBound - 1) while q + 4 < qs.upperBound
            while q + 4 < qs.upperBound {
                store4(d + q, load8(src + 2 * q).evenHalf)
                q += 4
            }
        }
        while q < qs.upperBound { d[q] = src[q * s]; q += 1 }
    }

    /// dx[c, n0+b, ...] = sum over patches of cols (the adjoint of ``im2col``); the
    /// chunk's images of `dx` are overwritten.
    func col2im(_ cols: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ g: Conv2DGeometry,
                n0: Int, count nb: Int) {
        let R = g.kernel, H = g.height, W = g.width, P = g.outHeight, Q = g.outWidth
        let s = g.stride, pad = g.padding, N = g.batch
        let width = nb * P * Q
        for c in 0..<g.inChannels {
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
