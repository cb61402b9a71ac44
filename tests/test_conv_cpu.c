/* test_conv_cpu.c — the cpu backend's conv2d and linear kernels (core/cpu/conv2d.c) against naive loops.
 *
 * The oracle is written here, independent of the ref backend (core/ref/): the convolution sum taken straight from the
 * formula in kernels.h, accumulated in double, one output element at a time. Along with each exact value the
 * oracle computes the magnitude Σ|term| + |initial value|, and we require
 *     |got − exact| ≤ 2.02·(L + 8·S)·u·magnitude + 1e-30,   u = 2⁻²⁴,
 * where L is the number of products in the sum and S the number of separately rounded partial results added
 * together (1, or the batch size for dW, which is accumulated one sample at a time). That is the rigorous
 * γ-bound for a sum of L products rounded at most 2L + 5S times (GEMM chains per K block, then the bias or
 * accumulate add, then col2im's kh·kw adds, see test_gemm.c) — far below the error a wrong index or a missing
 * tap makes. The worst measured error in units of u·magnitude is printed.
 *
 * Shapes: stride 2, padding, dilation, 1×1 (the no-im2col path) and 1×1 stride 2 (which needs im2col), 7×7,
 * odd sizes, with and without bias, batch 1 … 5 (so both threading plans run); all of it a second time with the
 * weight gradient of every stride-1 convolution taken by dot products (core/cpu/conv2d.c's backward_filter_dot, on
 * CPUs whose kernel family has them). Backward kernels must ACCUMULATE:
 * every gradient buffer starts with random values. Every result must be bitwise identical for 1, 2 and 3
 * threads. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu/cpu.h"
#include "core/cpu/cpu_ops.h"
#include "core/cpu/gemm.h"
#include "core/cpu/scratch.h"
#include "core/kernels.h"
#include "core/cpu/threads.h"
#include "harness.h"

static const double unit_roundoff = 1.0 / 16777216.0;
static double worst_error_in_u;
/* 1 while the run forces dW by dot products (option conv_backward_filter_dot = 2): each sample's dot
 * products are added in chunks of whole output rows, so S ≤ n·h_out separately rounded partial results */
static int dot_forced;

/* The cpu backend under test, re-created by use_backend with the options each part of this test runs with. */
static bl_kernels *cpu_under_test;
static bl_cpu_options options_under_test;
static void use_backend(bl_cpu_options o) {
    bl_kernels_cpu_free(cpu_under_test);
    cpu_under_test = NULL;
    options_under_test = o;
    CHECK(bl_kernels_cpu_create(&o, &cpu_under_test) == BL_OK, "cpu backend: %s", bl_last_error());
}

/* A backend like the one under test, with another Winograd mode (the caller frees it). */
static bl_kernels *with_winograd(int mode) {
    bl_cpu_options o = options_under_test;
    o.winograd = mode;
    bl_kernels *k = NULL;
    CHECK(bl_kernels_cpu_create(&o, &k) == BL_OK, "cpu backend: %s", bl_last_error());
    return k;
}

/* Every |got[i] − exact[i]| ≤ factor·magnitude[i] (one CHECK naming the first element that is not); *worst_in_u
 * keeps the largest error in units of u·magnitude. */
static void check_within(const char *what, const float *got, const double *exact, const double *magnitude,
                         int64_t count, double factor, double *worst_in_u) {
    int64_t bad = -1;
    for (int64_t i = 0; i < count; i++) {
        double error = fabs((double)got[i] - exact[i]);
        if (!(error <= factor * magnitude[i] + 1e-30) && bad < 0) bad = i;
        if (magnitude[i] > 0 && error / (unit_roundoff * magnitude[i]) > *worst_in_u)
            *worst_in_u = error / (unit_roundoff * magnitude[i]);
    }
    if (bad >= 0)
        CHECK(0, "%s: element %lld: got %.9g, want %.9g (bound %.3g)", what, (long long)bad, got[bad], exact[bad],
              factor * magnitude[bad]);
    else
        CHECK(1, "%s", what);
}

/* Compare got against exact[] with magnitude[] per element under the bound above. */
static void check_bound(const char *what, const float *got, const double *exact, const double *magnitude,
                        int64_t count, double terms, double pieces) {
    check_within(what, got, exact, magnitude, count, 2.02 * (terms + 8.0 * pieces) * unit_roundoff,
                 &worst_error_in_u);
}

static float *random_buffer(int64_t count, uint64_t seed, uint64_t index) {
    float *x = malloc(sizeof(float) * (size_t)(count > 0 ? count : 1));
    test_fill_uniform(x, count, seed, index, -1.0f, 1.0f);
    return x;
}

/* The input coordinate that output (oh, ow) reads through tap (i, j), or −1 when it falls in the padding. */
static int64_t input_index(const bl_conv2d_shape *s, int n, int ci, int oh, int ow, int i, int j) {
    int ih = oh * s->stride_h - s->pad_h + i * s->dil_h;
    int iw = ow * s->stride_w - s->pad_w + j * s->dil_w;
    if (ih < 0 || ih >= s->h_in || iw < 0 || iw >= s->w_in) return -1;
    return (((int64_t)n * s->c_in + ci) * s->h_in + ih) * s->w_in + iw;
}

static int64_t weight_index(const bl_conv2d_shape *s, int co, int ci, int i, int j) {
    return (((int64_t)co * s->c_in + ci) * s->kh + i) * s->kw + j;
}

