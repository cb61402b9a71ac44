/* core/ref/batchnorm2d.h — the ref kernels of batchnorm2d: training and eval forwards, eval statistics, backward.
 * A template compiled twice (float, then double) by core/ref/ref.c: see core/ref/ops.h for the macros it
 * uses (real, REF_FN, REAL_FMA) and the numerics every ref kernel shares. Not a header: no include guard. */

/* ============================================================================================================
 * batchnorm2d: per channel c over its N = n·h·w elements,
 *   x̂ = (x − mean)·invstd,  invstd = 1/√(var + eps),  y = γ·x̂ + β.
 * ========================================================================================================== */

#include "core/ref/batchnorm_lanes.h" /* BN_LANES, bn_lanes_total: the order of the per-channel sums */

/* Training: mean = (1/N)Σx, var = (1/N)Σ(x − mean)² (biased, two passes, both in double, sums in lanes); then
 *   running_mean = (1 − m)·running_mean + m·mean,  running_var = (1 − m)·running_var + m·var·N/(N − 1)  (torch).
 * N == 1 makes the unbiased variance undefined (torch refuses such a batch; bl_batchnorm2d must too): the kernel
 * writes NaN to running_var rather than guess.
 * in x [n,c,h,w], in gamma [c], in beta [c], out y [n,c,h,w], io running_mean [c] or NULL, io running_var [c] or
 * NULL, out save_mean [c], out save_invstd [c] */
void REF_FN(batchnorm2d_forward_train_ref)(REF_SELF const bl_batchnorm2d_shape *s, const real *x, const real *gamma,
                                       const real *beta, real *y, real *running_mean, real *running_var,
                                       real *save_mean, real *save_invstd) {
    int64_t plane = (int64_t)s->h * s->w;
    int64_t count = (int64_t)s->n * plane; /* N */
    double momentum = (double)s->momentum;
    for (int c = 0; c < s->c; c++) {
        double sum[BN_LANES] = {0}, deviations[BN_LANES] = {0};
        for (int n = 0; n < s->n; n++) {
            const real *xp = x + ((int64_t)n * s->c + c) * plane;
            for (int64_t k = 0; k < plane; k++) sum[k % BN_LANES] += xp[k];
        }
        double mean = bn_lanes_total(sum) / (double)count;
        for (int n = 0; n < s->n; n++) {
            const real *xp = x + ((int64_t)n * s->c + c) * plane;
            for (int64_t k = 0; k < plane; k++) deviations[k % BN_LANES] += (xp[k] - mean) * (xp[k] - mean);
        }
        double squared_deviations = bn_lanes_total(deviations);
        double var_biased = squared_deviations / (double)count;
        double invstd = 1.0 / sqrt(var_biased + (double)s->eps);
        for (int n = 0; n < s->n; n++) {
            const real *xp = x + ((int64_t)n * s->c + c) * plane;
            real *yp = y + ((int64_t)n * s->c + c) * plane;
            for (int64_t k = 0; k < plane; k++) yp[k] = (real)((double)gamma[c] * ((xp[k] - mean) * invstd) + beta[c]);
        }
        save_mean[c] = (real)mean;
        save_invstd[c] = (real)invstd;
        if (running_mean) running_mean[c] = (real)((1.0 - momentum) * running_mean[c] + momentum * mean);
        if (running_var) {
            double var_unbiased = count > 1 ? squared_deviations / (double)(count - 1) : NAN;
            running_var[c] = (real)((1.0 - momentum) * running_var[c] + momentum * var_unbiased);
        }
    }
}

/* mean[c] = running_mean[c], invstd[c] = 1/sqrt(running_var[c] + eps) in double, rounded once: the constants an
 * eval-mode forward normalised with, saved for its backward.   in running_mean/var [c], out mean/invstd [c] */
void REF_FN(batchnorm2d_eval_stats_ref)(REF_SELF int c, float eps, const real *running_mean, const real *running_var,
                                        real *mean, real *invstd) {
    for (int i = 0; i < c; i++) {
        mean[i] = running_mean[i];
        invstd[i] = (real)(1.0 / sqrt((double)running_var[i] + (double)eps));
    }
}

/* Eval: y = γ·(x − running_mean)/√(running_var + eps) + β; the statistics are constants.
 * in x [n,c,h,w] (samples bl_bn_x_sample_stride apart), in gamma [c], in beta [c], in running_mean [c],
 * in running_var [c], out y [n,c,h,w] */
void REF_FN(batchnorm2d_forward_eval_ref)(REF_SELF const bl_batchnorm2d_shape *s, const real *x, const real *gamma,
                                      const real *beta, const real *running_mean, const real *running_var, real *y) {
    int64_t plane = (int64_t)s->h * s->w, x_sample = bl_bn_x_sample_stride(s);
    for (int n = 0; n < s->n; n++)
        for (int c = 0; c < s->c; c++) {
            double stddev = sqrt((double)running_var[c] + (double)s->eps);
            const real *xp = x + (int64_t)n * x_sample + (int64_t)c * plane;
            real *yp = y + ((int64_t)n * s->c + c) * plane;
            for (int64_t k = 0; k < plane; k++)
                yp[k] = (real)((double)gamma[c] * ((xp[k] - (double)running_mean[c]) / stddev) + beta[c]);
        }
}

