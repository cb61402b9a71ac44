/* test_convert.c — real torchvision models through the documented path, end to end:
 *   tools/export_torchvision.py --random (torchvision 0.14, weights=None, randomised BatchNorm) → safetensors
 *   → blasto convert → the output holds exactly the exported tensors (bit for bit; num_batches_tracked dropped)
 *   → blasto infer on the script's deterministic input → logits within 1e-4 of torchvision's own
 *     (max|blasto − torch| / max|torch|, the acceptance bound; docs/numerics.md).
 * ResNet50 and DenseNet121 go straight through; DenseNet121 is ALSO re-keyed here to the old checkpoint style
 * (`norm.1`, as in densenet121-a639ec97.pth) and must convert to the same bytes. VGG16 (550 MB a file) is left
 * to test_weights_bad.c, which takes a C-made VGG16 through timm's names without Python, in every run.
 * Keras files are test_keras_files.c's.
 * Needs Debian's /usr/bin/python3 with python3-torch and python3-torchvision, else "skipped:" (exit 77).
 * Bad files are tested without Python in test_weights_bad.c too. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "harness.h"
#include "core/safetensors.h"

#define PYTHON "/usr/bin/python3"
#define EXPORT_SCRIPT BLASTO_TEST_DIR "/../tools/export_torchvision.py"

static char dir[64];

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Run a shell command; its output goes to dir/log.txt (printed on failure). Returns the exit code. */
static int run(const char *what, const char *command) {
    char cmd[4096], log[128];
    snprintf(log, sizeof log, "%s/log.txt", dir);
    snprintf(cmd, sizeof cmd, "(%s) >%s 2>&1", command, log);
    int status = system(cmd);
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (rc != 0) {
        fprintf(stderr, "%s: exit %d; command: %s\noutput:\n", what, rc, command);
        FILE *f = fopen(log, "r");
        char line[512];
        while (f && fgets(line, sizeof line, f)) fputs(line, stderr);
        if (f) fclose(f);
    }
    return rc;
}

/* "…denselayerN.norm1.weight" → "…denselayerN.norm.1.weight" (how densenet121-a639ec97.pth names them). */
static void old_densenet_key(const char *name, char *out, size_t size) {
    snprintf(out, size, "%s", name);
    const char *p = strstr(name, "denselayer");
    if (!p || !(p = strchr(p, '.'))) return;
    if ((strncmp(p, ".norm", 5) == 0 || strncmp(p, ".conv", 5) == 0) && (p[5] == '1' || p[5] == '2')) {
        size_t head = (size_t)(p - name) + 5;
        snprintf(out, size, "%.*s.%s", (int)head, name, name + head);
    }
}

/* Copy src to path with every DenseNet tensor under its old key. */
static int rekey_old_densenet(const char *src_path, const char *path) {
    bl_safetensors *src = NULL;
    bl_st_writer *w = NULL;
    int ok = bl_safetensors_open(src_path, &src) == BL_OK && bl_st_writer_create(&w) == BL_OK;
    for (int i = 0; ok && i < bl_safetensors_count(src); i++) {
        const bl_st_entry *e = bl_safetensors_entry(src, i);
        char name[256];
        old_densenet_key(e->name, name, sizeof name);
        ok = bl_st_writer_add_raw(w, name, e->dtype, e->ndim, e->shape, e->data) == BL_OK;
    }
    if (ok) ok = bl_st_writer_save(w, path) == BL_OK;
    CHECK(ok, "re-key %s → %s: %s", src_path, path, bl_last_error());
    if (w) bl_st_writer_free(w);
    if (src) bl_safetensors_close(src);
    return ok;
}

/* Every tensor of the torchvision export (but num_batches_tracked) is in the converted file, F32, same bytes,
 * and nothing else is. */