static int64_t output_index(const bl_conv2d_shape *s, int n, int co, int oh, int ow) {
    return (((int64_t)n * s->c_out + co) * s->h_out + oh) * s->w_out + ow;
}

typedef struct conv_case {
    int n, c_in, h_in, w_in, c_out, kh, kw, stride, pad, dil, bias;
    int stride_w, pad_w, dil_w; /* 0: same as the height's */
} conv_case;

static bl_conv2d_shape shape_of(const conv_case *t) {
    bl_conv2d_shape s = {.n = t->n, .c_in = t->c_in, .h_in = t->h_in, .w_in = t->w_in, .c_out = t->c_out,
                         .kh = t->kh, .kw = t->kw, .stride_h = t->stride, .pad_h = t->pad, .dil_h = t->dil,
                         .stride_w = t->stride_w ? t->stride_w : t->stride, .pad_w = t->pad_w ? t->pad_w : t->pad,
                         .dil_w = t->dil_w ? t->dil_w : t->dil};
    s.h_out = (s.h_in + 2 * s.pad_h - s.dil_h * (s.kh - 1) - 1) / s.stride_h + 1;
    s.w_out = (s.w_in + 2 * s.pad_w - s.dil_w * (s.kw - 1) - 1) / s.stride_w + 1;
    return s;
}

/* Forward, backward data and backward filter of one case vs the direct loops; returns the three results
 * concatenated (y, dx, dw, db) in *outputs so the caller can compare thread counts bitwise. */
static void check_conv_case(const conv_case *t, uint64_t seed, float **outputs, int64_t *output_count) {
    const bl_kernels *cpu = cpu_under_test;
    bl_conv2d_shape s = shape_of(t);
    int64_t x_count = (int64_t)s.n * s.c_in * s.h_in * s.w_in, w_count = (int64_t)s.c_out * s.c_in * s.kh * s.kw;
    int64_t y_count = (int64_t)s.n * s.c_out * s.h_out * s.w_out;
    float *x = random_buffer(x_count, seed, 1), *w = random_buffer(w_count, seed, 2);
    float *b = t->bias ? random_buffer(s.c_out, seed, 3) : NULL, *dy = random_buffer(y_count, seed, 4);
    float *dx = random_buffer(x_count, seed, 5), *dw = random_buffer(w_count, seed, 6);
    float *db = random_buffer(s.c_out, seed, 7), *y = random_buffer(y_count, seed, 8);
    int64_t total = y_count + x_count + w_count + s.c_out;
    double *exact = calloc((size_t)total, sizeof(double)), *magnitude = calloc((size_t)total, sizeof(double));
    double *y_exact = exact, *dx_exact = exact + y_count, *dw_exact = dx_exact + x_count, *db_exact = dw_exact + w_count;
    double *y_mag = magnitude, *dx_mag = magnitude + y_count, *dw_mag = dx_mag + x_count, *db_mag = dw_mag + w_count;
    for (int64_t i = 0; i < x_count; i++) dx_exact[i] = dx[i], dx_mag[i] = fabs(dx[i]);
    for (int64_t i = 0; i < w_count; i++) dw_exact[i] = dw[i], dw_mag[i] = fabs(dw[i]);
    for (int co = 0; co < s.c_out; co++) db_exact[co] = db[co], db_mag[co] = fabs(db[co]);

    /* the oracle: every (output, input channel, tap) term, scattered into all three results */
    for (int n = 0; n < s.n; n++)
        for (int co = 0; co < s.c_out; co++)
            for (int oh = 0; oh < s.h_out; oh++)
                for (int ow = 0; ow < s.w_out; ow++) {
                    int64_t o = output_index(&s, n, co, oh, ow);
                    if (b) y_exact[o] += b[co], y_mag[o] += fabs(b[co]);
                    db_exact[co] += dy[o], db_mag[co] += fabs(dy[o]);
                    for (int ci = 0; ci < s.c_in; ci++)
                        for (int i = 0; i < s.kh; i++)
                            for (int j = 0; j < s.kw; j++) {
                                int64_t in = input_index(&s, n, ci, oh, ow, i, j);
                                if (in < 0) continue;
                                int64_t wi = weight_index(&s, co, ci, i, j);
                                y_exact[o] += (double)w[wi] * x[in], y_mag[o] += fabs((double)w[wi] * x[in]);
                                dx_exact[in] += (double)w[wi] * dy[o], dx_mag[in] += fabs((double)w[wi] * dy[o]);
                                dw_exact[wi] += (double)dy[o] * x[in], dw_mag[wi] += fabs((double)dy[o] * x[in]);
                            }
                }

    cpu->conv2d_forward(cpu, &s, x, w, b, y);
    /* a sample's output is computed the same way alone or inside a batch (grouped side by side or not) */
    bl_conv2d_shape single = s;
    single.n = 1;
    float *y_single = malloc(sizeof(float) * (size_t)y_count);
    for (int n = 0; n < s.n; n++)
        cpu->conv2d_forward(cpu, &single, x + (int64_t)n * s.c_in * s.h_in * s.w_in, w, b,
                            y_single + (int64_t)n * s.c_out * s.h_out * s.w_out);
    CHECK(memcmp(y, y_single, sizeof(float) * (size_t)y_count) == 0, "forward: batch bitwise equal to one by one");
    free(y_single);
    cpu->conv2d_backward_data(cpu, &s, dy, w, dx);
    cpu->conv2d_backward_filter(cpu, &s, x, dy, dw, db);

    char what[160];
    snprintf(what, sizeof what, "conv n%d c%d %dx%d → c%d k%dx%d s%d,%d p%d,%d d%d,%d bias%d", t->n, t->c_in,
             t->h_in, t->w_in, t->c_out, t->kh, t->kw, s.stride_h, s.stride_w, s.pad_h, s.pad_w, s.dil_h, s.dil_w,
             t->bias);
    char label[200];
    snprintf(label, sizeof label, "%s: forward", what);
    check_bound(label, y, y_exact, y_mag, y_count, (double)s.c_in * s.kh * s.kw, 1);
    snprintf(label, sizeof label, "%s: backward data (accumulated)", what);
    check_bound(label, dx, dx_exact, dx_mag, x_count, (double)s.c_out * s.kh * s.kw, 1);
    snprintf(label, sizeof label, "%s: backward filter dW (accumulated)", what);
    check_bound(label, dw, dw_exact, dw_mag, w_count, (double)s.n * s.h_out * s.w_out,
                dot_forced ? s.n * s.h_out : s.n);
    snprintf(label, sizeof label, "%s: backward filter db (accumulated)", what);
    check_bound(label, db, db_exact, db_mag, s.c_out, (double)s.n * s.h_out * s.w_out, 1);

    /* NULL means "not needed": nothing is written */
    float db_before = db[0];
    cpu->conv2d_backward_filter(cpu, &s, x, dy, dw, NULL);
    cpu->conv2d_backward_filter(cpu, &s, x, dy, NULL, db);
    CHECK(db[0] != db_before || s.c_out == 0 || dy[0] == 0, "%s: db accumulates again when dw is NULL", what);
    cpu->conv2d_backward_data(cpu, &s, dy, w, NULL);

    *output_count = total;
    *outputs = malloc(sizeof(float) * (size_t)total);
    memcpy(*outputs, y, sizeof(float) * (size_t)y_count);
    memcpy(*outputs + y_count, dx, sizeof(float) * (size_t)x_count);
    memcpy(*outputs + y_count + x_count, dw, sizeof(float) * (size_t)w_count);
    memcpy(*outputs + y_count + x_count + w_count, db, sizeof(float) * (size_t)s.c_out);
    free(x), free(w), free(b), free(dy), free(dx), free(dw), free(db), free(y), free(exact), free(magnitude);
}

