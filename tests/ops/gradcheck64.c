/* gradcheck64.c — see gradcheck64.h. */
#include "ops/gradcheck64.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ref/ref.h"
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
        fprintf(stderr, "gradcheck64: more than 32 op records\n");
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
        fprintf(stderr, "gradcheck64: out of memory\n");
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

/* ---------------------------------------------------------------------------------------------------------- */
/* the gradient check                                                                                         */
/* ---------------------------------------------------------------------------------------------------------- */

/* Compare analytic[k] with the central difference of L = Σ r⊙y w.r.t. param[k] for every k not skipped. */
double gradcheck_ratio(const char *op, gradcheck_forward_fn forward, const void *state, double *param, int64_t count,
                              const double *analytic, const unsigned char *skip, int64_t y_count, const double *r,
                              int64_t *worst_at, double *worst_numeric) {
    double *y_plus = malloc((size_t)y_count * sizeof(double)), *y_minus = malloc((size_t)y_count * sizeof(double));
    if (!y_plus || !y_minus) exit(2);
    op_record *rec = record_for(op);
    double worst = 0;
    *worst_at = -1;
    for (int64_t k = 0; k < count; k++) {
        if (skip && skip[k]) {
            rec->skipped++;
            continue;
        }
        double saved = param[k], up = saved + GRADCHECK_STEP, down = saved - GRADCHECK_STEP;
        param[k] = up;
        forward(state, y_plus);
        param[k] = down;
        forward(state, y_minus);
        param[k] = saved;
        double change = 0;
        for (int64_t i = 0; i < y_count; i++) change += r[i] * (y_plus[i] - y_minus[i]);
        double numeric = change / (up - down);
        double ratio = fabs(analytic[k] - numeric) / fmax(fmax(fabs(analytic[k]), fabs(numeric)), 1.0);
        if (ratio > worst || *worst_at < 0) {
            worst = ratio;
            *worst_at = k;
            *worst_numeric = numeric;
        }
        rec->checked++;
    }
    free(y_plus);
    free(y_minus);
    return worst;
}

void gradcheck(const char *op, const char *what, gradcheck_forward_fn forward, const void *state, double *param,
                      int64_t count, const double *analytic, const unsigned char *skip, int64_t y_count,
                      const double *r) {
    int64_t at;
    double numeric = 0;
    double worst = gradcheck_ratio(op, forward, state, param, count, analytic, skip, y_count, r, &at, &numeric);
    op_record *rec = record_for(op);
    if (worst > rec->worst_ratio) rec->worst_ratio = worst;
    CHECK(worst <= GRADCHECK_TOLERANCE, "%s: %s: element %lld: analytic %.12g, numeric %.12g (|a-n|/max(|a|,|n|,1) = %.3g > %g)",
          op, what, (long long)at, at >= 0 ? analytic[at] : 0.0, numeric, worst, GRADCHECK_TOLERANCE);
}

/* After a backward into zeroed buffers (`once`) and the same backward twice into zeroed buffers (`twice`),
 * twice must be exactly 2·once: each call adds the same double-rounded contribution c, and c + c = 2c exactly. */
void check_accumulates(const char *op, const char *what, const double *once, const double *twice,
                              int64_t count) {
    int64_t bad = -1;
    for (int64_t i = 0; i < count && bad < 0; i++)
        if (twice[i] != 2 * once[i]) bad = i;
    CHECK(bad < 0, "%s: %s: two backward calls do not double the gradient at %lld (%.17g vs 2·%.17g)", op, what,
          (long long)bad, bad >= 0 ? twice[bad] : 0.0, bad >= 0 ? once[bad] : 0.0);
}

void check_equal(const char *op, const char *what, const double *got, const double *want, int64_t count) {
    int64_t bad = -1;
    for (int64_t i = 0; i < count && bad < 0; i++)
        if (got[i] != want[i]) bad = i;
    CHECK(bad < 0, "%s: %s: element %lld differs (%.17g vs %.17g)", op, what, (long long)bad,
          bad >= 0 ? got[bad] : 0.0, bad >= 0 ? want[bad] : 0.0);
}

/* a linear layer's forward in double: the negative control's function */
typedef struct linear2 {
    int n, in, out;
    double *x, *w;
} linear2;

static void linear2_forward(const void *state, double *y) {
    const linear2 *c = state;
    linear_forward_ref_f64(c->n, c->in, c->out, c->x, c->w, NULL, y);
}

void gradcheck_negative_control(void) {
    linear2 c = {2, 3, 2, random_doubles(6, -1, 1), random_doubles(6, -1, 1)};
    double *r = random_doubles(4, -1, 1), dx[6] = {0}, numeric;
    int64_t at;
    linear_backward_ref_f64(2, 3, 2, c.x, c.w, r, dx, NULL, NULL);
    dx[4] += 1e-4;
    double ratio = gradcheck_ratio("negative control", linear2_forward, &c, c.x, 6, dx, NULL, 4, r, &at, &numeric);
    CHECK(ratio > GRADCHECK_TOLERANCE && at == 4, "gradcheck missed a wrong gradient (ratio %g at %lld)", ratio,
          (long long)at);
    free_case_buffers();
}

double gradcheck64_worst(const char *op) {
    for (int i = 0; i < record_count; i++)
        if (strcmp(records[i].op, op) == 0) return records[i].worst_ratio;
    return 0;
}
