/* test_guard_backend.c — the whole program is device-clean: it touches tensor values only through the op table.
 *
 * The "guard" backend (tests/support/guard_backend.h) is the ref backend whose memory is PROT_NONE except while
 * one of its own slots runs, and which reports any kernel given a buffer outside its memory. Every run below is
 * done twice, on "guard" and on "ref", and the results must be BITWISE equal (guard computes with ref's kernels,
 * so any difference is a bug in how values move, not a rounding question):
 *
 *   a. the guard itself: a direct read of t->data in a forked child dies by SIGSEGV, the same read through
 *      bl_tensor_download does not; a host array passed to a kernel becomes the context's error;
 *   b. a small CNN (conv, BN, ReLU, max/avg/global pool, dropout, linear, sigmoid, BCE, mean) and ResNet50 /
 *      VGG16 (backbone only: at 32×32 its ImageNet head cannot run) / DenseNet121 at 32×32, batch 2:
 *      deterministic fill, eval forward, train-mode forward + backward, one SGD or Adam step, save to safetensors,
 *      load into a fresh model — outputs, every gradient, every parameter, BN statistic and optimizer state, and
 *      the saved file's bytes; and the eval forward's step-arena peak equals ref's (the no-grad scopes rewind and
 *      move block outputs through the copy slot on device memory, layers.c bl_scope_end);
 *   c. the pipeline by device NAME (bl_device_register_test_backend): bl_train_run of the pregnancy model (ResNet50
 *      with the age input) for one epoch on a tiny synthetic cohort (training steps, validation, memory plan,
 *      checkpoints with optimizer state), then bl_checkpoint_score (what `blasto predict` runs) and
 *      bl_gradcam_compute for one image on a model loaded from the checkpoint.
 * A run that finished on guard is the proof: any stray access would have killed the test. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/init.h"
#include "core/optim.h"
#include "core/safetensors.h"
#include "core/tensor_host.h"
#include "harness.h"
#include "layers/layers.h"
#include "models/models.h"
#include "models/pregnancy.h"
#include "study/cohort.h"
#include "core/device.h"
#include "study/gradcam.h"
#include "study/loader.h"
#include "study/split.h"
#include "study/synth.h"
#include "study/train.h"
#include "support/guard_backend.h"
#include "support/test_support.h"

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#else
#define UNDER_ASAN 0
#endif

static char tmp[256];

/* ---- helpers ------------------------------------------------------------------------------------------------ */

