/* layers.h — modules: a struct that owns named parameters plus a forward built from core ops.
 *
 * A module registers its parameters in the context under `<prefix>.<name>` with torchvision's state_dict names
 * (conv `weight`/`bias`; batchnorm `weight`, `bias`, `running_mean`, `running_var`; linear `weight`/`bias`), so a
 * whole network's parameters are exactly a torchvision state_dict and loading weights is a name lookup.
 * Every forward takes a bl_run (the context plus per-run options) and reports its output to the run's activation
 * hook under its module path (e.g. "layer3.2.relu"), which is how `blasto infer --dump-activations` lets a user
 * diff a network layer by layer against PyTorch forward hooks.
 *
 * Errors: init functions return a bl_status (bl_last_error); forwards follow the context's sticky-error rule — they
 * return NULL and the context keeps the first error. */
#ifndef BLASTO_LAYERS_H
#define BLASTO_LAYERS_H

#include "core/autograd.h"

#define BL_MODULE_PATH_MAX 128

/* Called with every module output; `path` is the torchvision module path. The tensor is valid until step end. */
typedef void (*bl_activation_hook)(void *user, const char *path, const bl_tensor *t);

typedef enum bl_bn_mode {
    BL_BN_FOLLOW_CONTEXT = 0, /* training context: batch statistics + running update; eval: running statistics */
    BL_BN_RUNNING = 1,        /* always normalise with the running statistics (inference, `--bn running`) */
    BL_BN_BATCH = 2,          /* batch statistics WITHOUT touching the running statistics (`--bn batch`) */
} bl_bn_mode;

typedef struct bl_run {
    bl_ctx *ctx;
    bl_bn_mode bn_mode;
    bl_activation_hook hook; /* may be NULL */
    void *hook_user;
} bl_run;

/* No-grad scope (inference memory): a block's intermediates are dead once it has its output, but the step arena
 * would keep them until bl_step_end. Between bl_scope_begin and bl_scope_end(out) a block may allocate freely;
 * bl_scope_end rewinds the step arena to the mark and moves `out` down to it (core/arena.h: bl_arena_rewind), so
 * inference needs memory for about one block's working set instead of every activation. Active only when grad
 * mode is off and no hook is set (a hook may keep pointers to the intermediates); otherwise, or when the arena
 * cannot rewind, bl_scope_end returns `out` untouched. The values are never changed, only where they live.
 * Inputs of the block must have been allocated before bl_scope_begin. */
typedef struct bl_scope {
    bl_arena_mark mark;
    int active;
} bl_scope;
bl_scope bl_scope_begin(const bl_run *run);
bl_tensor *bl_scope_end(const bl_run *run, bl_scope scope, bl_tensor *out);

/* Report t under path (no-op without a hook); returns t so it can wrap an expression. */
bl_tensor *bl_run_emit(const bl_run *run, const char *path, bl_tensor *t);
/* Does batchnorm normalise with its running statistics in this run (inference mode)? */
int bl_run_bn_running(const bl_run *run);

/* ---- conv2d: weight [Cout,Cin,kh,kw], optional bias [Cout] ---- */
typedef struct bl_conv2d_layer {
    char path[BL_MODULE_PATH_MAX];
    bl_tensor *weight, *bias;
    bl_conv2d_args args;
} bl_conv2d_layer;
bl_status bl_conv2d_layer_init(bl_ctx *ctx, bl_conv2d_layer *l, const char *path, int c_in, int c_out, int kh, int kw,
                               int stride, int pad, int bias);
bl_tensor *bl_conv2d_layer_forward(const bl_run *run, const bl_conv2d_layer *l, bl_tensor *x);

/* ---- conv_transpose2d: weight [Cin,Cout,kh,kw] (torch ConvTranspose2d's layout), optional bias [Cout] ---- */
typedef struct bl_conv_transpose2d_layer {
    char path[BL_MODULE_PATH_MAX];
    bl_tensor *weight, *bias;
    bl_conv_transpose2d_args args;
} bl_conv_transpose2d_layer;
bl_status bl_conv_transpose2d_layer_init(bl_ctx *ctx, bl_conv_transpose2d_layer *l, const char *path, int c_in,
                                         int c_out, int kernel, int stride, int bias);
bl_tensor *bl_conv_transpose2d_layer_forward(const bl_run *run, const bl_conv_transpose2d_layer *l, bl_tensor *x);

/* ---- batchnorm2d: weight/bias/running_mean/running_var [C] (torch: momentum 0.1) ---- */
typedef struct bl_batchnorm2d_layer {
    char path[BL_MODULE_PATH_MAX];
    bl_tensor *weight, *bias, *running_mean, *running_var;
    float eps, momentum;
} bl_batchnorm2d_layer;
bl_status bl_batchnorm2d_layer_init(bl_ctx *ctx, bl_batchnorm2d_layer *l, const char *path, int channels, float eps);
bl_tensor *bl_batchnorm2d_layer_forward(const bl_run *run, const bl_batchnorm2d_layer *l, bl_tensor *x);
/* the same, in place over x in inference when no hook is set (bl_batchnorm2d_inplace): x is consumed, pass a fresh output */
bl_tensor *bl_batchnorm2d_layer_forward_inplace(const bl_run *run, const bl_batchnorm2d_layer *l, bl_tensor *x);
/* relu(bn(x)) reported as the ReLU module `relu_path`: fused into one op at inference when no hook is set
 * (bit-for-bit the same values; see core/op_fused.h) */