static void check_same_tensors(const char *what, const char *exported, const char *converted, const char *arch,
                               const char *source) {
    bl_safetensors *a = NULL, *b = NULL;
    if (bl_safetensors_open(exported, &a) != BL_OK || bl_safetensors_open(converted, &b) != BL_OK) {
        CHECK(0, "%s: open: %s", what, bl_last_error());
        if (a) bl_safetensors_close(a);
        return;
    }
    int expected = 0, equal = 0;
    const char *first_bad = NULL;
    for (int i = 0; i < bl_safetensors_count(a); i++) {
        const bl_st_entry *e = bl_safetensors_entry(a, i);
        if (strstr(e->name, "num_batches_tracked")) continue;
        expected++;
        const bl_st_entry *f = bl_safetensors_find(b, e->name);
        int same = f && e->dtype == BL_DTYPE_F32 && f->dtype == BL_DTYPE_F32 && f->ndim == e->ndim &&
                   memcmp(f->shape, e->shape, sizeof(int64_t) * (size_t)e->ndim) == 0 &&
                   memcmp(f->data, e->data, (size_t)(e->end - e->begin)) == 0;
        equal += same;
        if (!same && !first_bad) first_bad = e->name;
    }
    CHECK(equal == expected && bl_safetensors_count(b) == expected,
          "%s: %d of %d tensors bit-identical, converted file has %d (first difference: %s)", what, equal, expected,
          bl_safetensors_count(b), first_bad ? first_bad : "-");
    const char *meta_arch = bl_safetensors_metadata(b, "arch"), *meta_source = bl_safetensors_metadata(b, "source");
    CHECK(meta_arch && strcmp(meta_arch, arch) == 0 && meta_source && strcmp(meta_source, source) == 0 &&
              bl_safetensors_metadata(b, "converter_version") && bl_safetensors_metadata(b, "source_file"),
          "%s: metadata arch %s source %s", what, meta_arch ? meta_arch : "-", meta_source ? meta_source : "-");
    bl_safetensors_close(a);
    bl_safetensors_close(b);
}

/* blasto infer's `output` vs torchvision's: max|a − b| / max|b| ≤ 1e-4. */
static void check_logits(const char *arch, const char *got_path, const char *want_path) {
    bl_safetensors *a = NULL, *b = NULL;
    if (bl_safetensors_open(got_path, &a) != BL_OK || bl_safetensors_open(want_path, &b) != BL_OK) {
        CHECK(0, "%s logits: %s", arch, bl_last_error());
        if (a) bl_safetensors_close(a);
        return;
    }
    const bl_st_entry *y = bl_safetensors_find(a, "output"), *r = bl_safetensors_find(b, "output");
    int shapes_ok = y && r && y->numel == r->numel && y->ndim == 2 && y->shape[1] == 1000;
    CHECK(shapes_ok, "%s: infer output shape", arch);
    if (shapes_ok) {
        float *got = malloc((size_t)y->numel * sizeof(float)), *want = malloc((size_t)r->numel * sizeof(float));
        if (got && want && bl_safetensors_read_f32(a, "output", -1, NULL, y->numel, got) == BL_OK &&
            bl_safetensors_read_f32(b, "output", -1, NULL, r->numel, want) == BL_OK) {
            double max_err = 0, max_ref = 0;
            for (int64_t i = 0; i < y->numel; i++) {
                double d = fabs((double)got[i] - (double)want[i]);
                max_err = d > max_err ? d : max_err;
                max_ref = fabs((double)want[i]) > max_ref ? fabs((double)want[i]) : max_ref;
            }
            double rel = max_ref > 0 ? max_err / max_ref : INFINITY;
            printf("%-12s blasto infer vs torchvision: max|err| %.3e, max|ref| %.3e, relative %.3e (bound 1e-4)\n",
                   arch, max_err, max_ref, rel);
            CHECK(rel <= 1e-4, "%s: logits relative error %.3e > 1e-4", arch, rel);
        } else {
            CHECK(0, "%s: read logits: %s", arch, bl_last_error());
        }
        free(got);
        free(want);
    }
    bl_safetensors_close(a);
    bl_safetensors_close(b);
}

