/* cmd_selftest.c — `blasto selftest`: the op-test harness of the test suite (tests/ops/), run on the user's own build
 * and machine. Every op of the engine against the frozen PyTorch results (ops.safetensors, installed with the binary)
 * and against the ref oracle on every backend present — the cpu backend with each instruction set this CPU has, at
 * 1, 2 and 3 threads, and the GPU when this build has CUDA and a device is visible — plus the float64 gradient check
 * of the ref kernels. One line per op; exit 0 only when every op passes. For an auditor it is the proof that this
 * build on this hardware computes what docs/numerics.md says. */
#define _DEFAULT_SOURCE /* realpath */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include "commands.h"
#include "core/safetensors.h"
#include "core/status.h"
#include "core/build_info.h"
#include "core/cpu/cpu_features.h"
#include "core/cpu/threads.h"
#include "harness.h"
#include "ops/gradcheck64.h"
#include "ops/optest.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: blasto selftest [--op NAME] [--backend PREFIX] [--golden FILE] [--seed N] [--details]\n\n"
            "Checks every op of this build on this machine: against the frozen PyTorch results (the golden file,\n"
            "installed with blasto), against the reference backend on every backend present (cpu with each\n"
            "instruction set this CPU has, at 1, 2 and 3 threads; cuda when built and a GPU is visible), and the\n"
            "reference backend's backward against float64 central differences. Prints one line per op: cases run,\n"
            "the worst error as a fraction of its tolerance (at most 1 passes), pass or FAIL; every failure is one\n"
            "line on stderr naming the op, backend, case, tensor and element. Exit status 0 only when all pass.\n\n"
            "options:\n"
            "  --op NAME         only this op (one of: ");
    for (int i = 0; i < optest_op_count(); i++) fprintf(out, "%s%s", i ? ", " : "", optest_op_at(i)->name);
    fprintf(out,
            ")\n"
            "  --backend PREFIX  only the backends whose name starts with PREFIX (\"cpu avx2\", \"cuda\")\n"
            "  --golden FILE     the golden file (default: the installed ops.safetensors)\n"
            "  --seed N          the seed of the random inputs (default 1: the same inputs every run)\n"
            "  --details         one line per check (parity, golden, gradcheck) with where its worst error was\n"
            "  --help            this text\n");
}

static int readable(const char *path) { return access(path, R_OK) == 0; }

/* The golden file is checked once, before any op runs: a corrupt or foreign file is one error line, not one
 * failure per op. The harness reads the cases from __metadata__.cases (a JSON array). */
static int golden_file_valid(const char *path) {
    bl_safetensors *st = NULL;
    if (bl_safetensors_open(path, &st) != BL_OK) {
        fprintf(stderr, "blasto selftest: golden file: %s\n", bl_last_error());
        return 0;
    }
    const char *text = bl_safetensors_metadata(st, "cases");
    cJSON *cases = text ? cJSON_Parse(text) : NULL;
    int ok = cJSON_IsArray(cases) && cJSON_GetArraySize(cases) > 0;
    if (!ok)
        fprintf(stderr, "blasto selftest: golden file: %s: __metadata__.cases: %s\n", path,
                text ? "expected a non-empty JSON array of cases" : "missing (not a golden file of blasto's op tests)");
    int known = 0; /* cases of an op this build replays */
    const cJSON *c;
    const cJSON *list = ok ? cases : NULL;
    cJSON_ArrayForEach(c, list) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "op"));
        for (int i = 0; name && i < optest_op_count(); i++)
            for (int g = 0; g < 4 && optest_op_at(i)->golden_ops[g]; g++)
                known += strcmp(name, optest_op_at(i)->golden_ops[g]) == 0;
    }
    if (ok && !known) {
        fprintf(stderr, "blasto selftest: golden file: %s: __metadata__.cases: no case of any op of this build "
                        "(not the op tests' golden file)\n", path);
        ok = 0;
    }
    cJSON_Delete(cases);
    bl_safetensors_close(st);
    return ok;
}

/* The golden file: --golden, else next to the installed binary (<prefix>/bin/../share/blasto/golden), the
 * configured install prefix, or the source tree this binary was built from. NULL (with the places tried in
 * `tried`) when none is readable. */
static const char *find_golden(const char *given, char *buf, size_t size, char *tried, size_t tried_size) {
    if (given) return given;
    const char *candidates[3] = {NULL, BLASTO_INSTALL_DATADIR "/blasto/golden/ops.safetensors",
                                 BLASTO_SOURCE_GOLDEN_DIR "/ops.safetensors"};
    char exe[PATH_MAX], beside[PATH_MAX + 64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(beside, sizeof beside, "%s/../share/blasto/golden/ops.safetensors", exe);
            candidates[0] = beside;
        }
    }
    tried[0] = '\0';
    for (int i = 0; i < 3; i++) {
        if (!candidates[i]) continue;
        char resolved[PATH_MAX];
        if (readable(candidates[i])) {
            snprintf(buf, size, "%s", realpath(candidates[i], resolved) ? resolved : candidates[i]);
            return buf;
        }
        size_t used = strlen(tried);
        snprintf(tried + used, tried_size - used, "%s%s", used ? ", " : "", candidates[i]);
    }
    return NULL;
}

