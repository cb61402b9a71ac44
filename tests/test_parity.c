/* test_parity.c — the `cpu` backend against the `ref` oracle, on FRESH random inputs every run.
 *
 * The seed is drawn from the clock and printed, so a failure can be replayed with BLASTO_PARITY_SEED=<seed>.
 * Ops the cpu backend takes from ref must match bitwise. GEMM-based ops (sgemm, conv2d, linear) sum in float
 * with FMA in blocked order while ref sums in double and rounds once, so they are held to the rigorous
 * worst-case bound of a length-K float dot product split into K-blocks:
 *     |cpu − ref| ≤ (K + ⌈K/64⌉ + 2)·u·(|A|·|B|) + u·|ref|      u = 2^-24
 * (each term one rounding, plus one per K-block the GEMM adds into C — blocks are ≥ 64 deep — plus alpha/beta),
 * where |A|·|B| is the same product computed on absolute values (docs/numerics.md, "Backend parity"). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/kernels.h"
#include "harness.h"

static const double unit_roundoff = 1.0 / 16777216.0; /* 2^-24 */

static float *buf(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }
static float *rand_buf(int64_t n, uint64_t seed, uint64_t idx) {
    float *p = buf(n);
    test_fill_uniform(p, n, seed, idx, -1.0f, 1.0f);
    return p;
}
static float *abs_copy(const float *x, int64_t n) {
    float *p = buf(n);
    for (int64_t i = 0; i < n; i++) p[i] = fabsf(x[i]);
    return p;
}

/* CHECK |got − want| ≤ k·u·magnitude + u·|want| elementwise */
static void check_dot_bound(const char *what, const float *got, const float *want, const float *magnitude,
                            int64_t count, int64_t k) {
    int64_t bad = -1;
    double worst = 0;
    for (int64_t i = 0; i < count; i++) {
        double roundings = (double)k + (double)((k + 63) / 64) + 2.0;
        double bound = roundings * unit_roundoff * magnitude[i] + unit_roundoff * fabs(want[i]) + 1e-30;
        double r = fabs((double)got[i] - want[i]) / bound;
        if (!(r <= worst)) worst = r;
        if (!(r <= 1.0) && bad < 0) bad = i;
    }
    CHECK(bad < 0, "%s: element %lld: cpu %.9g vs ref %.9g exceeds the K=%lld dot-product bound", what,
          (long long)bad, bad >= 0 ? got[bad] : 0.0, bad >= 0 ? want[bad] : 0.0, (long long)k);
    printf("  %-34s worst error / bound = %.3f\n", what, worst);
}

static void parity_sgemm(const bl_kernels *cpu, const bl_kernels *ref, uint64_t seed) {
    const int cases[][5] = {{0, 0, 37, 53, 129}, {1, 0, 64, 33, 300}, {0, 1, 130, 17, 64}, {1, 1, 7, 200, 45}};
    for (int c = 0; c < 4; c++) {
        int ta = cases[c][0], tb = cases[c][1], m = cases[c][2], n = cases[c][3], k = cases[c][4];
        float *a = rand_buf((int64_t)m * k, seed, 10 + c), *b = rand_buf((int64_t)k * n, seed, 20 + c);
        float *aa = abs_copy(a, (int64_t)m * k), *ab = abs_copy(b, (int64_t)k * n);
        float *c_cpu = buf((int64_t)m * n), *c_ref = buf((int64_t)m * n), *mag = buf((int64_t)m * n);
        int lda = ta ? m : k, ldb = tb ? k : n;
        cpu->sgemm(cpu, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c_cpu, n);
        ref->sgemm(ref, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c_ref, n);
        ref->sgemm(ref, ta, tb, m, n, k, 1.0f, aa, lda, ab, ldb, 0.0f, mag, n);
        char what[64];
        snprintf(what, sizeof what, "sgemm %s%s %dx%dx%d", ta ? "T" : "N", tb ? "T" : "N", m, n, k);
        check_dot_bound(what, c_cpu, c_ref, mag, (int64_t)m * n, k);
        free(a), free(b), free(aa), free(ab), free(c_cpu), free(c_ref), free(mag);
    }
}

