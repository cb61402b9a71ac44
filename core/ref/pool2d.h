/* core/ref/pool2d.h — the ref kernels of max, average and global-average pooling, forward and backward.
 * A template compiled twice (float, then double) by core/ref/ref.c: see core/ref/ops.h for the macros it
 * uses (real, REF_FN, REAL_FMA) and the numerics every ref kernel shares. Not a header: no include guard. */

/* ============================================================================================================
 * pooling (torch semantics, floor mode): window (oh,ow) covers rows oh·sh − ph … oh·sh − ph + kh − 1, likewise
 * columns; the parts outside the image are padding.
 * ========================================================================================================== */

/* Index (within one [h_in,w_in] plane) of the window's maximum: padding counts as −inf, so only in-image
 * elements compete; a strictly greater value replaces the current one, so among ties the first in row-major
 * window order wins. A NaN always replaces it (torch's CPU rule `val > max || isnan(val)`), so NaN propagates
 * and the gradient goes to the last NaN of the window. With torch's constraint pad ≤ kernel/2 every window
 * holds at least one in-image element. */
static int64_t REF_FN(maxpool2d_argmax_ref)(const bl_pool2d_shape *s, const real *plane, int oh, int ow) {
    int h_start = oh * s->stride_h - s->pad_h, w_start = ow * s->stride_w - s->pad_w;
    int h_first = h_start < 0 ? 0 : h_start, w_first = w_start < 0 ? 0 : w_start;
    int h_end = h_start + s->kh < s->h_in ? h_start + s->kh : s->h_in;
    int w_end = w_start + s->kw < s->w_in ? w_start + s->kw : s->w_in;
    int64_t best = (int64_t)h_first * s->w_in + w_first;
    double best_value = -INFINITY;
    for (int ih = h_first; ih < h_end; ih++)
        for (int iw = w_first; iw < w_end; iw++) {
            double value = plane[(int64_t)ih * s->w_in + iw];
            if (value > best_value || isnan(value)) {
                best_value = value;
                best = (int64_t)ih * s->w_in + iw;
            }
        }
    return best;
}

/* y[n,c,oh,ow] = max over the window of x.   in x [n,c,h_in,w_in], out y [n,c,h_out,w_out] */
void REF_FN(maxpool2d_forward_ref)(REF_SELF const bl_pool2d_shape *s, const real *x, real *y) {
    int64_t in_plane = (int64_t)s->h_in * s->w_in, out_plane = (int64_t)s->h_out * s->w_out;
    for (int64_t nc = 0; nc < (int64_t)s->n * s->c; nc++) {
        const real *xp = x + nc * in_plane;
        for (int oh = 0; oh < s->h_out; oh++)
            for (int ow = 0; ow < s->w_out; ow++)
                y[nc * out_plane + (int64_t)oh * s->w_out + ow] = xp[REF_FN(maxpool2d_argmax_ref)(s, xp, oh, ow)];
    }
}

/* ∂L/∂x[i] = Σ over the windows whose argmax is i of dy[window]: the max is locally the identity of its winning
 * input. Written as a gather over the windows covering each input (one double sum per dx element, rounded
 * once); the argmax is recomputed from x with the forward's rule, so forward and backward agree on ties.
 * in x [n,c,h_in,w_in], in dy [n,c,h_out,w_out], acc dx [n,c,h_in,w_in] */
void REF_FN(maxpool2d_backward_ref)(REF_SELF const bl_pool2d_shape *s, const real *x, const real *dy, real *dx) {
    int64_t in_plane = (int64_t)s->h_in * s->w_in, out_plane = (int64_t)s->h_out * s->w_out;
    for (int64_t nc = 0; nc < (int64_t)s->n * s->c; nc++) {
        const real *xp = x + nc * in_plane;
        for (int ih = 0; ih < s->h_in; ih++)
            for (int iw = 0; iw < s->w_in; iw++) {
                int oh_first, oh_last, ow_first, ow_last;
                pool_windows_covering(ih, s->kh, s->stride_h, s->pad_h, s->h_out, &oh_first, &oh_last);
                pool_windows_covering(iw, s->kw, s->stride_w, s->pad_w, s->w_out, &ow_first, &ow_last);
                int64_t here = (int64_t)ih * s->w_in + iw;
                double sum = 0.0;
                for (int oh = oh_first; oh <= oh_last; oh++)
                    for (int ow = ow_first; ow <= ow_last; ow++)
                        if (REF_FN(maxpool2d_argmax_ref)(s, xp, oh, ow) == here)
                            sum += dy[nc * out_plane + (int64_t)oh * s->w_out + ow];
                dx[nc * in_plane + here] = (real)(dx[nc * in_plane + here] + sum);
            }
    }
}

/* The divisor of window (oh,ow), as torch's avg_pool2d: with count_include_pad, the window clipped to the PADDED
 * input (h_in + 2·ph rows), so padding counts; without, the window clipped to the real input. Also returns the
 * in-image row/column range [h_first,h_end) × [w_first,w_end). */
