/* batchnorm2d_impl.h — the body of the cpu backend's batchnorm2d kernels, written once and compiled twice:
 * by core/cpu/batchnorm2d.c for any CPU (BN_FN(name) = name##_portable) and by core/cpu/batchnorm2d_avx512.c with AVX-512
 * flags (BN_FN(name) = name##_avx512), where the compiler vectorises the double arithmetic 8 lanes wide. Same
 * source, same IEEE operations in the same order (-ffp-contract=off everywhere, so no FMA appears), so the two
 * builds give bitwise the same results — ref's (see core/cpu/batchnorm2d.c for why).
 * This file is a template, not a header: no include guard; the includer defines BN_FN and includes <math.h>,
 * core/cpu/cpu_ops.h and threads.h first. */

#include <string.h>

#include "core/ref/batchnorm_lanes.h" /* the order of the per-channel sums, ref's */

enum { BN_CHANNEL_BLOCK = 4 };

/* Eight lanes as one vector (GCC/clang vector extensions: one zmm with AVX-512, split by the compiler elsewhere;
 * lane-wise IEEE operations either way, so lane l still adds exactly ref's terms in ref's order). Written out
 * because the compilers did not vectorise the lane loops themselves. */
typedef double bn_f64x8 __attribute__((vector_size(64)));
typedef float bn_f32x8 __attribute__((vector_size(32)));

/* (through pointers: a 64-byte vector passed by value would change the ABI of the portable build) */
static inline void bn_load8(bn_f64x8 *out, const float *p) {
    bn_f32x8 v;
    memcpy(&v, p, sizeof v);
    *out = __builtin_convertvector(v, bn_f64x8);
}

#define BN_SPLAT(v) ((bn_f64x8){(v), (v), (v), (v), (v), (v), (v), (v)})

typedef struct bn_job {
    const bl_batchnorm2d_shape *s;
    const float *x, *dy, *gamma, *beta, *mean, *invstd, *running_mean_in, *running_var_in;
    float *y, *dx, *dgamma, *dbeta, *running_mean, *running_var, *save_mean, *save_invstd;
    int training;
    int apply_relu; /* eval forward: store max(v, 0) (the fused batchnorm + ReLU slot) */
} bn_job;

static int channel_blocks(int c) { return (c + BN_CHANNEL_BLOCK - 1) / BN_CHANNEL_BLOCK; }

/* ---- training forward ---- */

/* channels [c0, c0 + BN_CHANNEL_BLOCK): the full block, chains interleaved */
static void bn_train_block4(const bn_job *j, int c0) {
    const bl_batchnorm2d_shape *s = j->s;
    enum { B = BN_CHANNEL_BLOCK };
    enum { L = BN_LANES };
    int64_t plane = (int64_t)s->h * s->w, count = (int64_t)s->n * plane;
    double sum[B][L], deviations[B][L], mean[B], squared_deviations[B];
    bn_f64x8 acc[B] = {{0}};
    for (int n = 0; n < s->n; n++) { /* lanes 0…7 take k … k+7: one vector add per channel */
        const float *xp = j->x + ((int64_t)n * s->c + c0) * plane; /* channel c0 + b at xp + b·plane */
        for (int64_t k = 0; k + L <= plane; k += L)
            for (int b = 0; b < B; b++) {
                bn_f64x8 v;
                bn_load8(&v, xp + b * plane + k);
                acc[b] += v;
            }
        if (plane % L) { /* this plane's tail goes to lanes 0 … plane%L − 1, after its vector part */
            memcpy(sum, acc, sizeof sum);
            for (int64_t k = plane - plane % L; k < plane; k++)
                for (int b = 0; b < B; b++) sum[b][k % L] += xp[b * plane + k];
            memcpy(acc, sum, sizeof sum);
        }
    }
    memcpy(sum, acc, sizeof sum);
    for (int b = 0; b < B; b++) mean[b] = bn_lanes_total(sum[b]) / (double)count;
    bn_f64x8 mean_v[B];
    for (int b = 0; b < B; b++) mean_v[b] = BN_SPLAT(mean[b]), acc[b] = BN_SPLAT(0.0);
    for (int n = 0; n < s->n; n++) {
        const float *xp = j->x + ((int64_t)n * s->c + c0) * plane;
        for (int64_t k = 0; k + L <= plane; k += L)
            for (int b = 0; b < B; b++) {
                bn_f64x8 d;
                bn_load8(&d, xp + b * plane + k);
                d -= mean_v[b];
                acc[b] += d * d;
            }
        if (plane % L) {
            memcpy(deviations, acc, sizeof deviations);
            for (int64_t k = plane - plane % L; k < plane; k++)
                for (int b = 0; b < B; b++) {
                    double d = xp[b * plane + k] - mean[b];
                    deviations[b][k % L] += d * d;
                }
            memcpy(acc, deviations, sizeof deviations);
        }
    }
    memcpy(deviations, acc, sizeof deviations);
    for (int b = 0; b < B; b++) squared_deviations[b] = bn_lanes_total(deviations[b]);
    for (int b = 0; b < B; b++) {
        int c = c0 + b;
        double var_biased = squared_deviations[b] / (double)count;
        double invstd = 1.0 / sqrt(var_biased + (double)s->eps);
        double momentum = (double)s->momentum;
        for (int n = 0; n < s->n; n++) {
            const float *xp = j->x + ((int64_t)n * s->c + c) * plane;
            float *yp = j->y + ((int64_t)n * s->c + c) * plane;
            for (int64_t k = 0; k < plane; k++)
                yp[k] = (float)((double)j->gamma[c] * ((xp[k] - mean[b]) * invstd) + j->beta[c]);
        }
        j->save_mean[c] = (float)mean[b];
        j->save_invstd[c] = (float)invstd;
        if (j->running_mean) j->running_mean[c] = (float)((1.0 - momentum) * j->running_mean[c] + momentum * mean[b]);
        if (j->running_var) {
            double var_unbiased = count > 1 ? squared_deviations[b] / (double)(count - 1) : NAN;
            j->running_var[c] = (float)((1.0 - momentum) * j->running_var[c] + momentum * var_unbiased);
        }
    }
}

