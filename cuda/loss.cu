// loss.cu — sum/mean of a whole tensor and binary cross-entropy with logits (forward and backward).
//
// The whole-tensor reductions run in ONE block of REDUCE_THREADS threads: thread t adds elements t, t + T, t + 2T, …
// in double, then a fixed shared-memory tree adds the T partial sums. The order depends only on the count, so the
// result is the same on every run, in both modes, with no atomics. These sums are losses and their means (a batch
// of logits, a few thousand elements at most), where one block is plenty; the double accumulator keeps the result
// within a last-ulp rounding of ref's sequential double sum (docs/cuda.md, "Numerics").
#include "cuda/common.h"

static bl_sum_forward_fn bl_cuda_sum_forward;
static bl_bce_with_logits_forward_fn bl_cuda_bce_with_logits_forward;
static bl_bce_with_logits_backward_fn bl_cuda_bce_with_logits_backward;

#define REDUCE_THREADS 512

// y[0] = (float)Σx, then divided in double and rounded again unless divisor == 1 (ref's sum_forward)
__global__ static void sum_kernel(int64_t count, const float *x, double divisor, float *y) {
    __shared__ double shared[REDUCE_THREADS];
    double s = 0.0;
    for (int64_t i = threadIdx.x; i < count; i += REDUCE_THREADS) s += (double)x[i];
    s = bl_cuda_block_sum<REDUCE_THREADS>(s, shared);
    if (threadIdx.x == 0) {
        float rounded = (float)s;
        y[0] = divisor == 1.0 ? rounded : (float)((double)rounded / divisor);
    }
}

static void bl_cuda_sum_forward(const bl_kernels *, int64_t count, const float *x, double divisor, float *y) {
    sum_kernel<<<1, REDUCE_THREADS, 0, bl_cuda.stream>>>(count, x, divisor, y);
    CUDA_LAUNCHED("sum_kernel");
}

// σ in double without overflow, and log(1 + e^−|z|) (ref's sigmoid_stable and softplus_of_minus_abs)
__device__ static double sigmoid_stable(double x) {
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}
__device__ static double softplus_of_minus_abs(double z) { return log1p(exp(-fabs(z))); }

// loss = (1/n)·Σ w_i·[max(z_i,0) − z_i·t_i + log(1 + e^−|z_i|)]
__global__ static void bce_forward_kernel(int n, const float *z, const float *t, const float *w, float *loss) {
    __shared__ double shared[REDUCE_THREADS];
    double total = 0.0;
    for (int i = threadIdx.x; i < n; i += REDUCE_THREADS) {
        double zi = (double)z[i], ti = (double)t[i];
        double weight = w ? (double)w[i] : 1.0;
        total += weight * ((zi > 0 ? zi : 0.0) - zi * ti + softplus_of_minus_abs(zi));
    }
    total = bl_cuda_block_sum<REDUCE_THREADS>(total, shared);
    if (threadIdx.x == 0) loss[0] = (float)(total / (double)n);
}

// dz_i += dloss·w_i·(σ(z_i) − t_i)/n, left to right in double as ref (dloss is a device scalar)
__global__ static void bce_backward_kernel(int n, const float *z, const float *t, const float *w, const float *dloss_in,
                                           float *dz) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    double dloss = (double)dloss_in[0];
    double weight = w ? (double)w[i] : 1.0;
    dz[i] = (float)((double)dz[i] + dloss * weight * (sigmoid_stable((double)z[i]) - (double)t[i]) / (double)n);
}

static void bl_cuda_bce_with_logits_forward(const bl_kernels *, int n, const float *z, const float *t, const float *w,
                                     float *loss) {
    bce_forward_kernel<<<1, REDUCE_THREADS, 0, bl_cuda.stream>>>(n, z, t, w, loss);
    CUDA_LAUNCHED("bce_forward_kernel");
}

static void bl_cuda_bce_with_logits_backward(const bl_kernels *, int n, const float *z, const float *t, const float *w,
                                      const float *dloss, float *dz) {
    if (n <= 0) return;
    bce_backward_kernel<<<(n + BL_CUDA_THREADS - 1) / BL_CUDA_THREADS, BL_CUDA_THREADS, 0, bl_cuda.stream>>>(n, z, t, w,
                                                                                                             dloss, dz);
    CUDA_LAUNCHED("bce_backward_kernel");
}

void bl_cuda_loss_slots(bl_kernels *k) {
    k->sum_forward = bl_cuda_sum_forward;
    k->bce_with_logits_forward = bl_cuda_bce_with_logits_forward;
    k->bce_with_logits_backward = bl_cuda_bce_with_logits_backward;
}
