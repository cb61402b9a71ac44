/* conv2d_grid.c — the padded grid of the cpu convolution (conv2d_grid.h) and the weight gradient by dot products
 * that reads it; core/cpu/conv2d.c runs the GEMM paths around them. */
#include "core/cpu/conv2d_grid.h"

#include <string.h>

#include "core/cpu/cpu_ops.h"
#include "core/cpu/cpu_ops.h"
#include "core/cpu/scratch.h"
#include "core/cpu/threads.h"

int conv2d_is_pointwise(const bl_conv2d_shape *s) {
    return s->kh == 1 && s->kw == 1 && s->stride_h == 1 && s->stride_w == 1 && s->pad_h == 0 && s->pad_w == 0;
}

conv2d_padded_grid conv2d_grid_of(const bl_conv2d_shape *s) {
    conv2d_padded_grid q = {.hp = s->h_in + 2 * s->pad_h, .wp = s->w_in + 2 * s->pad_w};
    q.hq = (q.hp + s->stride_h - 1) / s->stride_h;
    q.wq = (q.wp + s->stride_w - 1) / s->stride_w;
    q.plane = (int64_t)q.hq * q.wq;
    return q;
}

/* Does some tap read phase (a, b)? (a 1×1 stride-2 convolution reads only (0, 0): a quarter of the input) */
static int phase_used(const bl_conv2d_shape *s, int a, int b) {
    int row = 0, col = 0;
    for (int i = 0; i < s->kh; i++) row |= (i * s->dil_h) % s->stride_h == a;
    for (int j = 0; j < s->kw; j++) col |= (j * s->dil_w) % s->stride_w == b;
    return row && col;
}

void conv2d_fill_padded_channel(const bl_conv2d_shape *s, const float *x_n, int ci, const conv2d_padded_grid *q,
                                float *xq_ci) {
    const float *src = x_n + (int64_t)ci * s->h_in * s->w_in;
    for (int a = 0; a < s->stride_h; a++)
        for (int b = 0; b < s->stride_w; b++) {
            if (!phase_used(s, a, b)) continue;
            float *plane = xq_ci + (int64_t)(a * s->stride_w + b) * q->plane;
            for (int u = 0; u < q->hq; u++) {
                float *row = plane + (int64_t)u * q->wq;
                int ih = s->stride_h * u + a - s->pad_h;
                if (ih < 0 || ih >= s->h_in) {
                    memset(row, 0, (size_t)q->wq * sizeof(float));
                    continue;
                }
                const float *x_row = src + (int64_t)ih * s->w_in;
                if (s->stride_w == 1) { /* zeros · the row · zeros */
                    memset(row, 0, (size_t)s->pad_w * sizeof(float));
                    memcpy(row + s->pad_w, x_row, (size_t)s->w_in * sizeof(float));
                    memset(row + s->pad_w + s->w_in, 0, (size_t)(q->wq - s->pad_w - s->w_in) * sizeof(float));
                } else {
                    for (int v = 0; v < q->wq; v++) {
                        int iw = s->stride_w * v + b - s->pad_w;
                        row[v] = iw >= 0 && iw < s->w_in ? x_row[iw] : 0.0f;
                    }
                }
            }
        }
}

int64_t conv2d_tap_offset(const bl_conv2d_shape *s, const conv2d_padded_grid *q, int t) {
    int j = t % s->kw, i = (t / s->kw) % s->kh, ci = t / (s->kw * s->kh);
    int r = i * s->dil_h, c = j * s->dil_w;
    int64_t phase = ((int64_t)ci * s->stride_h + r % s->stride_h) * s->stride_w + c % s->stride_w;
    return phase * q->plane + (int64_t)(r / s->stride_h) * q->wq + c / s->stride_w;
}

