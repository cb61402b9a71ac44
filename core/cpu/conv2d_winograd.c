/* conv2d_winograd.c — 3×3, stride-1 convolutions by Winograd's minimal filtering F(4×4, 3×3)
 * (S. Winograd, "Arithmetic complexity of computations", 1980; A. Lavin & S. Gray, "Fast algorithms for
 * convolutional neural networks", CVPR 2016). Used by the cpu backend's conv2d_forward_nograd slot (forwards that
 * are not differentiated, kernels.h), its backward-data pass (through the transposed convolution, core/cpu/conv2d.c)
 * and its weight gradient (the same tiles run backwards, conv2d_winograd_filter_gradient); the training forward
 * stays direct (docs/numerics.md says why).
 *
 * The math. With the interpolation points 0, ±1, ±2 and ∞,
 *         | 4   0  −5   0   1   0 |         | 1/4     0     0   |         | 1   1   1   1   1   0 |
 *         | 0  −4  −4   1   1   0 |         | −1/6  −1/6  −1/6  |   Aᵀ =  | 0   1  −1   2  −2   0 |
 *   Bᵀ =  | 0   4  −4  −1   1   0 |   G  =  | −1/6   1/6  −1/6  |         | 0   1   1   4   4   0 |
 *         | 0  −2  −1   2   1   0 |         | 1/24  1/12   1/6  |         | 0   1  −1   8  −8   1 |
 *         | 0   2  −1  −2   1   0 |         | 1/24 −1/12   1/6  |
 *         | 0   4   0  −5   0   1 |         | 0      0     1    |
 * the 4×4 correlation of a 6×6 patch d with a 3×3 filter g is Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A, exactly. Over c_in
 * channels the sum moves inside: for every position i of the 6×6 transformed domain
 *     U_i[co, ci] = (G g_{co,ci} Gᵀ)_i      V_i[ci, t] = (Bᵀ d_{ci,t} B)_i      M_i = U_i · V_i      (a GEMM)
 * and tile t of output channel co is Aᵀ M_{·}[co, t] A. The output is cut into 4×4 tiles from its corner
 * (conv2d_winograd.h); the 36 GEMMs do 36·c_out·c_in multiply-adds per tile against 144·c_out·c_in directly.
 *
 * The steps, per chunk of tiles (the option winograd_chunk_tiles, default 256: V and M stay in L3):
 *   1. U: each filter transformed in double and rounded to float once, then each U_i packed for the GEMM
 *      (bl_sgemm_prepack_a) — once per call, for all chunks;
 *   2. V: the input patches transformed, 16 tiles at a time (conv2d_winograd_impl.h), threads over input channels;
 *   3. M_i = U_i · V_i: the 36 GEMMs, threads over i, each GEMM on one thread reading V_i in place;
 *   4. y: the output transform (+ bias, or added into y), threads over output channels.
 * Every output element is one fixed sequence of roundings whatever the thread count and the chunk size: the
 * transforms are per tile, and a GEMM's element does not depend on the matrix's width or its place in it (gemm.h).
 * So results are bitwise the same for any thread count and chunk size (tests/test_conv_cpu.c checks both). The
 * weight gradient reduces over the tiles chunk after chunk: independent of the thread count, not of the chunk size.
 *
 * Accuracy (docs/numerics.md, "Winograd F(4×4, 3×3)"). Winograd is exact in exact arithmetic but not in float: the
 * transforms' entries (5, 4, 8, 1/6 …) scale the terms before they cancel. Its forward error has a bound of the
 * same kind as the direct sum's, with the magnitude taken through the transforms: every value here is a sum of
 * products along a fixed evaluation order, so
 *     |ŷ − y| ≤ γ_n · Aᵀ_abs [ (|G| |g| |G|ᵀ) ⊙ (|Bᵀ| |d| |B|) ]_summed over ci A_abs  (+ |b| + |y₀|),
 * γ_n = n·u/(1 − n·u), where the matrices' entries are replaced by their absolute values and n bounds the
 * roundings along any path: 1 (U to float) + 6 (two passes of Bᵀ, ≤ 3 each in the factored forms) + the GEMM's
 * running sum and K-block adds (≤ 2·c_in) + 6 (two passes of Aᵀ) + 2 (bias, accumulation), so n = 2·c_in + 16.
 * tests/test_conv_cpu.c computes that magnitude in double and holds every element to it. The magnitude exceeds
 * the direct convolution's Σ|terms| by the transforms' scale: measured, the worst error is 10–14× the direct
 * path's (docs/numerics.md), and the whole-model logits against PyTorch stay within their unchanged 1e-4.
 *
 * Where it runs (conv2d_winograd_takes, the backend's option winograd = 1): c_in ≥ 32, c_out ≥ 32 and at least
 * 14×14 output pixels, or smaller maps with c_in·c_out ≤ 128·128 — measured per layer in docs/benchmarks.md;
 * winograd = 0 turns it off, 2 takes every shape it can (core/cpu/cpu.h). */
