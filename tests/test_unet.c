/* test_unet.c — the U-Net model (models/unet.h) apart from its numbers (those are test_golden_models' "unet"
 * fixture): configuration and input checks with their messages, checkpoint save → load round trip (bitwise
 * logits), loader refusals naming the file and field, and that the network with cross-entropy + Dice learns to
 * segment a synthetic blastocyst-like picture (a disc inside a ring) on the cpu backend. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/autograd.h"
#include "core/optim.h"
#include "core/safetensors.h"
#include "harness.h"
#include "models/unet.h"
#include "support/test_support.h"

static bl_ctx *new_ctx(void) {
    bl_ctx *ctx = NULL;
    CHECK(bl_ctx_create(bl_kernels_cpu(), &ctx) == BL_OK, "bl_ctx_create: %s", bl_last_error());
    return ctx;
}

static void test_config_errors(void) {
    const struct {
        bl_unet_config config;
        const char *says;
    } bad[] = {
        {{.in_channels = 2, .classes = 3, .depth = 2, .width = 4}, "in_channels 2"},
        {{.in_channels = 1, .classes = 1, .depth = 2, .width = 4}, "classes 1"},
        {{.in_channels = 1, .classes = 3, .depth = 0, .width = 4}, "depth 0"},
        {{.in_channels = 1, .classes = 3, .depth = 7, .width = 4}, "depth 7"},
        {{.in_channels = 1, .classes = 3, .depth = 6, .width = 128}, "width 128"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bl_ctx *ctx = new_ctx();
        bl_unet *m = NULL;
        bl_status st = bl_unet_create(ctx, &bad[i].config, &m);
        CHECK(st == BL_ERR_INVALID && !m && strstr(bl_last_error(), bad[i].says),
              "bad config %zu: status %d, message '%s', want one naming '%s'", i, (int)st, bl_last_error(),
              bad[i].says);
        bl_ctx_free(ctx);
    }
}

/* logits of a fixed input, copied out */
static float *logits_of(bl_unet *m, int size, int64_t *count) {
    bl_ctx *ctx = m->ctx;
    int shape[4] = {2, m->config.in_channels, size, size};
    int64_t n = (int64_t)shape[0] * shape[1] * size * size;
    float *x = malloc(sizeof(float) * (size_t)n);
    test_fill_uniform(x, n, 7, 0, -1, 1);
    bl_run run = {.ctx = ctx, .bn_mode = BL_BN_RUNNING};
    bl_tensor *y = bl_unet_forward(m, &run, bl_tensor_from(ctx, 4, shape, x));
    free(x);
    if (!y) return NULL;
    float *out = malloc(sizeof(float) * (size_t)y->numel);
    bl_tensor_download(ctx, y, out);
    *count = y->numel;
    bl_step_end(ctx);
    return out;
}

static void test_forward_checks_and_round_trip(void) {
    bl_unet_config config = {.in_channels = 3, .classes = 3, .depth = 2, .width = 4};
    bl_ctx *ctx = new_ctx();
    bl_unet *m = NULL;
    CHECK(bl_unet_create(ctx, &config, &m) == BL_OK, "create: %s", bl_last_error());
    if (!m) return;
    CHECK(bl_unet_init_random(m, 11) == BL_OK, "init: %s", bl_last_error());
    CHECK(bl_unet_size_multiple(m) == 4, "depth 2: size multiple %d, want 4", bl_unet_size_multiple(m));

    /* an input whose size is not a multiple of 2^depth, or with the wrong channels, is refused by name */
    int shape[4] = {1, 3, 30, 32};
    bl_run run = {.ctx = ctx};
    CHECK(!bl_unet_forward(m, &run, bl_tensor_zeros(ctx, 4, shape)) &&
              strstr(bl_ctx_error(ctx), "multiples of 4") && strstr(bl_ctx_error(ctx), "[1,3,30,32]"),
          "30x32 input: %s", bl_ctx_error(ctx));
    bl_ctx_clear_error(ctx);
    bl_step_end(ctx);

    int64_t n1 = 0, n2 = 0;
    float *before = logits_of(m, 16, &n1);
    CHECK(before && n1 == 2 * 3 * 16 * 16, "logits [2,3,16,16]: %lld elements", (long long)n1);

    char dir[256], path[512];
    CHECK(test_make_tmp_dir(dir, sizeof dir, "blasto_unet") != NULL, "temporary directory");
    test_path_in(path, sizeof path, dir, "unet.safetensors");
    const char *keys[] = {"epoch"}, *values[] = {"3"};
    CHECK(bl_unet_save(m, path, 1, keys, values) == BL_OK, "save: %s", bl_last_error());

    bl_safetensors *st = NULL;
    bl_unet_config read = {0};
    CHECK(bl_safetensors_open(path, &st) == BL_OK && bl_unet_config_of(st, &read) == BL_OK &&
              memcmp(&read, &config, sizeof config) == 0,
          "config from the checkpoint: %s", bl_last_error());
    bl_ctx *ctx2 = new_ctx();
    bl_unet *m2 = NULL;
    CHECK(bl_unet_create(ctx2, &read, &m2) == BL_OK && bl_unet_load(m2, st) == BL_OK, "load: %s", bl_last_error());
    float *after = m2 ? logits_of(m2, 16, &n2) : NULL;
    CHECK(after && n2 == n1 && memcmp(before, after, sizeof(float) * (size_t)n1) == 0,
          "the loaded model's logits are bitwise the saved model's");

    /* a model of another width refuses the file, naming the field */
    bl_unet_config wider = config;
    wider.width = 8;
    bl_ctx *ctx3 = new_ctx();
    bl_unet *m3 = NULL;
    CHECK(bl_unet_create(ctx3, &wider, &m3) == BL_OK, "create wider: %s", bl_last_error());
    CHECK(m3 && bl_unet_load(m3, st) == BL_ERR_FORMAT && strstr(bl_last_error(), "__metadata__.width") &&
              strstr(bl_last_error(), path),
          "width mismatch: %s", bl_last_error());
    bl_safetensors_close(st);

    /* a file that is not a U-Net checkpoint */
    char other[512];
    test_path_in(other, sizeof other, dir, "other.safetensors");
    bl_st_writer *w = NULL;
    float one = 1;
    int dims[1] = {1};
    bl_st_writer_create(&w);
    bl_st_writer_add_metadata(w, "arch", "resnet50");
    bl_st_writer_add_f32(w, "fc.bias", 1, dims, &one);
    bl_st_writer_save(w, other);
    bl_st_writer_free(w);
    CHECK(bl_safetensors_open(other, &st) == BL_OK && bl_unet_config_of(st, &read) == BL_ERR_FORMAT &&
              strstr(bl_last_error(), "__metadata__.arch") && strstr(bl_last_error(), "resnet50"),
          "another model's file: %s", bl_last_error());
    bl_safetensors_close(st);

    free(before);
    free(after);
    bl_unet_free(m3);
    bl_unet_free(m2);
    bl_unet_free(m);
    bl_ctx_free(ctx3);
    bl_ctx_free(ctx2);
    bl_ctx_free(ctx);
    test_remove_tree(dir);
}

