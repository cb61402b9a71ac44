/* kernels_cpu_elementwise.c — the cpu backend's threaded elementwise, concat, global-average-pool and optimizer
 * kernels (signatures and conventions: kernels.h; the bitwise-equality contract: kernels_cpu_ops.h).
 *
 * Buffers are `restrict` inside the loops (so the compiler vectorises them): the op layer always writes a fresh
 * output or a gradient buffer distinct from every input it reads (two read-only inputs may be the same, as in
 * bl_add(x, x)).
 * Two kinds of kernel live here:
 *   - float rewrites of ref loops whose double arithmetic is one innocuous double rounding (relu, add, axpy with
 *     alpha = ±1, add_scalar, mul, concat): plain float loops the compiler vectorises, split over threads;
 *   - ref kernels run on slices (general axpy, mul backward, global average pool, SGD, Adam): the arithmetic is
 *     ref's own, element by element or row by row, and only the range each thread covers is new. SGD and Adam
 *     use the AVX2 + FMA compilation of ref's loops (optim_cpu_avx2.c) on CPUs that have it.
 * What it is not: a place for reductions across elements — sum_forward and the BCE loss stay ref (one scalar
 * output each, tiny inputs in practice). */
#include <string.h>

#include "cpu_features.h"
#include "kernels_cpu_ops.h"
#include "kernels_ref.h"
#include "threads.h"

/* Below this many elements per thread a parallel region costs more than it saves (~1 µs of work). */
enum { ELEMENTWISE_GRAIN = 16384 };

typedef struct range_job {
    int64_t count, pieces;
    bl_range_fn fn;
    void *arg;
} range_job;

/* piece t of the job covers [t·count/pieces, (t+1)·count/pieces), boundaries rounded down to 16 elements so
 * that each piece's vector loop starts on a 64-byte boundary of the (64-byte aligned) tensors */
static void range_task(void *arg, int task) {
    range_job *job = arg;
    int64_t begin = job->count * task / job->pieces, end = job->count * (task + 1) / job->pieces;
    begin = task == 0 ? 0 : begin & ~(int64_t)15;
    end = task == job->pieces - 1 ? job->count : end & ~(int64_t)15;
    if (end > begin) job->fn(job->arg, begin, end);
}

void bl_parallel_range(int64_t count, int64_t grain, bl_range_fn fn, void *arg) {
    if (count <= 0) return;
    int64_t pieces = bl_threads_get();
    if (grain < 1) grain = 1;
    if (pieces > count / grain) pieces = count / grain;
    if (pieces <= 1) {
        fn(arg, 0, count);
        return;
    }
    range_job job = {.count = count, .pieces = pieces, .fn = fn, .arg = arg};
    bl_parallel_for((int)pieces, range_task, &job);
}

/* The arguments of every elementwise kernel, as one struct the range tasks read. */
typedef struct elementwise_job {
    const float *a, *b;
    float *out;
    float alpha;
} elementwise_job;

/* ---- relu ---- */

/* ReLU as bit selects on 4-float vectors (GCC/clang vector extensions, portable to every target). A scalar
 * `x > 0 ? … : …` is not vectorised under strict IEEE (the compiler keeps float compares scalar, as they may
 * trap), and a max instruction would differ from ref on NaN. So the test x > 0 is done on the bits, as integers:
 * for an IEEE float, x > 0 ⇔ 0 < bits ≤ 0x7f800000 (signed 32-bit): negative numbers and −0 have the sign bit
 * set (negative as integers), +0 is 0, +inf is 0x7f800000 and every positive NaN lies above it. */
typedef float f32x4 __attribute__((vector_size(16)));
typedef int32_t i32x4 __attribute__((vector_size(16)));

/* all-ones lanes where x > 0 (false for NaN) */
static inline i32x4 positive_lanes(f32x4 x) {
    i32x4 bits = (i32x4)x;
    return (bits > (i32x4){0}) & (bits < (i32x4){0x7f800001, 0x7f800001, 0x7f800001, 0x7f800001});
}

