/* ref.h — the `ref` backend: every kernel of core/kernels.h as plain loops that read like the formula.
 *
 * This is the audited oracle: the cpu and cuda backends are tested against it, and the op-test harness (tests/ops/, its float64 gradient check) proves
 * its backward kernels against central differences. Each kernel exists twice, generated from one template
 * (core/ref/ops.h):
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
 * What this is not: fast. No blocking, no threads, no SIMD — that is core/cpu/cpu.c's job. */
#ifndef BLASTO_KERNELS_REF_H
#define BLASTO_KERNELS_REF_H

#include <stdint.h>

#include "core/kernels.h"

/* ---- float variants: the "ref" backend table (each declared with its slot's type, kernels.h) ---- */
bl_sgemm_fn sgemm_ref;
bl_conv2d_forward_fn conv2d_forward_ref;
bl_conv2d_backward_data_fn conv2d_backward_data_ref;
bl_conv2d_backward_filter_fn conv2d_backward_filter_ref;
bl_bias_channels_forward_fn bias_channels_forward_ref;
bl_bias_channels_backward_fn bias_channels_backward_ref;
bl_batchnorm2d_forward_train_fn batchnorm2d_forward_train_ref;
bl_batchnorm2d_forward_eval_fn batchnorm2d_forward_eval_ref;
bl_batchnorm2d_eval_stats_fn batchnorm2d_eval_stats_ref;
bl_batchnorm2d_backward_fn batchnorm2d_backward_ref;
bl_batchnorm2d_moments_fn batchnorm2d_moments_ref;
bl_batchnorm2d_backward_dx_fn batchnorm2d_backward_dx_ref;
bl_batchnorm2d_relu_forward_eval_fn batchnorm2d_relu_forward_eval_ref;
bl_maxpool2d_forward_fn maxpool2d_forward_ref;
bl_maxpool2d_backward_fn maxpool2d_backward_ref;
bl_avgpool2d_forward_fn avgpool2d_forward_ref;
bl_avgpool2d_backward_fn avgpool2d_backward_ref;
bl_global_avgpool_forward_fn global_avgpool_forward_ref;
bl_global_avgpool_backward_fn global_avgpool_backward_ref;
bl_upsample_bilinear2d_forward_fn upsample_bilinear2d_forward_ref;
bl_upsample_bilinear2d_backward_fn upsample_bilinear2d_backward_ref;
bl_linear_forward_fn linear_forward_ref;
bl_linear_backward_fn linear_backward_ref;
bl_relu_forward_fn relu_forward_ref;
bl_relu_backward_fn relu_backward_ref;
bl_relu_backward_inplace_fn relu_backward_inplace_ref;
bl_sigmoid_forward_fn sigmoid_forward_ref;
bl_sigmoid_backward_fn sigmoid_backward_ref;
bl_add_forward_fn add_forward_ref;
bl_axpy_fn axpy_ref;
bl_add_scalar_fn add_scalar_ref;
bl_dropout_mask_fn dropout_mask_ref;
bl_mul_forward_fn mul_forward_ref;
bl_mul_backward_fn mul_backward_ref;
bl_concat_channels_forward_fn concat_channels_forward_ref;
bl_concat_channels_backward_fn concat_channels_backward_ref;
bl_sum_forward_fn sum_forward_ref;
bl_bce_with_logits_forward_fn bce_with_logits_forward_ref;
bl_bce_with_logits_backward_fn bce_with_logits_backward_ref;
bl_softmax_cross_entropy_forward_fn softmax_cross_entropy_forward_ref;
bl_softmax_cross_entropy_backward_fn softmax_cross_entropy_backward_ref;
bl_dice_loss_forward_fn dice_loss_forward_ref;
bl_dice_loss_backward_fn dice_loss_backward_ref;
bl_sgd_update_fn sgd_update_ref;
bl_adam_update_fn adam_update_ref;
/* host memory slots shared by every host backend (ref, cpu): aligned_alloc/free, memcpy, a fill loop */
bl_mem_alloc_fn host_mem_alloc;
bl_mem_free_fn host_mem_free;
bl_memcpy_fn host_memcpy;
bl_fill_fn host_fill;

