/* elementwise.c — the op-test cases of relu, sigmoid, add and dropout (docs/ops/relu.md, sigmoid.md, add.md,
 * dropout.md): through autograd on every backend — with the in-place forms (bl_relu_inplace folded into the op
 * before it, bl_add_inplace) — the golden replay, the float64 gradient check.
 *
 * A few cases call a slot directly to reach arguments the API never passes: axpy with α ∉ {±1}, the dropout product
 * with an arbitrary mask, the dropout mask for given keys.
 * Tolerances: bitwise everywhere, except sigmoid on cuda (exp is not correctly rounded in CUDA's libm nor in glibc:
 * 2 ulps, and its backward, which reads that y). */
#include <stdio.h>
#include <math.h>
#include <string.h>

#include "core/ref/ref.h"
#include "core/rng.h"
#include "harness.h"
#include "ops/gradcheck64.h"
#include "ops/optest.h"

#define VEC(count, ...) {.ndim = 1, .shape = {count}, __VA_ARGS__}

static optest_tol bitwise(const optest_case *c, const char *t, optest_class cls, int64_t *k) { return OPTEST_BITWISE; }

/* ============================================================================================ relu ====== */

enum { RELU = 0, RELU_FOLDED };

static const optest_case relu_cases[] = {
    {"100003 values with zeros, -0, NaN; dx onto a random start",
     .in = {VEC(100003, .fill = OPTEST_AWKWARD_NAN, .role = OPTEST_PARAM)}},
    {"1000 values", .in = {VEC(1000)}},
    {"100003 values in [-4, 4] with zeros", .in = {VEC(100003, .lo = -4, .hi = 4, .fill = OPTEST_AWKWARD)}},
    {"folded into the add before it (relu_backward_inplace)",
     .in = {VEC(100003, .fill = OPTEST_AWKWARD), VEC(100003, .fill = OPTEST_AWKWARD)}, .a = {.variant = RELU_FOLDED}},
    {"in place without gradient",
     .in = {VEC(4099, .role = OPTEST_NOGRAD), VEC(4099, .role = OPTEST_NOGRAD)}, .a = {.variant = RELU_FOLDED}},
    {"gradcheck: 64 values in [-2, 2], the kink itself", .in = {VEC(64, .lo = -2, .hi = 2)},
     .flags = OPTEST_GRADCHECK},
};

static bl_tensor *build_relu(optest_run *r) {
    bl_ctx *ctx = optest_ctx(r);
    if (optest_attrs_of(r)->variant == RELU_FOLDED)
        return bl_relu_inplace(ctx, bl_add(ctx, optest_in(r, 0), optest_in(r, 1)));
    return bl_relu(ctx, optest_in(r, 0));
}

/* ============================================================================================ sigmoid === */

static const optest_case sigmoid_cases[] = {
    {"1000 values", .in = {VEC(1000)}},
    {"100003 values in [-4, 4]", .in = {VEC(100003, .lo = -4, .hi = 4, .fill = OPTEST_AWKWARD)}},
    {"301 values in [-30, 30]", .in = {VEC(301, .lo = -30, .hi = 30)}},
    {"gradcheck: 64 values in [-8, 8] and the extremes", .in = {VEC(64, .lo = -8, .hi = 8)},
     .flags = OPTEST_GRADCHECK},
};

static bl_tensor *build_sigmoid(optest_run *r) { return bl_sigmoid(optest_ctx(r), optest_in(r, 0)); }

static optest_tol sigmoid_tolerance(const optest_case *c, const char *t, optest_class cls, int64_t *k) {
    return cls == OPTEST_CUDA || cls == OPTEST_CUDA_TF32 ? OPTEST_ULPS : OPTEST_BITWISE;
}

/* ============================================================================================ add ======= */

enum { ADD = 0, ADD_INPLACE, AXPY };

