/* layers.c — the basic modules: conv2d, conv_transpose2d, batchnorm2d, linear and the parameter-free ones (see
 * layers.h).
 * ResNet's bottleneck and DenseNet's blocks are in layers/blocks.c. */
#include <stdio.h>
#include <string.h>

#include "layers/layers.h"
#include "core/init.h"

#include "core/op_fused.h"

int bl_run_bn_running(const bl_run *run) {
    return run->bn_mode == BL_BN_RUNNING || (run->bn_mode == BL_BN_FOLLOW_CONTEXT && !bl_is_training(run->ctx));
}

bl_tensor *bl_run_emit(const bl_run *run, const char *path, bl_tensor *t) {
    if (t && run->hook) run->hook(run->hook_user, path, t);
    return t;
}

/* "<path>.<leaf>" into dst (the caller's buffer of BL_MODULE_PATH_MAX bytes) */
static void param_name(char *dst, const char *path, const char *leaf) {
    snprintf(dst, BL_MODULE_PATH_MAX, "%s%s%s", path, *path ? "." : "", leaf);
}

static void set_path(char *dst, const char *path) { snprintf(dst, BL_MODULE_PATH_MAX, "%s", path); }

/* ---- conv2d -------------------------------------------------------------------------------------------------- */

bl_status bl_conv2d_layer_init(bl_ctx *ctx, bl_conv2d_layer *l, const char *path, int c_in, int c_out, int kh, int kw,
                               int stride, int pad, int bias) {
    char name[BL_MODULE_PATH_MAX];
    set_path(l->path, path);
    int wshape[4] = {c_out, c_in, kh, kw};
    param_name(name, path, "weight");
    l->weight = bl_param(ctx, name, 4, wshape);
    l->bias = NULL;
    if (bias) {
        param_name(name, path, "bias");
        l->bias = bl_param(ctx, name, 1, &c_out);
    }
    l->args = (bl_conv2d_args){.stride_h = stride, .stride_w = stride, .pad_h = pad, .pad_w = pad};
    return bl_ctx_status(ctx);
}

/* x [N,Cin,H,W] → [N,Cout,Ho,Wo] */
bl_tensor *bl_conv2d_layer_forward(const bl_run *run, const bl_conv2d_layer *l, bl_tensor *x) {
    return bl_run_emit(run, l->path, bl_conv2d(run->ctx, x, l->weight, l->bias, l->args));
}

/* ---- conv_transpose2d ---------------------------------------------------------------------------------------- */

bl_status bl_conv_transpose2d_layer_init(bl_ctx *ctx, bl_conv_transpose2d_layer *l, const char *path, int c_in,
                                         int c_out, int kernel, int stride, int bias) {
    char name[BL_MODULE_PATH_MAX];
    set_path(l->path, path);
    int wshape[4] = {c_in, c_out, kernel, kernel};
    param_name(name, path, "weight");
    l->weight = bl_param(ctx, name, 4, wshape);
    l->bias = NULL;
    if (bias) {
        param_name(name, path, "bias");
        l->bias = bl_param(ctx, name, 1, &c_out);
    }
    l->args = (bl_conv_transpose2d_args){.stride_h = stride, .stride_w = stride};
    return bl_ctx_status(ctx);
}

/* x [N,Cin,H,W] → [N,Cout,Ho,Wo] */
bl_tensor *bl_conv_transpose2d_layer_forward(const bl_run *run, const bl_conv_transpose2d_layer *l, bl_tensor *x) {
    return bl_run_emit(run, l->path, bl_conv_transpose2d(run->ctx, x, l->weight, l->bias, l->args));
}

/* ---- batchnorm2d --------------------------------------------------------------------------------------------- */

bl_status bl_batchnorm2d_layer_init(bl_ctx *ctx, bl_batchnorm2d_layer *l, const char *path, int channels, float eps) {
    char name[BL_MODULE_PATH_MAX];
    set_path(l->path, path);
    param_name(name, path, "weight");
    l->weight = bl_param(ctx, name, 1, &channels);
    param_name(name, path, "bias");
    l->bias = bl_param(ctx, name, 1, &channels);
    param_name(name, path, "running_mean");
    l->running_mean = bl_buffer(ctx, name, 1, &channels);
    param_name(name, path, "running_var");
    l->running_var = bl_buffer(ctx, name, 1, &channels);
    l->eps = eps;
    l->momentum = 0.1f;
    if (bl_ctx_status(ctx)) return bl_ctx_status(ctx);
    /* torch's initial state: γ = 1, β = 0, running mean 0, running var 1 (new tensors are zero) */
    bl_init_constant(ctx, l->weight, 1.0f);
    return bl_init_constant(ctx, l->running_var, 1.0f);
}

