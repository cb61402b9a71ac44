// loss.cu — sum/mean of a whole tensor, binary cross-entropy with logits, and the per-pixel classification losses
// (softmax cross-entropy, soft Dice), forward and backward.
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
static bl_softmax_cross_entropy_forward_fn bl_cuda_softmax_cross_entropy_forward;
static bl_softmax_cross_entropy_backward_fn bl_cuda_softmax_cross_entropy_backward;
static bl_dice_loss_forward_fn bl_cuda_dice_loss_forward;
static bl_dice_loss_backward_fn bl_cuda_dice_loss_backward;

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

// ---- per-pixel classification losses (kernels.h, docs/ops/softmax_cross_entropy.md, dice_loss.md) ----
// The whole-batch sums (the weight sum, the Dice sums per class) are one block each in the fixed strided order
// above; per-pixel terms are ref's formulas. The sums a backward needs are computed again by it, into
// class_sums (one stream: the kernels run in order).

enum { CLASS_IGNORED = -1, CLASS_INVALID = -2 };

// ref.c class_of: a label as a class index, or ignored, or invalid
__device__ static int class_of(double label, int classes, int ignore_index) {
    if (label == (double)ignore_index) return CLASS_IGNORED;
    if (!(label >= 0 && label < classes) || label != floor(label)) return CLASS_INVALID;
    return (int)label;
}

// log Σ_k e^{z_k} of one pixel, from its maximum logit, in double (core/ref/loss.h)
__device__ static double log_sum_exp_of_pixel(const float *z, int c, int64_t hw) {
    double top = (double)z[0];
    for (int k = 1; k < c; k++) top = fmax(top, (double)z[k * hw]);
    double sum = 0.0;
    for (int k = 0; k < c; k++) sum += exp((double)z[k * hw] - top);
    return top + log(sum);
}

// [0, c): Dice intersections; [c, 2c): Dice totals S_k; [2c]: invalid labels; [2c + 1]: the class-weight sum
__device__ static double class_sums[2 * BL_CLASS_LOSS_MAX_CLASSES + 2];

// Σ w[t] and the number of invalid labels over every pixel, into class_sums[2c + 1] and [2c]
__global__ static void class_weight_sum_kernel(bl_class_loss_shape s, const float *labels, const float *w) {
    __shared__ double shared[REDUCE_THREADS];
    double weight_sum = 0.0, invalid = 0.0;
    for (int64_t i = threadIdx.x; i < (int64_t)s.n * s.hw; i += REDUCE_THREADS) {
        int t = class_of((double)labels[i], s.c, s.ignore_index);
        if (t == CLASS_INVALID) invalid += 1.0;
        else if (t != CLASS_IGNORED) weight_sum += w ? (double)w[t] : 1.0;
    }
    weight_sum = bl_cuda_block_sum<REDUCE_THREADS>(weight_sum, shared);
    invalid = bl_cuda_block_sum<REDUCE_THREADS>(invalid, shared);
    if (threadIdx.x == 0) class_sums[2 * s.c] = invalid, class_sums[2 * s.c + 1] = weight_sum;
}

__global__ static void cross_entropy_forward_kernel(bl_class_loss_shape s, const float *z, const float *labels,
                                                    const float *w, float *loss) {
    __shared__ double shared[REDUCE_THREADS];
    double total = 0.0, weight_sum = 0.0, invalid = 0.0;
    for (int64_t i = threadIdx.x; i < (int64_t)s.n * s.hw; i += REDUCE_THREADS) {
        int t = class_of((double)labels[i], s.c, s.ignore_index);
        if (t == CLASS_IGNORED) continue;
        if (t == CLASS_INVALID) {
            invalid += 1.0;
            continue;
        }
        int64_t b = i / s.hw, p = i - b * s.hw;
        const float *zp = z + b * s.c * s.hw + p;
        double weight = w ? (double)w[t] : 1.0;
        total += weight * (log_sum_exp_of_pixel(zp, s.c, s.hw) - (double)zp[t * s.hw]);
        weight_sum += weight;
    }
    total = bl_cuda_block_sum<REDUCE_THREADS>(total, shared);
    weight_sum = bl_cuda_block_sum<REDUCE_THREADS>(weight_sum, shared);
    invalid = bl_cuda_block_sum<REDUCE_THREADS>(invalid, shared);
    if (threadIdx.x == 0) loss[0] = invalid > 0 ? (float)NAN : (float)(total / weight_sum);
}

