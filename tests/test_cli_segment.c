/* test_cli_segment.c — `blasto segment` end to end on a small synthetic cohort:
 *   train      runs, writes log.csv (header and one line per epoch), best and last checkpoints;
 *   resume     2 epochs + --resume 2 more give last.safetensors tensors bitwise equal to 4 epochs straight;
 *   predict    masks, labelme files and a cohort for the test rows; the labelme polygons rasterised by
 *              `blasto enhance` reproduce the predicted masks (IoU ≥ 0.98 per class); an existing non-empty DIR is
 *              refused with no change to it;
 *   metrics    the predictions against the annotations (JSON keys, values in [0, 1]); the annotations' own masks
 *              (`blasto enhance` output) against the annotations score exactly 1. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "core/safetensors.h"
#include "harness.h"
#include "study/image.h"
#include "support/test_support.h"

static char dir[512];

static int run(const char *args, char *err, size_t size) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && %s %s >/dev/null", dir, BLASTO_CLI, args);
    return test_run_shell(cmd, dir, err, size);
}

static const char *in_dir(const char *name) {
    static char path[4][1024];
    static int next;
    next = (next + 1) % 4;
    return test_path_in(path[next], sizeof path[next], dir, name);
}

static int exists(const char *name) {
    struct stat s;
    return stat(in_dir(name), &s) == 0;
}

/* every tensor of a and b (in the scratch folder) has the same name, dtype and bytes */
static int same_tensors(const char *a, const char *b) {
    char pa[1024], pb[1024];
    return test_same_tensors(test_path_in(pa, sizeof pa, dir, a), test_path_in(pb, sizeof pb, dir, b));
}

static double mask_iou(const char *a, const char *b) {
    bl_image ma = {0}, mb = {0};
    double iou = -1;
    if (bl_image_load(in_dir(a), 1, &ma) == BL_OK && bl_image_load(in_dir(b), 1, &mb) == BL_OK &&
        ma.width == mb.width && ma.height == mb.height) {
        int64_t inter = 0, uni = 0;
        for (int64_t i = 0; i < (int64_t)ma.width * ma.height; i++) {
            int x = ma.pixels[i] != 0, y = mb.pixels[i] != 0;
            inter += x && y, uni += x || y;
        }
        iou = uni ? (double)inter / (double)uni : 1.0;
    }
    bl_image_free(&ma);
    bl_image_free(&mb);
    return iou;
}

static double json_mean(const cJSON *root, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, key), "mean");
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static cJSON *read_json(const char *name) {
    size_t size = 0;
    char *text = test_read_file(in_dir(name), &size);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    return j;
}

