// Sieve's hand-vectorised CPU kernels in C, for the loops where Swift's baseline x86-64
// build (4-lane SSE, no FMA) leaves most of the core unused. Each has a runtime check: the
// Swift side calls it only where the CPU has the instructions, and keeps its own path
// elsewhere (Kernels/CPUWinograd4.swift).
#ifndef SIEVE_CKERNELS_H
#define SIEVE_CKERNELS_H

#include <stddef.h>

/// 1 when this CPU runs sieve_winograd4_product_output (AVX2 and FMA), else 0.
int sieve_winograd4_product_available(void);

/// The second half of a Winograd F(4x4, 3x3) convolution for one chunk of `tiles` tiles,
/// fused: for every output channel k and tile t,
///   M[ξ][k, t] = sum_c U[ξ][k, c] V[ξ][c, t]          (36 products, ξ = 6 * row + column)
///   y tile     = A^T M A  (4x4), then y * scale[k] + shift[k] and max(., 0) when asked,
/// written into the output planes without M ever leaving the core's registers and L1.
///   v:   V[36][inputs][tiles], block ξ at v + ξ * v_stride (tile index fastest); the 15
///        floats after each block's last row are read (and ignored) by the last group
///   u:   U[36][outputs][inputs], block ξ at u + ξ * u_stride
///   y:   image 0 of the chunk in output channel 0; channel k's planes at y + k * channel_stride,
///        the chunk's next images height * width after each other
///   tile t = b * rows * columns + i * columns + j covers rows 4i..4i+3, columns 4j..4j+3 of
///   image b (clipped to height x width)
///   scale, shift: per output channel, or both NULL for none; relu: nonzero for max(., 0)
///   (a value <= 0 becomes +0, NaN stays), applied as the batch-norm op does (a product,
///   then a sum: no fused multiply-add, so the result equals the separate ops').
void sieve_winograd4_product_output(const float *v, ptrdiff_t v_stride, int inputs, int tiles,
                                    const float *u, ptrdiff_t u_stride, int outputs,
                                    float *y, ptrdiff_t channel_stride, int height, int width,
                                    int rows, int columns,
                                    const float *scale, const float *shift, int relu);

#endif
