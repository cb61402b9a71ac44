/* pool2d.c — the cpu backend's max, average and global-average pooling: threaded over planes (n, c), bitwise equal to ref
 * (semantics: kernels.h and core/ref/ops.h; contract: core/cpu/cpu_ops.h).
 *
 * Max pooling forward is ref's argmax rule in float (a float compared with a float gives the same answer as the
 * two widened to double). Max pooling BACKWARD is where ref is slow: it is written as a gather that recomputes the
 * argmax of every window covering each input (~4 windows × 9 taps per input for a 3×3 stride-2 pool). Here it is a
 * scatter: each window's argmax is computed once and dy is added into a per-plane DOUBLE accumulator, windows in
 * row-major order. An input therefore receives its contributions in the same (oh, ow) order as ref's gather sums
 * them, starting from the same 0.0, and is rounded once into dx the same way — (float)(dx + sum), applied to every
 * element as ref does (which also turns a −0 dx into +0 where no window routes to it, exactly like ref).
 * Average pooling runs ref's own loops on slices of planes. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/cpu/scratch.h"
#include "core/cpu/cpu_ops.h"
#include "core/ref/ref.h"
#include "core/cpu/threads.h"

static bl_maxpool2d_forward_fn maxpool2d_forward_cpu;
static bl_maxpool2d_backward_fn maxpool2d_backward_cpu;
static bl_avgpool2d_forward_fn avgpool2d_forward_cpu;
static bl_avgpool2d_backward_fn avgpool2d_backward_cpu;
static bl_global_avgpool_forward_fn global_avgpool_forward_cpu;
static bl_global_avgpool_backward_fn global_avgpool_backward_cpu;

typedef struct pool_job {
    const bl_pool2d_shape *s;
    const float *x, *dy;
    float *y, *dx;
    int64_t planes, pieces;
} pool_job;

/* planes [first, end) of piece `task` (contiguous, depends on the shape and piece count only) */
static void piece_planes(const pool_job *j, int task, int64_t *first, int64_t *end) {
    *first = j->planes * task / j->pieces;
    *end = j->planes * (task + 1) / j->pieces;
}

static void run_pieces(pool_job *j, bl_task_fn fn) {
    j->planes = (int64_t)j->s->n * j->s->c;
    j->pieces = j->planes < 256 ? j->planes : 256;
    if (j->pieces > 0) bl_parallel_for((int)j->pieces, fn, j);
}

/* the sub-shape that makes a ref kernel process `count` consecutive planes */
static bl_pool2d_shape planes_shape(const bl_pool2d_shape *s, int64_t count) {
    bl_pool2d_shape part = *s;
    part.n = 1;
    part.c = (int)count;
    return part;
}

/* Index within the plane of window (oh, ow)'s maximum — ref's maxpool2d_argmax: padding is −inf, a strictly
 * greater value or a NaN replaces the current best, so the first maximum in row-major order wins. */
static int64_t window_argmax(const bl_pool2d_shape *s, const float *plane, int oh, int ow) {
    int h_start = oh * s->stride_h - s->pad_h, w_start = ow * s->stride_w - s->pad_w;
    int h_first = h_start < 0 ? 0 : h_start, w_first = w_start < 0 ? 0 : w_start;
    int h_end = h_start + s->kh < s->h_in ? h_start + s->kh : s->h_in;
    int w_end = w_start + s->kw < s->w_in ? w_start + s->kw : s->w_in;
    int64_t best = (int64_t)h_first * s->w_in + w_first;
    float best_value = -INFINITY;
    for (int ih = h_first; ih < h_end; ih++) {
        const float *row = plane + (int64_t)ih * s->w_in;
        for (int iw = w_first; iw < w_end; iw++) {
            float value = row[iw];
            if (value > best_value || isnan(value)) {
                best_value = value;
                best = (int64_t)ih * s->w_in + iw;
            }
        }
    }
    return best;
}

/* ---- 2×2, stride 2, no padding (VGG16's five pools): eight windows at a time ----
 * Forward needs only the maximum's value. ref's running argmax (window_argmax) replaces its best when a value is
 * strictly greater or NaN, starting from −inf; followed as a value that is the chain best = w0, then
 * best = (v > best || v is NaN) ? v : best for w1, w2, w3 — the element at ref's argmax, bit for bit (a −inf
 * first element leaves −inf either way; no arithmetic touches a value). Across eight windows the chain is lane-
 * wise, as bit selects (GCC/clang vector extensions). A scalar version of the chain measured slower than the
 * branchy argmax loop (a dependent chain of selects per window); eight lanes at once are not. */
typedef float pool_f32x8 __attribute__((vector_size(32)));
typedef int32_t pool_i32x8 __attribute__((vector_size(32)));

