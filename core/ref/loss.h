/* core/ref/loss.h — the ref kernels of sum / mean and binary cross-entropy with logits.
 * A template compiled twice (float, then double) by core/ref/ref.c: see core/ref/ops.h for the macros it
 * uses (real, REF_FN, REAL_FMA) and the numerics every ref kernel shares. Not a header: no include guard. */

/* ============================================================================================================
 * reductions and loss
 * ========================================================================================================== */

/* y[0] = (Σ x)/divisor: one sequential double sum in index order, rounded to `real`, then divided in double
 * and rounded again (divisor 1 leaves the sum as it is; mean passes the count). docs/ops/sum.md.
 * in x [count], out y [1] */
void REF_FN(sum_forward_ref)(REF_SELF int64_t count, const real *x, double divisor, real *y) {
    double sum = 0.0;
    for (int64_t i = 0; i < count; i++) sum += x[i];
    real rounded = (real)sum;
    y[0] = divisor == 1.0 ? rounded : (real)((double)rounded / divisor);
}

/* L = (1/n)·Σ_i w_i·[max(z_i,0) − z_i·t_i + log(1 + e^−|z_i|)]  (w NULL → 1). This is −w·[t·log σ(z) +
 * (1 − t)·log(1 − σ(z))] rewritten so that no exp overflows and no log sees 0 (docs/ops/bce_with_logits.md).
 * n == 0 gives 0/0 = NaN, as torch's mean of nothing.
 * in z [n], in t [n], in w [n] or NULL, out loss [1] */
void REF_FN(bce_with_logits_forward_ref)(REF_SELF int n, const real *z, const real *t, const real *w, real *loss) {
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        double zi = z[i], ti = t[i];
        double weight = w ? (double)w[i] : 1.0;
        total += weight * ((zi > 0 ? zi : 0.0) - zi * ti + softplus_of_minus_abs(zi));
    }
    loss[0] = (real)(total / (double)n);
}

/* ∂L/∂z_i = dloss·w_i·(σ(z_i) − t_i)/n.   in z [n], in t [n], in w [n] or NULL, in dloss [1], acc dz [n] */
void REF_FN(bce_with_logits_backward_ref)(REF_SELF int n, const real *z, const real *t, const real *w,
                                          const real *dloss_in, real *dz) {
    real dloss = dloss_in[0];
    for (int i = 0; i < n; i++) {
        double weight = w ? (double)w[i] : 1.0;
        dz[i] = (real)(dz[i] + (double)dloss * weight * (sigmoid_stable(z[i]) - t[i]) / (double)n);
    }
}
