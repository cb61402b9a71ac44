/* conv2d.c — the op-test cases of conv2d (docs/ops/conv2d.md): bl_conv2d through autograd on every backend, the
 * golden replay, and the float64 gradient check of ref's three kernels.
 *
 * Tolerances: y, dx, dw and db are dot products — held to the dot-product bound with K = c_in·kh·kw + 1 (the bias)
 * for y, c_out·kh·kw for dx (+ 1 when it accumulates onto a random start), N·Ho·Wo + 1 for dw and db (accumulated
 * onto a random start: the start is one more term); cuda's db is its own double reduction (2 ulps). */
#include <stdio.h>
#include <string.h>

#include "core/ref/ref.h"
#include "harness.h"
#include "ops/gradcheck64.h"
#include "ops/optest.h"

enum { X, W, B };

/* n, c_in, h, w → x; c_out, kh, kw → w; bias → b */
#define CONV(n, ci, h, w_, co, kh, kw, bias)                                                                          \
    .in = {{.ndim = 4, .shape = {n, ci, h, w_}},                                                                     \
           {.ndim = 4, .shape = {co, ci, kh, kw}},                                                                   \
           {.ndim = (bias) ? 1 : 0, .shape = {co}}}
#define ARGS(sh, sw, ph, pw, dh, dw) .a = {.stride = {sh, sw}, .pad = {ph, pw}, .dil = {dh, dw}}

static const optest_case cases[] = {
    /* the backend parity shapes */
    {"3x3 pad 1", CONV(2, 3, 13, 11, 8, 3, 3, 1), ARGS(1, 1, 1, 1, 1, 1)},
    {"3x3 stride 2, dilated, asymmetric padding", CONV(3, 5, 9, 10, 4, 3, 3, 1), ARGS(2, 2, 1, 0, 2, 1)},
    {"1x1", CONV(2, 16, 7, 7, 12, 1, 1, 1), ARGS(1, 1, 0, 0, 1, 1)},
    {"7x7 stride 2 pad 3 (the ResNet stem), odd size", CONV(1, 3, 20, 19, 6, 7, 7, 1), ARGS(2, 2, 3, 3, 1, 1)},
    {"1x1 stride 2 (ResNet downsample)", CONV(2, 8, 8, 8, 8, 1, 1, 1), ARGS(2, 2, 0, 0, 1, 1)},
    {"3x3, 64 channels, 28x28", CONV(4, 64, 28, 28, 64, 3, 3, 1), ARGS(1, 1, 1, 1, 1, 1)},
    {"1x1 expansion, 256 -> 512 channels, 7x7", CONV(8, 256, 7, 7, 512, 1, 1, 1), ARGS(1, 1, 0, 0, 1, 1)},
    /* the same 3×3 with dx accumulated onto a random start (x a parameter), with frozen weights (dw not computed:
     * NULL) and with a frozen bias (db NULL) */
    {"3x3 pad 1, dx onto a random start",
     .in = {{.ndim = 4, .shape = {2, 3, 13, 11}, .role = OPTEST_PARAM}, {.ndim = 4, .shape = {8, 3, 3, 3}},
            {.ndim = 1, .shape = {8}}},
     ARGS(1, 1, 1, 1, 1, 1)},
    {"3x3 pad 1, weights frozen",
     .in = {{.ndim = 4, .shape = {2, 3, 13, 11}}, {.ndim = 4, .shape = {8, 3, 3, 3}, .role = OPTEST_BUFFER},
            {.ndim = 1, .shape = {8}}},
     ARGS(1, 1, 1, 1, 1, 1)},
    {"3x3 pad 1, bias frozen, input without gradient",
     .in = {{.ndim = 4, .shape = {2, 3, 13, 11}, .role = OPTEST_NOGRAD}, {.ndim = 4, .shape = {8, 3, 3, 3}},
            {.ndim = 1, .shape = {8}, .role = OPTEST_BUFFER}},
     ARGS(1, 1, 1, 1, 1, 1)},
    /* the gradient-check shapes (small: every element is perturbed in double) */
    {"gradcheck: odd 5x7, padding", CONV(1, 2, 5, 7, 3, 3, 3, 1), ARGS(1, 1, 1, 1, 1, 1), OPTEST_GRADCHECK},
    {"gradcheck: batch 3, stride 2, no bias", CONV(3, 3, 9, 8, 2, 3, 3, 0), ARGS(2, 2, 1, 1, 1, 1), OPTEST_GRADCHECK},
    {"gradcheck: dilation 2", CONV(2, 2, 9, 9, 2, 3, 3, 1), ARGS(1, 1, 2, 2, 2, 2), OPTEST_GRADCHECK},
    {"gradcheck: 1x1", CONV(2, 4, 5, 7, 3, 1, 1, 1), ARGS(1, 1, 0, 0, 1, 1), OPTEST_GRADCHECK},
    {"gradcheck: 1x1 stride 2", CONV(1, 3, 6, 7, 4, 1, 1, 0), ARGS(2, 2, 0, 0, 1, 1), OPTEST_GRADCHECK},
    {"gradcheck: 7x7 stride 2 pad 3", CONV(1, 2, 11, 10, 2, 7, 7, 1), ARGS(2, 2, 3, 3, 1, 1), OPTEST_GRADCHECK},
    {"gradcheck: every parameter differs in h and w", CONV(2, 2, 7, 8, 3, 2, 3, 1), ARGS(1, 2, 0, 1, 2, 1),
     OPTEST_GRADCHECK},
    {"gradcheck: larger", CONV(2, 5, 12, 11, 6, 3, 3, 1), ARGS(1, 1, 1, 1, 1, 1), OPTEST_GRADCHECK},
    {"gradcheck: 5x5 stride 2 dilation 2 padding 4", CONV(1, 2, 13, 12, 3, 5, 5, 0), ARGS(2, 2, 4, 4, 2, 2),
     OPTEST_GRADCHECK},
};

