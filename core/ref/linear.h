/* core/ref/linear.h — the ref kernels of linear: forward and backward.
 * A template compiled twice (float, then double) by core/ref/ref.c: see core/ref/ops.h for the macros it
 * uses (real, REF_FN, REAL_FMA) and the numerics every ref kernel shares. Not a header: no include guard. */

/* ============================================================================================================
 * linear: y[n,o] = b[o] + Σ_i x[n,i]·w[o,i]
 * ========================================================================================================== */

/* in x [n,in], in w [out,in], in b [out] or NULL, out y [n,out] */
void REF_FN(linear_forward_ref)(REF_SELF int n, int in, int out, const real *x, const real *w, const real *b, real *y) {
    for (int r = 0; r < n; r++)
        for (int o = 0; o < out; o++) {
            double sum = b ? (double)b[o] : 0.0;
            for (int i = 0; i < in; i++) sum += (double)x[(int64_t)r * in + i] * w[(int64_t)o * in + i];
            y[(int64_t)r * out + o] = (real)sum;
        }
}

/* ∂L/∂x[n,i] = Σ_o dy[n,o]·w[o,i];  ∂L/∂w[o,i] = Σ_n dy[n,o]·x[n,i];  ∂L/∂b[o] = Σ_n dy[n,o].
 * in x [n,in], in w [out,in], in dy [n,out]; acc dx [n,in], acc dw [out,in], acc db [out] (each may be NULL) */
void REF_FN(linear_backward_ref)(REF_SELF int n, int in, int out, const real *x, const real *w, const real *dy,
                                 real *dx, real *dw, real *db) {
    if (dx)
        for (int r = 0; r < n; r++)
            for (int i = 0; i < in; i++) {
                double sum = 0.0;
                for (int o = 0; o < out; o++) sum += (double)dy[(int64_t)r * out + o] * w[(int64_t)o * in + i];
                dx[(int64_t)r * in + i] = (real)(dx[(int64_t)r * in + i] + sum);
            }
    if (dw)
        for (int o = 0; o < out; o++)
            for (int i = 0; i < in; i++) {
                double sum = 0.0;
                for (int r = 0; r < n; r++) sum += (double)dy[(int64_t)r * out + o] * x[(int64_t)r * in + i];
                dw[(int64_t)o * in + i] = (real)(dw[(int64_t)o * in + i] + sum);
            }
    if (db)
        for (int o = 0; o < out; o++) {
            double sum = 0.0;
            for (int r = 0; r < n; r++) sum += dy[(int64_t)r * out + o];
            db[o] = (real)(db[o] + sum);
        }
}
