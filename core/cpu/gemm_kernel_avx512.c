/* gemm_kernel_avx512.c — the AVX-512 SGEMM micro-kernel (compiled with -mavx512f -mavx512vl -mavx512dq; called
 * only when cpu_features.c has seen AVX-512 on the running CPU).
 *
 * What it is: one register-blocked kernel computing an 8 × 32 tile of C from packed slivers (gemm.h gives the
 * packing layout and the update rule). The tile lives in 16 zmm accumulators; per k step it loads two vectors of
 * B (32 floats) and broadcasts 8 values of A, issuing 16 independent FMAs — four times the FMA latency × throughput
 * of Zen 4 (4 cycles, one 512-bit FMA per cycle), so the FMA unit never waits, with 19 of the 32 registers used.
 *
 * Why 8 × 32: measured on an AMD EPYC (Zen 4), every shape from 6×32 to 14×32, 16×16, 6×64 and 8×48 runs at the
 * same ~113 GFLOP/s (the single-core FMA peak is ~115) when its data is in L1, so the choice is made by the
 * edges: convolution GEMMs have M = c_out, a multiple of 8 in every network we run (64 … 2048), so 8-row tiles are
 * never partly empty, while 14-row tiles waste 9 % at M = 64 or 128. On the ResNet50 GEMMs 8×32 was 5–15 % faster
 * than 14×32 (docs/benchmarks.md).
 *
 * What it is not: a packing routine or a loop over the matrix; gemm.c does that. Each accumulator lane is one
 * C element's running sum in k order, fused multiply-add per step (one rounding per step), so the result does
 * not depend on where the tile sits in C. */
#include <immintrin.h>

#include "core/cpu/gemm.h"

enum { GEMM_MR = 8, GEMM_NR = 32 };

/* Mask of the first `count` lanes of a 16-lane vector (count clipped to 0 … 16). */
static __mmask16 first_lanes(int count) {
    if (count >= 16) return (__mmask16)0xFFFF;
    if (count <= 0) return 0;
    return (__mmask16)((1u << count) - 1u);
}

/* Everything below is force-inlined into the kernel so that the 16 accumulators stay in registers. */
#define KERNEL_INLINE static inline __attribute__((always_inline))

/* acc[i][·] += a[i] · (b0, b1) for the 8 rows of one k step */
KERNEL_INLINE void multiply_step(__m512 acc[GEMM_MR][2], const float *a, __m512 b0, __m512 b1) {
#pragma GCC unroll 16
    for (int i = 0; i < GEMM_MR; i++) {
        __m512 ai = _mm512_set1_ps(a[i]);
        acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
        acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
    }
}

KERNEL_INLINE void clear_tile(__m512 acc[GEMM_MR][2], const float *c, int ldc, int m_valid) {
#pragma GCC unroll 16
    for (int i = 0; i < GEMM_MR; i++) {
        acc[i][0] = _mm512_setzero_ps();
        acc[i][1] = _mm512_setzero_ps();
    }
    /* warm the C rows we will update while the k loop runs */
    for (int i = 0; i < m_valid; i++) {
        _mm_prefetch((const char *)(c + (long)i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + (long)i * ldc + GEMM_NR - 1), _MM_HINT_T0);
    }
}

/* io c [m_valid][n_valid] row stride ldc: t = alpha·acc (rounded), then t + beta·c (two more roundings) — the
 * same three roundings for full and partial tiles (gemm.h). */