/* FNV-1a over the bytes of a tensor's values, downloaded through its context's backend. */
static uint64_t tensor_hash(bl_ctx *ctx, const bl_tensor *t) {
    float *v = malloc((size_t)t->numel * sizeof *v);
    uint64_t h = 0xcbf29ce484222325ULL;
    if (!v || bl_tensor_download(ctx, t, v) != BL_OK) {
        free(v);
        return 0;
    }
    const unsigned char *p = (const unsigned char *)v;
    for (size_t i = 0; i < (size_t)t->numel * sizeof *v; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    free(v);
    return h;
}

/* Everything one run produced, to compare across backends: named hashes in order. */
#define MAX_RECORDS 4096
typedef struct record {
    char what[96];
    uint64_t hash;
} record;
typedef struct results {
    record r[MAX_RECORDS];
    int n;
} results;

static void keep(results *res, bl_ctx *ctx, const char *what, const bl_tensor *t) {
    if (res->n >= MAX_RECORDS) return;
    snprintf(res->r[res->n].what, sizeof res->r[res->n].what, "%s", what);
    res->r[res->n++].hash = t ? tensor_hash(ctx, t) : 0;
}

static void keep_params(results *res, bl_ctx *ctx, const char *stage, int grads) {
    char what[96];
    for (int i = 0; i < bl_param_count(ctx); i++) {
        const bl_tensor *t = bl_param_at(ctx, i);
        if (grads && !t->grad) continue;
        snprintf(what, sizeof what, "%s %s%s", stage, grads ? "grad " : "", t->name);
        keep(res, ctx, what, grads ? t->grad : t);
    }
}

static void compare(const char *name, const results *guard, const results *ref) {
    int first_bad = -1, empty = 0;
    for (int i = 0; i < guard->n && i < ref->n; i++) {
        if (guard->r[i].hash != ref->r[i].hash || strcmp(guard->r[i].what, ref->r[i].what) != 0) {
            if (first_bad < 0) first_bad = i;
        }
        empty += guard->r[i].hash == 0;
    }
    CHECK(guard->n == ref->n && guard->n > 0 && first_bad < 0 && empty == 0,
          "%s: guard and ref bitwise equal (%d vs %d results; first difference: %s; %d unreadable)", name, guard->n,
          ref->n, first_bad >= 0 ? guard->r[first_bad].what : "none", empty);
}

static void random_values(float *x, int64_t n, uint64_t seed) { test_fill_uniform(x, n, seed, 0, -1.0f, 1.0f); }

/* ---- a. the guard guards ------------------------------------------------------------------------------------- */

/* Reads t [4] in a child, directly or through bl_tensor_download; returns the signal that ended it, 0 for a
 * normal exit with the expected value, 100 + the exit code otherwise. */
static int child_signal(bl_ctx *ctx, bl_tensor *t, int direct) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL); /* die of it, whatever handler the process had */
        float v[4] = {0}; /* t has 4 elements */
        if (direct) v[0] = *(volatile float *)t->data; /* what the program must never do */
        else if (bl_tensor_download(ctx, t, v) != BL_OK) _exit(3);
        _exit(v[0] == 2.5f && v[3] == 2.5f ? 0 : 4);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
    return WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status) ? 100 + WEXITSTATUS(status) : 0;
}

static void test_guard_itself(void) {
    bl_ctx *ctx = NULL;
    CHECK(bl_ctx_create(guard_kernels(), &ctx) == BL_OK, "guard context");
    if (!ctx) return;
    CHECK(!bl_ctx_host_memory(ctx), "guard: host_memory is 0");
    int shape[1] = {4};
    bl_tensor *t = bl_tensor_zeros(ctx, 1, shape);
    bl_init_constant(ctx, t, 2.5f);
    CHECK(t && bl_ctx_status(ctx) == BL_OK, "guard: tensor allocated and filled");
    if (t) {
        int sig = child_signal(ctx, t, 1);
#if UNDER_ASAN
        if (sig == 101) sig = SIGSEGV; /* AddressSanitizer catches the SEGV itself, reports it and exits 1 */
#endif
        CHECK(sig == SIGSEGV, "guard: a direct read of t->data dies by SIGSEGV (got %d)", sig);
        CHECK(child_signal(ctx, t, 0) == 0, "guard: the same value read through bl_tensor_download is 2.5");
    }
    guard_stats s = guard_get_stats();
    CHECK(s.live_chunks >= 1 && s.transfers >= 2, "guard: chunks %d, transfers %lld", s.live_chunks,
          (long long)s.transfers);
    /* a host array given to a kernel is caught (on a GPU it would be a crash) */
    float host[4] = {1, -2, 3, -4};
    bl_ctx_kernels(ctx)->relu_forward(bl_ctx_kernels(ctx), 4, host, t->data);
    bl_tensor *u = bl_relu(ctx, t);
    CHECK(!u && bl_ctx_status(ctx) == BL_ERR_DEVICE &&
              strstr(bl_ctx_error(ctx), "guard backend: relu_forward: buffer 1 is not backend memory"),
          "guard: host buffer passed to a kernel → context error: %s", bl_ctx_error(ctx));
    bl_ctx_free(ctx);
}

/* A no-grad scope whose dead intermediate is much smaller than the output it keeps: bl_scope_end moves the output
 * down by a short shift, in many rounds of the copy slot on device memory (a host memmove there would die here by
 * SIGSEGV). The moved values must be the kept ones, on guard and on ref alike. */
