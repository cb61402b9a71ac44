/* harness.c — see harness.h. */
#include "harness.h"

#include <math.h>
#include <stdarg.h>

#include "core/rng.h"

int test_passed, test_failed;

void test_check(int ok, const char *file, int line, const char *fmt, ...) {
    if (ok) {
        test_passed++;
        return;
    }
    test_failed++;
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int test_summary(const char *name) {
    printf("%s: %d passed, %d failed\n", name, test_passed, test_failed);
    return test_failed ? 1 : 0;
}

int test_skip(const char *why) {
    printf("skipped: %s\n", why);
    return 77;
}

double test_close_ratio(const float *a, const float *b, int64_t count, double rtol, double atol, int64_t *worst) {
    double max_ratio = 0;
    int64_t at = 0;
    for (int64_t i = 0; i < count; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        double r = d == 0 ? 0 : d / (atol + rtol * fabs((double)b[i]));
        if (isnan(a[i]) != isnan(b[i]) || (isnan(r) && !isnan(a[i]))) r = INFINITY;
        if (isnan(a[i]) && isnan(b[i])) r = 0;
        if (r > max_ratio) {
            max_ratio = r;
            at = i;
        }
    }
    if (worst) *worst = at;
    return max_ratio;
}

void test_check_close(const char *what, const float *got, const float *want, int64_t count, double rtol,
                      double atol, const char *file, int line) {
    int64_t worst = 0;
    double r = test_close_ratio(got, want, count, rtol, atol, &worst);
    if (count == 0) r = 0;
    test_check(r <= 1.0, file, line, "%s: element %lld of %lld: got %.9g, want %.9g (rtol %g, atol %g, ratio %.3g)",
               what, (long long)worst, (long long)count, count ? got[worst] : 0.0, count ? want[worst] : 0.0, rtol,
               atol, r);
}

void test_fill_uniform(float *x, int64_t count, uint64_t seed, uint64_t index, float lo, float hi) {
    bl_rng r = bl_rng_stream(seed, BL_RNG_TEST, index);
    for (int64_t i = 0; i < count; i++) x[i] = bl_rng_uniform_range(&r, lo, hi);
}
