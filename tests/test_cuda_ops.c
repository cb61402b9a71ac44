/* test_cuda_ops.c — the GEMM-shaped slots of the `cuda` backend against the `ref` oracle, on FRESH random inputs every run.
 *
 * The seed is drawn from the clock and printed (replay: BLASTO_CUDA_SEED=<seed>). Inputs are made on the host,
 * uploaded with the backend's own upload slot, run on the GPU, downloaded and compared with ref run on the same
 * host values. This file holds the GEMM-shaped slots (sgemm, linear, conv2d); tests/test_cuda_kernels.c every
 * other slot, with the same scaffolding (tests/cuda_check.h). Three configurations are opened one after the other
 * (bl_kernels_cuda_close in between):
 *   1. deterministic, TF32 off; plus: two runs of every cuDNN/cuBLAS op give the same bits, and a backward called
 *      twice from zero is twice one call (within the dot-product bound: cuDNN's β = 1 is not one rounding);
 *   2. non-deterministic, TF32 off (cuDNN may pick other algorithms);
 *   3. TF32 on, with the TF32 bound.
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
#include "cuda_check.h"

#ifdef BLASTO_HAVE_CUDA
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
        gpu->sgemm(gpu, ta, tb, m, n, k, 1.0f, da, lda, db, ldb, 1.0f, dc, n);
        ref->sgemm(ref, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 1.0f, want, n);
        ref->sgemm(ref, ta, tb, m, n, k, 1.0f, aa, lda, ab, ldb, 1.0f, mag, n);
        float *got = down(dc, nc);
        check_no_error("sgemm");
        char what[96];
        snprintf(what, sizeof what, "%s sgemm %s%s %dx%dx%d beta=1", tag, ta ? "T" : "N", tb ? "T" : "N", m, n, k);
        check_dot_bound(what, got, want, mag, nc, (int64_t)k + 1);
        gpu->fill(nc, NAN, dc);
        gpu->sgemm(gpu, ta, tb, m, n, k, 1.0f, da, lda, db, ldb, 0.0f, dc, n);
        ref->sgemm(ref, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, want, n);
        ref->sgemm(ref, ta, tb, m, n, k, 1.0f, aa, lda, ab, ldb, 0.0f, mag, n);
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
        gpu->linear_forward(gpu, n, in, out, dxd, dwd, dbd, yd);
        ref->linear_forward(ref, n, in, out, x, w, b, want_y);
        ref->linear_forward(ref, n, in, out, ax, aw, ab, mag_y);
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
        gpu->linear_backward(gpu, n, in, out, dxd, dwd, dyd, gxd, gwd, gbd);
        ref->linear_backward(ref, n, in, out, x, w, dy, dx_, dw_, dbv);
        ref->linear_backward(ref, n, in, out, ax, aw, ady, mx, mw, mb);
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
            gpu->linear_backward(gpu, n, in, out, dxd, dwd, dyd, zx, NULL, NULL);
            float *once = down(zx, nx);
            gpu->linear_backward(gpu, n, in, out, dxd, dwd, dyd, zx, NULL, NULL);
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
        gpu->conv2d_forward(gpu, &s, xd, wd, bd, yd);
        ref->conv2d_forward(ref, &s, x, w, b, want);
        ref->conv2d_forward(ref, &s, ax, aw, ab, mag);
        float *got = down(yd, ny);
        check_no_error("conv2d forward");
        snprintf(what, sizeof what, "%s conv2d forward case %d", tag, c);
        check_dot_bound(what, got, want, mag, ny, (int64_t)s.c_in * s.kh * s.kw + 1);

        /* backward data onto a random start (+=) */
        float *dx0 = rand_host(nx, 500 + c, -1, 1), *want_dx = host(nx), *mag_dx = abs_copy(dx0, nx);
        memcpy(want_dx, dx0, (size_t)nx * sizeof(float));
        float *dxd = up(dx0, nx);
        gpu->conv2d_backward_data(gpu, &s, dyd, wd, dxd);
        ref->conv2d_backward_data(ref, &s, dy, w, want_dx);
        ref->conv2d_backward_data(ref, &s, ady, aw, mag_dx);
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
        gpu->conv2d_backward_filter(gpu, &s, xd, dyd, dwd, dbd);
        ref->conv2d_backward_filter(ref, &s, x, dy, want_dw, want_db);
        ref->conv2d_backward_filter(ref, &s, ax, ady, mag_dw, mag_db);
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
            gpu->conv2d_forward(gpu, &s, xd, wd, bd, y2);
            float *again = down(y2, ny);
            snprintf(what, sizeof what, "%s conv2d forward run twice, case %d", tag, c);
            check_bitwise(what, again, got, ny);
            float *zx = dev(nx), *zw = dev(nw), *zb = dev(s.c_out);
            gpu->fill(nx, 0.0f, zx), gpu->fill(nw, 0.0f, zw), gpu->fill(s.c_out, 0.0f, zb);
            gpu->conv2d_backward_data(gpu, &s, dyd, wd, zx);
            gpu->conv2d_backward_filter(gpu, &s, xd, dyd, zw, zb);
            float *once_x = down(zx, nx), *once_w = down(zw, nw), *once_b = down(zb, s.c_out);
            gpu->conv2d_backward_data(gpu, &s, dyd, wd, zx);
            gpu->conv2d_backward_filter(gpu, &s, xd, dyd, zw, NULL); /* NULL db: skipped */
            gpu->conv2d_backward_filter(gpu, &s, xd, dyd, NULL, zb); /* NULL dw: skipped */
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
            ref->conv2d_backward_data(ref, &s, ady, aw, mag2_x);
            ref->conv2d_backward_filter(ref, &s, ax, ady, mag2_w, unused_b);
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

#endif

int main(void) {
#ifndef BLASTO_HAVE_CUDA
    return test_skip("this build has no CUDA backend");
#else
    if (!cuda_check_start("test_cuda_ops")) return test_skip("no CUDA device");
    printf("configuration 1: deterministic, TF32 off\n");
    if (open_backend(1, 0)) {
        test_sgemm("det");
        test_linear("det", 1);
        test_conv2d("det", 1);
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
