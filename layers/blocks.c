/* blocks.c — ResNet's bottleneck and DenseNet's dense layer and transition (see layers.h for names/variants). */
#include <stdio.h>

#include "layers/layers.h"
#include "core/op_fused.h"

/* "<path>.<leaf>"; module paths are far shorter than BL_MODULE_PATH_MAX, a longer one is cut (never overflows) */
static void child(char *dst, const char *path, const char *leaf) {
    if (snprintf(dst, BL_MODULE_PATH_MAX, "%s.%s", path, leaf) >= BL_MODULE_PATH_MAX) dst[BL_MODULE_PATH_MAX - 1] = '\0';
}

/* ---- ResNet bottleneck ----------------------------------------------------------------------------------------
 * 1×1 conv (c_in → width) · 3×3 conv (width → width) · 1×1 conv (width → 4·width), BN after each, ReLU after the
 * first two and after the residual sum. Downsampling shortcut (1×1 conv + BN) when the shape changes.
 * v1.5 (torchvision) strides the 3×3 conv; v1 (Keras) strides the first 1×1 conv. */
bl_status bl_bottleneck_init(bl_ctx *ctx, bl_bottleneck *b, const char *path, int c_in, int width, int stride,
                             int keras_v1) {
    char p[BL_MODULE_PATH_MAX];
    const int out = 4 * width, bias = keras_v1;
    const float eps = keras_v1 ? 1.001e-5f : 1e-5f;
    snprintf(b->path, sizeof b->path, "%s", path);
    child(p, path, "conv1"), bl_conv2d_layer_init(ctx, &b->conv1, p, c_in, width, 1, 1, keras_v1 ? stride : 1, 0, bias);
    child(p, path, "bn1"), bl_batchnorm2d_layer_init(ctx, &b->bn1, p, width, eps);
    child(p, path, "conv2"), bl_conv2d_layer_init(ctx, &b->conv2, p, width, width, 3, 3, keras_v1 ? 1 : stride, 1, bias);
    child(p, path, "bn2"), bl_batchnorm2d_layer_init(ctx, &b->bn2, p, width, eps);
    child(p, path, "conv3"), bl_conv2d_layer_init(ctx, &b->conv3, p, width, out, 1, 1, 1, 0, bias);
    child(p, path, "bn3"), bl_batchnorm2d_layer_init(ctx, &b->bn3, p, out, eps);
    b->has_downsample = stride != 1 || c_in != out;
    if (b->has_downsample) {
        child(p, path, "downsample.0"), bl_conv2d_layer_init(ctx, &b->down_conv, p, c_in, out, 1, 1, stride, 0, bias);
        child(p, path, "downsample.1"), bl_batchnorm2d_layer_init(ctx, &b->down_bn, p, out, eps);
    }
    return bl_ctx_status(ctx);
}

/* x [N,c_in,H,W] → [N,4·width,H/stride,W/stride]. torchvision's block has ONE relu module applied three times, so
 * the hook sees "<path>.relu" three times (a dump keyed by path keeps the last, the block's output). */
/* Inference memory: the caller's scope (ResNet50's rolling trunk scope) drops the block's intermediates once it
 * has the output — one move of the output per block. The block had its own scope and sub-scopes as well (each
 * wide tensor dropped as soon as read): ~80 MB lower peak at 224×224, batch 8 (260 vs ~340 MiB, PyTorch ~490),
 * but three moves of every block output, ~9 % of a forward. */
bl_tensor *bl_bottleneck_forward(const bl_run *run, const bl_bottleneck *b, bl_tensor *x) {
    char relu[BL_MODULE_PATH_MAX];
    child(relu, b->path, "relu");
    bl_tensor *h = bl_batchnorm2d_relu_layer_forward(run, &b->bn1, relu, bl_conv2d_layer_forward(run, &b->conv1, x));
    h = bl_batchnorm2d_relu_layer_forward(run, &b->bn2, relu, bl_conv2d_layer_forward(run, &b->conv2, h));
    /* inference without a hook: bn3, the downsample's BN and the residual add work in place over the fresh conv
     * outputs (bl_batchnorm2d_inplace, bl_add_inplace) — three wide tensors fewer per block and no write-allocate traffic */
    h = bl_batchnorm2d_layer_forward_inplace(run, &b->bn3, bl_conv2d_layer_forward(run, &b->conv3, h));
    bl_tensor *shortcut = x;
    if (b->has_downsample) {
        char down[BL_MODULE_PATH_MAX];
        child(down, b->path, "downsample");
        shortcut = bl_run_emit(run, down, bl_batchnorm2d_layer_forward_inplace(run, &b->down_bn,
                                                                        bl_conv2d_layer_forward(run, &b->down_conv, x)));
    }
    h = bl_relu_module(run, relu, run->hook ? bl_add(run->ctx, h, shortcut) : bl_add_inplace(run->ctx, h, shortcut));
    return bl_run_emit(run, b->path, h);
}

/* ---- DenseNet ------------------------------------------------------------------------------------------------ */

bl_status bl_dense_layer_init(bl_ctx *ctx, bl_dense_layer *l, const char *path, int c_in, int growth, int bn_size,
                              float eps) {
    char p[BL_MODULE_PATH_MAX];
    snprintf(l->path, sizeof l->path, "%s", path);
    child(p, path, "norm1"), bl_batchnorm2d_layer_init(ctx, &l->norm1, p, c_in, eps);
    child(p, path, "conv1"), bl_conv2d_layer_init(ctx, &l->conv1, p, c_in, bn_size * growth, 1, 1, 1, 0, 0);
    child(p, path, "norm2"), bl_batchnorm2d_layer_init(ctx, &l->norm2, p, bn_size * growth, eps);
    child(p, path, "conv2"), bl_conv2d_layer_init(ctx, &l->conv2, p, bn_size * growth, growth, 3, 3, 1, 1, 0);
    return bl_ctx_status(ctx);
}