/* one channel, exactly ref's loop (the tail when C is not a multiple of the block) */
static void bn_train_channel(const bn_job *j, int c) {
    const bl_batchnorm2d_shape *s = j->s;
    int64_t plane = (int64_t)s->h * s->w, count = (int64_t)s->n * plane;
    double momentum = (double)s->momentum;
    double sum[BN_LANES] = {0}, deviations[BN_LANES] = {0};
    for (int n = 0; n < s->n; n++) {
        const float *xp = j->x + ((int64_t)n * s->c + c) * plane;
        for (int64_t k = 0; k < plane; k++) sum[k % BN_LANES] += xp[k];
    }
    double mean = bn_lanes_total(sum) / (double)count;
    for (int n = 0; n < s->n; n++) {
        const float *xp = j->x + ((int64_t)n * s->c + c) * plane;
        for (int64_t k = 0; k < plane; k++) deviations[k % BN_LANES] += (xp[k] - mean) * (xp[k] - mean);
    }
    double squared_deviations = bn_lanes_total(deviations);
    double var_biased = squared_deviations / (double)count;
    double invstd = 1.0 / sqrt(var_biased + (double)s->eps);
    for (int n = 0; n < s->n; n++) {
        const float *xp = j->x + ((int64_t)n * s->c + c) * plane;
        float *yp = j->y + ((int64_t)n * s->c + c) * plane;
        for (int64_t k = 0; k < plane; k++)
            yp[k] = (float)((double)j->gamma[c] * ((xp[k] - mean) * invstd) + j->beta[c]);
    }
    j->save_mean[c] = (float)mean;
    j->save_invstd[c] = (float)invstd;
    if (j->running_mean) j->running_mean[c] = (float)((1.0 - momentum) * j->running_mean[c] + momentum * mean);
    if (j->running_var) {
        double var_unbiased = count > 1 ? squared_deviations / (double)(count - 1) : NAN;
        j->running_var[c] = (float)((1.0 - momentum) * j->running_var[c] + momentum * var_unbiased);
    }
}

static void bn_train_task(void *arg, int block) {
    const bn_job *j = arg;
    int c0 = block * BN_CHANNEL_BLOCK;
    if (c0 + BN_CHANNEL_BLOCK <= j->s->c) {
        bn_train_block4(j, c0);
    } else {
        for (int c = c0; c < j->s->c; c++) bn_train_channel(j, c);
    }
}

/* in x [n,c,h,w], in gamma [c], in beta [c], out y [n,c,h,w], io running_mean [c] or NULL, io running_var [c] or
 * NULL, out save_mean [c], out save_invstd [c] */