static const optest_case add_cases[] = {
    {"100003 values with zeros, -0, NaN; da onto a random start",
     .in = {VEC(100003, .fill = OPTEST_AWKWARD_NAN, .role = OPTEST_PARAM), VEC(100003, .fill = OPTEST_AWKWARD_NAN)}},
    {"1000 values", .in = {VEC(1000), VEC(1000)}},
    {"in place without gradient", .in = {VEC(4099, .role = OPTEST_NOGRAD), VEC(4099, .role = OPTEST_NOGRAD)},
     .a = {.variant = ADD_INPLACE}},
    /* the axpy slot (dst += α·src, the backward of add, reshape, concat) for α the API does not pass: b is dst */
    {"axpy alpha 1", .in = {VEC(100003, .fill = OPTEST_AWKWARD_NAN), VEC(100003, .fill = OPTEST_AWKWARD)},
     .a = {.variant = AXPY, .alpha = 1.0f}},
    {"axpy alpha -1", .in = {VEC(100003, .fill = OPTEST_AWKWARD_NAN), VEC(100003, .fill = OPTEST_AWKWARD)},
     .a = {.variant = AXPY, .alpha = -1.0f}},
    {"axpy alpha 0.37", .in = {VEC(100003, .fill = OPTEST_AWKWARD_NAN), VEC(100003, .fill = OPTEST_AWKWARD)},
     .a = {.variant = AXPY, .alpha = 0.37f}},
    {"axpy alpha -2.5", .in = {VEC(100003, .fill = OPTEST_AWKWARD_NAN), VEC(100003, .fill = OPTEST_AWKWARD)},
     .a = {.variant = AXPY, .alpha = -2.5f}},
    {"axpy alpha 0.3, values in [-4, 4]", .in = {VEC(100003, .lo = -4, .hi = 4), VEC(100003)},
     .a = {.variant = AXPY, .alpha = 0.3f}},
    {"axpy alpha 0.5, 1000 values", .in = {VEC(1000), VEC(1000)}, .a = {.variant = AXPY, .alpha = 0.5f}},
    {"gradcheck: 64 values", .in = {VEC(64), VEC(64)}, .flags = OPTEST_GRADCHECK},
    {"gradcheck: axpy alpha 0.75, 64 values", .in = {VEC(64), VEC(64)}, .a = {.variant = AXPY, .alpha = 0.75f},
     .flags = OPTEST_GRADCHECK},
};

static bl_tensor *build_add(optest_run *r) {
    bl_ctx *ctx = optest_ctx(r);
    bl_tensor *a = optest_in(r, 0), *b = optest_in(r, 1);
    switch (optest_attrs_of(r)->variant) {
    case ADD_INPLACE: return bl_add_inplace(ctx, a, b);
    case AXPY: {
        bl_tensor *dst = bl_tensor_new(ctx, b->ndim, b->shape);
        if (!dst) return NULL;
        const bl_kernels *k = bl_ctx_kernels(ctx);
        k->copy(dst->data, b->data, sizeof(float) * (size_t)b->numel);
        k->axpy(k, a->numel, optest_attrs_of(r)->alpha, a->data, dst->data);
        return dst;
    }
    default: return bl_add(ctx, a, b);
    }
}

/* ============================================================================================ dropout === */

enum { DROPOUT = 0, MUL, MASK };

