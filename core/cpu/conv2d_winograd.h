/* conv2d_winograd.h — 3×3, stride-1 convolutions by Winograd's minimal filtering F(4×4, 3×3) (Lavin & Gray 2016),
 * internal to the cpu backend (core/cpu/conv2d_winograd.c has the math, the error bound and the measurements).
 *
 * The output is cut into 4×4 tiles from its (0, 0) corner; tile (ty, tx) of sample n reads the 6×6 input patch
 * whose top-left pixel is (4·ty − pad_h, 4·tx − pad_w) (zeros outside the input). With g a 3×3 filter and d a patch,
 *     Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A        (the 4×4 correlation of d with g, exactly, in exact arithmetic)
 * and the sum over input channels is taken inside the brackets: for each of the 36 positions i = (a, b) of the
 * 6×6 transformed domain, M_i [c_out, tiles] = U_i [c_out, c_in] · V_i [c_in, tiles] — 36 GEMMs of 1/9 of the
 * direct convolution's multiply-adds each, 4× fewer in all. */
#ifndef BLASTO_CONV2D_WINOGRAD_H
#define BLASTO_CONV2D_WINOGRAD_H

#include <stdint.h>

#include "core/cpu/cpu_ops.h"
#include "core/kernels.h"

enum { WINO_TILE = 4, WINO_PATCH = 6, WINO_POSITIONS = 36, WINO_LANES = 16 };

/* Whether Winograd takes this convolution: 3×3, stride 1, dilation 1, padding ≤ 2 — and, in the default mode, only
 * where it pays (bl_conv2d_cpu_set_winograd, gemm.h). Backward data asks with its transposed shape. */
int conv2d_winograd_takes(const bl_cpu_state *st, const bl_conv2d_shape *s);

/* y = conv(x, w) + b (beta == 0; b may be NULL) or y += conv(x, w) (beta == 1, b must be NULL), by F(4×4, 3×3).
 * Returns 1 when done, 0 when its buffers cannot be had (nothing written: the caller takes another path).
 * in x [n,c_in,h_in,w_in], in w [c_out,c_in,3,3], in b [c_out] or NULL, out / acc y [n,c_out,h_out,w_out] */
int conv2d_winograd(const bl_cpu_state *st, const bl_conv2d_shape *s, const float *x, const float *w, const float *b,
                    float beta, float *y);

/* dw += the weight gradient by F(4×4, 3×3) run backwards: with e_t the tile's 4×4 of dy (zeros past the map),
 *     dU_i[co, ci] = Σ_t (A e_t Aᵀ)_i · (Bᵀ d_t B)_i      (36 GEMMs reducing over the tiles)
 *     dw[co, ci] += Gᵀ dU[co, ci] G                          (in double, rounded once)
 * Returns 1 when done, 0 when its buffers cannot be had (nothing written). The tiles are reduced chunk after chunk
 * (WINO_CHUNK_TILES), so the result depends on the shape and that setting, never on the thread count.
 * in x [n,c_in,h_in,w_in], in dy [n,c_out,h_out,w_out], acc dw [c_out,c_in,3,3] */
int conv2d_winograd_filter_gradient(const bl_cpu_state *st, const bl_conv2d_shape *s, const float *x, const float *dy,
                                    float *dw);

/* ---- the per-block transforms (conv2d_winograd_impl.h, compiled portable and with AVX-512) ---- */

/* One output tile: where its sample starts in x and in y, its output origin, and whether its 6×6 input patch and
 * its 4×4 output lie wholly inside the maps (then no bounds are checked) */
typedef struct conv2d_winograd_tile {
    int64_t x_sample, y_sample; /* offsets of the sample in x and y, in floats */
    int oh0, ow0;
    unsigned char patch_inside, output_inside;
} conv2d_winograd_tile;

/* U_i[k] = (G g_k Gᵀ)_i for `count` ≤ 16 consecutive filters g_k = w[9k : 9k + 9], in double, each rounded to float
 * once, written to u + i·u_stride + k */
void conv2d_winograd_filters(const float *w, int count, float *u, int64_t u_stride);
void conv2d_winograd_filters_avx512(const float *w, int count, float *u, int64_t u_stride);
void conv2d_winograd_filters_avx2(const float *w, int count, float *u, int64_t u_stride);

/* V_i[ci, tile] = (Bᵀ d B)_i for the `count` ≤ WINO_LANES tiles (lanes ≥ count get zeros): v points at V_0's
 * first column of this block for input channel ci, position i's row is v + i·v_stride (16 floats are written) */
