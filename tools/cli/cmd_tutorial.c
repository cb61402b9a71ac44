/* cmd_tutorial.c — `blasto tutorial`: a complete training program in one page — a small CNN trained on generated
 * images with the engine's public API (context, parameters, ops, backward, optimizer, step end).
 *
 * Data: 64 images 3×16×16 from the counter RNG — uniform noise plus a faint (+0.25) 4×4 square, in the upper-left
 * quadrant for label 1 and in the lower-right for label 0 (position jittered). Model:
 *   conv(3→8, 3×3, pad 1) → BN → ReLU → maxpool 2×2 → conv(8→16, 3×3, pad 1) → BN → ReLU → maxpool 2×2
 *   → flatten → linear(256 → 1) → BCE with logits.
 * The loss printed each step must fall; the final line gives the training accuracy in eval mode. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "core/autograd.h"
#include "core/init.h"
#include "core/optim.h"
#include "core/rng.h"
#include "core/device.h"
#include "study/files.h"

#define DEMO_N 64
#define DEMO_BATCH 16
#define DEMO_SIZE 16

typedef struct tutorial_model {
    bl_tensor *w1, *g1, *b1, *rm1, *rv1, *w2, *cb2, *g2, *b2, *rm2, *rv2, *fc_w, *fc_b;
} tutorial_model;

static void make_images(uint64_t seed, float *images, float *labels) {
    const int plane = DEMO_SIZE * DEMO_SIZE;
    for (int i = 0; i < DEMO_N; i++) {
        bl_rng r = bl_rng_stream(seed, BL_RNG_DATA, (uint64_t)i);
        int label = i % 2;
        labels[i] = (float)label;
        float *img = images + (size_t)i * 3 * plane;
        for (int j = 0; j < 3 * plane; j++) img[j] = bl_rng_uniform(&r) * 0.5f;
        int y0 = (label ? 2 : 10) + (int)(bl_rng_uniform(&r) * 3.0f);
        int x0 = (label ? 2 : 10) + (int)(bl_rng_uniform(&r) * 3.0f);
        for (int c = 0; c < 3; c++)
            for (int y = y0; y < y0 + 4 && y < DEMO_SIZE; y++)
                for (int x = x0; x < x0 + 4 && x < DEMO_SIZE; x++) img[c * plane + y * DEMO_SIZE + x] += 0.25f;
    }
}

static void build_model(bl_ctx *ctx, uint64_t seed, tutorial_model *m) {
    int w1s[4] = {8, 3, 3, 3}, c8 = 8, w2s[4] = {16, 8, 3, 3}, c16 = 16, fcs[2] = {1, 256}, one = 1;
    m->w1 = bl_param(ctx, "conv1.weight", 4, w1s);
    m->g1 = bl_param(ctx, "bn1.weight", 1, &c8);
    m->b1 = bl_param(ctx, "bn1.bias", 1, &c8);
    m->rm1 = bl_buffer(ctx, "bn1.running_mean", 1, &c8);
    m->rv1 = bl_buffer(ctx, "bn1.running_var", 1, &c8);
    m->w2 = bl_param(ctx, "conv2.weight", 4, w2s);
    m->cb2 = bl_param(ctx, "conv2.bias", 1, &c16);
    m->g2 = bl_param(ctx, "bn2.weight", 1, &c16);
    m->b2 = bl_param(ctx, "bn2.bias", 1, &c16);
    m->rm2 = bl_buffer(ctx, "bn2.running_mean", 1, &c16);
    m->rv2 = bl_buffer(ctx, "bn2.running_var", 1, &c16);
    m->fc_w = bl_param(ctx, "fc.weight", 2, fcs);
    m->fc_b = bl_param(ctx, "fc.bias", 1, &one);
    if (bl_ctx_status(ctx)) return;
    bl_init_uniform(ctx, m->w1, bl_fan_in_bound(m->w1), seed, 0);
    bl_init_uniform(ctx, m->w2, bl_fan_in_bound(m->w2), seed, 1);
    bl_init_uniform(ctx, m->cb2, bl_fan_in_bound(m->w2), seed, 2);
    bl_init_uniform(ctx, m->fc_w, bl_fan_in_bound(m->fc_w), seed, 3);
    bl_init_uniform(ctx, m->fc_b, bl_fan_in_bound(m->fc_w), seed, 4);
    bl_init_constant(ctx, m->g1, 1.0f);
    bl_init_constant(ctx, m->g2, 1.0f);
    bl_init_constant(ctx, m->rv1, 1.0f);
    bl_init_constant(ctx, m->rv2, 1.0f); /* errors stay in the context (checked by the caller) */
}

