/* test_keras_files.c — Keras weights files as Keras writes them, through the documented path, against Keras' own
 * logits:
 *   tests/golden/keras_files.py writes ResNet50, DenseNet121 and VGG16 in every layout blasto reads (Keras 2 .h5,
 *   the same with a user's own layer names, Keras 1 names as in the published VGG16 file, Keras 3 .h5, Keras 3
 *   native .weights.h5) from blasto's deterministic weights; its loader-view digest must equal the one frozen by
 *   tests/golden/gen_keras.py, which checked it against the file Keras itself writes (and that Keras loads ours);
 *   → tools/export_keras_h5.py (layers placed in order, as Keras loads them) → blasto convert --from keras
 *   → every converted tensor bit for bit equal to bl_model_fill_deterministic's (so every transpose is right), the
 *     metadata naming Keras as the source and the exporter's provenance (origin file, its md5, layout)
 *   → logits at 224×224, batch 2, within 1e-4 (max|blasto − Keras| / max|Keras|, as the torchvision goldens) of the
 *     logits frozen from Keras 2.15 and from Keras 3 (tests/golden/keras_logits.safetensors). The converted tensors
 *     of every layout are identical bit for bit, so the logits are computed once per architecture.
 * Refusals: a ResNet50 file missing a layer, with an extra layer, or with a transposed kernel (Keras 2 layout), and a
 * Keras 3 native file missing a batch normalisation, each exits non-zero, writes nothing, and names the layer; a
 * file without the classifier (as the published `_notop` files) is refused saying so.
 * Needs Debian's /usr/bin/python3 with python3-h5py and python3-numpy (the test command installs them), else
 * "skipped:" (exit 77). No TensorFlow at test time. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/autograd.h"
#include "core/kernels.h"
#include "core/safetensors.h"
#include "harness.h"
#include "models/models.h"
#include "support/test_support.h"

#define PYTHON "/usr/bin/python3"
#define FILES_SCRIPT BLASTO_TEST_DIR "/golden/keras_files.py"
#define EXPORT_SCRIPT BLASTO_TEST_DIR "/../tools/export_keras_h5.py"
#define GOLDEN BLASTO_TEST_DIR "/golden/keras_logits.safetensors"
#define LOGITS_TOLERANCE 1e-4
#define BATCH 2
#define SIZE 224

static char dir[64];
static const char *const LAYOUTS[] = {"keras2", "keras2-renamed", "keras1", "keras3-h5", "keras3"};

/* Run a shell command; its stdout and stderr, trailing newlines cut, into log (may be NULL). Returns the exit code. */
static int run(const char *command, char *log, size_t size) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "(exec 1>&2; %s)", command); /* stdout joins stderr, which test_run_shell keeps */
    int rc = test_run_shell(cmd, dir, log, size);
    for (char *end = log ? log + strlen(log) : NULL; end && end > log && end[-1] == '\n';) *--end = 0;
    return rc;
}