static void check_convolutions(uint64_t seed) {
    static const conv_case cases[] = {
        /* n  cin  h   w  cout kh kw  s  p  d  bias */
        {2, 3, 9, 11, 4, 3, 3, 1, 1, 1, 1, 0, 0, 0},   /* the common 3×3 same-padding case */
        {3, 5, 13, 10, 7, 3, 3, 2, 1, 1, 0, 0, 0, 0},  /* stride 2, odd sizes, no bias */
        {1, 4, 12, 12, 6, 3, 3, 1, 2, 2, 1, 0, 0, 0},  /* dilation 2 */
        {5, 16, 7, 9, 24, 1, 1, 1, 0, 1, 1, 0, 0, 0},  /* pointwise: x used directly as the GEMM operand */
        {4, 8, 9, 9, 16, 1, 1, 2, 0, 1, 0, 0, 0, 0},   /* 1×1 stride 2: needs im2col */
        {2, 3, 23, 19, 8, 7, 7, 2, 3, 1, 1, 0, 0, 0},  /* the ResNet stem shape, small */
        {1, 2, 5, 4, 3, 2, 3, 3, 0, 1, 1, 0, 0, 0},    /* non-square kernel, stride larger than the kernel */
        {3, 1, 1, 1, 5, 3, 3, 1, 1, 1, 1, 0, 0, 0},    /* 1×1 image, 3×3 kernel: all but the centre tap is padding */
        {2, 33, 17, 15, 65, 3, 3, 1, 1, 1, 1, 0, 0, 0}, /* channel counts past the MR/NR tiles */
        {1, 24, 30, 30, 40, 5, 5, 2, 2, 1, 0, 0, 0, 0}, /* 5×5 stride 2 */
        {2, 3, 11, 14, 5, 3, 2, 2, 2, 1, 1, 1, 1, 2}, /* height and width differ in stride, padding, dilation */
        {2, 6, 8, 10, 4, 1, 1, 1, 0, 1, 0, 2, 0, 0},  /* 1×1 with stride only along the width */
        /* the plans of core/cpu/conv2d.c: ≥ 128 output pixels (one sample per GEMM: whole samples per thread, or one
         * sample at a time with the work inside split), and small maps grouped side by side (13 = 7 + 6) */
        {4, 3, 26, 26, 5, 3, 3, 1, 1, 1, 1, 0, 0, 0},
        {3, 8, 24, 24, 16, 1, 1, 1, 0, 1, 1, 0, 0, 0},
        {13, 4, 10, 10, 6, 3, 3, 1, 1, 1, 1, 0, 0, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        float *results[3] = {NULL, NULL, NULL};
        int64_t count = 0;
        static const int thread_counts[] = {1, 2, 3};
        for (int t = 0; t < 3; t++) {
            bl_threads_set(thread_counts[t]);
            check_conv_case(&cases[c], seed + c, &results[t], &count);
        }
        for (int t = 1; t < 3; t++)
            CHECK(memcmp(results[0], results[t], sizeof(float) * (size_t)count) == 0,
                  "conv case %zu: %d threads bitwise equal to 1 thread", c, thread_counts[t]);
        for (int t = 0; t < 3; t++) free(results[t]);
    }
}

/* linear: y = x·wᵀ + b, dx += dy·w, dw += dyᵀ·x, db += Σ_rows dy, against double loops, and thread-invariance. */
static void check_linear(uint64_t seed) {
    static const int shapes[][3] = {{1, 7, 1}, {8, 2049, 1}, {5, 33, 17}, {64, 300, 130}};
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        int n = shapes[c][0], in = shapes[c][1], out = shapes[c][2];
        float *results[2] = {NULL, NULL};
        int64_t total = (int64_t)n * out + (int64_t)n * in + (int64_t)out * in + out;
        for (int t = 0; t < 2; t++) {
            bl_threads_set(t + 1);
            float *x = random_buffer((int64_t)n * in, seed, 40 + c), *w = random_buffer((int64_t)out * in, seed, 50 + c);
            float *b = random_buffer(out, seed, 60 + c), *dy = random_buffer((int64_t)n * out, seed, 70 + c);
            float *out_all = random_buffer(total, seed, 80 + c); /* y (overwritten), dx, dw, db (accumulated) */
            float *y = out_all, *dx = y + (int64_t)n * out, *dw = dx + (int64_t)n * in, *db = dw + (int64_t)out * in;
            double *exact = calloc((size_t)total, sizeof(double)), *magnitude = calloc((size_t)total, sizeof(double));
            for (int64_t i = (int64_t)n * out; i < total; i++) exact[i] = out_all[i], magnitude[i] = fabs(out_all[i]);
            double *y_exact = exact, *dx_exact = exact + (int64_t)n * out, *dw_exact = dx_exact + (int64_t)n * in;
            double *db_exact = dw_exact + (int64_t)out * in;
            double *y_mag = magnitude, *dx_mag = magnitude + (int64_t)n * out, *dw_mag = dx_mag + (int64_t)n * in;
            double *db_mag = dw_mag + (int64_t)out * in;
            for (int r = 0; r < n; r++)
                for (int o = 0; o < out; o++) {
                    double g = dy[(int64_t)r * out + o];
                    y_exact[(int64_t)r * out + o] += b[o], y_mag[(int64_t)r * out + o] += fabs(b[o]);
                    db_exact[o] += g, db_mag[o] += fabs(g);
                    for (int i = 0; i < in; i++) {
                        double xv = x[(int64_t)r * in + i], wv = w[(int64_t)o * in + i];
                        y_exact[(int64_t)r * out + o] += xv * wv, y_mag[(int64_t)r * out + o] += fabs(xv * wv);
                        dx_exact[(int64_t)r * in + i] += g * wv, dx_mag[(int64_t)r * in + i] += fabs(g * wv);
                        dw_exact[(int64_t)o * in + i] += g * xv, dw_mag[(int64_t)o * in + i] += fabs(g * xv);
                    }
                }
            const bl_kernels *cpu = cpu_under_test;
            cpu->linear_forward(cpu, n, in, out, x, w, b, y);
            cpu->linear_backward(cpu, n, in, out, x, w, dy, dx, dw, db);
            char what[96];
            snprintf(what, sizeof what, "linear %dx%d→%d forward", n, in, out);
            check_bound(what, y, y_exact, y_mag, (int64_t)n * out, in, 1);
            snprintf(what, sizeof what, "linear %dx%d→%d dx", n, in, out);
            check_bound(what, dx, dx_exact, dx_mag, (int64_t)n * in, out, 1);
            snprintf(what, sizeof what, "linear %dx%d→%d dw", n, in, out);
            check_bound(what, dw, dw_exact, dw_mag, (int64_t)out * in, n, 1);
            snprintf(what, sizeof what, "linear %dx%d→%d db", n, in, out);
            check_bound(what, db, db_exact, db_mag, out, n, 1);
            results[t] = out_all;
            free(x), free(w), free(b), free(dy), free(exact), free(magnitude);
        }
        CHECK(memcmp(results[0], results[1], sizeof(float) * (size_t)total) == 0,
              "linear %dx%d→%d: 2 threads bitwise equal to 1", n, in, out);
        free(results[0]), free(results[1]);
    }
}

