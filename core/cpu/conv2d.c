/* conv2d.c — the fast CPU conv2d kernels: im2col / col2im around the packed SGEMM (gemm.h).
 *
 * What it is: the cpu backend's conv2d_forward, conv2d_forward_nograd, conv2d_backward_data and
 * conv2d_backward_filter slots (kernels.h gives the shapes and the write / accumulate conventions). With
 * K = c_in·kh·kw and P = h_out·w_out, samples are processed in groups of G consecutive samples, side by side as
 * G·P columns:
 *     col[K, G·P]     = im2col:  col[(ci·kh + i)·kw + j, g·P + oh·w_out + ow] = x_g[ci, oh·sh − ph + i·dh, ow·sw − pw + j·dw]
 *     forward:          y_g[c_out, P]       = (W[c_out, K] · col)[:, g·P : (g+1)·P]   (+ b[co] on every row)
 *     backward data:    colgrad[K, G·P]     = Wᵀ · dy_group;   dx_g += col2im(colgrad)   (the adjoint of im2col)
 *     backward filter:  dW[c_out, K]       += dy_group · colᵀ, groups in sample order;   db[co] += Σ_{n,p} dy[n,co,p]
 * where dy_group[c_out, G·P] holds the group's dy side by side. G = 1 unless the maps are small (P < 128): then
 * G·P ≈ 1024 columns, because a GEMM whose N is a few dozen columns wastes much of each 32-wide tile (7×7 maps:
 * P = 49 fills 49 of 64 columns). A 1×1, stride-1, unpadded convolution with G = 1 has col = x_n and needs no
 * im2col.
 *
 * Three ways to feed the forward GEMM, chosen by shape and thread plan, all bitwise the same result (im2col only
 * copies, and a GEMM's result does not depend on how its output columns are split: each element's K-sum is blocked
 * by K blocks that depend on K only, gemm.h — tests/test_conv_chunk_cpu.c checks every pair byte for byte):
 *   - column chunks: with G = 1 the forward does not build the whole col [K, P] (115 MB per thread for VGG16's
 *     224×224 3×3 layers), but chunks of at most about 4 MiB of col per thread (forward_chunk_columns: near-equal
 *     chunks, multiples of 64 columns), each followed by y_n[:, p0:p1] = W · col_chunk (+ b), W packed once per
 *     call (bl_sgemm_prepack_a). Backward filter keeps the whole col: there P is the GEMM's K dimension, and
 *     splitting K would change the rounding. The grouped small-map path (G > 1) is not chunked;
 *   - im2col fused into the GEMM's B packing: where each sample's GEMM runs on one thread (the per-sample plan, or
 *     one thread), bl_sgemm_cpu_prepacked_b_rows asks im2col_row_provider for one row of col at a time and deals
 *     it into the panel — no col buffer at all. When one sample's GEMM is split across threads (batch 1, or an
 *     uneven batch) the chunks run instead, which is faster there;
 *   - the padded grid (forward_padded): every non-pointwise convolution (and so every transposed backward data)
 *     where the fused path would run — the sample copied once with its zero padding (split into its stride phases
 *     when the stride is > 1), whose shifted rows are the im2col rows, handed to the GEMM as row pointers that the
 *     AVX-512 micro-kernel reads in place (no B packing). With small weights it needs no side-by-side grouping for
 *     small maps either (a 7×7 map's padded grid is 63 columns: two full tiles). The grid's geometry and the weight
 *     gradient by dot products that also reads it are in conv2d_grid.c.
 * The measurements behind each choice are in docs/benchmarks.md ("CPU convolution paths").
 *
 * Determinism: the grouping and the chunks depend only on the shape (and the chunk bound). Threads never change a
 * result: with G = 1 and enough samples, forward and backward data give each thread whole samples (the GEMM inside
 * runs serially); otherwise groups (and chunks) run one after another and im2col, col2im and the GEMM are each
 * split across threads — and a GEMM's result does not depend on how its output is split (gemm.h). Backward filter
 * always runs the groups in order.
 *
 * What it is not: Winograd (core/cpu/conv2d_winograd.c, called from here for backward data, the weight gradient
 * and conv2d_forward_nograd_cpu), FFT, or grouped (depthwise) convolution. If a buffer cannot be allocated the
 * kernels fall back to the ref backend for that group (correct, slow, not bitwise equal). */
#include <stdint.h>
#include <string.h>

#include "core/cpu/conv2d_grid.h"
#include "core/cpu/conv2d_winograd.h"
#include "core/cpu/gemm.h"
#include "core/cpu/scratch.h"
#include "core/cpu/cpu_ops.h"
#include "core/kernels.h"
#include "core/cpu/threads.h"

static bl_conv2d_forward_fn conv2d_forward_cpu;
static bl_conv2d_forward_nograd_fn conv2d_forward_nograd_cpu;
static bl_conv2d_backward_data_fn conv2d_backward_data_cpu;
static bl_conv2d_backward_filter_fn conv2d_backward_filter_cpu;

/* ====================================================================================== im2col / col2im == */

/* The output columns ow whose input column iw = ow·sw − pw + j·dw lies inside [0, w_in): [*first, *last). */
static void valid_output_columns(const bl_conv2d_shape *s, int j, int *first, int *last) {
    int offset = j * s->dil_w - s->pad_w; /* iw = ow·sw + offset */
    int lo = offset >= 0 ? 0 : (-offset + s->stride_w - 1) / s->stride_w;
    int hi = s->w_in - 1 - offset < 0 ? 0 : (s->w_in - 1 - offset) / s->stride_w + 1;
    if (hi > s->w_out) hi = s->w_out;
    if (lo > hi) lo = hi;
    *first = lo;
    *last = hi;
}

