/* batchnorm2d.c — the op-test cases of batchnorm2d (docs/ops/batchnorm2d.md): bl_batchnorm2d in training and eval
 * mode, its fused eval forms (bl_batchnorm2d_relu, bl_batchnorm2d_relu_channels on the channel prefix of a wider
 * tensor) and the strided eval kernel, on every backend; the golden replay; the float64 gradient check.
 *
 * Tolerances: the cpu backend is bitwise ref (its sums run in ref's lanes, in ref's order: core/cpu/cpu_ops.h).
 * cuda: the eval forward (plain, fused, strided) and the eval backward's dx are bitwise; every double reduction
 * (training forward and backward, running statistics, the eval backward's dγ and dβ) within 2 ulps. */
#include <stdio.h>
#include <math.h>
#include <string.h>

#include "core/op_fused.h"
#include "core/ref/ref.h"
#include "harness.h"
#include "ops/gradcheck64.h"
#include "ops/optest.h"

enum { X, GAMMA, BETA, MEAN, VAR };
enum { PLAIN = 0, RELU_FUSED, RELU_CHANNELS, STRIDED_EVAL };

/* x [n, c, h, w] (awkward values in [lo, hi)), γ, β, running mean and variance [c] */
#define BN(n, c, h, w, LO, HI)                                                                                        \
    .in = {{.ndim = 4, .shape = {n, c, h, w}, .lo = LO, .hi = HI, .fill = OPTEST_AWKWARD},                            \
           {.ndim = 1, .shape = {c}, .lo = 0.5f, .hi = 1.5f},                                                        \
           {.ndim = 1, .shape = {c}},                                                                                \
           {.ndim = 1, .shape = {c}},                                                                                \
           {.ndim = 1, .shape = {c}, .lo = 0.5f, .hi = 2.0f}}
#define TRAIN(EPS, M) .a = {.training = 1, .eps = EPS, .momentum = M}
#define EVAL(EPS) .a = {.training = 0, .eps = EPS, .momentum = 0.1f}
/* every input without gradient (the fused eval forms record nothing) */
#define FROZEN(n, c, h, w)                                                                                            \
    .in = {{.ndim = 4, .shape = {n, c, h, w}, .lo = -2, .hi = 2, .role = OPTEST_NOGRAD},                              \
           {.ndim = 1, .shape = {c}, .lo = -1.5f, .hi = 1.5f, .role = OPTEST_BUFFER},                                \
           {.ndim = 1, .shape = {c}, .role = OPTEST_BUFFER},                                                         \
           {.ndim = 1, .shape = {c}},                                                                                \
           {.ndim = 1, .shape = {c}, .lo = 0.1f, .hi = 2.0f}}

