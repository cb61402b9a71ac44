/* test_op.c — one op of the op-test harness (tests/ops/optest.h) on every backend this build and machine have:
 *
 *     test_op OP [--backend PREFIX]     (ctest registers test_op_<op> for every op: ctest -R conv2d)
 *
 * Backends: ref is the oracle; guard (ref's kernels behind memory that faults outside the op table); cpu at 1, 2 and
 * 3 threads and with every narrower instruction set; cuda deterministic, non-deterministic and TF32 when a device is
 * visible. --backend keeps those whose name starts with PREFIX ("cpu avx2", "guard", "cuda"). Parity runs on fresh
 * random inputs every run: the seed is printed, BLASTO_OPTEST_SEED=<seed> replays it. The golden replay reads
 * tests/golden/ops.safetensors; the float64 gradient check runs the cases the op flags. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/cpu/threads.h"
#include "harness.h"
#include "ops/gradcheck64.h"
#include "ops/optest.h"
#include "support/guard_backend.h"

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : NULL, *only = NULL;
    for (int i = 2; i + 1 < argc; i += 2)
        if (strcmp(argv[i], "--backend") == 0) only = argv[i + 1];
    const optest_op *op = name ? optest_op_find(name) : NULL;
    if (!op) {
        fprintf(stderr, "usage: test_op OP [--backend PREFIX]; OP is one of:");
        for (int i = 0; i < optest_op_count(); i++) fprintf(stderr, " %s", optest_op_at(i)->name);
        fputc('\n', stderr);
        return 2;
    }
    const char *env = getenv("BLASTO_OPTEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : ((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32));
    printf("test_op %s: seed %llu (replay with BLASTO_OPTEST_SEED=%llu)\n", op->name, (unsigned long long)seed,
           (unsigned long long)seed);
    gradcheck_negative_control();

    optest_backend backends[8];
    int n = 0;
    if (!only || strncmp("guard", only, strlen(only)) == 0) {
        backends[n] = (optest_backend){.name = "guard", .k = guard_kernels(), .cls = OPTEST_EXACT_BACKEND,
                                       .deterministic = 1};
        n++;
    }
    int host = optest_host_backends(backends + n, 7 - n, only);
    n += host;
    optest_options o = {.seed = seed, .backends = backends, .n_backends = n,
                        .golden_path = BLASTO_TEST_DIR "/golden/ops.safetensors", .parity = 1, .golden = 1,
                        .gradcheck = !only, .print_checks = 1};
    optest_run_op(op, &o, NULL);
    /* cuda, one configuration at a time (one GPU state per process) */
    for (int config = 0; config < 3; config++) {
        optest_backend cuda;
        int opened = optest_cuda_backend(config, &cuda);
        if (opened < 0) CHECK(0, "cuda configuration %d: %s", config, bl_last_error());
        if (opened <= 0) continue;
        if (only && strncmp(cuda.name, only, strlen(only)) != 0) continue;
        optest_options oc = {.seed = seed, .backends = &cuda, .n_backends = 1, .golden_path = o.golden_path,
                             .parity = 1, .golden = config == 0, .print_checks = 1};
        optest_run_op(op, &oc, NULL);
    }
    optest_cuda_close();
    optest_backends_free(backends, n);
    bl_threads_shutdown();
    release_case_buffers();
    char summary_name[64];
    snprintf(summary_name, sizeof summary_name, "test_op_%s", op->name);
    return test_summary(summary_name);
}