static void parity_conv2d(const bl_kernels *cpu, const bl_kernels *ref, uint64_t seed) {
    const bl_conv2d_shape shapes[] = {
        {.n = 2, .c_in = 3, .h_in = 13, .w_in = 11, .c_out = 8, .kh = 3, .kw = 3, .stride_h = 1, .stride_w = 1,
         .pad_h = 1, .pad_w = 1, .dil_h = 1, .dil_w = 1},
        {.n = 3, .c_in = 5, .h_in = 9, .w_in = 10, .c_out = 4, .kh = 3, .kw = 3, .stride_h = 2, .stride_w = 2,
         .pad_h = 1, .pad_w = 0, .dil_h = 2, .dil_w = 1},
        {.n = 2, .c_in = 16, .h_in = 7, .w_in = 7, .c_out = 12, .kh = 1, .kw = 1, .stride_h = 1, .stride_w = 1,
         .dil_h = 1, .dil_w = 1},
        {.n = 1, .c_in = 3, .h_in = 20, .w_in = 19, .c_out = 6, .kh = 7, .kw = 7, .stride_h = 2, .stride_w = 2,
         .pad_h = 3, .pad_w = 3, .dil_h = 1, .dil_w = 1},
        {.n = 2, .c_in = 8, .h_in = 8, .w_in = 8, .c_out = 8, .kh = 1, .kw = 1, .stride_h = 2, .stride_w = 2,
         .dil_h = 1, .dil_w = 1},
    };
    for (int c = 0; c < (int)(sizeof shapes / sizeof shapes[0]); c++) {
        bl_conv2d_shape s = shapes[c];
        s.h_out = (s.h_in + 2 * s.pad_h - s.dil_h * (s.kh - 1) - 1) / s.stride_h + 1;
        s.w_out = (s.w_in + 2 * s.pad_w - s.dil_w * (s.kw - 1) - 1) / s.stride_w + 1;
        int64_t nx = (int64_t)s.n * s.c_in * s.h_in * s.w_in, nw = (int64_t)s.c_out * s.c_in * s.kh * s.kw;
        int64_t ny = (int64_t)s.n * s.c_out * s.h_out * s.w_out;
        float *x = rand_buf(nx, seed, 100 + c), *w = rand_buf(nw, seed, 200 + c), *b = rand_buf(s.c_out, seed, 300 + c);
        float *dy = rand_buf(ny, seed, 400 + c);
        float *ax = abs_copy(x, nx), *aw = abs_copy(w, nw), *ab = abs_copy(b, s.c_out), *ady = abs_copy(dy, ny);
        float *y_cpu = buf(ny), *y_ref = buf(ny), *mag = buf(ny);
        cpu->conv2d_forward(cpu, &s, x, w, b, y_cpu);
        ref->conv2d_forward(ref, &s, x, w, b, y_ref);
        ref->conv2d_forward(ref, &s, ax, aw, ab, mag);
        char what[80];
        snprintf(what, sizeof what, "conv2d forward case %d", c);
        check_dot_bound(what, y_cpu, y_ref, mag, ny, (int64_t)s.c_in * s.kh * s.kw + 1);

        /* backward data: dx = Wᵀ ⋆ dy — accumulate onto a random start to check the += rule */
        float *dx_cpu = rand_buf(nx, seed, 500 + c), *dx_ref = buf(nx), *dmag = buf(nx);
        memcpy(dx_ref, dx_cpu, (size_t)nx * sizeof(float));
        for (int64_t i = 0; i < nx; i++) dmag[i] = fabsf(dx_cpu[i]);
        cpu->conv2d_backward_data(cpu, &s, dy, w, dx_cpu);
        ref->conv2d_backward_data(ref, &s, dy, w, dx_ref);
        ref->conv2d_backward_data(ref, &s, ady, aw, dmag);
        snprintf(what, sizeof what, "conv2d backward-data case %d", c);
        check_dot_bound(what, dx_cpu, dx_ref, dmag, nx, (int64_t)s.c_out * s.kh * s.kw + 1);

        /* backward filter: dw = Σ_n dy ⋆ x, db = Σ dy (reduction over N·Ho·Wo) */
        float *dw_cpu = buf(nw), *dw_ref = buf(nw), *wmag = buf(nw);
        float *db_cpu = buf(s.c_out), *db_ref = buf(s.c_out), *bmag = buf(s.c_out);
        cpu->conv2d_backward_filter(cpu, &s, x, dy, dw_cpu, db_cpu);
        ref->conv2d_backward_filter(ref, &s, x, dy, dw_ref, db_ref);
        ref->conv2d_backward_filter(ref, &s, ax, ady, wmag, bmag);
        int64_t k = (int64_t)s.n * s.h_out * s.w_out;
        snprintf(what, sizeof what, "conv2d backward-filter dw case %d", c);
        check_dot_bound(what, dw_cpu, dw_ref, wmag, nw, k);
        snprintf(what, sizeof what, "conv2d backward-filter db case %d", c);
        check_dot_bound(what, db_cpu, db_ref, bmag, s.c_out, k);
        free(x), free(w), free(b), free(dy), free(ax), free(aw), free(ab), free(ady), free(y_cpu), free(y_ref);
        free(mag), free(dx_cpu), free(dx_ref), free(dmag), free(dw_cpu), free(dw_ref), free(wmag), free(db_cpu);
        free(db_ref), free(bmag);
    }
}

