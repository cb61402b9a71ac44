/* init.c — see init.h. */
#include "core/init.h"

#include <math.h>

#include "core/rng.h"
#include "core/tensor_host.h"
#include "core/tape.h"

bl_status bl_init_uniform(bl_ctx *ctx, bl_tensor *t, float bound, uint64_t seed, uint64_t index) {
    bl_rng r = bl_rng_stream(seed, BL_RNG_INIT, index);
    float block[BL_UPLOAD_BLOCK];
    bl_status st = bl_ctx_status(ctx);
    for (int64_t start = 0; !st && start < t->numel; start += BL_UPLOAD_BLOCK) {
        int64_t count = t->numel - start < BL_UPLOAD_BLOCK ? t->numel - start : BL_UPLOAD_BLOCK;
        for (int64_t i = 0; i < count; i++) block[i] = bl_rng_uniform_range(&r, -bound, bound);
        st = bl_tensor_upload_range(ctx, t, start, count, block);
    }
    return st;
}

bl_status bl_init_constant(bl_ctx *ctx, bl_tensor *t, float value) {
    if (ctx->status) return ctx->status;
    ctx->k->fill(t->numel, value, t->data);
    return ctx_check_backend(ctx);
}

float bl_fan_in_bound(const bl_tensor *weight) {
    int64_t fan_in = weight->ndim > 0 && weight->shape[0] > 0 ? weight->numel / weight->shape[0] : 1;
    return (float)(1.0 / sqrt((double)(fan_in > 0 ? fan_in : 1)));
}
