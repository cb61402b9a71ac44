/* optest.c — the op-test harness engine (optest.h): case data, one run of a case on a backend through the autograd
 * API, the comparisons, the parity / determinism / golden / gradcheck drivers and their summary lines. */
#include "ops/optest.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu/cpu.h"
#include "core/cpu/threads.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "harness.h"
#include "ops/gradcheck64.h"
#ifdef BLASTO_HAVE_CUDA
#include "cuda/cuda.h"
#endif

static const double unit_roundoff = 1.0 / 16777216.0; /* 2⁻²⁴ */

/* ============================================================================================ bookkeeping === */

/* The worst error / tolerance of one check of one op, over all its cases and backends (bitwise: 0, or ∞ on a
 * difference). */
typedef optest_check summary;

static void summary_note(summary *s, double ratio, const char *where) {
    if (ratio > s->worst || (isnan(ratio) && !isnan(s->worst))) {
        s->worst = isnan(ratio) ? INFINITY : ratio;
        snprintf(s->worst_at, sizeof s->worst_at, "%s", where);
    }
}

/* A failed comparison: one line on stderr, counted by the test harness (test_failed) so ctest sees it too. */
static void fail(summary *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(summary *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("FAIL ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    s->failures++;
    test_failed++;
}

/* ============================================================================================== case data === */

/* One case's host data, made once per (case, seed) and shared by every backend's run. */
typedef struct case_data {
    int64_t count[OPTEST_MAX_INPUTS];
    float *values[OPTEST_MAX_INPUTS]; /* NULL for absent inputs */
    float *grad_start[OPTEST_MAX_INPUTS]; /* PARAM inputs: where the gradient accumulation starts */
} case_data;

static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int64_t numel(const optest_input *in) {
    int64_t n = 1;
    for (int d = 0; d < in->ndim; d++) n *= in->shape[d];
    return n;
}

static optest_role role_of(const optest_op *op, const optest_case *c, int i) {
    if (c->in[i].ndim == 0) return OPTEST_ABSENT;
    return c->in[i].role == OPTEST_DEFAULT ? op->default_roles[i] : c->in[i].role;
}

static void fill(float *x, int64_t n, const optest_input *in, uint64_t seed, uint64_t stream) {
    float lo = in->lo, hi = in->hi;
    if (lo == 0.0f && hi == 0.0f) lo = -1.0f, hi = 1.0f;
    test_fill_uniform(x, n, seed, stream, lo, hi);
    for (int64_t i = 0; i < n; i++) {
        int64_t j = i + (int64_t)(stream % 101); /* a different pattern per tensor: zeros of x and dy differ */
        if (in->fill == OPTEST_CLASSES) x[i] = floorf(x[i]);
        if (in->fill == OPTEST_UNIFORM || in->fill == OPTEST_CLASSES) continue;
        if (in->fill == OPTEST_TIES && i % 3 == 0) x[i] = roundf(x[i] * 4.0f) / 4.0f; /* ties come with NaNs, zeros */
        if ((in->fill == OPTEST_TIES || in->fill == OPTEST_AWKWARD_NAN) && j % 997 == 11) x[i] = NAN;
        if (j % 17 == 3) x[i] = 0.0f;
        if (j % 29 == 5) x[i] = -0.0f;
    }
}

static void case_data_free(case_data *d) {
    for (int i = 0; i < OPTEST_MAX_INPUTS; i++) free(d->values[i]), free(d->grad_start[i]);
    memset(d, 0, sizeof *d);
}

static int case_data_make(const optest_op *op, const optest_case *c, uint64_t seed, case_data *d) {
    memset(d, 0, sizeof *d);
    uint64_t base = name_hash(op->name) ^ name_hash(c->name);
    for (int i = 0; i < op->n_inputs; i++) {
        if (role_of(op, c, i) == OPTEST_ABSENT) continue;
        d->count[i] = numel(&c->in[i]);
        d->values[i] = malloc(sizeof(float) * (size_t)(d->count[i] > 0 ? d->count[i] : 1));
        if (!d->values[i]) return 0;
        fill(d->values[i], d->count[i], &c->in[i], seed, base + 2 * (uint64_t)i);
        if (role_of(op, c, i) == OPTEST_PARAM) {
            d->grad_start[i] = malloc(sizeof(float) * (size_t)(d->count[i] > 0 ? d->count[i] : 1));
            if (!d->grad_start[i]) return 0;
            test_fill_uniform(d->grad_start[i], d->count[i], seed, base + 2 * (uint64_t)i + 1, -1.0f, 1.0f);
        }
    }
    return 1;
}

/* ================================================================================================== a run === */

/* One output of a run, on the host. */
typedef struct output {
    char name[40];
    int64_t count;
    float *v;
} output;

struct optest_run {
    const optest_op *op;
    const optest_case *c;
    const optest_attrs *a;
    bl_ctx *ctx;
    bl_tensor *in[OPTEST_MAX_INPUTS];
    bl_tensor *declared[OPTEST_MAX_OUTPUTS];
    const char *declared_names[OPTEST_MAX_OUTPUTS];
    int n_declared;
    uint64_t seed;
    float *randoms[16];
    int n_randoms;
    int absolute; /* the magnitude run: every random value taken by its absolute value */
};

bl_tensor *optest_in(optest_run *r, int i) { return i >= 0 && i < OPTEST_MAX_INPUTS ? r->in[i] : NULL; }
bl_ctx *optest_ctx(optest_run *r) { return r->ctx; }
const optest_attrs *optest_attrs_of(optest_run *r) { return r->a; }

void optest_output(optest_run *r, const char *name, bl_tensor *t) {
    if (r->n_declared == OPTEST_MAX_OUTPUTS) return;
    r->declared_names[r->n_declared] = name;
    r->declared[r->n_declared++] = t;
}

float *optest_random(optest_run *r, int64_t count, uint64_t index, float lo, float hi) {
    if (r->n_randoms == (int)(sizeof r->randoms / sizeof r->randoms[0])) return NULL;
    float *x = malloc(sizeof(float) * (size_t)(count > 0 ? count : 1));
    if (!x) return NULL;
    test_fill_uniform(x, count, r->seed, name_hash(r->op->name) ^ name_hash(r->c->name) ^ (index << 32), lo, hi);
    if (r->absolute)
        for (int64_t i = 0; i < count; i++) x[i] = fabsf(x[i]);
    r->randoms[r->n_randoms++] = x;
    return x;
}

typedef struct run_result {
    output out[OPTEST_MAX_OUTPUTS];
    int n_out;
    char error[400]; /* the context's error when the run failed, else "" */
} run_result;

static void run_result_free(run_result *res) {
    for (int i = 0; i < res->n_out; i++) free(res->out[i].v);
    res->n_out = 0;
}

static void collect(bl_ctx *ctx, run_result *res, const char *name, const bl_tensor *t) {
    if (!t || res->n_out == OPTEST_MAX_OUTPUTS) return;
    output *o = &res->out[res->n_out];
    snprintf(o->name, sizeof o->name, "%s", name);
    o->count = t->numel;
    o->v = malloc(sizeof(float) * (size_t)(t->numel > 0 ? t->numel : 1));
    if (!o->v || bl_tensor_download(ctx, t, o->v) != BL_OK) {
        free(o->v);
        return;
    }
    res->n_out++;
}

static void absolute_copy(float *dst, const float *src, int64_t n, int absolute) {
    for (int64_t i = 0; i < n; i++) dst[i] = absolute ? fabsf(src[i]) : src[i];
}

/* The step arena filled with NaN before the case's tensors are made, so a forward that reads its output before
 * writing it (instead of writing it: kernels.h) shows up as NaN. */
static void poison_step_arena(bl_ctx *ctx, int64_t floats) {
    int shape[1] = {(int)(floats < (1 << 28) ? floats : (1 << 28))};
    bl_tensor *t = bl_tensor_new(ctx, 1, shape);
    if (t) bl_ctx_kernels(ctx)->fill(t->numel, NAN, t->data);
    bl_step_end(ctx);
}

/* Run case c of op on backend k with data d (absolute: the magnitude run, every value and dy by its absolute value).
 * dy: the upstream gradient (host, dy_count elements, which must cover y), or NULL: random values made for y's size
 * from the seed, the op and the case — the same on every backend. */
static void run_case(const optest_op *op, const optest_case *c, const case_data *d, const float *dy, int64_t dy_count,
                     const bl_kernels *k, uint64_t seed, int absolute, run_result *res) {
    memset(res, 0, sizeof *res);
    optest_run r = {.op = op, .c = c, .a = &c->a, .seed = seed, .absolute = absolute};
    if (bl_ctx_create(k, &r.ctx) != BL_OK) {
        snprintf(res->error, sizeof res->error, "bl_ctx_create: %s", bl_last_error());
        return;
    }
    bl_set_seed(r.ctx, 1234);
    int64_t total = dy_count;
    for (int i = 0; i < op->n_inputs; i++) total += d->count[i];
    poison_step_arena(r.ctx, 4 * total + 4096);
    for (int i = 0; i < op->n_inputs && bl_ctx_status(r.ctx) == BL_OK; i++) {
        optest_role role = role_of(op, c, i);
        if (role == OPTEST_ABSENT) continue;
        float *values = malloc(sizeof(float) * (size_t)(d->count[i] > 0 ? d->count[i] : 1));
        if (!values) break;
        absolute_copy(values, d->values[i], d->count[i], absolute);
        bl_tensor *t = NULL;
        if (role == OPTEST_PARAM || role == OPTEST_BUFFER) {
            t = role == OPTEST_PARAM ? bl_param(r.ctx, op->input_names[i], c->in[i].ndim, c->in[i].shape)
                                     : bl_buffer(r.ctx, op->input_names[i], c->in[i].ndim, c->in[i].shape);
            if (t) bl_tensor_upload(r.ctx, t, values);
        } else {
            t = bl_tensor_from(r.ctx, c->in[i].ndim, c->in[i].shape, values);
            if (t && role == OPTEST_GRAD) bl_requires_grad(t);
        }
        free(values);
        r.in[i] = t;
    }
    /* parameter gradients start from random values: backward must accumulate (+=) onto them */
    bl_alloc_param_grads(r.ctx);
    for (int i = 0; i < op->n_inputs && bl_ctx_status(r.ctx) == BL_OK; i++) {
        if (role_of(op, c, i) != OPTEST_PARAM || !r.in[i] || !r.in[i]->grad) continue;
        float *start = malloc(sizeof(float) * (size_t)(d->count[i] > 0 ? d->count[i] : 1));
        if (!start) break;
        absolute_copy(start, d->grad_start[i], d->count[i], absolute);
        bl_tensor_upload(r.ctx, r.in[i]->grad, start);
        free(start);
    }
    bl_tensor *y = bl_ctx_status(r.ctx) == BL_OK ? op->build(&r) : NULL;
    const int backward = y && y->requires_grad && !(c->flags & OPTEST_FORWARD_ONLY);
    if (backward && bl_ctx_status(r.ctx) == BL_OK) {
        if (dy && y->numel > dy_count) {
            snprintf(res->error, sizeof res->error, "y has %lld elements, dy %lld", (long long)y->numel,
                     (long long)dy_count);
        } else {
            float *g = malloc(sizeof(float) * (size_t)(y->numel > 0 ? y->numel : 1));
            if (g) {
                const optest_input dy_spec = {.fill = OPTEST_AWKWARD}; /* zeros and −0 in dy: −0 + 0 must be +0 */
                if (!dy) fill(g, y->numel, &dy_spec, seed, name_hash(op->name) ^ name_hash(c->name) ^ 0xd7);
                absolute_copy(g, dy ? dy : g, y->numel, absolute);
                bl_backward_with(r.ctx, y, g);
                free(g);
            }
        }
    }
    if (bl_ctx_status(r.ctx) != BL_OK || (!y && !res->error[0])) {
        if (!res->error[0])
            snprintf(res->error, sizeof res->error, "%s",
                     bl_ctx_status(r.ctx) != BL_OK ? bl_ctx_error(r.ctx) : "the build returned no output");
    } else if (!res->error[0]) {
        collect(r.ctx, res, "y", y);
        for (int i = 0; i < op->n_inputs; i++) {
            optest_role role = role_of(op, c, i);
            char name[40];
            if ((role == OPTEST_GRAD || role == OPTEST_PARAM) && backward) {
                snprintf(name, sizeof name, "d%s", op->input_names[i]);
                if (!r.in[i]->grad) snprintf(res->error, sizeof res->error, "%s was not produced", name);
                collect(r.ctx, res, name, r.in[i]->grad);
            } else if (role == OPTEST_BUFFER) {
                collect(r.ctx, res, op->input_names[i], r.in[i]);
            }
        }
        for (int i = 0; i < r.n_declared; i++) collect(r.ctx, res, r.declared_names[i], r.declared[i]);
        if (bl_ctx_status(r.ctx) != BL_OK) snprintf(res->error, sizeof res->error, "%s", bl_ctx_error(r.ctx));
    }
    for (int i = 0; i < r.n_randoms; i++) free(r.randoms[i]);
    bl_ctx_free(r.ctx);
}

static const output *find_output(const run_result *res, const char *name) {
    for (int i = 0; i < res->n_out; i++)
        if (strcmp(res->out[i].name, name) == 0) return &res->out[i];
    return NULL;
}

/* ============================================================================================ comparisons === */

/* The ratio |got − want| / tolerance of the worst element (0 when all are within; > 1 fails), and its index.
 * BITWISE: 0 or ∞. NaN where the other side is not NaN: ∞. */
static double compare(optest_tol tol, optest_class cls, const float *got, const float *want, const float *mag,
                      int64_t n, int64_t k, int64_t *at) {
    double worst = 0, max_want = 0;
    *at = -1;
    if (tol == OPTEST_ULPS)
        for (int64_t i = 0; i < n; i++)
            if (!isnan(want[i])) max_want = fmax(max_want, fabs((double)want[i]));
    for (int64_t i = 0; i < n; i++) {
        double r;
        if (tol == OPTEST_BITWISE) {
            r = memcmp(&got[i], &want[i], sizeof(float)) == 0 ? 0 : INFINITY;
        } else if (isnan(got[i]) || isnan(want[i])) {
            r = isnan(got[i]) && isnan(want[i]) ? 0 : INFINITY;
        } else {
            double bound;
            if (tol == OPTEST_ULPS) {
                bound = fabs((double)want[i]) / 4194304.0 + 1e-12 * max_want + 1e-38;
            } else {
                double roundings = (double)k + (double)((k + 63) / 64) + 2.0;
                double per_term = roundings * unit_roundoff + (cls == OPTEST_CUDA_TF32 ? 1.0 / 512.0 : 0.0);
                bound = per_term * (mag ? (double)mag[i] : 0.0) + unit_roundoff * fabs((double)want[i]) + 1e-30;
            }
            double d = fabs((double)got[i] - (double)want[i]);
            r = d == 0 ? 0 : d / bound;
        }
        if (*at < 0 || r > worst) {
            worst = r;
            *at = i;
        }
    }
    return worst;
}

static const char *tol_name(optest_tol t) {
    return t == OPTEST_BITWISE ? "bitwise" : t == OPTEST_ULPS ? "2-ulp" : "dot-product bound";
}

/* ============================================================================================== parity === */

static void parity_case(const optest_op *op, const optest_case *c, const optest_options *o, summary *sum) {
    case_data d;
    if (!case_data_make(op, c, o->seed, &d)) {
        fail(sum, "%s case '%s': out of memory for its inputs", op->name, c->name);
        return;
    }
    const float *dy = NULL; /* made per run for y's size */
    const int64_t dy_count = 0;
    run_result want, mag;
    run_case(op, c, &d, dy, dy_count, bl_kernels_ref(), o->seed, 0, &want);
    int magnitude_run = 0;
    if (!want.error[0])
        for (int i = 0; i < want.n_out; i++) {
            int64_t k = 0;
            for (int cls = OPTEST_CPU; cls <= OPTEST_CUDA_TF32; cls++)
                magnitude_run |= op->tolerance(c, want.out[i].name, (optest_class)cls, &k) == OPTEST_DOT;
        }
    memset(&mag, 0, sizeof mag);
    if (magnitude_run) run_case(op, c, &d, dy, dy_count, bl_kernels_ref(), o->seed, 1, &mag);
    if (want.error[0]) fail(sum, "%s case '%s': on ref: %s", op->name, c->name, want.error);
    sum->cases++;
    for (int b = 0; b < o->n_backends && !want.error[0]; b++) {
        const optest_backend *be = &o->backends[b];
        if (be->threads > 0) bl_threads_set(be->threads);
        run_result got;
        run_case(op, c, &d, dy, dy_count, be->k, o->seed, 0, &got);
            if (got.error[0]) {
            fail(sum, "%s: %s: case '%s': %s", op->name, be->name, c->name, got.error);
            run_result_free(&got);
            continue;
        }
        for (int i = 0; i < want.n_out; i++) {
            const output *w = &want.out[i], *g = find_output(&got, w->name), *m = find_output(&mag, w->name);
            char where[240];
            snprintf(where, sizeof where, "%s, case '%s', %s", be->name, c->name, w->name);
            if (!g || g->count != w->count) {
                fail(sum, "%s: %s: %s missing or of another size", op->name, where, w->name);
                continue;
            }
            int64_t k = 0, at = -1;
            optest_tol tol = op->tolerance(c, w->name, be->cls, &k);
            if (tol == OPTEST_DOT && !m) tol = OPTEST_ULPS; /* cannot happen: the magnitude run ran */
            double r = compare(tol, be->cls, g->v, w->v, m ? m->v : NULL, w->count, k, &at);
            summary_note(sum, tol == OPTEST_BITWISE ? (r == 0 ? 0 : INFINITY) : r, where);
            CHECK(1, "%s", where); /* a comparison that held counts as a passed check */
            if (!(r <= 1.0))
                fail(sum, "%s: %s element %lld of %lld: got %.9g, ref %.9g (%s%s)", op->name, where, (long long)at,
                     (long long)w->count, (double)g->v[at], (double)w->v[at], tol_name(tol),
                     tol == OPTEST_BITWISE ? " expected" : ", error / tolerance above 1");
        }
        /* determinism: the same case again gives the same bits */
        if (be->deterministic) {
            run_result again;
            run_case(op, c, &d, dy, dy_count, be->k, o->seed, 0, &again);
            for (int i = 0; i < got.n_out; i++) {
                const output *x = &got.out[i], *z = find_output(&again, x->name);
                int64_t at = -1;
                if (!z || z->count != x->count ||
                    (compare(OPTEST_BITWISE, be->cls, z->v, x->v, NULL, x->count, 0, &at) != 0))
                    fail(sum, "%s: %s, case '%s': %s differs between two runs (element %lld)", op->name, be->name,
                         c->name, x->name, (long long)at);
            }
            run_result_free(&again);
        }
        run_result_free(&got);
    }
    run_result_free(&want), run_result_free(&mag);
    case_data_free(&d);
}

/* ============================================================================================== golden === */

double optest_golden_attr(const void *json_attrs, const char *key, int index, double fallback) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive((const cJSON *)json_attrs, key);
    if (cJSON_IsArray(v)) v = cJSON_GetArrayItem(v, index);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

/* A golden case as an optest_case: shapes and roles from the file's tensors, attributes from its JSON. The inputs'
 * values are the file's (case_data), and dy is the file's. */
static int golden_case_make(const optest_op *op, const bl_safetensors *st, const cJSON *json, const char *golden_op,
                            optest_case *c, case_data *d, float **dy, int64_t *dy_count, summary *sum) {
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(json, "name"));
    memset(c, 0, sizeof *c);
    memset(d, 0, sizeof *d);
    c->name = name;
    if (op->golden_attrs) op->golden_attrs(cJSON_GetObjectItemCaseSensitive(json, "attrs"), golden_op, &c->a);
    for (int i = 0; i < op->n_inputs; i++) {
        char key[160];
        snprintf(key, sizeof key, "%s/%s", name, op->input_names[i]);
        const bl_st_entry *e = bl_safetensors_find(st, key);
        if (!e) continue; /* absent: an optional input */
        c->in[i].ndim = e->ndim;
        int shape[BL_MAX_DIMS] = {0};
        for (int dim = 0; dim < e->ndim && dim < 4; dim++) c->in[i].shape[dim] = shape[dim] = (int)e->shape[dim];
        c->in[i].role = OPTEST_DEFAULT;
        d->count[i] = e->numel;
        d->values[i] = malloc(sizeof(float) * (size_t)(e->numel > 0 ? e->numel : 1));
        if (!d->values[i] || bl_safetensors_read_f32(st, key, e->ndim, shape, e->numel, d->values[i]) != BL_OK) {
            fail(sum, "%s: golden %s: %s", op->name, key, bl_last_error());
            return 0;
        }
        if (op->default_roles[i] == OPTEST_PARAM) d->grad_start[i] = calloc((size_t)(e->numel > 0 ? e->numel : 1), 4);
    }
    char key[160];
    snprintf(key, sizeof key, "%s/dy", name);
    const bl_st_entry *e = bl_safetensors_find(st, key);
    *dy_count = e ? e->numel : 0;
    *dy = calloc((size_t)(*dy_count > 0 ? *dy_count : 1), sizeof(float));
    if (e) {
        int shape[BL_MAX_DIMS] = {0};
        for (int dim = 0; dim < e->ndim; dim++) shape[dim] = (int)e->shape[dim];
        if (bl_safetensors_read_f32(st, key, e->ndim, shape, e->numel, *dy) != BL_OK) {
            fail(sum, "%s: golden %s: %s", op->name, key, bl_last_error());
            return 0;
        }
    }
    return 1;
}

/* A compared tensor's name in the file → in a run: the file writes "running_mean_new" for the buffer after the op. */
static const char *run_name_of(const char *file_name, char *buf, size_t size) {
    size_t n = strlen(file_name);
    if (n > 4 && strcmp(file_name + n - 4, "_new") == 0) {
        snprintf(buf, size, "%.*s", (int)(n - 4), file_name);
        return buf;
    }
    return file_name;
}

static void golden_case(const optest_op *op, const bl_safetensors *st, const cJSON *json, const char *golden_op,
                        const optest_options *o, summary *sum) {
    optest_case c;
    case_data d;
    float *dy = NULL;
    int64_t dy_count = 0;
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(json, "name"));
    const cJSON *compare_specs = cJSON_GetObjectItemCaseSensitive(json, "compare");
    if (!name || !cJSON_IsObject(compare_specs)) {
        fail(sum, "%s: a golden case lacks name or compare", op->name);
        return;
    }
    if (!golden_case_make(op, st, json, golden_op, &c, &d, &dy, &dy_count, sum)) {
        case_data_free(&d), free(dy);
        return;
    }
    sum->cases++;
    for (int b = -1; b < o->n_backends; b++) {
        const bl_kernels *k = b < 0 ? bl_kernels_ref() : o->backends[b].k;
        const char *backend = b < 0 ? "ref" : o->backends[b].name;
        if (b >= 0 && o->backends[b].threads > 0) bl_threads_set(o->backends[b].threads);
        run_result got;
        run_case(op, &c, &d, dy, dy_count, k, o->seed, 0, &got);
            if (got.error[0]) {
            fail(sum, "%s: golden %s on %s: %s", op->name, name, backend, got.error);
            continue;
        }
        const cJSON *spec;
        cJSON_ArrayForEach(spec, compare_specs) {
            char buf[48], where[200];
            snprintf(where, sizeof where, "golden %s on %s, %s", name, backend, spec->string);
            const output *g = find_output(&got, run_name_of(spec->string, buf, sizeof buf));
            char key[160];
            snprintf(key, sizeof key, "%s/%s", name, spec->string);
            const bl_st_entry *e = bl_safetensors_find(st, key);
            if (!g || !e || e->numel != g->count) {
                fail(sum, "%s: %s: not produced, or its size differs from torch's", op->name, where);
                continue;
            }
            float *want = malloc(sizeof(float) * (size_t)(e->numel > 0 ? e->numel : 1));
            int shape[BL_MAX_DIMS] = {0};
            for (int dim = 0; dim < e->ndim; dim++) shape[dim] = (int)e->shape[dim];
            if (!want || bl_safetensors_read_f32(st, key, e->ndim, shape, e->numel, want) != BL_OK) {
                fail(sum, "%s: %s: cannot read torch's values", op->name, where);
                free(want);
                continue;
            }
            /* the file's tolerance kinds (tests/golden/gen_golden.py; docs/numerics.md, "Golden tests") */
            const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "kind"));
            double rtol = 0, atol = 0, ratio;
            int64_t at = 0;
            if (kind && strcmp(kind, "elementwise") == 0) {
                rtol = 1e-5, atol = 1e-6;
            } else if (kind && strcmp(kind, "accum") == 0) {
                double K = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(spec, "K"));
                double M = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(spec, "M"));
                atol = 2.0 * (K + 2.0) * unit_roundoff * M;
                if (!isfinite(atol)) fail(sum, "%s: %s: compare.K and .M must be numbers", op->name, where);
            } else if (!kind || strcmp(kind, "exact") != 0) {
                fail(sum, "%s: %s: unknown tolerance kind '%s'", op->name, where, kind ? kind : "(none)");
            }
            if (atol == 0 && rtol == 0) { /* exact: equal values (torch and blasto may differ in a NaN's bits) */
                ratio = 0;
                for (int64_t i = 0; i < g->count; i++)
                    if (!(g->v[i] == want[i] || (isnan(g->v[i]) && isnan(want[i])))) ratio = INFINITY, at = i;
            } else {
                ratio = test_close_ratio(g->v, want, g->count, rtol, atol, &at);
            }
            summary_note(sum, ratio, where);
            CHECK(1, "%s", where);
            if (!(ratio <= 1.0))
                fail(sum, "%s: %s element %lld: got %.9g, torch %.9g (%s, error / tolerance %.3g)", op->name, where,
                     (long long)at, (double)g->v[at], (double)want[at], kind ? kind : "?", ratio);
            free(want);
        }
        run_result_free(&got);
    }
    case_data_free(&d);
    free(dy);
}

