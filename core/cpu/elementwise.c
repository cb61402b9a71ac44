/* elementwise.c — the cpu backend's threaded elementwise kernels: relu (and its in-place backward), copy, fill,
 * add, axpy, add_scalar, mul (signatures and conventions: kernels.h; the bitwise-equality contract: cpu_ops.h).
 *
 * Buffers are `restrict` inside the loops (so the compiler vectorises them): the op layer always writes a fresh
 * output or a gradient buffer distinct from every input it reads (two read-only inputs may be the same, as in
 * bl_add(x, x)).
 * Two kinds of kernel live here:
 *   - float rewrites of ref loops whose double arithmetic is one innocuous double rounding (relu, add, axpy with
 *     alpha = ±1, add_scalar, mul): plain float loops the compiler vectorises, split over threads;
 *   - ref kernels run on slices (general axpy, mul backward): the arithmetic is ref's own, element by element, and
 *     only the range each thread covers is new.
 * What it is not: a place for reductions across elements — sum_forward and the BCE loss stay ref (one scalar
 * output each, tiny inputs in practice). */
#include <string.h>

#include "core/cpu/cpu_ops.h"
#include "core/cpu/threads.h"
#include "core/ref/ref.h"

static bl_relu_forward_fn relu_forward_cpu;
static bl_relu_backward_fn relu_backward_cpu;
static bl_relu_backward_inplace_fn relu_backward_inplace_cpu;
static bl_add_forward_fn add_forward_cpu;
static bl_axpy_fn axpy_cpu;
static bl_add_scalar_fn add_scalar_cpu;
static bl_mul_forward_fn mul_forward_cpu;
static bl_mul_backward_fn mul_backward_cpu;
static bl_fill_fn fill_cpu;
static bl_memcpy_fn copy_cpu;

typedef struct elementwise_job {
    const float *a, *b;
    float *out;
    float alpha;
} elementwise_job;
/* ---- relu ---- */

/* ReLU as bit selects on 4-float vectors (GCC/clang vector extensions, portable to every target). A scalar
 * `x > 0 || x != x ? … : …` is not vectorised under strict IEEE (the compiler keeps float compares scalar, as they
 * may trap), and a max instruction would differ from ref on NaN. So the test is done on the bits, as integers:
 * for an IEEE float, x > 0 or x a positive NaN ⇔ bits > 0 (signed 32-bit): negative numbers and −0 have the sign
 * bit set (negative as integers), +0 is 0; a NaN of either sign has |bits| (sign cleared) above 0x7f800000. */
typedef float f32x4 __attribute__((vector_size(16)));
typedef int32_t i32x4 __attribute__((vector_size(16)));

/* all-ones lanes where x > 0 (false for NaN): the backward's mask, as torch's (x > 0) */
static inline i32x4 positive_lanes(f32x4 x) {
    i32x4 bits = (i32x4)x;
    return (bits > (i32x4){0}) & (bits < (i32x4){0x7f800001, 0x7f800001, 0x7f800001, 0x7f800001});
}

/* all-ones lanes where x > 0 or x is a NaN (what ReLU's forward passes on) */
static inline i32x4 kept_lanes(f32x4 x) {
    i32x4 bits = (i32x4)x;
    const i32x4 magnitude = {0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff};
    const i32x4 infinity = {0x7f800000, 0x7f800000, 0x7f800000, 0x7f800000};
    return (bits > (i32x4){0}) | ((bits & magnitude) > infinity);
}

/* y may be x (bl_relu_inplace): each element is read, then written, at the same index — no restrict here */
static void relu_forward_range(void *arg, int64_t begin, int64_t end) {
    const elementwise_job *j = arg;
    const float *x = j->a;
    float *y = j->out;
    int64_t i = begin;
    for (; i + 4 <= end; i += 4) {
        f32x4 xv;
        memcpy(&xv, x + i, sizeof xv);
        i32x4 keep = kept_lanes(xv);
        i32x4 out = (i32x4)xv & keep; /* x where x > 0 or NaN, else +0 (as ref) */
        memcpy(y + i, &out, sizeof out);
    }
    for (; i < end; i++) y[i] = x[i] > 0 || x[i] != x[i] ? x[i] : 0.0f;
}

