import CBLAS

// Per-example gradient norms on the CPU, batched: the scoring pass runs one forward
// and one backward to the activations for the whole batch, and these ops turn each
// layer's (input, output gradient) pair into each example's squared weight-gradient
// norm without forming the weight gradient of the batch.

/// How a convolution's per-example gradient norms are computed.
public enum PerExampleNormMethod: String, Sendable {
    /// Instantiate `dw_i = G_i A_i^T` (`K*CRS*PQ` multiply-adds per example).
    case explicit
    /// Ghost norm `<A_i^T A_i, G_i^T G_i>` (`PQ^2 (CRS + K) / 2` with `syrk`).
    case ghost
    /// Winograd F(2x2, 3x3) run backwards (CPU, 3x3 stride-1 layers with padding 0 to 2):
    /// `dw_i = G^T [ sum_t (A dY_t A^T) ⊙ (B^T d_t B) ] G`, the tile sum as 16 GEMMs per
    /// example (`4 K C PQ` multiply-adds, 2.25x fewer than explicit). The OpenCL device
    /// computes this method as ``explicit``.
    case winograd

    /// Multiply-adds per example for a layer shape (Winograd: the 16 GEMMs over the image's
    /// tiles and the inverse transform).
    public func multiplyAdds(for g: Conv2DGeometry) -> Int {
        switch self {
        case .explicit: g.outChannels * g.patchSize * g.outPlane
        case .ghost: g.outPlane * g.outPlane * (g.patchSize + g.outChannels) / 2
        case .winograd: 16 * g.outChannels * g.inChannels * (WinogradTiles(g).perImage + 3)
        }
    }

    /// The cheaper of explicit and ghost for a layer shape (by multiply-adds, not memory).
    public static func cheaper(for g: Conv2DGeometry) -> PerExampleNormMethod {
        ghost.multiplyAdds(for: g) < explicit.multiplyAdds(for: g) ? .ghost : .explicit
    }
}

extension CPUDevice {
    public func conv2dPerExampleGradNormsSquared(input x: Tensor, gradOutput dy: Tensor, geometry g: Conv2DGeometry,
                                                 squaredNorms: Tensor) {
        conv2dPerExampleGradNormsSquared(input: x, gradOutput: dy, geometry: g, squaredNorms: squaredNorms,
                                         method: normMethod(for: g))
    }

    /// The method the CPU uses for `g`: ``PerExampleNormMethod/cheaper(for:)``, or Winograd
    /// where the layer runs as Winograd (``usesWinograd(_:)``) and it costs less (by
    /// multiply-adds, the inverse transform counted).
    public func normMethod(for g: Conv2DGeometry) -> PerExampleNormMethod {
        let other = PerExampleNormMethod.cheaper(for: g)
        guard usesWinograd(g) else { return other }
        // Winograd's per-example GEMMs are small (inner dimension: the tiles of one image),
        // so it must win by a margin: measured on ResNet-18 (`sieve bench --ops`), a 64 -> 64
        // 8x8 layer costs 0.95x ghost's multiply-adds but ran 1.4x slower.
        return 3 * PerExampleNormMethod.winograd.multiplyAdds(for: g) < 2 * other.multiplyAdds(for: g) ? .winograd : other
    }

