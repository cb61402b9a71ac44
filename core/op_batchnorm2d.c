/* op_batchnorm2d.c — autograd wrapper of batchnorm2d (math: docs/ops/batchnorm2d.md).
 * Training mode normalises with the batch statistics and updates the running statistics exactly as
 * torch.nn.BatchNorm2d (unbiased variance, momentum); eval mode uses the running statistics, whose gradient path
 * is then the simple dx = dy·γ·invstd. */
#include <math.h>
#include <stdlib.h>

#include "core/tape.h"

/* ---- synchronised statistics (ctx->batch_reduce, docs/distributed.md) ----------------------------------------
 * Every process computes its moments (mean_r, m2_r over its n_r elements per channel); two sums over the processes
 * combine them exactly as one pass over the whole batch would define them (Chan et al.'s parallel variance):
 *   N = Σ n_r,  mean = Σ n_r·mean_r / N,  M2 = Σ (m2_r + n_r·(mean_r − mean)²),  var = M2/N (biased);
 * then the eval kernel normalises with (mean, var) rounded to float. In the backward each process sums Σdy and
 * Σdy·x̂ over its elements, one more sum over the processes gives the batch's, and batchnorm2d_backward_dx applies
 * the training formula with them. The parameter gradients get only this process's sums: the gradient all-reduce
 * of data-parallel training adds the processes' parts. */

/* c floats of backend memory ↔ host doubles */
static void sync_download(bl_ctx *ctx, const float *src, int c, float *tmp, double *dst) {
    ctx->k->download(tmp, src, sizeof(float) * (size_t)c);
    for (int i = 0; i < c; i++) dst[i] = tmp[i];
}

static void sync_upload(bl_ctx *ctx, const double *src, int c, float *tmp, float *dst) {
    for (int i = 0; i < c; i++) tmp[i] = (float)src[i];
    ctx->k->upload(dst, tmp, sizeof(float) * (size_t)c);
}

/* The synchronised training forward: y, mean and invstd of the whole batch, the running statistics updated;
 * the batch's element count per channel → *count. Returns 0, or 1 with the context's error set. */
static int sync_forward(bl_ctx *ctx, const bl_batchnorm2d_shape *s, const bl_tensor *x, const bl_tensor *gamma,
                        const bl_tensor *beta, bl_tensor *y, bl_tensor *running_mean, bl_tensor *running_var,
                        bl_tensor *mean, bl_tensor *invstd, double *count) {
    const bl_kernels *k = ctx->k;
    int c = s->c;
    bl_tensor *var = ctx_new_tensor(ctx, 1, &c);
    double *h = malloc(sizeof(double) * (size_t)(5 * c + 1)), *local_mean = h + c + 1, *local_m2 = local_mean + c,
           *batch_mean = local_m2 + c, *work = batch_mean + c;
    float *tmp = malloc(sizeof(float) * (size_t)c);
    if (!var || !h || !tmp) {
        free(h);
        free(tmp);
        if (var) ctx_failf(ctx, BL_ERR_NOMEM, "batchnorm2d: out of memory for the synchronised statistics");
        return 1;
    }
    double n_r = (double)s->n * s->h * s->w;
    k->batchnorm2d_moments(k, s, x->data, mean->data, invstd->data); /* mean_r, m2_r (scratch use of the outputs) */
    sync_download(ctx, mean->data, c, tmp, local_mean);
    sync_download(ctx, invstd->data, c, tmp, local_m2);
    for (int i = 0; i < c; i++) h[i] = n_r * local_mean[i];
    h[c] = n_r;
    bl_status st = ctx->batch_reduce(ctx->batch_reduce_user, h, c + 1);
    double total = h[c];
    for (int i = 0; !st && i < c; i++) {
        batch_mean[i] = h[i] / total;
        h[i] = local_m2[i] + n_r * (local_mean[i] - batch_mean[i]) * (local_mean[i] - batch_mean[i]);
    }
    if (!st) st = ctx->batch_reduce(ctx->batch_reduce_user, h, c);
    if (st) {
        ctx_failf(ctx, st, "batchnorm2d: synchronised statistics: %s", bl_last_error());
    } else {
        /* the biased variance, rounded to float as the eval kernel reads it; invstd from that float */
        for (int i = 0; i < c; i++) work[i] = (float)(h[i] / total);
        sync_upload(ctx, batch_mean, c, tmp, mean->data);
        sync_upload(ctx, work, c, tmp, var->data);
        for (int i = 0; i < c; i++) work[i] = 1.0 / sqrt(work[i] + (double)s->eps);
        sync_upload(ctx, work, c, tmp, invstd->data);
        k->batchnorm2d_forward_eval(k, s, x->data, gamma->data, beta->data, mean->data, var->data, y->data);
        if (running_mean && running_var) { /* torch: the unbiased variance of the whole batch */
            double m = (double)s->momentum;
            sync_download(ctx, running_mean->data, c, tmp, work);
            for (int i = 0; i < c; i++) work[i] = (1.0 - m) * work[i] + m * batch_mean[i];
            sync_upload(ctx, work, c, tmp, running_mean->data);
            sync_download(ctx, running_var->data, c, tmp, work);
            for (int i = 0; i < c; i++)
                work[i] = (1.0 - m) * work[i] + m * (total > 1 ? h[i] / (total - 1) : NAN);
            sync_upload(ctx, work, c, tmp, running_var->data);
        }
        *count = total;
    }
    free(h);
    free(tmp);
    return st != BL_OK;
}

