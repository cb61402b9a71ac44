/* conv2d_winograd_impl.h — the input and output transforms of F(4×4, 3×3) for a block of up to 16 tiles, written
 * once and compiled three times: portable in conv2d_winograd.c, with AVX2 flags in conv2d_winograd_avx2.c and with
 * AVX-512 flags in conv2d_winograd_avx512.c (WINO_FN(name) names the copy). The 16 tiles of a block are the 16
 * lanes of one vector. The including file supplies two data-movement hooks, which only copy (or defines
 * WINO_PORTABLE_HOOKS for the plain C ones below):
 *   WINO_FN(load_row)(p, span, d_row)      d_row[c][l] = p[4l + c] for c < 6, l < 16 (p[j] read for j < span
 *                                           only, zeros beyond): one input row of 16 neighbouring tiles;
 *   WINO_FN(store_row)(out_r, bias, accumulate, dst, span)
 *                                           for j < span: value = out_r[j mod 4][j / 4] (+ bias); dst[j] = value,
 *                                           or dst[j] + value: one output row of 16 neighbouring tiles.
 * The arithmetic is the same C statements in every build, and under -ffp-contract=off they are the same IEEE
 * operations — so every build, and the two ways of gathering tiles below, give bitwise the same results.
 *
 * The transforms are evaluated along the rows first, then along the columns, in the forms below (Bᵀ and Aᵀ of
 * conv2d_winograd.c, factored so that every multiplication by 2, 4 or 8 is exact and each output is at most 3
 * roundings from its inputs — the depth the error bound in conv2d_winograd.c counts):
 *   Bᵀ d:  o0 = (4d0 − 5d2) + d4            o1 = (d3 + d4) − 4(d1 + d2)     o2 = (d4 − d3) + 4(d1 − d2)
 *          o3 = (d4 − d2) + 2(d3 − d1)      o4 = (d4 − d2) − 2(d3 − d1)     o5 = (4d1 − 5d3) + d5
 *   Aᵀ m:  y0 = (m0 + (m1 + m2)) + (m3 + m4)          y1 = (m1 − m2) + 2(m3 − m4)
 *          y2 = (m1 + m2) + 4(m3 + m4)                 y3 = ((m1 − m2) + 8(m3 − m4)) + m5 */

#ifdef WINO_PORTABLE_HOOKS
static inline void WINO_FN(load_row)(const float *p, int span, float d_row[WINO_PATCH][WINO_LANES]) {
    for (int c = 0; c < WINO_PATCH; c++)
        for (int l = 0; l < WINO_LANES; l++) d_row[c][l] = 4 * l + c < span ? p[4 * l + c] : 0.0f;
}

static inline void WINO_FN(store_row)(const float out_r[WINO_TILE][WINO_LANES], const float *bias, int accumulate,
                                      float *dst, int span) {
    for (int j = 0; j < span; j++) {
        float value = out_r[j % WINO_TILE][j / WINO_TILE];
        if (bias) value = value + *bias;
        dst[j] = accumulate ? dst[j] + value : value;
    }
}
#endif

/* out[k][l] = (Bᵀ in)_k for the 16 lanes l, in[j·is + l] = d_j (out is a local array: with a strided output
 * the compiler cannot prove the lanes' stores independent and leaves the loop scalar) */
static inline void WINO_FN(transform_bt)(const float *restrict in, int64_t is, float out[restrict WINO_PATCH][WINO_LANES]) {
    for (int l = 0; l < WINO_LANES; l++) {
        float d0 = in[l], d1 = in[is + l], d2 = in[2 * is + l], d3 = in[3 * is + l], d4 = in[4 * is + l],
              d5 = in[5 * is + l];
        out[0][l] = (4.0f * d0 - 5.0f * d2) + d4;
        out[1][l] = (d3 + d4) - 4.0f * (d1 + d2);
        out[2][l] = (d4 - d3) + 4.0f * (d1 - d2);
        out[3][l] = (d4 - d2) + 2.0f * (d3 - d1);
        out[4][l] = (d4 - d2) - 2.0f * (d3 - d1);
        out[5][l] = (4.0f * d1 - 5.0f * d3) + d5;
    }
}

