/* test_gradcheck.c — every backward kernel of the ref backend against central differences, in double.
 *
 * For each op and shape: a fixed random r defines the scalar objective L = Σ r⊙y(inputs); the analytic gradient
 * is the backward kernel called with dy = r; the numeric one is (L(p + h) − L(p − h))/(2h) per input element,
 * h = 1e-6, evaluated as Σ r⊙(y₊ − y₋)/(p₊ − p₋) so that the large common part of L cancels before rounding.
 * Pass rule (Caffe): |a − n| ≤ tol·max(|a|, |n|, 1) with tol = 1e-6. Why 1e-6 is safe and still sharp: the
 * central difference's truncation error is h²·|f'''|/6 ≈ 1e-12 for our O(1) inputs, and its rounding error is
 * about ε_double·Σ|r·y|/h ≈ 1e-16·100/1e-6 = 1e-8; a wrong backward (a missing term, a wrong index) is off by
 * O(0.1–1). The table printed at the end gives the measured worst |a − n|/max(|a|,|n|,1) per op.
 * Kinks are skipped: relu inputs with |x| < 10h, maxpool inputs within 10h of their window's competing maximum.
 *
 * Alongside each op's gradients it checks: the accumulate rule (a second backward call into the same buffers
 * exactly doubles them), NULL gradient pointers (skipped, the others unchanged), batchnorm's running statistics,
 * BCE's stable form, and the float variant against the double one (within 1 ulp; the bound is argued in
 * support/gradcheck_support.h, which also holds the buffers and records shared with test_ref_semantics.c).
 * What has no gradient to check (maxpool ties/−inf padding/NaN and avgpool divisors, sgemm against a plain
 * triple loop, the optimizers against torch's formulas) is in tests/test_ref_semantics.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ref/ref.h"
#include "core/rng.h"
#include "harness.h"
#include "support/gradcheck_support.h"

#define STEP 1e-6
#define TOLERANCE 1e-6
#define KINK (10 * STEP)

/* ---------------------------------------------------------------------------------------------------------- */
/* the checks                                                                                                 */
/* ---------------------------------------------------------------------------------------------------------- */

/* y = forward(state) must read the inputs through the state's pointers, so perturbing *param is visible */
typedef void (*forward_fn)(const void *state, double *y);

/* Compare analytic[k] with the central difference of L = Σ r⊙y w.r.t. param[k] for every k not skipped. */
static double gradcheck_ratio(const char *op, forward_fn forward, const void *state, double *param, int64_t count,
                              const double *analytic, const unsigned char *skip, int64_t y_count, const double *r,
                              int64_t *worst_at, double *worst_numeric) {
    double *y_plus = malloc((size_t)y_count * sizeof(double)), *y_minus = malloc((size_t)y_count * sizeof(double));
    if (!y_plus || !y_minus) exit(2);
    op_record *rec = record_for(op);
    double worst = 0;
    *worst_at = -1;
    for (int64_t k = 0; k < count; k++) {
        if (skip && skip[k]) {
            rec->skipped++;
            continue;
        }
        double saved = param[k], up = saved + STEP, down = saved - STEP;
        param[k] = up;
        forward(state, y_plus);
        param[k] = down;
        forward(state, y_minus);
        param[k] = saved;
        double change = 0;
        for (int64_t i = 0; i < y_count; i++) change += r[i] * (y_plus[i] - y_minus[i]);
        double numeric = change / (up - down);
        double ratio = fabs(analytic[k] - numeric) / fmax(fmax(fabs(analytic[k]), fabs(numeric)), 1.0);
        if (ratio > worst || *worst_at < 0) {
            worst = ratio;
            *worst_at = k;
            *worst_numeric = numeric;
        }
        rec->checked++;
    }
    free(y_plus);
    free(y_minus);
    return worst;
}

static void gradcheck(const char *op, const char *what, forward_fn forward, const void *state, double *param,
                      int64_t count, const double *analytic, const unsigned char *skip, int64_t y_count,
                      const double *r) {
    int64_t at;
    double numeric = 0;
    double worst = gradcheck_ratio(op, forward, state, param, count, analytic, skip, y_count, r, &at, &numeric);
    op_record *rec = record_for(op);
    if (worst > rec->worst_ratio) rec->worst_ratio = worst;
    CHECK(worst <= TOLERANCE, "%s: %s: element %lld: analytic %.12g, numeric %.12g (|a-n|/max(|a|,|n|,1) = %.3g > %g)",
          op, what, (long long)at, at >= 0 ? analytic[at] : 0.0, numeric, worst, TOLERANCE);
}

/* After a backward into zeroed buffers (`once`) and the same backward twice into zeroed buffers (`twice`),
 * twice must be exactly 2·once: each call adds the same double-rounded contribution c, and c + c = 2c exactly. */
static void check_accumulates(const char *op, const char *what, const double *once, const double *twice,
                              int64_t count) {
    int64_t bad = -1;
    for (int64_t i = 0; i < count && bad < 0; i++)
        if (twice[i] != 2 * once[i]) bad = i;
    CHECK(bad < 0, "%s: %s: two backward calls do not double the gradient at %lld (%.17g vs 2·%.17g)", op, what,
          (long long)bad, bad >= 0 ? twice[bad] : 0.0, bad >= 0 ? once[bad] : 0.0);
}

static void check_equal(const char *op, const char *what, const double *got, const double *want, int64_t count) {
    int64_t bad = -1;
    for (int64_t i = 0; i < count && bad < 0; i++)
        if (got[i] != want[i]) bad = i;
    CHECK(bad < 0, "%s: %s: element %lld differs (%.17g vs %.17g)", op, what, (long long)bad,
          bad >= 0 ? got[bad] : 0.0, bad >= 0 ? want[bad] : 0.0);
}

/* ---------------------------------------------------------------------------------------------------------- */
/* conv2d                                                                                                     */
/* ---------------------------------------------------------------------------------------------------------- */

typedef struct conv_case {
    bl_conv2d_shape s;
    double *x, *w, *b;
} conv_case;

