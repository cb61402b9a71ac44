/* test_gemm_prepacked_cpu.c — a GEMM on an A packed once (bl_sgemm_prepack_a + bl_sgemm_cpu_prepacked, what the
 * convolutions use to share packed weights between samples) is BITWISE the plain bl_sgemm_cpu, for every
 * micro-kernel this CPU has, both layouts of A and B, beta 0 and 1, several K blocks, ragged M, and 1 or 2 threads.
 * And it is a real product: checked against the ref GEMM within the dot-product bound of the op-test harness (tests/ops/optest.h) — also when
 * no packing buffer can be had (bl_scratch_set_limit): then gemm.c's memory-free loops read the prepacked A. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu/cpu_features.h"
#include "core/cpu/gemm.h"
#include "core/cpu/scratch.h"
#include "core/kernels.h"
#include "core/cpu/threads.h"
#include "harness.h"

static float *rand_buf(int64_t n, uint64_t idx) {
    float *p = malloc((size_t)n * sizeof(float));
    test_fill_uniform(p, n, 2024, idx, -1, 1);
    return p;
}

int main(void) {
    /* m, n, k: ragged M (not a multiple of any MR), K over several K blocks, N over several NR tiles */
    const int shapes[][3] = {{37, 53, 129}, {130, 70, 600}, {8, 300, 64}, {64, 33, 1031}, {3, 5, 7}};
    const bl_gemm_kernel_kind kinds[] = {BL_GEMM_KERNEL_GENERIC, BL_GEMM_KERNEL_AVX2, BL_GEMM_KERNEL_AVX512};
    int kernels_run = 0;
    for (int kind_i = 0; kind_i < 3; kind_i++) {
        if (!bl_gemm_kernel_available(kinds[kind_i])) continue;
        bl_gemm_config cfg = {.kernel = kinds[kind_i], .b_direct = 1};
        bl_gemm_config packing_cfg = {.kernel = kinds[kind_i], .b_direct = 0}; /* B packed, never read in place */
        kernels_run++;
        for (int threads = 1; threads <= 2; threads++) {
            bl_threads_set(threads);
            for (int c = 0; c < (int)(sizeof shapes / sizeof shapes[0]); c++) {
                int m = shapes[c][0], n = shapes[c][1], k = shapes[c][2];
                for (int ta = 0; ta <= 1; ta++)
                    for (int tb = 0; tb <= 1; tb++)
                        for (int beta_i = 0; beta_i <= 1; beta_i++) {
                            float beta = (float)beta_i;
                            float *a = rand_buf((int64_t)m * k, 1), *b = rand_buf((int64_t)k * n, 2);
                            float *c0 = rand_buf((int64_t)m * n, 3);
                            float *c_plain = malloc((size_t)m * n * sizeof(float));
                            float *c_packed = malloc((size_t)m * n * sizeof(float));
                            float *c_ref = malloc((size_t)m * n * sizeof(float));
                            memcpy(c_plain, c0, (size_t)m * n * sizeof(float));
                            memcpy(c_packed, c0, (size_t)m * n * sizeof(float));
                            memcpy(c_ref, c0, (size_t)m * n * sizeof(float));
                            int lda = ta ? m : k, ldb = tb ? k : n;
                            float *packed = malloc(bl_sgemm_prepacked_a_floats(&cfg, m, k) * sizeof(float));
                            bl_sgemm_prepack_a(&cfg, ta, m, k, a, lda, packed);
                            bl_sgemm_cpu(&cfg, ta, tb, m, n, k, 0.5f, a, lda, b, ldb, beta, c_plain, n);
                            bl_sgemm_cpu_prepacked(&cfg, m, n, k, 0.5f, packed, tb, b, ldb, beta, c_packed, n);
                            bl_kernels_ref()->sgemm(bl_kernels_ref(), ta, tb, m, n, k, 0.5f, a, lda, b, ldb, beta,
                                                    c_ref, n);
                            CHECK(memcmp(c_plain, c_packed, (size_t)m * n * sizeof(float)) == 0,
                                  "%s, %d threads, %dx%dx%d ta %d tb %d beta %g: prepacked differs from plain",
                                  bl_gemm_kernel_name(cfg.kernel), threads, m, n, k, ta, tb, beta);
                            double worst = 0; /* |error| ≤ (k + k/64 + 2)·u·Σ|a||b| + u·|c|, with Σ|a||b| ≤ k here */
                            for (int64_t i = 0; i < (int64_t)m * n; i++) {
                                double bound = ((double)k + k / 64 + 2) * (double)k / 16777216.0 + 1e-6;
                                double r = fabs((double)c_packed[i] - c_ref[i]) / bound;
                                if (!(r <= worst)) worst = r;
                            }
                            CHECK(worst <= 1.0, "%s %dx%dx%d: prepacked vs ref error / bound %.3f",
                                  bl_gemm_kernel_name(cfg.kernel), m, n, k, worst);
                            /* no memory for packing buffers (and B packed, not read in place): the memory-free
                             * loops, reading the prepacked A — correct within the same bound, not bitwise */
                            memcpy(c_packed, c0, (size_t)m * n * sizeof(float));
                            bl_scratch_set_limit(1);
                            bl_sgemm_cpu_prepacked(&packing_cfg, m, n, k, 0.5f, packed, tb, b, ldb, beta, c_packed,
                                                   n);
                            bl_scratch_set_limit(0);
                            worst = 0;
                            for (int64_t i = 0; i < (int64_t)m * n; i++) {
                                double bound = ((double)k + k / 64 + 2) * (double)k / 16777216.0 + 1e-6;
                                double r = fabs((double)c_packed[i] - c_ref[i]) / bound;
                                if (!(r <= worst)) worst = r;
                            }
                            CHECK(worst <= 1.0, "%s %dx%dx%d ta %d tb %d: prepacked without packing memory vs ref "
                                  "error / bound %.3f", bl_gemm_kernel_name(cfg.kernel), m, n, k, ta, tb, worst);
                            free(a), free(b), free(c0), free(c_plain), free(c_packed), free(c_ref), free(packed);
                        }
            }
        }
    }
    CHECK(kernels_run >= 1, "at least the generic kernel runs");
    bl_threads_shutdown();
    return test_summary("test_gemm_prepacked_cpu");
}