static void golden_run(const optest_op *op, const optest_options *o, summary *sum) {
    bl_safetensors *st = NULL;
    if (bl_safetensors_open(o->golden_path, &st) != BL_OK) {
        fail(sum, "%s: golden file: %s", op->name, bl_last_error());
        return;
    }
    const char *text = bl_safetensors_metadata(st, "cases");
    cJSON *cases = text ? cJSON_Parse(text) : NULL;
    if (!cJSON_IsArray(cases)) fail(sum, "%s: %s: __metadata__.cases: expected a JSON array", op->name, o->golden_path);
    const cJSON *json;
    int before = sum->cases;
    cJSON_ArrayForEach(json, cases) {
        const char *golden_op = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(json, "op"));
        for (int g = 0; golden_op && g < 4 && op->golden_ops[g]; g++)
            if (strcmp(golden_op, op->golden_ops[g]) == 0) golden_case(op, st, json, golden_op, o, sum);
    }
    /* an op with golden cases that finds none in the file would otherwise pass without being compared */
    if (cJSON_IsArray(cases) && sum->cases == before)
        fail(sum, "%s: %s: __metadata__.cases: no case of op '%s'", op->name, o->golden_path, op->golden_ops[0]);
    cJSON_Delete(cases);
    bl_safetensors_close(st);
}