static void test_scope_short_shift(const bl_kernels *k) {
    bl_ctx *ctx = NULL;
    if (bl_ctx_create(k, &ctx) != BL_OK) {
        CHECK(0, "%s: context: %s", k->name, bl_last_error());
        return;
    }
    bl_set_grad_enabled(ctx, 0);
    bl_run run = {.ctx = ctx, .bn_mode = BL_BN_RUNNING};
    enum { DEAD = 48, KEPT = 40000 }; /* 192 B dead (one 64-byte-aligned 192-byte slot), 160 kB kept: ~800 rounds */
    float *values = malloc(sizeof(float) * KEPT), *back = malloc(sizeof(float) * KEPT);
    for (int i = 0; i < KEPT; i++) values[i] = (float)i * 0.5f - 7.0f;
    bl_scope scope = bl_scope_begin(&run);
    int dead_shape[1] = {DEAD}, kept_shape[1] = {KEPT};
    bl_tensor *dead = bl_tensor_zeros(ctx, 1, dead_shape);
    bl_tensor *out = bl_tensor_from(ctx, 1, kept_shape, values);
    const float *before = out ? out->data : NULL;
    bl_tensor *moved = bl_scope_end(&run, scope, out);
    CHECK(dead && moved && moved->data < before, "%s: the scope moved its output down", k->name);
    int same = moved && bl_tensor_download(ctx, moved, back) == BL_OK && !memcmp(values, back, sizeof(float) * KEPT);
    CHECK(same && bl_ctx_status(ctx) == BL_OK, "%s: the moved output holds the kept values (%s)", k->name,
          bl_ctx_error(ctx));
    free(values), free(back);
    bl_ctx_free(ctx);
}

/* ---- b. models ---------------------------------------------------------------------------------------------- */

typedef struct small_cnn {
    bl_tensor *w1, *g1, *b1, *rm1, *rv1, *w2, *cb2, *fc_w, *fc_b;
} small_cnn;

static void small_cnn_build(bl_ctx *ctx, small_cnn *m) {
    int w1s[4] = {4, 3, 3, 3}, c4 = 4, w2s[4] = {6, 4, 3, 3}, c6 = 6, fcs[2] = {1, 6}, one = 1;
    m->w1 = bl_param(ctx, "conv1.weight", 4, w1s);
    m->g1 = bl_param(ctx, "bn1.weight", 1, &c4);
    m->b1 = bl_param(ctx, "bn1.bias", 1, &c4);
    m->rm1 = bl_buffer(ctx, "bn1.running_mean", 1, &c4);
    m->rv1 = bl_buffer(ctx, "bn1.running_var", 1, &c4);
    m->w2 = bl_param(ctx, "conv2.weight", 4, w2s);
    m->cb2 = bl_param(ctx, "conv2.bias", 1, &c6);
    m->fc_w = bl_param(ctx, "fc.weight", 2, fcs);
    m->fc_b = bl_param(ctx, "fc.bias", 1, &one);
    bl_init_uniform(ctx, m->w1, bl_fan_in_bound(m->w1), 9, 0);
    bl_init_uniform(ctx, m->w2, bl_fan_in_bound(m->w2), 9, 1);
    bl_init_uniform(ctx, m->cb2, 0.1f, 9, 2);
    bl_init_uniform(ctx, m->fc_w, bl_fan_in_bound(m->fc_w), 9, 3);
    bl_init_constant(ctx, m->g1, 1.0f);
    bl_init_constant(ctx, m->rv1, 1.0f);
}

