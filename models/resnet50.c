/* resnet50.c — ResNet50 in two variants with torchvision's parameter names:
 *   torchvision v1.5: stem conv1 7×7/2 (no bias) · bn1 · relu · maxpool 3×3/2 pad 1 · layer1..layer4 of 3/4/6/3
 *                     bottlenecks (stride on the 3×3 conv) · global average pool · fc 2048→1000;
 *   Keras v1 ("resnet50-keras"): stride on the first 1×1 conv and on the shortcut conv, every conv with a bias
 *                     (stem conv1 included), BN eps 1.001e-5. Keras pads with ZeroPadding2D before the stem conv
 *                     and the max-pool; zero padding before a max-pool of ReLU outputs (≥ 0) equals torch's −∞
 *                     padding, so the same graph serves both.
 * Backbone mode returns layer4's output [N,2048,H/32,W/32]. */
#include <stdio.h>

#include "models/model_internal.h"

static const int resnet50_blocks[4] = {3, 4, 6, 3};
static const int resnet50_width[4] = {64, 128, 256, 512};

bl_status resnet50_build(bl_model *m, int keras_v1) {
    resnet50_net *r = &m->net.resnet;
    const float eps = keras_v1 ? 1.001e-5f : 1e-5f;
    bl_conv2d_layer_init(m->ctx, &r->conv1, "conv1", 3, 64, 7, 7, 2, 3, keras_v1);
    bl_batchnorm2d_layer_init(m->ctx, &r->bn1, "bn1", 64, eps);
    int c_in = 64, b = 0;
    for (int stage = 0; stage < 4; stage++) {
        for (int i = 0; i < resnet50_blocks[stage]; i++, b++) {
            char path[BL_MODULE_PATH_MAX];
            snprintf(path, sizeof path, "layer%d.%d", stage + 1, i);
            int stride = (stage > 0 && i == 0) ? 2 : 1;
            bl_bottleneck_init(m->ctx, &r->block[b], path, c_in, resnet50_width[stage], stride, keras_v1);
            c_in = 4 * resnet50_width[stage];
        }
        r->stage_end[stage] = b;
    }
    if (m->head == BL_HEAD_IMAGENET) bl_linear_layer_init(m->ctx, &r->fc, "fc", 2048, 1000, 1);
    return bl_ctx_status(m->ctx);
}

/* x [N,3,H,W] → logits [N,1000] (or layer4 [N,2048,H/32,W/32]) */
bl_tensor *resnet50_forward(const bl_model *m, const bl_run *run, bl_tensor *x) {
    const resnet50_net *r = &m->net.resnet;
    /* inference: one scope for the trunk, ended after the stem and after every block — a block's input is dead
     * once it has its output, so only the newest activation is kept (layers.h: bl_scope_end) */
    bl_scope trunk = bl_scope_begin(run);
    bl_tensor *h = bl_batchnorm2d_relu_layer_forward(run, &r->bn1, "relu", bl_conv2d_layer_forward(run, &r->conv1, x));
    h = bl_scope_end(run, trunk, bl_maxpool2d_module(run, "maxpool", h, 3, 2, 1));
    int b = 0;
    for (int stage = 0; stage < 4; stage++) {
        for (; b < r->stage_end[stage]; b++) h = bl_scope_end(run, trunk, bl_bottleneck_forward(run, &r->block[b], h));
        char path[16];
        snprintf(path, sizeof path, "layer%d", stage + 1);
        h = bl_run_emit(run, path, h);
    }
    if (m->head == BL_HEAD_NONE) return h;
    bl_tensor *pooled = bl_global_avgpool(run->ctx, h); /* [N,2048] */
    if (run->hook && pooled) /* report torch's AdaptiveAvgPool2d output shape [N,2048,1,1] */
        bl_run_emit(run, "avgpool", bl_reshape(run->ctx, pooled, 4, (int[]){pooled->shape[0], pooled->shape[1], 1, 1}));
    return bl_linear_layer_forward(run, &r->fc, pooled);
}
