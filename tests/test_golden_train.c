/* test_golden_train.c — the optimizers and a small CNN training run against frozen PyTorch traces.
 *
 * What it is: two golden comparisons, each on the `ref` and the `cpu` backend.
 *   1. tests/golden/optim.safetensors: for each case (hyper-parameters in __metadata__["cases"]), one parameter
 *      p0, five fixed gradients, and torch.optim's parameter after each step (SGD with/without momentum, nesterov,
 *      dampening, weight decay; Adam; AdamW). We set .grad to the stored gradient, call bl_optimizer_step and
 *      compare the parameter after every step.
 *   2. tests/golden/train_cnn.safetensors: SmallCNN = conv(3→8, 3×3, pad 1, no bias)–BN–ReLU–maxpool 2×2 →
 *      conv(8→16, 3×3, pad 1)–BN–ReLU–maxpool 2×2 → flatten → linear(256→1) → BCE with logits, built from bl_*
 *      ops, trained from the stored init for the stored number of steps with SGD and (from the same init) AdamW;
 *      per-step losses, the state after step 1 and the final state (weights and BN running statistics) are
 *      compared with torch's.
 * What it is not: a convergence test, or a test of layers/ (it uses core ops directly so that a failure points at
 * core). Tolerances are derived in docs/numerics.md ("Golden tests"):
 *   optimizer, after step t:  |got − want| ≤ Σ_{s≤t} (2·2^-24·max|p_s| + 2^-16·max|p_s − p_{s−1}|)
 *     — each step rounds p once in each implementation, and the update itself may differ by 2^-16 relatively
 *     (the constants β, 1−β, lr/bias-correction are float here and partly double in torch);
 *   training, step s:  |got − want| ≤ 16·spread_s + 4·2^-24·|want|, where spread_s is how far other valid runs
 *     (float64, channels_last, three 1-ulp perturbed inits) landed from torch's stored run at step s (in the file);
 *     state tensor k: 16·spread_k + 4·2^-24·max|want_k|. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/autograd.h"
#include "core/kernels.h"
#include "core/optim.h"
#include "core/safetensors.h"
#include "harness.h"

#define UNIT_ROUNDOFF (1.0 / 16777216.0) /* 2^-24 */
#define UPDATE_RTOL (1.0 / 65536.0)      /* 2^-16: allowed relative difference of one optimizer update */
#define SPREAD_FACTOR 16.0               /* training tolerance: multiples of torch's own run-to-run spread */
#define MAX_STATE 32

/* Read tensor `name` (any shape) into a new malloc'ed buffer; *count gets its numel, shape/ndim if non-NULL.
 * NULL (and a recorded failure) when it is missing or unreadable. */
static float *read_tensor(const bl_safetensors *st, const char *name, int64_t *count, int *ndim, int *shape) {
    const bl_st_entry *e = bl_safetensors_find(st, name);
    CHECK(e != NULL, "%s: %s: missing", bl_safetensors_path(st), name);
    if (!e) return NULL;
    int dims[BL_MAX_DIMS] = {0};
    for (int i = 0; i < e->ndim; i++) dims[i] = (int)e->shape[i];
    float *buf = malloc((size_t)(e->numel > 0 ? e->numel : 1) * sizeof(float));
    bl_status s = buf ? bl_safetensors_read_f32(st, name, e->ndim, dims, e->numel, buf) : BL_ERR_NOMEM;
    CHECK(s == BL_OK, "read %s: %s", name, bl_last_error());
    if (s) {
        free(buf);
        return NULL;
    }
    if (count) *count = e->numel;
    if (ndim) *ndim = e->ndim;
    if (shape) memcpy(shape, dims, sizeof dims);
    return buf;
}

/* obj[key] as a double (booleans 0/1), or `fallback`. */
static double json_number(const cJSON *obj, const char *key, double fallback) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

/* max |x[i]| over x [count] (read). */
static double max_abs(const float *x, int64_t count) {
    double m = 0;
    for (int64_t i = 0; i < count; i++)
        if (fabs((double)x[i]) > m) m = fabs((double)x[i]); /* not fmax: gcc 12 aarch64 -O3 ICE */
    return m;
}

