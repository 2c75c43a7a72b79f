import CKernels

// Winograd F(4x4, 3x3) on the CPU: the forward and backward-data passes of the 3x3
// stride-1 layers that run as Winograd (CPUWinograd.swift has F(2x2, 3x3), the weight
// gradient and the per-example norms, which stay on the 2x2 tiles).
//
// Each 4x4 output tile comes from a 6x6 input tile d (rows 4i-p..4i+5-p, columns
// 4j-p..4j+5-p for padding p; zero outside the input):
//   y_tile = A^T [ (G g G^T) ⊙ (B^T d B) ] A
// with (Lavin & Gray 2016, interpolation points 0, ±1, ±2, ∞)
//   B^T = [4  0 -5  0  1  0]   G = [ 1/4     0     0  ]   A^T = [1  1  1  1  1  0]
//         [0 -4 -4  1  1  0]       [-1/6  -1/6  -1/6 ]          [0  1 -1  2 -2  0]
//         [0  4 -4 -1  1  0]       [-1/6   1/6  -1/6 ]          [0  1  1  4  4  0]
//         [0 -2 -1  2  1  0]       [1/24  1/12  1/6  ]          [0  1 -1  8 -8  1]
//         [0  2 -1 -2  1  0]       [1/24 -1/12  1/6  ]
//         [0  4  0 -5  0  1]       [ 0      0     1  ]
// 36 multiplies per tile and channel pair for 16 outputs: 2.25 per output against F(2x2)'s
// 4 and direct convolution's 9, and 2.25 transformed values per output pixel moved through
// V and M against 4. Batched over a chunk of T tiles the products are 36 GEMMs:
//   U[ξ][Co, Ci]  = (G g G^T)[ξ]          ξ = 6 * row + column
//   V[ξ][Ci, T]   = (B^T d B)[ξ]
//   M[ξ][Co, T]   = U[ξ] * V[ξ]           sgemm, Co x T x Ci
//   y[Co, n, 4i+u, 4j+v] = (A^T M A)[u, v]
// The larger points round more: the error against the Double reference is a few times
// F(2x2)'s (bounded in WinogradTests), still far below what a float32 training notices.
// On CPUs with AVX2 + FMA the input transform and (up to ``CPUDevice/fusedWinogradMaximumChannels``)
// the products with the output transform run as C kernels instead (Sources/CKernels,
// ``CPUDevice/winogradCKernels``).

extension CPUDevice {
    /// Whether the forward and backward-data passes of `g` use F(4x4, 3x3) tiles: the layer
    /// runs as Winograd (``usesWinograd(_:)``) and, in `.automatic`, both planes are larger
    /// than one 4x4 tile. Measured (`sieve bench --ops --conv winograd` against `winograd4`,
    /// 2 cores): 13-25% faster on the 8x8 to 32x32 planes of ResNet-18 width 64, level on
    /// 4x4 planes (backward data there 10% slower), a few percent on width 16's planes.
    public func usesLargeWinogradTiles(_ g: Conv2DGeometry) -> Bool {
        guard usesWinograd(g) else { return false }
        switch convolutionAlgorithm {
        case .winograd4: return true
        case .automatic: return min(g.height, g.width, g.outHeight, g.outWidth) > 4
        case .im2col, .winograd: return false
        }
    }

    /// Whether this CPU can run CKernels' F(4x4) kernels (AVX2 and FMA).
    public static let winogradCKernelsAvailable = sieve_winograd4_kernels_available() != 0

    /// Whether a F(4x4) layer of `inputs` -> `outputs` channels runs the fused product
    /// (with ``winogradCKernels``): where its GEMMs are small enough that `sgemm`'s call,
    /// packing and zeroing of M cost more than its faster inner loop saves.
    public func usesFusedWinogradProduct(inputs: Int, outputs: Int) -> Bool {
        winogradCKernels && min(inputs, outputs) <= CPUDevice.fusedWinogradMaximumChannels
    }

    /// Channels (the smaller side) up to which the fused product is used. Measured (one
    /// process alternating the C kernels and the Swift + sgemm path call by call, fastest
    /// of 18 calls each, ResNet-18 layers at batch 128, 2 cores): 1.2-1.7x at 16 and 32
    /// channels, 1.1-1.3x at 64 on 7x7 planes and level on 32x32, 9% slower at 128 and 25%
    /// at 256 channels, where sgemm's blocking reuses U across more tiles than one group.
    public static let fusedWinogradMaximumChannels = 64

