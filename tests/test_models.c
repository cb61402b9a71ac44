/* test_models.c — the architecture registry: parameter counts (torchvision's), state_dict names, output shapes in
 * both head modes, variants (v1 vs v1.5 differ exactly by the conv biases), save → load round trip, and the
 * loader's refusals (missing / unexpected / misshaped tensor, arch mismatch) leaving the model untouched.
 * Numerical parity with torchvision is tests/test_golden_models.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "models/models.h"

static bl_model *make(bl_ctx **ctx, bl_arch arch, bl_head head) {
    bl_model *m = NULL;
    CHECK(bl_ctx_create(bl_kernels_cpu(), ctx) == BL_OK, "ctx");
    bl_status st = bl_model_create(*ctx, arch, head, &m);
    CHECK(st == BL_OK && m, "create %s: %s", bl_arch_name(arch), bl_last_error());
    return m;
}

static void check_counts(void) {
    const struct { bl_arch arch; int64_t params; int tensors; const char *first, *last; } want[] = {
        {BL_ARCH_VGG16, 138357544, 32, "features.0.weight", "classifier.6.bias"},
        {BL_ARCH_RESNET50, 25557032, 267, "conv1.weight", "fc.bias"},
        {BL_ARCH_DENSENET121, 7978856, 606, "features.conv0.weight", "classifier.bias"},
    };
    for (int i = 0; i < 3; i++) {
        bl_ctx *ctx;
        bl_model *m = make(&ctx, want[i].arch, BL_HEAD_IMAGENET);
        if (!m) continue;
        CHECK(bl_model_parameter_count(m) == want[i].params, "%s parameters: got %lld, want %lld",
              bl_arch_name(want[i].arch), (long long)bl_model_parameter_count(m), (long long)want[i].params);
        CHECK(bl_model_tensor_count(m) == want[i].tensors, "%s state_dict entries (no num_batches_tracked): got %d, want %d",
              bl_arch_name(want[i].arch), bl_model_tensor_count(m), want[i].tensors);
        CHECK(strcmp(bl_model_tensor_at(m, 0)->name, want[i].first) == 0, "%s first key %s",
              bl_arch_name(want[i].arch), bl_model_tensor_at(m, 0)->name);
        CHECK(strcmp(bl_model_tensor_at(m, bl_model_tensor_count(m) - 1)->name, want[i].last) == 0, "%s last key %s",
              bl_arch_name(want[i].arch), bl_model_tensor_at(m, bl_model_tensor_count(m) - 1)->name);
        bl_model_free(m);
        bl_ctx_free(ctx);
    }
    /* Keras v1 = v1.5 + one bias per conv: 53 convs (stem + 16·3 + 4 shortcuts) */
    bl_ctx *ctx;
    bl_model *k = make(&ctx, BL_ARCH_RESNET50_KERAS, BL_HEAD_IMAGENET);
    if (k) {
        int64_t conv_bias = 0;
        for (int i = 0; i < bl_model_tensor_count(k); i++) {
            const bl_tensor *t = bl_model_tensor_at(k, i);
            if (strstr(t->name, "conv") && strstr(t->name, ".bias")) conv_bias += t->numel;
            if (strstr(t->name, "downsample.0.bias")) conv_bias += t->numel;
        }
        CHECK(bl_model_parameter_count(k) == 25557032 + conv_bias, "keras variant = v1.5 + conv biases (%lld)",
              (long long)conv_bias);
        CHECK(bl_param_find(ctx, "layer2.0.conv1.bias") != NULL, "keras variant has conv biases");
        bl_model_free(k);
    }
    bl_ctx_free(ctx);
}

static void check_shapes(void) {
    const bl_arch archs[4] = {BL_ARCH_VGG16, BL_ARCH_RESNET50, BL_ARCH_RESNET50_KERAS, BL_ARCH_DENSENET121};
    for (int i = 0; i < 4; i++) {
        bl_ctx *ctx;
        bl_model *m = make(&ctx, archs[i], BL_HEAD_NONE);
        if (!m) continue;
        bl_model_fill_deterministic(m, 1);
        bl_set_grad_enabled(ctx, 0);
        bl_run run = {.ctx = ctx, .bn_mode = BL_BN_RUNNING};
        int xs[4] = {2, 3, 64, 96};
        bl_tensor *x = bl_tensor_zeros(ctx, 4, xs);
        bl_tensor *y = bl_model_forward(m, &run, x);
        CHECK(y && y->ndim == 4 && y->shape[0] == 2 && y->shape[1] == bl_arch_feature_channels(archs[i]) &&
                  y->shape[2] == 2 && y->shape[3] == 3,
              "%s backbone output at 64x96: %s", bl_arch_name(archs[i]), y ? "wrong shape" : bl_ctx_error(ctx));
        bl_model_free(m);
        bl_ctx_free(ctx);
    }
    bl_ctx *ctx;
    bl_model *m = make(&ctx, BL_ARCH_DENSENET121, BL_HEAD_IMAGENET);
    bl_run run = {.ctx = ctx, .bn_mode = BL_BN_RUNNING};
    int xs[4] = {1, 3, 64, 64};
    bl_tensor *y = m ? bl_model_forward(m, &run, bl_tensor_zeros(ctx, 4, xs)) : NULL;
    CHECK(y && y->ndim == 2 && y->shape[1] == 1000, "densenet121 ImageNet head gives [1,1000]");
    bl_model_free(m);
    bl_ctx_free(ctx);
    m = make(&ctx, BL_ARCH_VGG16, BL_HEAD_IMAGENET);
    run.ctx = ctx;
    y = m ? bl_model_forward(m, &run, bl_tensor_zeros(ctx, 4, xs)) : NULL;
    CHECK(m && y == NULL && strstr(bl_ctx_error(ctx), "adaptive average pool"),
          "vgg16 ImageNet head at 64x64 is refused clearly: %s", bl_ctx_error(ctx));
    bl_model_free(m);
    bl_ctx_free(ctx);
}

