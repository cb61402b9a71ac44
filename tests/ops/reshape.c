/* reshape.c — the op-test cases of reshape and flatten (docs/ops/reshape.md): views, bitwise everywhere (the
 * backward is an axpy of α = 1 into the base's gradient), and the golden replay. No float64 gradient check: no
 * kernel of its own. */
#include "ops/optest.h"

enum { RESHAPE = 0, FLATTEN };

static const optest_case cases[] = {
    {"[2,3,4,5] -> [6,-1]", .in = {{.ndim = 4, .shape = {2, 3, 4, 5}}}, .a = {.ndim = 2, .shape = {6, -1}}},
    {"[2,3,4,5] -> [-1,5,2]; dx onto a random start",
     .in = {{.ndim = 4, .shape = {2, 3, 4, 5}, .fill = OPTEST_AWKWARD_NAN, .role = OPTEST_PARAM}},
     .a = {.ndim = 3, .shape = {-1, 5, 2}}},
    {"flatten [8,512,7,7]", .in = {{.ndim = 4, .shape = {8, 512, 7, 7}}}, .a = {.variant = FLATTEN}},
    {"flatten [3,7]", .in = {{.ndim = 2, .shape = {3, 7}}}, .a = {.variant = FLATTEN}},
};

static bl_tensor *build(optest_run *r) {
    const optest_attrs *a = optest_attrs_of(r);
    if (a->variant == FLATTEN) return bl_flatten(optest_ctx(r), optest_in(r, 0));
    return bl_reshape(optest_ctx(r), optest_in(r, 0), a->ndim, a->shape);
}

static optest_tol bitwise(const optest_case *c, const char *t, optest_class cls, int64_t *k) { return OPTEST_BITWISE; }

static void golden_attrs(const void *json, const char *op, optest_attrs *a) {
    if (op[0] == 'f') {
        a->variant = FLATTEN;
        return;
    }
    a->ndim = 0;
    while (a->ndim < 4 && optest_golden_attr(json, "shape", a->ndim, 0) != 0) {
        a->shape[a->ndim] = (int)optest_golden_attr(json, "shape", a->ndim, 0);
        a->ndim++;
    }
}

const optest_op optest_op_reshape = {
    .name = "reshape",
    .doc = "docs/ops/reshape.md",
    .n_inputs = 1,
    .input_names = {"x"},
    .default_roles = {OPTEST_GRAD},
    .cases = cases,
    .n_cases = (int)(sizeof cases / sizeof cases[0]),
    .build = build,
    .tolerance = bitwise,
    .golden_ops = {"reshape", "flatten"},
    .golden_attrs = golden_attrs,
};