#include <stdlib.h>
#include <string.h>

#include "core/cpu/conv2d_winograd.h"
#include "core/cpu/cpu_features.h"
#include "core/cpu/cpu_ops.h"
#include "core/cpu/gemm.h"
#include "core/cpu/scratch.h"
#include "core/cpu/threads.h"

#define WINO_FN(name) name
#define WINO_PORTABLE_HOOKS /* the impl's data-movement hooks in plain C */
#include "core/cpu/conv2d_winograd_impl.h"
#undef WINO_PORTABLE_HOOKS
#undef WINO_FN

enum { WINO_ROW_MIN_TILES = 8, WINO_COLUMN_MULTIPLE = 32, WINO_MIN_CHANNELS = 32,
       WINO_MIN_PIXELS = 14 * 14, WINO_SMALL_WEIGHTS = 128 * 128 };

int conv2d_winograd_takes(const bl_cpu_state *st, const bl_conv2d_shape *s) {
    int mode = st->options.winograd;
    if (mode == 0) return 0;
    if (s->kh != 3 || s->kw != 3 || s->stride_h != 1 || s->stride_w != 1 || s->dil_h != 1 || s->dil_w != 1) return 0;
    if (s->pad_h < 0 || s->pad_h > 2 || s->pad_w < 0 || s->pad_w > 2) return 0;
    if (mode == 2) return 1;
    /* where it pays (docs/benchmarks.md, "Winograd"): both channel counts ≥ 32, and maps of at least 14×14 — or
     * small weights: on a 7×7 map the 4×4 tiles compute 8×8 (31 % wasted) and, with 512×512 filters, transforming
     * and packing 4× the weights' size per call costs more than the multiplications saved (measured 0.7–0.95×),
     * while 128×32 filters (DenseNet's last block) still gain 1.2–2.2×. One rule for every pass, measured on each. */
    int64_t pixels = (int64_t)s->h_out * s->w_out, narrower = s->c_in < s->c_out ? s->c_in : s->c_out;
    if (narrower < WINO_MIN_CHANNELS) return 0;
    return pixels >= WINO_MIN_PIXELS || (int64_t)s->c_in * s->c_out <= WINO_SMALL_WEIGHTS;
}

/* ====================================================================================== the job ======== */

/* a 4×4 → 6×6 transform of `count` tiles of one channel (conv2d_winograd.h: the input and gradient functions) */
typedef void (*wino_transform_fn)(const bl_conv2d_shape *s, const float *src, int channel,
                                  const conv2d_winograd_tile *tiles, int count, float *dst, int64_t stride);

typedef struct winograd_job {
    const bl_cpu_state *st; /* the backend's options: GEMM micro-kernel, instruction set, tiles per chunk */
    const bl_conv2d_shape *s;
    const float *x, *w, *b;
    float *y;
    const float *dy;       /* the weight gradient: dy in, dw accumulated */
    float *dw;
    int accumulate;
    float *u;              /* [36][c_out][c_in] the transformed filters (step 1, before packing), or dU */
    float *packed;         /* 36 packed U_i, packed_floats apart */
    size_t packed_floats;
    float *v, *m;          /* [36][c_in][ld], [36][c_out][ld]: V and M, or M' (the weight gradient's dy) */
    int64_t ld;            /* the row stride of V_i and M_i: the chunk's tiles rounded up to whole GEMM tiles */
    conv2d_winograd_tile *tiles; /* the chunk's tiles */
    int count;             /* tiles in this chunk */
    wino_transform_fn input_block, input_row, gradient_block, gradient_row;
    void (*output_block)(const bl_conv2d_shape *, const float *, int64_t, const conv2d_winograd_tile *, int, int,
                         const float *, int, float *);
    void (*output_row)(const bl_conv2d_shape *, const float *, int64_t, const conv2d_winograd_tile *, int, int,
                       const float *, int, float *);
    void (*filters)(const float *, int, float *, int64_t);
    int tiles_x;           /* tiles per tile row; rows of ≥ WINO_ROW_MIN_TILES go by the row functions */
} winograd_job;

