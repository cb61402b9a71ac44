/* batchnorm_cpu_impl.h — the body of the cpu backend's batchnorm2d kernels, written once and compiled twice:
 * by batchnorm_cpu.c for any CPU (BN_FN(name) = name##_portable) and by batchnorm_cpu_avx512.c with AVX-512
 * flags (BN_FN(name) = name##_avx512), where the compiler vectorises the double arithmetic 8 lanes wide. Same
 * source, same IEEE operations in the same order (-ffp-contract=off everywhere, so no FMA appears), so the two
 * builds give bitwise the same results — ref's (see batchnorm_cpu.c for why).
 * This file is a template, not a header: no include guard; the includer defines BN_FN and includes <math.h>,
 * kernels_cpu_ops.h and threads.h first. */

enum { BN_CHANNEL_BLOCK = 4 };

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
    int64_t plane = (int64_t)s->h * s->w, count = (int64_t)s->n * plane;
    double sum[B] = {0}, mean[B], squared_deviations[B] = {0};
    for (int n = 0; n < s->n; n++) {
        const float *xp = j->x + ((int64_t)n * s->c + c0) * plane; /* channel c0 + b at xp + b·plane */
        for (int64_t k = 0; k < plane; k++)
            for (int b = 0; b < B; b++) sum[b] += xp[b * plane + k];
    }
    for (int b = 0; b < B; b++) mean[b] = sum[b] / (double)count;
    for (int n = 0; n < s->n; n++) {
        const float *xp = j->x + ((int64_t)n * s->c + c0) * plane;
        for (int64_t k = 0; k < plane; k++)
            for (int b = 0; b < B; b++)
                squared_deviations[b] += (xp[b * plane + k] - mean[b]) * (xp[b * plane + k] - mean[b]);
    }
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
    double sum = 0.0;
    for (int n = 0; n < s->n; n++) {
        const float *xp = j->x + ((int64_t)n * s->c + c) * plane;
        for (int64_t k = 0; k < plane; k++) sum += xp[k];
    }
    double mean = sum / (double)count;
    double squared_deviations = 0.0;
    for (int n = 0; n < s->n; n++) {
        const float *xp = j->x + ((int64_t)n * s->c + c) * plane;
        for (int64_t k = 0; k < plane; k++) squared_deviations += (xp[k] - mean) * (xp[k] - mean);
    }
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
void BN_FN(batchnorm2d_forward_train)(const bl_batchnorm2d_shape *s, const float *x, const float *gamma,
                                   const float *beta, float *y, float *running_mean, float *running_var,
                                   float *save_mean, float *save_invstd) {
    bn_job job = {.s = s, .x = x, .gamma = gamma, .beta = beta, .y = y, .running_mean = running_mean,
                  .running_var = running_var, .save_mean = save_mean, .save_invstd = save_invstd};
    bl_parallel_for(channel_blocks(s->c), bn_train_task, &job);
}

/* ---- eval forward: y = γ·(x − running_mean)/√(running_var + eps) + β, one plane (n, c) per task; with `relu`
 * the float result v is stored as max(v, 0) the way relu_forward does (v > 0 ? v : 0) ---- */

static void bn_eval_task(void *arg, int plane_index) {
    const bn_job *j = arg;
    const bl_batchnorm2d_shape *s = j->s;
    int c = plane_index % s->c;
    int64_t plane = (int64_t)s->h * s->w;
    double stddev = sqrt((double)j->running_var_in[c] + (double)s->eps);
    double gamma = j->gamma[c], running_mean = j->running_mean_in[c];
    const float *xp = j->x + (int64_t)plane_index * plane;
    float *yp = j->y + (int64_t)plane_index * plane;
    if (j->apply_relu) {
        for (int64_t k = 0; k < plane; k++) {
            float v = (float)(gamma * ((xp[k] - running_mean) / stddev) + j->beta[c]);
            yp[k] = v > 0 ? v : 0.0f;
        }
    } else {
        for (int64_t k = 0; k < plane; k++) yp[k] = (float)(gamma * ((xp[k] - running_mean) / stddev) + j->beta[c]);
    }
}

/* in x [n,c,h,w], in gamma, beta, running_mean, running_var [c], out y [n,c,h,w] */
void BN_FN(batchnorm2d_forward_eval)(const bl_batchnorm2d_shape *s, const float *x, const float *gamma,
                                     const float *beta, const float *running_mean, const float *running_var, float *y) {
    bn_job job = {.s = s, .x = x, .gamma = gamma, .beta = beta, .running_mean_in = running_mean,
                  .running_var_in = running_var, .y = y};
    bl_parallel_for(s->n * s->c, bn_eval_task, &job);
}

/* the fused slot batchnorm2d_relu_forward_eval: in x, gamma, beta, running_mean, running_var, out y = max(BN(x), 0) */
void BN_FN(batchnorm2d_relu_forward_eval)(const bl_batchnorm2d_shape *s, const float *x, const float *gamma,
                                          const float *beta, const float *running_mean, const float *running_var,
                                          float *y) {
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
    if (c0 + B <= s->c) {
        double sum_dy[B] = {0}, sum_dy_xhat[B] = {0}, mean_c[B], invstd_c[B];
        for (int b = 0; b < B; b++) mean_c[b] = j->mean[c0 + b], invstd_c[b] = j->invstd[c0 + b];
        for (int n = 0; n < s->n; n++) {
            const float *xp = j->x + ((int64_t)n * s->c + c0) * plane;
            const float *dyp = j->dy + ((int64_t)n * s->c + c0) * plane;
            for (int64_t k = 0; k < plane; k++)
                for (int b = 0; b < B; b++) {
                    sum_dy[b] += dyp[b * plane + k];
                    sum_dy_xhat[b] += dyp[b * plane + k] * ((xp[b * plane + k] - mean_c[b]) * invstd_c[b]);
                }
        }
        for (int b = 0; b < B; b++) bn_backward_finish(j, c0 + b, sum_dy[b], sum_dy_xhat[b]);
        return;
    }
    for (int c = c0; c < s->c; c++) {
        double mean = j->mean[c], invstd = j->invstd[c], sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (int n = 0; n < s->n; n++) {
            const float *xp = j->x + ((int64_t)n * s->c + c) * plane;
            const float *dyp = j->dy + ((int64_t)n * s->c + c) * plane;
            for (int64_t k = 0; k < plane; k++) {
                sum_dy += dyp[k];
                sum_dy_xhat += dyp[k] * ((xp[k] - mean) * invstd);
            }
        }
        bn_backward_finish(j, c, sum_dy, sum_dy_xhat);
    }
}

/* in x, in dy [n,c,h,w], in gamma, mean, invstd [c]; acc dx [n,c,h,w] or NULL, acc dgamma [c] or NULL,
 * acc dbeta [c] or NULL (training: full backward through the batch statistics; else dx = dy·γ·invstd) */
void BN_FN(batchnorm2d_backward)(const bl_batchnorm2d_shape *s, int training, const float *x, const float *dy,
                              const float *gamma, const float *mean, const float *invstd, float *dx, float *dgamma,
                              float *dbeta) {
    bn_job job = {.s = s, .x = x, .dy = dy, .gamma = gamma, .mean = mean, .invstd = invstd, .dx = dx,
                  .dgamma = dgamma, .dbeta = dbeta, .training = training};
    bl_parallel_for(channel_blocks(s->c), bn_backward_task, &job);
}