/* blasto convert dir/IN dir/OUT options; CHECKs exit 0. */
static int convert(const char *in, const char *out, const char *options) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s convert %s/%s %s/%s %s --quiet", BLASTO_CLI, dir, in, dir, out, options);
    int rc = run(in, cmd);
    CHECK(rc == 0, "convert %s %s: exit %d", in, options, rc);
    return rc == 0;
}

static void infer_and_compare(const char *arch, const char *weights, const char *tag) {
    char cmd[1024], got[256], want[256];
    snprintf(cmd, sizeof cmd, "%s infer --arch %s --weights %s/%s --input %s/%s_in.safetensors --output "
             "%s/%s_out.safetensors --bn running", BLASTO_CLI, arch, dir, weights, dir, tag, dir, tag);
    int rc = run("infer", cmd);
    CHECK(rc == 0, "blasto infer --arch %s: exit %d", arch, rc);
    if (rc != 0) return;
    snprintf(got, sizeof got, "%s/%s_out.safetensors", dir, tag);
    snprintf(want, sizeof want, "%s/%s_ref.safetensors", dir, tag);
    check_logits(arch, got, want);
}

int main(void) {
    if (system(PYTHON " -c 'import torch, torchvision' >/dev/null 2>&1") != 0)
        return test_skip(PYTHON " lacks torch/torchvision (apt-get install python3-torchvision)");
    snprintf(dir, sizeof dir, "/tmp/blasto_convert_XXXXXX");
    if (!mkdtemp(dir)) return test_skip("cannot create a temporary directory");
    double t0 = now();

    /* the two exports run concurrently (each is mostly torch's start-up) */
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cd %s && E='%s %s' && "
             "{ $E --arch resnet50 --random --seed 1 --reference-input r50_in.safetensors --reference-output "
             "r50_ref.safetensors r50_tv.safetensors & p1=$!; "
             "$E --arch densenet121 --random --seed 2 --reference-input d121_in.safetensors --reference-output "
             "d121_ref.safetensors d121_tv.safetensors & p2=$!; "
             "wait $p1 && wait $p2; }",
             dir, PYTHON, EXPORT_SCRIPT);
    int exported = run("export_torchvision.py", cmd) == 0;
    CHECK(exported, "tools/export_torchvision.py exports resnet50 and densenet121");
    printf("exports: %.1f s\n", now() - t0);
    if (exported) {
        char a[256], b[256];
        /* ResNet50 and DenseNet121 as exported, architecture inferred */
        if (convert("r50_tv.safetensors", "r50.safetensors", "--from torchvision")) {
            snprintf(a, sizeof a, "%s/r50_tv.safetensors", dir);
            snprintf(b, sizeof b, "%s/r50.safetensors", dir);
            check_same_tensors("resnet50", a, b, "resnet50", "torchvision");
            infer_and_compare("resnet50", "r50.safetensors", "r50");
        }
        if (convert("d121_tv.safetensors", "d121.safetensors", "--from torchvision --arch densenet121")) {
            snprintf(a, sizeof a, "%s/d121_tv.safetensors", dir);
            snprintf(b, sizeof b, "%s/d121.safetensors", dir);
            check_same_tensors("densenet121", a, b, "densenet121", "torchvision");
            infer_and_compare("densenet121", "d121.safetensors", "d121");
        }
        /* DenseNet121 with the published checkpoint's old keys */
        snprintf(a, sizeof a, "%s/d121_tv.safetensors", dir);
        snprintf(b, sizeof b, "%s/d121_old_keys.safetensors", dir);
        if (rekey_old_densenet(a, b) &&
            convert("d121_old_keys.safetensors", "d121_from_old.safetensors", "--from torchvision")) {
            snprintf(b, sizeof b, "%s/d121_from_old.safetensors", dir);
            check_same_tensors("densenet121 (old norm.1 keys)", a, b, "densenet121", "torchvision");
        }
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    printf("total: %.1f s\n", now() - t0);
    return test_summary("test_convert");
}