/* With x̂ = (x − mean)·invstd (mean/invstd: what the forward normalised with):
 *   ∂L/∂β = Σ dy,   ∂L/∂γ = Σ dy·x̂                                   (both modes)
 *   eval     (mean, invstd constants):       ∂L/∂x = dy·γ·invstd
 *   training (mean, invstd functions of x):  ∂L/∂x = (γ·invstd/N)·(N·dy − Σdy − x̂·Σ(dy·x̂))
 * The training form follows from ∂x̂_k/∂x_j = invstd·(δ_kj − 1/N − x̂_k·x̂_j/N) (docs/ops/batchnorm2d.md).
 * in x [n,c,h,w], in dy [n,c,h,w], in gamma [c], in mean [c], in invstd [c],
 * acc dx [n,c,h,w] or NULL, acc dgamma [c] or NULL, acc dbeta [c] or NULL */
void REF_FN(batchnorm2d_backward_ref)(REF_SELF const bl_batchnorm2d_shape *s, int training, const real *x,
                                      const real *dy, const real *gamma, const real *mean, const real *invstd, real *dx,
                                      real *dgamma, real *dbeta) {
    int64_t plane = (int64_t)s->h * s->w;
    double count = (double)((int64_t)s->n * plane); /* N */
    for (int c = 0; c < s->c; c++) {
        double mean_c = mean[c], invstd_c = invstd[c];
        double dy_lanes[BN_LANES] = {0}, dy_xhat_lanes[BN_LANES] = {0};
        for (int n = 0; n < s->n; n++) {
            const real *xp = x + ((int64_t)n * s->c + c) * plane;
            const real *dyp = dy + ((int64_t)n * s->c + c) * plane;
            for (int64_t k = 0; k < plane; k++) {
                dy_lanes[k % BN_LANES] += dyp[k];
                dy_xhat_lanes[k % BN_LANES] += dyp[k] * ((xp[k] - mean_c) * invstd_c);
            }
        }
        double sum_dy = bn_lanes_total(dy_lanes), sum_dy_xhat = bn_lanes_total(dy_xhat_lanes);
        if (dgamma) dgamma[c] = (real)(dgamma[c] + sum_dy_xhat);
        if (dbeta) dbeta[c] = (real)(dbeta[c] + sum_dy);
        if (!dx) continue;
        double gamma_invstd = (double)gamma[c] * invstd_c;
        for (int n = 0; n < s->n; n++) {
            const real *xp = x + ((int64_t)n * s->c + c) * plane;
            const real *dyp = dy + ((int64_t)n * s->c + c) * plane;
            real *dxp = dx + ((int64_t)n * s->c + c) * plane;
            for (int64_t k = 0; k < plane; k++) {
                double grad;
                if (training) {
                    double xhat = (xp[k] - mean_c) * invstd_c;
                    grad = (gamma_invstd / count) * (count * dyp[k] - sum_dy - xhat * sum_dy_xhat);
                } else {
                    grad = dyp[k] * gamma_invstd;
                }
                dxp[k] = (real)(dxp[k] + grad);
            }
        }
    }
}

/* Synchronised batchnorm, the parts each process computes (docs/distributed.md): its moments
 *   mean = (1/N)Σx,  m2 = Σ(x − mean)²   (two passes in double, sums in lanes, each rounded once),
 * in x [n,c,h,w], out mean [c], out m2 [c] */
void REF_FN(batchnorm2d_moments_ref)(REF_SELF const bl_batchnorm2d_shape *s, const real *x, real *mean, real *m2) {
    int64_t plane = (int64_t)s->h * s->w;
    double count = (double)((int64_t)s->n * plane);
    for (int c = 0; c < s->c; c++) {
        double sum[BN_LANES] = {0}, deviations[BN_LANES] = {0};
        for (int n = 0; n < s->n; n++) {
            const real *xp = x + ((int64_t)n * s->c + c) * plane;
            for (int64_t k = 0; k < plane; k++) sum[k % BN_LANES] += xp[k];
        }
        double mean_c = bn_lanes_total(sum) / count;
        for (int n = 0; n < s->n; n++) {
            const real *xp = x + ((int64_t)n * s->c + c) * plane;
            for (int64_t k = 0; k < plane; k++) deviations[k % BN_LANES] += (xp[k] - mean_c) * (xp[k] - mean_c);
        }
        mean[c] = (real)mean_c;
        m2[c] = (real)bn_lanes_total(deviations);
    }
}

/* and its training backward given the sums over every process (the formula of batchnorm2d_backward_ref with those
 * sums and their element count):  ∂L/∂x = (γ·invstd/count)·(count·dy − sum_dy − x̂·sum_dy_xhat).
 * in x, dy [n,c,h,w], in gamma, mean, invstd, sum_dy, sum_dy_xhat [c], acc dx [n,c,h,w] */
void REF_FN(batchnorm2d_backward_dx_ref)(REF_SELF const bl_batchnorm2d_shape *s, const real *x, const real *dy,
                                         const real *gamma, const real *mean, const real *invstd, const real *sum_dy,
                                         const real *sum_dy_xhat, double count, real *dx) {
    int64_t plane = (int64_t)s->h * s->w;
    for (int c = 0; c < s->c; c++) {
        double mean_c = mean[c], invstd_c = invstd[c], gamma_invstd = (double)gamma[c] * invstd_c;
        for (int n = 0; n < s->n; n++) {
            const real *xp = x + ((int64_t)n * s->c + c) * plane;
            const real *dyp = dy + ((int64_t)n * s->c + c) * plane;
            real *dxp = dx + ((int64_t)n * s->c + c) * plane;
            for (int64_t k = 0; k < plane; k++) {
                double xhat = (xp[k] - mean_c) * invstd_c;
                dxp[k] = (real)(dxp[k] + (gamma_invstd / count) *
                                             (count * dyp[k] - (double)sum_dy[c] - xhat * (double)sum_dy_xhat[c]));
            }
        }
    }
}
