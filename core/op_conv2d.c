/* op_conv2d.c — autograd wrapper of conv2d (math: docs/ops/conv2d.md; kernels: conv2d_* in kernels.h). */
#include <stdio.h>

#include "core/tape.h"

/* dy [N,Cout,Ho,Wo] → acc dx (Wᵀ ⋆ dy), acc dw (dy ⋆ x), acc db (Σ dy) */
static void conv2d_backward(bl_ctx *ctx, tape_entry *e) {
    const bl_conv2d_shape *s = &e->attr.conv2d;
    bl_tensor *x = e->in[0], *w = e->in[1], *b = e->n_in > 2 ? e->in[2] : NULL;
    const float *dy = e->out->grad->data;
    float *dx = tape_grad(ctx, x), *dw = tape_grad(ctx, w), *db = tape_grad(ctx, b);
    if (ctx->status) return;
    if (dx) ctx->k->conv2d_backward_data(ctx->k, s, dy, w->data, dx);
    if (dw || db) ctx->k->conv2d_backward_filter(ctx->k, s, x->data, dy, dw, db);
}

bl_tensor *bl_conv2d(bl_ctx *ctx, bl_tensor *x, bl_tensor *w, bl_tensor *b, bl_conv2d_args a) {
    bl_tensor *in[3] = {x, w, b};
    if (ctx_check_inputs(ctx, "conv2d", 2, in)) return NULL;
    char sx[64], sw[64];
    if (x->ndim != 4 || w->ndim != 4 || x->shape[1] != w->shape[1])
        return ctx_failf(ctx, BL_ERR_INVALID, "conv2d: x %s, w %s: expected x [N,C,H,W] and w [Cout,C,kh,kw]",
                         bl_shape_str(x, sx, sizeof sx), bl_shape_str(w, sw, sizeof sw));
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))
        return ctx_failf(ctx, BL_ERR_INVALID, "conv2d: bias %s: expected [%d]", bl_shape_str(b, sx, sizeof sx),
                         w->shape[0]);
    bl_conv2d_shape s = {
        .n = x->shape[0], .c_in = x->shape[1], .h_in = x->shape[2], .w_in = x->shape[3],
        .c_out = w->shape[0], .kh = w->shape[2], .kw = w->shape[3],
        .stride_h = a.stride_h ? a.stride_h : 1, .stride_w = a.stride_w ? a.stride_w : 1,
        .pad_h = a.pad_h, .pad_w = a.pad_w,
        .dil_h = a.dil_h ? a.dil_h : 1, .dil_w = a.dil_w ? a.dil_w : 1,
    };
    if (s.stride_h < 0 || s.stride_w < 0 || s.pad_h < 0 || s.pad_w < 0 || s.dil_h < 0 || s.dil_w < 0)
        return ctx_failf(ctx, BL_ERR_INVALID, "conv2d: stride/padding/dilation: expected non-negative values");
    int span_h = s.dil_h * (s.kh - 1) + 1, span_w = s.dil_w * (s.kw - 1) + 1;
    if (s.h_in + 2 * s.pad_h < span_h || s.w_in + 2 * s.pad_w < span_w)
        return ctx_failf(ctx, BL_ERR_INVALID, "conv2d: x %s: padded input %dx%d smaller than the kernel span %dx%d",
                         bl_shape_str(x, sx, sizeof sx), s.h_in + 2 * s.pad_h, s.w_in + 2 * s.pad_w, span_h, span_w);
    s.h_out = (s.h_in + 2 * s.pad_h - span_h) / s.stride_h + 1;
    s.w_out = (s.w_in + 2 * s.pad_w - span_w) / s.stride_w + 1;

    int shape[4] = {s.n, s.c_out, s.h_out, s.w_out};
    bl_tensor *y = ctx_new_tensor(ctx, 4, shape);
    if (!y) return NULL;
    /* a forward that will not be differentiated (no tape entry) may use the backend's transform algorithm
     * (kernels.h: conv2d_forward_nograd) */
    int differentiated = tape_wanted(ctx, 3, in);
    bl_conv2d_forward_fn *forward =
        !differentiated && ctx->k->conv2d_forward_nograd ? ctx->k->conv2d_forward_nograd : ctx->k->conv2d_forward;
    forward(ctx->k, &s, x->data, w->data, b ? b->data : NULL, y->data);
    if (differentiated) {
        tape_entry *e = tape_record(ctx, "conv2d", conv2d_backward, y, b ? 3 : 2, in);
        if (!e) return NULL;
        e->attr.conv2d = s;
        e->relu_fusable = 1; /* backward reads x, w and ∂L/∂y only */
    }
    return y;
}

/* conv_transpose2d is the adjoint of conv2d with respect to its input (docs/ops/conv_transpose2d.md). With s the
 * shape of the conv2d that maps the transposed convolution's output [N,Cout,Ho,Wo] to its input [N,Cin,H,W] — its
 * weights [Cin,Cout,kh,kw] read as that conv2d's [c_out, c_in, kh, kw] —
 *   y = conv2d_backward_data(s, x) + b,   dx += conv2d(s, dy),   dw += conv2d_backward_filter(s, dy, x),   db += Σ dy.
 * dx goes through a scratch buffer because a convolution forward writes its output instead of accumulating. */
