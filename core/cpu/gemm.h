/* gemm.h — the fast CPU single-precision matrix multiply.
 *
 * bl_sgemm_cpu is what the cpu backend's `sgemm` slot runs (kernels.h): C = alpha·op(A)·op(B) + beta·C, row-major.
 * It is written the Goto/BLIS way (Goto & van de Geijn 2008; Van Zee & van de Geijn 2015):
 *
 *     for jc in N by NC:
 *       for pc in K by KC:
 *         pack the B panel op(B)[pc:pc+KC, jc:jc+NC]          KC×NC, stays in L3
 *         for ic in M by MC:
 *           pack the A block op(A)[ic:ic+MC, pc:pc+KC]        MC×KC, stays in L2
 *           for jr in NC by NR:                               the B sliver KC×NR stays in L1
 *             for ir in MC by MR:                             micro-kernel: an MR×NR tile of C in registers
 *               C tile = alpha·Σ_{k in the block} A[:,k]·B[k,:] + beta_eff·C tile
 *
 * When A was packed once beforehand (bl_sgemm_prepack_a) and B lies in memory row by row (trans_b == 0, or B given
 * by row pointers), a micro-kernel with `run_rows` (AVX-512) reads each B sliver in place and no B panel is packed;
 * every B sliver is then read once by all row slivers of the thread's band (A is packed whole, no MC loop).
 * beta_eff is the caller's beta for the first K block and 1 afterwards. Threads split the OUTPUT: each thread owns
 * a rectangle of C (whole MR/NR tiles) and runs the loops above on it with its own packing buffers. Nothing else
 * is shared, and each C element is reduced over k the same way (the K blocks in order, inside a block a single
 * running sum in k order) wherever its tile lies — so results are bitwise identical for any thread count and run
 * to run. Different micro-kernels (generic C, AVX2, AVX-512) round differently; every call names the one it uses
 * (bl_gemm_config; a cpu backend passes the one its options chose, core/cpu/cpu.h).
 *
 * Not here: complex or double precision, batched GEMM, strided (non-unit column stride) matrices. */
#ifndef BLASTO_GEMM_H
#define BLASTO_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "core/cpu/cpu_features.h"
#include "core/kernels.h"

/* How a GEMM runs: the micro-kernel family (cpu_features.h; it must be available on this CPU), and whether the
 * micro-kernel may read B through row pointers in place where it can (run_rows) instead of packing panels — bitwise
 * the same either way. Every function below takes one; NULL means bl_gemm_config_default(): the best kernel this
 * CPU has (narrowed by BLASTO_GEMM_KERNEL), B read in place. */
typedef struct bl_gemm_config {
    bl_gemm_kernel_kind kernel;
    int b_direct;
} bl_gemm_config;
bl_gemm_config bl_gemm_config_default(void);

/* C[m,n] = alpha · op(A) · op(B) + beta · C. op(A) is [m,k]: A is [m,k] row stride lda, or [k,m] when trans_a.
 * op(B) is [k,n]: B is [k,n] row stride ldb, or [n,k] when trans_b. C is [m,n] row stride ldc.
 * in a, in b, io c (out only when beta == 0: C is then never read, so NaN garbage cannot leak).
 * alpha == 0 or k == 0: C = beta·C and A, B are not read (BLAS semantics). m, n ≤ 0: nothing happens. */
