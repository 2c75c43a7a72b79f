// Convolutions as implicit GEMMs (the tiled core of tiles.cl, prepended) on channel-major
// activations x[C, N, H, W], output gradients dy[K, N, P, Q] and weights w[K, C, R, R]:
//
//   conv_forward          y[K, N*PQ]   = w[K, CRS] * cols[CRS, N*PQ]
//   conv_backward_weight  dw[K, CRS]   = dy[K, N*PQ] * cols^T
//   conv_backward_data    dx[C, N*HW]  = w^T gathered [C, K*RR] * dy gathered [K*RR, N*HW], by stride phases
//   conv_norms_explicit   per example i of a chunk: sum of squares of dw_i[K, CRS] = G_i A_i^T
//   conv_norms_ghost      per example i of a chunk: <A_i^T A_i, G_i^T G_i>, both [PQ, PQ]
//   sum_partials          norms[n0 + b] += the per-tile partial sums of example b
//
// cols is the im2col matrix (row crs = (c*R + r)*R + s, column j = (n*P + p)*Q + q) and is never
// formed: tile loads gather it from x. Its index math splits into a per-row and a per-column
// part, each decoded once per tile (not per element) into a local table of int4 entries:
//   patch crs -> (offset of x[c, 0, r, s], r, s)
//   pixel j   -> (offset of x[0, n, ih0, iw0], ih0, iw0)     ih0 = p*stride - pad, iw0 = q*stride - pad
//   cols[crs, j] = x[patch.x + pixel.x]  if 0 <= ih0 + r < H and 0 <= iw0 + s < W, else 0 (padding).
// A_i = cols[:, i*PQ .. (i+1)*PQ) is example i's [CRS, PQ] block, G_i = dy[:, i, :, :] its [K, PQ].
// The per-example kernels run one launch per chunk of nb examples: work-group row g1 is
// (example b = g1 / tilesM, tile row g1 % tilesM), and each group writes one partial sum,
// partials[g1 * get_num_groups(0) + g0] (example b's are contiguous), reduced by sum_partials:
// no float atomics, the result does not depend on scheduling.

/// The geometry arguments of every convolution kernel.
#define CONV_GEOMETRY const int C, const int N, const int H, const int W, const int K, const int R, \
                      const int stride, const int pad, const int P, const int Q

/// Patch row crs = (c*R + r)*R + s of cols: (offset of x[c, 0, r, s], r, s).
int4 patch_entry(const int crs, const int N, const int H, const int W, const int R) {
    const int c = crs / (R * R), rs = crs - c * R * R, r = rs / R, s = rs - r * R;
    return (int4)((c * N * H + r) * W + s, r, s, 0);
}

/// Pixel column j = (n*P + p)*Q + q of cols: (offset of x[0, n, ih0, iw0], ih0, iw0), the
/// window's corner ih0 = p*stride - pad, iw0 = q*stride - pad (may lie in the padding).
int4 pixel_entry(const int j, const int H, const int W, const int stride, const int pad, const int P, const int Q) {
    const int n = j / (P * Q), pq = j - n * P * Q, p = pq / Q, q = pq - p * Q;
    const int ih0 = p * stride - pad, iw0 = q * stride - pad;
    return (int4)((n * H + ih0) * W + iw0, ih0, iw0, 0);
}

/// cols[crs, j] from the two entries: x[c, n, ih0 + r, iw0 + s], 0 in the padding.
float im2col_at(__global const float* x, const int4 patch, const int4 pixel, const int H, const int W) {
    const int ih = pixel.y + patch.y, iw = pixel.z + patch.z;
    return ((uint)ih < (uint)H && (uint)iw < (uint)W) ? x[patch.x + pixel.x] : 0.0f;
}

// The transposed convolution (conv_backward_data) by phases: input pixel h is read by taps r
// with r = (h + pad) mod stride (+ multiples of stride) only, so the pixels of one phase
// (fh, fw) = ((h + pad) mod stride, (w + pad) mod stride) form a dense GEMM over their own taps
// r = fh + i*stride (i < th), s = fw + j*stride (j < tw), reading dy[k, n, p0 - i, q0 - j] with
// p0 = (h + pad - fh) / stride: no tap that cannot contribute, no division per element.
// stride 1 is one phase with every tap (p0 = h + pad, i = r).

/// One axis of a phase: its first input pixel h0, its pixel count and its tap count.
int3 phase_axis(const int f, const int H, const int R, const int stride, const int pad) {
    const int h0 = ((f - pad) % stride + stride) % stride;
    return (int3)(h0, h0 < H ? (H - h0 + stride - 1) / stride : 0, f < R ? (R - f + stride - 1) / stride : 0);
}

