// Batch norm over channel-major activations: channel c is the row x[c, 0..M), M = N*plane.
// Reductions: one work-group per channel, LOCAL work-items, sums in float with a tree.

#define REDUCE(scratch, value, lid, size) \
    scratch[lid] = value; barrier(CLK_LOCAL_MEM_FENCE); \
    for (int s_ = size / 2; s_ > 0; s_ >>= 1) { if (lid < s_) scratch[lid] += scratch[lid + s_]; barrier(CLK_LOCAL_MEM_FENCE); } \
    value = scratch[0]; barrier(CLK_LOCAL_MEM_FENCE);

// Training mode: batch statistics (biased variance), running averages with unbiased variance.
__kernel void bn_train_forward(__global const float* x, __global const float* gamma, __global const float* beta,
                               __global float* y, __global float* savedMean, __global float* savedInvStd,
                               __global float* runningMean, __global float* runningVar,
                               const int M, const float momentum, const float eps, const int relu,
                               __local float* scratch) {
    const int c = get_group_id(0), lid = get_local_id(0), size = get_local_size(0);
    __global const float* row = x + (long)c * M;
    float s = 0.0f;
    for (int i = lid; i < M; i += size) s += row[i];
    REDUCE(scratch, s, lid, size)
    const float mean = s / M;
    float q = 0.0f;
    for (int i = lid; i < M; i += size) { const float d = row[i] - mean; q += d * d; }
    REDUCE(scratch, q, lid, size)
    const float var = q / M, invStd = rsqrt(var + eps);
    if (lid == 0) {
        savedMean[c] = mean; savedInvStd[c] = invStd;
        runningMean[c] = (1 - momentum) * runningMean[c] + momentum * mean;
        runningVar[c] = (1 - momentum) * runningVar[c] + momentum * var * M / (M - 1);
    }
    const float scale = gamma[c] * invStd, shift = beta[c] - mean * scale;
    __global float* out = y + (long)c * M;
    for (int i = lid; i < M; i += size) { const float v = row[i] * scale + shift; out[i] = relu ? fmax(v, 0.0f) : v; }
}

__kernel void bn_infer_forward(__global const float* x, __global const float* gamma, __global const float* beta,
                               __global float* y, __global const float* runningMean, __global const float* runningVar,
                               const int M, const float eps, const int relu, const int total) {
    const int i = get_global_id(0);
    if (i >= total) return;
    const int c = i / M;
    const float scale = gamma[c] * rsqrt(runningVar[c] + eps);
    const float v = x[i] * scale + (beta[c] - runningMean[c] * scale);
    y[i] = relu ? fmax(v, 0.0f) : v;
}

// With the fused ReLU (relu != 0) the backward kernels take dy * [y > 0] for dy, where
// y is the output of the forward.
#define MASKED(g, y, relu, i) ((relu && y[i] <= 0.0f) ? 0.0f : g[i])

// Backward of the training-mode forward: dx, dgamma = sum dy*xhat, dbeta = sum dy.
__kernel void bn_train_backward(__global const float* dy, __global const float* x, __global const float* y,
                                __global const float* gamma, __global const float* savedMean,
                                __global const float* savedInvStd, __global float* dx, __global float* dgamma,
                                __global float* dbeta, const int relu, const int M, __local float* scratch) {
    const int c = get_group_id(0), lid = get_local_id(0), size = get_local_size(0);
    __global const float* row = x + (long)c * M;
    __global const float* g = dy + (long)c * M;
    __global const float* mask = y + (long)c * M;
    const float mean = savedMean[c], invStd = savedInvStd[c];
    float sdy = 0.0f, sdx = 0.0f;
    for (int i = lid; i < M; i += size) {
        const float gi = MASKED(g, mask, relu, i);
        sdy += gi; sdx += gi * (row[i] - mean) * invStd;
    }
    REDUCE(scratch, sdy, lid, size)
    REDUCE(scratch, sdx, lid, size)
    if (lid == 0) { dbeta[c] = sdy; dgamma[c] = sdx; }
    const float k = gamma[c] * invStd, mdy = sdy / M, mdx = sdx / M;
    __global float* out = dx + (long)c * M;
    for (int i = lid; i < M; i += size) out[i] = k * (MASKED(g, mask, relu, i) - mdy - (row[i] - mean) * invStd * mdx);
}

// Evaluation mode, input gradient only: dx = dy * gamma / sqrt(rv + eps), one work-item per element.
__kernel void bn_infer_backward_data(__global const float* dy, __global const float* y, __global const float* gamma,
                                     __global const float* runningVar, __global float* dx,
                                     const int M, const float eps, const int relu, const int total) {
    const int i = get_global_id(0);
    if (i >= total) return;
    const int c = i / M;
    dx[i] = MASKED(dy, y, relu, i) * gamma[c] * rsqrt(runningVar[c] + eps);
}

// Evaluation mode, per (channel, example): s = sum dy*xhat, t = sum dy over the plane, into
// sums[2 * (c*N + n) + {0, 1}]. One work-group per (c, n).
__kernel void bn_infer_sums(__global const float* dy, __global const float* x, __global const float* y,
                            __global const float* runningMean, __global const float* runningVar,
                            __global float* sums, const int relu, const int N, const int plane, const float eps,
                            __local float* scratch) {
    const int cn = get_group_id(0), c = cn / N, lid = get_local_id(0), size = get_local_size(0);
    const long base = (long)cn * plane;
    const float invStd = rsqrt(runningVar[c] + eps), mean = runningMean[c];
    float s = 0.0f, t = 0.0f;
    for (int j = lid; j < plane; j += size) {
        const float g = MASKED(dy, y, relu, base + j);
        s += g * (x[base + j] - mean) * invStd;
        t += g;
    }
    REDUCE(scratch, s, lid, size)
    REDUCE(scratch, t, lid, size)
    if (lid == 0) { sums[2 * cn] = s; sums[2 * cn + 1] = t; }
}

// dgamma[c] = sum_n s, dbeta[c] = sum_n t
__kernel void bn_param_grads(__global const float* sums, __global float* dgamma, __global float* dbeta,
                             const int C, const int N) {
    const int c = get_global_id(0);
    if (c >= C) return;
    float s = 0.0f, t = 0.0f;
    for (int n = 0; n < N; n++) { s += sums[2 * (c * N + n)]; t += sums[2 * (c * N + n) + 1]; }
    dgamma[c] = s; dbeta[c] = t;
}

// norms[n] += sum_c s^2 + t^2
__kernel void bn_norms(__global const float* sums, __global float* norms, const int C, const int N) {
    const int n = get_global_id(0);
    if (n >= N) return;
    float total = 0.0f;
    for (int c = 0; c < C; c++) {
        const float s = sums[2 * (c * N + n)], t = sums[2 * (c * N + n) + 1];
        total += s * s + t * t;
    }
    norms[n] += total;
}
