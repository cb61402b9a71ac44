/* optim_avx2.c — the SGD and Adam updates compiled with -mavx2 -mfma, for the cpu backend's threaded
 * optimizer kernels (core/cpu/elementwise.c calls these when the CPU has AVX2 + FMA).
 *
 * What it is: the loops of ref's sgd_update / adam_update (core/ref/ops.h, float variant), the same
 * expressions in the same order. Their fused multiply-adds are written fmaf() as in ref; compiled without FMA
 * hardware those are calls into libm (one per element, most of ref's time), here the compiler emits vfmadd —
 * the same single rounding — and vectorises the loop. Every other operation is a float +, ·, / or √ of floats
 * (sqrt of a float widened to double and rounded back equals the float square root), so the results are bitwise
 * ref's (the op-test harness, test_op_sgd and test_op_adam). -ffp-contract=off still holds: no multiply and add are fused that ref
 * does not fuse. */
#include <math.h>
#include <stdint.h>

#include "core/cpu/cpu_ops.h"

/* io p [count], in grad [count], io buf [count] (NULL when momentum == 0) — ref's sgd_update */
void sgd_update_avx2(const bl_kernels *self, int64_t count, float *restrict p, const float *restrict grad,
                     float *restrict buf, float lr, float momentum, float dampening, float weight_decay, int nesterov,
                     int first_step) {
    const float one_minus_dampening = (float)(1.0 - (double)dampening);
    const float minus_lr = (float)(-(double)lr);
    for (int64_t i = 0; i < count; i++) {
        float d = grad[i];
        if (weight_decay != 0) d = fmaf(weight_decay, p[i], d);
        if (momentum != 0) {
            if (first_step) buf[i] = d;
            else buf[i] = fmaf(one_minus_dampening, d, buf[i] * momentum);
            d = nesterov ? fmaf(momentum, buf[i], d) : buf[i];
        }
        p[i] = fmaf(minus_lr, d, p[i]);
    }
}

/* io p, in grad, io m, io v — [count]; step t ≥ 1 — ref's adam_update */
void adam_update_avx2(const bl_kernels *self, int64_t count, float *restrict p, const float *restrict grad,
                      float *restrict m, float *restrict v, float lr, float beta1, float beta2, float eps,
                      float weight_decay, int decoupled, int64_t step) {
    double bias_correction1 = 1.0 - pow((double)beta1, (double)step);
    double bias_correction2 = 1.0 - pow((double)beta2, (double)step);
    const float minus_step_size = (float)(-((double)lr / bias_correction1));
    const float bias_correction2_sqrt = (float)sqrt(bias_correction2);
    const float decay_factor = (float)(1.0 - (double)lr * (double)weight_decay);
    const float one_minus_beta1 = (float)(1.0 - (double)beta1), one_minus_beta2 = (float)(1.0 - (double)beta2);
    for (int64_t i = 0; i < count; i++) {
        float g = grad[i];
        if (decoupled) p[i] = p[i] * decay_factor;
        else if (weight_decay != 0) g = fmaf(weight_decay, p[i], g);
        m[i] = fmaf(one_minus_beta1, g, m[i] * beta1);
        v[i] = fmaf(one_minus_beta2 * g, g, v[i] * beta2);
        float denom = sqrtf(v[i]) / bias_correction2_sqrt + eps; /* ref: (float)sqrt((double)v): the same value */
        p[i] = p[i] + (minus_step_size * m[i]) / denom;
    }
}
