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

/* ============================================================================================================
 * per-pixel classification losses: softmax cross-entropy and soft Dice (docs/ops/softmax_cross_entropy.md,
 * docs/ops/dice_loss.md). Logit k of pixel p of sample b is z[(b·c + k)·hw + p]; its label labels[b·hw + p].
 * The softmax of a pixel is evaluated in double from its maximum logit (no exp overflows).
 * ========================================================================================================== */

/* log Σ_k e^{z_k} of one pixel (the c logits at stride hw), in double */
static double REF_FN(log_sum_exp_of_pixel)(const real *z, int c, int64_t hw) {
    double top = z[0];
    for (int k = 1; k < c; k++) top = fmax(top, (double)z[k * hw]);
    double sum = 0.0;
    for (int k = 0; k < c; k++) sum += exp((double)z[k * hw] - top);
    return top + log(sum);
}

/* L = Σ_i w[t_i]·(lse_i − z_i,t_i) / Σ_i w[t_i] over the pixels not ignored, both sums in double in pixel order.
 * in z [n,c,hw], in labels [n,hw], in w [c] or NULL, out loss [1] (NaN for an invalid label) */
void REF_FN(softmax_cross_entropy_forward_ref)(REF_SELF const bl_class_loss_shape *s, const real *z,
                                               const real *labels, const real *w, real *loss) {
    double total = 0.0, weight_sum = 0.0;
    for (int b = 0; b < s->n; b++)
        for (int64_t p = 0; p < s->hw; p++) {
            int t = class_of(labels[b * s->hw + p], s->c, s->ignore_index);
            if (t == CLASS_IGNORED) continue;
            if (t == CLASS_INVALID) {
                loss[0] = (real)NAN;
                return;
            }
            const real *zp = z + (int64_t)b * s->c * s->hw + p;
            double weight = w ? (double)w[t] : 1.0;
            total += weight * (REF_FN(log_sum_exp_of_pixel)(zp, s->c, s->hw) - (double)zp[t * s->hw]);
            weight_sum += weight;
        }
    loss[0] = (real)(total / weight_sum);
}

/* Σ_i w[t_i] over the pixels not ignored; NaN when a label is invalid */
static double REF_FN(class_weight_sum)(const bl_class_loss_shape *s, const real *labels, const real *w) {
    double weight_sum = 0.0;
    for (int64_t i = 0; i < (int64_t)s->n * s->hw; i++) {
        int t = class_of(labels[i], s->c, s->ignore_index);
        if (t == CLASS_INVALID) return NAN;
        if (t != CLASS_IGNORED) weight_sum += w ? (double)w[t] : 1.0;
    }
    return weight_sum;
}

/* dz[b,k,p] += dloss·w[t]·(p_k − [k = t]) / Σ w, the product and quotient in double, left to right.
 * in z, in labels, in w or NULL, in dloss [1], acc dz [n,c,hw] (every element NaN for an invalid label) */
void REF_FN(softmax_cross_entropy_backward_ref)(REF_SELF const bl_class_loss_shape *s, const real *z,
                                                const real *labels, const real *w, const real *dloss, real *dz) {
    double weight_sum = REF_FN(class_weight_sum)(s, labels, w);
    for (int b = 0; b < s->n; b++)
        for (int64_t p = 0; p < s->hw; p++) {
            int t = class_of(labels[b * s->hw + p], s->c, s->ignore_index);
            if (t == CLASS_IGNORED) continue;
            const real *zp = z + (int64_t)b * s->c * s->hw + p;
            real *dzp = dz + (int64_t)b * s->c * s->hw + p;
            double lse = REF_FN(log_sum_exp_of_pixel)(zp, s->c, s->hw);
            double weight = t == CLASS_INVALID ? NAN : w ? (double)w[t] : 1.0;
            for (int k = 0; k < s->c; k++) {
                double prob = exp((double)zp[k * s->hw] - lse);
                dzp[k * s->hw] =
                    (real)(dzp[k * s->hw] + (double)dloss[0] * weight * (prob - (k == t ? 1.0 : 0.0)) / weight_sum);
            }
        }
}

/* The Dice sums per class over the pixels not ignored: inter[k] = Σ p_k·g_k, total[k] = Σ (p_k + g_k) (= Σ p_k +
 * Σ g_k, the two sums kept apart in double and added at the end). Returns 0, or −1 for an invalid label. */
