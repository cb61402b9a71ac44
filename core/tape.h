/* tape.h — PRIVATE to core/: the context's layout and the tape entry, shared by core/autograd.c and the
 * op files core/op_*.c. Users include autograd.h only.
 *
 * An op file follows one pattern (bl_relu in core/op_elementwise.c is the shortest example):
 *   1. validate inputs (shape, device) → on error: ctx_failf(ctx, …) and return NULL;
 *   2. allocate the output in the step arena and call the backend's forward kernel;
 *   3. if any input requires a gradient and grad mode is on: tape_record() an entry with the inputs, the output,
 *      saved tensors, the attributes, and the op's static backward function.
 * A backward function reads e->out->grad (∂L/∂y) and ACCUMULATES into tape_grad(ctx, input) for each input that
 * requires a gradient (tape_grad returns NULL for those that do not, and kernels skip NULL pointers). */
#ifndef BLASTO_TAPE_H
#define BLASTO_TAPE_H

#include "core/autograd.h"
#include "core/grad_pool.h"
#include "core/kernels.h"

#define TAPE_MAX_SAVED 4

typedef struct tape_entry tape_entry;
typedef void (*tape_backward_fn)(bl_ctx *ctx, tape_entry *e);

struct tape_entry {
    const char *op;              /* "conv2d", … (traces, errors) */
    tape_backward_fn backward;
    bl_tensor *out;
    int n_in;
    bl_tensor **in;              /* n_in inputs (step arena) */
    bl_tensor *saved[TAPE_MAX_SAVED];
    int relu_fusable;            /* set by an op whose backward never reads its output's values: bl_relu_inplace may
                                    then overwrite the output with relu(output) and fold the ReLU into this entry */
    int relu_after;              /* the output was overwritten by relu(output) (bl_relu_inplace): backward first masks
                                    ∂L/∂out by out > 0, exactly what the ReLU's own entry would have done */
    union {                      /* the op's attributes */
        bl_conv2d_shape conv2d;
        bl_pool2d_shape pool2d;
        struct { bl_batchnorm2d_shape shape; int training; double synced_count; } batchnorm2d; /* count > 0: the
                                          statistics were synchronised over processes of that many elements each channel */
        struct { int n, in, out; } linear;
        struct { int n; float scale; } reduce; /* sum / mean: dx += scale·dy */
        struct { int n; } bce;
        bl_resize_shape resize;
        bl_class_loss_shape class_loss;
    } attr;
};

typedef struct named_tensor {
    char *name;
    bl_tensor *t;
} named_tensor;

struct bl_ctx {
    const bl_kernels *k;
    bl_arena persistent;         /* tensor data that lives across steps (backend memory) */
    bl_arena step;               /* tensor data of one step (backend memory) */
    bl_arena persistent_host;    /* headers of persistent tensors (host memory) */
    bl_arena step_host;          /* headers of step tensors, tape input arrays (host memory) */
    bl_grad_pool grads;          /* data of activation gradients (backend memory), released during backward */
    tape_entry *tape;            /* growable array (malloc'ed; capacity kept across steps) */
    int tape_len, tape_cap;
    named_tensor *params;        /* parameters and buffers by name (malloc'ed) */
    int n_params, params_cap;
    int training;
    int grad_enabled;
    bl_batch_reduce_fn *batch_reduce;  /* synchronised batchnorm (bl_set_batch_reduce); NULL: this batch only */
    void *batch_reduce_user;
    uint64_t seed;
    int64_t step_index;
    uint32_t dropout_calls;      /* dropout calls in this step (stream index low bits) */
    bl_status status;            /* first error (sticky) */
    char error[1024];
};

/* Record the first error (message via bl_fail conventions) and return NULL for `return ctx_failf(...)`. */
bl_tensor *ctx_failf(bl_ctx *ctx, bl_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* NULL-propagation: returns 1 (and records an error naming `op`) if ctx has failed or any input is NULL. */
int ctx_check_inputs(bl_ctx *ctx, const char *op, int n, bl_tensor *const *inputs);
/* New step tensor (NULL + error on OOM). Also where a device backend's asynchronous error becomes the sticky
 * error: every op allocates its output first, so a failed kernel of the previous op is reported here. */
bl_tensor *ctx_new_tensor(bl_ctx *ctx, int ndim, const int *shape);
/* A backend's pending asynchronous error → the sticky error; returns ctx->status. */
bl_status ctx_check_backend(bl_ctx *ctx);
/* Does this op need a tape entry? (grad mode on and some input requires a gradient) */
int tape_wanted(const bl_ctx *ctx, int n, bl_tensor *const *inputs);
/* Append an entry; copies the inputs array into the step arena; marks out->requires_grad. NULL on OOM. */
tape_entry *tape_record(bl_ctx *ctx, const char *op, tape_backward_fn backward, bl_tensor *out, int n_in,
                        bl_tensor *const *inputs);
/* Allocate (zeroed) the missing .grad of every parameter that requires one; returns ctx->status. */
bl_status ctx_param_grads(bl_ctx *ctx);
/* The gradient buffer of t for accumulation: NULL when t does not require one; allocated zeroed on first use. */
float *tape_grad(bl_ctx *ctx, bl_tensor *t);
/* Backend memory for `count` floats that a backward needs only while it runs (a product it then accumulates),
 * from the gradient pool (uninitialised); NULL + the context's error when out of memory. Give it back with
 * tape_scratch_release before the backward returns. */
float *tape_scratch(bl_ctx *ctx, int64_t count);
void tape_scratch_release(bl_ctx *ctx, float *scratch);

#endif
