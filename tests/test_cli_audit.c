/* test_cli_audit.c — the audit commands end to end: `blasto infer`, `blasto grad`, `blasto diff` (docs/cli.md).
 *
 * Weights come from the library itself (bl_model_create + bl_model_fill_deterministic + bl_model_save) at small
 * input sizes, so no Python and no fixtures are needed. The command's results must equal an in-process forward /
 * backward on the same backend BITWISE (same kernels, same order of operations; the cpu backend's results do not
 * depend on the thread count). Bad inputs must give their exact one-line message, the right exit code, and no
 * output file. The temporary directory is removed at the end unless BLASTO_KEEP_TMP is set. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "models/models.h"
#include "support/test_support.h"

static char tmp_dir[256];
static char out[1 << 17];

/* Runs `BLASTO_CLI args` with stdout and stderr captured into out; returns the exit code. */
static int run(const char *args) { return test_run_cli(args, 1, out, sizeof out); }

static const char *tmp_path(char *buf, const char *name) { return test_path_in(buf, 512, tmp_dir, name); }

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

/* Writes one float32 tensor (plus an optional second one) to path. */
static void write_tensors(const char *path, const char *name, int ndim, const int *shape, const float *data,
                          const char *name2, int ndim2, const int *shape2, const float *data2) {
    bl_st_writer *w = NULL;
    bl_status st = bl_st_writer_create(&w);
    if (st == BL_OK) st = bl_st_writer_add_f32(w, name, ndim, shape, data);
    if (st == BL_OK && name2) st = bl_st_writer_add_f32(w, name2, ndim2, shape2, data2);
    if (st == BL_OK) st = bl_st_writer_save(w, path);
    CHECK(st == BL_OK, "write %s: %s", path, bl_last_error());
    bl_st_writer_free(w);
}

/* Reads float32 tensor `name` [count] of path into a malloc'ed buffer (NULL + failed CHECK when absent). */
static float *read_tensor(const char *path, const char *name, int64_t count) {
    bl_safetensors *st = NULL;
    float *v = malloc((size_t)count * sizeof(float));
    if (bl_safetensors_open(path, &st) != BL_OK || bl_safetensors_read_f32(st, name, -1, NULL, count, v) != BL_OK) {
        CHECK(0, "read %s from %s: %s", name, path, bl_last_error());
        free(v);
        v = NULL;
    }
    bl_safetensors_close(st);
    return v;
}

static uint64_t file_hash(const char *path) {
    FILE *f = fopen(path, "rb");
    uint64_t h = 1469598103934665603ull;
    if (!f) return 0;
    int c;
    while ((c = getc(f)) != EOF) h = (h ^ (uint64_t)c) * 1099511628211ull;
    fclose(f);
    return h;
}

static int bitwise_equal(const float *a, const float *b, int64_t count) {
    return a && b && memcmp(a, b, (size_t)count * sizeof(float)) == 0;
}

/* Builds arch with deterministic weights (seed 7) in a cpu context and saves them to `weights`. */
static bl_model *make_model(bl_arch arch, const char *weights) {
    bl_ctx *ctx = NULL;
    bl_model *m = NULL;
    if (bl_ctx_create(bl_kernels_cpu(), &ctx) != BL_OK || bl_model_create(ctx, arch, BL_HEAD_IMAGENET, &m) != BL_OK) {
        CHECK(0, "create %s: %s", bl_arch_name(arch), bl_last_error());
        bl_ctx_free(ctx);
        return NULL;
    }
    bl_model_fill_deterministic(m, 7);
    CHECK(bl_model_save(m, weights, 0, NULL, NULL) == BL_OK, "save %s: %s", weights, bl_last_error());
    return m;
}

static void free_model(bl_model *m) {
    if (!m) return;
    bl_ctx *ctx = bl_model_ctx(m);
    bl_model_free(m);
    bl_ctx_free(ctx);
}

/* x [N,3,H,W] → logits [N,1000] copied into a malloc'ed buffer; with dy [N,1000] also the backward (parameter
 * .grad hold the gradients afterwards; *grad_input gets a malloc'ed copy of ∂/∂x). */