/* x [2,3,12,12] → logits [2,1] */
static bl_tensor *small_cnn_forward(bl_ctx *ctx, const small_cnn *m, bl_tensor *x) {
    const bl_conv2d_args same = {.pad_h = 1, .pad_w = 1};
    const bl_pool2d_args max2 = {.kernel_h = 2, .kernel_w = 2}, avg3 = {.kernel_h = 3, .kernel_w = 3, .stride_h = 1,
                                                                        .stride_w = 1, .pad_h = 1, .pad_w = 1,
                                                                        .count_include_pad = 1};
    bl_tensor *h = bl_conv2d(ctx, x, m->w1, NULL, same);
    h = bl_maxpool2d(ctx, bl_relu(ctx, bl_batchnorm2d(ctx, h, m->g1, m->b1, m->rm1, m->rv1, 1e-5f, 0.1f)), max2);
    h = bl_avgpool2d(ctx, bl_conv2d(ctx, h, m->w2, m->cb2, same), avg3);
    h = bl_dropout(ctx, bl_global_avgpool(ctx, bl_relu(ctx, h)), 0.25f);
    return bl_linear(ctx, h, m->fc_w, m->fc_b);
}

static void run_small_cnn(const bl_kernels *k, const char *save_path, results *res) {
    bl_ctx *ctx = NULL;
    if (bl_ctx_create(k, &ctx) != BL_OK) return;
    small_cnn m;
    small_cnn_build(ctx, &m);
    bl_set_seed(ctx, 5);
    bl_optimizer *opt = NULL;
    bl_adam_create(ctx, BL_OPTIM_ADAMW, 1e-2f, 0.9f, 0.999f, 1e-8f, 1e-2f, &opt);
    int xs[4] = {2, 3, 12, 12}, ys[2] = {2, 1};
    float x[2 * 3 * 12 * 12], y[2] = {1.0f, 0.0f};
    random_values(x, 2 * 3 * 12 * 12, 1);
    for (int step = 0; step < 2 && opt; step++) {
        bl_tensor *logits = small_cnn_forward(ctx, &m, bl_tensor_from(ctx, 4, xs, x));
        bl_tensor *target = bl_tensor_from(ctx, 2, ys, y);
        bl_tensor *loss = bl_add(ctx, bl_bce_with_logits(ctx, logits, target, NULL),
                                 bl_mean(ctx, bl_sigmoid(ctx, logits)));
        keep(res, ctx, "cnn logits", logits);
        keep(res, ctx, "cnn loss", loss);
        bl_backward(ctx, loss);
        keep_params(res, ctx, "cnn", 1);
        bl_optimizer_step(opt);
        keep_params(res, ctx, "cnn step", 0);
        bl_zero_grad(ctx);
        bl_step_end(ctx);
    }
    for (int i = 0; opt && i < opt->n_params; i++) {
        keep(res, ctx, "cnn adam m", opt->state_a[i]);
        keep(res, ctx, "cnn adam v", opt->state_b[i]);
    }
    bl_set_training(ctx, 0);
    bl_set_grad_enabled(ctx, 0);
    keep(res, ctx, "cnn eval logits", small_cnn_forward(ctx, &m, bl_tensor_from(ctx, 4, xs, x)));
    /* save through the writer helpers (what the model and checkpoint savers use) */
    bl_st_writer *w = NULL;
    bl_host_copies copies = {0};
    bl_status st = bl_st_writer_create(&w);
    for (int i = 0; !st && i < bl_param_count(ctx); i++)
        st = bl_st_writer_add_tensor(w, bl_param_at(ctx, i)->name, ctx, bl_param_at(ctx, i), &copies);
    if (!st) st = bl_st_writer_save(w, save_path);
    bl_st_writer_free(w);
    bl_host_copies_free(&copies);
    CHECK(st == BL_OK && bl_ctx_status(ctx) == BL_OK, "%s: small CNN ran and saved: %s", k->name,
          bl_ctx_status(ctx) ? bl_ctx_error(ctx) : bl_last_error());
    bl_optimizer_free(opt);
    bl_ctx_free(ctx);
}

/* the step arena's high-water after run_backbone's eval forward: the no-grad scopes (layers.h) must rewind and
 * move block outputs on a device backend as on a host one, so guard's equals ref's */
static size_t last_eval_high_water;

