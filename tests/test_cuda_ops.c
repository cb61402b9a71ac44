/* test_cuda_ops.c — every slot of the `cuda` backend against the `ref` oracle, on FRESH random inputs every run.
 *
 * The seed is drawn from the clock and printed (replay: BLASTO_CUDA_SEED=<seed>). Inputs are made on the host,
 * uploaded with the backend's own upload slot, run on the GPU, downloaded and compared with ref run on the same
 * host values. Three configurations are opened one after the other (bl_kernels_cuda_close in between):
 *   1. deterministic, TF32 off — every op; plus: two runs of every cuDNN/cuBLAS op give the same bits, a backward
 *      called twice from zero gives exactly twice one call, and the memory slots (upload/download across the
 *      32 MiB staging chunk, the host buffer reused right after an asynchronous upload, copy, fill);
 *   2. non-deterministic, TF32 off — the GEMM-shaped ops again (cuDNN may pick other algorithms);
 *   3. TF32 on — the GEMM-shaped ops with the TF32 bound.
 * Tolerances (docs/cuda.md, "Numerics and the tests' tolerances"):
 *   bitwise       relu, add, axpy, add_scalar, mul, concat, pools (max and avg, forward and backward), global
 *                 avgpool, dropout mask, fill, copy, BN eval forward and eval statistics, the optimizers — our
 *                 kernels evaluate ref's formula in ref's precision and order with IEEE arithmetic;
 *   1–2 ulp       sigmoid (exp is not correctly rounded on either side), and the double-accumulated reductions
 *                 (BN train / backward, bias gradients, sum, BCE): a different double summation order moves the
 *                 double result by ~K·2⁻⁵³ relative, which changes the float rounding in rare cases:
 *                 |cuda − ref| ≤ 2⁻²²·|ref| + 1e-12·max|ref|;
 *   fp32 GEMM     sgemm, linear, conv2d y/dx/dw: the K-term dot-product bound of docs/numerics.md ("Backend
 *                 parity"), |cuda − ref| ≤ (K + ⌈K/64⌉ + 2)·u·(|A|·|B|) + u·|ref|, u = 2⁻²⁴, valid for any
 *                 summation order (cuDNN's algorithms are restricted to direct/GEMM ones, docs/cuda.md);
 *   TF32          each operand of a product is cut to TF32's 10 explicit mantissa bits (relative error < 2⁻¹⁰
 *                 whether the kernel rounds or truncates), so each product term is off by < 2⁻⁹ relative:
 *                 |cuda − ref| ≤ (2⁻⁹ + (K + ⌈K/64⌉ + 2)·u)·(|A|·|B|) + u·|ref|. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/kernels.h"
#include "harness.h"

#ifdef BLASTO_HAVE_CUDA
#include "cuda/kernels_cuda.h"

static const double unit_roundoff = 1.0 / 16777216.0; /* 2^-24 */
static const bl_kernels *gpu, *ref;
static int tf32_mode; /* the bound check_dot_bound applies */
static uint64_t seed;

/* ---- buffers: host ones with calloc, device ones through the backend (freed at the end of each section) ---- */
#define MAX_DEVICE_BUFFERS 256
static void *device_buffers[MAX_DEVICE_BUFFERS];
static int device_buffer_count;

static float *host(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }
static float *rand_host(int64_t n, uint64_t idx, float lo, float hi) {
    float *p = host(n);
    test_fill_uniform(p, n, seed, idx, lo, hi);
    return p;
}
static float *abs_copy(const float *x, int64_t n) {
    float *p = host(n);
    for (int64_t i = 0; i < n; i++) p[i] = fabsf(x[i]);
    return p;
}
static float *dev(int64_t n) {
    float *d = gpu->mem_alloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!d) {
        fprintf(stderr, "test_cuda_ops: device allocation of %lld floats failed\n", (long long)n);
        exit(1);
    }
    if (device_buffer_count < MAX_DEVICE_BUFFERS) device_buffers[device_buffer_count++] = d;
    return d;
}
static float *up(const float *h, int64_t n) {
    float *d = dev(n);
    gpu->upload(d, h, (size_t)n * sizeof(float));
    return d;
}
/* the device buffer's contents in a fresh host buffer */
static float *down(const float *d, int64_t n) {
    float *h = host(n);
    gpu->download(h, d, (size_t)n * sizeof(float));
    return h;
}
static void free_device_buffers(void) {
    for (int i = 0; i < device_buffer_count; i++) gpu->mem_free(device_buffers[i]);
    device_buffer_count = 0;
}
static void check_no_error(const char *where) {
    const char *e = gpu->take_error();
    CHECK(e == NULL, "%s: backend error: %s", where, e ? e : "");
}

/* ---- comparisons ---- */
static void check_bitwise(const char *what, const float *got, const float *want, int64_t n) {
    int64_t bad = -1;
    for (int64_t i = 0; i < n && bad < 0; i++)
        if (memcmp(&got[i], &want[i], sizeof(float)) != 0) bad = i;
    CHECK(bad < 0, "%s: element %lld: cuda %.9g vs ref %.9g (bitwise expected)", what, (long long)bad,
          bad >= 0 ? got[bad] : 0.0, bad >= 0 ? want[bad] : 0.0);
}

/* |got − want| ≤ 2⁻²²·|want| + 1e-12·max|want| (double-accumulated reductions and sigmoid) */
static void check_ulps(const char *what, const float *got, const float *want, int64_t n) {
    double max_want = 0;
    for (int64_t i = 0; i < n; i++) max_want = fmax(max_want, fabs((double)want[i]));
    int64_t worst = 0;
    double ratio = test_close_ratio(got, want, n, 1.0 / 4194304.0, 1e-12 * max_want + 1e-38, &worst);
    CHECK(ratio <= 1.0, "%s: element %lld: cuda %.9g vs ref %.9g exceeds 2 ulps (ratio %.3g)", what, (long long)worst,
          got[worst], want[worst], ratio);
}

/* the K-term dot-product bound (fp32) or its TF32 version; magnitude = the op on absolute values */
static void check_dot_bound(const char *what, const float *got, const float *want, const float *magnitude,
                            int64_t count, int64_t k) {
    int64_t bad = -1;
    double worst = 0;
    for (int64_t i = 0; i < count; i++) {
        double roundings = (double)k + (double)((k + 63) / 64) + 2.0;
        double per_term = roundings * unit_roundoff + (tf32_mode ? 1.0 / 512.0 : 0.0);
        double bound = per_term * magnitude[i] + unit_roundoff * fabs(want[i]) + 1e-30;
        double r = fabs((double)got[i] - want[i]) / bound;
        if (!(r <= worst)) worst = r;
        if (!(r <= 1.0) && bad < 0) bad = i;
    }
    CHECK(bad < 0, "%s: element %lld: cuda %.9g vs ref %.9g exceeds the K=%lld %s bound", what, (long long)bad,
          bad >= 0 ? got[bad] : 0.0, bad >= 0 ? want[bad] : 0.0, (long long)k, tf32_mode ? "TF32" : "fp32");
    printf("  %-44s worst error / bound = %.3f\n", what, worst);
}

/* ============================================================================================================
 * GEMM-shaped ops: sgemm, linear, conv2d
 * ========================================================================================================== */

