/* test_kernels_cpu_ops.c — the cpu backend's threaded non-GEMM kernels (core/cpu/cpu_ops.h) against the ref
 * oracle, BITWISE, for 1, 2 and 3 threads, on fresh random inputs every run (seed printed; replay with
 * BLASTO_PARITY_SEED=<seed>).
 *
 * Sizes are chosen so that every kernel is actually split across threads (elementwise counts ≫ the 16384-element
 * grain, many planes and channels), with channel counts that are not multiples of the batchnorm channel block
 * (tails) and pools whose windows overlap, pad, and tie. Inputs contain the awkward values: exact zeros (ReLU's
 * kink), −0 in accumulated gradients (ref turns −0 + 0.0 into +0 in max-pool backward), NaNs, and quantised values
 * so that max-pool windows hold ties (first maximum wins). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/kernels.h"
#include "core/cpu/cpu_ops.h"
#include "core/cpu/threads.h"
#include "harness.h"

static uint64_t seed;
static int threads_now;

static float *buf(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }
static float *copy(const float *x, int64_t n) {
    float *p = buf(n);
    memcpy(p, x, (size_t)n * sizeof(float));
    return p;
}

/* uniform in [lo, hi), then every 17th element 0, every 29th −0, and (if nans) every 997th NaN (offset by idx) */
static float *awkward(int64_t n, uint64_t idx, float lo, float hi, int nans) {
    float *p = buf(n);
    test_fill_uniform(p, n, seed, idx, lo, hi);
    for (int64_t i = 0; i < n; i++) {
        int64_t j = i + (int64_t)idx; /* a different pattern per buffer, so zeros of x and dy do not coincide */
        if (j % 17 == 3) p[i] = 0.0f;
        if (j % 29 == 5) p[i] = -0.0f;
        if (nans && j % 997 == 11) p[i] = NAN;
    }
    return p;
}

static void check_same(const char *what, const float *got, const float *want, int64_t n) {
    int64_t bad = -1;
    for (int64_t i = 0; i < n && bad < 0; i++)
        if (memcmp(got + i, want + i, sizeof(float)) != 0) bad = i;
    CHECK(bad < 0, "%s (%d threads): element %lld: cpu %.9g vs ref %.9g (bits differ)", what, threads_now,
          (long long)bad, bad >= 0 ? got[bad] : 0.0, bad >= 0 ? want[bad] : 0.0);
}