/* One backbone on backend k: fill, eval forward, train forward + backward + optimizer step, save, load back. */
static void run_backbone(const bl_kernels *k, bl_arch arch, bl_head head, int adam, const char *save_path,
                         results *res) {
    bl_ctx *ctx = NULL;
    bl_model *m = NULL;
    bl_optimizer *opt = NULL;
    if (bl_ctx_create(k, &ctx) != BL_OK || bl_model_create(ctx, arch, head, &m) != BL_OK) {
        CHECK(0, "%s %s: create: %s", k->name, bl_arch_name(arch), bl_last_error());
        bl_ctx_free(ctx);
        return;
    }
    CHECK(bl_model_fill_deterministic(m, 3) == BL_OK, "%s: fill", k->name);
    keep_params(res, ctx, "filled", 0);
    int xs[4] = {2, 3, 32, 32};
    float *x = malloc(sizeof(float) * 2 * 3 * 32 * 32);
    random_values(x, 2 * 3 * 32 * 32, 2);
    /* eval forward, running statistics, no tape */
    bl_set_training(ctx, 0);
    bl_set_grad_enabled(ctx, 0);
    bl_run eval = {.ctx = ctx, .bn_mode = BL_BN_RUNNING};
    bl_tensor *y = bl_model_forward(m, &eval, bl_tensor_from(ctx, 4, xs, x));
    keep(res, ctx, "eval output", y);
    int64_t y_numel = y ? y->numel : 0;
    last_eval_high_water = bl_ctx_step_arena(ctx)->high_water;
    bl_step_end(ctx);
    /* training step: batch statistics + running update, backward of a fixed upstream gradient, optimizer */
    bl_set_training(ctx, 1);
    bl_set_grad_enabled(ctx, 1);
    if (adam) bl_adam_create(ctx, BL_OPTIM_ADAM, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, &opt);
    else bl_sgd_create(ctx, 1e-2f, 0.9f, 0.0f, 1e-4f, 0, &opt);
    bl_run train = {.ctx = ctx, .bn_mode = BL_BN_FOLLOW_CONTEXT};
    bl_tensor *xt = bl_tensor_from(ctx, 4, xs, x);
    bl_requires_grad(xt);
    y = bl_model_forward(m, &train, xt);
    keep(res, ctx, "train output", y);
    float *dy = malloc(sizeof(float) * (size_t)(y_numel > 0 ? y_numel : 1));
    random_values(dy, y_numel, 3);
    if (y && y->numel == y_numel) bl_backward_with(ctx, y, dy);
    keep(res, ctx, "grad input", xt->grad);
    keep_params(res, ctx, "backward", 1);
    if (opt) bl_optimizer_step(opt);
    keep_params(res, ctx, "after step", 0); /* parameters and BN running statistics */
    for (int i = 0; opt && i < opt->n_params; i++) {
        if (opt->state_a[i]) keep(res, ctx, "optimizer state a", opt->state_a[i]);
        if (opt->state_b[i]) keep(res, ctx, "optimizer state b", opt->state_b[i]);
    }
    bl_zero_grad(ctx);
    bl_step_end(ctx);
    CHECK(bl_ctx_status(ctx) == BL_OK, "%s %s: ran: %s", k->name, bl_arch_name(arch), bl_ctx_error(ctx));
    /* save, then load into a fresh model on the same backend */
    CHECK(bl_model_save(m, save_path, 0, NULL, NULL) == BL_OK, "%s %s: save: %s", k->name, bl_arch_name(arch),
          bl_last_error());
    bl_ctx *ctx2 = NULL;
    bl_model *m2 = NULL;
    bl_safetensors *st = NULL;
    if (bl_ctx_create(k, &ctx2) == BL_OK && bl_model_create(ctx2, arch, head, &m2) == BL_OK &&
        bl_safetensors_open(save_path, &st) == BL_OK) {
        CHECK(bl_model_load(m2, st) == BL_OK, "%s %s: load: %s", k->name, bl_arch_name(arch), bl_last_error());
        int same = bl_model_tensor_count(m) == bl_model_tensor_count(m2);
        for (int i = 0; same && i < bl_model_tensor_count(m); i++)
            same = tensor_hash(ctx, bl_model_tensor_at(m, i)) == tensor_hash(ctx2, bl_model_tensor_at(m2, i));
        CHECK(same, "%s %s: the loaded model equals the saved one bitwise", k->name, bl_arch_name(arch));
    }
    bl_safetensors_close(st);
    bl_model_free(m2);
    bl_ctx_free(ctx2);
    free(x);
    free(dy);
    bl_optimizer_free(opt);
    bl_model_free(m);
    bl_ctx_free(ctx);
}