/* Create the optimizer a JSON config describes ("kind": sgd | adam | adamw, torch's defaults elsewhere). */
static bl_status make_optimizer(bl_ctx *ctx, const cJSON *cfg, bl_optimizer **opt) {
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cfg, "kind"));
    float lr = (float)json_number(cfg, "lr", 0), wd = (float)json_number(cfg, "weight_decay", 0);
    if (kind && strcmp(kind, "sgd") == 0)
        return bl_sgd_create(ctx, lr, (float)json_number(cfg, "momentum", 0), (float)json_number(cfg, "dampening", 0),
                             wd, (int)json_number(cfg, "nesterov", 0), opt);
    if (kind && (strcmp(kind, "adam") == 0 || strcmp(kind, "adamw") == 0))
        return bl_adam_create(ctx, strcmp(kind, "adam") == 0 ? BL_OPTIM_ADAM : BL_OPTIM_ADAMW, lr,
                              (float)json_number(cfg, "beta1", 0.9), (float)json_number(cfg, "beta2", 0.999),
                              (float)json_number(cfg, "eps", 1e-8), wd, opt);
    return bl_fail(BL_ERR_INVALID, "optimizer config: kind: expected sgd, adam or adamw, got %s", kind ? kind : "none");
}

/* ---- 1. optimizers ------------------------------------------------------------------------------------------ */

/* One optim.safetensors case on one backend: p0 [shape], grads [steps, shape] (read), params [steps, shape]
 * (read: torch's parameter after each step). Prints the worst error as a fraction of the tolerance. */
static double run_optimizer_case(const bl_safetensors *st, const cJSON *cfg, const bl_kernels *kernels) {
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cfg, "name"));
    int steps = (int)json_number(cfg, "steps", 0);
    char key[160];
    int64_t count = 0, count_grads = 0, count_params = 0;
    int ndim = 0, shape[BL_MAX_DIMS];
    snprintf(key, sizeof key, "%s/p0", name ? name : "?");
    float *p0 = read_tensor(st, key, &count, &ndim, shape);
    snprintf(key, sizeof key, "%s/grads", name ? name : "?");
    float *grads = read_tensor(st, key, &count_grads, NULL, NULL);
    snprintf(key, sizeof key, "%s/params", name ? name : "?");
    float *want = read_tensor(st, key, &count_params, NULL, NULL);
    double worst_ratio = 0;
    bl_ctx *ctx = NULL;
    bl_optimizer *opt = NULL;
    if (!p0 || !grads || !want || steps < 1 || count_grads != steps * count || count_params != steps * count) {
        CHECK(0, "%s: inconsistent optimizer case (steps %d, p0 %lld, grads %lld, params %lld)", name ? name : "?",
              steps, (long long)count, (long long)count_grads, (long long)count_params);
        goto done;
    }
    CHECK(bl_ctx_create(kernels, &ctx) == BL_OK, "bl_ctx_create: %s", bl_last_error());
    bl_tensor *p = ctx ? bl_param(ctx, "p", ndim, shape) : NULL;
    CHECK(p != NULL, "%s: bl_param failed", name);
    if (!p) goto done;
    memcpy(p->data, p0, (size_t)count * sizeof(float));
    bl_status s = make_optimizer(ctx, cfg, &opt);
    CHECK(s == BL_OK, "%s: %s", name, bl_last_error());
    if (s) goto done;
    double allowed = 0;
    const float *previous = p0;
    for (int t = 0; t < steps; t++) {
        const float *want_t = want + (int64_t)t * count;
        memcpy(p->grad->data, grads + (int64_t)t * count, (size_t)count * sizeof(float));
        s = bl_optimizer_step(opt);
        CHECK(s == BL_OK, "%s step %d: %s", name, t + 1, bl_last_error());
        double max_update = 0;
        for (int64_t i = 0; i < count; i++)
            if (fabs((double)want_t[i] - previous[i]) > max_update) max_update = fabs((double)want_t[i] - previous[i]);
        allowed += 2 * UNIT_ROUNDOFF * max_abs(want_t, count) + UPDATE_RTOL * max_update;
        char what[200];
        snprintf(what, sizeof what, "%s %s (%s) after step %d", kernels->name, name,
                 cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cfg, "kind")), t + 1);
        CHECK_CLOSE(what, p->data, want_t, count, 0.0, allowed);
        worst_ratio = fmax(worst_ratio, test_close_ratio(p->data, want_t, count, 0.0, allowed, NULL));
        previous = want_t;
    }
