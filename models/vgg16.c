/* vgg16.c — torchvision's VGG16 (configuration "D"): 13 3×3 convolutions with bias and ReLU in five stages, each
 * closed by a 2×2 max-pool (`features.0` … `features.30`), adaptive 7×7 average pool, classifier
 * Linear(25088,4096)–ReLU–Dropout–Linear(4096,4096)–ReLU–Dropout–Linear(4096,1000) (`classifier.0/3/6`).
 * Backbone mode returns the `features` output (after the fifth max-pool): [N,512,H/32,W/32]. */
#include <stdio.h>

#include "models/model_internal.h"

/* channels per conv; 0 marks a max-pool */
static const int vgg16_config[] = {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0};
#define VGG16_CONFIG_LEN (int)(sizeof vgg16_config / sizeof vgg16_config[0])

bl_status vgg16_build(bl_model *m) {
    vgg16_net *v = &m->net.vgg;
    char path[BL_MODULE_PATH_MAX];
    int c_in = 3, conv = 0, index = 0;
    for (int i = 0; i < VGG16_CONFIG_LEN; i++) {
        if (vgg16_config[i] == 0) {
            index += 1; /* the pool */
            continue;
        }
        snprintf(path, sizeof path, "features.%d", index);
        bl_conv2d_layer_init(m->ctx, &v->conv[conv], path, c_in, vgg16_config[i], 3, 3, 1, 1, 1);
        v->conv_index[conv++] = index;
        c_in = vgg16_config[i];
        index += 2; /* conv + relu */
    }
    if (m->head == BL_HEAD_IMAGENET) {
        bl_linear_layer_init(m->ctx, &v->fc[0], "classifier.0", 512 * 7 * 7, 4096, 1);
        bl_linear_layer_init(m->ctx, &v->fc[1], "classifier.3", 4096, 4096, 1);
        bl_linear_layer_init(m->ctx, &v->fc[2], "classifier.6", 4096, 1000, 1);
    }
    return bl_ctx_status(m->ctx);
}

/* x [N,3,H,W] → logits [N,1000] (or features [N,512,H/32,W/32]) */
bl_tensor *vgg16_forward(const bl_model *m, const bl_run *run, bl_tensor *x) {
    const vgg16_net *v = &m->net.vgg;
    char path[BL_MODULE_PATH_MAX];
    bl_tensor *h = x;
    int conv = 0, index = 0;
    /* inference: one scope for the whole feature stack, ended after every max-pool — the stage's activations are
     * dead once the pool has its output, so only that (small) output is kept and moved down (layers.h:
     * bl_scope_end). Ending it after every conv as well held the peak ~26 MB lower at 224×224, batch 8, but moved
     * every conv output (~460 MB per forward, ~3 % of the time); a stage's convs with ReLU in place keep only
     * their outputs, so the peak is the largest stage's (two 64×224×224 maps), as before. */
    bl_scope features = bl_scope_begin(run);
    for (int i = 0; i < VGG16_CONFIG_LEN; i++) {
        if (vgg16_config[i] == 0) {
            snprintf(path, sizeof path, "features.%d", index++);
            h = bl_scope_end(run, features, bl_maxpool2d_module(run, path, h, 2, 2, 0));
            continue;
        }
        h = bl_conv2d_layer_forward(run, &v->conv[conv++], h);
        snprintf(path, sizeof path, "features.%d", index + 1);
        h = bl_relu_module(run, path, h);
        index += 2;
    }
    h = bl_run_emit(run, "features", h);
    if (m->head == BL_HEAD_NONE) return h;
    h = bl_flatten(run->ctx, bl_adaptive_avgpool2d_module(run, "avgpool", h, 7, 7));
    h = bl_relu_module(run, "classifier.1", bl_linear_layer_forward(run, &v->fc[0], h));
    h = bl_dropout_module(run, "classifier.2", h, 0.5f);
    h = bl_relu_module(run, "classifier.4", bl_linear_layer_forward(run, &v->fc[1], h));
    h = bl_dropout_module(run, "classifier.5", h, 0.5f);
    return bl_linear_layer_forward(run, &v->fc[2], h);
}
