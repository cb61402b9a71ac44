/* gradcheck_support.c — see gradcheck_support.h. */
#include "support/gradcheck_support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* ---------------------------------------------------------------------------------------------------------- */
/* bookkeeping                                                                                                */
/* ---------------------------------------------------------------------------------------------------------- */

static op_record records[32];
static int record_count;

op_record *record_for(const char *op) {
    for (int i = 0; i < record_count; i++)
        if (strcmp(records[i].op, op) == 0) return &records[i];
    if (record_count == 32) {
        fprintf(stderr, "gradcheck_support: more than 32 op records\n");
        exit(2);
    }
    records[record_count].op = op;
    return &records[record_count++];
}

void print_records(void) {
    printf("%-18s %8s %8s  %-28s %s\n", "op", "checked", "skipped", "worst |a-n|/max(|a|,|n|,1)", "float vs f64 (ulp)");
    for (int i = 0; i < record_count; i++)
        printf("%-18s %8lld %8lld  %-28.3g %lld\n", records[i].op, (long long)records[i].checked,
               (long long)records[i].skipped, records[i].worst_ratio, (long long)records[i].max_ulp);
}

/* ---------------------------------------------------------------------------------------------------------- */
/* buffers                                                                                                    */
/* ---------------------------------------------------------------------------------------------------------- */

static uint64_t next_stream = 1; /* every random buffer gets its own RNG stream */

static void **case_buffers;
static int case_buffer_count, case_buffer_capacity;

void *case_alloc(int64_t count, size_t size) {
    void *p = calloc((size_t)(count > 0 ? count : 1), size);
    if (case_buffer_count == case_buffer_capacity) {
        case_buffer_capacity = case_buffer_capacity ? 2 * case_buffer_capacity : 64;
        void **grown = realloc(case_buffers, (size_t)case_buffer_capacity * sizeof *grown);
        if (!grown) p = NULL;
        else case_buffers = grown;
    }
    if (!p) {
        fprintf(stderr, "gradcheck_support: out of memory\n");
        exit(2);
    }
    case_buffers[case_buffer_count++] = p;
    return p;
}

void free_case_buffers(void) {
    for (int i = 0; i < case_buffer_count; i++) free(case_buffers[i]);
    case_buffer_count = 0;
}

void release_case_buffers(void) {
    free_case_buffers();
    free(case_buffers);
    case_buffers = NULL;
    case_buffer_capacity = 0;
}

double *doubles(int64_t count) { return case_alloc(count, sizeof(double)); }
float *floats(int64_t count) { return case_alloc(count, sizeof(float)); }

double *random_doubles(int64_t count, double lo, double hi) {
    float *f = floats(count);
    double *d = doubles(count);
    test_fill_uniform(f, count, GRADCHECK_SEED, next_stream++, (float)lo, (float)hi);
    for (int64_t i = 0; i < count; i++) d[i] = f[i];
    return d;
}

void set_next_stream(uint64_t stream) { next_stream = stream; }

double *copy_doubles(const double *src, int64_t count) {
    double *d = doubles(count);
    if (src) memcpy(d, src, (size_t)count * sizeof *d);
    return d;
}

float *to_floats(const double *src, int64_t count) {
    if (!src) return NULL;
    float *f = floats(count);
    for (int64_t i = 0; i < count; i++) f[i] = (float)src[i];
    return f;
}

/* ---------------------------------------------------------------------------------------------------------- */
/* the float variant                                                                                          */
/* ---------------------------------------------------------------------------------------------------------- */

/* position of f on the ordered line of floats, so that the distance of two floats is their ulp distance */
static int64_t float_rank(float f) {
    int32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return bits < 0 ? (int64_t)INT32_MIN - bits : bits;
}

void check_float_variant(const char *op, const char *what, const float *got, const double *want, int64_t count) {
    int64_t worst = 0, at = 0;
    for (int64_t i = 0; i < count; i++) {
        int64_t distance = llabs(float_rank(got[i]) - float_rank((float)want[i]));
        if (isnan(got[i]) != isnan(want[i])) distance = INT32_MAX;
        if (distance > worst) worst = distance, at = i;
    }
    op_record *rec = record_for(op);
    if (worst > rec->max_ulp) rec->max_ulp = worst;
    CHECK(worst <= MAX_ULP, "%s: %s: float variant %lld ulp from the double variant at %lld (%.9g vs %.17g)", op,
          what, (long long)worst, (long long)at, count ? got[at] : 0.0, count ? want[at] : 0.0);
}
