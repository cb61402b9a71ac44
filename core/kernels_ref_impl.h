/* kernels_ref_impl.h — the body of the ref backend, written once, compiled twice by core/kernels_ref.c.
 *
 * This file is a template, not a header: it has no include guard and is included only by core/kernels_ref.c,
 * which defines three macros before each inclusion:
 *   real          the element type of every buffer: float, then double;
 *   REF_FN(name)  the function name: name##_ref, then name##_ref_f64 — so `conv2d_forward` is still greppable.
 *   REAL_FMA      fmaf, then fma (fused multiply-add; only the optimizers use it).
 * It also relies on the type-free helpers that file defines first (sigmoid_stable, softplus_of_minus_abs,
 * pool_windows_covering).
 *
 * Numerics (the same in both variants):
 *   - every reduction — the k-sum of GEMM, the (ci,i,j) sum of a convolution, batchnorm's mean, variance and
 *     its two backward sums, pooling averages, the global average, sum, the BCE mean — is accumulated in
 *     `double` in a fixed sequential order, and every elementwise formula is evaluated in double; the result is
 *     rounded to `real` once, at the store. For the float variant this is "round once": the most accurate
 *     answer float can hold, which is what makes it a good oracle for the faster backends.
 *   - a backward kernel accumulates as dst = (real)(dst + contribution), the addition done in double, and every
 *     backward is a gather (one sum per gradient element, even for conv and pooling where windows overlap), so
 *     each gradient element is rounded once per call.
 *   - the two optimizers are the exception on purpose: they repeat torch's sequence of tensor operations
 *     (each one rounded to `real`, as torch's float tensor ops are, fused multiply-adds where torch fuses),
 *     because their purpose is to reproduce torch's trajectory, not to be more accurate than it. Scalars
 *     (1 − β, lr/bc1, √bc2, …) are computed in double from the float hyper-parameters, as torch computes them in
 *     Python floats, then rounded to `real` at use. See the optimizer section at the end.
 * Shapes and formulas are those of core/kernels.h; each kernel's comment repeats every buffer's shape and role.
 * Kernels trust the shape struct (autograd's core/op_*.c validates shapes and returns a bl_status). */

/* ============================================================================================================
 * linear algebra
 * ========================================================================================================== */

/* C[m,n] = alpha · op(A) · op(B) + beta · C.
 * in a: [m,k] with row stride lda (or [k,m] when trans_a), in b: [k,n] with row stride ldb (or [n,k] when
 * trans_b), io c: [m,n] with row stride ldc — read only when beta != 0 (beta == 0 overwrites NaN garbage too). */
void REF_FN(sgemm)(int trans_a, int trans_b, int m, int n, int k, real alpha, const real *a, int lda, const real *b,
                   int ldb, real beta, real *c, int ldc) {
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            double dot = 0.0;
            for (int p = 0; p < k; p++) {
                double a_ip = trans_a ? a[(int64_t)p * lda + i] : a[(int64_t)i * lda + p];
                double b_pj = trans_b ? b[(int64_t)j * ldb + p] : b[(int64_t)p * ldb + j];
                dot += a_ip * b_pj;
            }
            double result = (double)alpha * dot;
            if (beta != 0) result += (double)beta * c[(int64_t)i * ldc + j];
            c[(int64_t)i * ldc + j] = (real)result;
        }
    }
}

/* ============================================================================================================
 * conv2d:  y[n,co,oh,ow] = b[co] + Σ_{ci,i,j} w[co,ci,i,j] · x[n,ci, oh·sh − ph + i·dh, ow·sw − pw + j·dw]
 * ========================================================================================================== */

/* in x [n,c_in,h_in,w_in], in w [c_out,c_in,kh,kw], in b [c_out] or NULL, out y [n,c_out,h_out,w_out].
 * Taps that fall outside the image read zero (zero padding). */