/// Tap kd = (k*th + i)*tw + j of a phase: (offset of dy[k, 0, -i, -j], i, j, offset of w[k, 0, r, s]).
int4 tap_entry(const int kd, const int fh, const int fw, const int th, const int tw,
               const int C, const int N, const int R, const int stride, const int P, const int Q) {
    const int k = kd / (th * tw), ij = kd - k * th * tw, i = ij / tw, j = ij - i * tw;
    const int r = fh + i * stride, s = fw + j * stride;
    return (int4)(k * N * P * Q - i * Q - j, i, j, k * C * R * R + r * R + s);
}

/// Pixel j = (n*hn + hh)*wn + ww of a phase, h = h0 + hh*stride, w = w0 + ww*stride:
/// (offset of dy[0, n, p0, q0], p0, q0, offset of dx[0, n, h, w]).
int4 phase_pixel_entry(const int j, const int3 ah, const int3 aw, const int fh, const int fw,
                       const int H, const int W, const int stride, const int pad, const int P, const int Q) {
    const int n = j / (ah.y * aw.y), hw = j - n * ah.y * aw.y, hh = hw / aw.y, ww = hw - hh * aw.y;
    const int h = ah.x + hh * stride, w = aw.x + ww * stride;
    const int p0 = (h + pad - fh) / stride, q0 = (w + pad - fw) / stride;
    return (int4)((n * P + p0) * Q + q0, p0, q0, (n * H + h) * W + w);
}

/// dy[k, n, p0 - i, q0 - j], 0 outside the output.
float col2im_at(__global const float* dy, const int4 tap, const int4 pixel, const int P, const int Q) {
    const int p = pixel.y - tap.y, q = pixel.z - tap.z;
    return ((uint)p < (uint)P && (uint)q < (uint)Q) ? dy[tap.x + pixel.x] : 0.0f;
}

// The entries of index i, with the kernel's geometry arguments.
#define PATCH(i) patch_entry(i, N, H, W, R)
#define PIXEL(i) pixel_entry(i, H, W, stride, pad, P, Q)
#define TAP(i) tap_entry(i, fh, fw, ah.z, aw.z, C, N, R, stride, P, Q)
#define PHASE_PIXEL(i) phase_pixel_entry(i, ah, aw, fh, fw, H, W, stride, pad, P, Q)

/// TABLE[i] = ENTRY(FIRST + i) for i < COUNT, then a barrier. Entries past the matrix's edge
/// are decoded too (harmless arithmetic) and never read.
#define FILL_TABLE(TABLE, COUNT, FIRST, ENTRY) \
    for (int i_ = tid; i_ < (COUNT); i_ += THREADS) TABLE[i_] = ENTRY((FIRST) + i_); \
    barrier(CLK_LOCAL_MEM_FENCE)

// cols gathers: (row or depth) from a patch table, (column or depth) from a pixel table.
#define COLS_K_BY_COL(k, col, lk, lc) im2col_at(x, patchT[lk], pixelT[lc], H, W)    // cols[k, col]
#define COLS_COL_BY_K(k, col, lk, lc) im2col_at(x, patchT[lc], pixelT[lk], H, W)    // cols[col, k]

/// y[K, N*PQ] = w[K, CRS] * cols[CRS, N*PQ]. Global size (ceil(N*PQ / TSN) * RTSN, ceil(K / TSM) * RTSM).
GEMM_KERNEL conv_forward(__global const float* x, __global const float* w, __global float* y, CONV_GEOMETRY) {
    GEMM_DECLARE;
    __local int4 patchT[TSK], pixelT[TSN];
    const int row0 = get_group_id(1) * TSM, col0 = get_group_id(0) * TSN;
    const int CRS = C * R * R, NPQ = N * P * Q;
    FILL_TABLE(pixelT, TSN, col0, PIXEL);
#define SLICE(t) FILL_TABLE(patchT, TSK, t, PATCH)
#define W_AT(row, k, lr, lk) w[(row) * CRS + (k)]
#define Y_STORE(row, col, v) y[(row) * NPQ + (col)] = (v)
    GEMM_ACCUMULATE(K, NPQ, CRS, row0, col0, SLICE, W_AT, COLS_K_BY_COL)
    GEMM_STORE(K, NPQ, row0, col0, Y_STORE)
#undef SLICE
#undef W_AT
#undef Y_STORE
}