static void test_sgemm(const char *tag) {
    const int cases[][5] = {{0, 0, 37, 53, 129}, {1, 0, 64, 33, 300}, {0, 1, 130, 17, 64}, {1, 1, 7, 200, 45},
                            {0, 0, 1, 1, 1}};
    for (int c = 0; c < 5; c++) {
        int ta = cases[c][0], tb = cases[c][1], m = cases[c][2], n = cases[c][3], k = cases[c][4];
        int64_t na = (int64_t)m * k, nb = (int64_t)k * n, nc = (int64_t)m * n;
        float *a = rand_host(na, 10 + c, -1, 1), *b = rand_host(nb, 20 + c, -1, 1), *c0 = rand_host(nc, 30 + c, -1, 1);
        float *aa = abs_copy(a, na), *ab = abs_copy(b, nb), *mag = abs_copy(c0, nc), *want = host(nc);
        memcpy(want, c0, (size_t)nc * sizeof(float));
        int lda = ta ? m : k, ldb = tb ? k : n;
        /* beta = 1 (accumulate onto c0) with alpha = 1, and beta = 0 onto NaN garbage */
        float *dc = up(c0, nc), *da = up(a, na), *db = up(b, nb);
        gpu->sgemm(ta, tb, m, n, k, 1.0f, da, lda, db, ldb, 1.0f, dc, n);
        ref->sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 1.0f, want, n);
        ref->sgemm(ta, tb, m, n, k, 1.0f, aa, lda, ab, ldb, 1.0f, mag, n);
        float *got = down(dc, nc);
        check_no_error("sgemm");
        char what[96];
        snprintf(what, sizeof what, "%s sgemm %s%s %dx%dx%d beta=1", tag, ta ? "T" : "N", tb ? "T" : "N", m, n, k);
        check_dot_bound(what, got, want, mag, nc, (int64_t)k + 1);
        gpu->fill(nc, NAN, dc);
        gpu->sgemm(ta, tb, m, n, k, 1.0f, da, lda, db, ldb, 0.0f, dc, n);
        ref->sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, want, n);
        ref->sgemm(ta, tb, m, n, k, 1.0f, aa, lda, ab, ldb, 0.0f, mag, n);
        free(got);
        got = down(dc, nc);
        check_no_error("sgemm beta 0");
        snprintf(what, sizeof what, "%s sgemm %s%s %dx%dx%d beta=0", tag, ta ? "T" : "N", tb ? "T" : "N", m, n, k);
        check_dot_bound(what, got, want, mag, nc, k);
        free(a), free(b), free(c0), free(aa), free(ab), free(mag), free(want), free(got);
    }
    free_device_buffers();
}

static void test_linear(const char *tag, int deterministic) {
    const int cases[][3] = {{5, 77, 9}, {2, 2048, 1000}, {64, 4096, 1}, {3, 1, 4}};
    for (int c = 0; c < 4; c++) {
        int n = cases[c][0], in = cases[c][1], out = cases[c][2];
        int64_t nx = (int64_t)n * in, nw = (int64_t)out * in, ny = (int64_t)n * out;
        float *x = rand_host(nx, 600 + c, -1, 1), *w = rand_host(nw, 610 + c, -1, 1);
        float *b = rand_host(out, 620 + c, -1, 1);
        float *dy = rand_host(ny, 630 + c, -1, 1);
        float *ax = abs_copy(x, nx), *aw = abs_copy(w, nw), *ab = abs_copy(b, out), *ady = abs_copy(dy, ny);
        float *dx_, *dw_, *dbv;
        float *want_y = host(ny), *mag_y = host(ny);
        float *dxd = up(x, nx), *dwd = up(w, nw), *dbd = up(b, out), *dyd = up(dy, ny), *yd = dev(ny);
        gpu->linear_forward(n, in, out, dxd, dwd, dbd, yd);
        ref->linear_forward(n, in, out, x, w, b, want_y);
        ref->linear_forward(n, in, out, ax, aw, ab, mag_y);
        float *got_y = down(yd, ny);
        check_no_error("linear forward");
        char what[96];
        snprintf(what, sizeof what, "%s linear forward %dx%d→%d", tag, n, in, out);
        check_dot_bound(what, got_y, want_y, mag_y, ny, (int64_t)in + 1);
        /* backward onto random starting gradients (the += rule) */
        float *gx0 = rand_host(nx, 640 + c, -1, 1), *gw0 = rand_host(nw, 650 + c, -1, 1);
        float *gb0 = rand_host(out, 660 + c, -1, 1);
        float *gxd = up(gx0, nx), *gwd = up(gw0, nw), *gbd = up(gb0, out);
        dx_ = host(nx), dw_ = host(nw), dbv = host(out);
        memcpy(dx_, gx0, (size_t)nx * 4), memcpy(dw_, gw0, (size_t)nw * 4), memcpy(dbv, gb0, (size_t)out * 4);
        float *mx = abs_copy(gx0, nx), *mw = abs_copy(gw0, nw), *mb = abs_copy(gb0, out);
        gpu->linear_backward(n, in, out, dxd, dwd, dyd, gxd, gwd, gbd);
        ref->linear_backward(n, in, out, x, w, dy, dx_, dw_, dbv);
        ref->linear_backward(n, in, out, ax, aw, ady, mx, mw, mb);
        float *got_dx = down(gxd, nx), *got_dw = down(gwd, nw), *got_db = down(gbd, out);
        check_no_error("linear backward");
        snprintf(what, sizeof what, "%s linear backward dx %dx%d→%d", tag, n, in, out);
        check_dot_bound(what, got_dx, dx_, mx, nx, (int64_t)out + 1);
        snprintf(what, sizeof what, "%s linear backward dw %dx%d→%d", tag, n, in, out);
        check_dot_bound(what, got_dw, dw_, mw, nw, (int64_t)n + 1);
        snprintf(what, sizeof what, "%s linear backward db %dx%d→%d", tag, n, in, out);
        check_ulps(what, got_db, dbv, out);
        if (deterministic) {
            /* NULL gradients are skipped; two calls from zero = exactly twice one call */
            float *zx = dev(nx);
            gpu->fill(nx, 0.0f, zx);
            gpu->linear_backward(n, in, out, dxd, dwd, dyd, zx, NULL, NULL);
            float *once = down(zx, nx);
            gpu->linear_backward(n, in, out, dxd, dwd, dyd, zx, NULL, NULL);
            float *twice = down(zx, nx);
            for (int64_t i = 0; i < nx; i++) once[i] *= 2.0f;
            check_no_error("linear backward twice");
            snprintf(what, sizeof what, "%s linear dx twice = 2×once", tag);
            check_bitwise(what, twice, once, nx);
            free(once), free(twice);
        }
        free(x), free(w), free(b), free(dy), free(ax), free(aw), free(ab), free(ady), free(want_y), free(mag_y);
        free(got_y), free(gx0), free(gw0), free(gb0), free(dx_), free(dw_), free(dbv), free(mx), free(mw), free(mb);
        free(got_dx), free(got_dw), free(got_db);
        free_device_buffers();
    }
}