done:
    bl_optimizer_free(opt);
    bl_ctx_free(ctx);
    free(p0);
    free(grads);
    free(want);
    return worst_ratio;
}

/* Every case of optim.safetensors on one backend. */
static void test_optimizers(const bl_kernels *kernels) {
    const char *path = BLASTO_TEST_DIR "/golden/optim.safetensors";
    bl_safetensors *st = NULL;
    bl_status s = bl_safetensors_open(path, &st);
    CHECK(s == BL_OK, "open %s: %s", path, bl_last_error());
    if (s) return;
    const char *text = bl_safetensors_metadata(st, "cases");
    cJSON *cases = text ? cJSON_Parse(text) : NULL;
    CHECK(cJSON_GetArraySize(cases) >= 10, "%s: __metadata__.cases: expected >= 10 cases", path);
    const cJSON *cfg;
    cJSON_ArrayForEach(cfg, cases) {
        double ratio = run_optimizer_case(st, cfg, kernels);
        char *line = cJSON_PrintUnformatted(cfg);
        printf("  %s optimizer %s: worst |err|/tolerance %.3g\n", kernels->name, line ? line : "?", ratio);
        free(line);
    }
    cJSON_Delete(cases);
    bl_safetensors_close(st);
}

/* ---- 2. small CNN training ---------------------------------------------------------------------------------- */

typedef struct small_cnn {
    bl_tensor *state[MAX_STATE]; /* in config.state_names order */
    const char *names[MAX_STATE];
    int n_state;
    float bn_eps, bn_momentum;
} small_cnn;

/* The model's parameter or buffer called `name` (NULL if absent: the op then fails with a NULL input). */
static bl_tensor *state_tensor(const small_cnn *m, const char *name) {
    for (int i = 0; i < m->n_state; i++)
        if (strcmp(m->names[i], name) == 0) return m->state[i];
    return NULL;
}

/* Forward one batch: x [batch,3,16,16] (read), t [batch] (read) → scalar loss (step arena). */
static bl_tensor *small_cnn_loss(bl_ctx *ctx, const small_cnn *m, bl_tensor *x, bl_tensor *t) {
    const bl_conv2d_args conv3x3 = {.pad_h = 1, .pad_w = 1};
    const bl_pool2d_args pool2x2 = {.kernel_h = 2, .kernel_w = 2, .stride_h = 2, .stride_w = 2};
    bl_tensor *h = bl_conv2d(ctx, x, state_tensor(m, "conv1.weight"), NULL, conv3x3);
    h = bl_batchnorm2d(ctx, h, state_tensor(m, "bn1.weight"), state_tensor(m, "bn1.bias"),
                       state_tensor(m, "bn1.running_mean"), state_tensor(m, "bn1.running_var"), m->bn_eps,
                       m->bn_momentum);
    h = bl_maxpool2d(ctx, bl_relu(ctx, h), pool2x2);
    h = bl_conv2d(ctx, h, state_tensor(m, "conv2.weight"), state_tensor(m, "conv2.bias"), conv3x3);
    h = bl_batchnorm2d(ctx, h, state_tensor(m, "bn2.weight"), state_tensor(m, "bn2.bias"),
                       state_tensor(m, "bn2.running_mean"), state_tensor(m, "bn2.running_var"), m->bn_eps,
                       m->bn_momentum);
    h = bl_maxpool2d(ctx, bl_relu(ctx, h), pool2x2);
    bl_tensor *logits = bl_linear(ctx, bl_flatten(ctx, h), state_tensor(m, "fc.weight"), state_tensor(m, "fc.bias"));
    return bl_bce_with_logits(ctx, logits, t, NULL);
}

/* Compare every state tensor with "<prefix>/<name>", tolerance 16·spread[k] + 4u·max|want| (spread from
 * "<spread_name>", one value per state tensor). */