KERNEL_INLINE void update_tile(__m512 acc[GEMM_MR][2], float *c, int ldc, float alpha, float beta, int m_valid,
                               int n_valid) {
    __m512 alpha_v = _mm512_set1_ps(alpha);
    __m512 beta_v = _mm512_set1_ps(beta);
    if (m_valid == GEMM_MR && n_valid == GEMM_NR) {
#pragma GCC unroll 16
        for (int i = 0; i < GEMM_MR; i++) {
            float *row = c + (long)i * ldc;
            __m512 t0 = _mm512_mul_ps(alpha_v, acc[i][0]);
            __m512 t1 = _mm512_mul_ps(alpha_v, acc[i][1]);
            if (beta != 0.0f) {
                t0 = _mm512_add_ps(t0, _mm512_mul_ps(beta_v, _mm512_loadu_ps(row)));
                t1 = _mm512_add_ps(t1, _mm512_mul_ps(beta_v, _mm512_loadu_ps(row + 16)));
            }
            _mm512_storeu_ps(row, t0);
            _mm512_storeu_ps(row + 16, t1);
        }
        return;
    }
    __mmask16 mask0 = first_lanes(n_valid);
    __mmask16 mask1 = first_lanes(n_valid - 16);
#pragma GCC unroll 16
    for (int i = 0; i < GEMM_MR; i++) {
        if (i >= m_valid) break;
        float *row = c + (long)i * ldc;
        __m512 t0 = _mm512_mul_ps(alpha_v, acc[i][0]);
        __m512 t1 = _mm512_mul_ps(alpha_v, acc[i][1]);
        if (beta != 0.0f) {
            /* masked-off lanes are neither read (no fault past the matrix end) nor written */
            t0 = _mm512_add_ps(t0, _mm512_mul_ps(beta_v, _mm512_maskz_loadu_ps(mask0, row)));
            t1 = _mm512_add_ps(t1, _mm512_mul_ps(beta_v, _mm512_maskz_loadu_ps(mask1, row + 16)));
        }
        _mm512_mask_storeu_ps(row, mask0, t0);
        _mm512_mask_storeu_ps(row + 16, mask1, t1);
    }
}

/* in a_packed [kc][8], in b_packed [kc][32] (64-byte aligned), io c [m_valid ≤ 8][n_valid ≤ 32] row stride ldc
 * (out only when beta == 0). c = alpha·(A·B) + beta·c, see gemm.h. */
static void gemm_microkernel_avx512_8x32(int kc, const float *a_packed, const float *b_packed, float *c, int ldc,
                                         float alpha, float beta, int m_valid, int n_valid) {
    __m512 acc[GEMM_MR][2];
    clear_tile(acc, c, ldc, m_valid);
    for (int p = 0; p < kc; p++)
        multiply_step(acc, a_packed + p * GEMM_MR, _mm512_load_ps(b_packed + p * GEMM_NR),
                      _mm512_load_ps(b_packed + p * GEMM_NR + 16));
    update_tile(acc, c, ldc, alpha, beta, m_valid, n_valid);
}

/* The same tile with B read where it lies: op(B)[p, j] = rows[p][col + j] (unaligned loads; lanes j ≥ n_valid
 * masked off, so they read nothing and hold zero — what the packed sliver's zero padding holds). The FMAs are the
 * packed kernel's, in the same order on the same values: bitwise the same tile. */
static void gemm_microkernel_avx512_8x32_rows(int kc, const float *a_packed, const float *const *rows, int col,
                                              float *c, int ldc, float alpha, float beta, int m_valid,
                                              int n_valid) {
    __m512 acc[GEMM_MR][2];
    clear_tile(acc, c, ldc, m_valid);
    if (n_valid == GEMM_NR) {
        for (int p = 0; p < kc; p++) {
            const float *b = rows[p] + col;
            _mm_prefetch((const char *)(b + 32), _MM_HINT_T0); /* the next sliver's lines, for the first pass */
            _mm_prefetch((const char *)(b + 48), _MM_HINT_T0);
            multiply_step(acc, a_packed + p * GEMM_MR, _mm512_loadu_ps(b), _mm512_loadu_ps(b + 16));
        }
    } else {
        __mmask16 mask0 = first_lanes(n_valid), mask1 = first_lanes(n_valid - 16);
        for (int p = 0; p < kc; p++) {
            const float *b = rows[p] + col;
            multiply_step(acc, a_packed + p * GEMM_MR, _mm512_maskz_loadu_ps(mask0, b),
                          _mm512_maskz_loadu_ps(mask1, b + 16));
        }
    }
    update_tile(acc, c, ldc, alpha, beta, m_valid, n_valid);
}


const bl_gemm_microkernel bl_gemm_microkernel_avx512 = {
    .name = "avx512 8x32",
    .mr = GEMM_MR,
    .nr = GEMM_NR,
    /* A block 128×256 (128 KiB, in the 1 MiB L2), B sliver 256×32 (32 KiB, L1), B panel 256×4096 (4 MiB, L3);
     * measured on Zen 4, the neighbours (KC 192 … 768, NC 2048 … 8192, MC 64 … 160) are within noise */
    .mc = 128,
    .kc = 256,
    .nc = 4096,
    .run = gemm_microkernel_avx512_8x32,
    .run_rows = gemm_microkernel_avx512_8x32_rows,
    .pack_rows = bl_gemm_pack_rows_avx2, /* gemm_kernel_avx2.c: any AVX-512 CPU here has AVX2 */
};