/* Task co: U[i][co][ci] = (G g Gᵀ)_i for every input channel ci (16 filters at a time) and position i */
static void filters_task(void *arg, int co) {
    winograd_job *job = arg;
    const bl_conv2d_shape *s = job->s;
    for (int ci = 0; ci < s->c_in; ci += WINO_LANES)
        job->filters(job->w + ((int64_t)co * s->c_in + ci) * 9, s->c_in - ci < WINO_LANES ? s->c_in - ci : WINO_LANES,
                     job->u + (int64_t)co * s->c_in + ci, (int64_t)s->c_out * s->c_in);
}

/* Task i: U_i packed for the GEMM (one position per task: a single synchronisation for all 36 — packing them one
 * after another, each split across the threads, synchronised 36 times) */
static void pack_task(void *arg, int i) {
    winograd_job *job = arg;
    const bl_conv2d_shape *s = job->s;
    bl_sgemm_prepack_a(&job->st->gemm, 0, s->c_out, s->c_in, job->u + (int64_t)i * s->c_out * s->c_in, s->c_in,
                       job->packed + (size_t)i * job->packed_floats);
}

/* ======================================================================================= the chunks ===== */

/* How many tiles from t on go into one block: up to 16 in chunk order (gathered one by one), or — when the tile
 * rows are wide enough to fill most of a vector — up to 16 neighbours within t's tile row (rows read whole). The
 * two give the same bytes (conv2d_winograd_impl.h); blocks are taken in increasing t, and each writes 16 columns
 * of V from its first (the columns past its tiles are overwritten by the next block, or lie in ld's margin). */
static int block_tiles(const winograd_job *job, int t, int *by_rows) {
    int count = job->count - t < WINO_LANES ? job->count - t : WINO_LANES;
    *by_rows = job->tiles_x >= WINO_ROW_MIN_TILES;
    if (*by_rows) {
        int left_in_row = job->tiles_x - job->tiles[t].ow0 / WINO_TILE;
        if (left_in_row < count) count = left_in_row;
    }
    return count;
}

/* The chunk's tiles of one channel of src through a 4×4 → 6×6 transform (the input's, or the weight gradient's of
 * dy), block after block, into dst[t] (position i at dst + i·stride) */
static void transform_chunk(const winograd_job *job, wino_transform_fn block, wino_transform_fn row, const float *src,
                            int channel, float *dst, int64_t stride) {
    for (int t = 0, count, by_rows; t < job->count; t += count) {
        count = block_tiles(job, t, &by_rows);
        (by_rows ? row : block)(job->s, src, channel, job->tiles + t, count, dst + t, stride);
    }
}

static void input_task(void *arg, int ci) {
    winograd_job *job = arg;
    transform_chunk(job, job->input_block, job->input_row, job->x, ci, job->v + ci * job->ld,
                    (int64_t)job->s->c_in * job->ld);
}

static void gemm_task(void *arg, int i) {
    winograd_job *job = arg;
    const bl_conv2d_shape *s = job->s;
    bl_sgemm_cpu_prepacked(&job->st->gemm, s->c_out, job->count, s->c_in, 1.0f,
                           job->packed + (size_t)i * job->packed_floats, 0, job->v + (int64_t)i * s->c_in * job->ld,
                           (int)job->ld, 0.0f, job->m + (int64_t)i * s->c_out * job->ld, (int)job->ld);
}