static const bl_conv2d_shape conv_shapes[] = {
    /* 3×3 pad 1 */
    {.n = 2, .c_in = 3, .h_in = 13, .w_in = 11, .c_out = 8, .kh = 3, .kw = 3, .stride_h = 1, .stride_w = 1,
     .pad_h = 1, .pad_w = 1, .dil_h = 1, .dil_w = 1},
    /* strided, dilated, asymmetric padding */
    {.n = 3, .c_in = 5, .h_in = 9, .w_in = 10, .c_out = 4, .kh = 3, .kw = 3, .stride_h = 2, .stride_w = 2,
     .pad_h = 1, .pad_w = 0, .dil_h = 2, .dil_w = 1},
    /* 1×1 */
    {.n = 2, .c_in = 16, .h_in = 7, .w_in = 7, .c_out = 12, .kh = 1, .kw = 1, .stride_h = 1, .stride_w = 1,
     .dil_h = 1, .dil_w = 1},
    /* the ResNet stem: 7×7 stride 2 pad 3 on an odd size */
    {.n = 1, .c_in = 3, .h_in = 20, .w_in = 19, .c_out = 6, .kh = 7, .kw = 7, .stride_h = 2, .stride_w = 2,
     .pad_h = 3, .pad_w = 3, .dil_h = 1, .dil_w = 1},
    /* 1×1 stride 2 (ResNet downsample) */
    {.n = 2, .c_in = 8, .h_in = 8, .w_in = 8, .c_out = 8, .kh = 1, .kw = 1, .stride_h = 2, .stride_w = 2,
     .dil_h = 1, .dil_w = 1},
    /* a mid-network 3×3 with more channels (other cuDNN algorithms) */
    {.n = 4, .c_in = 64, .h_in = 28, .w_in = 28, .c_out = 64, .kh = 3, .kw = 3, .stride_h = 1, .stride_w = 1,
     .pad_h = 1, .pad_w = 1, .dil_h = 1, .dil_w = 1},
    /* 1×1 expansion, many channels, small image */
    {.n = 8, .c_in = 256, .h_in = 7, .w_in = 7, .c_out = 512, .kh = 1, .kw = 1, .stride_h = 1, .stride_w = 1,
     .dil_h = 1, .dil_w = 1},
};

static void test_conv2d(const char *tag, int deterministic) {
    for (int c = 0; c < (int)(sizeof conv_shapes / sizeof conv_shapes[0]); c++) {
        bl_conv2d_shape s = conv_shapes[c];
        s.h_out = (s.h_in + 2 * s.pad_h - s.dil_h * (s.kh - 1) - 1) / s.stride_h + 1;
        s.w_out = (s.w_in + 2 * s.pad_w - s.dil_w * (s.kw - 1) - 1) / s.stride_w + 1;
        int64_t nx = (int64_t)s.n * s.c_in * s.h_in * s.w_in, nw = (int64_t)s.c_out * s.c_in * s.kh * s.kw;
        int64_t ny = (int64_t)s.n * s.c_out * s.h_out * s.w_out;
        float *x = rand_host(nx, 100 + c, -1, 1), *w = rand_host(nw, 200 + c, -1, 1);
        float *b = rand_host(s.c_out, 300 + c, -1, 1);
        float *dy = rand_host(ny, 400 + c, -1, 1);
        float *ax = abs_copy(x, nx), *aw = abs_copy(w, nw), *ab = abs_copy(b, s.c_out), *ady = abs_copy(dy, ny);
        float *xd = up(x, nx), *wd = up(w, nw), *bd = up(b, s.c_out), *dyd = up(dy, ny), *yd = dev(ny);
        char what[112];

        float *want = host(ny), *mag = host(ny);
        gpu->fill(ny, NAN, yd); /* forward writes: garbage in y must not matter */
        gpu->conv2d_forward(&s, xd, wd, bd, yd);
        ref->conv2d_forward(&s, x, w, b, want);
        ref->conv2d_forward(&s, ax, aw, ab, mag);
        float *got = down(yd, ny);
        check_no_error("conv2d forward");
        snprintf(what, sizeof what, "%s conv2d forward case %d", tag, c);
        check_dot_bound(what, got, want, mag, ny, (int64_t)s.c_in * s.kh * s.kw + 1);

        /* backward data onto a random start (+=) */
        float *dx0 = rand_host(nx, 500 + c, -1, 1), *want_dx = host(nx), *mag_dx = abs_copy(dx0, nx);
        memcpy(want_dx, dx0, (size_t)nx * sizeof(float));
        float *dxd = up(dx0, nx);
        gpu->conv2d_backward_data(&s, dyd, wd, dxd);
        ref->conv2d_backward_data(&s, dy, w, want_dx);
        ref->conv2d_backward_data(&s, ady, aw, mag_dx);
        float *got_dx = down(dxd, nx);
        check_no_error("conv2d backward data");
        snprintf(what, sizeof what, "%s conv2d backward-data case %d", tag, c);
        check_dot_bound(what, got_dx, want_dx, mag_dx, nx, (int64_t)s.c_out * s.kh * s.kw + 1);

        /* backward filter onto random starts (+=) */
        float *dw0 = rand_host(nw, 550 + c, -1, 1), *db0 = rand_host(s.c_out, 560 + c, -1, 1);
        float *want_dw = host(nw), *want_db = host(s.c_out);
        float *mag_dw = abs_copy(dw0, nw), *mag_db = abs_copy(db0, s.c_out);
        memcpy(want_dw, dw0, (size_t)nw * 4), memcpy(want_db, db0, (size_t)s.c_out * 4);
        float *dwd = up(dw0, nw), *dbd = up(db0, s.c_out);
        gpu->conv2d_backward_filter(&s, xd, dyd, dwd, dbd);
        ref->conv2d_backward_filter(&s, x, dy, want_dw, want_db);
        ref->conv2d_backward_filter(&s, ax, ady, mag_dw, mag_db);
        float *got_dw = down(dwd, nw), *got_db = down(dbd, s.c_out);
        check_no_error("conv2d backward filter");
        int64_t k = (int64_t)s.n * s.h_out * s.w_out + 1;
        snprintf(what, sizeof what, "%s conv2d backward-filter dw case %d", tag, c);
        check_dot_bound(what, got_dw, want_dw, mag_dw, nw, k);
        snprintf(what, sizeof what, "%s conv2d backward-filter db case %d", tag, c);
        check_ulps(what, got_db, want_db, s.c_out);

        char algos[256];
        if (bl_cuda_conv_describe(&s, algos, sizeof algos)) printf("    algorithms: %s\n", algos);
        CHECK(bl_cuda_conv_describe(&s, algos, sizeof algos) == 1, "%s conv2d case %d has a plan", tag, c);

        if (deterministic) {
            /* determinism: the same call twice gives the same bits; accumulation: twice from zero = 2×once */
            float *y2 = dev(ny);
            gpu->conv2d_forward(&s, xd, wd, bd, y2);
            float *again = down(y2, ny);
            snprintf(what, sizeof what, "%s conv2d forward run twice, case %d", tag, c);
            check_bitwise(what, again, got, ny);
            float *zx = dev(nx), *zw = dev(nw), *zb = dev(s.c_out);
            gpu->fill(nx, 0.0f, zx), gpu->fill(nw, 0.0f, zw), gpu->fill(s.c_out, 0.0f, zb);
            gpu->conv2d_backward_data(&s, dyd, wd, zx);
            gpu->conv2d_backward_filter(&s, xd, dyd, zw, zb);
            float *once_x = down(zx, nx), *once_w = down(zw, nw), *once_b = down(zb, s.c_out);
            gpu->conv2d_backward_data(&s, dyd, wd, zx);
            gpu->conv2d_backward_filter(&s, xd, dyd, zw, NULL); /* NULL db: skipped */
            gpu->conv2d_backward_filter(&s, xd, dyd, NULL, zb); /* NULL dw: skipped */
            float *twice_x = down(zx, nx), *twice_w = down(zw, nw), *twice_b = down(zb, s.c_out);
            check_no_error("conv2d twice");
            for (int64_t i = 0; i < nx; i++) once_x[i] *= 2.0f;
            for (int64_t i = 0; i < nw; i++) once_w[i] *= 2.0f;
            for (int64_t i = 0; i < s.c_out; i++) once_b[i] *= 2.0f;
            /* cuDNN's β = 1 need not be one rounding of dx + (the whole sum): on an H100 (cuDNN 9.14) the stem's
             * backward-data came out 1 ulp from 2×once. So dx and dw are held to the dot-product bound of
             * 2×once (K + 1 terms: the sum and the accumulated start), which still catches a β ignored or
             * applied twice (an error of 1×once); db is our own reduction, one rounding, bitwise. */
            float *mag2_x = host(nx), *mag2_w = host(nw), *unused_b = host(s.c_out);
            ref->conv2d_backward_data(&s, ady, aw, mag2_x);
            ref->conv2d_backward_filter(&s, ax, ady, mag2_w, unused_b);
            for (int64_t i = 0; i < nx; i++) mag2_x[i] *= 2.0f;
            for (int64_t i = 0; i < nw; i++) mag2_w[i] *= 2.0f;
            snprintf(what, sizeof what, "%s conv2d dx twice = 2×once, case %d", tag, c);
            check_dot_bound(what, twice_x, once_x, mag2_x, nx, (int64_t)s.c_out * s.kh * s.kw + 1);
            snprintf(what, sizeof what, "%s conv2d dw twice = 2×once, case %d", tag, c);
            check_dot_bound(what, twice_w, once_w, mag2_w, nw, k + 1);
            free(mag2_x), free(mag2_w), free(unused_b);
            snprintf(what, sizeof what, "%s conv2d db twice = 2×once, case %d", tag, c);
            check_bitwise(what, twice_b, once_b, s.c_out);
            free(again), free(once_x), free(once_w), free(once_b), free(twice_x), free(twice_w), free(twice_b);
        }
        free(x), free(w), free(b), free(dy), free(ax), free(aw), free(ab), free(ady), free(want), free(mag), free(got);
        free(dx0), free(want_dx), free(mag_dx), free(got_dx), free(dw0), free(db0), free(want_dw), free(want_db);
        free(mag_dw), free(mag_db), free(got_dw), free(got_db);
        free_device_buffers();
    }
}

