/* autograd.h — the execution context, the tape, and every differentiable op.
 *
 * A bl_ctx holds: the backend (a bl_kernels table), the persistent arena (parameters, their gradients, BN
 * running statistics, optimizer state), the step arena (activations, saved tensors), the gradient pool (activation
 * gradients, each released as soon as the backward of the op that produced its activation has run: core/grad_pool.h),
 * the tape, and two switches: `training` (batchnorm uses batch statistics, dropout is active) and `grad_enabled`
 * (when off, ops record nothing — inference and Grad-CAM's forward-only parts).
 *
 * Ops read like the math and never return a status: on failure (shape mismatch, out of memory, …) they return
 * NULL and the context remembers the FIRST error; every op given a NULL input returns NULL at once. Check
 * bl_ctx_status(ctx) once after a forward/backward:
 *
 *     bl_tensor *h = bl_relu(ctx, bl_batchnorm2d(ctx, bl_conv2d(ctx, x, w, NULL, conv3x3), g, b, rm, rv, 1e-5f, 0.1f));
 *     bl_tensor *loss = bl_bce_with_logits(ctx, bl_linear(ctx, bl_flatten(ctx, h), fc_w, fc_b), target, NULL);
 *     bl_backward(ctx, loss);                 // parameter .grad accumulate
 *     if (bl_ctx_status(ctx)) fprintf(stderr, "%s\n", bl_last_error());
 *     bl_optimizer_step(opt); bl_zero_grad(ctx); bl_step_end(ctx);   // step arena and tape reset
 *
 * Tape: each op that has an input requiring a gradient appends one entry (op name, inputs, output, saved
 * tensors, attributes, backward function). bl_backward walks the tape in reverse; backward functions ACCUMULATE
 * into input gradients, so a tensor used twice (ResNet shortcut, DenseNet concat) gets the sum. An intermediate's
 * gradient is freed during backward once nothing needs it; call bl_requires_grad(t) on an intermediate BEFORE using
 * it to have backward reach it and keep its gradient until bl_step_end (Grad-CAM on a frozen network). */
#ifndef BLASTO_AUTOGRAD_H
#define BLASTO_AUTOGRAD_H

#include <stdint.h>

#include "core/arena.h"
#include "core/kernels.h"
#include "core/status.h"
#include "core/tensor.h"

typedef struct bl_ctx bl_ctx;

/* ---- context ---- */
bl_status bl_ctx_create(const bl_kernels *kernels, bl_ctx **out);
void bl_ctx_free(bl_ctx *ctx);
const bl_kernels *bl_ctx_kernels(const bl_ctx *ctx);
bl_status bl_ctx_status(const bl_ctx *ctx);     /* first error since the last clear (message: bl_last_error) */
const char *bl_ctx_error(const bl_ctx *ctx);    /* that error's message, kept in the context */
void bl_ctx_clear_error(bl_ctx *ctx);
/* Record an error in the context (first one wins) from code outside core (layers, models); returns NULL so a
 * forward can `return bl_ctx_fail(...)`. */
