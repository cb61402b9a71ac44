/* test_train.c — `blasto train` learns and `blasto predict` reproduces its numbers; bad inputs fail exactly.
 *
 *   1. learning: a 120-image synthetic cohort (seed 3) at 64×64, 20 test rows + 3 folds; ResNet50 from random init,
 *      3 epochs, batch 4, Adam lr 1e-2, cosine, balanced class weights, backbone frozen (head-only: full training
 *      of a random ResNet50 on 66 images is not robust; docs/training.md "Test settings") → the best validation
 *      AUROC ≥ 0.65;
 *   2. consistency: log.csv's best val_auroc = the Mann–Whitney AUROC of RUN/validation.csv (computed here);
 *      `blasto predict --model RUN/best.safetensors --set validation` gives bitwise the scores of validation.csv;
 *      checkpoint metadata (arch, epoch, age mean/SD) is what the run used;
 *   3. bad inputs, each with its exact message and nothing written: a checkpoint of another architecture
 *      (predict --arch densenet121), a checkpoint with a tensor missing, a split with an id not in the cohort,
 *      a fold out of range. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "core/safetensors.h"
#include "harness.h"
#include "support/test_support.h"

static char dir[256];

/* Runs a shell command line; returns the exit code; stderr text into err (may be NULL). */
static int run(const char *cmdline, char *err, size_t err_size) { return test_run_shell(cmdline, dir, err, err_size); }

static int exists(const char *path) {
    struct stat s;
    return stat(path, &s) == 0;
}

typedef struct pred {
    char id[64];
    int label;
    double score;
    char score_text[64];
} pred;

/* id,label,score[,…] → rows (≤ max); returns the count or −1 */
static int read_preds(const char *path, pred *rows, int max) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[512];
    int n = 0;
    if (!fgets(line, sizeof line, f) || strncmp(line, "id,label,score", 14) != 0) n = -1;
    while (n >= 0 && n < max && fgets(line, sizeof line, f)) {
        char *id = strtok(line, ","), *label = strtok(NULL, ","), *score = strtok(NULL, ",\n");
        if (!id || !label || !score) return fclose(f), -1;
        snprintf(rows[n].id, sizeof rows[n].id, "%s", id);
        snprintf(rows[n].score_text, sizeof rows[n].score_text, "%s", score);
        rows[n].label = atoi(label);
        rows[n].score = strtod(score, NULL);
        n++;
    }
    fclose(f);
    return n;
}

static double mann_whitney(const pred *r, int n) {
    double num = 0;
    int np = 0, nn = 0;
    for (int i = 0; i < n; i++) r[i].label ? np++ : nn++;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (r[i].label && !r[j].label) num += r[i].score > r[j].score ? 1.0 : r[i].score == r[j].score ? 0.5 : 0.0;
    return np && nn ? num / ((double)np * nn) : NAN;
}

/* best val_auroc in RUN/log.csv and its epoch */
static double best_logged_auroc(const char *log_path, int *epoch) {
    FILE *f = fopen(log_path, "r");
    double best = -1;
    *epoch = -1;
    if (!f) return best;
    char line[512];
    if (!fgets(line, sizeof line, f)) return fclose(f), best;
    while (fgets(line, sizeof line, f)) {
        int e, is_best;
        double tl, vl, auc, lr, ips, secs;
        if (sscanf(line, "%d,%lf,%lf,%lf,%lf,%lf,%lf,%d", &e, &tl, &vl, &auc, &lr, &ips, &secs, &is_best) == 8 &&
            is_best)
            best = auc, *epoch = e;
    }
    fclose(f);
    return best;
}

