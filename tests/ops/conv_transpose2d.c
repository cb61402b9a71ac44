/* conv_transpose2d.c — the op-test cases of conv_transpose2d (docs/ops/conv_transpose2d.md): bl_conv_transpose2d
 * through autograd on every backend, the golden replay against torch's ConvTranspose2d, and the float64 gradient
 * check of the composition of ref's kernels it is made of (conv2d_backward_data and bias_channels forward;
 * conv2d_forward, conv2d_backward_filter and bias_channels_backward backward).
 *
 * Tolerances: y, dx and dw are dot products — the dot-product bound with K = Cin·kh·kw + 1 (the bias, added after
 * the sum) for y, Cout·kh·kw (+ 1 onto a random start) for dx, N·H·W + 1 for dw (onto a random start); db is
 * bias_channels_backward, ref's sequential sum on every backend: bitwise. */
#include <stdio.h>
#include <string.h>

#include "core/ref/ref.h"
#include "harness.h"
#include "ops/gradcheck64.h"
#include "ops/optest.h"

enum { X, W, B };

/* n, c_in, h, w → x [n,c_in,h,w]; c_out, kh, kw → w [c_in,c_out,kh,kw]; bias → b [c_out] */
#define UPCONV(n, ci, h, w_, co, kh, kw, bias)                                                                        \
    .in = {{.ndim = 4, .shape = {n, ci, h, w_}},                                                                     \
           {.ndim = 4, .shape = {ci, co, kh, kw}},                                                                   \
           {.ndim = (bias) ? 1 : 0, .shape = {co}}}
#define ARGS(sh, sw, ph, pw, dh, dw, oh, ow) \
    .a = {.stride = {sh, sw}, .pad = {ph, pw}, .dil = {dh, dw}, .out_pad = {oh, ow}}

static const optest_case cases[] = {
    {"2x2 stride 2 (the U-Net up-convolution)", UPCONV(2, 16, 7, 9, 8, 2, 2, 1), ARGS(2, 2, 0, 0, 1, 1, 0, 0)},
    {"2x2 stride 2, 64 -> 32 channels, 14x14", UPCONV(4, 64, 14, 14, 32, 2, 2, 1), ARGS(2, 2, 0, 0, 1, 1, 0, 0)},
    {"3x3 stride 1 pad 1", UPCONV(2, 4, 6, 5, 6, 3, 3, 1), ARGS(1, 1, 1, 1, 1, 1, 0, 0)},
    {"3x3 stride 2 pad 1, output padding 1", UPCONV(1, 3, 5, 6, 4, 3, 3, 1), ARGS(2, 2, 1, 1, 1, 1, 1, 1)},
    {"3x3 stride 2x1, padding 1x0, dilation 2x1, no bias", UPCONV(2, 3, 6, 7, 5, 3, 3, 0),
     ARGS(2, 1, 1, 0, 2, 1, 1, 0)},
    {"2x2 stride 2, dx onto a random start",
     .in = {{.ndim = 4, .shape = {2, 8, 5, 6}, .role = OPTEST_PARAM}, {.ndim = 4, .shape = {8, 4, 2, 2}},
            {.ndim = 1, .shape = {4}}},
     ARGS(2, 2, 0, 0, 1, 1, 0, 0)},
    {"2x2 stride 2, weights frozen, input without gradient",
     .in = {{.ndim = 4, .shape = {2, 8, 5, 6}, .role = OPTEST_NOGRAD},
            {.ndim = 4, .shape = {8, 4, 2, 2}, .role = OPTEST_BUFFER}, {.ndim = 1, .shape = {4}}},
     ARGS(2, 2, 0, 0, 1, 1, 0, 0)},
    {"gradcheck: 2x2 stride 2", UPCONV(2, 3, 4, 5, 2, 2, 2, 1), ARGS(2, 2, 0, 0, 1, 1, 0, 0), OPTEST_GRADCHECK},
    {"gradcheck: 3x3 stride 2 pad 1, output padding 1, no bias", UPCONV(1, 2, 4, 3, 3, 3, 3, 0),
     ARGS(2, 2, 1, 1, 1, 1, 1, 1), OPTEST_GRADCHECK},
    {"gradcheck: every parameter differs in h and w", UPCONV(2, 2, 4, 5, 3, 3, 2, 1), ARGS(2, 1, 1, 0, 2, 1, 1, 0),
     OPTEST_GRADCHECK},
};

static bl_conv_transpose2d_args args_of(const optest_attrs *a) {
    return (bl_conv_transpose2d_args){.stride_h = a->stride[0], .stride_w = a->stride[1], .pad_h = a->pad[0],
                                      .pad_w = a->pad[1], .dil_h = a->dil[0], .dil_w = a->dil[1],
                                      .out_pad_h = a->out_pad[0], .out_pad_w = a->out_pad[1]};
}

static bl_tensor *build(optest_run *r) {
    return bl_conv_transpose2d(optest_ctx(r), optest_in(r, X), optest_in(r, W), optest_in(r, B),
                               args_of(optest_attrs_of(r)));
}

static int out_size(int in, int k, int stride, int pad, int dil, int out_pad) {
    return (in - 1) * (stride ? stride : 1) - 2 * pad + (dil ? dil : 1) * (k - 1) + out_pad + 1;
}

/* the conv2d whose input is the transposed convolution's output and whose output is its input */
static bl_conv2d_shape adjoint_shape(const optest_case *c) {
    const int *x = c->in[X].shape, *w = c->in[W].shape;
    const optest_attrs *a = &c->a;
    return (bl_conv2d_shape){
        .n = x[0], .c_in = w[1], .h_in = out_size(x[2], w[2], a->stride[0], a->pad[0], a->dil[0], a->out_pad[0]),
        .w_in = out_size(x[3], w[3], a->stride[1], a->pad[1], a->dil[1], a->out_pad[1]), .c_out = x[1],
        .h_out = x[2], .w_out = x[3], .kh = w[2], .kw = w[3], .stride_h = a->stride[0], .stride_w = a->stride[1],
        .pad_h = a->pad[0], .pad_w = a->pad[1], .dil_h = a->dil[0], .dil_w = a->dil[1]};
}

