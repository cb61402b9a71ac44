/* test_train_mpi.c — data-parallel `blasto train` (docs/distributed.md, "Data-parallel training"):
 *   1. `mpirun -np 2 blasto train` equals `blasto train --shards 2` in one process bit for bit: every tensor of
 *      last.safetensors and best.safetensors, validation.csv, and the numbers of log.csv (the timing columns left
 *      out) — the same shards, the same per-shard batch statistics, the same shard-order gradient sum;
 *   2. two ranks stopped after one epoch and resumed with two ranks equal the straight two-rank run;
 *   3. a resume with another number of ranks is refused naming the shard count, and rank 0 alone wrote the run;
 *   4. --sync-bn: two ranks with the whole batch's batchnorm statistics match one process on the whole batch after
 *      one SGD step within documented tolerances, which per-rank batchnorm misses by far; refused in one process.
 * The model is ResNet50 at 32×32 on 32 synthetic training rows (batch 8, 2 epochs). Skipped (77) without MPI in
 * the build or without mpirun. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/collective.h"
#include "core/safetensors.h"
#include "harness.h"
#include "support/test_support.h"

static char dir[256];
static char mpirun[160];

static int run(const char *cmdline, char *err, size_t err_size) { return test_run_shell(cmdline, dir, err, err_size); }

/* log.csv of a run without its timing columns (images_per_s, seconds: the 6th and 7th) → out */
static void log_numbers(const char *run_name, char *out, size_t size) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s/log.csv", dir, run_name);
    char *text = test_read_file(path, NULL);
    size_t len = 0;
    int field = 0;
    for (const char *c = text; c && *c && len + 1 < size; c++) {
        if (*c == ',') field++;
        if (*c == '\n') field = 0;
        if (field != 5 && field != 6) out[len++] = *c;
    }
    out[len] = 0;
    free(text);
}

static int same_file(const char *a, const char *b) {
    char pa[512], pb[512];
    snprintf(pa, sizeof pa, "%s/%s", dir, a);
    snprintf(pb, sizeof pb, "%s/%s", dir, b);
    return test_same_bytes(pa, pb);
}

static int same_checkpoint(const char *a, const char *b) {
    char pa[512], pb[512];
    snprintf(pa, sizeof pa, "%s/%s", dir, a);
    snprintf(pb, sizeof pb, "%s/%s", dir, b);
    return test_same_tensors(pa, pb);
}

/* The checkpoints <dir>/<a>, <dir>/<b> and the initial weights <dir>/<w0> (every float tensor but the optimizer's):
 * *step = max over the weights of |Δa − Δb| / max |Δa| (Δ = the change from w0: one step's update), *running = max
 * over the batchnorm running statistics of |a − b| / max |a|. 0 when a file does not open (the caller checks). */
static int compare_runs(const char *a, const char *b, const char *w0, double *step, double *running) {
    char pa[512], pb[512], p0[512];
    snprintf(pa, sizeof pa, "%s/%s", dir, a), snprintf(pb, sizeof pb, "%s/%s", dir, b);
    snprintf(p0, sizeof p0, "%s/%s", dir, w0);
    bl_safetensors *fa = NULL, *fb = NULL, *f0 = NULL;
    int ok = !bl_safetensors_open(pa, &fa) && !bl_safetensors_open(pb, &fb) && !bl_safetensors_open(p0, &f0);
    double diff = 0, size = 0, rdiff = 0, rsize = 0;
    for (int i = 0; ok && i < bl_safetensors_count(fa); i++) {
        const bl_st_entry *ea = bl_safetensors_entry(fa, i);
        const bl_st_entry *eb = bl_safetensors_find(fb, ea->name), *e0 = bl_safetensors_find(f0, ea->name);
        if (ea->dtype != BL_DTYPE_F32 || !strncmp(ea->name, "optim.", 6)) continue;
        ok = eb && e0 && eb->numel == ea->numel && e0->numel == ea->numel;
        const float *va = (const float *)ea->data, *vb = ok ? (const float *)eb->data : NULL;
        const float *v0 = ok ? (const float *)e0->data : NULL;
        int is_running = strstr(ea->name, "running_") != NULL;
        for (int64_t j = 0; ok && j < ea->numel; j++) {
            double d = fabs((double)va[j] - vb[j]);
            if (is_running) rdiff = fmax(rdiff, d), rsize = fmax(rsize, fabs(va[j]));
            else diff = fmax(diff, d), size = fmax(size, fabs((double)va[j] - v0[j]));
        }
    }
    bl_safetensors_close(fa), bl_safetensors_close(fb), bl_safetensors_close(f0);
    *step = size > 0 ? diff / size : 0;
    *running = rsize > 0 ? rdiff / rsize : 0;
    return ok;
}