/* ---- backward filter by dot products (stride 1, AVX-512: conv2d_grid_avx512.c) ----
 *     dW[co, t] += Σ_n Σ_p dy_n[co, p] · col_n[t, p]        t = (ci·kh + i)·kw + j
 * Both factors run along the output pixels p in memory — dy_n's rows, and (stride 1) the rows of the sample's
 * padded copy xp shifted by the tap, one output row at a time (pointwise: x_n's planes, the whole map at once) —
 * so the dot tile (conv2d_grid_avx512.c) takes dot products of them where they lie: no im2col, no transposing pack, which made
 * this pass memory-bound for thin layers (DenseNet's 3×3 convolutions, c_out = 32: ~105 GFLOP/s against ~190 for
 * their forward, docs/benchmarks.md). Pixels go in chunks of about DW_CHUNK_PIXELS (whole output rows), so that a
 * chunk's dy rows and the tap rows of a tile stay in cache; each chunk of each sample adds its dot products to
 * dW in one rounding per element, samples in order, chunks in order. Tiles of dW (mr × nr) are split
 * between threads, each element in exactly one tile: results do not depend on the thread count. The rounding
 * differs from the im2col + GEMM path (16 lanes per dot product instead of one running sum per K block), within
 * the same bound (tests/test_conv_cpu.c). */
enum { DW_CHUNK_PIXELS = 512 };

typedef struct dw_dot_job {
    const bl_conv2d_shape *s;
    const bl_conv_dw_kernel *kern;
    const float *dy_n, *src;      /* this sample's dy, and x_n (pointwise) or its padded copy xp */
    const int64_t *co_off, *tap_off; /* row offsets: co·P in dy_n, the tap's shift in src */
    int64_t dy_first, src_first;  /* the chunk's first pixel in dy_n and src */
    int runs, len;                /* the chunk: runs of len pixels, */
    int64_t dy_step, src_step;    /* each run this far after the previous one (in dy_n, in src) */
    float *dw;
    int co_tiles, tap_tiles, tasks;
} dw_dot_job;

/* task: a contiguous range of tiles, tap tiles outer (a tile's tap rows are reused by every co tile of dy) */
static void dw_dot_task(void *arg, int task) {
    const dw_dot_job *j = arg;
    const int k = j->s->c_in * j->s->kh * j->s->kw, mr = j->kern->mr, nr = j->kern->nr;
    int64_t tiles = (int64_t)j->co_tiles * j->tap_tiles;
    int64_t begin = tiles * task / j->tasks, end = tiles * (task + 1) / j->tasks;
    for (int64_t tile = begin; tile < end; tile++) {
        int t0 = (int)(tile / j->co_tiles) * nr, co0 = (int)(tile % j->co_tiles) * mr;
        int m = j->s->c_out - co0 < mr ? j->s->c_out - co0 : mr, n = k - t0 < nr ? k - t0 : nr;
        j->kern->tile(m, n, j->dy_n + j->dy_first, j->co_off + co0, j->src + j->src_first, j->tap_off + t0,
                      j->runs, j->dy_step, j->src_step, j->len, j->dw + (int64_t)co0 * k + t0, k);
    }
}

typedef struct pad_job {
    const bl_conv2d_shape *s;
    const float *x_n;
    conv2d_padded_grid q;
    float *xp;
} pad_job;

static void pad_channel_task(void *arg, int ci) {
    pad_job *j = arg;
    conv2d_fill_padded_channel(j->s, j->x_n, ci, &j->q, j->xp + (int64_t)ci * j->q.plane); /* stride 1: one phase */
}

/* Where the dot products beat im2col + GEMM (measured, 2 threads, batch 8, docs/benchmarks.md): thin layers
 * (c_out ≤ 32: DenseNet's 3×3, 56×56 … 14×14: +20 % … 2.5×) and large maps (≥ 112×112: VGG16's first two stages,
 * +6 … +100 %), as long as an output row fills most of its 16-lane vectors (w_out ≥ 14). Elsewhere the GEMM's
 * packing is amortised over many output channels and it is faster (c_out ≥ 64 on ≤ 56×56 maps: 180–195 against
 * 130–155 GFLOP/s); pointwise layers read no im2col anyway (GEMM 150–170, dots 120–140). */
/* The dot tile of the backend's instruction set: AVX-512's, or none (the im2col + GEMM path runs). */
static const bl_conv_dw_kernel *dw_kernel(const bl_cpu_state *st) {
#ifdef BLASTO_HAVE_X86_SIMD
    if (st->options.simd == BL_GEMM_KERNEL_AVX512) return &bl_conv_dw_kernel_avx512;
#else
    (void)st;
#endif
    return NULL;
}

