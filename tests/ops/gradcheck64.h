/* gradcheck64.h — the float64 gradient check of ref's kernels, run by the op-test harness on the cases flagged
 * OPTEST_GRADCHECK (each op's gradcheck function in tests/ops/<op>.c), and the scaffolding it shares with
 * tests/test_ref_semantics.c: per-check buffers, random doubles that are exact in float, the float-vs-double variant
 * check, and per-op records.
 *
 * The check: for each op and shape, a fixed random r defines the scalar objective L = Σ r⊙y(inputs); the analytic
 * gradient is the backward kernel called with dy = r; the numeric one is (L(p + h) − L(p − h))/(2h) per input
 * element, h = 1e-6, evaluated as Σ r⊙(y₊ − y₋)/(p₊ − p₋) so that the large common part of L cancels before
 * rounding. Pass rule (Caffe): |a − n| ≤ tol·max(|a|, |n|, 1) with tol = 1e-6. Why 1e-6 is safe and still sharp:
 * the central difference's truncation error is h²·|f‴|/6 ≈ 1e-12 for our O(1) inputs, and its rounding error is
 * about ε_double·Σ|r·y|/h ≈ 1e-16·100/1e-6 = 1e-8; a wrong backward (a missing term, a wrong index) is off by
 * O(0.1–1). Kinks are skipped: relu inputs with |x| < 10h, maxpool inputs within 10h of their window's competing
 * maximum. Alongside, each op checks the accumulate rule (a second backward call into the same buffers exactly
 * doubles them), NULL gradient pointers (skipped, the others unchanged) and the float variant against the double
 * one (below).
 *
 * Float vs double bound: both variants of a ref kernel evaluate the same double expression on the same
 * (float-representable) inputs and round once at the store, so the float output must be exactly round-to-float
 * of the double output; check_float_variant allows MAX_ULP = 1 ulp so that a compiler contracting a·b + c into
 * an FMA in one instantiation only would not fail the test (CMake builds with -ffp-contract=off; the measured
 * maximum is printed in the records table). */
#ifndef BLASTO_TEST_GRADCHECK64_H
#define BLASTO_TEST_GRADCHECK64_H

#include <stddef.h>
#include <stdint.h>

#define GRADCHECK_SEED 20240611u
#define MAX_ULP 1
#define GRADCHECK_STEP 1e-6
#define GRADCHECK_TOLERANCE 1e-6
#define GRADCHECK_KINK (10 * GRADCHECK_STEP)

/* ---- bookkeeping: the worst result per op, printed at the end ------------------------------------------------ */

typedef struct op_record {
    const char *op;
    double worst_ratio;  /* max |a − n|/max(|a|,|n|,1) */
    int64_t checked, skipped;
    int64_t max_ulp;     /* float variant vs double variant */
} op_record;

/* The record of `op`, created zeroed on first use (at most 32 ops). */
op_record *record_for(const char *op);
/* The table of every record, in order of first use. */
void print_records(void);

/* ---- buffers ------------------------------------------------------------------------------------------------ */

/* Every buffer a check allocates is zeroed and remembered; free_case_buffers() releases them all when the check
 * is done, so the checks read as the math rather than as memory management. release_case_buffers() also frees
 * the list itself (end of main). */
void *case_alloc(int64_t count, size_t size);
void free_case_buffers(void);
void release_case_buffers(void);
double *doubles(int64_t count);
float *floats(int64_t count);

/* Uniform in [lo,hi), drawn as floats so that the same values exist exactly in both variants. Every call draws
 * from its own RNG stream (seed GRADCHECK_SEED), numbered 1, 2, … in call order. */
double *random_doubles(int64_t count, double lo, double hi);
/* The stream number the next random_doubles() call draws from (default 1). */
void set_next_stream(uint64_t stream);
/* A copy of src (zeros when src is NULL). */
double *copy_doubles(const double *src, int64_t count);
/* The float rounding of src; NULL stays NULL, so optional buffers (bias, weights) pass through. */
float *to_floats(const double *src, int64_t count);

/* ---- the float variant against the double one --------------------------------------------------------------- */

/* CHECK that got (float variant) is within MAX_ULP ulp of round-to-float(want) (double variant), NaN where want
 * is NaN; records the worst ulp distance under `op`. */
void check_float_variant(const char *op, const char *what, const float *got, const double *want, int64_t count);

/* ---- the gradient check ------------------------------------------------------------------------------------- */

/* y = forward(state) must read the inputs through the state's pointers, so perturbing *param is visible */
typedef void (*gradcheck_forward_fn)(const void *state, double *y);

/* CHECK analytic[k] against the central difference of L = Σ r⊙y w.r.t. param[k] for every k not skipped (skip may
 * be NULL); records the worst ratio under `op`. */
void gradcheck(const char *op, const char *what, gradcheck_forward_fn forward, const void *state, double *param,
               int64_t count, const double *analytic, const unsigned char *skip, int64_t y_count, const double *r);
/* The worst |a − n|/max(|a|,|n|,1) (and where) without checking it: the negative control uses it. */
double gradcheck_ratio(const char *op, gradcheck_forward_fn forward, const void *state, double *param, int64_t count,
                       const double *analytic, const unsigned char *skip, int64_t y_count, const double *r,
                       int64_t *worst_at, double *worst_numeric);
/* After a backward into zeroed buffers (`once`) and the same backward twice into zeroed buffers (`twice`), twice must
 * be exactly 2·once: each call adds the same double-rounded contribution c, and c + c = 2c exactly. */
void check_accumulates(const char *op, const char *what, const double *once, const double *twice, int64_t count);
void check_equal(const char *op, const char *what, const double *got, const double *want, int64_t count);
/* The checker must be able to fail: a gradient off by 1e-4 in one element of a linear layer has to be caught. */
void gradcheck_negative_control(void);
/* The worst |a − n|/max(|a|,|n|,1) recorded under `op` so far (0 when none). */
double gradcheck64_worst(const char *op);

#endif
