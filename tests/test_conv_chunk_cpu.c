/* test_conv_chunk_cpu.c — the cpu backend's forward conv2d computed in chunks of output columns (core/cpu/conv2d.c)
 * is BITWISE the unchunked computation.
 *
 * conv2d.c bounds the forward im2col buffer: a sample's P output pixels are split into chunks, each chunk's
 * columns of col are built and multiplied on their own, writing y_n[:, p0:p1]. That can only change a result if
 * im2col fills a wrong column (a range bug) or if a GEMM's result depended on how its output columns are split —
 * gemm.h says it does not (each element's K-sum is blocked by a K block that depends on K only). This test
 * checks both claims directly: the reference is the same file's path with the bound lifted
 * (the option conv_forward_chunk_bytes = SIZE_MAX: one chunk of P columns, the code before chunking), and every
 * chunked run must equal it byte for byte (memcmp), for chunk widths of 1 column, 7 columns, exactly one output
 * row, a row and a bit (chunks starting and ending mid-row), and a width large enough for the 64-column rounding,
 * each with 1 and 2 threads (both threading plans: whole samples per thread, and one sample at a time with the
 * work split). The test asserts that each bound really splits P (the bound is below K·P floats). Then the
 * default forward — where each GEMM runs on one thread, stride 1: the padded grid (B by row pointers into a
 * zero-padded copy of the sample); other strides: im2col fused into the GEMM's B packing — must equal the same
 * reference byte for byte, with 1 and 2 threads, with the micro-kernel reading B in place (the default where it
 * can: the option gemm_b_direct) and with packed panels. The reference packs every B panel (direct off). Accuracy
 * against an independent oracle is test_conv_cpu.c's job; it runs the unchunked path for its shapes.
 *
 * Shapes: 3×3 same padding with bias, stride 2 with padding, dilation 2, 1×1 stride 2, 7×7 stride 2 pad 3,
 * unequal strides / pads / dilations per axis, channel counts past the register tiles, one small map alone
 * (P < 128, n = 1: chunked) and small maps grouped side by side (n > 1: not chunked, must be unaffected), and the
 * pointwise conv (no im2col: must be unaffected). Winograd (core/cpu/conv2d_winograd.c) is turned off here: it takes
 * some 3×3 stride-1 shapes by default and is not bitwise these paths (test_conv_cpu.c holds it to its bound). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu/cpu_ops.h"
#include "core/cpu/gemm.h"
#include "core/cpu/scratch.h"
#include "core/kernels.h"
#include "core/cpu/threads.h"
#include "harness.h"

typedef struct chunk_case {
    int n, c_in, h_in, w_in, c_out, kh, kw, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, bias;
    const char *what;
} chunk_case;

/* The cpu backend under test: Winograd off (the direct paths only: Winograd, not bitwise these, is
 * test_conv_cpu.c's), and the three choices these tests compare. Each call frees the previous one. */
static bl_kernels *backend;
static const bl_kernels *configure(int fused, size_t chunk_bytes, int b_direct) {
    bl_kernels_cpu_free(backend);
    backend = NULL;
    bl_cpu_options o = bl_cpu_options_default();
    o.winograd = 0;
    o.conv_forward_fused = fused;
    if (chunk_bytes) o.conv_forward_chunk_bytes = chunk_bytes; /* 0: the default bound */
    o.gemm_b_direct = b_direct;
    CHECK(bl_kernels_cpu_create(&o, &backend) == BL_OK, "cpu backend: %s", bl_last_error());
    return backend;
}

static bl_conv2d_shape shape_of(const chunk_case *t) {
    bl_conv2d_shape s = {.n = t->n, .c_in = t->c_in, .h_in = t->h_in, .w_in = t->w_in, .c_out = t->c_out,
                         .kh = t->kh, .kw = t->kw, .stride_h = t->stride_h, .stride_w = t->stride_w,
                         .pad_h = t->pad_h, .pad_w = t->pad_w, .dil_h = t->dil_h, .dil_w = t->dil_w};
    s.h_out = (s.h_in + 2 * s.pad_h - s.dil_h * (s.kh - 1) - 1) / s.stride_h + 1;
    s.w_out = (s.w_in + 2 * s.pad_w - s.dil_w * (s.kw - 1) - 1) / s.stride_w + 1;
    return s;
}

static int is_pointwise(const bl_conv2d_shape *s) {
    return s->kh == 1 && s->kw == 1 && s->stride_h == 1 && s->stride_w == 1 && s->pad_h == 0 && s->pad_w == 0;
}

