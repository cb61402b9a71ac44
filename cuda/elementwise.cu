// elementwise.cu — one-thread-per-element kernels: relu, sigmoid, add, axpy, add_scalar, mul, the dropout
// mask, fill, and the bias add of conv2d/linear.
//
// Each evaluates the ref backend's formula (core/ref/ops.h) in the same precision and order — the sums
// in double, rounded to float once at the store — so with IEEE arithmetic (no --use_fast_math, --fmad=false) the
// results are bitwise equal to ref's. The one exception is sigmoid: exp is not correctly rounded in CUDA's libm
// nor in glibc, so σ(x) may differ from ref's by one float ulp in rare cases (docs/cuda.md).
// Grid-stride loops with 64-bit indices; everything is queued on the backend's stream.
#include "cuda/common.h"

static bl_relu_forward_fn bl_cuda_relu_forward;
static bl_relu_backward_fn bl_cuda_relu_backward;
static bl_relu_backward_inplace_fn bl_cuda_relu_backward_inplace;
static bl_sigmoid_forward_fn bl_cuda_sigmoid_forward;
static bl_sigmoid_backward_fn bl_cuda_sigmoid_backward;
static bl_add_forward_fn bl_cuda_add_forward;
static bl_axpy_fn bl_cuda_axpy;
static bl_add_scalar_fn bl_cuda_add_scalar;
static bl_dropout_mask_fn bl_cuda_dropout_mask;
static bl_mul_forward_fn bl_cuda_mul_forward;
static bl_mul_backward_fn bl_cuda_mul_backward;

// ---- fill ---------------------------------------------------------------------------------------------------------
__global__ static void fill_kernel(int64_t count, float value, float *dst) {
    GRID_STRIDE_LOOP(i, count) dst[i] = value;
}

void bl_cuda_fill(int64_t count, float value, float *dst) {
    if (count <= 0) return;
    if (value == 0.0f && !signbit(value)) {
        CUDA_OK(cudaMemsetAsync(dst, 0, (size_t)count * sizeof(float), bl_cuda.stream));  // +0.0f is all-zero bytes
        return;
    }
    LAUNCH(fill_kernel, count, value, dst);
}

// ---- relu ---------------------------------------------------------------------------------------------------------
__global__ static void relu_forward_kernel(int64_t count, const float *x, float *y) {
    GRID_STRIDE_LOOP(i, count) y[i] = x[i] > 0 || x[i] != x[i] ? x[i] : 0.0f; // a NaN passes, as in ref
}
__global__ static void relu_backward_kernel(int64_t count, const float *x, const float *dy, float *dx) {
    GRID_STRIDE_LOOP(i, count) if (x[i] > 0) dx[i] = (float)((double)dx[i] + (double)dy[i]);
}
// the gradient through a ReLU folded into the op before it: g = y > 0 ? 0 + g : +0 (ref's relu_backward into a
// zeroed buffer, written over g: 0 + g turns −0 into +0)
__global__ static void relu_backward_inplace_kernel(int64_t count, const float *y, float *g) {
    GRID_STRIDE_LOOP(i, count) g[i] = y[i] > 0 ? (float)(0.0 + (double)g[i]) : 0.0f;
}
static void bl_cuda_relu_forward(const bl_kernels *, int64_t count, const float *x, float *y) {
    LAUNCH(relu_forward_kernel, count, x, y);
}
static void bl_cuda_relu_backward(const bl_kernels *, int64_t count, const float *x, const float *dy, float *dx) {
    LAUNCH(relu_backward_kernel, count, x, dy, dx);
}
static void bl_cuda_relu_backward_inplace(const bl_kernels *, int64_t count, const float *y, float *g) {
    LAUNCH(relu_backward_inplace_kernel, count, y, g);
}

// ---- sigmoid ------------------------------------------------------------------------------------------------------
// σ in double without overflow: x ≥ 0: 1/(1 + e^−x); x < 0: e^x/(1 + e^x) (ref's sigmoid_stable)
__device__ static double sigmoid_stable(double x) {
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}
__global__ static void sigmoid_forward_kernel(int64_t count, const float *x, float *y) {
    GRID_STRIDE_LOOP(i, count) y[i] = (float)sigmoid_stable((double)x[i]);
}
// dx += dy·y·(1 − y), left to right in double as ref
__global__ static void sigmoid_backward_kernel(int64_t count, const float *y, const float *dy, float *dx) {
    GRID_STRIDE_LOOP(i, count) {
        double yi = (double)y[i];
        dx[i] = (float)((double)dx[i] + (double)dy[i] * yi * (1.0 - yi));
    }
}
static void bl_cuda_sigmoid_forward(const bl_kernels *, int64_t count, const float *x, float *y) {
    LAUNCH(sigmoid_forward_kernel, count, x, y);
}
static void bl_cuda_sigmoid_backward(const bl_kernels *, int64_t count, const float *y, const float *dy, float *dx) {
    LAUNCH(sigmoid_backward_kernel, count, y, dy, dx);
}

