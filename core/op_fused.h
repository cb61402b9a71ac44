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

#include "autograd.h"

bl_tensor *bl_batchnorm2d_relu(bl_ctx *ctx, bl_tensor *x, bl_tensor *gamma, bl_tensor *beta, bl_tensor *running_mean,
                               bl_tensor *running_var, float eps, float momentum);

#endif