/* x [N,C,H,W] → same shape. The run's BN mode decides which statistics normalise and whether running stats move. */
/* in_place (only without a hook, which may hold x): bl_batchnorm2d_inplace, else bl_batchnorm2d */
static bl_tensor *batchnorm2d_layer(const bl_run *run, const bl_batchnorm2d_layer *l, bl_tensor *x, int in_place) {
    bl_ctx *ctx = run->ctx;
    bl_tensor *(*op)(bl_ctx *, bl_tensor *, bl_tensor *, bl_tensor *, bl_tensor *, bl_tensor *, float, float) =
        in_place && !run->hook ? bl_batchnorm2d_inplace : bl_batchnorm2d;
    bl_tensor *y;
    if (run->bn_mode == BL_BN_FOLLOW_CONTEXT) {
        y = op(ctx, x, l->weight, l->bias, l->running_mean, l->running_var, l->eps, l->momentum);
    } else {
        /* the op reads the context's training flag: set it for this call only */
        int was_training = bl_is_training(ctx);
        int batch = run->bn_mode == BL_BN_BATCH;
        bl_set_training(ctx, batch);
        y = batch ? op(ctx, x, l->weight, l->bias, NULL, NULL, l->eps, l->momentum)
                  : op(ctx, x, l->weight, l->bias, l->running_mean, l->running_var, l->eps, l->momentum);
        bl_set_training(ctx, was_training);
    }
    return bl_run_emit(run, l->path, y);
}

bl_tensor *bl_batchnorm2d_layer_forward(const bl_run *run, const bl_batchnorm2d_layer *l, bl_tensor *x) {
    return batchnorm2d_layer(run, l, x, 0);
}

bl_tensor *bl_batchnorm2d_layer_forward_inplace(const bl_run *run, const bl_batchnorm2d_layer *l, bl_tensor *x) {
    return batchnorm2d_layer(run, l, x, 1);
}

/* BN layer then a ReLU module. With no hook and BN on running statistics (inference), one fused op
 * (core/op_fused.h): the same values bit for bit, one output tensor instead of two. With a hook the two modules
 * run separately so the hook still sees the BN output under its own path. */
bl_tensor *bl_batchnorm2d_relu_layer_forward(const bl_run *run, const bl_batchnorm2d_layer *l, const char *relu_path,
                                             bl_tensor *x) {
    bl_ctx *ctx = run->ctx;
    int eval = bl_run_bn_running(run);
    if (run->hook || !eval) return bl_relu_module(run, relu_path, bl_batchnorm2d_layer_forward(run, l, x));
    int was_training = bl_is_training(ctx);
    bl_set_training(ctx, 0);
    bl_tensor *y = bl_batchnorm2d_relu(ctx, x, l->weight, l->bias, l->running_mean, l->running_var, l->eps,
                                       l->momentum);
    bl_set_training(ctx, was_training);
    return y;
}

/* ---- no-grad scopes ------------------------------------------------------------------------------------------ */

/* dst ≤ src, overlapping allowed: the backend's copy in rounds of at most src − dst bytes, so that no round's
 * source and destination overlap and no round reads what an earlier one wrote (those writes end below src + the
 * round's offset). Each round is one (threaded, on cpu; stream-ordered, on a device) copy. A short shift would
 * need many rounds: host memory takes one memmove instead; device memory (which the host must not touch) takes
 * the rounds — rare, as a scope's dead intermediates are usually larger than the output it keeps. */
static void move_down(const bl_kernels *k, char *dst, const char *src, size_t bytes) {
    size_t shift = (size_t)(src - dst);
    if (shift == 0) return;
    if (k->host_memory && shift < bytes && shift < ((size_t)1 << 20)) {
        memmove(dst, src, bytes);
        return;
    }
    for (size_t offset = 0; offset < bytes; offset += shift)
        k->copy(dst + offset, src + offset, bytes - offset < shift ? bytes - offset : shift);
}

bl_scope bl_scope_begin(const bl_run *run) {
    bl_scope scope = {.active = !run->hook && !bl_grad_enabled(run->ctx) && bl_ctx_status(run->ctx) == BL_OK};
    if (scope.active) scope.mark = bl_arena_mark_now(bl_ctx_step_arena(run->ctx));
    return scope;
}

