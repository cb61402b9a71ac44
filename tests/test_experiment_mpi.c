/* test_experiment_mpi.c — `mpirun -np 2 blasto experiment` hands the experiment's units to two ranks; its results
 * are byte-identical to one process's, a failing rank and a killed rank end the job naming the rank, and the rerun
 * completes with the same results.
 *
 *   1. one process (`blasto experiment --threads 2`) and two ranks (`mpirun --oversubscribe -np 2 blasto
 *      experiment`, one thread each) on a tiny experiment (40 synthetic images, ResNet50 at 32×32, 2 folds, 2
 *      epochs, predicted annotations: 2 segment units, 4 fold units, the Grad-CAM unit): every file except the
 *      timings (run.json, report.html, log.csv, memory.json) has the same bytes; checkpoints the same tensors;
 *   2. a failing rank: the copy of the finished run with both segment units' metrics.json removed and fold 1's
 *      last.safetensors truncated (segment f1 is rank 1's unit): exit non-zero, one line from blasto
 *      "rank 1 of 2 failed: …" naming the file, and no table written after the failure;
 *   3. a killed rank: rank 1 gets SIGKILL while it trains a fold unit; the job ends non-zero within 30 s naming
 *      rank 1; the rerun with two ranks completes and its results equal the one-process run's.
 * Skipped (77) without MPI in the build or without mpirun. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/collective.h"
#include "harness.h"
#include "support/test_support.h"

static char dir[256];
static char mpirun[128];

static int run(const char *cmdline, char *err, size_t err_size) { return test_run_shell(cmdline, dir, err, err_size); }

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void pause_20ms(void) { nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 20000000}, NULL); }

static int is_file(const char *path) {
    struct stat s;
    return stat(path, &s) == 0 && S_ISREG(s.st_mode);
}

/* Every result file under <dir>/<a>/<rel> equals its twin under <dir>/<b>/<rel> (recursively); timing files are
 * left out. Returns the number of files compared. */
static int compare_tree(const char *a, const char *b, const char *rel) {
    char pa[1200];
    snprintf(pa, sizeof pa, "%s/%s%s", dir, a, rel);
    DIR *d = opendir(pa);
    if (!d) return 0;
    int compared = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        if (n[0] == '.' || strstr(n, ".tmp") || !strcmp(n, "run.json") || !strcmp(n, "report.html") ||
            !strcmp(n, "log.csv") || !strcmp(n, "memory.json"))
            continue;
        char r[512], fa[1200], fb[1200];
        snprintf(r, sizeof r, "%s/%s", rel, n);
        snprintf(fa, sizeof fa, "%s/%s%s", dir, a, r);
        snprintf(fb, sizeof fb, "%s/%s%s", dir, b, r);
        struct stat s;
        if (stat(fa, &s) != 0) continue;
        if (S_ISDIR(s.st_mode)) {
            compared += compare_tree(a, b, r);
            continue;
        }
        int same = ends_with(n, ".safetensors") ? test_same_tensors(fa, fb) : test_same_bytes(fa, fb);
        CHECK(same, "%s: %s and %s differ", r, a, b);
        compared++;
    }
    closedir(d);
    return compared;
}

/* A /proc file (its size reads as 0: read until the end) → malloc'ed bytes, *n; NULL when unreadable. */
static char *read_proc(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    char *buf = f ? malloc(1 << 16) : NULL;
    *n = buf ? fread(buf, 1, (1 << 16) - 1, f) : 0;
    if (buf) buf[*n] = 0;
    if (f) fclose(f);
    return buf;
}

