/* gemm_bf16_avx2.c — the AVX2 path of gemm_bf16.h: bf16 widened to float32 (a 16-bit shift), FMA in k order, 8
 * columns per vector. Compiled with -mavx2 -mfma; called only when cpu_features.c has seen both. */
#include <immintrin.h>
#include <math.h>

#include "core/cpu/gemm_bf16.h"

static inline __m256 widen8(const bl_bf16 *p) {
    __m128i h = _mm_loadu_si128((const __m128i *)(const void *)p);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

void bl_gemm_bf16_avx2(int m, int n, int k, const bl_bf16 *a, const bl_bf16 *b, float *c) {
    for (int i = 0; i < m; i++) {
        float *row = c + (int64_t)i * n;
        int j = 0;
        for (; j + 8 <= n; j += 8) {
            __m256 acc = _mm256_setzero_ps();
            for (int q = 0; q < k; q++)
                acc = _mm256_fmadd_ps(_mm256_set1_ps(bl_bf16_to_f32(a[(int64_t)i * k + q])),
                                      widen8(b + (int64_t)q * n + j), acc);
            _mm256_storeu_ps(row + j, acc);
        }
        for (; j < n; j++) { /* the last columns: the same sums, one at a time */
            float acc = 0.0f;
            for (int q = 0; q < k; q++)
                acc = fmaf(bl_bf16_to_f32(a[(int64_t)i * k + q]), bl_bf16_to_f32(b[(int64_t)q * n + j]), acc);
            row[j] = acc;
        }
    }
}
