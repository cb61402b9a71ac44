// batchnorm2d.cu — batchnorm2d (train, eval, eval statistics, backward) and the per-channel sums behind it, which
// also give conv2d's and linear's bias gradients.
//
// Deterministic per-channel reduction, no atomics. A channel's N = n·hw elements (n planes of hw) are cut into P
// chunks, P a function of the shape only; block (p, c) sums chunk p of channel c in double (each thread a strided
// subset in a fixed order, then a fixed shared-memory tree) into partials[c][p]; then one thread per channel adds
// its P partials in order p = 0, 1, …. The result is the same on every run and in both modes; it differs from
// ref's eight-lane double sum (core/ref/batchnorm_lanes.h) only by double rounding (~N·2⁻⁵³ relative), far below the float rounding that
// follows, so the float results agree with ref's except in rare last-ulp cases (docs/cuda.md, "Numerics").
// Every formula after the sums is ref's, in double, in ref's order.
#include "cuda/common.h"

static bl_batchnorm2d_forward_train_fn bl_cuda_batchnorm2d_forward_train;
static bl_batchnorm2d_forward_eval_fn bl_cuda_batchnorm2d_forward_eval;
static bl_batchnorm2d_relu_forward_eval_fn bl_cuda_batchnorm2d_relu_forward_eval;
static bl_batchnorm2d_eval_stats_fn bl_cuda_batchnorm2d_eval_stats;
static bl_batchnorm2d_backward_fn bl_cuda_batchnorm2d_backward;

#define REDUCE_THREADS 256
#define CHUNK_TARGET 8192  // elements per block and channel: enough work per block, few partials
#define MAX_CHUNKS 256

enum { TERM_X = 0, TERM_SQUARED_DEVIATION = 1, TERM_DY_AND_DY_XHAT = 2 };

// grid (P, c): partials[(ch·P + p)·2 + j] = Σ over chunk p of channel ch of term j.
//   TERM_X:                 term0 = x
//   TERM_SQUARED_DEVIATION: term0 = (x − center[ch])², center in double (the batch mean)
//   TERM_DY_AND_DY_XHAT:    term0 = dy, term1 = dy·((x − mean[ch])·invstd[ch]) with the float statistics
template <int TERM>
__global__ static void channel_partials_kernel(bool small, int c, int64_t hw, int64_t total, int64_t chunk,
                                               const float *x, const float *dy, const double *center, const float *mean,
                                               const float *invstd, double *partials) {
    __shared__ double shared[REDUCE_THREADS];
    int p = blockIdx.x, ch = blockIdx.y, P = gridDim.x;
    int64_t begin = (int64_t)p * chunk, end = begin + chunk < total ? begin + chunk : total;
    double s0 = 0.0, s1 = 0.0;
    double center_c = TERM == TERM_SQUARED_DEVIATION ? center[ch] : 0.0;
    double mean_c = TERM == TERM_DY_AND_DY_XHAT ? (double)mean[ch] : 0.0;
    double invstd_c = TERM == TERM_DY_AND_DY_XHAT ? (double)invstd[ch] : 0.0;
    for (int64_t e = begin + threadIdx.x; e < end; e += REDUCE_THREADS) {
        int64_t b = small ? (int64_t)((uint32_t)e / (uint32_t)hw) : e / hw, k = e - b * hw;
        int64_t at = (b * c + ch) * hw + k;
        if (TERM == TERM_X) {
            s0 += (double)x[at];
        } else if (TERM == TERM_SQUARED_DEVIATION) {
            double d = (double)x[at] - center_c;
            s0 += d * d;
        } else {
            double g = (double)dy[at];
            s0 += g;
            s1 += g * (((double)x[at] - mean_c) * invstd_c);
        }
    }
    s0 = bl_cuda_block_sum<REDUCE_THREADS>(s0, shared);
    if (TERM == TERM_DY_AND_DY_XHAT) s1 = bl_cuda_block_sum<REDUCE_THREADS>(s1, shared);
    if (threadIdx.x == 0) {
        partials[((int64_t)ch * P + p) * 2] = s0;
        partials[((int64_t)ch * P + p) * 2 + 1] = s1;
    }
}

