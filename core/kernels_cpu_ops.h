/* kernels_cpu_ops.h — the cpu backend's threaded non-GEMM kernels (elementwise, batchnorm, pooling, optimizers).
 *
 * Every function here has the signature, shapes and write / accumulate convention of its kernels.h slot, and
 * returns results BITWISE EQUAL to the ref kernel of the same name (tests/test_parity.c, tests/test_kernels_cpu_ops.c):
 *   - each output element is computed by the same arithmetic as ref, in the same order (where ref accumulates a
 *     double sum in a fixed order — sequentially, or batchnorm's eight lanes of core/batchnorm_lanes.h — so does the
 *     cpu kernel: it only vectorises those lanes and interleaves independent channels to hide latency);
 *   - where the cpu kernel uses float arithmetic instead of ref's double, it is an operation whose double
 *     rounding is provably innocuous: for float a, b the double result of a ± b, a · b, a / b, √a rounded to float
 *     equals the correctly rounded float result (double has 53 ≥ 2·24 + 2 bits; Figueroa 1995). So
 *     (float)((double)a + b) == a + b in float, and relu/add/concat need no doubles;
 *   - work is split over independent outputs (elements, channels, planes) only, so the thread count never changes
 *     a result (threads.h).
 * Files: kernels_cpu_elementwise.c (elementwise, concat, global average pool, optimizers), batchnorm_cpu.c,
 * pool2d_cpu.c. */
#ifndef BLASTO_KERNELS_CPU_OPS_H
#define BLASTO_KERNELS_CPU_OPS_H

#include <stdint.h>

#include "kernels.h"

/* ---- elementwise (kernels_cpu_elementwise.c) ---- */
void relu_forward_cpu(int64_t count, const float *x, float *y);
void relu_backward_cpu(int64_t count, const float *x, const float *dy, float *dx);
void add_forward_cpu(int64_t count, const float *a, const float *b, float *y);
void axpy_cpu(int64_t count, float alpha, const float *src, float *dst);
void fill_cpu(int64_t count, float value, float *dst);
void copy_cpu(void *dst, const void *src, size_t bytes);
void relu_backward_inplace_cpu(int64_t count, const float *y, float *g);
void add_scalar_cpu(int64_t count, float scale, const float *alpha, float *dst);
void mul_forward_cpu(int64_t count, const float *x, const float *mask, float *y);
void mul_backward_cpu(int64_t count, const float *mask, const float *dy, float *dx);
void concat_channels_forward_cpu(int n, int c_part, int c_total, int c_off, int64_t hw, const float *x, float *y);
void concat_channels_backward_cpu(int n, int c_part, int c_total, int c_off, int64_t hw, const float *dy,
                                  float *dx);
void global_avgpool_forward_cpu(int64_t nc, int64_t hw, const float *x, float *y);
void global_avgpool_backward_cpu(int64_t nc, int64_t hw, const float *dy, float *dx);
void sgd_update_cpu(int64_t count, float *p, const float *grad, float *buf, float lr, float momentum,
                    float dampening, float weight_decay, int nesterov, int first_step);
void adam_update_cpu(int64_t count, float *p, const float *grad, float *m, float *v, float lr, float beta1,
                     float beta2, float eps, float weight_decay, int decoupled, int64_t step);

/* the same updates compiled with AVX2 + FMA (optim_cpu_avx2.c; only in x86 SIMD builds, called only when the CPU
 * has both): one call per thread's slice */
void sgd_update_avx2(int64_t count, float *p, const float *grad, float *buf, float lr, float momentum,
                     float dampening, float weight_decay, int nesterov, int first_step);
void adam_update_avx2(int64_t count, float *p, const float *grad, float *m, float *v, float lr, float beta1,
                      float beta2, float eps, float weight_decay, int decoupled, int64_t step);

/* ---- batchnorm2d (batchnorm_cpu.c) ---- */
void batchnorm2d_forward_train_cpu(const bl_batchnorm2d_shape *s, const float *x, const float *gamma,
                                   const float *beta, float *y, float *running_mean, float *running_var,
                                   float *save_mean, float *save_invstd);
void batchnorm2d_forward_eval_cpu(const bl_batchnorm2d_shape *s, const float *x, const float *gamma,
                                  const float *beta, const float *running_mean, const float *running_var, float *y);
void batchnorm2d_backward_cpu(const bl_batchnorm2d_shape *s, int training, const float *x, const float *dy,
                              const float *gamma, const float *mean, const float *invstd, float *dx, float *dgamma,
                              float *dbeta);

/* the fused slot batchnorm2d_relu_forward_eval (kernels.h): the eval forward storing max(v, 0) */
void batchnorm2d_relu_forward_eval_cpu(const bl_batchnorm2d_shape *s, const float *x, const float *gamma,
                                       const float *beta, const float *running_mean, const float *running_var,
                                       float *y);

/* the two builds behind those four (batchnorm_cpu_impl.h): portable, and AVX-512 (x86 SIMD builds only) */
void batchnorm2d_forward_train_portable(const bl_batchnorm2d_shape *s, const float *x, const float *gamma,
                                        const float *beta, float *y, float *running_mean, float *running_var,
                                        float *save_mean, float *save_invstd);
void batchnorm2d_forward_eval_portable(const bl_batchnorm2d_shape *s, const float *x, const float *gamma,
                                       const float *beta, const float *running_mean, const float *running_var,
                                       float *y);
void batchnorm2d_backward_portable(const bl_batchnorm2d_shape *s, int training, const float *x, const float *dy,
                                   const float *gamma, const float *mean, const float *invstd, float *dx,
                                   float *dgamma, float *dbeta);
void batchnorm2d_relu_forward_eval_portable(const bl_batchnorm2d_shape *s, const float *x, const float *gamma,
                                            const float *beta, const float *running_mean, const float *running_var,
                                            float *y);
void batchnorm2d_relu_forward_eval_avx512(const bl_batchnorm2d_shape *s, const float *x, const float *gamma,
                                          const float *beta, const float *running_mean, const float *running_var,
                                          float *y);
void batchnorm2d_forward_train_avx512(const bl_batchnorm2d_shape *s, const float *x, const float *gamma,
                                      const float *beta, float *y, float *running_mean, float *running_var,
                                      float *save_mean, float *save_invstd);
void batchnorm2d_forward_eval_avx512(const bl_batchnorm2d_shape *s, const float *x, const float *gamma,
                                     const float *beta, const float *running_mean, const float *running_var, float *y);
void batchnorm2d_backward_avx512(const bl_batchnorm2d_shape *s, int training, const float *x, const float *dy,
                                 const float *gamma, const float *mean, const float *invstd, float *dx,
                                 float *dgamma, float *dbeta);

/* ---- pooling (pool2d_cpu.c) ---- */
void maxpool2d_forward_cpu(const bl_pool2d_shape *s, const float *x, float *y);
void maxpool2d_backward_cpu(const bl_pool2d_shape *s, const float *x, const float *dy, float *dx);
void avgpool2d_forward_cpu(const bl_pool2d_shape *s, const float *x, float *y);
void avgpool2d_backward_cpu(const bl_pool2d_shape *s, const float *dy, float *dx);

/* ---- shared helper: split [0, count) into contiguous ranges, one per thread (a range never splits below
 * `grain` elements); fn(arg, begin, end) runs once per range. Used by the elementwise kernels. ---- */
typedef void (*bl_range_fn)(void *arg, int64_t begin, int64_t end);
void bl_parallel_range(int64_t count, int64_t grain, bl_range_fn fn, void *arg);

#endif
