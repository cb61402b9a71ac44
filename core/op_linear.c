/* op_linear.c — autograd wrapper of linear: y = x·Wᵀ + b (math: docs/ops/linear.md). */
#include "core/tape.h"

static void linear_backward(bl_ctx *ctx, tape_entry *e) {
    bl_tensor *x = e->in[0], *w = e->in[1], *b = e->n_in > 2 ? e->in[2] : NULL;
    float *dx = tape_grad(ctx, x), *dw = tape_grad(ctx, w), *db = tape_grad(ctx, b);
    if (ctx->status) return;
    ctx->k->linear_backward(ctx->k, e->attr.linear.n, e->attr.linear.in, e->attr.linear.out, x->data, w->data,
                            e->out->grad->data, dx, dw, db);
}

bl_tensor *bl_linear(bl_ctx *ctx, bl_tensor *x, bl_tensor *w, bl_tensor *b) {
    bl_tensor *in[3] = {x, w, b};
    if (ctx_check_inputs(ctx, "linear", 2, in)) return NULL;
    char sx[64], sw[64];
    if (x->ndim != 2 || w->ndim != 2 || x->shape[1] != w->shape[1])
        return ctx_failf(ctx, BL_ERR_INVALID, "linear: x %s, w %s: expected x [N,in] and w [out,in]",
                         bl_shape_str(x, sx, sizeof sx), bl_shape_str(w, sw, sizeof sw));
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))
        return ctx_failf(ctx, BL_ERR_INVALID, "linear: bias %s: expected [%d]", bl_shape_str(b, sx, sizeof sx),
                         w->shape[0]);
    int n = x->shape[0], n_in = x->shape[1], n_out = w->shape[0];
    int shape[2] = {n, n_out};
    bl_tensor *y = ctx_new_tensor(ctx, 2, shape);
    if (!y) return NULL;
    ctx->k->linear_forward(ctx->k, n, n_in, n_out, x->data, w->data, b ? b->data : NULL, y->data);
    if (tape_wanted(ctx, 3, in)) {
        tape_entry *e = tape_record(ctx, "linear", linear_backward, y, b ? 3 : 2, in);
        if (!e) return NULL;
        e->attr.linear.n = n;
        e->attr.linear.in = n_in;
        e->attr.linear.out = n_out;
        e->relu_fusable = 1; /* backward reads x, w and ∂L/∂y only */
    }
    return y;
}