static results guard_res, ref_res;

static void test_models(void) {
    char a[512], b[512];
    guard_res.n = ref_res.n = 0;
    run_small_cnn(guard_kernels(), test_path_in(a, sizeof a, tmp, "cnn_guard.safetensors"), &guard_res);
    run_small_cnn(bl_kernels_ref(), test_path_in(b, sizeof b, tmp, "cnn_ref.safetensors"), &ref_res);
    compare("small CNN", &guard_res, &ref_res);
    CHECK(test_same_bytes(a, b), "small CNN: saved files are byte-identical");

    const struct {
        bl_arch arch;
        bl_head head;
        int adam;
    } nets[] = {{BL_ARCH_RESNET50, BL_HEAD_IMAGENET, 0}, {BL_ARCH_VGG16, BL_HEAD_NONE, 1},
                {BL_ARCH_DENSENET121, BL_HEAD_IMAGENET, 1}};
    for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++) {
        const char *name = bl_arch_name(nets[i].arch);
        char fa[128], fb[128];
        snprintf(fa, sizeof fa, "%s_guard.safetensors", name);
        snprintf(fb, sizeof fb, "%s_ref.safetensors", name);
        guard_res.n = ref_res.n = 0;
        int64_t calls_before = guard_get_stats().kernel_calls;
        run_backbone(guard_kernels(), nets[i].arch, nets[i].head, nets[i].adam, test_path_in(a, sizeof a, tmp, fa),
                     &guard_res);
        int64_t calls = guard_get_stats().kernel_calls - calls_before;
        size_t guard_high_water = last_eval_high_water;
        run_backbone(bl_kernels_ref(), nets[i].arch, nets[i].head, nets[i].adam, test_path_in(b, sizeof b, tmp, fb),
                     &ref_res);
        CHECK(guard_high_water == last_eval_high_water,
              "%s: eval forward's step-arena peak on guard %zu B = ref's %zu B (no-grad scopes on device memory)",
              name, guard_high_water, last_eval_high_water);
        compare(name, &guard_res, &ref_res);
        CHECK(calls > 100, "%s: the guard ran the kernels (%lld calls)", name, (long long)calls);
        CHECK(test_same_bytes(a, b), "%s: saved files are byte-identical", name);
    }
    CHECK(guard_get_stats().live_chunks == 0, "guard: every chunk freed (%d live)", guard_get_stats().live_chunks);
}

/* ---- c. the pipeline by device name --------------------------------------------------------------------------- */

/* bl_train_run on `device` into tmp/run_<device> */
static bl_status train_on(const char *device, const char *cohort, const char *split) {
    bl_train_options o;
    bl_train_options_default(&o);
    snprintf(o.cohort, sizeof o.cohort, "%s", cohort);
    snprintf(o.split, sizeof o.split, "%s", split);
    snprintf(o.out, sizeof o.out, "%s/run_%s", tmp, device);
    o.arch = BL_ARCH_RESNET50;
    o.preset = bl_train_default_preset(o.arch);
    o.epochs = 1;
    o.batch = 2;
    o.size = 32;
    o.lr = 1e-3;
    o.seed = 4;
    bl_device_options_set(&o.device, device);
    return bl_train_run(&o, NULL);
}

