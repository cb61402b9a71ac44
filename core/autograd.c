/* autograd.c — the context, tensor allocation, the tape and the backward walk (see autograd.h, tape.h).
 * The ops themselves live one per file in core/op_*.c. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tape.h"

/* ---- context ---------------------------------------------------------------------------------------------- */

bl_status bl_ctx_create(const bl_kernels *kernels, bl_ctx **out) {
    *out = NULL;
    if (!kernels) return bl_fail(BL_ERR_INVALID, "bl_ctx_create: kernels: NULL backend");
    if (bl_kernels_check(kernels) != BL_OK) return BL_ERR_INVALID; /* "<name> backend: slot <slot> missing" */
    bl_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return bl_fail(BL_ERR_NOMEM, "bl_ctx_create: out of memory: needs %zu bytes", sizeof *ctx);
    ctx->k = kernels;
    bl_arena_init_on(&ctx->persistent, "persistent", kernels->mem_alloc, kernels->mem_free);
    bl_arena_init_on(&ctx->step, "step", kernels->mem_alloc, kernels->mem_free);
    bl_arena_init(&ctx->persistent_host, "persistent headers");
    bl_arena_init(&ctx->step_host, "step headers");
    bl_grad_pool_init(&ctx->grads, kernels->mem_alloc, kernels->mem_free);
    ctx->grad_enabled = 1;
    ctx->training = 1;
    *out = ctx;
    return BL_OK;
}

void bl_ctx_free(bl_ctx *ctx) {
    if (!ctx) return;
    for (int i = 0; i < ctx->n_params; i++) free(ctx->params[i].name);
    free(ctx->params);
    free(ctx->tape);
    bl_arena_free(&ctx->persistent);
    bl_arena_free(&ctx->step);
    bl_arena_free(&ctx->persistent_host);
    bl_arena_free(&ctx->step_host);
    bl_grad_pool_free(&ctx->grads);
    free(ctx);
}

const bl_kernels *bl_ctx_kernels(const bl_ctx *ctx) { return ctx->k; }
bl_status bl_ctx_status(const bl_ctx *ctx) { return ctx->status; }
const char *bl_ctx_error(const bl_ctx *ctx) { return ctx->error; }
void bl_ctx_clear_error(bl_ctx *ctx) {
    ctx->status = BL_OK;
    ctx->error[0] = '\0';
}
void bl_set_training(bl_ctx *ctx, int training) { ctx->training = training != 0; }
int bl_is_training(const bl_ctx *ctx) { return ctx->training; }
void bl_set_grad_enabled(bl_ctx *ctx, int enabled) { ctx->grad_enabled = enabled != 0; }

void bl_set_batch_reduce(bl_ctx *ctx, bl_batch_reduce_fn *sum, void *user) {
    ctx->batch_reduce = sum;
    ctx->batch_reduce_user = sum ? user : NULL;
}
int bl_grad_enabled(const bl_ctx *ctx) { return ctx->grad_enabled; }
void bl_set_seed(bl_ctx *ctx, uint64_t seed) { ctx->seed = seed; }
int64_t bl_ctx_step(const bl_ctx *ctx) { return ctx->step_index; }
void bl_ctx_set_step(bl_ctx *ctx, int64_t step) { ctx->step_index = step; }
bl_arena *bl_ctx_persistent(bl_ctx *ctx) { return &ctx->persistent; }
bl_arena *bl_ctx_step_arena(bl_ctx *ctx) { return &ctx->step; }
bl_grad_pool_stats bl_ctx_grad_pool_stats(const bl_ctx *ctx) {
    return (bl_grad_pool_stats){.bytes_total = ctx->grads.bytes_total, .high_water = ctx->grads.high_water,
                                .allocations = ctx->grads.n_allocs};
}

bl_tensor *ctx_failf(bl_ctx *ctx, bl_status code, const char *fmt, ...) {
    if (ctx->status == BL_OK) {
        /* format into the context first: an argument may be bl_last_error() itself */
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->error, sizeof ctx->error, fmt, ap);
        va_end(ap);
        ctx->status = code;
        bl_fail(code, "%s", ctx->error);
    }
    return NULL;
}