static void output_task(void *arg, int co) {
    winograd_job *job = arg;
    int64_t stride = (int64_t)job->s->c_out * job->ld;
    for (int t = 0, count, by_rows; t < job->count; t += count) {
        count = block_tiles(job, t, &by_rows);
        (by_rows ? job->output_row : job->output_block)(job->s, job->m + co * job->ld + t, stride, job->tiles + t,
                                                        count, co, job->b, job->accumulate, job->y);
    }
}

/* The chunk's tiles [first, first + count) of the batch (sample by sample, row by row) */
static void describe_tiles(const bl_conv2d_shape *s, int64_t first, int count, conv2d_winograd_tile *tiles) {
    const int tiles_x = (s->w_out + WINO_TILE - 1) / WINO_TILE, tiles_y = (s->h_out + WINO_TILE - 1) / WINO_TILE;
    const int64_t per_sample = (int64_t)tiles_x * tiles_y;
    for (int k = 0; k < count; k++) {
        int64_t t = first + k, n = t / per_sample, rest = t % per_sample;
        conv2d_winograd_tile *tile = &tiles[k];
        tile->x_sample = n * s->c_in * s->h_in * s->w_in;
        tile->y_sample = n * s->c_out * s->h_out * s->w_out;
        tile->oh0 = (int)(rest / tiles_x) * WINO_TILE;
        tile->ow0 = (int)(rest % tiles_x) * WINO_TILE;
        int ih0 = tile->oh0 - s->pad_h, iw0 = tile->ow0 - s->pad_w;
        tile->patch_inside = ih0 >= 0 && iw0 >= 0 && ih0 + WINO_PATCH <= s->h_in && iw0 + WINO_PATCH <= s->w_in;
        tile->output_inside = tile->oh0 + WINO_TILE <= s->h_out && tile->ow0 + WINO_TILE <= s->w_out;
    }
}

/* Tiles per chunk: the option winograd_chunk_tiles (default 256) rounded to whole GEMM tiles, at most the batch's. 256
 * tiles measured best or within the noise for 64 … 512 channels (docs/benchmarks.md): the GEMMs are 256 columns
 * wide, and V and M (36·channels·256 floats each: 2.4 MB at 64 channels, 19 MB at 512) stay within L3.
 * Depends on the setting only, and results do not depend on it at all. */
static int64_t chunk_tiles(const bl_cpu_state *st, int64_t total) {
    int64_t tiles = st->options.winograd_chunk_tiles / WINO_COLUMN_MULTIPLE * WINO_COLUMN_MULTIPLE;
    if (tiles < WINO_COLUMN_MULTIPLE) tiles = WINO_COLUMN_MULTIPLE;
    return tiles < total ? tiles : total;
}

/* The job's geometry and transform functions (the AVX-512 copies with the AVX-512 GEMM), for chunks of up to
 * per_chunk tiles */
static void job_setup(winograd_job *job, const bl_conv2d_shape *s, int64_t per_chunk) {
    /* a block writes 16 columns of V from its first tile: ld leaves room for them past the chunk's last tile */
    job->ld = (per_chunk + WINO_LANES + WINO_COLUMN_MULTIPLE - 1) / WINO_COLUMN_MULTIPLE * WINO_COLUMN_MULTIPLE;
    job->s = s;
    job->tiles_x = (s->w_out + WINO_TILE - 1) / WINO_TILE;
    job->input_block = conv2d_winograd_input_block, job->input_row = conv2d_winograd_input_row;
    job->output_block = conv2d_winograd_output_block, job->output_row = conv2d_winograd_output_row;
    job->gradient_block = conv2d_winograd_gradient_block, job->gradient_row = conv2d_winograd_gradient_row;
#ifdef BLASTO_HAVE_X86_SIMD
    if (job->st->options.simd == BL_GEMM_KERNEL_AVX512) { /* the transforms follow the backend's instruction set */
        job->input_block = conv2d_winograd_input_block_avx512, job->input_row = conv2d_winograd_input_row_avx512;
        job->output_block = conv2d_winograd_output_block_avx512, job->output_row = conv2d_winograd_output_row_avx512;
        job->gradient_block = conv2d_winograd_gradient_block_avx512;
        job->gradient_row = conv2d_winograd_gradient_row_avx512;
    } else if (job->st->options.simd == BL_GEMM_KERNEL_AVX2) {
        job->input_block = conv2d_winograd_input_block_avx2, job->input_row = conv2d_winograd_input_row_avx2;
        job->output_block = conv2d_winograd_output_block_avx2, job->output_row = conv2d_winograd_output_row_avx2;
        job->gradient_block = conv2d_winograd_gradient_block_avx2;
        job->gradient_row = conv2d_winograd_gradient_row_avx2;
    }
#endif
}

