/* test_grad_memory.c — the memory mechanisms of the autograd engine, checked for values and for memory:
 *   - activation gradients are released once the op that produced the activation has run its backward (the
 *     gradient pool, core/grad_pool.h): not kept unless asked for, memory reused, no allocation after step 1;
 *   - in-place ReLU (bl_relu_inplace) folded into conv2d / batchnorm2d / add / linear entries: values and every
 *     gradient bitwise equal to bl_relu, on ref and cpu; the fallbacks (not the newest output, retained gradient);
 *   - parameter gradients allocated lazily: none after an inference forward, zeroed ones after an optimizer or a
 *     backward. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/autograd.h"
#include "core/optim.h"
#include "harness.h"

static bl_ctx *new_ctx(const bl_kernels *k) {
    bl_ctx *ctx = NULL;
    bl_status st = bl_ctx_create(k, &ctx);
    CHECK(st == BL_OK && ctx, "bl_ctx_create: %s", bl_last_error());
    return ctx;
}

static int bitwise_equal(const float *a, const float *b, int64_t n) { return memcmp(a, b, (size_t)n * sizeof *a) == 0; }

/* ---- a small network with every fusable producer: conv → bn → relu, conv → relu, add → relu, linear → relu ---- */

typedef struct net {
    bl_tensor *w1, *g, *b, *rm, *rv, *w2, *fc, *fcb;
} net;

static void net_init(bl_ctx *ctx, net *n) {
    int w1s[4] = {4, 3, 3, 3}, w2s[4] = {4, 4, 3, 3}, cs[1] = {4}, fcs[2] = {5, 4 * 6 * 6}, fbs[1] = {5};
    n->w1 = bl_param(ctx, "w1", 4, w1s), n->w2 = bl_param(ctx, "w2", 4, w2s);
    n->g = bl_param(ctx, "g", 1, cs), n->b = bl_param(ctx, "b", 1, cs);
    n->rm = bl_buffer(ctx, "rm", 1, cs), n->rv = bl_buffer(ctx, "rv", 1, cs);
    n->fc = bl_param(ctx, "fc", 2, fcs), n->fcb = bl_param(ctx, "fcb", 1, fbs);
    bl_tensor *all[8] = {n->w1, n->w2, n->g, n->b, n->fc, n->fcb, n->rm, n->rv};
    for (int i = 0; i < 8; i++) {
        float *v = all[i]->data;
        test_fill_uniform(v, all[i]->numel, 7, (uint64_t)i, -0.5f, 0.5f);
        if (all[i] == n->g || all[i] == n->rv)
            for (int64_t j = 0; j < all[i]->numel; j++) v[j] = 1.0f + 0.5f * v[j];
    }
}

/* relu_fn is bl_relu or bl_relu_inplace; returns the [2,5] output. x [2,3,6,6] requires a gradient. */
static bl_tensor *net_forward(bl_ctx *ctx, const net *n, bl_tensor *x,
                              bl_tensor *(*relu_fn)(bl_ctx *, bl_tensor *), bl_tensor **mid) {
    bl_conv2d_args same = {.pad_h = 1, .pad_w = 1};
    bl_tensor *h = relu_fn(ctx, bl_batchnorm2d(ctx, bl_conv2d(ctx, x, n->w1, NULL, same), n->g, n->b, n->rm, n->rv,
                                               1e-5f, 0.1f));
    bl_tensor *k = relu_fn(ctx, bl_conv2d(ctx, h, n->w2, NULL, same));
    h = relu_fn(ctx, bl_add(ctx, h, k));
    if (mid) *mid = h;
    return relu_fn(ctx, bl_linear(ctx, bl_flatten(ctx, h), n->fc, n->fcb));
}

typedef struct run_result {
    float y[10], dx[2 * 3 * 6 * 6], dparams[6][4 * 6 * 6 * 5];
    int64_t counts[6];
    int tape;
} run_result;

