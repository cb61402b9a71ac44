/* test_kill_safety.c — `blasto train` and `blasto enhance --cohort` survive kill -9 and Ctrl-C at any moment.
 *
 * For each command: one uninterrupted reference run; then rounds in which the command is started, ended with
 * SIGKILL or SIGINT (chosen at random) after a random delay in [0, 1.2·T) (T = the reference's wall time; a round
 * may kill the rerun too); after a SIGINT no temporary may remain at all (the signal thread of core/fileio.h
 * removes them, and a RUN/ or DIR/ the run created before it had anything to keep),
 * after every kill the output folder is inspected — every file under a final name must be complete and parse
 * (checkpoints open and validate, CSVs parse, PNGs decode), anything else must be a temporary name of the atomic
 * writers ("<name>.tmp.<pid>", enhance's staging folder ".enhance-tmp-<pid>/"), which a rerun ignores — and then
 * the command is rerun to completion (train: --resume when last.safetensors exists, else the same command) and its
 * outputs are compared with the reference:
 *   train    tensors of last/best.safetensors byte for byte and their metadata except `log` (which holds the
 *            wall-clock column), validation.csv and memory.json byte for byte, log.csv without its two timing
 *            columns (images_per_s, seconds);
 *   enhance  every file of the reference folder (cohort.csv, images, masks) byte for byte, and no temporary left
 *            (a rerun removes those of dead processes: tools/cli/cmd_enhance.c).
 * And: train into a folder holding "<output>.tmp.<dead pid>" files removes them, but not a live process's
 * temporary nor a temporary of a name train does not write (bl_remove_stale_temporaries, tools/study/csv.h).
 * The delays come from a splitmix64 stream of a seed printed at the start; BLASTO_KILL_SEED=S replays a run,
 * BLASTO_KILL_ROUNDS=N sets the rounds per command (default 3). tools/kill_loop.sh N repeats the test N times with
 * fresh seeds. Data: a 24-image synthetic cohort at 64×64, DenseNet121 at 32×32, batch 4, 2 epochs (~4 s a run);
 * 60 synthetic images at 128×128 for enhance (~1 s a run). */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/safetensors.h"
#include "harness.h"
#include "study/cohort.h"
#include "study/csv.h"
#include "study/image.h"
#include "study/predictions.h"
#include "support/test_support.h"

static char dir[512];
static uint64_t rng_state;

static uint64_t next_random(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Runs `sh -c "exec CMD"` (so the pid is blasto's), sends it `sig` (SIGKILL or SIGINT) after delay_s unless it
 * ended before. Returns 1 when the signal ended it, 0 when it exited by itself with status 0, −1 otherwise.
 * *elapsed_s gets the time. */
static pid_t last_pid; /* the pid of the last command run_and_signal started */

static int run_and_signal(const char *cmd, int sig, double delay_s, double *elapsed_s) {
    char line[4096];
    snprintf(line, sizeof line, "exec %s", cmd);
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0) return -1;
    last_pid = pid;
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", line, (char *)NULL);
        _exit(127);
    }
    int status = 0, killed = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) break;
        if (delay_s >= 0 && now_s() - t0 >= delay_s) {
            kill(pid, sig);
            waitpid(pid, &status, 0);
            killed = WIFSIGNALED(status) && WTERMSIG(status) == sig;
            break;
        }
        struct timespec pause = {0, 2 * 1000 * 1000}; /* 2 ms resolution */
        nanosleep(&pause, NULL);
    }
    if (elapsed_s) *elapsed_s = now_s() - t0;
    if (killed) return 1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* "<base>.tmp.<digits>" */
static int is_atomic_temp(const char *name) {
    const char *t = strstr(name, ".tmp.");
    if (!t || t == name) return 0;
    t += 5;
    if (!*t) return 0;
    for (; *t; t++)
        if (*t < '0' || *t > '9') return 0;
    return 1;
}

static int is_stage_dir(const char *name) { return strncmp(name, ".enhance-tmp-", 13) == 0; }

static int file_exists(const char *path) {
    struct stat s;
    return stat(path, &s) == 0 && S_ISREG(s.st_mode);
}