/* ---- double variants (gradient checks, optimizer checks) ---- */
void sgemm_ref_f64(int trans_a, int trans_b, int m, int n, int k, double alpha, const double *a, int lda,
                   const double *b, int ldb, double beta, double *c, int ldc);
void conv2d_forward_ref_f64(const bl_conv2d_shape *s, const double *x, const double *w, const double *b,
                            double *y);
void conv2d_backward_data_ref_f64(const bl_conv2d_shape *s, const double *dy, const double *w, double *dx);
void conv2d_backward_filter_ref_f64(const bl_conv2d_shape *s, const double *x, const double *dy, double *dw,
                                    double *db);
void bias_channels_forward_ref_f64(int n, int c, int64_t hw, const double *b, double *y);
void bias_channels_backward_ref_f64(int n, int c, int64_t hw, const double *dy, double *db);
void batchnorm2d_forward_train_ref_f64(const bl_batchnorm2d_shape *s, const double *x, const double *gamma,
                                       const double *beta, double *y, double *running_mean, double *running_var,
                                       double *save_mean, double *save_invstd);
void batchnorm2d_forward_eval_ref_f64(const bl_batchnorm2d_shape *s, const double *x, const double *gamma,
                                      const double *beta, const double *running_mean, const double *running_var,
                                      double *y);
void batchnorm2d_backward_ref_f64(const bl_batchnorm2d_shape *s, int training, const double *x, const double *dy,
                                  const double *gamma, const double *mean, const double *invstd, double *dx,
                                  double *dgamma, double *dbeta);
void batchnorm2d_moments_ref_f64(const bl_batchnorm2d_shape *s, const double *x, double *mean, double *m2);
void batchnorm2d_backward_dx_ref_f64(const bl_batchnorm2d_shape *s, const double *x, const double *dy,
                                     const double *gamma, const double *mean, const double *invstd,
                                     const double *sum_dy, const double *sum_dy_xhat, double count, double *dx);
void maxpool2d_forward_ref_f64(const bl_pool2d_shape *s, const double *x, double *y);
void maxpool2d_backward_ref_f64(const bl_pool2d_shape *s, const double *x, const double *dy, double *dx);
void avgpool2d_forward_ref_f64(const bl_pool2d_shape *s, const double *x, double *y);
void avgpool2d_backward_ref_f64(const bl_pool2d_shape *s, const double *dy, double *dx);
void global_avgpool_forward_ref_f64(int64_t nc, int64_t hw, const double *x, double *y);
void global_avgpool_backward_ref_f64(int64_t nc, int64_t hw, const double *dy, double *dx);
void upsample_bilinear2d_forward_ref_f64(const bl_resize_shape *s, const double *x, double *y);
void upsample_bilinear2d_backward_ref_f64(const bl_resize_shape *s, const double *dy, double *dx);
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
void softmax_cross_entropy_forward_ref_f64(const bl_class_loss_shape *s, const double *z, const double *labels,
                                           const double *w, double *loss);
void softmax_cross_entropy_backward_ref_f64(const bl_class_loss_shape *s, const double *z, const double *labels,
                                            const double *w, const double *dloss, double *dz);
void dice_loss_forward_ref_f64(const bl_class_loss_shape *s, const double *z, const double *labels, double *loss);
void dice_loss_backward_ref_f64(const bl_class_loss_shape *s, const double *z, const double *labels,
                                const double *dloss, double *dz);
void sgd_update_ref_f64(int64_t count, double *p, const double *grad, double *buf, float lr, float momentum,
                        float dampening, float weight_decay, int nesterov, int first_step);
void adam_update_ref_f64(int64_t count, double *p, const double *grad, double *m, double *v, float lr, float beta1,
                         float beta2, float eps, float weight_decay, int decoupled, int64_t step);

#endif