static void run(const bl_kernels *k, bl_tensor *(*relu_fn)(bl_ctx *, bl_tensor *), run_result *r) {
    memset(r, 0, sizeof *r);
    bl_ctx *ctx = new_ctx(k);
    if (!ctx) return;
    net n;
    net_init(ctx, &n);
    int xs[4] = {2, 3, 6, 6};
    float xv[2 * 3 * 6 * 6];
    test_fill_uniform(xv, 2 * 3 * 6 * 6, 11, 0, -1.0f, 1.0f);
    bl_tensor *x = bl_tensor_from(ctx, 4, xs, xv);
    bl_requires_grad(x);
    bl_tensor *y = net_forward(ctx, &n, x, relu_fn, NULL);
    float dy[10];
    test_fill_uniform(dy, 10, 13, 0, -1.0f, 1.0f);
    CHECK(y && bl_backward_with(ctx, y, dy) == BL_OK, "%s: forward/backward: %s", k->name, bl_ctx_error(ctx));
    r->tape = bl_tape_length(ctx);
    if (y && x->grad) {
        bl_tensor_download(ctx, y, r->y);
        bl_tensor_download(ctx, x->grad, r->dx);
    }
    bl_tensor *params[6] = {n.w1, n.g, n.b, n.w2, n.fc, n.fcb};
    for (int i = 0; i < 6; i++) {
        r->counts[i] = params[i]->numel;
        if (params[i]->grad) bl_tensor_download(ctx, params[i]->grad, r->dparams[i]);
    }
    bl_ctx_free(ctx);
}

static void test_inplace_relu_bitwise(const bl_kernels *k) {
    static run_result plain, fused;
    run(k, bl_relu, &plain);
    run(k, bl_relu_inplace, &fused);
    CHECK(plain.tape == 10 && fused.tape == 6, "%s: tape entries %d (bl_relu) and %d (bl_relu_inplace: the 4 ReLUs folded)",
          k->name, plain.tape, fused.tape);
    CHECK(bitwise_equal(plain.y, fused.y, 10), "%s: output bitwise equal", k->name);
    CHECK(bitwise_equal(plain.dx, fused.dx, 2 * 3 * 6 * 6), "%s: ∂L/∂x bitwise equal", k->name);
    int nonzero = 0;
    for (int i = 0; i < 2 * 3 * 6 * 6; i++) nonzero += fused.dx[i] != 0.0f;
    CHECK(nonzero > 50, "%s: ∂L/∂x is not trivially zero (%d nonzero)", k->name, nonzero);
    for (int i = 0; i < 6; i++)
        CHECK(bitwise_equal(plain.dparams[i], fused.dparams[i], plain.counts[i]), "%s: parameter %d gradient bitwise equal",
              k->name, i);
}

/* bl_relu_inplace must not fold (and must leave x alone) when x is not the newest entry's output or a gradient was asked */
static void test_inplace_relu_fallbacks(void) {
    bl_ctx *ctx = new_ctx(bl_kernels_ref());
    int s[1] = {4};
    float av[4] = {-1, 2, -3, 4}, bv[4] = {1, 1, 1, 1};
    bl_tensor *a = bl_tensor_from(ctx, 1, s, av), *b = bl_tensor_from(ctx, 1, s, bv);
    bl_requires_grad(a), bl_requires_grad(b);
    bl_tensor *sum = bl_add(ctx, a, b);           /* sum = {0, 3, -2, 5} */
    bl_tensor *other = bl_add(ctx, b, b);         /* now sum is not the newest output */
    bl_tensor *r = bl_relu_inplace(ctx, sum);
    CHECK(r != sum && sum->data[2] == -2.0f && r->data[2] == 0.0f && r->data[1] == 3.0f,
          "not the newest output: out of place, x unchanged");
    bl_tensor *leaf = bl_relu_inplace(ctx, a);           /* a is a leaf, produced by no entry */
    CHECK(leaf != a && a->data[0] == -1.0f, "a leaf that requires a gradient: out of place");
    bl_tensor *kept = bl_add(ctx, other, b);
    bl_requires_grad(kept);
    bl_tensor *r2 = bl_relu_inplace(ctx, kept);
    CHECK(r2 != kept, "a tensor whose gradient is retained: out of place");
    bl_tensor *folded = bl_relu_inplace(ctx, bl_add(ctx, r, r2));
    CHECK(folded && bl_tape_length(ctx) == 7, "fold into the newest add: tape %d entries (want 7)", bl_tape_length(ctx));
    /* no tape at all (grad mode off): in place, values as relu */
    bl_set_grad_enabled(ctx, 0);
    bl_tensor *c = bl_add(ctx, a, b);
    bl_tensor *rc = bl_relu_inplace(ctx, c);
    CHECK(rc == c && c->data[0] == 0.0f && c->data[2] == 0.0f && c->data[1] == 3.0f, "no-grad: in place");
    bl_ctx_free(ctx);
}

