/* gemm_bf16_avx512bf16.c — the AVX512-BF16 path of gemm_bf16.h: VDPBF16PS on k pairs, 16 columns per vector, the
 * last columns masked. Compiled with -mavx512f -mavx512bf16; called only when cpu_features.c has seen AVX512-BF16. */
#include <immintrin.h>
#include <string.h>

#include "core/cpu/gemm_bf16.h"

void bl_gemm_bf16_avx512bf16(int m, int n, int k, const bl_bf16 *a, const uint32_t *bp, float *c) {
    const int pairs = (k + 1) / 2;
    for (int i = 0; i < m; i++) {
        const bl_bf16 *arow = a + (int64_t)i * k;
        for (int j = 0; j < n; j += 16) {
            __mmask16 lanes = n - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - j)) - 1);
            __m512 acc = _mm512_setzero_ps();
            for (int p = 0; p < pairs; p++) {
                uint32_t pair = arow[2 * p];
                if (2 * p + 1 < k) pair |= (uint32_t)arow[2 * p + 1] << 16;
                __m512i av = _mm512_set1_epi32((int)pair);
                __m512i bv = _mm512_maskz_loadu_epi32(lanes, bp + (int64_t)p * n + j);
                acc = _mm512_dpbf16_ps(acc, (__m512bh)av, (__m512bh)bv);
            }
            _mm512_mask_storeu_ps(c + (int64_t)i * n + j, lanes, acc);
        }
    }
}
