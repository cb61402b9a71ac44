/* core/ref/conv2d.h — the ref kernels of conv2d: forward, backward data, backward filter.
 * A template compiled twice (float, then double) by core/ref/ref.c: see core/ref/ops.h for the macros it
 * uses (real, REF_FN, REAL_FMA) and the numerics every ref kernel shares. Not a header: no include guard. */

/* ============================================================================================================
 * conv2d:  y[n,co,oh,ow] = b[co] + Σ_{ci,i,j} w[co,ci,i,j] · x[n,ci, oh·sh − ph + i·dh, ow·sw − pw + j·dw]
 * ========================================================================================================== */

/* in x [n,c_in,h_in,w_in], in w [c_out,c_in,kh,kw], in b [c_out] or NULL, out y [n,c_out,h_out,w_out].
 * Taps that fall outside the image read zero (zero padding). */
void REF_FN(conv2d_forward_ref)(REF_SELF const bl_conv2d_shape *s, const real *x, const real *w, const real *b,
                                real *y) {
    for (int n = 0; n < s->n; n++)
        for (int co = 0; co < s->c_out; co++)
            for (int oh = 0; oh < s->h_out; oh++)
                for (int ow = 0; ow < s->w_out; ow++) {
                    double sum = b ? (double)b[co] : 0.0;
                    for (int ci = 0; ci < s->c_in; ci++)
                        for (int i = 0; i < s->kh; i++) {
                            int ih = oh * s->stride_h - s->pad_h + i * s->dil_h;
                            if (ih < 0 || ih >= s->h_in) continue;
                            for (int j = 0; j < s->kw; j++) {
                                int iw = ow * s->stride_w - s->pad_w + j * s->dil_w;
                                if (iw < 0 || iw >= s->w_in) continue;
                                double w_val = w[(((int64_t)co * s->c_in + ci) * s->kh + i) * s->kw + j];
                                double x_val = x[(((int64_t)n * s->c_in + ci) * s->h_in + ih) * s->w_in + iw];
                                sum += w_val * x_val;
                            }
                        }
                    y[(((int64_t)n * s->c_out + co) * s->h_out + oh) * s->w_out + ow] = (real)sum;
                }
}

/* ∂L/∂x[n,ci,ih,iw] = Σ over every (co,i,j,oh,ow) whose tap reads x[n,ci,ih,iw] of w[co,ci,i,j] · dy[n,co,oh,ow].
 * The tap (i,j) of output (oh,ow) reads ih = oh·sh − ph + i·dh, so for a given (ih,i): oh = (ih + ph − i·dh)/sh,
 * valid only when that division is exact and 0 ≤ oh < h_out (same for the width). Written as a gather so each
 * dx element is one double sum, rounded once.
 * in dy [n,c_out,h_out,w_out], in w [c_out,c_in,kh,kw], acc dx [n,c_in,h_in,w_in] */
void REF_FN(conv2d_backward_data_ref)(REF_SELF const bl_conv2d_shape *s, const real *dy, const real *w, real *dx) {
    for (int n = 0; n < s->n; n++)
        for (int ci = 0; ci < s->c_in; ci++)
            for (int ih = 0; ih < s->h_in; ih++)
                for (int iw = 0; iw < s->w_in; iw++) {
                    double sum = 0.0;
                    for (int co = 0; co < s->c_out; co++)
                        for (int i = 0; i < s->kh; i++) {
                            int oh_times_stride = ih + s->pad_h - i * s->dil_h;
                            if (oh_times_stride < 0 || oh_times_stride % s->stride_h != 0) continue;
                            int oh = oh_times_stride / s->stride_h;
                            if (oh >= s->h_out) continue;
                            for (int j = 0; j < s->kw; j++) {
                                int ow_times_stride = iw + s->pad_w - j * s->dil_w;
                                if (ow_times_stride < 0 || ow_times_stride % s->stride_w != 0) continue;
                                int ow = ow_times_stride / s->stride_w;
                                if (ow >= s->w_out) continue;
                                double w_val = w[(((int64_t)co * s->c_in + ci) * s->kh + i) * s->kw + j];
                                double dy_val = dy[(((int64_t)n * s->c_out + co) * s->h_out + oh) * s->w_out + ow];
                                sum += w_val * dy_val;
                            }
                        }
                    int64_t at = (((int64_t)n * s->c_in + ci) * s->h_in + ih) * s->w_in + iw;
                    dx[at] = (real)(dx[at] + sum);
                }
}