static void conv_forward(const void *state, double *y) {
    const conv_case *c = state;
    conv2d_forward_ref_f64(&c->s, c->x, c->w, c->b, y);
}

static void check_conv2d(int n, int c_in, int h, int w, int c_out, int kh, int kw, int stride_h, int stride_w,
                         int pad_h, int pad_w, int dil_h, int dil_w, int bias) {
    bl_conv2d_shape s = {n, c_in, h, w, c_out, 0, 0, kh, kw, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w};
    s.h_out = (h + 2 * pad_h - dil_h * (kh - 1) - 1) / stride_h + 1;
    s.w_out = (w + 2 * pad_w - dil_w * (kw - 1) - 1) / stride_w + 1;
    int64_t nx = (int64_t)n * c_in * h * w, nw = (int64_t)c_out * c_in * kh * kw;
    int64_t ny = (int64_t)n * c_out * s.h_out * s.w_out;
    conv_case c = {s, random_doubles(nx, -1, 1), random_doubles(nw, -1, 1), bias ? random_doubles(c_out, -1, 1) : NULL};
    double *r = random_doubles(ny, -1, 1);
    double *dx = doubles(nx), *dw = doubles(nw), *db = doubles(c_out);
    conv2d_backward_data_ref_f64(&s, r, c.w, dx);
    conv2d_backward_filter_ref_f64(&s, c.x, r, dw, bias ? db : NULL);
    gradcheck("conv2d", "dx", conv_forward, &c, c.x, nx, dx, NULL, ny, r);
    gradcheck("conv2d", "dw", conv_forward, &c, c.w, nw, dw, NULL, ny, r);
    if (bias) gradcheck("conv2d", "db", conv_forward, &c, c.b, c_out, db, NULL, ny, r);

    /* accumulate rule and NULL pointers */
    double *dx2 = doubles(nx), *dw2 = doubles(nw), *db2 = doubles(c_out), *db_only = doubles(c_out);
    for (int call = 0; call < 2; call++) {
        conv2d_backward_data_ref_f64(&s, r, c.w, dx2);
        conv2d_backward_filter_ref_f64(&s, c.x, r, dw2, db2);
    }
    check_accumulates("conv2d", "dx", dx, dx2, nx);
    check_accumulates("conv2d", "dw", dw, dw2, nw);
    double *dw_scratch = doubles(nw), *db_full = doubles(c_out), *dw_alone = doubles(nw);
    conv2d_backward_filter_ref_f64(&s, c.x, r, dw_scratch, db_full);
    conv2d_backward_filter_ref_f64(&s, c.x, r, NULL, db_only); /* dw skipped */
    conv2d_backward_filter_ref_f64(&s, c.x, r, dw_alone, NULL); /* db skipped */
    check_equal("conv2d", "db with dw == NULL", db_only, db_full, c_out);
    check_equal("conv2d", "dw with db == NULL", dw_alone, dw, nw);

    /* float variant */
    float *xf = to_floats(c.x, nx), *wf = to_floats(c.w, nw), *bf = to_floats(c.b, c_out), *rf = to_floats(r, ny);
    float *yf = floats(ny), *dxf = floats(nx), *dwf = floats(nw), *dbf = floats(c_out);
    double *y = doubles(ny);
    conv_forward(&c, y);
    conv2d_forward_ref(NULL, &s, xf, wf, bf, yf);
    conv2d_backward_data_ref(NULL, &s, rf, wf, dxf);
    conv2d_backward_filter_ref(NULL, &s, xf, rf, dwf, dbf);
    check_float_variant("conv2d", "y", yf, y, ny);
    check_float_variant("conv2d", "dx", dxf, dx, nx);
    check_float_variant("conv2d", "dw", dwf, dw, nw);
    check_float_variant("conv2d", "db", dbf, db_full, c_out);
    free_case_buffers();
}

/* ---------------------------------------------------------------------------------------------------------- */
/* batchnorm2d                                                                                                */
/* ---------------------------------------------------------------------------------------------------------- */

typedef struct bn_case {
    bl_batchnorm2d_shape s;
    int training;
    double *x, *gamma, *beta, *running_mean, *running_var;
    double *scratch_mean, *scratch_invstd; /* written by the training forward */
} bn_case;

static void bn_forward(const void *state, double *y) {
    const bn_case *c = state;
    if (c->training)
        batchnorm2d_forward_train_ref_f64(&c->s, c->x, c->gamma, c->beta, y, NULL, NULL, c->scratch_mean,
                                          c->scratch_invstd);
    else
        batchnorm2d_forward_eval_ref_f64(&c->s, c->x, c->gamma, c->beta, c->running_mean, c->running_var, y);
}

