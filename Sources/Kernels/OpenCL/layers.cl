// Pooling (max-pooling with an optional -inf border, average pooling without: its pad is 0), global average pooling, flatten, linear helpers, softmax cross-entropy and
// per-example linear norms, on channel-major activations (plane (c, n) at (c*N + n)*H*W).

// pad: an implicit -inf border (window positions outside the plane are skipped).
__kernel void maxpool_forward(__global const float* x, __global float* y, const int H, const int W,
                              const int P, const int Q, const int k, const int s, const int pad, const int total) {
    const int i = get_global_id(0);
    if (i >= total) return;
    const int q = i % Q, p = (i / Q) % P, plane = i / (P * Q);
    __global const float* src = x + (long)plane * H * W;
    float best = -INFINITY;
    for (int a = 0; a < k; a++) {
        const int r = p * s + a - pad;
        if (r < 0 || r >= H) continue;
        for (int b = 0; b < k; b++) {
            const int c = q * s + b - pad;
            if (c >= 0 && c < W) best = fmax(best, src[r * W + c]);
        }
    }
    y[i] = best;
}

// Gather form: each input pixel sums the gradients of the windows whose first maximum it is.
__kernel void maxpool_backward(__global const float* x, __global const float* dy, __global float* dx,
                               const int H, const int W, const int P, const int Q, const int k, const int s,
                               const int pad, const int total) {
    const int i = get_global_id(0);
    if (i >= total) return;
    const int w = i % W, h = (i / W) % H, plane = i / (H * W);
    const int hp = h + pad, wp = w + pad;   // in padded coordinates
    __global const float* src = x + (long)plane * H * W;
    float sum = 0.0f;
    for (int p = max(0, (hp - k + s) / s); p <= min(P - 1, hp / s); p++) {
        for (int q = max(0, (wp - k + s) / s); q <= min(Q - 1, wp / s); q++) {
            if (hp < p * s || hp >= p * s + k || wp < q * s || wp >= q * s + k) continue;
            float best = -INFINITY; int at = -1;
            for (int a = 0; a < k; a++) {
                const int r = p * s + a - pad;
                if (r < 0 || r >= H) continue;
                for (int b = 0; b < k; b++) {
                    const int c = q * s + b - pad;
                    if (c < 0 || c >= W) continue;
                    const int o = r * W + c;
                    if (src[o] > best || at < 0) { best = src[o]; at = o; }
                }
            }
            if (at == h * W + w) sum += dy[((long)plane * P + p) * Q + q];
        }
    }
    dx[i] = sum;
}

__kernel void avgpool_forward(__global const float* x, __global float* y, const int H, const int W,
                              const int P, const int Q, const int k, const int s, const int pad, const int total) {
    const int i = get_global_id(0);
    if (i >= total) return;
    const int q = i % Q, p = (i / Q) % P, plane = i / (P * Q);
    __global const float* src = x + (long)plane * H * W;
    float sum = 0.0f;
    for (int a = 0; a < k; a++) for (int b = 0; b < k; b++) sum += src[(p * s + a) * W + q * s + b];
    y[i] = sum / (k * k);
}

__kernel void avgpool_backward(__global const float* dy, __global float* dx, const int H, const int W,
                               const int P, const int Q, const int k, const int s, const int pad, const int total) {
    const int i = get_global_id(0);
    if (i >= total) return;
    const int w = i % W, h = (i / W) % H, plane = i / (H * W);
    float sum = 0.0f;
    for (int p = max(0, (h - k + s) / s); p <= min(P - 1, h / s); p++)
        for (int q = max(0, (w - k + s) / s); q <= min(Q - 1, w / s); q++)
            if (h >= p * s && h < p * s + k && w >= q * s && w < q * s + k)
                sum += dy[((long)plane * P + p) * Q + q];
    dx[i] = sum / (k * k);
}

__kernel void gap_forward(__global const float* x, __global float* y, const int plane, const int total) {
    const int i = get_global_id(0);
    if (i >= total) return;
    float s = 0.0f;
    for (int j = 0; j < plane; j++) s += x[(long)i * plane + j];
    y[i] = s / plane;
}