/* the first element whose bytes differ, or −1 */
static int64_t first_difference(const float *got, const float *want, int64_t count) {
    for (int64_t i = 0; i < count; i++)
        if (memcmp(&got[i], &want[i], sizeof(float)) != 0) return i;
    return -1;
}

static void check_case(const chunk_case *t, uint64_t seed) {
    const bl_kernels *cpu;
    bl_conv2d_shape s = shape_of(t);
    int64_t k = (int64_t)s.c_in * s.kh * s.kw, p = (int64_t)s.h_out * s.w_out;
    int64_t x_count = (int64_t)s.n * s.c_in * s.h_in * s.w_in, w_count = (int64_t)s.c_out * k;
    int64_t y_count = (int64_t)s.n * s.c_out * p;
    float *x = malloc(sizeof(float) * (size_t)x_count), *w = malloc(sizeof(float) * (size_t)w_count);
    float *b = t->bias ? malloc(sizeof(float) * (size_t)s.c_out) : NULL;
    float *reference = malloc(sizeof(float) * (size_t)y_count), *y = malloc(sizeof(float) * (size_t)y_count);
    test_fill_uniform(x, x_count, seed, 1, -1.0f, 1.0f);
    test_fill_uniform(w, w_count, seed, 2, -1.0f, 1.0f);
    if (b) test_fill_uniform(b, s.c_out, seed, 3, -1.0f, 1.0f);

    bl_threads_set(1);
    cpu = configure(0, SIZE_MAX, 0); /* no chunking, no fusion, packed B panels: the reference */
    test_fill_uniform(reference, y_count, seed, 4, -1.0f, 1.0f); /* garbage: every element must be written */
    cpu->conv2d_forward(cpu, &s, x, w, b, reference);

    /* chunk widths in columns: the bound is width·K floats */
    int64_t widths[] = {1, 7, s.w_out, s.w_out + 5, 130};
    int chunked_any = 0;
    for (size_t c = 0; c < sizeof widths / sizeof widths[0]; c++) {
        if (widths[c] >= p) continue; /* would not split this shape */
        chunked_any = 1;
        for (int threads = 1; threads <= 2; threads++) {
            bl_threads_set(threads);
            cpu = configure(0, (size_t)(widths[c] * k) * sizeof(float), 1);
            test_fill_uniform(y, y_count, seed, 5 + (uint64_t)c, -1.0f, 1.0f);
            cpu->conv2d_forward(cpu, &s, x, w, b, y);
            int64_t first_bad = first_difference(y, reference, y_count);
            if (first_bad >= 0)
                CHECK(0, "%s: chunks of %lld of %lld columns, %d thread(s): element %lld is %.9g, unchunked %.9g",
                      t->what, (long long)widths[c], (long long)p, threads, (long long)first_bad, y[first_bad],
                      reference[first_bad]);
            else
                CHECK(1, "%s: chunks of ≤ %lld of %lld columns, %d thread(s): bitwise equal to unchunked", t->what,
                      (long long)widths[c], (long long)p, threads);
        }
    }
    CHECK(chunked_any || is_pointwise(&s), "%s: at least one bound splits P = %lld", t->what, (long long)p);

    /* the default wherever each GEMM runs on one thread (1 thread, or 2 threads with whole samples per thread: n
     * even here): the padded grid (im2col inside the GEMM's B packing if its buffer cannot be had), else chunks of
     * ≤ 4 MiB (none for these shapes) */
    for (int direct = 0; direct <= 1; direct++)
        for (int threads = 1; threads <= 2; threads++) {
            cpu = configure(1, 0, direct);
            bl_threads_set(threads);
            test_fill_uniform(y, y_count, seed, 20, -1.0f, 1.0f);
            cpu->conv2d_forward(cpu, &s, x, w, b, y);
            int64_t first_bad = first_difference(y, reference, y_count);
            if (first_bad >= 0)
                CHECK(0, "%s: default (fused) forward, B %s, %d thread(s): element %lld is %.9g, unchunked %.9g",
                      t->what, direct ? "in place" : "packed", threads, (long long)first_bad, y[first_bad],
                      reference[first_bad]);
            else
                CHECK(1, "%s: default (fused) forward, B %s, %d thread(s): bitwise equal to unchunked", t->what,
                      direct ? "in place" : "packed", threads);
        }
    cpu = configure(1, 0, 1);

    /* no scratch memory at all: each path falls back to the next (padded grid → fused im2col → chunks → ref's
     * loops), ending in a correct result — not bitwise (ref accumulates in double), so within 1e-5 relative */
    bl_scratch_set_limit(1);
    test_fill_uniform(y, y_count, seed, 21, -1.0f, 1.0f);
    cpu->conv2d_forward(cpu, &s, x, w, b, y);
    bl_scratch_set_limit(0);
    double worst = 0;
    for (int64_t i = 0; i < y_count; i++) {
        double r = fabs((double)y[i] - reference[i]) / (1.0 + fabs((double)reference[i]));
        if (!(r <= worst)) worst = r;
    }
    CHECK(worst <= 1e-5, "%s: forward without scratch memory: worst relative difference %.3g", t->what, worst);
    free(x), free(w), free(b), free(reference), free(y);
}

