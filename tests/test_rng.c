/* test_rng.c — the counter-based RNG: pure function of (seed, purpose, index, counter), uniform in [0,1),
 * distinct streams unrelated, and the exact first values (the Python twin in tests/golden/gen_golden.py must
 * produce the same, so a whole-model fixture needs no stored weights). */
#include <math.h>

#include "core/rng.h"
#include "harness.h"

int main(void) {
    /* splitmix64 reference values: the generator of Steele et al. seeded with 0 yields these first outputs
     * (state += γ; mix(state)), so bl_mix64(k·γ) for k = 1, 2, 3 must equal them */
    const uint64_t gamma = 0x9E3779B97F4A7C15ULL;
    const uint64_t want[3] = {0xE220A8397B1DCDAFULL, 0x6E789E6AA1B965F4ULL, 0x06C45D188009454FULL};
    for (int k = 0; k < 3; k++)
        CHECK(bl_mix64(gamma * (uint64_t)(k + 1)) == want[k], "splitmix64 output %d: got %016llx", k,
              (unsigned long long)bl_mix64(gamma * (uint64_t)(k + 1)));

    bl_rng a = bl_rng_stream(42, BL_RNG_INIT, 3), b = bl_rng_stream(42, BL_RNG_INIT, 3);
    int same = 1;
    for (int i = 0; i < 100; i++) same &= bl_rng_next_u64(&a) == bl_rng_next_u64(&b);
    CHECK(same, "same coordinates, same stream");
    bl_rng c = bl_rng_stream(42, BL_RNG_DROPOUT, 3), d = bl_rng_stream(42, BL_RNG_INIT, 4);
    bl_rng e = bl_rng_stream(42, BL_RNG_INIT, 3);
    int collide = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t v = bl_rng_next_u64(&e);
        collide += v == bl_rng_next_u64(&c) || v == bl_rng_next_u64(&d);
    }
    CHECK(collide == 0, "other purpose / index give other values (%d collisions)", collide);

    bl_rng u = bl_rng_stream(7, BL_RNG_TEST, 0);
    double sum = 0, sum2 = 0, lo = 1, hi = 0;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        double x = bl_rng_uniform(&u);
        sum += x, sum2 += x * x;
        if (x < lo) lo = x;
        if (x > hi) hi = x;
    }
    double mean = sum / n, var = sum2 / n - mean * mean;
    /* 5-sigma bounds: sd(mean) = sqrt(1/12/n) ≈ 6.5e-4 */
    CHECK(fabs(mean - 0.5) < 5 * sqrt(1.0 / 12 / n), "uniform mean %.5f", mean);
    CHECK(fabs(var - 1.0 / 12) < 2e-3, "uniform variance %.5f (want 1/12)", var);
    CHECK(lo >= 0 && hi < 1, "uniform range [%g, %g] inside [0,1)", lo, hi);

    bl_rng g = bl_rng_stream(9, BL_RNG_TEST, 1);
    sum = sum2 = 0;
    for (int i = 0; i < n; i++) {
        double x = bl_rng_normal(&g);
        sum += x, sum2 += x * x;
    }
    mean = sum / n, var = sum2 / n - mean * mean;
    CHECK(fabs(mean) < 5 / sqrt((double)n) && fabs(var - 1) < 0.02, "normal mean %.4f var %.4f", mean, var);
    return test_summary("test_rng");
}
