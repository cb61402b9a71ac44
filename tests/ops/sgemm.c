/* sgemm.c — the op-test cases of the sgemm slot (docs/ops/sgemm.md). No autograd op calls it with arbitrary
 * transposes, so each case calls the slot directly on the context's tensors: C = alpha·op(A)·op(B) + beta·C, with
 * beta = 1 onto a random C and beta = 0 onto NaN garbage (beta == 0 means C is written, never read). Held to the
 * dot-product bound with K = k (+ 1 for the accumulated C). Its exactness against a plain triple loop in double is
 * tests/test_ref_semantics.c's; the blocking, packing and micro-kernels are tests/test_gemm.c's. */
#include <math.h>

#include "ops/optest.h"

enum { A, B, C0 };

/* op(A) [m,k], op(B) [k,n] stored transposed when asked; C0 [m,n] */
#define GEMM(ta, tb, M, N, K, BETA)                                                                                   \
    .in = {{.ndim = 2, .shape = {(ta) ? K : M, (ta) ? M : K}},                                                        \
           {.ndim = 2, .shape = {(tb) ? N : K, (tb) ? K : N}},                                                        \
           {.ndim = 2, .shape = {M, N}}},                                                                            \
    .a = {.trans_a = ta, .trans_b = tb, .m = M, .n = N, .k = K, .alpha = 1.0f, .beta = BETA}

static const optest_case cases[] = {
    {"NN 37x53x129, beta 0", GEMM(0, 0, 37, 53, 129, 0.0f)},
    {"TN 64x33x300, beta 0", GEMM(1, 0, 64, 33, 300, 0.0f)},
    {"NT 130x17x64, beta 0", GEMM(0, 1, 130, 17, 64, 0.0f)},
    {"TT 7x200x45, beta 0", GEMM(1, 1, 7, 200, 45, 0.0f)},
    {"NN 1x1x1, beta 0", GEMM(0, 0, 1, 1, 1, 0.0f)},
    {"NN 37x53x129, beta 1", GEMM(0, 0, 37, 53, 129, 1.0f)},
    {"TN 64x33x300, beta 1", GEMM(1, 0, 64, 33, 300, 1.0f)},
    {"NT 130x17x64, beta 1", GEMM(0, 1, 130, 17, 64, 1.0f)},
    {"TT 7x200x45, beta 1", GEMM(1, 1, 7, 200, 45, 1.0f)},
    {"NN 1x1x1, beta 1", GEMM(0, 0, 1, 1, 1, 1.0f)},
};

static bl_tensor *build(optest_run *r) {
    const optest_attrs *a = optest_attrs_of(r);
    bl_ctx *ctx = optest_ctx(r);
    const bl_kernels *k = bl_ctx_kernels(ctx);
    bl_tensor *x = optest_in(r, A), *y = optest_in(r, B), *c0 = optest_in(r, C0);
    int shape[2] = {a->m, a->n};
    bl_tensor *c = bl_tensor_new(ctx, 2, shape);
    if (!c) return NULL;
    if (a->beta != 0.0f) k->copy(c->data, c0->data, sizeof(float) * (size_t)c->numel);
    else k->fill(c->numel, NAN, c->data); /* must not be read */
    k->sgemm(k, a->trans_a, a->trans_b, a->m, a->n, a->k, a->alpha, x->data, a->trans_a ? a->m : a->k, y->data,
             a->trans_b ? a->k : a->n, a->beta, c->data, a->n);
    return c;
}

static optest_tol tolerance(const optest_case *c, const char *t, optest_class cls, int64_t *k) {
    if (cls == OPTEST_EXACT_BACKEND) return OPTEST_BITWISE;
    *k = c->a.k + (c->a.beta != 0.0f);
    return OPTEST_DOT;
}

const optest_op optest_op_sgemm = {
    .name = "sgemm",
    .doc = "docs/ops/sgemm.md",
    .n_inputs = 3,
    .input_names = {"a", "b", "c"},
    .default_roles = {OPTEST_NOGRAD, OPTEST_NOGRAD, OPTEST_NOGRAD},
    .cases = cases,
    .n_cases = (int)(sizeof cases / sizeof cases[0]),
    .build = build,
    .tolerance = tolerance,
};
