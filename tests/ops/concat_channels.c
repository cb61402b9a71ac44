/* concat_channels.c — the op-test cases of concat_channels (docs/ops/concat_channels.md): bl_concat_channels through
 * autograd on every backend (bitwise everywhere: a copy forward, a float add backward), the golden replay, the
 * float64 gradient check. */
#include <stdio.h>
#include <string.h>

#include "core/ref/ref.h"
#include "harness.h"
#include "ops/gradcheck64.h"
#include "ops/optest.h"

#define PART(n, c, h, w, ...) {.ndim = 4, .shape = {n, c, h, w}, __VA_ARGS__}

static const optest_case cases[] = {
    {"three parts of 4, 5 and 3 channels, 7x143 planes; the first one's dx onto a random start",
     .in = {PART(3, 4, 7, 143, .fill = OPTEST_AWKWARD_NAN, .role = OPTEST_PARAM),
            PART(3, 5, 7, 143, .fill = OPTEST_AWKWARD_NAN), PART(3, 3, 7, 143, .fill = OPTEST_AWKWARD)}},
    {"two parts of 5 and 7 channels, 3x11 planes", .in = {PART(3, 5, 3, 11), PART(3, 7, 3, 11)}},
    {"one part", .in = {PART(2, 6, 4, 4)}},
    {"DenseNet's growth: 64 + 32 channels, 56x56", .in = {PART(2, 64, 56, 56), PART(2, 32, 56, 56)}},
    {"a part without gradient", .in = {PART(2, 3, 5, 5, .role = OPTEST_NOGRAD), PART(2, 2, 5, 5)}},
    {"gradcheck: parts of 2, 3 and 2 channels, 3x5 planes", .in = {PART(2, 2, 3, 5), PART(2, 3, 3, 5), PART(2, 2, 3, 5)},
     .flags = OPTEST_GRADCHECK},
    {"gradcheck: parts of 2, 3 and 2 channels, 1x1 planes", .in = {PART(1, 2, 1, 1), PART(1, 3, 1, 1), PART(1, 2, 1, 1)},
     .flags = OPTEST_GRADCHECK},
};

static bl_tensor *build(optest_run *r) {
    bl_tensor *parts[OPTEST_MAX_INPUTS];
    int count = 0;
    while (count < OPTEST_MAX_INPUTS && optest_in(r, count)) parts[count] = optest_in(r, count), count++;
    return bl_concat_channels(optest_ctx(r), count, parts);
}

static optest_tol bitwise(const optest_case *c, const char *t, optest_class cls, int64_t *k) { return OPTEST_BITWISE; }

/* ---- the float64 gradient check of ref's kernels: each part against the whole output ---- */

typedef struct concat_state {
    int n, c_part, c_total, c_off;
    int64_t hw;
    double *x;
} concat_state;

static void concat_forward(const void *state, double *y) {
    const concat_state *c = state;
    memset(y, 0, (size_t)c->n * c->c_total * c->hw * sizeof *y); /* channels outside the slice: constant 0 */
    concat_channels_forward_ref_f64(c->n, c->c_part, c->c_total, c->c_off, c->hw, c->x, y);
}

static void gradcheck_case(const optest_case *t) {
    int parts[OPTEST_MAX_INPUTS], offsets[OPTEST_MAX_INPUTS], count = 0, c_total = 0;
    for (; count < OPTEST_MAX_INPUTS && t->in[count].ndim; count++) {
        parts[count] = t->in[count].shape[1];
        offsets[count] = c_total;
        c_total += parts[count];
    }
    const int n = t->in[0].shape[0];
    const int64_t hw = (int64_t)t->in[0].shape[2] * t->in[0].shape[3], ny = (int64_t)n * c_total * hw;
    double *r = random_doubles(ny, -1, 1), *y = doubles(ny), *y_all = doubles(ny);
    for (int p = 0; p < count; p++) {
        int64_t nx = (int64_t)n * parts[p] * hw;
        concat_state c = {n, parts[p], c_total, offsets[p], hw, random_doubles(nx, -1, 1)};
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

const optest_op optest_op_concat_channels = {
    .name = "concat_channels",
    .doc = "docs/ops/concat_channels.md",
    .n_inputs = 8,
    .input_names = {"x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7"},
    .default_roles = {OPTEST_GRAD, OPTEST_GRAD, OPTEST_GRAD, OPTEST_GRAD, OPTEST_GRAD, OPTEST_GRAD, OPTEST_GRAD,
                      OPTEST_GRAD},
    .cases = cases,
    .n_cases = (int)(sizeof cases / sizeof cases[0]),
    .build = build,
    .tolerance = bitwise,
    .golden_ops = {"concat_channels"},
    .gradcheck = gradcheck_case,
};
