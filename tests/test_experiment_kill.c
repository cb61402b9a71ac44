/* test_experiment_kill.c — kill -9 or Ctrl-C (SIGINT; one of the two at random) `blasto experiment` at random
 * moments, rerun it, and require:
 *   - after every kill, no output is half-written: every final file present parses completely (CSV: header and
 *     every line ends with a newline and has the header's number of cells; JSON: parses; safetensors: opens);
 *   - the run completes after reruns, and every table, prediction file, metrics file, calibration, focus file and
 *     checkpoint is byte-identical to an uninterrupted run's.
 * The kill times come from a seeded RNG (seed printed; BLASTO_TEST_SEED overrides it). A tiny experiment (40
 * synthetic images, ResNet50 at 32×32, 2 folds, 2 epochs) keeps it to about a minute. It runs on predicted
 * annotations (a 4-epoch U-Net per fold, the enhanced units on its masks), so the segment units, their resumed
 * trainings and their prediction folders are killed and compared too. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "core/rng.h"
#include "core/safetensors.h"
#include "harness.h"
#include "support/test_support.h"

static char dir[256];

static int run(const char *cmdline, char *err, size_t err_size) { return test_run_shell(cmdline, dir, err, err_size); }

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* a complete CSV: non-empty, ends with '\n', every line has as many commas as the header */
static int csv_complete(const char *path) {
    size_t size = 0;
    char *t = test_read_file(path, &size);
    if (!t) return 0;
    int ok = size > 0 && t[size - 1] == '\n';
    int header_commas = -1, commas = 0;
    for (size_t i = 0; ok && i < size; i++) {
        if (t[i] == ',') commas++;
        if (t[i] == '\n') {
            if (header_commas < 0) header_commas = commas;
            else ok = commas == header_commas;
            commas = 0;
        }
    }
    free(t);
    return ok;
}

static int json_complete(const char *path) {
    size_t size = 0;
    char *t = test_read_file(path, &size);
    cJSON *j = t ? cJSON_ParseWithLength(t, size) : NULL;
    int ok = j != NULL;
    cJSON_Delete(j);
    free(t);
    return ok;
}

static int safetensors_complete(const char *path) {
    bl_safetensors *f = NULL;
    int ok = bl_safetensors_open(path, &f) == BL_OK;
    bl_safetensors_close(f);
    return ok;
}

/* every final output under root (recursively) is complete; temp files (*.tmp.*) are ignored. Returns files seen. */
static int check_complete(const char *root, const char *when) {
    DIR *d = opendir(root);
    if (!d) return 0;
    int seen = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", root, e->d_name);
        struct stat s;
        if (stat(path, &s) != 0) continue;
        if (S_ISDIR(s.st_mode)) {
            seen += check_complete(path, when);
            continue;
        }
        if (strstr(e->d_name, ".tmp")) continue; /* an atomic write's temp file: never a final name */
        seen++;
        if (ends_with(path, ".csv")) CHECK(csv_complete(path), "%s: %s is an incomplete CSV", when, path);
        else if (ends_with(path, ".json")) CHECK(json_complete(path), "%s: %s is incomplete JSON", when, path);
        else if (ends_with(path, ".safetensors"))
            CHECK(safetensors_complete(path), "%s: %s does not open: %s", when, path, bl_last_error());
    }
    closedir(d);
    return seen;
}

static int same_bytes(const char *a, const char *b) {
    return ends_with(a, ".safetensors") ? test_same_tensors(a, b) : test_same_bytes(a, b);
}

