/* ref.c — the `ref` backend: instantiates the op templates of core/ref/ops.h for float and for double, and
 * returns the float variants as the op table named "ref".
 *
 * What it is: plain loops, the audited oracle (see core/ref/ref.h for the contract, core/ref/ops.h for the
 * numerics).
 * What it is not: fast, threaded, or validated — shapes were checked by the caller (core/op_*.c).
 *
 * The template is included twice in this one translation unit, so the element type is a macro (`real`) rather
 * than a typedef: C forbids redefining a typedef to a different type in the same scope. */
#include "core/ref/ref.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

/* σ(x) = 1/(1 + e^−x) in double, without overflow: for x ≥ 0, e^−x ≤ 1; for x < 0 the equal form
 * e^x/(1 + e^x) keeps the exponent ≤ 0. Both branches are within a few double ulps of the true value for every
 * finite x, far below float resolution. */
static double sigmoid_stable(double x) {
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

/* log(1 + e^−|z|) in double: the e^−|z| ≤ 1 never overflows and log1p keeps full accuracy when it is tiny. */
static double softplus_of_minus_abs(double z) { return log1p(exp(-fabs(z))); }

/* The output positions (along one axis) whose pooling window covers input position i:
 * o·stride − pad ≤ i ≤ o·stride − pad + kernel − 1  ⇔  ⌈(i + pad − kernel + 1)/stride⌉ ≤ o ≤ ⌊(i + pad)/stride⌋,
 * clipped to [0, out − 1]. An empty range comes back as first > last. */
static void pool_windows_covering(int i, int kernel, int stride, int pad, int out, int *first, int *last) {
    int lowest = i + pad - kernel + 1;
    *first = lowest <= 0 ? 0 : (lowest + stride - 1) / stride;
    *last = (i + pad) / stride;
    if (*last > out - 1) *last = out - 1;
}

/* Bilinear resize along one axis (align_corners=False, kernels.h bl_resize_shape): output o samples the input at
 * src = (o + 0.5)·(in/out) − 0.5, clamped at 0, between index[0] = ⌊src⌋ and index[1] = min(index[0] + 1, in − 1)
 * with weights 1 − λ and λ = src − index[0]. In double: torch's float32 path computes the same points in float and
 * its weights differ by a few float ulps (docs/ops/upsample_bilinear2d.md). */
typedef struct bilinear_tap {
    int index[2];
    double weight[2];
} bilinear_tap;

static bilinear_tap bilinear_tap_at(int o, int in, int out) {
    double src = ((double)in / (double)out) * ((double)o + 0.5) - 0.5;
    if (src < 0) src = 0;
    int i0 = (int)src;
    if (i0 > in - 1) i0 = in - 1;
    double lambda = src - i0;
    return (bilinear_tap){{i0, i0 < in - 1 ? i0 + 1 : i0}, {1.0 - lambda, lambda}};
}

/* The weight input i gets from a tap (both weights when both taps are i, at the last row or column) */
static double bilinear_weight_of(bilinear_tap t, int i) {
    return (t.index[0] == i ? t.weight[0] : 0.0) + (t.index[1] == i ? t.weight[1] : 0.0);
}

/* The outputs whose taps include input i: index[0] ≤ i ≤ index[1]. Both indices grow with o, so these are the
 * contiguous range [first, last], found by two binary searches (empty: first > last). */
static void bilinear_outputs_of(int i, int in, int out, int *first, int *last) {
    int lo = 0, hi = out; /* first o with index[1] ≥ i */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (bilinear_tap_at(mid, in, out).index[1] >= i) hi = mid;
        else lo = mid + 1;
    }
    *first = lo;
    lo = 0, hi = out; /* first o with index[0] > i */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (bilinear_tap_at(mid, in, out).index[0] > i) hi = mid;
        else lo = mid + 1;
    }
    *last = lo - 1;
}

/* A pixel's label (a float holding an integer) as a class index, or CLASS_IGNORED (== ignore_index), or
 * CLASS_INVALID (anything else: not an integer, out of range, NaN). */
enum { CLASS_IGNORED = -1, CLASS_INVALID = -2 };
static int class_of(double label, int classes, int ignore_index) {
    if (label == (double)ignore_index) return CLASS_IGNORED;
    if (!(label >= 0 && label < classes) || label != floor(label)) return CLASS_INVALID;
    return (int)label;
}

/* ---- float variants: <slot>_ref ---- */
#define real float
#define REAL_FMA fmaf
#define REF_FN(name) name
#define REF_SELF const bl_kernels *self,
#include "core/ref/ops.h"
#undef REF_SELF
#undef REF_FN
#undef REAL_FMA
#undef real

/* ---- double variants: <slot>_ref_f64 ---- */
#define real double
#define REAL_FMA fma
#define REF_FN(name) name##_f64
#define REF_SELF
#include "core/ref/ops.h"
#undef REF_SELF
#undef REF_FN
#undef REAL_FMA
#undef real

/* mask[i] = u_i ≥ p ? keep_scale : 0, u_i the (i+1)-th uniform draw of the stream {key, 0} (kernels.h) */
void dropout_mask_ref(const bl_kernels *self, int64_t count, uint64_t key, float p, float keep_scale, float *mask) {
    bl_rng r = {key, 0};
    for (int64_t i = 0; i < count; i++) mask[i] = bl_rng_uniform(&r) >= p ? keep_scale : 0.0f;
}

