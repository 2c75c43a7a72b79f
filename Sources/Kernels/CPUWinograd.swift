// Winograd F(2x2, 3x3) convolution on the CPU for 3x3, stride-1, padding-1 layers
// (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016).
//
// Each 2x2 output tile comes from a 4x4 input tile d (rows 2i-1..2i+2, columns 2j-1..2j+2):
//   y_tile = A^T [ (G g G^T) ⊙ (B^T d B) ] A
// with
//   B^T = [1  0 -1  0]    G = [1    0    0 ]    A^T = [1  1  1  0]
//         [0  1  1  0]        [1/2  1/2  1/2]          [0  1 -1 -1]
//         [0 -1  1  0]        [1/2 -1/2  1/2]
//         [0  1  0 -1]        [0    0    1 ]
// 16 multiplies per tile and channel pair instead of 36 (2.25x fewer). Batched over a
// chunk of T tiles, the elementwise products become 16 GEMMs, one per tile position ξ:
//   U[ξ][Co, Ci]  = (G g G^T)[ξ]          weights, transformed once per call
//   V[ξ][Ci, T]   = (B^T d B)[ξ]          input tiles of the chunk
//   M[ξ][Co, T]   = U[ξ] * V[ξ]           sgemm, Co x T x Ci
//   y[Co, n, 2i+a, 2j+b] = (A^T M A)[a, b]
// The backward-data pass of the same layer is the same algorithm on dy with the weights
// flipped 180° and transposed ([C][K] instead of [K][C]): for stride 1 and padding 1,
//   dx[c] = sum_k  dy[k] ⋆ rot180(w[k, c])   (padding 1).
// Results differ from im2col only by rounding (the transforms add and halve); the tests
// bound the error against the Double reference.

/// Which algorithm the CPU uses for 3x3 stride-1 convolutions.
public enum ConvolutionAlgorithm: String, CaseIterable, Sendable {
    /// Winograd F(2x2, 3x3) where it pays (3x3, stride 1, padding 1, at least
    /// ``CPUDevice/winogradMinimumChannels`` channels in and out), im2col + sgemm elsewhere.
    case automatic
    /// Always im2col + sgemm.
    case im2col
    /// Winograd for every 3x3 stride-1 padding-1 layer, whatever its channel count.
    case winograd
}

extension CPUDevice {
    /// Channels in and out below which Winograd's GEMMs (inner dimension = channels)
    /// are too small to pay for the transforms (measured: `sieve bench --ops`).
    public static let winogradMinimumChannels = 16
    /// Tiles per GEMM chunk (at least one image). Measured on the ResNet-18 shapes with
    /// `sieve bench --ops` for 128 to 1024 tiles: 128 was best or level on every shape
    /// (the 16 GEMMs' V and M stay in the core's cache between transform and product).
    static let winogradTilesPerChunk = 128

    /// Whether forward and backward-data of `g` run as Winograd F(2x2, 3x3).
    public func usesWinograd(_ g: Conv2DGeometry) -> Bool {
        guard g.kernel == 3, g.stride == 1, g.padding == 1 else { return false }
        switch convolutionAlgorithm {
        case .im2col: return false
        case .winograd: return true
        case .automatic: return min(g.inChannels, g.outChannels) >= CPUDevice.winogradMinimumChannels
        }
    }

