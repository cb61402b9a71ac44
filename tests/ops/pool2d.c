/* pool2d.c — the op-test cases of maxpool2d, avgpool2d (docs/ops/maxpool2d.md, avgpool2d.md) and global_avgpool
 * (docs/ops/global_avgpool.md): through autograd on every backend, the golden replay, the float64 gradient check.
 *
 * Every backend is bitwise ref here: max pooling compares floats (the first maximum in row-major window order wins, a
 * NaN always wins), and every average and every gradient is one double sum in ref's order, rounded once. Inputs carry
 * ties (values on a 1/4 grid), NaNs, zeros and −0; x is a parameter in most cases, so dx accumulates onto a random
 * start (ref turns a −0 start into +0 where no window routes a gradient: so must every backend). */
#include <stdio.h>
#include <math.h>
#include <string.h>

#include "core/ref/ref.h"
#include "harness.h"
#include "ops/gradcheck64.h"
#include "ops/optest.h"

/* x [n, c, h, w] with ties, NaNs, zeros and −0; a parameter (dx accumulates onto a random start) */
#define TIED(n, c, h, w) .in = {{.ndim = 4, .shape = {n, c, h, w}, .fill = OPTEST_TIES, .role = OPTEST_PARAM}}
#define PLAIN(n, c, h, w) .in = {{.ndim = 4, .shape = {n, c, h, w}}}
#define WINDOW(kh, kw, sh, sw, ph, pw, include_pad)                                                                   \
    .a = {.kernel = {kh, kw}, .stride = {sh, sw}, .pad = {ph, pw}, .count_include_pad = include_pad}

static const optest_case max_cases[] = {
    {"3x3/2 pad 1 (the ResNet stem's pool)", TIED(2, 9, 28, 28), WINDOW(3, 3, 2, 2, 1, 1, 0)},
    {"2x2/2, odd size", TIED(3, 5, 13, 11), WINDOW(2, 2, 2, 2, 0, 0, 0)},
    {"3x3/1 pad 1 (overlapping windows)", TIED(2, 4, 9, 10), WINDOW(3, 3, 1, 1, 1, 1, 0)},
    {"3x3/3 pad 1", TIED(1, 3, 8, 8), WINDOW(3, 3, 3, 3, 1, 1, 0)},
    {"2x2/2 on 21x37 (8-window vectors and a tail)", TIED(2, 4, 21, 37), WINDOW(2, 2, 2, 2, 0, 0, 0)},
    {"3x3/2 pad 1 on 13x11", TIED(2, 3, 13, 11), WINDOW(3, 3, 2, 2, 1, 1, 0)},
    {"2x2/2 on 8x8", TIED(1, 4, 8, 8), WINDOW(2, 2, 2, 2, 0, 0, 0)},
    {"3x2 window, stride 1x2, pad 1", TIED(2, 2, 9, 7), WINDOW(3, 2, 1, 2, 1, 1, 0)},
    {"3x3/2 pad 1 on 56x56", TIED(3, 5, 56, 56), WINDOW(3, 3, 2, 2, 1, 1, 0)},
    /* the gradient-check shapes */
    {"gradcheck: the stem's pool", PLAIN(2, 2, 9, 9), WINDOW(3, 3, 2, 2, 1, 1, 0), OPTEST_GRADCHECK},
    {"gradcheck: VGG's 2x2/2", PLAIN(1, 3, 6, 8), WINDOW(2, 2, 2, 2, 0, 0, 0), OPTEST_GRADCHECK},
    {"gradcheck: overlapping windows, odd size", PLAIN(3, 1, 5, 7), WINDOW(3, 3, 1, 1, 1, 1, 0), OPTEST_GRADCHECK},
    {"gradcheck: floor mode drops the last row and column", PLAIN(1, 2, 5, 7), WINDOW(2, 2, 2, 2, 0, 0, 0),
     OPTEST_GRADCHECK},
    {"gradcheck: non-square window", PLAIN(1, 2, 7, 6), WINDOW(3, 2, 2, 2, 1, 1, 0), OPTEST_GRADCHECK},
    {"gradcheck: larger", PLAIN(2, 4, 14, 13), WINDOW(3, 3, 2, 2, 1, 1, 0), OPTEST_GRADCHECK},
    {"gradcheck: exact ties everywhere (kinks skipped)", PLAIN(2, 3, 8, 9), WINDOW(3, 3, 1, 1, 1, 1, 1),
     OPTEST_GRADCHECK},
};

