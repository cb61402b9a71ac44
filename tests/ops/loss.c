/* loss.c — the op-test cases of sum / mean, bce_with_logits, softmax_cross_entropy and dice_loss (docs/ops/sum.md,
 * bce_with_logits.md, softmax_cross_entropy.md, dice_loss.md): through autograd on every backend, the golden
 * replay, the float64 gradient check.
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

/* ================================================================== per-pixel classification losses === */

/* logits z [n, c, h, w] and labels [n, h, w] drawn from lo … c−1 (lo = −1: the ignored label −1 appears too) */
#define PIXELS(n, c, h, w, lowest, ...)                                                                               \
    .in = {{.ndim = 4, .shape = {n, c, h, w}, __VA_ARGS__},                                                          \
           {.ndim = 3, .shape = {n, h, w}, .lo = lowest, .hi = c, .fill = OPTEST_CLASSES}}
#define CLASS_WEIGHTS(c) {.ndim = 1, .shape = {c}, .lo = 0.25f, .hi = 2}

static const optest_case cross_entropy_cases[] = {
    {"3 classes, 2x8x9 pixels, some ignored", PIXELS(2, 3, 8, 9, -1), .a = {.ignore_index = -1}},
    {"3 classes, weighted, some ignored",
     .in = {{.ndim = 4, .shape = {2, 3, 8, 9}}, {.ndim = 3, .shape = {2, 8, 9}, .lo = -1, .hi = 3,
            .fill = OPTEST_CLASSES}, CLASS_WEIGHTS(3)},
     .a = {.ignore_index = -1}},
    {"10 classes, logits in [-20, 20], none ignored", PIXELS(3, 10, 5, 7, 0, .lo = -20, .hi = 20),
     .a = {.ignore_index = -100}},
    {"2 classes, 64x64 pixels, batch 4", PIXELS(4, 2, 64, 64, -1, .lo = -4, .hi = 4), .a = {.ignore_index = -1}},
    {"logits [N,C], one pixel per sample",
     .in = {{.ndim = 2, .shape = {16, 5}}, {.ndim = 1, .shape = {16}, .lo = 0, .hi = 5, .fill = OPTEST_CLASSES}},
     .a = {.ignore_index = -100}},
    {"labels [N,1,H,W]; dz onto a random start",
     .in = {{.ndim = 4, .shape = {2, 3, 6, 5}, .role = OPTEST_PARAM},
            {.ndim = 4, .shape = {2, 1, 6, 5}, .lo = -1, .hi = 3, .fill = OPTEST_CLASSES}},
     .a = {.ignore_index = -1}},
    {"gradcheck: 3 classes, some ignored", PIXELS(2, 3, 3, 4, -1, .lo = -3, .hi = 3), .a = {.ignore_index = -1},
     .flags = OPTEST_GRADCHECK},
    {"gradcheck: 4 classes, weighted",
     .in = {{.ndim = 4, .shape = {1, 4, 3, 5}, .lo = -3, .hi = 3},
            {.ndim = 3, .shape = {1, 3, 5}, .lo = 0, .hi = 4, .fill = OPTEST_CLASSES}, CLASS_WEIGHTS(4)},
     .a = {.ignore_index = -100}, .flags = OPTEST_GRADCHECK},
};

static bl_tensor *build_cross_entropy(optest_run *r) {
    return bl_softmax_cross_entropy(optest_ctx(r), optest_in(r, 0), optest_in(r, 1), optest_in(r, 2),
                                    optest_attrs_of(r)->ignore_index);
}