bl_tensor *bl_ctx_fail(bl_ctx *ctx, bl_status code, const char *fmt, ...) {
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    return ctx_failf(ctx, code, "%s", message);
}

int ctx_check_inputs(bl_ctx *ctx, const char *op, int n, bl_tensor *const *inputs) {
    if (ctx->status != BL_OK) return 1;
    for (int i = 0; i < n; i++)
        if (!inputs[i]) {
            ctx_failf(ctx, BL_ERR_INVALID, "%s: input %d: NULL tensor", op, i);
            return 1;
        }
    return 0;
}

/* ---- tensors ---------------------------------------------------------------------------------------------- */

/* Header from a host arena, data from a backend arena; zero → filled with 0 by the backend. */
static bl_tensor *arena_tensor(bl_ctx *ctx, bl_arena *host, bl_arena *arena, int ndim, const int *shape, int zero) {
    if (ndim < 0 || ndim > BL_MAX_DIMS)
        return ctx_failf(ctx, BL_ERR_INVALID, "tensor: ndim: expected 0..%d, got %d", BL_MAX_DIMS, ndim);
    int64_t numel = bl_shape_numel(ndim, shape);
    if (numel < 0 || (uint64_t)numel > (uint64_t)(SIZE_MAX / 4 / 2))
        return ctx_failf(ctx, BL_ERR_INVALID, "tensor: shape: negative or overflowing dimensions");
    bl_tensor *t = bl_arena_calloc(host, sizeof *t);
    float *data = t ? bl_arena_alloc(arena, (size_t)numel * sizeof(float)) : NULL;
    if (!data) { /* name what was being allocated: "out of memory: needs X bytes … for a float32 tensor [..]" */
        char dims[160];
        size_t k = 0;
        dims[0] = '\0';
        for (int i = 0; i < ndim && k < sizeof dims; i++)
            k += (size_t)snprintf(dims + k, sizeof dims - k, i ? ",%d" : "%d", shape[i]);
        return ctx_failf(ctx, BL_ERR_NOMEM, "%s, for a float32 tensor [%s] of %zu bytes", bl_last_error(), dims,
                         (size_t)numel * sizeof(float));
    }
    if (zero) ctx->k->fill(numel, 0.0f, data);
    t->data = data;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = numel;
    t->device = ctx->k->host_memory ? BL_DEVICE_CPU : BL_DEVICE_CUDA;
    return t;
}

static bl_tensor *step_tensor(bl_ctx *ctx, int ndim, const int *shape, int zero) {
    return arena_tensor(ctx, &ctx->step_host, &ctx->step, ndim, shape, zero);
}

static bl_tensor *persistent_tensor(bl_ctx *ctx, int ndim, const int *shape) {
    return arena_tensor(ctx, &ctx->persistent_host, &ctx->persistent, ndim, shape, 1);
}

bl_status ctx_check_backend(bl_ctx *ctx) {
    const char *e = ctx->k->take_error ? ctx->k->take_error() : NULL;
    if (e) ctx_failf(ctx, BL_ERR_DEVICE, "%s", e);
    return ctx->status;
}

bl_tensor *ctx_new_tensor(bl_ctx *ctx, int ndim, const int *shape) {
    if (ctx_check_backend(ctx)) return NULL;
    return step_tensor(ctx, ndim, shape, 0);
}

bl_tensor *bl_tensor_new(bl_ctx *ctx, int ndim, const int *shape) { return ctx_new_tensor(ctx, ndim, shape); }

bl_tensor *bl_tensor_zeros(bl_ctx *ctx, int ndim, const int *shape) { return step_tensor(ctx, ndim, shape, 1); }

bl_tensor *bl_tensor_from(bl_ctx *ctx, int ndim, const int *shape, const float *values) {
    bl_tensor *t = step_tensor(ctx, ndim, shape, 0);
    if (t) ctx->k->upload(t->data, values, (size_t)t->numel * sizeof(float));
    return t;
}