static void elementwise(const bl_kernels *cpu, const bl_kernels *ref) {
    const int64_t n = 100003; /* odd: ranges end off the 16-element boundary */
    float *x = awkward(n, 1, -1, 1, 1), *y = awkward(n, 2, -1, 1, 1), *mask = awkward(n, 3, 0, 2, 0);
    float *start = awkward(n, 4, -1, 1, 0);
    float *o1 = buf(n), *o2 = buf(n);
    cpu->relu_forward(cpu, n, x, o1), ref->relu_forward(ref, n, x, o2), check_same("relu forward", o1, o2, n);
    free(o1), free(o2), o1 = copy(start, n), o2 = copy(start, n);
    cpu->relu_backward(cpu, n, x, y, o1), ref->relu_backward(ref, n, x, y, o2), check_same("relu backward", o1, o2, n);
    /* in place through a folded ReLU: equal to ref's slot, and to relu_backward into a zeroed buffer (its oracle) */
    free(o1), free(o2), o1 = copy(y, n), o2 = copy(y, n);
    float *zeroed = buf(n);
    memset(zeroed, 0, (size_t)n * sizeof *zeroed);
    cpu->relu_backward_inplace(cpu, n, x, o1), ref->relu_backward_inplace(ref, n, x, o2);
    check_same("relu backward in place", o1, o2, n);
    ref->relu_backward(ref, n, x, y, zeroed), check_same("relu backward in place vs into zeros", o2, zeroed, n);
    free(zeroed);
    cpu->add_forward(cpu, n, x, y, o1), ref->add_forward(ref, n, x, y, o2), check_same("add", o1, o2, n);
    const float alphas[] = {1.0f, -1.0f, 0.37f, -2.5f};
    for (int a = 0; a < 4; a++) {
        free(o1), free(o2), o1 = copy(start, n), o2 = copy(start, n);
        cpu->axpy(cpu, n, alphas[a], x, o1), ref->axpy(ref, n, alphas[a], x, o2);
        char what[48];
        snprintf(what, sizeof what, "axpy alpha %g", alphas[a]);
        check_same(what, o1, o2, n);
    }
    const float dy = 0.77f;
    cpu->add_scalar(cpu, n, 0.123f, &dy, o1), ref->add_scalar(ref, n, 0.123f, &dy, o2), check_same("add_scalar", o1, o2, n);
    cpu->mul_forward(cpu, n, x, mask, o1), ref->mul_forward(ref, n, x, mask, o2), check_same("mul forward", o1, o2, n);
    free(o1), free(o2), o1 = copy(start, n), o2 = copy(start, n);
    cpu->mul_backward(cpu, n, mask, y, o1), ref->mul_backward(ref, n, mask, y, o2), check_same("mul backward", o1, o2, n);

    /* concat: x [3,5,hw] into y [3,12,hw] at offset 4, and back */
    int cn = 3, c_part = 5, c_total = 12, c_off = 4;
    int64_t hw = 1001, ny = (int64_t)cn * c_total * hw, nx = (int64_t)cn * c_part * hw;
    float *cy1 = copy(y, ny), *cy2 = copy(y, ny);
    cpu->concat_channels_forward(cpu, cn, c_part, c_total, c_off, hw, x, cy1);
    ref->concat_channels_forward(ref, cn, c_part, c_total, c_off, hw, x, cy2);
    check_same("concat forward", cy1, cy2, ny);
    free(o1), free(o2), o1 = copy(start, nx), o2 = copy(start, nx);
    cpu->concat_channels_backward(cpu, cn, c_part, c_total, c_off, hw, y, o1);
    ref->concat_channels_backward(ref, cn, c_part, c_total, c_off, hw, y, o2);
    check_same("concat backward", o1, o2, nx);

    /* global average pool over rows of 49 and of 3136 */
    const int64_t hws[2] = {49, 3136};
    for (int h = 0; h < 2; h++) {
        int64_t rows = n / hws[h];
        float *g1 = buf(rows), *g2 = buf(rows);
        cpu->global_avgpool_forward(cpu, rows, hws[h], x, g1), ref->global_avgpool_forward(ref, rows, hws[h], x, g2);
        check_same("global avgpool forward", g1, g2, rows);
        free(o1), free(o2), o1 = copy(start, n), o2 = copy(start, n);
        cpu->global_avgpool_backward(cpu, rows, hws[h], y, o1), ref->global_avgpool_backward(ref, rows, hws[h], y, o2);
        check_same("global avgpool backward", o1, o2, n);
        free(g1), free(g2);
    }

    /* optimizers: two steps each, so the first-step and running branches both run */
    float *clean = awkward(n, 5, -1, 1, 0), *grad = awkward(n, 6, -1, 1, 0);
    float *p1 = copy(clean, n), *p2 = copy(clean, n), *b1 = buf(n), *b2 = buf(n), *v1 = buf(n), *v2 = buf(n);
    for (int step = 0; step < 2; step++) {
        cpu->sgd_update(cpu, n, p1, grad, b1, 0.01f, 0.9f, 0.1f, 1e-4f, step, step == 0);
        ref->sgd_update(ref, n, p2, grad, b2, 0.01f, 0.9f, 0.1f, 1e-4f, step, step == 0);
    }
    check_same("sgd params", p1, p2, n), check_same("sgd momentum", b1, b2, n);
    memcpy(p1, clean, (size_t)n * sizeof(float)), memcpy(p2, clean, (size_t)n * sizeof(float));
    memset(b1, 0, (size_t)n * sizeof(float)), memset(b2, 0, (size_t)n * sizeof(float));
    for (int step = 1; step <= 2; step++) {
        cpu->adam_update(cpu, n, p1, grad, b1, v1, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, step == 2, step);
        ref->adam_update(ref, n, p2, grad, b2, v2, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, step == 2, step);
    }
    check_same("adam params", p1, p2, n), check_same("adam m", b1, b2, n), check_same("adam v", v1, v2, n);
    free(x), free(y), free(mask), free(start), free(o1), free(o2), free(cy1), free(cy2), free(clean), free(grad);
    free(p1), free(p2), free(b1), free(b2), free(v1), free(v2);
}

