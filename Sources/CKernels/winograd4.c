// Winograd F(4x4, 3x3) on AVX2 + FMA (CKernels.h): the input transform, 8 tiles per
// vector, and the 36 tile-position products fused with the output transform.
// Kernels/CPUWinograd4.swift has the matrices and the portable path (the transforms in
// 4-lane Swift, 36 sgemm calls into a chunk-sized M between them), which these replace on
// CPUs with the instructions. The transforms do the same operations in the same order as
// the Swift ones (the input transform's V is equal to the bit; tested).
//
// Input transform, per image and channel: B^T down the columns of each tile row's six
// input rows (8 columns per vector) into row scratch, then B^T along the rows, 8 tiles at
// a time in tile order (two in-lane 4x4 transposes gather each tile's 6 columns).
//
// Per group of 16 tiles (two AVX vectors, one lane per tile), tile position ξ by tile
// position, 4 output channels at a time:
//   acc[k][ξ] = sum_c U[ξ][k, c] * V[ξ][c, g..g+15]     8 FMA chains
//   then per channel and 8 tiles: A^T M A on the 36 vectors (lane = tile), the epilogue,
//   and a 4x8 transpose per output row to write each tile's 4 values.
// The group's V[ξ] (inputs x 16 floats) stays in L1 across the output channels; M exists
// only for the group (outputs x 36 x 16 floats of scratch), never for the chunk.
#include "CKernels.h"

#include <immintrin.h>

// A product, then a sum, as the Swift batch-norm op computes: never one rounding.
#pragma STDC FP_CONTRACT OFF

/// Tiles per group of the fused product: two AVX vectors.
#define GROUP 16