/* ============================================================================================================
 * batchnorm2d
 * ========================================================================================================== */

static void test_batchnorm(void) {
    const bl_batchnorm2d_shape shapes[] = {
        {.n = 2, .c = 5, .h = 3, .w = 4, .eps = 1e-5f, .momentum = 0.1f},
        {.n = 8, .c = 3, .h = 40, .w = 40, .eps = 1e-3f, .momentum = 0.01f}, /* 12800 per channel: 2 chunks */
        {.n = 16, .c = 7, .h = 33, .w = 31, .eps = 1e-5f, .momentum = 0.1f}, /* odd sizes, several chunks */
        {.n = 4, .c = 64, .h = 1, .w = 1, .eps = 1e-5f, .momentum = 0.1f},
    };
    for (int c = 0; c < (int)(sizeof shapes / sizeof shapes[0]); c++) {
        bl_batchnorm2d_shape s = shapes[c];
        int64_t count = (int64_t)s.n * s.c * s.h * s.w;
        /* case 1 is the hard one of docs/numerics.md: mean 10, spread 0.5 */
        float *x = c == 1 ? rand_host(count, 800 + c, 9.5f, 10.5f) : rand_host(count, 800 + c, -2, 3);
        float *gamma = rand_host(s.c, 810 + c, 0.5f, 1.5f), *beta = rand_host(s.c, 820 + c, -1, 1);
        float *rm = rand_host(s.c, 830 + c, -0.5f, 0.5f), *rv = rand_host(s.c, 840 + c, 0.5f, 2.0f);
        float *dy = rand_host(count, 850 + c, -1, 1);
        float *xd = up(x, count), *gd = up(gamma, s.c), *bd = up(beta, s.c), *rmd = up(rm, s.c), *rvd = up(rv, s.c);
        float *dyd = up(dy, count), *yd = dev(count), *smd = dev(s.c), *sid = dev(s.c);
        float *want_y = host(count), *want_rm = host(s.c), *want_rv = host(s.c);
        float *want_sm = host(s.c), *want_si = host(s.c);
        memcpy(want_rm, rm, (size_t)s.c * 4), memcpy(want_rv, rv, (size_t)s.c * 4);
        char what[96];

        gpu->batchnorm2d_forward_train(&s, xd, gd, bd, yd, rmd, rvd, smd, sid);
        ref->batchnorm2d_forward_train(&s, x, gamma, beta, want_y, want_rm, want_rv, want_sm, want_si);
        float *y = down(yd, count), *grm = down(rmd, s.c), *grv = down(rvd, s.c), *gsm = down(smd, s.c);
        float *gsi = down(sid, s.c);
        check_no_error("batchnorm train");
        snprintf(what, sizeof what, "batchnorm train y case %d", c);
        check_ulps(what, y, want_y, count);
        snprintf(what, sizeof what, "batchnorm train running_mean case %d", c);
        check_ulps(what, grm, want_rm, s.c);
        snprintf(what, sizeof what, "batchnorm train running_var case %d", c);
        check_ulps(what, grv, want_rv, s.c);
        snprintf(what, sizeof what, "batchnorm train save_mean case %d", c);
        check_ulps(what, gsm, want_sm, s.c);
        snprintf(what, sizeof what, "batchnorm train save_invstd case %d", c);
        check_ulps(what, gsi, want_si, s.c);

        /* training backward with the statistics ref saved (same inputs on both sides), onto random starts */
        float *dx0 = rand_host(count, 860 + c, -1, 1), *dg0 = rand_host(s.c, 870 + c, -1, 1);
        float *db0 = rand_host(s.c, 880 + c, -1, 1);
        float *smr = up(want_sm, s.c), *sir = up(want_si, s.c);
        float *dxd = up(dx0, count), *dgd = up(dg0, s.c), *dbd = up(db0, s.c);
        gpu->batchnorm2d_backward(&s, 1, xd, dyd, gd, smr, sir, dxd, dgd, dbd);
        ref->batchnorm2d_backward(&s, 1, x, dy, gamma, want_sm, want_si, dx0, dg0, db0);
        float *gdx = down(dxd, count), *gdg = down(dgd, s.c), *gdb = down(dbd, s.c);
        check_no_error("batchnorm backward train");
        snprintf(what, sizeof what, "batchnorm backward train dx case %d", c);
        check_ulps(what, gdx, dx0, count);
        snprintf(what, sizeof what, "batchnorm backward train dgamma case %d", c);
        check_ulps(what, gdg, dg0, s.c);
        snprintf(what, sizeof what, "batchnorm backward train dbeta case %d", c);
        check_ulps(what, gdb, db0, s.c);

        /* eval: forward, statistics, backward (dx only: NULL dgamma/dbeta) */
        gpu->batchnorm2d_forward_eval(&s, xd, gd, bd, rmd, rvd, yd);
        ref->batchnorm2d_forward_eval(&s, x, gamma, beta, want_rm, want_rv, want_y);
        free(y);
        y = down(yd, count);
        snprintf(what, sizeof what, "batchnorm eval y case %d", c);
        check_bitwise(what, y, want_y, count);
        /* the same eval on x's channels placed at the start of 3 wider samples (x_sample_stride; NaN fillers
         * must not be read): bit for bit the dense result */
        bl_batchnorm2d_shape strided = s;
        int64_t plane = (int64_t)s.h * s.w, wide_count = (int64_t)s.n * (s.c + 3) * plane;
        strided.x_sample_stride = (int64_t)(s.c + 3) * plane;
        float *x_wide = host(wide_count);
        for (int64_t i = 0; i < wide_count; i++) x_wide[i] = NAN;
        for (int n = 0; n < s.n; n++)
            memcpy(x_wide + n * strided.x_sample_stride, x + (int64_t)n * s.c * plane, (size_t)s.c * plane * 4);
        float *x_wide_d = up(x_wide, wide_count);
        gpu->fill(count, NAN, yd);
        gpu->batchnorm2d_forward_eval(&strided, x_wide_d, gd, bd, rmd, rvd, yd);
        float *y_strided = down(yd, count);
        snprintf(what, sizeof what, "batchnorm eval y, strided samples, case %d", c);
        check_bitwise(what, y_strided, want_y, count);
        /* the fused eval batchnorm + ReLU slot, dense and strided: bitwise ref's fused slot */
        float *want_relu = host(count);
        ref->batchnorm2d_relu_forward_eval(&s, x, gamma, beta, want_rm, want_rv, want_relu);
        for (int strided_x = 0; strided_x < 2; strided_x++) {
            gpu->fill(count, NAN, yd);
            gpu->batchnorm2d_relu_forward_eval(strided_x ? &strided : &s, strided_x ? x_wide_d : xd, gd, bd, rmd, rvd,
                                               yd);
            float *y_relu = down(yd, count);
            snprintf(what, sizeof what, "batchnorm + ReLU eval%s, case %d", strided_x ? ", strided samples" : "", c);
            check_bitwise(what, y_relu, want_relu, count);
            free(y_relu);
        }
        free(x_wide), free(y_strided), free(want_relu);
        gpu->batchnorm2d_eval_stats(s.c, s.eps, rmd, rvd, smd, sid);
        ref->batchnorm2d_eval_stats(s.c, s.eps, want_rm, want_rv, want_sm, want_si);
        free(gsm), free(gsi);
        gsm = down(smd, s.c), gsi = down(sid, s.c);
        snprintf(what, sizeof what, "batchnorm eval_stats case %d", c);
        check_bitwise(what, gsm, want_sm, s.c);
        check_bitwise(what, gsi, want_si, s.c);
        float *ev_dx0 = rand_host(count, 890 + c, -1, 1), *ev_dxd = up(ev_dx0, count);
        gpu->batchnorm2d_backward(&s, 0, xd, dyd, gd, smd, sid, ev_dxd, NULL, NULL);
        ref->batchnorm2d_backward(&s, 0, x, dy, gamma, want_sm, want_si, ev_dx0, NULL, NULL);
        float *ev_dx = down(ev_dxd, count);
        check_no_error("batchnorm eval");
        snprintf(what, sizeof what, "batchnorm backward eval dx case %d", c);
        check_bitwise(what, ev_dx, ev_dx0, count);
        free(x), free(gamma), free(beta), free(rm), free(rv), free(dy), free(want_y), free(want_rm), free(want_rv);
        free(want_sm), free(want_si), free(y), free(grm), free(grv), free(gsm), free(gsi), free(dx0), free(dg0);
        free(db0), free(gdx), free(gdg), free(gdb), free(ev_dx0), free(ev_dx);
        free_device_buffers();
    }
}

