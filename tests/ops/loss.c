/* loss.c — the op-test cases of sum / mean and bce_with_logits (docs/ops/sum.md, bce_with_logits.md): through
 * autograd on every backend, the golden replay, the float64 gradient check.
 *
 * Tolerances: the cpu backend runs ref's kernels (bitwise). cuda sums in one block in another order: its double
 * result differs from ref's by a few double ulps, which can change the float rounding — 2 ulps for every reduction
 * (y, and the BCE's dz through σ(z)); the broadcast gradient of sum / mean (add_scalar) is bitwise. */
#include <stdio.h>
#include <math.h>
#include <string.h>

#include "core/ref/ref.h"
#include "harness.h"
#include "ops/gradcheck64.h"
#include "ops/optest.h"

#define VEC(count, ...) {.ndim = 1, .shape = {count}, __VA_ARGS__}

/* ============================================================================================ sum ======= */

enum { SUM = 0, MEAN, ADD_SCALAR };

static const optest_case sum_cases[] = {
    {"sum of 1", .in = {VEC(1)}},
    {"sum of 7", .in = {VEC(7)}},
    {"sum of 1000", .in = {VEC(1000)}},
    {"sum of 100003", .in = {VEC(100003, .lo = -4, .hi = 4)}},
    {"mean of 1", .in = {VEC(1)}, .a = {.variant = MEAN}},
    {"mean of 7", .in = {VEC(7)}, .a = {.variant = MEAN}},
    {"mean of 1000; dx onto a random start", .in = {VEC(1000, .role = OPTEST_PARAM)}, .a = {.variant = MEAN}},
    {"mean of 100003", .in = {VEC(100003, .lo = -4, .hi = 4)}, .a = {.variant = MEAN}},
    /* the add_scalar slot for a scale the API does not pass: dst += scale·alpha[0] */
    {"add_scalar, scale 0.123", .in = {VEC(100003, .fill = OPTEST_AWKWARD_NAN, .role = OPTEST_NOGRAD), VEC(1)},
     .a = {.variant = ADD_SCALAR, .scale = 0.123f}},
    {"add_scalar, scale 1/3", .in = {VEC(100003, .role = OPTEST_NOGRAD), VEC(1, .lo = -2, .hi = -1)},
     .a = {.variant = ADD_SCALAR, .scale = 1.0f / 3.0f}},
    {"gradcheck: sum of 37", .in = {VEC(37)}, .flags = OPTEST_GRADCHECK},
    {"gradcheck: mean of 37", .in = {VEC(37)}, .a = {.variant = MEAN}, .flags = OPTEST_GRADCHECK},
};

static bl_tensor *build_sum(optest_run *r) {
    bl_ctx *ctx = optest_ctx(r);
    const optest_attrs *a = optest_attrs_of(r);
    bl_tensor *x = optest_in(r, 0);
    if (a->variant == ADD_SCALAR) {
        bl_tensor *dst = bl_tensor_new(ctx, x->ndim, x->shape), *alpha = optest_in(r, 1);
        if (!dst) return NULL;
        const bl_kernels *k = bl_ctx_kernels(ctx);
        k->copy(dst->data, x->data, sizeof(float) * (size_t)x->numel);
        k->add_scalar(k, x->numel, a->scale, alpha->data, dst->data);
        return dst;
    }
    return a->variant == MEAN ? bl_mean(ctx, x) : bl_sum(ctx, x);
}

static optest_tol sum_tolerance(const optest_case *c, const char *t, optest_class cls, int64_t *k) {
    if (cls != OPTEST_CUDA && cls != OPTEST_CUDA_TF32) return OPTEST_BITWISE;
    return strcmp(t, "y") == 0 && c->a.variant != ADD_SCALAR ? OPTEST_ULPS : OPTEST_BITWISE;
}

static void golden_sum_attrs(const void *json, const char *op, optest_attrs *a) {
    a->variant = strcmp(op, "mean") == 0 ? MEAN : SUM;
}

/* ============================================================================================ bce ======= */