/* Backward data of a stride-1 convolution runs as a transposed convolution through the same chunked forward path
 * (core/cpu/conv2d.c), accumulating into dx: chunked must equal unchunked byte for byte here too. Its im2col has
 * K' = c_out·kh·kw rows and P' = h_in·w_in columns. */
static void check_backward_data_case(const chunk_case *t, uint64_t seed) {
    const bl_kernels *cpu;
    bl_conv2d_shape s = shape_of(t);
    if (s.stride_h != 1 || s.stride_w != 1 || is_pointwise(&s)) return;
    int64_t k_t = (int64_t)s.c_out * s.kh * s.kw, p_t = (int64_t)s.h_in * s.w_in;
    int64_t dx_count = (int64_t)s.n * s.c_in * p_t, w_count = (int64_t)s.c_out * s.c_in * s.kh * s.kw;
    int64_t dy_count = (int64_t)s.n * s.c_out * s.h_out * s.w_out;
    float *dy = malloc(sizeof(float) * (size_t)dy_count), *w = malloc(sizeof(float) * (size_t)w_count);
    float *reference = malloc(sizeof(float) * (size_t)dx_count), *dx = malloc(sizeof(float) * (size_t)dx_count);
    test_fill_uniform(dy, dy_count, seed, 11, -1.0f, 1.0f);
    test_fill_uniform(w, w_count, seed, 12, -1.0f, 1.0f);
    bl_threads_set(1);
    cpu = configure(0, SIZE_MAX, 0); /* the reference: one GEMM over a whole im2col buffer, packed panels */
    test_fill_uniform(reference, dx_count, seed, 13, -1.0f, 1.0f); /* dx accumulates: the same start each run */
    cpu->conv2d_backward_data(cpu, &s, dy, w, reference);
    int64_t widths[] = {1, 7, s.w_in + 3, 130};
    for (size_t c = 0; c < sizeof widths / sizeof widths[0]; c++) {
        if (widths[c] >= p_t) continue;
        for (int threads = 1; threads <= 2; threads++) {
            bl_threads_set(threads);
            cpu = configure(0, (size_t)(widths[c] * k_t) * sizeof(float), 1);
            test_fill_uniform(dx, dx_count, seed, 13, -1.0f, 1.0f);
            cpu->conv2d_backward_data(cpu, &s, dy, w, dx);
            CHECK(memcmp(dx, reference, sizeof(float) * (size_t)dx_count) == 0,
                  "%s: backward data in chunks of ≤ %lld of %lld columns, %d thread(s): bitwise equal to unchunked",
                  t->what, (long long)widths[c], (long long)p_t, threads);
        }
    }
    for (int direct = 0; direct <= 1; direct++) /* the default: the padded grid where a sample has one thread */
        for (int threads = 1; threads <= 2; threads++) {
            cpu = configure(1, 0, direct);
            bl_threads_set(threads);
            test_fill_uniform(dx, dx_count, seed, 13, -1.0f, 1.0f);
            cpu->conv2d_backward_data(cpu, &s, dy, w, dx);
            CHECK(memcmp(dx, reference, sizeof(float) * (size_t)dx_count) == 0,
                  "%s: backward data, default (fused, β = 1) path, B %s, %d thread(s): bitwise equal to unchunked",
                  t->what, direct ? "in place" : "packed", threads);
        }
    free(dy), free(w), free(reference), free(dx);
}

/* The GEMM with B given row by row (bl_sgemm_cpu_prepacked_b_rows) against the same GEMM with B in memory,
 * bitwise, on shapes with several K blocks, several NC blocks, partial MR/NR tiles and beta ≠ 0. */