static int backward_filter_dot_pays(const bl_conv2d_shape *s) {
    if (conv2d_is_pointwise(s) || s->w_out < 14) return 0;
    return s->c_out <= 32 || (int64_t)s->h_out * s->w_out >= 112 * 112;
}

int conv2d_backward_filter_dot(const bl_cpu_state *st, const bl_conv2d_shape *s, const float *x, const float *dy,
                               float *dw) {
    const bl_conv_dw_kernel *kern = dw_kernel(st);
    const int mode = st->options.conv_backward_filter_dot, pointwise = conv2d_is_pointwise(s);
    if (!kern || s->stride_h != 1 || s->stride_w != 1 || mode == 0 || (mode == 1 && !backward_filter_dot_pays(s)))
        return 0;
    const conv2d_padded_grid q = conv2d_grid_of(s); /* stride 1: the padded input, one phase */
    const int k = s->c_in * s->kh * s->kw, wp = q.wp;
    const int64_t p = (int64_t)s->h_out * s->w_out, plane = q.plane;
    const size_t xp_floats = pointwise ? 0 : (size_t)(s->c_in * plane + 15) / 16 * 16;
    const size_t off_floats = ((size_t)(s->c_out + k) * sizeof(int64_t) + sizeof(float) - 1) / sizeof(float);
    bl_scratch *handle;
    float *xp = bl_scratch_acquire(xp_floats + off_floats, &handle);
    if (!xp) return 0;
    int64_t *co_off = (int64_t *)(void *)(xp + xp_floats), *tap_off = co_off + s->c_out;
    for (int co = 0; co < s->c_out; co++) co_off[co] = co * p;
    for (int t = 0; t < k; t++) tap_off[t] = pointwise ? t * p : conv2d_tap_offset(s, &q, t);
    int threads = bl_threads_get();
    dw_dot_job job = {.s = s, .kern = kern, .co_off = co_off, .tap_off = tap_off, .dw = dw,
                      .co_tiles = (s->c_out + kern->mr - 1) / kern->mr, .tap_tiles = (k + kern->nr - 1) / kern->nr};
    int64_t tiles = (int64_t)job.co_tiles * job.tap_tiles;
    job.tasks = (int)(tiles < 4 * threads ? tiles : 4 * threads);
    /* a chunk: whole output rows, about DW_CHUNK_PIXELS pixels (pointwise: a run is any span of pixels) */
    int rows_per_chunk = (int)(DW_CHUNK_PIXELS / s->w_out);
    if (rows_per_chunk < 1) rows_per_chunk = 1;
    for (int n = 0; n < s->n; n++) {
        job.dy_n = dy + (int64_t)n * s->c_out * p;
        if (pointwise) {
            job.src = x + (int64_t)n * s->c_in * p;
        } else {
            pad_job pad = {.s = s, .x_n = x + (int64_t)n * s->c_in * s->h_in * s->w_in, .q = q, .xp = xp};
            bl_parallel_for(s->c_in, pad_channel_task, &pad);
            job.src = xp;
        }
        for (int oh0 = 0; oh0 < s->h_out; oh0 += rows_per_chunk) {
            int oh1 = oh0 + rows_per_chunk < s->h_out ? oh0 + rows_per_chunk : s->h_out;
            if (pointwise) { /* one run over the chunk's pixels */
                job.runs = 1, job.len = (oh1 - oh0) * s->w_out, job.dy_step = job.src_step = 0;
                job.dy_first = job.src_first = (int64_t)oh0 * s->w_out;
            } else { /* one run per output row: w_out pixels, rows w_out apart in dy and wp apart in xp */
                job.runs = oh1 - oh0, job.len = s->w_out, job.dy_step = s->w_out, job.src_step = wp;
                job.dy_first = (int64_t)oh0 * s->w_out, job.src_first = (int64_t)oh0 * wp;
            }
            bl_parallel_for(job.tasks, dw_dot_task, &job);
        }
    }
    bl_scratch_release(handle);
    return 1;
}