/* ============================================================================================ gradcheck === */

static void gradcheck_run(const optest_op *op, summary *sum) {
    int before = test_failed;
    for (int i = 0; i < op->n_cases; i++)
        if (op->cases[i].flags & OPTEST_GRADCHECK) {
            op->gradcheck(&op->cases[i]);
            sum->cases++;
        }
    sum->failures += test_failed - before;
    sum->worst = gradcheck64_worst(op->name) / GRADCHECK_TOLERANCE;
    snprintf(sum->worst_at, sizeof sum->worst_at, "max |analytic − numeric| / max(|a|, |n|, 1) = %.3g, tolerance %g",
             gradcheck64_worst(op->name), GRADCHECK_TOLERANCE);
}

/* ================================================================================================== op === */

static void print_line(const char *op, const char *check, const summary *s, const char *what) {
    if (s->cases == 0) return;
    printf("%-22s %-10s %3d cases %-34s worst %-9.3g %s\n", op, check, s->cases, what, s->worst,
           s->failures ? "FAIL" : "ok");
    if (s->worst > 0 && s->worst_at[0]) printf("%-22s %-10s     (worst at %s)\n", "", "", s->worst_at);
}

int optest_run_op(const optest_op *op, const optest_options *o, optest_result *result) {
    optest_result r;
    memset(&r, 0, sizeof r);
    char what[64];
    if (o->parity) {
        for (int i = 0; i < op->n_cases; i++) parity_case(op, &op->cases[i], o, &r.parity);
        snprintf(what, sizeof what, "x %d backends vs ref", o->n_backends);
        if (o->print_checks) print_line(op->name, "parity", &r.parity, what);
    }
    if (o->golden && o->golden_path && op->golden_ops[0]) {
        golden_run(op, o, &r.golden);
        snprintf(what, sizeof what, "x %d backends vs torch", o->n_backends + 1);
        if (o->print_checks) print_line(op->name, "golden", &r.golden, what);
    }
    if (o->gradcheck && op->gradcheck) {
        gradcheck_run(op, &r.gradcheck);
        if (o->print_checks) print_line(op->name, "gradcheck", &r.gradcheck, "ref float64 vs differences");
    }
    if (result) *result = r;
    return r.parity.failures + r.golden.failures + r.gradcheck.failures;
}

