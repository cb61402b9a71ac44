/* conv2d_grid_avx512.c — the AVX-512 tile of the weight gradient by dot products (conv2d_grid.h,
 * bl_conv_dw_kernel; compiled with -mavx512f -mavx512vl -mavx512dq, called only when cpu_features.c has seen
 * AVX-512 on the running CPU and the AVX-512 GEMM kernel is selected).
 *
 * For i < m ≤ 4, j < n ≤ 6 with a_i = a + a_off[i] and b_j = b + b_off[j]:
 *     c[i·ldc + j] += Σ_{r < runs} Σ_{u < len} a_i[r·a_step + u] · b_j[r·b_step + u]
 * each dot product in 16 float lanes (lane l takes every u ≡ l mod 16 of every run, in (r, u) order, one fused
 * multiply-add per term), the lanes then added in a fixed tree (8+8, 4+4, 2+2, 1+1), the total added to c in one
 * rounding. */
#include <immintrin.h>
#include <stdint.h>

#include "core/cpu/conv2d_grid.h"

#define KERNEL_INLINE static inline __attribute__((always_inline))

/* Mask of the first `count` lanes of a 16-lane vector (count clipped to 0 … 16). */
static __mmask16 first_lanes(int count) {
    if (count >= 16) return (__mmask16)0xFFFF;
    if (count <= 0) return 0;
    return (__mmask16)((1u << count) - 1u);
}

enum { DOT_MR = 4, DOT_NR = 6 };

/* v's 16 lanes added in a fixed tree: lane l + lane l+8, then +4, +2, +1 */
KERNEL_INLINE float lanes_sum(__m512 v) {
    __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
    return _mm_cvtss_f32(s1);
}

/* One step of the tile: the 16 pixels at offsets ao (a rows) and bo (b rows), lanes outside `mask` read nothing
 * and add +0. Written out with named accumulators: an __m512 array may alias any float load (__m512 is a
 * may_alias type), and gcc then kept it in memory, storing every accumulator after every FMA (half speed). */
#define DOT_FULL(p) _mm512_loadu_ps(p)
#define DOT_MASKED(p) _mm512_maskz_loadu_ps(mask, p)
#define DOT_A(LOAD, i) __m512 a##i = LOAD(pa##i + ao)
#define DOT_COLUMN(LOAD, j)                                                                                            \
    do {                                                                                                               \
        __m512 bv = LOAD(pb##j + bo);                                                                                  \
        c0##j = _mm512_fmadd_ps(a0, bv, c0##j);                                                                        \
        c1##j = _mm512_fmadd_ps(a1, bv, c1##j);                                                                        \
        c2##j = _mm512_fmadd_ps(a2, bv, c2##j);                                                                        \
        c3##j = _mm512_fmadd_ps(a3, bv, c3##j);                                                                        \
    } while (0)
#define DOT_STEP(LOAD)                                                                                                 \
    do {                                                                                                               \
        DOT_A(LOAD, 0);                                                                                                \
        DOT_A(LOAD, 1);                                                                                                \
        DOT_A(LOAD, 2);                                                                                                \
        DOT_A(LOAD, 3);                                                                                                \
        DOT_COLUMN(LOAD, 0);                                                                                           \
        DOT_COLUMN(LOAD, 1);                                                                                           \
        DOT_COLUMN(LOAD, 2);                                                                                           \
        DOT_COLUMN(LOAD, 3);                                                                                           \
        DOT_COLUMN(LOAD, 4);                                                                                           \
        DOT_COLUMN(LOAD, 5);                                                                                           \
    } while (0)

static void dw_tile_avx512(int m, int n, const float *a_base, const int64_t *a_off, const float *b_base,
                                const int64_t *b_off, int runs, int64_t a_step, int64_t b_step, int len, float *c,
                                int64_t ldc) {
    /* a partial tile repeats its last row: computed, never stored */
    const float *pa0 = a_base + a_off[0], *pa1 = a_base + a_off[m > 1 ? 1 : m - 1];
    const float *pa2 = a_base + a_off[m > 2 ? 2 : m - 1], *pa3 = a_base + a_off[m > 3 ? 3 : m - 1];
    const float *pb0 = b_base + b_off[0], *pb1 = b_base + b_off[n > 1 ? 1 : n - 1];
    const float *pb2 = b_base + b_off[n > 2 ? 2 : n - 1], *pb3 = b_base + b_off[n > 3 ? 3 : n - 1];
    const float *pb4 = b_base + b_off[n > 4 ? 4 : n - 1], *pb5 = b_base + b_off[n > 5 ? 5 : n - 1];
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c03 = c00, c04 = c00, c05 = c00;
    __m512 c10 = c00, c11 = c00, c12 = c00, c13 = c00, c14 = c00, c15 = c00;
    __m512 c20 = c00, c21 = c00, c22 = c00, c23 = c00, c24 = c00, c25 = c00;
    __m512 c30 = c00, c31 = c00, c32 = c00, c33 = c00, c34 = c00, c35 = c00;
    const int full = len / 16 * 16;
    const __mmask16 tail = first_lanes(len - full);
    for (int r = 0; r < runs; r++) {
        const int64_t a_row = r * a_step, b_row = r * b_step;
        for (int u = 0; u < full; u += 16) {
            const int64_t ao = a_row + u, bo = b_row + u;
            DOT_STEP(DOT_FULL);
        }
        if (tail) {
            const int64_t ao = a_row + full, bo = b_row + full;
            const __mmask16 mask = tail;
            DOT_STEP(DOT_MASKED);
        }
    }
    const __m512 acc[DOT_MR][DOT_NR] = {{c00, c01, c02, c03, c04, c05}, {c10, c11, c12, c13, c14, c15},
                                        {c20, c21, c22, c23, c24, c25}, {c30, c31, c32, c33, c34, c35}};
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) c[i * ldc + j] += lanes_sum(acc[i][j]);
}
#undef DOT_STEP
#undef DOT_COLUMN
#undef DOT_A
#undef DOT_MASKED
#undef DOT_FULL

const bl_conv_dw_kernel bl_conv_dw_kernel_avx512 = {.mr = DOT_MR, .nr = DOT_NR, .tile = dw_tile_avx512};