/* out[k][l] = (Aᵀ in)_k, k < 4, for the 16 lanes l, in[j·is + l] = m_j */
static inline void WINO_FN(transform_at)(const float *restrict in, int64_t is, float out[restrict WINO_TILE][WINO_LANES]) {
    for (int l = 0; l < WINO_LANES; l++) {
        float m0 = in[l], m1 = in[is + l], m2 = in[2 * is + l], m3 = in[3 * is + l], m4 = in[4 * is + l],
              m5 = in[5 * is + l];
        float sum12 = m1 + m2, dif12 = m1 - m2, sum34 = m3 + m4, dif34 = m3 - m4;
        out[0][l] = (m0 + sum12) + sum34;
        out[1][l] = dif12 + 2.0f * dif34;
        out[2][l] = sum12 + 4.0f * sum34;
        out[3][l] = (dif12 + 8.0f * dif34) + m5;
    }
}

/* out[k][l] = (A in)_k, k < 6, for the 16 lanes l, in[j·is + l] = e_j, j < 4 (the weight gradient's transform of
 * dy: A = Aᵀ transposed, rows (1 0 0 0), (1 1 1 1), (1 −1 1 −1), (1 2 4 8), (1 −2 4 −8), (0 0 0 1)) — at most 2
 * roundings per output, multiplications by 2, 4, 8 exact */
static inline void WINO_FN(transform_a)(const float *restrict in, int64_t is, float out[restrict WINO_PATCH][WINO_LANES]) {
    for (int l = 0; l < WINO_LANES; l++) {
        float e0 = in[l], e1 = in[is + l], e2 = in[2 * is + l], e3 = in[3 * is + l];
        float sum02 = e0 + e2, sum13 = e1 + e3, far02 = e0 + 4.0f * e2, far13 = 2.0f * e1 + 8.0f * e3;
        out[0][l] = e0;
        out[1][l] = sum02 + sum13;
        out[2][l] = sum02 - sum13;
        out[3][l] = far02 + far13;
        out[4][l] = far02 - far13;
        out[5][l] = e3;
    }
}

/* V_(k,j)[lane] for the patches d[r][c][lane]: the rows transformed, then the columns; position (k, j) is written
 * to v + (6k + j)·v_stride, 16 lanes */
static inline void WINO_FN(transform_patches)(float d[WINO_PATCH][WINO_PATCH][WINO_LANES], float *v,
                                              int64_t v_stride) {
    float h[WINO_PATCH][WINO_PATCH][WINO_LANES]; /* h[r][j] = Σ_c d[r][c]·B[c][j] */
    for (int r = 0; r < WINO_PATCH; r++) WINO_FN(transform_bt)(d[r][0], WINO_LANES, h[r]);
    float hj[WINO_PATCH][WINO_LANES], column[WINO_PATCH][WINO_LANES];
    for (int j = 0; j < WINO_PATCH; j++) { /* V_(k,j) = Σ_r Bᵀ[k][r]·h[r][j] */
        for (int r = 0; r < WINO_PATCH; r++) memcpy(hj[r], h[r][j], sizeof hj[r]);
        WINO_FN(transform_bt)(hj[0], WINO_LANES, column);
        for (int k = 0; k < WINO_PATCH; k++)
            memcpy(v + (int64_t)(WINO_PATCH * k + j) * v_stride, column[k], sizeof column[k]);
    }
}

