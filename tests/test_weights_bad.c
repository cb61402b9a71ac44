/* test_weights_bad.c — `blasto convert` and `blasto inspect` with no Python: the name rules of tools/cli/weights_map.c,
 * the architecture guess, and weight files built here in C (bl_model_save of a freshly created model, then small
 * surgery) that must each be refused with their exact message, exit code 1, nothing on stdout and no OUT file:
 * missing key, extra key, wrong shape, wrong dtype, architecture mismatch (incl. the ResNet v1/v1.5 trap),
 * __metadata__ arch mismatch, NaN, headless file, two names landing on one, unreadable and truncated files.
 * A good file with old DenseNet keys, num_batches_tracked and one BF16 tensor converts to the exact bytes, and so
 * does a VGG16 re-keyed to timm's names and conv-shaped head (the torchvision-made files: test_convert.c). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "core/autograd.h"
#include "models/models.h"
/* The mapping rules are pure functions of tools/; the test compiles them in (the library does not hold tools/). */
#include "cli/weights_map.c"

static char dir[64];

/* Run `BLASTO_CLI args`; stdout into out, stderr into err; returns the exit code (−1 if it did not exit). */
static int run_cli(const char *args, char *out, size_t out_size, char *err, size_t err_size) {
    char cmd[2048], err_path[128];
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", dir);
    snprintf(cmd, sizeof cmd, "%s %s 2>%s", BLASTO_CLI, args, err_path);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t k = fread(out, 1, out_size - 1, p);
    out[k] = '\0';
    while (fgetc(p) != EOF) {
    }
    int status = pclose(p);
    FILE *f = fopen(err_path, "r");
    k = f ? fread(err, 1, err_size - 1, f) : 0;
    err[k] = '\0';
    if (f) fclose(f);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int file_exists(const char *path) {
    struct stat s;
    return stat(path, &s) == 0;
}

/* ---- the name rules ------------------------------------------------------------------------------------------ */

static void check_map(wm_source source, const char *in, const char *want, wm_rule rule, int flatten) {
    wm_mapping m;
    CHECK(wm_map_name(source, in, &m) == BL_OK, "map %s: %s", in, bl_last_error());
    CHECK(strcmp(m.name, want) == 0 && m.rule == rule && m.flatten == flatten,
          "%s %s → '%s' (%s, flatten %d), expected '%s' (%s, flatten %d)", wm_source_name(source), in, m.name,
          wm_rule_name(m.rule), m.flatten, want, wm_rule_name(rule), flatten);
}

static void test_name_rules(void) {
    const wm_source tv = WM_SOURCE_TORCHVISION, timm = WM_SOURCE_TIMM;
    check_map(tv, "features.denseblock1.denselayer1.norm.1.weight", "features.denseblock1.denselayer1.norm1.weight",
              WM_RULE_DENSENET_OLD_KEY, 0);
    check_map(tv, "features.denseblock3.denselayer24.conv.2.weight", "features.denseblock3.denselayer24.conv2.weight",
              WM_RULE_DENSENET_OLD_KEY, 0);
    check_map(tv, "features.denseblock2.denselayer12.norm.2.running_var",
              "features.denseblock2.denselayer12.norm2.running_var", WM_RULE_DENSENET_OLD_KEY, 0);
    check_map(timm, "features.denseblock2.denselayer3.norm.1.running_mean",
              "features.denseblock2.denselayer3.norm1.running_mean", WM_RULE_DENSENET_OLD_KEY, 0);
    check_map(tv, "xdenselayer5.relu.1.bias", "xdenselayer5.relu1.bias", WM_RULE_DENSENET_OLD_KEY, 0); /* `.*` */
    /* the regex does not match: kept as they are */
    check_map(tv, "features.denseblock1.denselayer1.norm.3.weight", "features.denseblock1.denselayer1.norm.3.weight",
              WM_RULE_SAME, 0);
    check_map(tv, "features.denseblock1.denselayer.norm.1.weight", "features.denseblock1.denselayer.norm.1.weight",
              WM_RULE_SAME, 0);
    check_map(tv, "features.denseblock1.denselayer1.pool.1.weight", "features.denseblock1.denselayer1.pool.1.weight",
              WM_RULE_SAME, 0);
    check_map(tv, "features.denseblock1.denselayer1.norm.1.weights",
              "features.denseblock1.denselayer1.norm.1.weights", WM_RULE_SAME, 0);
    check_map(tv, "features.transition1.norm.weight", "features.transition1.norm.weight", WM_RULE_SAME, 0);
    check_map(tv, "layer1.0.bn1.weight", "layer1.0.bn1.weight", WM_RULE_SAME, 0);
    /* num_batches_tracked is dropped, including the old-key form torchvision's regex leaves alone */
    check_map(tv, "features.denseblock1.denselayer1.norm.1.num_batches_tracked", "", WM_RULE_DROP_BN_COUNTER, 0);
    check_map(timm, "bn1.num_batches_tracked", "", WM_RULE_DROP_BN_COUNTER, 0);
    /* timm's VGG head; only with --from timm */
    check_map(timm, "pre_logits.fc1.weight", "classifier.0.weight", WM_RULE_TIMM_VGG_HEAD, 1);
    check_map(timm, "pre_logits.fc1.bias", "classifier.0.bias", WM_RULE_TIMM_VGG_HEAD, 0);
    check_map(timm, "pre_logits.fc2.weight", "classifier.3.weight", WM_RULE_TIMM_VGG_HEAD, 1);
    check_map(timm, "pre_logits.fc2.bias", "classifier.3.bias", WM_RULE_TIMM_VGG_HEAD, 0);
    check_map(timm, "head.fc.weight", "classifier.6.weight", WM_RULE_TIMM_VGG_HEAD, 0);
    check_map(timm, "head.fc.bias", "classifier.6.bias", WM_RULE_TIMM_VGG_HEAD, 0);
    check_map(tv, "pre_logits.fc1.weight", "pre_logits.fc1.weight", WM_RULE_SAME, 0);
    check_map(timm, "features.28.weight", "features.28.weight", WM_RULE_SAME, 0);

    wm_mapping m;
    CHECK(wm_map_name(timm, "pre_logits.fc1.weight", &m) == BL_OK, "map");
    int64_t conv_shape[4] = {4096, 512, 7, 7}, got[BL_MAX_DIMS];
    int got_ndim = 0;
    wm_mapped_shape(&m, 4, conv_shape, &got_ndim, got);
    CHECK(got_ndim == 2 && got[0] == 4096 && got[1] == 25088, "fc1 [4096,512,7,7] → [%lld,%lld]", (long long)got[0],
          (long long)got[1]);
    wm_source s;
    CHECK(wm_source_from_name("timm", &s) == BL_OK && s == WM_SOURCE_TIMM, "--from timm");
    CHECK(wm_source_from_name("caffe", &s) != BL_OK &&
              strstr(bl_last_error(), "--from: unknown source (expected torchvision, timm or keras, got 'caffe')"),
          "--from caffe: %s", bl_last_error());
    char long_name[400];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    CHECK(wm_map_name(tv, long_name, &m) != BL_OK && strstr(bl_last_error(), "tensor name too long"), "long name");
    char buf[64];
    CHECK(strcmp(wm_shape_str(0, conv_shape, buf, sizeof buf), "[]") == 0, "scalar shape string");
    CHECK(wm_fnv1a64_bytes(WM_FNV1A64_INIT, "a", 1) == 0xaf63dc4c8601ec8cull, "FNV-1a 64 of 'a'");
}

/* ---- architecture guess --------------------------------------------------------------------------------------- */

static void guess_model(bl_arch arch, bl_head head) {
    bl_ctx *ctx = NULL;
    bl_model *m = NULL;
    if (bl_ctx_create(bl_kernels_cpu(), &ctx) != BL_OK || bl_model_create(ctx, arch, head, &m) != BL_OK) {
        CHECK(0, "create %s: %s", bl_arch_name(arch), bl_last_error());
        if (ctx) bl_ctx_free(ctx);
        return;
    }
    int n = bl_model_tensor_count(m);
    wm_tensor *v = calloc((size_t)n, sizeof *v);
    for (int i = 0; v && i < n; i++) {
        const bl_tensor *t = bl_model_tensor_at(m, i);
        v[i].name = t->name;
        v[i].ndim = t->ndim;
        for (int d = 0; d < t->ndim; d++) v[i].shape[d] = t->shape[d];
    }
    wm_guess g;
    wm_guess_arch(v ? n : 0, v, &g);
    CHECK(g.known && g.arch == arch, "guess for blasto's own %s: %s", bl_arch_name(arch), g.description);
    free(v);
    bl_model_free(m);
    bl_ctx_free(ctx);
}

/* Synthetic ResNet names with blocks per stage `blocks` (bottleneck), to check the guess of other depths. */
static void guess_resnet_depth(const int *blocks, const char *want) {
    static char names[64][48];
    wm_tensor v[64];
    int n = 0;
    for (int s = 0; s < 4; s++)
        for (int b = 0; b < blocks[s] && n < 64; b++) {
            snprintf(names[n], sizeof names[n], "layer%d.%d.conv%d.weight", s + 1, b, b == 0 ? 1 : 3);
            memset(&v[n], 0, sizeof v[n]);
            v[n].name = names[n];
            v[n].ndim = 4;
            n++;
        }
    /* the guess needs layer1.0.conv1 and layer1.0.conv3 */
    snprintf(names[n], sizeof names[n], "layer1.0.conv3.weight");
    memset(&v[n], 0, sizeof v[n]);
    v[n].name = names[n];
    n++;
    wm_guess g;
    wm_guess_arch(n, v, &g);
    CHECK(!g.known && g.family == BL_ARCH_RESNET50 && strncmp(g.description, want, strlen(want)) == 0,
          "guess %s: %s", want, g.description);
}

static void test_guess(void) {
    guess_model(BL_ARCH_RESNET50, BL_HEAD_IMAGENET);
    guess_model(BL_ARCH_RESNET50_KERAS, BL_HEAD_IMAGENET);
    guess_model(BL_ARCH_DENSENET121, BL_HEAD_IMAGENET);
    guess_model(BL_ARCH_VGG16, BL_HEAD_NONE);
    guess_resnet_depth((const int[]){3, 4, 23, 3}, "resnet101 (bottleneck blocks 3/4/23/3)");
    guess_resnet_depth((const int[]){3, 8, 36, 3}, "resnet152");
    wm_tensor bn_vgg[3] = {{"features.0.weight", 4, {64, 3, 3, 3}}, {"features.1.running_mean", 1, {64}},
                           {"features.3.weight", 4, {64, 64, 3, 3}}};
    wm_guess g;
    wm_guess_arch(3, bn_vgg, &g);
    CHECK(!g.known && g.family == BL_ARCH_VGG16 && strstr(g.description, "_bn"), "vgg with BN: %s", g.description);
    wm_tensor other[1] = {{"encoder.weight", 2, {4, 4}}};
    wm_guess_arch(1, other, &g);
    CHECK(!g.known && g.family == -1 && strstr(g.description, "no known architecture"), "unknown: %s",
          g.description);
}

/* ---- files ---------------------------------------------------------------------------------------------------- */

/* Save a fresh model (deterministic weights) to path. */
static int save_model(bl_arch arch, uint64_t seed, const char *path) {
    bl_ctx *ctx = NULL;
    bl_model *m = NULL;
    int ok = bl_ctx_create(bl_kernels_cpu(), &ctx) == BL_OK && bl_model_create(ctx, arch, BL_HEAD_IMAGENET, &m) == BL_OK;
    if (ok) {
        bl_model_fill_deterministic(m, seed);
        ok = bl_model_save(m, path, 0, NULL, NULL) == BL_OK;
    }
    CHECK(ok, "save %s: %s", bl_arch_name(arch), bl_last_error());
    if (m) bl_model_free(m);
    if (ctx) bl_ctx_free(ctx);
    return ok;
}

/* What to change while copying a good file (every field NULL/0: an exact copy). */
typedef struct surgery {
    const char *drop, *drop2;  /* leave these tensors out */
    const char *extra;         /* add an F32 [3] tensor of this name */
    const char *fewer_rows;    /* write this tensor with its first dimension minus one */
    const char *as_i64;        /* write this tensor as I64 (values truncated) */
    const char *as_bf16;       /* write this tensor as BF16 (top 16 bits of each float) */
    const char *nan_in;        /* element 3 of this tensor becomes NaN */
    const char *negative_in;   /* element 3 of this tensor becomes -0.5 */
    const char *duplicate_old; /* also write this DenseNet tensor under its old key (norm1 → norm.1) */
    int old_keys;              /* write every DenseNet tensor under its old key */
    int add_counters;          /* add an I64 `<module>.num_batches_tracked` next to every running_var */
    const char *meta_arch;     /* __metadata__ arch (NULL: the source's) */
    const char *exporter;      /* add __metadata__ exporter (NULL: none) */
    int timm_vgg;              /* classifier.0/3/6 → pre_logits.fc1 [O,512,7,7] / pre_logits.fc2 [O,I,1,1] / head.fc */
} surgery;

/* "…denselayerN.norm1.weight" → "…denselayerN.norm.1.weight" (the inverse of torchvision's rename); 0 if n/a. */
static int old_key(const char *name, char *out, size_t size) {
    const char *p = strstr(name, "denselayer");
    if (!p) return 0;
    p = strchr(p, '.');
    if (!p || !(strncmp(p, ".norm", 5) == 0 || strncmp(p, ".conv", 5) == 0) || (p[5] != '1' && p[5] != '2'))
        return 0;
    size_t head = (size_t)(p - name) + 5;
    snprintf(out, size, "%.*s.%s", (int)head, name, name + head);
    return 1;
}

/* timm's VGG names and shapes for torchvision's classifier.0/3/6 (timm/models/vgg.py `_filter_fn`). */
static void timm_vgg_key(const char *name, char *out, size_t size, int *ndim, int64_t *shape) {
    if (strncmp(name, "classifier.0.", 13) == 0) snprintf(out, size, "pre_logits.fc1.%s", name + 13);
    if (strncmp(name, "classifier.3.", 13) == 0) snprintf(out, size, "pre_logits.fc2.%s", name + 13);
    if (strncmp(name, "classifier.6.", 13) == 0) snprintf(out, size, "head.fc.%s", name + 13);
    if (strcmp(name, "classifier.0.weight") == 0) { /* [4096,25088] → [4096,512,7,7] */
        *ndim = 4;
        shape[1] = 512;
        shape[2] = shape[3] = 7;
    }
    if (strcmp(name, "classifier.3.weight") == 0) { /* [4096,4096] → [4096,4096,1,1] */
        *ndim = 4;
        shape[2] = shape[3] = 1;
    }
}

static int write_variant(const char *src_path, const char *path, const surgery *s) {
    bl_safetensors *src = NULL;
    bl_st_writer *w = NULL;
    if (bl_safetensors_open(src_path, &src) != BL_OK || bl_st_writer_create(&w) != BL_OK) {
        CHECK(0, "surgery on %s: %s", src_path, bl_last_error());
        return 0;
    }
    void *owned[4096];
    int n_owned = 0, ok = 1;
    for (int i = 0; ok && i < bl_safetensors_metadata_count(src); i++) {
        const char *k, *v;
        bl_safetensors_metadata_at(src, i, &k, &v);
        ok = bl_st_writer_add_metadata(w, k, strcmp(k, "arch") == 0 && s->meta_arch ? s->meta_arch : v) == BL_OK;
    }
    if (ok && s->exporter) ok = bl_st_writer_add_metadata(w, "exporter", s->exporter) == BL_OK;
    static const int64_t three[1] = {3};
    static const float extra_values[3] = {1, 2, 3};
    if (ok && s->extra) ok = bl_st_writer_add_raw(w, s->extra, BL_DTYPE_F32, 1, three, extra_values) == BL_OK;
    for (int i = 0; ok && i < bl_safetensors_count(src); i++) {
        const bl_st_entry *e = bl_safetensors_entry(src, i);
        if ((s->drop && strcmp(e->name, s->drop) == 0) || (s->drop2 && strcmp(e->name, s->drop2) == 0)) continue;
        char name[256];
        snprintf(name, sizeof name, "%s", e->name);
        if (s->old_keys) old_key(e->name, name, sizeof name);
        int64_t shape[BL_MAX_DIMS];
        memcpy(shape, e->shape, sizeof shape);
        bl_dtype dtype = e->dtype;
        const void *data = e->data;
        int edited = (s->nan_in && strcmp(e->name, s->nan_in) == 0) ||
                     (s->negative_in && strcmp(e->name, s->negative_in) == 0) || (s->as_i64 && strcmp(e->name, s->as_i64) == 0) ||
                     (s->as_bf16 && strcmp(e->name, s->as_bf16) == 0);
        float *f = NULL; /* an aligned float copy (sources are F32) of a tensor whose values change */
        if (edited) {
            f = malloc((size_t)e->numel * sizeof(float) + 1);
            if (!f) break;
            memcpy(f, e->data, (size_t)e->numel * sizeof(float));
            owned[n_owned++] = f;
        }
        if (s->fewer_rows && strcmp(e->name, s->fewer_rows) == 0) shape[0]--;
        int ndim = e->ndim;
        if (s->timm_vgg) timm_vgg_key(e->name, name, sizeof name, &ndim, shape);
        if (s->nan_in && strcmp(e->name, s->nan_in) == 0) {
            f[3] = NAN;
            data = f;
        }
        if (s->negative_in && strcmp(e->name, s->negative_in) == 0) {
            f[3] = -0.5f;
            data = f;
        }
        if (s->as_i64 && strcmp(e->name, s->as_i64) == 0) {
            int64_t *v = malloc((size_t)e->numel * sizeof *v);
            for (int64_t k = 0; k < e->numel; k++) v[k] = (int64_t)f[k];
            owned[n_owned++] = v;
            data = v;
            dtype = BL_DTYPE_I64;
        }
        if (s->as_bf16 && strcmp(e->name, s->as_bf16) == 0) {
            uint16_t *v = malloc((size_t)e->numel * sizeof *v);
            for (int64_t k = 0; k < e->numel; k++) {
                uint32_t bits;
                memcpy(&bits, &f[k], 4);
                v[k] = (uint16_t)(bits >> 16);
            }
            owned[n_owned++] = v;
            data = v;
            dtype = BL_DTYPE_BF16;
        }
        ok = bl_st_writer_add_raw(w, name, dtype, ndim, shape, data) == BL_OK;
        char old[256];
        if (ok && s->duplicate_old && strcmp(e->name, s->duplicate_old) == 0 && old_key(e->name, old, sizeof old))
            ok = bl_st_writer_add_raw(w, old, e->dtype, e->ndim, e->shape, e->data) == BL_OK;
        size_t len = strlen(e->name);
        if (ok && s->add_counters && len > 12 && strcmp(e->name + len - 12, ".running_var") == 0) {
            static const int64_t counter = 12345;
            char counter_name[300];
            snprintf(counter_name, sizeof counter_name, "%.*s.num_batches_tracked", (int)(strlen(name) - 12), name);
            ok = bl_st_writer_add_raw(w, counter_name, BL_DTYPE_I64, 0, NULL, &counter) == BL_OK;
        }
        if (n_owned > 4090) ok = 0;
    }
    if (ok) ok = bl_st_writer_save(w, path) == BL_OK;
    CHECK(ok, "write variant %s: %s", path, bl_last_error());
    for (int i = 0; i < n_owned; i++) free(owned[i]);
    bl_st_writer_free(w);
    bl_safetensors_close(src);
    return ok;
}

/* Convert IN (a file in dir) with `options`; expect exit 1, `want` in the one stderr line, no stdout, no OUT. */
static void expect_refused(const char *in_name, const char *options, const char *want) {
    char args[1024], out[4096], err[4096], in[256], out_path[256];
    snprintf(in, sizeof in, "%s/%s", dir, in_name);
    snprintf(out_path, sizeof out_path, "%s/refused_out.safetensors", dir);
    snprintf(args, sizeof args, "convert %s %s %s --quiet", in, out_path, options);
    int rc = run_cli(args, out, sizeof out, err, sizeof err);
    char prefix[300];
    snprintf(prefix, sizeof prefix, "blasto convert: %s: ", in);
    const char *newline = strchr(err, '\n');
    CHECK(rc == 1 && strncmp(err, prefix, strlen(prefix)) == 0 && strstr(err, want) && newline && newline[1] == '\0' &&
              out[0] == '\0',
          "%s %s: exit %d (want 1), stderr:\n%s\nwant one line with: %s\nstdout: %s", in_name, options, rc, err, want,
          out);
    CHECK(!file_exists(out_path), "%s: OUT must not be written on failure", in_name);
}

static void test_refusals(const char *good) {
    struct {
        const char *file;
        surgery s;
    } variants[] = {
        {"missing.safetensors", {.drop = "features.denseblock2.denselayer3.conv1.weight"}},
        {"extra.safetensors", {.extra = "features.extra.weight"}},
        {"shape.safetensors", {.fewer_rows = "classifier.weight"}},
        {"dtype.safetensors", {.as_i64 = "features.norm0.running_var"}},
        {"meta.safetensors", {.meta_arch = "vgg16"}},
        {"nan.safetensors", {.nan_in = "features.conv0.weight"}},
        {"negvar.safetensors", {.negative_in = "features.norm0.running_var"}},
        {"keras_export.safetensors", {.exporter = "tools/export_keras_h5.py"}},
        {"notop.safetensors", {.drop = "classifier.weight", .drop2 = "classifier.bias"}},
        {"dup.safetensors", {.duplicate_old = "features.denseblock1.denselayer1.norm1.weight"}},
        {"several.safetensors", {.drop = "features.norm5.bias", .extra = "fc.weight", .fewer_rows = "classifier.bias"}},
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", dir, variants[i].file);
        write_variant(good, path, &variants[i].s);
    }
    const char *tv = "--from torchvision";
    expect_refused("missing.safetensors", tv, "features.denseblock2.denselayer3.conv1.weight: missing (expected F32 "
                   "[128,192,1,1] for densenet121, got no such tensor)");
    expect_refused("extra.safetensors", tv, "features.extra.weight: unexpected tensor (expected only the 606 tensors "
                   "of densenet121, got this one too)");
    expect_refused("shape.safetensors", tv, "classifier.weight: wrong shape (expected [1000,1024], got [999,1024])");
    expect_refused("dtype.safetensors", tv, "features.norm0.running_var: wrong dtype (expected a float type F32, "
                   "F16, BF16 or F64, got I64)");
    expect_refused("good.safetensors", "--from torchvision --arch resnet50",
                   "architecture mismatch (expected resnet50 from --arch, got tensors that look like densenet121 "
                   "(dense blocks 6/12/24/16, growth 32))");
    expect_refused("resnet50.safetensors", "--from torchvision --arch densenet121",
                   "architecture mismatch (expected densenet121 from --arch, got tensors that look like resnet50 "
                   "(torchvision v1.5: bottleneck blocks 3/4/6/3, convolutions without bias))");
    /* the v1/v1.5 trap: same shapes but for the conv biases, refused both ways */
    expect_refused("resnet50.safetensors", "--from torchvision --arch resnet50-keras",
                   "architecture mismatch (expected resnet50-keras from --arch, got tensors that look like resnet50 "
                   "(torchvision v1.5");
    expect_refused("resnet50.safetensors", "--from keras",
                   "architecture mismatch (expected resnet50-keras for --from keras");
    expect_refused("meta.safetensors", tv, "__metadata__ arch: mismatch (expected densenet121, got vgg16)");
    expect_refused("nan.safetensors", tv, "features.conv0.weight: element 3 is NaN (expected finite weights");
    /* provenance: a Keras export (its names already torchvision-style) is not converted as torchvision */
    expect_refused("keras_export.safetensors", tv, "__metadata__.exporter: written by tools/export_keras_h5.py, a Keras "
                   "export (expected --from keras, got --from torchvision)");
    /* a negative running variance would make 1/sqrt(var + eps) NaN, which the ReLU after it turns into 0: refused by
     * the converter and by every model loader */
    expect_refused("negvar.safetensors", tv, "'features.norm0.running_var': element 3 is -0.5 (expected a variance: "
                   "finite and >= 0)");
    {
        char negvar[256];
        snprintf(negvar, sizeof negvar, "%s/negvar.safetensors", dir);
        bl_ctx *ctx = NULL;
        bl_model *m = NULL;
        bl_safetensors *st = NULL;
        int ok = bl_ctx_create(bl_kernels_ref(), &ctx) == BL_OK &&
                 bl_model_create(ctx, BL_ARCH_DENSENET121, BL_HEAD_IMAGENET, &m) == BL_OK &&
                 bl_safetensors_open(negvar, &st) == BL_OK;
        CHECK(ok && bl_model_load(m, st) == BL_ERR_NUMERIC &&
                  strstr(bl_last_error(), "'features.norm0.running_var': element 3 is -0.5 (expected a variance"),
              "bl_model_load refuses a negative running variance: %s", bl_last_error());
        bl_safetensors_close(st);
        if (m) bl_model_free(m);
        if (ctx) bl_ctx_free(ctx);
    }
    expect_refused("notop.safetensors", tv, "classifier.weight: missing (expected F32 [1000,1024] for densenet121, "
                   "got no such tensor) — IN has no ImageNet classifier");
    expect_refused("dup.safetensors", tv, "duplicate after renaming (expected one tensor named "
                   "features.denseblock1.denselayer1.norm1.weight, got ");
    expect_refused("several.safetensors", tv, "features.norm5.bias: missing (expected F32 [1024] for densenet121, got "
                   "no such tensor) [3 problems in all: 1 missing, 1 unexpected, 1 wrong shape, 0 wrong dtype");
    expect_refused("no_such_file.safetensors", tv, "no_such_file.safetensors");

    /* truncated: the first 4 KiB of a good file */
    char path[256], args[600], out[4096], err[4096];
    snprintf(path, sizeof path, "%s/truncated.safetensors", dir);
    FILE *in = fopen(good, "rb"), *o = fopen(path, "wb");
    char block[4096];
    size_t k = in ? fread(block, 1, sizeof block, in) : 0;
    if (o) fwrite(block, 1, k, o);
    if (in) fclose(in);
    if (o) fclose(o);
    expect_refused("truncated.safetensors", tv, "truncated.safetensors");

    /* an unrecognisable file without --arch */
    snprintf(path, sizeof path, "%s/other.safetensors", dir);
    bl_st_writer *w = NULL;
    static const float two[2] = {1, 2};
    static const int64_t shape2[1] = {2};
    if (bl_st_writer_create(&w) == BL_OK && bl_st_writer_add_raw(w, "encoder.weight", BL_DTYPE_F32, 1, shape2, two) ==
                                                BL_OK)
        bl_st_writer_save(w, path);
    bl_st_writer_free(w);
    expect_refused("other.safetensors", tv, "architecture: cannot infer one blasto builds (expected vgg16, resnet50, "
                   "resnet50-keras or densenet121, got tensors that look like no known architecture");

    /* usage errors: exit 2 */
    snprintf(args, sizeof args, "convert %s %s/x.safetensors", good, dir);
    CHECK(run_cli(args, out, sizeof out, err, sizeof err) == 2 && strstr(err, "--from: missing"), "no --from: %s", err);
    snprintf(args, sizeof args, "convert %s %s/x.safetensors --from torchvision --arch resnet18", good, dir);
    CHECK(run_cli(args, out, sizeof out, err, sizeof err) == 2 && strstr(err, "--arch"), "bad --arch: %s", err);
    snprintf(args, sizeof args, "convert %s --from torchvision", good);
    CHECK(run_cli(args, out, sizeof out, err, sizeof err) == 2 && strstr(err, "expected IN.safetensors OUT"),
          "one path: %s", err);
    CHECK(run_cli("convert --help", out, sizeof out, err, sizeof err) == 0 && strstr(out, "usage: blasto convert"),
          "convert --help");
    CHECK(run_cli("inspect --help", out, sizeof out, err, sizeof err) == 0 && strstr(out, "usage: blasto inspect"),
          "inspect --help");
}

/* A good file in awkward form — old DenseNet keys, I64 num_batches_tracked, one BF16 tensor — converts, inferring
 * the architecture, to exactly the original bytes (the BF16 tensor: exactly its truncated values). */
static void test_good_conversion(const char *good) {
    char variant[256], converted[256], args[800], out[8192], err[8192];
    snprintf(variant, sizeof variant, "%s/awkward.safetensors", dir);
    snprintf(converted, sizeof converted, "%s/converted.safetensors", dir);
    surgery s = {.old_keys = 1, .add_counters = 1, .as_bf16 = "features.conv0.weight"};
    if (!write_variant(good, variant, &s)) return;
    snprintf(args, sizeof args, "convert %s %s --from torchvision", variant, converted);
    int rc = run_cli(args, out, sizeof out, err, sizeof err);
    CHECK(rc == 0 && strstr(out, "arch:       densenet121 (inferred from the tensor names: densenet121") &&
              strstr(out, "606 written; 580 renamed, 0 reshaped, 121 num_batches_tracked dropped") &&
              strstr(out, "parameters: 7978856 (+ 83648 in BatchNorm running statistics)") &&
              strstr(err, "inferred architecture: densenet121"),
          "good conversion: exit %d\nstdout:\n%s\nstderr:\n%s", rc, out, err);
    bl_safetensors *a = NULL, *b = NULL;
    if (bl_safetensors_open(good, &a) != BL_OK || bl_safetensors_open(converted, &b) != BL_OK) {
        CHECK(0, "reopen: %s", bl_last_error());
        if (a) bl_safetensors_close(a);
        return;
    }
    CHECK(bl_safetensors_count(b) == 606, "converted count %d", bl_safetensors_count(b));
    int mismatches = 0;
    for (int i = 0; i < bl_safetensors_count(a); i++) {
        const bl_st_entry *e = bl_safetensors_entry(a, i), *f = bl_safetensors_find(b, e->name);
        if (!f || f->dtype != BL_DTYPE_F32 || f->numel != e->numel) {
            mismatches++;
            continue;
        }
        if (strcmp(e->name, "features.conv0.weight") == 0) {
            for (int64_t k = 0; k < e->numel; k++) {
                uint32_t bits, got;
                memcpy(&bits, e->data + 4 * k, 4);
                memcpy(&got, f->data + 4 * k, 4);
                mismatches += got != (bits & 0xffff0000u);
            }
        } else {
            mismatches += memcmp(e->data, f->data, (size_t)(e->end - e->begin)) != 0;
        }
    }
    CHECK(mismatches == 0, "converted tensors equal the original bytes (%d mismatches)", mismatches);
    const char *want_meta[][2] = {{"arch", "densenet121"}, {"source", "torchvision"}, {"converter_version", "1"},
                                  {"source_file", "awkward.safetensors"}};
    for (int i = 0; i < 4; i++) {
        const char *v = bl_safetensors_metadata(b, want_meta[i][0]);
        CHECK(v && strcmp(v, want_meta[i][1]) == 0, "metadata %s = %s (want %s)", want_meta[i][0], v ? v : "(none)",
              want_meta[i][1]);
    }

    /* inspect: the table row of features.norm0.running_var and the final line; --json the same numbers */
    const bl_st_entry *rv = bl_safetensors_find(b, "features.norm0.running_var");
    double lo = INFINITY, hi = -INFINITY, sum = 0;
    for (int64_t k = 0; rv && k < rv->numel; k++) {
        float v;
        memcpy(&v, rv->data + 4 * k, 4);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        sum += v;
    }
    uint64_t checksum = rv ? wm_fnv1a64_bytes(WM_FNV1A64_INIT, rv->data, (size_t)(rv->end - rv->begin)) : 0;
    static char big[1 << 18];
    snprintf(args, sizeof args, "inspect %s", converted);
    rc = run_cli(args, big, sizeof big, err, sizeof err);
    char want_row[160], hex[24];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)checksum);
    snprintf(want_row, sizeof want_row, "%.7g", lo);
    const char *row = strstr(big, "\nfeatures.norm0.running_var ");
    const char *row_end = row ? strchr(row + 1, '\n') : NULL;
    CHECK(rc == 0 && row && row_end && strstr(row, " F32 ") < row_end && strstr(row, "[64]") < row_end &&
              strstr(row, want_row) < row_end && strstr(row, hex) < row_end,
          "inspect row (min %s, checksum %s):\n%.300s", want_row, hex, row ? row : big);
    CHECK(strstr(big, "606 tensors, 8062504 elements, 32250016 bytes of data; 7978856 parameters") &&
              strstr(big, "  source: torchvision\n"),
          "inspect final line and metadata:\n%s", big + (strlen(big) > 600 ? strlen(big) - 600 : 0));
    snprintf(args, sizeof args, "inspect %s --json", converted);
    rc = run_cli(args, big, sizeof big, err, sizeof err);
    cJSON *root = cJSON_Parse(big);
    const cJSON *tensors = cJSON_GetObjectItem(root, "tensors"), *found = NULL, *t;
    cJSON_ArrayForEach(t, tensors) {
        const cJSON *name = cJSON_GetObjectItem(t, "name");
        if (cJSON_IsString(name) && strcmp(name->valuestring, "features.norm0.running_var") == 0) found = t;
    }
    double mean = rv ? sum / (double)rv->numel : 0;
    CHECK(rc == 0 && root && cJSON_GetObjectItem(root, "parameters") &&
              cJSON_GetObjectItem(root, "parameters")->valuedouble == 7978856 && found &&
              cJSON_GetObjectItem(found, "min")->valuedouble == lo &&
              cJSON_GetObjectItem(found, "max")->valuedouble == hi &&
              fabs(cJSON_GetObjectItem(found, "mean")->valuedouble - mean) <= 1e-15 * fabs(mean) &&
              strcmp(cJSON_GetObjectItem(found, "fnv1a64")->valuestring, hex) == 0,
          "inspect --json numbers");
    cJSON_Delete(root);
    /* inspect of the awkward file shows the BF16 and I64 tensors */
    snprintf(args, sizeof args, "inspect %s", variant);
    rc = run_cli(args, big, sizeof big, err, sizeof err);
    CHECK(rc == 0 && strstr(big, "features.conv0.weight ") && strstr(big, " BF16 ") &&
              strstr(big, "features.norm0.num_batches_tracked ") && strstr(big, "12345"),
          "inspect shows BF16 and I64 tensors");
    bl_safetensors_close(a);
    bl_safetensors_close(b);
}