/* in x_n [c_in, h_in, w_in], out rows [row_begin, row_end) of col restricted to the output pixels
 * [p_begin, p_end) (p = oh·w_out + ow): col[row·ld + p − p_begin] for p in the range, row stride ld. The range may
 * start and end inside an output row; the whole range [0, P) is the full im2col. Each element is a copy of one x
 * value or a zero, so which range a call covers never changes a byte. */
static void im2col_rows(const bl_conv2d_shape *s, const float *x_n, int row_begin, int row_end, int64_t p_begin,
                        int64_t p_end, float *col, int64_t ld) {
    if (p_begin >= p_end) return;
    const int64_t plane = (int64_t)s->h_in * s->w_in;
    const int oh_first = (int)(p_begin / s->w_out), oh_last = (int)((p_end - 1) / s->w_out);
    for (int row = row_begin; row < row_end; row++) {
        int j = row % s->kw, i = (row / s->kw) % s->kh, ci = row / (s->kw * s->kh);
        const float *x_plane = x_n + ci * plane;
        int ow_valid_first, ow_valid_last;
        valid_output_columns(s, j, &ow_valid_first, &ow_valid_last);
        for (int oh = oh_first; oh <= oh_last; oh++) {
            int64_t row_start = (int64_t)oh * s->w_out; /* the pixel p of (oh, 0) */
            int ow_begin = oh == oh_first ? (int)(p_begin - row_start) : 0;
            int ow_end = oh == oh_last ? (int)(p_end - row_start) : s->w_out;
            float *out = col + row * ld + (row_start + ow_begin - p_begin); /* out[ow − ow_begin] */
            int ih = oh * s->stride_h - s->pad_h + i * s->dil_h;
            if (ih < 0 || ih >= s->h_in) {
                memset(out, 0, (size_t)(ow_end - ow_begin) * sizeof(float));
                continue;
            }
            /* [ow_begin, ow_end) = zeros [ow_begin, a) · copies [a, c) · zeros [c, ow_end) */
            int a = ow_valid_first > ow_begin ? ow_valid_first : ow_begin;
            int c = ow_valid_last < ow_end ? ow_valid_last : ow_end;
            if (a > ow_end) a = ow_end;
            if (c < a) c = a;
            const float *x_row = x_plane + (int64_t)ih * s->w_in + (j * s->dil_w - s->pad_w);
            for (int ow = ow_begin; ow < a; ow++) out[ow - ow_begin] = 0.0f;
            if (s->stride_w == 1) {
                memcpy(out + (a - ow_begin), x_row + a, (size_t)(c - a) * sizeof(float));
            } else {
                for (int ow = a; ow < c; ow++) out[ow - ow_begin] = x_row[(int64_t)ow * s->stride_w];
            }
            for (int ow = c; ow < ow_end; ow++) out[ow - ow_begin] = 0.0f;
        }
    }
}

/* The adjoint of im2col for input channels [ci_begin, ci_end): in colgrad (P columns per row, row stride ld),
 * acc dx_n [c_in, h_in, w_in]. Each dx element receives its contributions in (i, j, oh, ow) order — fixed, and
 * all inside one channel, so splitting channels across threads cannot change a result. */
static void col2im_channels(const bl_conv2d_shape *s, const float *colgrad, int64_t ld, int ci_begin, int ci_end,
                            float *dx_n) {
    const int64_t plane = (int64_t)s->h_in * s->w_in;
    for (int ci = ci_begin; ci < ci_end; ci++) {
        float *dx_plane = dx_n + ci * plane;
        for (int i = 0; i < s->kh; i++) {
            for (int j = 0; j < s->kw; j++) {
                const float *src = colgrad + ((int64_t)(ci * s->kh + i) * s->kw + j) * ld;
                int ow_first, ow_last;
                valid_output_columns(s, j, &ow_first, &ow_last);
                for (int oh = 0; oh < s->h_out; oh++) {
                    int ih = oh * s->stride_h - s->pad_h + i * s->dil_h;
                    if (ih < 0 || ih >= s->h_in) continue;
                    float *dx_row = dx_plane + (int64_t)ih * s->w_in + (j * s->dil_w - s->pad_w);
                    const float *g = src + (int64_t)oh * s->w_out;
                    for (int ow = ow_first; ow < ow_last; ow++) dx_row[(int64_t)ow * s->stride_w] += g[ow];
                }
            }
        }
    }
}

/* ============================================================================================ groups ====== */

/* How many samples to put side by side (see the file comment): 1 for maps of ≥ 128 output pixels, else enough
 * for about 1024 GEMM columns. Measured on ResNet50's layers (batch 8, 2 threads): grouping 7×7 maps (P = 49)
 * gains ~30 %, while 14×14 maps (P = 196) run ~10 % faster one sample per thread. Depends on the shape only —
 * never on the thread count. */
static int group_size(const bl_conv2d_shape *s) {
    int64_t p = (int64_t)s->h_out * s->w_out;
    if (p >= 128 || s->n <= 1) return 1;
    int64_t largest = (1024 + p - 1) / p;
    int64_t groups = (s->n + largest - 1) / largest; /* then make them equal: 8 samples of 14×14 → 4 + 4, not 6 + 2 */
    return (int)((s->n + groups - 1) / groups);
}