/* out[r][c][lane] = (Aᵀ M A)[r][c] with M_(a,b) at m + (6a + b)·m_stride (16 lanes) */
static inline void WINO_FN(transform_outputs)(const float *m, int64_t m_stride,
                                              float out[WINO_TILE][WINO_TILE][WINO_LANES]) {
    float u[WINO_PATCH][WINO_TILE][WINO_LANES]; /* u[a][c] = Σ_b M_(a,b)·A[b][c]: rows first */
    for (int a = 0; a < WINO_PATCH; a++) WINO_FN(transform_at)(m + (int64_t)(WINO_PATCH * a) * m_stride, m_stride, u[a]);
    float uc[WINO_PATCH][WINO_LANES], column[WINO_TILE][WINO_LANES];
    for (int c = 0; c < WINO_TILE; c++) { /* out[r][c] = Σ_a Aᵀ[r][a]·u[a][c] */
        for (int a = 0; a < WINO_PATCH; a++) memcpy(uc[a], u[a][c], sizeof uc[a]);
        WINO_FN(transform_at)(uc[0], WINO_LANES, column);
        for (int r = 0; r < WINO_TILE; r++) memcpy(out[r][c], column[r], sizeof column[r]);
    }
}

/* (A e A^T)_(a,b)[lane] for the 4×4 output-gradient tiles e[r][c][lane], written to m + (6a + b)·m_stride */
static inline void WINO_FN(transform_gradients)(float e[WINO_TILE][WINO_PATCH][WINO_LANES], float *m,
                                                int64_t m_stride) {
    float h[WINO_TILE][WINO_PATCH][WINO_LANES]; /* h[r][b] = Σ_c e[r][c]·A[b][c]: rows first */
    for (int r = 0; r < WINO_TILE; r++) WINO_FN(transform_a)(e[r][0], WINO_LANES, h[r]);
    float hb[WINO_TILE][WINO_LANES], column[WINO_PATCH][WINO_LANES];
    for (int b = 0; b < WINO_PATCH; b++) { /* (a, b) = Σ_r A[a][r]·h[r][b] */
        for (int r = 0; r < WINO_TILE; r++) memcpy(hb[r], h[r][b], sizeof hb[r]);
        WINO_FN(transform_a)(hb[0], WINO_LANES, column);
        for (int a = 0; a < WINO_PATCH; a++)
            memcpy(m + (int64_t)(WINO_PATCH * a + b) * m_stride, column[a], sizeof column[a]);
    }
}

/* out[k][l] = (G in)_k for a filter column (in0, in1, in2)[l], in double: the reciprocals 1/6, 1/12, 1/24 are
 * double constants, so each value is within a few units of 2⁻⁵³ of exact before its single rounding to float */
static inline void WINO_FN(transform_g)(const double in[3][WINO_LANES], double out[WINO_PATCH][WINO_LANES]) {
    const double sixth = 1.0 / 6.0, twelfth = 1.0 / 12.0, twenty_fourth = 1.0 / 24.0;
    for (int l = 0; l < WINO_LANES; l++) {
        double c0 = in[0][l], c1 = in[1][l], c2 = in[2][l];
        out[0][l] = 0.25 * c0;
        out[1][l] = -(c0 + c1 + c2) * sixth;
        out[2][l] = -(c0 - c1 + c2) * sixth;
        out[3][l] = (c0 * twenty_fourth + c1 * twelfth) + c2 * sixth;
        out[4][l] = (c0 * twenty_fourth - c1 * twelfth) + c2 * sixth;
        out[5][l] = c2;
    }
}

void WINO_FN(conv2d_winograd_filters)(const float *w, int count, float *u, int64_t u_stride) {
    double g[3][3][WINO_LANES]; /* g[r][c][lane]: the 3×3 filters w[lane·9 + 3r + c], lanes ≥ count zero */
    for (int l = 0; l < WINO_LANES; l++)
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 3; c++) g[r][c][l] = l < count ? (double)w[l * 9 + 3 * r + c] : 0.0;
    double column[3][WINO_LANES], gc[3][WINO_PATCH][WINO_LANES], row[3][WINO_LANES], out[WINO_PATCH][WINO_LANES];
    for (int c = 0; c < 3; c++) { /* gc[c][a] = (G g)[a][c] */
        for (int r = 0; r < 3; r++) memcpy(column[r], g[r][c], sizeof column[r]);
        WINO_FN(transform_g)(column, gc[c]);
    }
    for (int a = 0; a < WINO_PATCH; a++) { /* (G g Gᵀ)[a][b] = (G · row a of G g)[b] */
        for (int c = 0; c < 3; c++) memcpy(row[c], gc[c][a], sizeof row[c]);
        WINO_FN(transform_g)(row, out);
        for (int b = 0; b < WINO_PATCH; b++) {
            float *dst = u + (int64_t)(WINO_PATCH * a + b) * u_stride;
            for (int l = 0; l < count; l++) dst[l] = (float)out[b][l];
        }
    }
}

