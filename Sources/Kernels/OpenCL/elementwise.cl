// Elementwise ops and the SGD update. One work-item per element; n is the element count.

__kernel void fill(__global float* y, const float value, const int n) {
    int i = get_global_id(0);
    if (i < n) y[i] = value;
}

__kernel void copy_buffer(__global const float* x, __global float* y, const int n) {
    int i = get_global_id(0);
    if (i < n) y[i] = x[i];
}

// y += x
__kernel void accumulate(__global const float* x, __global float* y, const int n) {
    int i = get_global_id(0);
    if (i < n) y[i] += x[i];
}

// out = a + b
__kernel void add(__global const float* a, __global const float* b, __global float* out, const int n) {
    int i = get_global_id(0);
    if (i < n) out[i] = a[i] + b[i];
}

__kernel void relu_forward(__global const float* x, __global float* y, const int n) {
    int i = get_global_id(0);
    if (i < n) y[i] = fmax(x[i], 0.0f);
}

// dx = dy * [y > 0] (may run in place: dx == dy)
__kernel void relu_backward(__global const float* y, __global const float* dy, __global float* dx, const int n) {
    int i = get_global_id(0);
    if (i < n) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

// PyTorch SGD: g += wd*w; m = mu*m + g; w -= lr * (nesterov ? g + mu*m : m)
__kernel void sgd_step(__global float* w, __global const float* g, __global float* m,
                       const float lr, const float mu, const float wd, const int nesterov, const int n) {
    int i = get_global_id(0);
    if (i >= n) return;
    float grad = g[i] + wd * w[i];
    float buf = mu * m[i] + grad;
    m[i] = buf;
    w[i] -= lr * (nesterov ? grad + mu * buf : buf);
}
