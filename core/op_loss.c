/* op_loss.c — binary cross-entropy with logits, sum and mean, and the per-pixel classification losses softmax
 * cross-entropy and soft Dice (math: docs/ops/bce_with_logits.md, sum.md, softmax_cross_entropy.md, dice_loss.md). */
#include <math.h>

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

/* ---- per-pixel classification losses (docs/ops/softmax_cross_entropy.md, dice_loss.md) ---- */

/* The shape of a class loss over logits z [N,C,…] and labels with N·(…) elements, validated: C in 1 … 256, the
 * weights (when given) [C]. On a host-memory backend every label is checked too (an integer class index or
 * ignore_index), so a bad label is an error naming its element instead of a NaN loss. Returns 0, or −1 with the
 * context's error set. */
static int class_loss_shape(bl_ctx *ctx, const char *op, bl_tensor *z, bl_tensor *labels, bl_tensor *w,
                            int ignore_index, bl_class_loss_shape *s) {
    char sz[64], sl[64];
    if (z->ndim < 2 || z->shape[1] < 1 || z->shape[1] > BL_CLASS_LOSS_MAX_CLASSES)
        return ctx_failf(ctx, BL_ERR_INVALID, "%s: logits %s: expected [N,C,…] with 1 <= C <= %d", op,
                         bl_shape_str(z, sz, sizeof sz), BL_CLASS_LOSS_MAX_CLASSES),
               -1;
    int64_t hw = z->numel / ((int64_t)z->shape[0] * z->shape[1]);
    if (labels->numel != (int64_t)z->shape[0] * hw)
        return ctx_failf(ctx, BL_ERR_INVALID, "%s: logits %s, labels %s: expected %lld labels (one per pixel)", op,
                         bl_shape_str(z, sz, sizeof sz), bl_shape_str(labels, sl, sizeof sl),
                         (long long)z->shape[0] * hw),
               -1;
    if (w && (w->ndim != 1 || w->shape[0] != z->shape[1]))
        return ctx_failf(ctx, BL_ERR_INVALID, "%s: class weights %s: expected [%d]", op, bl_shape_str(w, sl, sizeof sl),
                         z->shape[1]),
               -1;
    *s = (bl_class_loss_shape){.n = z->shape[0], .c = z->shape[1], .hw = hw, .ignore_index = ignore_index};
    if (bl_ctx_host_memory(ctx)) {
        const float *t = labels->data;
        for (int64_t i = 0; i < labels->numel; i++) {
            double label = t[i];
            if (label == (double)ignore_index) continue;
            if (!(label >= 0 && label < s->c) || label != (double)(int64_t)label)
                return ctx_failf(ctx, BL_ERR_INVALID,
                                 "%s: labels: element %lld is %g: expected a class index 0..%d or the ignore index %d",
                                 op, (long long)i, label, s->c - 1, ignore_index),
                       -1;
        }
    }
    return 0;
}

/* in[0] = z (requires grad), in[1] = labels, in[2] = class weights (optional) */
static void softmax_cross_entropy_backward(bl_ctx *ctx, tape_entry *e) {
    float *dz = tape_grad(ctx, e->in[0]);
    if (!dz) return;
    const float *w = e->n_in > 2 ? e->in[2]->data : NULL;
    ctx->k->softmax_cross_entropy_backward(ctx->k, &e->attr.class_loss, e->in[0]->data, e->in[1]->data, w,
                                           e->out->grad->data, dz);
}

bl_tensor *bl_softmax_cross_entropy(bl_ctx *ctx, bl_tensor *z, bl_tensor *labels, bl_tensor *w, int ignore_index) {
    bl_tensor *in[3] = {z, labels, w};
    if (ctx_check_inputs(ctx, "softmax_cross_entropy", 2, in)) return NULL;
    bl_class_loss_shape s;
    if (class_loss_shape(ctx, "softmax_cross_entropy", z, labels, w, ignore_index, &s)) return NULL;
    bl_tensor *loss = ctx_new_tensor(ctx, 0, NULL);
    if (!loss) return NULL;
    ctx->k->softmax_cross_entropy_forward(ctx->k, &s, z->data, labels->data, w ? w->data : NULL, loss->data);
    if (tape_wanted(ctx, 1, &z)) { /* labels and weights are data, never differentiated */
        tape_entry *e = tape_record(ctx, "softmax_cross_entropy", softmax_cross_entropy_backward, loss, w ? 3 : 2, in);
        if (!e) return NULL;
        e->attr.class_loss = s;
    }
    return loss;
}

static void dice_loss_backward(bl_ctx *ctx, tape_entry *e) {
    float *dz = tape_grad(ctx, e->in[0]);
    if (dz)
        ctx->k->dice_loss_backward(ctx->k, &e->attr.class_loss, e->in[0]->data, e->in[1]->data, e->out->grad->data,
                                   dz);
}

bl_tensor *bl_dice_loss(bl_ctx *ctx, bl_tensor *z, bl_tensor *labels, bl_dice_loss_args a) {
    bl_tensor *in[2] = {z, labels};
    if (ctx_check_inputs(ctx, "dice_loss", 2, in)) return NULL;
    bl_class_loss_shape s;
    if (class_loss_shape(ctx, "dice_loss", z, labels, NULL, a.ignore_index, &s)) return NULL;
    if (a.skip_background && s.c < 2)
        return ctx_failf(ctx, BL_ERR_INVALID, "dice_loss: skip_background needs at least 2 classes, got %d", s.c);
    if (!(a.smooth >= 0) || !isfinite(a.smooth))
        return ctx_failf(ctx, BL_ERR_INVALID, "dice_loss: smooth %g: expected a finite value >= 0", (double)a.smooth);
    s.smooth = a.smooth;
    s.skip_background = a.skip_background ? 1 : 0;
    bl_tensor *loss = ctx_new_tensor(ctx, 0, NULL);
    if (!loss) return NULL;
    ctx->k->dice_loss_forward(ctx->k, &s, z->data, labels->data, loss->data);
    if (tape_wanted(ctx, 1, &z)) {
        tape_entry *e = tape_record(ctx, "dice_loss", dice_loss_backward, loss, 2, in);
        if (!e) return NULL;
        e->attr.class_loss = s;
    }
    return loss;
}
