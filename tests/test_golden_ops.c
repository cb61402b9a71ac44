/* test_golden_ops.c — every op of core/autograd.h against frozen PyTorch results (tests/golden/ops.safetensors).
 *
 * What it is: for each case in the file's __metadata__["cases"] (written by tests/golden/gen_golden.py), build the
 * op through the public API on the `ref` backend and again on the `cpu` backend, run forward, seed backward with
 * the stored upstream gradient dy (bl_backward_with), and compare the output, every gradient and the batchnorm
 * running statistics with torch's. Shapes, attributes (stride, eps, …) and tolerance inputs all come from the
 * file — nothing about a case is repeated here — so regenerating the file is the only way to change a case.
 * What it is not: a gradient check (tests/test_gradcheck_*.c) or a backend parity test on fresh random inputs.
 *
 * Tolerances (derived in docs/numerics.md, "Golden tests"), per compared tensor, by the entry's "kind":
 *   exact       pure data movement (concat, reshape, flatten, dropout identity, max-pool output): bit for bit;
 *   elementwise rtol 1e-5, atol 1e-6 (relu, add, sigmoid: one to a few roundings per element);
 *   accum       a reduction of K terms with per-element magnitude Σ|term| ≤ M (both stored by the generator,
 *               computed in float64): any float32 summation order is within γ_K·M ≈ K·2^-24·M of the exact value,
 *               torch and blasto each, so atol = 2·(K + 2)·2^-24·M (the +2 covers the final scale/bias roundings).
 * The worst error of every op/tensor is printed at the end, as |err| and as a fraction of its tolerance. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/autograd.h"
#include "core/kernels.h"
#include "core/safetensors.h"
#include "harness.h"

#define UNIT_ROUNDOFF (1.0 / 16777216.0) /* 2^-24: float32 unit roundoff */
#define MAX_TENSORS 16
#define MAX_STATS 128

/* Worst error seen per (backend, op, tensor) — the numbers docs/numerics.md quotes. */
typedef struct error_stat {
    char key[64];
    double worst_abs;   /* max |got − want| */
    double worst_ratio; /* max |got − want| / tolerance (≤ 1 passes) */
} error_stat;
static error_stat stats[MAX_STATS];
static int n_stats;

/* Fold one comparison (|err| and |err|/tolerance) into the per backend/op/tensor maxima. */
static void record_stat(const char *backend, const char *op, const char *tensor, double abs_err, double ratio) {
    char key[64];
    snprintf(key, sizeof key, "%s %s.%s", backend, op, tensor);
    int i = 0;
    while (i < n_stats && strcmp(stats[i].key, key) != 0) i++;
    if (i == n_stats) {
        if (n_stats == MAX_STATS) return;
        snprintf(stats[n_stats].key, sizeof stats[n_stats].key, "%s", key);
        stats[n_stats].worst_abs = stats[n_stats].worst_ratio = 0;
        n_stats++;
    }
    if (abs_err > stats[i].worst_abs) stats[i].worst_abs = abs_err;
    if (ratio > stats[i].worst_ratio) stats[i].worst_ratio = ratio;
}

/* One case being run: where its tensors come from and what they are called in the file. */
typedef struct golden_case {
    const bl_safetensors *st;
    const char *name;  /* "conv2d/case3" */
    const char *op;    /* "conv2d" */
    const cJSON *attrs;
    const cJSON *compare;
    const char *backend;
    bl_ctx *ctx;
    /* computed tensors by the file name of the value they must match ("y", "dx", …) */
    const char *result_names[MAX_TENSORS];
    const bl_tensor *result_tensors[MAX_TENSORS];
    int result_is_grad[MAX_TENSORS];
    int n_results;
} golden_case;

/* The file entry "<case>/<key>" or NULL. */
static const bl_st_entry *case_entry(const golden_case *c, const char *key) {
    char full[256];
    snprintf(full, sizeof full, "%s/%s", c->name, key);
    return bl_safetensors_find(c->st, full);
}

/* Read "<case>/<key>" into a new malloc'ed float buffer (caller frees); its shape into ndim/shape.
 * NULL (no failure recorded) when the entry is absent; NULL and a failure when it cannot be read. */
