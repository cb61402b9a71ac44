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
};

const bl_kernels *bl_kernels_ref(void) { return &ref_kernels; }