/* y may be x (bl_relu_): each element is read, then written, at the same index — no restrict here */
static void relu_forward_range(void *arg, int64_t begin, int64_t end) {
    const elementwise_job *j = arg;
    const float *x = j->a;
    float *y = j->out;
    int64_t i = begin;
    for (; i + 4 <= end; i += 4) {
        f32x4 xv;
        memcpy(&xv, x + i, sizeof xv);
        i32x4 keep = positive_lanes(xv);
        i32x4 out = (i32x4)xv & keep; /* x where x > 0, else +0 (NaN → 0, as ref) */
        memcpy(y + i, &out, sizeof out);
    }
    for (; i < end; i++) y[i] = x[i] > 0 ? x[i] : 0.0f;
}

/* in x, out y = max(x, 0) — [count] */
void relu_forward_cpu(int64_t count, const float *x, float *y) {
    elementwise_job job = {.a = x, .out = y};
    bl_parallel_range(count, ELEMENTWISE_GRAIN, relu_forward_range, &job);
}

/* dx += dy where x > 0: ref's (float)((double)dx + dy) is the float sum (innocuous double rounding). Elements
 * with x ≤ 0 (or NaN) keep their dx bits, as ref leaves them (so a −0 stays −0). */
static void relu_backward_range(void *arg, int64_t begin, int64_t end) {
    const elementwise_job *j = arg;
    const float *restrict x = j->a, *restrict dy = j->b;
    float *restrict dx = j->out;
    int64_t i = begin;
    for (; i + 4 <= end; i += 4) {
        f32x4 xv, dyv, dxv;
        memcpy(&xv, x + i, sizeof xv), memcpy(&dyv, dy + i, sizeof dyv), memcpy(&dxv, dx + i, sizeof dxv);
        f32x4 sum = dxv + dyv;
        i32x4 take = positive_lanes(xv);
        i32x4 out = ((i32x4)sum & take) | ((i32x4)dxv & ~take);
        memcpy(dx + i, &out, sizeof out);
    }
    for (; i < end; i++)
        if (x[i] > 0) dx[i] = dx[i] + dy[i];
}

/* in x, in dy, acc dx — [count] */
void relu_backward_cpu(int64_t count, const float *x, const float *dy, float *dx) {
    elementwise_job job = {.a = x, .b = dy, .out = dx};
    bl_parallel_range(count, ELEMENTWISE_GRAIN, relu_backward_range, &job);
}

/* g = 0 + g where y > 0, else +0 (kernels.h relu_backward_inplace): relu_backward_range's lanes with dx = +0 */
static void relu_backward_inplace_range(void *arg, int64_t begin, int64_t end) {
    const elementwise_job *j = arg;
    const float *restrict y = j->a;
    float *restrict g = j->out;
    int64_t i = begin;
    for (; i + 4 <= end; i += 4) {
        f32x4 yv, gv;
        memcpy(&yv, y + i, sizeof yv), memcpy(&gv, g + i, sizeof gv);
        f32x4 sum = gv + (f32x4){0.0f, 0.0f, 0.0f, 0.0f}; /* −0 → +0, as 0 + dy in relu_backward */
        i32x4 out = (i32x4)sum & positive_lanes(yv);
        memcpy(g + i, &out, sizeof out);
    }
    for (; i < end; i++) g[i] = y[i] > 0 ? 0.0f + g[i] : 0.0f;
}

/* in y, io g — [count] */
void relu_backward_inplace_cpu(int64_t count, const float *y, float *g) {
    elementwise_job job = {.a = y, .out = g};
    bl_parallel_range(count, ELEMENTWISE_GRAIN, relu_backward_inplace_range, &job);
}

/* ---- copy ---- */

typedef struct copy_job {
    char *dst;
    const char *src;
} copy_job;