int sieve_winograd4_kernels_available(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

#if defined(__x86_64__) || defined(__i386__)

#define TARGET __attribute__((target("avx2,fma")))

/// A^T applied to six vectors (CPUWinograd4.swift, Winograd4Tile.outputColumn), in its order.
TARGET static inline void output_column(__m256 m0, __m256 m1, __m256 m2, __m256 m3, __m256 m4, __m256 m5,
                                        __m256 *o0, __m256 *o1, __m256 *o2, __m256 *o3) {
    const __m256 two = _mm256_set1_ps(2), four = _mm256_set1_ps(4), eight = _mm256_set1_ps(8);
    __m256 p = _mm256_add_ps(m1, m2), q = _mm256_sub_ps(m1, m2);
    __m256 r = _mm256_add_ps(m3, m4), t = _mm256_sub_ps(m3, m4);
    *o0 = _mm256_add_ps(_mm256_add_ps(m0, p), r);
    *o1 = _mm256_add_ps(q, _mm256_mul_ps(two, t));
    *o2 = _mm256_add_ps(p, _mm256_mul_ps(four, r));
    *o3 = _mm256_add_ps(_mm256_add_ps(q, _mm256_mul_ps(eight, t)), m5);
}

/// Where a group's tiles go: per lane, the offset of the tile's first value in a channel's
/// planes and its rows and columns inside the plane.
typedef struct {
    ptrdiff_t offset[GROUP];
    int rows[GROUP], columns[GROUP];
    int lanes;
    int whole;  // every lane a full 4x4 tile
} tile_group;

/// A^T M A for the 8 tiles of `m` (36 vectors, lane = tile), the epilogue of channel k, and
/// the tiles' rows written at `dst` (the channel's planes) for lanes `first` ..< `first` + 8 of `group`.
TARGET static void output_tiles(const float (*m)[GROUP], int half, const tile_group *group, float *dst,
                                int width, const float *scale, const float *shift, int relu, int k) {
    const int first = 8 * half;
    // z_b = A^T down column b of the 6x6 M; then A^T along each row r of z
    __m256 z[6][4];
    for (int b = 0; b < 6; b++)
        output_column(_mm256_loadu_ps(m[b] + first), _mm256_loadu_ps(m[6 + b] + first), _mm256_loadu_ps(m[12 + b] + first),
                      _mm256_loadu_ps(m[18 + b] + first), _mm256_loadu_ps(m[24 + b] + first), _mm256_loadu_ps(m[30 + b] + first),
                      &z[b][0], &z[b][1], &z[b][2], &z[b][3]);
    __m256 o[4][4];   // o[row][column], lane = tile
    for (int r = 0; r < 4; r++)
        output_column(z[0][r], z[1][r], z[2][r], z[3][r], z[4][r], z[5][r], &o[r][0], &o[r][1], &o[r][2], &o[r][3]);
    if (scale != NULL) {
        const __m256 s = _mm256_set1_ps(scale[k]), h = _mm256_set1_ps(shift[k]);
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++) o[r][c] = _mm256_add_ps(_mm256_mul_ps(o[r][c], s), h);
    }
    if (relu) {
        const __m256 zero = _mm256_setzero_ps();
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++) o[r][c] = _mm256_andnot_ps(_mm256_cmp_ps(o[r][c], zero, _CMP_LE_OQ), o[r][c]);
    }
    const int lanes = group->lanes - first < 8 ? group->lanes - first : 8;
    const ptrdiff_t *offset = group->offset + first;
    for (int r = 0; r < 4; r++) {
        // row r of tile l: lanes l of o[r][0..3]; 128-bit half h of q[l] holds tile 4h + l
        __m256 t0 = _mm256_unpacklo_ps(o[r][0], o[r][1]), t1 = _mm256_unpackhi_ps(o[r][0], o[r][1]);
        __m256 t2 = _mm256_unpacklo_ps(o[r][2], o[r][3]), t3 = _mm256_unpackhi_ps(o[r][2], o[r][3]);
        __m256 q[4] = {_mm256_shuffle_ps(t0, t2, 0x44), _mm256_shuffle_ps(t0, t2, 0xEE),
                       _mm256_shuffle_ps(t1, t3, 0x44), _mm256_shuffle_ps(t1, t3, 0xEE)};
        const ptrdiff_t row = (ptrdiff_t)r * width;
        if (group->whole) {
            for (int l = 0; l < 4; l++) {
                _mm_storeu_ps(dst + offset[l] + row, _mm256_castps256_ps128(q[l]));
                _mm_storeu_ps(dst + offset[l + 4] + row, _mm256_extractf128_ps(q[l], 1));
            }
            continue;
        }
        __attribute__((aligned(16))) float values[4];
        for (int l = 0; l < lanes; l++) {
            if (r >= group->rows[first + l]) continue;
            __m128 value = l < 4 ? _mm256_castps256_ps128(q[l]) : _mm256_extractf128_ps(q[l - 4], 1);
            float *d = dst + offset[l] + row;
            const int columns = group->columns[first + l];
            if (columns == 4) { _mm_storeu_ps(d, value); continue; }
            _mm_store_ps(values, value);
            for (int c = 0; c < columns; c++) d[c] = values[c];
        }
    }
}