/* ============================================================================================================
 * pooling
 * ========================================================================================================== */

static void test_pool_case(bl_pool2d_shape s, int idx) {
    s.h_out = (s.h_in + 2 * s.pad_h - s.kh) / s.stride_h + 1;
    s.w_out = (s.w_in + 2 * s.pad_w - s.kw) / s.stride_w + 1;
    int64_t nx = (int64_t)s.n * s.c * s.h_in * s.w_in, ny = (int64_t)s.n * s.c * s.h_out * s.w_out;
    /* values on a coarse grid (multiples of 1/4 in [−2, 2]) so windows hold ties: the first-maximum rule matters */
    float *x = rand_host(nx, 900 + idx, -2, 2);
    for (int64_t i = 0; i < nx; i++) x[i] = floorf(x[i] * 4.0f) / 4.0f;
    float *dy = rand_host(ny, 910 + idx, -1, 1), *dx0 = rand_host(nx, 920 + idx, -1, 1);
    float *xd = up(x, nx), *dyd = up(dy, ny), *yd = dev(ny);
    float *want_y = host(ny), *want_dx = host(nx);
    char what[96];
    for (int kind = 0; kind < 3; kind++) { /* max, avg with padding counted, avg without */
        s.count_include_pad = kind == 1;
        memcpy(want_dx, dx0, (size_t)nx * 4);
        float *dxd = up(dx0, nx);
        const char *name = kind == 0 ? "maxpool" : kind == 1 ? "avgpool(include pad)" : "avgpool(exclude pad)";
        if (kind == 0) {
            gpu->maxpool2d_forward(&s, xd, yd);
            ref->maxpool2d_forward(&s, x, want_y);
            gpu->maxpool2d_backward(&s, xd, dyd, dxd);
            ref->maxpool2d_backward(&s, x, dy, want_dx);
        } else {
            gpu->avgpool2d_forward(&s, xd, yd);
            ref->avgpool2d_forward(&s, x, want_y);
            gpu->avgpool2d_backward(&s, dyd, dxd);
            ref->avgpool2d_backward(&s, dy, want_dx);
        }
        float *y = down(yd, ny), *dx = down(dxd, nx);
        check_no_error(name);
        snprintf(what, sizeof what, "%s forward case %d", name, idx);
        check_bitwise(what, y, want_y, ny);
        snprintf(what, sizeof what, "%s backward case %d", name, idx);
        check_bitwise(what, dx, want_dx, nx);
        free(y), free(dx);
    }
    free(x), free(dy), free(dx0), free(want_y), free(want_dx);
    free_device_buffers();
}

