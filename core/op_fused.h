/* op_fused.h — fused fast paths: one op that computes what a short chain of ops computes, in one pass, with the
 * same result bit for bit, used where no gradient is recorded (inference). Each falls back to the unfused chain
 * when it cannot take the fast path, so callers may use it unconditionally.
 *
 * bl_batchnorm2d_relu(ctx, x, γ, β, running_mean, running_var, eps, momentum)
 *     = bl_relu(ctx, bl_batchnorm2d(ctx, x, γ, β, running_mean, running_var, eps, momentum))
 * Fused (one kernel, one output tensor instead of two — less memory traffic and a smaller step arena) when the
 * context is in eval mode, no tape entry is wanted (grad mode off, or nothing requires a gradient) and the backend
 * has the batchnorm2d_relu_forward_eval slot; otherwise exactly the composition above. */
#ifndef BLASTO_OP_FUSED_H
#define BLASTO_OP_FUSED_H

#include "core/autograd.h"

bl_tensor *bl_batchnorm2d_relu(bl_ctx *ctx, bl_tensor *x, bl_tensor *gamma, bl_tensor *beta, bl_tensor *running_mean,
                               bl_tensor *running_var, float eps, float momentum);

/* ---- DenseNet's block buffer (inference): the features of a dense block live in one [N, C_final, H, W] tensor
 * that each layer reads a prefix of and appends to, instead of being concatenated again for every layer. Both ops
 * record no tape entry and refuse (an error, nothing written) when a gradient would be wanted: they are for
 * inference. Values are bit for bit those of the concatenate-then-batchnorm composition.
 *
 * bl_batchnorm2d_relu_channels(ctx, x, c, γ, β, running_mean, running_var, eps) = the eval batchnorm + ReLU
 * (bl_batchnorm2d_relu in eval mode) of the first c channels of x [N, C, H, W], as a new [N, c, H, W] tensor;
 * γ, β, running_mean, running_var are [c].
 * bl_copy_channels(ctx, dst, c_offset, src) writes src [N, Cs, H, W] into channels [c_offset, c_offset + Cs) of
 * dst [N, Cd, H, W] in place (what concatenation does for one part). Returns ctx's status. */
bl_tensor *bl_batchnorm2d_relu_channels(bl_ctx *ctx, bl_tensor *x, int c, bl_tensor *gamma, bl_tensor *beta,
                                        bl_tensor *running_mean, bl_tensor *running_var, float eps);
bl_status bl_copy_channels(bl_ctx *ctx, bl_tensor *dst, int c_offset, bl_tensor *src);

#endif