/* ---- host memory ---- */
#define HOST_ALIGN 64
void *host_mem_alloc(size_t bytes) {
    if (bytes > SIZE_MAX - HOST_ALIGN) return NULL;
    return aligned_alloc(HOST_ALIGN, (bytes + HOST_ALIGN - 1) / HOST_ALIGN * HOST_ALIGN);
}
void host_mem_free(void *ptr) { free(ptr); }
void host_memcpy(void *dst, const void *src, size_t bytes) {
    if (bytes) memcpy(dst, src, bytes);
}
void host_fill(int64_t count, float value, float *dst) {
    if (value == 0.0f && !signbit(value)) {
        memset(dst, 0, (size_t)count * sizeof(float));
        return;
    }
    for (int64_t i = 0; i < count; i++) dst[i] = value;
}

/* ref's relu_backward into a zeroed buffer, written over g: (float)((double)0 + g) where y > 0, else +0 */
void relu_backward_inplace_ref(const bl_kernels *self, int64_t count, const float *y, float *g) {
    for (int64_t i = 0; i < count; i++) g[i] = y[i] > 0 ? (float)(0.0 + (double)g[i]) : 0.0f;
}

/* The fused slot's oracle is the composition it replaces: batchnorm eval, then ReLU over the result in place
 * (ReLU reads and writes the same index, so in place is the same as into a second buffer). */
void batchnorm2d_relu_forward_eval_ref(const bl_kernels *self, const bl_batchnorm2d_shape *s, const float *x,
                                       const float *gamma, const float *beta, const float *running_mean,
                                       const float *running_var, float *y) {
    batchnorm2d_forward_eval_ref(NULL, s, x, gamma, beta, running_mean, running_var, y);
    relu_forward_ref(NULL, (int64_t)s->n * s->c * s->h * s->w, y, y);
}

static const bl_kernels ref_kernels = {
    .name = "ref",
    .sgemm = sgemm_ref,
    .conv2d_forward = conv2d_forward_ref,
    .conv2d_backward_data = conv2d_backward_data_ref,
    .conv2d_backward_filter = conv2d_backward_filter_ref,
    .bias_channels_forward = bias_channels_forward_ref,
    .bias_channels_backward = bias_channels_backward_ref,
    .batchnorm2d_forward_train = batchnorm2d_forward_train_ref,
    .batchnorm2d_forward_eval = batchnorm2d_forward_eval_ref,
    .batchnorm2d_eval_stats = batchnorm2d_eval_stats_ref,
    .batchnorm2d_backward = batchnorm2d_backward_ref,
    .maxpool2d_forward = maxpool2d_forward_ref,
    .maxpool2d_backward = maxpool2d_backward_ref,
    .avgpool2d_forward = avgpool2d_forward_ref,
    .avgpool2d_backward = avgpool2d_backward_ref,
    .global_avgpool_forward = global_avgpool_forward_ref,
    .global_avgpool_backward = global_avgpool_backward_ref,
    .upsample_bilinear2d_forward = upsample_bilinear2d_forward_ref,
    .upsample_bilinear2d_backward = upsample_bilinear2d_backward_ref,
    .linear_forward = linear_forward_ref,
    .linear_backward = linear_backward_ref,
    .relu_forward = relu_forward_ref,
    .relu_backward = relu_backward_ref,
    .sigmoid_forward = sigmoid_forward_ref,
    .sigmoid_backward = sigmoid_backward_ref,
    .add_forward = add_forward_ref,
    .axpy = axpy_ref,
    .add_scalar = add_scalar_ref,
    .dropout_mask = dropout_mask_ref,
    .mul_forward = mul_forward_ref,
    .mul_backward = mul_backward_ref,
    .concat_channels_forward = concat_channels_forward_ref,
    .concat_channels_backward = concat_channels_backward_ref,
    .sum_forward = sum_forward_ref,
    .bce_with_logits_forward = bce_with_logits_forward_ref,
    .bce_with_logits_backward = bce_with_logits_backward_ref,
    .softmax_cross_entropy_forward = softmax_cross_entropy_forward_ref,
    .softmax_cross_entropy_backward = softmax_cross_entropy_backward_ref,
    .dice_loss_forward = dice_loss_forward_ref,
    .dice_loss_backward = dice_loss_backward_ref,
    .sgd_update = sgd_update_ref,
    .adam_update = adam_update_ref,
    .host_memory = 1,
    .mem_alloc = host_mem_alloc,
    .mem_free = host_mem_free,
    .upload = host_memcpy,
    .download = host_memcpy,
    .copy = host_memcpy,
    .fill = host_fill,
    .take_error = NULL,
    .batchnorm2d_relu_forward_eval = batchnorm2d_relu_forward_eval_ref,
    .relu_backward_inplace = relu_backward_inplace_ref,
    .batchnorm2d_moments = batchnorm2d_moments_ref,
    .batchnorm2d_backward_dx = batchnorm2d_backward_dx_ref,
};

const bl_kernels *bl_kernels_ref(void) { return &ref_kernels; }
