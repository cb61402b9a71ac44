/* core/ref/optim.h — the ref kernels of the SGD and Adam/AdamW updates.
 * A template compiled twice (float, then double) by core/ref/ref.c: see core/ref/ops.h for the macros it
 * uses (real, REF_FN, REAL_FMA) and the numerics every ref kernel shares. Not a header: no include guard. */

/* ============================================================================================================
 * optimizers — torch 1.13's _single_tensor_sgd / _single_tensor_adam / _single_tensor_adamw (the CPU default),
 * one torch tensor operation per line (quoted on the right), each rounded to `real` as torch's float op is.
 *
 * REAL_FMA(a, b, c) = a·b + c with ONE rounding (C's fma/fmaf). It stands exactly where torch's compiled CPU
 * kernels fuse: `add(x, alpha=a)` is written with an explicit fused multiply-add (Vectorized fmadd), and
 * `addcmul` (self + value·t1·t2) is contracted to fma(value·t1, t2, self) by the compiler; `addcdiv` computes
 * self + (value·t1)/t2. With these the float variant reproduces torch 1.13 (Debian build, AVX2 kernels) bit for
 * bit — measured over 5 steps of 1000 and 1003 elements for SGD, Nesterov SGD, Adam and AdamW. Where torch runs
 * without FMA hardware its results can differ from ours in the last bit; the formulas are the same.
 * ========================================================================================================== */

/* d = grad + wd·p;  if momentum: buf = first ? d : momentum·buf + (1 − dampening)·d,
 *                                d = nesterov ? d + momentum·buf : buf;   p = p − lr·d.
 * (Dampening is not applied on the first step: torch starts the buffer as a copy of d.)
 * io p [count], in grad [count], io buf [count] (NULL and unused when momentum == 0) */
void REF_FN(sgd_update_ref)(REF_SELF int64_t count, real *p, const real *grad, real *buf, float lr, float momentum,
                        float dampening, float weight_decay, int nesterov, int first_step) {
    const real one_minus_dampening = (real)(1.0 - (double)dampening);
    const real minus_lr = (real)(-(double)lr);
    for (int64_t i = 0; i < count; i++) {
        real d = grad[i];
        if (weight_decay != 0) d = REAL_FMA((real)weight_decay, p[i], d); /* d_p = d_p.add(param, alpha=wd) */
        if (momentum != 0) {
            if (first_step) buf[i] = d;                                    /* buf = torch.clone(d_p) */
            else buf[i] = REAL_FMA(one_minus_dampening, d, buf[i] * (real)momentum); /* buf.mul_(μ).add_(d_p, 1−τ) */
            d = nesterov ? REAL_FMA((real)momentum, buf[i], d) : buf[i]; /* d_p = d_p.add(buf, alpha=μ) or buf */
        }
        p[i] = REAL_FMA(minus_lr, d, p[i]);                               /* param.add_(d_p, alpha=−lr) */
    }
}

/* Adam (decoupled == 0): g = grad + wd·p.   AdamW (decoupled != 0): p = p·(1 − lr·wd), g = grad.
 * m = β1·m + (1 − β1)·g;  v = β2·v + (1 − β2)·g·g;  bc1 = 1 − β1^t;  bc2 = 1 − β2^t;
 * denom = √v/√bc2 + eps;  p = p − (lr/bc1)·m/denom.
 * Torch's order: √bc2 and step_size = lr/bc1 are computed once per step in double; eps is added to √v/√bc2
 * (outside the root). Same values as the textbook m̂ = m/bc1, v̂ = v/bc2, p −= lr·m̂/(√v̂ + eps).
 * io p [count], in grad [count], io m [count], io v [count]; step t ≥ 1 counts this update */
void REF_FN(adam_update_ref)(REF_SELF int64_t count, real *p, const real *grad, real *m, real *v, float lr, float beta1,
                         float beta2, float eps, float weight_decay, int decoupled, int64_t step) {
    double bias_correction1 = 1.0 - pow((double)beta1, (double)step);
    double bias_correction2 = 1.0 - pow((double)beta2, (double)step);
    const real minus_step_size = (real)(-((double)lr / bias_correction1));
    const real bias_correction2_sqrt = (real)sqrt(bias_correction2);
    const real decay_factor = (real)(1.0 - (double)lr * (double)weight_decay);
    const real one_minus_beta1 = (real)(1.0 - (double)beta1), one_minus_beta2 = (real)(1.0 - (double)beta2);
    for (int64_t i = 0; i < count; i++) {
        real g = grad[i];
        if (decoupled) p[i] = p[i] * decay_factor;                             /* param.mul_(1 − lr·wd) */
        else if (weight_decay != 0) g = REAL_FMA((real)weight_decay, p[i], g); /* grad.add(param, alpha=wd) */
        m[i] = REAL_FMA(one_minus_beta1, g, m[i] * (real)beta1);       /* exp_avg.mul_(β1).add_(g, alpha=1−β1) */
        v[i] = REAL_FMA(one_minus_beta2 * g, g, v[i] * (real)beta2);   /* exp_avg_sq.mul_(β2).addcmul_(g, g, 1−β2) */
        real denom = (real)sqrt((double)v[i]) / bias_correction2_sqrt + (real)eps; /* (v.sqrt() / √bc2).add_(eps) */
        p[i] = p[i] + (minus_step_size * m[i]) / denom;                /* param.addcdiv_(m, denom, −step_size) */
    }
}