static const optest_case dice_cases[] = {
    {"3 classes, 2x8x9 pixels, smooth 1", PIXELS(2, 3, 8, 9, 0), .a = {.ignore_index = -1, .smooth = 1}},
    {"3 classes, background skipped, some ignored", PIXELS(2, 3, 8, 9, -1),
     .a = {.ignore_index = -1, .smooth = 1, .skip_background = 1}},
    {"smooth 0", PIXELS(2, 3, 8, 9, 0), .a = {.ignore_index = -1, .smooth = 0}},
    {"2 classes, 64x64 pixels, batch 4, logits in [-8, 8]", PIXELS(4, 2, 64, 64, -1, .lo = -8, .hi = 8),
     .a = {.ignore_index = -1, .smooth = 1}},
    {"dz onto a random start", PIXELS(2, 3, 6, 5, -1, .role = OPTEST_PARAM), .a = {.ignore_index = -1, .smooth = 1}},
    {"gradcheck: 3 classes, some ignored", PIXELS(2, 3, 3, 4, -1, .lo = -3, .hi = 3),
     .a = {.ignore_index = -1, .smooth = 1}, .flags = OPTEST_GRADCHECK},
    {"gradcheck: 4 classes, background skipped, smooth 0.5", PIXELS(1, 4, 4, 5, 0, .lo = -3, .hi = 3),
     .a = {.ignore_index = -1, .smooth = 0.5f, .skip_background = 1}, .flags = OPTEST_GRADCHECK},
};

static bl_tensor *build_dice(optest_run *r) {
    const optest_attrs *a = optest_attrs_of(r);
    bl_dice_loss_args args = {.ignore_index = a->ignore_index, .smooth = a->smooth,
                              .skip_background = a->skip_background};
    return bl_dice_loss(optest_ctx(r), optest_in(r, 0), optest_in(r, 1), args);
}

/* ref's kernels on cpu (bitwise); cuda sums the batch in one block in another order and evaluates exp and log with
 * its own double routines (a few double ulps): 2 ulps */
static optest_tol class_loss_tolerance(const optest_case *c, const char *t, optest_class cls, int64_t *k) {
    return cls == OPTEST_CUDA || cls == OPTEST_CUDA_TF32 ? OPTEST_ULPS : OPTEST_BITWISE;
}

static void golden_class_loss_attrs(const void *json, const char *op, optest_attrs *a) {
    a->ignore_index = (int)optest_golden_attr(json, "ignore_index", 0, -100);
    a->smooth = (float)optest_golden_attr(json, "smooth", 0, 1);
    a->skip_background = (int)optest_golden_attr(json, "skip_background", 0, 0);
}

/* ---- float64 gradient checks ---- */

typedef struct class_loss_state {
    bl_class_loss_shape s;
    double *z, *labels, *w;
    int dice;
} class_loss_state;

static void class_loss_forward(const void *state, double *loss) {
    const class_loss_state *c = state;
    if (c->dice) dice_loss_forward_ref_f64(&c->s, c->z, c->labels, loss);
    else softmax_cross_entropy_forward_ref_f64(&c->s, c->z, c->labels, c->w, loss);
}

static void class_loss_backward(const class_loss_state *c, const double *r, double *dz) {
    if (c->dice) dice_loss_backward_ref_f64(&c->s, c->z, c->labels, r, dz);
    else softmax_cross_entropy_backward_ref_f64(&c->s, c->z, c->labels, c->w, r, dz);
}

/* The loss of logits that are all 0 (every probability 1/c), from the labels alone: cross-entropy log c; Dice from
 * I_k = G_k/c and S_k = P/c + G_k, with G_k the pixels of class k and P the pixels counted. */
static double uniform_logits_loss(const class_loss_state *c) {
    if (!c->dice) return log((double)c->s.c);
    double g[BL_CLASS_LOSS_MAX_CLASSES] = {0}, counted = 0;
    for (int64_t i = 0; i < (int64_t)c->s.n * c->s.hw; i++)
        if (c->labels[i] != c->s.ignore_index) g[(int)c->labels[i]] += 1, counted += 1;
    int first = c->s.skip_background ? 1 : 0;
    double mean = 0, eps = c->s.smooth;
    for (int k = first; k < c->s.c; k++) mean += (2 * g[k] / c->s.c + eps) / (counted / c->s.c + g[k] + eps);
    return 1 - mean / (c->s.c - first);
}