static const optest_case cases[] = {
    /* training: y, save statistics (through the backward), running statistics, the full backward */
    {"train 3x10x56x56 (two channel blocks + a tail)", BN(3, 10, 56, 56, -2, 3), TRAIN(1e-5f, 0.1f)},
    {"train 8x7x7x7", BN(8, 7, 7, 7, -2, 3), TRAIN(1e-5f, 0.1f)},
    {"train 2x3x5x9 (a tail only)", BN(2, 3, 5, 9, -2, 3), TRAIN(1e-5f, 0.1f)},
    {"train 2x5x3x4", BN(2, 5, 3, 4, -2, 3), TRAIN(1e-5f, 0.1f)},
    {"train 8x3x40x40, mean 10 spread 0.5 (the hard case of docs/numerics.md)", BN(8, 3, 40, 40, 9.5f, 10.5f),
     TRAIN(1e-3f, 0.01f)},
    {"train 16x7x33x31 (odd sizes)", BN(16, 7, 33, 31, -2, 3), TRAIN(1e-5f, 0.1f)},
    {"train 4x64x1x1 (after a global pool)", BN(4, 64, 1, 1, -2, 3), TRAIN(1e-5f, 0.1f)},
    {"train without running statistics",
     .in = {{.ndim = 4, .shape = {2, 5, 3, 4}}, {.ndim = 1, .shape = {5}}, {.ndim = 1, .shape = {5}}, {0}, {0}},
     TRAIN(1e-5f, 0.1f)},
    {"train, only dbeta wanted (dx, dgamma NULL)",
     .in = {{.ndim = 4, .shape = {3, 10, 8, 8}, .role = OPTEST_NOGRAD},
            {.ndim = 1, .shape = {10}, .lo = 0.5f, .hi = 1.5f, .role = OPTEST_BUFFER},
            {.ndim = 1, .shape = {10}},
            {.ndim = 1, .shape = {10}},
            {.ndim = 1, .shape = {10}, .lo = 0.5f, .hi = 2.0f}},
     TRAIN(1e-5f, 0.1f)},
    /* eval: running statistics; the backward with constant statistics */
    {"eval 3x10x56x56", BN(3, 10, 56, 56, -2, 3), EVAL(1e-5f)},
    {"eval 8x7x7x7", BN(8, 7, 7, 7, -2, 3), EVAL(1e-5f)},
    {"eval 16x7x33x31", BN(16, 7, 33, 31, -2, 3), EVAL(1e-5f)},
    {"eval, dx only (gamma, beta frozen)",
     .in = {{.ndim = 4, .shape = {4, 6, 9, 9}},
            {.ndim = 1, .shape = {6}, .lo = 0.5f, .hi = 1.5f, .role = OPTEST_BUFFER},
            {.ndim = 1, .shape = {6}, .role = OPTEST_BUFFER},
            {.ndim = 1, .shape = {6}},
            {.ndim = 1, .shape = {6}, .lo = 0.5f, .hi = 2.0f}},
     EVAL(1e-5f)},
    /* the fused eval forms and the strided kernel: x's channels at the start of wider samples (a DenseNet block
     * buffer), the rest NaN and never read */
    {"eval batchnorm + relu, fused", FROZEN(3, 10, 13, 11), .a = {.eps = 1e-5f, .variant = RELU_FUSED}},
    {"eval batchnorm + relu of a channel prefix (x_sample_stride)", FROZEN(3, 11, 9, 7),
     .a = {.eps = 1e-5f, .variant = RELU_CHANNELS}},
    {"eval batchnorm of a channel prefix (the plain strided kernel)", FROZEN(3, 11, 9, 7),
     .a = {.eps = 1e-5f, .variant = STRIDED_EVAL}},
    {"eval batchnorm + relu of a prefix, 16x7x33x31", FROZEN(16, 7, 33, 31),
     .a = {.eps = 1e-5f, .variant = RELU_CHANNELS}},
    /* the gradient-check shapes (train and eval backward, both checked in the float64 check) */
    {"gradcheck 3x2x5x7", BN(3, 2, 5, 7, -1, 3), TRAIN(1e-5f, 0.1f), OPTEST_GRADCHECK},
    {"gradcheck 1x3x4x4, Keras eps", BN(1, 3, 4, 4, -1, 3), TRAIN(1.001e-5f, 0.1f), OPTEST_GRADCHECK},
    {"gradcheck 4x2x1x1", BN(4, 2, 1, 1, -1, 3), TRAIN(1e-3f, 0.1f), OPTEST_GRADCHECK},
    {"gradcheck 2x6x6x5", BN(2, 6, 6, 5, -1, 3), TRAIN(1e-5f, 0.1f), OPTEST_GRADCHECK},
};

/* x's channels copied to the start of samples 3 channels wider, the rest NaN: the tensor a prefix op reads */
static bl_tensor *widened(bl_ctx *ctx, bl_tensor *x) {
    int shape[4] = {x->shape[0], x->shape[1] + 3, x->shape[2], x->shape[3]};
    bl_tensor *wide = bl_tensor_new(ctx, 4, shape);
    if (!wide) return NULL;
    bl_ctx_kernels(ctx)->fill(wide->numel, NAN, wide->data);
    return bl_copy_channels(ctx, wide, 0, x) == BL_OK ? wide : NULL;
}