void WINO_FN(conv2d_winograd_input_block)(const bl_conv2d_shape *s, const float *x, int ci,
                                          const conv2d_winograd_tile *tiles, int count, float *v, int64_t v_stride) {
    float d[WINO_PATCH][WINO_PATCH][WINO_LANES];
    const int64_t plane = (int64_t)s->h_in * s->w_in;
    for (int l = 0; l < WINO_LANES; l++) {
        if (l >= count) {
            for (int r = 0; r < WINO_PATCH; r++)
                for (int c = 0; c < WINO_PATCH; c++) d[r][c][l] = 0.0f;
            continue;
        }
        const conv2d_winograd_tile *tile = &tiles[l];
        const float *x_plane = x + tile->x_sample + ci * plane;
        int ih0 = tile->oh0 - s->pad_h, iw0 = tile->ow0 - s->pad_w;
        if (tile->patch_inside) {
            const float *p = x_plane + (int64_t)ih0 * s->w_in + iw0;
            for (int r = 0; r < WINO_PATCH; r++)
                for (int c = 0; c < WINO_PATCH; c++) d[r][c][l] = p[(int64_t)r * s->w_in + c];
            continue;
        }
        for (int r = 0; r < WINO_PATCH; r++) {
            int ih = ih0 + r;
            for (int c = 0; c < WINO_PATCH; c++) {
                int iw = iw0 + c;
                int inside = ih >= 0 && ih < s->h_in && iw >= 0 && iw < s->w_in;
                d[r][c][l] = inside ? x_plane[(int64_t)ih * s->w_in + iw] : 0.0f;
            }
        }
    }
    WINO_FN(transform_patches)(d, v, v_stride);
}

void WINO_FN(conv2d_winograd_input_row)(const bl_conv2d_shape *s, const float *x, int ci,
                                        const conv2d_winograd_tile *first, int count, float *v, int64_t v_stride) {
    float d[WINO_PATCH][WINO_PATCH][WINO_LANES];
    float padded[4 * WINO_LANES + 2]; /* one input row of the block, zeros outside the map */
    const float *x_plane = x + first->x_sample + ci * (int64_t)s->h_in * s->w_in;
    const int ih0 = first->oh0 - s->pad_h, iw0 = first->ow0 - s->pad_w, span = 4 * count + 2;
    const int columns_inside = iw0 >= 0 && iw0 + span <= s->w_in;
    for (int r = 0; r < WINO_PATCH; r++) {
        int ih = ih0 + r;
        if (ih < 0 || ih >= s->h_in) {
            memset(d[r], 0, sizeof d[r]);
            continue;
        }
        const float *row = x_plane + (int64_t)ih * s->w_in;
        if (columns_inside) {
            WINO_FN(load_row)(row + iw0, span, d[r]);
            continue;
        }
        for (int j = 0; j < span; j++) padded[j] = iw0 + j >= 0 && iw0 + j < s->w_in ? row[iw0 + j] : 0.0f;
        WINO_FN(load_row)(padded, span, d[r]);
    }
    WINO_FN(transform_patches)(d, v, v_stride);
}

