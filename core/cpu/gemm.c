/* gemm.c — the fast CPU SGEMM driver: packing, cache blocking, threading and the portable C micro-kernel (see
 * gemm.h for the algorithm and the determinism argument).
 *
 * What it is: the loops around a micro-kernel. The SIMD micro-kernels live in gemm_kernel_avx2.c and
 * gemm_kernel_avx512.c (compiled with their ISA flags); this file is plain C11 and runs on any CPU.
 * What it is not: a full BLAS. Only single precision, row-major, unit column stride. */
#include "core/cpu/gemm.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu/scratch.h"
#include "core/cpu/threads.h"

/* ============================================================================================ kernels ====== */

enum { GENERIC_MR = 4, GENERIC_NR = 16 };

/* The portable micro-kernel: in a_packed [kc][4], in b_packed [kc][16], io c [m_valid][n_valid] row stride ldc.
 * acc[i][j] = Σ_p a·b as a multiply then an add (strict IEEE: the build forbids contracting them into an FMA),
 * then the update rule of gemm.h. One accumulator row per A row, and the j loop innermost over a shared b[j]:
 * written this way gcc and clang vectorise it cleanly (about 4× faster than the same loops over acc[i][j]). */
static void gemm_microkernel_generic_4x16(int kc, const float *a_packed, const float *b_packed, float *c, int ldc,
                                          float alpha, float beta, int m_valid, int n_valid) {
    float acc0[GENERIC_NR] = {0}, acc1[GENERIC_NR] = {0}, acc2[GENERIC_NR] = {0}, acc3[GENERIC_NR] = {0};
    for (int p = 0; p < kc; p++) {
        const float *a = a_packed + (size_t)p * GENERIC_MR;
        const float *b = b_packed + (size_t)p * GENERIC_NR;
        float a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
        for (int j = 0; j < GENERIC_NR; j++) {
            float bj = b[j];
            acc0[j] += a0 * bj;
            acc1[j] += a1 * bj;
            acc2[j] += a2 * bj;
            acc3[j] += a3 * bj;
        }
    }
    const float *acc[GENERIC_MR] = {acc0, acc1, acc2, acc3};
    for (int i = 0; i < m_valid; i++) {
        float *row = c + (size_t)i * ldc;
        for (int j = 0; j < n_valid; j++) {
            float t = alpha * acc[i][j];
            row[j] = beta != 0.0f ? t + beta * row[j] : t;
        }
    }
}

const bl_gemm_microkernel bl_gemm_microkernel_generic = {
    .name = "generic C 4x16",
    .mr = GENERIC_MR,
    .nr = GENERIC_NR,
    .mc = 64,
    .kc = 256,
    .nc = 2048,
    .run = gemm_microkernel_generic_4x16,
};

const bl_gemm_microkernel *bl_gemm_microkernel_for(bl_gemm_kernel_kind kind) {
    switch (kind) {
    case BL_GEMM_KERNEL_GENERIC: return &bl_gemm_microkernel_generic;
#ifdef BLASTO_HAVE_X86_SIMD
    case BL_GEMM_KERNEL_AVX2: return &bl_gemm_microkernel_avx2;
    case BL_GEMM_KERNEL_AVX512: return &bl_gemm_microkernel_avx512;
#else
    case BL_GEMM_KERNEL_AVX2:
    case BL_GEMM_KERNEL_AVX512: return NULL;
#endif
    }
    return NULL;
}

/* ============================================================================================ packing ====== */

/* The two packing primitives. Both fill one sliver dst [kc][width] (width = MR or NR), zero-padding the
 * lanes i ≥ valid so the micro-kernel always runs on whole slivers:
 *   gather:  dst[p·width + i] = src[i·ld + p]   (the sliver's lanes are rows of the source, each contiguous in p)
 *   copy:    dst[p·width + i] = src[p·ld + i]   (the lanes are already contiguous: copy `width` floats per p)
 * They are force-inlined into a switch on the widths the kernels use, so each gets a compile-time width and the
 * compiler unrolls and vectorises the inner loop (several times faster than with a run-time width). */
#define PACK_INLINE static inline __attribute__((always_inline))