/* bl_add_inplace and bl_batchnorm2d_inplace: in place (the first argument returned, bitwise the out-of-place values) when no tape
 * entry is wanted; with one wanted, exactly the out-of-place op (a new tensor, the argument unchanged) */
static void test_inplace_add_batchnorm(void) {
    bl_ctx *ctx = new_ctx(bl_kernels_cpu());
    int xs[4] = {2, 3, 5, 4}, cs[1] = {3};
    float av[120], bv[120], g[3] = {1.5f, -0.5f, 2.0f}, be[3] = {0.1f, 0.2f, -0.3f}, rm[3] = {0.2f, -0.1f, 0.0f},
                                     rv[3] = {0.5f, 1.5f, 2.0f};
    test_fill_uniform(av, 120, 21, 0, -1.0f, 1.0f);
    test_fill_uniform(bv, 120, 21, 1, -1.0f, 1.0f);
    bl_set_training(ctx, 0);
    bl_tensor *gamma = bl_tensor_from(ctx, 1, cs, g), *beta = bl_tensor_from(ctx, 1, cs, be);
    bl_tensor *mean = bl_tensor_from(ctx, 1, cs, rm), *var = bl_tensor_from(ctx, 1, cs, rv);
    bl_set_grad_enabled(ctx, 0);
    bl_tensor *a = bl_tensor_from(ctx, 4, xs, av), *b = bl_tensor_from(ctx, 4, xs, bv);
    bl_tensor *want_sum = bl_add(ctx, a, b);
    bl_tensor *want_bn = bl_batchnorm2d(ctx, want_sum, gamma, beta, mean, var, 1e-5f, 0.1f);
    bl_tensor *sum = bl_add_inplace(ctx, a, b);
    CHECK(sum == a && bitwise_equal(sum->data, want_sum->data, 120), "no grad: bl_add_inplace writes over a, bitwise bl_add");
    bl_tensor *bn = bl_batchnorm2d_inplace(ctx, sum, gamma, beta, mean, var, 1e-5f, 0.1f);
    CHECK(bn == sum && bitwise_equal(bn->data, want_bn->data, 120),
          "no grad, eval: bl_batchnorm2d_inplace writes over x, bitwise bl_batchnorm2d");
    bl_set_grad_enabled(ctx, 1);
    bl_tensor *c = bl_tensor_from(ctx, 4, xs, av), *d = bl_tensor_from(ctx, 4, xs, bv);
    bl_requires_grad(c);
    bl_tensor *sum2 = bl_add_inplace(ctx, c, d);
    CHECK(sum2 && sum2 != c && c->data[7] == av[7] && bitwise_equal(sum2->data, want_sum->data, 120),
          "a tape entry wanted: bl_add_inplace is bl_add (new tensor, a unchanged)");
    bl_tensor *bn2 = bl_batchnorm2d_inplace(ctx, sum2, gamma, beta, mean, var, 1e-5f, 0.1f);
    CHECK(bn2 && bn2 != sum2 && bitwise_equal(bn2->data, want_bn->data, 120),
          "a tape entry wanted: bl_batchnorm2d_inplace is bl_batchnorm2d");
    bl_ctx_free(ctx);
}