/* ================================================== Winograd F(4×4, 3×3) (core/cpu/conv2d_winograd.c) ==== */

/* The transforms' matrices with their entries' absolute values: the magnitude of the Winograd bound */
static const double bt_abs[6][6] = {{4, 0, 5, 0, 1, 0}, {0, 4, 4, 1, 1, 0}, {0, 4, 4, 1, 1, 0},
                                    {0, 2, 1, 2, 1, 0}, {0, 2, 1, 2, 1, 0}, {0, 4, 0, 5, 0, 1}};
static const double g_abs[6][3] = {{1.0 / 4, 0, 0},          {1.0 / 6, 1.0 / 6, 1.0 / 6}, {1.0 / 6, 1.0 / 6, 1.0 / 6},
                                   {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, 1.0 / 12, 1.0 / 6}, {0, 0, 1}};
static const double at_abs[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, 1, 2, 2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, 1, 8, 8, 1}};

static double worst_winograd_in_u, worst_winograd_in_direct_u;

/* v[6a + b] = (|Bᵀ| |d| |B|)[a][b] for the 6×6 input patch d of channel ci under the tile at output (oh0, ow0) of
 * sample n (zeros outside the input) */
static void patch_magnitude(const bl_conv2d_shape *s, const float *x, int n, int ci, int oh0, int ow0, double v[36]) {
    double d[6][6];
    for (int r = 0; r < 6; r++)
        for (int c = 0; c < 6; c++) {
            int ih = oh0 - s->pad_h + r, iw = ow0 - s->pad_w + c;
            int inside = ih >= 0 && ih < s->h_in && iw >= 0 && iw < s->w_in;
            d[r][c] = inside ? fabs(x[(((int64_t)n * s->c_in + ci) * s->h_in + ih) * s->w_in + iw]) : 0;
        }
    for (int a = 0; a < 6; a++)
        for (int bb = 0; bb < 6; bb++) {
            double sum = 0;
            for (int r = 0; r < 6; r++)
                for (int c = 0; c < 6; c++) sum += bt_abs[a][r] * d[r][c] * bt_abs[bb][c];
            v[a * 6 + bb] = sum;
        }
}

