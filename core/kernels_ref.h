/* kernels_ref.h — the `ref` backend: every kernel of core/kernels.h as plain loops that read like the formula.
 *
 * This is the audited oracle: the cpu and cuda backends are tested against it, and tests/test_gradcheck.c proves
 * its backward kernels against central differences. Each kernel exists twice, generated from one template
 * (core/kernels_ref_impl.h):
 *   <slot>_ref      float buffers — the functions in the table returned by bl_kernels_ref();
 *   <slot>_ref_f64  double buffers — the same loops in double, for gradient checks (h = 1e-6 needs double).
 * Both variants accumulate every reduction (GEMM and convolution sums, batchnorm statistics, pooling averages,
 * sum, the BCE mean) in double and round once at the store, so the float variant is as accurate as float
 * outputs can be (a correctly rounded double result, up to the double sum's own error), and its outputs are
 * exactly the double variant's rounded to float. The optimizers are the deliberate exception: they repeat
 * torch's sequence of float operations (and its fused multiply-adds), which reproduces torch 1.13's SGD, Adam
 * and AdamW trajectories bit for bit (docs/ops/sgd.md, adam.md).
 *
 * The argument lists are exactly those of the bl_kernels slots, with `float` buffers and scalars replaced by
 * `double` in the _f64 variant. Exceptions, which stay float in both: the eps/momentum fields of
 * bl_batchnorm2d_shape, and the optimizer hyper-parameters (lr, momentum, dampening, weight_decay, beta1, beta2,
 * eps). The conventions (forward writes, backward accumulates with +=, NULL gradient = skip) and the formula of
 * each kernel are documented once, above its slot in core/kernels.h, and derived in docs/ops/<op>.md.
 *
 * What this is not: fast. No blocking, no threads, no SIMD — that is core/kernels_cpu.c's job. */
#ifndef BLASTO_KERNELS_REF_H
#define BLASTO_KERNELS_REF_H

#include <stdint.h>

#include "kernels.h"

/* ---- float variants (the "ref" backend table) ---- */
void sgemm_ref(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
               const float *b, int ldb, float beta, float *c, int ldc);
void conv2d_forward_ref(const bl_conv2d_shape *s, const float *x, const float *w, const float *b, float *y);
void conv2d_backward_data_ref(const bl_conv2d_shape *s, const float *dy, const float *w, float *dx);
void conv2d_backward_filter_ref(const bl_conv2d_shape *s, const float *x, const float *dy, float *dw, float *db);
void batchnorm2d_forward_train_ref(const bl_batchnorm2d_shape *s, const float *x, const float *gamma,
                                   const float *beta, float *y, float *running_mean, float *running_var,
                                   float *save_mean, float *save_invstd);
void batchnorm2d_forward_eval_ref(const bl_batchnorm2d_shape *s, const float *x, const float *gamma,
                                  const float *beta, const float *running_mean, const float *running_var, float *y);
void batchnorm2d_backward_ref(const bl_batchnorm2d_shape *s, int training, const float *x, const float *dy,
                              const float *gamma, const float *mean, const float *invstd, float *dx, float *dgamma,
                              float *dbeta);
void maxpool2d_forward_ref(const bl_pool2d_shape *s, const float *x, float *y);
void maxpool2d_backward_ref(const bl_pool2d_shape *s, const float *x, const float *dy, float *dx);
void avgpool2d_forward_ref(const bl_pool2d_shape *s, const float *x, float *y);
void avgpool2d_backward_ref(const bl_pool2d_shape *s, const float *dy, float *dx);
void global_avgpool_forward_ref(int64_t nc, int64_t hw, const float *x, float *y);
void global_avgpool_backward_ref(int64_t nc, int64_t hw, const float *dy, float *dx);
void linear_forward_ref(int n, int in, int out, const float *x, const float *w, const float *b, float *y);
void linear_backward_ref(int n, int in, int out, const float *x, const float *w, const float *dy, float *dx,
                         float *dw, float *db);
void batchnorm2d_eval_stats_ref(int c, float eps, const float *running_mean, const float *running_var, float *mean,
                                float *invstd);
void dropout_mask_ref(int64_t count, uint64_t key, float p, float keep_scale, float *mask);
/* host memory slots shared by every host backend (ref, cpu): aligned_alloc/free, memcpy, a fill loop */
void *host_mem_alloc(size_t bytes);
void host_mem_free(void *ptr);
void host_memcpy(void *dst, const void *src, size_t bytes);
void host_fill(int64_t count, float value, float *dst);
void relu_forward_ref(int64_t count, const float *x, float *y);
void relu_backward_ref(int64_t count, const float *x, const float *dy, float *dx);
void sigmoid_forward_ref(int64_t count, const float *x, float *y);
void sigmoid_backward_ref(int64_t count, const float *y, const float *dy, float *dx);
void add_forward_ref(int64_t count, const float *a, const float *b, float *y);
void axpy_ref(int64_t count, float alpha, const float *src, float *dst);
void add_scalar_ref(int64_t count, float scale, const float *alpha, float *dst);
void mul_forward_ref(int64_t count, const float *x, const float *mask, float *y);
void mul_backward_ref(int64_t count, const float *mask, const float *dy, float *dx);
void concat_channels_forward_ref(int n, int c_part, int c_total, int c_off, int64_t hw, const float *x, float *y);
void concat_channels_backward_ref(int n, int c_part, int c_total, int c_off, int64_t hw, const float *dy,
                                  float *dx);