static int run_and_kill(const char *cmd, double delay_s, double *elapsed_s) {
    return run_and_signal(cmd, SIGKILL, delay_s, elapsed_s);
}

/* SIGKILL or SIGINT (Ctrl-C), one of the two at random */
static int random_signal(void) { return next_random() % 2 ? SIGINT : SIGKILL; }

static int count_temporaries(const char *path);

/* entries of path/ and path/masks/ that are a temporary of process `pid` ("<name>.tmp.<pid>", ".enhance-tmp-<pid>") */
static int temporaries_of(const char *path, pid_t pid);

/* ---------------------------------------------------------------- train ---- */

static const char *const train_outputs[] = {"log.csv", "best.safetensors", "last.safetensors", "validation.csv",
                                            "memory.json"};
#define N_TRAIN_OUTPUTS 5

static void train_command(char *cmd, size_t size, const char *out, int resume) {
    if (resume)
        snprintf(cmd, size, "%s train --resume --out %s/%s --threads 1 >/dev/null 2>%s/%s.err", BLASTO_CLI, dir, out,
                 dir, out);
    else
        snprintf(cmd, size,
                 "%s train --cohort %s/c/cohort.csv --split %s/split.csv --fold 0 --out %s/%s --arch densenet121 "
                 "--size 32 --batch 4 --epochs 2 --lr 1e-3 --threads 1 >/dev/null 2>%s/%s.err",
                 BLASTO_CLI, dir, dir, dir, out, dir, out);
}

/* every entry of RUN/ is a complete output or an atomic-write temporary; returns the number of problems */
static int inspect_train_dir(const char *out, const char *when) {
    char run[600], path[1200];
    snprintf(run, sizeof run, "%s/%s", dir, out);
    DIR *d = opendir(run);
    if (!d) return 0; /* killed before it was created */
    int problems = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || is_atomic_temp(e->d_name)) continue;
        snprintf(path, sizeof path, "%s/%s", run, e->d_name);
        int known = -1;
        for (int k = 0; k < N_TRAIN_OUTPUTS; k++)
            if (!strcmp(e->d_name, train_outputs[k])) known = k;
        int ok = 0;
        if (known == 1 || known == 2) {
            bl_safetensors *st = NULL;
            ok = bl_safetensors_open(path, &st) == BL_OK && bl_safetensors_metadata(st, "format") &&
                 !strcmp(bl_safetensors_metadata(st, "format"), "blasto-pregnancy-checkpoint-1") &&
                 bl_safetensors_count(st) > 100;
            bl_safetensors_close(st);
        } else if (known == 0) {
            bl_csv *csv = NULL;
            ok = bl_csv_read(path, &csv) == BL_OK && csv->n_columns == 8 && csv->n_rows >= 1;
            bl_csv_free(csv);
        } else if (known == 3) {
            bl_predictions *p = NULL;
            ok = bl_predictions_read(path, &p) == BL_OK && p->n == 10;
            bl_predictions_free(p);
        } else if (known == 4) {
            size_t n = 0;
            char *text = test_read_file(path, &n);
            cJSON *j = text ? cJSON_ParseWithLength(text, n) : NULL;
            ok = j && cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "total_bytes"));
            cJSON_Delete(j);
            free(text);
        }
        if (!ok) {
            problems++;
            printf("  %s: %s: %s\n", when, path, known < 0 ? "unexpected file" : "incomplete or unreadable");
        }
    }
    closedir(d);
    return problems;
}

/* tensors byte for byte, metadata equal except "log" */
static int same_checkpoint(const char *a_path, const char *b_path) {
    bl_safetensors *a = NULL, *b = NULL;
    int ok = bl_safetensors_open(a_path, &a) == BL_OK && bl_safetensors_open(b_path, &b) == BL_OK &&
             bl_safetensors_count(a) == bl_safetensors_count(b) &&
             bl_safetensors_metadata_count(a) == bl_safetensors_metadata_count(b);
    for (int i = 0; ok && i < bl_safetensors_count(a); i++) {
        const bl_st_entry *x = bl_safetensors_entry(a, i), *y = bl_safetensors_find(b, x->name);
        ok = y && x->dtype == y->dtype && x->end - x->begin == y->end - y->begin &&
             memcmp(x->data, y->data, (size_t)(x->end - x->begin)) == 0;
        if (!ok) printf("  tensor %s differs: %s vs %s\n", x->name, a_path, b_path);
    }
    for (int i = 0; ok && i < bl_safetensors_metadata_count(a); i++) {
        const char *key, *value;
        bl_safetensors_metadata_at(a, i, &key, &value);
        if (!strcmp(key, "log")) continue;
        const char *other = bl_safetensors_metadata(b, key);
        ok = other && !strcmp(value, other);
        if (!ok) printf("  metadata %s differs: '%s' vs '%s'\n", key, value, other ? other : "(missing)");
    }
    bl_safetensors_close(a);
    bl_safetensors_close(b);
    return ok;
}

