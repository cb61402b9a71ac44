/* test_resume.c — `blasto train --resume` gives bitwise the weights of an uninterrupted run:
 *   A: 2 epochs uninterrupted;
 *   B: the same run stopped after epoch 1 (--stop-after 1), then --resume for epoch 2;
 *   C: the same run killed with SIGKILL right after its first checkpoint appeared (mid-epoch 2), then --resume.
 * Every tensor of last.safetensors (weights, BN statistics, optimizer moments) must be byte-identical across A, B
 * and C, and so must the log's loss/AUROC columns. Data: a 120-image synthetic cohort at 64×64, ResNet50 from
 * random init, batch 16, Adam, cosine schedule (so the schedule's dependence on the epoch is exercised). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/safetensors.h"
#include "harness.h"

static char dir[256];

static int sh(const char *fmt, const char *a, const char *b) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    return system(cmd);
}

static int run_train(const char *out, const char *extra) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "%s train --cohort %s/c/cohort.csv --split %s/split.csv --fold 0 --out %s/%s --arch resnet50 --size 64 "
             "--batch 16 --epochs 2 --lr 1e-3 --optimizer adam --schedule cosine --threads 2 %s 2>%s/%s.err",
             BLASTO_CLI, dir, dir, dir, out, extra, dir, out);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int resume(const char *out) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s train --resume --out %s/%s --threads 2 2>%s/%s.resume.err", BLASTO_CLI, dir, out, dir,
             out);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* 1 when every tensor of the two files has identical bytes (and the names match). */
static int same_tensors(const char *name_a, const char *name_b) {
    char pa[512], pb[512];
    snprintf(pa, sizeof pa, "%s/%s/last.safetensors", dir, name_a);
    snprintf(pb, sizeof pb, "%s/%s/last.safetensors", dir, name_b);
    bl_safetensors *a = NULL, *b = NULL;
    int ok = !bl_safetensors_open(pa, &a) && !bl_safetensors_open(pb, &b);
    ok = ok && bl_safetensors_count(a) == bl_safetensors_count(b);
    int differing = 0;
    for (int i = 0; ok && i < bl_safetensors_count(a); i++) {
        const bl_st_entry *ea = bl_safetensors_entry(a, i), *eb = bl_safetensors_find(b, ea->name);
        if (!eb || eb->end - eb->begin != ea->end - ea->begin) {
            ok = 0;
            break;
        }
        if (memcmp(ea->data, eb->data, (size_t)(ea->end - ea->begin)) != 0 && differing++ < 3)
            printf("  %s differs between %s and %s\n", ea->name, name_a, name_b);
    }
    ok = ok && differing == 0 && strcmp(bl_safetensors_metadata(a, "step"), bl_safetensors_metadata(b, "step")) == 0 &&
         strcmp(bl_safetensors_metadata(a, "epoch"), "2") == 0 && strcmp(bl_safetensors_metadata(b, "epoch"), "2") == 0;
    bl_safetensors_close(a);
    bl_safetensors_close(b);
    return ok;
}

/* log.csv without the timing columns (images_per_s, seconds) */
static void log_numbers(const char *name, char *out, size_t size) {
    char path[512], line[512];
    snprintf(path, sizeof path, "%s/%s/log.csv", dir, name);
    out[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        char *fields[8];
        int n = 0;
        for (char *t = strtok(line, ",\n"); t && n < 8; t = strtok(NULL, ",\n")) fields[n++] = t;
        for (int i = 0; i < n; i++)
            if (i < 5 || i == 7) strncat(out, fields[i], size - strlen(out) - 2), strncat(out, ",", size - strlen(out) - 1);
        strncat(out, "\n", size - strlen(out) - 1);
    }
    fclose(f);
}

static int exists(const char *name, const char *file) {
    char path[512];
    struct stat s;
    snprintf(path, sizeof path, "%s/%s/%s", dir, name, file);
    return stat(path, &s) == 0;
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/blasto_test_resume_XXXXXX");
    if (!mkdtemp(dir)) return test_skip("cannot create a temporary directory");
    CHECK(sh("%s synth --out %s/c --n 120 --size 64 --seed 3 --quiet 2>/dev/null", BLASTO_CLI, dir) == 0, "synth");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s split --cohort %s/c/cohort.csv --test-count 20 --folds 3 --out %s/split.csv >/dev/null",
             BLASTO_CLI, dir, dir);
    CHECK(system(cmd) == 0, "split");

    CHECK(run_train("A", "") == 0, "uninterrupted run");
    CHECK(run_train("B", "--stop-after 1") == 0, "run stopped after epoch 1");
    CHECK(exists("B", "last.safetensors"), "B has a checkpoint after epoch 1");
    CHECK(resume("B") == 0, "resume B");
    CHECK(same_tensors("A", "B"), "stop + resume: every tensor bitwise equal to the uninterrupted run");
    char la[4096], lb[4096], lc[4096];
    log_numbers("A", la, sizeof la);
    log_numbers("B", lb, sizeof lb);
    CHECK(strlen(la) > 60 && strcmp(la, lb) == 0, "log numbers equal:\n%s---\n%s", la, lb);
    CHECK(resume("B") == 0, "resuming a finished run is a no-op that succeeds");

    /* C: kill -9 once the first checkpoint exists (the process is then inside epoch 2) */
    pid_t pid = fork();
    if (pid == 0) {
        char out[512], err[512];
        snprintf(out, sizeof out, "%s/C", dir);
        snprintf(err, sizeof err, "%s/C.err", dir);
        if (!freopen(err, "w", stderr)) _exit(126);
        char cohort[512], split[512];
        snprintf(cohort, sizeof cohort, "%s/c/cohort.csv", dir);
        snprintf(split, sizeof split, "%s/split.csv", dir);
        execl(BLASTO_CLI, BLASTO_CLI, "train", "--cohort", cohort, "--split", split, "--fold", "0", "--out", out,
              "--arch", "resnet50", "--size", "64", "--batch", "16", "--epochs", "2", "--lr", "1e-3", "--optimizer",
              "adam", "--schedule", "cosine", "--threads", "2", (char *)NULL);
        _exit(127);
    }
    int killed = 0, status = 0;
    for (int i = 0; i < 12000 && !killed; i++) {
        if (exists("C", "last.safetensors")) {
            kill(pid, SIGKILL);
            killed = 1;
        } else if (waitpid(pid, &status, WNOHANG) == pid) {
            break;
        } else {
            nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
        }
    }
    if (killed) waitpid(pid, &status, 0);
    CHECK(killed && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "training process killed by SIGKILL mid-run");
    CHECK(resume("C") == 0, "resume after kill -9");
    CHECK(same_tensors("A", "C"), "kill -9 + resume: every tensor bitwise equal to the uninterrupted run");
    log_numbers("C", lc, sizeof lc);
    CHECK(strcmp(la, lc) == 0, "log numbers equal after kill + resume:\n%s---\n%s", la, lc);

    if (test_failed == 0) sh("rm -rf %s%s", dir, "");
    else printf("files kept in %s\n", dir);
    return test_summary("test_resume");
}