    /// y[K, N, P, Q] = conv3x3(x[C, N, H, W], w[K, C, 3, 3]) by F(4x4, 3x3), padding p.
    func winograd4Forward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                          _ g: Conv2DGeometry, epilogue: ChannelAffine?) {
        let u = transformWeights4(w, outputs: g.outChannels, inputs: g.inChannels, flipped: false)
        winograd4Convolve(x, inputs: g.inChannels, u, y, outputs: g.outChannels, WinogradTiles(g, tile: 4), epilogue: epilogue)
    }

    /// dx[C, N, H, W] = conv3x3(dy[K, N, P, Q], rot180(w)^T), padding 2 - p, by F(4x4, 3x3).
    func winograd4BackwardData(_ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                               _ g: Conv2DGeometry) {
        let u = transformWeights4(w, outputs: g.outChannels, inputs: g.inChannels, flipped: true)
        winograd4Convolve(dy, inputs: g.outChannels, u, dx, outputs: g.inChannels, WinogradTiles(adjointOf: g, tile: 4), epilogue: nil)
    }

    /// U[ξ][o, i] = (G g G^T)[ξ] (block ξ at ξ * (K*C + 16)), g = w[o, i] (forward) or
    /// rot180(w[k, c]) at U[ξ][c, k] (backward data).
    private func transformWeights4(_ w: UnsafePointer<Float>, outputs K: Int, inputs C: Int, flipped: Bool)
        -> UnsafePointer<Float> {
        let plane = K * C + 16
        let u = winogradWeights.reserve(36 * plane)
        split(K, grain: 8) { _, ks in
            for k in ks {
                for c in 0..<C {
                    let src = w + (k * C + c) * 9
                    @inline(__always) func f(_ i: Int) -> Float { flipped ? src[8 - i] : src[i] }
                    // t = G g [6][3] (columns s of g give columns of t), then U = t G^T [6][6]
                    let c0 = Winograd4Tile.weightColumn(f(0), f(3), f(6))
                    let c1 = Winograd4Tile.weightColumn(f(1), f(4), f(7))
                    let c2 = Winograd4Tile.weightColumn(f(2), f(5), f(8))
                    let index = flipped ? c * K + k : k * C + c
                    @inline(__always) func row(_ a: Int, _ t0: Float, _ t1: Float, _ t2: Float) {
                        let r = Winograd4Tile.weightColumn(t0, t1, t2)
                        let o = u + 6 * a * plane + index
                        o[0] = r.0; o[plane] = r.1; o[2 * plane] = r.2; o[3 * plane] = r.3; o[4 * plane] = r.4; o[5 * plane] = r.5
                    }
                    row(0, c0.0, c1.0, c2.0); row(1, c0.1, c1.1, c2.1); row(2, c0.2, c1.2, c2.2)
                    row(3, c0.3, c1.3, c2.3); row(4, c0.4, c1.4, c2.4); row(5, c0.5, c1.5, c2.5)
                }
            }
        }
        return UnsafePointer(u)
    }

    /// out[Co, N, H', W'] = F(4x4, 3x3) convolution of inp[Ci, N, H, W] with u[36][Co, Ci]
    /// over `tiles`; each worker takes its share of the images in chunks of whole images.
    private func winograd4Convolve(_ inp: UnsafePointer<Float>, inputs Ci: Int, _ u: UnsafePointer<Float>,
                                   _ out: UnsafeMutablePointer<Float>, outputs Co: Int, _ tiles: WinogradTiles,
                                   epilogue: ChannelAffine?) {
        let N = tiles.batch, H = tiles.height, W = tiles.width, rows = tiles.rows, columns = tiles.columns
        let perImage = tiles.perImage, chunk = tiles.chunk
        let fused = usesFusedWinogradProduct(inputs: Ci, outputs: Co)
        let vectorInput = winogradCKernels
        let inputScratch = vectorInput ? Int(sieve_winograd4_input_scratch(Int32(tiles.inWidth), Int32(rows), Int32(columns))) : 0
        let productScratch = fused ? Int(sieve_winograd4_product_scratch(Int32(Co))) : 0
        for s in scratch { _ = s.reserve(tiles.scratchFloats(Ci, Co) + inputScratch + productScratch) }
        // the fused kernel's epilogue: the batch norm's per-channel scale and shift, pinned for the whole call
        let scales = epilogue?.scale ?? [], shifts = epilogue?.shift ?? [], relu: Int32 = epilogue?.relu == true ? 1 : 0
        scales.withUnsafeBufferPointer { scales in shifts.withUnsafeBufferPointer { shifts in
        forEachChunk(N, chunk: chunk) { worker, n0, nb in
            let T = nb * perImage
            let vs = WinogradTiles.blockStride(Ci, T), st = WinogradTiles.blockStride(Co, T)
            let v = scratch[worker].pointer                  // V[36][Ci, T]
            let m = v + 36 * vs                              // M[36][Co, T]
            if vectorInput {                                 // the same values, 8 tiles per vector
                sieve_winograd4_input_transform(inp + n0 * tiles.inHeight * tiles.inWidth, N * tiles.inHeight * tiles.inWidth,
                                                Int32(Ci), Int32(nb), Int32(tiles.inHeight), Int32(tiles.inWidth),
                                                Int32(tiles.padding), Int32(rows), Int32(columns), v, vs, m + 36 * st)
            } else {
                tiles.transformInput6x6(inp, channels: Ci, n0: n0, count: nb, into: v, rows: m + 36 * st)
            }
            if fused {                                       // products and output transform in one kernel
                sieve_winograd4_product_output(v, vs, Int32(Ci), Int32(T), u, Co * Ci + 16, Int32(Co),
                                               out + n0 * H * W, N * H * W, Int32(H), Int32(W), Int32(rows), Int32(columns),
                                               epilogue == nil ? nil : scales.baseAddress, epilogue == nil ? nil : shifts.baseAddress,
                                               relu, m)   // M's space (the input transform is done with its rows) and beyond
                return
            }
            for xi in 0..<36 {                               // M[ξ] = U[ξ] V[ξ]
                sgemm(false, false, Co, T, Ci, 1, u + xi * (Co * Ci + 16), Ci, v + xi * vs, T, 0, m + xi * st, T)
            }
            // y = A^T M A per (output channel, tile): four output rows per tile row, written
            // in place when they are whole rows of the plane, else through row scratch (V's space)
            let width = 4 * columns
            let spare = v
            for k in 0..<Co {
                let affine = epilogue.map { $0.lanes(k) }
                for b in 0..<nb {
                    let plane = out + (k * N + n0 + b) * H * W
                    for i in 0..<rows {
                        @inline(__always) func target(_ r: Int) -> UnsafeMutablePointer<Float> {
                            W == width && 4 * i + r < H ? plane + (4 * i + r) * W : spare + r * width
                        }
                        let dst0 = target(0), dst1 = target(1), dst2 = target(2), dst3 = target(3)
                        let p = m + k * T + b * perImage + i * columns   // M[ξ][k, t + j] = p[ξ * st + j]
                        // four tiles at a time; a last group past `columns` reads the next tile
                        // row's values (or the block's padding) and stores only its own tiles
                        var j = 0
                        while j < columns {
                            let y = Winograd4Tile.output { xi in load4(p + xi * st + j) }
                            let whole = j + 4 <= columns, count = min(4, columns - j)
                            @inline(__always) func put(_ d: UnsafeMutablePointer<Float>, _ r: (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>)) {
                                // row r of the four tiles (lanes), transposed to tile by tile
                                let t = affine.map { e in transpose(e.apply(r.0), e.apply(r.1), e.apply(r.2), e.apply(r.3)) }
                                    ?? transpose(r.0, r.1, r.2, r.3)
                                if whole {
                                    store4(d, t.0); store4(d + 4, t.1); store4(d + 8, t.2); store4(d + 12, t.3)
                                } else {
                                    store4(d, t.0)
                                    if count > 1 { store4(d + 4, t.1) }
                                    if count > 2 { store4(d + 8, t.2) }
                                }
                            }
                            put(dst0 + 4 * j, y.0); put(dst1 + 4 * j, y.1); put(dst2 + 4 * j, y.2); put(dst3 + 4 * j, y.3)
                            j += 4
                        }
                        if W != width {
                            for r in 0..<4 where 4 * i + r < H { (plane + (4 * i + r) * W).update(from: spare + r * width, count: W) }
                        }
                    }
                }
            }
        }
        }}
    }
}

