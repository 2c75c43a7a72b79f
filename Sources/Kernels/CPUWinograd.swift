// Winograd F(2x2, 3x3) convolution on the CPU for 3x3, stride-1 layers with a border of
// 0, 1 or 2 pixels (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks",
// CVPR 2016).
//
// Each 2x2 output tile comes from a 4x4 input tile d (rows 2i-p..2i+3-p, columns
// 2j-p..2j+3-p for padding p; zero outside the input):
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
// flipped 180° and transposed ([C][K] instead of [K][C]): for stride 1 and padding p,
//   dx[c] = sum_k  dy[k] ⋆ rot180(w[k, c])   (padding 2 - p),
// so a valid (p = 0) layer's backward is a "full" (p = 2) convolution of dy, and a
// same-size (p = 1) layer's is again p = 1 (``WinogradTiles/init(adjointOf:)``).
// Forward and backward data move to F(4x4, 3x3) tiles where the planes are larger than one
// such tile (``CPUDevice/usesLargeWinogradTiles(_:)``, CPUWinograd4.swift).
// Results differ from im2col only by rounding (the transforms add and halve); the tests
// bound the error against the Double reference.

/// Which algorithm the CPU uses for 3x3 stride-1 convolutions.
public enum ConvolutionAlgorithm: String, CaseIterable, Sendable {
    /// Winograd F(2x2, 3x3) where it pays (3x3, stride 1, padding 0 to 2, at least
    /// ``CPUDevice/winogradMinimumChannels`` channels in and out), im2col + sgemm elsewhere.
    case automatic
    /// Always im2col + sgemm.
    case im2col
    /// Winograd F(2x2, 3x3) for every 3x3 stride-1 layer with padding 0 to 2, whatever its channel count.
    case winograd
    /// As `winograd`, with the forward and backward-data passes on F(4x4, 3x3) tiles
    /// (CPUWinograd4.swift); weight gradients and per-example norms stay on F(2x2).
    case winograd4
}

extension CPUDevice {
    /// Channels in and out below which Winograd's GEMMs (inner dimension = channels)
    /// are too small to pay for the transforms (measured: `sieve bench --ops`).
    public static let winogradMinimumChannels = 16
    /// Tiles per GEMM chunk (at least one image). Measured on the ResNet-18 shapes with
    /// `sieve bench --ops` for 128 to 1024 tiles: 128 was best or level on every shape
    /// (the 16 GEMMs' V and M stay in the core's cache between transform and product);
    /// for F(4x4)'s 36 GEMMs, 48 to 512 tiles: 96 to 256 level, 48 about 4% slower.
    static let winogradTilesPerChunk = 128

    /// Whether forward and backward-data of `g` run as Winograd F(2x2, 3x3).
    public func usesWinograd(_ g: Conv2DGeometry) -> Bool {
        guard WinogradTiles.fits(g) else { return false }
        switch convolutionAlgorithm {
        case .im2col: return false
        case .winograd, .winograd4: return true
        case .automatic: return min(g.inChannels, g.outChannels) >= CPUDevice.winogradMinimumChannels
        }
    }