static float *forward_in_process(bl_model *m, bl_bn_mode mode, const float *x, const int *shape, const float *dy,
                                 float **grad_input) {
    bl_ctx *ctx = bl_model_ctx(m);
    bl_set_training(ctx, 0);
    bl_set_grad_enabled(ctx, dy != NULL);
    bl_run run = {.ctx = ctx, .bn_mode = mode};
    bl_tensor *xt = bl_tensor_from(ctx, 4, shape, x);
    if (dy && xt) bl_requires_grad(xt);
    bl_tensor *y = bl_model_forward(m, &run, xt);
    float *logits = NULL;
    if (y && bl_ctx_status(ctx) == BL_OK) {
        logits = malloc((size_t)y->numel * sizeof(float));
        memcpy(logits, y->data, (size_t)y->numel * sizeof(float));
        if (dy) {
            bl_zero_grad(ctx);
            if (bl_backward_with(ctx, y, dy) == BL_OK && xt->grad) {
                *grad_input = malloc((size_t)xt->numel * sizeof(float));
                memcpy(*grad_input, xt->grad->data, (size_t)xt->numel * sizeof(float));
            }
        }
    }
    CHECK(logits && bl_ctx_status(ctx) == BL_OK, "in-process forward: %s", bl_ctx_error(ctx));
    bl_step_end(ctx);
    bl_ctx_clear_error(ctx);
    return logits;
}

/* ---- infer / grad on resnet50 ---------------------------------------------------------------------------- */