static void conv_transpose2d_backward(bl_ctx *ctx, tape_entry *e) {
    const bl_conv2d_shape *s = &e->attr.conv2d;
    bl_tensor *x = e->in[0], *w = e->in[1], *b = e->n_in > 2 ? e->in[2] : NULL;
    const float *dy = e->out->grad->data;
    float *dx = tape_grad(ctx, x), *dw = tape_grad(ctx, w), *db = tape_grad(ctx, b);
    if (ctx->status) return;
    if (dx) {
        float *product = tape_scratch(ctx, x->numel);
        if (!product) return;
        ctx->k->conv2d_forward(ctx->k, s, dy, w->data, NULL, product);
        ctx->k->axpy(ctx->k, x->numel, 1.0f, product, dx);
        tape_scratch_release(ctx, product);
    }
    if (dw) ctx->k->conv2d_backward_filter(ctx->k, s, dy, x->data, dw, NULL);
    if (db) ctx->k->bias_channels_backward(ctx->k, s->n, s->c_in, (int64_t)s->h_in * s->w_in, dy, db);
}

bl_tensor *bl_conv_transpose2d(bl_ctx *ctx, bl_tensor *x, bl_tensor *w, bl_tensor *b, bl_conv_transpose2d_args a) {
    bl_tensor *in[3] = {x, w, b};
    if (ctx_check_inputs(ctx, "conv_transpose2d", 2, in)) return NULL;
    char sx[64], sw[64];
    if (x->ndim != 4 || w->ndim != 4 || x->shape[1] != w->shape[0])
        return ctx_failf(ctx, BL_ERR_INVALID,
                         "conv_transpose2d: x %s, w %s: expected x [N,Cin,H,W] and w [Cin,Cout,kh,kw]",
                         bl_shape_str(x, sx, sizeof sx), bl_shape_str(w, sw, sizeof sw));
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[1]))
        return ctx_failf(ctx, BL_ERR_INVALID, "conv_transpose2d: bias %s: expected [%d]",
                         bl_shape_str(b, sx, sizeof sx), w->shape[1]);
    int stride_h = a.stride_h ? a.stride_h : 1, stride_w = a.stride_w ? a.stride_w : 1;
    int dil_h = a.dil_h ? a.dil_h : 1, dil_w = a.dil_w ? a.dil_w : 1;
    if (stride_h < 0 || stride_w < 0 || a.pad_h < 0 || a.pad_w < 0 || dil_h < 0 || dil_w < 0)
        return ctx_failf(ctx, BL_ERR_INVALID,
                         "conv_transpose2d: stride/padding/dilation: expected non-negative values");
    if (a.out_pad_h < 0 || a.out_pad_w < 0 || a.out_pad_h >= stride_h || a.out_pad_w >= stride_w)
        return ctx_failf(ctx, BL_ERR_INVALID,
                         "conv_transpose2d: output padding %dx%d: expected 0 <= output padding < stride (%dx%d)",
                         a.out_pad_h, a.out_pad_w, stride_h, stride_w);
    int kh = w->shape[2], kw = w->shape[3];
    int64_t h_out = (int64_t)(x->shape[2] - 1) * stride_h - 2 * (int64_t)a.pad_h + (int64_t)dil_h * (kh - 1) +
                    a.out_pad_h + 1;
    int64_t w_out = (int64_t)(x->shape[3] - 1) * stride_w - 2 * (int64_t)a.pad_w + (int64_t)dil_w * (kw - 1) +
                    a.out_pad_w + 1;
    if (h_out < 1 || w_out < 1 || h_out > 0x7fffffff || w_out > 0x7fffffff)
        return ctx_failf(ctx, BL_ERR_INVALID, "conv_transpose2d: x %s, w %s: output size %lldx%lld out of range",
                         bl_shape_str(x, sx, sizeof sx), bl_shape_str(w, sw, sizeof sw), (long long)h_out,
                         (long long)w_out);
    /* the conv2d whose input is y and whose output is x */
    bl_conv2d_shape s = {
        .n = x->shape[0], .c_in = w->shape[1], .h_in = (int)h_out, .w_in = (int)w_out,
        .c_out = x->shape[1], .h_out = x->shape[2], .w_out = x->shape[3], .kh = kh, .kw = kw,
        .stride_h = stride_h, .stride_w = stride_w, .pad_h = a.pad_h, .pad_w = a.pad_w, .dil_h = dil_h, .dil_w = dil_w,
    };
    int shape[4] = {s.n, s.c_in, s.h_in, s.w_in};
    bl_tensor *y = ctx_new_tensor(ctx, 4, shape);
    if (!y) return NULL;
    ctx->k->fill(y->numel, 0.0f, y->data);
    ctx->k->conv2d_backward_data(ctx->k, &s, x->data, w->data, y->data);
    if (b) ctx->k->bias_channels_forward(ctx->k, s.n, s.c_in, (int64_t)s.h_in * s.w_in, b->data, y->data);
    if (tape_wanted(ctx, 3, in)) {
        tape_entry *e = tape_record(ctx, "conv_transpose2d", conv_transpose2d_backward, y, b ? 3 : 2, in);
        if (!e) return NULL;
        e->attr.conv2d = s;
        e->relu_fusable = 1; /* backward reads x, w and ∂L/∂y only */
    }
    return y;
}