    /// y[K, N, P, Q] = conv3x3(x[C, N, H, W], w[K, C, 3, 3]), padding p (P = H + 2p - 2).
    /// With an `epilogue`, each output channel's values go through it as the output
    /// transform writes them.
    func winogradForward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                         _ g: Conv2DGeometry, epilogue: ChannelAffine? = nil) {
        if usesLargeWinogradTiles(g) { return winograd4Forward(x, w, y, g, epilogue: epilogue) }
        let u = transformWeights(w, outputs: g.outChannels, inputs: g.inChannels, flipped: false)
        winogradConvolve(x, inputs: g.inChannels, u, y, outputs: g.outChannels, WinogradTiles(g), epilogue: epilogue)
    }

    /// dx[C, N, H, W] = conv3x3(dy[K, N, P, Q], rot180(w)^T), padding 2 - p: the adjoint of the forward.
    func winogradBackwardData(_ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                              _ g: Conv2DGeometry) {
        if usesLargeWinogradTiles(g) { return winograd4BackwardData(dy, w, dx, g) }
        let u = transformWeights(w, outputs: g.outChannels, inputs: g.inChannels, flipped: true)
        winogradConvolve(dy, inputs: g.outChannels, u, dx, outputs: g.inChannels, WinogradTiles(adjointOf: g))
    }

    /// U[ξ][o, i] = (G g G^T)[ξ] (block ξ at ξ * (K*C + 16)) for g = w[o, i] (forward, `[Co = K][Ci = C]`) or, flipped,
    /// g = rot180(w[k, c]) at U[ξ][c, k] (backward data, `[Co = C][Ci = K]`).
    private func transformWeights(_ w: UnsafePointer<Float>, outputs K: Int, inputs C: Int, flipped: Bool)
        -> UnsafePointer<Float> {
        let plane = K * C + 16        // blocks one cache line apart (see WinogradTiles.blockStride)
        let u = winogradWeights.reserve(16 * plane)
        split(K, grain: 8) { _, ks in
            for k in ks {
                for c in 0..<C {
                    let src = w + (k * C + c) * 9
                    // g[r][s], read rotated by 180° for the backward pass
                    let f = flipped
                        ? (src[8], src[7], src[6], src[5], src[4], src[3], src[2], src[1], src[0])
                        : (src[0], src[1], src[2], src[3], src[4], src[5], src[6], src[7], src[8])
                    // t = G g [4][3]: rows g0, (g0+g1+g2)/2, (g0-g1+g2)/2, g2 (g_r = row r of g)
                    let t = (f.0, f.1, f.2,
                             0.5 * (f.0 + f.3 + f.6), 0.5 * (f.1 + f.4 + f.7), 0.5 * (f.2 + f.5 + f.8),
                             0.5 * (f.0 - f.3 + f.6), 0.5 * (f.1 - f.4 + f.7), 0.5 * (f.2 - f.5 + f.8),
                             f.6, f.7, f.8)
                    // U = t G^T [4][4]: each row (t0, t1, t2) becomes (t0, (t0+t1+t2)/2, (t0-t1+t2)/2, t2)
                    let index = flipped ? c * K + k : k * C + c
                    @inline(__always) func row(_ a: Int, _ t0: Float, _ t1: Float, _ t2: Float) {
                        u[(a * 4 + 0) * plane + index] = t0
                        u[(a * 4 + 1) * plane + index] = 0.5 * (t0 + t1 + t2)
                        u[(a * 4 + 2) * plane + index] = 0.5 * (t0 - t1 + t2)
                        u[(a * 4 + 3) * plane + index] = t2
                    }
                    row(0, t.0, t.1, t.2)
                    row(1, t.3, t.4, t.5)
                    row(2, t.6, t.7, t.8)
                    row(3, t.9, t.10, t.11)
                }
            }
        }
        return UnsafePointer(u)
    }

    /// out[Co, N, H', W'] = Winograd convolution of inp[Ci, N, H, W] with transformed weights
    /// u[16][Co, Ci] over the tiling `tiles` (input and output planes, border); each worker
    /// takes a share of the images in chunks of about ``winogradTilesPerChunk`` tiles (whole images).
    private func winogradConvolve(_ inp: UnsafePointer<Float>, inputs Ci: Int, _ u: UnsafePointer<Float>,
                                  _ out: UnsafeMutablePointer<Float>, outputs Co: Int, _ tiles: WinogradTiles,
                                  epilogue: ChannelAffine? = nil) {
        let N = tiles.batch, H = tiles.height, W = tiles.width, tilesH = tiles.rows, tilesW = tiles.columns
        let tilesPerImage = tiles.perImage, chunk = tiles.chunk
        for s in scratch { _ = s.reserve(tiles.scratchFloats(Ci, Co)) }
        forEachChunk(N, chunk: chunk) { worker, n0, nb in
            let T = nb * tilesPerImage
            let vs = WinogradTiles.blockStride(Ci, T), st = WinogradTiles.blockStride(Co, T)
            let v = scratch[worker].pointer                  // V[16][Ci, T]
            let m = v + 16 * vs                              // M[16][Co, T]
            tiles.transformInput(inp, channels: Ci, n0: n0, count: nb, into: v, rows: m + 16 * st)
            // M[ξ] = U[ξ] V[ξ]
            for xi in 0..<16 {
                sgemm(false, false, Co, T, Ci, 1, u + xi * (Co * Ci + 16), Ci, v + xi * vs, T, 0, m + xi * st, T)
            }
            // y = A^T M A for every (output channel, tile), two output rows per tile row, written
            // into the plane directly when W is even, else through padded rows copied in.
            let width = 2 * tilesW
            let padTop = v, padBottom = v + width    // V is no longer needed: row scratch
            for k in 0..<Co {
                let affine = epilogue.map { $0.lanes(k) }             // this channel's batch norm, if any
                for b in 0..<nb {
                    let plane = out + (k * N + n0 + b) * H * W
                    for i in 0..<tilesH {
                        let hasBottom = 2 * i + 1 < H
                        let top = W == width ? plane + 2 * i * W : padTop
                        let bottom = W == width && hasBottom ? plane + (2 * i + 1) * W : padBottom
                        let p = m + k * T + b * tilesPerImage + i * tilesW   // M[ξ][k, t + j] = p[ξ * st + j]
                        var j = 0
                        while j + 4 <= tilesW {                              // four tiles at a time
                            var y = WinogradTile.output { xi in load4(p + xi * st + j) }
                            if let e = affine { y = (e.apply(y.0), e.apply(y.1), e.apply(y.2), e.apply(y.3)) }
                            store8(top + 2 * j, interleave(y.0, y.1))
                            store8(bottom + 2 * j, interleave(y.2, y.3))
                            j += 4
                        }
                        while j < tilesW {
                            var y = WinogradTile.output { xi in p[xi * st + j] }
                            if let e = affine { y = (e.apply(y.0), e.apply(y.1), e.apply(y.2), e.apply(y.3)) }
                            top[2 * j] = y.0; top[2 * j + 1] = y.1
                            bottom[2 * j] = y.2; bottom[2 * j + 1] = y.3
                            j += 1
                        }
                        if W != width {
                            (plane + 2 * i * W).update(from: top, count: W)
                            if hasBottom { (plane + (2 * i + 1) * W).update(from: bottom, count: W) }
                        }
                    }
                }
            }
        }
    }
}