/* A 32×32 grey picture: a bright disc (class 1) inside a darker ring (class 2) on a noisy background (class 0),
 * the centre moved per sample. */
static void synthetic_sample(int index, float *image, float *labels) {
    double cx = 14 + index % 5, cy = 16 - index % 3;
    for (int y = 0; y < 32; y++)
        for (int x = 0; x < 32; x++) {
            double r = sqrt((x - cx) * (x - cx) + (y - cy) * (y - cy));
            int cls = r < 5 ? 1 : r < 10 ? 2 : 0;
            float noise = 0.1f * (float)sin(13.0 * x + 7.0 * y + index);
            image[y * 32 + x] = (cls == 1 ? 0.8f : cls == 2 ? 0.3f : -0.5f) + noise;
            labels[y * 32 + x] = (float)cls;
        }
}

static void test_learns(void) {
    bl_unet_config config = {.in_channels = 1, .classes = 3, .depth = 2, .width = 8};
    bl_ctx *ctx = new_ctx();
    bl_unet *m = NULL;
    bl_optimizer *opt = NULL;
    CHECK(bl_unet_create(ctx, &config, &m) == BL_OK && bl_unet_init_random(m, 3) == BL_OK, "create: %s",
          bl_last_error());
    CHECK(bl_adam_create(ctx, BL_OPTIM_ADAM, 0.01f, 0.9f, 0.999f, 1e-8f, 0, &opt) == BL_OK, "adam: %s",
          bl_last_error());
    if (!m || !opt) return;
    bl_set_training(ctx, 1);
    enum { BATCH = 4, STEPS = 40 };
    float image[BATCH * 32 * 32], labels[BATCH * 32 * 32];
    double first = 0, last = 0;
    for (int step = 0; step < STEPS; step++) {
        for (int b = 0; b < BATCH; b++) synthetic_sample(step * BATCH + b, image + b * 1024, labels + b * 1024);
        int xs[4] = {BATCH, 1, 32, 32}, ls[3] = {BATCH, 32, 32};
        bl_run run = {.ctx = ctx};
        bl_tensor *logits = bl_unet_forward(m, &run, bl_tensor_from(ctx, 4, xs, image));
        bl_tensor *t = bl_tensor_from(ctx, 3, ls, labels);
        bl_dice_loss_args dice = {.ignore_index = -1, .smooth = 1};
        bl_tensor *loss =
            bl_add(ctx, bl_softmax_cross_entropy(ctx, logits, t, NULL, -1), bl_dice_loss(ctx, logits, t, dice));
        bl_zero_grad(ctx);
        float value = NAN;
        if (loss && bl_backward(ctx, loss) == BL_OK) bl_tensor_download(ctx, loss, &value);
        bl_optimizer_step(opt);
        bl_step_end(ctx);
        if (step == 0) first = value;
        last = value;
    }
    CHECK(bl_ctx_status(ctx) == BL_OK, "training: %s", bl_ctx_error(ctx));
    CHECK(isfinite(first) && last < 0.25 * first, "cross-entropy + Dice from %.4f to %.4f in %d steps: want a "
          "quarter or less", first, last, STEPS);
    printf("unet learns: loss %.4f -> %.4f in %d steps\n", first, last, STEPS);
    bl_optimizer_free(opt);
    bl_unet_free(m);
    bl_ctx_free(ctx);
}

int main(void) {
    test_config_errors();
    test_forward_checks_and_round_trip();
    test_learns();
    return test_summary("test_unet");
}
