/* optim.c — SGD and Adam/AdamW over a context's parameters (formulas: kernels.h, docs/ops/sgd.md, adam.md). */
#include "core/optim.h"

#include <stdlib.h>

#include "core/tape.h"

/* Collect the parameters that require a gradient and allocate `n_state` zeroed state tensors per parameter. */
static bl_status optimizer_init(bl_ctx *ctx, bl_optimizer *opt, int n_state) {
    if (ctx_param_grads(ctx)) return ctx->status; /* the optimizer reads every .grad, from its first step */
    int n = 0;
    for (int i = 0; i < bl_param_count(ctx); i++)
        if (bl_param_at(ctx, i)->requires_grad) n++;
    opt->ctx = ctx;
    opt->n_params = n;
    opt->params = calloc((size_t)(n ? n : 1), sizeof *opt->params);
    opt->state_a = calloc((size_t)(n ? n : 1), sizeof *opt->state_a);
    opt->state_b = calloc((size_t)(n ? n : 1), sizeof *opt->state_b);
    if (!opt->params || !opt->state_a || !opt->state_b)
        return bl_fail(BL_ERR_NOMEM, "optimizer: out of memory for %d parameters", n);
    int j = 0;
    for (int i = 0; i < bl_param_count(ctx); i++) {
        bl_tensor *p = bl_param_at(ctx, i);
        if (!p->requires_grad) continue;
        opt->params[j] = p;
        if (n_state >= 1 && !(opt->state_a[j] = bl_tensor_persistent(ctx, p->ndim, p->shape))) return ctx->status;
        if (n_state >= 2 && !(opt->state_b[j] = bl_tensor_persistent(ctx, p->ndim, p->shape))) return ctx->status;
        j++;
    }
    return BL_OK;
}

bl_status bl_sgd_create(bl_ctx *ctx, float lr, float momentum, float dampening, float weight_decay, int nesterov,
                        bl_optimizer **out) {
    *out = NULL;
    if (!(lr >= 0.0f)) return bl_fail(BL_ERR_INVALID, "sgd: lr: expected ≥ 0, got %g", lr);
    if (!(momentum >= 0.0f)) return bl_fail(BL_ERR_INVALID, "sgd: momentum: expected ≥ 0, got %g", momentum);
    if (!(weight_decay >= 0.0f)) return bl_fail(BL_ERR_INVALID, "sgd: weight_decay: expected ≥ 0, got %g", weight_decay);
    if (nesterov && (momentum <= 0.0f || dampening != 0.0f))
        return bl_fail(BL_ERR_INVALID, "sgd: nesterov: needs momentum > 0 and dampening 0 (as torch)");
    bl_optimizer *opt = calloc(1, sizeof *opt);
    if (!opt) return bl_fail(BL_ERR_NOMEM, "sgd: out of memory");
    *opt = (bl_optimizer){.kind = BL_OPTIM_SGD, .lr = lr, .momentum = momentum, .dampening = dampening,
                          .weight_decay = weight_decay, .nesterov = nesterov != 0};
    bl_status st = optimizer_init(ctx, opt, momentum != 0.0f ? 1 : 0);
    if (st) {
        bl_optimizer_free(opt);
        return st;
    }
    *out = opt;
    return BL_OK;
}

bl_status bl_adam_create(bl_ctx *ctx, bl_optim_kind kind, float lr, float beta1, float beta2, float eps,
                         float weight_decay, bl_optimizer **out) {
    *out = NULL;
    if (kind != BL_OPTIM_ADAM && kind != BL_OPTIM_ADAMW)
        return bl_fail(BL_ERR_INVALID, "adam: kind: expected BL_OPTIM_ADAM or BL_OPTIM_ADAMW");
    if (!(lr >= 0.0f)) return bl_fail(BL_ERR_INVALID, "adam: lr: expected ≥ 0, got %g", lr);
    if (!(beta1 >= 0.0f && beta1 < 1.0f)) return bl_fail(BL_ERR_INVALID, "adam: beta1: expected [0,1), got %g", beta1);
    if (!(beta2 >= 0.0f && beta2 < 1.0f)) return bl_fail(BL_ERR_INVALID, "adam: beta2: expected [0,1), got %g", beta2);
    if (!(eps >= 0.0f)) return bl_fail(BL_ERR_INVALID, "adam: eps: expected ≥ 0, got %g", eps);
    if (!(weight_decay >= 0.0f)) return bl_fail(BL_ERR_INVALID, "adam: weight_decay: expected ≥ 0, got %g", weight_decay);
    bl_optimizer *opt = calloc(1, sizeof *opt);
    if (!opt) return bl_fail(BL_ERR_NOMEM, "adam: out of memory");
    *opt = (bl_optimizer){.kind = kind, .lr = lr, .beta1 = beta1, .beta2 = beta2, .eps = eps,
                          .weight_decay = weight_decay};
    bl_status st = optimizer_init(ctx, opt, 2);
    if (st) {
        bl_optimizer_free(opt);
        return st;
    }
    *out = opt;
    return BL_OK;
}

bl_status bl_optimizer_step(bl_optimizer *opt) {
    if (opt->ctx->status) return opt->ctx->status;
    const bl_kernels *k = bl_ctx_kernels(opt->ctx);
    int first = opt->step == 0;
    opt->step++;
    for (int i = 0; i < opt->n_params; i++) {
        bl_tensor *p = opt->params[i];
        if (opt->kind == BL_OPTIM_SGD)
            k->sgd_update(k, p->numel, p->data, p->grad->data, opt->state_a[i] ? opt->state_a[i]->data : NULL, opt->lr,
                          opt->momentum, opt->dampening, opt->weight_decay, opt->nesterov, first);
        else
            k->adam_update(k, p->numel, p->data, p->grad->data, opt->state_a[i]->data, opt->state_b[i]->data, opt->lr,
                           opt->beta1, opt->beta2, opt->eps, opt->weight_decay, opt->kind == BL_OPTIM_ADAMW,
                           opt->step);
    }
    return ctx_check_backend(opt->ctx); /* a device backend's failed update becomes the sticky error */
}

void bl_optimizer_free(bl_optimizer *opt) {
    if (!opt) return;
    free(opt->params);
    free(opt->state_a);
    free(opt->state_b);
    free(opt);
}