static void parity_linear(const bl_kernels *cpu, const bl_kernels *ref, uint64_t seed) {
    int n = 5, in = 77, out = 9;
    float *x = rand_buf(n * in, seed, 600), *w = rand_buf(out * in, seed, 601), *b = rand_buf(out, seed, 602);
    float *dy = rand_buf(n * out, seed, 603);
    float *ax = abs_copy(x, n * in), *aw = abs_copy(w, out * in), *ab = abs_copy(b, out), *ady = abs_copy(dy, n * out);
    float *y_cpu = buf(n * out), *y_ref = buf(n * out), *mag = buf(n * out);
    cpu->linear_forward(cpu, n, in, out, x, w, b, y_cpu);
    ref->linear_forward(ref, n, in, out, x, w, b, y_ref);
    ref->linear_forward(ref, n, in, out, ax, aw, ab, mag);
    check_dot_bound("linear forward", y_cpu, y_ref, mag, n * out, in + 1);
    float *dx_c = buf(n * in), *dx_r = buf(n * in), *dxm = buf(n * in), *dw_c = buf(out * in), *dw_r = buf(out * in);
    float *dwm = buf(out * in), *db_c = buf(out), *db_r = buf(out), *dbm = buf(out);
    cpu->linear_backward(cpu, n, in, out, x, w, dy, dx_c, dw_c, db_c);
    ref->linear_backward(ref, n, in, out, x, w, dy, dx_r, dw_r, db_r);
    ref->linear_backward(ref, n, in, out, ax, aw, ady, dxm, dwm, dbm);
    check_dot_bound("linear backward dx", dx_c, dx_r, dxm, n * in, out);
    check_dot_bound("linear backward dw", dw_c, dw_r, dwm, out * in, n);
    check_dot_bound("linear backward db", db_c, db_r, dbm, out, n);
    free(x), free(w), free(b), free(dy), free(ax), free(aw), free(ab), free(ady), free(y_cpu), free(y_ref), free(mag);
    free(dx_c), free(dx_r), free(dxm), free(dw_c), free(dw_r), free(dwm), free(db_c), free(db_r), free(dbm);
}

/* every other op: if the cpu backend has its own version it must still agree to the last bit with ref, because
 * these ops have no reduction-order freedom except the ones listed in docs/numerics.md */
static void parity_elementwise(const bl_kernels *cpu, const bl_kernels *ref, uint64_t seed) {
    const int64_t n = 1000;
    float *x = rand_buf(n, seed, 700), *y = rand_buf(n, seed, 701), *o1 = buf(n), *o2 = buf(n);
    cpu->relu_forward(cpu, n, x, o1), ref->relu_forward(ref, n, x, o2);
    CHECK(memcmp(o1, o2, n * sizeof(float)) == 0, "relu forward bitwise");
    memset(o1, 0, n * sizeof(float)), memset(o2, 0, n * sizeof(float));
    cpu->relu_backward(cpu, n, x, y, o1), ref->relu_backward(ref, n, x, y, o2);
    CHECK(memcmp(o1, o2, n * sizeof(float)) == 0, "relu backward bitwise");
    cpu->sigmoid_forward(cpu, n, x, o1), ref->sigmoid_forward(ref, n, x, o2);
    CHECK(memcmp(o1, o2, n * sizeof(float)) == 0, "sigmoid forward bitwise");
    cpu->add_forward(cpu, n, x, y, o1), ref->add_forward(ref, n, x, y, o2);
    CHECK(memcmp(o1, o2, n * sizeof(float)) == 0, "add forward bitwise");
    cpu->axpy(cpu, n, 0.5f, x, o1), ref->axpy(ref, n, 0.5f, x, o2);
    CHECK(memcmp(o1, o2, n * sizeof(float)) == 0, "axpy bitwise");
    float s1 = 0, s2 = 0;
    cpu->sum_forward(cpu, n, x, 1.0, &s1), ref->sum_forward(ref, n, x, 1.0, &s2);
    CHECK(s1 == s2, "sum bitwise: %.9g vs %.9g", s1, s2);
    bl_batchnorm2d_shape bs = {.n = 2, .c = 5, .h = 3, .w = 4, .eps = 1e-5f, .momentum = 0.1f};
    float g[5], b[5], rm1[5] = {0}, rv1[5] = {1, 1, 1, 1, 1}, rm2[5] = {0}, rv2[5] = {1, 1, 1, 1, 1};
    float m1[5], m2[5], i1[5], i2[5];
    test_fill_uniform(g, 5, seed, 702, 0.5f, 1.5f), test_fill_uniform(b, 5, seed, 703, -1, 1);
    cpu->batchnorm2d_forward_train(cpu, &bs, x, g, b, o1, rm1, rv1, m1, i1);
    ref->batchnorm2d_forward_train(ref, &bs, x, g, b, o2, rm2, rv2, m2, i2);
    CHECK(memcmp(o1, o2, 120 * sizeof(float)) == 0 && memcmp(rv1, rv2, sizeof rv1) == 0, "batchnorm2d train bitwise");
    free(x), free(y), free(o1), free(o2);
}

int main(void) {
    const char *env = getenv("BLASTO_PARITY_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : ((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32));
    printf("test_parity: seed %llu (replay with BLASTO_PARITY_SEED=%llu)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    const bl_kernels *cpu = bl_kernels_cpu(), *ref = bl_kernels_ref();
    CHECK(strcmp(cpu->name, "cpu") == 0 && strcmp(ref->name, "ref") == 0, "backend names");
    parity_sgemm(cpu, ref, seed);
    parity_conv2d(cpu, ref, seed);
    parity_linear(cpu, ref, seed);
    parity_elementwise(cpu, ref, seed);
    return test_summary("test_parity");
}