/* (through pointers: a 32-byte vector passed or returned by value would change the ABI of a non-AVX build) */
static inline void pool_max_step8(pool_f32x8 *best, const pool_f32x8 *v) {
    pool_i32x8 take = (*v > *best) | (*v != *v);
    *best = (pool_f32x8)(((pool_i32x8)*v & take) | ((pool_i32x8)*best & ~take));
}

/* in rows r0, r1 of the plane (2·w_out ≤ w_in floats each read), out y [w_out] */
static void maxpool2x2_row(const float *r0, const float *r1, float *y, int w_out) {
    int ow = 0;
    for (; ow + 8 <= w_out; ow += 8) {
        pool_f32x8 a0, a1, b0, b1;
        memcpy(&a0, r0 + 2 * ow, sizeof a0), memcpy(&a1, r0 + 2 * ow + 8, sizeof a1);
        memcpy(&b0, r1 + 2 * ow, sizeof b0), memcpy(&b1, r1 + 2 * ow + 8, sizeof b1);
        /* the window order: r0 even, r0 odd, r1 even, r1 odd */
        pool_f32x8 best = __builtin_shufflevector(a0, a1, 0, 2, 4, 6, 8, 10, 12, 14);
        pool_f32x8 next = __builtin_shufflevector(a0, a1, 1, 3, 5, 7, 9, 11, 13, 15);
        pool_max_step8(&best, &next);
        next = __builtin_shufflevector(b0, b1, 0, 2, 4, 6, 8, 10, 12, 14);
        pool_max_step8(&best, &next);
        next = __builtin_shufflevector(b0, b1, 1, 3, 5, 7, 9, 11, 13, 15);
        pool_max_step8(&best, &next);
        memcpy(y + ow, &best, sizeof best);
    }
    for (; ow < w_out; ow++) {
        const float w[4] = {r0[2 * ow], r0[2 * ow + 1], r1[2 * ow], r1[2 * ow + 1]};
        float best = w[0];
        for (int i = 1; i < 4; i++)
            if (w[i] > best || isnan(w[i])) best = w[i];
        y[ow] = best;
    }
}

/* ---- 3×3, stride 2 (ResNet50's and DenseNet121's stem pool, padding 1): eight interior windows at a time, the
 * border windows by argmax. Window ow of a row covers columns 2·ow − pw + {0, 1, 2}. */
static void maxpool3x3s2_row(const bl_pool2d_shape *s, const float *xp, int oh, float *y) {
    int h_start = oh * 2 - s->pad_h;
    int rows_inside = h_start >= 0 && h_start + 3 <= s->h_in;
    int ow = 0;
    while (ow < s->w_out) {
        int w_start = ow * 2 - s->pad_w; /* the first column of window ow; window ow + 7 ends at w_start + 16 */
        if (rows_inside && w_start >= 0 && ow + 8 <= s->w_out && w_start + 16 < s->w_in) {
            pool_f32x8 best, next;
            for (int i = 0; i < 3; i++) {
                const float *c = xp + (int64_t)(h_start + i) * s->w_in + w_start;
                pool_f32x8 v0, v1, u0, u1;
                memcpy(&v0, c, sizeof v0), memcpy(&v1, c + 8, sizeof v1);         /* columns +0 … +15 */
                memcpy(&u0, c + 1, sizeof u0), memcpy(&u1, c + 9, sizeof u1);     /* columns +1 … +16 */
                pool_f32x8 left = __builtin_shufflevector(v0, v1, 0, 2, 4, 6, 8, 10, 12, 14);
                pool_f32x8 middle = __builtin_shufflevector(u0, u1, 0, 2, 4, 6, 8, 10, 12, 14);
                pool_f32x8 right = __builtin_shufflevector(u0, u1, 1, 3, 5, 7, 9, 11, 13, 15);
                if (i == 0) best = left; /* the window's first element, in ref's row-major order */
                else pool_max_step8(&best, &left);
                next = middle, pool_max_step8(&best, &next);
                next = right, pool_max_step8(&best, &next);
            }
            memcpy(y + ow, &best, sizeof best);
            ow += 8;
        } else {
            y[ow] = xp[window_argmax(s, xp, oh, ow)];
            ow++;
        }
    }
}