/* x [B,3,16,16] → logits [B,1] */
static bl_tensor *forward(bl_ctx *ctx, const tutorial_model *m, bl_tensor *x) {
    const bl_conv2d_args same3x3 = {.pad_h = 1, .pad_w = 1};
    const bl_pool2d_args pool2 = {.kernel_h = 2, .kernel_w = 2};
    bl_tensor *h = bl_conv2d(ctx, x, m->w1, NULL, same3x3);
    h = bl_maxpool2d(ctx, bl_relu(ctx, bl_batchnorm2d(ctx, h, m->g1, m->b1, m->rm1, m->rv1, 1e-5f, 0.1f)), pool2);
    h = bl_conv2d(ctx, h, m->w2, m->cb2, same3x3);
    h = bl_maxpool2d(ctx, bl_relu(ctx, bl_batchnorm2d(ctx, h, m->g2, m->b2, m->rm2, m->rv2, 1e-5f, 0.1f)), pool2);
    return bl_linear(ctx, bl_flatten(ctx, h), m->fc_w, m->fc_b);
}

static int tutorial_help(void) {
    printf("usage: blasto tutorial [--steps N] [--seed S] [--optimizer sgd|adamw] [--backend ref|cpu] [--threads N]\n\n"
           "Trains a small CNN (conv-BN-ReLU-pool ×2, linear, BCE) on %d generated 3×16×16 images in batches of %d\n"
           "and prints the loss of every step, then the training accuracy in eval mode. Defaults: 40 steps,\n"
           "seed 1, sgd (lr 0.01, momentum 0.9), backend cpu. (`blasto demo` runs the clinical pipeline.)\n",
           DEMO_N, DEMO_BATCH);
    return 0;
}

