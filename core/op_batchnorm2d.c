/* op_batchnorm2d.c — autograd wrapper of batchnorm2d (math: docs/ops/batchnorm2d.md).
 * Training mode normalises with the batch statistics and updates the running statistics exactly as
 * torch.nn.BatchNorm2d (unbiased variance, momentum); eval mode uses the running statistics, whose gradient path
 * is then the simple dx = dy·γ·invstd. */
#include <math.h>

#include "core/tape.h"

/* saved[0] = mean [C], saved[1] = invstd [C] (batch ones in training, running-derived in eval) */
static void batchnorm2d_backward(bl_ctx *ctx, tape_entry *e) {
    bl_tensor *x = e->in[0], *gamma = e->in[1], *beta = e->in[2];
    float *dx = tape_grad(ctx, x), *dgamma = tape_grad(ctx, gamma), *dbeta = tape_grad(ctx, beta);
    if (ctx->status) return;
    ctx->k->batchnorm2d_backward(ctx->k, &e->attr.batchnorm2d.shape, e->attr.batchnorm2d.training, x->data,
                                 e->out->grad->data, gamma->data, e->saved[0]->data, e->saved[1]->data, dx, dgamma,
                                 dbeta);
}

/* in_place: in eval mode with no tape entry wanted, write y over x (the eval kernels read each element before
 * writing it); otherwise a new tensor */
static bl_tensor *batchnorm2d(bl_ctx *ctx, bl_tensor *x, bl_tensor *gamma, bl_tensor *beta, bl_tensor *running_mean,
                              bl_tensor *running_var, float eps, float momentum, int in_place) {
    bl_tensor *in[3] = {x, gamma, beta};
    if (ctx_check_inputs(ctx, "batchnorm2d", 3, in)) return NULL;
    char sx[64];
    if (x->ndim != 4)
        return ctx_failf(ctx, BL_ERR_INVALID, "batchnorm2d: x %s: expected [N,C,H,W]", bl_shape_str(x, sx, sizeof sx));
    int c = x->shape[1];
    bl_tensor *per_channel[4] = {gamma, beta, running_mean, running_var};
    const char *names[4] = {"gamma", "beta", "running_mean", "running_var"};
    for (int i = 0; i < 4; i++)
        if (per_channel[i] && (per_channel[i]->ndim != 1 || per_channel[i]->shape[0] != c))
            return ctx_failf(ctx, BL_ERR_INVALID, "batchnorm2d: %s %s: expected [%d]", names[i],
                             bl_shape_str(per_channel[i], sx, sizeof sx), c);
    if (!(eps > 0.0f)) return ctx_failf(ctx, BL_ERR_INVALID, "batchnorm2d: eps: expected > 0, got %g", eps);
    bl_batchnorm2d_shape s = {.n = x->shape[0], .c = c, .h = x->shape[2], .w = x->shape[3], .eps = eps,
                              .momentum = momentum};
    int training = ctx->training;
    if (training && (int64_t)s.n * s.h * s.w < 2)
        return ctx_failf(ctx, BL_ERR_INVALID,
                         "batchnorm2d: x %s: training needs more than one value per channel (as torch)",
                         bl_shape_str(x, sx, sizeof sx));
    if (!training && (!running_mean || !running_var))
        return ctx_failf(ctx, BL_ERR_INVALID, "batchnorm2d: eval mode needs running_mean and running_var");

    in_place = in_place && !training && !x->view_of && !x->retain_grad && !tape_wanted(ctx, 3, in);
    bl_tensor *y = in_place ? x : ctx_new_tensor(ctx, 4, x->shape);
    bl_tensor *mean = ctx_new_tensor(ctx, 1, &c), *invstd = ctx_new_tensor(ctx, 1, &c);
    if (!y || !mean || !invstd) return NULL;
    if (training) {
        ctx->k->batchnorm2d_forward_train(ctx->k, &s, x->data, gamma->data, beta->data, y->data,
                                          running_mean ? running_mean->data : NULL,
                                          running_var ? running_var->data : NULL, mean->data, invstd->data);
    } else {
        ctx->k->batchnorm2d_forward_eval(ctx->k, &s, x->data, gamma->data, beta->data, running_mean->data,
                                         running_var->data, y->data);
        ctx->k->batchnorm2d_eval_stats(ctx->k, c, eps, running_mean->data, running_var->data, mean->data, invstd->data);
    }
    if (tape_wanted(ctx, 3, in)) {
        tape_entry *e = tape_record(ctx, "batchnorm2d", batchnorm2d_backward, y, 3, in);
        if (!e) return NULL;
        e->attr.batchnorm2d.shape = s;
        e->attr.batchnorm2d.training = training;
        e->relu_fusable = 1; /* backward reads x, γ, the saved statistics and ∂L/∂y only */
        e->saved[0] = mean;
        e->saved[1] = invstd;
    }
    return y;
}

bl_tensor *bl_batchnorm2d(bl_ctx *ctx, bl_tensor *x, bl_tensor *gamma, bl_tensor *beta, bl_tensor *running_mean,
                          bl_tensor *running_var, float eps, float momentum) {
    return batchnorm2d(ctx, x, gamma, beta, running_mean, running_var, eps, momentum, 0);
}

bl_tensor *bl_batchnorm2d_inplace(bl_ctx *ctx, bl_tensor *x, bl_tensor *gamma, bl_tensor *beta, bl_tensor *running_mean,
                           bl_tensor *running_var, float eps, float momentum) {
    return batchnorm2d(ctx, x, gamma, beta, running_mean, running_var, eps, momentum, 1);
}