    /// y[K, N, H, W] = conv3x3(x[C, N, H, W], w[K, C, 3, 3]), padding 1.
    func winogradForward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                         _ g: Conv2DGeometry) {
        let u = transformWeights(w, outputs: g.outChannels, inputs: g.inChannels, flipped: false)
        winogradConvolve(x, inputs: g.inChannels, u, y, outputs: g.outChannels, g)
    }

    /// dx[C, N, H, W] = conv3x3(dy[K, N, H, W], rot180(w)^T), padding 1: the adjoint of the forward.
    func winogradBackwardData(_ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                              _ g: Conv2DGeometry) {
        let u = transformWeights(w, outputs: g.outChannels, inputs: g.inChannels, flipped: true)
        winogradConvolve(dy, inputs: g.outChannels, u, dx, outputs: g.inChannels, g)
    }

    /// U[ξ][o, i] = (G g G^T)[ξ] for g = w[o, i] (forward, `[Co = K][Ci = C]`) or, flipped,
    /// g = rot180(w[k, c]) at U[ξ][c, k] (backward data, `[Co = C][Ci = K]`).
    private func transformWeights(_ w: UnsafePointer<Float>, outputs K: Int, inputs C: Int, flipped: Bool)
        -> UnsafePointer<Float> {
        let u = winogradWeights.reserve(16 * K * C)
        let plane = K * C
        split(K, grain: 8) { _, ks in
            for k in ks {
                for c in 0..<C {
                    let src = w + (k * C + c) * 9
                    // g[r][s] (read rotated by 180° for the backward pass)
                    @inline(__always) func g(_ r: Int, _ s: Int) -> Float { flipped ? src[(2 - r) * 3 + 2 - s] : src[r * 3 + s] }
                    // t = G g  [4][3], row a
                    @inline(__always) func t(_ a: Int, _ s: Int) -> Float {
                        switch a {
                        case 0: return g(0, s)
                        case 1: return 0.5 * (g(0, s) + g(1, s) + g(2, s))
                        case 2: return 0.5 * (g(0, s) - g(1, s) + g(2, s))
                        default: return g(2, s)
                        }
                    }
                    // U = t G^T  [4][4]
                    let index = flipped ? c * K + k : k * C + c
                    for a in 0..<4 {
                        let t0 = t(a, 0), t1 = t(a, 1), t2 = t(a, 2)
                        u[(a * 4 + 0) * plane + index] = t0
                        u[(a * 4 + 1) * plane + index] = 0.5 * (t0 + t1 + t2)
                        u[(a * 4 + 2) * plane + index] = 0.5 * (t0 - t1 + t2)
                        u[(a * 4 + 3) * plane + index] = t2
                    }
                }
            }
        }
        return UnsafePointer(u)
    }

    /// out[Co, N, H, W] = Winograd convolution of inp[Ci, N, H, W] with transformed weights
    /// u[16][Co, Ci]; each worker takes a share of the images in chunks of about
    /// ``winogradTilesPerChunk`` tiles (whole images).
    private func winogradConvolve(_ inp: UnsafePointer<Float>, inputs Ci: Int, _ u: UnsafePointer<Float>,
                                  _ out: UnsafeMutablePointer<Float>, outputs Co: Int, _ g: Conv2DGeometry) {
        let N = g.batch, H = g.height, W = g.width
        let tilesH = (H + 1) / 2, tilesW = (W + 1) / 2, tilesPerImage = tilesH * tilesW
        let chunk = max(1, min(N, CPUDevice.winogradTilesPerChunk / tilesPerImage))
        let rowWidth = 2 * tilesW + 2   // a padded input row: W + 2 (+1 when W is odd)
        for s in scratch { _ = s.reserve(16 * (Ci + Co) * chunk * tilesPerImage + 8 * rowWidth) }
        forEachChunk(g, chunk: chunk) { worker, n0, nb in
            let T = nb * tilesPerImage
            let v = scratch[worker].pointer                  // V[16][Ci, T]
            let m = v + 16 * Ci * T                          // M[16][Co, T]
            let rows = m + 16 * Co * T                       // 4 padded rows + 4 row combinations
            // V = B^T d B for every (channel, tile) of the chunk.
            for c in 0..<Ci {
                for b in 0..<nb {
                    let plane = inp + (c * N + n0 + b) * H * W
                    for i in 0..<tilesH {
                        // padded rows 2i-1 ... 2i+2 (column 0 is input column -1)
                        for a in 0..<4 {
                            let row = rows + a * rowWidth
                            let h = 2 * i - 1 + a
                            row.update(repeating: 0, count: rowWidth)
                            if h >= 0 && h < H { (row + 1).update(from: plane + h * W, count: W) }
                        }
                        // row combinations of B^T: s0 = d0 - d2, s1 = d1 + d2, s2 = d2 - d1, s3 = d1 - d3
                        let d0 = rows, d1 = rows + rowWidth, d2 = rows + 2 * rowWidth, d3 = rows + 3 * rowWidth
                        let s0 = rows + 4 * rowWidth, s1 = s0 + rowWidth, s2 = s1 + rowWidth, s3 = s2 + rowWidth
                        for q in 0..<rowWidth {
                            s0[q] = d0[q] - d2[q]; s1[q] = d1[q] + d2[q]
                            s2[q] = d2[q] - d1[q]; s3[q] = d1[q] - d3[q]
                        }
                        // column combinations (times B), stored at V[a*4 + col][c, t]
                        let t0 = b * tilesPerImage + i * tilesW
                        for a in 0..<4 {
                            let s = s0 + a * rowWidth
                            let v0 = v + ((a * 4 + 0) * Ci + c) * T + t0, v1 = v + ((a * 4 + 1) * Ci + c) * T + t0
                            let v2 = v + ((a * 4 + 2) * Ci + c) * T + t0, v3 = v + ((a * 4 + 3) * Ci + c) * T + t0
                            for j in 0..<tilesW {
                                let e0 = s[2 * j], e1 = s[2 * j + 1], e2 = s[2 * j + 2], e3 = s[2 * j + 3]
                                v0[j] = e0 - e2; v1[j] = e1 + e2; v2[j] = e2 - e1; v3[j] = e1 - e3
                            }
                        }
                    }
                }
            }
            // M[ξ] = U[ξ] V[ξ]
            for xi in 0..<16 {
                sgemm(false, false, Co, T, Ci, 1, u + xi * Co * Ci, Ci, v + xi * Ci * T, T, 0, m + xi * Co * T, T)
            }
            // y = A^T M A for every (output channel, tile).
            for k in 0..<Co {
                for b in 0..<nb {
                    let plane = out + (k * N + n0 + b) * H * W
                    for i in 0..<tilesH {
                        let t0 = b * tilesPerImage + i * tilesW
                        let p = m + k * T + t0, st = Co * T   // M[ξ][k, t0 + j] = p[ξ * st + j]
                        let top = plane + 2 * i * W
                        let hasBottom = 2 * i + 1 < H
                        let fullColumns = W / 2
                        for j in 0..<tilesW {
                            // rows of A^T: r0 = m0 + m1 + m2, r1 = m1 - m2 - m3 (per column)
                            let a0 = p[j] + p[4 * st + j] + p[8 * st + j], a1 = p[1 * st + j] + p[5 * st + j] + p[9 * st + j]
                            let a2 = p[2 * st + j] + p[6 * st + j] + p[10 * st + j], a3 = p[3 * st + j] + p[7 * st + j] + p[11 * st + j]
                            let b0 = p[4 * st + j] - p[8 * st + j] - p[12 * st + j], b1 = p[5 * st + j] - p[9 * st + j] - p[13 * st + j]
                            let b2 = p[6 * st + j] - p[10 * st + j] - p[14 * st + j], b3 = p[7 * st + j] - p[11 * st + j] - p[15 * st + j]
                            top[2 * j] = a0 + a1 + a2
                            if j < fullColumns { top[2 * j + 1] = a1 - a2 - a3 }
                            if hasBottom {
                                top[W + 2 * j] = b0 + b1 + b2
                                if j < fullColumns { top[W + 2 * j + 1] = b1 - b2 - b3 }
                            }
                        }
                    }
                }
            }
        }
    }
}
