/* test_cuda_kernels.c — every slot of the `cuda` backend that is not GEMM-shaped (those are tests/test_cuda_ops.c)
 * against the `ref` oracle, on FRESH random inputs every run, in the deterministic configuration (TF32 off): the
 * memory slots (upload/download across the 32 MiB staging chunk, the host buffer reused right after an
 * asynchronous upload, copy, fill), error reporting, batchnorm, pooling, the elementwise ops, the optimizers.
 * The seed is drawn from the clock and printed (replay: BLASTO_CUDA_SEED=<seed>); scaffolding: tests/cuda_check.h.
 * Tolerances (docs/cuda.md, "Numerics and the tests' tolerances"):
 *   bitwise       relu (and its in-place backward), add, axpy, add_scalar, mul, concat, pools (max and avg, forward
 *                 and backward), global avgpool, dropout mask, fill, copy, BN eval forward (plain, fused with
 *                 ReLU, strided samples) and eval statistics, the optimizers — our kernels evaluate ref's formula
 *                 in ref's precision and order with IEEE arithmetic;
 *   1–2 ulp       sigmoid (exp is not correctly rounded on either side), and the double-accumulated reductions
 *                 (BN train / backward, sum, BCE): a different double summation order moves the double result by
 *                 ~K·2⁻⁵³ relative, which changes the float rounding in rare cases:
 *                 |cuda − ref| ≤ 2⁻²²·|ref| + 1e-12·max|ref|. */
#include "cuda_check.h"