typedef struct matrix_rows {
    const float *b;
    int ldb;
} matrix_rows;

static void rows_from_matrix(void *user, int row, int col0, int cols, float *dst) {
    const matrix_rows *m = user;
    memcpy(dst, m->b + (size_t)row * m->ldb + col0, sizeof(float) * (size_t)cols);
}

static void check_gemm_b_rows(uint64_t seed) {
    const bl_gemm_config cfg = bl_gemm_config_default();
    static const int shapes[][3] = {{37, 4196, 600}, {8, 33, 7}, {130, 9000, 300}};
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        int m = shapes[c][0], n = shapes[c][1], k = shapes[c][2];
        float *a = malloc(sizeof(float) * (size_t)m * k), *b = malloc(sizeof(float) * (size_t)k * n);
        float *want = malloc(sizeof(float) * (size_t)m * n), *got = malloc(sizeof(float) * (size_t)m * n);
        const bl_gemm_config cfg_a = cfg;
        float *packed = malloc(sizeof(float) * bl_sgemm_prepacked_a_floats(&cfg_a, m, k));
        test_fill_uniform(a, (int64_t)m * k, seed, 30 + c, -1.0f, 1.0f);
        test_fill_uniform(b, (int64_t)k * n, seed, 40 + c, -1.0f, 1.0f);
        for (int threads = 1; threads <= 2; threads++) {
            bl_threads_set(threads);
            bl_sgemm_prepack_a(&cfg_a, 0, m, k, a, k, packed);
            test_fill_uniform(want, (int64_t)m * n, seed, 50 + c, -1.0f, 1.0f);
            memcpy(got, want, sizeof(float) * (size_t)m * n); /* beta = 0.5 reads C */
            bl_sgemm_cpu_prepacked(&cfg, m, n, k, 1.5f, packed, 0, b, n, 0.5f, want, n);
            matrix_rows rows = {.b = b, .ldb = n};
            int status =
                bl_sgemm_cpu_prepacked_b_rows(&cfg, m, n, k, 1.5f, packed, rows_from_matrix, &rows, 0.5f, got, n);
            CHECK(status == 0 && memcmp(got, want, sizeof(float) * (size_t)m * n) == 0,
                  "gemm %dx%dx%d, B row by row, %d thread(s): bitwise equal to B in memory (status %d)", m, n, k,
                  threads, status);
        }
        free(a), free(b), free(want), free(got), free(packed);
    }
}

/* The GEMM with B given by row pointers (bl_sgemm_cpu_prepacked_b_row_ptrs) — strided rows, and overlapping rows
 * shifted by one float (B[r][j] = base[r + j], as a convolution's taps) — against the same B in memory through the
 * packed path, bitwise, with the micro-kernel reading B in place and with packed panels; and the plain prepacked
 * GEMM with B read in place against packed. Several K and NC blocks, partial tiles, beta ≠ 0. */
