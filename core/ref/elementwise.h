/* core/ref/elementwise.h — the ref kernels of relu, sigmoid, add, axpy, add_scalar, mul (dropout's mask product).
 * A template compiled twice (float, then double) by core/ref/ref.c: see core/ref/ops.h for the macros it
 * uses (real, REF_FN, REAL_FMA) and the numerics every ref kernel shares. Not a header: no include guard. */

/* ============================================================================================================
 * elementwise
 * ========================================================================================================== */

/* y = max(x, 0), a NaN passed on as it is (PyTorch's relu: a NaN in, a NaN out; docs/numerics.md "NaN").
 * in x [count], out y [count] */
void REF_FN(relu_forward_ref)(REF_SELF int64_t count, const real *x, real *y) {
    for (int64_t i = 0; i < count; i++) y[i] = x[i] > 0 || x[i] != x[i] ? x[i] : (real)0;
}

/* ∂L/∂x += dy·[x > 0]; at the kink x == 0 the gradient is 0, as torch.   in x, in dy, acc dx — all [count] */
void REF_FN(relu_backward_ref)(REF_SELF int64_t count, const real *x, const real *dy, real *dx) {
    for (int64_t i = 0; i < count; i++)
        if (x[i] > 0) dx[i] = (real)((double)dx[i] + dy[i]);
}

/* y = 1/(1 + e^−x), evaluated without overflow for large |x| (sigmoid_stable).   in x, out y — [count] */
void REF_FN(sigmoid_forward_ref)(REF_SELF int64_t count, const real *x, real *y) {
    for (int64_t i = 0; i < count; i++) y[i] = (real)sigmoid_stable(x[i]);
}

/* σ'(x) = σ(x)·(1 − σ(x)), written from the forward's output y: ∂L/∂x += dy·y·(1 − y).
 * in y, in dy, acc dx — all [count] */
void REF_FN(sigmoid_backward_ref)(REF_SELF int64_t count, const real *y, const real *dy, real *dx) {
    for (int64_t i = 0; i < count; i++) dx[i] = (real)(dx[i] + (double)dy[i] * y[i] * (1.0 - y[i]));
}

/* y = a + b.   in a, in b, out y — all [count] */
void REF_FN(add_forward_ref)(REF_SELF int64_t count, const real *a, const real *b, real *y) {
    for (int64_t i = 0; i < count; i++) y[i] = (real)((double)a[i] + b[i]);
}

/* dst += alpha·src — the backward of add (both inputs), reshape/flatten, and anything that passes dy through.
 * in src [count], acc dst [count] */
void REF_FN(axpy_ref)(REF_SELF int64_t count, real alpha, const real *src, real *dst) {
    for (int64_t i = 0; i < count; i++) dst[i] = (real)(dst[i] + (double)alpha * src[i]);
}

/* dst[i] += scale·alpha[0] for every i — the backward of sum (scale 1) and mean (scale 1/n) with alpha = dy:
 * a scalar gradient broadcast back over its input. The product is rounded to `real` once.
 * in alpha [1], acc dst [count] */
void REF_FN(add_scalar_ref)(REF_SELF int64_t count, real scale, const real *alpha, real *dst) {
    real a = (real)(scale * alpha[0]);
    for (int64_t i = 0; i < count; i++) dst[i] = (real)((double)dst[i] + a);
}

/* y = x·mask (dropout: mask is 0 or 1/(1−p)).   in x, in mask, out y — all [count] */
void REF_FN(mul_forward_ref)(REF_SELF int64_t count, const real *x, const real *mask, real *y) {
    for (int64_t i = 0; i < count; i++) y[i] = (real)((double)x[i] * mask[i]);
}

/* ∂L/∂x += dy·mask (the mask is a constant).   in mask, in dy, acc dx — all [count] */
void REF_FN(mul_backward_ref)(REF_SELF int64_t count, const real *mask, const real *dy, real *dx) {
    for (int64_t i = 0; i < count; i++) dx[i] = (real)(dx[i] + (double)dy[i] * mask[i]);
}
