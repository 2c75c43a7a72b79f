// Row-major C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C, tiled in local memory with
// 2-D register blocking. Tuning constants (per device kind, see OpenCLTuning):
//   TSM, TSN  work-group tile of C (rows, columns)
//   TSK       depth of one local-memory tile
//   WPTM, WPTN  outputs per work-item (rows, columns): the register tile
// Work-group size: (TSN / WPTN, TSM / WPTM); global size: (ceil(n / TSN) * TSN / WPTN,
// ceil(m / TSM) * TSM / WPTM). Work-item (tx, ty) owns rows ty + i*RTSM and columns
// tx + j*RTSN of the group's tile (strided, so loads from local memory do not conflict).
#ifndef TSM
#define TSM 32
#endif
#ifndef TSN
#define TSN 32
#endif
#ifndef TSK
#define TSK 16
#endif
#ifndef WPTM
#define WPTM 4
#endif
#ifndef WPTN
#define WPTN 4
#endif
#define RTSM (TSM / WPTM)
#define RTSN (TSN / WPTN)
#define THREADS (RTSM * RTSN)

__kernel __attribute__((reqd_work_group_size(RTSN, RTSM, 1)))
void gemm(const int m, const int n, const int k, const float alpha,
          __global const float* A, const int aOffset, const int lda, const int transA,
          __global const float* B, const int bOffset, const int ldb, const int transB,
          const float beta, __global float* C, const int cOffset, const int ldc) {
    const int tx = get_local_id(0), ty = get_local_id(1);
    const int tid = ty * RTSN + tx;
    const int row0 = get_group_id(1) * TSM, col0 = get_group_id(0) * TSN;
    __local float As[TSK][TSM];
    __local float Bs[TSK][TSN];
    float acc[WPTM][WPTN];
    for (int i = 0; i < WPTM; i++) for (int j = 0; j < WPTN; j++) acc[i][j] = 0.0f;
    A += aOffset; B += bOffset; C += cOffset;
    for (int t = 0; t < k; t += TSK) {
        // cooperative loads: TSK x TSM of op(A) and TSK x TSN of op(B), zero outside
        for (int e = tid; e < TSK * TSM; e += THREADS) {
            const int kk = e / TSM, r = e % TSM;      // consecutive threads: consecutive rows (transA) ...
            const int gk = t + kk, gr = row0 + r;
            As[kk][r] = (gk < k && gr < m) ? (transA ? A[gk * lda + gr] : A[gr * lda + gk]) : 0.0f;
        }
        for (int e = tid; e < TSK * TSN; e += THREADS) {
            const int kk = e / TSN, c = e % TSN;      // ... and consecutive columns of B
            const int gk = t + kk, gc = col0 + c;
            Bs[kk][c] = (gk < k && gc < n) ? (transB ? B[gc * ldb + gk] : B[gk * ldb + gc]) : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int p = 0; p < TSK; p++) {
            float a[WPTM], b[WPTN];
            for (int i = 0; i < WPTM; i++) a[i] = As[p][ty + i * RTSM];
            for (int j = 0; j < WPTN; j++) b[j] = Bs[p][tx + j * RTSN];
            for (int i = 0; i < WPTM; i++) for (int j = 0; j < WPTN; j++) acc[i][j] += a[i] * b[j];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int i = 0; i < WPTM; i++) {
        const int row = row0 + ty + i * RTSM;
        if (row >= m) continue;
        for (int j = 0; j < WPTN; j++) {
            const int col = col0 + tx + j * RTSN;
            if (col < n) {
                const int o = row * ldc + col;
                C[o] = alpha * acc[i][j] + (beta == 0.0f ? 0.0f : beta * C[o]);
            }
        }
    }
}