static float *read_case_tensor(const golden_case *c, const char *key, int *ndim, int *shape) {
    const bl_st_entry *e = case_entry(c, key);
    if (!e) return NULL;
    *ndim = e->ndim;
    for (int i = 0; i < e->ndim; i++) shape[i] = (int)e->shape[i];
    float *buf = malloc((size_t)(e->numel > 0 ? e->numel : 1) * sizeof(float));
    char full[256];
    snprintf(full, sizeof full, "%s/%s", c->name, key);
    bl_status s = buf ? bl_safetensors_read_f32(c->st, full, e->ndim, shape, e->numel, buf) : BL_ERR_NOMEM;
    CHECK(s == BL_OK, "%s: read %s: %s", c->backend, full, bl_last_error());
    if (s != BL_OK) {
        free(buf);
        return NULL;
    }
    return buf;
}

typedef enum tensor_role { ROLE_INPUT, ROLE_INPUT_GRAD, ROLE_PARAM, ROLE_BUFFER } tensor_role;

/* Make a context tensor holding the file's "<case>/<key>": a step tensor (with bl_requires_grad for
 * ROLE_INPUT_GRAD), a parameter (grad allocated and zeroed) or a buffer. NULL when the entry is absent. */
static bl_tensor *load_tensor(golden_case *c, const char *key, tensor_role role) {
    int ndim = 0, shape[BL_MAX_DIMS] = {0};
    float *values = read_case_tensor(c, key, &ndim, shape);
    if (!values) return NULL;
    bl_tensor *t = NULL;
    if (role == ROLE_PARAM || role == ROLE_BUFFER) {
        t = role == ROLE_PARAM ? bl_param(c->ctx, key, ndim, shape) : bl_buffer(c->ctx, key, ndim, shape);
        if (t) memcpy(t->data, values, (size_t)t->numel * sizeof(float));
    } else {
        t = bl_tensor_from(c->ctx, ndim, shape, values);
        if (t && role == ROLE_INPUT_GRAD) bl_requires_grad(t);
    }
    free(values);
    CHECK(t != NULL, "%s: %s: could not create tensor %s: %s", c->backend, c->name, key, bl_ctx_error(c->ctx));
    return t;
}

/* Declare that the file tensor `file_name` must equal t (is_grad == 0) or t->grad (is_grad != 0). */
static void expect(golden_case *c, const char *file_name, const bl_tensor *t, int is_grad) {
    if (c->n_results == MAX_TENSORS) return;
    c->result_names[c->n_results] = file_name;
    c->result_tensors[c->n_results] = t;
    c->result_is_grad[c->n_results] = is_grad;
    c->n_results++;
}

/* attrs[key] (or attrs[key][index] when it is an array) as an int; booleans give 0/1; `fallback` if absent. */
static int attr_int(const golden_case *c, const char *key, int index, int fallback) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->attrs, key);
    if (cJSON_IsArray(v)) v = cJSON_GetArrayItem(v, index);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return cJSON_IsNumber(v) ? v->valueint : fallback;
}

/* attrs[key] as a double, or `fallback`. */
static double attr_double(const golden_case *c, const char *key, double fallback) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->attrs, key);
    return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

/* Pooling attributes of the case (kernel/stride/pad as [h, w], count_include_pad, torch default 1). */
static bl_pool2d_args pool_args(const golden_case *c) {
    bl_pool2d_args a = {0};
    a.kernel_h = attr_int(c, "kernel", 0, 0);
    a.kernel_w = attr_int(c, "kernel", 1, 0);
    a.stride_h = attr_int(c, "stride", 0, 0);
    a.stride_w = attr_int(c, "stride", 1, 0);
    a.pad_h = attr_int(c, "pad", 0, 0);
    a.pad_w = attr_int(c, "pad", 1, 0);
    a.count_include_pad = attr_int(c, "count_include_pad", 0, 1);
    return a;
}

/* Build the case's op from the file's tensors; return its output (NULL on failure, error in the ctx) and
 * register, with expect(), which computed tensor each compared file tensor corresponds to. */
