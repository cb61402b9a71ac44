/* kernels.h — the op table: what a backend must compute, one function type per slot.
 *
 * A backend (ref, cpu, cuda) is a bl_kernels struct of function pointers. Kernels work on raw float buffers plus a
 * shape struct; they know nothing about tensors, arenas or the tape (that is autograd's job, in core/op_*.c). Every
 * slot's signature is written once, below, as a function type (bl_<slot>_fn); a backend declares each of its kernels
 * with that type (`bl_conv2d_forward_fn conv2d_forward_ref;`), so the compiler checks every definition against it.
 * The ref backend — plain loops written as the formula (core/ref/) — is the oracle the others are tested against.
 *
 * Conventions for every kernel below:
 *   - shapes are NCHW, row-major, contiguous;
 *   - forward kernels WRITE their outputs (no need to zero them first);
 *   - backward kernels ACCUMULATE (+=) into input gradients and parameter gradients. This one rule makes fan-out
 *     (ResNet shortcut, DenseNet concat) and gradient accumulation over several backward calls free;
 *   - a NULL gradient pointer means "not needed": skip that computation;
 *   - reductions run in a fixed order that does not depend on the thread count (bitwise determinism).
 * The comment above each type gives every buffer's shape and whether it is read (in), written (out) or accumulated
 * (acc). The math and the derivation of each backward: docs/ops/<op>.md.
 *
 * Every slot is required unless its comment says "optional": bl_ctx_create refuses a backend that left a required
 * slot empty, naming it (bl_kernels_check). */