int bl_ctx_host_memory(const bl_ctx *ctx) { return ctx->k->host_memory; }

bl_status bl_tensor_upload(bl_ctx *ctx, bl_tensor *t, const float *values) {
    if (ctx->status) return ctx->status;
    if (!t || !values) return ctx_failf(ctx, BL_ERR_INVALID, "upload: NULL tensor or values"), ctx->status;
    ctx->k->upload(t->data, values, (size_t)t->numel * sizeof(float));
    return ctx_check_backend(ctx);
}

bl_status bl_tensor_download(bl_ctx *ctx, const bl_tensor *t, float *values) {
    if (ctx->status) return ctx->status;
    if (!t || !values) return ctx_failf(ctx, BL_ERR_INVALID, "download: NULL tensor or values"), ctx->status;
    ctx->k->download(values, t->data, (size_t)t->numel * sizeof(float));
    return ctx_check_backend(ctx);
}

bl_tensor *bl_tensor_persistent(bl_ctx *ctx, int ndim, const int *shape) {
    return persistent_tensor(ctx, ndim, shape);
}

static bl_tensor *register_named(bl_ctx *ctx, const char *name, int ndim, const int *shape, int with_grad) {
    if (!name || !*name) return ctx_failf(ctx, BL_ERR_INVALID, "parameter: name: empty");
    if (bl_param_find(ctx, name)) return ctx_failf(ctx, BL_ERR_INVALID, "parameter '%s': duplicate name", name);
    bl_tensor *t = persistent_tensor(ctx, ndim, shape);
    if (!t) return NULL;
    t->requires_grad = with_grad; /* .grad comes with the first backward or optimizer (ctx_param_grads) */
    if (ctx->n_params == ctx->params_cap) {
        int cap = ctx->params_cap ? 2 * ctx->params_cap : 64;
        named_tensor *p = realloc(ctx->params, (size_t)cap * sizeof *p);
        if (!p) return ctx_failf(ctx, BL_ERR_NOMEM, "parameter '%s': out of memory for the registry", name);
        ctx->params = p;
        ctx->params_cap = cap;
    }
    char *copy = malloc(strlen(name) + 1);
    if (!copy) return ctx_failf(ctx, BL_ERR_NOMEM, "parameter '%s': out of memory for its name", name);
    strcpy(copy, name);
    ctx->params[ctx->n_params].name = copy;
    ctx->params[ctx->n_params].t = t;
    ctx->n_params++;
    t->name = copy;
    return t;
}

/* A parameter's gradient lives in the persistent arena (it accumulates across backward calls until
 * bl_zero_grad). It is allocated, zeroed, the first time something needs it — a backward or an optimizer — so
 * that inference never holds a second copy of the weights. */
static int is_param(const bl_ctx *ctx, const bl_tensor *t) {
    for (int i = 0; i < ctx->n_params; i++)
        if (ctx->params[i].t == t) return 1;
    return 0;
}

bl_status ctx_param_grads(bl_ctx *ctx) {
    for (int i = 0; i < ctx->n_params && ctx->status == BL_OK; i++) {
        bl_tensor *t = ctx->params[i].t;
        if (t->requires_grad && !t->grad) t->grad = persistent_tensor(ctx, t->ndim, t->shape);
    }
    return ctx->status;
}

bl_tensor *bl_param(bl_ctx *ctx, const char *name, int ndim, const int *shape) {
    return register_named(ctx, name, ndim, shape, 1);
}

bl_tensor *bl_buffer(bl_ctx *ctx, const char *name, int ndim, const int *shape) {
    return register_named(ctx, name, ndim, shape, 0);
}

int bl_param_count(const bl_ctx *ctx) { return ctx->n_params; }
bl_tensor *bl_param_at(const bl_ctx *ctx, int i) { return (i >= 0 && i < ctx->n_params) ? ctx->params[i].t : NULL; }

bl_tensor *bl_param_find(const bl_ctx *ctx, const char *name) {
    for (int i = 0; i < ctx->n_params; i++)
        if (strcmp(ctx->params[i].name, name) == 0) return ctx->params[i].t;
    return NULL;
}