static void test_resnet50(void) {
    char w[512], x[512], y[512], yb[512], g[512], d[512], dump[512], act[512], args[4096];
    tmp_path(w, "resnet50.safetensors");
    tmp_path(x, "x64.safetensors");
    const int shape[4] = {2, 3, 64, 64}, yshape[2] = {2, 1000};
    const int64_t xn = 2 * 3 * 64 * 64, yn = 2000;
    float *xv = malloc(xn * sizeof(float)), *dyv = malloc(yn * sizeof(float));
    test_fill_uniform(xv, xn, 11, 0, -2.0f, 2.0f);
    test_fill_uniform(dyv, yn, 11, 1, -1.0f, 1.0f);
    write_tensors(x, "input", 4, shape, xv, NULL, 0, NULL, NULL);
    bl_model *m = make_model(BL_ARCH_RESNET50, w);
    if (!m) return;
    uint64_t weights_hash = file_hash(w);

    /* infer, --bn running (default), against the in-process forward */
    snprintf(args, sizeof args, "infer --arch resnet50 --weights %s --input %s --output %s --threads 2", w, x,
             tmp_path(y, "y.safetensors"));
    CHECK(run(args) == 0 && strstr(out, "blasto infer: resnet50 forward [2,3,64,64]"), "infer runs:\n%s", out);
    float *want = forward_in_process(m, BL_BN_RUNNING, xv, shape, NULL, NULL);
    float *got = read_tensor(y, "output", yn);
    CHECK(bitwise_equal(got, want, yn), "infer output == in-process forward, bitwise");
    bl_safetensors *st = NULL;
    if (bl_safetensors_open(y, &st) == BL_OK) {
        const char *arch = bl_safetensors_metadata(st, "arch"), *bn = bl_safetensors_metadata(st, "bn"),
                   *backend = bl_safetensors_metadata(st, "backend"), *version = bl_safetensors_metadata(st, "version");
        CHECK(arch && strcmp(arch, "resnet50") == 0 && bn && strcmp(bn, "running") == 0 && backend &&
                  strcmp(backend, "cpu") == 0 && version && *version,
              "Y metadata: arch %s bn %s backend %s version %s", arch, bn, backend, version);
        CHECK(bl_safetensors_count(st) == 1, "Y holds only `output`");
    }
    bl_safetensors_close(st);

    /* --bn batch: differs from running, equals the in-process batch-statistics forward, W untouched */
    snprintf(args, sizeof args, "infer --arch resnet50 --weights %s --input %s --output %s --bn batch", w, x,
             tmp_path(yb, "y_batch.safetensors"));
    CHECK(run(args) == 0, "infer --bn batch:\n%s", out);
    bl_tensor *rm = bl_param_find(bl_model_ctx(m), "layer1.0.bn1.running_mean");
    bl_tensor *rv = bl_param_find(bl_model_ctx(m), "bn1.running_var");
    float rm_before[64], rv_before[64];
    if (rm && rv) memcpy(rm_before, rm->data, sizeof rm_before), memcpy(rv_before, rv->data, sizeof rv_before);
    float *want_batch = forward_in_process(m, BL_BN_BATCH, xv, shape, NULL, NULL);
    CHECK(rm && rv && memcmp(rm_before, rm->data, sizeof rm_before) == 0 &&
              memcmp(rv_before, rv->data, sizeof rv_before) == 0,
          "in-process --bn batch leaves the running statistics untouched");
    float *got_batch = read_tensor(yb, "output", yn);
    CHECK(bitwise_equal(got_batch, want_batch, yn), "infer --bn batch == in-process, bitwise");
    double change = 0;
    for (int64_t i = 0; got && got_batch && i < yn; i++) change = fmax(change, fabs(got[i] - got_batch[i]));
    CHECK(change > 1e-3, "--bn batch changes the logits (max change %g)", change);
    CHECK(file_hash(w) == weights_hash, "the weights file is not modified");

    /* --dump-activations: module paths, repeated relu, last module = output */
    snprintf(args, sizeof args, "infer --arch resnet50 --weights %s --input %s --output %s --dump-activations %s", w,
             x, tmp_path(y, "y_dump.safetensors"), tmp_path(dump, "dump"));
    CHECK(run(args) == 0 && strstr(out, "module outputs"), "infer --dump-activations:\n%s", out);
    st = NULL;
    if (bl_safetensors_open(tmp_path(act, "dump/activations.safetensors"), &st) == BL_OK) {
        const char *names[] = {"conv1", "bn1", "relu", "maxpool", "layer1", "layer3.2.relu", "layer3.2.relu#1",
                               "layer3.2.relu#3", "layer3.2", "layer4", "avgpool", "fc", "layer2.0.downsample"};
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
            CHECK(bl_safetensors_find(st, names[k]) != NULL, "dump has '%s'", names[k]);
        CHECK(!bl_safetensors_find(st, "layer3.2.relu#4"), "relu is called three times per block");
        int count = bl_safetensors_count(st);
        const bl_st_entry *last = count ? bl_safetensors_entry(st, count - 1) : NULL;
        CHECK(last && strcmp(last->name, "fc") == 0, "the last module written is fc (got %s)", last ? last->name : "-");
        float *fc = read_tensor(act, "fc", yn);
        CHECK(bitwise_equal(fc, got, yn), "dump 'fc' == infer output");
        free(fc);
        const bl_st_entry *r = bl_safetensors_find(st, "layer3.2.relu"), *b = bl_safetensors_find(st, "layer3.2"),
                          *r3 = bl_safetensors_find(st, "layer3.2.relu#3"), *r1 = bl_safetensors_find(st, "layer3.2.relu#1");
        CHECK(r && b && r3 && r1 && r->numel == b->numel && memcmp(r->data, b->data, (size_t)r->numel * 4) == 0 &&
                  memcmp(r->data, r3->data, (size_t)r->numel * 4) == 0 && r1->shape[1] == 256 && r->shape[1] == 1024,
              "'layer3.2.relu' is the last call (== block output 'layer3.2' == '#3'); '#1' is the first relu");
    } else {
        CHECK(0, "open the dump: %s", bl_last_error());
    }
    bl_safetensors_close(st);

    /* grad: against the in-process backward */
    tmp_path(g, "g.safetensors");
    write_tensors(g, "grad_output", 2, yshape, dyv, NULL, 0, NULL, NULL);
    snprintf(args, sizeof args, "grad --arch resnet50 --weights %s --input %s --grad-output %s --output %s", w, x, g,
             tmp_path(d, "d.safetensors"));
    CHECK(run(args) == 0 && strstr(out, "forward + backward"), "grad runs:\n%s", out);
    float *want_gx = NULL;
    free(forward_in_process(m, BL_BN_RUNNING, xv, shape, dyv, &want_gx));
    float *got_gx = read_tensor(d, "grad.input", xn);
    CHECK(bitwise_equal(got_gx, want_gx, xn), "grad.input == in-process backward, bitwise");
    const char *params[] = {"fc.weight", "fc.bias", "conv1.weight", "layer3.2.bn2.weight", "layer2.0.downsample.0.weight"};
    for (size_t k = 0; k < sizeof params / sizeof params[0]; k++) {
        bl_tensor *t = bl_param_find(bl_model_ctx(m), params[k]);
        char name[128];
        snprintf(name, sizeof name, "grad.%s", params[k]);
        float *gp = t ? read_tensor(d, name, t->numel) : NULL;
        CHECK(t && bitwise_equal(gp, t->grad->data, t->numel), "%s == in-process, bitwise", name);
        free(gp);
    }
    st = NULL;
    if (bl_safetensors_open(d, &st) == BL_OK) {
        int n_params = 0;
        for (int i = 0; i < bl_model_tensor_count(m); i++) n_params += bl_model_tensor_at(m, i)->requires_grad;
        CHECK(bl_safetensors_count(st) == n_params + 1, "D has grad.input + %d parameter gradients (got %d tensors)",
              n_params, bl_safetensors_count(st));
        CHECK(!bl_safetensors_find(st, "grad.bn1.running_mean") && !bl_safetensors_find(st, "grad.bn1.running_var"),
              "D has no buffers");
        const char *cmd = bl_safetensors_metadata(st, "command");
        CHECK(cmd && strcmp(cmd, "grad") == 0, "D metadata command = grad");
    }
    bl_safetensors_close(st);

    /* --bn batch grad differs (batch statistics depend on the input) and matches in-process */
    snprintf(args, sizeof args, "grad --arch resnet50 --weights %s --input %s --grad-output %s --output %s --bn batch",
             w, x, g, tmp_path(d, "d_batch.safetensors"));
    CHECK(run(args) == 0, "grad --bn batch:\n%s", out);
    float *want_gxb = NULL;
    free(forward_in_process(m, BL_BN_BATCH, xv, shape, dyv, &want_gxb));
    float *got_gxb = read_tensor(d, "grad.input", xn);
    CHECK(bitwise_equal(got_gxb, want_gxb, xn) && !bitwise_equal(got_gxb, got_gx, xn),
          "grad --bn batch: grad.input == in-process and != running mode");

    /* the reference backend runs too, and stays within float rounding of the cpu one */
    snprintf(args, sizeof args, "infer --arch resnet50 --weights %s --input %s --output %s --backend ref", w, x,
             tmp_path(y, "y_ref.safetensors"));
    CHECK(run(args) == 0, "infer --backend ref:\n%s", out);
    snprintf(args, sizeof args, "diff %s %s --rtol 1e-3 --atol 1e-4", y, tmp_path(yb, "y.safetensors"));
    CHECK(run(args) == 0 && strstr(out, "summary: 1 common tensors, 1 ok, 0 FAIL"), "ref vs cpu:\n%s", out);

    /* bad inputs: exact message, exit code, no output file */
    char bad[512], msg[2048];
    snprintf(args, sizeof args, "infer --arch resnet50 --weights %s --input %s --output %s", tmp_path(bad, "nope.safetensors"),
             x, tmp_path(y, "never1.safetensors"));
    snprintf(msg, sizeof msg, "blasto infer: %s: cannot open: No such file or directory\n", bad);
    CHECK(run(args) == 1 && strcmp(out, msg) == 0 && !file_exists(y), "missing weights: %s", out);

    snprintf(args, sizeof args, "infer --arch resnet50-keras --weights %s --input %s --output %s", w, x,
             tmp_path(y, "never2.safetensors"));
    snprintf(msg, sizeof msg,
             "blasto infer: %s: __metadata__.arch: architecture mismatch (expected resnet50-keras, got resnet50)\n", w);
    CHECK(run(args) == 1 && strcmp(out, msg) == 0 && !file_exists(y), "arch mismatch: %s", out);

    const int shape4[4] = {2, 4, 64, 64};
    float *x4 = calloc(2 * 4 * 64 * 64, sizeof(float));
    write_tensors(tmp_path(bad, "x_c4.safetensors"), "input", 4, shape4, x4, NULL, 0, NULL, NULL);
    snprintf(args, sizeof args, "infer --arch resnet50 --weights %s --input %s --output %s", w, bad,
             tmp_path(y, "never3.safetensors"));
    snprintf(msg, sizeof msg, "blasto infer: %s: input: shape [2,4,64,64] (expected [N,3,H,W])\n", bad);
    CHECK(run(args) == 1 && strcmp(out, msg) == 0 && !file_exists(y), "C = 4: %s", out);
    free(x4);

    xv[((1 * 3 + 2) * 64 + 3) * 64 + 4] = NAN;
    write_tensors(tmp_path(bad, "x_nan.safetensors"), "input", 4, shape, xv, NULL, 0, NULL, NULL);
    snprintf(args, sizeof args, "infer --arch resnet50 --weights %s --input %s --output %s", w, bad,
             tmp_path(y, "never4.safetensors"));
    snprintf(msg, sizeof msg, "blasto infer: %s: input: element [1,2,3,4] is NaN (expected finite values)\n", bad);
    CHECK(run(args) == 1 && strcmp(out, msg) == 0 && !file_exists(y), "NaN input: %s", out);

    write_tensors(tmp_path(bad, "g_wrong_name.safetensors"), "grad", 2, yshape, dyv, NULL, 0, NULL, NULL);
    snprintf(args, sizeof args, "grad --arch resnet50 --weights %s --input %s --grad-output %s --output %s", w, x, bad,
             tmp_path(y, "never5.safetensors"));
    snprintf(msg, sizeof msg,
             "blasto grad: %s: grad_output: missing (expected a float32 tensor [2,1000]: the logits' shape)\n", bad);
    CHECK(run(args) == 1 && strcmp(out, msg) == 0 && !file_exists(y), "missing grad_output: %s", out);

    snprintf(args, sizeof args, "infer --arch resnet50 --weights %s --input %s --output %s --bn foo", w, x,
             tmp_path(y, "never6.safetensors"));
    CHECK(run(args) == 2 && strcmp(out, "blasto infer: --bn: expected running or batch, got 'foo'\n") == 0 &&
              !file_exists(y),
          "unknown --bn: %s", out);
#ifndef BLASTO_HAVE_CUDA /* tests/test_cli_device.c checks every command's refusal in every build */
    snprintf(args, sizeof args, "infer --arch resnet50 --weights %s --input %s --output %s --device cuda", w, x,
             tmp_path(y, "never7.safetensors"));
    CHECK(run(args) == 1 && strstr(out, "device cuda: this blasto was built without CUDA") && !file_exists(y),
          "--device cuda refused: %s", out);
#endif
    snprintf(args, sizeof args, "infer --arch resnet50 --input %s --output %s", x, tmp_path(y, "never8.safetensors"));
    CHECK(run(args) == 2 && strcmp(out, "blasto infer: --weights: required (blasto infer --help)\n") == 0,
          "missing --weights: %s", out);
    snprintf(args, sizeof args, "infer --arch resnet51 --weights %s --input %s --output %s", w, x, y);
    CHECK(run(args) == 2 && strstr(out, "blasto infer: --arch: ") && strstr(out, "resnet51"), "unknown arch: %s", out);
    snprintf(args, sizeof args, "infer --arch resnet50 --weights %s --input %s --output %s", w, x, w);
    CHECK(run(args) == 2 && strstr(out, "is also an input of this command") && file_hash(w) == weights_hash,
          "--output = --weights refused: %s", out);

    free(xv);
    free(dyv);
    free(want), free(got), free(want_batch), free(got_batch), free(want_gx), free(got_gx), free(want_gxb),
        free(got_gxb);
    free_model(m);
}