static int exists(const char *name) {
    char path[160];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

/* Every tensor of the converted file equals the deterministic fill of the same name, bit for bit, and the file
 * has no other tensors. Returns the number of tensors that differ or are missing. */
static int compare_with_fill(const char *what, const bl_ctx *fill_ctx, const bl_safetensors *st) {
    int bad = 0, count = bl_param_count(fill_ctx), stored = 0;
    for (int i = 0; i < count; i++) {
        const bl_tensor *t = bl_param_at(fill_ctx, i);
        const bl_st_entry *e = bl_safetensors_find(st, t->name);
        if (!e || e->numel != t->numel || memcmp(e->data, t->data, (size_t)t->numel * sizeof(float)) != 0) {
            if (bad++ < 3) CHECK(0, "%s: %s %s", what, t->name, e ? "differs from the deterministic fill" : "missing");
            continue;
        }
        stored++;
    }
    int64_t in_file = bl_safetensors_count(st);
    CHECK(bad == 0 && in_file == stored, "%s: %d of %d tensors equal to the deterministic fill bit for bit; the file "
          "has %lld", what, stored, count, (long long)in_file);
    return bad;
}

static void check_logits(const char *arch, bl_ctx *ctx, bl_model *model, const bl_safetensors *golden) {
    float *x = malloc((size_t)BATCH * 3 * SIZE * SIZE * sizeof(float));
    if (!x) return;
    uint64_t seed = strtoull(bl_safetensors_metadata(golden, "seed"), NULL, 10);
    test_fill_uniform(x, (int64_t)BATCH * 3 * SIZE * SIZE, seed, 0, -2.0f, 2.0f);
    bl_set_training(ctx, 0);
    bl_set_grad_enabled(ctx, 0);
    bl_tensor *input = bl_tensor_from(ctx, 4, (int[]){BATCH, 3, SIZE, SIZE}, x);
    bl_run run_ = {.ctx = ctx, .bn_mode = BL_BN_RUNNING};
    bl_tensor *logits = input ? bl_model_forward(model, &run_, input) : NULL;
    CHECK(logits && bl_ctx_status(ctx) == BL_OK, "%s: forward: %s", arch, bl_ctx_error(ctx));
    for (int major = 2; logits && major <= 3; major++) {
        char name[64];
        snprintf(name, sizeof name, "%s/keras%d", arch, major);
        float want[BATCH * 1000];
        if (logits->numel != BATCH * 1000 ||
            bl_safetensors_read_f32(golden, name, 2, (int[]){BATCH, 1000}, logits->numel, want) != BL_OK) {
            CHECK(0, "%s: the golden file has no %s [%d, 1000]: %s", arch, name, BATCH, bl_last_error());
            continue;
        }
        double max_want = 0, max_err = 0;
        for (int64_t i = 0; i < logits->numel; i++) {
            max_want = fmax(max_want, fabs((double)want[i]));
            max_err = fmax(max_err, fabs((double)logits->data[i] - (double)want[i]));
        }
        double err = max_err / max_want;
        CHECK(err <= LOGITS_TOLERANCE, "%s: logits against Keras %d: max|blasto - Keras| / max|Keras| = %.3g > %.0e",
              arch, major, err, LOGITS_TOLERANCE);
        printf("  logits against %-26s err %.2e (tolerance %.0e; max|Keras| %.4g)\n",
               bl_safetensors_metadata(golden, major == 2 ? "keras2" : "keras3"), err, LOGITS_TOLERANCE, max_want);
    }
    bl_step_end(ctx);
    free(x);
}

/* One layout of one architecture: write, digest, export, convert, compare with the fill; 1 when it converted. */
static int one_layout(const char *arch, const char *layout, const bl_safetensors *golden, const bl_ctx *fill_ctx) {
    char key[96], cmd[2048], log[4096];
    snprintf(key, sizeof key, "digest/%s/%s", arch, layout);
    const char *digest = bl_safetensors_metadata(golden, key);
    if (!digest) return 0; /* a layout the architecture does not come in (Keras 1 names: VGG16 only) */
    snprintf(cmd, sizeof cmd, "cd %s && %s %s --arch %s --layout %s k.h5", dir, PYTHON, FILES_SCRIPT, arch, layout);
    int rc = run(cmd, log, sizeof log);
    CHECK(rc == 0 && strcmp(log, digest) == 0, "%s %s: keras_files.py wrote a file whose loader view is %s, "
          "Keras' is %s (exit %d)", arch, layout, log, digest, rc);
    snprintf(cmd, sizeof cmd, "cd %s && %s %s --arch %s k.h5 e.safetensors && rm k.h5 && %s convert e.safetensors "
             "c.safetensors --from keras --quiet", dir, PYTHON, EXPORT_SCRIPT, arch, BLASTO_CLI);
    rc = run(cmd, log, sizeof log);
    CHECK(rc == 0, "%s %s: export + convert: exit %d: %s", arch, layout, rc, log);
    if (rc != 0) return 0;
    char path[128], what[96];
    snprintf(path, sizeof path, "%s/c.safetensors", dir);
    snprintf(what, sizeof what, "%s %s", arch, layout);
    bl_safetensors *st = NULL;
    if (bl_safetensors_open(path, &st) != BL_OK) {
        CHECK(0, "%s: %s", what, bl_last_error());
        return 0;
    }
    const char *source = bl_safetensors_metadata(st, "source"), *origin = bl_safetensors_metadata(st, "origin");
    const char *md5 = bl_safetensors_metadata(st, "origin_md5"), *kl = bl_safetensors_metadata(st, "keras_layout");
    CHECK(source && strcmp(source, "keras") == 0, "%s: __metadata__ source %s, expected keras", what,
          source ? source : "(none)");
    CHECK(origin && strcmp(origin, "k.h5") == 0 && md5 && strlen(md5) == 32 && kl,
          "%s: the exporter's provenance (origin, origin_md5, keras_layout) is carried into the converted file", what);
    int bad = compare_with_fill(what, fill_ctx, st);
    printf("  %-15s loader view = Keras'; converted (%s): %s\n", layout, kl ? kl : "?",
           bad ? "DIFFERS" : "every tensor = the deterministic fill, bit for bit");
    bl_safetensors_close(st);
    return bad == 0;
}

static void one_arch(const char *arch, const char *blasto_arch, const bl_safetensors *golden) {
    bl_ctx *ctx = NULL;
    bl_model *model = NULL;
    bl_arch a;
    uint64_t seed = strtoull(bl_safetensors_metadata(golden, "seed"), NULL, 10);
    if (bl_arch_from_name(blasto_arch, &a) != BL_OK || bl_ctx_create(bl_kernels_cpu(), &ctx) != BL_OK ||
        bl_model_create(ctx, a, BL_HEAD_IMAGENET, &model) != BL_OK || bl_model_fill_deterministic(model, seed)) {
        CHECK(0, "%s: cannot build: %s", blasto_arch, bl_last_error());
        goto done;
    }
    printf("%s (blasto %s):\n", arch, blasto_arch);
    int converted = 0;
    for (size_t l = 0; l < sizeof LAYOUTS / sizeof *LAYOUTS; l++) converted += one_layout(arch, LAYOUTS[l], golden, ctx);
    CHECK(converted >= 4, "%s: %d layouts converted to the deterministic weights (expected at least 4)", arch, converted);
    /* the last converted file goes through bl_model_load: its logits are the ones every layout gives */
    char path[128];
    snprintf(path, sizeof path, "%s/c.safetensors", dir);
    bl_safetensors *st = NULL;
    if (converted && bl_safetensors_open(path, &st) == BL_OK) {
        CHECK(bl_model_load(model, st) == BL_OK, "%s: bl_model_load: %s", arch, bl_last_error());
        bl_safetensors_close(st);
        check_logits(arch, ctx, model, golden);
    }
    snprintf(path, sizeof path, "cd %s && rm -f c.safetensors e.safetensors k.h5", dir);
    if (run(path, NULL, 0) != 0) fprintf(stderr, "could not clean up\n");
done:
    bl_model_free(model);
    bl_ctx_free(ctx);
}

/* A faulty ResNet50 file: the exporter exits non-zero, writes nothing, and its one line names `layer` and says
 * `says`. */
static void refusal(const char *layout, const char *fault, const char *layer, const char *says) {
    char cmd[2048], log[4096];
    snprintf(cmd, sizeof cmd, "cd %s && %s %s --arch resnet50 --layout %s --fault %s k.h5 >/dev/null && "
             "%s %s --arch resnet50 k.h5 e.safetensors", dir, PYTHON, FILES_SCRIPT, layout, fault, PYTHON, EXPORT_SCRIPT);
    int rc = run(cmd, log, sizeof log);
    CHECK(rc == 1 && strstr(log, layer) && strstr(log, says) && !strchr(log, '\n') && !exists("e.safetensors"),
          "%s file: exit %d (expected 1), a line naming %s and saying \"%s\", no output; got: %s", fault, rc, layer,
          says, log);
    printf("  %-15s refused: %s\n", fault, log);
    snprintf(cmd, sizeof cmd, "cd %s && rm -f k.h5 e.safetensors", dir);
    if (run(cmd, NULL, 0) != 0) fprintf(stderr, "could not clean up\n");
}

int main(void) {
    if (system(PYTHON " -c 'import h5py, numpy' >/dev/null 2>&1") != 0)
        return test_skip(PYTHON " lacks h5py or numpy (apt-get install python3-h5py python3-numpy)");
    bl_safetensors *golden = NULL;
    if (bl_safetensors_open(GOLDEN, &golden) != BL_OK || !bl_safetensors_metadata(golden, "seed")) {
        CHECK(0, "%s: %s", GOLDEN, golden ? "no seed in __metadata__" : bl_last_error());
        return test_summary("test_keras_files");
    }
    snprintf(dir, sizeof dir, "/tmp/blasto_keras_XXXXXX");
    if (!mkdtemp(dir)) return test_skip("cannot create a temporary directory");
    one_arch("resnet50", "resnet50-keras", golden);
    one_arch("densenet121", "densenet121", golden);
    one_arch("vgg16", "vgg16", golden);
    printf("refusals (Keras ResNet50):\n");
    refusal("keras2", "missing", "conv2_block2_1_bn", "missing from the file");
    refusal("keras2", "extra", "extra_conv", "extra layer");
    refusal("keras2", "transposed", "conv3_block1_2_conv", "transposed");
    refusal("keras3", "missing-native", "conv2_block2_1_bn", "missing from the file");
    refusal("keras2", "notop", "predictions", "_notop file");
    bl_safetensors_close(golden);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return test_summary("test_keras_files");
}
