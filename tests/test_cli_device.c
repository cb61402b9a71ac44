/* test_cli_device.c — `--device` on every command that computes, and the experiment config's "device".
 *
 * Without a CUDA build, `--device cuda` must fail at once (before reading any input, so the paths below need not
 * exist), with exit 1 and exactly one line: "blasto CMD: device cuda: this blasto was built without CUDA
 * (configure with -DBLASTO_CUDA=ON)". In a CUDA build without a visible GPU it fails the same way with the CUDA
 * backend's message; with a GPU these refusals do not apply and are skipped. A device name other than cpu/cuda is a
 * usage error (exit 2) on every command, and a bad "device"/"deterministic"/"tf32" in the experiment config is a
 * config error naming the key. */
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "core/device.h"
#include "support/test_support.h"

static char tmp[256];

/* The one line a refused `--device cuda` must print, or "" when this build may run CUDA for real. */
static int cuda_refusal(char *line, size_t size) {
    const bl_kernels *k = NULL;
    if (bl_device_open("cuda", 0, 0, &k) == BL_OK) return 0; /* a GPU is there: nothing to refuse */
    snprintf(line, size, "%s\n", bl_last_error());
    return 1;
}

int main(void) {
    if (!test_make_tmp_dir(tmp, sizeof tmp, "blasto_device")) return test_skip("cannot create a temporary directory");
    char want_line[512], out[4096], args[2048], want[2048];
    int refuses = cuda_refusal(want_line, sizeof want_line);
#ifndef BLASTO_HAVE_CUDA
    CHECK(refuses && strcmp(want_line, "device cuda: this blasto was built without CUDA (configure with "
                                       "-DBLASTO_CUDA=ON)\n") == 0,
          "bl_device_open(cuda) without CUDA: %s", want_line);
#endif
    const bl_kernels *k = NULL;
    CHECK(bl_device_open("cpu", 0, 0, &k) == BL_OK && k == bl_kernels_cpu(), "device cpu = the cpu backend");
    CHECK(bl_device_open("ref", 1, 1, &k) == BL_OK && k == bl_kernels_ref(), "device ref = the ref backend");
    CHECK(bl_device_open("tpu", 0, 0, &k) == BL_ERR_INVALID &&
              strcmp(bl_last_error(), "device tpu: unknown (expected cpu, ref or cuda)") == 0,
          "unknown device: %s", bl_last_error());

    char m[512], c[512], x[512], o[512];
    test_path_in(m, sizeof m, tmp, "missing.safetensors");
    test_path_in(c, sizeof c, tmp, "missing.csv");
    test_path_in(x, sizeof x, tmp, "x.safetensors");
    test_path_in(o, sizeof o, tmp, "out");
    struct {
        const char *cmd, *args;
    } commands[] = {
        {"infer", "--arch resnet50 --weights %s --input %s --output %s/y.safetensors"},
        {"grad", "--arch resnet50 --weights %s --input %s --grad-output %s/g.safetensors --output %s/d.safetensors"},
        {"bench", "infer --arch resnet50"},
        {"bench", "train --arch densenet121"},
        {"train", "--cohort %s --split %s --fold 0 --out %s/run"},
        {"predict", "--model %s --cohort %s --out %s/p.csv"},
        {"gradcam", "--model %s --cohort %s --out %s/cam"},
    };
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        char rest[1024];
        const char *a = commands[i].args;
        if (!strcmp(commands[i].cmd, "infer")) snprintf(rest, sizeof rest, a, m, x, o);
        else if (!strcmp(commands[i].cmd, "grad")) snprintf(rest, sizeof rest, a, m, x, o, o);
        else if (!strcmp(commands[i].cmd, "train")) snprintf(rest, sizeof rest, a, c, c, o);
        else if (!strcmp(commands[i].cmd, "bench")) snprintf(rest, sizeof rest, "%s", a);
        else snprintf(rest, sizeof rest, a, m, c, o);
        if (refuses) {
            snprintf(args, sizeof args, "%s %s --device cuda --deterministic --tf32", commands[i].cmd, rest);
            snprintf(want, sizeof want, "blasto %s: %s", commands[i].cmd, want_line);
            int rc = test_run_cli(args, 1, out, sizeof out);
            CHECK(rc == 1 && strcmp(out, want) == 0, "%s --device cuda: exit 1 (got %d), one line:\n%s", args, rc, out);
        }
        snprintf(args, sizeof args, "%s %s --device gpu", commands[i].cmd, rest);
        snprintf(want, sizeof want, "blasto %s: --device: expected cpu or cuda, got 'gpu'\n", commands[i].cmd);
        int rc = test_run_cli(args, 1, out, sizeof out);
        CHECK(rc == 2 && strcmp(out, want) == 0, "%s: exit 2 (got %d), one line:\n%s", args, rc, out);
    }

    /* the flags are accepted on cpu (which ignores --deterministic and --tf32: it is deterministic and fp32) */
    int rc = test_run_cli("bench infer --arch resnet50 --batch 1 --size 32 --repeats 1 --warmup 0 --device cpu "
                          "--deterministic --tf32", 0, out, sizeof out);
    CHECK(rc == 0 && strstr(out, "img/s: "), "bench with --device cpu --deterministic --tf32: exit %d\n%s", rc, out);
    snprintf(args, sizeof args, "infer --arch resnet50 --weights %s --input %s --output %s/y.safetensors --backend ref "
             "--device cuda", m, x, o);
    rc = test_run_cli(args, 1, out, sizeof out);
    CHECK(rc == 2 && strcmp(out, "blasto infer: --backend ref: chooses the CPU kernels; leave it out with --device "
                                 "cuda\n") == 0,
          "infer --backend ref --device cuda: exit 2 (got %d):\n%s", rc, out);

    /* experiment: "device" in the config */
    char cohort[512], config[512];
    test_path_in(cohort, sizeof cohort, tmp, "cohort.csv");
    test_path_in(config, sizeof config, tmp, "exp.json");
    test_write_text(cohort, "id,image,annotation,age,clinic,label\n");
    const struct {
        const char *keys;
        int rc;
        const char *message; /* after "blasto experiment: <config>: " */
    } configs[] = {
        {"\"device\": \"gpu\"", 1, "device: expected cpu or cuda, got 'gpu'"},
        {"\"device\": 3", 1, "device: expected cpu or cuda, got ''"},
        {"\"deterministic\": 1", 1, "deterministic: expected true or false"},
        {"\"tf32\": \"yes\"", 1, "tf32: expected true or false"},
    };
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "{\"cohort\": \"cohort.csv\", \"test_count\": 2, %s}\n", configs[i].keys);
        test_write_text(config, text);
        snprintf(args, sizeof args, "experiment --config %s --out %s/exp", config, tmp);
        snprintf(want, sizeof want, "blasto experiment: %s: %s\n", config, configs[i].message);
        rc = test_run_cli(args, 1, out, sizeof out);
        CHECK(rc == configs[i].rc && strcmp(out, want) == 0, "config %s: exit %d (got %d):\n%s", configs[i].keys,
              configs[i].rc, rc, out);
    }
    if (refuses) {
        test_write_text(config, "{\"cohort\": \"cohort.csv\", \"test_count\": 2, \"device\": \"cuda\", "
                                "\"deterministic\": true, \"tf32\": false}\n");
        snprintf(args, sizeof args, "experiment --config %s --out %s/exp", config, tmp);
        snprintf(want, sizeof want, "blasto experiment: %s: device: %s", config, want_line); /* file and key named */
        rc = test_run_cli(args, 1, out, sizeof out);
        char exp_dir[512];
        CHECK(rc == 1 && strcmp(out, want) == 0 && !test_read_file(test_path_in(exp_dir, sizeof exp_dir, tmp,
                                                                               "exp/split.csv"), NULL),
              "experiment with \"device\": \"cuda\": exit 1 before any unit ran (got %d):\n%s", rc, out);
    }
    test_remove_tree(tmp);
    return test_summary("test_cli_device");
}
