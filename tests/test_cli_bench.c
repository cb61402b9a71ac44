/* test_cli_bench.c — `blasto bench infer|train` end to end, small enough for a few seconds: ResNet50 at 64×64,
 * batch 1, one timed step. Checks the contract scripts rely on (a final line "img/s: <positive number>"), that the
 * FLOP counter finds every conv/linear layer and counts exactly torchvision's 2·MACs (671,383,552 per image at
 * 64×64 for ResNet50: the sum of 2·numel(output)·Cin·kh·kw over its convs plus 2·2048·1000 for fc, computed once
 * with forward hooks on torchvision 0.14's resnet50), and the usage errors (bad --arch, missing --arch, bad
 * --size) exit 2 with a one-line message and nothing on stdout; --device cuda is refused with exit 1 in a build
 * without CUDA. */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"
#include "support/test_support.h"

/* Run `BLASTO_CLI args`; stdout (and stderr when merge) into out; returns the exit code. */
static int run(const char *args, int merge, char *out, size_t size) {
    return test_run_cli(args, merge, out, size);
}

/* The number after the last line starting with `prefix`, or −1 when absent. *is_last: that line ends the output. */
static double value_after(const char *out, const char *prefix, int *is_last) {
    const char *found = NULL;
    size_t length = strlen(prefix);
    for (const char *line = out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, prefix, length) == 0) found = line;
    if (!found) return -1.0;
    char *end = NULL;
    double v = strtod(found + length, &end);
    if (end == found + length) return -1.0;
    if (is_last) *is_last = (*end == '\n' && end[1] == '\0') || *end == '\0';
    return v;
}

static void check_mode(const char *mode, char *out, size_t size) {
    char args[256];
    snprintf(args, sizeof args, "bench %s --arch resnet50 --batch 1 --size 64 --repeats 1 --warmup 0 --threads 2",
             mode);
    int rc = run(args, 0, out, size);
    CHECK(rc == 0, "bench %s exits 0 (got %d):\n%s", mode, rc, out);
    int is_last = 0;
    double images_per_second = value_after(out, "img/s: ", &is_last);
    CHECK(images_per_second > 0.0 && is_last, "bench %s: last line 'img/s: <positive>' (got %g):\n%s", mode,
          images_per_second, out);
    CHECK(value_after(out, "GFLOP/s: ", NULL) > 0.0, "bench %s: a positive GFLOP/s line:\n%s", mode, out);
    CHECK(value_after(out, "peak RSS: ", NULL) > 0.0, "bench %s: a positive peak RSS line:\n%s", mode, out);
    const char *flops = strstr(out, "forward FLOPs per image: ");
    double per_image = flops ? strtod(flops + strlen("forward FLOPs per image: "), NULL) : -1.0;
    CHECK(per_image == 671383552.0, "bench %s: ResNet50 at 64x64 is 671383552 FLOPs per image (torchvision's "
          "2*MACs), got %.0f:\n%s", mode, per_image, out);
    CHECK(strstr(out, "54 conv/linear layers") != NULL, "bench %s: 53 convs + fc counted:\n%s", mode, out);
}

int main(void) {
    static char out[1 << 16];
    check_mode("infer", out, sizeof out);
    check_mode("train", out, sizeof out);
    CHECK(run("bench infer --help", 0, out, sizeof out) == 0 && strstr(out, "usage: blasto bench infer") &&
              strstr(out, "img/s"),
          "bench infer --help:\n%s", out);
    CHECK(run("bench infer --arch resnet51 --batch 1", 1, out, sizeof out) == 2 &&
              strncmp(out, "blasto bench: ", 14) == 0 && strstr(out, "resnet51") && strstr(out, "densenet121") &&
              strchr(out, '\n') == out + strlen(out) - 1,
          "bad --arch: exit 2, one line naming the valid archs: %s", out);
    CHECK(run("bench infer --arch resnet51", 0, out, sizeof out) == 2 && out[0] == '\0',
          "bad --arch: nothing on stdout: %s", out);
    CHECK(run("bench train --batch 1", 1, out, sizeof out) == 2 && strstr(out, "--arch is required"),
          "missing --arch: exit 2: %s", out);
    CHECK(run("bench infer --arch vgg16 --size 16", 1, out, sizeof out) == 2 && strstr(out, "--size"),
          "--size below 32: exit 2: %s", out);
#ifndef BLASTO_HAVE_CUDA /* tests/test_cli_device.c checks every command's refusal in every build */
    CHECK(run("bench infer --arch resnet50 --device cuda", 1, out, sizeof out) == 1 && strstr(out, "CUDA"),
          "--device cuda refused with exit 1: %s", out);
#endif
    return test_summary("test_cli_bench");
}