/* log.csv without images_per_s and seconds */
static int same_log(const char *a_path, const char *b_path) {
    bl_csv *a = NULL, *b = NULL;
    int ok = bl_csv_read(a_path, &a) == BL_OK && bl_csv_read(b_path, &b) == BL_OK && a->n_rows == b->n_rows &&
             a->n_columns == b->n_columns && a->n_columns == 8;
    for (int i = 0; ok && i < a->n_rows; i++)
        for (int j = 0; ok && j < 8; j++)
            if (j != 5 && j != 6) ok = !strcmp(a->rows[i][j], b->rows[i][j]);
    bl_csv_free(a);
    bl_csv_free(b);
    return ok;
}

static int same_as_reference_train(const char *out) {
    char a[1200], b[1200];
    int ok = 1;
    for (int k = 0; k < N_TRAIN_OUTPUTS; k++) {
        snprintf(a, sizeof a, "%s/ref/%s", dir, train_outputs[k]);
        snprintf(b, sizeof b, "%s/%s/%s", dir, out, train_outputs[k]);
        int same = k == 0 ? same_log(a, b) : (k == 1 || k == 2) ? same_checkpoint(a, b) : test_same_bytes(a, b);
        if (!same) printf("  %s differs from the uninterrupted run\n", b);
        ok &= same;
    }
    return ok;
}

static void train_rounds(int rounds) {
    char cmd[4096];
    /* the reference runs under the same folder name as the rounds (the checkpoint's options record --out), then is
     * renamed to ref/ */
    train_command(cmd, sizeof cmd, "run", 0);
    double t_ref = 0;
    char run[600], ref[600];
    snprintf(run, sizeof run, "%s/run", dir);
    snprintf(ref, sizeof ref, "%s/ref", dir);
    int ok = run_and_kill(cmd, -1, &t_ref) == 0 && rename(run, ref) == 0;
    CHECK(ok, "train: uninterrupted reference run (see %s/run.err)", dir);
    if (!ok) return;
    printf("train: reference run %.2f s\n", t_ref);
    for (int r = 0; r < rounds; r++) {
        const char *out = "run";
        int kills = 1 + (int)(next_random() % 2), killed_total = 0, problems = 0, resumed = 0;
        for (int k = 0; k <= kills; k++) {
            char last[1200];
            snprintf(last, sizeof last, "%s/%s/last.safetensors", dir, out);
            int resume = file_exists(last);
            resumed += resume;
            train_command(cmd, sizeof cmd, out, resume);
            double delay = k < kills ? 1.2 * t_ref * (double)(next_random() >> 11) * 0x1.0p-53 : -1;
            int sig = random_signal();
            char run_dir[700];
            snprintf(run_dir, sizeof run_dir, "%s/%s", dir, out);
            struct stat before;
            int existed = stat(run_dir, &before) == 0;
            int rc = run_and_signal(cmd, sig, delay, NULL);
            if (k < kills) {
                if (rc == 1) killed_total++;
                else CHECK(rc == 0, "train round %d: run %d failed before the kill (see %s/%s.err)", r, k, dir, out);
                char when[96];
                snprintf(when, sizeof when, "after %s %d at %.3f s", sig == SIGINT ? "SIGINT" : "SIGKILL", k + 1, delay);
                problems += inspect_train_dir(out, when);
                /* Ctrl-C: the run's own temporaries are gone at once (those of an earlier SIGKILL stay until a
                 * run reaches its cleanup), and so is a RUN/ it created that holds no checkpoint */
                if (rc == 1 && sig == SIGINT) {
                    int left = temporaries_of(run_dir, last_pid);
                    CHECK(left == 0, "train round %d: %s: no temporary of that run left (%d)", r, when, left);
                    struct stat sb;
                    CHECK(existed || file_exists(last) || stat(run_dir, &sb) != 0,
                          "train round %d: %s: no RUN/ made by that run without a checkpoint", r, when);
                }
                printf("  train round %d: %s %s: %s\n", r, rc == 1 ? "killed" : "finished before the kill", when,
                       file_exists(last) ? "last.safetensors exists" : "no checkpoint yet");
            } else {
                CHECK(rc == 0, "train round %d: the rerun (%s) completes (see %s/%s.err)", r, resume ? "--resume" : "fresh",
                      dir, out);
            }
        }
        printf("train round %d: %d kill(s) landed, %d rerun(s) with --resume\n", r, killed_total, resumed);
        CHECK(problems == 0, "train round %d: every output present after a kill is complete (%d problems)", r, problems);
        CHECK(same_as_reference_train(out), "train round %d: the rerun's outputs equal the uninterrupted run's", r);
        CHECK(inspect_train_dir(out, "after the rerun") == 0, "train round %d: only outputs and temporaries remain", r);
        test_remove_tree(run);
    }
}