/* Every tensor of two checkpoints equal bitwise (metadata differs: it holds timings). */
static int checkpoints_equal(const char *a, const char *b, int *count) {
    bl_safetensors *x = NULL, *y = NULL;
    int same = bl_safetensors_open(a, &x) == BL_OK && bl_safetensors_open(b, &y) == BL_OK &&
               bl_safetensors_count(x) == bl_safetensors_count(y);
    *count = same ? bl_safetensors_count(x) : 0;
    for (int i = 0; same && i < bl_safetensors_count(x); i++) {
        const bl_st_entry *e = bl_safetensors_entry(x, i), *f = bl_safetensors_find(y, e->name);
        same = f && e->end - e->begin == f->end - f->begin && memcmp(e->data, f->data, e->end - e->begin) == 0;
    }
    bl_safetensors_close(x);
    bl_safetensors_close(y);
    return same;
}

/* Grad-CAM of the first cohort row under the checkpoint on device k → map. */
static bl_status gradcam_on(const bl_kernels *k, const char *checkpoint, const bl_cohort_row *row,
                            bl_gradcam_map *map) {
    bl_safetensors *ck = NULL;
    bl_ctx *ctx = NULL;
    bl_pregnancy_model *m = NULL;
    bl_train_options o;
    bl_train_state s = {0};
    float *x = NULL;
    bl_status st = bl_safetensors_open(checkpoint, &ck);
    if (!st) st = bl_checkpoint_read_meta(ck, &o, &s);
    if (!st) st = bl_ctx_create(k, &ctx);
    if (!st) st = bl_pregnancy_create(ctx, o.arch, &m);
    if (!st) st = bl_checkpoint_load(ck, m, NULL);
    bl_loader_options lo;
    bl_loader_options_default(&lo);
    lo.size = o.size;
    lo.normalize = o.preset;
    lo.augment = 0;
    if (!st && !(x = malloc(sizeof(float) * 3 * (size_t)o.size * o.size))) st = BL_ERR_NOMEM;
    if (!st) st = bl_loader_prepare_sample(row, &lo, 0, x);
    if (!st) st = bl_gradcam_compute(m, NULL, x, o.size, 0.25f, map);
    free(x);
    free(s.log);
    bl_pregnancy_free(m);
    bl_ctx_free(ctx);
    bl_safetensors_close(ck);
    return st;
}