void conv2d_winograd_input_block(const bl_conv2d_shape *s, const float *x, int ci,
                                 const conv2d_winograd_tile *tiles, int count, float *v, int64_t v_stride);
void conv2d_winograd_input_block_avx512(const bl_conv2d_shape *s, const float *x, int ci,
                                        const conv2d_winograd_tile *tiles, int count, float *v, int64_t v_stride);
void conv2d_winograd_input_block_avx2(const bl_conv2d_shape *s, const float *x, int ci,
                                     const conv2d_winograd_tile *tiles, int count, float *v, int64_t v_stride);

/* The same for `count` ≤ 16 neighbouring tiles of one tile row (first, first + 1, … in x), whose input rows are
 * read as 4·count + 2 contiguous floats: bitwise conv2d_winograd_input_block on those tiles */
void conv2d_winograd_input_row(const bl_conv2d_shape *s, const float *x, int ci, const conv2d_winograd_tile *first,
                               int count, float *v, int64_t v_stride);
void conv2d_winograd_input_row_avx512(const bl_conv2d_shape *s, const float *x, int ci,
                                      const conv2d_winograd_tile *first, int count, float *v, int64_t v_stride);
void conv2d_winograd_input_row_avx2(const bl_conv2d_shape *s, const float *x, int ci,
                                   const conv2d_winograd_tile *first, int count, float *v, int64_t v_stride);

/* y tile = Aᵀ M A (+ bias) for output channel co of the `count` tiles, written (accumulate == 0) or added: m
 * points at M_0's first column of this block for co, position i's row is m + i·m_stride (16 floats are read) */
void conv2d_winograd_output_block(const bl_conv2d_shape *s, const float *m, int64_t m_stride,
                                  const conv2d_winograd_tile *tiles, int count, int co, const float *bias,
                                  int accumulate, float *y);
void conv2d_winograd_output_block_avx512(const bl_conv2d_shape *s, const float *m, int64_t m_stride,
                                         const conv2d_winograd_tile *tiles, int count, int co, const float *bias,
                                         int accumulate, float *y);
void conv2d_winograd_output_block_avx2(const bl_conv2d_shape *s, const float *m, int64_t m_stride,
                                      const conv2d_winograd_tile *tiles, int count, int co, const float *bias,
                                      int accumulate, float *y);

/* The same for `count` ≤ 16 neighbouring tiles of one tile row: bitwise conv2d_winograd_output_block on them */
void conv2d_winograd_output_row(const bl_conv2d_shape *s, const float *m, int64_t m_stride,
                                const conv2d_winograd_tile *first, int count, int co, const float *bias,
                                int accumulate, float *y);
void conv2d_winograd_output_row_avx512(const bl_conv2d_shape *s, const float *m, int64_t m_stride,
                                       const conv2d_winograd_tile *first, int count, int co, const float *bias,
                                       int accumulate, float *y);
void conv2d_winograd_output_row_avx2(const bl_conv2d_shape *s, const float *m, int64_t m_stride,
                                    const conv2d_winograd_tile *first, int count, int co, const float *bias,
                                    int accumulate, float *y);

/* M'_(a,b)[co, tile] = (A e Aᵀ)_(a,b) of output channel co's dy tiles (lanes ≥ count get zeros), position i's row
 * at m + i·m_stride; the row form takes `count` neighbouring tiles of one tile row (bitwise the block form) */
void conv2d_winograd_gradient_block(const bl_conv2d_shape *s, const float *dy, int co,
                                    const conv2d_winograd_tile *tiles, int count, float *m, int64_t m_stride);
void conv2d_winograd_gradient_block_avx512(const bl_conv2d_shape *s, const float *dy, int co,
                                           const conv2d_winograd_tile *tiles, int count, float *m, int64_t m_stride);
void conv2d_winograd_gradient_block_avx2(const bl_conv2d_shape *s, const float *dy, int co,
                                        const conv2d_winograd_tile *tiles, int count, float *m, int64_t m_stride);
void conv2d_winograd_gradient_row(const bl_conv2d_shape *s, const float *dy, int co, const conv2d_winograd_tile *first,
                                  int count, float *m, int64_t m_stride);
void conv2d_winograd_gradient_row_avx512(const bl_conv2d_shape *s, const float *dy, int co,
                                         const conv2d_winograd_tile *first, int count, float *m, int64_t m_stride);
void conv2d_winograd_gradient_row_avx2(const bl_conv2d_shape *s, const float *dy, int co,
                                      const conv2d_winograd_tile *first, int count, float *m, int64_t m_stride);

#endif