static const optest_case dropout_cases[] = {
    {"training, p = 0.3, 1000 values", .in = {VEC(1000)}, .a = {.training = 1, .p = 0.3f}},
    {"training, p = 0.3, 100003 values; dx onto a random start",
     .in = {VEC(100003, .fill = OPTEST_AWKWARD, .role = OPTEST_PARAM)}, .a = {.training = 1, .p = 0.3f}},
    {"training, p = 0.5", .in = {VEC(4099)}, .a = {.training = 1, .p = 0.5f}},
    {"eval: the identity", .in = {VEC(1000)}, .a = {.training = 0, .p = 0.5f}},
    /* the slots directly: y = x·mask and dx = start + g·mask for an arbitrary mask; the mask for given keys */
    {"mul forward and backward, an arbitrary mask",
     .in = {VEC(100003, .fill = OPTEST_AWKWARD_NAN), VEC(100003, .lo = 0, .hi = 2, .fill = OPTEST_AWKWARD),
            VEC(100003, .fill = OPTEST_AWKWARD_NAN), VEC(100003, .fill = OPTEST_AWKWARD)},
     .a = {.variant = MUL}},
    {"mask, key 0", .in = {VEC(100003, .role = OPTEST_NOGRAD)}, .a = {.variant = MASK, .p = 0.3f, .key = 0}},
    {"mask, key 0x123456789abcdef", .in = {VEC(100003, .role = OPTEST_NOGRAD)},
     .a = {.variant = MASK, .p = 0.3f, .key = 0x123456789abcdefULL}},
    {"mask, key 2^64 - 1", .in = {VEC(100003, .role = OPTEST_NOGRAD)}, .a = {.variant = MASK, .p = 0.3f, .key = ~0ULL}},
    {"gradcheck: the product with a dropout mask, 64 values", .in = {VEC(64)}, .a = {.training = 1, .p = 0.3f},
     .flags = OPTEST_GRADCHECK},
};

static bl_tensor *build_dropout(optest_run *r) {
    const optest_attrs *a = optest_attrs_of(r);
    bl_ctx *ctx = optest_ctx(r);
    const bl_kernels *k = bl_ctx_kernels(ctx);
    bl_tensor *x = optest_in(r, 0);
    if (a->variant == MUL) {
        bl_tensor *mask = optest_in(r, 1), *g = optest_in(r, 2), *start = optest_in(r, 3);
        bl_tensor *y = bl_tensor_new(ctx, x->ndim, x->shape), *dx = bl_tensor_new(ctx, x->ndim, x->shape);
        if (!y || !dx) return NULL;
        k->mul_forward(k, x->numel, x->data, mask->data, y->data);
        k->copy(dx->data, start->data, sizeof(float) * (size_t)x->numel);
        k->mul_backward(k, x->numel, mask->data, g->data, dx->data);
        optest_output(r, "dx", dx);
        return y;
    }
    if (a->variant == MASK) {
        bl_tensor *mask = bl_tensor_new(ctx, x->ndim, x->shape);
        if (!mask) return NULL;
        k->dropout_mask(k, x->numel, a->key, a->p, 1.0f / (1.0f - a->p), mask->data);
        return mask;
    }
    bl_set_training(ctx, a->training);
    return bl_dropout(ctx, x, a->p);
}

static void golden_dropout_attrs(const void *json, const char *op, optest_attrs *a) {
    a->training = (int)optest_golden_attr(json, "training", 0, 1);
    a->p = (float)optest_golden_attr(json, "p", 0, 0.0);
}

/* ======================================================================= the float64 gradient checks === */

typedef enum ew_kind { EW_RELU, EW_SIGMOID, EW_ADD, EW_AXPY, EW_MUL } ew_kind;
static const char *const ew_names[] = {"relu", "sigmoid", "add", "axpy", "dropout"};

typedef struct ew_state {
    ew_kind kind;
    int64_t count;
    double *a, *b; /* a: x / src; b: second operand / dst / mask (or NULL) */
    double alpha;  /* axpy */
} ew_state;

static void ew_forward(const void *state, double *y) {
    const ew_state *c = state;
    switch (c->kind) {
    case EW_RELU: relu_forward_ref_f64(c->count, c->a, y); break;
    case EW_SIGMOID: sigmoid_forward_ref_f64(c->count, c->a, y); break;
    case EW_ADD: add_forward_ref_f64(c->count, c->a, c->b, y); break;
    case EW_AXPY: /* y = dst + alpha·src, as a function of both */
        memcpy(y, c->b, (size_t)c->count * sizeof *y);
        axpy_ref_f64(c->count, c->alpha, c->a, y);
        break;
    case EW_MUL: mul_forward_ref_f64(c->count, c->a, c->b, y); break;
    }
}