PACK_INLINE void pack_gather(const float *src, size_t ld, int valid, int kc, int width, float *dst) {
    if (valid == width) {
        for (int p = 0; p < kc; p++)
            for (int i = 0; i < width; i++) dst[(size_t)p * width + i] = src[(size_t)i * ld + p];
        return;
    }
    for (int p = 0; p < kc; p++) {
        for (int i = 0; i < valid; i++) dst[(size_t)p * width + i] = src[(size_t)i * ld + p];
        for (int i = valid; i < width; i++) dst[(size_t)p * width + i] = 0.0f;
    }
}

PACK_INLINE void pack_copy(const float *src, size_t ld, int valid, int kc, int width, float *dst) {
    if (valid == width) {
        for (int p = 0; p < kc; p++) memcpy(dst + (size_t)p * width, src + (size_t)p * ld, (size_t)width * sizeof(float));
        return;
    }
    for (int p = 0; p < kc; p++) {
        for (int i = 0; i < valid; i++) dst[(size_t)p * width + i] = src[(size_t)p * ld + i];
        for (int i = valid; i < width; i++) dst[(size_t)p * width + i] = 0.0f;
    }
}

/* Pack `count` (≤ width) lanes: gather when `lanes_are_rows`, else copy. See above for the layouts. A full gather
 * sliver goes to the kernel's own pack_rows when it has one (vector transposes; the same bytes). */
static void pack_sliver(const bl_gemm_microkernel *kern, int lanes_are_rows, const float *src, size_t ld, int count,
                        int kc, int width, float *dst) {
    if (lanes_are_rows && count == width && width % 8 == 0 && kern->pack_rows) {
        kern->pack_rows(src, ld, kc, width, dst);
        return;
    }
#define PACK_WIDTH_CASE(w)                                                           \
    case w:                                                                          \
        if (lanes_are_rows) pack_gather(src, ld, count, kc, w, dst);                 \
        else pack_copy(src, ld, count, kc, w, dst);                                  \
        return;
    switch (width) {
        PACK_WIDTH_CASE(4)
        PACK_WIDTH_CASE(6)
        PACK_WIDTH_CASE(14)
        PACK_WIDTH_CASE(16)
        PACK_WIDTH_CASE(32)
    default:
        if (lanes_are_rows) pack_gather(src, ld, count, kc, width, dst);
        else pack_copy(src, ld, count, kc, width, dst);
    }
#undef PACK_WIDTH_CASE
}

/* An A block: out packed [ceil(rows/MR)][kc][MR] ← op(A)[row0 : row0+rows, k0 : k0+kc]. in a (op(A)[i,p] is
 * a[i·lda + p], or a[p·lda + i] when trans_a). The sliver's lanes are rows of op(A). */
static void pack_a(const bl_gemm_microkernel *kern, int trans_a, const float *a, int lda, int row0, int rows, int k0,
                   int kc, int mr, float *packed) {
    for (int s = 0; s < rows; s += mr) {
        int valid = rows - s < mr ? rows - s : mr;
        const float *src = trans_a ? a + (size_t)k0 * lda + row0 + s : a + (size_t)(row0 + s) * lda + k0;
        pack_sliver(kern, !trans_a, src, (size_t)lda, valid, kc, mr, packed + (size_t)s * kc);
    }
}

/* A B panel: out packed [ceil(cols/NR)][kc][NR] ← op(B)[k0 : k0+kc, col0 : col0+cols]. in b (op(B)[p,j] is
 * b[p·ldb + j], or b[j·ldb + p] when trans_b). The sliver's lanes are columns of op(B). */