    /// ``conv2dPerExampleGradNormsSquared(input:gradOutput:geometry:squaredNorms:)`` with a
    /// chosen method (both are tested against each other).
    public func conv2dPerExampleGradNormsSquared(input x: Tensor, gradOutput dy: Tensor, geometry g: Conv2DGeometry,
                                                 squaredNorms: Tensor, method: PerExampleNormMethod) {
        Check.conv("conv2dPerExampleGradNormsSquared", input: x, weight: nil, output: dy, g)
        squaredNorms.require(g.batch, .float32, "conv2dPerExampleGradNormsSquared", "squaredNorms [N]")
        let K = g.outChannels, CRS = g.patchSize, PQ = g.outPlane, N = g.batch
        let xs = x.hostFloats, dys = dy.hostFloats, out = squaredNorms.hostFloats
        if method == .winograd {
            guard WinogradTiles.fits(g) else {
                Check.fail("conv2dPerExampleGradNormsSquared", "the Winograd method needs a 3x3 stride-1 layer with padding 0, 1 or 2, got \(g)")
            }
            return winogradNorms(xs, dys, out, g)
        }
        let chunk = g.isPointwise ? N : imagesPerChunk(g)
        let work = method == .explicit ? K * CRS : 2 * PQ * PQ
        for s in partials { _ = s.reserve(work) }
        if !g.isPointwise { for s in scratch { _ = s.reserve(CRS * chunk * PQ) } }
        forEachChunk(g, chunk: chunk) { worker, n0, nb in
            // A_i: columns of example i in the chunk's column matrix (or x itself for 1x1).
            let cols: UnsafePointer<Float>, ldA: Int, firstColumn: Int
            if g.isPointwise {
                cols = UnsafePointer(xs); ldA = N * PQ; firstColumn = n0 * PQ
            } else {
                im2col(xs, scratch[worker].pointer, g, n0: n0, count: nb)
                cols = UnsafePointer(scratch[worker].pointer); ldA = nb * PQ; firstColumn = 0
            }
            let buffer = partials[worker].pointer
            for b in 0..<nb {
                let a = cols + firstColumn + b * PQ            // [CRS, PQ], row stride ldA
                let gi = dys + (n0 + b) * PQ                    // [K, PQ],   row stride N*PQ
                // sums in SIMD lanes, Double across blocks and rows (a norm is a sum of up to
                // millions of terms; the ghost norm's terms also cancel)
                var total = 0.0
                switch method {
                case .explicit:
                    // dw_i[K, CRS] = G_i * A_i^T
                    sgemm(false, true, K, CRS, PQ, 1, gi, N * PQ, a, ldA, 0, buffer, CRS)
                    total = squaredSum(buffer, K * CRS)
                case .winograd:
                    preconditionFailure("handled above")
                case .ghost:
                    // upper triangles of A_i^T A_i and G_i^T G_i, both [PQ, PQ]
                    let ga = buffer, gg = buffer + PQ * PQ
                    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(PQ), Int32(CRS), 1, a, Int32(ldA), 0, ga, Int32(PQ))
                    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(PQ), Int32(K), 1, gi, Int32(N * PQ), 0, gg, Int32(PQ))
                    for r in 0..<PQ {
                        let d = r * PQ + r
                        total += Double(ga[d] * gg[d]) + 2 * productSum(ga + d + 1, gg + d + 1, PQ - r - 1)
                    }
                }
                out[n0 + b] += Float(total)
            }
        }
    }

    public func linearPerExampleGradNormsSquared(input x: Tensor, gradOutput dy: Tensor, inFeatures: Int, outFeatures: Int,
                                                 batch N: Int, squaredNorms: Tensor) {
        Check.linear("linearPerExampleGradNormsSquared", x, dy, inFeatures: inFeatures, outFeatures: outFeatures, batch: N)
        squaredNorms.require(N, .float32, "linearPerExampleGradNormsSquared", "squaredNorms [N]")
        let xs = x.hostFloats, dys = dy.hostFloats, out = squaredNorms.hostFloats
        split(N) { _, examples in
            for n in examples {
                var a2 = 0.0, g2 = 0.0
                for i in 0..<inFeatures { let v = Double(xs[i * N + n]); a2 += v * v }
                for o in 0..<outFeatures { let v = Double(dys[o * N + n]); g2 += v * v }
                out[n] += Float(a2 * g2 + g2)
            }
        }
    }

    public func batchNormPerExampleGradNormsSquared(gradOutput dy: Tensor, input x: Tensor, output y: Tensor,
                                                    parameters p: BatchNormParameters, batch N: Int, squaredNorms: Tensor) {
        batchNormNorms("batchNormPerExampleGradNormsSquared", dy, x, y, p, N, nil, squaredNorms)
    }

    public func batchNormScoringBackward(gradOutput dy: Tensor, input x: Tensor, output y: Tensor,
                                         parameters p: BatchNormParameters, batch N: Int, gradInput dx: Tensor,
                                         squaredNorms: Tensor) {
        dx.require(x.count, .float32, "batchNormScoringBackward", "gradInput [C, N, plane]")
        batchNormNorms("batchNormScoringBackward", dy, x, y, p, N, dx.hostFloats, squaredNorms)
    }

    /// Per (channel, example) `s = sum_hw dy*xhat`, `t = sum_hw dy`, then `norms[n] += sum_c s^2 + t^2`;
    /// with `dxs`, also `dx = dy * gamma / sqrt(rv + eps)` in the same pass.
    private func batchNormNorms(_ op: StaticString, _ dy: Tensor, _ x: Tensor, _ y: Tensor, _ p: BatchNormParameters,
                                _ N: Int, _ dxs: UnsafeMutablePointer<Float>?, _ squaredNorms: Tensor) {
        _ = Check.batchNorm(op, x, p, dy, y)
        let C = p.channels
        let plane = Check.examples(op, x, channels: C, batch: N)
        squaredNorms.require(N, .float32, op, "squaredNorms [N]")
        let xs = x.hostFloats, dys = dy.hostFloats, ys = y.hostFloats, out = squaredNorms.hostFloats
        let gs = p.gamma.hostFloats, rm = p.runningMean.hostFloats, rv = p.runningVar.hostFloats
        let epsilon = p.epsilon, relu = p.fusedReLU
        // [C, N, 2]
        let sums = partials[0].reserve(2 * C * N)
        split(C) { _, channels in
            for c in channels {
                let invStd = 1 / (rv[c] + epsilon).squareRoot(), mean = rm[c], k = gs[c] * invStd
                for n in 0..<N {
                    let base = (c * N + n) * plane
                    let row = xs + base, grad = dys + base, mask = ys + base
                    let (t, s) = CPUDevice.gatedSums(grad, gate: relu ? mask : nil, row, mean: mean, invStd: invStd, plane)
                    if let dxs { scaleGated(grad, gate: relu ? mask : nil, by: k, into: dxs + base, plane) }
                    sums[2 * (c * N + n)] = Float(s)
                    sums[2 * (c * N + n) + 1] = Float(t)
                }
            }
        }
        split(N) { _, examples in
            for n in examples {
                var total = 0.0
                for c in 0..<C {
                    let s = Double(sums[2 * (c * N + n)]), t = Double(sums[2 * (c * N + n) + 1])
                    total += s * s + t * t
                }
                out[n] += Float(total)
            }
        }
    }
}