/* One group of samples [first, first + count), and the buffers it works in. */
typedef struct conv_group {
    const bl_cpu_state *st;      /* the backend's options: GEMM micro-kernel, chunk bound, fused forward */
    const bl_conv2d_shape *s;
    const float *x, *w, *b, *dy; /* whole tensors, as passed to the kernel */
    const float *w_packed;       /* the GEMM's A (W or Wᵀ) packed once for all samples (bl_sgemm_prepack_a), or NULL */
    float *y, *dx, *dw;
    float beta;    /* forward_group: 0 writes y, 1 adds to it (backward data as a transposed convolution) */
    const bl_conv2d_shape *transposed_of; /* with beta = 1: the convolution whose backward data this is, */
    const float *w_original;              /* and its weights (for the ref fallback) */
    int first, count;
    int64_t ld;    /* count·P: the row stride of col and rows (forward chunk: the chunk's width) */
    int64_t p_begin, p_end; /* the output pixels of each sample that im2col fills: [0, P), or a forward chunk */
    int64_t chunk_columns;  /* forward with count == 1: the widest chunk of output pixels (forward_chunk_columns) */
    int fused;              /* forward with count == 1: im2col inside the GEMM's B packing (needs w_packed) */
    float *col;    /* [K, ld] im2col / colgrad; NULL for a pointwise conv of one sample (x_n, dx_n used in place) */
    float *rows;   /* [c_out, ld] the group's y or dy side by side; NULL when count == 1 (y_n, dy_n used in place) */
    int chunks;    /* pieces per sample when splitting im2col rows / col2im channels across threads */
} conv_group;

static int64_t sample_floats(int channels, int height, int width) { return (int64_t)channels * height * width; }

/* Task (sample, chunk): in x of that sample, out its chunk of im2col rows, pixels [p_begin, p_end), into
 * col[:, sample·(p_end − p_begin) …] */
static void group_im2col_task(void *arg, int task) {
    conv_group *g = arg;
    const bl_conv2d_shape *s = g->s;
    int sample = task / g->chunks, chunk = task % g->chunks, rows = s->c_in * s->kh * s->kw;
    int begin = (int)((int64_t)rows * chunk / g->chunks), end = (int)((int64_t)rows * (chunk + 1) / g->chunks);
    const float *x_n = g->x + (g->first + sample) * sample_floats(s->c_in, s->h_in, s->w_in);
    im2col_rows(s, x_n, begin, end, g->p_begin, g->p_end, g->col + (int64_t)sample * (g->p_end - g->p_begin), g->ld);
}

/* Task (sample, chunk): in colgrad col[:, sample·P …], acc dx of that sample for its chunk of input channels */
static void group_col2im_task(void *arg, int task) {
    conv_group *g = arg;
    const bl_conv2d_shape *s = g->s;
    int sample = task / g->chunks, chunk = task % g->chunks;
    int begin = (int)((int64_t)s->c_in * chunk / g->chunks), end = (int)((int64_t)s->c_in * (chunk + 1) / g->chunks);
    float *dx_n = g->dx + (g->first + sample) * sample_floats(s->c_in, s->h_in, s->w_in);
    col2im_channels(s, g->col + (int64_t)sample * s->h_out * s->w_out, g->ld, begin, end, dx_n);
}

/* in dy of that sample [c_out, P], out rows[:, sample·P …] */
static void group_gather_dy_task(void *arg, int sample) {
    conv_group *g = arg;
    const bl_conv2d_shape *s = g->s;
    int64_t p = (int64_t)s->h_out * s->w_out;
    const float *dy_n = g->dy + (g->first + sample) * sample_floats(s->c_out, s->h_out, s->w_out);
    for (int co = 0; co < s->c_out; co++)
        memcpy(g->rows + co * g->ld + sample * p, dy_n + co * p, (size_t)p * sizeof(float));
}

/* in rows[:, sample·P …], in b or NULL, out y of that sample [c_out, P] = rows (+ b[co]) */
static void group_scatter_y_task(void *arg, int sample) {
    conv_group *g = arg;
    const bl_conv2d_shape *s = g->s;
    int64_t p = (int64_t)s->h_out * s->w_out;
    float *y_n = g->y + (g->first + sample) * sample_floats(s->c_out, s->h_out, s->w_out);
    for (int co = 0; co < s->c_out; co++) {
        const float *src = g->rows + co * g->ld + sample * p;
        float *dst = y_n + co * p;
        if (g->b)
            for (int64_t q = 0; q < p; q++) dst[q] = src[q] + g->b[co]; /* one rounding, as forward_group's in-place add */
        else if (g->beta != 0.0f)
            for (int64_t q = 0; q < p; q++) dst[q] += src[q]; /* as the GEMM's beta = 1 update */
        else
            memcpy(dst, src, (size_t)p * sizeof(float));
    }
}

/* Split a per-sample step of the group across threads: count·chunks tasks, chunks chosen so there are at least
 * as many tasks as threads (run serially when called from inside a task). */
static void group_parallel(conv_group *g, bl_task_fn fn, int chunk_limit) {
    int threads = bl_threads_get();
    g->chunks = (threads + g->count - 1) / g->count;
    if (g->chunks > chunk_limit) g->chunks = chunk_limit;
    if (g->chunks < 1) g->chunks = 1;
    bl_parallel_for(g->count * g->chunks, fn, g);
}

/* Acquire the group's buffers (see conv_group). Returns 0 when memory is exhausted. */
static int group_acquire(conv_group *g, int need_col, int need_rows, bl_scratch **col_handle, bl_scratch **rows_handle) {
    const bl_conv2d_shape *s = g->s;
    *col_handle = *rows_handle = NULL;
    g->col = g->rows = NULL;
    if (need_col) {
        g->col = bl_scratch_acquire((size_t)((int64_t)s->c_in * s->kh * s->kw * g->ld), col_handle);
        if (!g->col) return 0;
    }
    if (need_rows) {
        g->rows = bl_scratch_acquire((size_t)((int64_t)s->c_out * g->ld), rows_handle);
        if (!g->rows) {
            bl_scratch_release(*col_handle);
            return 0;
        }
    }
    return 1;
}