int main(void) {
    if (!test_make_tmp_dir(dir, sizeof dir, "blasto_test_experiment_kill")) return test_skip("mkdtemp failed");
    uint64_t seed = (uint64_t)time(NULL);
    const char *env = getenv("BLASTO_TEST_SEED");
    if (env && *env) seed = strtoull(env, NULL, 10);
    printf("test_experiment_kill: seed %llu (BLASTO_TEST_SEED=%llu reproduces the kill times)\n",
           (unsigned long long)seed, (unsigned long long)seed);
    char cmd[4096], err[65536], cfg[512];
    CHECK(test_tiny_experiment(dir, cfg, sizeof cfg) == 0, "the tiny experiment's cohort and config");

    /* the uninterrupted run, timed: the kills are spread over its duration */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    snprintf(cmd, sizeof cmd, "%s experiment --config %s --out %s/a --threads 2", BLASTO_CLI, cfg, dir);
    int rc = run(cmd, err, sizeof err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(rc == 0, "uninterrupted experiment: exit %d: %s", rc, err);
    double full = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);

    /* the killed run: SIGKILL after a random 5–60 % of the full duration, again and again, until a run finishes.
     * The machine may have become faster since the uninterrupted run was timed (a shared machine's load changes),
     * so a round in which fewer than 2 kills landed starts again from nothing with the times halved (3 rounds). */
    bl_rng r = bl_rng_stream(seed, BL_RNG_DATA, 0);
    int kills = 0, finished = 0;
    double scale = 1.0;
    for (int round = 0; round < 3 && kills < 2; round++, scale *= 0.5) {
        char wipe[600];
        snprintf(wipe, sizeof wipe, "rm -rf %s/b", dir);
        CHECK(run(wipe, NULL, 0) == 0, "remove the killed run's folder before round %d", round);
        kills = 0, finished = 0;
        for (int attempt = 0; attempt < 40 && !finished; attempt++) {
            double after = scale * full * (0.05 + 0.55 * (double)bl_rng_uniform(&r));
            int interrupt = bl_rng_uniform(&r) < 0.5f; /* Ctrl-C (SIGINT) or kill -9 */
            snprintf(cmd, sizeof cmd, "timeout -s %s %.2f %s experiment --config %s --out %s/b --threads 2",
                     interrupt ? "INT" : "KILL", after, BLASTO_CLI, cfg, dir);
            rc = run(cmd, err, sizeof err);
            int want = interrupt ? 124 : 137; /* timeout's status when it sent the signal */
            if (rc == 0) finished = 1;
            else {
                CHECK(rc == want, "attempt %d: expected %s (%d) or success, got exit %d: %s", attempt,
                      interrupt ? "an interrupt" : "a kill", want, rc, err);
                if (rc != want) break;
                kills++;
                char when[64], b[512];
                snprintf(when, sizeof when, "after %s %d (%.2f s)", interrupt ? "SIGINT" : "SIGKILL", kills, after);
                check_complete(test_path_in(b, sizeof b, dir, "b"), when);
            }
        }
        CHECK(finished, "round %d: the killed experiment finished after %d kills", round, kills);
        if (!finished) break;
    }
    CHECK(kills >= 2, "at least two kills landed mid-run (got %d; the run takes %.1f s)", kills, full);
    printf("test_experiment_kill: uninterrupted run %.1f s; %d kills before the rerun finished\n", full, kills);

    /* identical results */
    static const char *const files[] = {
        "split.csv", "table1.csv", "table2.csv", "table3.csv", "delong.csv", "calibration.json",
        "runs/resnet50-original-f0/test.csv", "runs/resnet50-original-f0/metrics.json",
        "runs/resnet50-original-f0/validation.csv", "runs/resnet50-original-f0/best.safetensors",
        "runs/resnet50-original-f0/last.safetensors", "runs/resnet50-original-f1/test.csv",
        "runs/resnet50-enhanced-f0/test.csv", "runs/resnet50-enhanced-f1/test.csv",
        "runs/resnet50-enhanced-f1/metrics.json", "runs/resnet50-enhanced-f1/best.safetensors",
        "segmentation.csv", "segment/f0/metrics.json", "segment/f0/last.safetensors", "segment/f0/best.safetensors",
        "segment/f1/last.safetensors", "segment/f1/metrics.json"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char a[1024], b[1024];
        snprintf(a, sizeof a, "%s/a/%s", dir, files[i]);
        snprintf(b, sizeof b, "%s/b/%s", dir, files[i]);
        CHECK(same_bytes(a, b), "%s: the killed-and-resumed run differs from the uninterrupted run", files[i]);
    }
    /* the Grad-CAM focus files of the two chosen units (their names are Table 3's model columns) */
    char t3[512];
    snprintf(t3, sizeof t3, "%s/a/table3.csv", dir);
    char *text = test_read_file(t3, NULL);
    int compared = 0;
    for (int u = 0; text && u < 4; u++) {
        static const char *const names[4] = {"resnet50-original-f0", "resnet50-original-f1", "resnet50-enhanced-f0",
                                             "resnet50-enhanced-f1"};
        if (!strstr(text, names[u])) continue;
        char a[1024], b[1024];
        snprintf(a, sizeof a, "%s/a/gradcam/%s/focus.csv", dir, names[u]);
        snprintf(b, sizeof b, "%s/b/gradcam/%s/focus.csv", dir, names[u]);
        CHECK(same_bytes(a, b), "gradcam/%s/focus.csv differs", names[u]);
        compared++;
    }
    free(text);
    CHECK(compared == 2, "two focus files compared (got %d)", compared);
    /* the predicted annotations: every mask PNG and labelme file of both folds' pred/ */
    int preds = 0;
    for (int k = 0; k < 2; k++) {
        char csv[1024];
        snprintf(csv, sizeof csv, "%s/a/segment/f%d/pred/cohort.csv", dir, k);
        char *rows = test_read_file(csv, NULL);
        for (char *line = rows ? strchr(rows, '\n') : NULL; line && line[1]; line = strchr(line + 1, '\n')) {
            char id[64] = "";
            if (sscanf(line + 1, "%63[^,]", id) != 1) break;
            static const char *const kinds[3] = {"icm/%s.png", "te/%s.png", "%s.json"};
            for (int q = 0; q < 3; q++) {
                char name[128], a[1200], b[1200];
                snprintf(name, sizeof name, kinds[q], id);
                snprintf(a, sizeof a, "%s/a/segment/f%d/pred/%s", dir, k, name);
                snprintf(b, sizeof b, "%s/b/segment/f%d/pred/%s", dir, k, name);
                struct stat st_a;
                if (stat(a, &st_a) != 0) continue; /* a training row: its manual annotation, not predicted */
                CHECK(same_bytes(a, b), "segment/f%d/pred/%s differs", k, name);
                preds++;
            }
        }
        free(rows);
    }
    CHECK(preds >= 2 * 3 * 8, "the predicted masks and labelme files of both folds compared (got %d files)", preds);
    test_remove_tree(dir);
    return test_summary("test_experiment_kill");
}
