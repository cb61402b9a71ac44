/* test_segment_real.c — the segmenter on real PCRM blastocyst images, briefly: it must beat the trivial predictors.
 *
 * Needs BLASTO_SHARED_DIR/data/pcrm-blastocyst (docs/segmentation.md, "The PCRM images"); without it the test is
 * skipped. tools/pcrm_cohort.sh writes the cohort (absolute paths) into a temporary directory; its first 32 rows are
 * split into 4 folds; `blasto segment train` trains fold 0 (24 images) for 40 epochs at 128×128, `segment predict`
 * predicts its 8 validation images at their own size and `segment metrics` scores them. The trivial predictors,
 * scored here on the same images: all background (Jaccard 0 for ICM and TE), and a centred disc whose area is the
 * mean ICM area fraction of the 24 training images. The U-Net must beat both, class by class. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "harness.h"
#include "study/cohort.h"
#include "study/image.h"
#include "study/split.h"
#include "support/test_support.h"

#define PCRM_DIR BLASTO_SHARED_DIR "/data/pcrm-blastocyst"

static char dir[512];

static int run(const char *args, char *err, size_t size) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cd '%s' && { %s; } >/dev/null", dir, args);
    return test_run_shell(cmd, dir, err, size);
}

static double mean_of(const cJSON *root, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, key), "mean");
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

int main(void) {
    struct stat sb;
    if (stat(PCRM_DIR "/labels.csv", &sb) != 0) return test_skip(PCRM_DIR " is absent");
    if (!test_make_tmp_dir(dir, sizeof dir, "blasto_segment_real")) return test_skip("no temporary directory");
    char err[4096], cmd[4096];
    snprintf(cmd, sizeof cmd, "%s/../tools/pcrm_cohort.sh '%s' all.csv && head -n 33 all.csv > cohort.csv",
             BLASTO_TEST_DIR, PCRM_DIR);
    CHECK(run(cmd, err, sizeof err) == 0, "cohort: %s", err);
    snprintf(cmd, sizeof cmd, "%s split --cohort cohort.csv --test-count 0 --folds 4 --out split.csv && "
             "%s segment train --cohort cohort.csv --split split.csv --fold 0 --out run --size 128 --depth 3 "
             "--width 16 --epochs 40 --batch 4 --lr 3e-3 --threads 2 && "
             "%s segment predict --model run/best.safetensors --cohort cohort.csv --split split.csv --set validation "
             "--fold 0 --out pred && %s segment metrics --pred pred --cohort cohort.csv --out m.json",
             BLASTO_CLI, BLASTO_CLI, BLASTO_CLI, BLASTO_CLI);
    CHECK(run(cmd, err, sizeof err) == 0, "split, train, predict, metrics: %s", err);

    /* the trivial disc: mean ICM area fraction of the training rows, centred in each validation image */
    char path[1024];
    bl_cohort *c = NULL;
    bl_split *s = NULL;
    CHECK(bl_cohort_read(test_path_in(path, sizeof path, dir, "cohort.csv"), 1, &c) == BL_OK &&
              bl_split_read(test_path_in(path, sizeof path, dir, "split.csv"), 4, &s) == BL_OK,
          "cohort and split: %s", bl_last_error());
    double fraction = 0, disc_jaccard = 0;
    int n_train = 0, n_val = 0;
    for (int pass = 0; c && s && pass < 2; pass++)
        for (int i = 0; i < c->n; i++) {
            int k = bl_split_find(s, c->rows[i].id);
            if (k < 0 || (pass == 0) != (s->rows[k].fold != 0)) continue;
            bl_image icm = {0};
            if (bl_image_load(c->rows[i].icm_mask, 1, &icm) != BL_OK) {
                CHECK(0, "%s: %s", c->rows[i].icm_mask, bl_last_error());
                continue;
            }
            int64_t n = (int64_t)icm.width * icm.height, area = 0, inter = 0, uni = 0;
            for (int64_t p = 0; p < n; p++) area += icm.pixels[p] != 0;
            if (pass == 0) {
                fraction += (double)area / (double)n, n_train++;
            } else {
                const double pi = 3.14159265358979323846;
                double r = sqrt(fraction / n_train * (double)n / pi), cx = icm.width / 2.0, cy = icm.height / 2.0;
                for (int64_t p = 0; p < n; p++) {
                    int in_disc = hypot((double)(p % icm.width) - cx, (double)(p / icm.width) - cy) < r;
                    inter += in_disc && icm.pixels[p], uni += in_disc || icm.pixels[p];
                }
                disc_jaccard += uni ? (double)inter / (double)uni : 1, n_val++;
            }
            bl_image_free(&icm);
        }
    disc_jaccard /= n_val > 0 ? n_val : 1;
    size_t size = 0;
    char *text = test_read_file(test_path_in(path, sizeof path, dir, "m.json"), &size);
    cJSON *m = text ? cJSON_Parse(text) : NULL;
    double icm = mean_of(m, "jaccard_icm"), te = mean_of(m, "jaccard_te");
    printf("PCRM, 24 training images, 40 epochs at 128x128: validation Jaccard ICM %.4f (centred disc %.4f, "
           "background 0), TE %.4f (background 0)\n", icm, disc_jaccard, te);
    CHECK(n_train == 24 && n_val == 8, "24 training and 8 validation images (got %d and %d)", n_train, n_val);
    CHECK(icm > disc_jaccard && icm > 0, "ICM: the U-Net's Jaccard %.4f beats the centred disc %.4f", icm,
          disc_jaccard);
    CHECK(te > 0, "TE: the U-Net's Jaccard %.4f beats all-background (0)", te);
    cJSON_Delete(m);
    free(text);
    bl_cohort_free(c);
    bl_split_free(s);
    if (test_failed) printf("kept %s for inspection\n", dir);
    else test_remove_tree(dir);
    return test_summary("test_segment_real");
}