// The chunking of a channel of `total` elements: P chunks of `chunk` elements (the last one shorter).
static void chunking(int64_t total, int *P, int64_t *chunk) {
    int64_t p = (total + CHUNK_TARGET - 1) / CHUNK_TARGET;
    if (p < 1) p = 1;
    if (p > MAX_CHUNKS) p = MAX_CHUNKS;
    *P = (int)p;
    *chunk = (total + p - 1) / p;
    if (*chunk < 1) *chunk = 1;
}

// Scratch layout: partials [c][P][2], then `per_channel` arrays of c doubles each.
typedef struct reduce_scratch {
    double *partials;
    double *channel[3];
} reduce_scratch;

static int reserve(int c, int P, int per_channel, reduce_scratch *r) {
    size_t partial_count = (size_t)c * (size_t)P * 2;
    double *base = (double *)bl_cuda_scratch((partial_count + (size_t)per_channel * (size_t)c) * sizeof(double));
    if (!base) return 0;
    r->partials = base;
    for (int i = 0; i < 3; i++) r->channel[i] = i < per_channel ? base + partial_count + (size_t)i * c : NULL;
    return 1;
}

template <int TERM>
static int launch_partials(int n, int c, int64_t hw, const float *x, const float *dy, const double *center,
                           const float *mean, const float *invstd, int P, int64_t chunk, double *partials) {
    if (c > 65535)  // gridDim.y's limit; no layer of ours comes near it
        return bl_cuda_record(__FILE__, __LINE__, "channel reduction", "more than 65535 channels");
    dim3 grid((unsigned)P, (unsigned)c);
    channel_partials_kernel<TERM><<<grid, REDUCE_THREADS, 0, bl_cuda.stream>>>(
        bl_cuda_small((int64_t)n * hw), c, hw, (int64_t)n * hw, chunk, x, dy, center, mean, invstd, partials);
    return CUDA_LAUNCHED("channel_partials_kernel");
}

// ---- per-channel sum accumulated into a float buffer (bias gradients) -----------------------------------------
__global__ static void channel_sum_finish_kernel(int c, int P, const double *partials, float *out) {
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    if (ch >= c) return;
    double sum = 0.0;
    for (int p = 0; p < P; p++) sum += partials[((int64_t)ch * P + p) * 2];
    out[ch] = (float)((double)out[ch] + sum);
}

void bl_cuda_channel_sum_accumulate(int n, int c, int64_t hw, const float *x, float *out) {
    if (c <= 0) return;
    int P;
    int64_t chunk;
    chunking((int64_t)n * hw, &P, &chunk);
    reduce_scratch r;
    if (!reserve(c, P, 0, &r)) return;
    if (!launch_partials<TERM_X>(n, c, hw, x, NULL, NULL, NULL, NULL, P, chunk, r.partials)) return;
    channel_sum_finish_kernel<<<(c + 127) / 128, 128, 0, bl_cuda.stream>>>(c, P, r.partials, out);
    CUDA_LAUNCHED("channel_sum_finish_kernel");
}

// ---- training forward -------------------------------------------------------------------------------------------
// mean[ch] = Σx / N (double)
__global__ static void bn_mean_kernel(int c, int P, double count, const double *partials, double *mean) {
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    if (ch >= c) return;
    double sum = 0.0;
    for (int p = 0; p < P; p++) sum += partials[((int64_t)ch * P + p) * 2];
    mean[ch] = sum / count;
}