/* Every tensor of `original` is in `converted` with the same bytes, and nothing else is. */
static void check_same_bytes(const char *what, const char *original, const char *converted) {
    bl_safetensors *a = NULL, *b = NULL;
    if (bl_safetensors_open(original, &a) != BL_OK || bl_safetensors_open(converted, &b) != BL_OK) {
        CHECK(0, "%s: %s", what, bl_last_error());
        if (a) bl_safetensors_close(a);
        return;
    }
    int equal = 0;
    for (int i = 0; i < bl_safetensors_count(a); i++) {
        const bl_st_entry *e = bl_safetensors_entry(a, i), *f = bl_safetensors_find(b, e->name);
        equal += f && f->numel == e->numel && f->ndim == e->ndim && f->dtype == e->dtype &&
                 memcmp(f->shape, e->shape, sizeof(int64_t) * (size_t)e->ndim) == 0 &&
                 memcmp(f->data, e->data, (size_t)(e->end - e->begin)) == 0;
    }
    CHECK(equal == bl_safetensors_count(a) && bl_safetensors_count(b) == equal, "%s: %d of %d tensors equal", what,
          equal, bl_safetensors_count(a));
    bl_safetensors_close(a);
    bl_safetensors_close(b);
}

/* VGG16 in timm's form converts with --from timm to the same bytes; --from torchvision says to use --from timm. */
static void test_timm_vgg(void) {
    char vgg[256], timm[256], converted[256], args[900], out[4096], err[4096];
    snprintf(vgg, sizeof vgg, "%s/vgg16.safetensors", dir);
    snprintf(timm, sizeof timm, "%s/vgg16_timm.safetensors", dir);
    snprintf(converted, sizeof converted, "%s/vgg16_converted.safetensors", dir);
    surgery s = {.timm_vgg = 1};
    if (!save_model(BL_ARCH_VGG16, 8, vgg) || !write_variant(vgg, timm, &s)) return;
    expect_refused("vgg16_timm.safetensors", "--from torchvision", "classifier.0.weight: missing (expected F32 "
                   "[4096,25088] for vgg16, got no such tensor) — IN has timm's VGG head names (pre_logits.*, "
                   "head.fc.*): use --from timm");
    snprintf(args, sizeof args, "convert %s %s --from timm", timm, converted);
    int rc = run_cli(args, out, sizeof out, err, sizeof err);
    CHECK(rc == 0 && strstr(out, "arch:       vgg16 (inferred") && strstr(out, "source:     timm") &&
              strstr(out, "32 written; 6 renamed, 2 reshaped, 0 num_batches_tracked dropped") &&
              strstr(out, "parameters: 138357544 (+ 0"),
          "timm vgg16: exit %d\n%s%s", rc, out, err);
    remove(timm);
    if (rc == 0) check_same_bytes("vgg16 through timm names", vgg, converted);
    remove(vgg);
    remove(converted);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/blasto_weights_bad_XXXXXX");
    if (!mkdtemp(dir)) return test_skip("cannot create a temporary directory");
    test_name_rules();
    test_guess();
    char good[256], resnet[256];
    snprintf(good, sizeof good, "%s/good.safetensors", dir);
    snprintf(resnet, sizeof resnet, "%s/resnet50.safetensors", dir);
    if (save_model(BL_ARCH_DENSENET121, 5, good) && save_model(BL_ARCH_RESNET50, 6, resnet)) {
        test_refusals(good);
        test_good_conversion(good);
    }
    test_timm_vgg();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return test_summary("test_weights_bad");
}