/* A pid no process has (a child that already exited and was reaped; reuse within the test is negligible). */
static long dead_pid(void) {
    pid_t child = fork();
    if (child == 0) _exit(0);
    if (child < 0) return 0;
    waitpid(child, NULL, 0);
    return (long)child;
}

static void touch(const char *path) {
    FILE *f = fopen(path, "w");
    if (f) fputs("partial", f), fclose(f);
}

/* A run killed with -9 leaves "<output>.tmp.<pid>"; the next train in that folder removes those of its own outputs
 * whose process is gone, and nothing else: not a live process's, not a file of another name. */
static void train_removes_stale_temporaries(void) {
    char run[1100], cmd[4096], p[1300];
    snprintf(run, sizeof run, "%s/stale", dir);
    CHECK(mkdir(run, 0777) == 0, "mkdir %s", run);
    long dead = dead_pid();
    CHECK(dead > 0, "a dead pid");
    const char *stale[] = {"last.safetensors", "best.safetensors", "validation.csv", "log.csv", "memory.json"};
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/%s.tmp.%ld", run, stale[i], dead);
        touch(p);
    }
    snprintf(p, sizeof p, "%s/notes.txt.tmp.%ld", run, dead); /* not an output of train: the user's */
    touch(p);
    snprintf(p, sizeof p, "%s/log.csv.tmp.%ld", run, (long)getpid()); /* a live process's */
    touch(p);
    train_command(cmd, sizeof cmd, "stale", 0);
    CHECK(run_and_kill(cmd, -1, NULL) == 0, "train into a folder with temporaries (see %s/stale.err)", dir);
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/%s.tmp.%ld", run, stale[i], dead);
        CHECK(!file_exists(p), "train removed %s", p);
    }
    snprintf(p, sizeof p, "%s/notes.txt.tmp.%ld", run, dead);
    CHECK(file_exists(p), "train left the user's %s alone", p);
    snprintf(p, sizeof p, "%s/log.csv.tmp.%ld", run, (long)getpid());
    CHECK(file_exists(p), "train left a live process's %s alone", p);
    test_remove_tree(run);
}

/* -------------------------------------------------------------- enhance ---- */

static void enhance_command(char *cmd, size_t size, const char *out) {
    snprintf(cmd, size, "%s enhance --cohort %s/c2/cohort.csv --out %s/%s --threads 1 >/dev/null 2>%s/%s.err",
             BLASTO_CLI, dir, dir, out, dir, out);
}

/* A final file must decode (PNG) or parse with every referenced file present (cohort.csv). Staging folders and
 * atomic temporaries are allowed anywhere. Returns the number of problems. */