// dz[b,k,p] += dloss·w[t]·(p_k − [k = t]) / Σ w, one thread per pixel
__global__ static void cross_entropy_backward_kernel(int64_t count, bl_class_loss_shape s, const float *z,
                                                     const float *labels, const float *w, const float *dloss_in,
                                                     float *dz) {
    GRID_STRIDE_LOOP(i, count) {
        int t = class_of((double)labels[i], s.c, s.ignore_index);
        if (t == CLASS_IGNORED) continue;
        double weight_sum = class_sums[2 * s.c] > 0 ? NAN : class_sums[2 * s.c + 1];
        int64_t b = i / s.hw, p = i - b * s.hw;
        const float *zp = z + b * s.c * s.hw + p;
        float *dzp = dz + b * s.c * s.hw + p;
        double lse = log_sum_exp_of_pixel(zp, s.c, s.hw);
        double weight = t == CLASS_INVALID ? NAN : w ? (double)w[t] : 1.0, dloss = (double)dloss_in[0];
        for (int k = 0; k < s.c; k++) {
            double prob = exp((double)zp[k * s.hw] - lse);
            double onehot = k == t ? 1.0 : 0.0;
            dzp[k * s.hw] = (float)((double)dzp[k * s.hw] + dloss * weight * (prob - onehot) / weight_sum);
        }
    }
}

// block k: class k's Dice sums I_k = Σ p_k·g_k and S_k = Σ p_k + Σ g_k over the pixels not ignored, into class_sums;
// block 0 also counts the invalid labels into class_sums[2c]
__global__ static void dice_sums_kernel(bl_class_loss_shape s, const float *z, const float *labels) {
    __shared__ double shared[REDUCE_THREADS];
    int k = blockIdx.x;
    double inter = 0.0, psum = 0.0, gsum = 0.0, invalid = 0.0;
    for (int64_t i = threadIdx.x; i < (int64_t)s.n * s.hw; i += REDUCE_THREADS) {
        int t = class_of((double)labels[i], s.c, s.ignore_index);
        if (t == CLASS_IGNORED) continue;
        if (t == CLASS_INVALID) {
            invalid += 1.0;
            continue;
        }
        int64_t b = i / s.hw, p = i - b * s.hw;
        const float *zp = z + b * s.c * s.hw + p;
        double prob = exp((double)zp[k * s.hw] - log_sum_exp_of_pixel(zp, s.c, s.hw));
        psum += prob;
        if (k == t) inter += prob, gsum += 1.0;
    }
    inter = bl_cuda_block_sum<REDUCE_THREADS>(inter, shared);
    psum = bl_cuda_block_sum<REDUCE_THREADS>(psum, shared);
    gsum = bl_cuda_block_sum<REDUCE_THREADS>(gsum, shared);
    invalid = bl_cuda_block_sum<REDUCE_THREADS>(invalid, shared);
    if (threadIdx.x == 0) {
        class_sums[k] = inter;
        class_sums[s.c + k] = psum + gsum;
        if (k == 0) class_sums[2 * s.c] = invalid;
    }
}

__global__ static void dice_forward_kernel(bl_class_loss_shape s, float *loss) {
    int first = s.skip_background ? 1 : 0, m = s.c - first;
    double eps = s.smooth, mean = 0.0;
    for (int k = first; k < s.c; k++) mean += (2.0 * class_sums[k] + eps) / (class_sums[s.c + k] + eps);
    loss[0] = class_sums[2 * s.c] > 0 ? (float)NAN : (float)(1.0 - mean / m);
}

// a_k of one pixel (kernels.h dice_loss_backward)
__device__ static double dice_a(const bl_class_loss_shape &s, int k, int t, int first, int m) {
    if (k < first) return 0.0;
    double eps = s.smooth, denom = class_sums[s.c + k] + eps, g = k == t ? 1.0 : 0.0;
    return -(2.0 * g * denom - (2.0 * class_sums[k] + eps)) / (m * denom * denom);
}

