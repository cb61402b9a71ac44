/* op_pool2d.c — autograd wrappers of maxpool2d, avgpool2d and global average pooling
 * (math: docs/ops/maxpool2d.md, avgpool2d.md, global_avgpool.md). Floor mode, torch semantics. */
#include "core/tape.h"

static void maxpool2d_backward(bl_ctx *ctx, tape_entry *e) {
    float *dx = tape_grad(ctx, e->in[0]);
    if (dx) ctx->k->maxpool2d_backward(ctx->k, &e->attr.pool2d, e->in[0]->data, e->out->grad->data, dx);
}

static void avgpool2d_backward(bl_ctx *ctx, tape_entry *e) {
    float *dx = tape_grad(ctx, e->in[0]);
    if (dx) ctx->k->avgpool2d_backward(ctx->k, &e->attr.pool2d, e->out->grad->data, dx);
}

/* Shared shape logic of both pools; returns 0 and fills *s, or records an error. */
static int pool2d_shape(bl_ctx *ctx, const char *op, const bl_tensor *x, bl_pool2d_args a, bl_pool2d_shape *s) {
    char sx[64];
    if (x->ndim != 4) {
        ctx_failf(ctx, BL_ERR_INVALID, "%s: x %s: expected [N,C,H,W]", op, bl_shape_str(x, sx, sizeof sx));
        return 1;
    }
    *s = (bl_pool2d_shape){
        .n = x->shape[0], .c = x->shape[1], .h_in = x->shape[2], .w_in = x->shape[3],
        .kh = a.kernel_h, .kw = a.kernel_w,
        .stride_h = a.stride_h ? a.stride_h : a.kernel_h, .stride_w = a.stride_w ? a.stride_w : a.kernel_w,
        .pad_h = a.pad_h, .pad_w = a.pad_w, .count_include_pad = a.count_include_pad,
    };
    if (s->kh < 1 || s->kw < 1 || s->stride_h < 1 || s->stride_w < 1) {
        ctx_failf(ctx, BL_ERR_INVALID, "%s: kernel %dx%d stride %dx%d: expected positive values", op, s->kh, s->kw,
                  s->stride_h, s->stride_w);
        return 1;
    }
    /* torch: "pad should be at most half of effective kernel size" */
    if (s->pad_h < 0 || s->pad_w < 0 || 2 * s->pad_h > s->kh || 2 * s->pad_w > s->kw) {
        ctx_failf(ctx, BL_ERR_INVALID, "%s: padding %dx%d: expected between 0 and half the kernel %dx%d", op,
                  s->pad_h, s->pad_w, s->kh, s->kw);
        return 1;
    }
    if (s->h_in + 2 * s->pad_h < s->kh || s->w_in + 2 * s->pad_w < s->kw) {
        ctx_failf(ctx, BL_ERR_INVALID, "%s: x %s: padded input smaller than the kernel %dx%d", op,
                  bl_shape_str(x, sx, sizeof sx), s->kh, s->kw);
        return 1;
    }
    s->h_out = (s->h_in + 2 * s->pad_h - s->kh) / s->stride_h + 1;
    s->w_out = (s->w_in + 2 * s->pad_w - s->kw) / s->stride_w + 1;
    return 0;
}

static bl_tensor *pool2d(bl_ctx *ctx, const char *op, bl_tensor *x, bl_pool2d_args a, int is_max) {
    if (ctx_check_inputs(ctx, op, 1, &x)) return NULL;
    bl_pool2d_shape s;
    if (pool2d_shape(ctx, op, x, a, &s)) return NULL;
    int shape[4] = {s.n, s.c, s.h_out, s.w_out};
    bl_tensor *y = ctx_new_tensor(ctx, 4, shape);
    if (!y) return NULL;
    if (is_max)
        ctx->k->maxpool2d_forward(ctx->k, &s, x->data, y->data);
    else
        ctx->k->avgpool2d_forward(ctx->k, &s, x->data, y->data);
    if (tape_wanted(ctx, 1, &x)) {
        tape_entry *e = tape_record(ctx, op, is_max ? maxpool2d_backward : avgpool2d_backward, y, 1, &x);
        if (!e) return NULL;
        e->attr.pool2d = s;
    }
    return y;
}

bl_tensor *bl_maxpool2d(bl_ctx *ctx, bl_tensor *x, bl_pool2d_args a) { return pool2d(ctx, "maxpool2d", x, a, 1); }
bl_tensor *bl_avgpool2d(bl_ctx *ctx, bl_tensor *x, bl_pool2d_args a) { return pool2d(ctx, "avgpool2d", x, a, 0); }

/* attr.reduce.n = H·W */
static void global_avgpool_backward(bl_ctx *ctx, tape_entry *e) {
    float *dx = tape_grad(ctx, e->in[0]);
    if (dx) ctx->k->global_avgpool_backward(ctx->k, e->out->numel, e->attr.reduce.n, e->out->grad->data, dx);
}

bl_tensor *bl_global_avgpool(bl_ctx *ctx, bl_tensor *x) {
    if (ctx_check_inputs(ctx, "global_avgpool", 1, &x)) return NULL;
    char sx[64];
    if (x->ndim != 4 || x->shape[2] * x->shape[3] == 0)
        return ctx_failf(ctx, BL_ERR_INVALID, "global_avgpool: x %s: expected [N,C,H,W] with H·W > 0",
                         bl_shape_str(x, sx, sizeof sx));
    int shape[2] = {x->shape[0], x->shape[1]};
    bl_tensor *y = ctx_new_tensor(ctx, 2, shape);
    if (!y) return NULL;
    int hw = x->shape[2] * x->shape[3];
    ctx->k->global_avgpool_forward(ctx->k, y->numel, hw, x->data, y->data);
    if (tape_wanted(ctx, 1, &x)) {
        tape_entry *e = tape_record(ctx, "global_avgpool", global_avgpool_backward, y, 1, &x);
        if (!e) return NULL;
        e->attr.reduce.n = hw;
    }
    return y;
}