void REF_FN(conv2d_forward)(const bl_conv2d_shape *s, const real *x, const real *w, const real *b, real *y) {
    for (int n = 0; n < s->n; n++)
        for (int co = 0; co < s->c_out; co++)
            for (int oh = 0; oh < s->h_out; oh++)
                for (int ow = 0; ow < s->w_out; ow++) {
                    double sum = b ? (double)b[co] : 0.0;
                    for (int ci = 0; ci < s->c_in; ci++)
                        for (int i = 0; i < s->kh; i++) {
                            int ih = oh * s->stride_h - s->pad_h + i * s->dil_h;
                            if (ih < 0 || ih >= s->h_in) continue;
                            for (int j = 0; j < s->kw; j++) {
                                int iw = ow * s->stride_w - s->pad_w + j * s->dil_w;
                                if (iw < 0 || iw >= s->w_in) continue;
                                double w_val = w[(((int64_t)co * s->c_in + ci) * s->kh + i) * s->kw + j];
                                double x_val = x[(((int64_t)n * s->c_in + ci) * s->h_in + ih) * s->w_in + iw];
                                sum += w_val * x_val;
                            }
                        }
                    y[(((int64_t)n * s->c_out + co) * s->h_out + oh) * s->w_out + ow] = (real)sum;
                }
}

/* ∂L/∂x[n,ci,ih,iw] = Σ over every (co,i,j,oh,ow) whose tap reads x[n,ci,ih,iw] of w[co,ci,i,j] · dy[n,co,oh,ow].
 * The tap (i,j) of output (oh,ow) reads ih = oh·sh − ph + i·dh, so for a given (ih,i): oh = (ih + ph − i·dh)/sh,
 * valid only when that division is exact and 0 ≤ oh < h_out (same for the width). Written as a gather so each
 * dx element is one double sum, rounded once.
 * in dy [n,c_out,h_out,w_out], in w [c_out,c_in,kh,kw], acc dx [n,c_in,h_in,w_in] */
void REF_FN(conv2d_backward_data)(const bl_conv2d_shape *s, const real *dy, const real *w, real *dx) {
    for (int n = 0; n < s->n; n++)
        for (int ci = 0; ci < s->c_in; ci++)
            for (int ih = 0; ih < s->h_in; ih++)
                for (int iw = 0; iw < s->w_in; iw++) {
                    double sum = 0.0;
                    for (int co = 0; co < s->c_out; co++)
                        for (int i = 0; i < s->kh; i++) {
                            int oh_times_stride = ih + s->pad_h - i * s->dil_h;
                            if (oh_times_stride < 0 || oh_times_stride % s->stride_h != 0) continue;
                            int oh = oh_times_stride / s->stride_h;
                            if (oh >= s->h_out) continue;
                            for (int j = 0; j < s->kw; j++) {
                                int ow_times_stride = iw + s->pad_w - j * s->dil_w;
                                if (ow_times_stride < 0 || ow_times_stride % s->stride_w != 0) continue;
                                int ow = ow_times_stride / s->stride_w;
                                if (ow >= s->w_out) continue;
                                double w_val = w[(((int64_t)co * s->c_in + ci) * s->kh + i) * s->kw + j];
                                double dy_val = dy[(((int64_t)n * s->c_out + co) * s->h_out + oh) * s->w_out + ow];
                                sum += w_val * dy_val;
                            }
                        }
                    int64_t at = (((int64_t)n * s->c_in + ci) * s->h_in + ih) * s->w_in + iw;
                    dx[at] = (real)(dx[at] + sum);
                }
}

/* ∂L/∂w[co,ci,i,j] = Σ_{n,oh,ow} dy[n,co,oh,ow] · x[n,ci, oh·sh − ph + i·dh, ow·sw − pw + j·dw] (in-image taps);
 * ∂L/∂b[co] = Σ_{n,oh,ow} dy[n,co,oh,ow].
 * in x [n,c_in,h_in,w_in], in dy [n,c_out,h_out,w_out], acc dw [c_out,c_in,kh,kw] or NULL, acc db [c_out] or NULL */
void REF_FN(conv2d_backward_filter)(const bl_conv2d_shape *s, const real *x, const real *dy, real *dw, real *db) {
    if (dw) {
        for (int co = 0; co < s->c_out; co++)
            for (int ci = 0; ci < s->c_in; ci++)
                for (int i = 0; i < s->kh; i++)
                    for (int j = 0; j < s->kw; j++) {
                        double sum = 0.0;
                        for (int n = 0; n < s->n; n++)
                            for (int oh = 0; oh < s->h_out; oh++) {
                                int ih = oh * s->stride_h - s->pad_h + i * s->dil_h;
                                if (ih < 0 || ih >= s->h_in) continue;
                                for (int ow = 0; ow < s->w_out; ow++) {
                                    int iw = ow * s->stride_w - s->pad_w + j * s->dil_w;
                                    if (iw < 0 || iw >= s->w_in) continue;
                                    double dy_val = dy[(((int64_t)n * s->c_out + co) * s->h_out + oh) * s->w_out + ow];
                                    double x_val = x[(((int64_t)n * s->c_in + ci) * s->h_in + ih) * s->w_in + iw];
                                    sum += dy_val * x_val;
                                }
                            }
                        int64_t at = (((int64_t)co * s->c_in + ci) * s->kh + i) * s->kw + j;
                        dw[at] = (real)(dw[at] + sum);
                    }
    }
    if (db) {
        int64_t plane = (int64_t)s->h_out * s->w_out;
        for (int co = 0; co < s->c_out; co++) {
            double sum = 0.0;
            for (int n = 0; n < s->n; n++) {
                const real *dy_plane = dy + ((int64_t)n * s->c_out + co) * plane;
                for (int64_t k = 0; k < plane; k++) sum += dy_plane[k];
            }
            db[co] = (real)(db[co] + sum);
        }
    }
}