/* ============================================================================================= backends === */

int optest_host_backends(optest_backend *out, int max, const char *only) {
    int n = 0;
    const bl_gemm_kernel_kind best = bl_gemm_kernel_default();
    for (int kind = best; kind >= BL_GEMM_KERNEL_GENERIC; kind--) {
        if (!bl_gemm_kernel_available((bl_gemm_kernel_kind)kind)) continue;
        bl_cpu_options o = bl_cpu_options_default();
        o.simd = (bl_gemm_kernel_kind)kind;
        o.winograd = 0;
        for (int threads = 1; threads <= 3; threads++) {
            if (kind != (int)best && threads != 2) continue;
            char name[48];
            snprintf(name, sizeof name, "cpu %s, %d thread%s", bl_gemm_kernel_kind_name((bl_gemm_kernel_kind)kind),
                     threads, threads > 1 ? "s" : "");
            if (n == max || (only && strncmp(name, only, strlen(only)) != 0)) continue;
            bl_kernels *k = NULL;
            if (bl_kernels_cpu_create(&o, &k) != BL_OK) continue;
            out[n] = (optest_backend){.k = k, .cls = OPTEST_CPU, .threads = threads, .deterministic = 1};
            snprintf(out[n].name, sizeof out[n].name, "%s", name);
            n++;
        }
    }
    return n;
}