int cmd_tutorial(int argc, char **argv) {
    long steps = 40, seed = 1, threads = 0;
    const char *optimizer = "sgd", *backend = "cpu";
    for (int i = 1; i < argc; i += 2) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (strcmp(opt, "--help") == 0) return tutorial_help();
        if (strcmp(opt, "--steps") == 0) rc = cli_parse_int("tutorial", opt, val, 1, 100000, &steps);
        else if (strcmp(opt, "--seed") == 0) rc = cli_parse_int("tutorial", opt, val, 0, 0x7fffffffL, &seed);
        else if (strcmp(opt, "--threads") == 0) rc = cli_parse_int("tutorial", opt, val, 1, 1024, &threads);
        else if (strcmp(opt, "--optimizer") == 0 && val && (!strcmp(val, "sgd") || !strcmp(val, "adamw"))) optimizer = val;
        else if (strcmp(opt, "--backend") == 0 && val && (!strcmp(val, "ref") || !strcmp(val, "cpu"))) backend = val;
        else {
            fprintf(stderr, "blasto tutorial: bad option '%s'%s%s (blasto tutorial --help)\n", opt, val ? " " : "", val ? val : "");
            return 2;
        }
        if (rc) return rc;
    }
    if (cli_apply_threads("tutorial", threads)) return 1;

    static float images[DEMO_N * 3 * DEMO_SIZE * DEMO_SIZE], labels[DEMO_N];
    make_images((uint64_t)seed, images, labels);
    bl_ctx *ctx = NULL;
    const bl_kernels *kernels = NULL;
    if (bl_device_open(backend, 0, 0, &kernels) || bl_ctx_create(kernels, &ctx)) {
        fprintf(stderr, "blasto tutorial: %s\n", bl_last_error());
        return 1;
    }
    tutorial_model m;
    build_model(ctx, (uint64_t)seed, &m);
    bl_optimizer *opt = NULL;
    bl_status st = bl_ctx_status(ctx);
    if (!st)
        st = strcmp(optimizer, "sgd") == 0 ? bl_sgd_create(ctx, 0.01f, 0.9f, 0.0f, 0.0f, 0, &opt)
                                           : bl_adam_create(ctx, BL_OPTIM_ADAMW, 1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f, &opt);
    const int plane = 3 * DEMO_SIZE * DEMO_SIZE;
    int xs[4] = {DEMO_BATCH, 3, DEMO_SIZE, DEMO_SIZE}, ys[2] = {DEMO_BATCH, 1};
    printf("blasto tutorial: %d images, batch %d, %ld steps, %s, backend %s\n", DEMO_N, DEMO_BATCH, steps, optimizer, backend);
    double t0 = bl_seconds_now();
    float first_loss = 0, last_loss = 0;
    for (long step = 0; step < steps && !st; step++) {
        int b = (int)(step % (DEMO_N / DEMO_BATCH));
        bl_tensor *x = bl_tensor_from(ctx, 4, xs, images + (size_t)b * DEMO_BATCH * plane);
        bl_tensor *y = bl_tensor_from(ctx, 2, ys, labels + b * DEMO_BATCH);
        bl_tensor *loss = bl_bce_with_logits(ctx, forward(ctx, &m, x), y, NULL);
        st = bl_backward(ctx, loss);
        if (!st) st = bl_optimizer_step(opt);
        if (!st) st = bl_tensor_download(ctx, loss, &last_loss);
        if (!st) {
            if (step == 0) first_loss = last_loss;
            if (step % 5 == 0 || step == steps - 1) printf("step %4ld  loss %.6f\n", step + 1, last_loss);
        }
        bl_zero_grad(ctx);
        bl_step_end(ctx);
    }
    int correct = 0;
    if (!st) {
        bl_set_training(ctx, 0);
        bl_set_grad_enabled(ctx, 0);
        int all[4] = {DEMO_N, 3, DEMO_SIZE, DEMO_SIZE};
        bl_tensor *logits = forward(ctx, &m, bl_tensor_from(ctx, 4, all, images));
        float logit[DEMO_N];
        st = bl_ctx_status(ctx);
        if (!st) st = bl_tensor_download(ctx, logits, logit);
        for (int i = 0; !st && i < DEMO_N; i++) correct += (logit[i] >= 0.0f) == (labels[i] > 0.5f);
    }
    double t1 = bl_seconds_now();
    if (st) {
        fprintf(stderr, "blasto tutorial: %s\n", bl_ctx_status(ctx) ? bl_ctx_error(ctx) : bl_last_error());
        bl_optimizer_free(opt);
        bl_ctx_free(ctx);
        return 1;
    }
    double secs = t1 - t0;
    printf("loss %.4f → %.4f; training accuracy (eval mode) %d/%d; %.2f s\n", first_loss, last_loss, correct, DEMO_N,
           secs);
    bl_optimizer_free(opt);
    bl_ctx_free(ctx);
    /* the exit status says whether training worked: the loss must fall (with one step there is no fall to see) */
    if (steps >= 2 && !(last_loss < first_loss)) {
        fprintf(stderr, "blasto tutorial: the loss did not fall in %ld steps (%.6f → %.6f)\n", steps, first_loss,
                last_loss);
        return 1;
    }
    return 0;
}