bl_tensor *bl_batchnorm2d_relu_layer_forward(const bl_run *run, const bl_batchnorm2d_layer *l, const char *relu_path,
                                             bl_tensor *x);

/* ---- linear: weight [out,in], bias [out] ---- */
typedef struct bl_linear_layer {
    char path[BL_MODULE_PATH_MAX];
    bl_tensor *weight, *bias;
} bl_linear_layer;
bl_status bl_linear_layer_init(bl_ctx *ctx, bl_linear_layer *l, const char *path, int in, int out, int bias);
bl_tensor *bl_linear_layer_forward(const bl_run *run, const bl_linear_layer *l, bl_tensor *x);

/* ---- parameter-free modules, reported under `path` ---- */
/* relu(x); x is consumed: without a hook the ReLU is applied in place (bl_relu_inplace), so pass a fresh output */
bl_tensor *bl_relu_module(const bl_run *run, const char *path, bl_tensor *x);
bl_tensor *bl_maxpool2d_module(const bl_run *run, const char *path, bl_tensor *x, int kernel, int stride, int pad);
bl_tensor *bl_avgpool2d_module(const bl_run *run, const char *path, bl_tensor *x, int kernel, int stride, int pad);
/* torch AdaptiveAvgPool2d(out): window [floor(i·H/out), ceil((i+1)·H/out)). Implemented for H a multiple of out
 * (identity when equal, else a plain average pool); other sizes are refused with BL_ERR_UNSUPPORTED (only VGG16's
 * ImageNet head uses it: give it inputs that are multiples of 224; docs/architecture.md). */
bl_tensor *bl_adaptive_avgpool2d_module(const bl_run *run, const char *path, bl_tensor *x, int out_h, int out_w);
bl_tensor *bl_dropout_module(const bl_run *run, const char *path, bl_tensor *x, float p);

/* ---- ResNet bottleneck (torchvision names: conv1 bn1 conv2 bn2 conv3 bn3 downsample.0 downsample.1) ----
 * v1.5 (torchvision): stride on conv2 (3×3); convs without bias; BN eps 1e-5.
 * v1 (Keras): stride on conv1 (1×1) and the shortcut; convs with bias; BN eps 1.001e-5. */
typedef struct bl_bottleneck {
    char path[BL_MODULE_PATH_MAX];
    bl_conv2d_layer conv1, conv2, conv3, down_conv;
    bl_batchnorm2d_layer bn1, bn2, bn3, down_bn;
    int has_downsample;
} bl_bottleneck;
bl_status bl_bottleneck_init(bl_ctx *ctx, bl_bottleneck *b, const char *path, int c_in, int width, int stride,
                             int keras_v1);
bl_tensor *bl_bottleneck_forward(const bl_run *run, const bl_bottleneck *b, bl_tensor *x);

/* ---- DenseNet dense layer (norm1 relu1 conv1 [1×1, 4·growth] norm2 relu2 conv2 [3×3, growth]) and transition
 * (norm relu conv [1×1] pool [avg 2×2]); no conv biases; BN eps 1e-5 (torchvision) ---- */
enum { BL_DENSE_BLOCK_MAX_LAYERS = 64 }; /* DenseNet121's largest block has 24 */
typedef struct bl_dense_layer {
    char path[BL_MODULE_PATH_MAX];
    bl_batchnorm2d_layer norm1, norm2;
    bl_conv2d_layer conv1, conv2;
} bl_dense_layer;
bl_status bl_dense_layer_init(bl_ctx *ctx, bl_dense_layer *l, const char *path, int c_in, int growth, int bn_size,
                              float eps);
/* inputs: the block's features so far (concatenated inside); returns the new [N,growth,H,W] features */
bl_tensor *bl_dense_layer_forward(const bl_run *run, const bl_dense_layer *l, int count, bl_tensor *const *inputs);
/* The whole block l[0 … layers): x [N,C,H,W] → the concatenation of x and every layer's features [N,C_final,H,W].
 * Inference with no hook (grad off, BN on running statistics): the features live in one block buffer of that shape,
 * each layer normalising a prefix of it and its output copied in after (core/op_fused.h), one copy per feature map
 * instead of a concatenation per layer; otherwise bl_dense_layer_forward on the list of features, every module
 * reported. Bit for bit the same values either way. */
bl_tensor *bl_dense_block_forward(const bl_run *run, const bl_dense_layer *l, int layers, bl_tensor *x);

typedef struct bl_transition {
    char path[BL_MODULE_PATH_MAX];
    bl_batchnorm2d_layer norm;
    bl_conv2d_layer conv;
} bl_transition;
bl_status bl_transition_init(bl_ctx *ctx, bl_transition *t, const char *path, int c_in, int c_out, float eps);
bl_tensor *bl_transition_forward(const bl_run *run, const bl_transition *t, bl_tensor *x);

#endif