/* ---- densenet121 and vgg16 at small sizes ----------------------------------------------------------------- */

static void test_other_arch(bl_arch arch, int size) {
    char w[512], x[512], y[512], args[4096];
    snprintf(w, sizeof w, "%s/%s.safetensors", tmp_dir, bl_arch_name(arch));
    snprintf(x, sizeof x, "%s/x_%d.safetensors", tmp_dir, size);
    snprintf(y, sizeof y, "%s/y_%s.safetensors", tmp_dir, bl_arch_name(arch));
    const int shape[4] = {1, 3, size, size};
    const int64_t xn = 3 * (int64_t)size * size;
    float *xv = malloc((size_t)xn * sizeof(float));
    test_fill_uniform(xv, xn, 12, (uint64_t)size, -2.0f, 2.0f);
    write_tensors(x, "input", 4, shape, xv, NULL, 0, NULL, NULL);
    bl_model *m = make_model(arch, w);
    float *want = m ? forward_in_process(m, BL_BN_RUNNING, xv, shape, NULL, NULL) : NULL;
    free_model(m); /* VGG16's 138 M parameters: free them before the command loads its own copy */
    snprintf(args, sizeof args, "infer --arch %s --weights %s --input %s --output %s", bl_arch_name(arch), w, x, y);
    CHECK(run(args) == 0, "infer %s at %dx%d:\n%s", bl_arch_name(arch), size, size, out);
    float *got = file_exists(y) ? read_tensor(y, "output", 1000) : NULL;
    CHECK(bitwise_equal(got, want, 1000), "infer %s == in-process forward, bitwise", bl_arch_name(arch));
    unlink(w);
    free(xv), free(want), free(got);
}