static void check_load_save(void) {
    char dir[] = "/tmp/blasto_models_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[256], bad[256];
    snprintf(path, sizeof path, "%s/r50.safetensors", dir);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    bl_ctx *ctx;
    bl_model *m = make(&ctx, BL_ARCH_RESNET50, BL_HEAD_IMAGENET);
    bl_model_fill_deterministic(m, 5);
    CHECK(bl_model_save(m, path, 0, NULL, NULL) == BL_OK, "save: %s", bl_last_error());
    bl_ctx *ctx2;
    bl_model *m2 = make(&ctx2, BL_ARCH_RESNET50, BL_HEAD_IMAGENET);
    bl_safetensors *st = NULL;
    CHECK(bl_safetensors_open(path, &st) == BL_OK, "open: %s", bl_last_error());
    CHECK(st && bl_model_load(m2, st) == BL_OK, "load: %s", bl_last_error());
    int same = 1;
    for (int i = 0; i < bl_model_tensor_count(m); i++)
        same &= memcmp(bl_model_tensor_at(m, i)->data, bl_model_tensor_at(m2, i)->data,
                       (size_t)bl_model_tensor_at(m, i)->numel * sizeof(float)) == 0;
    CHECK(same, "round trip is bit-exact");
    CHECK(strcmp(bl_safetensors_metadata(st, "variant"), "torchvision-v1.5") == 0, "variant recorded");
    bl_safetensors_close(st);

    /* a resnet50 file into densenet121: arch mismatch from the metadata */
    bl_ctx *ctx3;
    bl_model *d = make(&ctx3, BL_ARCH_DENSENET121, BL_HEAD_IMAGENET);
    bl_safetensors_open(path, &st);
    CHECK(bl_model_load(d, st) == BL_ERR_FORMAT && strstr(bl_last_error(), "architecture mismatch (expected densenet121, got resnet50)"),
          "arch mismatch: %s", bl_last_error());
    bl_safetensors_close(st);
    bl_model_free(d);
    bl_ctx_free(ctx3);

    /* the same tensors without metadata into the Keras variant: missing conv biases */
    bl_st_writer *w;
    bl_st_writer_create(&w);
    for (int i = 0; i < bl_model_tensor_count(m); i++) {
        const bl_tensor *t = bl_model_tensor_at(m, i);
        if (strcmp(t->name, "layer1.0.bn1.running_var") == 0) continue; /* dropped: must be reported missing */
        bl_st_writer_add_f32(w, t->name, t->ndim, t->shape, t->data);
    }
    bl_st_writer_add_raw(w, "layer1.0.bn1.num_batches_tracked", BL_DTYPE_I64, 0, NULL, (const int64_t[]){7});
    CHECK(bl_st_writer_save(w, bad) == BL_OK, "write bad file");
    bl_st_writer_free(w);
    bl_safetensors_open(bad, &st);
    float before = bl_model_tensor_at(m2, 0)->data[0];
    CHECK(bl_model_load(m2, st) == BL_ERR_FORMAT &&
              strstr(bl_last_error(), "'layer1.0.bn1.running_var': missing tensor (expected shape [64]"),
          "missing tensor: %s", bl_last_error());
    CHECK(bl_model_tensor_at(m2, 0)->data[0] == before, "a refused load changes nothing");
    bl_safetensors_close(st);
    bl_model_free(m2);
    bl_ctx_free(ctx2);

    bl_model *k = make(&ctx2, BL_ARCH_RESNET50_KERAS, BL_HEAD_IMAGENET);
    bl_safetensors_open(bad, &st);
    CHECK(bl_model_load(k, st) == BL_ERR_FORMAT && strstr(bl_last_error(), "missing tensor"),
          "v1.5 weights into the keras variant are refused: %s", bl_last_error());
    bl_safetensors_close(st);
    bl_model_free(k);
    bl_ctx_free(ctx2);

    bl_model *n = make(&ctx2, BL_ARCH_RESNET50, BL_HEAD_NONE);
    bl_safetensors_open(path, &st);
    CHECK(bl_model_load(n, st) == BL_ERR_FORMAT && strstr(bl_last_error(), "'fc.bias': unexpected tensor") == NULL &&
              strstr(bl_last_error(), "unexpected tensor"),
          "head tensors are unexpected for a backbone: %s", bl_last_error());
    bl_safetensors_close(st);
    bl_model_free(n);
    bl_ctx_free(ctx2);
    bl_model_free(m);
    bl_ctx_free(ctx);
    unlink(path), unlink(bad), rmdir(dir);
}

int main(void) {
    check_counts();
    check_shapes();
    check_load_save();
    return test_summary("test_models");
}