/* the backward each autograd op uses (core/op_elementwise.c): acc da, acc db (NULL: not an input) */
static void ew_backward(const ew_state *c, const double *y, const double *dy, double *da, double *db) {
    switch (c->kind) {
    case EW_RELU: relu_backward_ref_f64(c->count, c->a, dy, da); break;
    case EW_SIGMOID: sigmoid_backward_ref_f64(c->count, y, dy, da); break;
    case EW_ADD: axpy_ref_f64(c->count, 1.0, dy, da), axpy_ref_f64(c->count, 1.0, dy, db); break;
    case EW_AXPY: axpy_ref_f64(c->count, c->alpha, dy, da), axpy_ref_f64(c->count, 1.0, dy, db); break;
    case EW_MUL: mul_backward_ref_f64(c->count, c->b, dy, da); break;
    }
}

static void ew_run_float(const ew_state *c, const float *a, const float *b, const float *dy, float *y, float *da,
                         float *db) {
    switch (c->kind) {
    case EW_RELU: relu_forward_ref(NULL, c->count, a, y), relu_backward_ref(NULL, c->count, a, dy, da); break;
    case EW_SIGMOID:
        sigmoid_forward_ref(NULL, c->count, a, y), sigmoid_backward_ref(NULL, c->count, y, dy, da);
        break;
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
    }
}

static void check_elementwise(ew_kind kind, const optest_case *t) {
    const char *op = ew_names[kind];
    const int64_t count = t->in[0].shape[0];
    const double lo = t->in[0].lo != t->in[0].hi ? t->in[0].lo : -1, hi = t->in[0].lo != t->in[0].hi ? t->in[0].hi : 1;
    ew_state c = {kind, count, random_doubles(count, lo, hi), NULL, t->a.alpha};
    if (kind == EW_ADD || kind == EW_AXPY) c.b = random_doubles(count, -1, 1);
    if (kind == EW_MUL) { /* a real dropout mask: stream (seed, BL_RNG_DROPOUT, step·2^20 + call) */
        const double p = t->a.p;
        bl_rng rng = bl_rng_stream(GRADCHECK_SEED, BL_RNG_DROPOUT, ((uint64_t)7 << 20) + 2);
        c.b = doubles(count);
        for (int64_t i = 0; i < count; i++)
            c.b[i] = bl_rng_uniform(&rng) >= (float)p ? (double)(1.0f / (1.0f - (float)p)) : 0.0;
    }
    if (kind == EW_RELU) c.a[0] = 0.0, c.a[1] = 1e-9; /* the kink itself: gradient 0 at x == 0, as torch */
    if (kind == EW_SIGMOID) c.a[0] = 40, c.a[1] = -40, c.a[2] = 0, c.a[3] = -745, c.a[4] = 800;
    double *r = random_doubles(count, -1, 1), *y = doubles(count);
    double *da = doubles(count), *db = doubles(count), *da2 = doubles(count), *db2 = doubles(count);
    unsigned char *skip = case_alloc(count, 1);
    ew_forward(&c, y);
    ew_backward(&c, y, r, da, db);
    for (int call = 0; call < 2; call++) ew_backward(&c, y, r, da2, db2);
    if (kind == EW_RELU)
        for (int64_t i = 0; i < count; i++) skip[i] = fabs(c.a[i]) < GRADCHECK_KINK;
    gradcheck(op, "da", ew_forward, &c, c.a, count, da, skip, count, r);
    if (kind == EW_ADD || kind == EW_AXPY) gradcheck(op, "db", ew_forward, &c, c.b, count, db, NULL, count, r);
    check_accumulates(op, "da", da, da2, count);
    if (kind == EW_RELU) CHECK(da[0] == 0.0, "relu: gradient at x == 0 must be 0, got %g", da[0]);
    if (kind == EW_SIGMOID)
        CHECK(y[3] > 0 && y[3] < 1e-300 && y[4] == 1.0 && y[2] == 0.5, "sigmoid: extreme inputs give %g %g %g", y[2],
              y[3], y[4]);

    float *af = to_floats(c.a, count), *bf = to_floats(c.b, count), *rf = to_floats(r, count);
    float *yf = floats(count), *daf = floats(count), *dbf = floats(count);
    ew_run_float(&c, af, bf, rf, yf, daf, dbf);
    check_float_variant(op, "y", yf, y, count);
    if (kind == EW_SIGMOID) { /* the float backward reads the float y: compare with the double one on it */
        double *yr = doubles(count), *da_rounded_y = doubles(count);
        for (int64_t i = 0; i < count; i++) yr[i] = yf[i];
        sigmoid_backward_ref_f64(count, yr, r, da_rounded_y);
        check_float_variant(op, "da", daf, da_rounded_y, count);
    } else {
        check_float_variant(op, "da", daf, da, count);
    }
    if (kind == EW_ADD || kind == EW_AXPY) check_float_variant(op, "db", dbf, db, count);
    free_case_buffers();
}