static void compare_state(const bl_safetensors *st, const small_cnn *m, const char *backend, const char *prefix,
                          const char *spread_name) {
    int64_t n_spread = 0;
    float *spread = read_tensor(st, spread_name, &n_spread, NULL, NULL);
    if (!spread || n_spread != m->n_state) {
        CHECK(0, "%s: expected %d values", spread_name, m->n_state);
        free(spread);
        return;
    }
    for (int k = 0; k < m->n_state; k++) {
        char key[160];
        snprintf(key, sizeof key, "%s/%s", prefix, m->names[k]);
        int64_t count = 0;
        float *want = read_tensor(st, key, &count, NULL, NULL);
        if (!want) continue;
        const bl_tensor *got = m->state[k];
        CHECK(count == got->numel, "%s: %lld elements, model has %lld", key, (long long)count, (long long)got->numel);
        if (count == got->numel) {
            double atol = SPREAD_FACTOR * spread[k] + 4 * UNIT_ROUNDOFF * max_abs(want, count);
            double worst = 0;
            for (int64_t i = 0; i < count; i++) {
                double d = fabs((double)got->data[i] - want[i]);
                if (d > worst) worst = d;
            }
            char what[200];
            snprintf(what, sizeof what, "%s %s", backend, key);
            CHECK_CLOSE(what, got->data, want, count, 0.0, atol);
            printf("    %-34s max|err| %-9.3g torch spread %-9.3g ratio %.3g\n", key, worst, spread[k],
                   atol > 0 ? worst / atol : (worst > 0 ? INFINITY : 0));
        }
        free(want);
    }
    free(spread);
}

/* Train SmallCNN from init/<name> with optimizer `opt_name` ("sgd" | "adamw") on one backend: data/x [16,3,16,16],
 * data/t [16] (read); per step compare the loss with <opt>/loss [steps]; compare the state after step 1 and at the
 * end. Parameters, gradients and BN buffers live in the context's persistent arena. */
static void train_one(const bl_safetensors *st, const cJSON *config, const char *opt_name, const bl_kernels *kernels) {
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(config, "state_names");
    const cJSON *opt_cfg = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(config, "optimizers"),
                                                            opt_name);
    int steps = (int)json_number(config, "steps", 0), batch = (int)json_number(config, "batch", 0);
    small_cnn m = {.bn_eps = (float)json_number(config, "bn_eps", 1e-5),
                   .bn_momentum = (float)json_number(config, "bn_momentum", 0.1)};
    bl_ctx *ctx = NULL;
    bl_optimizer *opt = NULL;
    float *x = NULL, *t = NULL, *want_loss = NULL, *spread = NULL;
    int64_t n_x = 0, n_t = 0, n_loss = 0, n_spread = 0;
    int x_ndim = 0, x_shape[BL_MAX_DIMS];
    char key[160];
    CHECK(cJSON_IsArray(names) && cJSON_GetArraySize(names) <= MAX_STATE && opt_cfg && steps > 0 && batch > 0,
          "train_cnn config: state_names / optimizers.%s / steps / batch missing", opt_name);
    if (!cJSON_IsArray(names) || cJSON_GetArraySize(names) > MAX_STATE || !opt_cfg || steps <= 0 || batch <= 0)
        return;
    if (bl_ctx_create(kernels, &ctx) != BL_OK) {
        CHECK(0, "bl_ctx_create: %s", bl_last_error());
        return;
    }
    /* parameters and BN buffers from init/<name>, in the file's order (the optimizer's order does not matter) */
    const cJSON *item;
    cJSON_ArrayForEach(item, names) {
        const char *name = cJSON_GetStringValue(item);
        int ndim = 0, shape[BL_MAX_DIMS];
        int64_t count = 0;
        snprintf(key, sizeof key, "init/%s", name ? name : "?");
        float *values = read_tensor(st, key, &count, &ndim, shape);
        if (!values) goto done;
        bl_tensor *p = strstr(name, "running_") ? bl_buffer(ctx, name, ndim, shape) : bl_param(ctx, name, ndim, shape);
        if (p) memcpy(p->data, values, (size_t)count * sizeof(float));
        free(values);
        CHECK(p != NULL, "%s: %s", key, bl_ctx_error(ctx));
        if (!p) goto done;
        m.names[m.n_state] = name;
        m.state[m.n_state++] = p;
    }
    CHECK(make_optimizer(ctx, opt_cfg, &opt) == BL_OK, "%s: %s", opt_name, bl_last_error());
    x = read_tensor(st, "data/x", &n_x, &x_ndim, x_shape);
    t = read_tensor(st, "data/t", &n_t, NULL, NULL);
    snprintf(key, sizeof key, "%s/loss", opt_name);
    want_loss = read_tensor(st, key, &n_loss, NULL, NULL);
    snprintf(key, sizeof key, "%s/loss_spread", opt_name);
    spread = read_tensor(st, key, &n_spread, NULL, NULL);
    if (!opt || !x || !t || !want_loss || !spread || n_loss != steps || n_spread != steps || x_ndim != 4 ||
        n_t != x_shape[0] || x_shape[0] < 2 * batch) {
        CHECK(0, "train_cnn.safetensors: data/x, data/t, %s/loss or %s/loss_spread inconsistent", opt_name, opt_name);
        goto done;
    }
    bl_set_training(ctx, 1);
    printf("  %s %s: step  loss (blasto)     loss (torch)     |diff|     tolerance  ratio\n", kernels->name, opt_name);
    int64_t image_size = n_x / x_shape[0];
    for (int s = 0; s < steps; s++) {
        int first = (s % 2) * batch; /* step s trains on images first … first + batch − 1 (as the generator) */
        int batch_shape[4] = {batch, x_shape[1], x_shape[2], x_shape[3]};
        int t_shape[1] = {batch};
        bl_tensor *xb = bl_tensor_from(ctx, 4, batch_shape, x + first * image_size);
        bl_tensor *tb = bl_tensor_from(ctx, 1, t_shape, t + first);
        bl_tensor *loss = small_cnn_loss(ctx, &m, xb, tb);
        if (loss) bl_backward(ctx, loss);
        CHECK(bl_ctx_status(ctx) == BL_OK && loss, "%s %s step %d: %s", kernels->name, opt_name, s,
              bl_ctx_error(ctx));
        if (bl_ctx_status(ctx) != BL_OK || !loss) goto done;
        double got = loss->data[0], want = want_loss[s];
        double tol = SPREAD_FACTOR * spread[s] + 4 * UNIT_ROUNDOFF * fabs(want);
        CHECK(fabs(got - want) <= tol, "%s %s step %d: loss %.9g, torch %.9g (|diff| %.3g > tolerance %.3g)",
              kernels->name, opt_name, s, got, want, fabs(got - want), tol);
        printf("  %s %s: %4d  %.9f  %.9f  %-9.3g  %-9.3g  %.3g\n", kernels->name, opt_name, s, got, want,
               fabs(got - want), tol, fabs(got - want) / tol);
        CHECK(bl_optimizer_step(opt) == BL_OK, "%s step %d: optimizer: %s", opt_name, s, bl_last_error());
        bl_zero_grad(ctx);
        bl_step_end(ctx);
        if (s == 0) {
            char prefix[64], spread_name[64];
            snprintf(prefix, sizeof prefix, "%s/step1", opt_name);
            snprintf(spread_name, sizeof spread_name, "%s/step1_spread", opt_name);
            compare_state(st, &m, kernels->name, prefix, spread_name);
        }
    }
    {
        char prefix[64], spread_name[64];
        snprintf(prefix, sizeof prefix, "%s/final", opt_name);
        snprintf(spread_name, sizeof spread_name, "%s/final_spread", opt_name);
        compare_state(st, &m, kernels->name, prefix, spread_name);
    }
