/* cpu.h — the fast CPU backend: its options, given when a backend is created.
 *
 * bl_kernels_cpu() is the process's default cpu backend, made once with bl_cpu_options_default(). Code that wants
 * other choices — a narrower instruction set (to run the AVX2 or the portable kernels on an AVX-512 machine), the
 * direct convolution instead of Winograd, one of the paths the tests compare — creates its own backend with
 * bl_kernels_cpu_create; several may live side by side, each with its own options, and a context created on one
 * uses its options for every kernel (they reach the kernels through the table's `state`). The thread pool is shared
 * by all of them (threads.h).
 *
 * Every option below except `simd`, `winograd` and `conv_backward_filter_dot` chooses between paths that give
 * bitwise the same results; those three choose between roundings, each within the bound docs/numerics.md gives
 * it ("Backend parity", "Winograd F(4×4, 3×3)"). */
#ifndef BLASTO_CPU_H
#define BLASTO_CPU_H

#include <stddef.h>

#include "core/cpu/cpu_features.h"
#include "core/kernels.h"
#include "core/status.h"

typedef struct bl_cpu_options {
    /* The widest instruction set the kernels may use: BL_GEMM_KERNEL_GENERIC (portable C), _AVX2 (AVX2 + FMA) or
     * _AVX512. It picks the GEMM micro-kernel and the SIMD builds of batchnorm, the optimizers and Winograd's
     * transforms. Default: the best the CPU has, narrowed by the environment variable BLASTO_GEMM_KERNEL. A level
     * this build or CPU lacks is refused at creation. */
    bl_gemm_kernel_kind simd;
    /* 3×3 stride-1 convolutions by Winograd F(4×4, 3×3) (core/cpu/conv2d_winograd.c) — the forward without
     * gradients, backward data, the weight gradient: 0 never (the direct GEMM paths), 1 where it pays (default),
     * 2 for every shape it can take. The environment variable BLASTO_CONV_ALGO=direct|auto|winograd sets the
     * default to 0, 1 or 2. */
    int winograd;
    /* Winograd's output tiles per chunk: rounded down to a multiple of 32, at least 32 (default 256). The forward
     * and backward data never depend on it; the weight gradient's reduction over the tiles does. */
    int winograd_chunk_tiles;
    /* The forward convolution's im2col buffer bound in bytes per thread (default 4 MiB). Results never depend
     * on it (core/cpu/conv2d.c, "column chunks"). */
    size_t conv_forward_chunk_bytes;
    /* 1 (default): where each sample's GEMM runs on one thread, the forward convolution builds no col buffer (the
     * padded grid, or im2col inside the GEMM's B packing); 0: im2col in column chunks. Bitwise the same. */
    int conv_forward_fused;
    /* The weight gradient by dot products (core/cpu/conv2d_grid.c; stride 1, AVX-512): 0 never (im2col + GEMM),
     * 1 where it pays (default), 2 for every shape it can take. */
    int conv_backward_filter_dot;
    /* 1 (default): where the micro-kernel can, it reads B through row pointers in place instead of packing panels;
     * 0: always pack. Bitwise the same. */
    int gemm_b_direct;
} bl_cpu_options;

/* The defaults above, with the environment variables they name applied. */
bl_cpu_options bl_cpu_options_default(void);

/* A new cpu backend (name "cpu") with these options (NULL: the defaults). Errors: a simd level this build or CPU
 * lacks ("cpu backend: simd: avx512 is not available (…)"), an option out of range. Free it with
 * bl_kernels_cpu_free once no context uses it. */
bl_status bl_kernels_cpu_create(const bl_cpu_options *options, bl_kernels **out);
void bl_kernels_cpu_free(bl_kernels *k);

/* The options a cpu backend was created with (NULL when k is not a cpu backend). */
const bl_cpu_options *bl_kernels_cpu_options(const bl_kernels *k);

#endif