/* ---- diff ------------------------------------------------------------------------------------------------- */

static void test_diff(void) {
    char a[512], b[512], c[512], e[512], args[2048];
    const int shape[4] = {2, 3, 4, 5}, other[2] = {3, 2}, wrong[4] = {2, 3, 5, 4};
    float t[120], u[120], s[6];
    test_fill_uniform(t, 120, 13, 0, -1.0f, 1.0f);
    test_fill_uniform(s, 6, 13, 1, -1.0f, 1.0f);
    memcpy(u, t, sizeof t);
    u[((1 * 3 + 0) * 4 + 3) * 5 + 4] += 0.01f; /* [1,0,3,4] */
    u[3] += 1e-7f;                             /* within the default tolerance */
    write_tensors(tmp_path(a, "da.safetensors"), "t", 4, shape, t, "only_a", 2, other, s);
    write_tensors(tmp_path(b, "db.safetensors"), "t", 4, shape, u, "only_b", 2, other, s);
    write_tensors(tmp_path(c, "dc.safetensors"), "t", 4, shape, t, "only_a", 2, other, s);
    write_tensors(tmp_path(e, "dd.safetensors"), "t", 4, wrong, t, NULL, 0, NULL, NULL);

    snprintf(args, sizeof args, "diff %s %s", a, c);
    CHECK(run(args) == 0 && strstr(out, "summary: 2 common tensors, 2 ok, 0 FAIL; 0 only in A, 0 only in B"),
          "identical files: exit 0:\n%s", out);
    snprintf(args, sizeof args, "diff %s %s", a, b);
    CHECK(run(args) == 1 && strstr(out, "[1,0,3,4]") && strstr(out, "FAIL (1 of 120 elements)") &&
              strstr(out, "only in A: only_a\n") && strstr(out, "only in B: only_b\n") &&
              strstr(out, "summary: 1 common tensors, 0 ok, 1 FAIL; 1 only in A, 1 only in B"),
          "perturbed: exit 1, worst [1,0,3,4], names listed:\n%s", out);
    snprintf(args, sizeof args, "diff %s %s --atol 0.02", a, b);
    CHECK(run(args) == 0 && strstr(out, "[1,0,3,4]"), "--atol 0.02 accepts it (worst still [1,0,3,4]):\n%s", out);
    snprintf(args, sizeof args, "diff %s %s", a, e);
    CHECK(run(args) == 1 && strstr(out, "[2,3,4,5] vs [2,3,5,4]  FAIL (shape mismatch)"), "shape mismatch:\n%s", out);
    write_tensors(tmp_path(c, "de.safetensors"), "u", 4, shape, t, NULL, 0, NULL, NULL);
    snprintf(args, sizeof args, "diff %s %s", a, c);
    CHECK(run(args) == 1 && strstr(out, "blasto diff: no tensor name in common (expected at least one)\n"),
          "no common name: exit 1:\n%s", out);
    snprintf(args, sizeof args, "diff %s %s --rtol -1", a, b);
    CHECK(run(args) == 2 && strcmp(out, "blasto diff: --rtol: expected a finite number >= 0, got '-1'\n") == 0,
          "bad --rtol: %s", out);
    snprintf(args, sizeof args, "diff %s", a);
    CHECK(run(args) == 2, "one file: usage error");
    snprintf(args, sizeof args, "diff %s %s/missing.safetensors", a, tmp_dir);
    CHECK(run(args) == 1 && strstr(out, "missing.safetensors: cannot open"), "missing file: %s", out);
}

int main(void) {
    if (!test_make_tmp_dir(tmp_dir, sizeof tmp_dir, "blasto_audit"))
        return test_skip("cannot create a temporary directory");
    CHECK(run("infer --help") == 0 && strstr(out, "usage: blasto infer"), "infer --help");
    CHECK(run("grad --help") == 0 && strstr(out, "--grad-output"), "grad --help");
    CHECK(run("diff --help") == 0 && strstr(out, "--rtol"), "diff --help");
    test_diff();
    test_resnet50();
    test_other_arch(BL_ARCH_DENSENET121, 64);
    test_other_arch(BL_ARCH_VGG16, 224); /* the ImageNet head needs multiples of 224 (layers.h, adaptive pool) */
    test_remove_tree(tmp_dir);
    return test_summary("test_cli_audit");
}
