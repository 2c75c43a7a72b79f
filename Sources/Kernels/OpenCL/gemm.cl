// Row-major C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C on strided matrices: the
// tiled core of tiles.cl (prepended) with plain loads. Linear layers and pointwise
// convolutions use it. Global size: (ceil(n / TSN) * RTSN, ceil(m / TSM) * RTSM).

/// op(A)[row, k] and op(B)[k, col] of the strided operands.
#define GEMM_A(row, k, lr, lk) (transA ? A[(k) * lda + (row)] : A[(row) * lda + (k)])
#define GEMM_B(k, col, lk, lc) (transB ? B[(col) * ldb + (k)] : B[(k) * ldb + (col)])
#define GEMM_C(row, col, v) { const int o_ = (row) * ldc + (col); C[o_] = alpha * (v) + (beta == 0.0f ? 0.0f : beta * C[o_]); }

GEMM_KERNEL gemm(const int m, const int n, const int k, const float alpha,
                 __global const float* A, const int aOffset, const int lda, const int transA,
                 __global const float* B, const int bOffset, const int ldb, const int transB,
                 const float beta, __global float* C, const int cOffset, const int ldc) {
    GEMM_DECLARE;
    const int row0 = get_group_id(1) * TSM, col0 = get_group_id(0) * TSN;
    A += aOffset; B += bOffset; C += cOffset;
    GEMM_ACCUMULATE(m, n, k, row0, col0, GEMM_NO_SETUP, GEMM_A, GEMM_B)
    GEMM_STORE(m, n, row0, col0, GEMM_C)
}