static void batchnorm(const bl_kernels *cpu, const bl_kernels *ref) {
    /* C = 10 (two blocks of 4 + a tail of 2) with 56×56 planes; C = 7 with 7×7; C = 3 (tail only) */
    const int shapes[3][4] = {{3, 10, 56, 56}, {8, 7, 7, 7}, {2, 3, 5, 9}};
    for (int c_i = 0; c_i < 3; c_i++) {
        bl_batchnorm2d_shape s = {.n = shapes[c_i][0], .c = shapes[c_i][1], .h = shapes[c_i][2], .w = shapes[c_i][3],
                                  .eps = 1e-5f, .momentum = 0.1f};
        int64_t n = (int64_t)s.n * s.c * s.h * s.w;
        float *x = awkward(n, 10 + c_i, -2, 3, 0), *dy = awkward(n, 20 + c_i, -1, 1, 0);
        float *g = awkward(s.c, 30 + c_i, 0.5f, 1.5f, 0), *b = awkward(s.c, 40 + c_i, -1, 1, 0);
        float *rm1 = awkward(s.c, 50 + c_i, -1, 1, 0), *rv1 = awkward(s.c, 60 + c_i, 0.5f, 2, 0);
        float *rm2 = copy(rm1, s.c), *rv2 = copy(rv1, s.c), *rm0 = copy(rm1, s.c), *rv0 = copy(rv1, s.c);
        float *y1 = buf(n), *y2 = buf(n), *m1 = buf(s.c), *m2 = buf(s.c), *i1 = buf(s.c), *i2 = buf(s.c);
        cpu->batchnorm2d_forward_train(cpu, &s, x, g, b, y1, rm1, rv1, m1, i1);
        ref->batchnorm2d_forward_train(ref, &s, x, g, b, y2, rm2, rv2, m2, i2);
        check_same("batchnorm train y", y1, y2, n), check_same("batchnorm train mean", m1, m2, s.c);
        check_same("batchnorm train invstd", i1, i2, s.c), check_same("batchnorm running mean", rm1, rm2, s.c);
        check_same("batchnorm running var", rv1, rv2, s.c);
        for (int training = 0; training <= 1; training++) {
            float *dx1 = awkward(n, 70 + c_i, -1, 1, 0), *dx2 = copy(dx1, n);
            float *dg1 = awkward(s.c, 80, -1, 1, 0), *dg2 = copy(dg1, s.c), *db1 = awkward(s.c, 81, -1, 1, 0);
            float *db2 = copy(db1, s.c);
            cpu->batchnorm2d_backward(cpu, &s, training, x, dy, g, m1, i1, dx1, dg1, db1);
            ref->batchnorm2d_backward(ref, &s, training, x, dy, g, m2, i2, dx2, dg2, db2);
            check_same(training ? "batchnorm backward (train) dx" : "batchnorm backward (eval) dx", dx1, dx2, n);
            check_same("batchnorm backward dgamma", dg1, dg2, s.c), check_same("batchnorm backward dbeta", db1, db2, s.c);
            /* NULL gradients are skipped */
            cpu->batchnorm2d_backward(cpu, &s, training, x, dy, g, m1, i1, NULL, NULL, db1);
            ref->batchnorm2d_backward(ref, &s, training, x, dy, g, m2, i2, NULL, NULL, db2);
            check_same("batchnorm backward dbeta only", db1, db2, s.c);
            free(dx1), free(dx2), free(dg1), free(dg2), free(db1), free(db2);
        }
        cpu->batchnorm2d_forward_eval(cpu, &s, x, g, b, rm0, rv0, y1);
        ref->batchnorm2d_forward_eval(ref, &s, x, g, b, rm0, rv0, y2);
        check_same("batchnorm eval y", y1, y2, n);
        free(x), free(dy), free(g), free(b), free(rm1), free(rv1), free(rm2), free(rv2), free(rm0), free(rv0);
        free(y1), free(y2), free(m1), free(m2), free(i1), free(i2);
    }
}

/* The cpu table holds the fastest build this CPU runs (AVX-512 here, when available); the portable build of the
 * batchnorm kernels (core/cpu/batchnorm2d_impl.h without SIMD flags) must agree with ref just the same. */