static void check_batchnorm2d(int n, int ch, int h, int w, float eps) {
    bl_batchnorm2d_shape s = {.n = n, .c = ch, .h = h, .w = w, .eps = eps, .momentum = 0.1f};
    int64_t plane = (int64_t)h * w, count = (int64_t)n * ch * plane;
    bn_case c = {s, 1, random_doubles(count, -1, 3), random_doubles(ch, -1.5, 1.5), random_doubles(ch, -1, 1),
                 random_doubles(ch, -0.5, 0.5), random_doubles(ch, 0.5, 2), doubles(ch), doubles(ch)};
    double *r = random_doubles(count, -1, 1), *y = doubles(count);
    double *dx_by_mode[2] = {NULL, NULL}; /* [training] with the SAME mean/invstd (the batch ones) */
    double *batch_mean = doubles(ch), *batch_invstd = doubles(ch);
    bn_forward(&c, y);
    memcpy(batch_mean, c.scratch_mean, (size_t)ch * sizeof(double));
    memcpy(batch_invstd, c.scratch_invstd, (size_t)ch * sizeof(double));

    for (int training = 1; training >= 0; training--) {
        const char *mode = training ? "train" : "eval";
        c.training = training;
        double *mean = doubles(ch), *invstd = doubles(ch);
        for (int k = 0; k < ch; k++) {
            mean[k] = training ? batch_mean[k] : c.running_mean[k];
            invstd[k] = training ? batch_invstd[k] : 1.0 / sqrt(c.running_var[k] + (double)eps);
        }
        double *dx = doubles(count), *dgamma = doubles(ch), *dbeta = doubles(ch);
        batchnorm2d_backward_ref_f64(&s, training, c.x, r, c.gamma, mean, invstd, dx, dgamma, dbeta);
        char what[64];
        snprintf(what, sizeof what, "%s dx", mode);
        gradcheck("batchnorm2d", what, bn_forward, &c, c.x, count, dx, NULL, count, r);
        snprintf(what, sizeof what, "%s dgamma", mode);
        gradcheck("batchnorm2d", what, bn_forward, &c, c.gamma, ch, dgamma, NULL, count, r);
        snprintf(what, sizeof what, "%s dbeta", mode);
        gradcheck("batchnorm2d", what, bn_forward, &c, c.beta, ch, dbeta, NULL, count, r);

        double *dx2 = doubles(count), *dgamma2 = doubles(ch), *dbeta2 = doubles(ch), *dx3 = doubles(count);
        for (int call = 0; call < 2; call++)
            batchnorm2d_backward_ref_f64(&s, training, c.x, r, c.gamma, mean, invstd, dx2, dgamma2, dbeta2);
        check_accumulates("batchnorm2d", "dx", dx, dx2, count);
        check_accumulates("batchnorm2d", "dgamma", dgamma, dgamma2, ch);
        check_accumulates("batchnorm2d", "dbeta", dbeta, dbeta2, ch);
        double *dgamma3 = doubles(ch), *dbeta3 = doubles(ch);
        batchnorm2d_backward_ref_f64(&s, training, c.x, r, c.gamma, mean, invstd, dx3, NULL, NULL);
        batchnorm2d_backward_ref_f64(&s, training, c.x, r, c.gamma, mean, invstd, NULL, dgamma3, NULL);
        batchnorm2d_backward_ref_f64(&s, training, c.x, r, c.gamma, mean, invstd, NULL, NULL, dbeta3);
        check_equal("batchnorm2d", "dx alone", dx3, dx, count);
        check_equal("batchnorm2d", "dgamma alone", dgamma3, dgamma, ch);
        check_equal("batchnorm2d", "dbeta alone", dbeta3, dbeta, ch);

        /* float variant: the same inputs, with mean/invstd rounded to float in both variants */
        float *xf = to_floats(c.x, count), *gf = to_floats(c.gamma, ch), *bf = to_floats(c.beta, ch);
        float *rmf = to_floats(c.running_mean, ch), *rvf = to_floats(c.running_var, ch), *rf = to_floats(r, count);
        float *yf = floats(count), *meanf = floats(ch), *invstdf = floats(ch), *dxf = floats(count);
        float *dgf = floats(ch), *dbf = floats(ch);
        bn_forward(&c, y);
        if (training) {
            batchnorm2d_forward_train_ref(NULL, &s, xf, gf, bf, yf, NULL, NULL, meanf, invstdf);
            check_float_variant("batchnorm2d", "save_mean", meanf, batch_mean, ch);
            check_float_variant("batchnorm2d", "save_invstd", invstdf, batch_invstd, ch);
        } else {
            batchnorm2d_forward_eval_ref(NULL, &s, xf, gf, bf, rmf, rvf, yf);
            for (int k = 0; k < ch; k++) meanf[k] = (float)mean[k], invstdf[k] = (float)invstd[k];
        }
        check_float_variant("batchnorm2d", training ? "train y" : "eval y", yf, y, count);
        double *mean_rounded = doubles(ch), *invstd_rounded = doubles(ch), *dx4 = doubles(count);
        double *dgamma4 = doubles(ch), *dbeta4 = doubles(ch);
        for (int k = 0; k < ch; k++) mean_rounded[k] = meanf[k], invstd_rounded[k] = invstdf[k];
        batchnorm2d_backward_ref(NULL, &s, training, xf, rf, gf, meanf, invstdf, dxf, dgf, dbf);
        batchnorm2d_backward_ref_f64(&s, training, c.x, r, c.gamma, mean_rounded, invstd_rounded, dx4, dgamma4,
                                     dbeta4);
        check_float_variant("batchnorm2d", "dx", dxf, dx4, count);
        check_float_variant("batchnorm2d", "dgamma", dgf, dgamma4, ch);
        check_float_variant("batchnorm2d", "dbeta", dbf, dbeta4, ch);

        /* train and eval backward must be different functions: same x, dy, γ, mean, invstd → different dx,
         * identical dγ, dβ (both are Σdy·x̂ and Σdy whatever the mode) */
        double *dx_same = doubles(count), *dg_same = doubles(ch), *db_same = doubles(ch);
        batchnorm2d_backward_ref_f64(&s, training, c.x, r, c.gamma, batch_mean, batch_invstd, dx_same, dg_same,
                                     db_same);
        dx_by_mode[training] = dx_same;
        if (!training) {
            double largest = 0, differs = 0;
            for (int64_t i = 0; i < count; i++) {
                largest = fmax(largest, fabs(dx_by_mode[1][i]));
                differs = fmax(differs, fabs(dx_by_mode[1][i] - dx_by_mode[0][i]));
            }
            CHECK(differs > 0.01 * largest, "batchnorm2d: train and eval backward give the same dx (max diff %g)",
                  differs);
        }
        /* training dx sums to 0 per channel: y is invariant to x + const, so Σ_k ∂L/∂x_k = 0 */
        if (training)
            for (int k = 0; k < ch; k++) {
                double sum = 0, magnitude = 0;
                for (int b = 0; b < n; b++)
                    for (int64_t j = 0; j < plane; j++) {
                        double v = dx[((int64_t)b * ch + k) * plane + j];
                        sum += v, magnitude += fabs(v);
                    }
                CHECK(fabs(sum) <= 1e-13 * magnitude + 1e-300, "batchnorm2d: train dx of channel %d sums to %g", k,
                      sum);
            }
    }
    /* running statistics, against an independent two-pass mean and unbiased variance */
    double *rm = copy_doubles(c.running_mean, ch), *rv = copy_doubles(c.running_var, ch);
    batchnorm2d_forward_train_ref_f64(&s, c.x, c.gamma, c.beta, y, rm, rv, c.scratch_mean, c.scratch_invstd);
    for (int k = 0; k < ch; k++) {
        double sum = 0, squares = 0, m = s.momentum, total = (double)n * plane;
        for (int b = 0; b < n; b++)
            for (int64_t j = 0; j < plane; j++) sum += c.x[((int64_t)b * ch + k) * plane + j];
        double mean = sum / total;
        for (int b = 0; b < n; b++)
            for (int64_t j = 0; j < plane; j++) {
                double d = c.x[((int64_t)b * ch + k) * plane + j] - mean;
                squares += d * d;
            }
        double want_rm = (1 - m) * c.running_mean[k] + m * mean;
        double want_rv = (1 - m) * c.running_var[k] + m * squares / (total - 1);
        double want_invstd = 1 / sqrt(squares / total + (double)eps);
        CHECK(fabs(rm[k] - want_rm) <= 1e-14 * fmax(fabs(want_rm), 1),
              "batchnorm2d: running_mean[%d] %.17g, want %.17g", k, rm[k], want_rm);
        CHECK(fabs(rv[k] - want_rv) <= 1e-14 * want_rv, "batchnorm2d: running_var[%d] %.17g, want %.17g (unbiased)",
              k, rv[k], want_rv);
        CHECK(fabs(c.scratch_invstd[k] - want_invstd) <= 1e-14 * want_invstd, "batchnorm2d: save_invstd[%d]", k);
    }
    free_case_buffers();
}