void BN_FN(batchnorm2d_forward_train)(const bl_kernels *self, const bl_batchnorm2d_shape *s, const float *x,
                                      const float *gamma, const float *beta, float *y, float *running_mean,
                                      float *running_var, float *save_mean, float *save_invstd) {
    bn_job job = {.s = s, .x = x, .gamma = gamma, .beta = beta, .y = y, .running_mean = running_mean,
                  .running_var = running_var, .save_mean = save_mean, .save_invstd = save_invstd};
    bl_parallel_for(channel_blocks(s->c), bn_train_task, &job);
}

/* ---- eval forward: y = γ·(x − running_mean)/√(running_var + eps) + β, one plane (n, c) per task; with `relu`
 * the float result v is stored the way relu_forward stores it (v > 0 or NaN ? v : 0) ---- */

static void bn_eval_task(void *arg, int plane_index) {
    const bn_job *j = arg;
    const bl_batchnorm2d_shape *s = j->s;
    int c = plane_index % s->c, n = plane_index / s->c;
    int64_t plane = (int64_t)s->h * s->w;
    double stddev = sqrt((double)j->running_var_in[c] + (double)s->eps);
    double gamma = j->gamma[c], running_mean = j->running_mean_in[c];
    const float *xp = j->x + (int64_t)n * bl_bn_x_sample_stride(s) + (int64_t)c * plane;
    float *yp = j->y + (int64_t)plane_index * plane;
    if (j->apply_relu) {
        for (int64_t k = 0; k < plane; k++) {
            float v = (float)(gamma * ((xp[k] - running_mean) / stddev) + j->beta[c]);
            yp[k] = v > 0 || v != v ? v : 0.0f;
        }
    } else {
        for (int64_t k = 0; k < plane; k++) yp[k] = (float)(gamma * ((xp[k] - running_mean) / stddev) + j->beta[c]);
    }
}

/* in x [n,c,h,w] (samples bl_bn_x_sample_stride apart), in gamma, beta, running_mean, running_var [c],
 * out y [n,c,h,w] */
void BN_FN(batchnorm2d_forward_eval)(const bl_kernels *self, const bl_batchnorm2d_shape *s, const float *x,
                                     const float *gamma, const float *beta, const float *running_mean,
                                     const float *running_var, float *y) {
    bn_job job = {.s = s, .x = x, .gamma = gamma, .beta = beta, .running_mean_in = running_mean,
                  .running_var_in = running_var, .y = y};
    bl_parallel_for(s->n * s->c, bn_eval_task, &job);
}

/* the fused slot batchnorm2d_relu_forward_eval: in x, gamma, beta, running_mean, running_var, out y = max(BN(x), 0) */
void BN_FN(batchnorm2d_relu_forward_eval)(const bl_kernels *self, const bl_batchnorm2d_shape *s, const float *x,
                                          const float *gamma, const float *beta, const float *running_mean,
                                          const float *running_var, float *y) {
    bn_job job = {.s = s, .x = x, .gamma = gamma, .beta = beta, .running_mean_in = running_mean,
                  .running_var_in = running_var, .y = y, .apply_relu = 1};
    bl_parallel_for(s->n * s->c, bn_eval_task, &job);
}

/* ---- backward ---- */

/* the dx pass of channel c (ref's expressions), given its two sums */
static void bn_backward_dx(const bn_job *j, int c, double sum_dy, double sum_dy_xhat) {
    const bl_batchnorm2d_shape *s = j->s;
    int64_t plane = (int64_t)s->h * s->w;
    double count = (double)((int64_t)s->n * plane);
    double mean_c = j->mean[c], invstd_c = j->invstd[c];
    double gamma_invstd = (double)j->gamma[c] * invstd_c;
    for (int n = 0; n < s->n; n++) {
        const float *xp = j->x + ((int64_t)n * s->c + c) * plane;
        const float *dyp = j->dy + ((int64_t)n * s->c + c) * plane;
        float *dxp = j->dx + ((int64_t)n * s->c + c) * plane;
        if (j->training) {
            for (int64_t k = 0; k < plane; k++) {
                double xhat = (xp[k] - mean_c) * invstd_c;
                double grad = (gamma_invstd / count) * (count * dyp[k] - sum_dy - xhat * sum_dy_xhat);
                dxp[k] = (float)(dxp[k] + grad);
            }
        } else {
            for (int64_t k = 0; k < plane; k++) dxp[k] = (float)(dxp[k] + dyp[k] * gamma_invstd);
        }
    }
}

