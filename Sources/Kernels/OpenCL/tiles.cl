// The tiled GEMM core shared by gemm.cl and conv.cl: macros only, no kernels (KernelSource
// prepends this text to both files). Every GEMM-shaped kernel computes
//   acc = op(A)[M, KD] * op(B)[KD, N]  for one TSM x TSN tile of the output per work-group,
// staging TSK-deep slices of op(A) and op(B) in local memory, with 2-D register blocking.
// What differs between kernels is only how an element of op(A) / op(B) is read (a strided
// matrix, an im2col gather from activations, ...) and what the epilogue does with acc (store,
// or reduce into a per-example norm): those are macro arguments, the loop is written once.
//
// Tuning constants (per device kind, see OpenCLTuning), passed as -D build options:
//   TSM, TSN    work-group tile of the output (rows, columns)
//   TSK         depth of one local-memory slice
//   WPTM, WPTN  outputs per work-item (rows, columns): the register tile
// Work-group size: (TSN / WPTN, TSM / WPTM) = (RTSN, RTSM). Work-item (tx, ty) owns rows
// ty + i*RTSM and columns tx + j*RTSN of the group's tile (strided, so loads from local memory
// do not conflict).
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

/// The attribute every GEMM-shaped kernel carries.
#define GEMM_KERNEL __kernel __attribute__((reqd_work_group_size(RTSN, RTSM, 1))) void

/// Declares the work-item's place in the group (tx, ty, tid), the local slices As, Bs and the
/// register tile acc, zeroed. Must expand at the kernel's outermost scope (local memory).
#define GEMM_DECLARE \
    const int tx = get_local_id(0), ty = get_local_id(1); \
    const int tid = ty * RTSN + tx; \
    __local float As[TSK][TSM]; \
    __local float Bs[TSK][TSN]; \
    float acc[WPTM][WPTN]; \
    GEMM_ZERO(acc)

/// a[WPTM][WPTN] = 0.
#define GEMM_ZERO(a) for (int i_ = 0; i_ < WPTM; i_++) for (int j_ = 0; j_ < WPTN; j_++) a[i_][j_] = 0.0f

/// No per-slice setup.
#define GEMM_NO_SETUP(t)

/// acc += the group's tile (rows ROW0.., columns COL0..) of op(A)[M_, KD] * op(B)[KD, N_], one
/// TSK-deep slice at a time:
///   SETUP(t)                runs first for the slice at depth t (a macro that fills a local table
///                           for depths t..t+TSK-1 ends with a barrier; GEMM_NO_SETUP for none);
///   A_AT(row, k, lr, lk)    op(A)[row, k];  B_AT(k, col, lk, lc)  op(B)[k, col]
///                           (lr, lc, lk: the row, column and depth inside the tile, to index
///                           local tables). Read only in range: row < M_, col < N_, k < KD;
///                           zeros pad the edges, so acc is 0 outside the matrix.
#define GEMM_ACCUMULATE(M_, N_, KD, ROW0, COL0, SETUP, A_AT, B_AT) \
    for (int t_ = 0; t_ < (KD); t_ += TSK) { \
        SETUP(t_); \
        for (int e_ = tid; e_ < TSK * TSM; e_ += THREADS) { \
            const int lk_ = e_ / TSM, lr_ = e_ % TSM, k_ = t_ + lk_, r_ = (ROW0) + lr_; \
            As[lk_][lr_] = (k_ < (KD) && r_ < (M_)) ? A_AT(r_, k_, lr_, lk_) : 0.0f; \
        } \
        for (int e_ = tid; e_ < TSK * TSN; e_ += THREADS) { \
            const int lk_ = e_ / TSN, lc_ = e_ % TSN, k_ = t_ + lk_, c_ = (COL0) + lc_; \
            Bs[lk_][lc_] = (k_ < (KD) && c_ < (N_)) ? B_AT(k_, c_, lk_, lc_) : 0.0f; \
        } \
        barrier(CLK_LOCAL_MEM_FENCE); \
        for (int p_ = 0; p_ < TSK; p_++) { \
            float a_[WPTM], b_[WPTN]; \
            for (int i_ = 0; i_ < WPTM; i_++) a_[i_] = As[p_][ty + i_ * RTSM]; \
            for (int j_ = 0; j_ < WPTN; j_++) b_[j_] = Bs[p_][tx + j_ * RTSN]; \
            for (int i_ = 0; i_ < WPTM; i_++) for (int j_ = 0; j_ < WPTN; j_++) acc[i_][j_] += a_[i_] * b_[j_]; \
        } \
        barrier(CLK_LOCAL_MEM_FENCE); \
    }

/// STORE(row, col, value) for each output of the work-item inside M_ x N_.
#define GEMM_STORE(M_, N_, ROW0, COL0, STORE) \
    for (int i_ = 0; i_ < WPTM; i_++) { \
        const int row_ = (ROW0) + ty + i_ * RTSM; \
        if (row_ >= (M_)) continue; \
        for (int j_ = 0; j_ < WPTN; j_++) { \
            const int col_ = (COL0) + tx + j_ * RTSN; \
            if (col_ < (N_)) STORE(row_, col_, acc[i_][j_]); \
        } \
    }

/// *OUT = the sum over the work-group of each work-item's `value`, added in work-item order by
/// work-item 0 (deterministic, any group size). SCRATCH: __local float[THREADS].
#define GROUP_SUM_STORE(SCRATCH, value, OUT) \
    SCRATCH[tid] = (value); \
    barrier(CLK_LOCAL_MEM_FENCE); \
    if (tid == 0) { \
        float s_ = 0.0f; \
        for (int i_ = 0; i_ < THREADS; i_++) s_ += SCRATCH[i_]; \
        OUT = s_; \
    }