extension CPUDevice {
    /// norms[n] += ||dw_n||^2 for each example n of a 3x3 stride-1 layer, with
    /// Winograd F(2x2, 3x3) run backwards (the weight gradient of y = A^T[(G g G^T) ⊙ (B^T d B)]A):
    ///   D[ξ][k, t]     = (A dY_t A^T)[ξ]                      output-gradient tiles, 2x2 -> 4x4
    ///   V[ξ][c, t]     = (B^T d_t B)[ξ]                       input tiles (as the forward)
    ///   Wn[ξ][k, c]    = sum over n's tiles t of D[ξ][k, t] V[ξ][c, t]     16 GEMMs per example
    ///   dw_n[k, c]     = G^T Wn[k, c] G                       4x4 -> 3x3
    func winogradNorms(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                       _ g: Conv2DGeometry) {
        let C = g.inChannels, K = g.outChannels, plane = K * C + 16   // Wn[ξ] blocks one cache line apart
        let perImage = WinogradTiles(g).perImage
        for s in partials { _ = s.reserve(16 * plane) }
        winogradGradientTiles(x, dy, g) { worker, n0, nb, d, st, v, vs in
            let wn = partials[worker].pointer                // Wn[16][K, C]
            for b in 0..<nb {
                for xi in 0..<16 {
                    sgemm(false, true, K, C, perImage, 1, d + xi * st + b * perImage, nb * perImage,
                          v + xi * vs + b * perImage, nb * perImage, 0, wn + xi * plane, C)
                }
                var total = 0.0
                for kc in 0..<(K * C) {
                    let e = WinogradTiles.inverseWeightTransform(wn + kc, stride: plane)
                    total += Double(e.0 * e.0 + e.1 * e.1 + e.2 * e.2 + e.3 * e.3 + e.4 * e.4 + e.5 * e.5 + e.6 * e.6 + e.7 * e.7 + e.8 * e.8)
                }
                out[n0 + b] += Float(total)
            }
        }
    }