/* The convolution restricted to the group's samples: what the ref fallback is called with. */
static bl_conv2d_shape group_shape(const conv_group *g) {
    bl_conv2d_shape part = *g->s;
    part.n = g->count;
    return part;
}

/* =================================================================================== forward chunks ==== */

enum { FORWARD_CHUNK_MULTIPLE = 64 };

/* The GEMM's B row provider of the fused forward: row r of the sample's im2col, output pixels [col0, col0 + cols) */
typedef struct im2col_source {
    const bl_conv2d_shape *s;
    const float *x_n;
} im2col_source;

static void im2col_row_provider(void *user, int row, int col0, int cols, float *dst) {
    const im2col_source *src = user;
    im2col_rows(src->s, src->x_n, row, row + 1, col0, (int64_t)col0 + cols, dst, 0); /* ld 0: dst is the row */
}

/* y_n[co, p] += b[co] for the output pixels [p0, p1) (one rounding per element, after the GEMM) */
static void add_bias_columns(const bl_conv2d_shape *s, const float *b, float *y_n, int64_t p0, int64_t p1) {
    int64_t p = (int64_t)s->h_out * s->w_out;
    for (int co = 0; co < s->c_out; co++)
        for (int64_t q = p0; q < p1; q++) y_n[co * p + q] += b[co];
}

/* ---- forward on a zero-padded copy of the sample ("padded grid") ----
 * With the sample's input padded once (Hp = h_in + 2·ph, Wp = w_in + 2·pw) and, for stride s > 1, split into its
 * s_h·s_w phases — plane (ci, a, b) [Hq, Wq] holds the padded pixels (s_h·u + a, s_w·v + b), Hq = ⌈Hp/s_h⌉,
 * Wq = ⌈Wp/s_w⌉ (for stride 1 the single phase is the padded input itself) — the im2col row of tap (ci, i, j)
 * over output pixels laid out with row stride Wq is one contiguous slice of one phase plane:
 *     col[(ci·kh + i)·kw + j, oh·Wq + ow] = xq[ci, r mod s_h, c mod s_w][(oh + ⌊r/s_h⌋)·Wq + ow + ⌊c/s_w⌋]
 * with r = i·dh, c = j·dw. So the GEMM takes B by row pointers into xq (bl_sgemm_cpu_prepacked_b_row_ptrs, read in
 * place by the AVX-512 micro-kernel) and never builds im2col. Its output C [c_out, (h_out − 1)·Wq + w_out] has
 * Wq − w_out unused columns between output rows (pixels ow ≥ w_out, which read the next row's left edge), dropped
 * when C is compacted into y. Every read stays inside its phase plane (ow + ⌊c/s⌋ ≤ Wq − 1 for ow < w_out, and
 * the last row's extra columns are not computed). The B values of each valid pixel are exactly the bytes im2col
 * would have produced, and a GEMM's result does not depend on how its columns are laid out (gemm.h), so y is
 * bitwise the im2col path's (tests/test_conv_chunk_cpu.c compares the two). Costs: Wq − w_out wasted columns per
 * output row (3 % at 56×56, 12 % at 14×14); the input copied once instead of kh·kw times. Output rows go in
 * bands whose C fits PADDED_BAND_FLOATS, so the extra memory per thread is xq (the sample's input, padded) plus
 * one band. A pointwise, stride-1, unpadded convolution reads x itself and needs none of this. */
enum { PADDED_BAND_FLOATS = 1 << 18, PADDED_UNGROUPED_MAX_WEIGHTS = 1 << 18 };

static int padded_grid_fits(const bl_conv2d_shape *s) { return !conv2d_is_pointwise(s); }

/* The group's one sample through the padded grid (count == 1, w_packed set). Returns 0, or −1 when its buffers
 * cannot be had (nothing written: the caller takes another path). */
static int forward_padded(const conv_group *g) {
    const bl_conv2d_shape *s = g->s;
    const conv2d_padded_grid q = conv2d_grid_of(s);
    const int k = s->c_in * s->kh * s->kw, wq = q.wq;
    const int64_t p = (int64_t)s->h_out * s->w_out, channel = (int64_t)s->stride_h * s->stride_w * q.plane;
    int64_t band_rows = PADDED_BAND_FLOATS / ((int64_t)s->c_out * wq);
    if (band_rows < 1) band_rows = 1;
    if (band_rows > s->h_out) band_rows = s->h_out;
    const int64_t band_cols = (band_rows - 1) * wq + s->w_out;
    const size_t xq_floats = (size_t)(s->c_in * channel + 15) / 16 * 16;
    const size_t c_floats = (size_t)(s->c_out * band_cols + 15) / 16 * 16;
    const size_t rows_floats = ((size_t)k * sizeof(const float *) + sizeof(float) - 1) / sizeof(float);
    bl_scratch *handle;
    float *xq = bl_scratch_acquire(xq_floats + c_floats + rows_floats, &handle);
    if (!xq) return -1;
    float *c = xq + xq_floats;
    const float **rows = (const float **)(void *)(c + c_floats);
    const float *x_n = g->x + (int64_t)g->first * s->c_in * s->h_in * s->w_in;
    for (int ci = 0; ci < s->c_in; ci++) conv2d_fill_padded_channel(s, x_n, ci, &q, xq + ci * channel);
    float *y_n = g->y + (int64_t)g->first * s->c_out * p;
    for (int oh0 = 0; oh0 < s->h_out; oh0 += (int)band_rows) {
        int oh1 = oh0 + (int)band_rows < s->h_out ? oh0 + (int)band_rows : s->h_out;
        int cols = (oh1 - oh0 - 1) * wq + s->w_out;
        for (int r = 0; r < k; r++) rows[r] = xq + conv2d_tap_offset(s, &q, r) + (int64_t)oh0 * wq;
        if (g->beta != 0.0f) /* accumulating (β = 1): C starts as y's band, so each K block adds in as before */
            for (int co = 0; co < s->c_out; co++)
                for (int oh = oh0; oh < oh1; oh++) {
                    float *dst = c + (int64_t)co * cols + (int64_t)(oh - oh0) * wq;
                    memcpy(dst, y_n + co * p + (int64_t)oh * s->w_out, (size_t)s->w_out * sizeof(float));
                    if (oh + 1 < oh1) memset(dst + s->w_out, 0, (size_t)(wq - s->w_out) * sizeof(float));
                }
        bl_sgemm_cpu_prepacked_b_row_ptrs(&g->st->gemm, s->c_out, cols, k, 1.0f, g->w_packed, rows, g->beta, c, cols);
        /* compact: y = C (+ b[co], one rounded add after the GEMM, as the other paths) */
        for (int co = 0; co < s->c_out; co++)
            for (int oh = oh0; oh < oh1; oh++) {
                float *dst = y_n + co * p + (int64_t)oh * s->w_out;
                memcpy(dst, c + (int64_t)co * cols + (int64_t)(oh - oh0) * wq, (size_t)s->w_out * sizeof(float));
                if (g->b)
                    for (int ow = 0; ow < s->w_out; ow++) dst[ow] += g->b[co];
            }
    }
    bl_scratch_release(handle);
    return 0;
}