/* ---------------------------------------------------------------------------------------------------------- */
/* pooling                                                                                                    */
/* ---------------------------------------------------------------------------------------------------------- */

typedef struct pool_case {
    bl_pool2d_shape s;
    int is_max;
    double *x;
} pool_case;

static void pool_forward(const void *state, double *y) {
    const pool_case *c = state;
    if (c->is_max) maxpool2d_forward_ref_f64(&c->s, c->x, y);
    else avgpool2d_forward_ref_f64(&c->s, c->x, y);
}

/* Mark inputs that sit on a kink of the max: within KINK of the value they compete with in some window (the
 * window's maximum for a loser, the runner-up for the winner). Moving such an input by ±h can change the argmax. */
static void mark_maxpool_kinks(const bl_pool2d_shape *s, const double *x, unsigned char *skip) {
    for (int64_t nc = 0; nc < (int64_t)s->n * s->c; nc++) {
        const double *xp = x + nc * s->h_in * s->w_in;
        for (int oh = 0; oh < s->h_out; oh++)
            for (int ow = 0; ow < s->w_out; ow++) {
                double top = -INFINITY, second = -INFINITY;
                int64_t top_at = -1;
                for (int pass = 0; pass < 2; pass++)
                    for (int i = 0; i < s->kh; i++)
                        for (int j = 0; j < s->kw; j++) {
                            int ih = oh * s->stride_h - s->pad_h + i, iw = ow * s->stride_w - s->pad_w + j;
                            if (ih < 0 || ih >= s->h_in || iw < 0 || iw >= s->w_in) continue;
                            int64_t at = (int64_t)ih * s->w_in + iw;
                            if (pass == 0) {
                                if (xp[at] > top) second = top, top = xp[at], top_at = at;
                                else if (xp[at] > second) second = xp[at];
                            } else if (fabs(xp[at] - (at == top_at ? second : top)) < KINK) {
                                skip[nc * s->h_in * s->w_in + at] = 1;
                            }
                        }
            }
    }
}

/* ties != 0 rounds x to multiples of 1/4, so windows hold exact ties (first-max rule, kink skipping) */
static void check_pool2d(int is_max, int n, int ch, int h, int w, int kh, int kw, int stride, int pad,
                         int count_include_pad, int ties) {
    const char *op = is_max ? "maxpool2d" : "avgpool2d";
    bl_pool2d_shape s = {n, ch, h, w, (h + 2 * pad - kh) / stride + 1, (w + 2 * pad - kw) / stride + 1,
                         kh, kw, stride, stride, pad, pad, count_include_pad};
    int64_t nx = (int64_t)n * ch * h * w, ny = (int64_t)n * ch * s.h_out * s.w_out;
    pool_case c = {s, is_max, random_doubles(nx, -1, 1)};
    double *r = random_doubles(ny, -1, 1), *dx = doubles(nx), *dx2 = doubles(nx), *y = doubles(ny);
    unsigned char *skip = case_alloc(nx, 1);
    if (ties)
        for (int64_t i = 0; i < nx; i++) c.x[i] = round(4 * c.x[i]) / 4;
    for (int call = 0; call < 3; call++) {
        double *into = call == 0 ? dx : dx2;
        if (is_max) maxpool2d_backward_ref_f64(&s, c.x, r, into);
        else avgpool2d_backward_ref_f64(&s, r, into);
    }
    if (is_max) mark_maxpool_kinks(&s, c.x, skip);
    gradcheck(op, "dx", pool_forward, &c, c.x, nx, dx, skip, ny, r);
    check_accumulates(op, "dx", dx, dx2, nx);

    float *xf = to_floats(c.x, nx), *rf = to_floats(r, ny), *yf = floats(ny), *dxf = floats(nx);
    pool_forward(&c, y);
    if (is_max) maxpool2d_forward_ref(NULL, &s, xf, yf), maxpool2d_backward_ref(NULL, &s, xf, rf, dxf);
    else avgpool2d_forward_ref(NULL, &s, xf, yf), avgpool2d_backward_ref(NULL, &s, rf, dxf);
    check_float_variant(op, "y", yf, y, ny);
    check_float_variant(op, "dx", dxf, dx, nx);
    free_case_buffers();
}