/* Copy of a checkpoint without one tensor (a damaged or foreign file). */
static int drop_tensor(const char *in, const char *out, const char *name) {
    bl_safetensors *st = NULL;
    bl_st_writer *w = NULL;
    if (bl_safetensors_open(in, &st) || bl_st_writer_create(&w)) return -1;
    int rc = 0;
    for (int i = 0; !rc && i < bl_safetensors_count(st); i++) {
        const bl_st_entry *e = bl_safetensors_entry(st, i);
        if (strcmp(e->name, name) != 0) rc = bl_st_writer_add_raw(w, e->name, e->dtype, e->ndim, e->shape, e->data);
    }
    for (int i = 0; !rc && i < bl_safetensors_metadata_count(st); i++) {
        const char *k, *v;
        bl_safetensors_metadata_at(st, i, &k, &v);
        rc = bl_st_writer_add_metadata(w, k, v);
    }
    if (!rc) rc = bl_st_writer_save(w, out);
    bl_st_writer_free(w);
    bl_safetensors_close(st);
    return rc;
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/blasto_test_train_XXXXXX");
    if (!mkdtemp(dir)) return test_skip("cannot create a temporary directory");
    char cmd[4096], err[4096], path[512], path2[512];
    snprintf(cmd, sizeof cmd, "%s synth --out %s/c --n 120 --size 64 --seed 3 --quiet", BLASTO_CLI, dir);
    CHECK(run(cmd, NULL, 0) == 0, "synth");
    snprintf(cmd, sizeof cmd, "%s split --cohort %s/c/cohort.csv --test-count 20 --folds 3 --out %s/split.csv >/dev/null",
             BLASTO_CLI, dir, dir);
    CHECK(run(cmd, NULL, 0) == 0, "split");

    /* 1. learning */
    snprintf(cmd, sizeof cmd,
             "%s train --cohort %s/c/cohort.csv --split %s/split.csv --fold 0 --out %s/run --arch resnet50 --size 64 "
             "--batch 4 --epochs 3 --lr 1e-2 --optimizer adam --schedule cosine --class-weight balanced --seed 1 "
             "--freeze-backbone-epochs 3 --threads 2",
             BLASTO_CLI, dir, dir, dir);
    int rc = run(cmd, err, sizeof err);
    CHECK(rc == 0, "train exits 0 (stderr: %s)", err);
    CHECK(strstr(err, "memory plan after the first step") != NULL, "memory plan printed");
    snprintf(path, sizeof path, "%s/run/memory.json", dir);
    CHECK(exists(path), "memory.json written");
    int best_epoch;
    snprintf(path, sizeof path, "%s/run/log.csv", dir);
    double best = best_logged_auroc(path, &best_epoch);
    printf("best validation AUROC %.4f at epoch %d\n", best, best_epoch);
    CHECK(best >= 0.65, "validation AUROC rises clearly above 0.5 (got %.4f)", best);

    /* 2. consistency of log, validation.csv, checkpoint and predict */
    static pred val[200], pr[200];
    snprintf(path, sizeof path, "%s/run/validation.csv", dir);
    int n_val = read_preds(path, val, 200);
    CHECK(n_val == 34, "validation.csv has the 34 rows of fold 0 (got %d)", n_val);
    CHECK(fabs(mann_whitney(val, n_val) - best) < 1e-8, "log AUROC %.9f = AUROC of validation.csv %.9f", best,
          mann_whitney(val, n_val));
    snprintf(cmd, sizeof cmd,
             "%s predict --model %s/run/best.safetensors --cohort %s/c/cohort.csv --split %s/split.csv --set validation "
             "--out %s/pred.csv --threads 2",
             BLASTO_CLI, dir, dir, dir, dir);
    CHECK(run(cmd, err, sizeof err) == 0, "predict exits 0 (stderr: %s)", err);
    snprintf(path, sizeof path, "%s/pred.csv", dir);
    int n_pred = read_preds(path, pr, 200);
    int same = n_pred == n_val;
    for (int i = 0; same && i < n_val; i++)
        same = !strcmp(val[i].id, pr[i].id) && val[i].label == pr[i].label && val[i].score == pr[i].score;
    CHECK(same, "predict reproduces the training run's validation scores bitwise (%d vs %d rows)", n_pred, n_val);
    bl_safetensors *ck = NULL;
    snprintf(path, sizeof path, "%s/run/best.safetensors", dir);
    CHECK(bl_safetensors_open(path, &ck) == BL_OK, "best checkpoint opens");
    if (ck) {
        const char *arch = bl_safetensors_metadata(ck, "arch"), *epoch = bl_safetensors_metadata(ck, "epoch");
        CHECK(arch && !strcmp(arch, "resnet50"), "checkpoint arch resnet50");
        CHECK(epoch && atoi(epoch) == best_epoch, "best checkpoint is of the best epoch (%s vs %d)", epoch, best_epoch);
        CHECK(bl_safetensors_find(ck, "head.fc.weight") && bl_safetensors_find(ck, "optim.a.head.fc.weight") &&
                  bl_safetensors_find(ck, "optim.b.layer4.2.bn3.weight") && bl_safetensors_find(ck, "bn1.running_var"),
              "weights, BN statistics and optimizer moments stored");
        const char *sd = bl_safetensors_metadata(ck, "age_sd");
        CHECK(sd && strtod(sd, NULL) > 0.5, "age SD stored (%s)", sd ? sd : "missing");
        bl_safetensors_close(ck);
    }

    /* 3. bad inputs */
    snprintf(cmd, sizeof cmd,
             "%s predict --model %s/run/best.safetensors --cohort %s/c/cohort.csv --arch densenet121 --out %s/bad1.csv",
             BLASTO_CLI, dir, dir, dir);
    rc = run(cmd, err, sizeof err);
    snprintf(path, sizeof path, "%s/bad1.csv", dir);
    char want[1024];
    snprintf(want, sizeof want,
             "blasto predict: %s/run/best.safetensors: __metadata__.arch: architecture mismatch (expected densenet121, "
             "got resnet50)\n", dir);
    CHECK(rc == 1 && !strcmp(err, want) && !exists(path), "another arch refused: %s", err);

    snprintf(path, sizeof path, "%s/run/best.safetensors", dir);
    snprintf(path2, sizeof path2, "%s/damaged.safetensors", dir);
    CHECK(drop_tensor(path, path2, "layer3.1.bn2.running_mean") == 0, "damaged copy written");
    snprintf(cmd, sizeof cmd, "%s predict --model %s --cohort %s/c/cohort.csv --out %s/bad2.csv", BLASTO_CLI, path2,
             dir, dir);
    rc = run(cmd, err, sizeof err);
    snprintf(want, sizeof want,
             "blasto predict: %s: 'layer3.1.bn2.running_mean': missing tensor (expected shape [256] for resnet50)\n",
             path2);
    snprintf(path, sizeof path, "%s/bad2.csv", dir);
    CHECK(rc == 1 && !strcmp(err, want) && !exists(path), "missing tensor refused: %s", err);

    snprintf(cmd, sizeof cmd, "cp %s/split.csv %s/split_bad.csv && echo 'ghost_9,train,1' >> %s/split_bad.csv", dir, dir,
             dir);
    CHECK(system(cmd) == 0, "bad split written");
    snprintf(cmd, sizeof cmd,
             "%s train --cohort %s/c/cohort.csv --split %s/split_bad.csv --fold 0 --out %s/bad3 --size 64 --epochs 1",
             BLASTO_CLI, dir, dir, dir);
    rc = run(cmd, err, sizeof err);
    snprintf(want, sizeof want,
             "blasto train: %s/split_bad.csv: line 122: column 'id': 'ghost_9' is not in the cohort %s/c/cohort.csv\n",
             dir, dir);
    snprintf(path, sizeof path, "%s/bad3", dir);
    CHECK(rc == 1 && !strcmp(err, want) && !exists(path), "unknown split id refused: %s", err);

    snprintf(cmd, sizeof cmd,
             "%s train --cohort %s/c/cohort.csv --split %s/split.csv --fold 3 --out %s/bad4 --size 64 --epochs 1",
             BLASTO_CLI, dir, dir, dir);
    rc = run(cmd, err, sizeof err);
    snprintf(want, sizeof want, "blasto train: %s/split.csv: --fold 3 out of range (the split has 3 folds: 0 … 2)\n",
             dir);
    snprintf(path, sizeof path, "%s/bad4", dir);
    CHECK(rc == 1 && !strcmp(err, want) && !exists(path), "fold out of range refused: %s", err);

#ifndef BLASTO_HAVE_CUDA /* tests/test_cli_device.c checks every command's refusal in every build */
    snprintf(cmd, sizeof cmd, "%s train --device cuda --cohort %s/c/cohort.csv --split %s/split.csv --fold 0 --out %s/bad5",
             BLASTO_CLI, dir, dir, dir);
    rc = run(cmd, err, sizeof err);
    snprintf(path, sizeof path, "%s/bad5", dir);
    CHECK(rc == 1 && !strcmp(err, "blasto train: device cuda: this blasto was built without CUDA (configure with "
                                  "-DBLASTO_CUDA=ON)\n") && !exists(path),
          "cuda refused: %s", err);
#endif

    if (test_failed == 0) {
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        CHECK(system(cmd) == 0, "cleanup");
    } else {
        printf("files kept in %s\n", dir);
    }
    return test_summary("test_train");
}