/* The widest chunk of output pixels whose col [k, width] fits the bound: p itself when the whole col fits, else
 * p split into the fewest near-equal chunks, each a multiple of 64 columns (whole 32- and 16-wide GEMM tiles) when
 * the bound allows at least 128, never less than one column. Depends on the shape and the bound only. */
static int64_t forward_chunk_columns(const bl_cpu_state *st, int64_t k, int64_t p) {
    int64_t limit = (int64_t)(st->options.conv_forward_chunk_bytes / sizeof(float)) / (k > 0 ? k : 1);
    if (limit >= p) return p;
    int64_t multiple = limit >= 2 * FORWARD_CHUNK_MULTIPLE ? FORWARD_CHUNK_MULTIPLE : 1;
    if (limit < 1) limit = 1;
    limit = limit / multiple * multiple;
    int64_t chunks = (p + limit - 1) / limit;
    int64_t width = (p + chunks - 1) / chunks;
    width = (width + multiple - 1) / multiple * multiple;
    return width < limit ? width : limit;
}

/* ========================================================================================== the passes ==== */

/* forward of one group: in x, w, b; out y (the group's samples). A single sample that needs im2col runs in
 * chunks of at most chunk_columns output pixels: im2col of the chunk's columns, then y_n[:, p0:p1] = W · col
 * (+ b), so col never exceeds K·chunk_columns floats (see the file comment). */
static void forward_group(conv_group *g) {
    const bl_conv2d_shape *s = g->s;
    int k = s->c_in * s->kh * s->kw;
    int64_t p = (int64_t)s->h_out * s->w_out;
    const float *x_first = g->x + g->first * sample_floats(s->c_in, s->h_in, s->w_in);
    float *y_first = g->y + g->first * sample_floats(s->c_out, s->h_out, s->w_out);
    int need_col = !(conv2d_is_pointwise(s) && g->count == 1);
    if (g->count == 1 && need_col && g->w_packed && g->fused && padded_grid_fits(s) && forward_padded(g) == 0) return;
    if (g->count == 1 && need_col && g->w_packed && g->fused) { /* im2col inside the GEMM's B packing */
        im2col_source src = {.s = s, .x_n = x_first};
        if (bl_sgemm_cpu_prepacked_b_rows(&g->st->gemm, s->c_out, (int)p, k, 1.0f, g->w_packed, im2col_row_provider,
                                          &src, g->beta, y_first, (int)p) == 0) {
            if (g->b) add_bias_columns(s, g->b, y_first, 0, p);
            return;
        } /* else out of memory: the chunked path below */
    }
    int64_t width = g->count == 1 && need_col && g->chunk_columns < p ? g->chunk_columns : p;
    if (g->count == 1) g->ld = width; /* col [K, width]; the grouped path keeps ld = count·P */
    bl_scratch *col_handle, *rows_handle;
    if (!group_acquire(g, need_col, g->count > 1, &col_handle, &rows_handle)) {
        if (g->transposed_of) { /* x is dy, y is dx: ref's backward data of the original convolution */
            bl_conv2d_shape part = *g->transposed_of;
            part.n = g->count;
            bl_kernels_ref()->conv2d_backward_data(bl_kernels_ref(), &part, x_first, g->w_original, y_first);
            return;
        }
        bl_conv2d_shape part = group_shape(g);
        bl_kernels_ref()->conv2d_forward(bl_kernels_ref(), &part, x_first, g->w, g->b, y_first);
        return;
    }
    for (int64_t p0 = 0; p0 < p; p0 += width) {
        int64_t p1 = p0 + width < p ? p0 + width : p;
        int n_cols = (int)(g->count > 1 ? g->ld : p1 - p0);
        g->p_begin = p0, g->p_end = p1;
        if (g->col) group_parallel(g, group_im2col_task, k);
        const float *b_operand = g->col ? g->col : x_first;
        float *out = g->rows ? g->rows : y_first + p0;
        int ldc = (int)(g->rows ? g->ld : p);
        float beta = g->rows ? 0.0f : g->beta; /* rows are added to y by the scatter */
        if (g->w_packed)
            bl_sgemm_cpu_prepacked(&g->st->gemm, s->c_out, n_cols, k, 1.0f, g->w_packed, 0, b_operand, (int)g->ld, beta,
                                   out, ldc);
        else
            bl_sgemm_cpu(&g->st->gemm, 0, 0, s->c_out, n_cols, k, 1.0f, g->w, k, b_operand, (int)g->ld, beta, out, ldc);
        if (!g->rows && g->b) add_bias_columns(s, g->b, y_first, p0, p1);
    }
    if (g->rows) bl_parallel_for(g->count, group_scatter_y_task, g);
    bl_scratch_release(col_handle), bl_scratch_release(rows_handle);
}

