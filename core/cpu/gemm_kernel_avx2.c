/* gemm_kernel_avx2.c — the AVX2 + FMA SGEMM micro-kernel (compiled with -mavx2 -mfma; called only when
 * cpu_features.c has seen AVX2 and FMA on the running CPU).
 *
 * What it is: one register-blocked kernel computing a 6 × 16 tile of C from packed slivers (gemm.h gives the
 * layout and the update rule). The tile is 12 ymm accumulators; per k step it loads two vectors of B (16 floats)
 * and broadcasts 6 values of A: 12 independent FMAs per step, enough to hide the FMA latency (4–5 cycles, two FMA
 * pipes), using 15 of the 16 ymm registers. This is the classic Haswell-era shape (BLIS haswell uses 6×16 too).
 *
 * What it is not: a packing routine or a loop over the matrix; gemm.c does that. Each lane is one C element's
 * running sum in k order, one fused multiply-add (one rounding) per step. */
#include <immintrin.h>

#include "core/cpu/gemm.h"

enum { GEMM_MR = 6, GEMM_NR = 16 };

/* An AVX2 lane mask selecting the first `count` of 8 lanes (count clipped to 0 … 8): lane i is all-ones when
 * i < count. maskload/maskstore neither read nor write the other lanes, so nothing past the matrix is touched. */
static __m256i first_lanes(int count) {
    if (count < 0) count = 0;
    if (count > 8) count = 8;
    __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), lane);
}

/* in a_packed [kc][6], in b_packed [kc][16] (32-byte aligned), io c [m_valid ≤ 6][n_valid ≤ 16] row stride ldc
 * (out only when beta == 0). c = alpha·(A·B) + beta·c, see gemm.h. */
static void gemm_microkernel_avx2_6x16(int kc, const float *a_packed, const float *b_packed, float *c, int ldc,
                                       float alpha, float beta, int m_valid, int n_valid) {
    __m256 acc[GEMM_MR][2];
    /* every loop over i is fully unrolled so the accumulators stay in registers */
#pragma GCC unroll 8
    for (int i = 0; i < GEMM_MR; i++) {
        acc[i][0] = _mm256_setzero_ps();
        acc[i][1] = _mm256_setzero_ps();
    }
    const float *a = a_packed;
    const float *b = b_packed;
    for (int p = 0; p < kc; p++) {
        __m256 b0 = _mm256_load_ps(b);
        __m256 b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 8
        for (int i = 0; i < GEMM_MR; i++) {
            __m256 ai = _mm256_broadcast_ss(a + i);
            acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
        }
        a += GEMM_MR;
        b += GEMM_NR;
    }

    /* update: t = alpha·acc (rounded), then t + beta·c (two more roundings) — exactly as the scalar edge path */
    __m256 alpha_v = _mm256_set1_ps(alpha);
    __m256 beta_v = _mm256_set1_ps(beta);
    if (m_valid == GEMM_MR && n_valid == GEMM_NR) {
#pragma GCC unroll 8
        for (int i = 0; i < GEMM_MR; i++) {
            float *row = c + (long)i * ldc;
            __m256 t0 = _mm256_mul_ps(alpha_v, acc[i][0]);
            __m256 t1 = _mm256_mul_ps(alpha_v, acc[i][1]);
            if (beta != 0.0f) {
                t0 = _mm256_add_ps(t0, _mm256_mul_ps(beta_v, _mm256_loadu_ps(row)));
                t1 = _mm256_add_ps(t1, _mm256_mul_ps(beta_v, _mm256_loadu_ps(row + 8)));
            }
            _mm256_storeu_ps(row, t0);
            _mm256_storeu_ps(row + 8, t1);
        }
        return;
    }
    __m256i mask0 = first_lanes(n_valid);
    __m256i mask1 = first_lanes(n_valid - 8);
#pragma GCC unroll 8
    for (int i = 0; i < GEMM_MR; i++) {
        if (i >= m_valid) break;
        float *row = c + (long)i * ldc;
        __m256 t0 = _mm256_mul_ps(alpha_v, acc[i][0]);
        __m256 t1 = _mm256_mul_ps(alpha_v, acc[i][1]);
        if (beta != 0.0f) {
            t0 = _mm256_add_ps(t0, _mm256_mul_ps(beta_v, _mm256_maskload_ps(row, mask0)));
            t1 = _mm256_add_ps(t1, _mm256_mul_ps(beta_v, _mm256_maskload_ps(row + 8, mask1)));
        }
        _mm256_maskstore_ps(row, mask0, t0);
        _mm256_maskstore_ps(row + 8, mask1, t1);
    }
}

/* ---- packing by 8×8 transposes (used by the AVX2 and AVX-512 kernels) ----
 * dst[p·width + i] = src[i·ld + p] for all `width` lanes (a multiple of 8) and p < kc: the "gather" layout of
 * gemm.c, where each lane is a row of the source. Plain C reads one float from each of `width` rows per p; here
 * 8 rows × 8 consecutive p are loaded as 8 vectors and transposed in registers (unpack, shuffle, permute), 8
 * stores of 8. A permutation of the same floats, so the packed bytes — and every GEMM result — are unchanged. */
static inline void transpose_8x8(const __m256 r[8], __m256 out[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    /* s_q holds column q (rows 0–3) in its low half and column q + 4 in its high half, for rows 0–3 (s0–s3)
     * and rows 4–7 (s4–s7) */
    __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)), s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)), s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0)), s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0)), s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    out[0] = _mm256_permute2f128_ps(s0, s4, 0x20), out[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    out[1] = _mm256_permute2f128_ps(s1, s5, 0x20), out[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    out[2] = _mm256_permute2f128_ps(s2, s6, 0x20), out[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    out[3] = _mm256_permute2f128_ps(s3, s7, 0x20), out[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

void bl_gemm_pack_rows_avx2(const float *src, size_t ld, int kc, int width, float *dst) {
    for (int i0 = 0; i0 < width; i0 += 8) {
        const float *rows = src + (size_t)i0 * ld;
        int p = 0;
        for (; p + 8 <= kc; p += 8) {
            __m256 r[8], col[8];
            for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(rows + (size_t)i * ld + p);
            transpose_8x8(r, col);
            for (int q = 0; q < 8; q++) _mm256_storeu_ps(dst + (size_t)(p + q) * width + i0, col[q]);
        }
        for (; p < kc; p++)
            for (int i = 0; i < 8; i++) dst[(size_t)p * width + i0 + i] = rows[(size_t)i * ld + p];
    }
}

const bl_gemm_microkernel bl_gemm_microkernel_avx2 = {
    .name = "avx2 6x16",
    .mr = GEMM_MR,
    .nr = GEMM_NR,
    /* A block 96×256 (96 KiB, L2), B sliver 256×16 (16 KiB, L1), B panel 256×4096 (4 MiB, L3) */
    .mc = 16 * GEMM_MR,
    .kc = 256,
    .nc = 4096,
    .run = gemm_microkernel_avx2_6x16,
    .pack_rows = bl_gemm_pack_rows_avx2,
};