/* in x, out y = max(x, 0) — [count] */
static void relu_forward_cpu(const bl_kernels *self, int64_t count, const float *x, float *y) {
    elementwise_job job = {.a = x, .out = y};
    bl_parallel_range(count, BL_CPU_ELEMENTWISE_GRAIN, relu_forward_range, &job);
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
static void relu_backward_cpu(const bl_kernels *self, int64_t count, const float *x, const float *dy, float *dx) {
    elementwise_job job = {.a = x, .b = dy, .out = dx};
    bl_parallel_range(count, BL_CPU_ELEMENTWISE_GRAIN, relu_backward_range, &job);
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
static void relu_backward_inplace_cpu(const bl_kernels *self, int64_t count, const float *y, float *g) {
    elementwise_job job = {.a = y, .out = g};
    bl_parallel_range(count, BL_CPU_ELEMENTWISE_GRAIN, relu_backward_inplace_range, &job);
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
static void copy_cpu(void *dst, const void *src, size_t bytes) {
    copy_job job = {.dst = dst, .src = src};
    bl_parallel_range((int64_t)bytes, 4 * BL_CPU_ELEMENTWISE_GRAIN, copy_range, &job);
}

/* ---- fill ---- */

static void fill_range(void *arg, int64_t begin, int64_t end) {
    const elementwise_job *j = arg;
    host_fill(end - begin, j->alpha, j->out + begin);
}

/* out dst[i] = value — [count]: ref's memset / store loop, split across threads (the gradient buffers that
 * backward zeroes were 2–3 % of a ResNet50 training step on one thread while the other waited) */
static void fill_cpu(int64_t count, float value, float *dst) {
    elementwise_job job = {.out = dst, .alpha = value};
    bl_parallel_range(count, BL_CPU_ELEMENTWISE_GRAIN, fill_range, &job);
}

/* ---- add, axpy, add_scalar, mul ---- */

/* y may be a (bl_add_inplace): element i is read, then written — no restrict on a and y */
static void add_range(void *arg, int64_t begin, int64_t end) {
    const elementwise_job *j = arg;
    const float *a = j->a, *b = j->b;
    float *y = j->out;
    for (int64_t i = begin; i < end; i++) y[i] = a[i] + b[i];
}

/* in a, in b, out y = a + b — [count] */
static void add_forward_cpu(const bl_kernels *self, int64_t count, const float *a, const float *b, float *y) {
    elementwise_job job = {.a = a, .b = b, .out = y};
    bl_parallel_range(count, BL_CPU_ELEMENTWISE_GRAIN, add_range, &job);
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
    axpy_ref(NULL, end - begin, j->alpha, j->a + begin, j->out + begin);
}

/* in src, acc dst += alpha·src — [count] */
static void axpy_cpu(const bl_kernels *self, int64_t count, float alpha, const float *src, float *dst) {
    elementwise_job job = {.a = src, .out = dst, .alpha = alpha};
    bl_parallel_range(count, BL_CPU_ELEMENTWISE_GRAIN, alpha == 1.0f || alpha == -1.0f ? axpy_unit_range : axpy_general_range,
                      &job);
}

static void add_scalar_range(void *arg, int64_t begin, int64_t end) {
    const elementwise_job *j = arg;
    float *restrict dst = j->out;
    const float alpha = j->alpha;
    for (int64_t i = begin; i < end; i++) dst[i] = dst[i] + alpha;
}

/* acc dst[i] += alpha — [count] */
static void add_scalar_cpu(const bl_kernels *self, int64_t count, float scale, const float *alpha, float *dst) {
    elementwise_job job = {.out = dst, .alpha = scale * alpha[0]}; /* ref rounds the product to float once too */
    bl_parallel_range(count, BL_CPU_ELEMENTWISE_GRAIN, add_scalar_range, &job);
}

/* the product of two floats is exact in double, so ref's (float)((double)x·mask) is the float product */
static void mul_forward_range(void *arg, int64_t begin, int64_t end) {
    const elementwise_job *j = arg;
    const float *restrict x = j->a, *restrict mask = j->b;
    float *restrict y = j->out;
    for (int64_t i = begin; i < end; i++) y[i] = x[i] * mask[i];
}

/* in x, in mask, out y = x·mask — [count] */
static void mul_forward_cpu(const bl_kernels *self, int64_t count, const float *x, const float *mask, float *y) {
    elementwise_job job = {.a = x, .b = mask, .out = y};
    bl_parallel_range(count, BL_CPU_ELEMENTWISE_GRAIN, mul_forward_range, &job);
}

static void mul_backward_range(void *arg, int64_t begin, int64_t end) {
    const elementwise_job *j = arg;
    mul_backward_ref(NULL, end - begin, j->a + begin, j->b + begin, j->out + begin);
}

/* in mask, in dy, acc dx += dy·mask — [count] (ref's double expression, on slices) */
static void mul_backward_cpu(const bl_kernels *self, int64_t count, const float *mask, const float *dy, float *dx) {
    elementwise_job job = {.a = mask, .b = dy, .out = dx};
    bl_parallel_range(count, BL_CPU_ELEMENTWISE_GRAIN, mul_backward_range, &job);
}

void bl_cpu_elementwise_slots(bl_kernels *k) {
    k->relu_forward = relu_forward_cpu;
    k->relu_backward = relu_backward_cpu;
    k->relu_backward_inplace = relu_backward_inplace_cpu;
    k->add_forward = add_forward_cpu;
    k->axpy = axpy_cpu;
    k->add_scalar = add_scalar_cpu;
    k->mul_forward = mul_forward_cpu;
    k->mul_backward = mul_backward_cpu;
    k->fill = fill_cpu;
    k->copy = copy_cpu;
}
