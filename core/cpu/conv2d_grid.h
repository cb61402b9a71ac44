/* conv2d_grid.h — the "padded grid" of the cpu convolution (core/cpu/conv2d.c has the whole story): a sample copied
 * once with its zero padding and split into its stride phases — plane (ci, a, b) [hq, wq] holds the padded pixels
 * (s_h·u + a, s_w·v + b) — so that the im2col row of every tap is one contiguous slice of one plane, at the output
 * row stride wq. The forward convolution hands those slices to the GEMM as row pointers; the weight gradient below
 * takes dot products of them. Internal to the cpu backend. */
#ifndef BLASTO_CONV2D_GRID_H
#define BLASTO_CONV2D_GRID_H

#include <stdint.h>

#include "core/cpu/cpu_ops.h"
#include "core/kernels.h"

/* 1×1, stride 1, no padding: x itself is the im2col */
int conv2d_is_pointwise(const bl_conv2d_shape *s);

typedef struct conv2d_padded_grid {
    int hp, wp;    /* the padded input */
    int hq, wq;    /* one phase plane: ⌈hp/s_h⌉ × ⌈wp/s_w⌉ */
    int64_t plane; /* hq·wq floats */
} conv2d_padded_grid;

conv2d_padded_grid conv2d_grid_of(const bl_conv2d_shape *s);

/* out xq_ci [s_h·s_w][hq·wq]: input channel ci of the sample x_n [c_in, h_in, w_in], padded and split into its
 * phases (those a tap reads; the others are left as they are and never read) */
void conv2d_fill_padded_channel(const bl_conv2d_shape *s, const float *x_n, int ci, const conv2d_padded_grid *q,
                                float *xq_ci);

/* where tap t = (ci·kh + i)·kw + j reads, for output row 0: its phase plane and shift inside the grid of one sample
 * ([c_in][s_h·s_w][plane]) */
int64_t conv2d_tap_offset(const bl_conv2d_shape *s, const conv2d_padded_grid *q, int t);

/* A tile of the weight gradient by dot products along the pixels. For i < m ≤ mr, j < n ≤ nr with a_i = a + a_off[i]
 * and b_j = b + b_off[j]:  c[i·ldc + j] += Σ_{r < runs} Σ_{u < len} a_i[r·a_step + u] · b_j[r·b_step + u], each dot
 * product in a fixed order (the kernel's file says which), the total added to c in one rounding. */
typedef struct bl_conv_dw_kernel {
    int mr, nr;
    void (*tile)(int m, int n, const float *a, const int64_t *a_off, const float *b, const int64_t *b_off, int runs,
                 int64_t a_step, int64_t b_step, int len, float *c, int64_t ldc);
} bl_conv_dw_kernel;
extern const bl_conv_dw_kernel bl_conv_dw_kernel_avx512; /* conv2d_grid_avx512.c, x86 SIMD builds only */

/* dW += the batch's weight gradient by dot products (stride 1, a backend with AVX-512, where it pays or for every
 * shape: the option conv_backward_filter_dot, core/cpu/cpu.h). Returns 1 when it did, 0 when this shape or kernel is not
 * for it or its buffers cannot be had (nothing written: the caller takes the im2col + GEMM path).
 * in x [n,c_in,h_in,w_in], in dy [n,c_out,h_out,w_out], acc dw [c_out,c_in,kh,kw] */
int conv2d_backward_filter_dot(const bl_cpu_state *st, const bl_conv2d_shape *s, const float *x, const float *dy,
                               float *dw);

#endif