static double REF_FN(avgpool2d_window_ref)(const bl_pool2d_shape *s, int oh, int ow, int *h_first, int *h_end,
                                       int *w_first, int *w_end) {
    int h_start = oh * s->stride_h - s->pad_h, w_start = ow * s->stride_w - s->pad_w;
    int h_stop_padded = h_start + s->kh < s->h_in + s->pad_h ? h_start + s->kh : s->h_in + s->pad_h;
    int w_stop_padded = w_start + s->kw < s->w_in + s->pad_w ? w_start + s->kw : s->w_in + s->pad_w;
    int padded_size = (h_stop_padded - h_start) * (w_stop_padded - w_start);
    *h_first = h_start < 0 ? 0 : h_start;
    *w_first = w_start < 0 ? 0 : w_start;
    *h_end = h_stop_padded < s->h_in ? h_stop_padded : s->h_in;
    *w_end = w_stop_padded < s->w_in ? w_stop_padded : s->w_in;
    int real_size = (*h_end - *h_first) * (*w_end - *w_first);
    return s->count_include_pad ? (double)padded_size : (double)real_size;
}

/* y[n,c,oh,ow] = (Σ of the window's in-image x) / divisor.   in x [n,c,h_in,w_in], out y [n,c,h_out,w_out] */
void REF_FN(avgpool2d_forward_ref)(REF_SELF const bl_pool2d_shape *s, const real *x, real *y) {
    int64_t in_plane = (int64_t)s->h_in * s->w_in, out_plane = (int64_t)s->h_out * s->w_out;
    for (int64_t nc = 0; nc < (int64_t)s->n * s->c; nc++) {
        const real *xp = x + nc * in_plane;
        for (int oh = 0; oh < s->h_out; oh++)
            for (int ow = 0; ow < s->w_out; ow++) {
                int h_first, h_end, w_first, w_end;
                double divisor = REF_FN(avgpool2d_window_ref)(s, oh, ow, &h_first, &h_end, &w_first, &w_end);
                double sum = 0.0;
                for (int ih = h_first; ih < h_end; ih++)
                    for (int iw = w_first; iw < w_end; iw++) sum += xp[(int64_t)ih * s->w_in + iw];
                y[nc * out_plane + (int64_t)oh * s->w_out + ow] = (real)(sum / divisor);
            }
    }
}

/* ∂L/∂x[i] = Σ over the windows covering i of dy[window]/divisor[window] — every in-image element of a window
 * enters its mean with weight 1/divisor. A gather over the covering windows: one double sum per dx element.
 * in dy [n,c,h_out,w_out], acc dx [n,c,h_in,w_in] */
void REF_FN(avgpool2d_backward_ref)(REF_SELF const bl_pool2d_shape *s, const real *dy, real *dx) {
    int64_t in_plane = (int64_t)s->h_in * s->w_in, out_plane = (int64_t)s->h_out * s->w_out;
    for (int64_t nc = 0; nc < (int64_t)s->n * s->c; nc++)
        for (int ih = 0; ih < s->h_in; ih++)
            for (int iw = 0; iw < s->w_in; iw++) {
                int oh_first, oh_last, ow_first, ow_last;
                pool_windows_covering(ih, s->kh, s->stride_h, s->pad_h, s->h_out, &oh_first, &oh_last);
                pool_windows_covering(iw, s->kw, s->stride_w, s->pad_w, s->w_out, &ow_first, &ow_last);
                double sum = 0.0;
                for (int oh = oh_first; oh <= oh_last; oh++)
                    for (int ow = ow_first; ow <= ow_last; ow++) {
                        int h_first, h_end, w_first, w_end;
                        double divisor = REF_FN(avgpool2d_window_ref)(s, oh, ow, &h_first, &h_end, &w_first, &w_end);
                        sum += dy[nc * out_plane + (int64_t)oh * s->w_out + ow] / divisor;
                    }
                int64_t at = nc * in_plane + (int64_t)ih * s->w_in + iw;
                dx[at] = (real)(dx[at] + sum);
            }
}

/* y[i] = (1/hw)·Σ_j x[i,j].   in x [nc,hw], out y [nc] */
void REF_FN(global_avgpool_forward_ref)(REF_SELF int64_t nc, int64_t hw, const real *x, real *y) {
    for (int64_t i = 0; i < nc; i++) {
        double sum = 0.0;
        for (int64_t j = 0; j < hw; j++) sum += x[i * hw + j];
        y[i] = (real)(sum / (double)hw);
    }
}

/* ∂L/∂x[i,j] += dy[i]/hw.   in dy [nc], acc dx [nc,hw] */
void REF_FN(global_avgpool_backward_ref)(REF_SELF int64_t nc, int64_t hw, const real *dy, real *dx) {
    for (int64_t i = 0; i < nc; i++) {
        double share = dy[i] / (double)hw;
        for (int64_t j = 0; j < hw; j++) dx[i * hw + j] = (real)(dx[i * hw + j] + share);
    }
}