bl_tensor *bl_scope_end(const bl_run *run, bl_scope scope, bl_tensor *out) {
    bl_ctx *ctx = run->ctx;
    /* any backend: move_down goes through the op table's copy slot wherever the host may not touch the memory */
    if (!scope.active || !out || out->view_of || out->grad || bl_ctx_status(ctx) != BL_OK) return out;
    bl_tensor kept = *out; /* headers live in the host arena (not rewound); keep a copy anyway */
    if (!bl_arena_rewind(bl_ctx_step_arena(ctx), scope.mark, out->data)) return out;
    /* the same data size as `out`, allocated at or below out's own data address: a downward move (move_down) */
    bl_tensor *moved = bl_tensor_new(ctx, kept.ndim, kept.shape);
    if (!moved) return NULL;
    move_down(bl_ctx_kernels(ctx), (char *)moved->data, (const char *)kept.data, (size_t)kept.numel * sizeof(float));
    moved->name = kept.name;
    return moved;
}

/* ---- linear -------------------------------------------------------------------------------------------------- */

bl_status bl_linear_layer_init(bl_ctx *ctx, bl_linear_layer *l, const char *path, int in, int out, int bias) {
    char name[BL_MODULE_PATH_MAX];
    set_path(l->path, path);
    int wshape[2] = {out, in};
    param_name(name, path, "weight");
    l->weight = bl_param(ctx, name, 2, wshape);
    l->bias = NULL;
    if (bias) {
        param_name(name, path, "bias");
        l->bias = bl_param(ctx, name, 1, &out);
    }
    return bl_ctx_status(ctx);
}

/* x [N,in] → [N,out] */
bl_tensor *bl_linear_layer_forward(const bl_run *run, const bl_linear_layer *l, bl_tensor *x) {
    return bl_run_emit(run, l->path, bl_linear(run->ctx, x, l->weight, l->bias));
}

/* ---- parameter-free modules ---------------------------------------------------------------------------------- */

bl_tensor *bl_relu_module(const bl_run *run, const char *path, bl_tensor *x) {
    /* in place unless a hook watches: a hook may hold x (the previous module's output) and must see it unchanged */
    return bl_run_emit(run, path, run->hook ? bl_relu(run->ctx, x) : bl_relu_inplace(run->ctx, x));
}

bl_tensor *bl_maxpool2d_module(const bl_run *run, const char *path, bl_tensor *x, int kernel, int stride, int pad) {
    bl_pool2d_args a = {.kernel_h = kernel, .kernel_w = kernel, .stride_h = stride, .stride_w = stride,
                        .pad_h = pad, .pad_w = pad};
    return bl_run_emit(run, path, bl_maxpool2d(run->ctx, x, a));
}

bl_tensor *bl_avgpool2d_module(const bl_run *run, const char *path, bl_tensor *x, int kernel, int stride, int pad) {
    bl_pool2d_args a = {.kernel_h = kernel, .kernel_w = kernel, .stride_h = stride, .stride_w = stride,
                        .pad_h = pad, .pad_w = pad, .count_include_pad = 1};
    return bl_run_emit(run, path, bl_avgpool2d(run->ctx, x, a));
}

/* Adaptive average pooling to out_h×out_w. Supported: H == out (identity) and H a multiple of out (uniform windows
 * = a plain average pool); torch's general non-uniform windows are refused with a message (they only arise in
 * VGG16's ImageNet head for inputs that are not a multiple of 224). */
bl_tensor *bl_adaptive_avgpool2d_module(const bl_run *run, const char *path, bl_tensor *x, int out_h, int out_w) {
    if (!x) return NULL;
    if (x->ndim != 4 || out_h < 1 || out_w < 1 || x->shape[2] % out_h || x->shape[3] % out_w) {
        char sx[64];
        return bl_ctx_fail(run->ctx, BL_ERR_UNSUPPORTED,
                           "%s: adaptive average pool from %s to %dx%d: only sizes that are multiples of the output "
                           "are supported (use an input size that is a multiple of 224 for the ImageNet head)",
                           path, bl_shape_str(x, sx, sizeof sx), out_h, out_w);
    }
    if (x->shape[2] == out_h && x->shape[3] == out_w) return bl_run_emit(run, path, x);
    bl_pool2d_args a = {.kernel_h = x->shape[2] / out_h, .kernel_w = x->shape[3] / out_w, .count_include_pad = 1};
    return bl_run_emit(run, path, bl_avgpool2d(run->ctx, x, a));
}

bl_tensor *bl_dropout_module(const bl_run *run, const char *path, bl_tensor *x, float p) {
    return bl_run_emit(run, path, bl_dropout(run->ctx, x, p));
}