/* mag[o] = (Aᵀ_abs [Σ_ci (|G| |g| |G|ᵀ) ⊙ (|Bᵀ| |d| |B|)] A_abs)[o] + |b[co]| + |y0[o]| over the 4×4 output tiles
 * from the corner (b, y0 may be NULL): the computation of conv2d_winograd.c with every value and constant taken
 * by its absolute value, which bounds each rounding's contribution to the error. */
static void winograd_magnitude(const bl_conv2d_shape *s, const float *x, const float *w, const float *b,
                               const float *y0, double *mag) {
    double *u = malloc(sizeof(double) * 36 * (size_t)s->c_out * s->c_in);
    double *v = malloc(sizeof(double) * 36 * (size_t)s->c_in);
    for (int co = 0; co < s->c_out; co++)
        for (int ci = 0; ci < s->c_in; ci++) {
            const float *g = w + weight_index(s, co, ci, 0, 0);
            double *uf = u + ((int64_t)co * s->c_in + ci) * 36;
            for (int a = 0; a < 6; a++)
                for (int bb = 0; bb < 6; bb++) {
                    double sum = 0;
                    for (int r = 0; r < 3; r++)
                        for (int c = 0; c < 3; c++) sum += g_abs[a][r] * fabs(g[r * 3 + c]) * g_abs[bb][c];
                    uf[a * 6 + bb] = sum;
                }
        }
    for (int n = 0; n < s->n; n++)
        for (int oh0 = 0; oh0 < s->h_out; oh0 += 4)
            for (int ow0 = 0; ow0 < s->w_out; ow0 += 4) {
                for (int ci = 0; ci < s->c_in; ci++) patch_magnitude(s, x, n, ci, oh0, ow0, v + ci * 36);
                for (int co = 0; co < s->c_out; co++) {
                    double m[36] = {0};
                    for (int ci = 0; ci < s->c_in; ci++)
                        for (int i = 0; i < 36; i++) m[i] += u[((int64_t)co * s->c_in + ci) * 36 + i] * v[ci * 36 + i];
                    for (int r = 0; r < 4 && oh0 + r < s->h_out; r++)
                        for (int c = 0; c < 4 && ow0 + c < s->w_out; c++) {
                            double sum = 0;
                            for (int a = 0; a < 6; a++)
                                for (int bb = 0; bb < 6; bb++) sum += at_abs[r][a] * m[a * 6 + bb] * at_abs[c][bb];
                            int64_t o = output_index(s, n, co, oh0 + r, ow0 + c);
                            mag[o] = sum + (b ? fabs(b[co]) : 0) + (y0 ? fabs(y0[o]) : 0);
                        }
                }
            }
    free(u), free(v);
}

/* mag[co,ci,i,j] = (|G|ᵀ [Σ_t (|A| |e_t| |A|ᵀ) ⊙ (|Bᵀ| |d_t| |B|)] |G|)[i][j] + |dw0|: the weight gradient's
 * computation (conv2d_winograd_filter_gradient) on absolute values, e_t the tile's 4×4 of dy (zeros past the map;
 * |A| is at_abs transposed) */