static void check_gemm_b_row_ptrs(uint64_t seed) {
    const bl_gemm_kernel_kind kernel = bl_gemm_kernel_default();
    const bl_gemm_config packing = {.kernel = kernel, .b_direct = 0};
    static const int shapes[][3] = {{37, 4196, 600}, {8, 33, 7}, {130, 9000, 300}, {64, 250, 1300}};
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        int m = shapes[c][0], n = shapes[c][1], k = shapes[c][2];
        float *a = malloc(sizeof(float) * (size_t)m * k), *b = malloc(sizeof(float) * (size_t)k * n);
        float *base = malloc(sizeof(float) * (size_t)(k + n)), *shifted = malloc(sizeof(float) * (size_t)k * n);
        float *start = malloc(sizeof(float) * (size_t)m * n), *want = malloc(sizeof(float) * (size_t)m * n);
        float *got = malloc(sizeof(float) * (size_t)m * n);
        const bl_gemm_config cfg_a = packing; /* the packing of A does not depend on b_direct */
        float *packed = malloc(sizeof(float) * bl_sgemm_prepacked_a_floats(&cfg_a, m, k));
        const float **strided = malloc(sizeof(float *) * (size_t)k), **overlapping = malloc(sizeof(float *) * (size_t)k);
        test_fill_uniform(a, (int64_t)m * k, seed, 60 + c, -1.0f, 1.0f);
        test_fill_uniform(b, (int64_t)k * n, seed, 70 + c, -1.0f, 1.0f);
        test_fill_uniform(base, k + n, seed, 80 + c, -1.0f, 1.0f);
        test_fill_uniform(start, (int64_t)m * n, seed, 90 + c, -1.0f, 1.0f);
        for (int r = 0; r < k; r++) {
            strided[r] = b + (size_t)r * n;
            overlapping[r] = base + r;
            memcpy(shifted + (size_t)r * n, base + r, sizeof(float) * (size_t)n);
        }
        for (int threads = 1; threads <= 2; threads++) {
            bl_threads_set(threads);
            bl_sgemm_prepack_a(&cfg_a, 0, m, k, a, k, packed);
            for (int overlap = 0; overlap <= 1; overlap++) {
                const float *matrix = overlap ? shifted : b;
                memcpy(want, start, sizeof(float) * (size_t)m * n);
                bl_sgemm_cpu_prepacked(&packing, m, n, k, 1.5f, packed, 0, matrix, n, 0.5f, want, n);
                for (int direct = 0; direct <= 1; direct++) {
                    const bl_gemm_config cfg = {.kernel = kernel, .b_direct = direct};
                    memcpy(got, start, sizeof(float) * (size_t)m * n);
                    bl_sgemm_cpu_prepacked_b_row_ptrs(&cfg, m, n, k, 1.5f, packed, overlap ? overlapping : strided,
                                                      0.5f, got, n);
                    CHECK(memcmp(got, want, sizeof(float) * (size_t)m * n) == 0,
                          "gemm %dx%dx%d, B by %s row pointers, B %s, %d thread(s): bitwise equal to B in memory", m,
                          n, k, overlap ? "overlapping" : "strided", direct ? "in place" : "packed", threads);
                    memcpy(got, start, sizeof(float) * (size_t)m * n);
                    bl_sgemm_cpu_prepacked(&cfg, m, n, k, 1.5f, packed, 0, matrix, n, 0.5f, got, n);
                    CHECK(memcmp(got, want, sizeof(float) * (size_t)m * n) == 0,
                          "gemm %dx%dx%d, prepacked A, B in memory read %s, %d thread(s): bitwise equal to packed", m,
                          n, k, direct ? "in place" : "packed", threads);
                }
            }
        }
        free(a), free(b), free(base), free(shifted), free(start), free(want), free(got), free(packed);
        free(strided), free(overlapping);
    }
}

int main(void) {
    check_gemm_b_rows(9000);
    check_gemm_b_row_ptrs(9050);
    static const chunk_case cases[] = {
        /* n cin  h   w  cout kh kw sh sw ph pw dh dw bias */
        {2, 3, 17, 19, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, "3x3 same padding, bias"},
        {3, 4, 21, 18, 6, 3, 3, 2, 2, 1, 1, 1, 1, 0, "3x3 stride 2 pad 1"},
        {1, 5, 16, 16, 7, 3, 3, 1, 1, 2, 2, 2, 2, 1, "3x3 dilation 2 pad 2, one sample"},
        {4, 8, 25, 23, 9, 1, 1, 2, 2, 0, 0, 1, 1, 1, "1x1 stride 2"},
        {2, 3, 40, 37, 8, 7, 7, 2, 2, 3, 3, 1, 1, 1, "7x7 stride 2 pad 3 (the stem)"},
        {3, 3, 19, 23, 5, 3, 2, 2, 1, 2, 1, 1, 2, 1, "unequal stride, padding, dilation per axis"},
        {2, 4, 15, 17, 6, 3, 3, 2, 1, 1, 1, 1, 1, 1, "stride 2 along the height only (phases differ per axis)"},
        {2, 4, 16, 15, 6, 3, 3, 1, 2, 1, 1, 1, 1, 0, "stride 2 along the width only"},
        {2, 33, 30, 30, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, "channels past the register tiles"},
        {1, 8, 10, 10, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, "small map alone (P < 128, n = 1)"},
        {5, 8, 9, 9, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, "small maps grouped side by side (not chunked)"},
        {2, 6, 12, 13, 4, 1, 1, 1, 1, 0, 0, 1, 1, 1, "pointwise (no im2col, not chunked)"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) check_case(&cases[c], 9100 + c);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) check_backward_data_case(&cases[c], 9200 + c);
    bl_kernels_cpu_free(backend);
    bl_threads_shutdown();
    bl_scratch_free_all();
    return test_summary("test_conv_chunk_cpu");
}