/* backward data of one group: in dy, w; acc dx (the group's samples) */
static void backward_data_group(conv_group *g) {
    const bl_conv2d_shape *s = g->s;
    int k = s->c_in * s->kh * s->kw;
    const float *dy_first = g->dy + g->first * sample_floats(s->c_out, s->h_out, s->w_out);
    float *dx_first = g->dx + g->first * sample_floats(s->c_in, s->h_in, s->w_in);
    bl_scratch *col_handle, *rows_handle;
    int direct = conv2d_is_pointwise(s) && g->count == 1; /* colgrad is dx_n itself: accumulate with beta = 1 */
    if (!group_acquire(g, !direct, g->count > 1, &col_handle, &rows_handle)) {
        bl_conv2d_shape part = group_shape(g);
        bl_kernels_ref()->conv2d_backward_data(bl_kernels_ref(), &part, dy_first, g->w, dx_first);
        return;
    }
    if (g->rows) bl_parallel_for(g->count, group_gather_dy_task, g);
    const float *dy_rows = g->rows ? g->rows : dy_first;
    float *colgrad = direct ? dx_first : g->col;
    float beta = direct ? 1.0f : 0.0f;
    if (g->w_packed)
        bl_sgemm_cpu_prepacked(&g->st->gemm, k, (int)g->ld, s->c_out, 1.0f, g->w_packed, 0, dy_rows, (int)g->ld, beta,
                               colgrad, (int)g->ld);
    else
        bl_sgemm_cpu(&g->st->gemm, 1, 0, k, (int)g->ld, s->c_out, 1.0f, g->w, k, dy_rows, (int)g->ld, beta, colgrad,
                     (int)g->ld);
    if (!direct) group_parallel(g, group_col2im_task, s->c_in);
    bl_scratch_release(col_handle), bl_scratch_release(rows_handle);
}

/* backward filter of one group: in x, dy; acc dw += dy_group · colᵀ */
static void backward_filter_group(conv_group *g) {
    const bl_conv2d_shape *s = g->s;
    int k = s->c_in * s->kh * s->kw;
    const float *x_first = g->x + g->first * sample_floats(s->c_in, s->h_in, s->w_in);
    const float *dy_first = g->dy + g->first * sample_floats(s->c_out, s->h_out, s->w_out);
    bl_scratch *col_handle, *rows_handle;
    if (!group_acquire(g, !(conv2d_is_pointwise(s) && g->count == 1), g->count > 1, &col_handle, &rows_handle)) {
        bl_conv2d_shape part = group_shape(g);
        bl_kernels_ref()->conv2d_backward_filter(bl_kernels_ref(), &part, x_first, dy_first, g->dw, NULL);
        return;
    }
    g->p_begin = 0, g->p_end = (int64_t)s->h_out * s->w_out;
    if (g->col) group_parallel(g, group_im2col_task, k);
    if (g->rows) bl_parallel_for(g->count, group_gather_dy_task, g);
    bl_sgemm_cpu(&g->st->gemm, 0, 1, s->c_out, k, (int)g->ld, 1.0f, g->rows ? g->rows : dy_first, (int)g->ld,
                 g->col ? g->col : x_first, (int)g->ld, 1.0f, g->dw, k);
    bl_scratch_release(col_handle), bl_scratch_release(rows_handle);
}

typedef void (*group_pass_fn)(conv_group *g);

typedef struct pass_job {
    conv_group proto; /* tensors and shape; first/count/ld filled per task */
    group_pass_fn pass;
} pass_job;

static void one_sample_task(void *arg, int n) {
    pass_job *job = arg;
    conv_group g = job->proto;
    g.first = n, g.count = 1, g.ld = (int64_t)g.s->h_out * g.s->w_out;
    job->pass(&g);
}

/* Which GEMM operand A a pass multiplies by: the weights W [c_out, K] (forward), their transpose (backward data),
 * or none that is shared between samples (backward filter: A is the sample's dy). */
typedef enum { SHARED_A_NONE, SHARED_A_W, SHARED_A_W_TRANSPOSED } shared_a;

/* Run `pass` over the batch: whole samples per thread when G = 1 and the batch divides well (only for passes
 * whose samples are independent), else group after group in order with the work inside each split.
 * Per-sample GEMMs all multiply by the same weights: those are packed once here (not once per sample — for
 * 14×14 maps packing W cost about as much as a quarter of the multiply) and every sample's GEMM reads the packed
 * copy; the bytes are those the GEMM would pack itself, so results do not change. */
