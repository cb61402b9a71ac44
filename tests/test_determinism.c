/* test_determinism.c — the cpu backend gives bitwise identical results for 1 and 2 threads and from run to run
 * (docs/numerics.md, "Determinism"). A conv–BN–ReLU–pool–conv(1×1)–add–concat–GAP–linear–BCE network, sized so
 * that every GEMM is split across threads, is run forward and backward plus three SGD steps four times
 * (threads 1, 2, 1, 2); the loss history, the logits and every parameter and gradient must be equal to the bit. */
#include <stdlib.h>
#include <string.h>

#include "core/autograd.h"
#include "core/init.h"
#include "core/optim.h"
#include "core/cpu/threads.h"
#include "harness.h"

#define N_PARAMS 9

typedef struct run_result {
    float losses[3];
    float *params[N_PARAMS];
    float *grads[N_PARAMS];
    int64_t sizes[N_PARAMS];
} run_result;

static void run_once(int threads, run_result *out) {
    CHECK(bl_threads_set(threads) == BL_OK, "bl_threads_set(%d)", threads);
    bl_ctx *ctx = NULL;
    CHECK(bl_ctx_create(bl_kernels_cpu(), &ctx) == BL_OK, "ctx");
    int w1s[4] = {32, 3, 3, 3}, c32 = 32, w2s[4] = {32, 32, 1, 1}, fcs[2] = {1, 64}, one = 1;
    bl_tensor *w1 = bl_param(ctx, "w1", 4, w1s), *g = bl_param(ctx, "g", 1, &c32), *b = bl_param(ctx, "b", 1, &c32);
    bl_tensor *rm = bl_buffer(ctx, "rm", 1, &c32), *rv = bl_buffer(ctx, "rv", 1, &c32);
    bl_tensor *w2 = bl_param(ctx, "w2", 4, w2s), *b2 = bl_param(ctx, "b2", 1, &c32);
    bl_tensor *fw = bl_param(ctx, "fw", 2, fcs), *fb = bl_param(ctx, "fb", 1, &one);
    bl_tensor *all[N_PARAMS] = {w1, g, b, rm, rv, w2, b2, fw, fb};
    bl_init_uniform(ctx, w1, bl_fan_in_bound(w1), 7, 0);
    bl_init_uniform(ctx, w2, bl_fan_in_bound(w2), 7, 1);
    bl_init_uniform(ctx, b2, 0.1f, 7, 2);
    bl_init_uniform(ctx, fw, bl_fan_in_bound(fw), 7, 3);
    bl_init_constant(ctx, g, 1.0f), bl_init_constant(ctx, rv, 1.0f);
    bl_optimizer *opt = NULL;
    CHECK(bl_sgd_create(ctx, 0.01f, 0.9f, 0.0f, 1e-4f, 1, &opt) == BL_OK, "sgd");
    int xs[4] = {4, 3, 45, 45}, ts[2] = {4, 1};
    float *xv = malloc(4 * 3 * 45 * 45 * sizeof(float)), tv[4] = {1, 0, 0, 1};
    test_fill_uniform(xv, 4 * 3 * 45 * 45, 11, 0, -1, 1);
    for (int step = 0; step < 3; step++) {
        bl_tensor *x = bl_tensor_from(ctx, 4, xs, xv), *t = bl_tensor_from(ctx, 2, ts, tv);
        bl_tensor *h = bl_relu(ctx, bl_batchnorm2d(ctx, bl_conv2d(ctx, x, w1, NULL, (bl_conv2d_args){.pad_h = 1, .pad_w = 1}),
                                                   g, b, rm, rv, 1e-5f, 0.1f));
        h = bl_maxpool2d(ctx, h, (bl_pool2d_args){.kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1});
        bl_tensor *h2 = bl_add(ctx, h, bl_conv2d(ctx, h, w2, b2, (bl_conv2d_args){0}));
        bl_tensor *parts[2] = {h, h2};
        bl_tensor *z = bl_linear(ctx, bl_global_avgpool(ctx, bl_concat_channels(ctx, 2, parts)), fw, fb);
        bl_tensor *loss = bl_bce_with_logits(ctx, z, t, NULL);
        CHECK(bl_backward(ctx, loss) == BL_OK, "backward: %s", bl_ctx_error(ctx));
        out->losses[step] = loss ? loss->data[0] : 0;
        if (step < 2) {
            bl_optimizer_step(opt);
            bl_zero_grad(ctx);
        }
        bl_step_end(ctx);
    }
    for (int i = 0; i < N_PARAMS; i++) {
        out->sizes[i] = all[i]->numel;
        out->params[i] = malloc((size_t)all[i]->numel * sizeof(float));
        memcpy(out->params[i], all[i]->data, (size_t)all[i]->numel * sizeof(float));
        out->grads[i] = calloc((size_t)all[i]->numel, sizeof(float));
        if (all[i]->grad) memcpy(out->grads[i], all[i]->grad->data, (size_t)all[i]->numel * sizeof(float));
    }
    free(xv);
    bl_optimizer_free(opt);
    bl_ctx_free(ctx);
}

static void free_result(run_result *r) {
    for (int i = 0; i < N_PARAMS; i++) free(r->params[i]), free(r->grads[i]);
}

int main(void) {
    run_result runs[4];
    const int threads[4] = {1, 2, 1, 2};
    for (int r = 0; r < 4; r++) run_once(threads[r], &runs[r]);
    for (int r = 1; r < 4; r++) {
        CHECK(memcmp(runs[0].losses, runs[r].losses, sizeof runs[0].losses) == 0,
              "run %d (%d threads): losses differ from run 0: %.9g vs %.9g", r, threads[r], runs[r].losses[2],
              runs[0].losses[2]);
        for (int i = 0; i < N_PARAMS; i++) {
            CHECK(memcmp(runs[0].params[i], runs[r].params[i], (size_t)runs[0].sizes[i] * sizeof(float)) == 0,
                  "run %d (%d threads): parameter %d differs", r, threads[r], i);
            CHECK(memcmp(runs[0].grads[i], runs[r].grads[i], (size_t)runs[0].sizes[i] * sizeof(float)) == 0,
                  "run %d (%d threads): gradient %d differs", r, threads[r], i);
        }
    }
    CHECK(runs[0].losses[2] < runs[0].losses[0], "loss falls over three steps: %g → %g", runs[0].losses[0],
          runs[0].losses[2]);
    for (int r = 0; r < 4; r++) free_result(&runs[r]);
    bl_threads_shutdown();
    return test_summary("test_determinism");
}