void optest_backends_free(optest_backend *b, int n) {
    for (int i = 0; i < n; i++)
        if (b[i].cls == OPTEST_CPU) bl_kernels_cpu_free((bl_kernels *)b[i].k);
}

int optest_cuda_backend(int i, optest_backend *out) {
#ifdef BLASTO_HAVE_CUDA
    if (i < 0 || i > 2 || bl_cuda_device_count() == 0) return 0;
    bl_kernels_cuda_close();
    unsetenv("BLASTO_CUDA_TRANSFORM_ALGOS"); /* the fp32 bound holds for direct/GEMM algorithms (docs/cuda.md) */
    static const char *const names[] = {"cuda deterministic", "cuda non-deterministic", "cuda TF32"};
    bl_cuda_options o = {.device_index = 0, .deterministic = i == 0, .tf32 = i == 2};
    const bl_kernels *k = NULL;
    if (bl_kernels_cuda_open(&o, &k) != BL_OK) return -1;
    *out = (optest_backend){.k = k, .cls = i == 2 ? OPTEST_CUDA_TF32 : OPTEST_CUDA, .deterministic = i == 0};
    snprintf(out->name, sizeof out->name, "%s", names[i]);
    return 1;
#else
    (void)i, (void)out;
    return 0;
#endif
}

void optest_cuda_close(void) {
#ifdef BLASTO_HAVE_CUDA
    bl_kernels_cuda_close();
#endif
}
