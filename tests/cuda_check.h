/* cuda_check.h — what tests/test_cuda_ops.c (the GEMM-shaped slots: sgemm, linear, conv2d) and
 * tests/test_cuda_kernels.c (every other slot: batchnorm, pooling, elementwise, optimizers, memory, errors) share:
 * the backend under test and the oracle, host and device buffers, the three comparisons and their tolerances
 * (docs/cuda.md, "Numerics and the tests' tolerances"), the backend's opening, the seed. Header-only (static
 * functions, one copy per test); everything is inside BLASTO_HAVE_CUDA. */
#ifndef BLASTO_TEST_CUDA_CHECK_H
#define BLASTO_TEST_CUDA_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/kernels.h"
#include "harness.h"

#ifdef BLASTO_HAVE_CUDA
#include "cuda/cuda.h"

static const double unit_roundoff = 1.0 / 16777216.0; /* 2^-24 */
static const bl_kernels *gpu, *ref;
static int tf32_mode; /* the bound check_dot_bound applies */
static uint64_t seed;

/* ---- buffers: host ones with calloc, device ones through the backend (freed at the end of each section) ---- */
#define MAX_DEVICE_BUFFERS 256
static void *device_buffers[MAX_DEVICE_BUFFERS];
static int device_buffer_count;

static inline float *host(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }
static inline float *rand_host(int64_t n, uint64_t idx, float lo, float hi) {
    float *p = host(n);
    test_fill_uniform(p, n, seed, idx, lo, hi);
    return p;
}
static inline float *abs_copy(const float *x, int64_t n) {
    float *p = host(n);
    for (int64_t i = 0; i < n; i++) p[i] = fabsf(x[i]);
    return p;
}
static inline float *dev(int64_t n) {
    float *d = gpu->mem_alloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!d) {
        fprintf(stderr, "cuda test: device allocation of %lld floats failed\n", (long long)n);
        exit(1);
    }
    if (device_buffer_count < MAX_DEVICE_BUFFERS) device_buffers[device_buffer_count++] = d;
    return d;
}
static inline float *up(const float *h, int64_t n) {
    float *d = dev(n);
    gpu->upload(d, h, (size_t)n * sizeof(float));
    return d;
}
/* the device buffer's contents in a fresh host buffer */
static inline float *down(const float *d, int64_t n) {
    float *h = host(n);
    gpu->download(h, d, (size_t)n * sizeof(float));
    return h;
}
static inline void free_device_buffers(void) {
    for (int i = 0; i < device_buffer_count; i++) gpu->mem_free(device_buffers[i]);
    device_buffer_count = 0;
}
static inline void check_no_error(const char *where) {
    const char *e = gpu->take_error();
    CHECK(e == NULL, "%s: backend error: %s", where, e ? e : "");
}

/* ---- comparisons ---- */
static inline void check_bitwise(const char *what, const float *got, const float *want, int64_t n) {
    int64_t bad = -1;
    for (int64_t i = 0; i < n && bad < 0; i++)
        if (memcmp(&got[i], &want[i], sizeof(float)) != 0) bad = i;
    CHECK(bad < 0, "%s: element %lld: cuda %.9g vs ref %.9g (bitwise expected)", what, (long long)bad,
          bad >= 0 ? got[bad] : 0.0, bad >= 0 ? want[bad] : 0.0);
}

/* |got − want| ≤ 2⁻²²·|want| + 1e-12·max|want| (double-accumulated reductions and sigmoid) */
static inline void check_ulps(const char *what, const float *got, const float *want, int64_t n) {
    double max_want = 0;
    for (int64_t i = 0; i < n; i++) max_want = fmax(max_want, fabs((double)want[i]));
    int64_t worst = 0;
    double ratio = test_close_ratio(got, want, n, 1.0 / 4194304.0, 1e-12 * max_want + 1e-38, &worst);
    CHECK(ratio <= 1.0, "%s: element %lld: cuda %.9g vs ref %.9g exceeds 2 ulps (ratio %.3g)", what, (long long)worst,
          got[worst], want[worst], ratio);
}

/* check_ulps with the case number appended to `what` */
static inline void check_ulps_case(const char *what, int c, const float *got, const float *want, int64_t n) {
    char label[128];
    snprintf(label, sizeof label, "%s case %d", what, c);
    check_ulps(label, got, want, n);
}

/* the K-term dot-product bound (fp32) or its TF32 version; magnitude = the op on absolute values */
static inline void check_dot_bound(const char *what, const float *got, const float *want, const float *magnitude,
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

/* Opens the cuda backend with these options (and checks that a second open with other options is refused). */
static inline int open_backend(int deterministic, int tf32) {
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

/* The run's seed, from BLASTO_CUDA_SEED or the clock, printed; returns 0 (and the test should skip) without a
 * device. Also sets the oracle. */
static inline int cuda_check_start(const char *test) {
    if (bl_cuda_device_count() == 0) return 0;
    unsetenv("BLASTO_CUDA_TRANSFORM_ALGOS"); /* the fp32 bound holds for direct/GEMM algorithms (docs/cuda.md) */
    const char *env = getenv("BLASTO_CUDA_SEED");
    seed = env ? strtoull(env, NULL, 10) : ((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32));
    printf("%s: seed %llu (replay with BLASTO_CUDA_SEED=%llu)\n", test, (unsigned long long)seed,
           (unsigned long long)seed);
    ref = bl_kernels_ref();
    return 1;
}
#endif /* BLASTO_HAVE_CUDA */

#endif