static void copy_range(void *arg, int64_t begin, int64_t end) {
    const copy_job *j = arg;
    memcpy(j->dst + begin, j->src + begin, (size_t)(end - begin));
}

/* dst ← src, `bytes` bytes, regions not overlapping (kernels.h copy): memcpy split across threads (a scope's
 * move of a block output in inference was ~10 % of a ResNet50 forward on one thread while the other waited) */
void copy_cpu(void *dst, const void *src, size_t bytes) {
    copy_job job = {.dst = dst, .src = src};
    bl_parallel_range((int64_t)bytes, 4 * ELEMENTWISE_GRAIN, copy_range, &job);
}

/* ---- fill ---- */

static void fill_range(void *arg, int64_t begin, int64_t end) {
    const elementwise_job *j = arg;
    host_fill(end - begin, j->alpha, j->out + begin);
}

/* out dst[i] = value — [count]: ref's memset / store loop, split across threads (the gradient buffers that
 * backward zeroes were 2–3 % of a ResNet50 training step on one thread while the other waited) */
void fill_cpu(int64_t count, float value, float *dst) {
    elementwise_job job = {.out = dst, .alpha = value};
    bl_parallel_range(count, ELEMENTWISE_GRAIN, fill_range, &job);
}

/* ---- add, axpy, add_scalar, mul ---- */

/* y may be a (bl_add_): element i is read, then written — no restrict on a and y */
static void add_range(void *arg, int64_t begin, int64_t end) {
    const elementwise_job *j = arg;
    const float *a = j->a, *b = j->b;
    float *y = j->out;
    for (int64_t i = begin; i < end; i++) y[i] = a[i] + b[i];
}

/* in a, in b, out y = a + b — [count] */
void add_forward_cpu(int64_t count, const float *a, const float *b, float *y) {
    elementwise_job job = {.a = a, .b = b, .out = y};
    bl_parallel_range(count, ELEMENTWISE_GRAIN, add_range, &job);
}

/* dst += src (alpha = 1) or dst −= src (alpha = −1): α·src is exact, so ref's double expression is one float add */
static void axpy_unit_range(void *arg, int64_t begin, int64_t end) {
    const elementwise_job *j = arg;
    const float *restrict src = j->a;
    float *restrict dst = j->out;
    if (j->alpha > 0)
        for (int64_t i = begin; i < end; i++) dst[i] = dst[i] + src[i];
    else
        for (int64_t i = begin; i < end; i++) dst[i] = dst[i] - src[i];
}

/* any other alpha: ref's expression (a double fused product and sum) on the slice */
static void axpy_general_range(void *arg, int64_t begin, int64_t end) {
    const elementwise_job *j = arg;
    axpy_ref(end - begin, j->alpha, j->a + begin, j->out + begin);
}

/* in src, acc dst += alpha·src — [count] */
void axpy_cpu(int64_t count, float alpha, const float *src, float *dst) {
    elementwise_job job = {.a = src, .out = dst, .alpha = alpha};
    bl_parallel_range(count, ELEMENTWISE_GRAIN, alpha == 1.0f || alpha == -1.0f ? axpy_unit_range : axpy_general_range,
                      &job);
}

static void add_scalar_range(void *arg, int64_t begin, int64_t end) {
    const elementwise_job *j = arg;
    float *restrict dst = j->out;
    const float alpha = j->alpha;
    for (int64_t i = begin; i < end; i++) dst[i] = dst[i] + alpha;
}

/* acc dst[i] += alpha — [count] */
void add_scalar_cpu(int64_t count, float scale, const float *alpha, float *dst) {
    elementwise_job job = {.out = dst, .alpha = scale * alpha[0]}; /* ref rounds the product to float once too */
    bl_parallel_range(count, ELEMENTWISE_GRAIN, add_scalar_range, &job);
}