bl_tensor *bl_ctx_fail(bl_ctx *ctx, bl_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void bl_set_training(bl_ctx *ctx, int training);
int bl_is_training(const bl_ctx *ctx);
void bl_set_grad_enabled(bl_ctx *ctx, int enabled);
/* Synchronised batchnorm (docs/distributed.md): with a reducer set, training-mode batchnorm takes its statistics
 * over the batches of every process that shares it — sum(user, values, n) must replace values[n] by their sum over
 * those processes, identically on each (bl_world_allreduce_sum_f64), and every process must run the same ops. The
 * backend needs the optional slots batchnorm2d_moments and batchnorm2d_backward_dx (ref and cpu have them). NULL
 * (the default): each process's own batch. */
typedef bl_status bl_batch_reduce_fn(void *user, double *values, int64_t n);
void bl_set_batch_reduce(bl_ctx *ctx, bl_batch_reduce_fn *sum, void *user);
int bl_grad_enabled(const bl_ctx *ctx);
void bl_set_seed(bl_ctx *ctx, uint64_t seed);   /* dropout streams: (seed, BL_RNG_DROPOUT, step·2^20 + call) */
int64_t bl_ctx_step(const bl_ctx *ctx);         /* number of bl_step_end calls so far */
void bl_ctx_set_step(bl_ctx *ctx, int64_t step); /* for resume */
bl_arena *bl_ctx_persistent(bl_ctx *ctx);
bl_arena *bl_ctx_step_arena(bl_ctx *ctx);
/* The activation-gradient pool (core/grad_pool.h): bytes held, the most in use at once, blocks allocated so far. */
typedef struct bl_grad_pool_stats {
    size_t bytes_total, high_water, allocations;
} bl_grad_pool_stats;
bl_grad_pool_stats bl_ctx_grad_pool_stats(const bl_ctx *ctx);

/* ---- tensors ---- */
/* Parameter: persistent, requires_grad; its .grad is allocated, zeroed, by the first backward or optimizer (or
 * bl_alloc_param_grads). Registered by name (bl_param_count/at). */
bl_tensor *bl_param(bl_ctx *ctx, const char *name, int ndim, const int *shape);
/* Buffer: persistent, no gradient (BN running statistics). Registered by name too. */
bl_tensor *bl_buffer(bl_ctx *ctx, const char *name, int ndim, const int *shape);
/* Step-arena tensor (uninitialised / zeroed). */
bl_tensor *bl_tensor_new(bl_ctx *ctx, int ndim, const int *shape);
bl_tensor *bl_tensor_zeros(bl_ctx *ctx, int ndim, const int *shape);
/* Step-arena tensor holding a copy of `count` floats (count must equal the shape's numel). */
bl_tensor *bl_tensor_from(bl_ctx *ctx, int ndim, const int *shape, const float *values);
/* Where tensor data lives: the backend's memory (kernels.h `host_memory`). Code outside the kernels may read
 * or write t->data directly only when bl_ctx_host_memory() is 1; otherwise it moves values with these two
 * (count = t->numel floats; errors, including a device backend's, become the context's sticky error). */
int bl_ctx_host_memory(const bl_ctx *ctx);
bl_status bl_tensor_upload(bl_ctx *ctx, bl_tensor *t, const float *values);
bl_status bl_tensor_download(bl_ctx *ctx, const bl_tensor *t, float *values);
/* Persistent tensor without registration (optimizer state, constants). */
bl_tensor *bl_tensor_persistent(bl_ctx *ctx, int ndim, const int *shape);
int bl_param_count(const bl_ctx *ctx);  /* parameters and buffers, in creation order */
bl_tensor *bl_param_at(const bl_ctx *ctx, int i);
bl_tensor *bl_param_find(const bl_ctx *ctx, const char *name);
void bl_requires_grad(bl_tensor *t);     /* ask backward to produce t->grad (inputs, intermediates) */

/* ---- tape ---- */
/* Seed ∂loss/∂loss = 1 (loss must have one element) and run the tape backward. */
bl_status bl_backward(bl_ctx *ctx, bl_tensor *loss);
/* Seed ∂L/∂y = dy (same shape as y; dy may live anywhere) and run the tape backward. */
bl_status bl_backward_with(bl_ctx *ctx, bl_tensor *y, const float *dy);
void bl_zero_grad(bl_ctx *ctx);          /* zero every parameter's .grad */
/* Allocate, zeroed, the .grad of every parameter that has none yet (a backward or an optimizer does it on first use;
 * call it to read or seed the gradients before that). Returns ctx's status. */
bl_status bl_alloc_param_grads(bl_ctx *ctx);
/* End of a step: clear the tape, reset the step arena (all step tensors become invalid), step counter += 1. */
void bl_step_end(bl_ctx *ctx);
int bl_tape_length(const bl_ctx *ctx);

/* ---- ops (each: forward now, backward recorded on the tape) ---- */
typedef struct bl_conv2d_args {
    int stride_h, stride_w; /* 0 means 1 */
    int pad_h, pad_w;
    int dil_h, dil_w;       /* 0 means 1 */
} bl_conv2d_args;
/* x [N,Cin,H,W], w [Cout,Cin,kh,kw], b [Cout] or NULL → [N,Cout,Ho,Wo] */
bl_tensor *bl_conv2d(bl_ctx *ctx, bl_tensor *x, bl_tensor *w, bl_tensor *b, bl_conv2d_args a);

/* The adjoint of conv2d with respect to its input (torch ConvTranspose2d): x [N,Cin,H,W], w [Cin,Cout,kh,kw],
 * b [Cout] or NULL → [N,Cout,Ho,Wo], Ho = (H−1)·stride − 2·pad + dil·(kh−1) + out_pad + 1 (likewise Wo);
 * 0 ≤ out_pad < stride. U-Net's 2× up-convolution is kernel 2, stride 2. */
typedef struct bl_conv_transpose2d_args {
    int stride_h, stride_w;   /* 0 means 1 */
    int pad_h, pad_w;
    int dil_h, dil_w;         /* 0 means 1 */
    int out_pad_h, out_pad_w; /* rows / columns added at the bottom / right */
} bl_conv_transpose2d_args;
bl_tensor *bl_conv_transpose2d(bl_ctx *ctx, bl_tensor *x, bl_tensor *w, bl_tensor *b, bl_conv_transpose2d_args a);

/* Bilinear resize to [N,C,h_out,w_out], torch F.interpolate(mode="bilinear", align_corners=False, size=…) */
bl_tensor *bl_upsample_bilinear2d(bl_ctx *ctx, bl_tensor *x, int h_out, int w_out);

/* training: batch statistics and running-stat update (if running_* non-NULL); eval: running statistics.
 * x [N,C,H,W], gamma/beta/running_mean/running_var [C] */
bl_tensor *bl_batchnorm2d(bl_ctx *ctx, bl_tensor *x, bl_tensor *gamma, bl_tensor *beta, bl_tensor *running_mean,
                          bl_tensor *running_var, float eps, float momentum);

typedef struct bl_pool2d_args {
    int kernel_h, kernel_w;
    int stride_h, stride_w; /* 0 means = kernel */
    int pad_h, pad_w;
    int count_include_pad;  /* avg pool only (torch default: 1) */
} bl_pool2d_args;
bl_tensor *bl_maxpool2d(bl_ctx *ctx, bl_tensor *x, bl_pool2d_args a);
bl_tensor *bl_avgpool2d(bl_ctx *ctx, bl_tensor *x, bl_pool2d_args a);
/* [N,C,H,W] → [N,C] */
bl_tensor *bl_global_avgpool(bl_ctx *ctx, bl_tensor *x);
/* x [N,in], w [out,in], b [out] or NULL → [N,out] */
bl_tensor *bl_linear(bl_ctx *ctx, bl_tensor *x, bl_tensor *w, bl_tensor *b);
bl_tensor *bl_relu(bl_ctx *ctx, bl_tensor *x);
bl_tensor *bl_sigmoid(bl_ctx *ctx, bl_tensor *x);
bl_tensor *bl_add(bl_ctx *ctx, bl_tensor *a, bl_tensor *b);   /* same shapes */

/* ---- in place: bl_<op>_inplace(ctx, first, …) ----
 * One contract for all three: the result may be written over the FIRST argument, which the caller gives up — no
 * one may read it afterwards (pass a fresh output nobody else holds, typically the op just before's). The return
 * value is the result: either the first argument, overwritten, or a new tensor when in place is not possible
 * (then the first argument is left as it was). Values and gradients are bitwise those of bl_<op>; what changes is
 * memory: no new output, and for ReLU with a tape no saved input either.
 * When in place is possible:
 *   bl_relu_inplace        unless the first argument is a view or keeps a gradient; with a tape only when it is the
 *                          output of the newest entry and that op's backward never reads its output (conv2d,
 *                          batchnorm2d, add, linear): the ReLU folds into that entry, which masks its incoming
 *                          gradient by y > 0 before its own backward (PyTorch's inplace=True).
 *   bl_add_inplace,        only when no tape entry is wanted (grad mode off, or nothing requires a gradient) and
 *   bl_batchnorm2d_inplace the first argument is not a view and keeps no gradient; batchnorm only in eval mode. */
bl_tensor *bl_relu_inplace(bl_ctx *ctx, bl_tensor *x);
bl_tensor *bl_add_inplace(bl_ctx *ctx, bl_tensor *a, bl_tensor *b);
bl_tensor *bl_batchnorm2d_inplace(bl_ctx *ctx, bl_tensor *x, bl_tensor *gamma, bl_tensor *beta,
                                  bl_tensor *running_mean, bl_tensor *running_var, float eps, float momentum);

/* inputs [N,Ci,H,W] (same N,H,W) → [N,ΣCi,H,W] */
bl_tensor *bl_concat_channels(bl_ctx *ctx, int count, bl_tensor *const *inputs);
/* a view with a new shape (same numel); one dimension may be −1 (inferred) */
bl_tensor *bl_reshape(bl_ctx *ctx, bl_tensor *x, int ndim, const int *shape);
/* [N, …] → [N, rest] */
bl_tensor *bl_flatten(bl_ctx *ctx, bl_tensor *x);
/* training: zero with probability p, scale the rest by 1/(1−p) (mask from the counter RNG); eval: identity */
bl_tensor *bl_dropout(bl_ctx *ctx, bl_tensor *x, float p);
/* z [N] or [N,1] logits, t targets (same numel), w per-sample weights or NULL → scalar weighted mean loss */
bl_tensor *bl_bce_with_logits(bl_ctx *ctx, bl_tensor *z, bl_tensor *t, bl_tensor *w);
/* Per-pixel classification (segmentation) losses over logits z [N,C,…] (classes along dim 1) and labels with one
 * element per pixel ([N,…], class indices 0 … C−1 stored as floats, or ignore_index: that pixel takes no part).
 * On a host-memory backend a label that is neither is an error naming it; on a device backend the loss is NaN.
 * softmax_cross_entropy: torch F.cross_entropy(z, labels, weight=w, ignore_index=…, reduction="mean"), the mean
 * weighted by w[label] (w [C] or NULL) → scalar. */
bl_tensor *bl_softmax_cross_entropy(bl_ctx *ctx, bl_tensor *z, bl_tensor *labels, bl_tensor *w, int ignore_index);
/* soft Dice over the batch: 1 − mean over classes of (2·Σ p·g + smooth)/(Σ p + Σ g + smooth), p = softmax(z) over
 * classes, g = one-hot(labels) (docs/ops/dice_loss.md) → scalar */
typedef struct bl_dice_loss_args {
    int ignore_index;
    float smooth;        /* ≥ 0; 1 is usual (an empty class then scores 1, not 0/0) */
    int skip_background; /* average over classes 1 … C−1 only */
} bl_dice_loss_args;
bl_tensor *bl_dice_loss(bl_ctx *ctx, bl_tensor *z, bl_tensor *labels, bl_dice_loss_args a);
bl_tensor *bl_sum(bl_ctx *ctx, bl_tensor *x);   /* → scalar */
bl_tensor *bl_mean(bl_ctx *ctx, bl_tensor *x);  /* → scalar */

#endif
