/* resize.c — the op-test cases of upsample_bilinear2d (docs/ops/upsample_bilinear2d.md): bl_upsample_bilinear2d
 * through autograd on every backend, the golden replay against torch's F.interpolate(mode="bilinear",
 * align_corners=False), and the float64 gradient check of ref's two kernels.
 *
 * Tolerances: bitwise on every backend — the cpu backend runs ref's kernels, and cuda evaluates ref's double taps
 * and products in ref's order (one thread per output forward, per input backward). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/ref/ref.h"
#include "harness.h"
#include "ops/gradcheck64.h"
#include "ops/optest.h"

#define IMAGE(n, c, h, w) .in = {{.ndim = 4, .shape = {n, c, h, w}}}
#define SIZE(h, w) .a = {.size = {h, w}}

static const optest_case cases[] = {
    {"2x up, 7x9 -> 14x18", IMAGE(2, 3, 7, 9), SIZE(14, 18)},
    {"2x up, 64 channels, 16x16 -> 32x32", IMAGE(2, 64, 16, 16), SIZE(32, 32)},
    {"ratios 13/5 and 11/7", IMAGE(2, 3, 5, 7), SIZE(13, 11)},
    {"down, 20x17 -> 7x9", IMAGE(1, 4, 20, 17), SIZE(7, 9)},
    {"up in h, down in w", IMAGE(2, 2, 4, 23), SIZE(9, 6)},
    {"same size (identity)", IMAGE(2, 3, 6, 5), SIZE(6, 5)},
    {"to 1x1", IMAGE(1, 3, 5, 4), SIZE(1, 1)},
    {"from 1x1", IMAGE(2, 3, 1, 1), SIZE(4, 3)},
    {"2x up, dx onto a random start", .in = {{.ndim = 4, .shape = {2, 3, 7, 9}, .role = OPTEST_PARAM}},
     SIZE(14, 18)},
    {"gradcheck: 2x up", IMAGE(1, 2, 4, 5), SIZE(8, 10), OPTEST_GRADCHECK},
    {"gradcheck: ratios 11/4 and 3/7", IMAGE(2, 1, 4, 7), SIZE(11, 3), OPTEST_GRADCHECK},
    {"gradcheck: down 9x8 -> 4x5", IMAGE(1, 2, 9, 8), SIZE(4, 5), OPTEST_GRADCHECK},
};

static bl_tensor *build(optest_run *r) {
    const optest_attrs *a = optest_attrs_of(r);
    return bl_upsample_bilinear2d(optest_ctx(r), optest_in(r, 0), a->size[0], a->size[1]);
}

static optest_tol tolerance(const optest_case *c, const char *t, optest_class cls, int64_t *k) {
    return OPTEST_BITWISE;
}

static void golden_attrs(const void *json, const char *op, optest_attrs *a) {
    for (int i = 0; i < 2; i++) a->size[i] = (int)optest_golden_attr(json, "size", i, 1);
}

/* ---- the float64 gradient check of ref's kernels ---- */

typedef struct resize_state {
    bl_resize_shape s;
    double *x;
} resize_state;

static void resize_forward(const void *state, double *y) {
    const resize_state *c = state;
    upsample_bilinear2d_forward_ref_f64(&c->s, c->x, y);
}

static void gradcheck_case(const optest_case *t) {
    const char *op = "upsample_bilinear2d";
    const int *x = t->in[0].shape;
    bl_resize_shape s = {x[0], x[1], x[2], x[3], t->a.size[0], t->a.size[1]};
    const int64_t nx = (int64_t)s.n * s.c * s.h_in * s.w_in, ny = (int64_t)s.n * s.c * s.h_out * s.w_out;
    resize_state c = {s, random_doubles(nx, -1, 1)};
    double *r = random_doubles(ny, -1, 1), *dx = doubles(nx), *dx2 = doubles(nx), *y = doubles(ny);
    upsample_bilinear2d_backward_ref_f64(&s, r, dx);
    gradcheck(op, "dx", resize_forward, &c, c.x, nx, dx, NULL, ny, r);
    for (int call = 0; call < 2; call++) upsample_bilinear2d_backward_ref_f64(&s, r, dx2);
    check_accumulates(op, "dx", dx, dx2, nx);
    /* the weights of every output sum to 1: a constant image stays constant */
    double *ones = doubles(nx), *ones_y = doubles(ny);
    for (int64_t i = 0; i < nx; i++) ones[i] = 1.0;
    upsample_bilinear2d_forward_ref_f64(&s, ones, ones_y);
    double worst = 0;
    for (int64_t i = 0; i < ny; i++) worst = fmax(worst, fabs(ones_y[i] - 1.0));
    CHECK(worst <= 1e-15, "upsample_bilinear2d: a constant image of ones comes out off by %.3g", worst);
    float *xf = to_floats(c.x, nx), *rf = to_floats(r, ny), *yf = floats(ny), *dxf = floats(nx);
    resize_forward(&c, y);
    upsample_bilinear2d_forward_ref(NULL, &s, xf, yf);
    upsample_bilinear2d_backward_ref(NULL, &s, rf, dxf);
    check_float_variant(op, "y", yf, y, ny);
    check_float_variant(op, "dx", dxf, dx, nx);
    free_case_buffers();
}

const optest_op optest_op_upsample_bilinear2d = {
    .name = "upsample_bilinear2d",
    .doc = "docs/ops/upsample_bilinear2d.md",
    .n_inputs = 1,
    .input_names = {"x"},
    .default_roles = {OPTEST_GRAD},
    .cases = cases,
    .n_cases = (int)(sizeof cases / sizeof cases[0]),
    .build = build,
    .tolerance = tolerance,
    .golden_ops = {"upsample_bilinear2d"},
    .golden_attrs = golden_attrs,
    .gradcheck = gradcheck_case,
};