static bl_tensor *build_op(golden_case *c) {
    bl_ctx *ctx = c->ctx;
    const char *op = c->op;
    bl_tensor *y = NULL;
    if (strcmp(op, "conv2d") == 0) {
        bl_tensor *x = load_tensor(c, "x", ROLE_INPUT_GRAD), *w = load_tensor(c, "w", ROLE_PARAM);
        bl_tensor *b = case_entry(c, "b") ? load_tensor(c, "b", ROLE_PARAM) : NULL;
        bl_conv2d_args a = {.stride_h = attr_int(c, "stride", 0, 1), .stride_w = attr_int(c, "stride", 1, 1),
                            .pad_h = attr_int(c, "pad", 0, 0), .pad_w = attr_int(c, "pad", 1, 0),
                            .dil_h = attr_int(c, "dil", 0, 1), .dil_w = attr_int(c, "dil", 1, 1)};
        y = bl_conv2d(ctx, x, w, b, a);
        expect(c, "dx", x, 1);
        expect(c, "dw", w, 1);
        expect(c, "db", b, 1);
    } else if (strcmp(op, "batchnorm2d") == 0) {
        bl_tensor *x = load_tensor(c, "x", ROLE_INPUT_GRAD);
        bl_tensor *gamma = load_tensor(c, "gamma", ROLE_PARAM), *beta = load_tensor(c, "beta", ROLE_PARAM);
        bl_tensor *rm = NULL, *rv = NULL;
        if (attr_int(c, "track_running_stats", 0, 1)) {
            rm = load_tensor(c, "running_mean", ROLE_BUFFER);
            rv = load_tensor(c, "running_var", ROLE_BUFFER);
        }
        bl_set_training(ctx, attr_int(c, "training", 0, 1));
        y = bl_batchnorm2d(ctx, x, gamma, beta, rm, rv, (float)attr_double(c, "eps", 1e-5),
                           (float)attr_double(c, "momentum", 0.1));
        expect(c, "dx", x, 1);
        expect(c, "dgamma", gamma, 1);
        expect(c, "dbeta", beta, 1);
        expect(c, "running_mean_new", rm, 0);
        expect(c, "running_var_new", rv, 0);
    } else if (strcmp(op, "maxpool2d") == 0 || strcmp(op, "avgpool2d") == 0) {
        bl_tensor *x = load_tensor(c, "x", ROLE_INPUT_GRAD);
        y = op[0] == 'm' ? bl_maxpool2d(ctx, x, pool_args(c)) : bl_avgpool2d(ctx, x, pool_args(c));
        expect(c, "dx", x, 1);
    } else if (strcmp(op, "linear") == 0) {
        bl_tensor *x = load_tensor(c, "x", ROLE_INPUT_GRAD), *w = load_tensor(c, "w", ROLE_PARAM);
        bl_tensor *b = case_entry(c, "b") ? load_tensor(c, "b", ROLE_PARAM) : NULL;
        y = bl_linear(ctx, x, w, b);
        expect(c, "dx", x, 1);
        expect(c, "dw", w, 1);
        expect(c, "db", b, 1);
    } else if (strcmp(op, "add") == 0) {
        bl_tensor *a = load_tensor(c, "a", ROLE_INPUT_GRAD), *b = load_tensor(c, "b", ROLE_INPUT_GRAD);
        y = bl_add(ctx, a, b);
        expect(c, "da", a, 1);
        expect(c, "db", b, 1);
    } else if (strcmp(op, "concat_channels") == 0) {
        bl_tensor *inputs[8] = {0};
        static const char *const in_names[] = {"x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7"};
        static const char *const grad_names[] = {"dx0", "dx1", "dx2", "dx3", "dx4", "dx5", "dx6", "dx7"};
        int count = attr_int(c, "count", 0, 0);
        CHECK(count >= 1 && count <= 8, "%s: attrs.count: expected 1..8, got %d", c->name, count);
        if (count < 1 || count > 8) return NULL;
        for (int i = 0; i < count; i++) {
            inputs[i] = load_tensor(c, in_names[i], ROLE_INPUT_GRAD);
            expect(c, grad_names[i], inputs[i], 1);
        }
        y = bl_concat_channels(ctx, count, inputs);
    } else if (strcmp(op, "reshape") == 0) {
        bl_tensor *x = load_tensor(c, "x", ROLE_INPUT_GRAD);
        const cJSON *shape_json = cJSON_GetObjectItemCaseSensitive(c->attrs, "shape");
        int ndim = cJSON_GetArraySize(shape_json), shape[BL_MAX_DIMS] = {0};
        CHECK(ndim >= 1 && ndim <= BL_MAX_DIMS, "%s: attrs.shape: expected 1..%d dims", c->name, BL_MAX_DIMS);
        if (ndim < 1 || ndim > BL_MAX_DIMS) return NULL;
        for (int i = 0; i < ndim; i++) shape[i] = attr_int(c, "shape", i, 0);
        y = bl_reshape(ctx, x, ndim, shape);
        expect(c, "dx", x, 1);
    } else if (strcmp(op, "bce_with_logits") == 0) {
        bl_tensor *z = load_tensor(c, "z", ROLE_INPUT_GRAD), *t = load_tensor(c, "t", ROLE_INPUT);
        bl_tensor *w = case_entry(c, "w") ? load_tensor(c, "w", ROLE_INPUT) : NULL;
        y = bl_bce_with_logits(ctx, z, t, w);
        expect(c, "dz", z, 1);
    } else if (strcmp(op, "dropout") == 0) {
        bl_tensor *x = load_tensor(c, "x", ROLE_INPUT_GRAD);
        bl_set_training(ctx, attr_int(c, "training", 0, 1));
        bl_set_seed(ctx, 1234);
        y = bl_dropout(ctx, x, (float)attr_double(c, "p", 0.0));
        expect(c, "dx", x, 1);
    } else {
        /* one-input ops without attributes */
        bl_tensor *x = load_tensor(c, "x", ROLE_INPUT_GRAD);
        if (strcmp(op, "relu") == 0) y = bl_relu(ctx, x);
        else if (strcmp(op, "sigmoid") == 0) y = bl_sigmoid(ctx, x);
        else if (strcmp(op, "global_avgpool") == 0) y = bl_global_avgpool(ctx, x);
        else if (strcmp(op, "flatten") == 0) y = bl_flatten(ctx, x);
        else if (strcmp(op, "sum") == 0) y = bl_sum(ctx, x);
        else if (strcmp(op, "mean") == 0) y = bl_mean(ctx, x);
        else {
            CHECK(0, "%s: unknown op '%s' in the golden file (a new op needs a line in build_op)", c->name, op);
            return NULL;
        }
        expect(c, "dx", x, 1);
    }
    expect(c, "y", y, 0);
    return y;
}