static void test_pipeline(void) {
    char dir[512], cohort_path[512], split_path[512];
    bl_synth_options so = {.n = 12, .seed = 6, .size = 64};
    CHECK(bl_synth_write_cohort(test_path_in(dir, sizeof dir, tmp, "cohort"), &so, NULL, NULL) == BL_OK,
          "synthetic cohort: %s", bl_last_error());
    test_path_in(cohort_path, sizeof cohort_path, dir, "cohort.csv");
    test_path_in(split_path, sizeof split_path, tmp, "split.csv");
    bl_split_options sp;
    bl_split_options_default(&sp);
    sp.test_count = 2;
    sp.folds = 2;
    bl_split *split = NULL;
    CHECK(bl_split_cohort_file(cohort_path, &sp, &split) == BL_OK && bl_split_write(split, split_path) == BL_OK,
          "split: %s", bl_last_error());
    bl_split_free(split);

    bl_device_register_test_backend(guard_kernels());
    const bl_kernels *k = NULL;
    CHECK(bl_device_open("guard", 0, 0, &k) == BL_OK && k == guard_kernels(), "device 'guard' registered");
    int64_t calls_before = guard_get_stats().kernel_calls;
    bl_status sg = train_on("guard", cohort_path, split_path);
    CHECK(sg == BL_OK, "train on guard: %s", bl_last_error());
    CHECK(guard_get_stats().kernel_calls - calls_before > 1000, "train on guard ran kernels on the guard (%lld calls)",
          (long long)(guard_get_stats().kernel_calls - calls_before));
    bl_status sr = train_on("ref", cohort_path, split_path);
    CHECK(sr == BL_OK, "train on ref: %s", bl_last_error());
    char a[512], b[512];
    int count = 0;
    snprintf(a, sizeof a, "%s/run_guard/last.safetensors", tmp);
    snprintf(b, sizeof b, "%s/run_ref/last.safetensors", tmp);
    CHECK(checkpoints_equal(a, b, &count) && count > 300,
          "train: last.safetensors of guard and ref equal bitwise (%d tensors: weights, BN, optimizer state)", count);
    snprintf(a, sizeof a, "%s/run_guard/validation.csv", tmp);
    snprintf(b, sizeof b, "%s/run_ref/validation.csv", tmp);
    CHECK(test_same_bytes(a, b), "train: validation.csv (scores of the validation pass) identical");
    snprintf(a, sizeof a, "%s/run_guard/memory.json", tmp);
    char *memory = test_read_file(a, NULL);
    CHECK(memory && strstr(memory, "\"device\": \"guard\""), "memory.json names the device: %s", memory ? memory : "");
    free(memory);

    /* predict: bl_checkpoint_score on both devices */
    bl_cohort *cohort = NULL;
    bl_safetensors *ck = NULL;
    snprintf(a, sizeof a, "%s/run_ref/best.safetensors", tmp);
    if (bl_cohort_read(cohort_path, 1, &cohort) == BL_OK && bl_safetensors_open(a, &ck) == BL_OK) {
        enum { N_SCORED = 3 }; /* the first rows of the cohort */
        double sg_scores[N_SCORED], sr_scores[N_SCORED];
        bl_device_options dg = {"guard", 0, 0}, dr = {"ref", 0, 0};
        CHECK(bl_checkpoint_score(ck, cohort->rows, N_SCORED, 1, &dg, sg_scores) == BL_OK, "score on guard: %s",
              bl_last_error());
        CHECK(bl_checkpoint_score(ck, cohort->rows, N_SCORED, 1, &dr, sr_scores) == BL_OK, "score on ref: %s",
              bl_last_error());
        int finite = 1;
        for (int i = 0; i < N_SCORED; i++) finite &= isfinite(sg_scores[i]) && sg_scores[i] > 0 && sg_scores[i] < 1;
        CHECK(finite && memcmp(sg_scores, sr_scores, sizeof sg_scores) == 0,
              "predict: %d scores in (0,1), guard == ref bitwise", N_SCORED);
        /* Grad-CAM of one image */
        bl_gradcam_map mg = {0}, mr = {0};
        CHECK(gradcam_on(guard_kernels(), a, &cohort->rows[0], &mg) == BL_OK, "gradcam on guard: %s", bl_last_error());
        CHECK(gradcam_on(bl_kernels_ref(), a, &cohort->rows[0], &mr) == BL_OK, "gradcam on ref: %s", bl_last_error());
        CHECK(mg.cam && mr.cam && mg.h == mr.h && mg.w == mr.w && mg.h > 0 &&
                  memcmp(mg.cam, mr.cam, sizeof(float) * (size_t)mg.h * mg.w) == 0 &&
                  memcmp(mg.heat, mr.heat, sizeof(float) * (size_t)mg.size * mg.size) == 0 &&
                  memcmp(&mg.logit, &mr.logit, sizeof mg.logit) == 0 && isfinite(mg.logit),
              "gradcam: map %dx%d, heatmap and logit guard == ref bitwise", mg.h, mg.w);
        bl_gradcam_map_free(&mg);
        bl_gradcam_map_free(&mr);
    } else {
        CHECK(0, "cohort / checkpoint readable: %s", bl_last_error());
    }
    bl_safetensors_close(ck);
    bl_cohort_free(cohort);
    bl_device_register_test_backend(NULL);
    CHECK(bl_device_open("guard", 0, 0, &k) != BL_OK, "device 'guard' unregistered");
}

int main(void) {
    if (!test_make_tmp_dir(tmp, sizeof tmp, "blasto_guard")) return test_skip("cannot create a temporary directory");
    test_guard_itself();
    test_scope_short_shift(guard_kernels());
    test_scope_short_shift(bl_kernels_ref());
    test_models();
    test_pipeline();
    test_remove_tree(tmp);
    return test_summary("test_guard_backend");
}