/* A chunk's buffers — V, M and the tile descriptors in one scratch piece — into job. Returns the handle, or NULL
 * when the memory cannot be had. */
static bl_scratch *chunk_buffers(winograd_job *job) {
    const bl_conv2d_shape *s = job->s;
    size_t v_floats = (size_t)WINO_POSITIONS * s->c_in * job->ld, m_floats = (size_t)WINO_POSITIONS * s->c_out * job->ld;
    size_t tile_floats = ((size_t)job->ld * sizeof(conv2d_winograd_tile) + 63) / 64 * 16;
    bl_scratch *handle;
    float *buffers = bl_scratch_acquire(v_floats + m_floats + tile_floats, &handle);
    if (!buffers) return NULL;
    job->v = buffers, job->m = buffers + v_floats;
    job->tiles = (conv2d_winograd_tile *)(void *)(buffers + v_floats + m_floats);
    return handle;
}

static int64_t batch_tiles(const bl_conv2d_shape *s) {
    return (int64_t)s->n * ((s->h_out + WINO_TILE - 1) / WINO_TILE) * ((s->w_out + WINO_TILE - 1) / WINO_TILE);
}

int conv2d_winograd(const bl_cpu_state *st, const bl_conv2d_shape *s, const float *x, const float *w, const float *b,
                    float beta, float *y) {
    winograd_job job = {.st = st, .s = s, .x = x, .w = w, .b = b, .y = y, .accumulate = beta != 0.0f};
    job.filters = conv2d_winograd_filters;
#ifdef BLASTO_HAVE_X86_SIMD
    if (st->options.simd == BL_GEMM_KERNEL_AVX512) job.filters = conv2d_winograd_filters_avx512;
    if (st->options.simd == BL_GEMM_KERNEL_AVX2) job.filters = conv2d_winograd_filters_avx2;
#endif
    /* step 1: U, then packed (the unpacked U is given back before the chunks' buffers are taken) */
    job.packed_floats = (bl_sgemm_prepacked_a_floats(&st->gemm, s->c_out, s->c_in) + 15) / 16 * 16;
    bl_scratch *packed_handle, *u_handle;
    float *packed = bl_scratch_acquire(WINO_POSITIONS * job.packed_floats, &packed_handle);
    if (!packed) return 0;
    job.u = bl_scratch_acquire((size_t)WINO_POSITIONS * s->c_out * s->c_in, &u_handle);
    if (!job.u) {
        bl_scratch_release(packed_handle);
        return 0;
    }
    bl_parallel_for(s->c_out, filters_task, &job);
    job.packed = packed;
    bl_parallel_for(WINO_POSITIONS, pack_task, &job);
    bl_scratch_release(u_handle);
    const int64_t total = batch_tiles(s);
    const int64_t per_chunk = chunk_tiles(st, total);
    job_setup(&job, s, per_chunk);
    bl_scratch *buffers_handle = chunk_buffers(&job);
    if (!buffers_handle) {
        bl_scratch_release(packed_handle);
        return 0;
    }
    for (int64_t first = 0; first < total; first += per_chunk) {
        job.count = (int)(total - first < per_chunk ? total - first : per_chunk);
        describe_tiles(s, first, job.count, job.tiles);
        bl_parallel_for(s->c_in, input_task, &job);
        bl_parallel_for(WINO_POSITIONS, gemm_task, &job);
        bl_parallel_for(s->c_out, output_task, &job);
    }
    bl_scratch_release(buffers_handle);
    bl_scratch_release(packed_handle);
    return 1;
}

/* ================================================================================ the weight gradient ==== */

