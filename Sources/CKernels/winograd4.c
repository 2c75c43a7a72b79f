// Winograd F(4x4, 3x3): the 36 tile-position products and the output transform, fused
// (CKernels.h). Kernels/CPUWinograd4.swift has the matrices, the input transform and the
// unfused path (36 sgemm calls into a chunk-sized M, then the transform), which this
// replaces on CPUs with AVX2 and FMA.
//
// Per group of 16 tiles (two AVX vectors, one lane per tile) and 4 output channels:
//   acc[j][ξ] = sum_c U[ξ][k0+j, c] * V[ξ][c, g..g+15]     8 FMA chains per ξ
//   then per channel and 8 tiles: A^T M A on the 36 vectors (lane = tile), the epilogue,
//   and a 4x8 transpose per output row to write each tile's 4 values.
// The group's V (36 x inputs x 16 floats: 36 KiB at 16 inputs) stays near the core across
// the output channels; nothing of M is written to memory but a 9 KiB stack buffer.
#include "CKernels.h"

#include <immintrin.h>

// A product, then a sum, as the Swift batch-norm op computes: never one rounding.
#pragma STDC FP_CONTRACT OFF

int sieve_winograd4_product_available(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

#if defined(__x86_64__) || defined(__i386__)

#define TARGET __attribute__((target("avx2,fma")))
/// Tiles per group: two AVX vectors.
#define GROUP 16

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
        output_column(_mm256_load_ps(m[b] + first), _mm256_load_ps(m[6 + b] + first), _mm256_load_ps(m[12 + b] + first),
                      _mm256_load_ps(m[18 + b] + first), _mm256_load_ps(m[24 + b] + first), _mm256_load_ps(m[30 + b] + first),
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
                                       const float *scale, const float *shift, int relu) {
    const int per_image = rows * columns;
    const ptrdiff_t plane = (ptrdiff_t)height * width;
    __attribute__((aligned(32))) float acc[4][36][GROUP];
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
        for (int k0 = 0; k0 < outputs; k0 += 4) {
            const int kb = outputs - k0 < 4 ? outputs - k0 : 4;
            // acc[j][ξ] = U[ξ][k0 + j, :] V[ξ][:, g ..< g + 16]: 8 independent FMA chains
            // (4 channels x 2 vectors of tiles), 6 loads per 8 FMAs. Past the last channel
            // (kb < 4) the first row stands in; those sums are never used.
            for (int xi = 0; xi < 36; xi++) {
                const float *vx = v + xi * vs + g, *ux = u + xi * us + (ptrdiff_t)k0 * inputs;
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
                _mm256_store_ps(acc[0][xi], a0); _mm256_store_ps(acc[0][xi] + 8, b0);
                _mm256_store_ps(acc[1][xi], a1); _mm256_store_ps(acc[1][xi] + 8, b1);
                _mm256_store_ps(acc[2][xi], a2); _mm256_store_ps(acc[2][xi] + 8, b2);
                _mm256_store_ps(acc[3][xi], a3); _mm256_store_ps(acc[3][xi] + 8, b3);
            }
            for (int jk = 0; jk < kb; jk++) {
                float *dst = y + (ptrdiff_t)(k0 + jk) * channel_stride;
                output_tiles((const float (*)[GROUP])acc[jk], 0, &group, dst, width, scale, shift, relu, k0 + jk);
                if (group.lanes > 8)
                    output_tiles((const float (*)[GROUP])acc[jk], 1, &group, dst, width, scale, shift, relu, k0 + jk);
            }
        }
    }
}
#endif

void sieve_winograd4_product_output(const float *v, ptrdiff_t v_stride, int inputs, int tiles,
                                    const float *u, ptrdiff_t u_stride, int outputs,
                                    float *y, ptrdiff_t channel_stride, int height, int width,
                                    int rows, int columns,
                                    const float *scale, const float *shift, int relu) {
#if defined(__x86_64__) || defined(__i386__)
    product_output_avx2(v, v_stride, inputs, tiles, u, u_stride, outputs, y, channel_stride, height, width,
                        rows, columns, scale, shift, relu);
#else
    (void)v; (void)v_stride; (void)inputs; (void)tiles; (void)u; (void)u_stride; (void)outputs; (void)y;
    (void)channel_stride; (void)height; (void)width; (void)rows; (void)columns; (void)scale; (void)shift; (void)relu;
    __builtin_trap();   // callers check sieve_winograd4_product_available() first
#endif
}
