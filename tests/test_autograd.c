/* test_autograd.c — the tape and the context, independent of any op's numerics:
 * fan-out accumulation, gradient accumulation across backward calls, gradients of intermediates, no-grad mode,
 * eval mode, sticky errors with NULL propagation, views, arena reuse (no malloc after the first step),
 * parameter registry. Uses the ref backend; op numerics are the op-test harness's (tests/ops/). */
#include <math.h>
#include <string.h>

#include "core/autograd.h"
#include "harness.h"

static bl_ctx *new_ctx(void) {
    bl_ctx *ctx = NULL;
    bl_status st = bl_ctx_create(bl_kernels_ref(), &ctx);
    CHECK(st == BL_OK && ctx, "bl_ctx_create: %s", bl_last_error());
    return ctx;
}

/* y = relu(x) + relu(x) uses relu's output twice: dL/dx must be 2·[x>0]·dy */
static void test_fan_out(void) {
    bl_ctx *ctx = new_ctx();
    int shape[1] = {4};
    float xv[4] = {-1.0f, 2.0f, 0.5f, -3.0f}, dy[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    bl_tensor *x = bl_tensor_from(ctx, 1, shape, xv);
    bl_requires_grad(x);
    bl_tensor *r = bl_relu(ctx, x);
    bl_tensor *y = bl_add(ctx, r, r);
    CHECK(bl_backward_with(ctx, y, dy) == BL_OK, "backward: %s", bl_ctx_error(ctx));
    float want[4] = {0.0f, 4.0f, 6.0f, 0.0f};
    CHECK_CLOSE("fan-out dx", x->grad->data, want, 4, 0, 0);
    CHECK(bl_tape_length(ctx) == 2, "tape has relu and add: got %d entries", bl_tape_length(ctx));
    bl_ctx_free(ctx);
}

/* parameter gradients accumulate over two backward calls until bl_zero_grad */
static void test_param_accumulation(void) {
    bl_ctx *ctx = new_ctx();
    int ws[2] = {1, 2}, xs[2] = {1, 2};
    bl_tensor *w = bl_param(ctx, "w", 2, ws);
    w->data[0] = 0.5f;
    w->data[1] = -1.0f;
    float xv[2] = {3.0f, 4.0f};
    for (int pass = 0; pass < 2; pass++) {
        bl_tensor *y = bl_sum(ctx, bl_linear(ctx, bl_tensor_from(ctx, 2, xs, xv), w, NULL));
        CHECK(bl_backward(ctx, y) == BL_OK, "backward: %s", bl_ctx_error(ctx));
        bl_step_end(ctx);
    }
    float want[2] = {6.0f, 8.0f};
    CHECK_CLOSE("dw after two backward calls", w->grad->data, want, 2, 0, 0);
    bl_zero_grad(ctx);
    CHECK(w->grad->data[0] == 0.0f && w->grad->data[1] == 0.0f, "zero_grad clears gradients");
    CHECK(bl_param_find(ctx, "w") == w && bl_param_count(ctx) == 1, "registry finds 'w'");
    CHECK(bl_param(ctx, "w", 2, ws) == NULL && bl_ctx_status(ctx) == BL_ERR_INVALID &&
              strstr(bl_ctx_error(ctx), "duplicate"),
          "duplicate parameter name refused: %s", bl_ctx_error(ctx));
    bl_ctx_free(ctx);
}

/* Grad-CAM's need: ∂y/∂h for an intermediate h of a network whose parameters are frozen */
static void test_intermediate_grad(void) {
    bl_ctx *ctx = new_ctx();
    int shape[1] = {3};
    float xv[3] = {1.0f, -2.0f, 3.0f};
    bl_tensor *x = bl_tensor_from(ctx, 1, shape, xv); /* no grad wanted for x */
    bl_tensor *h = bl_relu(ctx, x);
    CHECK(bl_tape_length(ctx) == 0 && !h->requires_grad, "nothing requires grad: nothing recorded");
    bl_requires_grad(h);
    bl_tensor *y = bl_sum(ctx, bl_sigmoid(ctx, h));
    CHECK(bl_backward(ctx, y) == BL_OK, "backward: %s", bl_ctx_error(ctx));
    CHECK(h->grad != NULL, "intermediate gradient produced");
    for (int i = 0; h->grad && i < 3; i++) {
        double s = 1.0 / (1.0 + exp(-(double)h->data[i]));
        CHECK(fabs(h->grad->data[i] - s * (1 - s)) < 1e-7, "dh[%d] = σ'(h): got %g want %g", i, h->grad->data[i],
              s * (1 - s));
    }
    CHECK(x->grad == NULL, "x did not ask for a gradient and got none");
    bl_ctx_free(ctx);
}

static void test_no_grad_and_eval(void) {
    bl_ctx *ctx = new_ctx();
    int ws[1] = {3};
    bl_tensor *w = bl_param(ctx, "w", 1, ws);
    bl_set_grad_enabled(ctx, 0);
    bl_tensor *y = bl_relu(ctx, w);
    CHECK(y && bl_tape_length(ctx) == 0 && !y->requires_grad, "no-grad mode records nothing");
    CHECK(bl_backward(ctx, bl_sum(ctx, y)) != BL_OK, "backward without a graph is an error");
    bl_ctx_clear_error(ctx);
    bl_set_grad_enabled(ctx, 1);
    bl_set_training(ctx, 0);
    CHECK(bl_dropout(ctx, w, 0.5f) == w, "dropout in eval mode is the identity (same tensor)");
    bl_set_training(ctx, 1);
    bl_tensor *d = bl_dropout(ctx, w, 0.5f);
    CHECK(d && d != w && bl_tape_length(ctx) == 1, "dropout in training mode is recorded");
    bl_ctx_free(ctx);
}

/* the first error sticks, NULL propagates, the message names the op and the shapes */
static void test_sticky_error(void) {
    bl_ctx *ctx = new_ctx();
    int a[2] = {2, 3}, b[2] = {3, 2};
    bl_tensor *x = bl_tensor_zeros(ctx, 2, a), *z = bl_tensor_zeros(ctx, 2, b);
    bl_tensor *y = bl_relu(ctx, bl_add(ctx, x, z));
    CHECK(y == NULL, "shape mismatch gives NULL downstream");
    CHECK(bl_ctx_status(ctx) == BL_ERR_INVALID, "status is invalid-argument");
    CHECK(strstr(bl_ctx_error(ctx), "add: shapes [2,3] and [3,2]") != NULL, "message: %s", bl_ctx_error(ctx));
    bl_tensor *w = bl_tensor_zeros(ctx, 2, a);
    CHECK(w != NULL, "allocation still works after an op error");
    CHECK(bl_relu(ctx, w) == NULL, "ops refuse to run while the context holds an error");
    bl_ctx_clear_error(ctx);
    CHECK(bl_relu(ctx, w) != NULL, "cleared context runs again");
    int bad[4] = {1, 3, 2, 2}, wk[4] = {4, 3, 3, 3};
    bl_tensor *cx = bl_tensor_zeros(ctx, 4, bad), *cw = bl_tensor_zeros(ctx, 4, wk);
    CHECK(bl_conv2d(ctx, cx, cw, NULL, (bl_conv2d_args){0}) == NULL &&
              strstr(bl_ctx_error(ctx), "smaller than the kernel span"),
          "conv2d input smaller than the kernel: %s", bl_ctx_error(ctx));
    bl_ctx_free(ctx);
}

static void test_views(void) {
    bl_ctx *ctx = new_ctx();
    int s4[4] = {2, 3, 2, 2};
    bl_tensor *x = bl_tensor_zeros(ctx, 4, s4);
    bl_requires_grad(x);
    bl_tensor *f = bl_flatten(ctx, x);
    CHECK(f && f->ndim == 2 && f->shape[0] == 2 && f->shape[1] == 12 && f->data == x->data, "flatten is a view");
    int r[3] = {3, -1, 2};
    bl_tensor *v = bl_reshape(ctx, f, 3, r);
    CHECK(v && v->shape[1] == 4 && v->view_of == x, "reshape infers −1 and points at the base");
    float dy[24];
    for (int i = 0; i < 24; i++) dy[i] = (float)i;
    CHECK(bl_backward_with(ctx, v, dy) == BL_OK, "backward through views");
    CHECK_CLOSE("view gradient", x->grad->data, dy, 24, 0, 0);
    int bad[2] = {5, -1};
    CHECK(bl_reshape(ctx, x, 2, bad) == NULL, "24 elements cannot be split by 5");
    bl_ctx_free(ctx);
}

/* after the first step, steps of the same shape allocate nothing */
static void test_arena_reuse(void) {
    bl_ctx *ctx = new_ctx();
    int s[4] = {4, 8, 64, 64};
    size_t mallocs_after_first = 0;
    for (int step = 0; step < 4; step++) {
        bl_tensor *x = bl_tensor_zeros(ctx, 4, s);
        bl_requires_grad(x);
        bl_tensor *y = bl_sum(ctx, bl_relu(ctx, bl_relu(ctx, bl_relu(ctx, x))));
        CHECK(bl_backward(ctx, y) == BL_OK, "backward: %s", bl_ctx_error(ctx));
        bl_step_end(ctx);
        if (step == 1) mallocs_after_first = bl_ctx_step_arena(ctx)->n_mallocs;
    }
    CHECK(bl_ctx_step_arena(ctx)->n_mallocs == mallocs_after_first,
          "no arena growth after step 2: %zu mallocs then %zu", mallocs_after_first,
          bl_ctx_step_arena(ctx)->n_mallocs);
    CHECK(bl_ctx_step(ctx) == 4, "step counter counts bl_step_end calls");
    bl_arena *a = bl_ctx_step_arena(ctx);
    a->limit = 1024;
    bl_tensor *big = bl_tensor_new(ctx, 4, s);
    CHECK(big == NULL && bl_ctx_status(ctx) == BL_ERR_NOMEM && strstr(bl_ctx_error(ctx), "needs"),
          "arena limit reports the bytes needed: status %d: %s", bl_ctx_status(ctx), bl_ctx_error(ctx));
    bl_ctx_free(ctx);
}

int main(void) {
    test_fan_out();
    test_param_accumulation();
    test_intermediate_grad();
    test_no_grad_and_eval();
    test_sticky_error();
    test_views();
    test_arena_reuse();
    return test_summary("test_autograd");
}