TARGET static void product_output_avx2(const float *v, ptrdiff_t vs, int inputs, int tiles,
                                       const float *u, ptrdiff_t us, int outputs,
                                       float *y, ptrdiff_t channel_stride, int height, int width,
                                       int rows, int columns,
                                       const float *scale, const float *shift, int relu, float *acc) {
    const int per_image = rows * columns;
    const ptrdiff_t plane = (ptrdiff_t)height * width;
    for (int g = 0; g < tiles; g += GROUP) {
        tile_group group;
        group.lanes = tiles - g < GROUP ? tiles - g : GROUP;
        group.whole = group.lanes == GROUP;
        for (int l = 0; l < group.lanes; l++) {
            int t = g + l, b = t / per_image, r = t % per_image, i = r / columns, j = r % columns;
            group.offset[l] = b * plane + (ptrdiff_t)(4 * i) * width + 4 * j;
            group.rows[l] = height - 4 * i < 4 ? height - 4 * i : 4;
            group.columns[l] = width - 4 * j < 4 ? width - 4 * j : 4;
            if (group.rows[l] < 4 || group.columns[l] < 4) group.whole = 0;
        }
        // acc[k][ξ] = U[ξ][k, :] V[ξ][:, g ..< g + 16], tile position by tile position so the
        // group's V[ξ] (inputs x 16 floats) stays in L1 across all output channels: 8
        // independent FMA chains (4 channels x 2 vectors of tiles), 6 loads per 8 FMAs. Past
        // the last channel (kb < 4) the first row stands in; those sums are never stored.
        for (int xi = 0; xi < 36; xi++) {
            const float *vx = v + xi * vs + g;
            for (int k0 = 0; k0 < outputs; k0 += 4) {
                const int kb = outputs - k0 < 4 ? outputs - k0 : 4;
                const float *ux = u + xi * us + (ptrdiff_t)k0 * inputs;
                const float *u0 = ux, *u1 = kb > 1 ? ux + inputs : ux, *u2 = kb > 2 ? ux + 2 * inputs : ux;
                const float *u3 = kb > 3 ? ux + 3 * inputs : ux;
                __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
                for (int c = 0; c < inputs; c++) {
                    const float *vc = vx + (ptrdiff_t)c * tiles;
                    __m256 x = _mm256_loadu_ps(vc), w = _mm256_loadu_ps(vc + 8);
                    __m256 s0 = _mm256_broadcast_ss(u0 + c), s1 = _mm256_broadcast_ss(u1 + c);
                    __m256 s2 = _mm256_broadcast_ss(u2 + c), s3 = _mm256_broadcast_ss(u3 + c);
                    a0 = _mm256_fmadd_ps(s0, x, a0); b0 = _mm256_fmadd_ps(s0, w, b0);
                    a1 = _mm256_fmadd_ps(s1, x, a1); b1 = _mm256_fmadd_ps(s1, w, b1);
                    a2 = _mm256_fmadd_ps(s2, x, a2); b2 = _mm256_fmadd_ps(s2, w, b2);
                    a3 = _mm256_fmadd_ps(s3, x, a3); b3 = _mm256_fmadd_ps(s3, w, b3);
                }
                __m256 sums[8] = {a0, b0, a1, b1, a2, b2, a3, b3};
                for (int jk = 0; jk < kb; jk++) {
                    float *m = acc + ((ptrdiff_t)(k0 + jk) * 36 + xi) * GROUP;
                    _mm256_storeu_ps(m, sums[2 * jk]); _mm256_storeu_ps(m + 8, sums[2 * jk + 1]);
                }
            }
        }
        for (int k = 0; k < outputs; k++) {
            const float (*m)[GROUP] = (const float (*)[GROUP])(acc + (ptrdiff_t)k * 36 * GROUP);
            float *dst = y + (ptrdiff_t)k * channel_stride;
            output_tiles(m, 0, &group, dst, width, scale, shift, relu, k);
            if (group.lanes > 8) output_tiles(m, 1, &group, dst, width, scale, shift, relu, k);
        }
    }
}

/// B^T applied to six vectors (Winograd4Tile.input), in its order:
/// (4 d0 - 5 d2 + d4, a + b, a - b, c + e, c - e, 4 d1 - 5 d3 + d5),
/// a = d4 - 4 d2, b = d3 - 4 d1, c = d4 - d2, e = 2 (d3 - d1).
TARGET static inline void input_column(__m256 d0, __m256 d1, __m256 d2, __m256 d3, __m256 d4, __m256 d5, __m256 *o) {
    const __m256 two = _mm256_set1_ps(2), four = _mm256_set1_ps(4), five = _mm256_set1_ps(5);
    __m256 a = _mm256_sub_ps(d4, _mm256_mul_ps(four, d2)), b = _mm256_sub_ps(d3, _mm256_mul_ps(four, d1));
    __m256 c = _mm256_sub_ps(d4, d2), e = _mm256_mul_ps(two, _mm256_sub_ps(d3, d1));
    o[0] = _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(four, d0), _mm256_mul_ps(five, d2)), d4);
    o[1] = _mm256_add_ps(a, b);
    o[2] = _mm256_sub_ps(a, b);
    o[3] = _mm256_add_ps(c, e);
    o[4] = _mm256_sub_ps(c, e);
    o[5] = _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(four, d1), _mm256_mul_ps(five, d3)), d5);
}