/* ---------------------------------------------------------------------------------------------------------- */
/* global average pool, linear                                                                                */
/* ---------------------------------------------------------------------------------------------------------- */

typedef struct gap_case {
    int64_t nc, hw;
    double *x;
} gap_case;

static void gap_forward(const void *state, double *y) {
    const gap_case *c = state;
    global_avgpool_forward_ref_f64(c->nc, c->hw, c->x, y);
}

static void check_global_avgpool(int64_t nc, int64_t hw) {
    gap_case c = {nc, hw, random_doubles(nc * hw, -1, 1)};
    double *r = random_doubles(nc, -1, 1), *dx = doubles(nc * hw), *dx2 = doubles(nc * hw), *y = doubles(nc);
    global_avgpool_backward_ref_f64(nc, hw, r, dx);
    for (int call = 0; call < 2; call++) global_avgpool_backward_ref_f64(nc, hw, r, dx2);
    gradcheck("global_avgpool", "dx", gap_forward, &c, c.x, nc * hw, dx, NULL, nc, r);
    check_accumulates("global_avgpool", "dx", dx, dx2, nc * hw);
    float *xf = to_floats(c.x, nc * hw), *rf = to_floats(r, nc), *yf = floats(nc), *dxf = floats(nc * hw);
    gap_forward(&c, y);
    global_avgpool_forward_ref(NULL, nc, hw, xf, yf);
    global_avgpool_backward_ref(NULL, nc, hw, rf, dxf);
    check_float_variant("global_avgpool", "y", yf, y, nc);
    check_float_variant("global_avgpool", "dx", dxf, dx, nc * hw);
    free_case_buffers();
}

typedef struct linear_case {
    int n, in, out;
    double *x, *w, *b;
} linear_case;

static void linear_forward(const void *state, double *y) {
    const linear_case *c = state;
    linear_forward_ref_f64(c->n, c->in, c->out, c->x, c->w, c->b, y);
}

static void check_linear(int n, int in, int out, int bias) {
    int64_t nx = (int64_t)n * in, nw = (int64_t)out * in, ny = (int64_t)n * out;
    linear_case c = {n, in, out, random_doubles(nx, -1, 1), random_doubles(nw, -1, 1),
                     bias ? random_doubles(out, -1, 1) : NULL};
    double *r = random_doubles(ny, -1, 1), *y = doubles(ny);
    double *dx = doubles(nx), *dw = doubles(nw), *db = doubles(out);
    double *dx2 = doubles(nx), *dw2 = doubles(nw), *db2 = doubles(out);
    double *dx3 = doubles(nx), *dw3 = doubles(nw), *db3 = doubles(out);
    linear_backward_ref_f64(n, in, out, c.x, c.w, r, dx, dw, db);
    for (int call = 0; call < 2; call++) linear_backward_ref_f64(n, in, out, c.x, c.w, r, dx2, dw2, db2);
    linear_backward_ref_f64(n, in, out, c.x, c.w, r, dx3, NULL, NULL);
    linear_backward_ref_f64(n, in, out, c.x, c.w, r, NULL, dw3, NULL);
    linear_backward_ref_f64(n, in, out, c.x, c.w, r, NULL, NULL, db3);
    gradcheck("linear", "dx", linear_forward, &c, c.x, nx, dx, NULL, ny, r);
    gradcheck("linear", "dw", linear_forward, &c, c.w, nw, dw, NULL, ny, r);
    if (bias) gradcheck("linear", "db", linear_forward, &c, c.b, out, db, NULL, ny, r);
    check_accumulates("linear", "dx", dx, dx2, nx);
    check_accumulates("linear", "dw", dw, dw2, nw);
    check_accumulates("linear", "db", db, db2, out);
    check_equal("linear", "dx alone", dx3, dx, nx);
    check_equal("linear", "dw alone", dw3, dw, nw);
    check_equal("linear", "db alone", db3, db, out);
    float *xf = to_floats(c.x, nx), *wf = to_floats(c.w, nw), *bf = to_floats(c.b, out), *rf = to_floats(r, ny);
    float *yf = floats(ny), *dxf = floats(nx), *dwf = floats(nw), *dbf = floats(out);
    linear_forward(&c, y);
    linear_forward_ref(NULL, n, in, out, xf, wf, bf, yf);
    linear_backward_ref(NULL, n, in, out, xf, wf, rf, dxf, dwf, dbf);
    check_float_variant("linear", "y", yf, y, ny);
    check_float_variant("linear", "dx", dxf, dx, nx);
    check_float_variant("linear", "dw", dwf, dw, nw);
    check_float_variant("linear", "db", dbf, db, out);
    free_case_buffers();
}

/* ---------------------------------------------------------------------------------------------------------- */
/* elementwise ops, sum/mean: one case type, the kind picks the kernels                                      */
/* ---------------------------------------------------------------------------------------------------------- */

typedef enum ew_kind { EW_RELU, EW_SIGMOID, EW_ADD, EW_AXPY, EW_MUL, EW_SUM, EW_MEAN } ew_kind;
static const char *const ew_names[] = {"relu", "sigmoid", "add", "axpy", "mul (dropout)", "sum", "mean"};

typedef struct ew_case {
    ew_kind kind;
    int64_t count;
    double *a, *b; /* a: x / src; b: second operand / dst / mask (or NULL) */
    double alpha;  /* axpy */
} ew_case;

static int64_t ew_y_count(const ew_case *c) { return c->kind == EW_SUM || c->kind == EW_MEAN ? 1 : c->count; }