    /// dw[K, C, 3, 3] = the batch's weight gradient by Winograd run backwards (as
    /// ``winogradNorms(_:_:_:_:)``, the GEMMs over all the chunk's tiles at once):
    /// each worker accumulates Wn[ξ][K, C] over its chunks, the partials are summed, then
    /// dw = G^T Wn G.
    func winogradBackwardWeight(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dw: UnsafeMutablePointer<Float>,
                                _ g: Conv2DGeometry) {
        let C = g.inChannels, K = g.outChannels, plane = K * C + 16, perImage = WinogradTiles(g).perImage
        guard g.batch > 0 else { return dw.update(repeating: 0, count: K * C * 9) }
        for s in partials { _ = s.reserve(16 * plane) }
        var started = [Bool](repeating: false, count: workers)   // a worker's partial holds a sum
        started.withUnsafeMutableBufferPointer { started in
            winogradGradientTiles(x, dy, g) { worker, _, nb, d, st, v, vs in
                let wn = partials[worker].pointer
                let T = nb * perImage
                for xi in 0..<16 {
                    sgemm(false, true, K, C, T, 1, d + xi * st, T, v + xi * vs, T, started[worker] ? 1 : 0, wn + xi * plane, C)
                }
                started[worker] = true
            }
        }
        let sums = partials[0].pointer                       // worker 0 always has images
        let others = (1..<workers).filter { started[$0] }
        split(K * C, grain: 1 << 12) { _, range in
            for kc in range {
                for worker in others {
                    let p = partials[worker].pointer
                    for xi in 0..<16 { sums[xi * plane + kc] += p[xi * plane + kc] }
                }
                let e = WinogradTiles.inverseWeightTransform(sums + kc, stride: plane)
                let w = dw + kc * 9
                w[0] = e.0; w[1] = e.1; w[2] = e.2; w[3] = e.3; w[4] = e.4; w[5] = e.5; w[6] = e.6; w[7] = e.7; w[8] = e.8
            }
        }
    }

    /// Runs `body(worker, n0, nb, D, D's block stride, V, V's block stride)` for each chunk of
    /// images with D[ξ][K, T] = (A dY_t A^T)[ξ] and V[ξ][C, T] = (B^T d_t B)[ξ], T = nb * tiles per image.
    private func winogradGradientTiles(
        _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ g: Conv2DGeometry,
        _ body: (Int, Int, Int, UnsafePointer<Float>, Int, UnsafePointer<Float>, Int) -> Void) {
        let tiles = WinogradTiles(g)
        let C = g.inChannels, K = g.outChannels
        for s in scratch { _ = s.reserve(tiles.scratchFloats(C, K)) }
        forEachChunk(g.batch, chunk: tiles.chunk) { worker, n0, nb in
            let T = nb * tiles.perImage
            let vs = WinogradTiles.blockStride(C, T), st = WinogradTiles.blockStride(K, T)
            let v = scratch[worker].pointer                  // V[16][C, T]
            let d = v + 16 * vs                              // D[16][K, T]
            tiles.transformInput(x, channels: C, n0: n0, count: nb, into: v, rows: d + 16 * st)
            tiles.transformOutputGradient(dy, channels: K, n0: n0, count: nb, into: d, rows: d + 16 * st)
            body(worker, n0, nb, d, st, v, vs)
        }
    }
}