static void bn_backward_finish(const bn_job *j, int c, double sum_dy, double sum_dy_xhat) {
    if (j->dgamma) j->dgamma[c] = (float)(j->dgamma[c] + sum_dy_xhat);
    if (j->dbeta) j->dbeta[c] = (float)(j->dbeta[c] + sum_dy);
    if (j->dx) bn_backward_dx(j, c, sum_dy, sum_dy_xhat);
}

static void bn_backward_task(void *arg, int block) {
    const bn_job *j = arg;
    const bl_batchnorm2d_shape *s = j->s;
    enum { B = BN_CHANNEL_BLOCK };
    int64_t plane = (int64_t)s->h * s->w;
    int c0 = block * B;
    enum { L = BN_LANES };
    if (c0 + B <= s->c) {
        double sum_dy[B][L], sum_dy_xhat[B][L], mean_c[B], invstd_c[B];
        bn_f64x8 acc_dy[B] = {{0}}, acc_dy_xhat[B] = {{0}}, mean_v[B], invstd_v[B];
        for (int b = 0; b < B; b++) {
            mean_c[b] = j->mean[c0 + b], invstd_c[b] = j->invstd[c0 + b];
            mean_v[b] = BN_SPLAT(mean_c[b]), invstd_v[b] = BN_SPLAT(invstd_c[b]);
        }
        for (int n = 0; n < s->n; n++) {
            const float *xp = j->x + ((int64_t)n * s->c + c0) * plane;
            const float *dyp = j->dy + ((int64_t)n * s->c + c0) * plane;
            for (int64_t k = 0; k + L <= plane; k += L)
                for (int b = 0; b < B; b++) {
                    bn_f64x8 dy8, x8;
                    bn_load8(&dy8, dyp + b * plane + k), bn_load8(&x8, xp + b * plane + k);
                    acc_dy[b] += dy8;
                    acc_dy_xhat[b] += dy8 * ((x8 - mean_v[b]) * invstd_v[b]);
                }
            if (plane % L) {
                memcpy(sum_dy, acc_dy, sizeof sum_dy), memcpy(sum_dy_xhat, acc_dy_xhat, sizeof sum_dy_xhat);
                for (int64_t k = plane - plane % L; k < plane; k++)
                    for (int b = 0; b < B; b++) {
                        int64_t i = b * plane + k;
                        sum_dy[b][k % L] += dyp[i];
                        sum_dy_xhat[b][k % L] += dyp[i] * ((xp[i] - mean_c[b]) * invstd_c[b]);
                    }
                memcpy(acc_dy, sum_dy, sizeof sum_dy), memcpy(acc_dy_xhat, sum_dy_xhat, sizeof sum_dy_xhat);
            }
        }
        memcpy(sum_dy, acc_dy, sizeof sum_dy), memcpy(sum_dy_xhat, acc_dy_xhat, sizeof sum_dy_xhat);
        for (int b = 0; b < B; b++)
            bn_backward_finish(j, c0 + b, bn_lanes_total(sum_dy[b]), bn_lanes_total(sum_dy_xhat[b]));
        return;
    }
    for (int c = c0; c < s->c; c++) {
        double mean = j->mean[c], invstd = j->invstd[c], sum_dy[L] = {0}, sum_dy_xhat[L] = {0};
        for (int n = 0; n < s->n; n++) {
            const float *xp = j->x + ((int64_t)n * s->c + c) * plane;
            const float *dyp = j->dy + ((int64_t)n * s->c + c) * plane;
            for (int64_t k = 0; k < plane; k++) {
                sum_dy[k % L] += dyp[k];
                sum_dy_xhat[k % L] += dyp[k] * ((xp[k] - mean) * invstd);
            }
        }
        bn_backward_finish(j, c, bn_lanes_total(sum_dy), bn_lanes_total(sum_dy_xhat));
    }
}

/* in x, in dy [n,c,h,w], in gamma, mean, invstd [c]; acc dx [n,c,h,w] or NULL, acc dgamma [c] or NULL,
 * acc dbeta [c] or NULL (training: full backward through the batch statistics; else dx = dy·γ·invstd) */
void BN_FN(batchnorm2d_backward)(const bl_kernels *self, const bl_batchnorm2d_shape *s, int training, const float *x,
                                 const float *dy, const float *gamma, const float *mean, const float *invstd, float *dx,
                                 float *dgamma, float *dbeta) {
    bn_job job = {.s = s, .x = x, .dy = dy, .gamma = gamma, .mean = mean, .invstd = invstd, .dx = dx,
                  .dgamma = dgamma, .dbeta = dbeta, .training = training};
    bl_parallel_for(channel_blocks(s->c), bn_backward_task, &job);
}