void bl_sgemm_cpu(const bl_gemm_config *cfg, int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                  int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* ---- A packed once, used by several GEMMs (a convolution's weights, shared by the per-sample GEMMs) ----
 * bl_sgemm_prepack_a packs op(A) [m,k] (A is [m,k] row stride lda, or [k,m] when trans_a) into
 * packed[bl_sgemm_prepacked_a_floats(m, k)], threaded over row slivers; bl_sgemm_cpu_prepacked then computes
 * C = alpha·op(A)·op(B) + beta·C exactly as bl_sgemm_cpu would (same bytes into the same micro-kernel, so the
 * result is bitwise the same) without packing A again. The packing depends on the micro-kernel: pack and use with
 * the same config. */
size_t bl_sgemm_prepacked_a_floats(const bl_gemm_config *cfg, int m, int k);
void bl_sgemm_prepack_a(const bl_gemm_config *cfg, int trans_a, int m, int k, const float *a, int lda, float *packed);
void bl_sgemm_cpu_prepacked(const bl_gemm_config *cfg, int m, int n, int k, float alpha, const float *a_packed,
                            int trans_b, const float *b, int ldb, float beta, float *c, int ldc);

/* ---- B given row by row by a function (a convolution's im2col, never stored whole) ----
 * rows(user, r, col0, cols, dst) writes op(B)[r, col0 : col0 + cols] to dst[0 : cols]; it is called from the
 * GEMM's threads concurrently, so it must only read shared state. bl_sgemm_cpu_prepacked_b_rows computes
 * C = alpha·op(A)·op(B) + beta·C like bl_sgemm_cpu_prepacked with B [k, n] in memory: the B panels it packs hold
 * the same bytes, so the result is bitwise the same. Returns 0, or −1 when a packing buffer could not be
 * allocated (C is then partly written: compute it again another way). */
typedef void (*bl_gemm_b_rows_fn)(void *user, int row, int col0, int cols, float *dst);
int bl_sgemm_cpu_prepacked_b_rows(const bl_gemm_config *cfg, int m, int n, int k, float alpha, const float *a_packed,
                                  bl_gemm_b_rows_fn rows, void *user, float beta, float *c, int ldc);

/* ---- B given by row pointers (a stride-1 convolution's shifted views of its zero-padded input) ----
 * op(B)[r, j] = rows[r][j] for r < k, j < n (rows may overlap). Like bl_sgemm_cpu_prepacked with that B in memory,
 * bitwise (the panels hold the same bytes) — and like it, when a packing buffer cannot be allocated, gemm.c's
 * memory-free loops compute C (correct, not bitwise). */
void bl_sgemm_cpu_prepacked_b_row_ptrs(const bl_gemm_config *cfg, int m, int n, int k, float alpha,
                                       const float *a_packed, const float *const *rows, float beta, float *c, int ldc);

/* ---- internals shared by gemm.c and the micro-kernel files ----
 * A micro-kernel multiplies an A sliver packed k-major (a_packed[p·MR + i] = op(A)[i, p]) by a B sliver packed
 * k-major (b_packed[p·NR + j] = op(B)[p, j]) over p ∈ [0, kc), giving acc[i,j] = Σ_p a·b with one running sum per
 * element in p order, and updates the rows i < m_valid, columns j < n_valid of the tile at c (row stride ldc):
 *     c = alpha·acc            when beta == 0 (c not read)
 *     c = alpha·acc + beta·c   otherwise, as a rounded multiply, a rounded multiply and a rounded add
 * The same three roundings are used for full and partial tiles, so a tile's position never changes a result. */
typedef void (*bl_gemm_microkernel_fn)(int kc, const float *a_packed, const float *b_packed, float *c, int ldc,
                                       float alpha, float beta, int m_valid, int n_valid);
typedef struct bl_gemm_microkernel {
    const char *name; /* e.g. "avx512 8x32" */
    int mr, nr;       /* register tile */
    int mc, kc, nc;   /* cache blocks: MC a multiple of MR, NC a multiple of NR */
    bl_gemm_microkernel_fn run;
    /* optional: the same tile with B unpacked, op(B)[p, j] = rows[p][col + j] for p < kc, j < n_valid, bitwise
     * `run` on the packed sliver of those values (B given by row pointers reads in place; NULL: gemm.c packs) */
    void (*run_rows)(int kc, const float *a_packed, const float *const *rows, int col, float *c, int ldc,
                     float alpha, float beta, int m_valid, int n_valid);
    /* optional fast packing of a full "gather" sliver (lanes are rows of the source, width a multiple of 8):
     * dst[p·width + i] = src[i·ld + p]; NULL: gemm.c's C loop. Same bytes either way. */
    void (*pack_rows)(const float *src, size_t ld, int kc, int width, float *dst);
} bl_gemm_microkernel;

/* The description of a kernel family (NULL when this build lacks it). */
const bl_gemm_microkernel *bl_gemm_microkernel_for(bl_gemm_kernel_kind kind);

extern const bl_gemm_microkernel bl_gemm_microkernel_generic;
void bl_gemm_pack_rows_avx2(const float *src, size_t ld, int kc, int width, float *dst); /* x86 SIMD builds only */
extern const bl_gemm_microkernel bl_gemm_microkernel_avx2;   /* only in x86 SIMD builds */
extern const bl_gemm_microkernel bl_gemm_microkernel_avx512; /* only in x86 SIMD builds */

#endif