static const optest_case avg_cases[] = {
    {"2x2/2 (the DenseNet transition)", TIED(2, 9, 28, 28), WINDOW(2, 2, 2, 2, 0, 0, 1)},
    {"3x3/2 pad 1, padding counted", TIED(2, 9, 28, 28), WINDOW(3, 3, 2, 2, 1, 1, 1)},
    {"3x3/2 pad 1, padding not counted", TIED(2, 3, 13, 11), WINDOW(3, 3, 2, 2, 1, 1, 0)},
    {"2x2/2, odd size", TIED(3, 5, 13, 11), WINDOW(2, 2, 2, 2, 0, 0, 1)},
    {"3x3/1 pad 1, padding not counted", TIED(2, 4, 9, 10), WINDOW(3, 3, 1, 1, 1, 1, 0)},
    {"3x3/3 pad 1, padding not counted", TIED(1, 3, 8, 8), WINDOW(3, 3, 3, 3, 1, 1, 0)},
    {"2x2/2 on 21x37", TIED(2, 4, 21, 37), WINDOW(2, 2, 2, 2, 0, 0, 1)},
    {"3x2 window, stride 1x2, pad 1, counted", TIED(2, 2, 9, 7), WINDOW(3, 2, 1, 2, 1, 1, 1)},
    {"3x2 window, stride 1x2, pad 1, not counted", TIED(2, 2, 9, 7), WINDOW(3, 2, 1, 2, 1, 1, 0)},
    {"3x3/2 pad 1 on 56x56", TIED(3, 5, 56, 56), WINDOW(3, 3, 2, 2, 1, 1, 1)},
    {"gradcheck: the DenseNet transition", PLAIN(2, 2, 6, 8), WINDOW(2, 2, 2, 2, 0, 0, 1), OPTEST_GRADCHECK},
    {"gradcheck: 3x3/1 pad 1, not counted", PLAIN(1, 2, 5, 7), WINDOW(3, 3, 1, 1, 1, 1, 0), OPTEST_GRADCHECK},
    {"gradcheck: 3x3/2 pad 1, not counted", PLAIN(3, 1, 5, 7), WINDOW(3, 3, 2, 2, 1, 1, 0), OPTEST_GRADCHECK},
    {"gradcheck: 3x2/2 pad 1, not counted", PLAIN(1, 2, 7, 6), WINDOW(3, 2, 2, 2, 1, 1, 0), OPTEST_GRADCHECK},
    {"gradcheck: 3x3/1 pad 1, counted", PLAIN(1, 2, 5, 7), WINDOW(3, 3, 1, 1, 1, 1, 1), OPTEST_GRADCHECK},
    {"gradcheck: 3x3/2 pad 1, counted", PLAIN(3, 1, 5, 7), WINDOW(3, 3, 2, 2, 1, 1, 1), OPTEST_GRADCHECK},
    {"gradcheck: 3x2/2 pad 1, counted", PLAIN(1, 2, 7, 6), WINDOW(3, 2, 2, 2, 1, 1, 1), OPTEST_GRADCHECK},
};

static const optest_case global_cases[] = {
    {"7x7 planes (ResNet50's last map)",
     .in = {{.ndim = 4, .shape = {8, 255, 7, 7}, .fill = OPTEST_AWKWARD_NAN, .role = OPTEST_PARAM}}},
    {"56x56 planes", .in = {{.ndim = 4, .shape = {1, 31, 56, 56}, .fill = OPTEST_AWKWARD_NAN, .role = OPTEST_PARAM}}},
    {"2x96x7x7", .in = {{.ndim = 4, .shape = {2, 96, 7, 7}, .lo = -3, .hi = 3}}},
    {"gradcheck: 6 planes of 5x7", .in = {{.ndim = 4, .shape = {1, 6, 5, 7}}}, .flags = OPTEST_GRADCHECK},
    {"gradcheck: 1x1 planes", .in = {{.ndim = 4, .shape = {1, 3, 1, 1}}}, .flags = OPTEST_GRADCHECK},
};

static bl_pool2d_args pool_args(const optest_attrs *a) {
    return (bl_pool2d_args){.kernel_h = a->kernel[0], .kernel_w = a->kernel[1], .stride_h = a->stride[0],
                            .stride_w = a->stride[1], .pad_h = a->pad[0], .pad_w = a->pad[1],
                            .count_include_pad = a->count_include_pad};
}

static bl_tensor *build_max(optest_run *r) {
    return bl_maxpool2d(optest_ctx(r), optest_in(r, 0), pool_args(optest_attrs_of(r)));
}
static bl_tensor *build_avg(optest_run *r) {
    return bl_avgpool2d(optest_ctx(r), optest_in(r, 0), pool_args(optest_attrs_of(r)));
}
static bl_tensor *build_global(optest_run *r) { return bl_global_avgpool(optest_ctx(r), optest_in(r, 0)); }

static optest_tol bitwise(const optest_case *c, const char *t, optest_class cls, int64_t *k) { return OPTEST_BITWISE; }