static void gradient_task(void *arg, int co) {
    winograd_job *job = arg;
    transform_chunk(job, job->gradient_block, job->gradient_row, job->dy, co, job->m + co * job->ld,
                    (int64_t)job->s->c_out * job->ld);
}

/* dU_i += M'_i · V_iᵀ over this chunk's tiles (the first chunk writes) */
static void gradient_gemm_task(void *arg, int i) {
    winograd_job *job = arg;
    const bl_conv2d_shape *s = job->s;
    bl_sgemm_cpu(&job->st->gemm, 0, 1, s->c_out, s->c_in, job->count, 1.0f, job->m + (int64_t)i * s->c_out * job->ld,
                 (int)job->ld, job->v + (int64_t)i * s->c_in * job->ld, (int)job->ld, job->accumulate ? 1.0f : 0.0f,
                 job->u + (int64_t)i * s->c_out * s->c_in, s->c_in);
}

/* dw[co, ci] += Gᵀ dU[co, ci] G, in double, rounded once — input channels in groups of FILTER_GROUP so that each
 * position's row of dU is read contiguously */
enum { FILTER_GROUP = 64 };

static void gradient_filters_task(void *arg, int co) {
    winograd_job *job = arg;
    const bl_conv2d_shape *s = job->s;
    static const double g[WINO_PATCH][3] = {{1.0 / 4, 0, 0},           {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                            {-1.0 / 6, 1.0 / 6, -1.0 / 6}, {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                            {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};
    const int64_t position = (int64_t)s->c_out * s->c_in;
    double t[FILTER_GROUP][WINO_PATCH][3]; /* t[ci][a][j] = Σ_b dU[a][b]·G[b][j] */
    for (int c0 = 0; c0 < s->c_in; c0 += FILTER_GROUP) {
        int group = s->c_in - c0 < FILTER_GROUP ? s->c_in - c0 : FILTER_GROUP;
        for (int a = 0; a < WINO_PATCH; a++) {
            for (int k = 0; k < group; k++) t[k][a][0] = t[k][a][1] = t[k][a][2] = 0.0;
            for (int b = 0; b < WINO_PATCH; b++) { /* the sum over b in b order, as before grouping */
                const float *row = job->u + (WINO_PATCH * a + b) * position + (int64_t)co * s->c_in + c0;
                for (int k = 0; k < group; k++)
                    for (int j = 0; j < 3; j++) t[k][a][j] += (double)row[k] * g[b][j];
            }
        }
        for (int k = 0; k < group; k++) {
            float *dw = job->dw + ((int64_t)co * s->c_in + c0 + k) * 9;
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++) {
                    double sum = 0.0;
                    for (int a = 0; a < WINO_PATCH; a++) sum += g[a][i] * t[k][a][j];
                    dw[i * 3 + j] += (float)sum;
                }
        }
    }
}

int conv2d_winograd_filter_gradient(const bl_cpu_state *st, const bl_conv2d_shape *s, const float *x, const float *dy,
                                    float *dw) {
    winograd_job job = {.st = st, .x = x, .dy = dy, .dw = dw}; /* job.u holds dU */
    bl_scratch *du_handle;
    job.u = bl_scratch_acquire((size_t)WINO_POSITIONS * s->c_out * s->c_in, &du_handle);
    if (!job.u) return 0;
    const int64_t total = batch_tiles(s), per_chunk = chunk_tiles(st, total);
    job_setup(&job, s, per_chunk);
    bl_scratch *buffers_handle = chunk_buffers(&job);
    if (!buffers_handle) {
        bl_scratch_release(du_handle);
        return 0;
    }
    for (int64_t first = 0; first < total; first += per_chunk) {
        job.count = (int)(total - first < per_chunk ? total - first : per_chunk);
        job.accumulate = first > 0;
        describe_tiles(s, first, job.count, job.tiles);
        bl_parallel_for(s->c_in, input_task, &job);
        bl_parallel_for(s->c_out, gradient_task, &job);
        bl_parallel_for(WINO_POSITIONS, gradient_gemm_task, &job);
    }
    bl_parallel_for(s->c_out, gradient_filters_task, &job);
    bl_scratch_release(buffers_handle);
    bl_scratch_release(du_handle);
    return 1;
}