static void pack_b(const bl_gemm_microkernel *kern, int trans_b, const float *b, int ldb, int k0, int kc, int col0,
                   int cols, int nr, float *packed) {
    if (!trans_b && nr == 32) {
        /* the common case (im2col output): walk B row by row — long sequential reads the hardware prefetcher
         * follows — and deal each row's 32-wide pieces out to the slivers. Twice as fast as sliver by sliver,
         * which hops between kc rows for every 128 bytes. */
        int full = cols / 32 * 32;
        for (int p = 0; p < kc; p++) {
            const float *src = b + (size_t)(k0 + p) * ldb + col0;
            for (int s = 0; s < full; s += 32)
                memcpy(packed + (size_t)s * kc + (size_t)p * 32, src + s, 32 * sizeof(float));
        }
        if (full < cols)
            pack_sliver(kern, 0, b + (size_t)k0 * ldb + col0 + full, (size_t)ldb, cols - full, kc, 32,
                        packed + (size_t)full * kc);
        return;
    }
    for (int s = 0; s < cols; s += nr) {
        int valid = cols - s < nr ? cols - s : nr;
        const float *src = trans_b ? b + (size_t)(col0 + s) * ldb + k0 : b + (size_t)k0 * ldb + col0 + s;
        pack_sliver(kern, trans_b, src, (size_t)ldb, valid, kc, nr, packed + (size_t)s * kc);
    }
}

/* Row p of a B panel: src [cols] dealt to the slivers — sliver s, row p holds src[s + i] for the valid lanes i
 * and zeros after (out dst = the panel + p·NR). */
static void deal_b_row(const float *src, int kc, int cols, int nr, float *dst) {
    int full = cols / nr * nr;
    if (nr == 32) /* a constant size: the copy is inlined */
        for (int s = 0; s < full; s += 32) memcpy(dst + (size_t)s * kc, src + s, 32 * sizeof(float));
    else
        for (int s = 0; s < full; s += nr) memcpy(dst + (size_t)s * kc, src + s, (size_t)nr * sizeof(float));
    if (full < cols) {
        float *tail = dst + (size_t)full * kc;
        memcpy(tail, src + full, (size_t)(cols - full) * sizeof(float));
        for (int i = cols - full; i < nr; i++) tail[i] = 0.0f;
    }
}

/* A B panel from a row provider: the same bytes as pack_b (trans_b = 0) on the matrix the provider describes.
 * in row_buf [cols] */
static void pack_b_rows(bl_gemm_b_rows_fn rows, void *user, int k0, int kc, int col0, int cols, int nr,
                        float *row_buf, float *packed) {
    for (int p = 0; p < kc; p++) {
        rows(user, k0 + p, col0, cols, row_buf);
        deal_b_row(row_buf, kc, cols, nr, packed + (size_t)p * nr);
    }
}

/* A B panel from row pointers (op(B)[p, j] = rows[p][j]): the same bytes as pack_b on that matrix */
static void pack_b_row_ptrs(const float *const *rows, int k0, int kc, int col0, int cols, int nr, float *packed) {
    for (int p = 0; p < kc; p++) deal_b_row(rows[k0 + p] + col0, kc, cols, nr, packed + (size_t)p * nr);
}

/* ============================================================================================ driver ======= */

typedef struct gemm_problem {
    const bl_gemm_microkernel *kernel;
    int trans_a, trans_b, m, n, k;
    float alpha, beta;
    const float *a, *b;
    float *c;
    int lda, ldb, ldc;
    const float *a_prepacked; /* op(A) packed whole by bl_sgemm_prepack_a, or NULL: pack A blocks here */
    bl_gemm_b_rows_fn b_rows; /* B given row by row (then b is NULL and trans_b 0), or NULL */
    void *b_user;
    const float *const *b_row_ptrs; /* or B given by row pointers (then b is NULL and trans_b 0), or NULL */
    int b_direct;             /* the caller allows B read in place (bl_gemm_config.b_direct) */
    int direct;               /* gemm_run's decision: the micro-kernel reads B in place, no packing buffers */
    atomic_int failed;        /* b_rows only: a task could not allocate its buffers (set, never cleared) */
    int kc_block;           /* the K block size: depends only on k and the kernel, never on threads */
    int grid_rows, grid_cols; /* the thread grid: task t owns row band t / grid_cols, column band t % grid_cols */
} gemm_problem;

static int ceil_div(int x, int y) { return (x + y - 1) / y; }
static int min_int(int x, int y) { return x < y ? x : y; }

/* Split `count` units into `parts` near-equal contiguous bands; band `index` is [*begin, *end). */
static void band(int count, int parts, int index, int *begin, int *end) {
    *begin = (int)((int64_t)count * index / parts);
    *end = (int)((int64_t)count * (index + 1) / parts);
}