static void ew_forward(const void *state, double *y) {
    const ew_case *c = state;
    switch (c->kind) {
    case EW_RELU: relu_forward_ref_f64(c->count, c->a, y); break;
    case EW_SIGMOID: sigmoid_forward_ref_f64(c->count, c->a, y); break;
    case EW_ADD: add_forward_ref_f64(c->count, c->a, c->b, y); break;
    case EW_AXPY: /* y = dst + alpha·src, as a function of both */
        memcpy(y, c->b, (size_t)c->count * sizeof *y);
        axpy_ref_f64(c->count, c->alpha, c->a, y);
        break;
    case EW_MUL: mul_forward_ref_f64(c->count, c->a, c->b, y); break;
    case EW_SUM: sum_forward_ref_f64(c->count, c->a, 1.0, y); break;
    case EW_MEAN: sum_forward_ref_f64(c->count, c->a, (double)c->count, y); break;
    }
}

/* the backward each autograd op uses (core/op_elementwise.c, op_loss.c): acc da, acc db (NULL: not an input) */
static void ew_backward(const ew_case *c, const double *y, const double *dy, double *da, double *db) {
    switch (c->kind) {
    case EW_RELU: relu_backward_ref_f64(c->count, c->a, dy, da); break;
    case EW_SIGMOID: sigmoid_backward_ref_f64(c->count, y, dy, da); break;
    case EW_ADD: axpy_ref_f64(c->count, 1.0, dy, da), axpy_ref_f64(c->count, 1.0, dy, db); break;
    case EW_AXPY: axpy_ref_f64(c->count, c->alpha, dy, da), axpy_ref_f64(c->count, 1.0, dy, db); break;
    case EW_MUL: mul_backward_ref_f64(c->count, c->b, dy, da); break;
    case EW_SUM: add_scalar_ref_f64(c->count, 1.0, dy, da); break;
    case EW_MEAN: add_scalar_ref_f64(c->count, 1.0 / (double)c->count, dy, da); break;
    }
}

static void ew_run_float(const ew_case *c, const float *a, const float *b, const float *dy, float *y, float *da,
                         float *db) {
    switch (c->kind) {
    case EW_RELU: relu_forward_ref(NULL, c->count, a, y), relu_backward_ref(NULL, c->count, a, dy, da); break;
    case EW_SIGMOID: sigmoid_forward_ref(NULL, c->count, a, y), sigmoid_backward_ref(NULL, c->count, y, dy, da); break;
    case EW_ADD:
        add_forward_ref(NULL, c->count, a, b, y);
        axpy_ref(NULL, c->count, 1.0f, dy, da), axpy_ref(NULL, c->count, 1.0f, dy, db);
        break;
    case EW_AXPY:
        memcpy(y, b, (size_t)c->count * sizeof *y);
        axpy_ref(NULL, c->count, (float)c->alpha, a, y);
        axpy_ref(NULL, c->count, (float)c->alpha, dy, da), axpy_ref(NULL, c->count, 1.0f, dy, db);
        break;
    case EW_MUL: mul_forward_ref(NULL, c->count, a, b, y), mul_backward_ref(NULL, c->count, b, dy, da); break;
    case EW_SUM: sum_forward_ref(NULL, c->count, a, 1.0, y), add_scalar_ref(NULL, c->count, 1.0f, dy, da); break;
    case EW_MEAN: break; /* mean is sum's kernels with a scale; covered by EW_SUM */
    }
}

static void check_elementwise(ew_kind kind, int64_t count, double lo, double hi) {
    const char *op = ew_names[kind];
    ew_case c = {kind, count, random_doubles(count, lo, hi), NULL, 0.75};
    if (kind == EW_ADD || kind == EW_AXPY) c.b = random_doubles(count, -1, 1);
    if (kind == EW_MUL) { /* a real dropout mask: stream (seed, BL_RNG_DROPOUT, step·2^20 + call), p = 0.3 */
        const double p = 0.3;
        bl_rng rng = bl_rng_stream(GRADCHECK_SEED, BL_RNG_DROPOUT, ((uint64_t)7 << 20) + 2);
        c.b = doubles(count);
        for (int64_t i = 0; i < count; i++)
            c.b[i] = bl_rng_uniform(&rng) >= (float)p ? (double)(1.0f / (1.0f - (float)p)) : 0.0;
    }
    if (kind == EW_RELU) c.a[0] = 0.0, c.a[1] = 1e-9; /* the kink itself: gradient 0 at x == 0, as torch */
    if (kind == EW_SIGMOID) c.a[0] = 40, c.a[1] = -40, c.a[2] = 0, c.a[3] = -745, c.a[4] = 800;
    int64_t ny = ew_y_count(&c);
    double *r = random_doubles(ny, -1, 1), *y = doubles(ny);
    double *da = doubles(count), *db = doubles(count), *da2 = doubles(count), *db2 = doubles(count);
    unsigned char *skip = case_alloc(count, 1);
    ew_forward(&c, y);
    ew_backward(&c, y, r, da, db);
    for (int call = 0; call < 2; call++) ew_backward(&c, y, r, da2, db2);
    if (kind == EW_RELU)
        for (int64_t i = 0; i < count; i++) skip[i] = fabs(c.a[i]) < KINK;
    gradcheck(op, "da", ew_forward, &c, c.a, count, da, skip, ny, r);
    if (kind == EW_ADD || kind == EW_AXPY) gradcheck(op, "db", ew_forward, &c, c.b, count, db, NULL, ny, r);
    check_accumulates(op, "da", da, da2, count);
    if (kind == EW_RELU) CHECK(da[0] == 0.0, "relu: gradient at x == 0 must be 0, got %g", da[0]);
    if (kind == EW_SIGMOID)
        CHECK(y[3] > 0 && y[3] < 1e-300 && y[4] == 1.0 && y[2] == 0.5, "sigmoid: extreme inputs give %g %g %g", y[2],
              y[3], y[4]);

    if (kind != EW_MEAN) {
        float *af = to_floats(c.a, count), *bf = to_floats(c.b, count), *rf = to_floats(r, ny);
        float *yf = floats(count), *daf = floats(count), *dbf = floats(count);
        double *da_rounded_y = doubles(count);
        ew_run_float(&c, af, bf, rf, yf, daf, dbf);
        check_float_variant(op, "y", yf, y, ny);
        if (kind == EW_SIGMOID) { /* the float backward reads the float y: compare with the double one on it */
            double *yr = doubles(count);
            for (int64_t i = 0; i < count; i++) yr[i] = yf[i];
            sigmoid_backward_ref_f64(count, yr, r, da_rounded_y);
            check_float_variant(op, "da", daf, da_rounded_y, count);
        } else {
            check_float_variant(op, "da", daf, da, count);
        }
        if (kind == EW_ADD || kind == EW_AXPY) check_float_variant(op, "db", dbf, db, count);
    }
    free_case_buffers();
}