static const optest_case bce_cases[] = {
    {"301 logits in [-30, 30], soft targets", .in = {VEC(301, .lo = -30, .hi = 30), VEC(301, .lo = 0, .hi = 1)}},
    {"301 logits in [-30, 30], soft targets, weighted",
     .in = {VEC(301, .lo = -30, .hi = 30), VEC(301, .lo = 0, .hi = 1), VEC(301, .lo = 0, .hi = 2)}},
    {"a batch of 64 logits as [64,1]; dz onto a random start",
     .in = {{.ndim = 2, .shape = {64, 1}, .lo = -4, .hi = 4, .role = OPTEST_PARAM},
            {.ndim = 2, .shape = {64, 1}, .lo = 0, .hi = 1}}},
    {"gradcheck: 9 logits", .in = {VEC(9, .lo = -4, .hi = 4), VEC(9, .lo = 0, .hi = 1)}, .flags = OPTEST_GRADCHECK},
    {"gradcheck: 9 logits, weighted", .in = {VEC(9, .lo = -4, .hi = 4), VEC(9, .lo = 0, .hi = 1), VEC(9, .lo = 0.5f, .hi = 2)},
     .flags = OPTEST_GRADCHECK},
};

static bl_tensor *build_bce(optest_run *r) {
    return bl_bce_with_logits(optest_ctx(r), optest_in(r, 0), optest_in(r, 1), optest_in(r, 2));
}

static optest_tol bce_tolerance(const optest_case *c, const char *t, optest_class cls, int64_t *k) {
    return cls == OPTEST_CUDA || cls == OPTEST_CUDA_TF32 ? OPTEST_ULPS : OPTEST_BITWISE;
}

/* ======================================================================= the float64 gradient checks === */

typedef struct sum_state {
    int64_t count;
    int mean;
    double *x;
} sum_state;

static void sum_forward(const void *state, double *y) {
    const sum_state *c = state;
    sum_forward_ref_f64(c->count, c->x, c->mean ? (double)c->count : 1.0, y);
}

static void gradcheck_sum(const optest_case *t) {
    const char *op = "sum", *what = t->a.variant == MEAN ? "mean dx" : "sum dx";
    const int64_t count = t->in[0].shape[0];
    sum_state c = {count, t->a.variant == MEAN, random_doubles(count, -1, 1)};
    double *r = random_doubles(1, -1, 1), y[1], *dx = doubles(count), *dx2 = doubles(count);
    const double scale = c.mean ? 1.0 / (double)count : 1.0;
    add_scalar_ref_f64(count, scale, r, dx);
    for (int call = 0; call < 2; call++) add_scalar_ref_f64(count, scale, r, dx2);
    gradcheck(op, what, sum_forward, &c, c.x, count, dx, NULL, 1, r);
    check_accumulates(op, what, dx, dx2, count);
    if (!c.mean) { /* mean is sum's kernels with a divisor: the float variant of sum covers both */
        float *xf = to_floats(c.x, count), *rf = to_floats(r, 1), yf[1], *dxf = floats(count);
        sum_forward(&c, y);
        sum_forward_ref(NULL, count, xf, 1.0, yf);
        add_scalar_ref(NULL, count, 1.0f, rf, dxf);
        check_float_variant(op, "y", yf, y, 1);
        check_float_variant(op, "dx", dxf, dx, count);
    }
    free_case_buffers();
}

typedef struct bce_state {
    int n;
    double *z, *t, *w;
} bce_state;

static void bce_forward(const void *state, double *loss) {
    const bce_state *c = state;
    bce_with_logits_forward_ref_f64(c->n, c->z, c->t, c->w, loss);
}

static void gradcheck_bce(const optest_case *k) {
    const int n = k->in[0].shape[0], weighted = k->in[2].ndim > 0;
    bce_state c = {n, random_doubles(n, -4, 4), random_doubles(n, 0, 1), weighted ? random_doubles(n, 0.5, 2) : NULL};
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

/* ============================================================================================ the ops === */

const optest_op optest_op_sum = {
    .name = "sum", .doc = "docs/ops/sum.md", .n_inputs = 2, .input_names = {"x", "alpha"},
    .default_roles = {OPTEST_GRAD, OPTEST_NOGRAD}, .cases = sum_cases,
    .n_cases = (int)(sizeof sum_cases / sizeof sum_cases[0]), .build = build_sum, .tolerance = sum_tolerance,
    .golden_ops = {"sum", "mean"}, .golden_attrs = golden_sum_attrs, .gradcheck = gradcheck_sum,
};

const optest_op optest_op_bce_with_logits = {
    .name = "bce_with_logits", .doc = "docs/ops/bce_with_logits.md", .n_inputs = 3, .input_names = {"z", "t", "w"},
    .default_roles = {OPTEST_GRAD, OPTEST_NOGRAD, OPTEST_NOGRAD}, .cases = bce_cases,
    .n_cases = (int)(sizeof bce_cases / sizeof bce_cases[0]), .build = build_bce, .tolerance = bce_tolerance,
    .golden_ops = {"bce_with_logits"}, .gradcheck = gradcheck_bce,
};