static void winograd_gradient_magnitude(const bl_conv2d_shape *s, const float *x, const float *dy, const float *dw0,
                                        double *mag) {
    int64_t pairs = (int64_t)s->c_out * s->c_in;
    double *acc = calloc((size_t)pairs * 36, sizeof(double)), *v = malloc(sizeof(double) * 36 * (size_t)s->c_in);
    for (int n = 0; n < s->n; n++)
        for (int oh0 = 0; oh0 < s->h_out; oh0 += 4)
            for (int ow0 = 0; ow0 < s->w_out; ow0 += 4) {
                for (int ci = 0; ci < s->c_in; ci++) patch_magnitude(s, x, n, ci, oh0, ow0, v + ci * 36);
                for (int co = 0; co < s->c_out; co++) {
                    double e[36];
                    for (int a = 0; a < 6; a++)
                        for (int bb = 0; bb < 6; bb++) {
                            double sum = 0;
                            for (int r = 0; r < 4 && oh0 + r < s->h_out; r++)
                                for (int c = 0; c < 4 && ow0 + c < s->w_out; c++)
                                    sum += at_abs[r][a] * at_abs[c][bb] * fabs(dy[output_index(s, n, co, oh0 + r, ow0 + c)]);
                            e[a * 6 + bb] = sum;
                        }
                    for (int ci = 0; ci < s->c_in; ci++)
                        for (int i = 0; i < 36; i++) acc[((int64_t)co * s->c_in + ci) * 36 + i] += e[i] * v[ci * 36 + i];
                }
            }
    for (int64_t pair = 0; pair < pairs; pair++)
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                double sum = 0;
                for (int a = 0; a < 6; a++)
                    for (int bb = 0; bb < 6; bb++) sum += g_abs[a][i] * acc[pair * 36 + a * 6 + bb] * g_abs[bb][j];
                mag[pair * 9 + i * 3 + j] = sum + fabs(dw0[pair * 9 + i * 3 + j]);
            }
    free(acc), free(v);
}

/* |got − exact| ≤ 1.01·(2·channels + 16)·u·mag: γ_n for n = 1 (U to float) + 6 (Bᵀ) + 2·channels (the GEMM's
 * running sums and K-block adds, at most) + 6 (Aᵀ) + 2 (bias, accumulation) + margin (conv2d_winograd.c). For the
 * weight gradient `channels` is the number of tiles the GEMMs reduce over (chunk adds included in the 2×), and
 * 6 (Bᵀ) + 4 (A) + 2 (Gᵀ…G rounded once from double, accumulation) fit the same margin. */
static void check_winograd_bound(const char *what, const float *got, const double *exact, const double *mag,
                                 const double *direct_mag, int64_t count, int64_t channels) {
    check_within(what, got, exact, mag, count, 1.01 * (2.0 * (double)channels + 16.0) * unit_roundoff,
                 &worst_winograd_in_u);
    for (int64_t i = 0; i < count; i++) { /* the same error against the direct magnitude, for the record */
        double error = fabs((double)got[i] - exact[i]);
        if (direct_mag[i] > 0 && error / (unit_roundoff * direct_mag[i]) > worst_winograd_in_direct_u)
            worst_winograd_in_direct_u = error / (unit_roundoff * direct_mag[i]);
    }
}

/* Forward for evaluation (conv2d_forward_nograd, written) and backward data (accumulated) of one 3×3 stride-1 case
 * through Winograd, against the
 * double direct sums under the bound above; *outputs gets y then dx for the bitwise comparisons. */
