/* gradcheck_support.h — scaffolding shared by tests/test_gradcheck.c and tests/test_ref_semantics.c: per-check
 * buffers, random doubles that are exact in float, the float-vs-double variant check, and the per-op records
 * printed as a table at the end of each test.
 *
 * Float vs double bound: both variants of a ref kernel evaluate the same double expression on the same
 * (float-representable) inputs and round once at the store, so the float output must be exactly round-to-float
 * of the double output; check_float_variant allows MAX_ULP = 1 ulp so that a compiler contracting a·b + c into
 * an FMA in one instantiation only would not fail the test (CMake builds with -ffp-contract=off; the measured
 * maximum is printed in the records table). */
#ifndef BLASTO_TEST_GRADCHECK_SUPPORT_H
#define BLASTO_TEST_GRADCHECK_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#define GRADCHECK_SEED 20240611u
#define MAX_ULP 1

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

#endif