/* intermediate gradients: released unless retained; the pool reuses memory and stops allocating after step 1 */
static void test_gradient_release(void) {
    bl_ctx *ctx = new_ctx(bl_kernels_cpu());
    net n;
    net_init(ctx, &n);
    CHECK(n.w1->grad == NULL && n.fc->grad == NULL, "parameters have no .grad before any backward or optimizer");
    int xs[4] = {2, 3, 6, 6};
    float xv[2 * 3 * 6 * 6], dy[10];
    test_fill_uniform(xv, 2 * 3 * 6 * 6, 11, 0, -1.0f, 1.0f);
    test_fill_uniform(dy, 10, 13, 0, -1.0f, 1.0f);
    size_t allocations_after_first = 0;
    for (int step = 0; step < 3; step++) {
        bl_tensor *x = bl_tensor_from(ctx, 4, xs, xv), *mid = NULL;
        bl_requires_grad(x);
        bl_tensor *y = net_forward(ctx, &n, x, bl_relu, &mid);
        bl_tensor *mid2 = y ? bl_add(ctx, y, y) : NULL; /* y is consumed twice: its gradient accumulates */
        if (step == 2 && mid) bl_requires_grad(mid); /* the last step: a kept gradient may need its own block */
        CHECK(mid2 && bl_backward_with(ctx, mid2, dy) == BL_OK, "step %d: backward: %s", step, bl_ctx_error(ctx));
        CHECK(y && y->grad == NULL, "step %d: the output's gradient was released", step);
        CHECK(x->grad != NULL, "step %d: the leaf x keeps its gradient", step);
        if (step == 2) CHECK(mid && mid->grad != NULL, "a retained intermediate keeps its gradient");
        else CHECK(mid && mid->grad == NULL, "step %d: a plain intermediate's gradient was released", step);
        bl_grad_pool_stats st = bl_ctx_grad_pool_stats(ctx);
        if (step == 0) allocations_after_first = st.allocations;
        else if (step == 1)
            CHECK(st.allocations == allocations_after_first, "step %d: no new pool block (%zu after step 1, now %zu)",
                  step, allocations_after_first, st.allocations);
        /* every gradient of the step together: x, 2 bn/conv outputs … far more than the pool's high water */
        size_t activation_bytes = (size_t)(2 * 3 * 6 * 6 + 5 * 2 * 4 * 6 * 6 + 2 * 2 * 10) * sizeof(float);
        CHECK(st.high_water < activation_bytes, "step %d: pool high water %zu bytes < all gradients %zu", step,
              st.high_water, activation_bytes);
        bl_step_end(ctx);
    }
    CHECK(n.w1->grad != NULL && n.fcb->grad != NULL, "parameters got their .grad from the first backward");
    bl_ctx_free(ctx);
}

/* inference allocates no parameter gradients; an optimizer allocates them, zeroed */
static void test_lazy_parameter_gradients(void) {
    bl_ctx *ctx = new_ctx(bl_kernels_cpu());
    net n;
    net_init(ctx, &n);
    bl_set_grad_enabled(ctx, 0);
    bl_set_training(ctx, 0);
    int xs[4] = {2, 3, 6, 6};
    float xv[2 * 3 * 6 * 6];
    test_fill_uniform(xv, 2 * 3 * 6 * 6, 11, 0, -1.0f, 1.0f);
    bl_tensor *y = net_forward(ctx, &n, bl_tensor_from(ctx, 4, xs, xv), bl_relu_inplace, NULL);
    CHECK(y && n.w1->grad == NULL && n.w2->grad == NULL && n.fc->grad == NULL, "no parameter .grad after inference");
    bl_step_end(ctx);
    bl_optimizer *opt = NULL;
    CHECK(bl_sgd_create(ctx, 0.1f, 0.9f, 0.0f, 0.0f, 0, &opt) == BL_OK, "sgd: %s", bl_last_error());
    int zero = n.w1->grad && n.fc->grad;
    float host[5 * 4 * 6 * 6];
    if (zero) {
        bl_tensor_download(ctx, n.fc->grad, host);
        for (int i = 0; i < 5 * 4 * 6 * 6; i++) zero &= host[i] == 0.0f && !signbit(host[i]);
    }
    CHECK(zero, "the optimizer allocated every parameter's .grad, zeroed");
    bl_optimizer_free(opt);
    bl_ctx_free(ctx);
}

int main(void) {
    test_inplace_relu_bitwise(bl_kernels_ref());
    test_inplace_relu_bitwise(bl_kernels_cpu());
    /* a backend without relu_backward_inplace (an optional slot): the folded ReLU's gradient goes through a zeroed
     * buffer */
    static bl_kernels without_inplace;
    without_inplace = *bl_kernels_cpu();
    without_inplace.relu_backward_inplace = NULL;
    without_inplace.name = "cpu without relu_backward_inplace";
    test_inplace_relu_bitwise(&without_inplace);
    test_inplace_relu_fallbacks();
    test_inplace_add_batchnorm();
    test_gradient_release();
    test_lazy_parameter_gradients();
    return test_summary("test_grad_memory");
}