static void check_winograd_case(const conv_case *t, uint64_t seed, float **outputs, int64_t *output_count) {
    const bl_kernels *cpu = cpu_under_test;
    bl_conv2d_shape s = shape_of(t);
    int64_t x_count = (int64_t)s.n * s.c_in * s.h_in * s.w_in, w_count = (int64_t)s.c_out * s.c_in * 9;
    int64_t y_count = (int64_t)s.n * s.c_out * s.h_out * s.w_out;
    float *x = random_buffer(x_count, seed, 1), *w = random_buffer(w_count, seed, 2);
    float *b = t->bias ? random_buffer(s.c_out, seed, 3) : NULL, *dy = random_buffer(y_count, seed, 4);
    float *dx = random_buffer(x_count, seed, 5), *y = random_buffer(y_count, seed, 8);
    float *dw = random_buffer(w_count, seed, 6), *db = random_buffer(s.c_out, seed, 7);
    double *dw_exact = malloc(sizeof(double) * (size_t)w_count), *dw_direct = malloc(sizeof(double) * (size_t)w_count);
    double *dw_mag = malloc(sizeof(double) * (size_t)w_count);
    for (int64_t i = 0; i < w_count; i++) dw_exact[i] = dw[i], dw_direct[i] = fabs(dw[i]);
    double *y_exact = calloc((size_t)y_count, sizeof(double)), *y_direct = calloc((size_t)y_count, sizeof(double));
    double *dx_exact = calloc((size_t)x_count, sizeof(double)), *dx_direct = calloc((size_t)x_count, sizeof(double));
    double *y_mag = malloc(sizeof(double) * (size_t)y_count), *dx_mag = malloc(sizeof(double) * (size_t)x_count);
    for (int64_t i = 0; i < x_count; i++) dx_exact[i] = dx[i], dx_direct[i] = fabs(dx[i]);
    for (int n = 0; n < s.n; n++)
        for (int co = 0; co < s.c_out; co++)
            for (int oh = 0; oh < s.h_out; oh++)
                for (int ow = 0; ow < s.w_out; ow++) {
                    int64_t o = output_index(&s, n, co, oh, ow);
                    if (b) y_exact[o] += b[co], y_direct[o] += fabs(b[co]);
                    for (int ci = 0; ci < s.c_in; ci++)
                        for (int i = 0; i < 3; i++)
                            for (int j = 0; j < 3; j++) {
                                int64_t in = input_index(&s, n, ci, oh, ow, i, j);
                                if (in < 0) continue;
                                int64_t wi = weight_index(&s, co, ci, i, j);
                                double wv = w[wi];
                                y_exact[o] += wv * x[in], y_direct[o] += fabs(wv * x[in]);
                                dx_exact[in] += wv * dy[o], dx_direct[in] += fabs(wv * dy[o]);
                                dw_exact[wi] += (double)dy[o] * x[in], dw_direct[wi] += fabs((double)dy[o] * x[in]);
                            }
                }
    winograd_magnitude(&s, x, w, b, NULL, y_mag);
    /* backward data is the transposed convolution: dy with the flipped, channel-swapped weights, padding 2 − p */
    bl_conv2d_shape tr = {.n = s.n, .c_in = s.c_out, .h_in = s.h_out, .w_in = s.w_out, .c_out = s.c_in, .kh = 3,
                          .kw = 3, .stride_h = 1, .stride_w = 1, .pad_h = 2 - s.pad_h, .pad_w = 2 - s.pad_w,
                          .dil_h = 1, .dil_w = 1, .h_out = s.h_in, .w_out = s.w_in};
    float *w_t = malloc(sizeof(float) * (size_t)w_count);
    for (int co = 0; co < s.c_out; co++)
        for (int ci = 0; ci < s.c_in; ci++)
            for (int k = 0; k < 9; k++) w_t[((int64_t)ci * s.c_out + co) * 9 + k] = w[((int64_t)co * s.c_in + ci) * 9 + 8 - k];
    winograd_magnitude(&tr, dy, w_t, NULL, dx, dx_mag);
    winograd_gradient_magnitude(&s, x, dy, dw, dw_mag);

    cpu->conv2d_forward_nograd(cpu, &s, x, w, b, y);
    cpu->conv2d_backward_data(cpu, &s, dy, w, dx);
    cpu->conv2d_backward_filter(cpu, &s, x, dy, dw, db);
    char what[160], label[260];
    snprintf(what, sizeof what, "winograd n%d c%d %dx%d → c%d p%d,%d bias%d", t->n, t->c_in, t->h_in, t->w_in,
             t->c_out, s.pad_h, s.pad_w, t->bias);
    snprintf(label, sizeof label, "%s: forward", what);
    check_winograd_bound(label, y, y_exact, y_mag, y_direct, y_count, s.c_in);
    snprintf(label, sizeof label, "%s: backward data (accumulated)", what);
    check_winograd_bound(label, dx, dx_exact, dx_mag, dx_direct, x_count, s.c_out);
    snprintf(label, sizeof label, "%s: backward filter dW (accumulated)", what);
    int64_t tiles = (int64_t)s.n * ((s.h_out + 3) / 4) * ((s.w_out + 3) / 4);
    check_winograd_bound(label, dw, dw_exact, dw_mag, dw_direct, w_count, tiles);
    /* it is the Winograd path: the direct path rounds differently; and the training forward IS the direct path */
    float *y_other = malloc(sizeof(float) * (size_t)y_count), *y_direct_path = malloc(sizeof(float) * (size_t)y_count);
    cpu->conv2d_forward(cpu, &s, x, w, b, y_other);
    CHECK(memcmp(y, y_other, sizeof(float) * (size_t)y_count) != 0, "%s: forward differs from the direct path", what);
    bl_kernels *direct = with_winograd(0);
    direct->conv2d_forward_nograd(direct, &s, x, w, b, y_direct_path);
    CHECK(memcmp(y_direct_path, y_other, sizeof(float) * (size_t)y_count) == 0,
          "%s: conv2d_forward (training) is the direct path, bitwise", what);
    bl_kernels_cpu_free(direct);
    free(y_direct_path);
    /* a sample's output is the same alone or inside the batch */
    bl_conv2d_shape single = s;
    single.n = 1;
    for (int n = 0; n < s.n; n++)
        cpu->conv2d_forward_nograd(cpu, &single, x + (int64_t)n * s.c_in * s.h_in * s.w_in, w, b,
                                 y_other + (int64_t)n * s.c_out * s.h_out * s.w_out);
    CHECK(memcmp(y, y_other, sizeof(float) * (size_t)y_count) == 0, "%s: batch bitwise equal to one by one", what);
    /* without scratch memory Winograd hands the convolution to the direct paths (which end in ref's loops) */
    bl_scratch_set_limit(1);
    cpu->conv2d_forward_nograd(cpu, &s, x, w, b, y_other);
    bl_scratch_set_limit(0);
    snprintf(label, sizeof label, "%s: forward without scratch memory (direct fallback)", what);
    check_bound(label, y_other, y_exact, y_direct, y_count, (double)s.c_in * 9, 1); /* the direct bound */
    free(y_other);

    *output_count = y_count + x_count + w_count; /* y and dx first: they do not depend on the chunk size */
    *outputs = malloc(sizeof(float) * (size_t)*output_count);
    memcpy(*outputs, y, sizeof(float) * (size_t)y_count);
    memcpy(*outputs + y_count, dx, sizeof(float) * (size_t)x_count);
    memcpy(*outputs + y_count + x_count, dw, sizeof(float) * (size_t)w_count);
    free(x), free(w), free(b), free(dy), free(dx), free(y), free(w_t), free(dw), free(db);
    free(dw_exact), free(dw_direct), free(dw_mag);
    free(y_exact), free(y_direct), free(dx_exact), free(dx_direct), free(y_mag), free(dx_mag);
}

