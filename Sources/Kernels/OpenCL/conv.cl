// Convolution as im2col + GEMM on channel-major activations x[C, N, H, W].
// cols[r, j]: r = (c*R + kh)*R + kw, j = b*P*Q + p*Q + q for the chunk's images n0 + b.

__kernel void im2col(__global const float* x, __global float* cols,
                     const int C, const int N, const int H, const int W, const int R,
                     const int stride, const int pad, const int P, const int Q, const int n0, const int nb) {
    const int j = get_global_id(0), r = get_global_id(1);
    const int width = nb * P * Q;
    if (j >= width || r >= C * R * R) return;
    const int c = r / (R * R), kh = (r / R) % R, kw = r % R;
    const int b = j / (P * Q), p = (j / Q) % P, q = j % Q;
    const int ih = p * stride - pad + kh, iw = q * stride - pad + kw;
    float v = 0.0f;
    if (ih >= 0 && ih < H && iw >= 0 && iw < W) v = x[((c * N + n0 + b) * H + ih) * W + iw];
    cols[r * width + j] = v;
}

// dx[c, n0+b, ih, iw] = sum of the columns that read it (gather: no atomics); overwrites.
__kernel void col2im(__global const float* cols, __global float* dx,
                     const int C, const int N, const int H, const int W, const int R,
                     const int stride, const int pad, const int P, const int Q, const int n0, const int nb) {
    const int i = get_global_id(0);
    if (i >= C * nb * H * W) return;
    const int iw = i % W, ih = (i / W) % H, b = (i / (H * W)) % nb, c = i / (nb * H * W);
    const int width = nb * P * Q;
    float sum = 0.0f;
    for (int kh = 0; kh < R; kh++) {
        const int ph = ih + pad - kh;
        if (ph < 0 || ph % stride != 0) continue;
        const int p = ph / stride;
        if (p >= P) continue;
        for (int kw = 0; kw < R; kw++) {
            const int qw = iw + pad - kw;
            if (qw < 0 || qw % stride != 0) continue;
            const int q = qw / stride;
            if (q >= Q) continue;
            sum += cols[((c * R + kh) * R + kw) * width + (b * P + p) * Q + q];
        }
    }
    dx[((c * N + n0 + b) * H + ih) * W + iw] = sum;
}

// norms[i] += <a, b + bOffset> over n elements, one work-group: the ghost norm of two Gram
// matrices, or with b = a a sum of squares (the explicit per-example gradient).
__kernel void dot_into(__global const float* a, __global const float* b, const int bOffset, const int n,
                       __global float* norms, const int i, __local float* scratch) {
    const int lid = get_local_id(0), size = get_local_size(0);
    b += bOffset;
    float s = 0.0f;
    for (int j = lid; j < n; j += size) s += a[j] * b[j];
    scratch[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int step = size / 2; step > 0; step >>= 1) {
        if (lid < step) scratch[lid] += scratch[lid + step];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) norms[i] += scratch[0];
}
