/* op_shape.c — reshape/flatten (views) and concatenation along channels
 * (math: docs/ops/reshape.md, concat_channels.md). */
#include <stdio.h>

#include "core/tape.h"

/* a view's gradient is its base's gradient with another shape: accumulate element for element */
static void reshape_backward(bl_ctx *ctx, tape_entry *e) {
    float *dx = tape_grad(ctx, e->in[0]);
    if (dx) ctx->k->axpy(ctx->k, e->out->numel, 1.0f, e->out->grad->data, dx);
}

bl_tensor *bl_reshape(bl_ctx *ctx, bl_tensor *x, int ndim, const int *shape) {
    if (ctx_check_inputs(ctx, "reshape", 1, &x)) return NULL;
    if (ndim < 0 || ndim > BL_MAX_DIMS)
        return ctx_failf(ctx, BL_ERR_INVALID, "reshape: ndim: expected 0..%d, got %d", BL_MAX_DIMS, ndim);
    int resolved[BL_MAX_DIMS];
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < ndim; i++) {
        resolved[i] = shape[i];
        if (shape[i] == -1 && infer < 0) {
            infer = i;
        } else if (shape[i] < 0) {
            return ctx_failf(ctx, BL_ERR_INVALID, "reshape: dimension %d: expected ≥ 0 or one −1, got %d", i, shape[i]);
        } else {
            known *= shape[i];
        }
    }
    if (infer >= 0) {
        if (known == 0 || x->numel % known)
            return ctx_failf(ctx, BL_ERR_INVALID, "reshape: cannot infer dimension %d from %lld elements", infer,
                             (long long)x->numel);
        resolved[infer] = (int)(x->numel / known);
        known *= resolved[infer];
    }
    if (known != x->numel) {
        char sx[64];
        return ctx_failf(ctx, BL_ERR_INVALID, "reshape: x %s has %lld elements, the new shape %lld",
                         bl_shape_str(x, sx, sizeof sx), (long long)x->numel, (long long)known);
    }
    bl_tensor *y = bl_arena_calloc(&ctx->step_host, sizeof *y);
    if (!y) return ctx_failf(ctx, BL_ERR_NOMEM, "%s", bl_last_error());
    *y = (bl_tensor){.data = x->data, .ndim = ndim, .numel = x->numel, .device = x->device, .name = x->name,
                     .view_of = x->view_of ? x->view_of : x};
    for (int i = 0; i < ndim; i++) y->shape[i] = resolved[i];
    if (tape_wanted(ctx, 1, &x) && !tape_record(ctx, "reshape", reshape_backward, y, 1, &x)) return NULL;
    return y;
}

bl_tensor *bl_flatten(bl_ctx *ctx, bl_tensor *x) {
    if (ctx_check_inputs(ctx, "flatten", 1, &x)) return NULL;
    if (x->ndim < 1) return ctx_failf(ctx, BL_ERR_INVALID, "flatten: x: expected at least one dimension");
    int shape[2] = {x->shape[0], -1};
    if (x->shape[0] == 0) shape[1] = 0;
    return bl_reshape(ctx, x, 2, shape);
}

static void concat_channels_backward(bl_ctx *ctx, tape_entry *e) {
    const bl_tensor *y = e->out;
    int64_t hw = (int64_t)y->shape[2] * y->shape[3];
    int c_off = 0;
    for (int i = 0; i < e->n_in; i++) {
        bl_tensor *x = e->in[i];
        float *dx = tape_grad(ctx, x);
        if (dx)
            ctx->k->concat_channels_backward(ctx->k, y->shape[0], x->shape[1], y->shape[1], c_off, hw, y->grad->data,
                                             dx);
        c_off += x->shape[1];
    }
}

bl_tensor *bl_concat_channels(bl_ctx *ctx, int count, bl_tensor *const *inputs) {
    if (count < 1) return ctx_failf(ctx, BL_ERR_INVALID, "concat_channels: expected at least one input");
    if (ctx_check_inputs(ctx, "concat_channels", count, inputs)) return NULL;
    const bl_tensor *first = inputs[0];
    int c_total = 0;
    for (int i = 0; i < count; i++) {
        const bl_tensor *x = inputs[i];
        if (x->ndim != 4 || x->shape[0] != first->shape[0] || x->shape[2] != first->shape[2] ||
            x->shape[3] != first->shape[3]) {
            char sx[64], sf[64];
            return ctx_failf(ctx, BL_ERR_INVALID, "concat_channels: input %d %s: expected [N,C,H,W] matching %s in N,H,W",
                             i, bl_shape_str(x, sx, sizeof sx), bl_shape_str(first, sf, sizeof sf));
        }
        c_total += x->shape[1];
    }
    int shape[4] = {first->shape[0], c_total, first->shape[2], first->shape[3]};
    bl_tensor *y = ctx_new_tensor(ctx, 4, shape);
    if (!y) return NULL;
    int64_t hw = (int64_t)shape[2] * shape[3];
    int c_off = 0;
    for (int i = 0; i < count; i++) {
        ctx->k->concat_channels_forward(ctx->k, shape[0], inputs[i]->shape[1], c_total, c_off, hw, inputs[i]->data,
                                        y->data);
        c_off += inputs[i]->shape[1];
    }
    if (tape_wanted(ctx, count, inputs) &&
        !tape_record(ctx, "concat_channels", concat_channels_backward, y, count, inputs))
        return NULL;
    return y;
}