static double worst_of(const optest_result *r) {
    double w = r->parity.worst;
    if (r->golden.worst > w) w = r->golden.worst;
    if (r->gradcheck.worst > w) w = r->gradcheck.worst;
    return w;
}

int cmd_selftest(int argc, char **argv) {
    const char *only_op = NULL, *only_backend = NULL, *golden = NULL;
    long seed = 1;
    int details = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(arg, "--op") == 0 && value) {
            if (!optest_op_find(value)) {
                fprintf(stderr, "blasto selftest: --op: unknown op '%s' (blasto selftest --help lists them)\n", value);
                return 2;
            }
            only_op = value, i++;
        } else if (strcmp(arg, "--backend") == 0 && value) {
            only_backend = value, i++;
        } else if (strcmp(arg, "--golden") == 0 && value) {
            golden = value, i++;
        } else if (strcmp(arg, "--seed") == 0) {
            if (cli_parse_int("selftest", arg, value, 0, LONG_MAX, &seed)) return 2;
            i++;
        } else if (strcmp(arg, "--details") == 0) {
            details = 1;
        } else {
            fprintf(stderr, "blasto selftest: unknown or incomplete option '%s' (blasto selftest --help)\n", arg);
            return 2;
        }
    }
    char golden_buf[PATH_MAX + 64], tried[3 * (PATH_MAX + 64)];
    const char *golden_path = find_golden(golden, golden_buf, sizeof golden_buf, tried, sizeof tried);
    if (!golden_path) {
        fprintf(stderr, "blasto selftest: the golden file ops.safetensors is not readable (looked in %s); "
                        "give it with --golden FILE\n", tried);
        return 1;
    }
    if (!golden_file_valid(golden_path)) return 1;

    optest_backend backends[8];
    int n = optest_host_backends(backends, 8, only_backend);
    const bl_build_info *build = bl_build();
    printf("blasto %s selftest: cpu %s; %d cpu backend%s", build->version, bl_cpu_features(), n, n == 1 ? "" : "s");
    for (int i = 0; i < n; i++) printf("%s%s", i ? "; " : " (", backends[i].name);
    printf("%s; golden %s; seed %ld\n", n ? ")" : "", golden_path, seed);
    printf("%-22s %6s %12s  %s\n", "op", "cases", "worst/tol", "result");

    clock_t start = clock();
    int failed_ops = 0;
    gradcheck_negative_control();
    for (int i = 0; i < optest_op_count(); i++) {
        const optest_op *op = optest_op_at(i);
        if (only_op && strcmp(op->name, only_op) != 0) continue;
        optest_options o = {.seed = (uint64_t)seed, .backends = backends, .n_backends = n, .golden_path = golden_path,
                            .parity = 1, .golden = 1, .gradcheck = !only_backend, .print_checks = details};
        optest_result r;
        int failures = optest_run_op(op, &o, &r);
        /* the GPU, one configuration at a time (one GPU state per process) */
        for (int config = 0; config < 3; config++) {
            optest_backend cuda;
            int opened = optest_cuda_backend(config, &cuda);
            if (opened < 0) {
                fprintf(stderr, "FAIL %s: cuda configuration %d: %s\n", op->name, config, bl_last_error());
                failures++;
            }
            if (opened <= 0 || (only_backend && strncmp(cuda.name, only_backend, strlen(only_backend)) != 0)) continue;
            optest_options oc = {.seed = (uint64_t)seed, .backends = &cuda, .n_backends = 1,
                                 .golden_path = golden_path, .parity = 1, .golden = config == 0,
                                 .print_checks = details};
            optest_result rc;
            failures += optest_run_op(op, &oc, &rc);
            if (worst_of(&rc) > r.parity.worst) r.parity.worst = worst_of(&rc);
        }
        int cases = r.parity.cases + r.golden.cases + r.gradcheck.cases;
        printf("%-22s %6d %12.3g  %s\n", op->name, cases, worst_of(&r), failures ? "FAIL" : "pass");
        fflush(stdout);
        failed_ops += failures != 0;
    }
    optest_cuda_close();
    optest_backends_free(backends, n);
    bl_threads_shutdown();
    release_case_buffers();
    if (test_failed && !failed_ops) failed_ops = 1; /* the negative control or a gradcheck outside an op */
    printf("%s: %s (%.1f s of CPU time)\n", failed_ops ? "FAIL" : "pass",
           failed_ops ? "an op differs from the reference, PyTorch or its own gradient (see above)"
                      : "every op within its tolerance on every backend",
           (double)(clock() - start) / CLOCKS_PER_SEC);
    return failed_ops ? 1 : 0;
}