/* inputs: count tensors [N,Ci,H,W] (the block input and every earlier layer's output) → [N,growth,H,W]:
 * conv2(relu2(norm2(conv1(relu1(norm1(concat(inputs))))))) */
/* the layer after relu1: h = relu1(norm1(its input)) → conv2(relu2(norm2(conv1(h)))) */
static bl_tensor *dense_layer_rest(const bl_run *run, const bl_dense_layer *l, bl_tensor *h) {
    char p[BL_MODULE_PATH_MAX];
    child(p, l->path, "relu2"), h = bl_batchnorm2d_relu_layer_forward(run, &l->norm2, p, bl_conv2d_layer_forward(run, &l->conv1, h));
    return bl_conv2d_layer_forward(run, &l->conv2, h);
}

bl_tensor *bl_dense_layer_forward(const bl_run *run, const bl_dense_layer *l, int count, bl_tensor *const *inputs) {
    bl_scope scope = bl_scope_begin(run); /* inference: the concatenation and intermediates die here */
    char p[BL_MODULE_PATH_MAX];
    bl_tensor *h = count == 1 ? inputs[0] : bl_concat_channels(run->ctx, count, inputs);
    child(p, l->path, "relu1"), h = bl_batchnorm2d_relu_layer_forward(run, &l->norm1, p, h);
    return bl_run_emit(run, l->path, bl_scope_end(run, scope, dense_layer_rest(run, l, h)));
}

/* inference, no hook: the layer on the first c_in channels of the block buffer → its [N,growth,H,W] features */
static bl_tensor *dense_layer_forward_prefix(const bl_run *run, const bl_dense_layer *l, bl_tensor *buf, int c_in) {
    bl_scope scope = bl_scope_begin(run); /* the normalised prefix and the intermediates die here */
    const bl_batchnorm2d_layer *n1 = &l->norm1;
    bl_tensor *h = bl_batchnorm2d_relu_channels(run->ctx, buf, c_in, n1->weight, n1->bias, n1->running_mean,
                                                n1->running_var, n1->eps);
    return bl_scope_end(run, scope, dense_layer_rest(run, l, h));
}

bl_tensor *bl_dense_block_forward(const bl_run *run, const bl_dense_layer *l, int layers, bl_tensor *x) {
    bl_ctx *ctx = run->ctx;
    if (!x || x->ndim != 4 || layers < 1) return layers < 1 ? x : bl_concat_channels(ctx, 1, &x);
    if (run->hook || bl_grad_enabled(ctx) || !bl_run_bn_running(run)) {
        bl_tensor *features[BL_DENSE_BLOCK_MAX_LAYERS + 1]; /* the block input and every layer's output */
        if (layers > BL_DENSE_BLOCK_MAX_LAYERS)
            return bl_ctx_fail(ctx, BL_ERR_INVALID, "dense block: %d layers, at most %d", layers,
                               BL_DENSE_BLOCK_MAX_LAYERS);
        features[0] = x;
        for (int i = 0; i < layers; i++) features[i + 1] = bl_dense_layer_forward(run, &l[i], i + 1, features);
        return bl_concat_channels(ctx, layers + 1, features);
    }
    int c_total = x->shape[1];
    for (int i = 0; i < layers; i++) c_total += l[i].conv2.weight->shape[0];
    int shape[4] = {x->shape[0], c_total, x->shape[2], x->shape[3]};
    bl_tensor *buf = bl_tensor_new(ctx, 4, shape);
    int c = x->shape[1];
    bl_copy_channels(ctx, buf, 0, x);
    for (int i = 0; i < layers && bl_ctx_status(ctx) == BL_OK; i++) {
        bl_tensor *y = dense_layer_forward_prefix(run, &l[i], buf, c);
        bl_copy_channels(ctx, buf, c, y);
        c += l[i].conv2.weight->shape[0];
    }
    return bl_ctx_status(ctx) == BL_OK ? buf : NULL;
}

bl_status bl_transition_init(bl_ctx *ctx, bl_transition *t, const char *path, int c_in, int c_out, float eps) {
    char p[BL_MODULE_PATH_MAX];
    snprintf(t->path, sizeof t->path, "%s", path);
    child(p, path, "norm"), bl_batchnorm2d_layer_init(ctx, &t->norm, p, c_in, eps);
    child(p, path, "conv"), bl_conv2d_layer_init(ctx, &t->conv, p, c_in, c_out, 1, 1, 1, 0, 0);
    return bl_ctx_status(ctx);
}

/* x [N,c_in,H,W] → [N,c_out,H/2,W/2]: avgpool2×2(conv1×1(relu(norm(x)))) */
bl_tensor *bl_transition_forward(const bl_run *run, const bl_transition *t, bl_tensor *x) {
    bl_scope scope = bl_scope_begin(run);
    char p[BL_MODULE_PATH_MAX];
    child(p, t->path, "relu");
    bl_tensor *h = bl_batchnorm2d_relu_layer_forward(run, &t->norm, p, x);
    h = bl_conv2d_layer_forward(run, &t->conv, h);
    child(p, t->path, "pool"), h = bl_avgpool2d_module(run, p, h, 2, 2, 0);
    return bl_run_emit(run, t->path, bl_scope_end(run, scope, h));
}
