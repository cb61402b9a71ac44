/* test_preset.c — the trainer's default preprocessing follows the weights: a converted file's
 * __metadata__.source "keras" → caffe mode, "torchvision"/"timm" → torch mode, none → the arch default
 * (docs/weights.md, "The input each set of weights expects"). */
#include <stdio.h>
#include <unistd.h>

#include "harness.h"
#include "study/train.h"
#include "support/test_support.h"

static void save_with_source(const char *path, const char *source) {
    bl_ctx *ctx = NULL;
    bl_model *m = NULL;
    CHECK(bl_ctx_create(bl_kernels_cpu(), &ctx) == BL_OK, "ctx");
    CHECK(bl_model_create(ctx, BL_ARCH_DENSENET121, BL_HEAD_IMAGENET, &m) == BL_OK, "model");
    const char *keys[1] = {"source"}, *values[1] = {source};
    CHECK(bl_model_save(m, path, source ? 1 : 0, keys, values) == BL_OK, "save: %s", bl_last_error());
    bl_model_free(m);
    bl_ctx_free(ctx);
}

int main(void) {
    char dir[512], keras[600], torchvision[600], plain[600];
    test_make_tmp_dir(dir, sizeof dir, "blasto_preset");
    snprintf(keras, sizeof keras, "%s/keras.safetensors", dir);
    snprintf(torchvision, sizeof torchvision, "%s/tv.safetensors", dir);
    snprintf(plain, sizeof plain, "%s/plain.safetensors", dir);
    save_with_source(keras, "keras");
    save_with_source(torchvision, "torchvision");
    save_with_source(plain, NULL);
    CHECK(bl_train_preset_for_weights(BL_ARCH_DENSENET121, keras) == BL_NORMALIZE_CAFFE, "keras weights → caffe");
    CHECK(bl_train_preset_for_weights(BL_ARCH_DENSENET121, torchvision) == BL_NORMALIZE_TORCH,
          "torchvision weights → torch");
    CHECK(bl_train_preset_for_weights(BL_ARCH_DENSENET121, plain) == bl_train_default_preset(BL_ARCH_DENSENET121),
          "no source → arch default");
    CHECK(bl_train_preset_for_weights(BL_ARCH_VGG16, "none") == BL_NORMALIZE_CAFFE, "vgg16 without weights → caffe");
    CHECK(bl_train_preset_for_weights(BL_ARCH_RESNET50_KERAS, torchvision) == BL_NORMALIZE_CAFFE,
          "the Keras variant is always caffe");
    CHECK(bl_train_preset_for_weights(BL_ARCH_RESNET50, "none") == BL_NORMALIZE_TORCH, "resnet50 without weights → torch");
    test_remove_tree(dir);
    return test_summary("test_preset");
}
