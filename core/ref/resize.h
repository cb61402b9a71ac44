/* core/ref/resize.h — the ref kernels of bilinear resizing (align_corners=False), forward and backward.
 * A template compiled twice (float, then double) by core/ref/ref.c: see core/ref/ops.h for the macros it
 * uses (real, REF_FN, REAL_FMA) and the numerics every ref kernel shares. Not a header: no include guard.
 * The sample points and weights come from bilinear_tap (ref.c), in double. docs/ops/upsample_bilinear2d.md. */

/* ============================================================================================================
 * bilinear resize: y[oh,ow] = Σ_{a,b ∈ {0,1}} λh_a(oh)·λw_b(ow)·x[ih_a(oh), iw_b(ow)]
 * ========================================================================================================== */

/* in x [n,c,h_in,w_in], out y [n,c,h_out,w_out]; the four products summed in double, rounded once */
void REF_FN(upsample_bilinear2d_forward_ref)(REF_SELF const bl_resize_shape *s, const real *x, real *y) {
    for (int64_t plane = 0; plane < (int64_t)s->n * s->c; plane++) {
        const real *xp = x + plane * s->h_in * s->w_in;
        real *yp = y + plane * s->h_out * s->w_out;
        for (int oh = 0; oh < s->h_out; oh++) {
            bilinear_tap th = bilinear_tap_at(oh, s->h_in, s->h_out);
            for (int ow = 0; ow < s->w_out; ow++) {
                bilinear_tap tw = bilinear_tap_at(ow, s->w_in, s->w_out);
                double sum = 0.0;
                for (int a = 0; a < 2; a++)
                    for (int b = 0; b < 2; b++)
                        sum += th.weight[a] * tw.weight[b] * (double)xp[(int64_t)th.index[a] * s->w_in + tw.index[b]];
                yp[(int64_t)oh * s->w_out + ow] = (real)sum;
            }
        }
    }
}

/* ∂L/∂x[ih,iw] = Σ over the outputs (oh, ow) whose taps include ih and iw of (weight of ih)·(weight of iw)·dy[oh,ow],
 * a gather: the outputs that sample input row ih are a contiguous range (bilinear_outputs_of), likewise columns.
 * in dy [n,c,h_out,w_out], acc dx [n,c,h_in,w_in] */
void REF_FN(upsample_bilinear2d_backward_ref)(REF_SELF const bl_resize_shape *s, const real *dy, real *dx) {
    for (int64_t plane = 0; plane < (int64_t)s->n * s->c; plane++) {
        const real *dyp = dy + plane * s->h_out * s->w_out;
        real *dxp = dx + plane * s->h_in * s->w_in;
        for (int ih = 0; ih < s->h_in; ih++) {
            int oh_first, oh_last;
            bilinear_outputs_of(ih, s->h_in, s->h_out, &oh_first, &oh_last);
            for (int iw = 0; iw < s->w_in; iw++) {
                int ow_first, ow_last;
                bilinear_outputs_of(iw, s->w_in, s->w_out, &ow_first, &ow_last);
                double sum = 0.0;
                for (int oh = oh_first; oh <= oh_last; oh++) {
                    double wh = bilinear_weight_of(bilinear_tap_at(oh, s->h_in, s->h_out), ih);
                    for (int ow = ow_first; ow <= ow_last; ow++) {
                        double ww = bilinear_weight_of(bilinear_tap_at(ow, s->w_in, s->w_out), iw);
                        sum += wh * ww * (double)dyp[(int64_t)oh * s->w_out + ow];
                    }
                }
                int64_t at = (int64_t)ih * s->w_in + iw;
                dxp[at] = (real)(dxp[at] + sum);
            }
        }
    }
}