/// (a, b, c, d) as rows of a 4x4 matrix, transposed: lane l of the result's i-th vector is
/// lane i of the l-th argument.
@inline(__always)
func transpose(_ a: SIMD4<Float>, _ b: SIMD4<Float>, _ c: SIMD4<Float>, _ d: SIMD4<Float>)
    -> (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>) {
    (SIMD4(a[0], b[0], c[0], d[0]), SIMD4(a[1], b[1], c[1], d[1]),
     SIMD4(a[2], b[2], c[2], d[2]), SIMD4(a[3], b[3], c[3], d[3]))
}

extension WinogradTiles {
    /// V[ξ][c, t] = (B^T d B)[ξ] (block ξ at ξ * ``WinogradTiles/blockStride(_:_:)``) for every
    /// channel c and tile t = b * perImage + i * columns + j of images n0 ..< n0+nb of x[C, N, H, W];
    /// `rows`: ``rowScratch`` floats. F(4x4) tiles (6x6 input tiles).
    func transformInput6x6(_ x: UnsafePointer<Float>, channels C: Int, n0: Int, count nb: Int,
                           into v: UnsafeMutablePointer<Float>, rows scratch: UnsafeMutablePointer<Float>) {
        precondition(tile == 4, "transformInput6x6: F(4x4, 3x3) tiles")
        let H = inHeight, W = inWidth, pad = padding, N = batch, T = nb * perImage, rowWidth = rowWidth
        let vs = WinogradTiles.blockStride(C, T)
        let zeros = clearRowBorders(scratch)                // one zero input row
        for c in 0..<C {
            for b in 0..<nb {
                let plane = x + (c * N + n0 + b) * H * W
                for i in 0..<rows {
                    // input rows 4i-p ... 4i+5-p in place (a zero row outside the plane), combined
                    // by the rows of B^T into s_a at padded column q = input column q - p
                    @inline(__always) func row(_ h: Int) -> UnsafePointer<Float> { h >= 0 && h < H ? plane + h * W : zeros }
                    let d0 = row(4 * i - pad), d1 = row(4 * i + 1 - pad), d2 = row(4 * i + 2 - pad)
                    let d3 = row(4 * i + 3 - pad), d4 = row(4 * i + 4 - pad), d5 = row(4 * i + 5 - pad)
                    let s = scratch + pad
                    var q = 0
                    while q + 4 <= W {
                        let e = Winograd4Tile.input(load4(d0 + q), load4(d1 + q), load4(d2 + q), load4(d3 + q), load4(d4 + q), load4(d5 + q))
                        store4(s + q, e.0); store4(s + rowWidth + q, e.1); store4(s + 2 * rowWidth + q, e.2)
                        store4(s + 3 * rowWidth + q, e.3); store4(s + 4 * rowWidth + q, e.4); store4(s + 5 * rowWidth + q, e.5)
                        q += 4
                    }
                    while q < W {
                        let e = Winograd4Tile.input(d0[q], d1[q], d2[q], d3[q], d4[q], d5[q])
                        s[q] = e.0; s[rowWidth + q] = e.1; s[2 * rowWidth + q] = e.2
                        s[3 * rowWidth + q] = e.3; s[4 * rowWidth + q] = e.4; s[5 * rowWidth + q] = e.5
                        q += 1
                    }
                    // column combinations (times B), four tiles at a time: tile j + l reads columns
                    // 4(j+l) ..< 4(j+l) + 6, lanes l of two 4x4 transposes. A last group past
                    // `columns` computes from the zeroed row end and stores into the next tile
                    // row's first tiles, the next image's or channel's (written later in this
                    // loop), or the block's padding (``WinogradTiles/blockStride(_:_:)``).
                    let t0 = b * perImage + i * columns
                    for a in 0..<6 {
                        let r = scratch + a * rowWidth
                        let base = v + (6 * a) * vs + c * T + t0
                        var j = 0
                        while j < columns {
                            let l = r + 4 * j
                            let x0 = load4(l), x1 = load4(l + 4), x2 = load4(l + 8), x3 = load4(l + 12), x4 = load4(l + 16)
                            let lo = transpose(x0, x1, x2, x3)
                            let e = Winograd4Tile.input(lo.0, lo.1, lo.2, lo.3,
                                                        SIMD4(x1[0], x2[0], x3[0], x4[0]), SIMD4(x1[1], x2[1], x3[1], x4[1]))
                            store4(base + j, e.0); store4(base + vs + j, e.1); store4(base + 2 * vs + j, e.2)
                            store4(base + 3 * vs + j, e.3); store4(base + 4 * vs + j, e.4); store4(base + 5 * vs + j, e.5)
                            j += 4
                        }
                    }
                }
            }
        }
    }
}