static void run_pass(conv_group proto, group_pass_fn pass, int samples_independent, shared_a a_kind) {
    const bl_conv2d_shape *s = proto.s;
    /* a forward on the padded grid needs no side-by-side grouping when the weights are small: its small maps fill
     * their tiles (7×7: 63 of 64 columns, against 49 of 64 for one sample's im2col) — DenseNet's last block. With
     * large weights (ResNet50's last stage, 2.4 M floats) one sample's few columns cannot amortise reading them:
     * grouped samples measured 14–28 % faster there (docs/benchmarks.md). */
    int small_weights = (int64_t)s->c_out * s->c_in * s->kh * s->kw <= PADDED_UNGROUPED_MAX_WEIGHTS;
    int group = pass == forward_group && proto.fused && padded_grid_fits(s) && small_weights ? 1 : group_size(s);
    int threads = bl_threads_get();
    int per_sample = group == 1 && samples_independent && threads > 1 && s->n >= threads &&
                     (s->n % threads == 0 || s->n >= 4 * threads);
    /* several GEMMs share A: the samples of the per-sample plan, or a forward pass's chunks (one GEMM per chunk;
     * not the group-by-group plan otherwise, as before chunking: there the GEMM packs its A blocks itself, and a
     * packed copy would add M·K floats to the peak memory) */
    int64_t p = (int64_t)s->h_out * s->w_out;
    /* the fused forward only where each GEMM runs on one thread (the per-sample plan, or one thread): with the
     * GEMM split across threads, one sample at a time, the chunked path measured ~9 % faster (docs/benchmarks.md) */
    if (!per_sample && threads > 1) proto.fused = 0;
    int chunked = a_kind == SHARED_A_W && group == 1 && !conv2d_is_pointwise(s) && proto.chunk_columns < p;
    int shared_by_several = per_sample ? s->n > 1 : chunked;
    bl_scratch *packed_handle = NULL;
    if (a_kind != SHARED_A_NONE && shared_by_several) {
        int k = s->c_in * s->kh * s->kw, m = a_kind == SHARED_A_W ? s->c_out : k;
        int inner = a_kind == SHARED_A_W ? k : s->c_out;
        float *packed = bl_scratch_acquire(bl_sgemm_prepacked_a_floats(&proto.st->gemm, m, inner), &packed_handle);
        if (packed) { /* else each GEMM packs its own copy */
            bl_sgemm_prepack_a(&proto.st->gemm, a_kind == SHARED_A_W_TRANSPOSED, m, inner, proto.w, k, packed);
            proto.w_packed = packed;
        }
    }
    if (per_sample) {
        pass_job job = {.proto = proto, .pass = pass};
        bl_parallel_for(s->n, one_sample_task, &job);
    } else {
        for (int first = 0; first < s->n; first += group) {
            conv_group g = proto;
            g.first = first;
            g.count = s->n - first < group ? s->n - first : group;
            g.ld = (int64_t)g.count * s->h_out * s->w_out;
            pass(&g);
        }
    }
    bl_scratch_release(packed_handle);
}

static int conv_is_empty(const bl_conv2d_shape *s) {
    return s->n <= 0 || s->c_out <= 0 || s->c_in <= 0 || s->h_out <= 0 || s->w_out <= 0;
}

/* in x [n,c_in,h_in,w_in], in w [c_out,c_in,kh,kw], in b [c_out] or NULL, out y [n,c_out,h_out,w_out] */
static void conv2d_forward_cpu(const bl_kernels *self, const bl_conv2d_shape *s, const float *x, const float *w,
                        const float *b, float *y) {
    if (conv_is_empty(s)) return;
    const bl_cpu_state *st = bl_cpu_state_of(self);
    conv_group proto = {.st = st, .s = s, .x = x, .w = w, .b = b, .y = y};
    proto.chunk_columns = forward_chunk_columns(st, (int64_t)s->c_in * s->kh * s->kw, (int64_t)s->h_out * s->w_out);
    proto.fused = st->options.conv_forward_fused;
    run_pass(proto, forward_group, 1, SHARED_A_W);
}

/* in x, w, b, out y as conv2d_forward_cpu; by Winograd where it takes the shape (and its buffers can be had) */
static void conv2d_forward_nograd_cpu(const bl_kernels *self, const bl_conv2d_shape *s, const float *x, const float *w,
                               const float *b, float *y) {
    const bl_cpu_state *st = bl_cpu_state_of(self);
    if (!conv_is_empty(s) && conv2d_winograd_takes(st, s) && conv2d_winograd(st, s, x, w, b, 0.0f, y)) return;
    conv2d_forward_cpu(self, s, x, w, b, y);
}

/* ============================================================= backward data as a transposed convolution ==== */

/* For stride 1 the gradient of a convolution is itself a convolution (the adjoint of a correlation is the
 * correlation with the flipped kernel):
 *     dx[ci, ih, iw] = Σ_{co,i,j} W[co,ci,i,j] · dy[co, ih + ph − i·dh, iw + pw − j·dw]
 *                    = Σ_{co,i',j'} W'[ci,co,i',j'] · dy[co, ih − ph' + i'·dh, iw − pw' + j'·dw]
 * with W'[ci,co,i',j'] = W[co,ci,kh−1−i',kw−1−j'] and ph' = (kh−1)·dh − ph (pw' likewise): a stride-1 convolution
 * of dy with c_in output channels, whose output has exactly x's size. It runs through forward_group with β = 1
 * (accumulating into dx). Against Wᵀ·dy followed by col2im this writes a [c_in, P] result instead of a
 * [c_in·kh·kw, P] column gradient that col2im then reads back and scatters — for DenseNet's 3×3 convolutions
 * (c_out = 32) col2im alone was 7 % of a training step — and its GEMM has the deep K = c_out·kh·kw instead of
 * K = c_out. Each dx element is one dot product of c_out·kh·kw terms (blocked as every GEMM) plus the
 * accumulation, instead of kh·kw separately rounded partial sums added by col2im: a different rounding, no
 * larger a bound (tests/test_conv_cpu.c), and still independent of the thread count.
 * Needs ph' ≥ 0 and pw' ≥ 0 (padding at most the dilated kernel's reach: every "same" convolution). */
static int transposable(const bl_conv2d_shape *s) {
    return s->stride_h == 1 && s->stride_w == 1 && !conv2d_is_pointwise(s) && s->pad_h <= (s->kh - 1) * s->dil_h &&
           s->pad_w <= (s->kw - 1) * s->dil_w;
}

typedef struct flip_job {
    const bl_conv2d_shape *s;
    const float *w;
    float *w_t;
} flip_job;