/* Split `extent` into the fewest blocks of at most `limit`, all of near-equal size rounded up to a multiple of
 * `multiple` (so the last block is not a sliver). */
static int balanced_block(int extent, int limit, int multiple) {
    if (limit > multiple) limit = limit / multiple * multiple;
    int blocks = ceil_div(extent, limit);
    int size = ceil_div(extent, blocks);
    size = ceil_div(size, multiple) * multiple;
    return size < limit ? size : limit;
}

/* m rounded up to whole MR slivers: the rows of one K block of a prepacked A */
static size_t prepacked_rows(int m, int mr) { return (size_t)ceil_div(m, mr) * mr; }

enum { GEMM_DIRECT_MAX_KC = 1024 }; /* a B given in memory is read in place for K blocks up to this deep */

/* Goto loops over the C rectangle rows [row_begin, row_end) × cols [col_begin, col_end), with packing buffers
 * a_pack [MC·KC], b_pack [KC·NC]. io c (that rectangle only). */
static void gemm_rectangle(const gemm_problem *g, int row_begin, int row_end, int col_begin, int col_end,
                           float *a_pack, float *b_pack, float *row_buf) {
    const bl_gemm_microkernel *kern = g->kernel;
    const int mr = kern->mr, nr = kern->nr;
    int rows = row_end - row_begin, cols = col_end - col_begin;
    if (rows <= 0 || cols <= 0) return;
    int nc_block = balanced_block(cols, kern->nc, nr);
    int mc_block = balanced_block(rows, kern->mc, mr);
    for (int jc = col_begin; jc < col_end; jc += nc_block) {
        int nc = min_int(nc_block, col_end - jc);
        for (int pc = 0; pc < g->k; pc += g->kc_block) {
            int kc = min_int(g->kc_block, g->k - pc);
            float beta = pc == 0 ? g->beta : 1.0f;
            if (g->direct) {
                /* B read in place through row pointers; each B sliver read once, by all of the band's row slivers
                 * (A is packed whole) */
                const float *strided_rows[GEMM_DIRECT_MAX_KC];
                const float *const *direct = strided_rows;
                if (g->b_row_ptrs)
                    direct = g->b_row_ptrs + pc;
                else
                    for (int p = 0; p < kc; p++) strided_rows[p] = g->b + (size_t)(pc + p) * g->ldb;
                const float *a_block = g->a_prepacked + (size_t)pc * prepacked_rows(g->m, mr) + (size_t)row_begin * kc;
                for (int jr = 0; jr < nc; jr += nr) {
                    int n_valid = min_int(nr, nc - jr);
                    for (int ir = 0; ir < rows; ir += mr)
                        kern->run_rows(kc, a_block + (size_t)ir * kc, direct, jc + jr,
                                       g->c + (size_t)(row_begin + ir) * g->ldc + jc + jr, g->ldc, g->alpha, beta,
                                       min_int(mr, rows - ir), n_valid);
                }
                continue;
            }
            if (g->b_rows)
                pack_b_rows(g->b_rows, g->b_user, pc, kc, jc, nc, nr, row_buf, b_pack);
            else if (g->b_row_ptrs)
                pack_b_row_ptrs(g->b_row_ptrs, pc, kc, jc, nc, nr, b_pack);
            else
                pack_b(kern, g->trans_b, g->b, g->ldb, pc, kc, jc, nc, nr, b_pack);
            for (int ic = row_begin; ic < row_end; ic += mc_block) {
                int mc = min_int(mc_block, row_end - ic);
                const float *a_block = a_pack;
                if (g->a_prepacked) /* the same bytes pack_a would write: K block pc, slivers from row ic */
                    a_block = g->a_prepacked + (size_t)pc * prepacked_rows(g->m, mr) + (size_t)ic * kc;
                else
                    pack_a(kern, g->trans_a, g->a, g->lda, ic, mc, pc, kc, mr, a_pack);
                for (int jr = 0; jr < nc; jr += nr) {
                    const float *b_sliver = b_pack + (size_t)jr * kc;
                    int n_valid = min_int(nr, nc - jr);
                    for (int ir = 0; ir < mc; ir += mr)
                        kern->run(kc, a_block + (size_t)ir * kc, b_sliver, g->c + (size_t)(ic + ir) * g->ldc + jc + jr,
                                  g->ldc, g->alpha, beta, min_int(mr, mc - ir), n_valid);
                }
            }
        }
    }
}

