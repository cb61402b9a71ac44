/* optim.h — SGD and Adam/AdamW, update formulas exactly as torch.optim (torch 1.13, single-tensor path).
 *
 * An optimizer covers every parameter of the context that requires a gradient (buffers are skipped), allocates
 * its state (momentum buffers, Adam moments) in the persistent arena at creation, and applies the backend's
 * sgd_update / adam_update kernel per parameter. `lr` may be changed between steps (schedules). The formulas
 * are written out in kernels.h and derived in docs/ops/sgd.md and docs/ops/adam.md. */
#ifndef BLASTO_OPTIM_H
#define BLASTO_OPTIM_H

#include <stdint.h>

#include "core/autograd.h"

typedef enum bl_optim_kind { BL_OPTIM_SGD = 0, BL_OPTIM_ADAM = 1, BL_OPTIM_ADAMW = 2 } bl_optim_kind;

typedef struct bl_optimizer {
    bl_optim_kind kind;
    bl_ctx *ctx;
    float lr;
    float momentum, dampening; /* SGD */
    int nesterov;              /* SGD */
    float beta1, beta2, eps;   /* Adam */
    float weight_decay;
    int64_t step;              /* completed steps (Adam's t after the update) */
    int n_params;
    bl_tensor **params;        /* the parameters it updates */
    bl_tensor **state_a;       /* SGD momentum buffer or Adam m (NULL entries when unused) */
    bl_tensor **state_b;       /* Adam v */
} bl_optimizer;

/* torch defaults: SGD(lr, momentum=0, dampening=0, weight_decay=0, nesterov=False);
 * Adam(lr=1e-3, betas=(0.9,0.999), eps=1e-8, weight_decay=0); AdamW(..., weight_decay=1e-2) */
bl_status bl_sgd_create(bl_ctx *ctx, float lr, float momentum, float dampening, float weight_decay, int nesterov,
                        bl_optimizer **out);
bl_status bl_adam_create(bl_ctx *ctx, bl_optim_kind kind, float lr, float beta1, float beta2, float eps,
                         float weight_decay, bl_optimizer **out);
/* Apply one update from the parameters' current .grad. */
bl_status bl_optimizer_step(bl_optimizer *opt);
void bl_optimizer_free(bl_optimizer *opt);

#endif