static int inspect_enhance_dir(const char *path, int top) {
    DIR *d = opendir(path);
    if (!d) return 0;
    int problems = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || is_atomic_temp(e->d_name)) continue;
        char p[1400];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        struct stat s;
        if (stat(p, &s) != 0) continue;
        if (S_ISDIR(s.st_mode)) {
            if (top && is_stage_dir(e->d_name)) continue;
            if (top && !strcmp(e->d_name, "masks")) {
                problems += inspect_enhance_dir(p, 0);
                continue;
            }
            printf("  %s: unexpected folder\n", p);
            problems++;
            continue;
        }
        size_t len = strlen(e->d_name);
        int ok = 0;
        if (top && !strcmp(e->d_name, "cohort.csv")) {
            bl_cohort *c = NULL;
            ok = bl_cohort_read(p, 0, &c) == BL_OK && c->n == 60;
            for (int i = 0; ok && i < c->n; i++)
                ok = file_exists(c->rows[i].image) && file_exists(c->rows[i].icm_mask) && file_exists(c->rows[i].te_mask);
            bl_cohort_free(c);
        } else if (len > 4 && !strcmp(e->d_name + len - 4, ".png")) {
            bl_image img;
            ok = bl_image_load(p, 0, &img) == BL_OK && img.width == 128 && img.height == 128 &&
                 img.channels == (top ? 3 : 1);
            bl_image_free(&img);
        }
        if (!ok) {
            printf("  %s: incomplete, unreadable or unexpected\n", p);
            problems++;
        }
    }
    closedir(d);
    return problems;
}

/* "<name>.tmp.<pid>" or ".enhance-tmp-<pid>" of process `pid` (0: of any process) */
static int is_temporary_of(const char *name, pid_t pid) {
    if (!is_atomic_temp(name) && !is_stage_dir(name)) return 0;
    if (pid == 0) return 1;
    const char *digits = strrchr(name, is_stage_dir(name) ? '-' : '.');
    return digits && strtol(digits + 1, NULL, 10) == (long)pid;
}

/* entries of out/ and out/masks/ that are a temporary of `pid` (0: of any process); listed when `verbose` */
static int count_temporaries_in(const char *path, pid_t pid, int verbose) {
    int n = 0;
    for (int sub = 0; sub < 2; sub++) {
        char p[700];
        snprintf(p, sizeof p, "%s%s", path, sub ? "/masks" : "");
        DIR *d = opendir(p);
        for (struct dirent *e; d && (e = readdir(d));) {
            if (is_temporary_of(e->d_name, pid)) {
                if (verbose) printf("  left behind: %s/%s\n", p, e->d_name);
                n++;
            }
        }
        if (d) closedir(d);
    }
    return n;
}

static int count_temporaries(const char *path) { return count_temporaries_in(path, 0, 1); }
static int count_temporaries_quiet(const char *path) { return count_temporaries_in(path, 0, 0); }
static int temporaries_of(const char *path, pid_t pid) { return count_temporaries_in(path, pid, 1); }

/* every file of ref/ (and ref/masks/) equal in out/ */
static int same_as_reference_enhance(const char *out) {
    int ok = 1, files = 0;
    for (int sub = 0; sub < 2; sub++) {
        char ref[700];
        snprintf(ref, sizeof ref, "%s/eref%s", dir, sub ? "/masks" : "");
        DIR *d = opendir(ref);
        if (!d) return 0;
        for (struct dirent *e; (e = readdir(d));) {
            if (e->d_name[0] == '.' || !strcmp(e->d_name, "masks")) continue;
            char a[1400], b[1400];
            snprintf(a, sizeof a, "%s/%s", ref, e->d_name);
            snprintf(b, sizeof b, "%s/%s%s/%s", dir, out, sub ? "/masks" : "", e->d_name);
            files++;
            if (!test_same_bytes(a, b)) {
                if (ok) printf("  %s differs from the uninterrupted run\n", b);
                ok = 0;
            }
        }
        closedir(d);
    }
    return ok && files == 1 + 3 * 60;
}