static void sync_backward(bl_ctx *ctx, tape_entry *e, float *dx, float *dgamma, float *dbeta) {
    const bl_kernels *k = ctx->k;
    const bl_batchnorm2d_shape *s = &e->attr.batchnorm2d.shape;
    bl_tensor *x = e->in[0], *gamma = e->in[1];
    const float *dy = e->out->grad->data, *mean = e->saved[0]->data, *invstd = e->saved[1]->data;
    int c = s->c;
    if (dgamma || dbeta) /* this process's part of the parameter gradients */
        k->batchnorm2d_backward(k, s, 0, x->data, dy, gamma->data, mean, invstd, NULL, dgamma, dbeta);
    if (!dx) return;
    float *sums = tape_scratch(ctx, 2 * (int64_t)c), *tmp = malloc(sizeof(float) * (size_t)(2 * c));
    double *h = malloc(sizeof(double) * (size_t)(2 * c));
    if (sums && tmp && h) {
        k->fill(2 * (int64_t)c, 0.0f, sums);
        /* Σdy → sums[0, c), Σdy·x̂ → sums[c, 2c) (the eval form of the backward, with the batch's statistics) */
        k->batchnorm2d_backward(k, s, 0, x->data, dy, gamma->data, mean, invstd, NULL, sums + c, sums);
        sync_download(ctx, sums, 2 * c, tmp, h);
        bl_status st = ctx->batch_reduce(ctx->batch_reduce_user, h, 2 * c);
        if (st) {
            ctx_failf(ctx, st, "batchnorm2d backward: synchronised sums: %s", bl_last_error());
        } else {
            sync_upload(ctx, h, 2 * c, tmp, sums);
            k->batchnorm2d_backward_dx(k, s, x->data, dy, gamma->data, mean, invstd, sums, sums + c,
                                       e->attr.batchnorm2d.synced_count, dx);
        }
    } else if (sums) {
        ctx_failf(ctx, BL_ERR_NOMEM, "batchnorm2d backward: out of memory for the synchronised sums");
    }
    if (sums) tape_scratch_release(ctx, sums);
    free(tmp);
    free(h);
}

/* saved[0] = mean [C], saved[1] = invstd [C] (batch ones in training, running-derived in eval) */
static void batchnorm2d_backward(bl_ctx *ctx, tape_entry *e) {
    bl_tensor *x = e->in[0], *gamma = e->in[1], *beta = e->in[2];
    float *dx = tape_grad(ctx, x), *dgamma = tape_grad(ctx, gamma), *dbeta = tape_grad(ctx, beta);
    if (ctx->status) return;
    if (e->attr.batchnorm2d.synced_count > 0) {
        sync_backward(ctx, e, dx, dgamma, dbeta);
        return;
    }
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
    double synced_count = 0;
    if (training && ctx->batch_reduce) {
        if (!ctx->k->batchnorm2d_moments || !ctx->k->batchnorm2d_backward_dx)
            return ctx_failf(ctx, BL_ERR_UNSUPPORTED, "batchnorm2d: the %s backend has no synchronised batchnorm "
                             "(slots batchnorm2d_moments, batchnorm2d_backward_dx)", ctx->k->name);
        if (sync_forward(ctx, &s, x, gamma, beta, y, running_mean, running_var, mean, invstd, &synced_count))
            return NULL;
    } else if (training) {
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
        e->attr.batchnorm2d.synced_count = synced_count;
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