void bl_requires_grad(bl_tensor *t) {
    if (t) {
        t->requires_grad = 1;
        t->retain_grad = 1;
    }
}

/* ---- tape ------------------------------------------------------------------------------------------------- */

int tape_wanted(const bl_ctx *ctx, int n, bl_tensor *const *inputs) {
    if (!ctx->grad_enabled) return 0;
    for (int i = 0; i < n; i++)
        if (inputs[i] && inputs[i]->requires_grad) return 1;
    return 0;
}

tape_entry *tape_record(bl_ctx *ctx, const char *op, tape_backward_fn backward, bl_tensor *out, int n_in,
                        bl_tensor *const *inputs) {
    if (ctx->tape_len == ctx->tape_cap) {
        int cap = ctx->tape_cap ? 2 * ctx->tape_cap : 256;
        tape_entry *t = realloc(ctx->tape, (size_t)cap * sizeof *t);
        if (!t) {
            ctx_failf(ctx, BL_ERR_NOMEM, "%s: out of memory for the tape (%d entries)", op, cap);
            return NULL;
        }
        ctx->tape = t;
        ctx->tape_cap = cap;
    }
    bl_tensor **in = bl_arena_alloc(&ctx->step_host, (size_t)(n_in > 0 ? n_in : 1) * sizeof *in);
    if (!in) {
        ctx_failf(ctx, BL_ERR_NOMEM, "%s", bl_last_error());
        return NULL;
    }
    for (int i = 0; i < n_in; i++) in[i] = inputs[i];
    tape_entry *e = &ctx->tape[ctx->tape_len++];
    memset(e, 0, sizeof *e);
    e->op = op;
    e->backward = backward;
    e->out = out;
    e->n_in = n_in;
    e->in = in;
    out->requires_grad = 1;
    return e;
}

/* A zeroed gradient tensor shaped like `like`, its data from the gradient pool (grad_pool.h). */
static bl_tensor *pooled_grad(bl_ctx *ctx, const bl_tensor *like) {
    bl_tensor *g = bl_arena_calloc(&ctx->step_host, sizeof *g);
    float *data = g ? bl_grad_pool_take(&ctx->grads, (size_t)like->numel * sizeof(float)) : NULL;
    if (!data) {
        char dims[64];
        return ctx_failf(ctx, BL_ERR_NOMEM, "%s, for the gradient of a float32 tensor %s", bl_last_error(),
                         bl_shape_str(like, dims, sizeof dims));
    }
    ctx->k->fill(like->numel, 0.0f, data);
    *g = (bl_tensor){.data = data, .ndim = like->ndim, .numel = like->numel, .device = like->device};
    for (int i = 0; i < like->ndim; i++) g->shape[i] = like->shape[i];
    return g;
}

float *tape_grad(bl_ctx *ctx, bl_tensor *t) {
    if (!t || !t->requires_grad) return NULL;
    if (!t->grad) {
        /* parameters are named (an activation seldom is): the registry is searched only for named tensors */
        t->grad = t->name && is_param(ctx, t) ? persistent_tensor(ctx, t->ndim, t->shape) : pooled_grad(ctx, t);
        if (!t->grad) return NULL;
    }
    return t->grad->data;
}

float *tape_scratch(bl_ctx *ctx, int64_t count) {
    float *data = bl_grad_pool_take(&ctx->grads, (size_t)count * sizeof(float));
    if (!data)
        ctx_failf(ctx, BL_ERR_NOMEM, "%s, for a backward's scratch of %lld floats", bl_last_error(), (long long)count);
    return data;
}

void tape_scratch_release(bl_ctx *ctx, float *scratch) { bl_grad_pool_give(&ctx->grads, scratch); }

/* An activation's gradient is dead once the backward of the op that produced the activation has run: give its
 * memory back to the pool, unless someone asked to keep it (bl_requires_grad: Grad-CAM, tests). */
static void release_grad(bl_ctx *ctx, bl_tensor *t) {
    if (t->grad && !t->retain_grad && bl_grad_pool_give(&ctx->grads, t->grad->data)) t->grad = NULL;
}