/// The 2x2 output tiling of a 3x3 stride-1 convolution's planes, and the input transform.
struct WinogradTiles {
    let batch: Int
    /// Input planes, read with `padding` zero pixels on every side.
    let inHeight: Int, inWidth: Int, padding: Int
    /// Output planes (`in + 2 padding - 2` on each side), tiled in `tile` x `tile` tiles.
    let height: Int, width: Int
    /// The output tile's side: 2 for F(2x2, 3x3), 4 for F(4x4, 3x3) (CPUWinograd4.swift).
    let tile: Int
    /// Tile rows and columns of an output plane (the last ones partial unless a side is a
    /// multiple of `tile`).
    let rows: Int, columns: Int
    /// Images per chunk (about ``CPUDevice/winogradTilesPerChunk`` tiles).
    let chunk: Int

    /// Whether F(2x2, 3x3) computes `g` (and, through ``init(adjointOf:)``, its backward):
    /// 3x3 kernel, stride 1, padding 0, 1 or 2.
    static func fits(_ g: Conv2DGeometry) -> Bool { g.kernel == 3 && g.stride == 1 && g.padding <= 2 }

    /// The forward's tiling: `g`'s input, padding and output.
    init(_ g: Conv2DGeometry, tile: Int = 2) {
        self.init(batch: g.batch, input: (g.height, g.width), padding: g.padding, output: (g.outHeight, g.outWidth), tile: tile)
    }

    /// The backward-data pass's tiling: `g`'s output gradient in, padding `2 - p`, `g`'s input size out.
    init(adjointOf g: Conv2DGeometry, tile: Int = 2) {
        self.init(batch: g.batch, input: (g.outHeight, g.outWidth), padding: 2 - g.padding, output: (g.height, g.width), tile: tile)
    }

    private init(batch: Int, input: (Int, Int), padding: Int, output: (Int, Int), tile: Int) {
        precondition(padding >= 0 && padding <= 2 && output.0 == input.0 + 2 * padding - 2 && output.1 == input.1 + 2 * padding - 2,
                     "WinogradTiles: a 3x3 stride-1 convolution with padding 0...2")
        precondition(tile == 2 || tile == 4, "WinogradTiles: F(2x2, 3x3) or F(4x4, 3x3)")
        self.batch = batch; inHeight = input.0; inWidth = input.1; self.padding = padding
        height = output.0; width = output.1; self.tile = tile
        rows = (height + tile - 1) / tile; columns = (width + tile - 1) / tile
        chunk = max(1, min(batch, CPUDevice.winogradTilesPerChunk / (rows * columns)))
    }

    var perImage: Int { rows * columns }
    /// Tile columns rounded up to whole groups of four (the input transform's vector width).
    var vectorColumns: Int { (columns + 3) & ~3 }
    /// A padded row of the input rows' combinations: the columns the tiles of whole groups
    /// of four read (the group at j: tile x j ..< tile x (j + 4) + 2, so tile x
    /// (vectorColumns + 1) in all, at least padding + input width + padding, as the output
    /// is input + 2 padding - 2 wide); zero beyond the input.
    var rowWidth: Int { tile * (vectorColumns + 1) }
    /// Floats of row scratch the transforms need: the tile + 2 combinations of an input
    /// tile row and a zero input row (F(2x2)'s output-gradient transform: three rows of
    /// 2 x columns).
    var rowScratch: Int { (tile + 3) * rowWidth }
    /// Values per transformed tile, the GEMMs per chunk: (tile + 2)^2.
    var blocks: Int { (tile + 2) * (tile + 2) }

    /// Floats between the 16 blocks [rows, T] of V, M or D: one cache line more than the
    /// block, so the 16 streams a transform reads or writes at once do not share cache
    /// sets (blocks a power of two apart did: the output-gradient transform ran 4x slower).
    static func blockStride(_ rows: Int, _ T: Int) -> Int { rows * T + 16 }