// var = Σ(x − mean)²/N; invstd = 1/√(var + eps); saved statistics and the running-stat update (ref's formulas)
__global__ static void bn_variance_kernel(int c, int P, int64_t count, float eps, float momentum_f,
                                          const double *partials, const double *mean, double *invstd, float *save_mean,
                                          float *save_invstd, float *running_mean, float *running_var) {
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    if (ch >= c) return;
    double squared_deviations = 0.0;
    for (int p = 0; p < P; p++) squared_deviations += partials[((int64_t)ch * P + p) * 2];
    double momentum = (double)momentum_f;
    double var_biased = squared_deviations / (double)count;
    double inv = 1.0 / sqrt(var_biased + (double)eps);
    invstd[ch] = inv;
    save_mean[ch] = (float)mean[ch];
    save_invstd[ch] = (float)inv;
    if (running_mean) running_mean[ch] = (float)((1.0 - momentum) * (double)running_mean[ch] + momentum * mean[ch]);
    if (running_var) {
        double var_unbiased = count > 1 ? squared_deviations / (double)(count - 1) : (double)NAN;
        running_var[ch] = (float)((1.0 - momentum) * (double)running_var[ch] + momentum * var_unbiased);
    }
}

// y = γ·((x − mean)·invstd) + β with the double statistics
__global__ static void bn_apply_train_kernel(int64_t count, bool small, int c, int64_t hw, const float *x,
                                             const float *gamma, const float *beta, const double *mean,
                                             const double *invstd, float *y) {
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < count; e += (int64_t)gridDim.x * blockDim.x) {
        int ch = bl_cuda_channel_of(e, hw, c, small);
        y[e] = (float)((double)gamma[ch] * (((double)x[e] - mean[ch]) * invstd[ch]) + (double)beta[ch]);
    }
}

static void bl_cuda_batchnorm2d_forward_train(const bl_kernels *, const bl_batchnorm2d_shape *s, const float *x,
                                       const float *gamma, const float *beta, float *y, float *running_mean,
                                       float *running_var, float *save_mean, float *save_invstd) {
    if (s->c <= 0) return;
    int64_t hw = (int64_t)s->h * s->w, total = (int64_t)s->n * hw, count = (int64_t)s->n * s->c * hw;
    int P;
    int64_t chunk;
    chunking(total, &P, &chunk);
    reduce_scratch r;
    if (!reserve(s->c, P, 2, &r)) return;
    double *mean = r.channel[0], *invstd = r.channel[1];
    unsigned channel_blocks = (unsigned)((s->c + 127) / 128);
    if (!launch_partials<TERM_X>(s->n, s->c, hw, x, NULL, NULL, NULL, NULL, P, chunk, r.partials)) return;
    bn_mean_kernel<<<channel_blocks, 128, 0, bl_cuda.stream>>>(s->c, P, (double)total, r.partials, mean);
    if (!CUDA_LAUNCHED("bn_mean_kernel")) return;
    if (!launch_partials<TERM_SQUARED_DEVIATION>(s->n, s->c, hw, x, NULL, mean, NULL, NULL, P, chunk, r.partials))
        return;
    bn_variance_kernel<<<channel_blocks, 128, 0, bl_cuda.stream>>>(s->c, P, total, s->eps, s->momentum, r.partials,
                                                                   mean, invstd, save_mean, save_invstd, running_mean,
                                                                   running_var);
    if (!CUDA_LAUNCHED("bn_variance_kernel")) return;
    if (count <= 0) return;
    bn_apply_train_kernel<<<bl_cuda_blocks(count), BL_CUDA_THREADS, 0, bl_cuda.stream>>>(
        count, bl_cuda_small(count), s->c, hw, x, gamma, beta, mean, invstd, y);
    CUDA_LAUNCHED("bn_apply_train_kernel");
}

// ---- eval forward and eval statistics ---------------------------------------------------------------------------
__global__ static void bn_stddev_kernel(int c, float eps, const float *running_var, double *stddev) {
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    if (ch < c) stddev[ch] = sqrt((double)running_var[ch] + (double)eps);
}