static optest_tol tolerance(const optest_case *c, const char *t, optest_class cls, int64_t *k) {
    if (cls == OPTEST_EXACT_BACKEND || strcmp(t, "db") == 0) return OPTEST_BITWISE;
    bl_conv2d_shape s = adjoint_shape(c);
    if (strcmp(t, "y") == 0) *k = (int64_t)s.c_out * s.kh * s.kw + 1;
    else if (strcmp(t, "dx") == 0) *k = (int64_t)s.c_in * s.kh * s.kw + (c->in[X].role == OPTEST_PARAM);
    else *k = (int64_t)s.n * s.h_out * s.w_out + 1; /* dw onto a random start */
    return OPTEST_DOT;
}

static void golden_attrs(const void *json, const char *op, optest_attrs *a) {
    for (int i = 0; i < 2; i++) {
        a->stride[i] = (int)optest_golden_attr(json, "stride", i, 1);
        a->pad[i] = (int)optest_golden_attr(json, "pad", i, 0);
        a->dil[i] = (int)optest_golden_attr(json, "dil", i, 1);
        a->out_pad[i] = (int)optest_golden_attr(json, "out_pad", i, 0);
    }
}

/* ---- the float64 gradient check of ref's kernels, composed as the op composes them ---- */

typedef struct upconv_state {
    bl_conv2d_shape s;
    double *x, *w, *b;
} upconv_state;

static int64_t y_count(const bl_conv2d_shape *s) { return (int64_t)s->n * s->c_in * s->h_in * s->w_in; }

static void upconv_forward(const void *state, double *y) {
    const upconv_state *c = state;
    for (int64_t i = 0; i < y_count(&c->s); i++) y[i] = 0.0;
    conv2d_backward_data_ref_f64(&c->s, c->x, c->w, y);
    if (c->b) bias_channels_forward_ref_f64(c->s.n, c->s.c_in, (int64_t)c->s.h_in * c->s.w_in, c->b, y);
}

static void gradcheck_case(const optest_case *t) {
    const char *op = "conv_transpose2d";
    bl_conv2d_shape s = adjoint_shape(t);
    const int bias = t->in[B].ndim > 0;
    const int64_t nx = (int64_t)s.n * s.c_out * s.h_out * s.w_out, nw = (int64_t)s.c_out * s.c_in * s.kh * s.kw;
    const int64_t ny = y_count(&s), hw = (int64_t)s.h_in * s.w_in;
    upconv_state c = {s, random_doubles(nx, -1, 1), random_doubles(nw, -1, 1), bias ? random_doubles(s.c_in, -1, 1)
                                                                                   : NULL};
    double *r = random_doubles(ny, -1, 1), *dx = doubles(nx), *dw = doubles(nw), *db = doubles(s.c_in);
    conv2d_forward_ref_f64(&s, r, c.w, NULL, dx);
    conv2d_backward_filter_ref_f64(&s, r, c.x, dw, NULL);
    bias_channels_backward_ref_f64(s.n, s.c_in, hw, r, db);
    gradcheck(op, "dx", upconv_forward, &c, c.x, nx, dx, NULL, ny, r);
    gradcheck(op, "dw", upconv_forward, &c, c.w, nw, dw, NULL, ny, r);
    if (bias) gradcheck(op, "db", upconv_forward, &c, c.b, s.c_in, db, NULL, ny, r);

    /* bias_channels_backward accumulates; its float variant (and the forward's) is the double one rounded */
    double *db2 = doubles(s.c_in);
    for (int call = 0; call < 2; call++) bias_channels_backward_ref_f64(s.n, s.c_in, hw, r, db2);
    check_accumulates(op, "db", db, db2, s.c_in);
    if (bias) {
        float *xf = to_floats(c.x, nx), *wf = to_floats(c.w, nw), *bf = to_floats(c.b, s.c_in), *rf = to_floats(r, ny);
        float *yf = floats(ny), *dbf = floats(s.c_in);
        /* the float forward adds the bias to the float product: compare with the double variant on that product */
        conv2d_backward_data_ref(NULL, &s, xf, wf, yf);
        double *y_from_float = doubles(ny);
        for (int64_t i = 0; i < ny; i++) y_from_float[i] = yf[i];
        bias_channels_forward_ref(NULL, s.n, s.c_in, hw, bf, yf);
        bias_channels_forward_ref_f64(s.n, s.c_in, hw, c.b, y_from_float);
        check_float_variant(op, "y", yf, y_from_float, ny);
        bias_channels_backward_ref(NULL, s.n, s.c_in, hw, rf, dbf);
        check_float_variant(op, "db", dbf, db, s.c_in);
    }
    free_case_buffers();
}

const optest_op optest_op_conv_transpose2d = {
    .name = "conv_transpose2d",
    .doc = "docs/ops/conv_transpose2d.md",
    .n_inputs = 3,
    .input_names = {"x", "w", "b"},
    .default_roles = {OPTEST_GRAD, OPTEST_PARAM, OPTEST_PARAM},
    .cases = cases,
    .n_cases = (int)(sizeof cases / sizeof cases[0]),
    .build = build,
    .tolerance = tolerance,
    .golden_ops = {"conv_transpose2d"},
    .golden_attrs = golden_attrs,
    .gradcheck = gradcheck_case,
};