void WINO_FN(conv2d_winograd_output_block)(const bl_conv2d_shape *s, const float *m, int64_t m_stride,
                                           const conv2d_winograd_tile *tiles, int count, int co, const float *bias,
                                           int accumulate, float *y) {
    float out[WINO_TILE][WINO_TILE][WINO_LANES];
    WINO_FN(transform_outputs)(m, m_stride, out);
    const int64_t plane = (int64_t)s->h_out * s->w_out;
    for (int l = 0; l < count; l++) {
        const conv2d_winograd_tile *tile = &tiles[l];
        float *y_plane = y + tile->y_sample + co * plane;
        int rows = tile->output_inside || s->h_out - tile->oh0 >= WINO_TILE ? WINO_TILE : s->h_out - tile->oh0;
        int cols = tile->output_inside || s->w_out - tile->ow0 >= WINO_TILE ? WINO_TILE : s->w_out - tile->ow0;
        for (int r = 0; r < rows; r++) {
            float *dst = y_plane + (int64_t)(tile->oh0 + r) * s->w_out + tile->ow0;
            for (int c = 0; c < cols; c++) {
                float value = out[r][c][l];
                if (bias) value = value + bias[co];
                dst[c] = accumulate ? dst[c] + value : value;
            }
        }
    }
}

void WINO_FN(conv2d_winograd_output_row)(const bl_conv2d_shape *s, const float *m, int64_t m_stride,
                                         const conv2d_winograd_tile *first, int count, int co, const float *bias,
                                         int accumulate, float *y) {
    float out[WINO_TILE][WINO_TILE][WINO_LANES];
    WINO_FN(transform_outputs)(m, m_stride, out);
    float *y_plane = y + first->y_sample + co * (int64_t)s->h_out * s->w_out;
    int span = s->w_out - first->ow0 < 4 * count ? s->w_out - first->ow0 : 4 * count;
    for (int r = 0; r < WINO_TILE && first->oh0 + r < s->h_out; r++) {
        WINO_FN(store_row)(out[r], bias ? bias + co : NULL, accumulate,
                           y_plane + (int64_t)(first->oh0 + r) * s->w_out + first->ow0, span);
    }
}

void WINO_FN(conv2d_winograd_gradient_block)(const bl_conv2d_shape *s, const float *dy, int co,
                                             const conv2d_winograd_tile *tiles, int count, float *m, int64_t m_stride) {
    float e[WINO_TILE][WINO_PATCH][WINO_LANES]; /* columns 4, 5 unused (the row hook's shape) */
    const int64_t plane = (int64_t)s->h_out * s->w_out;
    for (int l = 0; l < WINO_LANES; l++) {
        const conv2d_winograd_tile *tile = &tiles[l < count ? l : 0];
        const float *dy_plane = dy + tile->y_sample + co * plane;
        for (int r = 0; r < WINO_TILE; r++)
            for (int c = 0; c < WINO_TILE; c++) {
                int oh = tile->oh0 + r, ow = tile->ow0 + c;
                e[r][c][l] = l < count && oh < s->h_out && ow < s->w_out ? dy_plane[(int64_t)oh * s->w_out + ow] : 0.0f;
            }
    }
    WINO_FN(transform_gradients)(e, m, m_stride);
}

void WINO_FN(conv2d_winograd_gradient_row)(const bl_conv2d_shape *s, const float *dy, int co,
                                           const conv2d_winograd_tile *first, int count, float *m, int64_t m_stride) {
    float e[WINO_TILE][WINO_PATCH][WINO_LANES];
    const float *dy_plane = dy + first->y_sample + co * (int64_t)s->h_out * s->w_out;
    int span = s->w_out - first->ow0 < 4 * count ? s->w_out - first->ow0 : 4 * count;
    for (int r = 0; r < WINO_TILE; r++) {
        if (first->oh0 + r >= s->h_out) {
            memset(e[r], 0, sizeof e[r]);
            continue;
        }
        WINO_FN(load_row)(dy_plane + (int64_t)(first->oh0 + r) * s->w_out + first->ow0, span, e[r]);
    }
    WINO_FN(transform_gradients)(e, m, m_stride);
}