/* the product of two floats is exact in double, so ref's (float)((double)x·mask) is the float product */
static void mul_forward_range(void *arg, int64_t begin, int64_t end) {
    const elementwise_job *j = arg;
    const float *restrict x = j->a, *restrict mask = j->b;
    float *restrict y = j->out;
    for (int64_t i = begin; i < end; i++) y[i] = x[i] * mask[i];
}

/* in x, in mask, out y = x·mask — [count] */
void mul_forward_cpu(int64_t count, const float *x, const float *mask, float *y) {
    elementwise_job job = {.a = x, .b = mask, .out = y};
    bl_parallel_range(count, ELEMENTWISE_GRAIN, mul_forward_range, &job);
}

static void mul_backward_range(void *arg, int64_t begin, int64_t end) {
    const elementwise_job *j = arg;
    mul_backward_ref(end - begin, j->a + begin, j->b + begin, j->out + begin);
}

/* in mask, in dy, acc dx += dy·mask — [count] (ref's double expression, on slices) */
void mul_backward_cpu(int64_t count, const float *mask, const float *dy, float *dx) {
    elementwise_job job = {.a = mask, .b = dy, .out = dx};
    bl_parallel_range(count, ELEMENTWISE_GRAIN, mul_backward_range, &job);
}

/* ---- concat along channels ---- */

typedef struct concat_job {
    int c_part, c_total, c_off;
    int64_t hw;
    const float *src;
    float *dst;
} concat_job;

/* sample b: y[b, c_off … c_off + c_part) = x[b] — one contiguous block of c_part·hw floats */
static void concat_forward_task(void *arg, int b) {
    const concat_job *j = arg;
    int64_t block = (int64_t)j->c_part * j->hw;
    memcpy(j->dst + ((int64_t)b * j->c_total + j->c_off) * j->hw, j->src + (int64_t)b * block,
           (size_t)block * sizeof(float));
}

/* in x [n,c_part,hw], out y [n,c_total,hw] at channel offset c_off */
void concat_channels_forward_cpu(int n, int c_part, int c_total, int c_off, int64_t hw, const float *x, float *y) {
    concat_job job = {.c_part = c_part, .c_total = c_total, .c_off = c_off, .hw = hw, .src = x, .dst = y};
    bl_parallel_for(n, concat_forward_task, &job);
}

/* sample b: dx[b] += dy[b, c_off …] (float add: ref's double sum of two floats, innocuous) */
static void concat_backward_task(void *arg, int b) {
    const concat_job *j = arg;
    int64_t block = (int64_t)j->c_part * j->hw;
    const float *restrict dy = j->src + ((int64_t)b * j->c_total + j->c_off) * j->hw;
    float *restrict dx = j->dst + (int64_t)b * block;
    for (int64_t i = 0; i < block; i++) dx[i] = dx[i] + dy[i];
}

/* in dy [n,c_total,hw], acc dx [n,c_part,hw] += the slice at channel offset c_off */
void concat_channels_backward_cpu(int n, int c_part, int c_total, int c_off, int64_t hw, const float *dy,
                                  float *dx) {
    concat_job job = {.c_part = c_part, .c_total = c_total, .c_off = c_off, .hw = hw, .src = dy, .dst = dx};
    bl_parallel_for(n, concat_backward_task, &job);
}

/* ---- global average pool: rows are independent, each row is ref's sequential double sum ---- */

typedef struct rows_job {
    int64_t hw;
    const float *src;
    float *dst;
} rows_job;

static void global_avgpool_forward_range(void *arg, int64_t begin, int64_t end) {
    const rows_job *j = arg;
    global_avgpool_forward_ref(end - begin, j->hw, j->src + begin * j->hw, j->dst + begin);
}

/* in x [nc,hw], out y [nc] */
void global_avgpool_forward_cpu(int64_t nc, int64_t hw, const float *x, float *y) {
    rows_job job = {.hw = hw, .src = x, .dst = y};
    bl_parallel_range(nc, hw > 0 ? ELEMENTWISE_GRAIN / hw + 1 : nc, global_avgpool_forward_range, &job);
}