__kernel void gap_backward(__global const float* dy, __global float* dx, const int plane, const int total) {
    const int i = get_global_id(0);
    if (i >= total) return;
    dx[i] = dy[i / plane] / plane;
}

// y[(c*S + s) * N + n] = x[(c*N + n) * S + s]; backward swaps the roles.
__kernel void flatten(__global const float* x, __global float* y, const int N, const int S, const int backward,
                      const int total) {
    const int i = get_global_id(0);
    if (i >= total) return;
    const int s = i % S, n = (i / S) % N, c = i / (S * N);
    const long flat = ((long)c * S + s) * N + n;
    if (backward) y[i] = x[flat]; else y[flat] = x[i];
}

// y[o, n] = b[o]
__kernel void broadcast_bias(__global const float* b, __global float* y, const int N, const int total) {
    const int i = get_global_id(0);
    if (i < total) y[i] = b[i / N];
}

// db[o] = sum_n dy[o, n]
__kernel void row_sums(__global const float* dy, __global float* db, const int N, const int rows) {
    const int o = get_global_id(0);
    if (o >= rows) return;
    float s = 0.0f;
    for (int n = 0; n < N; n++) s += dy[(long)o * N + n];
    db[o] = s;
}

// norms[n] += ||a_n||^2 ||g_n||^2 + ||g_n||^2 (linear weight and bias)
__kernel void linear_norms(__global const float* x, __global const float* dy, __global float* norms,
                           const int inF, const int outF, const int N) {
    const int n = get_global_id(0);
    if (n >= N) return;
    float a2 = 0.0f, g2 = 0.0f;
    for (int i = 0; i < inF; i++) { const float v = x[(long)i * N + n]; a2 += v * v; }
    for (int o = 0; o < outF; o++) { const float v = dy[(long)o * N + n]; g2 += v * v; }
    norms[n] += a2 * g2 + g2;
}

// Softmax cross-entropy on logits z[K, N]: errors = scale * (p - onehot), and the
// per-example outputs out[EX_ROWS, N], row EX_* of example n at EX_* * N + n. The EX_*
// constants come from the build options (Swift's ExampleOutput declares the rows).
// A label outside 0..K-1 writes NaN everywhere (never reads outside z).
#if !defined(EX_LOSS) || !defined(EX_CORRECT) || !defined(EX_MARGIN) || !defined(EX_PROBABILITY) \
    || !defined(EX_EL2N) || !defined(EX_PREDICTED) || !defined(EX_ROWS)
#error "build with ExampleOutput.openCLBuildOptions (-DEX_LOSS=... -DEX_ROWS=...)"
#endif
__kernel void softmax_cross_entropy(__global const float* z, __global const int* labels, const float scale,
                                    __global float* errors, __global float* out, const int K, const int N) {
    const int n = get_global_id(0);
    if (n >= N) return;
    const int y = labels[n];
    if (y < 0 || y >= K) {
        for (int k = 0; k < K; k++) errors[k * N + n] = NAN;
        for (int r = 0; r < EX_ROWS; r++) out[r * N + n] = NAN;
        return;
    }
    float top = -INFINITY, other = -INFINITY; int argmax = 0;
    for (int k = 0; k < K; k++) {
        const float v = z[k * N + n];
        if (v > top) { top = v; argmax = k; }
        if (k != y && v > other) other = v;
    }
    float sum = 0.0f;
    for (int k = 0; k < K; k++) sum += exp(z[k * N + n] - top);
    const float logSum = log(sum);
    float sq = 0.0f;
    for (int k = 0; k < K; k++) {
        const float e = exp(z[k * N + n] - top - logSum) - (k == y ? 1.0f : 0.0f);
        sq += e * e;
        errors[k * N + n] = scale * e;
    }
    const float zy = z[y * N + n];
    out[EX_LOSS * N + n] = top + logSum - zy;
    out[EX_CORRECT * N + n] = argmax == y ? 1.0f : 0.0f;
    out[EX_MARGIN * N + n] = zy - other;
    out[EX_PROBABILITY * N + n] = exp(zy - top - logSum);
    out[EX_EL2N * N + n] = sqrt(sq);
    out[EX_PREDICTED * N + n] = (float)argmax;
}