done:
    free(x);
    free(t);
    free(want_loss);
    free(spread);
    bl_optimizer_free(opt);
    bl_ctx_free(ctx);
}

/* Both training runs of train_cnn.safetensors on one backend. */
static void test_training(const bl_kernels *kernels) {
    const char *path = BLASTO_TEST_DIR "/golden/train_cnn.safetensors";
    bl_safetensors *st = NULL;
    bl_status s = bl_safetensors_open(path, &st);
    CHECK(s == BL_OK, "open %s: %s", path, bl_last_error());
    if (s) return;
    const char *text = bl_safetensors_metadata(st, "config");
    cJSON *config = text ? cJSON_Parse(text) : NULL;
    CHECK(cJSON_IsObject(config), "%s: __metadata__.config: expected a JSON object", path);
    if (cJSON_IsObject(config)) {
        train_one(st, config, "sgd", kernels);
        train_one(st, config, "adamw", kernels);
    }
    cJSON_Delete(config);
    bl_safetensors_close(st);
}

/* Optimizers then training, on ref then cpu. */
int main(void) {
    const bl_kernels *backends[] = {bl_kernels_ref(), bl_kernels_cpu()};
    for (size_t b = 0; b < sizeof backends / sizeof backends[0]; b++) {
        printf("backend %s\n", backends[b]->name);
        test_optimizers(backends[b]);
        test_training(backends[b]);
    }
    return test_summary("test_golden_train");
}