    /// Scratch floats for V [blocks][Ci, T] and M [blocks][Co, T] of a chunk, plus row scratch.
    func scratchFloats(_ Ci: Int, _ Co: Int) -> Int {
        let T = chunk * perImage
        return blocks * (WinogradTiles.blockStride(Ci, T) + WinogradTiles.blockStride(Co, T)) + rowScratch
    }

    /// Zeroes the border columns of the tile + 2 combination rows at `scratch` (``rowWidth``
    /// apart; the transforms write only the input's columns) and the zero input row after
    /// them, which it returns.
    func clearRowBorders(_ scratch: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
        let W = inWidth, pad = padding
        for a in 0..<(tile + 2) {
            let s = scratch + a * rowWidth
            s.update(repeating: 0, count: pad)
            (s + pad + W).update(repeating: 0, count: rowWidth - pad - W)
        }
        let zeros = scratch + (tile + 2) * rowWidth
        zeros.update(repeating: 0, count: W)
        return UnsafePointer(zeros)
    }

    /// V[ξ][c, t] = (B^T d B)[ξ] (block ξ at ξ * ``blockStride(_:_:)``) for every channel c and tile t of images n0 ..< n0+nb of
    /// x[C, N, H, W] (the input planes), t = b * perImage + i * columns + j; `rows`: ``rowScratch`` floats. F(2x2) tiles.
    func transformInput(_ x: UnsafePointer<Float>, channels C: Int, n0: Int, count nb: Int,
                        into v: UnsafeMutablePointer<Float>, rows scratch: UnsafeMutablePointer<Float>) {
        precondition(tile == 2, "transformInput: F(2x2, 3x3) tiles")
        let H = inHeight, W = inWidth, pad = padding, N = batch, T = nb * perImage, rowWidth = rowWidth
        let vs = WinogradTiles.blockStride(C, T)
        let zeros = clearRowBorders(scratch)                // one zero input row
        for c in 0..<C {
            for b in 0..<nb {
                let plane = x + (c * N + n0 + b) * H * W
                for i in 0..<rows {
                    // input rows 2i-p ... 2i+3-p read in place (a zero row outside the plane);
                    // row combinations of B^T: s0 = d0 - d2, s1 = d1 + d2, s2 = d2 - d1, s3 = d1 - d3,
                    // at padded column q = input column q - p (zero at q < p and q >= p + W)
                    @inline(__always) func row(_ h: Int) -> UnsafePointer<Float> { h >= 0 && h < H ? plane + h * W : zeros }
                    let d0 = row(2 * i - pad), d1 = row(2 * i + 1 - pad), d2 = row(2 * i + 2 - pad), d3 = row(2 * i + 3 - pad)
                    let s0 = scratch, s1 = s0 + rowWidth, s2 = s1 + rowWidth, s3 = s2 + rowWidth
                    let t0p = s0 + pad, t1p = s1 + pad, t2p = s2 + pad, t3p = s3 + pad
                    var q = 0
                    while q + 4 <= W {
                        let e0 = load4(d0 + q), e1 = load4(d1 + q), e2 = load4(d2 + q), e3 = load4(d3 + q)
                        store4(t0p + q, e0 - e2); store4(t1p + q, e1 + e2)
                        store4(t2p + q, e2 - e1); store4(t3p + q, e1 - e3)
                        q += 4
                    }
                    while q < W {
                        t0p[q] = d0[q] - d2[q]; t1p[q] = d1[q] + d2[q]
                        t2p[q] = d2[q] - d1[q]; t3p[q] = d1[q] - d3[q]
                        q += 1
                    }
                    // column combinations (times B), stored at V[a*4 + col][c, t]
                    let t0 = b * perImage + i * columns
                    for a in 0..<4 {
                        let s = s0 + a * rowWidth
                        let v0 = v + (a * 4 + 0) * vs + c * T + t0, v1 = v + (a * 4 + 1) * vs + c * T + t0
                        let v2 = v + (a * 4 + 2) * vs + c * T + t0, v3 = v + (a * 4 + 3) * vs + c * T + t0
                        // four tiles at a time: lanes e0 = s[2j], s[2j+2], ... are the even half of s[2j ..< 2j+8].
                        // A last group past `columns` (up to 3 tiles) computes from the zeroed row end and
                        // stores into the next tile row's first tiles, the next image's or channel's (all
                        // written later in this loop), or the block's padding (``blockStride(_:_:)``).
                        var j = 0
                        while j < columns {
                            let lo = load8(s + 2 * j), hi = load8(s + 2 * j + 2)
                            let e = WinogradTile.inputColumns(lo.evenHalf, lo.oddHalf, hi.evenHalf, hi.oddHalf)
                            store4(v0 + j, e.0); store4(v1 + j, e.1); store4(v2 + j, e.2); store4(v3 + j, e.3)
                            j += 4
                        }
                    }
                }
            }
        }
    }