static void gradcheck_class_loss(const optest_case *t, int dice) {
    const char *op = dice ? "dice_loss" : "softmax_cross_entropy";
    const int *zs = t->in[0].shape;
    const int64_t hw = (int64_t)zs[2] * zs[3], nz = (int64_t)zs[0] * zs[1] * hw, np = (int64_t)zs[0] * hw;
    class_loss_state c = {{.n = zs[0], .c = zs[1], .hw = hw, .ignore_index = t->a.ignore_index,
                           .smooth = t->a.smooth, .skip_background = t->a.skip_background},
                          random_doubles(nz, t->in[0].lo, t->in[0].hi), random_doubles(np, t->in[1].lo, t->in[1].hi),
                          t->in[2].ndim ? random_doubles(zs[1], 0.25, 2) : NULL, dice};
    for (int64_t i = 0; i < np; i++) c.labels[i] = floor(c.labels[i]);
    double r[1] = {-0.75}, loss[1], *dz = doubles(nz), *dz2 = doubles(nz);
    class_loss_backward(&c, r, dz);
    for (int call = 0; call < 2; call++) class_loss_backward(&c, r, dz2);
    gradcheck(op, "dz", class_loss_forward, &c, c.z, nz, dz, NULL, 1, r);
    check_accumulates(op, "dz", dz, dz2, nz);
    /* the float variant */
    float *zf = to_floats(c.z, nz), *lf = to_floats(c.labels, np), *wf = to_floats(c.w, zs[1]), lossf[1];
    float *dzf = floats(nz), rf = (float)r[0];
    class_loss_forward(&c, loss);
    if (dice) dice_loss_forward_ref(NULL, &c.s, zf, lf, lossf), dice_loss_backward_ref(NULL, &c.s, zf, lf, &rf, dzf);
    else
        softmax_cross_entropy_forward_ref(NULL, &c.s, zf, lf, wf, lossf),
            softmax_cross_entropy_backward_ref(NULL, &c.s, zf, lf, wf, &rf, dzf);
    check_float_variant(op, "loss", lossf, loss, 1);
    check_float_variant(op, "dz", dzf, dz, nz);
    /* the value at all-zero logits, from the labels alone */
    double *zeros = doubles(nz), *keep = c.z, want = uniform_logits_loss(&c);
    c.z = zeros;
    class_loss_forward(&c, loss);
    c.z = keep;
    CHECK(fabs(loss[0] - want) <= 1e-15 * fmax(1, fabs(want)), "%s: all-zero logits: %.17g, want %.17g", op, loss[0],
          want);
    /* an invalid label (not an integer) makes the loss and every gradient NaN */
    c.labels[0] = 0.5;
    double *dz_bad = doubles(nz);
    class_loss_forward(&c, loss);
    class_loss_backward(&c, r, dz_bad);
    CHECK(isnan(loss[0]) && isnan(dz_bad[nz - 1]), "%s: label 0.5: loss %g, last dz %g, want NaN", op, loss[0],
          dz_bad[nz - 1]);
    free_case_buffers();
}

static void gradcheck_cross_entropy(const optest_case *t) { gradcheck_class_loss(t, 0); }
static void gradcheck_dice(const optest_case *t) { gradcheck_class_loss(t, 1); }

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

const optest_op optest_op_softmax_cross_entropy = {
    .name = "softmax_cross_entropy", .doc = "docs/ops/softmax_cross_entropy.md", .n_inputs = 3,
    .input_names = {"z", "labels", "w"}, .default_roles = {OPTEST_GRAD, OPTEST_NOGRAD, OPTEST_NOGRAD},
    .cases = cross_entropy_cases, .n_cases = (int)(sizeof cross_entropy_cases / sizeof cross_entropy_cases[0]),
    .build = build_cross_entropy, .tolerance = class_loss_tolerance, .golden_ops = {"softmax_cross_entropy"},
    .golden_attrs = golden_class_loss_attrs, .gradcheck = gradcheck_cross_entropy,
};

const optest_op optest_op_dice_loss = {
    .name = "dice_loss", .doc = "docs/ops/dice_loss.md", .n_inputs = 2, .input_names = {"z", "labels"},
    .default_roles = {OPTEST_GRAD, OPTEST_NOGRAD}, .cases = dice_cases,
    .n_cases = (int)(sizeof dice_cases / sizeof dice_cases[0]), .build = build_dice,
    .tolerance = class_loss_tolerance, .golden_ops = {"dice_loss"}, .golden_attrs = golden_class_loss_attrs,
    .gradcheck = gradcheck_dice,
};