/// The 4x4 transposes of the two 128-bit halves at once: lane l of half h of out[i] is lane i of half h of in[l].
TARGET static inline void transpose_halves(__m256 a, __m256 b, __m256 c, __m256 d, __m256 *out) {
    __m256 t0 = _mm256_unpacklo_ps(a, b), t1 = _mm256_unpackhi_ps(a, b);
    __m256 t2 = _mm256_unpacklo_ps(c, d), t3 = _mm256_unpackhi_ps(c, d);
    out[0] = _mm256_shuffle_ps(t0, t2, 0x44); out[1] = _mm256_shuffle_ps(t0, t2, 0xEE);
    out[2] = _mm256_shuffle_ps(t1, t3, 0x44); out[3] = _mm256_shuffle_ps(t1, t3, 0xEE);
}

/// Row scratch: per tile row of an image, six rows of row_width floats (padded columns:
/// input column q at padding + q, zero elsewhere; a tile reads 8 from its first column),
/// then a zero row for lanes past the image.
static inline ptrdiff_t row_width(int columns) { return 4 * ((ptrdiff_t)columns + 1); }

TARGET static void input_transform_avx2(const float *x, ptrdiff_t channel_stride, int channels, int images,
                                        int H, int W, int pad, int rows, int columns,
                                        float *v, ptrdiff_t vs, float *scratch) {
    const ptrdiff_t rw = row_width(columns), plane = (ptrdiff_t)H * W, set = 6 * rw;
    const int per_image = rows * columns;
    const ptrdiff_t T = (ptrdiff_t)images * per_image;
    for (int a = 0; a < 6 * rows; a++) {
        float *r = scratch + a * rw;
        for (int q = 0; q < pad; q++) r[q] = 0;
        for (ptrdiff_t q = pad + W; q < rw; q++) r[q] = 0;
    }
    float *zeros = scratch + rows * set;
    for (int q = 0; q < W || q < 8; q++) zeros[q] = 0;
    for (int c = 0; c < channels; c++) {
        for (int b = 0; b < images; b++) {
            const float *in = x + c * channel_stride + b * plane;
            // rows: B^T down each column of each tile row's six input rows, into set i at padded column pad + q
            for (int i = 0; i < rows; i++) {
                const float *d[6];
                for (int k = 0; k < 6; k++) {
                    int h = 4 * i - pad + k;
                    d[k] = h >= 0 && h < H ? in + (ptrdiff_t)h * W : zeros;
                }
                float *s = scratch + i * set + pad;
                int q = 0;
                for (; q + 8 <= W; q += 8) {
                    __m256 o[6];
                    input_column(_mm256_loadu_ps(d[0] + q), _mm256_loadu_ps(d[1] + q), _mm256_loadu_ps(d[2] + q),
                                 _mm256_loadu_ps(d[3] + q), _mm256_loadu_ps(d[4] + q), _mm256_loadu_ps(d[5] + q), o);
                    for (int a = 0; a < 6; a++) _mm256_storeu_ps(s + a * rw + q, o[a]);
                }
                for (; q < W; q++) {   // the same formula, one column
                    float d0 = d[0][q], d1 = d[1][q], d2 = d[2][q], d3 = d[3][q], d4 = d[4][q], d5 = d[5][q];
                    float a_ = d4 - 4 * d2, b_ = d3 - 4 * d1, c_ = d4 - d2, e_ = 2 * (d3 - d1);
                    s[q] = 4 * d0 - 5 * d2 + d4; s[rw + q] = a_ + b_; s[2 * rw + q] = a_ - b_;
                    s[3 * rw + q] = c_ + e_; s[4 * rw + q] = c_ - e_; s[5 * rw + q] = 4 * d1 - 5 * d3 + d5;
                }
            }
            // columns: B^T along each row, 8 tiles of the image at a time in tile order (a group
            // may span tile rows; lanes past the image read zeros and store into the next
            // image's or channel's tiles, written later, or the block's padding). Tile l of the
            // group reads its set's row at 4j: columns 0..3 into A_l, 4..7 into B_l; lanes
            // l and l + 4 share a vector (low and high half).
            float *out = v + c * T + (ptrdiff_t)b * per_image;
            for (int tg = 0; tg < per_image; tg += 8) {
                ptrdiff_t first[8];   // offset of each tile's first column in the scratch (-1: past the image)
                for (int l = 0, t = tg; l < 8; l++, t++)
                    first[l] = t < per_image ? (t / columns) * set + 4 * (t % columns) : -1;
                for (int a = 0; a < 6; a++) {
                    const float *r = scratch + a * rw;
                    __m256 A[4], B[4], e[4], f[4], o[6];
                    for (int l = 0; l < 4; l++) {
                        const float *lo = first[l] < 0 ? zeros : r + first[l];
                        const float *hi = first[l + 4] < 0 ? zeros : r + first[l + 4];
                        A[l] = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(lo)), _mm_loadu_ps(hi), 1);
                        B[l] = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(lo + 4)), _mm_loadu_ps(hi + 4), 1);
                    }
                    transpose_halves(A[0], A[1], A[2], A[3], e);   // e[k]: column k of each tile
                    transpose_halves(B[0], B[1], B[2], B[3], f);   // f[0], f[1]: columns 4, 5
                    input_column(e[0], e[1], e[2], e[3], f[0], f[1], o);
                    float *va = out + (ptrdiff_t)(6 * a) * vs + tg;
                    for (int col = 0; col < 6; col++) _mm256_storeu_ps(va + col * vs, o[col]);
                }
            }
        }
    }
}
#endif