static void global_avgpool_backward_range(void *arg, int64_t begin, int64_t end) {
    const rows_job *j = arg;
    global_avgpool_backward_ref(end - begin, j->hw, j->src + begin, j->dst + begin * j->hw);
}

/* in dy [nc], acc dx [nc,hw] */
void global_avgpool_backward_cpu(int64_t nc, int64_t hw, const float *dy, float *dx) {
    rows_job job = {.hw = hw, .src = dy, .dst = dx};
    bl_parallel_range(nc, hw > 0 ? ELEMENTWISE_GRAIN / hw + 1 : nc, global_avgpool_backward_range, &job);
}

/* ---- optimizers: ref's update (torch's sequence of roundings) on slices ---- */

typedef struct optimizer_job {
    float *p, *buf, *m, *v;
    const float *grad;
    float lr, momentum, dampening, weight_decay, beta1, beta2, eps;
    int nesterov, first_step, decoupled;
    int64_t step;
} optimizer_job;

/* The AVX2 + FMA build of ref's loops when this build has it and the CPU supports it (optim_cpu_avx2.c). */
#ifdef BLASTO_HAVE_X86_SIMD
static int use_avx2_fma(void) { return bl_cpu_has_avx2_fma(); }
#endif

static void sgd_range(void *arg, int64_t begin, int64_t end) {
    const optimizer_job *j = arg;
#ifdef BLASTO_HAVE_X86_SIMD
    if (use_avx2_fma()) {
        sgd_update_avx2(end - begin, j->p + begin, j->grad + begin, j->buf ? j->buf + begin : NULL, j->lr,
                        j->momentum, j->dampening, j->weight_decay, j->nesterov, j->first_step);
        return;
    }
#endif
    sgd_update_ref(end - begin, j->p + begin, j->grad + begin, j->buf ? j->buf + begin : NULL, j->lr, j->momentum,
                   j->dampening, j->weight_decay, j->nesterov, j->first_step);
}

/* io p, in grad, io buf (NULL when momentum == 0) — [count] */
void sgd_update_cpu(int64_t count, float *p, const float *grad, float *buf, float lr, float momentum,
                    float dampening, float weight_decay, int nesterov, int first_step) {
    optimizer_job job = {.p = p, .grad = grad, .buf = buf, .lr = lr, .momentum = momentum, .dampening = dampening,
                         .weight_decay = weight_decay, .nesterov = nesterov, .first_step = first_step};
    bl_parallel_range(count, ELEMENTWISE_GRAIN, sgd_range, &job);
}

static void adam_range(void *arg, int64_t begin, int64_t end) {
    const optimizer_job *j = arg;
#ifdef BLASTO_HAVE_X86_SIMD
    if (use_avx2_fma()) {
        adam_update_avx2(end - begin, j->p + begin, j->grad + begin, j->m + begin, j->v + begin, j->lr, j->beta1,
                         j->beta2, j->eps, j->weight_decay, j->decoupled, j->step);
        return;
    }
#endif
    adam_update_ref(end - begin, j->p + begin, j->grad + begin, j->m + begin, j->v + begin, j->lr, j->beta1,
                    j->beta2, j->eps, j->weight_decay, j->decoupled, j->step);
}

/* io p, in grad, io m, io v — [count]; step t ≥ 1 */
void adam_update_cpu(int64_t count, float *p, const float *grad, float *m, float *v, float lr, float beta1,
                     float beta2, float eps, float weight_decay, int decoupled, int64_t step) {
    optimizer_job job = {.p = p, .grad = grad, .m = m, .v = v, .lr = lr, .beta1 = beta1, .beta2 = beta2, .eps = eps,
                         .weight_decay = weight_decay, .decoupled = decoupled, .step = step};
    bl_parallel_range(count, ELEMENTWISE_GRAIN, adam_range, &job);
}