/* ---------------------------------------------------------------------------------------------------------- */
/* concat along channels, BCE with logits                                                                     */
/* ---------------------------------------------------------------------------------------------------------- */

typedef struct concat_case {
    int n, c_part, c_total, c_off;
    int64_t hw;
    double *x;
} concat_case;

static void concat_forward(const void *state, double *y) {
    const concat_case *c = state;
    memset(y, 0, (size_t)c->n * c->c_total * c->hw * sizeof *y); /* channels outside the slice: constant 0 */
    concat_channels_forward_ref_f64(c->n, c->c_part, c->c_total, c->c_off, c->hw, c->x, y);
}

static void check_concat_channels(int n, int64_t hw) {
    const int parts[3] = {2, 3, 2}, offsets[3] = {0, 2, 5}, c_total = 7;
    int64_t ny = (int64_t)n * c_total * hw;
    double *r = random_doubles(ny, -1, 1), *y = doubles(ny), *y_all = doubles(ny);
    for (int p = 0; p < 3; p++) {
        int64_t nx = (int64_t)n * parts[p] * hw;
        concat_case c = {n, parts[p], c_total, offsets[p], hw, random_doubles(nx, -1, 1)};
        double *dx = doubles(nx), *dx2 = doubles(nx);
        concat_channels_backward_ref_f64(n, parts[p], c_total, offsets[p], hw, r, dx);
        for (int call = 0; call < 2; call++)
            concat_channels_backward_ref_f64(n, parts[p], c_total, offsets[p], hw, r, dx2);
        gradcheck("concat_channels", "dx", concat_forward, &c, c.x, nx, dx, NULL, ny, r);
        check_accumulates("concat_channels", "dx", dx, dx2, nx);
        /* layout, written out independently: y[b, off + k, j] = x[b, k, j] */
        concat_channels_forward_ref_f64(n, parts[p], c_total, offsets[p], hw, c.x, y_all);
        for (int b = 0; b < n; b++)
            for (int k = 0; k < parts[p]; k++)
                for (int64_t j = 0; j < hw; j++)
                    CHECK(y_all[((int64_t)b * c_total + offsets[p] + k) * hw + j] ==
                              c.x[((int64_t)b * parts[p] + k) * hw + j],
                          "concat_channels: part %d misplaced at (%d,%d,%lld)", p, b, k, (long long)j);
        float *xf = to_floats(c.x, nx), *rf = to_floats(r, ny), *yf = floats(ny), *dxf = floats(nx);
        concat_forward(&c, y);
        concat_channels_forward_ref(NULL, n, parts[p], c_total, offsets[p], hw, xf, yf);
        concat_channels_backward_ref(NULL, n, parts[p], c_total, offsets[p], hw, rf, dxf);
        check_float_variant("concat_channels", "y", yf, y, ny);
        check_float_variant("concat_channels", "dx", dxf, dx, nx);
    }
    free_case_buffers();
}

typedef struct bce_case {
    int n;
    double *z, *t, *w;
} bce_case;

static void bce_forward(const void *state, double *loss) {
    const bce_case *c = state;
    bce_with_logits_forward_ref_f64(c->n, c->z, c->t, c->w, loss);
}

static void check_bce_with_logits(int n, int weighted) {
    bce_case c = {n, random_doubles(n, -4, 4), random_doubles(n, 0, 1), weighted ? random_doubles(n, 0.5, 2) : NULL};
    c.z[0] = 30, c.z[1] = -30, c.z[2] = 0, c.t[0] = 0, c.t[1] = 1, c.t[3] = 1, c.t[4] = 0; /* hard and soft labels */
    double r[1] = {-0.75}, loss[1], dz[64] = {0}, dz2[64] = {0};
    bce_with_logits_backward_ref_f64(n, c.z, c.t, c.w, r, dz);
    for (int call = 0; call < 2; call++) bce_with_logits_backward_ref_f64(n, c.z, c.t, c.w, r, dz2);
    gradcheck("bce_with_logits", "dz", bce_forward, &c, c.z, n, dz, NULL, 1, r);
    check_accumulates("bce_with_logits", "dz", dz, dz2, n);
    /* forward against the textbook −w·[t·log σ(z) + (1−t)·log(1 − σ(z))], with 1 − σ(z) written as σ(−z) so
     * that it does not cancel; plain exp is safe for |z| ≤ 30. Both sides are good to ~1e-15 relative. */
    double textbook = 0;
    for (int i = 0; i < n; i++) {
        double weight = c.w ? c.w[i] : 1;
        double log_sig = log(1 / (1 + exp(-c.z[i]))), log_one_minus_sig = log(1 / (1 + exp(c.z[i])));
        textbook += -weight * (c.t[i] * log_sig + (1 - c.t[i]) * log_one_minus_sig);
    }
    textbook /= n;
    bce_forward(&c, loss);
    CHECK(fabs(loss[0] - textbook) <= 1e-13 * textbook, "bce_with_logits: %.17g vs textbook %.17g", loss[0], textbook);
    /* extreme logits: the stable form stays finite where the textbook one gives log(0) */
    double z_big[2] = {100, -100}, t_big[2] = {0, 1}, big_loss[1];
    bce_with_logits_forward_ref_f64(2, z_big, t_big, NULL, big_loss);
    CHECK(fabs(big_loss[0] - 100) <= 1e-13 * 100, "bce_with_logits: |z| = 100, wrong label: loss %.17g, want 100",
          big_loss[0]);
    float *zf = to_floats(c.z, n), *tf = to_floats(c.t, n), *wf = to_floats(c.w, n), lossf[1], dzf[64] = {0};
    bce_with_logits_forward_ref(NULL, n, zf, tf, wf, lossf);
    const float rf = (float)r[0];
    bce_with_logits_backward_ref(NULL, n, zf, tf, wf, &rf, dzf);
    check_float_variant("bce_with_logits", "loss", lossf, loss, 1);
    check_float_variant("bce_with_logits", "dz", dzf, dz, n);
    free_case_buffers();
}

