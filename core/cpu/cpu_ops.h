/* cpu_ops.h — the cpu backend's kernels, each declared with its slot's function type (core/kernels.h), and what
 * the files of core/cpu/ share. Internal to the cpu backend (core/cpu/cpu.c builds the table from them).
 *
 * The GEMM-shaped slots (sgemm, conv2d, linear) sum in float with fused multiply-adds in a blocked order, so they
 * differ from ref's double sums within the dot-product bound of docs/numerics.md ("Backend parity"); Winograd
 * (conv2d_forward_nograd and, where it pays, backward data and the weight gradient) has its own bound.
 *
 * Every other kernel here returns results BITWISE EQUAL to the ref kernel of the same name:
 *   - each output element is computed by the same arithmetic as ref, in the same order (where ref accumulates a
 *     double sum in a fixed order — sequentially, or batchnorm's eight lanes of core/ref/batchnorm_lanes.h — so
 *     does the cpu kernel: it only vectorises those lanes and interleaves independent channels to hide latency);
 *   - where the cpu kernel uses float arithmetic instead of ref's double, it is an operation whose double
 *     rounding is provably innocuous: for float a, b the double result of a ± b, a · b, a / b, √a rounded to float
 *     equals the correctly rounded float result (double has 53 ≥ 2·24 + 2 bits; Figueroa 1995). So
 *     (float)((double)a + b) == a + b in float, and relu/add/concat need no doubles;
 *   - work is split over independent outputs (elements, channels, planes) only, so the thread count never changes
 *     a result (threads.h).
 * Files, one per op family: gemm.c (sgemm), conv2d.c (+ conv2d_grid.c, conv2d_winograd.c), linear.c,
 * batchnorm2d.c, pool2d.c (max, average, global average), elementwise.c, concat_channels.c, optim.c.
 * The cpu backend takes sigmoid, dropout_mask, sum and the BCE loss from ref (scalar-sized work in every model). */
#ifndef BLASTO_CPU_OPS_H
#define BLASTO_CPU_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "core/cpu/cpu.h"
#include "core/cpu/gemm.h"
#include "core/kernels.h"

/* Below this many elements per thread a parallel region costs more than it saves (~1 µs of work). */
enum { BL_CPU_ELEMENTWISE_GRAIN = 16384 };

/* ---- the slots: each file installs its own, declared there with its slot's function type ---- */
void bl_cpu_conv2d_slots(bl_kernels *k);          /* conv2d.c: conv2d (+ conv2d_grid.c, conv2d_winograd.c) */
void bl_cpu_linear_slots(bl_kernels *k);          /* linear.c */
void bl_cpu_batchnorm2d_slots(bl_kernels *k);     /* batchnorm2d.c */
void bl_cpu_pool2d_slots(bl_kernels *k);          /* pool2d.c: max, average, global average */
void bl_cpu_elementwise_slots(bl_kernels *k);     /* elementwise.c: relu, add, axpy, add_scalar, mul, fill, copy */
void bl_cpu_concat_channels_slots(bl_kernels *k); /* concat_channels.c */
void bl_cpu_optim_slots(bl_kernels *k);           /* optim.c: sgd, adam */

/* ---- the builds behind them ---- */
/* SGD and Adam compiled with AVX2 + FMA (optim_avx2.c; x86 SIMD builds only, called only when the CPU has both):
 * one call per thread's slice */
bl_sgd_update_fn sgd_update_avx2;
bl_adam_update_fn adam_update_avx2;
/* batchnorm2d (batchnorm2d_impl.h): portable, AVX2 and AVX-512 (the last two in x86 SIMD builds only) */
bl_batchnorm2d_forward_train_fn batchnorm2d_forward_train_portable, batchnorm2d_forward_train_avx2,
    batchnorm2d_forward_train_avx512;
bl_batchnorm2d_forward_eval_fn batchnorm2d_forward_eval_portable, batchnorm2d_forward_eval_avx2,
    batchnorm2d_forward_eval_avx512;
bl_batchnorm2d_backward_fn batchnorm2d_backward_portable, batchnorm2d_backward_avx2,
    batchnorm2d_backward_avx512;
bl_batchnorm2d_relu_forward_eval_fn batchnorm2d_relu_forward_eval_portable, batchnorm2d_relu_forward_eval_avx2,
    batchnorm2d_relu_forward_eval_avx512;

/* ---- a cpu backend's state (its table's `state`): its options and what follows from them ---- */
typedef struct bl_cpu_state {
    bl_cpu_options options;
    bl_gemm_config gemm; /* options.simd's micro-kernel, options.gemm_b_direct */
} bl_cpu_state;

/* The state of the cpu backend a kernel was called through. */
static inline const bl_cpu_state *bl_cpu_state_of(const bl_kernels *self) {
    return (const bl_cpu_state *)self->state;
}

#endif