/* Compare one computed tensor with the file's, using the compare entry's tolerance kind. */
static void compare_tensor(golden_case *c, const char *file_name, const bl_tensor *got, const cJSON *spec) {
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "kind"));
    int ndim = 0, shape[BL_MAX_DIMS] = {0};
    float *want = read_case_tensor(c, file_name, &ndim, shape);
    CHECK(want != NULL, "%s %s: file has no tensor %s", c->backend, c->name, file_name);
    if (!want) return;
    int64_t count = bl_shape_numel(ndim, shape);
    int same_shape = got->ndim == ndim;
    for (int i = 0; same_shape && i < ndim; i++) same_shape = got->shape[i] == shape[i];
    char got_shape[64];
    CHECK(same_shape, "%s %s: %s: shape %s, torch's has %d dims (first %d)", c->backend, c->name, file_name,
          bl_shape_str(got, got_shape, sizeof got_shape), ndim, ndim ? shape[0] : 0);
    if (!same_shape) {
        free(want);
        return;
    }
    double rtol = 0, atol = 0;
    if (kind && strcmp(kind, "elementwise") == 0) {
        rtol = 1e-5;
        atol = 1e-6;
    } else if (kind && strcmp(kind, "accum") == 0) {
        double K = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(spec, "K"));
        double M = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(spec, "M"));
        CHECK(isfinite(K) && isfinite(M), "%s: compare.%s: K and M must be numbers", c->name, file_name);
        atol = 2.0 * (K + 2.0) * UNIT_ROUNDOFF * M;
    } else {
        CHECK(kind && strcmp(kind, "exact") == 0, "%s: compare.%s: unknown kind '%s'", c->name, file_name,
              kind ? kind : "(none)");
    }
    double worst_abs = 0;
    for (int64_t i = 0; i < count; i++) {
        double d = fabs((double)got->data[i] - (double)want[i]);
        if (d > worst_abs || isnan(d)) worst_abs = isnan(d) ? INFINITY : d;
    }
    double ratio;
    if (atol == 0 && rtol == 0) { /* exact: ratio is 0 when bitwise equal in value, ∞ otherwise */
        ratio = worst_abs == 0 ? 0 : INFINITY;
        CHECK(worst_abs == 0, "%s %s: %s: must be exact, max |got − want| = %.3g", c->backend, c->name, file_name,
              worst_abs);
    } else {
        ratio = test_close_ratio(got->data, want, count, rtol, atol, NULL);
        char what[160];
        snprintf(what, sizeof what, "%s %s: %s", c->backend, c->name, file_name);
        CHECK_CLOSE(what, got->data, want, count, rtol, atol);
    }
    record_stat(c->backend, c->op, file_name, worst_abs, ratio);
    free(want);
}