static int REF_FN(dice_sums)(const bl_class_loss_shape *s, const real *z, const real *labels, double *inter,
                             double *total) {
    double psum[BL_CLASS_LOSS_MAX_CLASSES] = {0}, gsum[BL_CLASS_LOSS_MAX_CLASSES] = {0};
    for (int k = 0; k < s->c; k++) inter[k] = 0.0;
    for (int b = 0; b < s->n; b++)
        for (int64_t p = 0; p < s->hw; p++) {
            int t = class_of(labels[b * s->hw + p], s->c, s->ignore_index);
            if (t == CLASS_IGNORED) continue;
            if (t == CLASS_INVALID) return -1;
            const real *zp = z + (int64_t)b * s->c * s->hw + p;
            double lse = REF_FN(log_sum_exp_of_pixel)(zp, s->c, s->hw);
            for (int k = 0; k < s->c; k++) {
                double prob = exp((double)zp[k * s->hw] - lse);
                psum[k] += prob;
                if (k == t) inter[k] += prob, gsum[k] += 1.0;
            }
        }
    for (int k = 0; k < s->c; k++) total[k] = psum[k] + gsum[k];
    return 0;
}

/* L = 1 − (1/m)·Σ_k (2·I_k + ε)/(S_k + ε) over the m averaged classes.  in z, in labels, out loss [1] */
void REF_FN(dice_loss_forward_ref)(REF_SELF const bl_class_loss_shape *s, const real *z, const real *labels,
                                   real *loss) {
    double inter[BL_CLASS_LOSS_MAX_CLASSES], total[BL_CLASS_LOSS_MAX_CLASSES];
    if (REF_FN(dice_sums)(s, z, labels, inter, total) != 0) {
        loss[0] = (real)NAN;
        return;
    }
    int first = s->skip_background ? 1 : 0, m = s->c - first;
    double eps = s->smooth, mean = 0.0;
    for (int k = first; k < s->c; k++) mean += (2.0 * inter[k] + eps) / (total[k] + eps);
    loss[0] = (real)(1.0 - mean / m);
}

/* a_k = −(2·g_k·(S_k + ε) − (2·I_k + ε)) / (m·(S_k + ε)²) for averaged classes, else 0;
 * dz[b,k,p] += dloss·p_k·(a_k − Σ_j a_j·p_j).  in z, in labels, in dloss [1], acc dz (NaN for an invalid label) */
void REF_FN(dice_loss_backward_ref)(REF_SELF const bl_class_loss_shape *s, const real *z, const real *labels,
                                    const real *dloss, real *dz) {
    double inter[BL_CLASS_LOSS_MAX_CLASSES], total[BL_CLASS_LOSS_MAX_CLASSES];
    double poison = REF_FN(dice_sums)(s, z, labels, inter, total) != 0 ? NAN : 0.0;
    int first = s->skip_background ? 1 : 0, m = s->c - first;
    double eps = s->smooth;
    for (int b = 0; b < s->n; b++)
        for (int64_t p = 0; p < s->hw; p++) {
            int t = class_of(labels[b * s->hw + p], s->c, s->ignore_index);
            if (t == CLASS_IGNORED) continue;
            const real *zp = z + (int64_t)b * s->c * s->hw + p;
            real *dzp = dz + (int64_t)b * s->c * s->hw + p;
            double lse = REF_FN(log_sum_exp_of_pixel)(zp, s->c, s->hw);
            double prob[BL_CLASS_LOSS_MAX_CLASSES], a[BL_CLASS_LOSS_MAX_CLASSES], weighted = 0.0;
            for (int k = 0; k < s->c; k++) {
                prob[k] = exp((double)zp[k * s->hw] - lse);
                double denom = total[k] + eps;
                double g = k == t ? 1.0 : 0.0;
                a[k] = k < first ? 0.0 : -(2.0 * g * denom - (2.0 * inter[k] + eps)) / (m * denom * denom);
                weighted += a[k] * prob[k];
            }
            for (int k = 0; k < s->c; k++)
                dzp[k * s->hw] = (real)(dzp[k * s->hw] + (double)dloss[0] * prob[k] * (a[k] - weighted) + poison);
        }
}