ptrdiff_t sieve_winograd4_product_scratch(int outputs) { return (ptrdiff_t)outputs * 36 * GROUP; }

ptrdiff_t sieve_winograd4_input_scratch(int width, int rows, int columns) {
    return rows * 6 * row_width(columns) + (width > 8 ? width : 8);
}

void sieve_winograd4_input_transform(const float *x, ptrdiff_t channel_stride, int channels, int images,
                                     int in_height, int in_width, int padding, int rows, int columns,
                                     float *v, ptrdiff_t v_stride, float *scratch) {
#if defined(__x86_64__) || defined(__i386__)
    input_transform_avx2(x, channel_stride, channels, images, in_height, in_width, padding, rows, columns,
                         v, v_stride, scratch);
#else
    (void)x; (void)channel_stride; (void)channels; (void)images; (void)in_height; (void)in_width; (void)padding;
    (void)rows; (void)columns; (void)v; (void)v_stride; (void)scratch;
    __builtin_trap();   // callers check sieve_winograd4_kernels_available() first
#endif
}

void sieve_winograd4_product_output(const float *v, ptrdiff_t v_stride, int inputs, int tiles,
                                    const float *u, ptrdiff_t u_stride, int outputs,
                                    float *y, ptrdiff_t channel_stride, int height, int width,
                                    int rows, int columns,
                                    const float *scale, const float *shift, int relu, float *scratch) {
#if defined(__x86_64__) || defined(__i386__)
    product_output_avx2(v, v_stride, inputs, tiles, u, u_stride, outputs, y, channel_stride, height, width,
                        rows, columns, scale, shift, relu, scratch);
#else
    (void)v; (void)v_stride; (void)inputs; (void)tiles; (void)u; (void)u_stride; (void)outputs; (void)y;
    (void)channel_stride; (void)height; (void)width; (void)rows; (void)columns; (void)scale; (void)shift; (void)relu;
    (void)scratch;
    __builtin_trap();   // callers check sieve_winograd4_kernels_available() first
#endif
}