// y = γ·((x − running_mean)/√(running_var + eps)) + β, ref's order (a division, not a multiplication by invstd);
// y dense, x's samples x_sample apart (= c·hw when dense: then x's index is y's); with `relu` the float result v is
// stored as relu_forward would store it (v > 0 or NaN ? v : 0): the fused slot, bitwise the two kernels in sequence
__global__ static void bn_apply_eval_kernel(int64_t count, bool small, int c, int64_t hw, int64_t x_sample,
                                            const float *x, const float *gamma, const float *beta,
                                            const float *running_mean, const double *stddev, bool relu, float *y) {
    const int64_t y_sample = (int64_t)c * hw;
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < count; e += (int64_t)gridDim.x * blockDim.x) {
        int ch = bl_cuda_channel_of(e, hw, c, small);
        int64_t xe = x_sample == y_sample ? e : (e / y_sample) * x_sample + e % y_sample;
        double normalised = ((double)x[xe] - (double)running_mean[ch]) / stddev[ch];
        float v = (float)((double)gamma[ch] * normalised + (double)beta[ch]);
        y[e] = relu ? (v > 0 || v != v ? v : 0.0f) : v;
    }
}

static void batchnorm2d_eval(const bl_batchnorm2d_shape *s, const float *x, const float *gamma, const float *beta,
                             const float *running_mean, const float *running_var, bool relu, float *y) {
    if (s->c <= 0) return;
    int64_t hw = (int64_t)s->h * s->w, count = (int64_t)s->n * s->c * hw;
    double *stddev = (double *)bl_cuda_scratch((size_t)s->c * sizeof(double));
    if (!stddev) return;
    bn_stddev_kernel<<<(s->c + 127) / 128, 128, 0, bl_cuda.stream>>>(s->c, s->eps, running_var, stddev);
    if (!CUDA_LAUNCHED("bn_stddev_kernel") || count <= 0) return;
    bn_apply_eval_kernel<<<bl_cuda_blocks(count), BL_CUDA_THREADS, 0, bl_cuda.stream>>>(
        count, bl_cuda_small(count), s->c, hw, bl_bn_x_sample_stride(s), x, gamma, beta, running_mean, stddev, relu,
        y);
    CUDA_LAUNCHED("bn_apply_eval_kernel");
}

static void bl_cuda_batchnorm2d_forward_eval(const bl_kernels *, const bl_batchnorm2d_shape *s, const float *x,
                                      const float *gamma, const float *beta, const float *running_mean,
                                      const float *running_var, float *y) {
    batchnorm2d_eval(s, x, gamma, beta, running_mean, running_var, false, y);
}

static void bl_cuda_batchnorm2d_relu_forward_eval(const bl_kernels *, const bl_batchnorm2d_shape *s, const float *x,
                                           const float *gamma, const float *beta, const float *running_mean,
                                           const float *running_var, float *y) {
    batchnorm2d_eval(s, x, gamma, beta, running_mean, running_var, true, y);
}

__global__ static void bn_eval_stats_kernel(int c, float eps, const float *running_mean, const float *running_var,
                                            float *mean, float *invstd) {
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    if (ch >= c) return;
    mean[ch] = running_mean[ch];
    invstd[ch] = (float)(1.0 / sqrt((double)running_var[ch] + (double)eps));
}

static void bl_cuda_batchnorm2d_eval_stats(const bl_kernels *, int c, float eps, const float *running_mean,
                                    const float *running_var, float *mean, float *invstd) {
    if (c <= 0) return;
    bn_eval_stats_kernel<<<(c + 127) / 128, 128, 0, bl_cuda.stream>>>(c, eps, running_mean, running_var, mean, invstd);
    CUDA_LAUNCHED("bn_eval_stats_kernel");
}

