/* core/ref/concat_channels.h — the ref kernels of concat along channels, forward and backward.
 * A template compiled twice (float, then double) by core/ref/ref.c: see core/ref/ops.h for the macros it
 * uses (real, REF_FN, REAL_FMA) and the numerics every ref kernel shares. Not a header: no include guard. */

/* ============================================================================================================
 * concat along channels: y[n, c_off + c, :] = x[n, c, :] for c < c_part
 * ========================================================================================================== */

/* in x [n,c_part,hw], out y [n,c_total,hw] (only channels c_off … c_off + c_part − 1 are written) */
void REF_FN(concat_channels_forward_ref)(REF_SELF int n, int c_part, int c_total, int c_off, int64_t hw, const real *x,
                                         real *y) {
    for (int b = 0; b < n; b++)
        for (int c = 0; c < c_part; c++)
            for (int64_t k = 0; k < hw; k++)
                y[((int64_t)b * c_total + c_off + c) * hw + k] = x[((int64_t)b * c_part + c) * hw + k];
}

/* ∂L/∂x[n,c,:] += dy[n, c_off + c, :].   in dy [n,c_total,hw], acc dx [n,c_part,hw] */
void REF_FN(concat_channels_backward_ref)(REF_SELF int n, int c_part, int c_total, int c_off, int64_t hw,
                                          const real *dy, real *dx) {
    for (int b = 0; b < n; b++)
        for (int c = 0; c < c_part; c++)
            for (int64_t k = 0; k < hw; k++) {
                int64_t at = ((int64_t)b * c_part + c) * hw + k;
                dx[at] = (real)(dx[at] + (double)dy[((int64_t)b * c_total + c_off + c) * hw + k]);
            }
}