static void gradcheck_relu(const optest_case *t) { check_elementwise(EW_RELU, t); }
static void gradcheck_sigmoid(const optest_case *t) { check_elementwise(EW_SIGMOID, t); }
static void gradcheck_add(const optest_case *t) { check_elementwise(t->a.variant == AXPY ? EW_AXPY : EW_ADD, t); }
static void gradcheck_dropout(const optest_case *t) { check_elementwise(EW_MUL, t); }

/* ============================================================================================ the ops === */

const optest_op optest_op_relu = {
    .name = "relu", .doc = "docs/ops/relu.md", .n_inputs = 2, .input_names = {"x", "b"},
    .default_roles = {OPTEST_GRAD, OPTEST_GRAD}, .cases = relu_cases,
    .n_cases = (int)(sizeof relu_cases / sizeof relu_cases[0]), .build = build_relu, .tolerance = bitwise,
    .golden_ops = {"relu"}, .gradcheck = gradcheck_relu,
};

const optest_op optest_op_sigmoid = {
    .name = "sigmoid", .doc = "docs/ops/sigmoid.md", .n_inputs = 1, .input_names = {"x"},
    .default_roles = {OPTEST_GRAD}, .cases = sigmoid_cases,
    .n_cases = (int)(sizeof sigmoid_cases / sizeof sigmoid_cases[0]), .build = build_sigmoid,
    .tolerance = sigmoid_tolerance, .golden_ops = {"sigmoid"}, .gradcheck = gradcheck_sigmoid,
};

const optest_op optest_op_add = {
    .name = "add", .doc = "docs/ops/add.md", .n_inputs = 2, .input_names = {"a", "b"},
    .default_roles = {OPTEST_GRAD, OPTEST_GRAD}, .cases = add_cases,
    .n_cases = (int)(sizeof add_cases / sizeof add_cases[0]), .build = build_add, .tolerance = bitwise,
    .golden_ops = {"add"}, .gradcheck = gradcheck_add,
};

const optest_op optest_op_dropout = {
    .name = "dropout", .doc = "docs/ops/dropout.md", .n_inputs = 4, .input_names = {"x", "mask", "g", "start"},
    .default_roles = {OPTEST_GRAD, OPTEST_NOGRAD, OPTEST_NOGRAD, OPTEST_NOGRAD}, .cases = dropout_cases,
    .n_cases = (int)(sizeof dropout_cases / sizeof dropout_cases[0]), .build = build_dropout, .tolerance = bitwise,
    .golden_ops = {"dropout"}, .golden_attrs = golden_dropout_attrs, .gradcheck = gradcheck_dropout,
};
