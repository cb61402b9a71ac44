/* op_elementwise.c — autograd wrappers of relu, sigmoid, add and dropout
 * (math: docs/ops/relu.md, sigmoid.md, add.md, dropout.md). */
#include "core/rng.h"
#include "core/tape.h"

static void relu_backward(bl_ctx *ctx, tape_entry *e) {
    float *dx = tape_grad(ctx, e->in[0]);
    if (dx) ctx->k->relu_backward(ctx->k, e->out->numel, e->in[0]->data, e->out->grad->data, dx);
}

bl_tensor *bl_relu(bl_ctx *ctx, bl_tensor *x) {
    if (ctx_check_inputs(ctx, "relu", 1, &x)) return NULL;
    bl_tensor *y = ctx_new_tensor(ctx, x->ndim, x->shape);
    if (!y) return NULL;
    ctx->k->relu_forward(ctx->k, x->numel, x->data, y->data);
    if (tape_wanted(ctx, 1, &x) && !tape_record(ctx, "relu", relu_backward, y, 1, &x)) return NULL;
    return y;
}

/* In place: see autograd.h. With a tape, the ReLU is folded into the entry that produced x (tape.h relu_after);
 * when that is not possible — x not the newest entry's output, an op whose backward reads its output, a view, a
 * gradient already requested for x — this is bl_relu, out of place, and x is left as it was. */
bl_tensor *bl_relu_inplace(bl_ctx *ctx, bl_tensor *x) {
    if (ctx_check_inputs(ctx, "relu_inplace", 1, &x)) return NULL;
    if (x->view_of || x->retain_grad || x->grad) return bl_relu(ctx, x);
    if (tape_wanted(ctx, 1, &x)) {
        tape_entry *last = ctx->tape_len > 0 ? &ctx->tape[ctx->tape_len - 1] : NULL;
        if (!last || last->out != x || !last->relu_fusable || last->relu_after) return bl_relu(ctx, x);
        last->relu_after = 1;
    }
    ctx->k->relu_forward(ctx->k, x->numel, x->data, x->data);
    return x;
}

/* the backward uses the OUTPUT y: σ'(x) = y(1 − y) */
static void sigmoid_backward(bl_ctx *ctx, tape_entry *e) {
    float *dx = tape_grad(ctx, e->in[0]);
    if (dx) ctx->k->sigmoid_backward(ctx->k, e->out->numel, e->out->data, e->out->grad->data, dx);
}

bl_tensor *bl_sigmoid(bl_ctx *ctx, bl_tensor *x) {
    if (ctx_check_inputs(ctx, "sigmoid", 1, &x)) return NULL;
    bl_tensor *y = ctx_new_tensor(ctx, x->ndim, x->shape);
    if (!y) return NULL;
    ctx->k->sigmoid_forward(ctx->k, x->numel, x->data, y->data);
    if (tape_wanted(ctx, 1, &x) && !tape_record(ctx, "sigmoid", sigmoid_backward, y, 1, &x)) return NULL;
    return y;
}

static void add_backward(bl_ctx *ctx, tape_entry *e) {
    const float *dy = e->out->grad->data;
    for (int i = 0; i < 2; i++) {
        float *d = tape_grad(ctx, e->in[i]);
        if (d) ctx->k->axpy(ctx->k, e->out->numel, 1.0f, dy, d);
    }
}

/* in_place: with no tape entry wanted, y = a + b is written over a */
static bl_tensor *add(bl_ctx *ctx, bl_tensor *a, bl_tensor *b, int in_place) {
    bl_tensor *in[2] = {a, b};
    if (ctx_check_inputs(ctx, "add", 2, in)) return NULL;
    if (!bl_same_shape(a, b)) {
        char sa[64], sb[64];
        return ctx_failf(ctx, BL_ERR_INVALID, "add: shapes %s and %s differ (no broadcasting)",
                         bl_shape_str(a, sa, sizeof sa), bl_shape_str(b, sb, sizeof sb));
    }
    in_place = in_place && a != b && !a->view_of && !a->retain_grad && !tape_wanted(ctx, 2, in);
    bl_tensor *y = in_place ? a : ctx_new_tensor(ctx, a->ndim, a->shape);
    if (!y) return NULL;
    ctx->k->add_forward(ctx->k, a->numel, a->data, b->data, y->data);
    if (tape_wanted(ctx, 2, in)) {
        tape_entry *e = tape_record(ctx, "add", add_backward, y, 2, in);
        if (!e) return NULL;
        e->relu_fusable = 1; /* backward reads ∂L/∂y only */
    }
    return y;
}

bl_tensor *bl_add(bl_ctx *ctx, bl_tensor *a, bl_tensor *b) { return add(ctx, a, b, 0); }
bl_tensor *bl_add_inplace(bl_ctx *ctx, bl_tensor *a, bl_tensor *b) { return add(ctx, a, b, 1); }

/* saved[0] = mask (0 or 1/(1−p)) */
static void dropout_backward(bl_ctx *ctx, tape_entry *e) {
    float *dx = tape_grad(ctx, e->in[0]);
    if (dx) ctx->k->mul_backward(ctx->k, e->out->numel, e->saved[0]->data, e->out->grad->data, dx);
}

bl_tensor *bl_dropout(bl_ctx *ctx, bl_tensor *x, float p) {
    if (ctx_check_inputs(ctx, "dropout", 1, &x)) return NULL;
    if (!(p >= 0.0f && p < 1.0f)) return ctx_failf(ctx, BL_ERR_INVALID, "dropout: p: expected [0,1), got %g", p);
    if (!ctx->training || p == 0.0f) return x; /* identity: no copy, no tape entry */
    bl_tensor *mask = ctx_new_tensor(ctx, x->ndim, x->shape);
    bl_tensor *y = ctx_new_tensor(ctx, x->ndim, x->shape);
    if (!mask || !y) return NULL;
    /* one stream per call: (seed, DROPOUT, step·2^20 + call) — independent of thread count and backend */
    bl_rng r = bl_rng_stream(ctx->seed, BL_RNG_DROPOUT, ((uint64_t)ctx->step_index << 20) + ctx->dropout_calls++);
    const float keep_scale = 1.0f / (1.0f - p);
    ctx->k->dropout_mask(ctx->k, x->numel, r.key, p, keep_scale, mask->data);
    ctx->k->mul_forward(ctx->k, x->numel, x->data, mask->data, y->data);
    if (tape_wanted(ctx, 1, &x)) {
        tape_entry *e = tape_record(ctx, "dropout", dropout_backward, y, 1, &x);
        if (!e) return NULL;
        e->saved[0] = mask;
    }
    return y;
}
