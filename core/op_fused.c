/* op_fused.c — the fused fast-path ops of op_fused.h. They record no tape entries: the fast path is taken only
 * when none is wanted, and otherwise the unfused ops (which record their own) run. */
#include "op_fused.h"

#include "tape.h"

bl_tensor *bl_batchnorm2d_relu(bl_ctx *ctx, bl_tensor *x, bl_tensor *gamma, bl_tensor *beta, bl_tensor *running_mean,
                               bl_tensor *running_var, float eps, float momentum) {
    bl_tensor *in[5] = {x, gamma, beta, running_mean, running_var};
    int fusable = !ctx->status && x && gamma && beta && running_mean && running_var && !ctx->training &&
                  ctx->k->batchnorm2d_relu_forward_eval && !tape_wanted(ctx, 3, in) && x->ndim == 4 && eps > 0.0f;
    for (int i = 1; fusable && i < 5; i++)
        fusable = in[i]->ndim == 1 && in[i]->shape[0] == x->shape[1];
    /* anything unusual (errors, shapes to refuse, training, gradients) goes through the ops that handle it */
    if (!fusable) return bl_relu_(ctx, bl_batchnorm2d(ctx, x, gamma, beta, running_mean, running_var, eps, momentum));
    if (ctx_check_inputs(ctx, "batchnorm2d_relu", 5, in)) return NULL;
    bl_batchnorm2d_shape s = {.n = x->shape[0], .c = x->shape[1], .h = x->shape[2], .w = x->shape[3], .eps = eps,
                              .momentum = momentum};
    bl_tensor *y = ctx_new_tensor(ctx, 4, x->shape);
    if (!y) return NULL;
    ctx->k->batchnorm2d_relu_forward_eval(&s, x->data, gamma->data, beta->data, running_mean->data,
                                          running_var->data, y->data);
    return y;
}
