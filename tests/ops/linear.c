/* linear.c — the op-test cases of linear (docs/ops/linear.md): bl_linear through autograd on every backend, the
 * golden replay, the float64 gradient check of ref's kernels.
 *
 * Tolerances: y, dx, dw are dot products — the dot-product bound with K = in + 1 (the bias) for y, out for dx (+ 1
 * onto a random start), n + 1 for dw (onto a random start: the start is one more term); db (n + 1 terms) too on cpu, and 2 ulps on cuda (its own double
 * reduction). */
#include <stdio.h>
#include <string.h>

#include "core/ref/ref.h"
#include "harness.h"
#include "ops/gradcheck64.h"
#include "ops/optest.h"

enum { X, W, B };

#define LINEAR(N, IN, OUT, BIAS)                                                                                      \
    .in = {{.ndim = 2, .shape = {N, IN}}, {.ndim = 2, .shape = {OUT, IN}}, {.ndim = (BIAS) ? 1 : 0, .shape = {OUT}}}

static const optest_case cases[] = {
    {"5x77 -> 9", LINEAR(5, 77, 9, 1)},
    {"2x2048 -> 1000 (an ImageNet classifier)", LINEAR(2, 2048, 1000, 1)},
    {"64x4096 -> 1 (the pregnancy head)", LINEAR(64, 4096, 1, 1)},
    {"3x1 -> 4", LINEAR(3, 1, 4, 1)},
    {"5x77 -> 9, dx onto a random start",
     .in = {{.ndim = 2, .shape = {5, 77}, .role = OPTEST_PARAM}, {.ndim = 2, .shape = {9, 77}},
            {.ndim = 1, .shape = {9}}}},
    {"5x77 -> 9, weights frozen (dw NULL)",
     .in = {{.ndim = 2, .shape = {5, 77}}, {.ndim = 2, .shape = {9, 77}, .role = OPTEST_BUFFER},
            {.ndim = 1, .shape = {9}}}},
    {"5x77 -> 9, input without gradient (dx NULL)",
     .in = {{.ndim = 2, .shape = {5, 77}, .role = OPTEST_NOGRAD}, {.ndim = 2, .shape = {9, 77}},
            {.ndim = 1, .shape = {9}}}},
    {"gradcheck: 3x5 -> 4", LINEAR(3, 5, 4, 1), .flags = OPTEST_GRADCHECK},
    {"gradcheck: 1x7 -> 2, no bias", LINEAR(1, 7, 2, 0), .flags = OPTEST_GRADCHECK},
    {"gradcheck: 4x1 -> 3", LINEAR(4, 1, 3, 1), .flags = OPTEST_GRADCHECK},
};

static bl_tensor *build(optest_run *r) {
    return bl_linear(optest_ctx(r), optest_in(r, X), optest_in(r, W), optest_in(r, B));
}

static optest_tol tolerance(const optest_case *c, const char *t, optest_class cls, int64_t *k) {
    if (cls == OPTEST_EXACT_BACKEND) return OPTEST_BITWISE;
    const int n = c->in[X].shape[0], in = c->in[X].shape[1], out = c->in[W].shape[0];
    if (strcmp(t, "y") == 0) *k = in + 1;
    else if (strcmp(t, "dx") == 0) *k = out + (c->in[X].role == OPTEST_PARAM);
    else *k = n + 1;
    if (strcmp(t, "db") == 0 && cls != OPTEST_CPU) return OPTEST_ULPS;
    return OPTEST_DOT;
}

/* ---- the float64 gradient check of ref's kernels ---- */

typedef struct linear_state {
    int n, in, out;
    double *x, *w, *b;
} linear_state;

static void linear_forward(const void *state, double *y) {
    const linear_state *c = state;
    linear_forward_ref_f64(c->n, c->in, c->out, c->x, c->w, c->b, y);
}

static void gradcheck_case(const optest_case *t) {
    const int n = t->in[X].shape[0], in = t->in[X].shape[1], out = t->in[W].shape[0], bias = t->in[B].ndim > 0;
    int64_t nx = (int64_t)n * in, nw = (int64_t)out * in, ny = (int64_t)n * out;
    linear_state c = {n, in, out, random_doubles(nx, -1, 1), random_doubles(nw, -1, 1),
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

const optest_op optest_op_linear = {
    .name = "linear",
    .doc = "docs/ops/linear.md",
    .n_inputs = 3,
    .input_names = {"x", "w", "b"},
    .default_roles = {OPTEST_GRAD, OPTEST_PARAM, OPTEST_PARAM},
    .cases = cases,
    .n_cases = (int)(sizeof cases / sizeof cases[0]),
    .build = build,
    .tolerance = tolerance,
    .golden_ops = {"linear"},
    .gradcheck = gradcheck_case,
};
