/* test_cli_selftest.c — `blasto selftest` end to end: it passes on this build (every op listed, exit 0), and it
 * fails, naming the op, when one golden value is perturbed (a copy of ops.safetensors with conv2d's first output
 * element moved by 1e-3); bad options are refused with one line and exit 2; a missing, truncated or foreign golden
 * file with one line and exit 1, before any op runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/safetensors.h"
#include "harness.h"
#include "support/test_support.h"

#define GOLDEN BLASTO_TEST_DIR "/golden/ops.safetensors"

/* A copy of the golden file at `path` with the first float of tensor `name` moved by `delta`. 1 on success. */
static int perturbed_copy(const char *path, const char *name, float delta) {
    size_t size = 0;
    char *bytes = test_read_file(GOLDEN, &size);
    bl_safetensors *st = NULL;
    if (!bytes || bl_safetensors_open(GOLDEN, &st) != BL_OK) {
        free(bytes);
        return 0;
    }
    const bl_st_entry *e = bl_safetensors_find(st, name);
    uint64_t header = 0;
    memcpy(&header, bytes, 8); /* little-endian length of the JSON header */
    int ok = e && 8 + header + e->begin + 4 <= size;
    if (ok) {
        float v;
        char *at = bytes + 8 + header + e->begin;
        memcpy(&v, at, 4);
        v += delta;
        memcpy(at, &v, 4);
        FILE *f = fopen(path, "wb");
        ok = f && fwrite(bytes, 1, size, f) == size;
        if (f) ok &= fclose(f) == 0;
    }
    bl_safetensors_close(st);
    free(bytes);
    return ok;
}

int main(void) {
    static char out[1 << 16];
    char dir[256], perturbed[512], args[1024];
    CHECK(test_run_cli("selftest --help", 0, out, sizeof out) == 0 && strstr(out, "usage: blasto selftest"),
          "selftest --help:\n%s", out);

    /* the whole self-test passes here, with a line per op */
    int code = test_run_cli("selftest --golden " GOLDEN, 0, out, sizeof out);
    CHECK(code == 0 && strstr(out, "pass: every op within its tolerance"), "selftest passes (exit %d):\n%s", code,
          out);
    const char *ops[] = {"sgemm", "conv2d", "conv_transpose2d", "batchnorm2d", "maxpool2d", "avgpool2d",
                         "global_avgpool", "upsample_bilinear2d", "linear", "relu", "sigmoid", "add", "dropout",
                         "concat_channels", "reshape", "sum", "bce_with_logits", "softmax_cross_entropy", "dice_loss",
                         "sgd", "adam"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        char line[64];
        snprintf(line, sizeof line, "\n%-22s ", ops[i]);
        const char *at = strstr(out, line);
        CHECK(at && strstr(at, "pass"), "selftest reports op %s", ops[i]);
    }

    /* one golden value perturbed: conv2d fails, and the message names it */
    CHECK(test_make_tmp_dir(dir, sizeof dir, "blasto_selftest") != NULL, "temporary directory");
    test_path_in(perturbed, sizeof perturbed, dir, "ops.safetensors");
    CHECK(perturbed_copy(perturbed, "conv2d/case0/y", 1e-3f), "a perturbed copy of the golden file");
    snprintf(args, sizeof args, "selftest --op conv2d --golden %s", perturbed);
    code = test_run_cli(args, 1, out, sizeof out);
    CHECK(code == 1 && strstr(out, "FAIL conv2d: golden conv2d/case0") && strstr(out, "conv2d") &&
              strstr(out, "FAIL"),
          "a perturbed golden value fails, naming the op (exit %d):\n%s", code, out);
    /* the unperturbed ops still pass against that file */
    snprintf(args, sizeof args, "selftest --op relu --golden %s", perturbed);
    CHECK(test_run_cli(args, 0, out, sizeof out) == 0, "relu still passes against the perturbed file:\n%s", out);

    /* a truncated golden file and a safetensors file of other tests: one line naming the file, exit 1, no op run */
    char truncated[512];
    test_path_in(truncated, sizeof truncated, dir, "truncated.safetensors");
    size_t size = 0;
    char *bytes = test_read_file(GOLDEN, &size);
    FILE *f = bytes ? fopen(truncated, "wb") : NULL;
    CHECK(f && fwrite(bytes, 1, 100, f) == 100 && fclose(f) == 0, "a truncated copy of the golden file");
    free(bytes);
    const struct {
        const char *file, *says;
    } wrong[] = {{truncated, "header length"},
                 {BLASTO_TEST_DIR "/golden/optim.safetensors", "__metadata__.cases: no case of any op of this build"}};
    for (int i = 0; i < 2; i++) {
        snprintf(args, sizeof args, "selftest --golden %s", wrong[i].file);
        code = test_run_cli(args, 1, out, sizeof out);
        const char *newline = strchr(out, '\n');
        CHECK(code == 1 && strstr(out, wrong[i].file) && strstr(out, wrong[i].says) && newline && !newline[1],
              "golden file %s: exit %d, one line saying '%s':\n%s", wrong[i].file, code, wrong[i].says, out);
    }
    test_remove_tree(dir);

    /* bad input */
    code = test_run_cli("selftest --op nosuchop", 1, out, sizeof out);
    CHECK(code == 2 && strstr(out, "--op: unknown op 'nosuchop'"), "unknown op: exit %d: %s", code, out);
    code = test_run_cli("selftest --golden /nonexistent/ops.safetensors", 1, out, sizeof out);
    CHECK(code == 1 && strstr(out, "/nonexistent/ops.safetensors") && !strstr(out, "pass"),
          "missing golden file: exit %d: %s", code, out);
    return test_summary("test_cli_selftest");
}
