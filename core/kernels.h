/* kernels.h — the op table: one entry per op per backend.
 *
 * A backend (ref, cpu, later cuda) is a bl_kernels struct of function pointers. Kernels work on raw float
 * buffers plus a shape struct; they know nothing about tensors, arenas or the tape (that is autograd's job, in
 * core/op_*.c). Every backend implements the same functions with the same argument order, so the ref backend —
 * plain loops written as the formula — is the oracle the others are tested against.
 *
 * Conventions for every kernel below:
 *   - shapes are NCHW, row-major, contiguous;
 *   - forward kernels WRITE their outputs (no need to zero them first);
 *   - backward kernels ACCUMULATE (+=) into input gradients and parameter gradients. This one rule makes fan-out
 *     (ResNet shortcut, DenseNet concat) and gradient accumulation over several backward calls free;
 *   - a NULL gradient pointer means "not needed": skip that computation;
 *   - reductions run in a fixed order that does not depend on the thread count (bitwise determinism).
 * The comment above each slot gives every buffer's shape and whether it is read (in), written (out) or
 * accumulated (acc). */
#ifndef BLASTO_KERNELS_H
#define BLASTO_KERNELS_H

#include <stddef.h>
#include <stdint.h>

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

typedef struct bl_kernels {
    const char *name; /* "ref", "cpu", "cuda" */

    /* ---- linear algebra ---- */
    /* C[m,n] = alpha · op(A) · op(B) + beta · C, row-major; op(X) = X or Xᵀ (trans_* != 0).
     * A is [m,k] (or [k,m] when trans_a), B is [k,n] (or [n,k] when trans_b). lda/ldb/ldc are row strides.
     * beta == 0 means C is written, never read (so it may hold NaN garbage). */
    void (*sgemm)(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                  const float *b, int ldb, float beta, float *c, int ldc);

    /* ---- conv2d ---- */
    /* in x [n,c_in,h_in,w_in], in w [c_out,c_in,kh,kw], in b [c_out] or NULL, out y [n,c_out,h_out,w_out] */
    void (*conv2d_forward)(const bl_conv2d_shape *s, const float *x, const float *w, const float *b, float *y);
    /* in dy [n,c_out,h_out,w_out], in w, acc dx [n,c_in,h_in,w_in] */
    void (*conv2d_backward_data)(const bl_conv2d_shape *s, const float *dy, const float *w, float *dx);
    /* in x, in dy, acc dw [c_out,c_in,kh,kw], acc db [c_out] or NULL */
    void (*conv2d_backward_filter)(const bl_conv2d_shape *s, const float *x, const float *dy, float *dw, float *db);

    /* ---- batchnorm2d ---- */
    /* training: normalise with the batch's mean and biased variance; update running stats with the UNBIASED
     * variance (torch): running_var = (1−m)·running_var + m·var·N/(N−1), N = n·h·w.
     * in x, in gamma [c], in beta [c], out y, acc-update running_mean/running_var [c] (NULL: no update),
     * out save_mean [c], out save_invstd [c] = 1/sqrt(var_biased + eps) */
    void (*batchnorm2d_forward_train)(const bl_batchnorm2d_shape *s, const float *x, const float *gamma,
                                      const float *beta, float *y, float *running_mean, float *running_var,
                                      float *save_mean, float *save_invstd);
    /* eval: y = gamma·(x − running_mean)/sqrt(running_var + eps) + beta (y == x allowed: bl_batchnorm2d_) */
    void (*batchnorm2d_forward_eval)(const bl_batchnorm2d_shape *s, const float *x, const float *gamma,
                                     const float *beta, const float *running_mean, const float *running_var,
                                     float *y);
    /* eval-mode statistics for the backward: out mean[c] = running_mean[c],
     * out invstd[c] = (float)(1/sqrt((double)running_var[c] + (double)eps)) */
    void (*batchnorm2d_eval_stats)(int c, float eps, const float *running_mean, const float *running_var,
                                   float *mean, float *invstd);
    /* in x, in dy, in gamma, in mean [c], in invstd [c] (the ones forward normalised with);
     * training != 0: mean/invstd are batch statistics and depend on x (full backward);
     * training == 0: they are constants (running stats): dx = dy·gamma·invstd.
     * acc dx (or NULL), acc dgamma [c] (or NULL), acc dbeta [c] (or NULL) */
    void (*batchnorm2d_backward)(const bl_batchnorm2d_shape *s, int training, const float *x, const float *dy,
                                 const float *gamma, const float *mean, const float *invstd, float *dx,
                                 float *dgamma, float *dbeta);

    /* ---- pooling ---- */
    /* in x [n,c,h_in,w_in], out y [n,c,h_out,w_out]. Ties: the first maximum in row-major window order wins
     * (as torch's CPU kernel); backward routes dy there. */
    void (*maxpool2d_forward)(const bl_pool2d_shape *s, const float *x, float *y);
    /* in x, in dy, acc dx */
    void (*maxpool2d_backward)(const bl_pool2d_shape *s, const float *x, const float *dy, float *dx);
    void (*avgpool2d_forward)(const bl_pool2d_shape *s, const float *x, float *y);
    /* in dy, acc dx */
    void (*avgpool2d_backward)(const bl_pool2d_shape *s, const float *dy, float *dx);
    /* in x [nc, hw] → out y [nc]: mean over hw; backward: acc dx[i,j] += dy[i]/hw */
    void (*global_avgpool_forward)(int64_t nc, int64_t hw, const float *x, float *y);
    void (*global_avgpool_backward)(int64_t nc, int64_t hw, const float *dy, float *dx);

    /* ---- linear ---- */
    /* y[n,out] = x[n,in] · wᵀ + b; w [out,in], b [out] or NULL */
    void (*linear_forward)(int n, int in, int out, const float *x, const float *w, const float *b, float *y);
    /* in x, in w, in dy [n,out]; acc dx [n,in], acc dw [out,in], acc db [out] (each may be NULL) */
    void (*linear_backward)(int n, int in, int out, const float *x, const float *w, const float *dy, float *dx,
                            float *dw, float *db);

    /* ---- elementwise ---- */
    /* y = max(x, 0); backward: dx += dy · [x > 0] (the kink x == 0 gets gradient 0, as torch) */
    void (*relu_forward)(int64_t count, const float *x, float *y); /* y == x allowed (bl_relu_) */
    void (*relu_backward)(int64_t count, const float *x, const float *dy, float *dx);
    /* y = 1/(1+exp(−x)); backward from the output: dx += dy · y · (1 − y) */
    void (*sigmoid_forward)(int64_t count, const float *x, float *y);
    void (*sigmoid_backward)(int64_t count, const float *y, const float *dy, float *dx);
    /* y = a + b (y == a allowed: bl_add_) */
    void (*add_forward)(int64_t count, const float *a, const float *b, float *y);
    /* dst += alpha · src (the backward of add, reshape, concat slices, sum, …) */
    void (*axpy)(int64_t count, float alpha, const float *src, float *dst);
    /* dst[i] += scale·alpha[0] for every i (the backward of sum/mean: a scalar gradient broadcast back).
     * alpha is a one-element buffer of this backend (it may live on the device); scale is 1 (sum) or 1/n (mean) */
    void (*add_scalar)(int64_t count, float scale, const float *alpha, float *dst);
    /* dropout mask: mask[i] = u_i ≥ p ? keep_scale : 0 with u_i the (i+1)-th bl_rng_uniform draw of the stream
     * {key, counter 0} (core/rng.h: u_i = (mix64(key + (i+1)·γ) >> 40) · 2⁻²⁴), so any backend can compute
     * element i independently and every backend gives the same mask. out mask [count] */
    void (*dropout_mask)(int64_t count, uint64_t key, float p, float keep_scale, float *mask);
    /* y = x · mask (mask holds 0 or 1/(1−p)); backward: dx += dy · mask */
    void (*mul_forward)(int64_t count, const float *x, const float *mask, float *y);
    void (*mul_backward)(int64_t count, const float *mask, const float *dy, float *dx);

    /* ---- concat along channels ----
     * Copy a block x [n, c_part, hw] into y [n, c_total, hw] at channel offset c_off (forward),
     * or accumulate the slice of dy back into dx [n, c_part, hw] (backward). */
    void (*concat_channels_forward)(int n, int c_part, int c_total, int c_off, int64_t hw, const float *x,
                                    float *y);
    void (*concat_channels_backward)(int n, int c_part, int c_total, int c_off, int64_t hw, const float *dy,
                                     float *dx);

    /* ---- reductions and loss ---- */
    /* out y[0] = (Σ x rounded to float) / divisor (divisor 1: sum; count: mean, the division done in double and
     * rounded once more, as torch's mean). The sum runs in a fixed order (docs/ops/sum.md). */
    void (*sum_forward)(int64_t count, const float *x, double divisor, float *y);
    /* binary cross-entropy with logits, weighted mean over n samples:
     * L = (1/n) Σ_i w_i · [max(z_i,0) − z_i·t_i + log(1 + exp(−|z_i|))]   (w NULL → all 1)
     * in z [n], in t [n] (targets in [0,1]), in w [n] or NULL, out loss [1] */
    void (*bce_with_logits_forward)(int n, const float *z, const float *t, const float *w, float *loss);
    /* dz_i += dloss[0] · w_i · (sigmoid(z_i) − t_i)/n ; dloss is the upstream scalar gradient, a one-element
     * buffer of this backend */
    void (*bce_with_logits_backward)(int n, const float *z, const float *t, const float *w, const float *dloss,
                                     float *dz);

    /* ---- optimizers (torch.optim formulas; see docs/ops/sgd.md, docs/ops/adam.md) ---- */
    /* SGD: g = grad + wd·p; if momentum: buf = first ? g : momentum·buf + (1−dampening)·g;
     *      g = nesterov ? g + momentum·buf : buf; p −= lr·g.  io p, in grad, io buf (NULL when momentum == 0) */
    void (*sgd_update)(int64_t count, float *p, const float *grad, float *buf, float lr, float momentum,
                       float dampening, float weight_decay, int nesterov, int first_step);
    /* Adam (decoupled == 0): g = grad + wd·p;  AdamW (decoupled != 0): p ·= 1 − lr·wd.
     * m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²;  bc1 = 1 − β1^t;  bc2 = 1 − β2^t;
     * p −= (lr/bc1) · m / (sqrt(v)/sqrt(bc2) + eps).   io p, in grad, io m, io v; step t ≥ 1 */
    void (*adam_update)(int64_t count, float *p, const float *grad, float *m, float *v, float lr, float beta1,
                        float beta2, float eps, float weight_decay, int decoupled, int64_t step);

    /* ---- memory: where this backend's buffers live ----
     * Tensor DATA lives in backend memory; tensor headers, the tape and everything else stay in host memory.
     * host_memory != 0: data pointers are ordinary host memory (ref, cpu) and code may read them directly;
     * otherwise (cuda) only kernels touch them and the host moves bytes with upload/download.
     * mem_alloc returns 64-byte-aligned memory or NULL; it is called once per arena chunk, never inside a
     * steady-state step. upload: backend ← host, download: host ← backend, copy: backend ← backend (bytes; all
     * complete before they return as far as the caller can observe; the regions do not overlap).
     * fill: dst[i] = value. */
    int host_memory;
    void *(*mem_alloc)(size_t bytes);
    void (*mem_free)(void *ptr);
    void (*upload)(void *dst, const void *src, size_t bytes);
    void (*download)(void *dst, const void *src, size_t bytes);
    void (*copy)(void *dst, const void *src, size_t bytes);
    void (*fill)(int64_t count, float value, float *dst);
    /* The first asynchronous error since the last call (a failed CUDA launch, …) as one line naming the backend
     * ("cuda backend: file:line: what failed: why"), and clears it;
     * NULL when there is none (host backends: always NULL, the slot may be NULL). autograd turns it into the
     * context's sticky error. */
    const char *(*take_error)(void);

    /* ==== fused fast paths (issue 8). A backend may leave these NULL: the op then runs the unfused kernels. ==== */
    /* eval batchnorm then ReLU in one pass: y = max(γ·(x − running_mean)/√(running_var + eps) + β, 0), bit for bit
     * relu_forward applied to batchnorm2d_forward_eval's output (ref: those two kernels in sequence).
     * in x [n,c,h,w], in gamma, beta, running_mean, running_var [c], out y [n,c,h,w] */
    void (*batchnorm2d_relu_forward_eval)(const bl_batchnorm2d_shape *s, const float *x, const float *gamma,
                                          const float *beta, const float *running_mean, const float *running_var,
                                          float *y);
    /* the gradient through a ReLU folded into the op before it (bl_relu_), in place: g[i] = y[i] > 0 ? 0 + g[i]
     * : +0 — bit for bit what relu_backward(count, y, g, dz) leaves in a zeroed dz (0 + g turns −0 into +0).
     * in y (the ReLU's output), io g [count] */
    void (*relu_backward_inplace)(int64_t count, const float *y, float *g);

    /* ==== transform algorithms: faster, with their own (larger) documented error bound. NULL: the plain slot. ==== */
    /* conv2d_forward for a result that will not be differentiated (the op records no tape entry: inference and
     * evaluation without gradients): the same contract, but it may compute by a transform algorithm — cpu:
     * Winograd F(4×4, 3×3) for 3×3 stride-1 layers (core/conv2d_winograd.c; its bound: docs/numerics.md,
     * "Winograd F(4×4, 3×3)"). A differentiated forward keeps conv2d_forward: through batch statistics and ReLU
     * kinks a forward's rounding error reaches the gradients amplified (measured there). */
    void (*conv2d_forward_eval)(const bl_conv2d_shape *s, const float *x, const float *w, const float *b, float *y);
} bl_kernels;

/* The built-in backends. bl_kernels_cpu() picks the fastest SIMD variant the running CPU supports. */
const bl_kernels *bl_kernels_ref(void);
const bl_kernels *bl_kernels_cpu(void);

#endif