static bl_tensor *build(optest_run *r) {
    const optest_attrs *a = optest_attrs_of(r);
    bl_ctx *ctx = optest_ctx(r);
    bl_tensor *x = optest_in(r, X), *g = optest_in(r, GAMMA), *b = optest_in(r, BETA);
    bl_tensor *rm = optest_in(r, MEAN), *rv = optest_in(r, VAR);
    bl_set_training(ctx, a->training);
    switch (a->variant) {
    case RELU_FUSED: return bl_batchnorm2d_relu(ctx, x, g, b, rm, rv, a->eps, 0.1f);
    case RELU_CHANNELS: return bl_batchnorm2d_relu_channels(ctx, widened(ctx, x), x->shape[1], g, b, rm, rv, a->eps);
    case STRIDED_EVAL: {
        bl_tensor *wide = widened(ctx, x), *y = bl_tensor_new(ctx, 4, x->shape);
        if (!wide || !y) return NULL;
        bl_batchnorm2d_shape s = {.n = x->shape[0], .c = x->shape[1], .h = x->shape[2], .w = x->shape[3],
                                  .eps = a->eps, .momentum = 0.1f,
                                  .x_sample_stride = (int64_t)wide->shape[1] * x->shape[2] * x->shape[3]};
        const bl_kernels *k = bl_ctx_kernels(ctx);
        k->batchnorm2d_forward_eval(k, &s, wide->data, g->data, b->data, rm->data, rv->data, y->data);
        return y;
    }
    default: return bl_batchnorm2d(ctx, x, g, b, rm, rv, a->eps, a->momentum);
    }
}

static optest_tol tolerance(const optest_case *c, const char *t, optest_class cls, int64_t *k) {
    if (cls == OPTEST_EXACT_BACKEND || cls == OPTEST_CPU) return OPTEST_BITWISE;
    if (c->a.training) return OPTEST_ULPS;             /* double reductions in another order */
    return strcmp(t, "y") == 0 || strcmp(t, "dx") == 0 ? OPTEST_BITWISE : OPTEST_ULPS;
}

static void golden_attrs(const void *json, const char *op, optest_attrs *a) {
    a->training = (int)optest_golden_attr(json, "training", 0, 1);
    a->eps = (float)optest_golden_attr(json, "eps", 0, 1e-5);
    a->momentum = (float)optest_golden_attr(json, "momentum", 0, 0.1);
}

/* ---- the float64 gradient check of ref's kernels ---- */

typedef struct bn_state {
    bl_batchnorm2d_shape s;
    int training;
    double *x, *gamma, *beta, *running_mean, *running_var;
    double *scratch_mean, *scratch_invstd; /* written by the training forward */
} bn_state;

static void bn_forward(const void *state, double *y) {
    const bn_state *c = state;
    if (c->training)
        batchnorm2d_forward_train_ref_f64(&c->s, c->x, c->gamma, c->beta, y, NULL, NULL, c->scratch_mean,
                                          c->scratch_invstd);
    else
        batchnorm2d_forward_eval_ref_f64(&c->s, c->x, c->gamma, c->beta, c->running_mean, c->running_var, y);
}

static void gradcheck_case(const optest_case *t) {
    const int n = t->in[X].shape[0], ch = t->in[X].shape[1], h = t->in[X].shape[2], w = t->in[X].shape[3];
    const float eps = t->a.eps;
    bl_batchnorm2d_shape s = {.n = n, .c = ch, .h = h, .w = w, .eps = eps, .momentum = 0.1f};
    int64_t plane = (int64_t)h * w, count = (int64_t)n * ch * plane;
    bn_state c = {s, 1, random_doubles(count, -1, 3), random_doubles(ch, -1.5, 1.5), random_doubles(ch, -1, 1),
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

const optest_op optest_op_batchnorm2d = {
    .name = "batchnorm2d",
    .doc = "docs/ops/batchnorm2d.md",
    .n_inputs = 5,
    .input_names = {"x", "gamma", "beta", "running_mean", "running_var"},
    .default_roles = {OPTEST_GRAD, OPTEST_PARAM, OPTEST_PARAM, OPTEST_BUFFER, OPTEST_BUFFER},
    .cases = cases,
    .n_cases = (int)(sizeof cases / sizeof cases[0]),
    .build = build,
    .tolerance = tolerance,
    .golden_ops = {"batchnorm2d"},
    .golden_attrs = golden_attrs,
    .gradcheck = gradcheck_case,
};