/* One case on one backend: fresh context, build the op from the file, backward with the stored dy [shape of y],
 * compare every tensor listed in the case's "compare" object. */
static void run_case(const bl_safetensors *st, const cJSON *json_case, const bl_kernels *kernels) {
    golden_case c = {.st = st, .backend = kernels->name};
    c.name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(json_case, "name"));
    c.op = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(json_case, "op"));
    c.attrs = cJSON_GetObjectItemCaseSensitive(json_case, "attrs");
    c.compare = cJSON_GetObjectItemCaseSensitive(json_case, "compare");
    CHECK(c.name && c.op && cJSON_IsObject(c.compare), "a case in the golden file lacks name/op/compare");
    if (!c.name || !c.op || !cJSON_IsObject(c.compare)) return;
    bl_status s = bl_ctx_create(kernels, &c.ctx);
    CHECK(s == BL_OK, "bl_ctx_create: %s", bl_last_error());
    if (s) return;

    bl_tensor *y = build_op(&c);
    float *dy = NULL;
    int ndim = 0, shape[BL_MAX_DIMS];
    if (y) dy = read_case_tensor(&c, "dy", &ndim, shape);
    if (y && dy) {
        CHECK(bl_shape_numel(ndim, shape) == y->numel, "%s %s: dy has %lld elements, y %lld", c.backend, c.name,
              (long long)bl_shape_numel(ndim, shape), (long long)y->numel);
        if (bl_shape_numel(ndim, shape) == y->numel) bl_backward_with(c.ctx, y, dy);
    }
    free(dy);
    CHECK(bl_ctx_status(c.ctx) == BL_OK && y, "%s %s: %s", c.backend, c.name,
          bl_ctx_status(c.ctx) ? bl_ctx_error(c.ctx) : "no output");

    if (y && bl_ctx_status(c.ctx) == BL_OK) {
        /* every compare entry must have a computed counterpart, and every counterpart is compared */
        const cJSON *spec;
        cJSON_ArrayForEach(spec, c.compare) {
            int found = -1;
            for (int i = 0; i < c.n_results; i++)
                if (strcmp(c.result_names[i], spec->string) == 0) found = i;
            CHECK(found >= 0, "%s: compare.%s: this test does not know which tensor that is", c.name, spec->string);
            if (found < 0) continue;
            const bl_tensor *t = c.result_tensors[found];
            if (t && c.result_is_grad[found]) t = t->grad;
            CHECK(t != NULL, "%s %s: %s was not produced (no gradient reached it?)", c.backend, c.name,
                  spec->string);
            if (t) compare_tensor(&c, spec->string, t, spec);
        }
    }
    bl_ctx_free(c.ctx);
}

/* Every case of ops.safetensors on ref, then on cpu; then the table of worst errors. */
int main(void) {
    const char *path = BLASTO_TEST_DIR "/golden/ops.safetensors";
    bl_safetensors *st = NULL;
    bl_status s = bl_safetensors_open(path, &st);
    CHECK(s == BL_OK, "open %s: %s", path, bl_last_error());
    if (s) return test_summary("test_golden_ops");
    const char *version = bl_safetensors_metadata(st, "torch_version");
    const char *cases_text = bl_safetensors_metadata(st, "cases");
    printf("golden file %s: torch %s\n", path, version ? version : "(unknown)");
    cJSON *cases = cases_text ? cJSON_Parse(cases_text) : NULL;
    CHECK(cJSON_IsArray(cases), "%s: __metadata__.cases: expected a JSON array", path);
    CHECK(cJSON_GetArraySize(cases) >= 40, "%s: expected at least 40 cases, got %d", path, cJSON_GetArraySize(cases));

    const bl_kernels *backends[] = {bl_kernels_ref(), bl_kernels_cpu()};
    int n_cases = 0;
    for (size_t b = 0; b < sizeof backends / sizeof backends[0]; b++) {
        const cJSON *json_case;
        cJSON_ArrayForEach(json_case, cases) {
            run_case(st, json_case, backends[b]);
            n_cases++;
        }
    }
    printf("%d cases run; worst error per backend/op/tensor (ratio = |err| / tolerance, must be <= 1):\n", n_cases);
    for (int i = 0; i < n_stats; i++)
        printf("  %-36s max|err| %-10.3g ratio %.3g\n", stats[i].key, stats[i].worst_abs, stats[i].worst_ratio);
    cJSON_Delete(cases);
    bl_safetensors_close(st);
    return test_summary("test_golden_ops");
}
