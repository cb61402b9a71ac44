/* guard_backend.c — the "guard" test backend (guard_backend.h): ref's kernels over memory that is PROT_NONE
 * whenever none of the table's own slots is running. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include "guard_backend.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- live chunks and their protection ----------------------------------------------------------------------
 * A slot opens (PROT_READ|PROT_WRITE) only the chunks its buffers lie in — an arena allocation never spans two
 * chunks, so that is all a kernel may touch — and closes them again before it returns. Chunks are 2 MiB-aligned
 * and asked to be transparent huge pages: mprotect then rewrites one entry per 2 MiB instead of one per 4 KiB,
 * which keeps a ResNet50 training step under the guard within seconds. */

typedef struct chunk {
    unsigned char *base;
    size_t size;     /* a whole number of huge pages */
    size_t mapped;   /* what was mmap'ed (size + alignment slack) */
    unsigned char *map;
} chunk;

#define HUGE_PAGE ((size_t)2 << 20)
#define MAX_OPEN 16

static chunk *chunks;
static int n_chunks, chunks_cap;
static int64_t kernel_calls, transfers;
static char error[200];  /* first contract violation since the last take_error */

static void protect(const chunk *c, int prot) {
    if (mprotect(c->base, c->size, prot) != 0) {
        perror("guard backend: mprotect");
        abort(); /* a test scaffold, not the library: a guard that cannot guard must not pass silently */
    }
}

static int chunk_of(const void *p) {
    const unsigned char *q = p;
    for (int i = 0; p && i < n_chunks; i++)
        if (q >= chunks[i].base && q < chunks[i].base + chunks[i].size) return i;
    return -1;
}

static int in_chunk(const void *p) { return chunk_of(p) >= 0; }

static void violation(const char *fmt, ...) {
    if (error[0]) return; /* keep the first */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error, sizeof error, fmt, ap);
    va_end(ap);
}

/* The chunks of these buffers (distinct, at most MAX_OPEN) → open[]; returns their count. */
typedef struct open_set {
    int index[MAX_OPEN];
    int count;
} open_set;

static void guard_open(open_set *o, const void *const *buffers, int count) {
    o->count = 0;
    for (int i = 0; i < count; i++) {
        int c = chunk_of(buffers[i]), seen = 0;
        for (int j = 0; j < o->count; j++) seen |= o->index[j] == c;
        if (c >= 0 && !seen && o->count < MAX_OPEN) o->index[o->count++] = c;
    }
    for (int j = 0; j < o->count; j++) protect(&chunks[o->index[j]], PROT_READ | PROT_WRITE);
}

static void guard_close(const open_set *o) {
    for (int j = 0; j < o->count; j++) protect(&chunks[o->index[j]], PROT_NONE);
}

/* Every non-NULL buffer of a kernel call must be backend memory. */
static void check_buffers(const char *slot, const void *const *buffers, int count) {
    for (int i = 0; i < count; i++)
        if (buffers[i] && !in_chunk(buffers[i])) violation("%s: buffer %d is not backend memory", slot, i + 1);
}

static bl_mem_alloc_fn guard_mem_alloc;
static bl_mem_free_fn guard_mem_free;
static bl_memcpy_fn guard_upload, guard_download, guard_copy;
static bl_fill_fn guard_fill;
static bl_take_error_fn guard_take_error;