/* Task ci: w_t[ci, :, :, :] (a copy: which thread writes it changes nothing) */
static void flip_transpose_task(void *arg, int ci) {
    const flip_job *job = arg;
    const bl_conv2d_shape *s = job->s;
    int taps = s->kh * s->kw;
    for (int co = 0; co < s->c_out; co++) {
        const float *src = job->w + ((int64_t)co * s->c_in + ci) * taps;
        float *dst = job->w_t + ((int64_t)ci * s->c_out + co) * taps;
        for (int t = 0; t < taps; t++) dst[t] = src[taps - 1 - t];
    }
}

/* out w_t [c_in, c_out, kh, kw] = W flipped in space and with its channel axes swapped (in w [c_out,c_in,kh,kw]) */
static void flip_transpose_weights(const bl_conv2d_shape *s, const float *w, float *w_t) {
    flip_job job = {.s = s, .w = w, .w_t = w_t};
    bl_parallel_for(s->c_in, flip_transpose_task, &job);
}

/* Returns 0 (nothing done) when the scratch for W' cannot be had: the caller then takes the col2im path. */
static int backward_data_transposed(const bl_cpu_state *st, const bl_conv2d_shape *s, const float *dy, const float *w,
                                    float *dx) {
    bl_conv2d_shape t = {
        .n = s->n, .c_in = s->c_out, .h_in = s->h_out, .w_in = s->w_out,
        .c_out = s->c_in, .kh = s->kh, .kw = s->kw, .stride_h = 1, .stride_w = 1,
        .pad_h = (s->kh - 1) * s->dil_h - s->pad_h, .pad_w = (s->kw - 1) * s->dil_w - s->pad_w,
        .dil_h = s->dil_h, .dil_w = s->dil_w, .h_out = s->h_in, .w_out = s->w_in,
    };
    bl_scratch *handle;
    float *w_t = bl_scratch_acquire((size_t)s->c_in * s->c_out * s->kh * s->kw, &handle);
    if (!w_t) return 0;
    flip_transpose_weights(s, w, w_t);
    if (conv2d_winograd_takes(st, &t) && conv2d_winograd(st, &t, dy, w_t, NULL, 1.0f, dx)) {
        bl_scratch_release(handle);
        return 1;
    }
    conv_group proto = {.st = st, .s = &t, .x = dy, .w = w_t, .y = dx, .beta = 1.0f, .transposed_of = s,
                        .w_original = w};
    proto.chunk_columns = forward_chunk_columns(st, (int64_t)t.c_in * t.kh * t.kw, (int64_t)t.h_out * t.w_out);
    proto.fused = st->options.conv_forward_fused;
    run_pass(proto, forward_group, 1, SHARED_A_W);
    bl_scratch_release(handle);
    return 1;
}

/* in dy [n,c_out,h_out,w_out], in w [c_out,c_in,kh,kw], acc dx [n,c_in,h_in,w_in] */
static void conv2d_backward_data_cpu(const bl_kernels *self, const bl_conv2d_shape *s, const float *dy, const float *w,
                              float *dx) {
    if (!dx || conv_is_empty(s)) return;
    const bl_cpu_state *st = bl_cpu_state_of(self);
    if (transposable(s) && backward_data_transposed(st, s, dy, w, dx)) return;
    conv_group proto = {.st = st, .s = s, .w = w, .dy = dy, .dx = dx};
    run_pass(proto, backward_data_group, 1, SHARED_A_W_TRANSPOSED);
}

typedef struct bias_job {
    const bl_conv2d_shape *s;
    const float *dy;
    float *db;
} bias_job;

/* db[co] += Σ_{n,p} dy[n,co,p], summed in double in (n, p) order — one channel per task, so deterministic. */
static void bias_gradient_task(void *arg, int co) {
    bias_job *job = arg;
    const bl_conv2d_shape *s = job->s;
    int64_t p = (int64_t)s->h_out * s->w_out;
    double sum = 0.0;
    for (int n = 0; n < s->n; n++) {
        const float *row = job->dy + ((int64_t)n * s->c_out + co) * p;
        for (int64_t q = 0; q < p; q++) sum += row[q];
    }
    job->db[co] += (float)sum;
}

/* in x [n,c_in,h_in,w_in], in dy [n,c_out,h_out,w_out], acc dw [c_out,c_in,kh,kw], acc db [c_out] or NULL.
 * dW's sum over the batch runs group after group in sample order, so it cannot depend on the thread count. */
static void conv2d_backward_filter_cpu(const bl_kernels *self, const bl_conv2d_shape *s, const float *x, const float *dy,
                                float *dw, float *db) {
    if (conv_is_empty(s)) return;
    if (db) {
        bias_job bias = {.s = s, .dy = dy, .db = db};
        bl_parallel_for(s->c_out, bias_gradient_task, &bias);
    }
    if (!dw) return;
    const bl_cpu_state *st = bl_cpu_state_of(self);
    if (conv2d_winograd_takes(st, s) && conv2d_winograd_filter_gradient(st, s, x, dy, dw)) return;
    if (conv2d_backward_filter_dot(st, s, x, dy, dw)) return;
    conv_group proto = {.st = st, .s = s, .x = x, .dy = dy, .dx = NULL, .dw = dw};
    run_pass(proto, backward_filter_group, 0, SHARED_A_NONE);
}

void bl_cpu_conv2d_slots(bl_kernels *k) {
    k->conv2d_forward = conv2d_forward_cpu;
    k->conv2d_forward_nograd = conv2d_forward_nograd_cpu;
    k->conv2d_backward_data = conv2d_backward_data_cpu;
    k->conv2d_backward_filter = conv2d_backward_filter_cpu;
}