/* One entry's backward. An entry that absorbed a ReLU (bl_relu_inplace) first turns ∂L/∂relu(out) into ∂L/∂out with
 * relu_backward — the very kernel call the ReLU's own entry would have made, into a zeroed buffer — so the
 * gradients are bitwise those of the unfused pair: out > 0 exactly where the ReLU's input was > 0. When nobody
 * keeps ∂L/∂relu(out) and the backend has relu_backward_inplace (the same values, written over the incoming
 * gradient: no buffer to zero, two memory passes fewer), that slot does it. */
static void run_entry(bl_ctx *ctx, tape_entry *e) {
    if (!e->relu_after) {
        e->backward(ctx, e);
        return;
    }
    if (!e->out->retain_grad && ctx->k->relu_backward_inplace) { /* nobody reads ∂L/∂relu(out) afterwards */
        ctx->k->relu_backward_inplace(ctx->k, e->out->numel, e->out->data, e->out->grad->data);
        e->backward(ctx, e);
        return;
    }
    bl_tensor *dy = e->out->grad, *dz = pooled_grad(ctx, e->out);
    if (!dz) return;
    ctx->k->relu_backward(ctx->k, e->out->numel, e->out->data, dy->data, dz->data);
    e->out->grad = dz;
    e->backward(ctx, e);
    e->out->grad = dy;
    bl_grad_pool_give(&ctx->grads, dz->data);
}

int bl_tape_length(const bl_ctx *ctx) { return ctx->tape_len; }

static bl_status run_backward(bl_ctx *ctx) {
    for (int i = ctx->tape_len - 1; i >= 0 && ctx->status == BL_OK; i--) {
        tape_entry *e = &ctx->tape[i];
        if (e->out->grad) run_entry(ctx, e);
        release_grad(ctx, e->out);
        ctx_check_backend(ctx);
    }
    return ctx->status;
}

bl_status bl_backward_with(bl_ctx *ctx, bl_tensor *y, const float *dy) {
    if (ctx->status != BL_OK) return ctx->status;
    if (!y) return ctx_failf(ctx, BL_ERR_INVALID, "backward: output: NULL tensor"), ctx->status;
    if (!y->requires_grad)
        return ctx_failf(ctx, BL_ERR_INVALID, "backward: output does not depend on anything that requires a gradient"),
               ctx->status;
    if (ctx_param_grads(ctx)) return ctx->status;
    float *g = tape_grad(ctx, y);
    /* dy is host memory: stage it in a step tensor of the backend first */
    bl_tensor *staged = g ? bl_tensor_from(ctx, y->ndim, y->shape, dy) : NULL;
    if (!staged) return ctx->status;
    ctx->k->axpy(ctx->k, y->numel, 1.0f, staged->data, g);
    return run_backward(ctx);
}

bl_status bl_backward(bl_ctx *ctx, bl_tensor *loss) {
    if (ctx->status != BL_OK) return ctx->status;
    if (loss && loss->numel != 1) {
        char s[64];
        return ctx_failf(ctx, BL_ERR_INVALID, "backward: loss: expected one element, got shape %s",
                         bl_shape_str(loss, s, sizeof s)),
               ctx->status;
    }
    const float one = 1.0f;
    return bl_backward_with(ctx, loss, &one);
}

bl_status bl_alloc_param_grads(bl_ctx *ctx) { return ctx->status ? ctx->status : ctx_param_grads(ctx); }

void bl_zero_grad(bl_ctx *ctx) {
    for (int i = 0; i < ctx->n_params; i++) {
        bl_tensor *t = ctx->params[i].t;
        if (t->grad) ctx->k->fill(t->numel, 0.0f, t->grad->data);
    }
}

void bl_step_end(bl_ctx *ctx) {
    ctx->tape_len = 0;
    bl_arena_reset(&ctx->step);
    bl_arena_reset(&ctx->step_host);
    bl_grad_pool_reset(&ctx->grads);
    ctx->step_index++;
    ctx->dropout_calls = 0;
}