/* op(A)[i, p] read from a prepacked A (layout: bl_sgemm_prepack_a), p inside the K block [pc, pc + kc) */
static float prepacked_a_element(const gemm_problem *g, int i, int p, int pc, int kc) {
    int mr = g->kernel->mr;
    return g->a_prepacked[(size_t)pc * prepacked_rows(g->m, mr) + (size_t)(i / mr) * mr * kc + (size_t)(p - pc) * mr +
                          (size_t)(i % mr)];
}

/* The memory-free fallback, used only when no packing buffer could be allocated: the rectangle rows
 * [row_begin, row_end) × cols [col_begin, col_end) of C = alpha·op(A)·op(B) + beta·C with the same K blocking and
 * update rule, by plain unpacked loops. Correct and slow; not bitwise equal to the packed path (no FMA). io c. */
static void gemm_rectangle_unpacked(const gemm_problem *g, int row_begin, int row_end, int col_begin, int col_end) {
    for (int i = row_begin; i < row_end; i++) {
        for (int j = col_begin; j < col_end; j++) {
            float *out = g->c + (size_t)i * g->ldc + j;
            for (int pc = 0; pc < g->k; pc += g->kc_block) {
                int kc = min_int(g->kc_block, g->k - pc);
                float acc = 0.0f;
                for (int p = pc; p < pc + kc; p++) {
                    float av = g->a_prepacked ? prepacked_a_element(g, i, p, pc, kc)
                               : g->trans_a    ? g->a[(size_t)p * g->lda + i]
                                               : g->a[(size_t)i * g->lda + p];
                    float bv = g->b_row_ptrs ? g->b_row_ptrs[p][j]
                               : g->trans_b  ? g->b[(size_t)j * g->ldb + p]
                                             : g->b[(size_t)p * g->ldb + j];
                    acc += av * bv;
                }
                float beta = pc == 0 ? g->beta : 1.0f;
                float t = g->alpha * acc;
                *out = beta != 0.0f ? t + beta * *out : t;
            }
        }
    }
}

/* Task t of the thread grid: its band of whole MR-row and NR-column tiles. */
static void gemm_task(void *arg, int task) {
    gemm_problem *g = arg;
    const bl_gemm_microkernel *kern = g->kernel;
    int row_tiles = ceil_div(g->m, kern->mr), col_tiles = ceil_div(g->n, kern->nr);
    int tile_row_begin, tile_row_end, tile_col_begin, tile_col_end;
    band(row_tiles, g->grid_rows, task / g->grid_cols, &tile_row_begin, &tile_row_end);
    band(col_tiles, g->grid_cols, task % g->grid_cols, &tile_col_begin, &tile_col_end);
    int row_begin = tile_row_begin * kern->mr, row_end = min_int(tile_row_end * kern->mr, g->m);
    int col_begin = tile_col_begin * kern->nr, col_end = min_int(tile_col_end * kern->nr, g->n);
    if (row_begin >= row_end || col_begin >= col_end) return;
    if (g->direct) { /* no packing at all: no buffers */
        gemm_rectangle(g, row_begin, row_end, col_begin, col_end, NULL, NULL, NULL);
        return;
    }

    /* rounded to 16 floats so the B panel that follows stays 64-byte aligned for aligned vector loads */
    size_t a_floats = ((size_t)kern->mc * g->kc_block + 15) / 16 * 16;
    size_t b_floats = (size_t)g->kc_block * kern->nc;
    size_t row_floats = g->b_rows ? (size_t)kern->nc : 0;
    bl_scratch *handle = NULL;
    float *scratch = bl_scratch_acquire(a_floats + b_floats + row_floats, &handle);
    if (!scratch) {
        if (g->b_rows) atomic_store(&g->failed, 1); /* no B in memory to fall back on: the caller recomputes */
        else gemm_rectangle_unpacked(g, row_begin, row_end, col_begin, col_end);
        return;
    }
    gemm_rectangle(g, row_begin, row_end, col_begin, col_end, scratch, scratch + a_floats,
                   scratch + a_floats + b_floats);
    bl_scratch_release(handle);
}