static void enhance_rounds(int rounds) {
    char cmd[4096];
    enhance_command(cmd, sizeof cmd, "eref");
    double t_ref = 0;
    int ok = run_and_kill(cmd, -1, &t_ref) == 0;
    CHECK(ok, "enhance: uninterrupted reference run (see %s/eref.err)", dir);
    if (!ok) return;
    printf("enhance: reference run %.2f s\n", t_ref);
    for (int r = 0; r < rounds; r++) {
        char out[32], path[600];
        snprintf(out, sizeof out, "enh%d", r);
        snprintf(path, sizeof path, "%s/%s", dir, out);
        int kills = 1 + (int)(next_random() % 2), killed_total = 0, problems = 0, temporaries = 0;
        for (int k = 0; k <= kills; k++) {
            enhance_command(cmd, sizeof cmd, out);
            double delay = k < kills ? 1.2 * t_ref * (double)(next_random() >> 11) * 0x1.0p-53 : -1;
            int sig = random_signal();
            int rc = run_and_signal(cmd, sig, delay, NULL);
            if (k < kills) {
                if (rc == 1) killed_total++;
                else CHECK(rc == 0, "enhance round %d: run %d failed before the kill (see %s/%s.err)", r, k, dir, out);
                problems += inspect_enhance_dir(path, 1);
                temporaries += count_temporaries_quiet(path);
                if (rc == 1 && sig == SIGINT) { /* Ctrl-C: the run's staging folder and temporaries are gone at once */
                    int left = temporaries_of(path, last_pid);
                    CHECK(left == 0, "enhance round %d: SIGINT at %.3f s: no temporary of that run left (%d)", r,
                          delay, left);
                }
            } else {
                CHECK(rc == 0, "enhance round %d: the rerun completes (see %s/%s.err)", r, dir, out);
            }
        }
        printf("enhance round %d: %d kill(s) landed, %d temporaries seen after them\n", r, killed_total, temporaries);
        CHECK(problems == 0, "enhance round %d: every output present after a kill is complete (%d problems)", r,
              problems);
        CHECK(same_as_reference_enhance(out), "enhance round %d: the rerun's files equal the uninterrupted run's", r);
        CHECK(inspect_enhance_dir(path, 1) == 0, "enhance round %d: only outputs and temporaries remain", r);
        CHECK(count_temporaries(path) == 0, "enhance round %d: the rerun removed the killed runs' temporaries", r);
        test_remove_tree(path);
    }
}

int main(void) {
    const char *seed_text = getenv("BLASTO_KILL_SEED"), *rounds_text = getenv("BLASTO_KILL_ROUNDS");
    uint64_t seed = seed_text && *seed_text ? strtoull(seed_text, NULL, 10)
                                            : (uint64_t)time(NULL) * 1000003u + (uint64_t)getpid();
    int rounds = rounds_text && *rounds_text ? atoi(rounds_text) : 3;
    if (rounds < 1) rounds = 1;
    rng_state = seed;
    printf("kill seed: %llu (replay with BLASTO_KILL_SEED=%llu), %d rounds per command\n", (unsigned long long)seed,
           (unsigned long long)seed, rounds);
    /* in memory when /dev/shm exists: the checkpoints are fsync'ed, and a disk shared with other jobs makes that the
     * slowest part; what is tested (kill points, rename atomicity) does not depend on the file system */
    snprintf(dir, sizeof dir, "/dev/shm/blasto_kill_XXXXXX");
    if (access("/dev/shm", W_OK) != 0 || !mkdtemp(dir))
        if (!test_make_tmp_dir(dir, sizeof dir, "blasto_kill")) return test_skip("cannot create a temporary directory");
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "%s synth --out %s/c --n 24 --size 64 --seed 3 --quiet && "
             "%s split --cohort %s/c/cohort.csv --test-count 4 --folds 2 --out %s/split.csv >/dev/null && "
             "%s synth --out %s/c2 --n 60 --size 128 --seed 5 --quiet",
             BLASTO_CLI, dir, BLASTO_CLI, dir, dir, BLASTO_CLI, dir);
    int data_ok = system(cmd) == 0;
    CHECK(data_ok, "synthetic cohorts and split");
    if (data_ok) {
        train_rounds(rounds);
        train_removes_stale_temporaries();
        enhance_rounds(rounds);
    }
    if (test_failed) printf("kept %s for inspection (kill seed %llu)\n", dir, (unsigned long long)seed);
    else test_remove_tree(dir);
    return test_summary("test_kill_safety");
}
