/* op_resize.c — autograd wrapper of bilinear resizing (math: docs/ops/upsample_bilinear2d.md; kernels:
 * upsample_bilinear2d_* in kernels.h). */
#include "core/tape.h"

/* dy [N,C,Ho,Wo] → acc dx [N,C,H,W]: each output's gradient spread back over its four taps */
static void upsample_bilinear2d_backward(bl_ctx *ctx, tape_entry *e) {
    float *dx = tape_grad(ctx, e->in[0]);
    if (dx) ctx->k->upsample_bilinear2d_backward(ctx->k, &e->attr.resize, e->out->grad->data, dx);
}

bl_tensor *bl_upsample_bilinear2d(bl_ctx *ctx, bl_tensor *x, int h_out, int w_out) {
    if (ctx_check_inputs(ctx, "upsample_bilinear2d", 1, &x)) return NULL;
    char sx[64];
    if (x->ndim != 4 || x->shape[2] < 1 || x->shape[3] < 1)
        return ctx_failf(ctx, BL_ERR_INVALID, "upsample_bilinear2d: x %s: expected [N,C,H,W] with H, W >= 1",
                         bl_shape_str(x, sx, sizeof sx));
    if (h_out < 1 || w_out < 1)
        return ctx_failf(ctx, BL_ERR_INVALID, "upsample_bilinear2d: output size %dx%d: expected at least 1x1", h_out,
                         w_out);
    bl_resize_shape s = {.n = x->shape[0], .c = x->shape[1], .h_in = x->shape[2], .w_in = x->shape[3],
                         .h_out = h_out, .w_out = w_out};
    int shape[4] = {s.n, s.c, h_out, w_out};
    bl_tensor *y = ctx_new_tensor(ctx, 4, shape);
    if (!y) return NULL;
    ctx->k->upsample_bilinear2d_forward(ctx->k, &s, x->data, y->data);
    if (tape_wanted(ctx, 1, &x)) {
        tape_entry *e = tape_record(ctx, "upsample_bilinear2d", upsample_bilinear2d_backward, y, 1, &x);
        if (!e) return NULL;
        e->attr.resize = s;
    }
    return y;
}