/* Choose the thread grid grid_rows × grid_cols = T minimising a simple cost: per-thread FLOPs (the largest band)
 * plus the packing each thread does — the B panel for its columns, and the A block once per NC block. Splitting
 * columns never repeats B packing, splitting rows repeats it in every row band; the model picks between them.
 * Only speed depends on this choice, never the result. */
static void choose_grid(gemm_problem *g, int threads) {
    const bl_gemm_microkernel *kern = g->kernel;
    int row_tiles = ceil_div(g->m, kern->mr), col_tiles = ceil_div(g->n, kern->nr);
    double best = -1;
    g->grid_rows = 1;
    g->grid_cols = 1;
    for (int grid_rows = 1; grid_rows <= threads; grid_rows++) {
        if (threads % grid_rows) continue;
        int grid_cols = threads / grid_rows;
        if (grid_rows > row_tiles || grid_cols > col_tiles) continue;
        double rows = (double)ceil_div(row_tiles, grid_rows) * kern->mr;
        double cols = (double)ceil_div(col_tiles, grid_cols) * kern->nr;
        /* ≈ 100 FLOPs take as long as packing one element (measured order of magnitude on x86) */
        double cost = 2.0 * rows * cols * g->k / 100.0 + g->k * cols + g->k * rows * ceil_div((int)cols, kern->nc);
        if (best < 0 || cost < best) {
            best = cost;
            g->grid_rows = grid_rows;
            g->grid_cols = grid_cols;
        }
    }
}

/* C = beta·C without touching A or B (BLAS semantics for k ≤ 0 or alpha == 0); beta == 0 writes zeros */
static void scale_c(int m, int n, float beta, float *c, int ldc) {
    for (int i = 0; i < m; i++) {
        float *row = c + (size_t)i * ldc;
        for (int j = 0; j < n; j++) row[j] = beta != 0.0f ? beta * row[j] : 0.0f;
    }
}

/* The cases with nothing to multiply: m, n ≤ 0 (nothing happens) or k ≤ 0, alpha == 0 (C = beta·C, A and B not
 * read). Returns 1 when it handled the call. */
static int gemm_trivial(int m, int n, int k, float alpha, float beta, float *c, int ldc) {
    if (m <= 0 || n <= 0) return 1;
    if (k > 0 && alpha != 0.0f) return 0;
    scale_c(m, n, beta, c, ldc);
    return 1;
}

bl_gemm_config bl_gemm_config_default(void) {
    return (bl_gemm_config){.kernel = bl_gemm_kernel_default(), .b_direct = 1};
}

/* The micro-kernel of cfg (NULL: bl_gemm_config_default's) */
static const bl_gemm_microkernel *kernel_of(const bl_gemm_config *cfg) {
    const bl_gemm_microkernel *kernel = bl_gemm_microkernel_for(cfg ? cfg->kernel : bl_gemm_kernel_default());
    return kernel ? kernel : &bl_gemm_microkernel_generic;
}

static int b_direct_of(const bl_gemm_config *cfg) { return cfg ? cfg->b_direct : 1; }

/* Thread and run a filled-in problem. */
static void gemm_run(gemm_problem *g) {
    g->kc_block = balanced_block(g->k, g->kernel->kc, 1);
    g->direct = g->kernel->run_rows && g->a_prepacked && g->b_direct &&
                (g->b_row_ptrs || (g->b && !g->trans_b && g->kc_block <= GEMM_DIRECT_MAX_KC));
    /* below ~1 MFLOP a thread hand-off costs more than it saves */
    int threads = bl_threads_get();
    if ((double)g->m * g->n * g->k < 5e5) threads = 1;
    choose_grid(g, threads);
    int tasks = g->grid_rows * g->grid_cols;
    if (tasks > 1) bl_parallel_for(tasks, gemm_task, g);
    else gemm_task(g, 0);
}

void bl_sgemm_cpu(const bl_gemm_config *cfg, int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                  int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    if (gemm_trivial(m, n, k, alpha, beta, c, ldc)) return;
    gemm_problem g = {
        .kernel = kernel_of(cfg),
        .trans_a = trans_a, .trans_b = trans_b, .m = m, .n = n, .k = k,
        .alpha = alpha, .beta = beta, .a = a, .b = b, .c = c, .lda = lda, .ldb = ldb, .ldc = ldc,
    };
    gemm_run(&g);
}