/* log.csv's train_loss of the first epoch */
static double first_loss(const char *run_name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s/log.csv", dir, run_name);
    char *text = test_read_file(path, NULL), *line = text ? strchr(text, '\n') : NULL, *comma = line ? strchr(line, ',') : NULL;
    double v = comma ? strtod(comma + 1, NULL) : NAN;
    free(text);
    return v;
}

int main(void) {
    const char *why = test_mpirun(mpirun, sizeof mpirun);
    if (why) return test_skip(why);
    if (!test_make_tmp_dir(dir, sizeof dir, "blasto_test_train_mpi")) return test_skip("mkdtemp failed");
    char cmd[4096], err[65536], args[2048];
    snprintf(cmd, sizeof cmd, "%s synth --out %s/c --n 48 --size 64 --seed 5 --quiet && %s split --cohort "
             "%s/c/cohort.csv --test-count 8 --folds 5 --seed 1 --out %s/split.csv", BLASTO_CLI, dir, BLASTO_CLI,
             dir, dir);
    CHECK(run(cmd, NULL, 0) == 0, "synth and split");
    snprintf(args, sizeof args, "--cohort %s/c/cohort.csv --split %s/split.csv --fold 0 --epochs 2 --batch 8 --size 32 "
             "--lr 1e-3", dir, dir);

    /* 1. one process with 2 shards, two ranks */
    snprintf(cmd, sizeof cmd, "%s train %s --shards 2 --threads 2 --out %s/one", BLASTO_CLI, args, dir);
    int rc = run(cmd, err, sizeof err);
    CHECK(rc == 0, "one process, 2 shards: exit %d: %s", rc, err);
    snprintf(cmd, sizeof cmd, "%s -np 2 %s train %s --out %s/two", mpirun, BLASTO_CLI, args, dir);
    rc = run(cmd, err, sizeof err);
    CHECK(rc == 0, "two ranks: exit %d: %s", rc, err);
    CHECK(same_checkpoint("one/last.safetensors", "two/last.safetensors"),
          "two ranks = one process with 2 shards: last.safetensors bit for bit");
    CHECK(same_checkpoint("one/best.safetensors", "two/best.safetensors"), "… and best.safetensors");
    CHECK(same_file("one/validation.csv", "two/validation.csv"), "… and validation.csv");
    char la[4096], lb[4096];
    log_numbers("one", la, sizeof la);
    log_numbers("two", lb, sizeof lb);
    CHECK(strlen(la) > 40 && strcmp(la, lb) == 0, "… and the numbers of log.csv:\n%s---\n%s", la, lb);

    /* the unsharded run differs (each shard has its own batch statistics): the comparison above can fail */
    snprintf(cmd, sizeof cmd, "%s train %s --threads 2 --out %s/plain", BLASTO_CLI, args, dir);
    CHECK(run(cmd, NULL, 0) == 0, "the unsharded run");
    CHECK(!same_checkpoint("plain/last.safetensors", "one/last.safetensors"),
          "the unsharded run's weights differ from the sharded ones (per-shard batch statistics)");

    /* 2. stop after one epoch, resume with two ranks */
    snprintf(cmd, sizeof cmd, "%s -np 2 %s train %s --out %s/resumed --stop-after 1 && %s -np 2 %s train --resume "
             "--out %s/resumed", mpirun, BLASTO_CLI, args, dir, mpirun, BLASTO_CLI, dir);
    rc = run(cmd, err, sizeof err);
    CHECK(rc == 0, "two ranks, stopped and resumed: exit %d: %s", rc, err);
    CHECK(same_checkpoint("two/last.safetensors", "resumed/last.safetensors"),
          "stopped after one epoch and resumed with two ranks: bit for bit the straight run");

    /* 3. another number of ranks is refused; rank 0 alone wrote */
    snprintf(cmd, sizeof cmd, "%s -np 3 %s train --resume --out %s/two", mpirun, BLASTO_CLI, dir);
    rc = run(cmd, err, sizeof err);
    CHECK(rc != 0 && strstr(err, "trained with 2 shard(s); resume it with 2 rank(s)"),
          "a resume with 3 ranks is refused naming the shard count (exit %d): %s", rc, err);
    snprintf(cmd, sizeof cmd, "ls %s/two | grep -v -x -e log.csv -e last.safetensors -e best.safetensors -e "
             "validation.csv -e memory.json", dir);
    char extra[1024] = "";
    FILE *p = popen(cmd, "r");
    size_t got = p ? fread(extra, 1, sizeof extra - 1, p) : 0;
    if (p) pclose(p);
    extra[got] = 0;
    CHECK(p && got == 0, "the two-rank run wrote only its own files (extra: %s)", extra);
    /* 4. --sync-bn: two ranks with the whole batch's statistics against one process on the whole batch — one SGD
     * step of batch 32 (fold 1's 32 training rows), no augmentation; w0 = the initial weights (a step of lr 1e-12).
     * Tolerances and the floor they stand on: docs/numerics.md, "Synchronised batchnorm" */
    char one_step[1024], steps[8192];
    snprintf(one_step, sizeof one_step, "--cohort %s/c/cohort.csv --split %s/split.csv --fold 1 --epochs 1 --batch 32 "
             "--size 32 --optimizer sgd --augment off", dir, dir);
    snprintf(steps, sizeof steps, "%s train %s --lr 1e-12 --threads 2 --out %s/w0 && %s train %s --lr 1e-3 --threads 2 "
             "--out %s/whole && %s -np 2 %s train %s --lr 1e-3 --sync-bn --out %s/sync && %s -np 2 %s train %s --lr "
             "1e-3 --out %s/own", BLASTO_CLI, one_step, dir, BLASTO_CLI, one_step, dir, mpirun, BLASTO_CLI, one_step,
             dir, mpirun, BLASTO_CLI, one_step, dir);
    rc = run(steps, err, sizeof err);
    CHECK(rc == 0, "the one-step runs: exit %d: %s", rc, err);
    double step_sync = 0, run_sync = 0, step_own = 0, run_own = 0;
    CHECK(compare_runs("whole/last.safetensors", "sync/last.safetensors", "w0/last.safetensors", &step_sync,
                       &run_sync) &&
              compare_runs("whole/last.safetensors", "own/last.safetensors", "w0/last.safetensors", &step_own,
                           &run_own),
          "the one-step checkpoints open");
    double loss_whole = first_loss("whole"), loss_sync = first_loss("sync"), loss_own = first_loss("own");
    double dl_sync = fabs(loss_sync - loss_whole) / loss_whole, dl_own = fabs(loss_own - loss_whole) / loss_whole;
    printf("one step vs the whole batch in one process: --sync-bn loss %.2g, steps %.3g, running statistics %.2g; "
           "per-rank batchnorm loss %.2g, steps %.3g, running statistics %.2g\n", dl_sync, step_sync, run_sync, dl_own,
           step_own, run_own);
    CHECK(dl_sync <= 1e-4 && run_sync <= 1e-3 && step_sync <= 0.05,
          "--sync-bn with two ranks = the whole batch in one process: loss within 1e-4 (%.2g), running statistics "
          "within 1e-3 (%.2g), every weight's update within 5%% of the largest update (%.3g)", dl_sync, run_sync,
          step_sync);
    CHECK(dl_own > 1e-3 && run_own > 0.05 && step_own > 0.5,
          "per-rank batchnorm is far outside those tolerances (loss %.2g, running %.2g, steps %.3g): they can fail",
          dl_own, run_own, step_own);
    snprintf(cmd, sizeof cmd, "%s train %s --lr 1e-3 --sync-bn --out %s/refused", BLASTO_CLI, one_step, dir);
    rc = run(cmd, err, sizeof err);
    CHECK(rc != 0 && strstr(err, "--sync-bn: synchronises the batchnorm statistics of MPI ranks"),
          "--sync-bn in one process is refused (exit %d): %s", rc, err);
    test_remove_tree(dir);
    return test_summary("test_train_mpi");
}
