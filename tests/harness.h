/* harness.h — the tiny test harness every tests/test_*.c uses.
 *
 * CHECK(cond, fmt, …) records a failure with file:line and continues; a test's main() ends with
 * `return test_summary("name");` which prints "name: N passed, M failed" and returns 1 on any failure.
 * test_skip("why") prints "skipped: why" and returns 77 (ctest's SKIP_RETURN_CODE).
 * Comparisons follow docs/numerics.md: close(a, b, rtol, atol) ⇔ |a − b| ≤ atol + rtol·|b|. */
#ifndef BLASTO_TEST_HARNESS_H
#define BLASTO_TEST_HARNESS_H

#include <stdint.h>
#include <stdio.h>

extern int test_passed, test_failed;

void test_check(int ok, const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
#define CHECK(cond, ...) test_check((cond) ? 1 : 0, __FILE__, __LINE__, __VA_ARGS__)

int test_summary(const char *name);
int test_skip(const char *why);

/* Largest |a−b|/(atol + rtol·|b|) over count elements (≤ 1 means all close); *worst gets its index. */
double test_close_ratio(const float *a, const float *b, int64_t count, double rtol, double atol, int64_t *worst);
/* CHECK that every element is close; the message names `what` and the worst element. */
void test_check_close(const char *what, const float *got, const float *want, int64_t count, double rtol,
                      double atol, const char *file, int line);
#define CHECK_CLOSE(what, got, want, count, rtol, atol) \
    test_check_close((what), (got), (want), (count), (rtol), (atol), __FILE__, __LINE__)

/* Deterministic test data from the counter RNG: uniform in [lo,hi). */
void test_fill_uniform(float *x, int64_t count, uint64_t seed, uint64_t index, float lo, float hi);

#endif