/* ======================================================================================= prepacked A ====== */

size_t bl_sgemm_prepacked_a_floats(const bl_gemm_config *cfg, int m, int k) {
    if (m <= 0 || k <= 0) return 1;
    return prepacked_rows(m, kernel_of(cfg)->mr) * (size_t)k;
}

typedef struct prepack_job {
    const bl_gemm_microkernel *kernel;
    int trans_a, m, k, lda, kc_block;
    const float *a;
    float *packed;
} prepack_job;

/* task = one MR-row sliver: all its K blocks */
static void prepack_task(void *arg, int sliver) {
    const prepack_job *j = arg;
    int mr = j->kernel->mr, row = sliver * mr, rows = min_int(mr, j->m - row);
    size_t block_rows = prepacked_rows(j->m, mr);
    for (int pc = 0; pc < j->k; pc += j->kc_block) {
        int kc = min_int(j->kc_block, j->k - pc);
        pack_a(j->kernel, j->trans_a, j->a, j->lda, row, rows, pc, kc, mr,
               j->packed + (size_t)pc * block_rows + (size_t)row * kc);
    }
}

/* Layout: for each K block [pc, pc + kc) in order, the block's MR-row slivers [ceil(m/MR)][kc][MR] — exactly what
 * gemm_rectangle's pack_a writes for that block, so a GEMM on it is bitwise the GEMM on A. */
void bl_sgemm_prepack_a(const bl_gemm_config *cfg, int trans_a, int m, int k, const float *a, int lda, float *packed) {
    if (m <= 0 || k <= 0) return;
    prepack_job job = {.kernel = kernel_of(cfg), .trans_a = trans_a, .m = m, .k = k, .lda = lda, .a = a,
                       .packed = packed};
    job.kc_block = balanced_block(k, job.kernel->kc, 1);
    bl_parallel_for(ceil_div(m, job.kernel->mr), prepack_task, &job);
}

void bl_sgemm_cpu_prepacked(const bl_gemm_config *cfg, int m, int n, int k, float alpha, const float *a_packed,
                            int trans_b, const float *b, int ldb, float beta, float *c, int ldc) {
    if (gemm_trivial(m, n, k, alpha, beta, c, ldc)) return;
    gemm_problem g = {
        .kernel = kernel_of(cfg),
        .trans_b = trans_b, .m = m, .n = n, .k = k,
        .alpha = alpha, .beta = beta, .a_prepacked = a_packed, .b = b, .c = c, .ldb = ldb, .ldc = ldc,
        .b_direct = b_direct_of(cfg),
    };
    gemm_run(&g);
}

int bl_sgemm_cpu_prepacked_b_rows(const bl_gemm_config *cfg, int m, int n, int k, float alpha, const float *a_packed,
                                  bl_gemm_b_rows_fn rows, void *user, float beta, float *c, int ldc) {
    if (gemm_trivial(m, n, k, alpha, beta, c, ldc)) return 0;
    gemm_problem g = {
        .kernel = kernel_of(cfg),
        .m = m, .n = n, .k = k, .alpha = alpha, .beta = beta, .a_prepacked = a_packed, .b_rows = rows,
        .b_user = user, .c = c, .ldc = ldc,
    };
    gemm_run(&g);
    return atomic_load(&g.failed) ? -1 : 0;
}

void bl_sgemm_cpu_prepacked_b_row_ptrs(const bl_gemm_config *cfg, int m, int n, int k, float alpha,
                                       const float *a_packed, const float *const *rows, float beta, float *c, int ldc) {
    if (gemm_trivial(m, n, k, alpha, beta, c, ldc)) return;
    gemm_problem g = {
        .kernel = kernel_of(cfg),
        .m = m, .n = n, .k = k, .alpha = alpha, .beta = beta, .a_prepacked = a_packed, .b_row_ptrs = rows,
        .c = c, .ldc = ldc, .b_direct = b_direct_of(cfg),
    };
    gemm_run(&g);
}
