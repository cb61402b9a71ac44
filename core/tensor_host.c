/* tensor_host.c — see tensor_host.h. */
#include "core/tensor_host.h"

#include <stdlib.h>

#include "core/tape.h"

bl_status bl_tensor_upload_range(bl_ctx *ctx, bl_tensor *t, int64_t offset, int64_t count, const float *values) {
    if (ctx->status) return ctx->status;
    if (!t || !values || offset < 0 || count < 0 || offset > t->numel || count > t->numel - offset)
        return ctx_failf(ctx, BL_ERR_INVALID, "upload: elements [%lld, %lld) outside the tensor or NULL values",
                         (long long)offset, (long long)(offset + count)),
               ctx->status;
    ctx->k->upload(t->data + offset, values, (size_t)count * sizeof(float));
    return ctx_check_backend(ctx);
}

bl_status bl_tensor_read_safetensors(bl_ctx *ctx, bl_tensor *t, const bl_safetensors *st, const char *name) {
    if (ctx->status) return ctx->status;
    float *values = malloc((size_t)(t->numel > 0 ? t->numel : 1) * sizeof *values);
    if (!values)
        return bl_fail(BL_ERR_NOMEM, "%s: '%s': out of memory for %lld floats", bl_safetensors_path(st), name,
                       (long long)t->numel);
    bl_status s = bl_safetensors_read_f32(st, name, t->ndim, t->shape, t->numel, values);
    if (!s) s = bl_tensor_upload(ctx, t, values);
    free(values);
    return s;
}

const float *bl_host_copy(bl_ctx *ctx, bl_host_copies *c, const bl_tensor *t) {
    if (ctx->status) return NULL;
    if (c->count == c->capacity) {
        int capacity = c->capacity ? 2 * c->capacity : 64;
        float **grown = realloc(c->copies, (size_t)capacity * sizeof *grown);
        if (!grown) return ctx_failf(ctx, BL_ERR_NOMEM, "host copy: out of memory for %d copies", capacity), NULL;
        c->copies = grown;
        c->capacity = capacity;
    }
    float *values = malloc((size_t)(t->numel > 0 ? t->numel : 1) * sizeof *values);
    if (!values)
        return ctx_failf(ctx, BL_ERR_NOMEM, "host copy of '%s': out of memory for %lld floats",
                         t->name ? t->name : "tensor", (long long)t->numel),
               NULL;
    c->copies[c->count++] = values;
    return bl_tensor_download(ctx, t, values) ? NULL : values;
}

void bl_host_copies_free(bl_host_copies *c) {
    for (int i = 0; i < c->count; i++) free(c->copies[i]);
    free(c->copies);
    *c = (bl_host_copies){0};
}

bl_status bl_st_writer_add_tensor(bl_st_writer *w, const char *name, bl_ctx *ctx, const bl_tensor *t,
                                  bl_host_copies *copies) {
    const float *values = bl_host_copy(ctx, copies, t);
    if (!values) return bl_ctx_status(ctx);
    return bl_st_writer_add_f32(w, name, t->ndim, t->shape, values);
}