static void check_winograd(bl_gemm_kernel_kind simd, uint64_t seed) {
    static const conv_case cases[] = {
        /* n  cin  h   w  cout kh kw  s  p  d  bias  (every one 3×3, stride 1) */
        {2, 3, 9, 11, 4, 3, 3, 1, 1, 1, 1, 0, 0, 0},    /* few channels, partial tiles on both edges */
        {1, 5, 10, 10, 6, 3, 3, 1, 0, 1, 0, 0, 0, 0},   /* no padding (the transposed one has padding 2) */
        {3, 17, 13, 7, 19, 3, 3, 1, 2, 1, 1, 0, 0, 0},  /* padding 2 (transposed: 0) */
        {2, 33, 17, 15, 65, 3, 3, 1, 1, 1, 1, 0, 0, 0}, /* channels past the GEMM's tiles */
        {5, 16, 4, 4, 16, 3, 3, 1, 1, 1, 0, 0, 0, 0},   /* exactly one tile per sample */
        {3, 20, 1, 1, 24, 3, 3, 1, 1, 1, 1, 0, 0, 0},   /* a 1×1 map: one tile, 15 of 16 outputs dropped */
        {2, 8, 9, 12, 8, 3, 3, 1, 0, 1, 0, 0, 2, 0},    /* padding 0 along the height, 2 along the width */
        {4, 40, 26, 30, 36, 3, 3, 1, 1, 1, 1, 0, 0, 0}, /* 4·7·8 = 224 tiles: 7 chunks of 32; rows of 8 tiles */
        {2, 6, 9, 70, 5, 3, 3, 1, 1, 1, 1, 0, 0, 0},    /* rows of 18 tiles: 16 + 2 read whole, both edges padded */
        {3, 4, 6, 37, 7, 3, 3, 1, 0, 1, 0, 0, 2, 0},    /* rows of 10 tiles, partial last tile, padding 0 / 2 */
        {2, 8, 62, 64, 8, 3, 3, 1, 1, 1, 1, 0, 0, 0},   /* 512 tiles: two full 256-tile chunks */
    };
    bl_cpu_options every_shape = bl_cpu_options_default(), small_chunks;
    every_shape.simd = simd;
    every_shape.winograd = 2;
    small_chunks = every_shape;
    small_chunks.winograd_chunk_tiles = 32;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        float *results[4] = {NULL, NULL, NULL, NULL};
        use_backend(every_shape);
        int64_t count = 0;
        static const int thread_counts[] = {1, 2, 3};
        for (int t = 0; t < 3; t++) {
            bl_threads_set(thread_counts[t]);
            check_winograd_case(&cases[c], seed + c, &results[t], &count);
        }
        use_backend(small_chunks);
        check_winograd_case(&cases[c], seed + c, &results[3], &count);
        for (int t = 1; t < 3; t++)
            CHECK(memcmp(results[0], results[t], sizeof(float) * (size_t)count) == 0,
                  "winograd case %zu: %d threads bitwise equal to 1 thread", c, thread_counts[t]);
        /* the forward and backward data do not depend on the chunking; dW reduces over the tiles chunk after
         * chunk, so only its bound holds there (checked inside the case) */
        bl_conv2d_shape s = shape_of(&cases[c]);
        int64_t y_and_dx = (int64_t)s.n * (s.c_out * s.h_out * s.w_out + s.c_in * s.h_in * s.w_in);
        CHECK(memcmp(results[0], results[3], sizeof(float) * (size_t)y_and_dx) == 0,
              "winograd case %zu: 32-tile chunks bitwise equal to one chunk (forward, backward data)", c);
        for (int t = 0; t < 4; t++) free(results[t]);
    }
}

int main(void) {
    uint64_t seed = 7100;
    const bl_cpu_options defaults = bl_cpu_options_default();
    bl_cpu_options direct = defaults, dots = defaults;
    direct.winograd = 0;
    dots.winograd = 0;
    dots.conv_backward_filter_dot = 2;
    /* the direct paths, held to the direct bound (Winograd has its own, below) */
    use_backend(direct);
    CHECK(strcmp(cpu_under_test->name, "cpu") == 0, "backend name");
    check_convolutions(seed);
    /* again with every stride-1 backward filter by dot products (where the instruction set has them: AVX-512),
     * not only the shapes where they pay — pointwise, tiny maps, partial tiles all included */
    use_backend(dots);
    dot_forced = 1;
    check_convolutions(seed + 500);
    dot_forced = 0;
    check_winograd(defaults.simd, seed + 900);
    /* the portable transforms, and the AVX2 build of them (each runs with its instruction set only) */
    if (defaults.simd != BL_GEMM_KERNEL_GENERIC) check_winograd(BL_GEMM_KERNEL_GENERIC, seed + 950);
    if (defaults.simd == BL_GEMM_KERNEL_AVX512 && bl_gemm_kernel_available(BL_GEMM_KERNEL_AVX2))
        check_winograd(BL_GEMM_KERNEL_AVX2, seed + 975);
    use_backend(defaults);
    check_linear(seed);
    bl_kernels_cpu_free(cpu_under_test);
    printf("gemm kernel %s: worst |error| = %.3f u·magnitude\n", bl_gemm_kernel_name(defaults.simd), worst_error_in_u);
    printf("winograd: worst |error| = %.3f u·(magnitude through the transforms) = %.3f u·(direct magnitude)\n",
           worst_winograd_in_u, worst_winograd_in_direct_u);
    bl_threads_shutdown();
    bl_scratch_free_all();
    return test_summary("test_conv_cpu");
}