// ---- backward -----------------------------------------------------------------------------------------------------
// sums[ch] = Σdy, sums[c + ch] = Σdy·x̂; dgamma += Σdy·x̂, dbeta += Σdy
__global__ static void bn_backward_sums_kernel(int c, int P, const double *partials, double *sum_dy,
                                               double *sum_dy_xhat, float *dgamma, float *dbeta) {
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    if (ch >= c) return;
    double a = 0.0, b = 0.0;
    for (int p = 0; p < P; p++) {
        a += partials[((int64_t)ch * P + p) * 2];
        b += partials[((int64_t)ch * P + p) * 2 + 1];
    }
    sum_dy[ch] = a;
    sum_dy_xhat[ch] = b;
    if (dgamma) dgamma[ch] = (float)((double)dgamma[ch] + b);
    if (dbeta) dbeta[ch] = (float)((double)dbeta[ch] + a);
}

// training: dx += (γ·invstd/N)·(N·dy − Σdy − x̂·Σdy·x̂);  eval: dx += dy·γ·invstd
__global__ static void bn_backward_dx_kernel(int64_t count, bool small, int c, int64_t hw, double n_per_channel,
                                             int training, const float *x, const float *dy, const float *gamma,
                                             const float *mean, const float *invstd, const double *sum_dy,
                                             const double *sum_dy_xhat, float *dx) {
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < count; e += (int64_t)gridDim.x * blockDim.x) {
        int ch = bl_cuda_channel_of(e, hw, c, small);
        double mean_c = (double)mean[ch], invstd_c = (double)invstd[ch];
        double gamma_invstd = (double)gamma[ch] * invstd_c;
        double grad;
        if (training) {
            double xhat = ((double)x[e] - mean_c) * invstd_c;
            grad =
                (gamma_invstd / n_per_channel) * (n_per_channel * (double)dy[e] - sum_dy[ch] - xhat * sum_dy_xhat[ch]);
        } else {
            grad = (double)dy[e] * gamma_invstd;
        }
        dx[e] = (float)((double)dx[e] + grad);
    }
}

static void bl_cuda_batchnorm2d_backward(const bl_kernels *, const bl_batchnorm2d_shape *s, int training, const float *x,
                                  const float *dy, const float *gamma, const float *mean, const float *invstd,
                                  float *dx, float *dgamma, float *dbeta) {
    if (s->c <= 0) return;
    int64_t hw = (int64_t)s->h * s->w, total = (int64_t)s->n * hw, count = (int64_t)s->n * s->c * hw;
    // the eval-mode dx needs no sums: skip them when nothing else asks for them
    int need_sums = dgamma || dbeta || (dx && training);
    reduce_scratch r = {NULL, {NULL, NULL, NULL}};
    if (need_sums) {
        int P;
        int64_t chunk;
        chunking(total, &P, &chunk);
        if (!reserve(s->c, P, 2, &r)) return;
        if (!launch_partials<TERM_DY_AND_DY_XHAT>(s->n, s->c, hw, x, dy, NULL, mean, invstd, P, chunk, r.partials))
            return;
        bn_backward_sums_kernel<<<(s->c + 127) / 128, 128, 0, bl_cuda.stream>>>(s->c, P, r.partials, r.channel[0],
                                                                                r.channel[1], dgamma, dbeta);
        if (!CUDA_LAUNCHED("bn_backward_sums_kernel")) return;
    }
    if (!dx || count <= 0) return;
    bn_backward_dx_kernel<<<bl_cuda_blocks(count), BL_CUDA_THREADS, 0, bl_cuda.stream>>>(
        count, bl_cuda_small(count), s->c, hw, (double)total, training, x, dy, gamma, mean, invstd, r.channel[0],
        r.channel[1], dx);
    CUDA_LAUNCHED("bn_backward_dx_kernel");
}

void bl_cuda_batchnorm2d_slots(bl_kernels *k) {
    k->batchnorm2d_forward_train = bl_cuda_batchnorm2d_forward_train;
    k->batchnorm2d_forward_eval = bl_cuda_batchnorm2d_forward_eval;
    k->batchnorm2d_relu_forward_eval = bl_cuda_batchnorm2d_relu_forward_eval;
    k->batchnorm2d_eval_stats = bl_cuda_batchnorm2d_eval_stats;
    k->batchnorm2d_backward = bl_cuda_batchnorm2d_backward;
}