static void maxpool_forward_task(void *arg, int task) {
    const pool_job *j = arg;
    const bl_pool2d_shape *s = j->s;
    int64_t in_plane = (int64_t)s->h_in * s->w_in, out_plane = (int64_t)s->h_out * s->w_out, first, end;
    piece_planes(j, task, &first, &end);
    int two_by_two = s->kh == 2 && s->kw == 2 && s->stride_h == 2 && s->stride_w == 2 && s->pad_h == 0 &&
                     s->pad_w == 0;
    int three_by_three = s->kh == 3 && s->kw == 3 && s->stride_h == 2 && s->stride_w == 2;
    for (int64_t nc = first; nc < end; nc++) {
        const float *xp = j->x + nc * in_plane;
        float *yp = j->y + nc * out_plane;
        for (int oh = 0; oh < s->h_out; oh++) {
            if (two_by_two) {
                const float *r0 = xp + (int64_t)2 * oh * s->w_in;
                maxpool2x2_row(r0, r0 + s->w_in, yp + (int64_t)oh * s->w_out, s->w_out);
                continue;
            }
            if (three_by_three) {
                maxpool3x3s2_row(s, xp, oh, yp + (int64_t)oh * s->w_out);
                continue;
            }
            for (int ow = 0; ow < s->w_out; ow++) yp[(int64_t)oh * s->w_out + ow] = xp[window_argmax(s, xp, oh, ow)];
        }
    }
}

/* in x [n,c,h_in,w_in], out y [n,c,h_out,w_out] */
static void maxpool2d_forward_cpu(const bl_kernels *self, const bl_pool2d_shape *s, const float *x, float *y) {
    pool_job job = {.s = s, .x = x, .y = y};
    run_pieces(&job, maxpool_forward_task);
}

static void maxpool_backward_task(void *arg, int task) {
    const pool_job *j = arg;
    const bl_pool2d_shape *s = j->s;
    int64_t in_plane = (int64_t)s->h_in * s->w_in, out_plane = (int64_t)s->h_out * s->w_out, first, end;
    piece_planes(j, task, &first, &end);
    bl_scratch *handle;
    double *sum = (double *)bl_scratch_acquire((size_t)(2 * in_plane), &handle); /* 64-byte aligned */
    if (!sum) { /* out of memory: ref's gather on these planes (same result, slower) */
        bl_pool2d_shape part = planes_shape(s, end - first);
        maxpool2d_backward_ref(NULL, &part, j->x + first * in_plane, j->dy + first * out_plane,
                               j->dx + first * in_plane);
        return;
    }
    for (int64_t nc = first; nc < end; nc++) {
        const float *xp = j->x + nc * in_plane, *dyp = j->dy + nc * out_plane;
        float *dxp = j->dx + nc * in_plane;
        for (int64_t i = 0; i < in_plane; i++) sum[i] = 0.0;
        for (int oh = 0; oh < s->h_out; oh++)
            for (int ow = 0; ow < s->w_out; ow++)
                sum[window_argmax(s, xp, oh, ow)] += dyp[(int64_t)oh * s->w_out + ow];
        for (int64_t i = 0; i < in_plane; i++) dxp[i] = (float)(dxp[i] + sum[i]);
    }
    bl_scratch_release(handle);
}

/* in x [n,c,h_in,w_in], in dy [n,c,h_out,w_out], acc dx [n,c,h_in,w_in] */
static void maxpool2d_backward_cpu(const bl_kernels *self, const bl_pool2d_shape *s, const float *x, const float *dy,
                            float *dx) {
    pool_job job = {.s = s, .x = x, .dy = dy, .dx = dx};
    run_pieces(&job, maxpool_backward_task);
}

/* ---- average pooling 2×2, stride 2, no padding (DenseNet121's transitions): ref's arithmetic without its
 * general window search. Every window is whole (floor mode), so its divisor is 4 either way of counting padding:
 *     forward   y = (float)(((((0.0 + x00) + x01) + x10) + x11) / 4.0)       ref's running sum, in (ih, iw) order
 *     backward  dx = (float)(dx + (0.0 + dy/4.0)) for a covered element,  (float)(dx + 0.0) for the last row or
 *               column of an odd size (covered by no window) — ref's per-element gather sum, starting at +0.0
 *               (which is what turns a −0 dx into +0), written out so the compiler keeps every operation. */
static int avgpool_is_2x2s2(const bl_pool2d_shape *s) {
    return s->kh == 2 && s->kw == 2 && s->stride_h == 2 && s->stride_w == 2 && s->pad_h == 0 && s->pad_w == 0;
}

static void avgpool2x2_forward_planes(const bl_pool2d_shape *s, int64_t planes, const float *x, float *y) {
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * s->h_in * s->w_in;
        float *yp = y + pl * s->h_out * s->w_out;
        for (int oh = 0; oh < s->h_out; oh++) {
            const float *r0 = xp + (int64_t)(2 * oh) * s->w_in, *r1 = r0 + s->w_in;
            for (int ow = 0; ow < s->w_out; ow++) {
                double sum = 0.0;
                sum += r0[2 * ow], sum += r0[2 * ow + 1], sum += r1[2 * ow], sum += r1[2 * ow + 1];
                yp[(int64_t)oh * s->w_out + ow] = (float)(sum / 4.0);
            }
        }
    }
}