/* ---------------------------------------------------------------------------------------------------------- */

/* The checker must be able to fail: a gradient off by 1e-4 in one element has to be caught. */
static void check_negative_control(void) {
    linear_case c = {2, 3, 2, random_doubles(6, -1, 1), random_doubles(6, -1, 1), NULL};
    double *r = random_doubles(4, -1, 1), dx[6] = {0}, numeric;
    int64_t at;
    linear_backward_ref_f64(2, 3, 2, c.x, c.w, r, dx, NULL, NULL);
    dx[4] += 1e-4;
    double ratio = gradcheck_ratio("negative control", linear_forward, &c, c.x, 6, dx, NULL, 4, r, &at, &numeric);
    CHECK(ratio > TOLERANCE && at == 4, "gradcheck missed a wrong gradient (ratio %g at %lld)", ratio, (long long)at);
    record_for("negative control")->worst_ratio = ratio;
    free_case_buffers();
}

int main(void) {
    struct timespec start, end;
    timespec_get(&start, TIME_UTC);
    check_negative_control();
    /*            n  cin  h   w  cout kh kw sh sw ph pw dh dw bias */
    check_conv2d(1, 2, 5, 7, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1);   /* odd 5×7, padding */
    check_conv2d(3, 3, 9, 8, 2, 3, 3, 2, 2, 1, 1, 1, 1, 0);   /* batch 3, stride 2, no bias */
    check_conv2d(2, 2, 9, 9, 2, 3, 3, 1, 1, 2, 2, 2, 2, 1);   /* dilation 2 */
    check_conv2d(2, 4, 5, 7, 3, 1, 1, 1, 1, 0, 0, 1, 1, 1);   /* 1×1 */
    check_conv2d(1, 3, 6, 7, 4, 1, 1, 2, 2, 0, 0, 1, 1, 0);   /* 1×1 stride 2 (ResNet downsample) */
    check_conv2d(1, 2, 11, 10, 2, 7, 7, 2, 2, 3, 3, 1, 1, 1); /* 7×7 stride 2 pad 3 (stem) */
    check_conv2d(2, 2, 7, 8, 3, 2, 3, 1, 2, 0, 1, 2, 1, 1);   /* every parameter different in h and w */
    check_conv2d(2, 5, 12, 11, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1); /* larger */
    check_conv2d(1, 2, 13, 12, 3, 5, 5, 2, 2, 4, 4, 2, 2, 0); /* 5×5, stride 2, dilation 2, padding 4 */
    check_batchnorm2d(3, 2, 5, 7, 1e-5f);
    check_batchnorm2d(1, 3, 4, 4, 1.001e-5f);
    check_batchnorm2d(4, 2, 1, 1, 1e-3f); /* after a global pool: N·1·1 values per channel */
    check_batchnorm2d(2, 6, 6, 5, 1e-5f);
    /*          max n  c  h  w kh kw stride pad include_pad ties */
    check_pool2d(1, 2, 2, 9, 9, 3, 3, 2, 1, 1, 0); /* ResNet stem max pool */
    check_pool2d(1, 1, 3, 6, 8, 2, 2, 2, 0, 1, 0); /* VGG */
    check_pool2d(1, 3, 1, 5, 7, 3, 3, 1, 1, 1, 0); /* overlapping windows, odd size */
    check_pool2d(1, 1, 2, 5, 7, 2, 2, 2, 0, 1, 0); /* floor mode drops the last row and column */
    check_pool2d(1, 1, 2, 7, 6, 3, 2, 2, 1, 1, 0); /* non-square window */
    check_pool2d(1, 2, 4, 14, 13, 3, 3, 2, 1, 1, 0); /* larger */
    check_pool2d(1, 2, 3, 8, 9, 3, 3, 1, 1, 1, 1);   /* exact ties everywhere: kinks skipped */
    check_pool2d(0, 2, 2, 6, 8, 2, 2, 2, 0, 1, 0); /* DenseNet transition */
    for (int include_pad = 0; include_pad <= 1; include_pad++) {
        check_pool2d(0, 1, 2, 5, 7, 3, 3, 1, 1, include_pad, 0);
        check_pool2d(0, 3, 1, 5, 7, 3, 3, 2, 1, include_pad, 0);
        check_pool2d(0, 1, 2, 7, 6, 3, 2, 2, 1, include_pad, 0);
    }
    check_global_avgpool(6, 35);
    check_global_avgpool(3, 1);
    check_linear(3, 5, 4, 1);
    check_linear(1, 7, 2, 0);
    check_linear(4, 1, 3, 1);
    check_elementwise(EW_RELU, 64, -2, 2);
    check_elementwise(EW_SIGMOID, 64, -8, 8);
    check_elementwise(EW_ADD, 64, -1, 1);
    check_elementwise(EW_AXPY, 64, -1, 1);
    check_elementwise(EW_MUL, 64, -1, 1);
    check_elementwise(EW_SUM, 37, -1, 1);
    check_elementwise(EW_MEAN, 37, -1, 1);
    check_concat_channels(2, 15);
    check_concat_channels(1, 1);
    check_bce_with_logits(9, 0);
    check_bce_with_logits(9, 1);
    print_records();
    timespec_get(&end, TIME_UTC);
    printf("time: %.2f s\n", (double)(end.tv_sec - start.tv_sec) + 1e-9 * (double)(end.tv_nsec - start.tv_nsec));
    release_case_buffers();
    return test_summary("test_gradcheck");
}