static void golden_pool_attrs(const void *json, const char *op, optest_attrs *a) {
    for (int i = 0; i < 2; i++) {
        a->kernel[i] = (int)optest_golden_attr(json, "kernel", i, 0);
        a->stride[i] = (int)optest_golden_attr(json, "stride", i, 0);
        a->pad[i] = (int)optest_golden_attr(json, "pad", i, 0);
    }
    a->count_include_pad = (int)optest_golden_attr(json, "count_include_pad", 0, 1);
}

/* ---- the float64 gradient check of ref's kernels ---- */

typedef struct pool_state {
    bl_pool2d_shape s;
    int is_max;
    double *x;
} pool_state;

static void pool_forward(const void *state, double *y) {
    const pool_state *c = state;
    if (c->is_max) maxpool2d_forward_ref_f64(&c->s, c->x, y);
    else avgpool2d_forward_ref_f64(&c->s, c->x, y);
}

/* Mark inputs that sit on a kink of the max: within GRADCHECK_KINK of the value they compete with in some window
 * (the window's maximum for a loser, the runner-up for the winner). Moving such an input by ±h can change the
 * argmax. */
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
                            } else if (fabs(xp[at] - (at == top_at ? second : top)) < GRADCHECK_KINK) {
                                skip[nc * s->h_in * s->w_in + at] = 1;
                            }
                        }
            }
    }
}

/* the case's input rounded to multiples of 1/4 when its name says "ties": windows hold exact ties (first-max rule,
 * kink skipping) */
static void gradcheck_pool(int is_max, const optest_case *t) {
    const char *op = is_max ? "maxpool2d" : "avgpool2d";
    const int *x_shape = t->in[0].shape, kh = t->a.kernel[0], kw = t->a.kernel[1], stride = t->a.stride[0];
    const int pad = t->a.pad[0], n = x_shape[0], ch = x_shape[1], h = x_shape[2], w = x_shape[3];
    bl_pool2d_shape s = {n, ch, h, w, (h + 2 * pad - kh) / stride + 1, (w + 2 * pad - kw) / stride + 1,
                         kh, kw, stride, stride, pad, pad, t->a.count_include_pad};
    int64_t nx = (int64_t)n * ch * h * w, ny = (int64_t)n * ch * s.h_out * s.w_out;
    pool_state c = {s, is_max, random_doubles(nx, -1, 1)};
    double *r = random_doubles(ny, -1, 1), *dx = doubles(nx), *dx2 = doubles(nx), *y = doubles(ny);
    unsigned char *skip = case_alloc(nx, 1);
    if (strstr(t->name, "ties"))
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
static void gradcheck_max(const optest_case *t) { gradcheck_pool(1, t); }
static void gradcheck_avg(const optest_case *t) { gradcheck_pool(0, t); }

typedef struct gap_state {
    int64_t nc, hw;
    double *x;
} gap_state;

static void gap_forward(const void *state, double *y) {
    const gap_state *c = state;
    global_avgpool_forward_ref_f64(c->nc, c->hw, c->x, y);
}

static void gradcheck_global(const optest_case *t) {
    const int *x = t->in[0].shape;
    const int64_t nc = (int64_t)x[0] * x[1], hw = (int64_t)x[2] * x[3];
    gap_state c = {nc, hw, random_doubles(nc * hw, -1, 1)};
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

const optest_op optest_op_maxpool2d = {
    .name = "maxpool2d",
    .doc = "docs/ops/maxpool2d.md",
    .n_inputs = 1,
    .input_names = {"x"},
    .default_roles = {OPTEST_GRAD},
    .cases = max_cases,
    .n_cases = (int)(sizeof max_cases / sizeof max_cases[0]),
    .build = build_max,
    .tolerance = bitwise,
    .golden_ops = {"maxpool2d"},
    .golden_attrs = golden_pool_attrs,
    .gradcheck = gradcheck_max,
};

const optest_op optest_op_avgpool2d = {
    .name = "avgpool2d",
    .doc = "docs/ops/avgpool2d.md",
    .n_inputs = 1,
    .input_names = {"x"},
    .default_roles = {OPTEST_GRAD},
    .cases = avg_cases,
    .n_cases = (int)(sizeof avg_cases / sizeof avg_cases[0]),
    .build = build_avg,
    .tolerance = bitwise,
    .golden_ops = {"avgpool2d"},
    .golden_attrs = golden_pool_attrs,
    .gradcheck = gradcheck_avg,
};

const optest_op optest_op_global_avgpool = {
    .name = "global_avgpool",
    .doc = "docs/ops/global_avgpool.md",
    .n_inputs = 1,
    .input_names = {"x"},
    .default_roles = {OPTEST_GRAD},
    .cases = global_cases,
    .n_cases = (int)(sizeof global_cases / sizeof global_cases[0]),
    .build = build_global,
    .tolerance = bitwise,
    .golden_ops = {"global_avgpool"},
    .gradcheck = gradcheck_global,
};