/// dw[K, CRS] = dy[K, N*PQ] * cols^T (overwrites). Global size (ceil(CRS / TSN) * RTSN, ceil(K / TSM) * RTSM).
GEMM_KERNEL conv_backward_weight(__global const float* x, __global const float* dy, __global float* dw, CONV_GEOMETRY) {
    GEMM_DECLARE;
    __local int4 patchT[TSN], pixelT[TSK];
    const int row0 = get_group_id(1) * TSM, col0 = get_group_id(0) * TSN;
    const int CRS = C * R * R, NPQ = N * P * Q;
    FILL_TABLE(patchT, TSN, col0, PATCH);
#define SLICE(t) FILL_TABLE(pixelT, TSK, t, PIXEL)
#define DY_AT(row, k, lr, lk) dy[(row) * NPQ + (k)]
#define DW_STORE(row, col, v) dw[(row) * CRS + (col)] = (v)
    GEMM_ACCUMULATE(K, CRS, NPQ, row0, col0, SLICE, DY_AT, COLS_COL_BY_K)
    GEMM_STORE(K, CRS, row0, col0, DW_STORE)
#undef SLICE
#undef DY_AT
#undef DW_STORE
}

/// dx[c, n, h, w] = sum over k, r, s of w[k, c, r, s] * dy[k, n, (h + pad - r) / stride, (w + pad - s) / stride]
/// where divisible and in range (the transposed convolution, gathered: no atomics; overwrites),
/// one GEMM per phase, all phases in one launch: work-group row g1 is (phase g1 / tilesM, tile row).
/// A phase's GEMM is [C, K*th*tw] x [K*th*tw, N*hn*wn]; a phase without taps (stride > R) stores 0.
/// Global size (ceil(N * ceil(H / stride) * ceil(W / stride) / TSN) * RTSN, stride^2 * ceil(C / TSM) * RTSM).
GEMM_KERNEL conv_backward_data(__global const float* dy, __global const float* w, __global float* dx, CONV_GEOMETRY) {
    GEMM_DECLARE;
    __local int4 tapT[TSK], pixelT[TSN];
    const int tilesM = (C + TSM - 1) / TSM, phase = get_group_id(1) / tilesM;
    const int row0 = (get_group_id(1) - phase * tilesM) * TSM, col0 = get_group_id(0) * TSN;
    const int fh = phase / stride, fw = phase - fh * stride;
    const int3 ah = phase_axis(fh, H, R, stride, pad), aw = phase_axis(fw, W, R, stride, pad);
    const int columns = N * ah.y * aw.y, depth = K * ah.z * aw.z, NHW = N * H * W;
    if (col0 >= columns) return;   // the whole group (phases differ in size by a row or column)
    FILL_TABLE(pixelT, TSN, col0, PHASE_PIXEL);
#define SLICE(t) FILL_TABLE(tapT, TSK, t, TAP)
#define WT_AT(row, k, lr, lk) w[tapT[lk].w + (row) * R * R]
#define DY_AT(k, col, lk, lc) col2im_at(dy, tapT[lk], pixelT[lc], P, Q)
#define DX_STORE(row, col, v) dx[(row) * NHW + pixelT[(col) - col0].w] = (v)
    GEMM_ACCUMULATE(C, columns, depth, row0, col0, SLICE, WT_AT, DY_AT)
    GEMM_STORE(C, columns, row0, col0, DX_STORE)
#undef SLICE
#undef WT_AT
#undef DY_AT
#undef DX_STORE
}

/// The per-example kernels' place: example b of the chunk, the tile's first row and column,
/// the example's first column of cols / dy (FIRST), and OUT, the group's partial sum.
#define EXAMPLE_TILE(M_) \
    const int PQ = P * Q, NPQ = N * PQ; \
    const int tilesM = ((M_) + TSM - 1) / TSM, b = get_group_id(1) / tilesM, FIRST = (n0 + b) * PQ; \
    const int row0 = (get_group_id(1) - b * tilesM) * TSM, col0 = get_group_id(0) * TSN; \
    __global float* OUT = partials + get_group_id(1) * get_num_groups(0) + get_group_id(0)

