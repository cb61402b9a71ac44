/* op_fused.c — the fused fast-path ops of op_fused.h. They record no tape entries: the fast path is taken only
 * when none is wanted, and otherwise the unfused ops (which record their own) run. */
#include "core/op_fused.h"

#include "core/tape.h"

bl_tensor *bl_batchnorm2d_relu(bl_ctx *ctx, bl_tensor *x, bl_tensor *gamma, bl_tensor *beta, bl_tensor *running_mean,
                               bl_tensor *running_var, float eps, float momentum) {
    bl_tensor *in[5] = {x, gamma, beta, running_mean, running_var};
    int fusable = !ctx->status && x && gamma && beta && running_mean && running_var && !ctx->training &&
                  ctx->k->batchnorm2d_relu_forward_eval && !tape_wanted(ctx, 3, in) && x->ndim == 4 && eps > 0.0f;
    for (int i = 1; fusable && i < 5; i++)
        fusable = in[i]->ndim == 1 && in[i]->shape[0] == x->shape[1];
    /* anything unusual (errors, shapes to refuse, training, gradients) goes through the ops that handle it */
    if (!fusable) return bl_relu_inplace(ctx, bl_batchnorm2d(ctx, x, gamma, beta, running_mean, running_var, eps, momentum));
    if (ctx_check_inputs(ctx, "batchnorm2d_relu", 5, in)) return NULL;
    bl_batchnorm2d_shape s = {.n = x->shape[0], .c = x->shape[1], .h = x->shape[2], .w = x->shape[3], .eps = eps,
                              .momentum = momentum};
    bl_tensor *y = ctx_new_tensor(ctx, 4, x->shape);
    if (!y) return NULL;
    ctx->k->batchnorm2d_relu_forward_eval(ctx->k, &s, x->data, gamma->data, beta->data, running_mean->data,
                                          running_var->data, y->data);
    return y;
}

bl_tensor *bl_batchnorm2d_relu_channels(bl_ctx *ctx, bl_tensor *x, int c, bl_tensor *gamma, bl_tensor *beta,
                                        bl_tensor *running_mean, bl_tensor *running_var, float eps) {
    bl_tensor *in[5] = {x, gamma, beta, running_mean, running_var};
    if (ctx_check_inputs(ctx, "batchnorm2d_relu_channels", 5, in)) return NULL;
    char sx[64];
    if (x->ndim != 4 || c < 1 || c > x->shape[1])
        return ctx_failf(ctx, BL_ERR_INVALID, "batchnorm2d_relu_channels: x %s, c %d: expected [N,C,H,W] and 1 ≤ c ≤ C",
                         bl_shape_str(x, sx, sizeof sx), c);
    for (int i = 1; i < 5; i++)
        if (in[i]->ndim != 1 || in[i]->shape[0] != c)
            return ctx_failf(ctx, BL_ERR_INVALID, "batchnorm2d_relu_channels: parameter %d %s: expected [%d]", i,
                             bl_shape_str(in[i], sx, sizeof sx), c);
    if (!(eps > 0.0f)) return ctx_failf(ctx, BL_ERR_INVALID, "batchnorm2d_relu_channels: eps %g: expected > 0", eps);
    if (tape_wanted(ctx, 5, in))
        return ctx_failf(ctx, BL_ERR_INVALID, "batchnorm2d_relu_channels: inference only (a gradient is wanted)");
    int shape[4] = {x->shape[0], c, x->shape[2], x->shape[3]};
    bl_tensor *y = ctx_new_tensor(ctx, 4, shape);
    if (!y) return NULL;
    /* one call: x's samples are x->shape[1] channels apart, the kernel reads the first c of each (x_sample_stride) */
    bl_batchnorm2d_shape s = {.n = x->shape[0], .c = c, .h = x->shape[2], .w = x->shape[3], .eps = eps};
    s.x_sample_stride = (int64_t)x->shape[1] * s.h * s.w;
    if (ctx->k->batchnorm2d_relu_forward_eval) {
        ctx->k->batchnorm2d_relu_forward_eval(ctx->k, &s, x->data, gamma->data, beta->data, running_mean->data,
                                              running_var->data, y->data);
    } else {
        ctx->k->batchnorm2d_forward_eval(ctx->k, &s, x->data, gamma->data, beta->data, running_mean->data,
                                         running_var->data, y->data);
        ctx->k->relu_forward(ctx->k, y->numel, y->data, y->data);
    }
    return y;
}

bl_status bl_copy_channels(bl_ctx *ctx, bl_tensor *dst, int c_offset, bl_tensor *src) {
    bl_tensor *in[2] = {dst, src};
    if (ctx_check_inputs(ctx, "copy_channels", 2, in)) return ctx->status;
    char sd[64], ss[64];
    if (dst->ndim != 4 || src->ndim != 4 || dst->shape[0] != src->shape[0] || dst->shape[2] != src->shape[2] ||
        dst->shape[3] != src->shape[3] || c_offset < 0 || c_offset > dst->shape[1] - src->shape[1]) {
        ctx_failf(ctx, BL_ERR_INVALID, "copy_channels: src %s at channel %d of dst %s: expected [N,Cs,H,W] inside "
                  "[N,Cd,H,W]", bl_shape_str(src, ss, sizeof ss), c_offset, bl_shape_str(dst, sd, sizeof sd));
        return ctx->status;
    }
    if (tape_wanted(ctx, 2, in)) {
        ctx_failf(ctx, BL_ERR_INVALID, "copy_channels: inference only (a gradient is wanted)");
        return ctx->status;
    }
    ctx->k->concat_channels_forward(ctx->k, src->shape[0], src->shape[1], dst->shape[1], c_offset,
                                    (int64_t)src->shape[2] * src->shape[3], src->data, dst->data);
    return ctx->status;
}