static void batchnorm_portable(const bl_kernels *ref) {
    bl_kernels portable = *bl_kernels_cpu();
    portable.batchnorm2d_forward_train = batchnorm2d_forward_train_portable;
    portable.batchnorm2d_forward_eval = batchnorm2d_forward_eval_portable;
    portable.batchnorm2d_backward = batchnorm2d_backward_portable;
    batchnorm(&portable, ref);
}

static void pooling(const bl_kernels *cpu, const bl_kernels *ref) {
    /* n, c, h, w, k, stride, pad, count_include_pad */
    const int cases[][8] = {{2, 9, 28, 28, 3, 2, 1, 1}, {3, 5, 13, 11, 2, 2, 0, 1}, {2, 4, 9, 10, 3, 1, 1, 0},
                            {1, 3, 8, 8, 3, 3, 1, 0}, {2, 4, 21, 37, 2, 2, 0, 1}}; /* last: 8-window vectors + tail */
    for (int c_i = 0; c_i < 5; c_i++) {
        const int *p = cases[c_i];
        bl_pool2d_shape s = {.n = p[0], .c = p[1], .h_in = p[2], .w_in = p[3], .kh = p[4], .kw = p[4],
                             .stride_h = p[5], .stride_w = p[5], .pad_h = p[6], .pad_w = p[6],
                             .count_include_pad = p[7]};
        s.h_out = (s.h_in + 2 * s.pad_h - s.kh) / s.stride_h + 1;
        s.w_out = (s.w_in + 2 * s.pad_w - s.kw) / s.stride_w + 1;
        int64_t nx = (int64_t)s.n * s.c * s.h_in * s.w_in, ny = (int64_t)s.n * s.c * s.h_out * s.w_out;
        float *x = awkward(nx, 90 + c_i, -1, 1, c_i <= 1 || c_i == 4); /* NaNs in the 3×3/2 and the 2×2/2 cases */
        for (int64_t i = 0; i < nx; i++)
            if (i % 3 == 0 && !isnan(x[i])) x[i] = roundf(x[i] * 4.0f) / 4.0f; /* ties inside windows */
        float *dy = awkward(ny, 100 + c_i, -1, 1, 0), *y1 = buf(ny), *y2 = buf(ny);
        char what[64];
        cpu->maxpool2d_forward(cpu, &s, x, y1), ref->maxpool2d_forward(ref, &s, x, y2);
        snprintf(what, sizeof what, "maxpool forward case %d", c_i), check_same(what, y1, y2, ny);
        float *dx1 = awkward(nx, 110 + c_i, -1, 1, 0), *dx2 = copy(dx1, nx);
        cpu->maxpool2d_backward(cpu, &s, x, dy, dx1), ref->maxpool2d_backward(ref, &s, x, dy, dx2);
        snprintf(what, sizeof what, "maxpool backward case %d", c_i), check_same(what, dx1, dx2, nx);
        cpu->avgpool2d_forward(cpu, &s, x, y1), ref->avgpool2d_forward(ref, &s, x, y2);
        snprintf(what, sizeof what, "avgpool forward case %d", c_i), check_same(what, y1, y2, ny);
        /* a fresh start for dx: the max-pool backward above already turned every −0 into +0 */
        free(dx1), free(dx2), dx1 = awkward(nx, 120 + c_i, -1, 1, 0), dx2 = copy(dx1, nx);
        cpu->avgpool2d_backward(cpu, &s, dy, dx1), ref->avgpool2d_backward(ref, &s, dy, dx2);
        snprintf(what, sizeof what, "avgpool backward case %d", c_i), check_same(what, dx1, dx2, nx);
        free(x), free(dy), free(y1), free(y2), free(dx1), free(dx2);
    }
}

int main(void) {
    const char *env = getenv("BLASTO_PARITY_SEED");
    seed = env ? strtoull(env, NULL, 10) : ((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32));
    printf("test_kernels_cpu_ops: seed %llu (replay with BLASTO_PARITY_SEED=%llu)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    const bl_kernels *cpu = bl_kernels_cpu(), *ref = bl_kernels_ref();
    for (int threads = 1; threads <= 3; threads++) {
        CHECK(bl_threads_set(threads) == BL_OK, "bl_threads_set(%d)", threads);
        threads_now = threads;
        elementwise(cpu, ref);
        batchnorm(cpu, ref);
        batchnorm_portable(ref);
        pooling(cpu, ref);
    }
    bl_threads_shutdown();
    return test_summary("test_kernels_cpu_ops");
}