/// Values the F(4x4) formulas run on: the F(2x2) lanes and a product by a constant.
protocol ScaledTileLanes: TileLanes {
    static func * (a: Float, b: Self) -> Self
}
extension Float: ScaledTileLanes {}
extension SIMD4: ScaledTileLanes where Scalar == Float {}

/// The per-tile formulas of F(4x4, 3x3) (matrices at the top of this file).
enum Winograd4Tile {
    /// B^T applied to six values (a row or a column of an input tile).
    @inline(__always)
    static func input<T: ScaledTileLanes>(_ d0: T, _ d1: T, _ d2: T, _ d3: T, _ d4: T, _ d5: T) -> (T, T, T, T, T, T) {
        let a = d4 - 4 * d2, b = d3 - 4 * d1          // rows 1, 2: a + b, a - b
        let c = d4 - d2, e = 2 * (d3 - d1)             // rows 3, 4: c + e, c - e
        return (4 * d0 - 5 * d2 + d4, a + b, a - b, c + e, c - e, 4 * d1 - 5 * d3 + d5)
    }

    /// A^T applied to six values: four.
    @inline(__always)
    static func outputColumn<T: ScaledTileLanes>(_ m0: T, _ m1: T, _ m2: T, _ m3: T, _ m4: T, _ m5: T) -> (T, T, T, T) {
        let p = m1 + m2, q = m1 - m2, r = m3 + m4, t = m3 - m4
        return (m0 + p + r, q + 2 * t, p + 4 * r, q + 8 * t + m5)
    }