// dz[b,k,p] += dloss·p_k·(a_k − Σ_j a_j·p_j), one thread per pixel (the probabilities computed twice instead of
// kept in per-thread arrays of up to 256 classes)
__global__ static void dice_backward_kernel(int64_t count, bl_class_loss_shape s, const float *z, const float *labels,
                                            const float *dloss_in, float *dz) {
    GRID_STRIDE_LOOP(i, count) {
        int t = class_of((double)labels[i], s.c, s.ignore_index);
        if (t == CLASS_IGNORED) continue;
        int first = s.skip_background ? 1 : 0, m = s.c - first;
        double poison = class_sums[2 * s.c] > 0 ? NAN : 0.0, dloss = (double)dloss_in[0];
        int64_t b = i / s.hw, p = i - b * s.hw;
        const float *zp = z + b * s.c * s.hw + p;
        float *dzp = dz + b * s.c * s.hw + p;
        double lse = log_sum_exp_of_pixel(zp, s.c, s.hw), weighted = 0.0;
        for (int k = 0; k < s.c; k++) weighted += dice_a(s, k, t, first, m) * exp((double)zp[k * s.hw] - lse);
        for (int k = 0; k < s.c; k++) {
            double prob = exp((double)zp[k * s.hw] - lse);
            double a = dice_a(s, k, t, first, m);
            dzp[k * s.hw] = (float)((double)dzp[k * s.hw] + dloss * prob * (a - weighted) + poison);
        }
    }
}

static void bl_cuda_softmax_cross_entropy_forward(const bl_kernels *, const bl_class_loss_shape *s, const float *z,
                                                  const float *labels, const float *w, float *loss) {
    cross_entropy_forward_kernel<<<1, REDUCE_THREADS, 0, bl_cuda.stream>>>(*s, z, labels, w, loss);
    CUDA_LAUNCHED("cross_entropy_forward_kernel");
}

static void bl_cuda_softmax_cross_entropy_backward(const bl_kernels *, const bl_class_loss_shape *s, const float *z,
                                                   const float *labels, const float *w, const float *dloss,
                                                   float *dz) {
    int64_t count = (int64_t)s->n * s->hw;
    if (count <= 0) return;
    class_weight_sum_kernel<<<1, REDUCE_THREADS, 0, bl_cuda.stream>>>(*s, labels, w);
    CUDA_LAUNCHED("class_weight_sum_kernel");
    LAUNCH(cross_entropy_backward_kernel, count, *s, z, labels, w, dloss, dz);
}

static void bl_cuda_dice_loss_forward(const bl_kernels *, const bl_class_loss_shape *s, const float *z,
                                      const float *labels, float *loss) {
    dice_sums_kernel<<<s->c, REDUCE_THREADS, 0, bl_cuda.stream>>>(*s, z, labels);
    CUDA_LAUNCHED("dice_sums_kernel");
    dice_forward_kernel<<<1, 1, 0, bl_cuda.stream>>>(*s, loss);
    CUDA_LAUNCHED("dice_forward_kernel");
}

static void bl_cuda_dice_loss_backward(const bl_kernels *, const bl_class_loss_shape *s, const float *z,
                                       const float *labels, const float *dloss, float *dz) {
    int64_t count = (int64_t)s->n * s->hw;
    if (count <= 0) return;
    dice_sums_kernel<<<s->c, REDUCE_THREADS, 0, bl_cuda.stream>>>(*s, z, labels);
    CUDA_LAUNCHED("dice_sums_kernel");
    LAUNCH(dice_backward_kernel, count, *s, z, labels, dloss, dz);
}

void bl_cuda_loss_slots(bl_kernels *k) {
    k->softmax_cross_entropy_forward = bl_cuda_softmax_cross_entropy_forward;
    k->softmax_cross_entropy_backward = bl_cuda_softmax_cross_entropy_backward;
    k->dice_loss_forward = bl_cuda_dice_loss_forward;
    k->dice_loss_backward = bl_cuda_dice_loss_backward;
    k->sum_forward = bl_cuda_sum_forward;
    k->bce_with_logits_forward = bl_cuda_bce_with_logits_forward;
    k->bce_with_logits_backward = bl_cuda_bce_with_logits_backward;
}
