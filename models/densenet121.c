/* densenet121.c — torchvision's DenseNet121: features.conv0 7×7/2 · norm0 · relu0 · pool0 (max 3×3/2 pad 1) ·
 * denseblock1..4 of 6/12/24/16 dense layers (growth 32, bottleneck 4·32) with transition1..3 (halving channels
 * and resolution) · norm5 · ReLU · global average pool · classifier 1024→1000. BN eps 1e-5, no conv biases.
 * Backbone mode returns relu(norm5) [N,1024,H/32,W/32] (reported as "features.relu5"; torchvision applies this ReLU
 * functionally, Keras names it `relu`). */
#include <stdio.h>

#include "models/model_internal.h"

#define GROWTH 32
#define BN_SIZE 4

static const int densenet121_blocks[4] = {6, 12, 24, 16};

bl_status densenet121_build(bl_model *m) {
    densenet121_net *d = &m->net.densenet;
    const float eps = 1e-5f;
    bl_conv2d_layer_init(m->ctx, &d->conv0, "features.conv0", 3, 64, 7, 7, 2, 3, 0);
    bl_batchnorm2d_layer_init(m->ctx, &d->norm0, "features.norm0", 64, eps);
    int channels = 64, l = 0;
    for (int block = 0; block < 4; block++) {
        d->block_size[block] = densenet121_blocks[block];
        for (int i = 0; i < densenet121_blocks[block]; i++, l++) {
            char path[BL_MODULE_PATH_MAX];
            snprintf(path, sizeof path, "features.denseblock%d.denselayer%d", block + 1, i + 1);
            bl_dense_layer_init(m->ctx, &d->layer[l], path, channels + i * GROWTH, GROWTH, BN_SIZE, eps);
        }
        channels += densenet121_blocks[block] * GROWTH;
        if (block < 3) {
            char path[BL_MODULE_PATH_MAX];
            snprintf(path, sizeof path, "features.transition%d", block + 1);
            bl_transition_init(m->ctx, &d->transition[block], path, channels, channels / 2, eps);
            channels /= 2;
        }
    }
    bl_batchnorm2d_layer_init(m->ctx, &d->norm5, "features.norm5", channels, eps);
    if (m->head == BL_HEAD_IMAGENET) bl_linear_layer_init(m->ctx, &d->classifier, "classifier", channels, 1000, 1);
    return bl_ctx_status(m->ctx);
}

/* x [N,3,H,W] → logits [N,1000] (or relu(norm5) [N,1024,H/32,W/32]) */
bl_tensor *densenet121_forward(const bl_model *m, const bl_run *run, bl_tensor *x) {
    const densenet121_net *d = &m->net.densenet;
    bl_scope stem = bl_scope_begin(run); /* inference: only pool0's output outlives the stem */
    bl_tensor *h = bl_batchnorm2d_relu_layer_forward(run, &d->norm0, "features.relu0",
                                                     bl_conv2d_layer_forward(run, &d->conv0, x));
    h = bl_scope_end(run, stem, bl_maxpool2d_module(run, "features.pool0", h, 3, 2, 1));
    int l = 0;
    for (int block = 0; block < 4; block++) {
        char path[BL_MODULE_PATH_MAX];
        snprintf(path, sizeof path, "features.denseblock%d", block + 1);
        h = bl_run_emit(run, path, bl_dense_block_forward(run, &d->layer[l], d->block_size[block], h));
        l += d->block_size[block];
        if (block < 3) h = bl_transition_forward(run, &d->transition[block], h);
    }
    h = bl_batchnorm2d_relu_layer_forward(run, &d->norm5, "features.relu5", h);
    if (m->head == BL_HEAD_NONE) return h;
    h = bl_global_avgpool(run->ctx, h);
    return bl_linear_layer_forward(run, &d->classifier, h);
}