/// Explicit per-example norms, one launch per chunk of examples n0..n0+nb: the group's tile of
/// dw_i[K, CRS] = G_i[K, PQ] * A_i^T, never stored: *OUT = its sum of squares.
/// Global size (ceil(CRS / TSN) * RTSN, nb * ceil(K / TSM) * RTSM).
GEMM_KERNEL conv_norms_explicit(__global const float* x, __global const float* dy, __global float* partials,
                                CONV_GEOMETRY, const int n0) {
    GEMM_DECLARE;
    __local int4 patchT[TSN], pixelT[TSK];
    __local float sums[THREADS];
    EXAMPLE_TILE(K);
    const int CRS = C * R * R;
    FILL_TABLE(patchT, TSN, col0, PATCH);
#define SLICE(t) FILL_TABLE(pixelT, TSK, FIRST + (t), PIXEL)
#define G_AT(row, k, lr, lk) dy[(row) * NPQ + FIRST + (k)]
    GEMM_ACCUMULATE(K, CRS, PQ, row0, col0, SLICE, G_AT, COLS_COL_BY_K)
#undef SLICE
#undef G_AT
    float s = 0.0f;   // outside the matrix acc is 0
    for (int i = 0; i < WPTM; i++) for (int j = 0; j < WPTN; j++) s += acc[i][j] * acc[i][j];
    GROUP_SUM_STORE(sums, s, *OUT)
}

/// Ghost per-example norms, one launch per chunk of examples: the group's tile (rows u, columns v)
/// of both Gram matrices G_i^T G_i and A_i^T A_i ([PQ, PQ], never stored), and
/// *OUT = sum over the tile of weight(u, v) * (G_i^T G_i)[u, v] * (A_i^T A_i)[u, v]. Both are
/// symmetric, so only the upper triangle is computed: weight 2 above the diagonal, 1 on it, and
/// tiles wholly below it write 0 and stop. Global size (ceil(PQ / TSN) * RTSN, nb * ceil(PQ / TSM) * RTSM).
GEMM_KERNEL conv_norms_ghost(__global const float* x, __global const float* dy, __global float* partials,
                             CONV_GEOMETRY, const int n0) {
    GEMM_DECLARE;
    __local int4 patchT[TSK], pixelRows[TSM], pixelT[TSN];
    __local float sums[THREADS];
    EXAMPLE_TILE(PQ);
    if (row0 >= col0 + TSN) {   // the whole group leaves (before any barrier)
        if (tid == 0) *OUT = 0.0f;
        return;
    }
    const int CRS = C * R * R;
    // G_i^T G_i: op(A)[u, k] = op(B)[k, u] = dy[k, i, u]
#define GT_AT(row, k, lr, lk) dy[(k) * NPQ + FIRST + (row)]
#define G_AT(k, col, lk, lc) dy[(k) * NPQ + FIRST + (col)]
    GEMM_ACCUMULATE(PQ, PQ, K, row0, col0, GEMM_NO_SETUP, GT_AT, G_AT)
#undef GT_AT
#undef G_AT
    float gram[WPTM][WPTN];
    for (int i = 0; i < WPTM; i++) for (int j = 0; j < WPTN; j++) { gram[i][j] = acc[i][j]; acc[i][j] = 0.0f; }
    // A_i^T A_i: op(A)[u, crs] = op(B)[crs, u] = cols[crs, FIRST + u]
    FILL_TABLE(pixelRows, TSM, FIRST + row0, PIXEL);
    FILL_TABLE(pixelT, TSN, FIRST + col0, PIXEL);
#define SLICE(t) FILL_TABLE(patchT, TSK, t, PATCH)
#define AT_AT(row, k, lr, lk) im2col_at(x, patchT[lk], pixelRows[lr], H, W)
    GEMM_ACCUMULATE(PQ, PQ, CRS, row0, col0, SLICE, AT_AT, COLS_K_BY_COL)
#undef SLICE
#undef AT_AT
    float s = 0.0f;   // outside the matrix both are 0
    for (int i = 0; i < WPTM; i++) {
        const int u = row0 + ty + i * RTSM;
        for (int j = 0; j < WPTN; j++) {
            const int v = col0 + tx + j * RTSN;
            s += (u < v ? 2.0f : u == v ? 1.0f : 0.0f) * acc[i][j] * gram[i][j];
        }
    }
    GROUP_SUM_STORE(sums, s, *OUT)
}

/// norms[n0 + b] += sum of partials[b * tiles .. (b + 1) * tiles), one work-group per example b
/// of the chunk (a power-of-two group size), summed in a fixed order.
__kernel void sum_partials(__global const float* partials, const int tiles, __global float* norms, const int n0,
                           __local float* scratch) {
    const int b = get_group_id(0), lid = get_local_id(0), size = get_local_size(0);
    float s = 0.0f;
    for (int t = lid; t < tiles; t += size) s += partials[b * tiles + t];
    scratch[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int step = size / 2; step > 0; step >>= 1) {
        if (lid < step) scratch[lid] += scratch[lid + step];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) norms[n0 + b] += scratch[0];
}