#ifdef BLASTO_HAVE_CUDA
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

        gpu->batchnorm2d_forward_train(gpu, &s, xd, gd, bd, yd, rmd, rvd, smd, sid);
        ref->batchnorm2d_forward_train(ref, &s, x, gamma, beta, want_y, want_rm, want_rv, want_sm, want_si);
        float *y = down(yd, count), *grm = down(rmd, s.c), *grv = down(rvd, s.c), *gsm = down(smd, s.c);
        float *gsi = down(sid, s.c);
        check_no_error("batchnorm train");
        check_ulps_case("batchnorm train y", c, y, want_y, count);
        check_ulps_case("batchnorm train running_mean", c, grm, want_rm, s.c);
        check_ulps_case("batchnorm train running_var", c, grv, want_rv, s.c);
        check_ulps_case("batchnorm train save_mean", c, gsm, want_sm, s.c);
        check_ulps_case("batchnorm train save_invstd", c, gsi, want_si, s.c);

        /* training backward with the statistics ref saved (same inputs on both sides), onto random starts */
        float *dx0 = rand_host(count, 860 + c, -1, 1), *dg0 = rand_host(s.c, 870 + c, -1, 1);
        float *db0 = rand_host(s.c, 880 + c, -1, 1);
        float *smr = up(want_sm, s.c), *sir = up(want_si, s.c);
        float *dxd = up(dx0, count), *dgd = up(dg0, s.c), *dbd = up(db0, s.c);
        gpu->batchnorm2d_backward(gpu, &s, 1, xd, dyd, gd, smr, sir, dxd, dgd, dbd);
        ref->batchnorm2d_backward(ref, &s, 1, x, dy, gamma, want_sm, want_si, dx0, dg0, db0);
        float *gdx = down(dxd, count), *gdg = down(dgd, s.c), *gdb = down(dbd, s.c);
        check_no_error("batchnorm backward train");
        check_ulps_case("batchnorm backward train dx", c, gdx, dx0, count);
        check_ulps_case("batchnorm backward train dgamma", c, gdg, dg0, s.c);
        check_ulps_case("batchnorm backward train dbeta", c, gdb, db0, s.c);

        /* eval: forward, statistics, backward (dx only: NULL dgamma/dbeta) */
        gpu->batchnorm2d_forward_eval(gpu, &s, xd, gd, bd, rmd, rvd, yd);
        ref->batchnorm2d_forward_eval(ref, &s, x, gamma, beta, want_rm, want_rv, want_y);
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
        gpu->batchnorm2d_forward_eval(gpu, &strided, x_wide_d, gd, bd, rmd, rvd, yd);
        float *y_strided = down(yd, count);
        snprintf(what, sizeof what, "batchnorm eval y, strided samples, case %d", c);
        check_bitwise(what, y_strided, want_y, count);
        /* the fused eval batchnorm + ReLU slot, dense and strided: bitwise ref's fused slot */
        float *want_relu = host(count);
        ref->batchnorm2d_relu_forward_eval(ref, &s, x, gamma, beta, want_rm, want_rv, want_relu);
        for (int strided_x = 0; strided_x < 2; strided_x++) {
            gpu->fill(count, NAN, yd);
            gpu->batchnorm2d_relu_forward_eval(gpu, strided_x ? &strided : &s, strided_x ? x_wide_d : xd, gd, bd, rmd,
                                               rvd, yd);
            float *y_relu = down(yd, count);
            snprintf(what, sizeof what, "batchnorm + ReLU eval%s, case %d", strided_x ? ", strided samples" : "", c);
            check_bitwise(what, y_relu, want_relu, count);
            free(y_relu);
        }
        free(x_wide), free(y_strided), free(want_relu);
        gpu->batchnorm2d_eval_stats(gpu, s.c, s.eps, rmd, rvd, smd, sid);
        ref->batchnorm2d_eval_stats(ref, s.c, s.eps, want_rm, want_rv, want_sm, want_si);
        free(gsm), free(gsi);
        gsm = down(smd, s.c), gsi = down(sid, s.c);
        snprintf(what, sizeof what, "batchnorm eval_stats case %d", c);
        check_bitwise(what, gsm, want_sm, s.c);
        check_bitwise(what, gsi, want_si, s.c);
        float *ev_dx0 = rand_host(count, 890 + c, -1, 1), *ev_dxd = up(ev_dx0, count);
        gpu->batchnorm2d_backward(gpu, &s, 0, xd, dyd, gd, smd, sid, ev_dxd, NULL, NULL);
        ref->batchnorm2d_backward(ref, &s, 0, x, dy, gamma, want_sm, want_si, ev_dx0, NULL, NULL);
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
            gpu->maxpool2d_forward(gpu, &s, xd, yd);
            ref->maxpool2d_forward(ref, &s, x, want_y);
            gpu->maxpool2d_backward(gpu, &s, xd, dyd, dxd);
            ref->maxpool2d_backward(ref, &s, x, dy, want_dx);
        } else {
            gpu->avgpool2d_forward(gpu, &s, xd, yd);
            ref->avgpool2d_forward(ref, &s, x, want_y);
            gpu->avgpool2d_backward(gpu, &s, dyd, dxd);
            ref->avgpool2d_backward(ref, &s, dy, want_dx);
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
    gpu->maxpool2d_forward(gpu, &s, xd, yd);
    ref->maxpool2d_forward(ref, &s, x, want);
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
    gpu->global_avgpool_forward(gpu, nc, hw, gxd, gyd);
    ref->global_avgpool_forward(ref, nc, hw, gx, gy_want);
    gpu->global_avgpool_backward(gpu, nc, hw, gdyd, gdxd);
    ref->global_avgpool_backward(ref, nc, hw, gdy, gdx_want);
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
    FORWARD("relu forward", gpu->relu_forward(gpu, n, ad, od), ref->relu_forward(ref, n, a, want));
    FORWARD("add forward", gpu->add_forward(gpu, n, ad, bd, od), ref->add_forward(ref, n, a, b, want));
    FORWARD("mul forward", gpu->mul_forward(gpu, n, ad, bd, od), ref->mul_forward(ref, n, a, b, want));
    /* accumulating ones: start from acc0 on both sides */
#define ACCUMULATE(name, gpu_call, ref_call)  \
    do {                                      \
        gpu->upload(od, acc0, (size_t)n * 4); \
        memcpy(want, acc0, (size_t)n * 4);    \
        FORWARD(name, gpu_call, ref_call);    \
    } while (0)
    ACCUMULATE("relu backward", gpu->relu_backward(gpu, n, ad, bd, od), ref->relu_backward(ref, n, a, b, want));
    /* in place through a folded ReLU: g = a > 0 ? 0 + g : +0 (−0 in g must come out +0) */
    float *g0 = rand_host(n, 1003, -1, 1);
    for (int64_t i = 0; i < n; i += 89) g0[i] = -0.0f;
    gpu->upload(od, g0, (size_t)n * 4);
    memcpy(want, g0, (size_t)n * 4);
    gpu->relu_backward_inplace(gpu, n, ad, od);
    ref->relu_backward_inplace(ref, n, a, want);
    got = down(od, n);
    check_no_error("relu backward in place");
    check_bitwise("relu backward in place", got, want, n);
    free(got), free(g0);
    ACCUMULATE("axpy", gpu->axpy(gpu, n, 0.3f, ad, od), ref->axpy(ref, n, 0.3f, a, want));
    ACCUMULATE("mul backward", gpu->mul_backward(gpu, n, ad, bd, od), ref->mul_backward(ref, n, a, b, want));
    float alpha = -1.7f, *alpha_d = up(&alpha, 1);
    ACCUMULATE("add_scalar", gpu->add_scalar(gpu, n, 1.0f / 3.0f, alpha_d, od),
               ref->add_scalar(ref, n, 1.0f / 3.0f, &alpha, want));

    /* sigmoid: exp is not correctly rounded on either side → ≤ 2 ulps */
    gpu->sigmoid_forward(gpu, n, ad, od);
    ref->sigmoid_forward(ref, n, a, want);
    got = down(od, n);
    check_ulps("sigmoid forward", got, want, n);
    float *sy = got; /* sigmoid backward from ref's output on both sides */
    float *syd = up(want, n);
    float *sig_want = host(n);
    memcpy(sig_want, acc0, (size_t)n * 4);
    gpu->upload(od, acc0, (size_t)n * 4);
    gpu->sigmoid_backward(gpu, n, syd, bd, od);
    ref->sigmoid_backward(ref, n, want, b, sig_want);
    got = down(od, n);
    check_no_error("sigmoid");
    check_bitwise("sigmoid backward", got, sig_want, n);
    free(got), free(sy), free(sig_want);

    /* dropout mask: the counter RNG, bit for bit */
    const float p = 0.3f, keep = 1.0f / 0.7f;
    const uint64_t keys[] = {0, 0x123456789abcdefULL, ~0ULL};
    for (int k = 0; k < 3; k++) {
        gpu->dropout_mask(gpu, n, keys[k] ^ seed, p, keep, od);
        ref->dropout_mask(ref, n, keys[k] ^ seed, p, keep, want);
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
    gpu->concat_channels_forward(gpu, cn, c1, ct, 0, hw, p1d, cyd);
    gpu->concat_channels_forward(gpu, cn, c2, ct, c1, hw, p2d, cyd);
    ref->concat_channels_forward(ref, cn, c1, ct, 0, hw, p1, cy_want);
    ref->concat_channels_forward(ref, cn, c2, ct, c1, hw, p2, cy_want);
    gpu->concat_channels_backward(gpu, cn, c2, ct, c1, hw, cdyd, cdxd);
    ref->concat_channels_backward(ref, cn, c2, ct, c1, hw, cdy, cdx_want);
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
            gpu->sum_forward(gpu, counts[k], ad, divisor, sd);
            ref->sum_forward(ref, counts[k], a, divisor, &s_want);
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
        gpu->bce_with_logits_forward(gpu, bn, zd, td, weighted ? wd : NULL, lossd);
        ref->bce_with_logits_forward(ref, bn, z, t, weighted ? wt : NULL, &loss_want);
        gpu->bce_with_logits_backward(gpu, bn, zd, td, weighted ? wd : NULL, dlossd, dzd);
        ref->bce_with_logits_backward(ref, bn, z, t, weighted ? wt : NULL, &dloss, dz_want);
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
            gpu->sgd_update(gpu, n, pd, gd, buf_gpu, 0.05f, sgd_cases[c].momentum, sgd_cases[c].dampening,
                            sgd_cases[c].wd, sgd_cases[c].nesterov, step == 0);
            ref->sgd_update(ref, n, pr, g, buf_ref, 0.05f, sgd_cases[c].momentum, sgd_cases[c].dampening,
                            sgd_cases[c].wd, sgd_cases[c].nesterov, step == 0);
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
            gpu->adam_update(gpu, n, pd, gd, md, vd, 1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f, decoupled, step);
            ref->adam_update(ref, n, pr, g, mr, vr, 1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f, decoupled, step);
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
    bl_conv2d_shape bad = {.n = 2, .c_in = 3, .h_in = 13, .w_in = 11, .c_out = 8, .kh = 3, .kw = 3, .stride_h = 1,
                           .stride_w = 1, .pad_h = 1, .pad_w = 1, .dil_h = 1, .dil_w = 1}; /* a 3×3 pad 1 case */
    bad.h_out = (bad.h_in + 2 * bad.pad_h - bad.dil_h * (bad.kh - 1) - 1) / bad.stride_h + 2; /* one row too many */
    bad.w_out = (bad.w_in + 2 * bad.pad_w - bad.dil_w * (bad.kw - 1) - 1) / bad.stride_w + 1;
    int64_t nx = (int64_t)bad.n * bad.c_in * bad.h_in * bad.w_in, nw = (int64_t)bad.c_out * bad.c_in * bad.kh * bad.kw;
    int64_t ny = (int64_t)bad.n * bad.c_out * bad.h_out * bad.w_out;
    float *xd = dev(nx), *wd = dev(nw), *yd = dev(ny);
    gpu->conv2d_forward(gpu, &bad, xd, wd, NULL, yd);
    const char *e = gpu->take_error();
    CHECK(e != NULL && strstr(e, "cuda/conv2d.cu:") != NULL && strstr(e, "output shape") != NULL,
          "a conv2d shape with a wrong h_out is reported: %s", e ? e : "(nothing)");
    CHECK(gpu->take_error() == NULL, "take_error clears the error");
    float *a = dev(64), *b = dev(64), *c = dev(64);
    gpu->sgemm(gpu, 0, 0, 8, 8, 8, 1.0f, a, 4 /* lda < k */, b, 8, 0.0f, c, 8);
    /* bl_cuda_synchronize hands the pending error over as a status too (and takes it) */
    CHECK(bl_cuda_synchronize() == BL_ERR_DEVICE && strstr(bl_last_error(), "cublasSgemm") != NULL,
          "an invalid lda is reported by cuBLAS through bl_cuda_synchronize: %s", bl_last_error());
    CHECK(gpu->take_error() == NULL, "bl_cuda_synchronize took the error");
    /* the backend still works afterwards */
    float ones[64], *back;
    for (int i = 0; i < 64; i++) ones[i] = 1.0f;
    gpu->upload(a, ones, sizeof ones);
    gpu->upload(b, ones, sizeof ones);
    gpu->sgemm(gpu, 0, 0, 8, 8, 8, 1.0f, a, 8, b, 8, 0.0f, c, 8);
    back = down(c, 64);
    int all_eight = 1;
    for (int i = 0; i < 64; i++) all_eight &= back[i] == 8.0f;
    CHECK(all_eight, "sgemm of ones after the errors gives 8");
    check_no_error("after the error test");
    free(back);
    free_device_buffers();
}

#endif

int main(void) {
#ifndef BLASTO_HAVE_CUDA
    return test_skip("this build has no CUDA backend");
#else
    if (!cuda_check_start("test_cuda_kernels")) return test_skip("no CUDA device");
    printf("configuration: deterministic, TF32 off\n");
    if (open_backend(1, 0)) {
        test_memory();
        test_errors();
        test_batchnorm();
        test_pools();
        test_elementwise();
        test_optimizers();
        check_no_error("configuration 1");
        bl_kernels_cuda_close();
    }
    return test_summary("test_cuda_kernels");
#endif
}