    /// D[ξ][k, t] = (A dY_t A^T)[ξ] (block ξ at ξ * ``blockStride(_:_:)``) for every channel k
    /// and 2x2 tile t of images n0 ..< n0+nb of dy[K, N, H, W] (the output planes; zero beyond an odd side);
    /// `rows`: ``rowScratch`` floats (``WinogradTile/outputGradient(_:_:_:_:_:)`` per tile).
    func transformOutputGradient(_ dy: UnsafePointer<Float>, channels K: Int, n0: Int, count nb: Int,
                                 into d: UnsafeMutablePointer<Float>, rows scratch: UnsafeMutablePointer<Float>) {
        let H = height, W = width, N = batch, T = nb * perImage, st = WinogradTiles.blockStride(K, T)
        // dY rows read in place when W is even (whole tiles), else through padded copies;
        // a zero row below an odd H
        let width = 2 * columns
        let zeros = scratch + 2 * width
        zeros.update(repeating: 0, count: width)
        let pad0 = scratch, pad1 = scratch + width
        for k in 0..<K {
            for b in 0..<nb {
                let plane = dy + (k * N + n0 + b) * H * W
                for i in 0..<rows {
                    var r0 = plane + 2 * i * W
                    var r1 = 2 * i + 1 < H ? plane + (2 * i + 1) * W : UnsafePointer(zeros)
                    if W != width {
                        pad0.update(from: r0, count: W); pad0[W] = 0; r0 = UnsafePointer(pad0)
                        if 2 * i + 1 < H { pad1.update(from: r1, count: W); pad1[W] = 0; r1 = UnsafePointer(pad1) }
                    }
                    let t = d + k * T + b * perImage + i * columns   // D[ξ][k, t + j] = t[ξ * st + j]
                    // four tiles at a time: y00 lanes are the even half of r0[2j ..< 2j+8], y01 the odd half
                    var j = 0
                    while j + 4 <= columns {
                        let top = load8(r0 + 2 * j), low = load8(r1 + 2 * j)
                        WinogradTile.outputGradient(top.evenHalf, top.oddHalf, low.evenHalf, low.oddHalf) { xi, value in
                            store4(t + xi * st + j, value)
                        }
                        j += 4
                    }
                    while j < columns {
                        WinogradTile.outputGradient(r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]) { xi, value in
                            t[xi * st + j] = value
                        }
                        j += 1
                    }
                }
            }
        }
    }

    /// G^T w G (3x3, row-major) of the 4x4 values w[ξ * stride], ξ = 4 * row + column, with
    /// G^T = [1 1/2 1/2 0; 0 1/2 -1/2 0; 0 1/2 1/2 1]: a 4-vector (c0, c1, c2, c3) becomes
    /// (c0 + (c1+c2)/2, (c1-c2)/2, (c1+c2)/2 + c3), first along each row, then down each column.
    @inline(__always)
    static func inverseWeightTransform(_ w: UnsafePointer<Float>, stride: Int)
        -> (Float, Float, Float, Float, Float, Float, Float, Float, Float) {
        @inline(__always) func reduce(_ c0: Float, _ c1: Float, _ c2: Float, _ c3: Float) -> (Float, Float, Float) {
            (c0 + 0.5 * (c1 + c2), 0.5 * (c1 - c2), 0.5 * (c1 + c2) + c3)
        }
        let r0 = reduce(w[0], w[stride], w[2 * stride], w[3 * stride])
        let r1 = reduce(w[4 * stride], w[5 * stride], w[6 * stride], w[7 * stride])
        let r2 = reduce(w[8 * stride], w[9 * stride], w[10 * stride], w[11 * stride])
        let r3 = reduce(w[12 * stride], w[13 * stride], w[14 * stride], w[15 * stride])
        let c0 = reduce(r0.0, r1.0, r2.0, r3.0), c1 = reduce(r0.1, r1.1, r2.1, r3.1), c2 = reduce(r0.2, r1.2, r2.2, r3.2)
        return (c0.0, c1.0, c2.0, c0.1, c1.1, c2.1, c0.2, c1.2, c2.2)
    }
}