static void *guard_mem_alloc(size_t bytes) {
    size_t size = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    if (size == 0) size = HUGE_PAGE;
    if (n_chunks == chunks_cap) {
        int cap = chunks_cap ? 2 * chunks_cap : 64;
        chunk *grown = realloc(chunks, (size_t)cap * sizeof *grown);
        if (!grown) return NULL;
        chunks = grown;
        chunks_cap = cap;
    }
    /* PROT_NONE from birth; over-map by one huge page to align the chunk to 2 MiB */
    size_t mapped = size + HUGE_PAGE;
    unsigned char *map = mmap(NULL, mapped, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) return NULL;
    unsigned char *base = (unsigned char *)(((uintptr_t)map + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE);
    madvise(base, size, MADV_HUGEPAGE); /* a hint: without huge pages the guard is only slower */
    chunks[n_chunks++] = (chunk){base, size, mapped, map};
    return base;
}

static void guard_mem_free(void *ptr) {
    for (int i = 0; i < n_chunks; i++)
        if (chunks[i].base == ptr) {
            munmap(chunks[i].map, chunks[i].mapped);
            chunks[i] = chunks[--n_chunks];
            return;
        }
    violation("mem_free: %p is not a live chunk", ptr);
}

/* ---- memory slots: the only ways between host and backend memory ------------------------------------------- */

static const bl_kernels *ref;

static void guard_upload(void *dst, const void *src, size_t bytes) {
    if (!in_chunk(dst) || (bytes && in_chunk(src))) violation("upload: destination must be backend memory, source host");
    transfers++;
    open_set o;
    guard_open(&o, (const void *const[]){dst}, 1);
    ref->upload(dst, src, bytes);
    guard_close(&o);
}

static void guard_download(void *dst, const void *src, size_t bytes) {
    if (!in_chunk(src) || (bytes && in_chunk(dst))) violation("download: source must be backend memory, destination host");
    transfers++;
    open_set o;
    guard_open(&o, (const void *const[]){src}, 1);
    ref->download(dst, src, bytes);
    guard_close(&o);
}

static void guard_copy(void *dst, const void *src, size_t bytes) {
    if (!in_chunk(dst) || !in_chunk(src)) violation("copy: both sides must be backend memory");
    transfers++;
    open_set o;
    guard_open(&o, (const void *const[]){dst, src}, 2);
    ref->copy(dst, src, bytes);
    guard_close(&o);
}

static void guard_fill(int64_t count, float value, float *dst) {
    if (count > 0 && !in_chunk(dst)) violation("fill: destination is not backend memory");
    transfers++;
    open_set o;
    guard_open(&o, (const void *const[]){dst}, 1);
    ref->fill(count, value, dst);
    guard_close(&o);
}

static const char *guard_take_error(void) {
    static char taken[sizeof error + 32];
    if (!error[0]) return NULL;
    snprintf(taken, sizeof taken, "guard backend: %s", error); /* the line names the backend (kernels.h) */
    error[0] = '\0';
    return taken;
}

/* ---- kernel slots: one wrapper per slot, generated from this list ------------------------------------------
 * GUARD_KERNEL(slot, (parameters), (arguments), (buffers)) defines guard_<slot>: check that every buffer is
 * backend memory, open the buffers' chunks, ref-><slot>(arguments), close them. Each wrapper is declared with
 * its slot's function type (bl_<slot>_fn), so a parameter list here that drifts from kernels.h does not compile. */
#define GUARD_EXPAND(...) __VA_ARGS__
#define GUARD_KERNEL(slot, params, args, buffers)                                    \
    static bl_##slot##_fn guard_##slot; /* the compiler checks params against it */  \
    static void guard_##slot(const bl_kernels *self, GUARD_EXPAND params) {          \
        const void *const list[] = {GUARD_EXPAND buffers};                           \
        int n_buffers = (int)(sizeof list / sizeof list[0]);                         \
        open_set o;                                                                  \
        check_buffers(#slot, list, n_buffers);                                       \
        kernel_calls++;                                                              \
        guard_open(&o, list, n_buffers);                                             \
        ref->slot(ref, GUARD_EXPAND args);                                           \
        guard_close(&o);                                                             \
    }

#define GUARD_KERNEL_LIST(X)                                                                                          \
    X(sgemm, (int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,      \
              float beta, float *c, int ldc),                                                                         \
      (ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc), (a, b, c))                                               \
    X(conv2d_forward, (const bl_conv2d_shape *s, const float *x, const float *w, const float *b, float *y),           \
      (s, x, w, b, y), (x, w, b, y))                                                                                  \
    X(conv2d_backward_data, (const bl_conv2d_shape *s, const float *dy, const float *w, float *dx), (s, dy, w, dx),   \
      (dy, w, dx))                                                                                                    \
    X(conv2d_backward_filter, (const bl_conv2d_shape *s, const float *x, const float *dy, float *dw, float *db),      \
      (s, x, dy, dw, db), (x, dy, dw, db))                                                                            \
    X(bias_channels_forward, (int n, int c, int64_t hw, const float *b, float *y), (n, c, hw, b, y), (b, y))          \
    X(bias_channels_backward, (int n, int c, int64_t hw, const float *dy, float *db), (n, c, hw, dy, db), (dy, db))   \
    X(batchnorm2d_forward_train,                                                                                      \
      (const bl_batchnorm2d_shape *s, const float *x, const float *g, const float *b, float *y, float *rm, float *rv, \
       float *sm, float *si),                                                                                         \
      (s, x, g, b, y, rm, rv, sm, si), (x, g, b, y, rm, rv, sm, si))                                                  \
    X(batchnorm2d_forward_eval,                                                                                       \
      (const bl_batchnorm2d_shape *s, const float *x, const float *g, const float *b, const float *rm,                \
       const float *rv, float *y),                                                                                    \
      (s, x, g, b, rm, rv, y), (x, g, b, rm, rv, y))                                                                  \
    X(batchnorm2d_relu_forward_eval,                                                                                  \
      (const bl_batchnorm2d_shape *s, const float *x, const float *g, const float *b, const float *rm,                \
       const float *rv, float *y),                                                                                    \
      (s, x, g, b, rm, rv, y), (x, g, b, rm, rv, y))                                                                  \
    X(batchnorm2d_eval_stats, (int c, float eps, const float *rm, const float *rv, float *mean, float *invstd),       \
      (c, eps, rm, rv, mean, invstd), (rm, rv, mean, invstd))                                                         \
    X(batchnorm2d_backward,                                                                                           \
      (const bl_batchnorm2d_shape *s, int training, const float *x, const float *dy, const float *g,                  \
       const float *mean, const float *invstd, float *dx, float *dg, float *db),                                      \
      (s, training, x, dy, g, mean, invstd, dx, dg, db), (x, dy, g, mean, invstd, dx, dg, db))                        \
    X(maxpool2d_forward, (const bl_pool2d_shape *s, const float *x, float *y), (s, x, y), (x, y))                      \
    X(maxpool2d_backward, (const bl_pool2d_shape *s, const float *x, const float *dy, float *dx), (s, x, dy, dx),     \
      (x, dy, dx))                                                                                                    \
    X(avgpool2d_forward, (const bl_pool2d_shape *s, const float *x, float *y), (s, x, y), (x, y))                      \
    X(avgpool2d_backward, (const bl_pool2d_shape *s, const float *dy, float *dx), (s, dy, dx), (dy, dx))               \
    X(global_avgpool_forward, (int64_t nc, int64_t hw, const float *x, float *y), (nc, hw, x, y), (x, y))              \
    X(global_avgpool_backward, (int64_t nc, int64_t hw, const float *dy, float *dx), (nc, hw, dy, dx), (dy, dx))       \
    X(upsample_bilinear2d_forward, (const bl_resize_shape *s, const float *x, float *y), (s, x, y), (x, y))          \
    X(upsample_bilinear2d_backward, (const bl_resize_shape *s, const float *dy, float *dx), (s, dy, dx), (dy, dx))   \
    X(linear_forward, (int n, int in, int out, const float *x, const float *w, const float *b, float *y),            \
      (n, in, out, x, w, b, y), (x, w, b, y))                                                                         \
    X(linear_backward,                                                                                                \
      (int n, int in, int out, const float *x, const float *w, const float *dy, float *dx, float *dw, float *db),    \
      (n, in, out, x, w, dy, dx, dw, db), (x, w, dy, dx, dw, db))                                                     \
    X(relu_forward, (int64_t count, const float *x, float *y), (count, x, y), (x, y))                                  \
    X(relu_backward, (int64_t count, const float *x, const float *dy, float *dx), (count, x, dy, dx), (x, dy, dx))     \
    X(relu_backward_inplace, (int64_t count, const float *y, float *g), (count, y, g), (y, g))                        \
    X(sigmoid_forward, (int64_t count, const float *x, float *y), (count, x, y), (x, y))                               \
    X(sigmoid_backward, (int64_t count, const float *y, const float *dy, float *dx), (count, y, dy, dx), (y, dy, dx))  \
    X(add_forward, (int64_t count, const float *a, const float *b, float *y), (count, a, b, y), (a, b, y))             \
    X(axpy, (int64_t count, float alpha, const float *src, float *dst), (count, alpha, src, dst), (src, dst))          \
    X(add_scalar, (int64_t count, float scale, const float *alpha, float *dst), (count, scale, alpha, dst),           \
      (alpha, dst))                                                                                                   \
    X(dropout_mask, (int64_t count, uint64_t key, float p, float keep_scale, float *mask),                            \
      (count, key, p, keep_scale, mask), (mask))                                                                      \
    X(mul_forward, (int64_t count, const float *x, const float *mask, float *y), (count, x, mask, y), (x, mask, y))    \
    X(mul_backward, (int64_t count, const float *mask, const float *dy, float *dx), (count, mask, dy, dx),            \
      (mask, dy, dx))                                                                                                 \
    X(concat_channels_forward, (int n, int c_part, int c_total, int c_off, int64_t hw, const float *x, float *y),    \
      (n, c_part, c_total, c_off, hw, x, y), (x, y))                                                                  \
    X(concat_channels_backward, (int n, int c_part, int c_total, int c_off, int64_t hw, const float *dy, float *dx), \
      (n, c_part, c_total, c_off, hw, dy, dx), (dy, dx))                                                              \
    X(sum_forward, (int64_t count, const float *x, double divisor, float *y), (count, x, divisor, y), (x, y))          \
    X(bce_with_logits_forward, (int n, const float *z, const float *t, const float *w, float *loss),                  \
      (n, z, t, w, loss), (z, t, w, loss))                                                                            \
    X(bce_with_logits_backward, (int n, const float *z, const float *t, const float *w, const float *dl, float *dz), \
      (n, z, t, w, dl, dz), (z, t, w, dl, dz))                                                                        \
    X(softmax_cross_entropy_forward,                                                                                  \
      (const bl_class_loss_shape *s, const float *z, const float *t, const float *w, float *loss), (s, z, t, w, loss), \
      (z, t, w, loss))                                                                                                \
    X(softmax_cross_entropy_backward,                                                                                 \
      (const bl_class_loss_shape *s, const float *z, const float *t, const float *w, const float *dl, float *dz),     \
      (s, z, t, w, dl, dz), (z, t, w, dl, dz))                                                                        \
    X(dice_loss_forward, (const bl_class_loss_shape *s, const float *z, const float *t, float *loss), (s, z, t, loss), \
      (z, t, loss))                                                                                                   \
    X(dice_loss_backward, (const bl_class_loss_shape *s, const float *z, const float *t, const float *dl, float *dz), \
      (s, z, t, dl, dz), (z, t, dl, dz))                                                                              \
    X(sgd_update,                                                                                                     \
      (int64_t count, float *p, const float *grad, float *buf, float lr, float momentum, float dampening, float wd,   \
       int nesterov, int first),                                                                                      \
      (count, p, grad, buf, lr, momentum, dampening, wd, nesterov, first), (p, grad, buf))                            \
    X(adam_update,                                                                                                    \
      (int64_t count, float *p, const float *grad, float *m, float *v, float lr, float b1, float b2, float eps,       \
       float wd, int decoupled, int64_t step),                                                                        \
      (count, p, grad, m, v, lr, b1, b2, eps, wd, decoupled, step), (p, grad, m, v))

GUARD_KERNEL_LIST(GUARD_KERNEL)

/* ---- the table ---------------------------------------------------------------------------------------------- */

static bl_kernels table;

const bl_kernels *guard_kernels(void) {
    if (!ref) {
        ref = bl_kernels_ref();
        table = *ref;
        table.name = "guard";
#define GUARD_INSTALL(slot, params, args, buffers) table.slot = guard_##slot;
        GUARD_KERNEL_LIST(GUARD_INSTALL)
#undef GUARD_INSTALL
        table.host_memory = 0;
        table.mem_alloc = guard_mem_alloc;
        table.mem_free = guard_mem_free;
        table.upload = guard_upload;
        table.download = guard_download;
        table.copy = guard_copy;
        table.fill = guard_fill;
        table.take_error = guard_take_error;
    }
    return &table;
}

guard_stats guard_get_stats(void) {
    guard_stats s = {.live_chunks = n_chunks, .kernel_calls = kernel_calls, .transfers = transfers};
    for (int i = 0; i < n_chunks; i++) s.live_bytes += (int64_t)chunks[i].size;
    return s;
}