    /// y = A^T M A of a tile from its 36 values m(ξ), ξ = 6 * row + column: its four rows
    /// (y[u][0], ..., y[u][3]).
    @inline(__always)
    static func output<T: ScaledTileLanes>(_ m: (Int) -> T) -> ((T, T, T, T), (T, T, T, T), (T, T, T, T), (T, T, T, T)) {
        // z_b = (A^T M)[., b]: A^T down each column b, then A^T along each row u of A^T M
        @inline(__always) func z(_ b: Int) -> (T, T, T, T) { outputColumn(m(b), m(6 + b), m(12 + b), m(18 + b), m(24 + b), m(30 + b)) }
        let z0 = z(0), z1 = z(1), z2 = z(2), z3 = z(3), z4 = z(4), z5 = z(5)
        return (outputColumn(z0.0, z1.0, z2.0, z3.0, z4.0, z5.0), outputColumn(z0.1, z1.1, z2.1, z3.1, z4.1, z5.1),
                outputColumn(z0.2, z1.2, z2.2, z3.2, z4.2, z5.2), outputColumn(z0.3, z1.3, z2.3, z3.3, z4.3, z5.3))
    }

    /// G applied to a 3-vector of weights: (g0/4, -(g0+g1+g2)/6, -(g0-g1+g2)/6,
    /// g0/24 + g1/12 + g2/6, g0/24 - g1/12 + g2/6, g2).
    @inline(__always)
    static func weightColumn(_ g0: Float, _ g1: Float, _ g2: Float) -> (Float, Float, Float, Float, Float, Float) {
        let even = g0 + g2
        return (g0 / 4, -(even + g1) / 6, -(even - g1) / 6, g0 / 24 + g1 / 12 + g2 / 6, g0 / 24 - g1 / 12 + g2 / 6, g2)
    }
}
