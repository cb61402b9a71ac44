/* op_loss.c — binary cross-entropy with logits, sum and mean (math: docs/ops/bce_with_logits.md, sum.md). */
#include "core/tape.h"

/* in[0] = z (requires grad), in[1] = targets, in[2] = weights (optional); dz += dL·w(σ(z) − t)/n */
static void bce_with_logits_backward(bl_ctx *ctx, tape_entry *e) {
    float *dz = tape_grad(ctx, e->in[0]);
    if (!dz) return;
    const float *w = e->n_in > 2 ? e->in[2]->data : NULL;
    ctx->k->bce_with_logits_backward(ctx->k, e->attr.bce.n, e->in[0]->data, e->in[1]->data, w, e->out->grad->data, dz);
}

bl_tensor *bl_bce_with_logits(bl_ctx *ctx, bl_tensor *z, bl_tensor *t, bl_tensor *w) {
    bl_tensor *in[3] = {z, t, w};
    if (ctx_check_inputs(ctx, "bce_with_logits", 2, in)) return NULL;
    if (t->numel != z->numel || (w && w->numel != z->numel))
        return ctx_failf(ctx, BL_ERR_INVALID,
                         "bce_with_logits: logits have %lld elements, targets %lld, weights %lld: expected equal",
                         (long long)z->numel, (long long)t->numel, (long long)(w ? w->numel : z->numel));
    if (z->numel < 1 || z->numel > 0x7fffffff)
        return ctx_failf(ctx, BL_ERR_INVALID, "bce_with_logits: expected 1..2^31−1 samples, got %lld",
                         (long long)z->numel);
    int n = (int)z->numel;
    bl_tensor *loss = ctx_new_tensor(ctx, 0, NULL);
    if (!loss) return NULL;
    ctx->k->bce_with_logits_forward(ctx->k, n, z->data, t->data, w ? w->data : NULL, loss->data);
    /* targets and weights are data, never differentiated: only z decides whether to record */
    if (tape_wanted(ctx, 1, &z)) {
        tape_entry *e = tape_record(ctx, "bce_with_logits", bce_with_logits_backward, loss, w ? 3 : 2, in);
        if (!e) return NULL;
        e->attr.bce.n = n;
    }
    return loss;
}

/* dx_i += scale·dy for every i (scale = 1 for sum, 1/n for mean): the scalar dy broadcast back */
static void reduce_backward(bl_ctx *ctx, tape_entry *e) {
    float *dx = tape_grad(ctx, e->in[0]);
    if (dx) ctx->k->add_scalar(ctx->k, e->in[0]->numel, e->attr.reduce.scale, e->out->grad->data, dx);
}

static bl_tensor *reduce(bl_ctx *ctx, const char *op, bl_tensor *x, int mean) {
    if (ctx_check_inputs(ctx, op, 1, &x)) return NULL;
    if (mean && x->numel == 0) return ctx_failf(ctx, BL_ERR_INVALID, "%s: x: empty tensor", op);
    bl_tensor *y = ctx_new_tensor(ctx, 0, NULL);
    if (!y) return NULL;
    ctx->k->sum_forward(ctx->k, x->numel, x->data, mean ? (double)x->numel : 1.0, y->data);
    float scale = mean ? (float)(1.0 / (double)x->numel) : 1.0f;
    if (tape_wanted(ctx, 1, &x)) {
        tape_entry *e = tape_record(ctx, op, reduce_backward, y, 1, &x);
        if (!e) return NULL;
        e->attr.reduce.scale = scale;
    }
    return y;
}

bl_tensor *bl_sum(bl_ctx *ctx, bl_tensor *x) { return reduce(ctx, "sum", x, 0); }
bl_tensor *bl_mean(bl_ctx *ctx, bl_tensor *x) { return reduce(ctx, "mean", x, 1); }