static void test_pools(void) {
    const bl_pool2d_shape shapes[] = {
        {.n = 2, .c = 3, .h_in = 13, .w_in = 11, .kh = 3, .kw = 3, .stride_h = 2, .stride_w = 2,
         .pad_h = 1, .pad_w = 1},
        {.n = 1, .c = 4, .h_in = 8, .w_in = 8, .kh = 2, .kw = 2, .stride_h = 2, .stride_w = 2},
        {.n = 2, .c = 2, .h_in = 9, .w_in = 7, .kh = 3, .kw = 2, .stride_h = 1, .stride_w = 2, .pad_h = 1, .pad_w = 1},
        {.n = 3, .c = 5, .h_in = 56, .w_in = 56, .kh = 3, .kw = 3, .stride_h = 2, .stride_w = 2,
         .pad_h = 1, .pad_w = 1},
    };
    for (int i = 0; i < (int)(sizeof shapes / sizeof shapes[0]); i++) test_pool_case(shapes[i], i);

    /* a NaN in a window wins (torch's CPU rule) — same on both backends */
    bl_pool2d_shape s = {.n = 1, .c = 1, .h_in = 4, .w_in = 4, .h_out = 2, .w_out = 2, .kh = 2, .kw = 2,
                         .stride_h = 2, .stride_w = 2};
    float x[16] = {1, 2, 3, 4, 5, NAN, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, want[4], *got;
    float *xd = up(x, 16), *yd = dev(4);
    gpu->maxpool2d_forward(&s, xd, yd);
    ref->maxpool2d_forward(&s, x, want);
    got = down(yd, 4);
    check_bitwise("maxpool NaN propagation", got, want, 4);
    free(got);

    /* global average pooling */
    const int64_t nc = 2 * 96, hw = 49;
    float *gx = rand_host(nc * hw, 930, -3, 3), *gdy = rand_host(nc, 931, -1, 1);
    float *gdx0 = rand_host(nc * hw, 932, -1, 1);
    float *gy_want = host(nc), *gdx_want = host(nc * hw);
    memcpy(gdx_want, gdx0, (size_t)(nc * hw) * 4);
    float *gxd = up(gx, nc * hw), *gyd = dev(nc), *gdyd = up(gdy, nc), *gdxd = up(gdx0, nc * hw);
    gpu->global_avgpool_forward(nc, hw, gxd, gyd);
    ref->global_avgpool_forward(nc, hw, gx, gy_want);
    gpu->global_avgpool_backward(nc, hw, gdyd, gdxd);
    ref->global_avgpool_backward(nc, hw, gdy, gdx_want);
    float *gy = down(gyd, nc), *gdx = down(gdxd, nc * hw);
    check_no_error("global avgpool");
    check_bitwise("global avgpool forward", gy, gy_want, nc);
    check_bitwise("global avgpool backward", gdx, gdx_want, nc * hw);
    free(gx), free(gdy), free(gdx0), free(gy_want), free(gdx_want), free(gy), free(gdx);
    free_device_buffers();
}

/* ============================================================================================================
 * elementwise, concat, reductions, loss
 * ========================================================================================================== */

static void test_elementwise(void) {
    const int64_t n = 100003; /* odd, several blocks */
    float *a = rand_host(n, 1000, -4, 4), *b = rand_host(n, 1001, -4, 4), *acc0 = rand_host(n, 1002, -1, 1);
    for (int64_t i = 0; i < n; i += 97) a[i] = 0.0f; /* relu's kink: gradient 0 at x == 0 */
    float *ad = up(a, n), *bd = up(b, n), *od = dev(n);
    float *want = host(n), *got;
    char what[64];
#define FORWARD(name, gpu_call, ref_call)   \
    do {                                    \
        gpu_call;                           \
        ref_call;                           \
        got = down(od, n);                  \
        check_no_error(name);               \
        check_bitwise(name, got, want, n);  \
        free(got);                          \
    } while (0)
    FORWARD("relu forward", gpu->relu_forward(n, ad, od), ref->relu_forward(n, a, want));
    FORWARD("add forward", gpu->add_forward(n, ad, bd, od), ref->add_forward(n, a, b, want));
    FORWARD("mul forward", gpu->mul_forward(n, ad, bd, od), ref->mul_forward(n, a, b, want));
    /* accumulating ones: start from acc0 on both sides */
#define ACCUMULATE(name, gpu_call, ref_call) \
    do {                                     \
        gpu->upload(od, acc0, (size_t)n * 4); \
        memcpy(want, acc0, (size_t)n * 4);   \
        gpu_call;                            \
        ref_call;                            \
        got = down(od, n);                   \
        check_no_error(name);                \
        check_bitwise(name, got, want, n);   \
        free(got);                           \
    } while (0)
    ACCUMULATE("relu backward", gpu->relu_backward(n, ad, bd, od), ref->relu_backward(n, a, b, want));
    /* in place through a folded ReLU: g = a > 0 ? 0 + g : +0 (−0 in g must come out +0) */
    float *g0 = rand_host(n, 1003, -1, 1);
    for (int64_t i = 0; i < n; i += 89) g0[i] = -0.0f;
    gpu->upload(od, g0, (size_t)n * 4);
    memcpy(want, g0, (size_t)n * 4);
    gpu->relu_backward_inplace(n, ad, od);
    ref->relu_backward_inplace(n, a, want);
    got = down(od, n);
    check_no_error("relu backward in place");
    check_bitwise("relu backward in place", got, want, n);
    free(got), free(g0);
    ACCUMULATE("axpy", gpu->axpy(n, 0.3f, ad, od), ref->axpy(n, 0.3f, a, want));
    ACCUMULATE("mul backward", gpu->mul_backward(n, ad, bd, od), ref->mul_backward(n, a, b, want));
    float alpha = -1.7f, *alpha_d = up(&alpha, 1);
    ACCUMULATE("add_scalar", gpu->add_scalar(n, 1.0f / 3.0f, alpha_d, od),
               ref->add_scalar(n, 1.0f / 3.0f, &alpha, want));

    /* sigmoid: exp is not correctly rounded on either side → ≤ 2 ulps */
    gpu->sigmoid_forward(n, ad, od);
    ref->sigmoid_forward(n, a, want);
    got = down(od, n);
    check_ulps("sigmoid forward", got, want, n);
    float *sy = got; /* sigmoid backward from ref's output on both sides */
    float *syd = up(want, n);
    float *sig_want = host(n);
    memcpy(sig_want, acc0, (size_t)n * 4);
    gpu->upload(od, acc0, (size_t)n * 4);
    gpu->sigmoid_backward(n, syd, bd, od);
    ref->sigmoid_backward(n, want, b, sig_want);
    got = down(od, n);
    check_no_error("sigmoid");
    check_bitwise("sigmoid backward", got, sig_want, n);
    free(got), free(sy), free(sig_want);

    /* dropout mask: the counter RNG, bit for bit */
    const float p = 0.3f, keep = 1.0f / 0.7f;
    const uint64_t keys[] = {0, 0x123456789abcdefULL, ~0ULL};
    for (int k = 0; k < 3; k++) {
        gpu->dropout_mask(n, keys[k] ^ seed, p, keep, od);
        ref->dropout_mask(n, keys[k] ^ seed, p, keep, want);
        got = down(od, n);
        snprintf(what, sizeof what, "dropout mask key %d", k);
        check_bitwise(what, got, want, n);
        int64_t kept = 0;
        for (int64_t i = 0; i < n; i++) kept += got[i] != 0;
        CHECK(kept > n / 2 && kept < n * 9 / 10, "dropout mask key %d keeps %lld of %lld (p = 0.3)", k, (long long)kept,
              (long long)n);
        free(got);
    }

    /* concat: two parts into one tensor and back */
    const int cn = 3, c1 = 5, c2 = 7, ct = c1 + c2;
    const int64_t hw = 33;
    float *p1 = rand_host((int64_t)cn * c1 * hw, 1010, -1, 1), *p2 = rand_host((int64_t)cn * c2 * hw, 1011, -1, 1);
    float *cdy = rand_host((int64_t)cn * ct * hw, 1012, -1, 1), *cdx0 = rand_host((int64_t)cn * c2 * hw, 1013, -1, 1);
    float *p1d = up(p1, (int64_t)cn * c1 * hw), *p2d = up(p2, (int64_t)cn * c2 * hw), *cyd = dev((int64_t)cn * ct * hw);
    float *cdyd = up(cdy, (int64_t)cn * ct * hw), *cdxd = up(cdx0, (int64_t)cn * c2 * hw);
    float *cy_want = host((int64_t)cn * ct * hw), *cdx_want = host((int64_t)cn * c2 * hw);
    memcpy(cdx_want, cdx0, (size_t)cn * c2 * hw * 4);
    gpu->concat_channels_forward(cn, c1, ct, 0, hw, p1d, cyd);
    gpu->concat_channels_forward(cn, c2, ct, c1, hw, p2d, cyd);
    ref->concat_channels_forward(cn, c1, ct, 0, hw, p1, cy_want);
    ref->concat_channels_forward(cn, c2, ct, c1, hw, p2, cy_want);
    gpu->concat_channels_backward(cn, c2, ct, c1, hw, cdyd, cdxd);
    ref->concat_channels_backward(cn, c2, ct, c1, hw, cdy, cdx_want);
    float *cy = down(cyd, (int64_t)cn * ct * hw), *cdx = down(cdxd, (int64_t)cn * c2 * hw);
    check_no_error("concat");
    check_bitwise("concat forward", cy, cy_want, (int64_t)cn * ct * hw);
    check_bitwise("concat backward", cdx, cdx_want, (int64_t)cn * c2 * hw);
    free(p1), free(p2), free(cdy), free(cdx0), free(cy_want), free(cdx_want), free(cy), free(cdx);

    /* sum and mean */
    const int64_t counts[] = {1, 7, 1000, n};
    for (int k = 0; k < 4; k++) {
        for (int mean = 0; mean < 2; mean++) {
            double divisor = mean ? (double)counts[k] : 1.0;
            float s_want = 0, *s_got;
            float *sd = dev(1);
            gpu->sum_forward(counts[k], ad, divisor, sd);
            ref->sum_forward(counts[k], a, divisor, &s_want);
            s_got = down(sd, 1);
            snprintf(what, sizeof what, "%s of %lld", mean ? "mean" : "sum", (long long)counts[k]);
            check_ulps(what, s_got, &s_want, 1);
            free(s_got);
        }
    }

    /* BCE with logits, with and without weights */
    const int bn = 301;
    float *z = rand_host(bn, 1020, -30, 30), *t = rand_host(bn, 1021, 0, 1), *wt = rand_host(bn, 1022, 0, 2);
    float *dz0 = rand_host(bn, 1023, -1, 1), dloss = 0.75f;
    float *zd = up(z, bn), *td = up(t, bn), *wd = up(wt, bn), *dlossd = up(&dloss, 1), *lossd = dev(1);
    for (int weighted = 0; weighted < 2; weighted++) {
        float loss_want = 0, *loss_got, *dz_want = host(bn);
        memcpy(dz_want, dz0, (size_t)bn * 4);
        float *dzd = up(dz0, bn);
        gpu->bce_with_logits_forward(bn, zd, td, weighted ? wd : NULL, lossd);
        ref->bce_with_logits_forward(bn, z, t, weighted ? wt : NULL, &loss_want);
        gpu->bce_with_logits_backward(bn, zd, td, weighted ? wd : NULL, dlossd, dzd);
        ref->bce_with_logits_backward(bn, z, t, weighted ? wt : NULL, &dloss, dz_want);
        loss_got = down(lossd, 1);
        float *dz = down(dzd, bn);
        check_no_error("bce");
        snprintf(what, sizeof what, "bce forward%s", weighted ? " weighted" : "");
        check_ulps(what, loss_got, &loss_want, 1);
        snprintf(what, sizeof what, "bce backward%s", weighted ? " weighted" : "");
        check_ulps(what, dz, dz_want, bn);
        free(loss_got), free(dz), free(dz_want);
    }
    free(z), free(t), free(wt), free(dz0);
    free(a), free(b), free(acc0), free(want);
    free_device_buffers();
#undef FORWARD
#undef ACCUMULATE
}

/* ============================================================================================================
 * optimizers: several steps, bitwise
 * ========================================================================================================== */

static void test_optimizers(void) {
    const int64_t n = 4099;
    float *p0 = rand_host(n, 1100, -1, 1);
    struct { float momentum, dampening, wd; int nesterov; } sgd_cases[] = {
        {0, 0, 0, 0}, {0.9f, 0, 1e-4f, 0}, {0.9f, 0.1f, 5e-4f, 0}, {0.9f, 0, 1e-4f, 1}};
    char what[80];
    for (int c = 0; c < 4; c++) {
        float *pr = host(n), *br = host(n);
        memcpy(pr, p0, (size_t)n * 4);
        float *pd = up(p0, n), *bd = dev(n);
        gpu->fill(n, 0.0f, bd);
        for (int step = 0; step < 4; step++) {
            float *g = rand_host(n, 1110 + 10 * c + step, -1, 1), *gd = up(g, n);
            float *buf_gpu = sgd_cases[c].momentum != 0 ? bd : NULL, *buf_ref = sgd_cases[c].momentum != 0 ? br : NULL;
            gpu->sgd_update(n, pd, gd, buf_gpu, 0.05f, sgd_cases[c].momentum, sgd_cases[c].dampening, sgd_cases[c].wd,
                            sgd_cases[c].nesterov, step == 0);
            ref->sgd_update(n, pr, g, buf_ref, 0.05f, sgd_cases[c].momentum, sgd_cases[c].dampening, sgd_cases[c].wd,
                            sgd_cases[c].nesterov, step == 0);
            free(g);
        }
        float *pg = down(pd, n);
        check_no_error("sgd");
        snprintf(what, sizeof what, "sgd case %d after 4 steps", c);
        check_bitwise(what, pg, pr, n);
        free(pr), free(br), free(pg);
        free_device_buffers();
    }
    for (int decoupled = 0; decoupled < 2; decoupled++) {
        float *pr = host(n), *mr = host(n), *vr = host(n);
        memcpy(pr, p0, (size_t)n * 4);
        float *pd = up(p0, n), *md = dev(n), *vd = dev(n);
        gpu->fill(n, 0.0f, md), gpu->fill(n, 0.0f, vd);
        for (int step = 1; step <= 5; step++) {
            float *g = rand_host(n, 1200 + 10 * decoupled + step, -1, 1), *gd = up(g, n);
            gpu->adam_update(n, pd, gd, md, vd, 1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f, decoupled, step);
            ref->adam_update(n, pr, g, mr, vr, 1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f, decoupled, step);
            free(g);
        }
        float *pg = down(pd, n), *mg = down(md, n), *vg = down(vd, n);
        check_no_error("adam");
        snprintf(what, sizeof what, "%s p after 5 steps", decoupled ? "adamw" : "adam");
        check_bitwise(what, pg, pr, n);
        snprintf(what, sizeof what, "%s m, v after 5 steps", decoupled ? "adamw" : "adam");
        check_bitwise(what, mg, mr, n);
        check_bitwise(what, vg, vr, n);
        free(pr), free(mr), free(vr), free(pg), free(mg), free(vg);
        free_device_buffers();
    }
    free(p0);
}

/* ============================================================================================================
 * memory slots
 * ========================================================================================================== */

static void test_memory(void) {
    CHECK(gpu->host_memory == 0, "cuda: host_memory is 0");
    CHECK(strcmp(gpu->name, "cuda") == 0, "cuda: name");
    /* 40 MiB: more than one 32 MiB staging chunk */
    const int64_t n = 10 * 1024 * 1024 + 3;
    float *h = rand_host(n, 1300, -1, 1), *keep = host(n);
    memcpy(keep, h, (size_t)n * 4);
    float *d = dev(n);
    gpu->upload(d, h, (size_t)n * 4);
    /* the upload returns before the device has the data: the host buffer must be ours again at once */
    for (int64_t i = 0; i < n; i++) h[i] = -7.0f;
    CHECK(bl_cuda_synchronize() == BL_OK, "bl_cuda_synchronize after an upload: %s", bl_last_error());
    float *back = down(d, n);
    check_no_error("upload/download");
    check_bitwise("upload then download (40 MiB, host buffer overwritten after upload)", back, keep, n);
    /* several small uploads in a row through the ring */
    float *small = dev(1000);
    for (int r = 0; r < 5; r++) {
        float v[1000];
        for (int i = 0; i < 1000; i++) v[i] = (float)(r * 1000 + i);
        gpu->upload(small, v, sizeof v);
        float *got = down(small, 1000);
        check_bitwise("small upload round trip", got, v, 1000);
        free(got);
    }
    /* copy and fill */
    float *d2 = dev(n);
    gpu->copy(d2, d, (size_t)n * 4);
    free(back);
    back = down(d2, n);
    check_bitwise("device copy", back, keep, n);
    gpu->fill(n, 2.5f, d2);
    free(back);
    back = down(d2, n);
    int all = 1;
    for (int64_t i = 0; i < n; i++) all &= back[i] == 2.5f;
    CHECK(all, "fill 2.5");
    gpu->fill(1000, -0.0f, d2);
    free(back);
    back = down(d2, 1000);
    all = 1;
    for (int i = 0; i < 1000; i++) all &= back[i] == 0.0f && signbit(back[i]);
    CHECK(all, "fill −0.0 keeps the sign");
    check_no_error("memory");
    CHECK(bl_cuda_peak_bytes() >= (size_t)n * 8, "peak bytes %zu counts the two 40 MiB buffers", bl_cuda_peak_bytes());
    free(h), free(keep), free(back);
    free_device_buffers();
}

/* errors: a shape cuDNN disagrees with and an invalid leading dimension are reported once, with file:line and the
 * library's words, through take_error (nothing is launched in either case, so the backend stays usable) */
static void test_errors(void) {
    CHECK(gpu->take_error() == NULL, "no error pending before the error test");
    bl_conv2d_shape bad = conv_shapes[0];
    bad.h_out = (bad.h_in + 2 * bad.pad_h - bad.dil_h * (bad.kh - 1) - 1) / bad.stride_h + 2; /* one row too many */
    bad.w_out = (bad.w_in + 2 * bad.pad_w - bad.dil_w * (bad.kw - 1) - 1) / bad.stride_w + 1;
    int64_t nx = (int64_t)bad.n * bad.c_in * bad.h_in * bad.w_in, nw = (int64_t)bad.c_out * bad.c_in * bad.kh * bad.kw;
    int64_t ny = (int64_t)bad.n * bad.c_out * bad.h_out * bad.w_out;
    float *xd = dev(nx), *wd = dev(nw), *yd = dev(ny);
    gpu->conv2d_forward(&bad, xd, wd, NULL, yd);
    const char *e = gpu->take_error();
    CHECK(e != NULL && strstr(e, "conv_cudnn.cu:") != NULL && strstr(e, "output shape") != NULL,
          "a conv2d shape with a wrong h_out is reported: %s", e ? e : "(nothing)");
    CHECK(gpu->take_error() == NULL, "take_error clears the error");
    float *a = dev(64), *b = dev(64), *c = dev(64);
    gpu->sgemm(0, 0, 8, 8, 8, 1.0f, a, 4 /* lda < k */, b, 8, 0.0f, c, 8);
    /* bl_cuda_synchronize hands the pending error over as a status too (and takes it) */
    CHECK(bl_cuda_synchronize() == BL_ERR_DEVICE && strstr(bl_last_error(), "cublasSgemm") != NULL,
          "an invalid lda is reported by cuBLAS through bl_cuda_synchronize: %s", bl_last_error());
    CHECK(gpu->take_error() == NULL, "bl_cuda_synchronize took the error");
    /* the backend still works afterwards */
    float ones[64], *back;
    for (int i = 0; i < 64; i++) ones[i] = 1.0f;
    gpu->upload(a, ones, sizeof ones);
    gpu->upload(b, ones, sizeof ones);
    gpu->sgemm(0, 0, 8, 8, 8, 1.0f, a, 8, b, 8, 0.0f, c, 8);
    back = down(c, 64);
    int all_eight = 1;
    for (int i = 0; i < 64; i++) all_eight &= back[i] == 8.0f;
    CHECK(all_eight, "sgemm of ones after the errors gives 8");
    check_no_error("after the error test");
    free(back);
    free_device_buffers();
}

static int open_backend(int deterministic, int tf32) {
    bl_cuda_options o = {.device_index = 0, .deterministic = deterministic, .tf32 = tf32};
    if (bl_kernels_cuda_open(&o, &gpu) != BL_OK) {
        CHECK(0, "bl_kernels_cuda_open(deterministic %d, tf32 %d): %s", deterministic, tf32, bl_last_error());
        return 0;
    }
    /* a second open with other options is refused while this one is open */
    const bl_kernels *other = NULL;
    bl_cuda_options o2 = o;
    o2.tf32 = !tf32;
    CHECK(bl_kernels_cuda_open(&o2, &other) != BL_OK, "a second open with other options fails");
    tf32_mode = tf32;
    return 1;
}
#endif

int main(void) {
#ifndef BLASTO_HAVE_CUDA
    return test_skip("this build has no CUDA backend");
#else
    if (bl_cuda_device_count() == 0) return test_skip("no CUDA device");
    unsetenv("BLASTO_CUDA_TRANSFORM_ALGOS"); /* the fp32 bound holds for direct/GEMM algorithms (docs/cuda.md) */
    const char *env = getenv("BLASTO_CUDA_SEED");
    seed = env ? strtoull(env, NULL, 10) : ((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32));
    printf("test_cuda_ops: seed %llu (replay with BLASTO_CUDA_SEED=%llu)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    ref = bl_kernels_ref();

    printf("configuration 1: deterministic, TF32 off\n");
    if (open_backend(1, 0)) {
        test_memory();
        test_errors();
        test_sgemm("det");
        test_linear("det", 1);
        test_conv2d("det", 1);
        test_batchnorm();
        test_pools();
        test_elementwise();
        test_optimizers();
        check_no_error("configuration 1");
        bl_kernels_cuda_close();
    }
    printf("configuration 2: non-deterministic, TF32 off\n");
    if (open_backend(0, 0)) {
        test_sgemm("nondet");
        test_linear("nondet", 0);
        test_conv2d("nondet", 0);
        check_no_error("configuration 2");
        bl_kernels_cuda_close();
    }
    printf("configuration 3: TF32 on\n");
    if (open_backend(0, 1)) {
        test_sgemm("tf32");
        test_linear("tf32", 0);
        test_conv2d("tf32", 0);
        check_no_error("configuration 3");
        bl_kernels_cuda_close();
    }
    return test_summary("test_cuda_ops");
#endif
}