int main(void) {
    if (!test_make_tmp_dir(dir, sizeof dir, "blasto_cli_segment")) return test_skip("no temporary directory");
    char err[4096];
    CHECK(run("synth --out c --n 32 --size 64 --seed 5 --quiet", err, sizeof err) == 0 &&
              run("split --cohort c/cohort.csv --test-count 4 --folds 2 --out split.csv", err, sizeof err) == 0,
          "fixtures: %s", err);
    const char *common = "segment train --cohort c/cohort.csv --split split.csv --fold 0 --size 64 --depth 2 "
                         "--width 16 --batch 4 --epochs 20 --lr 3e-3 --threads 2";
    char args[1024];

    /* train, and the same run in two invocations */
    snprintf(args, sizeof args, "%s --out run", common);
    CHECK(run(args, err, sizeof err) == 0, "segment train: %s", err);
    CHECK(exists("run/best.safetensors") && exists("run/last.safetensors"), "best and last checkpoints");
    size_t size = 0;
    char *log = test_read_file(in_dir("run/log.csv"), &size);
    int lines = 0;
    for (size_t i = 0; log && i < size; i++) lines += log[i] == '\n';
    const char *header = "epoch,train_loss,val_loss,dice_icm,dice_te,jaccard_icm,jaccard_te,mean_jaccard,lr,seconds,"
                         "best\n";
    CHECK(log && strncmp(log, header, strlen(header)) == 0 && lines == 21,
          "log.csv: header and 20 epochs:\n%s", log ? log : "(missing)");
    free(log);
    snprintf(args, sizeof args, "%s --out run2 --stop-after 5", common);
    CHECK(run(args, err, sizeof err) == 0, "segment train --stop-after 5: %s", err);
    CHECK(run("segment train --resume --out run2 --threads 1", err, sizeof err) == 0, "--resume: %s", err);
    CHECK(same_tensors("run/last.safetensors", "run2/last.safetensors"),
          "5 epochs + resume (another thread count) = 20 epochs straight, bit for bit");
    CHECK(run("segment train --resume --out run2 --epochs 9", err, sizeof err) == 2 && strstr(err, "--resume takes"),
          "--resume with a stored option is refused: %s", err);

    /* predict the test rows */
    CHECK(run("segment predict --model run/best.safetensors --cohort c/cohort.csv --split split.csv --set test "
              "--out pred", err, sizeof err) == 0,
          "segment predict: %s", err);
    {
        char *csv = test_read_file(in_dir("pred/cohort.csv"), &size);
        int rows = 0;
        for (size_t i = 0; csv && i < size; i++) rows += csv[i] == '\n';
        CHECK(csv && rows == 5 && strstr(csv, "icm/") && strstr(csv, "|te/"), "pred/cohort.csv: 4 rows with mask "
              "pairs:\n%s", csv ? csv : "(missing)");
        /* every test row whose prediction has an ICM: its labelme polygons → blasto enhance → the same masks */
        int checked = 0;
        for (const char *line = csv ? strchr(csv, '\n') : NULL; line && line[1]; line = strchr(line + 1, '\n')) {
            char id[64] = "", json[128], image[128], cmd[1024], icm[128], te[128];
            if (sscanf(line + 1, "%63[^,]", id) != 1) break;
            snprintf(json, sizeof json, "pred/%s.json", id);
            char *text = test_read_file(in_dir(json), &size);
            int has_icm = text && strstr(text, "\"icm\"");
            free(text);
            if (!has_icm) continue;
            snprintf(image, sizeof image, "c/images/%s.png", id);
            snprintf(cmd, sizeof cmd, "enhance --image %s --annotation %s --out rt.png --masks-out rt", image, json);
            int rc = run(cmd, err, sizeof err);
            snprintf(icm, sizeof icm, "pred/icm/%s.png", id);
            snprintf(te, sizeof te, "pred/te/%s.png", id);
            double iou_icm = rc == 0 ? mask_iou("rt/icm.png", icm) : -1;
            double iou_te = rc == 0 ? mask_iou("rt/te.png", te) : -1;
            CHECK(iou_icm >= 0.98 && iou_te >= 0.98, "labelme round trip of %s: IoU ICM %.4f, TE %.4f (%s)", id,
                  iou_icm, iou_te, err);
            printf("labelme round trip of %s: IoU ICM %.4f, TE %.4f\n", id, iou_icm, iou_te);
            checked++;
        }
        free(csv);
        CHECK(checked >= 1, "at least one test row with a predicted ICM to round-trip (got %d)", checked);
    }
    CHECK(run("segment predict --model run/best.safetensors --cohort c/cohort.csv --out pred", err, sizeof err) == 1 &&
              strstr(err, "pred: --out: exists and is not an empty directory") && exists("pred/cohort.csv"),
          "an existing DIR is refused and left as it was: %s", err);

    /* metrics */
    CHECK(run("segment metrics --pred pred --cohort c/cohort.csv --out m.json", err, sizeof err) == 0, "metrics: %s",
          err);
    cJSON *m = read_json("m.json");
    const char *keys[] = {"jaccard_icm", "jaccard_te", "dice_icm", "dice_te", "precision_icm", "recall_te"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        double v = json_mean(m, keys[k]);
        CHECK(v >= 0 && v <= 1, "m.json: %s.mean = %g", keys[k], v);
    }
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(m, "per_image")) == 4, "m.json: 4 per-image entries");
    cJSON_Delete(m);
    CHECK(run("enhance --cohort c/cohort.csv --out e", err, sizeof err) == 0 &&
              run("segment metrics --pred e --cohort c/cohort.csv --out self.json", err, sizeof err) == 0,
          "metrics of the annotations' own masks: %s", err);
    cJSON *self = read_json("self.json");
    CHECK(json_mean(self, "jaccard_icm") == 1 && json_mean(self, "jaccard_te") == 1 && json_mean(self, "dice_te") == 1,
          "the annotations against themselves: Jaccard ICM %g TE %g", json_mean(self, "jaccard_icm"),
          json_mean(self, "jaccard_te"));
    cJSON_Delete(self);

    if (test_failed) printf("kept %s for inspection\n", dir);
    else test_remove_tree(dir);
    return test_summary("test_cli_segment");
}
