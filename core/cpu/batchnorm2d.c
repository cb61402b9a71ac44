/* batchnorm2d.c — the cpu backend's batchnorm2d kernels: ref's arithmetic, threaded over channels, with the
 * eight-lane double sums of several channels interleaved (shapes and formulas: kernels.h, docs/ops/batchnorm2d.md).
 *
 * Why this is bitwise equal to ref (core/cpu/cpu_ops.h): ref reduces each channel in eight double lanes
 * (core/ref/batchnorm_lanes.h: element k of a plane into lane k mod 8, each lane in (n, k) order, a fixed pairwise
 * total). This file adds the same lanes as one 8-wide vector per 8 elements and runs BN_CHANNEL_BLOCK channels
 * side by side in one loop (independent vectors overlap in the pipeline), so each lane sees the same additions in
 * the same order. Every per-element expression is
 * ref's, in double, character for character. A task is a block of channels; blocks are independent, so the thread
 * count cannot change a result.
 * The kernels' body is core/cpu/batchnorm2d_impl.h, compiled here for any CPU and in core/cpu/batchnorm2d_avx2.c and
 * core/cpu/batchnorm2d_avx512.c with those instruction sets; the entry points below pick the build of the backend's
 * instruction set (same results either way).
 *
 * What it is not: a one-pass (Welford) or vectorised-reduction batchnorm — those would change the rounding. */
#include <math.h>

#include "core/cpu/cpu_features.h"
#include "core/cpu/cpu_ops.h"
#include "core/cpu/threads.h"

#define BN_FN(name) name##_portable
#include "core/cpu/batchnorm2d_impl.h"

static bl_batchnorm2d_forward_train_fn batchnorm2d_forward_train_cpu;
static bl_batchnorm2d_forward_eval_fn batchnorm2d_forward_eval_cpu;
static bl_batchnorm2d_backward_fn batchnorm2d_backward_cpu;
static bl_batchnorm2d_relu_forward_eval_fn batchnorm2d_relu_forward_eval_cpu;
#undef BN_FN

#ifdef BLASTO_HAVE_X86_SIMD
/* the build of the backend's instruction set (the options checked the CPU has it) */
static bl_gemm_kernel_kind simd_of(const bl_kernels *self) { return bl_cpu_state_of(self)->options.simd; }
#endif

static void batchnorm2d_forward_train_cpu(const bl_kernels *self, const bl_batchnorm2d_shape *s, const float *x,
                                   const float *gamma, const float *beta, float *y, float *running_mean,
                                   float *running_var, float *save_mean, float *save_invstd) {
#ifdef BLASTO_HAVE_X86_SIMD
    if (simd_of(self) == BL_GEMM_KERNEL_AVX512) {
        batchnorm2d_forward_train_avx512(self, s, x, gamma, beta, y, running_mean, running_var, save_mean, save_invstd);
        return;
    }
    if (simd_of(self) == BL_GEMM_KERNEL_AVX2) {
        batchnorm2d_forward_train_avx2(self, s, x, gamma, beta, y, running_mean, running_var, save_mean, save_invstd);
        return;
    }
#endif
    batchnorm2d_forward_train_portable(self, s, x, gamma, beta, y, running_mean, running_var, save_mean, save_invstd);
}

static void batchnorm2d_forward_eval_cpu(const bl_kernels *self, const bl_batchnorm2d_shape *s, const float *x,
                                  const float *gamma, const float *beta, const float *running_mean,
                                  const float *running_var, float *y) {
#ifdef BLASTO_HAVE_X86_SIMD
    if (simd_of(self) == BL_GEMM_KERNEL_AVX512) {
        batchnorm2d_forward_eval_avx512(self, s, x, gamma, beta, running_mean, running_var, y);
        return;
    }
    if (simd_of(self) == BL_GEMM_KERNEL_AVX2) {
        batchnorm2d_forward_eval_avx2(self, s, x, gamma, beta, running_mean, running_var, y);
        return;
    }
#endif
    batchnorm2d_forward_eval_portable(self, s, x, gamma, beta, running_mean, running_var, y);
}

static void batchnorm2d_backward_cpu(const bl_kernels *self, const bl_batchnorm2d_shape *s, int training, const float *x,
                              const float *dy, const float *gamma, const float *mean, const float *invstd, float *dx,
                              float *dgamma, float *dbeta) {
#ifdef BLASTO_HAVE_X86_SIMD
    if (simd_of(self) == BL_GEMM_KERNEL_AVX512) {
        batchnorm2d_backward_avx512(self, s, training, x, dy, gamma, mean, invstd, dx, dgamma, dbeta);
        return;
    }
    if (simd_of(self) == BL_GEMM_KERNEL_AVX2) {
        batchnorm2d_backward_avx2(self, s, training, x, dy, gamma, mean, invstd, dx, dgamma, dbeta);
        return;
    }
#endif
    batchnorm2d_backward_portable(self, s, training, x, dy, gamma, mean, invstd, dx, dgamma, dbeta);
}

static void batchnorm2d_relu_forward_eval_cpu(const bl_kernels *self, const bl_batchnorm2d_shape *s, const float *x,
                                       const float *gamma, const float *beta, const float *running_mean,
                                       const float *running_var, float *y) {
#ifdef BLASTO_HAVE_X86_SIMD
    if (simd_of(self) == BL_GEMM_KERNEL_AVX512) {
        batchnorm2d_relu_forward_eval_avx512(self, s, x, gamma, beta, running_mean, running_var, y);
        return;
    }
    if (simd_of(self) == BL_GEMM_KERNEL_AVX2) {
        batchnorm2d_relu_forward_eval_avx2(self, s, x, gamma, beta, running_mean, running_var, y);
        return;
    }
#endif
    batchnorm2d_relu_forward_eval_portable(self, s, x, gamma, beta, running_mean, running_var, y);
}

void bl_cpu_batchnorm2d_slots(bl_kernels *k) {
    k->batchnorm2d_forward_train = batchnorm2d_forward_train_cpu;
    k->batchnorm2d_forward_eval = batchnorm2d_forward_eval_cpu;
    k->batchnorm2d_backward = batchnorm2d_backward_cpu;
    k->batchnorm2d_relu_forward_eval = batchnorm2d_relu_forward_eval_cpu;
}
