// Row-major C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C, tiled in local memory.
// Tuning constants (set per device kind with -D, see OpenCLTuning):
//   TILE  work-group tile edge (TILE x TILE outputs per group)
//   WPT   outputs per work-item along n (register blocking); TILE % WPT == 0
// Work-group size: (TILE / WPT, TILE); global size: (ceil(n / TILE) * TILE / WPT, ceil(m / TILE) * TILE).
#ifndef TILE
#define TILE 16
#endif
#ifndef WPT
#define WPT 4
#endif
#define RTS (TILE / WPT)

__kernel __attribute__((reqd_work_group_size(RTS, TILE, 1)))
void gemm(const int m, const int n, const int k, const float alpha,
          __global const float* A, const int aOffset, const int lda, const int transA,
          __global const float* B, const int bOffset, const int ldb, const int transB,
          const float beta, __global float* C, const int cOffset, const int ldc) {
    const int tx = get_local_id(0);           // 0..RTS-1 (columns, WPT each)
    const int ty = get_local_id(1);           // 0..TILE-1 (rows)
    const int row = get_group_id(1) * TILE + ty;
    const int col0 = get_group_id(0) * TILE + tx;
    __local float As[TILE][TILE];
    __local float Bs[TILE][TILE + 1];
    float acc[WPT];
    for (int w = 0; w < WPT; w++) acc[w] = 0.0f;
    A += aOffset; B += bOffset; C += cOffset;
    for (int t = 0; t < k; t += TILE) {
        // load a TILE x TILE tile of op(A) (rows of C) and of op(B) (columns of C)
        for (int w = 0; w < WPT; w++) {
            const int kk = t + tx + w * RTS;
            float a = 0.0f;
            if (row < m && kk < k) a = transA ? A[kk * lda + row] : A[row * lda + kk];
            As[ty][tx + w * RTS] = a;
            const int kb = t + ty, cb = col0 + w * RTS;
            float b = 0.0f;
            if (kb < k && cb < n) b = transB ? B[cb * ldb + kb] : B[kb * ldb + cb];
            Bs[ty][tx + w * RTS] = b;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int p = 0; p < TILE; p++) {
            const float a = As[ty][p];
            for (int w = 0; w < WPT; w++) acc[w] += a * Bs[p][tx + w * RTS];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (row < m) {
        for (int w = 0; w < WPT; w++) {
            const int col = col0 + w * RTS;
            if (col < n) {
                const int o = row * ldc + col;
                C[o] = alpha * acc[w] + (beta == 0.0f ? 0.0f : beta * C[o]);
            }
        }
    }
}