/* The pid of rank `rank` of the experiment writing to <dir>/<out> (its environment and command line), or −1. */
static pid_t find_rank(int rank, const char *out) {
    char want_env[64], want_arg[512];
    snprintf(want_env, sizeof want_env, "OMPI_COMM_WORLD_RANK=%d", rank);
    snprintf(want_arg, sizeof want_arg, "%s/%s", dir, out);
    DIR *d = opendir("/proc");
    pid_t found = -1;
    struct dirent *e;
    while (d && found < 0 && (e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        char path[300];
        size_t n = 0;
        snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
        char *cmd = read_proc(path, &n);
        int arg = 0, env = 0;
        for (size_t i = 0; cmd && i < n; i += strlen(cmd + i) + 1) arg |= !strcmp(cmd + i, want_arg);
        free(cmd);
        if (!arg) continue;
        snprintf(path, sizeof path, "/proc/%s/environ", e->d_name);
        char *envs = read_proc(path, &n);
        for (size_t i = 0; envs && i < n; i += strlen(envs + i) + 1) env |= !strcmp(envs + i, want_env);
        free(envs);
        if (env) found = (pid_t)atoi(e->d_name);
    }
    if (d) closedir(d);
    return found;
}

int main(void) {
    char launcher[96];
    const char *why = test_mpirun(launcher, sizeof launcher);
    if (why) return test_skip(why);
    if (!test_make_tmp_dir(dir, sizeof dir, "blasto_test_experiment_mpi")) return test_skip("mkdtemp failed");
    snprintf(mpirun, sizeof mpirun, "%s -np 2", launcher);
    char cmd[4096], err[65536], cfg[512];
    CHECK(test_tiny_experiment(dir, cfg, sizeof cfg) == 0, "the tiny experiment's cohort and config");

    /* 1. one process, then two ranks */
    double t0 = now();
    snprintf(cmd, sizeof cmd, "%s experiment --config %s --out %s/a --threads 2", BLASTO_CLI, cfg, dir);
    int rc = run(cmd, err, sizeof err);
    CHECK(rc == 0, "one process: exit %d: %s", rc, err);
    double t1 = now();
    snprintf(cmd, sizeof cmd, "%s %s experiment --config %s --out %s/b", mpirun, BLASTO_CLI, cfg, dir);
    rc = run(cmd, err, sizeof err);
    CHECK(rc == 0, "two ranks: exit %d: %s", rc, err);
    double t2 = now();
    CHECK(strstr(err, "[rank 1 of 2]") != NULL, "rank 1 ran units of its own");
    printf("one process (2 threads) %.1f s, two ranks (1 thread each) %.1f s\n", t1 - t0, t2 - t1);
    int compared = compare_tree("a", "b", "");
    CHECK(compared >= 60, "the results of one process and two ranks compared (%d files)", compared);
    printf("one process vs two ranks: %d result files compared\n", compared);

    /* 2. a failing rank */
    snprintf(cmd, sizeof cmd,
             "cp -r %s/b %s/e && rm %s/e/segment/f0/metrics.json %s/e/segment/f1/metrics.json %s/e/table2.csv && "
             "head -c 100 %s/b/segment/f1/last.safetensors > %s/e/segment/f1/last.safetensors",
             dir, dir, dir, dir, dir, dir, dir);
    CHECK(run(cmd, NULL, 0) == 0, "the copy with a damaged unit of rank 1");
    snprintf(cmd, sizeof cmd, "%s %s experiment --config %s --out %s/e", mpirun, BLASTO_CLI, cfg, dir);
    rc = run(cmd, err, sizeof err);
    int lines = 0;
    for (const char *p = err; (p = strstr(p, "blasto experiment: ")); p++) lines++;
    CHECK(rc != 0 && strstr(err, "blasto experiment: rank 1 of 2 failed: ") &&
              strstr(err, "segment/f1/last.safetensors") && lines == 1,
          "rank 1 failing: non-zero, one line naming rank 1 and the file (exit %d, %d lines): %s", rc, lines, err);
    char path[600];
    snprintf(path, sizeof path, "%s/e/table2.csv", dir);
    CHECK(!is_file(path), "no table is written after a rank failed");

    /* 3. a killed rank */
    char out[600], unit[700];
    snprintf(out, sizeof out, "%s/k.out", dir);
    snprintf(cmd, sizeof cmd, "%s %s experiment --config %s --out %s/k > %s 2>&1", mpirun, BLASTO_CLI, cfg, dir, out);
    snprintf(unit, sizeof unit, "%s/k/runs/resnet50-original-f1/last.safetensors", dir);
    pid_t job = fork();
    if (job == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    CHECK(job > 0, "the two-rank job started");
    pid_t victim = -1;
    double start = now();
    while (job > 0 && now() - start < 120 && victim < 0) {
        if (waitpid(job, &rc, WNOHANG) == job) break; /* ended before the kill: fails below */
        if (is_file(unit)) victim = find_rank(1, "k");
        else pause_20ms();
    }
    CHECK(victim > 0, "rank 1 found while it trains runs/resnet50-original-f1");
    if (victim > 0) {
        kill(victim, SIGKILL);
        double killed = now();
        int status = 0;
        while (now() - killed < 60 && waitpid(job, &status, WNOHANG) == 0) pause_20ms();
        double took = now() - killed;
        char *said = test_read_file(out, NULL);
        CHECK(took < 30 && WIFEXITED(status) && WEXITSTATUS(status) != 0 && said && strstr(said, "rank 1"),
              "rank 1 killed: the job ends non-zero within 30 s naming rank 1 (%.1f s, status %d): %s", took, status,
              said ? said : "");
        printf("rank 1 killed: the job ended in %.1f s\n", took);
        free(said);
        if (took >= 60) kill(job, SIGKILL), waitpid(job, &status, 0);
    }
    snprintf(cmd, sizeof cmd, "%s %s experiment --config %s --out %s/k", mpirun, BLASTO_CLI, cfg, dir);
    rc = run(cmd, err, sizeof err);
    CHECK(rc == 0, "the rerun after the kill: exit %d: %s", rc, err);
    int again = compare_tree("a", "k", "");
    CHECK(again == compared, "the rerun's results equal the one-process run's (%d of %d files)", again, compared);
    test_remove_tree(dir);
    return test_summary("test_experiment_mpi");
}