#ifndef BLASTO_KERNELS_H
#define BLASTO_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* The op table (below); every kernel receives the table it was called through as its first argument, self, so a
 * backend with options (the cpu backend's algorithm choices, core/cpu/cpu.h) finds them in self->state. */
typedef struct bl_kernels bl_kernels;

/* conv2d: y[n,co,oh,ow] = b[co] + Σ_{ci,i,j} w[co,ci,i,j] · x[n,ci, oh·sh − ph + i·dh, ow·sw − pw + j·dw]
 * (zero outside the image). h_out = (h_in + 2·ph − dh·(kh−1) − 1)/sh + 1 (floor), likewise w_out. */
typedef struct bl_conv2d_shape {
    int n, c_in, h_in, w_in;
    int c_out, h_out, w_out;
    int kh, kw;
    int stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
} bl_conv2d_shape;

/* max/avg pooling with torch semantics (floor mode). Max pooling pads with −inf; avg pooling divides by the
 * window size including padding when count_include_pad, else by the number of in-image elements. */
typedef struct bl_pool2d_shape {
    int n, c, h_in, w_in, h_out, w_out;
    int kh, kw, stride_h, stride_w, pad_h, pad_w;
    int count_include_pad;
} bl_pool2d_shape;

/* batchnorm2d over x [n,c,h,w]: statistics per channel over n·h·w elements. */
typedef struct bl_batchnorm2d_shape {
    int n, c, h, w;
    float eps;
    float momentum; /* torch convention: running = (1−momentum)·running + momentum·batch */
    /* the eval forwards only (batchnorm2d_forward_eval, batchnorm2d_relu_forward_eval): elements from one sample of
     * x to the next, ≥ c·h·w — x may be the first c channels of a wider [n, C, h, w] tensor (a DenseNet block
     * buffer); 0 means c·h·w (dense). y is always dense [n, c, h, w]. Every other slot requires 0. */
    int64_t x_sample_stride;
} bl_batchnorm2d_shape;

/* x's sample stride of an eval forward (see x_sample_stride) */
static inline int64_t bl_bn_x_sample_stride(const bl_batchnorm2d_shape *s) {
    return s->x_sample_stride ? s->x_sample_stride : (int64_t)s->c * s->h * s->w;
}

/* bilinear resize with torch's align_corners=False semantics (F.interpolate(mode="bilinear", size=…)): output pixel
 * (oh, ow) samples the input at src = (o + 0.5)·in/out − 0.5 in each direction (clamped at 0), between input pixels
 * i0 = ⌊src⌋ and i1 = min(i0 + 1, in − 1) with weights 1 − λ and λ = src − i0. */
typedef struct bl_resize_shape {
    int n, c, h_in, w_in, h_out, w_out;
} bl_resize_shape;

/* per-pixel classification losses over logits z [n, c, hw] (classes along the channel axis) and labels [n, hw]
 * holding class indices 0 … c−1 as floats, or ignore_index (that pixel takes no part). A label that is neither makes
 * the loss NaN (the op wrapper names it where it can read the labels). */
#define BL_CLASS_LOSS_MAX_CLASSES 256 /* c ≤ this (the op wrappers check it) */
typedef struct bl_class_loss_shape {
    int n, c;
    int64_t hw;
    int ignore_index;
    float smooth;         /* dice_loss: ε of (2·I + ε)/(S + ε) */
    int skip_background;  /* dice_loss: average over classes 1 … c−1 instead of 0 … c−1 */
} bl_class_loss_shape;

/* ==== linear algebra ==== */

/* C[m,n] = alpha · op(A) · op(B) + beta · C, row-major; op(X) = X or Xᵀ (trans_* != 0).
 * A is [m,k] (or [k,m] when trans_a), B is [k,n] (or [n,k] when trans_b). lda/ldb/ldc are row strides.
 * beta == 0 means C is written, never read (so it may hold NaN garbage). */
typedef void bl_sgemm_fn(const bl_kernels *self, int trans_a, int trans_b, int m, int n, int k, float alpha,
                         const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* ==== conv2d ==== */

/* in x [n,c_in,h_in,w_in], in w [c_out,c_in,kh,kw], in b [c_out] or NULL, out y [n,c_out,h_out,w_out] */
typedef void bl_conv2d_forward_fn(const bl_kernels *self, const bl_conv2d_shape *s, const float *x, const float *w,
                                  const float *b, float *y);
/* in dy [n,c_out,h_out,w_out], in w, acc dx [n,c_in,h_in,w_in] */
typedef void bl_conv2d_backward_data_fn(const bl_kernels *self, const bl_conv2d_shape *s, const float *dy,
                                        const float *w, float *dx);
/* in x, in dy, acc dw [c_out,c_in,kh,kw], acc db [c_out] or NULL */
typedef void bl_conv2d_backward_filter_fn(const bl_kernels *self, const bl_conv2d_shape *s, const float *x,
                                          const float *dy, float *dw, float *db);
/* Optional. conv2d_forward for a result that will not be differentiated (the op records no tape entry: inference
 * and evaluation without gradients): the same contract, but it may compute by a transform algorithm with its own,
 * larger, documented error bound — cpu: Winograd F(4×4, 3×3) for 3×3 stride-1 layers (core/cpu/conv2d_winograd.c;
 * docs/numerics.md, "Winograd F(4×4, 3×3)"). A differentiated forward keeps conv2d_forward: through batch
 * statistics and ReLU kinks a forward's rounding error reaches the gradients amplified. Empty: conv2d_forward. */
typedef bl_conv2d_forward_fn bl_conv2d_forward_nograd_fn;

/* per-channel bias (the bias of conv_transpose2d, whose product comes from conv2d_backward_data):
 * y[n,c,p] += b[c].  in b [c], acc y [n,c,hw] */
typedef void bl_bias_channels_forward_fn(const bl_kernels *self, int n, int c, int64_t hw, const float *b, float *y);
/* db[c] += Σ_{n,p} dy[n,c,p].  in dy [n,c,hw], acc db [c] */
typedef void bl_bias_channels_backward_fn(const bl_kernels *self, int n, int c, int64_t hw, const float *dy,
                                          float *db);

/* ==== batchnorm2d ==== */

/* training: normalise with the batch's mean and biased variance; update running stats with the UNBIASED
 * variance (torch): running_var = (1−m)·running_var + m·var·N/(N−1), N = n·h·w.
 * in x, in gamma [c], in beta [c], out y, acc-update running_mean/running_var [c] (NULL: no update),
 * out save_mean [c], out save_invstd [c] = 1/sqrt(var_biased + eps) */
typedef void bl_batchnorm2d_forward_train_fn(const bl_kernels *self, const bl_batchnorm2d_shape *s, const float *x,
                                             const float *gamma, const float *beta, float *y, float *running_mean,
                                             float *running_var, float *save_mean, float *save_invstd);
/* eval (running statistics): y = gamma·(x − running_mean)/sqrt(running_var + eps) + beta
 * (y == x allowed: bl_batchnorm2d_inplace) */
typedef void bl_batchnorm2d_forward_eval_fn(const bl_kernels *self, const bl_batchnorm2d_shape *s, const float *x,
                                            const float *gamma, const float *beta, const float *running_mean,
                                            const float *running_var, float *y);
/* eval-mode statistics for the backward: out mean[c] = running_mean[c],
 * out invstd[c] = (float)(1/sqrt((double)running_var[c] + (double)eps)) */
typedef void bl_batchnorm2d_eval_stats_fn(const bl_kernels *self, int c, float eps, const float *running_mean,
                                          const float *running_var, float *mean, float *invstd);
/* in x, in dy, in gamma, in mean [c], in invstd [c] (the ones forward normalised with);
 * training != 0: mean/invstd are batch statistics and depend on x (full backward);
 * training == 0: they are constants (running stats): dx = dy·gamma·invstd.
 * acc dx (or NULL), acc dgamma [c] (or NULL), acc dbeta [c] (or NULL) */
typedef void bl_batchnorm2d_backward_fn(const bl_kernels *self, const bl_batchnorm2d_shape *s, int training,
                                        const float *x, const float *dy, const float *gamma, const float *mean,
                                        const float *invstd, float *dx, float *dgamma, float *dbeta);
/* Optional. Eval batchnorm then ReLU in one pass: y = max(γ·(x − running_mean)/√(running_var + eps) + β, 0), bit
 * for bit relu_forward applied to batchnorm2d_forward_eval's output (ref: those two kernels in sequence).
 * in x [n,c,h,w], in gamma, beta, running_mean, running_var [c], out y [n,c,h,w]. Empty: the two kernels. */
typedef bl_batchnorm2d_forward_eval_fn bl_batchnorm2d_relu_forward_eval_fn;
/* Optional (synchronised batchnorm over several processes, docs/distributed.md; empty: the backend refuses it).
 * This process's moments per channel over its N = n·h·w elements: out mean [c] = Σx/N, out m2 [c] = Σ(x − mean)²
 * (two passes in double, each rounded once). */
typedef void bl_batchnorm2d_moments_fn(const bl_kernels *self, const bl_batchnorm2d_shape *s, const float *x,
                                       float *mean, float *m2);
/* Optional (with batchnorm2d_moments). The training backward of a batch spread over several processes, given the
 * sums over all of them: ∂L/∂x = (γ·invstd/count)·(count·dy − sum_dy − x̂·sum_dy_xhat), x̂ = (x − mean)·invstd.
 * in x, dy [n,c,h,w], in gamma, mean, invstd, sum_dy, sum_dy_xhat [c], count = elements per channel over every
 * process, acc dx [n,c,h,w] */
typedef void bl_batchnorm2d_backward_dx_fn(const bl_kernels *self, const bl_batchnorm2d_shape *s, const float *x,
                                           const float *dy, const float *gamma, const float *mean,
                                           const float *invstd, const float *sum_dy, const float *sum_dy_xhat,
                                           double count, float *dx);

/* ==== pooling ==== */

/* in x [n,c,h_in,w_in], out y [n,c,h_out,w_out]. Ties: the first maximum in row-major window order wins
 * (as torch's CPU kernel); backward routes dy there. */
typedef void bl_maxpool2d_forward_fn(const bl_kernels *self, const bl_pool2d_shape *s, const float *x, float *y);
/* in x, in dy, acc dx */
typedef void bl_maxpool2d_backward_fn(const bl_kernels *self, const bl_pool2d_shape *s, const float *x, const float *dy,
                                      float *dx);
/* in x, out y */
typedef void bl_avgpool2d_forward_fn(const bl_kernels *self, const bl_pool2d_shape *s, const float *x, float *y);
/* in dy, acc dx */
typedef void bl_avgpool2d_backward_fn(const bl_kernels *self, const bl_pool2d_shape *s, const float *dy, float *dx);
/* in x [nc, hw] → out y [nc]: mean over hw */
typedef void bl_global_avgpool_forward_fn(const bl_kernels *self, int64_t nc, int64_t hw, const float *x, float *y);
/* in dy [nc], acc dx [nc, hw]: dx[i,j] += dy[i]/hw */
typedef void bl_global_avgpool_backward_fn(const bl_kernels *self, int64_t nc, int64_t hw, const float *dy, float *dx);

/* ==== resize ==== */

/* y[n,c,oh,ow] = Σ over the 2×2 neighbours of the sample point of (weight in h)·(weight in w)·x (bl_resize_shape).
 * in x [n,c,h_in,w_in], out y [n,c,h_out,w_out] */
typedef void bl_upsample_bilinear2d_forward_fn(const bl_kernels *self, const bl_resize_shape *s, const float *x,
                                               float *y);
/* dx[i] += Σ over the outputs that sample input i of (their weight of i)·dy.  in dy, acc dx */
typedef void bl_upsample_bilinear2d_backward_fn(const bl_kernels *self, const bl_resize_shape *s, const float *dy,
                                                float *dx);

/* ==== linear ==== */

/* y[n,out] = x[n,in] · wᵀ + b; in x, in w [out,in], in b [out] or NULL, out y */
typedef void bl_linear_forward_fn(const bl_kernels *self, int n, int in, int out, const float *x, const float *w,
                                  const float *b, float *y);
/* in x, in w, in dy [n,out]; acc dx [n,in], acc dw [out,in], acc db [out] (each may be NULL) */
typedef void bl_linear_backward_fn(const bl_kernels *self, int n, int in, int out, const float *x, const float *w,
                                   const float *dy, float *dx, float *dw, float *db);

/* ==== elementwise ==== */

/* y = max(x, 0), a NaN passed on (y == x allowed: bl_relu_inplace) */
typedef void bl_relu_forward_fn(const bl_kernels *self, int64_t count, const float *x, float *y);
/* dx += dy · [x > 0] (the kink x == 0 gets gradient 0, as torch) */
typedef void bl_relu_backward_fn(const bl_kernels *self, int64_t count, const float *x, const float *dy, float *dx);
/* Optional. The gradient through a ReLU folded into the op before it (bl_relu_inplace), in place:
 * g[i] = y[i] > 0 ? 0 + g[i] : +0 — bit for bit what relu_backward(count, y, g, dz) leaves in a zeroed dz
 * (0 + g turns −0 into +0). in y (the ReLU's output), io g [count]. Empty: relu_backward into a zeroed buffer. */
typedef void bl_relu_backward_inplace_fn(const bl_kernels *self, int64_t count, const float *y, float *g);
/* y = 1/(1+exp(−x)) */
typedef void bl_sigmoid_forward_fn(const bl_kernels *self, int64_t count, const float *x, float *y);
/* backward from the output: dx += dy · y · (1 − y) */
typedef void bl_sigmoid_backward_fn(const bl_kernels *self, int64_t count, const float *y, const float *dy, float *dx);
/* y = a + b (y == a allowed: bl_add_inplace) */
typedef void bl_add_forward_fn(const bl_kernels *self, int64_t count, const float *a, const float *b, float *y);
/* dst += alpha · src (the backward of add, reshape, concat slices, sum, …) */
typedef void bl_axpy_fn(const bl_kernels *self, int64_t count, float alpha, const float *src, float *dst);
/* dst[i] += scale·alpha[0] for every i (the backward of sum/mean: a scalar gradient broadcast back).
 * alpha is a one-element buffer of this backend (it may live on the device); scale is 1 (sum) or 1/n (mean) */
typedef void bl_add_scalar_fn(const bl_kernels *self, int64_t count, float scale, const float *alpha, float *dst);
/* dropout mask: mask[i] = u_i ≥ p ? keep_scale : 0 with u_i the (i+1)-th bl_rng_uniform draw of the stream
 * {key, counter 0} (core/rng.h: u_i = (mix64(key + (i+1)·γ) >> 40) · 2⁻²⁴), so any backend can compute
 * element i independently and every backend gives the same mask. out mask [count] */
typedef void bl_dropout_mask_fn(const bl_kernels *self, int64_t count, uint64_t key, float p, float keep_scale,
                                float *mask);
/* y = x · mask (mask holds 0 or 1/(1−p)) */
typedef void bl_mul_forward_fn(const bl_kernels *self, int64_t count, const float *x, const float *mask, float *y);
/* dx += dy · mask */
typedef void bl_mul_backward_fn(const bl_kernels *self, int64_t count, const float *mask, const float *dy, float *dx);

/* ==== concat along channels ==== */

/* copy a block x [n, c_part, hw] into y [n, c_total, hw] at channel offset c_off */
typedef void bl_concat_channels_forward_fn(const bl_kernels *self, int n, int c_part, int c_total, int c_off,
                                           int64_t hw, const float *x, float *y);
/* accumulate the slice of dy [n, c_total, hw] at c_off back into dx [n, c_part, hw] */
typedef void bl_concat_channels_backward_fn(const bl_kernels *self, int n, int c_part, int c_total, int c_off,
                                            int64_t hw, const float *dy, float *dx);

/* ==== reductions and loss ==== */

/* out y[0] = (Σ x rounded to float) / divisor (divisor 1: sum; count: mean, the division done in double and
 * rounded once more, as torch's mean). The sum runs in a fixed order (docs/ops/sum.md). */
typedef void bl_sum_forward_fn(const bl_kernels *self, int64_t count, const float *x, double divisor, float *y);
/* binary cross-entropy with logits, weighted mean over n samples:
 * L = (1/n) Σ_i w_i · [max(z_i,0) − z_i·t_i + log(1 + exp(−|z_i|))]   (w NULL → all 1)
 * in z [n], in t [n] (targets in [0,1]), in w [n] or NULL, out loss [1] */
typedef void bl_bce_with_logits_forward_fn(const bl_kernels *self, int n, const float *z, const float *t,
                                           const float *w, float *loss);
/* dz_i += dloss[0] · w_i · (sigmoid(z_i) − t_i)/n ; dloss is the upstream scalar gradient, a one-element buffer
 * of this backend */
typedef void bl_bce_with_logits_backward_fn(const bl_kernels *self, int n, const float *z, const float *t,
                                            const float *w, const float *dloss, float *dz);

/* softmax cross-entropy per pixel, weighted mean over the pixels that are not ignored (torch F.cross_entropy with
 * weight, ignore_index, reduction "mean"): with p = softmax over the c classes of pixel i and t_i its label,
 * L = Σ_i w[t_i]·(log Σ_k e^{z_ik} − z_i,t_i) / Σ_i w[t_i]   (w NULL → all 1; no pixel counted → 0/0 = NaN).
 * in z [n,c,hw], in labels [n,hw], in w [c] or NULL, out loss [1] */
typedef void bl_softmax_cross_entropy_forward_fn(const bl_kernels *self, const bl_class_loss_shape *s, const float *z,
                                                 const float *labels, const float *w, float *loss);
/* dz[n,k,i] += dloss[0]·w[t_i]·(p_ik − [k = t_i]) / Σ_j w[t_j] (0 for ignored pixels).
 * in z, in labels, in w or NULL, in dloss [1], acc dz [n,c,hw] */
typedef void bl_softmax_cross_entropy_backward_fn(const bl_kernels *self, const bl_class_loss_shape *s,
                                                  const float *z, const float *labels, const float *w,
                                                  const float *dloss, float *dz);
/* soft Dice loss over the whole batch: p = softmax over classes, g = one-hot(labels), sums over the pixels that are
 * not ignored; per class I_k = Σ_i p_ik·g_ik, S_k = Σ_i (p_ik + g_ik), dice_k = (2·I_k + ε)/(S_k + ε);
 * L = 1 − mean of dice_k over the classes (1 … c−1 when skip_background).  in z, in labels, out loss [1] */
typedef void bl_dice_loss_forward_fn(const bl_kernels *self, const bl_class_loss_shape *s, const float *z,
                                     const float *labels, float *loss);
/* with a_ik = ∂L/∂p_ik = −(2·g_ik·(S_k + ε) − (2·I_k + ε)) / (m·(S_k + ε)²) for the m averaged classes (0 for the
 * others): dz[n,k,i] += dloss[0]·p_ik·(a_ik − Σ_j a_ij·p_ij).  in z, in labels, in dloss [1], acc dz */
typedef void bl_dice_loss_backward_fn(const bl_kernels *self, const bl_class_loss_shape *s, const float *z,
                                      const float *labels, const float *dloss, float *dz);

/* ==== optimizers (torch.optim formulas; docs/ops/sgd.md, docs/ops/adam.md) ==== */

/* SGD: g = grad + wd·p; if momentum: buf = first ? g : momentum·buf + (1−dampening)·g;
 *      g = nesterov ? g + momentum·buf : buf; p −= lr·g.  io p, in grad, io buf (NULL when momentum == 0) */
typedef void bl_sgd_update_fn(const bl_kernels *self, int64_t count, float *p, const float *grad, float *buf, float lr,
                              float momentum, float dampening, float weight_decay, int nesterov, int first_step);
/* Adam (decoupled == 0): g = grad + wd·p;  AdamW (decoupled != 0): p ·= 1 − lr·wd.
 * m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²;  bc1 = 1 − β1^t;  bc2 = 1 − β2^t;
 * p −= (lr/bc1) · m / (sqrt(v)/sqrt(bc2) + eps).   io p, in grad, io m, io v; step t ≥ 1 */
typedef void bl_adam_update_fn(const bl_kernels *self, int64_t count, float *p, const float *grad, float *m, float *v,
                               float lr, float beta1, float beta2, float eps, float weight_decay, int decoupled,
                               int64_t step);

/* ==== memory: where this backend's buffers live ====
 * Tensor DATA lives in backend memory; tensor headers, the tape and everything else stay in host memory.
 * host_memory != 0: data pointers are ordinary host memory (ref, cpu) and code may read them directly; otherwise
 * (cuda) only kernels touch them and the host moves bytes with upload/download. */

/* 64-byte-aligned memory or NULL; called once per arena chunk, never inside a steady-state step */
typedef void *bl_mem_alloc_fn(size_t bytes);
typedef void bl_mem_free_fn(void *ptr);
/* upload: backend ← host, download: host ← backend, copy: backend ← backend (bytes; all complete before they return
 * as far as the caller can observe; the regions do not overlap) */
typedef void bl_memcpy_fn(void *dst, const void *src, size_t bytes);
/* dst[i] = value */
typedef void bl_fill_fn(int64_t count, float value, float *dst);
/* Optional. The first asynchronous error since the last call (a failed CUDA launch, …) as one line naming the
 * backend ("cuda backend: file:line: what failed: why"), and clears it; NULL when there is none. autograd turns it
 * into the context's sticky error. Empty: the backend never fails asynchronously (ref, cpu). */
typedef const char *bl_take_error_fn(void);

struct bl_kernels {
    const char *name; /* "ref", "cpu", "cuda" */
    int host_memory;  /* see "memory" above */
    const void *state; /* the backend's own data (its options), for its kernels; NULL when it has none */

    bl_sgemm_fn *sgemm;

    bl_conv2d_forward_fn *conv2d_forward;
    bl_conv2d_backward_data_fn *conv2d_backward_data;
    bl_conv2d_backward_filter_fn *conv2d_backward_filter;
    bl_conv2d_forward_nograd_fn *conv2d_forward_nograd; /* optional */
    bl_bias_channels_forward_fn *bias_channels_forward;
    bl_bias_channels_backward_fn *bias_channels_backward;

    bl_batchnorm2d_forward_train_fn *batchnorm2d_forward_train;
    bl_batchnorm2d_forward_eval_fn *batchnorm2d_forward_eval;
    bl_batchnorm2d_eval_stats_fn *batchnorm2d_eval_stats;
    bl_batchnorm2d_backward_fn *batchnorm2d_backward;
    bl_batchnorm2d_relu_forward_eval_fn *batchnorm2d_relu_forward_eval; /* optional */
    bl_batchnorm2d_moments_fn *batchnorm2d_moments;                     /* optional */
    bl_batchnorm2d_backward_dx_fn *batchnorm2d_backward_dx;             /* optional */

    bl_maxpool2d_forward_fn *maxpool2d_forward;
    bl_maxpool2d_backward_fn *maxpool2d_backward;
    bl_avgpool2d_forward_fn *avgpool2d_forward;
    bl_avgpool2d_backward_fn *avgpool2d_backward;
    bl_global_avgpool_forward_fn *global_avgpool_forward;
    bl_global_avgpool_backward_fn *global_avgpool_backward;

    bl_upsample_bilinear2d_forward_fn *upsample_bilinear2d_forward;
    bl_upsample_bilinear2d_backward_fn *upsample_bilinear2d_backward;

    bl_linear_forward_fn *linear_forward;
    bl_linear_backward_fn *linear_backward;

    bl_relu_forward_fn *relu_forward;
    bl_relu_backward_fn *relu_backward;
    bl_relu_backward_inplace_fn *relu_backward_inplace; /* optional */
    bl_sigmoid_forward_fn *sigmoid_forward;
    bl_sigmoid_backward_fn *sigmoid_backward;
    bl_add_forward_fn *add_forward;
    bl_axpy_fn *axpy;
    bl_add_scalar_fn *add_scalar;
    bl_dropout_mask_fn *dropout_mask;
    bl_mul_forward_fn *mul_forward;
    bl_mul_backward_fn *mul_backward;

    bl_concat_channels_forward_fn *concat_channels_forward;
    bl_concat_channels_backward_fn *concat_channels_backward;

    bl_sum_forward_fn *sum_forward;
    bl_bce_with_logits_forward_fn *bce_with_logits_forward;
    bl_bce_with_logits_backward_fn *bce_with_logits_backward;
    bl_softmax_cross_entropy_forward_fn *softmax_cross_entropy_forward;
    bl_softmax_cross_entropy_backward_fn *softmax_cross_entropy_backward;
    bl_dice_loss_forward_fn *dice_loss_forward;
    bl_dice_loss_backward_fn *dice_loss_backward;

    bl_sgd_update_fn *sgd_update;
    bl_adam_update_fn *adam_update;

    bl_mem_alloc_fn *mem_alloc;
    bl_mem_free_fn *mem_free;
    bl_memcpy_fn *upload;
    bl_memcpy_fn *download;
    bl_memcpy_fn *copy;
    bl_fill_fn *fill;
    bl_take_error_fn *take_error; /* optional */
};

/* BL_OK when every required slot of k is filled (name and slots), else BL_ERR_INVALID with
 * "<name> backend: slot <slot> missing" (bl_last_error). bl_ctx_create calls it. */
bl_status bl_kernels_check(const bl_kernels *k);

/* The slots, in table order, for tools and tests that walk the table: the number of slots, and slot i's name, its
 * byte offset in bl_kernels, and whether it is optional. */
typedef struct bl_kernel_slot {
    const char *name;
    size_t offset;
    int optional;
} bl_kernel_slot;
int bl_kernel_slot_count(void);
const bl_kernel_slot *bl_kernel_slot_at(int i);
/* Is slot i of k filled? */
int bl_kernels_has(const bl_kernels *k, int i);

/* The built-in backends. bl_kernels_cpu() picks the fastest SIMD variant the running CPU supports. */
const bl_kernels *bl_kernels_ref(void);
const bl_kernels *bl_kernels_cpu(void);

#endif
