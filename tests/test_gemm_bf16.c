/* test_gemm_bf16.c — bf16 matrix products with float32 accumulation (core/cpu/gemm_bf16.h) on every path this CPU
 * has (each forced), against the exact sums and the bf16 oracle, with the bounds derived in docs/mixed-precision.md:
 *   float32 C against the exact sum x:      |C − x| ≤ γ_(K−1)·Σ|a·b| + 2^-126·(2K + 1)
 *   bf16(C) against ref = bf16(x), rounded once (the reference backend's rule):
 *                                           |bf16(C) − ref| ≤ 1.071·(K − 1)·2^-24·Σ|a·b| + 2^-7·(1 + 2^-7)·|ref|
 *                                                              + 2^-126·(2K + 1)
 * (the absolute term covers VDPBF16PS's flushing of subnormal inputs and sums; it is 0 in effect here). The exact
 * sum is a compensated (Neumaier) double sum of the exact products. Shapes include odd K, N tails of every width
 * below the vector length, K = 4608 (a 3×3 convolution over 512 channels) and K = 25088 (VGG16's fc1), values in
 * [−1, 1] and spread over 2^±20. Also: the generic and AVX2 paths agree bit for bit (the same sums in the same
 * order), and an unavailable path is refused. Observed/bound ratios are printed per path. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bf16.h"
#include "core/cpu/gemm_bf16.h"
#include "harness.h"

static double exact_dot(int k, const bl_bf16 *a, const bl_bf16 *b, int n, int j, double *abs_sum) {
    double s = 0, comp = 0, mag = 0;
    for (int q = 0; q < k; q++) {
        double p = (double)bl_bf16_to_f32(a[q]) * (double)bl_bf16_to_f32(b[(int64_t)q * n + j]); /* exact */
        double t = s + p;
        comp += fabs(s) >= fabs(p) ? (s - t) + p : (p - t) + s;
        s = t;
        mag += fabs(p);
    }
    *abs_sum = mag;
    return s + comp;
}

static void fill(bl_bf16 *x, int64_t n, uint64_t seed, uint64_t index, int spread) {
    float *f = malloc(sizeof(float) * (size_t)n * 2);
    test_fill_uniform(f, 2 * n, seed, index, -1.0f, 1.0f);
    for (int64_t i = 0; i < n; i++) {
        float v = f[i];
        if (spread) v = ldexpf(v, (int)lroundf(20.0f * f[n + i])); /* 2^-20 … 2^20 */
        x[i] = bl_bf16_from_f32(v);
    }
    free(f);
}

typedef struct ratios {
    double f32, bf16;
} ratios;

static void one_case(bl_bf16_path path, int m, int n, int k, int spread, ratios *worst, float *generic_out) {
    bl_bf16 *a = malloc(sizeof(bl_bf16) * ((size_t)m * k + 1)), *b = malloc(sizeof(bl_bf16) * ((size_t)k * n + 1));
    float *c = malloc(sizeof(float) * ((size_t)m * n + 1));
    fill(a, (int64_t)m * k, 11, (uint64_t)(m * 131 + k), spread);
    fill(b, (int64_t)k * n, 12, (uint64_t)(n * 137 + k), spread);
    CHECK(bl_gemm_bf16(path, m, n, k, a, b, c) == BL_OK, "%s %dx%dx%d: runs", bl_bf16_path_name(path), m, n, k);
    const double u = 0x1p-24, gamma = (k - 1) * u / (1 - (k - 1) * u), tiny = 0x1p-126 * (2.0 * k + 1);
    long bad = 0;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double mag, x = exact_dot(k, a + (int64_t)i * k, b, n, j, &mag);
            double got = c[(int64_t)i * n + j];
            double b1 = gamma * mag + tiny, e1 = fabs(got - x);
            double ref = bl_bf16_to_f32(bl_bf16_from_f64(x));
            double got16 = bl_bf16_to_f32(bl_bf16_from_f32(c[(int64_t)i * n + j]));
            double b2 = 1.071 * (k - 1) * u * mag + 0x1p-7 * (1 + 0x1p-7) * fabs(ref) + tiny, e2 = fabs(got16 - ref);
            bad += e1 > b1 || e2 > b2;
            if (b1 > 0) worst->f32 = fmax(worst->f32, e1 / b1);
            if (b2 > 0) worst->bf16 = fmax(worst->bf16, e2 / b2);
        }
    CHECK(bad == 0, "%s %dx%dx%d%s: %ld outputs outside the bounds", bl_bf16_path_name(path), m, n, k,
          spread ? " (spread)" : "", bad);
    if (generic_out && path == BL_BF16_GENERIC) memcpy(generic_out, c, sizeof(float) * (size_t)m * n);
    if (generic_out && path == BL_BF16_AVX2)
        CHECK(!memcmp(generic_out, c, sizeof(float) * (size_t)m * n), "avx2 %dx%dx%d: bitwise the generic sums", m,
              n, k);
    free(a);
    free(b);
    free(c);
}

int main(void) {
    static const int shapes[][3] = {{1, 1, 1}, {3, 17, 5}, {5, 31, 2}, {2, 15, 7}, {16, 33, 64}, {7, 47, 301},
                                    {4, 40, 4608}, {2, 24, 25088}};
    int n_shapes = (int)(sizeof shapes / sizeof *shapes), tested = 0;
    float *generic[16][2] = {{NULL}};
    for (int p = BL_BF16_GENERIC; p <= BL_BF16_AVX512BF16; p++) {
        if (!bl_bf16_path_available((bl_bf16_path)p)) {
            bl_bf16 one = 0x3F80;
            float out;
            CHECK(bl_gemm_bf16((bl_bf16_path)p, 1, 1, 1, &one, &one, &out) == BL_ERR_INVALID,
                  "%s: unavailable and refused", bl_bf16_path_name((bl_bf16_path)p));
            printf("%-10s not available on this CPU or build: refused, skipped\n", bl_bf16_path_name((bl_bf16_path)p));
            continue;
        }
        ratios worst = {0, 0};
        for (int s = 0; s < n_shapes; s++)
            for (int spread = 0; spread < 2; spread++) {
                const int *sh = shapes[s];
                if (p == BL_BF16_GENERIC) generic[s][spread] = malloc(sizeof(float) * (size_t)sh[0] * sh[1]);
                one_case((bl_bf16_path)p, sh[0], sh[1], sh[2], spread, &worst,
                         p == BL_BF16_AVX512BF16 ? NULL : generic[s][spread]);
            }
        printf("%-10s worst observed/bound: float32 sums %.3f, bf16 outputs %.3f\n", bl_bf16_path_name((bl_bf16_path)p),
               worst.f32, worst.bf16);
        tested++;
    }
    for (int s = 0; s < n_shapes; s++) free(generic[s][0]), free(generic[s][1]);
    printf("default path here: %s\n", bl_bf16_path_name(bl_bf16_path_default()));
    CHECK(tested >= 1, "at least the generic path ran");
    return test_summary("test_gemm_bf16");
}
