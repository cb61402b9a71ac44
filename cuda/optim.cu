// optim.cu — the SGD and Adam/AdamW parameter updates, one thread per parameter element, one pass over memory.
//
// These are ref's updates (core/ref/ops.h, optimizer section) operation for operation: the same float
// operations in the same order, each rounded to float, a fused multiply-add exactly where ref writes fmaf
// (__fmaf_rn is IEEE fmaf with one rounding), nothing else fused (--fmad=false), IEEE division and square root
// (no fast math). The per-step scalars (1 − β, lr/bc1, √bc2, 1 − lr·wd) are computed on the host in double from
// the float hyper-parameters exactly as ref computes them, then rounded to float. Results are therefore bitwise
// equal to ref's.
#include <math.h>

#include "cuda/common.h"

static bl_sgd_update_fn bl_cuda_sgd_update;
static bl_adam_update_fn bl_cuda_adam_update;

__global__ static void sgd_kernel(int64_t count, float *p, const float *grad, float *buf, float minus_lr,
                                  float momentum, float one_minus_dampening, float weight_decay, int nesterov,
                                  int first_step) {
    GRID_STRIDE_LOOP(i, count) {
        float d = grad[i];
        if (weight_decay != 0) d = __fmaf_rn(weight_decay, p[i], d);  // d_p = d_p.add(param, alpha=wd)
        if (momentum != 0) {
            float b;
            if (first_step)
                b = d;  // buf = clone(d_p)
            else
                b = __fmaf_rn(one_minus_dampening, d, __fmul_rn(buf[i], momentum));  // buf.mul_(μ).add_(d_p, 1−τ)
            buf[i] = b;
            d = nesterov ? __fmaf_rn(momentum, b, d) : b;  // d_p = d_p.add(buf, alpha=μ) or buf
        }
        p[i] = __fmaf_rn(minus_lr, d, p[i]);  // param.add_(d_p, alpha=−lr)
    }
}

static void bl_cuda_sgd_update(const bl_kernels *, int64_t count, float *p, const float *grad, float *buf, float lr,
                        float momentum, float dampening, float weight_decay, int nesterov, int first_step) {
    if (count <= 0) return;
    const float one_minus_dampening = (float)(1.0 - (double)dampening);
    const float minus_lr = (float)(-(double)lr);
    sgd_kernel<<<bl_cuda_blocks(count), BL_CUDA_THREADS, 0, bl_cuda.stream>>>(
        count, p, grad, buf, minus_lr, momentum, one_minus_dampening, weight_decay, nesterov, first_step);
    CUDA_LAUNCHED("sgd_kernel");
}

__global__ static void adam_kernel(int64_t count, float *p, const float *grad, float *m, float *v, float beta1,
                                   float beta2, float eps, float weight_decay, int decoupled, float minus_step_size,
                                   float bias_correction2_sqrt, float decay_factor, float one_minus_beta1,
                                   float one_minus_beta2) {
    GRID_STRIDE_LOOP(i, count) {
        float g = grad[i], pi = p[i];
        if (decoupled)
            pi = __fmul_rn(pi, decay_factor);  // param.mul_(1 − lr·wd)
        else if (weight_decay != 0)
            g = __fmaf_rn(weight_decay, pi, g);                            // grad.add(param, alpha=wd)
        float mi = __fmaf_rn(one_minus_beta1, g, __fmul_rn(m[i], beta1));  // exp_avg.mul_(β1).add_(g, 1−β1)
        float vi = __fmaf_rn(__fmul_rn(one_minus_beta2, g), g, __fmul_rn(v[i], beta2));  // .mul_(β2).addcmul_(g,g,1−β2)
        float denom = __fadd_rn(__fdiv_rn((float)sqrt((double)vi), bias_correction2_sqrt), eps);  // √v/√bc2 + eps
        pi = __fadd_rn(pi, __fdiv_rn(__fmul_rn(minus_step_size, mi), denom));  // param.addcdiv_(m, denom, −step)
        m[i] = mi;
        v[i] = vi;
        p[i] = pi;
    }
}

static void bl_cuda_adam_update(const bl_kernels *, int64_t count, float *p, const float *grad, float *m, float *v, float lr,
                         float beta1, float beta2, float eps, float weight_decay, int decoupled, int64_t step) {
    if (count <= 0) return;
    double bias_correction1 = 1.0 - pow((double)beta1, (double)step);
    double bias_correction2 = 1.0 - pow((double)beta2, (double)step);
    const float minus_step_size = (float)(-((double)lr / bias_correction1));
    const float bias_correction2_sqrt = (float)sqrt(bias_correction2);
    const float decay_factor = (float)(1.0 - (double)lr * (double)weight_decay);
    const float one_minus_beta1 = (float)(1.0 - (double)beta1), one_minus_beta2 = (float)(1.0 - (double)beta2);
    adam_kernel<<<bl_cuda_blocks(count), BL_CUDA_THREADS, 0, bl_cuda.stream>>>(
        count, p, grad, m, v, beta1, beta2, eps, weight_decay, decoupled, minus_step_size, bias_correction2_sqrt,
        decay_factor, one_minus_beta1, one_minus_beta2);
    CUDA_LAUNCHED("adam_kernel");
}

void bl_cuda_optim_slots(bl_kernels *k) {
    k->sgd_update = bl_cuda_sgd_update;
    k->adam_update = bl_cuda_adam_update;
}