/* ∂L/∂w[co,ci,i,j] = Σ_{n,oh,ow} dy[n,co,oh,ow] · x[n,ci, oh·sh − ph + i·dh, ow·sw − pw + j·dw] (in-image taps);
 * ∂L/∂b[co] = Σ_{n,oh,ow} dy[n,co,oh,ow].
 * in x [n,c_in,h_in,w_in], in dy [n,c_out,h_out,w_out], acc dw [c_out,c_in,kh,kw] or NULL, acc db [c_out] or NULL */
void REF_FN(conv2d_backward_filter_ref)(REF_SELF const bl_conv2d_shape *s, const real *x, const real *dy, real *dw,
                                        real *db) {
    if (dw) {
        for (int co = 0; co < s->c_out; co++)
            for (int ci = 0; ci < s->c_in; ci++)
                for (int i = 0; i < s->kh; i++)
                    for (int j = 0; j < s->kw; j++) {
                        double sum = 0.0;
                        for (int n = 0; n < s->n; n++)
                            for (int oh = 0; oh < s->h_out; oh++) {
                                int ih = oh * s->stride_h - s->pad_h + i * s->dil_h;
                                if (ih < 0 || ih >= s->h_in) continue;
                                for (int ow = 0; ow < s->w_out; ow++) {
                                    int iw = ow * s->stride_w - s->pad_w + j * s->dil_w;
                                    if (iw < 0 || iw >= s->w_in) continue;
                                    double dy_val = dy[(((int64_t)n * s->c_out + co) * s->h_out + oh) * s->w_out + ow];
                                    double x_val = x[(((int64_t)n * s->c_in + ci) * s->h_in + ih) * s->w_in + iw];
                                    sum += dy_val * x_val;
                                }
                            }
                        int64_t at = (((int64_t)co * s->c_in + ci) * s->kh + i) * s->kw + j;
                        dw[at] = (real)(dw[at] + sum);
                    }
    }
    if (db) {
        int64_t plane = (int64_t)s->h_out * s->w_out;
        for (int co = 0; co < s->c_out; co++) {
            double sum = 0.0;
            for (int n = 0; n < s->n; n++) {
                const real *dy_plane = dy + ((int64_t)n * s->c_out + co) * plane;
                for (int64_t k = 0; k < plane; k++) sum += dy_plane[k];
            }
            db[co] = (real)(db[co] + sum);
        }
    }
}

/* ============================================================================================================
 * per-channel bias (conv_transpose2d's bias; its product is conv2d_backward_data's)
 * ========================================================================================================== */

/* y[n,c,p] = y[n,c,p] + b[c], added in double and rounded once.  in b [c], acc y [n,c,hw] */
void REF_FN(bias_channels_forward_ref)(REF_SELF int n, int c, int64_t hw, const real *b, real *y) {
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++) {
            real *plane = y + ((int64_t)i * c + ch) * hw;
            for (int64_t k = 0; k < hw; k++) plane[k] = (real)((double)plane[k] + (double)b[ch]);
        }
}

/* ∂L/∂b[c] = Σ_{n,p} dy[n,c,p]: one double sum per channel, samples then pixels in order.
 * in dy [n,c,hw], acc db [c] */
void REF_FN(bias_channels_backward_ref)(REF_SELF int n, int c, int64_t hw, const real *dy, real *db) {
    for (int ch = 0; ch < c; ch++) {
        double sum = 0.0;
        for (int i = 0; i < n; i++) {
            const real *plane = dy + ((int64_t)i * c + ch) * hw;
            for (int64_t k = 0; k < hw; k++) sum += plane[k];
        }
        db[ch] = (real)(db[ch] + sum);
    }
}