/* ============================================================================================================
 * batchnorm2d: per channel c over its N = n·h·w elements,
 *   x̂ = (x − mean)·invstd,  invstd = 1/√(var + eps),  y = γ·x̂ + β.
 * ========================================================================================================== */

#include "batchnorm_lanes.h" /* BN_LANES, bn_lanes_total: the order of the per-channel sums */

/* Training: mean = (1/N)Σx, var = (1/N)Σ(x − mean)² (biased, two passes, both in double, sums in lanes); then
 *   running_mean = (1 − m)·running_mean + m·mean,  running_var = (1 − m)·running_var + m·var·N/(N − 1)  (torch).
 * N == 1 makes the unbiased variance undefined (torch refuses such a batch; bl_batchnorm2d must too): the kernel
 * writes NaN to running_var rather than guess.
 * in x [n,c,h,w], in gamma [c], in beta [c], out y [n,c,h,w], io running_mean [c] or NULL, io running_var [c] or
 * NULL, out save_mean [c], out save_invstd [c] */
void REF_FN(batchnorm2d_forward_train)(const bl_batchnorm2d_shape *s, const real *x, const real *gamma,
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
void REF_FN(batchnorm2d_eval_stats)(int c, float eps, const real *running_mean, const real *running_var, real *mean,
                                    real *invstd) {
    for (int i = 0; i < c; i++) {
        mean[i] = running_mean[i];
        invstd[i] = (real)(1.0 / sqrt((double)running_var[i] + (double)eps));
    }
}

/* Eval: y = γ·(x − running_mean)/√(running_var + eps) + β; the statistics are constants.
 * in x [n,c,h,w] (samples bl_bn_x_sample_stride apart), in gamma [c], in beta [c], in running_mean [c],
 * in running_var [c], out y [n,c,h,w] */
void REF_FN(batchnorm2d_forward_eval)(const bl_batchnorm2d_shape *s, const real *x, const real *gamma,
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
void REF_FN(batchnorm2d_backward)(const bl_batchnorm2d_shape *s, int training, const real *x, const real *dy,
                                  const real *gamma, const real *mean, const real *invstd, real *dx, real *dgamma,
                                  real *dbeta) {
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

/* ============================================================================================================
 * pooling (torch semantics, floor mode): window (oh,ow) covers rows oh·sh − ph … oh·sh − ph + kh − 1, likewise
 * columns; the parts outside the image are padding.
 * ========================================================================================================== */

/* Index (within one [h_in,w_in] plane) of the window's maximum: padding counts as −inf, so only in-image
 * elements compete; a strictly greater value replaces the current one, so among ties the first in row-major
 * window order wins. A NaN always replaces it (torch's CPU rule `val > max || isnan(val)`), so NaN propagates
 * and the gradient goes to the last NaN of the window. With torch's constraint pad ≤ kernel/2 every window
 * holds at least one in-image element. */
static int64_t REF_FN(maxpool2d_argmax)(const bl_pool2d_shape *s, const real *plane, int oh, int ow) {
    int h_start = oh * s->stride_h - s->pad_h, w_start = ow * s->stride_w - s->pad_w;
    int h_first = h_start < 0 ? 0 : h_start, w_first = w_start < 0 ? 0 : w_start;
    int h_end = h_start + s->kh < s->h_in ? h_start + s->kh : s->h_in;
    int w_end = w_start + s->kw < s->w_in ? w_start + s->kw : s->w_in;
    int64_t best = (int64_t)h_first * s->w_in + w_first;
    double best_value = -INFINITY;
    for (int ih = h_first; ih < h_end; ih++)
        for (int iw = w_first; iw < w_end; iw++) {
            double value = plane[(int64_t)ih * s->w_in + iw];
            if (value > best_value || isnan(value)) {
                best_value = value;
                best = (int64_t)ih * s->w_in + iw;
            }
        }
    return best;
}

/* y[n,c,oh,ow] = max over the window of x.   in x [n,c,h_in,w_in], out y [n,c,h_out,w_out] */
void REF_FN(maxpool2d_forward)(const bl_pool2d_shape *s, const real *x, real *y) {
    int64_t in_plane = (int64_t)s->h_in * s->w_in, out_plane = (int64_t)s->h_out * s->w_out;
    for (int64_t nc = 0; nc < (int64_t)s->n * s->c; nc++) {
        const real *xp = x + nc * in_plane;
        for (int oh = 0; oh < s->h_out; oh++)
            for (int ow = 0; ow < s->w_out; ow++)
                y[nc * out_plane + (int64_t)oh * s->w_out + ow] = xp[REF_FN(maxpool2d_argmax)(s, xp, oh, ow)];
    }
}

/* ∂L/∂x[i] = Σ over the windows whose argmax is i of dy[window]: the max is locally the identity of its winning
 * input. Written as a gather over the windows covering each input (one double sum per dx element, rounded
 * once); the argmax is recomputed from x with the forward's rule, so forward and backward agree on ties.
 * in x [n,c,h_in,w_in], in dy [n,c,h_out,w_out], acc dx [n,c,h_in,w_in] */
void REF_FN(maxpool2d_backward)(const bl_pool2d_shape *s, const real *x, const real *dy, real *dx) {
    int64_t in_plane = (int64_t)s->h_in * s->w_in, out_plane = (int64_t)s->h_out * s->w_out;
    for (int64_t nc = 0; nc < (int64_t)s->n * s->c; nc++) {
        const real *xp = x + nc * in_plane;
        for (int ih = 0; ih < s->h_in; ih++)
            for (int iw = 0; iw < s->w_in; iw++) {
                int oh_first, oh_last, ow_first, ow_last;
                pool_windows_covering(ih, s->kh, s->stride_h, s->pad_h, s->h_out, &oh_first, &oh_last);
                pool_windows_covering(iw, s->kw, s->stride_w, s->pad_w, s->w_out, &ow_first, &ow_last);
                int64_t here = (int64_t)ih * s->w_in + iw;
                double sum = 0.0;
                for (int oh = oh_first; oh <= oh_last; oh++)
                    for (int ow = ow_first; ow <= ow_last; ow++)
                        if (REF_FN(maxpool2d_argmax)(s, xp, oh, ow) == here)
                            sum += dy[nc * out_plane + (int64_t)oh * s->w_out + ow];
                dx[nc * in_plane + here] = (real)(dx[nc * in_plane + here] + sum);
            }
    }
}

/* The divisor of window (oh,ow), as torch's avg_pool2d: with count_include_pad, the window clipped to the PADDED
 * input (h_in + 2·ph rows), so padding counts; without, the window clipped to the real input. Also returns the
 * in-image row/column range [h_first,h_end) × [w_first,w_end). */
static double REF_FN(avgpool2d_window)(const bl_pool2d_shape *s, int oh, int ow, int *h_first, int *h_end,
                                       int *w_first, int *w_end) {
    int h_start = oh * s->stride_h - s->pad_h, w_start = ow * s->stride_w - s->pad_w;
    int h_stop_padded = h_start + s->kh < s->h_in + s->pad_h ? h_start + s->kh : s->h_in + s->pad_h;
    int w_stop_padded = w_start + s->kw < s->w_in + s->pad_w ? w_start + s->kw : s->w_in + s->pad_w;
    int padded_size = (h_stop_padded - h_start) * (w_stop_padded - w_start);
    *h_first = h_start < 0 ? 0 : h_start;
    *w_first = w_start < 0 ? 0 : w_start;
    *h_end = h_stop_padded < s->h_in ? h_stop_padded : s->h_in;
    *w_end = w_stop_padded < s->w_in ? w_stop_padded : s->w_in;
    int real_size = (*h_end - *h_first) * (*w_end - *w_first);
    return s->count_include_pad ? (double)padded_size : (double)real_size;
}

/* y[n,c,oh,ow] = (Σ of the window's in-image x) / divisor.   in x [n,c,h_in,w_in], out y [n,c,h_out,w_out] */
void REF_FN(avgpool2d_forward)(const bl_pool2d_shape *s, const real *x, real *y) {
    int64_t in_plane = (int64_t)s->h_in * s->w_in, out_plane = (int64_t)s->h_out * s->w_out;
    for (int64_t nc = 0; nc < (int64_t)s->n * s->c; nc++) {
        const real *xp = x + nc * in_plane;
        for (int oh = 0; oh < s->h_out; oh++)
            for (int ow = 0; ow < s->w_out; ow++) {
                int h_first, h_end, w_first, w_end;
                double divisor = REF_FN(avgpool2d_window)(s, oh, ow, &h_first, &h_end, &w_first, &w_end);
                double sum = 0.0;
                for (int ih = h_first; ih < h_end; ih++)
                    for (int iw = w_first; iw < w_end; iw++) sum += xp[(int64_t)ih * s->w_in + iw];
                y[nc * out_plane + (int64_t)oh * s->w_out + ow] = (real)(sum / divisor);
            }
    }
}

/* ∂L/∂x[i] = Σ over the windows covering i of dy[window]/divisor[window] — every in-image element of a window
 * enters its mean with weight 1/divisor. A gather over the covering windows: one double sum per dx element.
 * in dy [n,c,h_out,w_out], acc dx [n,c,h_in,w_in] */
void REF_FN(avgpool2d_backward)(const bl_pool2d_shape *s, const real *dy, real *dx) {
    int64_t in_plane = (int64_t)s->h_in * s->w_in, out_plane = (int64_t)s->h_out * s->w_out;
    for (int64_t nc = 0; nc < (int64_t)s->n * s->c; nc++)
        for (int ih = 0; ih < s->h_in; ih++)
            for (int iw = 0; iw < s->w_in; iw++) {
                int oh_first, oh_last, ow_first, ow_last;
                pool_windows_covering(ih, s->kh, s->stride_h, s->pad_h, s->h_out, &oh_first, &oh_last);
                pool_windows_covering(iw, s->kw, s->stride_w, s->pad_w, s->w_out, &ow_first, &ow_last);
                double sum = 0.0;
                for (int oh = oh_first; oh <= oh_last; oh++)
                    for (int ow = ow_first; ow <= ow_last; ow++) {
                        int h_first, h_end, w_first, w_end;
                        double divisor = REF_FN(avgpool2d_window)(s, oh, ow, &h_first, &h_end, &w_first, &w_end);
                        sum += dy[nc * out_plane + (int64_t)oh * s->w_out + ow] / divisor;
                    }
                int64_t at = nc * in_plane + (int64_t)ih * s->w_in + iw;
                dx[at] = (real)(dx[at] + sum);
            }
}

/* y[i] = (1/hw)·Σ_j x[i,j].   in x [nc,hw], out y [nc] */
void REF_FN(global_avgpool_forward)(int64_t nc, int64_t hw, const real *x, real *y) {
    for (int64_t i = 0; i < nc; i++) {
        double sum = 0.0;
        for (int64_t j = 0; j < hw; j++) sum += x[i * hw + j];
        y[i] = (real)(sum / (double)hw);
    }
}

/* ∂L/∂x[i,j] += dy[i]/hw.   in dy [nc], acc dx [nc,hw] */
void REF_FN(global_avgpool_backward)(int64_t nc, int64_t hw, const real *dy, real *dx) {
    for (int64_t i = 0; i < nc; i++) {
        double share = dy[i] / (double)hw;
        for (int64_t j = 0; j < hw; j++) dx[i * hw + j] = (real)(dx[i * hw + j] + share);
    }
}

/* ============================================================================================================
 * linear: y[n,o] = b[o] + Σ_i x[n,i]·w[o,i]
 * ========================================================================================================== */

/* in x [n,in], in w [out,in], in b [out] or NULL, out y [n,out] */
void REF_FN(linear_forward)(int n, int in, int out, const real *x, const real *w, const real *b, real *y) {
    for (int r = 0; r < n; r++)
        for (int o = 0; o < out; o++) {
            double sum = b ? (double)b[o] : 0.0;
            for (int i = 0; i < in; i++) sum += (double)x[(int64_t)r * in + i] * w[(int64_t)o * in + i];
            y[(int64_t)r * out + o] = (real)sum;
        }
}

/* ∂L/∂x[n,i] = Σ_o dy[n,o]·w[o,i];  ∂L/∂w[o,i] = Σ_n dy[n,o]·x[n,i];  ∂L/∂b[o] = Σ_n dy[n,o].
 * in x [n,in], in w [out,in], in dy [n,out]; acc dx [n,in], acc dw [out,in], acc db [out] (each may be NULL) */
void REF_FN(linear_backward)(int n, int in, int out, const real *x, const real *w, const real *dy, real *dx,
                             real *dw, real *db) {
    if (dx)
        for (int r = 0; r < n; r++)
            for (int i = 0; i < in; i++) {
                double sum = 0.0;
                for (int o = 0; o < out; o++) sum += (double)dy[(int64_t)r * out + o] * w[(int64_t)o * in + i];
                dx[(int64_t)r * in + i] = (real)(dx[(int64_t)r * in + i] + sum);
            }
    if (dw)
        for (int o = 0; o < out; o++)
            for (int i = 0; i < in; i++) {
                double sum = 0.0;
                for (int r = 0; r < n; r++) sum += (double)dy[(int64_t)r * out + o] * x[(int64_t)r * in + i];
                dw[(int64_t)o * in + i] = (real)(dw[(int64_t)o * in + i] + sum);
            }
    if (db)
        for (int o = 0; o < out; o++) {
            double sum = 0.0;
            for (int r = 0; r < n; r++) sum += dy[(int64_t)r * out + o];
            db[o] = (real)(db[o] + sum);
        }
}

/* ============================================================================================================
 * elementwise
 * ========================================================================================================== */

/* y = max(x, 0).   in x [count], out y [count] */
void REF_FN(relu_forward)(int64_t count, const real *x, real *y) {
    for (int64_t i = 0; i < count; i++) y[i] = x[i] > 0 ? x[i] : (real)0;
}

/* ∂L/∂x += dy·[x > 0]; at the kink x == 0 the gradient is 0, as torch.   in x, in dy, acc dx — all [count] */
void REF_FN(relu_backward)(int64_t count, const real *x, const real *dy, real *dx) {
    for (int64_t i = 0; i < count; i++)
        if (x[i] > 0) dx[i] = (real)((double)dx[i] + dy[i]);
}

/* y = 1/(1 + e^−x), evaluated without overflow for large |x| (sigmoid_stable).   in x, out y — [count] */
void REF_FN(sigmoid_forward)(int64_t count, const real *x, real *y) {
    for (int64_t i = 0; i < count; i++) y[i] = (real)sigmoid_stable(x[i]);
}

/* σ'(x) = σ(x)·(1 − σ(x)), written from the forward's output y: ∂L/∂x += dy·y·(1 − y).
 * in y, in dy, acc dx — all [count] */
void REF_FN(sigmoid_backward)(int64_t count, const real *y, const real *dy, real *dx) {
    for (int64_t i = 0; i < count; i++) dx[i] = (real)(dx[i] + (double)dy[i] * y[i] * (1.0 - y[i]));
}

/* y = a + b.   in a, in b, out y — all [count] */
void REF_FN(add_forward)(int64_t count, const real *a, const real *b, real *y) {
    for (int64_t i = 0; i < count; i++) y[i] = (real)((double)a[i] + b[i]);
}

/* dst += alpha·src — the backward of add (both inputs), reshape/flatten, and anything that passes dy through.
 * in src [count], acc dst [count] */
void REF_FN(axpy)(int64_t count, real alpha, const real *src, real *dst) {
    for (int64_t i = 0; i < count; i++) dst[i] = (real)(dst[i] + (double)alpha * src[i]);
}

/* dst[i] += scale·alpha[0] for every i — the backward of sum (scale 1) and mean (scale 1/n) with alpha = dy:
 * a scalar gradient broadcast back over its input. The product is rounded to `real` once.
 * in alpha [1], acc dst [count] */
void REF_FN(add_scalar)(int64_t count, real scale, const real *alpha, real *dst) {
    real a = (real)(scale * alpha[0]);
    for (int64_t i = 0; i < count; i++) dst[i] = (real)((double)dst[i] + a);
}

/* y = x·mask (dropout: mask is 0 or 1/(1−p)).   in x, in mask, out y — all [count] */
void REF_FN(mul_forward)(int64_t count, const real *x, const real *mask, real *y) {
    for (int64_t i = 0; i < count; i++) y[i] = (real)((double)x[i] * mask[i]);
}

/* ∂L/∂x += dy·mask (the mask is a constant).   in mask, in dy, acc dx — all [count] */
void REF_FN(mul_backward)(int64_t count, const real *mask, const real *dy, real *dx) {
    for (int64_t i = 0; i < count; i++) dx[i] = (real)(dx[i] + (double)dy[i] * mask[i]);
}

/* ============================================================================================================
 * concat along channels: y[n, c_off + c, :] = x[n, c, :] for c < c_part
 * ========================================================================================================== */

/* in x [n,c_part,hw], out y [n,c_total,hw] (only channels c_off … c_off + c_part − 1 are written) */
void REF_FN(concat_channels_forward)(int n, int c_part, int c_total, int c_off, int64_t hw, const real *x, real *y) {
    for (int b = 0; b < n; b++)
        for (int c = 0; c < c_part; c++)
            for (int64_t k = 0; k < hw; k++)
                y[((int64_t)b * c_total + c_off + c) * hw + k] = x[((int64_t)b * c_part + c) * hw + k];
}

/* ∂L/∂x[n,c,:] += dy[n, c_off + c, :].   in dy [n,c_total,hw], acc dx [n,c_part,hw] */
void REF_FN(concat_channels_backward)(int n, int c_part, int c_total, int c_off, int64_t hw, const real *dy,
                                      real *dx) {
    for (int b = 0; b < n; b++)
        for (int c = 0; c < c_part; c++)
            for (int64_t k = 0; k < hw; k++) {
                int64_t at = ((int64_t)b * c_part + c) * hw + k;
                dx[at] = (real)(dx[at] + (double)dy[((int64_t)b * c_total + c_off + c) * hw + k]);
            }
}

/* ============================================================================================================
 * reductions and loss
 * ========================================================================================================== */

/* y[0] = (Σ x)/divisor: one sequential double sum in index order, rounded to `real`, then divided in double
 * and rounded again (divisor 1 leaves the sum as it is; mean passes the count). docs/ops/sum.md.
 * in x [count], out y [1] */
void REF_FN(sum_forward)(int64_t count, const real *x, double divisor, real *y) {
    double sum = 0.0;
    for (int64_t i = 0; i < count; i++) sum += x[i];
    real rounded = (real)sum;
    y[0] = divisor == 1.0 ? rounded : (real)((double)rounded / divisor);
}

/* L = (1/n)·Σ_i w_i·[max(z_i,0) − z_i·t_i + log(1 + e^−|z_i|)]  (w NULL → 1). This is −w·[t·log σ(z) +
 * (1 − t)·log(1 − σ(z))] rewritten so that no exp overflows and no log sees 0 (docs/ops/bce_with_logits.md).
 * n == 0 gives 0/0 = NaN, as torch's mean of nothing.
 * in z [n], in t [n], in w [n] or NULL, out loss [1] */
void REF_FN(bce_with_logits_forward)(int n, const real *z, const real *t, const real *w, real *loss) {
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        double zi = z[i], ti = t[i];
        double weight = w ? (double)w[i] : 1.0;
        total += weight * ((zi > 0 ? zi : 0.0) - zi * ti + softplus_of_minus_abs(zi));
    }
    loss[0] = (real)(total / (double)n);
}

/* ∂L/∂z_i = dloss·w_i·(σ(z_i) − t_i)/n.   in z [n], in t [n], in w [n] or NULL, in dloss [1], acc dz [n] */
void REF_FN(bce_with_logits_backward)(int n, const real *z, const real *t, const real *w, const real *dloss_in,
                                      real *dz) {
    real dloss = dloss_in[0];
    for (int i = 0; i < n; i++) {
        double weight = w ? (double)w[i] : 1.0;
        dz[i] = (real)(dz[i] + (double)dloss * weight * (sigmoid_stable(z[i]) - t[i]) / (double)n);
    }
}

/* ============================================================================================================
 * optimizers — torch 1.13's _single_tensor_sgd / _single_tensor_adam / _single_tensor_adamw (the CPU default),
 * one torch tensor operation per line (quoted on the right), each rounded to `real` as torch's float op is.
 *
 * REAL_FMA(a, b, c) = a·b + c with ONE rounding (C's fma/fmaf). It stands exactly where torch's compiled CPU
 * kernels fuse: `add(x, alpha=a)` is written with an explicit fused multiply-add (Vectorized fmadd), and
 * `addcmul` (self + value·t1·t2) is contracted to fma(value·t1, t2, self) by the compiler; `addcdiv` computes
 * self + (value·t1)/t2. With these the float variant reproduces torch 1.13 (Debian build, AVX2 kernels) bit for
 * bit — measured over 5 steps of 1000 and 1003 elements for SGD, Nesterov SGD, Adam and AdamW. Where torch runs
 * without FMA hardware its results can differ from ours in the last bit; the formulas are the same.
 * ========================================================================================================== */

/* d = grad + wd·p;  if momentum: buf = first ? d : momentum·buf + (1 − dampening)·d,
 *                                d = nesterov ? d + momentum·buf : buf;   p = p − lr·d.
 * (Dampening is not applied on the first step: torch starts the buffer as a copy of d.)
 * io p [count], in grad [count], io buf [count] (NULL and unused when momentum == 0) */
void REF_FN(sgd_update)(int64_t count, real *p, const real *grad, real *buf, float lr, float momentum,
                        float dampening, float weight_decay, int nesterov, int first_step) {
    const real one_minus_dampening = (real)(1.0 - (double)dampening);
    const real minus_lr = (real)(-(double)lr);
    for (int64_t i = 0; i < count; i++) {
        real d = grad[i];
        if (weight_decay != 0) d = REAL_FMA((real)weight_decay, p[i], d); /* d_p = d_p.add(param, alpha=wd) */
        if (momentum != 0) {
            if (first_step) buf[i] = d;                                    /* buf = torch.clone(d_p) */
            else buf[i] = REAL_FMA(one_minus_dampening, d, buf[i] * (real)momentum); /* buf.mul_(μ).add_(d_p, 1−τ) */
            d = nesterov ? REAL_FMA((real)momentum, buf[i], d) : buf[i]; /* d_p = d_p.add(buf, alpha=μ) or buf */
        }
        p[i] = REAL_FMA(minus_lr, d, p[i]);                               /* param.add_(d_p, alpha=−lr) */
    }
}

/* Adam (decoupled == 0): g = grad + wd·p.   AdamW (decoupled != 0): p = p·(1 − lr·wd), g = grad.
 * m = β1·m + (1 − β1)·g;  v = β2·v + (1 − β2)·g·g;  bc1 = 1 − β1^t;  bc2 = 1 − β2^t;
 * denom = √v/√bc2 + eps;  p = p − (lr/bc1)·m/denom.
 * Torch's order: √bc2 and step_size = lr/bc1 are computed once per step in double; eps is added to √v/√bc2
 * (outside the root). Same values as the textbook m̂ = m/bc1, v̂ = v/bc2, p −= lr·m̂/(√v̂ + eps).
 * io p [count], in grad [count], io m [count], io v [count]; step t ≥ 1 counts this update */
void REF_FN(adam_update)(int64_t count, real *p, const real *grad, real *m, real *v, float lr, float beta1,
                         float beta2, float eps, float weight_decay, int decoupled, int64_t step) {
    double bias_correction1 = 1.0 - pow((double)beta1, (double)step);
    double bias_correction2 = 1.0 - pow((double)beta2, (double)step);
    const real minus_step_size = (real)(-((double)lr / bias_correction1));
    const real bias_correction2_sqrt = (real)sqrt(bias_correction2);
    const real decay_factor = (real)(1.0 - (double)lr * (double)weight_decay);
    const real one_minus_beta1 = (real)(1.0 - (double)beta1), one_minus_beta2 = (real)(1.0 - (double)beta2);
    for (int64_t i = 0; i < count; i++) {
        real g = grad[i];
        if (decoupled) p[i] = p[i] * decay_factor;                             /* param.mul_(1 − lr·wd) */
        else if (weight_decay != 0) g = REAL_FMA((real)weight_decay, p[i], g); /* grad.add(param, alpha=wd) */
        m[i] = REAL_FMA(one_minus_beta1, g, m[i] * (real)beta1);       /* exp_avg.mul_(β1).add_(g, alpha=1−β1) */
        v[i] = REAL_FMA(one_minus_beta2 * g, g, v[i] * (real)beta2);   /* exp_avg_sq.mul_(β2).addcmul_(g, g, 1−β2) */
        real denom = (real)sqrt((double)v[i]) / bias_correction2_sqrt + (real)eps; /* (v.sqrt() / √bc2).add_(eps) */
        p[i] = p[i] + (minus_step_size * m[i]) / denom;                /* param.addcdiv_(m, denom, −step_size) */
    }
}