static void avgpool2x2_backward_planes(const bl_pool2d_shape *s, int64_t planes, const float *dy, float *dx) {
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *dyp = dy + pl * s->h_out * s->w_out;
        float *dxp = dx + pl * s->h_in * s->w_in;
        for (int ih = 0; ih < s->h_in; ih++) {
            float *row = dxp + (int64_t)ih * s->w_in;
            const float *g = dyp + (int64_t)(ih / 2) * s->w_out;
            int covered = ih / 2 < s->h_out ? 2 * s->w_out : 0; /* columns inside a window */
            for (int iw = 0; iw < covered; iw++) {
                double sum = 0.0;
                sum += g[iw / 2] / 4.0;
                row[iw] = (float)(row[iw] + sum);
            }
            for (int iw = covered; iw < s->w_in; iw++) {
                double sum = 0.0;
                row[iw] = (float)(row[iw] + sum);
            }
        }
    }
}

static void avgpool_forward_task(void *arg, int task) {
    const pool_job *j = arg;
    int64_t first, end;
    piece_planes(j, task, &first, &end);
    const float *x = j->x + first * j->s->h_in * j->s->w_in;
    float *y = j->y + first * j->s->h_out * j->s->w_out;
    if (avgpool_is_2x2s2(j->s)) {
        avgpool2x2_forward_planes(j->s, end - first, x, y);
        return;
    }
    bl_pool2d_shape part = planes_shape(j->s, end - first);
    avgpool2d_forward_ref(NULL, &part, x, y);
}

/* in x [n,c,h_in,w_in], out y [n,c,h_out,w_out] */
static void avgpool2d_forward_cpu(const bl_kernels *self, const bl_pool2d_shape *s, const float *x, float *y) {
    pool_job job = {.s = s, .x = x, .y = y};
    run_pieces(&job, avgpool_forward_task);
}

static void avgpool_backward_task(void *arg, int task) {
    const pool_job *j = arg;
    int64_t first, end;
    piece_planes(j, task, &first, &end);
    const float *dy = j->dy + first * j->s->h_out * j->s->w_out;
    float *dx = j->dx + first * j->s->h_in * j->s->w_in;
    if (avgpool_is_2x2s2(j->s)) {
        avgpool2x2_backward_planes(j->s, end - first, dy, dx);
        return;
    }
    bl_pool2d_shape part = planes_shape(j->s, end - first);
    avgpool2d_backward_ref(NULL, &part, dy, dx);
}

/* in dy [n,c,h_out,w_out], acc dx [n,c,h_in,w_in] */
static void avgpool2d_backward_cpu(const bl_kernels *self, const bl_pool2d_shape *s, const float *dy, float *dx) {
    pool_job job = {.s = s, .dy = dy, .dx = dx};
    run_pieces(&job, avgpool_backward_task);
}

/* ---- global average pool: rows are independent, each row is ref's sequential double sum ---- */

typedef struct rows_job {
    int64_t hw;
    const float *src;
    float *dst;
} rows_job;

static void global_avgpool_forward_range(void *arg, int64_t begin, int64_t end) {
    const rows_job *j = arg;
    global_avgpool_forward_ref(NULL, end - begin, j->hw, j->src + begin * j->hw, j->dst + begin);
}

/* in x [nc,hw], out y [nc] */
static void global_avgpool_forward_cpu(const bl_kernels *self, int64_t nc, int64_t hw, const float *x, float *y) {
    rows_job job = {.hw = hw, .src = x, .dst = y};
    bl_parallel_range(nc, hw > 0 ? BL_CPU_ELEMENTWISE_GRAIN / hw + 1 : nc, global_avgpool_forward_range, &job);
}

static void global_avgpool_backward_range(void *arg, int64_t begin, int64_t end) {
    const rows_job *j = arg;
    global_avgpool_backward_ref(NULL, end - begin, j->hw, j->src + begin, j->dst + begin * j->hw);
}

/* in dy [nc], acc dx [nc,hw] */
static void global_avgpool_backward_cpu(const bl_kernels *self, int64_t nc, int64_t hw, const float *dy, float *dx) {
    rows_job job = {.hw = hw, .src = dy, .dst = dx};
    bl_parallel_range(nc, hw > 0 ? BL_CPU_ELEMENTWISE_GRAIN / hw + 1 : nc, global_avgpool_backward_range, &job);
}

void bl_cpu_pool2d_slots(bl_kernels *k) {
    k->maxpool2d_forward = maxpool2d_forward_cpu;
    k->maxpool2d_backward = maxpool2d_backward_cpu;
    k->avgpool2d_forward = avgpool2d_forward_cpu;
    k->avgpool2d_backward = avgpool2d_backward_cpu;
    k->global_avgpool_forward = global_avgpool_forward_cpu;
    k->global_avgpool_backward = global_avgpool_backward_cpu;
}