static bl_tensor *build(optest_run *r) {
    const optest_attrs *a = optest_attrs_of(r);
    bl_conv2d_args args = {.stride_h = a->stride[0], .stride_w = a->stride[1], .pad_h = a->pad[0],
                           .pad_w = a->pad[1], .dil_h = a->dil[0], .dil_w = a->dil[1]};
    return bl_conv2d(optest_ctx(r), optest_in(r, X), optest_in(r, W), optest_in(r, B), args);
}

static int out_size(int in, int k, int stride, int pad, int dil) {
    return (in + 2 * pad - (dil ? dil : 1) * (k - 1) - 1) / (stride ? stride : 1) + 1;
}

static optest_tol tolerance(const optest_case *c, const char *t, optest_class cls, int64_t *k) {
    if (cls == OPTEST_EXACT_BACKEND) return OPTEST_BITWISE;
    const int *x = c->in[X].shape, *w = c->in[W].shape;
    int64_t pixels = (int64_t)x[0] * out_size(x[2], w[2], c->a.stride[0], c->a.pad[0], c->a.dil[0]) *
                     out_size(x[3], w[3], c->a.stride[1], c->a.pad[1], c->a.dil[1]);
    if (strcmp(t, "y") == 0) *k = (int64_t)w[1] * w[2] * w[3] + 1;
    else if (strcmp(t, "dx") == 0) *k = (int64_t)w[0] * w[2] * w[3] + (c->in[X].role == OPTEST_PARAM);
    else *k = pixels + 1; /* dw, db: onto a random start */
    if (strcmp(t, "db") == 0 && cls != OPTEST_CPU) return OPTEST_ULPS; /* cuda: its own double reduction */
    return OPTEST_DOT;
}

static void golden_attrs(const void *json, const char *op, optest_attrs *a) {
    for (int i = 0; i < 2; i++) {
        a->stride[i] = (int)optest_golden_attr(json, "stride", i, 1);
        a->pad[i] = (int)optest_golden_attr(json, "pad", i, 0);
        a->dil[i] = (int)optest_golden_attr(json, "dil", i, 1);
    }
}

/* ---- the float64 gradient check of ref's kernels ---- */

typedef struct conv_state {
    bl_conv2d_shape s;
    double *x, *w, *b;
} conv_state;

static void conv_forward(const void *state, double *y) {
    const conv_state *c = state;
    conv2d_forward_ref_f64(&c->s, c->x, c->w, c->b, y);
}

static void gradcheck_case(const optest_case *t) {
    const int *xs = t->in[X].shape, *ws = t->in[W].shape, bias = t->in[B].ndim > 0;
    const int n = xs[0], c_in = xs[1], h = xs[2], w = xs[3], c_out = ws[0], kh = ws[2], kw = ws[3];
    bl_conv2d_shape s = {n, c_in, h, w, c_out, 0, 0, kh, kw, t->a.stride[0], t->a.stride[1], t->a.pad[0],
                         t->a.pad[1], t->a.dil[0], t->a.dil[1]};
    s.h_out = out_size(h, kh, s.stride_h, s.pad_h, s.dil_h);
    s.w_out = out_size(w, kw, s.stride_w, s.pad_w, s.dil_w);
    int64_t nx = (int64_t)n * c_in * h * w, nw = (int64_t)c_out * c_in * kh * kw;
    int64_t ny = (int64_t)n * c_out * s.h_out * s.w_out;
    conv_state c = {s, random_doubles(nx, -1, 1), random_doubles(nw, -1, 1),
                    bias ? random_doubles(c_out, -1, 1) : NULL};
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

const optest_op optest_op_conv2d = {
    .name = "conv2d",
    .doc = "docs/ops/conv2d.md",
    .n_inputs = 3,
    .input_names = {"x", "w", "b"},
    .default_roles = {OPTEST_GRAD, OPTEST_PARAM, OPTEST_PARAM},
    .cases = cases,
    .n_cases = (int)(sizeof cases / sizeof cases[0]),
    .build = build,
    .tolerance = tolerance,
    .golden_ops = {"conv2d"},
    .golden_attrs = golden_attrs,
    .gradcheck = gradcheck_case,
};