/// Values the tile formulas run on: one tile (`Float`) or four neighbouring tiles
/// (`SIMD4<Float>`), so the vector loops and their scalar tails share one formula.
protocol TileLanes {
    static func + (a: Self, b: Self) -> Self
    static func - (a: Self, b: Self) -> Self
    static prefix func - (a: Self) -> Self
}
extension Float: TileLanes {}
extension SIMD4: TileLanes where Scalar == Float {}

/// The per-tile formulas of F(2x2, 3x3) (matrices in the comment at the top of this file).
enum WinogradTile {
    /// One row of a 4x4 tile times B: (e0 - e2, e1 + e2, e2 - e1, e1 - e3).
    @inline(__always)
    static func inputColumns<T: TileLanes>(_ e0: T, _ e1: T, _ e2: T, _ e3: T) -> (T, T, T, T) {
        (e0 - e2, e1 + e2, e2 - e1, e1 - e3)
    }

    /// y = A^T M A of a tile from its 16 values m(ξ), ξ = 4 * row + column: (y00, y01, y10, y11).
    /// The rows of A^T M are m(c) + m(4+c) + m(8+c) and m(4+c) - m(8+c) - m(12+c) per column c.
    @inline(__always)
    static func output<T: TileLanes>(_ m: (Int) -> T) -> (T, T, T, T) {
        let a0 = m(0) + m(4) + m(8), a1 = m(1) + m(5) + m(9), a2 = m(2) + m(6) + m(10), a3 = m(3) + m(7) + m(11)
        let b0 = m(4) - m(8) - m(12), b1 = m(5) - m(9) - m(13), b2 = m(6) - m(10) - m(14), b3 = m(7) - m(11) - m(15)
        return (a0 + a1 + a2, a1 - a2 - a3, b0 + b1 + b2, b1 - b2 - b3)
    }

    /// A dY A^T of a 2x2 output-gradient tile, given to `put(ξ, value)`. With
    /// A = [1 0; 1 1; 1 -1; 0 -1] the rows of A dY are (y00, y01), (y00+y10, y01+y11),
    /// (y00-y10, y01-y11), (-y10, -y11), and a row (u0, u1) times A^T is (u0, u0+u1, u0-u1, -u1).
    @inline(__always)
    static func outputGradient<T: TileLanes>(_ y00: T, _ y01: T, _ y10: T, _ y11: T, _ put: (Int, T) -> Void) {
        @inline(__always) func row(_ a: Int, _ u0: T, _ u1: T) {
            put(4 * a, u0); put(4 * a + 1, u0 + u1); put(4 * a + 2, u0 - u1); put(4 * a + 3, -u1)
        }
        row(0, y00, y01)
        row(1, y00 + y10, y01 + y11)
        row(2, y00 - y10, y01 - y11)
        row(3, -y10, -y11)
    }
}
