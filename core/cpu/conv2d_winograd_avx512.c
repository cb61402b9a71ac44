/* conv2d_winograd_avx512.c — core/cpu/conv2d_winograd_impl.h compiled with AVX-512 flags (the build gives *_avx512.c
 * files -mavx512f …): the same transforms as conv2d_winograd.c's portable copy, bitwise the same results, called
 * only when the CPU has AVX-512. Its two data-movement hooks use permutes: a row of 16 tiles' inputs is 66
 * contiguous floats, lane l of column c being element 4l + c, so four 16-float loads are split by four two-source
 * permutes per column (columns 4 and 5 are columns 0 and 1 moved down one lane); the output row is the inverse.
 * They only move values — the arithmetic is the shared C code. */
#include <immintrin.h>
#include <string.h>

#include "core/cpu/conv2d_winograd.h"

/* mask of the first `count` lanes (count clipped to 0 … 16) */
static inline __mmask16 first_lanes(int count) {
    if (count >= 16) return (__mmask16)0xFFFF;
    if (count <= 0) return 0;
    return (__mmask16)((1u << count) - 1u);
}

/* d_row[c][l] = p[4l + c] for c < 6, l < 16; p[j] is read for j < span only (zeros beyond) */
static inline void load_row_avx512(const float *p, int span, float d_row[WINO_PATCH][WINO_LANES]) {
    __m512 a0 = _mm512_maskz_loadu_ps(first_lanes(span), p);
    __m512 a1 = _mm512_maskz_loadu_ps(first_lanes(span - 16), p + 16);
    __m512 a2 = _mm512_maskz_loadu_ps(first_lanes(span - 32), p + 32);
    __m512 a3 = _mm512_maskz_loadu_ps(first_lanes(span - 48), p + 48);
    __m512 column[4];
    for (int c = 0; c < 4; c++) {
        /* lane l ← element 4·(l mod 8) + c of the pair (a0, a1) for l < 8, of (a2, a3) for l ≥ 8 */
        __m512i index = _mm512_add_epi32(_mm512_set_epi32(28, 24, 20, 16, 12, 8, 4, 0, 28, 24, 20, 16, 12, 8, 4, 0),
                                         _mm512_set1_epi32(c));
        __m512 low = _mm512_permutex2var_ps(a0, index, a1), high = _mm512_permutex2var_ps(a2, index, a3);
        column[c] = _mm512_mask_blend_ps((__mmask16)0xFF00, low, high);
        _mm512_storeu_ps(d_row[c], column[c]);
    }
    /* columns 4 and 5: lane l is column 0 / 1 of lane l + 1; lane 15 takes p[64] / p[65] */
    __m512 next4 = _mm512_set1_ps(span > 64 ? p[64] : 0.0f), next5 = _mm512_set1_ps(span > 65 ? p[65] : 0.0f);
    _mm512_storeu_ps(d_row[4], _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(next4),
                                                                       _mm512_castps_si512(column[0]), 1)));
    _mm512_storeu_ps(d_row[5], _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(next5),
                                                                       _mm512_castps_si512(column[1]), 1)));
}

/* for j < span: value = out_r[j mod 4][j / 4] (+ *bias); dst[j] = value, or dst[j] + value */
static inline void store_row_avx512(const float out_r[WINO_TILE][WINO_LANES], const float *bias, int accumulate,
                                    float *dst, int span) {
    __m512 q0 = _mm512_loadu_ps(out_r[0]), q1 = _mm512_loadu_ps(out_r[1]);
    __m512 q2 = _mm512_loadu_ps(out_r[2]), q3 = _mm512_loadu_ps(out_r[3]);
    /* pairs: element 2j + c of (q0, q1) is q_c[j] (c < 2), for the tiles j < 8 and, with +8, j ≥ 8 */
    __m512i pairs = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    __m512i pairs_high = _mm512_add_epi32(pairs, _mm512_set1_epi32(8));
    __m512 p01 = _mm512_permutex2var_ps(q0, pairs, q1), p23 = _mm512_permutex2var_ps(q2, pairs, q3);
    __m512 p01_high = _mm512_permutex2var_ps(q0, pairs_high, q1), p23_high = _mm512_permutex2var_ps(q2, pairs_high, q3);
    /* quads: element e of the output is tile e/4's column e mod 4: p01[2·(e/4) + c] for c < 2, p23[… + c − 2] */
    __m512i quads = _mm512_set_epi32(23, 22, 7, 6, 21, 20, 5, 4, 19, 18, 3, 2, 17, 16, 1, 0);
    __m512i quads_high = _mm512_add_epi32(quads, _mm512_set1_epi32(8));
    __m512 outs[4] = {_mm512_permutex2var_ps(p01, quads, p23), _mm512_permutex2var_ps(p01, quads_high, p23),
                      _mm512_permutex2var_ps(p01_high, quads, p23_high),
                      _mm512_permutex2var_ps(p01_high, quads_high, p23_high)};
    for (int k = 0; k < 4; k++) {
        __mmask16 mask = first_lanes(span - 16 * k);
        if (!mask) break;
        __m512 value = outs[k];
        if (bias) value = _mm512_add_ps(value, _mm512_set1_ps(*bias));
        if (accumulate) value = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, dst + 16 * k), value);
        _mm512_mask_storeu_ps(dst + 16 * k, mask, value);
    }
}

#define WINO_FN(name) name##_avx512
#include "core/cpu/conv2d_winograd_impl.h"
#undef WINO_FN
