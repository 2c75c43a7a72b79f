// Sieve's hand-vectorised CPU kernels in C, for the loops where Swift's baseline x86-64
// build (4-lane SSE, no FMA) leaves most of the core unused. Each has a runtime check: the
// Swift side calls it only where the CPU has the instructions, and keeps its own path
// elsewhere (Kernels/CPUWinograd4.swift).
#ifndef SIEVE_CKERNELS_H
#define SIEVE_CKERNELS_H

#include <stddef.h>

/// 1 when this CPU runs the kernels below (AVX2 and FMA), else 0.
int sieve_winograd4_kernels_available(void);

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
///   scratch: sieve_winograd4_product_scratch(outputs) floats (one group's M).
void sieve_winograd4_product_output(const float *v, ptrdiff_t v_stride, int inputs, int tiles,
                                    const float *u, ptrdiff_t u_stride, int outputs,
                                    float *y, ptrdiff_t channel_stride, int height, int width,
                                    int rows, int columns,
                                    const float *scale, const float *shift, int relu, float *scratch);

/// Floats of scratch sieve_winograd4_product_output needs for `outputs` channels.
ptrdiff_t sieve_winograd4_product_scratch(int outputs);

/// Floats of row scratch sieve_winograd4_input_transform needs for input planes
/// `width` wide tiled in `rows` x `columns` 4x4 tiles.
ptrdiff_t sieve_winograd4_input_scratch(int width, int rows, int columns);

/// The first half of a Winograd F(4x4, 3x3) convolution, 8 tiles per AVX vector: for
/// every channel c < `channels` and tile t of `images` images,
///   V[ξ][c, t] = (B^T d B)[ξ],   ξ = 6 * row + column,
/// d the tile's 6x6 input patch (rows 4i - padding ..< 4i + 6 - padding, columns likewise;
/// zero outside the plane), t = b * rows * columns + i * columns + j.
///   x: image 0 of channel 0; channel c's planes at x + c * channel_stride, the images
///      in_height * in_width after each other
///   v: block ξ at v + ξ * v_stride; tile t of channel c at c * (images * rows * columns) + t.
///      Up to 7 floats after an image's last tile are written with values of no tile:
///      they land on tiles written later in the same call, or (after the last) in the 16
///      floats that must follow each block's last row.
///   scratch: sieve_winograd4_input_scratch(in_width, rows, columns) floats.
/// Values equal CPUWinograd4.swift's transform (the same operations in the same order).
void sieve_winograd4_input_transform(const float *x, ptrdiff_t channel_stride, int channels, int images,
                                     int in_height, int in_width, int padding, int rows, int columns,
                                     float *v, ptrdiff_t v_stride, float *scratch);

#endif