void sum_forward_ref(int64_t count, const float *x, double divisor, float *y);
void bce_with_logits_forward_ref(int n, const float *z, const float *t, const float *w, float *loss);
void bce_with_logits_backward_ref(int n, const float *z, const float *t, const float *w, const float *dloss,
                                  float *dz);
void sgd_update_ref(int64_t count, float *p, const float *grad, float *buf, float lr, float momentum,
                    float dampening, float weight_decay, int nesterov, int first_step);
void adam_update_ref(int64_t count, float *p, const float *grad, float *m, float *v, float lr, float beta1,
                     float beta2, float eps, float weight_decay, int decoupled, int64_t step);

/* ---- double variants (gradient checks, optimizer checks) ---- */
void sgemm_ref_f64(int trans_a, int trans_b, int m, int n, int k, double alpha, const double *a, int lda,
                   const double *b, int ldb, double beta, double *c, int ldc);
void conv2d_forward_ref_f64(const bl_conv2d_shape *s, const double *x, const double *w, const double *b,
                            double *y);
void conv2d_backward_data_ref_f64(const bl_conv2d_shape *s, const double *dy, const double *w, double *dx);
void conv2d_backward_filter_ref_f64(const bl_conv2d_shape *s, const double *x, const double *dy, double *dw,
                                    double *db);
void batchnorm2d_forward_train_ref_f64(const bl_batchnorm2d_shape *s, const double *x, const double *gamma,
                                       const double *beta, double *y, double *running_mean, double *running_var,
                                       double *save_mean, double *save_invstd);
void batchnorm2d_forward_eval_ref_f64(const bl_batchnorm2d_shape *s, const double *x, const double *gamma,
                                      const double *beta, const double *running_mean, const double *running_var,
                                      double *y);
void batchnorm2d_backward_ref_f64(const bl_batchnorm2d_shape *s, int training, const double *x, const double *dy,
                                  const double *gamma, const double *mean, const double *invstd, double *dx,
                                  double *dgamma, double *dbeta);
void maxpool2d_forward_ref_f64(const bl_pool2d_shape *s, const double *x, double *y);
void maxpool2d_backward_ref_f64(const bl_pool2d_shape *s, const double *x, const double *dy, double *dx);
void avgpool2d_forward_ref_f64(const bl_pool2d_shape *s, const double *x, double *y);
void avgpool2d_backward_ref_f64(const bl_pool2d_shape *s, const double *dy, double *dx);
void global_avgpool_forward_ref_f64(int64_t nc, int64_t hw, const double *x, double *y);
void global_avgpool_backward_ref_f64(int64_t nc, int64_t hw, const double *dy, double *dx);
void linear_forward_ref_f64(int n, int in, int out, const double *x, const double *w, const double *b, double *y);
void linear_backward_ref_f64(int n, int in, int out, const double *x, const double *w, const double *dy,
                             double *dx, double *dw, double *db);
void relu_forward_ref_f64(int64_t count, const double *x, double *y);
void relu_backward_ref_f64(int64_t count, const double *x, const double *dy, double *dx);
void batchnorm2d_eval_stats_ref_f64(int c, float eps, const double *running_mean, const double *running_var,
                                    double *mean, double *invstd);
void sigmoid_forward_ref_f64(int64_t count, const double *x, double *y);
void sigmoid_backward_ref_f64(int64_t count, const double *y, const double *dy, double *dx);
void add_forward_ref_f64(int64_t count, const double *a, const double *b, double *y);
void axpy_ref_f64(int64_t count, double alpha, const double *src, double *dst);
void add_scalar_ref_f64(int64_t count, double scale, const double *alpha, double *dst);
void mul_forward_ref_f64(int64_t count, const double *x, const double *mask, double *y);
void mul_backward_ref_f64(int64_t count, const double *mask, const double *dy, double *dx);
void concat_channels_forward_ref_f64(int n, int c_part, int c_total, int c_off, int64_t hw, const double *x,
                                     double *y);
void concat_channels_backward_ref_f64(int n, int c_part, int c_total, int c_off, int64_t hw, const double *dy,
                                      double *dx);
void sum_forward_ref_f64(int64_t count, const double *x, double divisor, double *y);
void bce_with_logits_forward_ref_f64(int n, const double *z, const double *t, const double *w, double *loss);
void bce_with_logits_backward_ref_f64(int n, const double *z, const double *t, const double *w, const double *dloss,
                                      double *dz);
void sgd_update_ref_f64(int64_t count, double *p, const double *grad, double *buf, float lr, float momentum,
                        float dampening, float weight_decay, int nesterov, int first_step);
void adam_update_ref_f64(int64_t count, double *p, const double *grad, double *m, double *v, float lr, float beta1,
                         float beta2, float eps, float weight_decay, int decoupled, int64_t step);

#endif