// ---- add, axpy, add_scalar, mul ------------------------------------------------------------------------------------
__global__ static void add_forward_kernel(int64_t count, const float *a, const float *b, float *y) {
    GRID_STRIDE_LOOP(i, count) y[i] = (float)((double)a[i] + (double)b[i]);
}
__global__ static void axpy_kernel(int64_t count, float alpha, const float *src, float *dst) {
    GRID_STRIDE_LOOP(i, count) dst[i] = (float)((double)dst[i] + (double)alpha * (double)src[i]);
}
// alpha lives on the device; the product scale·alpha is a float product rounded once, as ref
__global__ static void add_scalar_kernel(int64_t count, float scale, const float *alpha, float *dst) {
    float a = scale * alpha[0];
    GRID_STRIDE_LOOP(i, count) dst[i] = (float)((double)dst[i] + (double)a);
}
__global__ static void mul_forward_kernel(int64_t count, const float *x, const float *mask, float *y) {
    GRID_STRIDE_LOOP(i, count) y[i] = (float)((double)x[i] * (double)mask[i]);
}
__global__ static void mul_backward_kernel(int64_t count, const float *mask, const float *dy, float *dx) {
    GRID_STRIDE_LOOP(i, count) dx[i] = (float)((double)dx[i] + (double)dy[i] * (double)mask[i]);
}
static void bl_cuda_add_forward(const bl_kernels *, int64_t count, const float *a, const float *b, float *y) {
    LAUNCH(add_forward_kernel, count, a, b, y);
}
static void bl_cuda_axpy(const bl_kernels *, int64_t count, float alpha, const float *src, float *dst) {
    LAUNCH(axpy_kernel, count, alpha, src, dst);
}
static void bl_cuda_add_scalar(const bl_kernels *, int64_t count, float scale, const float *alpha, float *dst) {
    LAUNCH(add_scalar_kernel, count, scale, alpha, dst);
}
static void bl_cuda_mul_forward(const bl_kernels *, int64_t count, const float *x, const float *mask, float *y) {
    LAUNCH(mul_forward_kernel, count, x, mask, y);
}
static void bl_cuda_mul_backward(const bl_kernels *, int64_t count, const float *mask, const float *dy, float *dx) {
    LAUNCH(mul_backward_kernel, count, mask, dy, dx);
}

// ---- dropout mask: core/rng.c's counter RNG, element i on its own ------------------------------------------------
// u_i = (mix64(key + (i+1)·γ) >> 40)·2⁻²⁴ is bl_rng_uniform's (i+1)-th draw of the stream {key, counter 0}:
// bl_rng_next_u64 increments the counter first, then mixes key + counter·γ (unsigned 64-bit wrap-around).
__device__ static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
__global__ static void dropout_mask_kernel(int64_t count, uint64_t key, float p, float keep_scale, float *mask) {
    GRID_STRIDE_LOOP(i, count) {
        uint64_t bits = mix64(key + ((uint64_t)i + 1) * 0x9E3779B97F4A7C15ULL);
        float u = (float)(bits >> 40) * (1.0f / 16777216.0f);  // exact: a 24-bit integer times 2⁻²⁴
        mask[i] = u >= p ? keep_scale : 0.0f;
    }
}
static void bl_cuda_dropout_mask(const bl_kernels *, int64_t count, uint64_t key, float p, float keep_scale, float *mask) {
    LAUNCH(dropout_mask_kernel, count, key, p, keep_scale, mask);
}

// ---- bias add: y[b, c, k] += bias[c] -------------------------------------------------------------------------------
// Float addition; ref adds the bias in double before the dot product's single rounding, a different rounding
// sequence covered by the "+1" term of the dot-product bound (docs/numerics.md).
__global__ static void add_channel_bias_kernel(int64_t count, bool small, int c, int64_t hw, const float *bias,
                                               float *y) {
    GRID_STRIDE_LOOP(e, count) y[e] = __fadd_rn(y[e], bias[bl_cuda_channel_of(e, hw, c, small)]);
}
void bl_cuda_add_channel_bias(int n, int c, int64_t hw, const float *b, float *y) {
    int64_t count = (int64_t)n * c * hw;
    LAUNCH(add_channel_bias_kernel, count, bl_cuda_small(count), c, hw, b, y);
}

void bl_cuda_elementwise_slots(bl_kernels *k) {
    k->relu_forward = bl_cuda_relu_forward;
    k->relu_backward = bl_cuda_relu_backward;
    k->relu_backward_inplace = bl_cuda_relu_backward_inplace;
    k->sigmoid_forward = bl_cuda_sigmoid_forward;
    k->sigmoid_backward = bl_cuda_sigmoid_backward;
    k->add_forward = bl_cuda_add_forward;
    k->axpy = bl_cuda_axpy;
    k->add_scalar = bl_cuda_add_scalar;
    k->dropout_mask = bl_cuda_dropout_mask;
    k->mul_forward = bl_cuda_mul_forward;
    k->mul_backward = bl_cuda_mul_backward;
    k->fill = bl_cuda_fill;
}
