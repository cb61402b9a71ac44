/* test_experiment.c — `blasto experiment` end to end on a tiny synthetic cohort, its resume rule and its refusals.
 *
 *   1. a 40-image synthetic cohort (64×64), config: resnet50, original + enhanced, 2 folds, 8 test rows, 1 epoch,
 *      batch 4, size 32, backbone frozen → exit 0; table2.csv has the 2 arch × input rows with finite numbers, and
 *      each mean and SD equals the one recomputed here (SD with ddof = 1) from the 2 folds' metrics.json; delong.csv
 *      has 2 rows (one per fold); table1.csv's "all" row equals Student and Welch t-tests recomputed here from the
 *      cohort CSV's ages (positives vs negatives) and every clinic row has finite values or empty cells;
 *      calibration.json names one of the 4 runs, has finite Brier scores before and after, a non-empty curve and
 *      isotonic thresholds; table3.csv has the 5 category rows (total n = 8 test rows) for the best original and
 *      the best enhanced run, whose gradcam/<run>/focus.csv has one row per id of the run's test.csv (same order)
 *      with finite score, energies and area in [0, 1] and hit 0 or 1, the hits summing to table3's total hits;
 *   2. the same command again: every one of the 10 computing units says "skipped" (the report is rewritten), no output file's mtime changes, the tables
 *      and focus files are byte-identical;
 *   3. one fold's run directory deleted: only that unit runs again ("trained" once, for that run; 5 skipped) and
 *      table2.csv, delong.csv and calibration.json are byte-identical to the first run's (training is bit-deterministic), as are table3.csv and the
 *      focus files, which are recomputed;
 *   4. a different run into the same folder: a changed config (epochs) or cohort (every label flipped) is refused
 *      naming the changed part, touching nothing; a second experiment while the folder is locked is refused;
 *      --rerun-changed removes the old results and runs every unit; run.json states the fingerprint;
 *   5. bad configs (missing cohort, unknown arch, folds < 2, unknown annotations, a segment size the U-Net cannot
 *      halve) and a missing --config: the exact one-line message, exit 1 (2 for usage) and no output directory;
 *   6. "annotations": "both": a 30-epoch U-Net per fold, the enhanced input on manual and on predicted masks
 *      (check_predicted says what is checked); run again, every unit is skipped; a manual run's report has no
 *      segmentation section. */
#define _DEFAULT_SOURCE /* flock */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/safetensors.h"
#include "harness.h"
#include "support/test_support.h"
#include "study/csv.h"
#include "study/stats.h"

static char dir[256];

/* Runs a shell command line; returns the exit code; stderr text into err (may be NULL). */
static int run(const char *cmdline, char *err, size_t err_size) { return test_run_shell(cmdline, dir, err, err_size); }

static char *slurp(const char *path) {
    char *text = NULL;
    size_t size = 0;
    if (bl_read_file(path, 1 << 24, &text, &size)) return NULL;
    return text;
}

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* the outputs whose mtimes must survive a resume: run directory names × file names */
static const char *const run_names[4] = {"resnet50-original-f0", "resnet50-original-f1", "resnet50-enhanced-f0",
                                         "resnet50-enhanced-f1"};
static const char *const run_files[4] = {"best.safetensors", "validation.csv", "test.csv", "metrics.json"};

/* mtime (ns) of every output: [0] split, [1] table2, [2] delong, then 4 runs × 4 files, [19] table1,
 * [20] calibration */
#define N_OUTPUTS 21
static void mtimes(long long t[N_OUTPUTS]) {
    char p[512];
    const char *top[3] = {"split.csv", "table2.csv", "delong.csv"};
    for (int i = 0; i < N_OUTPUTS; i++) {
        if (i < 3) snprintf(p, sizeof p, "%s/out/%s", dir, top[i]);
        else if (i == 19) snprintf(p, sizeof p, "%s/out/table1.csv", dir);
        else if (i == 20) snprintf(p, sizeof p, "%s/out/calibration.json", dir);
        else snprintf(p, sizeof p, "%s/out/runs/%s/%s", dir, run_names[(i - 3) / 4], run_files[(i - 3) % 4]);
        struct stat s;
        t[i] = stat(p, &s) == 0 ? (long long)s.st_mtim.tv_sec * 1000000000LL + s.st_mtim.tv_nsec : -1;
    }
}

/* mtimes (ns) of table3.csv and the two focus files → t[3] (−1 when missing) */
static void file_mtimes(const char *p3, char pf[2][512], long long t[3]) {
    const char *paths[3] = {p3, pf[0], pf[1]};
    for (int i = 0; i < 3; i++) {
        struct stat s;
        t[i] = stat(paths[i], &s) == 0 ? (long long)s.st_mtim.tv_sec * 1000000000LL + s.st_mtim.tv_nsec : -1;
    }
}

/* table3.csv and the focus files byte-identical to the texts of the first run */
static void same_files(const char *table3, char *focus[2], const char *p3, char pf[2][512], const char *when) {
    char *t = slurp(p3);
    CHECK(t && table3 && !strcmp(t, table3), "table3.csv byte-identical after %s", when);
    free(t);
    for (int u = 0; u < 2; u++) {
        t = slurp(pf[u]);
        CHECK(t && focus[u] && !strcmp(t, focus[u]), "%s byte-identical after %s", pf[u], when);
        free(t);
    }
}

static double metric_of(const char *run_name, const char *key) {
    char p[512];
    snprintf(p, sizeof p, "%s/out/runs/%s/metrics.json", dir, run_name);
    char *text = slurp(p);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    double x = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    cJSON_Delete(root);
    free(text);
    return x;
}

static void check_table2(void) {
    char p[512];
    snprintf(p, sizeof p, "%s/out/table2.csv", dir);
    bl_csv *t = NULL;
    CHECK(bl_csv_read(p, &t) == BL_OK, "table2.csv readable");
    if (!t) return;
    CHECK(t->n_rows == 2, "table2.csv: %d rows (expected 2)", t->n_rows);
    const char *metrics[4] = {"auroc", "accuracy", "sensitivity", "specificity"};
    for (int r = 0; r < t->n_rows && r < 2; r++) {
        const char *input = t->rows[r][bl_csv_column(t, "input")];
        CHECK(!strcmp(input, r == 0 ? "original" : "enhanced"), "row %d input %s", r, input);
        for (int m = 0; m < 4; m++) {
            char col[64], name0[64], name1[64];
            snprintf(name0, sizeof name0, "resnet50-%s-f0", input);
            snprintf(name1, sizeof name1, "resnet50-%s-f1", input);
            double a = metric_of(name0, metrics[m]), b = metric_of(name1, metrics[m]);
            double mean = (a + b) / 2, sd = sqrt(((a - mean) * (a - mean) + (b - mean) * (b - mean)) / (2 - 1));
            snprintf(col, sizeof col, "%s_mean", metrics[m]);
            int cm = bl_csv_column(t, col);
            snprintf(col, sizeof col, "%s_sd", metrics[m]);
            int cs = bl_csv_column(t, col);
            CHECK(cm >= 0 && cs >= 0, "table2.csv has %s mean/sd columns", metrics[m]);
            if (cm < 0 || cs < 0) continue;
            double gm = strtod(t->rows[r][cm], NULL), gs = strtod(t->rows[r][cs], NULL);
            CHECK(isfinite(a) && isfinite(b) && isfinite(gm) && isfinite(gs), "%s %s finite", input, metrics[m]);
            CHECK(fabs(gm - mean) <= 1e-15 && fabs(gs - sd) <= 1e-15,
                  "%s %s: mean %.17g sd %.17g, recomputed %.17g %.17g (ddof 1)", input, metrics[m], gm, gs, mean, sd);
        }
    }
    bl_csv_free(t);
}

/* table1.csv: the "all" row against t-tests recomputed from the cohort CSV; clinic rows finite or empty */
static void check_table1(void) {
    char p[512];
    snprintf(p, sizeof p, "%s/out/table1.csv", dir);
    bl_csv *t = NULL, *c = NULL;
    CHECK(bl_csv_read(p, &t) == BL_OK, "table1.csv readable");
    snprintf(p, sizeof p, "%s/c/cohort.csv", dir);
    CHECK(bl_csv_read(p, &c) == BL_OK, "cohort.csv readable");
    if (!t || !c) goto done;
    CHECK(t->n_rows >= 2, "table1.csv: %d rows (expected all + clinics)", t->n_rows);
    double pos[64], neg[64];
    int np = 0, nn = 0, ca = bl_csv_column(c, "age"), cl = bl_csv_column(c, "label");
    for (int r = 0; r < c->n_rows && np < 64 && nn < 64; r++) {
        double age = strtod(c->rows[r][ca], NULL);
        if (atoi(c->rows[r][cl])) pos[np++] = age;
        else neg[nn++] = age;
    }
    CHECK(np >= 2 && nn >= 2, "cohort has both classes (%d, %d)", np, nn);
    const char *names[6] = {"student_t", "student_df", "student_p", "welch_t", "welch_df", "welch_p"};
    for (int e = 0; e < 2; e++) {
        bl_ttest want;
        CHECK(bl_ttest_samples(np, pos, nn, neg, e == 0, &want) == BL_OK, "t-test recomputed");
        double w3[3] = {want.t, want.df, want.p};
        for (int q = 0; q < 3; q++) {
            int col = bl_csv_column(t, names[3 * e + q]);
            CHECK(col >= 0, "table1.csv has %s", names[3 * e + q]);
            if (col < 0) continue;
            double got = strtod(t->rows[0][col], NULL);
            CHECK(!strcmp(t->rows[0][0], "all") && isfinite(got) && fabs(got - w3[q]) <= 1e-12 * fmax(1, fabs(w3[q])),
                  "table1 all %s: %.17g, recomputed %.17g", names[3 * e + q], got, w3[q]);
        }
    }
    int n_total = 0;
    for (int r = 1; r < t->n_rows; r++) {
        CHECK(!strcmp(t->rows[r][0], "clinic"), "row %d scope %s", r, t->rows[r][0]);
        n_total += atoi(t->rows[r][2]) + atoi(t->rows[r][3]);
        for (int q = 4; q < t->n_columns; q++) {
            const char *v = t->rows[r][q];
            CHECK(!v[0] || isfinite(strtod(v, NULL)), "table1 row %d col %d: '%s' finite or empty", r, q, v);
        }
    }
    CHECK(n_total == c->n_rows, "clinic rows cover the cohort: %d of %d", n_total, c->n_rows);
done:
    bl_csv_free(t);
    bl_csv_free(c);
}

static void check_calibration(void) {
    char p[512];
    snprintf(p, sizeof p, "%s/out/calibration.json", dir);
    char *text = slurp(p);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    CHECK(root != NULL, "calibration.json is JSON");
    const cJSON *unit = cJSON_GetObjectItemCaseSensitive(root, "unit");
    int known = 0;
    for (int i = 0; i < 4; i++) known |= cJSON_IsString(unit) && !strcmp(unit->valuestring, run_names[i]);
    CHECK(known, "calibration.json: unit is one of the runs");
    const char *sides[2] = {"before", "after"};
    for (int s = 0; s < 2; s++) {
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, sides[s]);
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "brier");
        CHECK(cJSON_IsNumber(b) && isfinite(b->valuedouble) && b->valuedouble >= 0 && b->valuedouble <= 1,
              "%s: brier finite in [0, 1]", sides[s]);
        const cJSON *curve = cJSON_GetObjectItemCaseSensitive(o, "curve");
        CHECK(cJSON_GetArraySize(curve) >= 1, "%s: curve has bins", sides[s]);
        const char *hl[2] = {"hosmer_lemeshow_quantile", "hosmer_lemeshow_equal"};
        for (int h = 0; h < 2; h++) {
            const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, hl[h]);
            const cJSON *pv = cJSON_GetObjectItemCaseSensitive(x, "p");
            CHECK(cJSON_IsNull(x) || (cJSON_IsNumber(pv) && pv->valuedouble >= 0 && pv->valuedouble <= 1),
                  "%s: %s null or p in [0, 1]", sides[s], hl[h]);
        }
    }
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "X_thresholds")) >= 1, "isotonic thresholds");
    cJSON_Delete(root);
    free(text);
}

/* table3.csv: 5 categories, total n = test rows; the focus.csv of both runs: one row per test id, values in range.
 * The two runs' names → units[2][64]. */
static void check_gradcam(char units[2][64]) {
    static const char *const keys[5] = {"both_correct", "both_wrong", "only_a_correct", "only_b_correct", "total"};
    char p[512];
    snprintf(p, sizeof p, "%s/out/table3.csv", dir);
    bl_csv *t = NULL;
    units[0][0] = units[1][0] = 0;
    CHECK(bl_csv_read(p, &t) == BL_OK, "table3.csv readable");
    if (!t) return;
    CHECK(t->n_rows == 5 && t->n_columns == 13, "table3.csv: %d rows, %d columns (expected 5, 13)", t->n_rows,
          t->n_columns);
    int cn = bl_csv_column(t, "n"), cma = bl_csv_column(t, "model_a"), cmb = bl_csv_column(t, "model_b");
    int chit[2] = {bl_csv_column(t, "hits_a"), bl_csv_column(t, "hits_b")};
    CHECK(cn >= 0 && cma >= 0 && cmb >= 0 && chit[0] >= 0 && chit[1] >= 0, "table3.csv columns");
    if (t->n_rows != 5 || cn < 0 || cma < 0 || cmb < 0 || chit[0] < 0 || chit[1] < 0) goto done;
    int sum = 0;
    for (int r = 0; r < 5; r++) {
        CHECK(!strcmp(t->rows[r][0], keys[r]), "table3 row %d: %s (expected %s)", r, t->rows[r][0], keys[r]);
        if (r < 4) sum += atoi(t->rows[r][cn]);
    }
    CHECK(atoi(t->rows[4][cn]) == 8 && sum == 8, "table3 total n %s, categories sum %d (expected 8 test rows)",
          t->rows[4][cn], sum);
    snprintf(units[0], 64, "%s", t->rows[4][cma]);
    snprintf(units[1], 64, "%s", t->rows[4][cmb]);
    CHECK(strstr(units[0], "-original-") && strstr(units[1], "-enhanced-"), "table3 models %s, %s", units[0], units[1]);
    for (int u = 0; u < 2; u++) {
        bl_csv *f = NULL, *pr = NULL;
        snprintf(p, sizeof p, "%s/out/gradcam/%s/focus.csv", dir, units[u]);
        CHECK(bl_csv_read(p, &f) == BL_OK, "%s readable", p);
        snprintf(p, sizeof p, "%s/out/runs/%s/test.csv", dir, units[u]);
        CHECK(bl_csv_read(p, &pr) == BL_OK, "%s readable", p);
        if (f && pr) {
            CHECK(f->n_rows == pr->n_rows && f->n_rows == 8, "%s focus.csv: %d rows (test.csv %d, expected 8)",
                  units[u], f->n_rows, pr->n_rows);
            int hits = 0, cid = bl_csv_column(f, "id"), pid = bl_csv_column(pr, "id");
            const char *cols[5] = {"score", "energy_icm", "energy_te", "energy_union", "area_union"};
            for (int r = 0; r < f->n_rows && r < pr->n_rows && cid >= 0 && pid >= 0; r++) {
                CHECK(!strcmp(f->rows[r][cid], pr->rows[r][pid]), "%s focus row %d id %s (test.csv %s)", units[u], r,
                      f->rows[r][cid], pr->rows[r][pid]);
                const char *h = f->rows[r][bl_csv_column(f, "hit")];
                CHECK(!strcmp(h, "0") || !strcmp(h, "1"), "%s row %d hit '%s'", units[u], r, h);
                hits += atoi(h);
                for (int q = 0; q < 5; q++) {
                    int col = bl_csv_column(f, cols[q]);
                    double v = col >= 0 ? strtod(f->rows[r][col], NULL) : NAN;
                    CHECK(isfinite(v) && v >= 0 && v <= 1, "%s row %d %s = %g in [0, 1]", units[u], r, cols[q], v);
                }
            }
            CHECK(hits == atoi(t->rows[4][chit[u]]), "%s: focus hits %d, table3 total %s", units[u], hits,
                  t->rows[4][chit[u]]);
        }
        bl_csv_free(f);
        bl_csv_free(pr);
    }
done:
    bl_csv_free(t);
}

static void check_bad(const char *name, const char *json, const char *message_tail, int want_rc) {
    char cfg[512], cmd[2048], err[4096], want[1024], out[512];
    snprintf(cfg, sizeof cfg, "%s/%s.json", dir, name);
    snprintf(out, sizeof out, "%s/bad-%s", dir, name);
    write_text(cfg, json);
    snprintf(cmd, sizeof cmd, "%s experiment --config %s --out %s", BLASTO_CLI, cfg, out);
    int rc = run(cmd, err, sizeof err);
    snprintf(want, sizeof want, "blasto experiment: %s: %s\n", cfg, message_tail);
    CHECK(rc == want_rc, "%s: exit %d (expected %d)", name, rc, want_rc);
    CHECK(!strcmp(err, want), "%s: message\n  got  %s  want %s", name, err, want);
    struct stat s;
    CHECK(stat(out, &s) != 0, "%s: nothing written", name);
}

/* Part 6's checks ("annotations": "both"): per fold the segment unit's files; segmentation.csv's mean row is the
 * mean of the fold rows and the U-Net beats the all-background predictor (Jaccard 0 for ICM and TE); pred/cohort.csv
 * points exactly the fold's validation rows and the test rows at predicted masks; the enhanced-predicted fold unit
 * read that cohort and the enhanced (manual) and original ones did not; Table 2 has the three arms, delong_masks.csv
 * one row per fold; the report has the segmentation and manual-vs-predicted sections. */
static void check_predicted(const char *root) {
    char path[1024];
    snprintf(path, sizeof path, "%s/pred/segmentation.csv", root);
    bl_csv *csv = NULL;
    double v[3][2] = {{0}};
    int ok = bl_csv_read(path, &csv) == BL_OK && csv->n_rows == 3;
    for (int r = 0; ok && r < 3; r++)
        for (int m = 0; m < 2; m++) {
            int col = bl_csv_column(csv, m ? "jaccard_te_mean" : "jaccard_icm_mean");
            v[r][m] = col >= 0 ? strtod(csv->rows[r][col], NULL) : NAN;
            ok = isfinite(v[r][m]);
        }
    CHECK(ok, "%s: 3 rows (2 folds, the mean) with finite Jaccard", path);
    for (int m = 0; ok && m < 2; m++) {
        CHECK(fabs(v[2][m] - 0.5 * (v[0][m] + v[1][m])) <= 1e-12, "segmentation.csv: the mean row is the folds' mean");
        CHECK(v[2][m] > 0.2, "segmentation.csv: mean Jaccard %s %.3f > 0.2 (the all-background predictor scores 0)",
              m ? "TE" : "ICM", v[2][m]);
    }
    bl_csv_free(csv);
    snprintf(path, sizeof path, "%s/pred/split.csv", root);
    char *split = slurp(path);
    for (int k = 0; split && k < 2; k++) {
        snprintf(path, sizeof path, "%s/pred/segment/f%d/pred/cohort.csv", root, k);
        char *rows = slurp(path);
        int predicted = 0, wrong = 0, n = 0;
        for (char *line = rows ? strchr(rows, '\n') : NULL; line && line[1]; line = strchr(line + 1, '\n')) {
            char id[64] = "", want[96], set[16] = "";
            int fold = -1;
            if (sscanf(line + 1, "%63[^,]", id) != 1) break;
            snprintf(want, sizeof want, "\n%s,", id);
            const char *in_split = strstr(split, want);
            if (!in_split || sscanf(in_split + strlen(want), "%15[^,],%d", set, &fold) < 1) {
                wrong++;
                continue;
            }
            int should = !strcmp(set, "test") || fold == k;
            char icm[96];
            snprintf(icm, sizeof icm, ",icm/%s.png|te/%s.png,", id, id);
            char *end = strchr(line + 1, '\n');
            int is = strstr(line, icm) && (!end || strstr(line, icm) < end);
            predicted += is, wrong += is != should, n++;
        }
        CHECK(rows && n == 40 && wrong == 0 && predicted == 8 + 16,
              "segment/f%d/pred/cohort.csv: 40 rows, the 16 validation and 8 test rows (got %d) on predicted masks, "
              "%d wrong", k, predicted, wrong);
        free(rows);
        static const char *const units[3] = {"enhanced-predicted", "enhanced", "original"};
        for (int u = 0; u < 3; u++) {
            snprintf(path, sizeof path, "%s/pred/runs/resnet50-%s-f%d/best.safetensors", root, units[u], k);
            bl_safetensors *st = NULL;
            char want[64];
            snprintf(want, sizeof want, "segment/f%d/pred/cohort.csv", k);
            const char *options = bl_safetensors_open(path, &st) == BL_OK ? bl_safetensors_metadata(st, "options") : NULL;
            CHECK(options && (strstr(options, want) != NULL) == (u == 0), "%s: %s the predicted cohort", path,
                  u == 0 ? "trained on" : "did not read");
            bl_safetensors_close(st);
        }
    }
    free(split);
    snprintf(path, sizeof path, "%s/pred/report.html", root);
    char *report = slurp(path);
    CHECK(report && strstr(report, "id=\"segmentation\"") && strstr(report, "mean (SD) over folds") &&
              strstr(report, "id=\"delong_masks\"") && count(report, "alt=\"f0 synth_") == 6 &&
              count(report, "alt=\"f1 synth_") == 6,
          "report.html has the segmentation section, 6 outline overlays per fold and the manual-vs-predicted DeLong");
    free(report);
    /* Table 2 has the third arm; delong_masks.csv pairs the two enhanced arms per fold */
    snprintf(path, sizeof path, "%s/pred/table2.csv", root);
    char *t2 = slurp(path);
    CHECK(t2 && strstr(t2, "\nresnet50,original,") && strstr(t2, "\nresnet50,enhanced,") &&
              strstr(t2, "\nresnet50,enhanced-predicted,"), "table2.csv: original, enhanced, enhanced-predicted rows");
    free(t2);
    snprintf(path, sizeof path, "%s/pred/delong_masks.csv", root);
    char *dm = slurp(path);
    CHECK(dm && !strncmp(dm, "arch,fold,n,auroc_manual,auroc_predicted,predicted_minus_manual,z,p,cov\n", 71) &&
              count(dm, "\nresnet50,") == 2, "delong_masks.csv: the header and one row per fold");
    free(dm);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/blasto_test_experiment_XXXXXX");
    if (!mkdtemp(dir)) return test_skip("mkdtemp failed");
    char cmd[4096], err[65536], cfg[512];
    snprintf(cmd, sizeof cmd, "%s synth --out %s/c --n 40 --size 64 --seed 1 --quiet", BLASTO_CLI, dir);
    CHECK(run(cmd, NULL, 0) == 0, "synth");
    snprintf(cfg, sizeof cfg, "%s/exp.json", dir);
    write_text(cfg, "{\"cohort\": \"c/cohort.csv\", \"test_count\": 8, \"folds\": 2, \"seed\": 1, \"archs\": [\"resnet50\"],"
                    " \"inputs\": [\"original\", \"enhanced\"], \"epochs\": 1, \"batch\": 4, \"lr\": 1e-3,"
                    " \"optimizer\": \"adam\", \"size\": 32, \"freeze_backbone_epochs\": 1}\n");
    snprintf(cmd, sizeof cmd, "%s experiment --config %s --out %s/out --threads 2", BLASTO_CLI, cfg, dir);

    /* 1. the first run */
    int rc = run(cmd, err, sizeof err);
    CHECK(rc == 0, "experiment exit %d: %s", rc, err);
    /* progress: one line per unit and one per epoch, each with the whole run's ETA; once every fold unit is
     * trained, the ETA is 0 (the remaining units are not in the estimate) */
    CHECK(count(err, "blasto experiment: [") == 11, "one progress line per unit (11, the report included): %d",
          count(err, "blasto experiment: ["));
    CHECK(count(err, "| overall ") == 4 && count(err, "ETA") == 15, "4 epoch lines with the overall ETA: %d, %d",
          count(err, "| overall "), count(err, "ETA"));
    CHECK(strstr(err, "[5/11] runs/resnet50-enhanced-f1: trained") && strstr(err, "[6/11] table2.csv written  ETA 00:00"),
          "ETA 00:00 once every fold unit is done:\n%s", err);
    check_table2();
    check_table1();
    check_calibration();
    char units[2][64], p3[512], pf[2][512];
    check_gradcam(units);
    snprintf(p3, sizeof p3, "%s/out/table3.csv", dir);
    for (int u = 0; u < 2; u++) snprintf(pf[u], sizeof pf[u], "%s/out/gradcam/%s/focus.csv", dir, units[u]);
    char *table3 = slurp(p3), *focus[2] = {slurp(pf[0]), slurp(pf[1])};
    CHECK(table3 && focus[0] && focus[1], "table3.csv and focus files written");
    long long g0[3], g1[3];
    file_mtimes(p3, pf, g0);
    char p2[512], pd[512];
    snprintf(p2, sizeof p2, "%s/out/table2.csv", dir);
    snprintf(pd, sizeof pd, "%s/out/delong.csv", dir);
    char p1[512], pc[512];
    snprintf(p1, sizeof p1, "%s/out/table1.csv", dir);
    snprintf(pc, sizeof pc, "%s/out/calibration.json", dir);
    char *table2 = slurp(p2), *delong = slurp(pd), *table1 = slurp(p1), *calib = slurp(pc);
    CHECK(table1 && calib, "table1.csv and calibration.json written");
    CHECK(table2 && delong, "tables written");
    CHECK(delong && count(delong, "\nresnet50,") == 2, "delong.csv has 2 rows:\n%s", delong ? delong : "");
    long long t0[N_OUTPUTS], t1[N_OUTPUTS];
    mtimes(t0);
    for (int i = 0; i < N_OUTPUTS; i++) CHECK(t0[i] > 0, "output %d exists", i);

    /* 2. again: everything skipped, nothing touched */
    rc = run(cmd, err, sizeof err);
    CHECK(rc == 0, "rerun exit %d: %s", rc, err);
    CHECK(count(err, "skipped") == 10 && count(err, "trained") == 0, "rerun: every unit skipped:\n%s", err);
    mtimes(t1);
    for (int i = 0; i < N_OUTPUTS; i++) CHECK(t1[i] == t0[i], "output %d untouched by the rerun", i);
    file_mtimes(p3, pf, g1);
    for (int i = 0; i < 3; i++) CHECK(g1[i] == g0[i] && g0[i] > 0, "gradcam output %d untouched by the rerun", i);
    same_files(table3, focus, p3, pf, "the rerun");
    char *again = slurp(p2), *again_d = slurp(pd);
    CHECK(again && table2 && !strcmp(again, table2), "table2.csv byte-identical after the rerun");
    CHECK(again_d && delong && !strcmp(again_d, delong), "delong.csv byte-identical after the rerun");
    free(again);
    free(again_d);
    again = slurp(p1);
    again_d = slurp(pc);
    CHECK(again && table1 && !strcmp(again, table1), "table1.csv byte-identical after the rerun");
    CHECK(again_d && calib && !strcmp(again_d, calib), "calibration.json byte-identical after the rerun");
    free(again);
    free(again_d);

    /* 3. one fold lost: only it runs again, the tables come out the same */
    snprintf(cmd, sizeof cmd, "rm -rf %s/out/runs/resnet50-enhanced-f1", dir);
    CHECK(system(cmd) == 0, "rm run dir");
    snprintf(cmd, sizeof cmd, "%s experiment --config %s --out %s/out --threads 2", BLASTO_CLI, cfg, dir);
    rc = run(cmd, err, sizeof err);
    CHECK(rc == 0, "resume exit %d: %s", rc, err);
    CHECK(count(err, "skipped") == 5 && count(err, "trained") == 1 &&
              strstr(err, "runs/resnet50-enhanced-f1: trained") != NULL,
          "resume: only the deleted unit ran:\n%s", err);
    mtimes(t1);
    for (int i = 0; i < 15; i++)
        if (i != 1 && i != 2) CHECK(t1[i] == t0[i], "output %d of the kept units untouched", i);
    again = slurp(p2);
    again_d = slurp(pd);
    CHECK(again && table2 && !strcmp(again, table2), "table2.csv byte-identical after recomputing one fold");
    CHECK(again_d && delong && !strcmp(again_d, delong), "delong.csv byte-identical after recomputing one fold");
    free(again);
    free(again_d);
    again = slurp(pc);
    CHECK(again && calib && !strcmp(again, calib), "calibration.json byte-identical after recomputing one fold");
    free(again);
    same_files(table3, focus, p3, pf, "recomputing one fold");
    free(table3);
    free(focus[0]);
    free(focus[1]);
    mtimes(t1);
    CHECK(t1[19] == t0[19], "table1.csv untouched by the resume");
    free(table2);
    free(delong);
    free(table1);
    free(calib);

    /* 4. results of a different run are never mixed with this one's: a changed config or cohort is refused (and
     * nothing is touched), a second experiment in the folder at the same time is refused, --rerun-changed replaces */
    char cfg2[512], before[512];
    snprintf(cfg2, sizeof cfg2, "%s/exp2.json", dir);
    write_text(cfg2, "{\"cohort\": \"c/cohort.csv\", \"test_count\": 8, \"folds\": 2, \"seed\": 1, \"archs\": "
                     "[\"resnet50\"], \"inputs\": [\"original\", \"enhanced\"], \"epochs\": 2, \"batch\": 4, \"lr\": 1e-3,"
                     " \"optimizer\": \"adam\", \"size\": 32, \"freeze_backbone_epochs\": 1}\n");
    char *t2_before = slurp(p2);
    mtimes(t0);
    snprintf(cmd, sizeof cmd, "%s experiment --config %s --out %s/out --threads 2", BLASTO_CLI, cfg2, dir);
    rc = run(cmd, err, sizeof err);
    CHECK(rc == 1 && strstr(err, "/out: holds the results of a different run (changed: config); --rerun-changed "
                                 "replaces them, or choose another --out"),
          "changed epochs: refused (exit %d): %s", rc, err);
    /* every label flipped: the cohort part changes */
    snprintf(cmd, sizeof cmd, "cd %s && awk -F, -v OFS=, 'NR > 1 { $NF = 1 - $NF } 1' c/cohort.csv > c/flipped.csv && "
             "sed 's#c/cohort.csv#c/flipped.csv#' exp.json > exp3.json", dir);
    CHECK(system(cmd) == 0, "flipped cohort");
    snprintf(before, sizeof before, "%s/exp3.json", dir);
    snprintf(cmd, sizeof cmd, "%s experiment --config %s --out %s/out --threads 2", BLASTO_CLI, before, dir);
    rc = run(cmd, err, sizeof err);
    CHECK(rc == 1 && strstr(err, "holds the results of a different run (changed: cohort)"),
          "flipped labels: refused (exit %d): %s", rc, err);
    mtimes(t1);
    for (int i = 0; i < N_OUTPUTS; i++) CHECK(t1[i] == t0[i], "output %d untouched by the refused runs", i);
    /* a second experiment while one holds the folder */
    snprintf(cmd, sizeof cmd, "%s/out", dir);
    int held = open(cmd, O_RDONLY | O_DIRECTORY);
    CHECK(held >= 0 && flock(held, LOCK_EX | LOCK_NB) == 0, "hold the folder's lock");
    snprintf(cmd, sizeof cmd, "%s experiment --config %s --out %s/out --threads 2", BLASTO_CLI, cfg, dir);
    rc = run(cmd, err, sizeof err);
    CHECK(rc == 1 && strstr(err, "/out: in use by another blasto process"), "a concurrent run: refused (exit %d): %s",
          rc, err);
    if (held >= 0) close(held);
    /* --rerun-changed: the old results go, every unit runs with the new config */
    snprintf(cmd, sizeof cmd, "%s experiment --config %s --out %s/out --threads 2 --rerun-changed", BLASTO_CLI, cfg2,
             dir);
    rc = run(cmd, err, sizeof err);
    CHECK(rc == 0 && strstr(err, "results of a different run removed (changed: config)") &&
              count(err, "trained") == 4 && count(err, "skipped") == 0,
          "--rerun-changed: every unit ran again (exit %d):\n%s", rc, err);
    char *t2_after = slurp(p2);
    CHECK(t2_before && t2_after && strcmp(t2_before, t2_after) != 0, "table2.csv now holds the 2-epoch results");
    free(t2_before);
    free(t2_after);
    snprintf(cmd, sizeof cmd, "grep -q '\"fingerprint\":[[:space:]]*\"[0-9a-f]\\{16\\}\"' %s/out/run.json", dir);
    CHECK(system(cmd) == 0, "run.json states the fingerprint");

    /* 6. predicted annotations: a U-Net per fold, the enhanced units on its masks */
    char pcfg[512];
    snprintf(pcfg, sizeof pcfg, "%s/pred.json", dir);
    write_text(pcfg, "{\"cohort\": \"c/cohort.csv\", \"test_count\": 8, \"folds\": 2, \"seed\": 1, "
                     "\"archs\": [\"resnet50\"], \"inputs\": [\"original\", \"enhanced\"], \"epochs\": 1, "
                     "\"batch\": 4, \"size\": 32, \"annotations\": \"both\", \"segment_epochs\": 30, "
                     "\"segment_size\": 64, \"segment_width\": 8, \"segment_batch\": 4}\n");
    snprintf(cmd, sizeof cmd, "%s experiment --config %s --out %s/pred --threads 2", BLASTO_CLI, pcfg, dir);
    rc = run(cmd, err, sizeof err);
    CHECK(rc == 0 && count(err, "segmenter trained") == 2 && count(err, ": trained") == 6,
          "manual and predicted annotations: exit %d, 2 segment units, 6 fold units:\n%s", rc, err);
    check_predicted(dir);
    rc = run(cmd, err, sizeof err);
    CHECK(rc == 0 && count(err, "segment/f0: skipped") == 1 && count(err, "segment/f1: skipped") == 1 &&
              count(err, "trained") == 0, "predicted annotations, again: every unit skipped (exit %d):\n%s", rc, err);
    snprintf(cmd, sizeof cmd, "%s/out/report.html", dir);
    char *manual_report = slurp(cmd);
    CHECK(manual_report && !strstr(manual_report, "id=\"segmentation\""),
          "a run on manual annotations has no segmentation section");
    free(manual_report);

    /* 5. refusals */
    check_bad("nocohort", "{\"test_count\": 8, \"folds\": 2}", "cohort: missing (expected the path of the cohort CSV)", 1);
    check_bad("badarch", "{\"cohort\": \"c/cohort.csv\", \"test_count\": 8, \"archs\": [\"resnet51\"]}",
              "archs[0]: unknown architecture 'resnet51' (expected vgg16, resnet50, resnet50-keras or densenet121)", 1);
    check_bad("annotations", "{\"cohort\": \"c/cohort.csv\", \"test_count\": 8, \"annotations\": \"drawn\"}",
              "annotations: expected manual, predicted or both, got 'drawn'", 1);
    check_bad("segsize", "{\"cohort\": \"c/cohort.csv\", \"test_count\": 8, \"segment_size\": 100}",
              "segment_size: expected a multiple of 16 (the U-Net halves it 4 times), got 100", 1);
    check_bad("onefold", "{\"cohort\": \"c/cohort.csv\", \"test_count\": 8, \"folds\": 1}",
              "folds: expected an integer in [2, 100], got a number outside it", 1);
    snprintf(cmd, sizeof cmd, "%s experiment --out %s/bad-usage", BLASTO_CLI, dir);
    rc = run(cmd, err, sizeof err);
    CHECK(rc == 2 && !strcmp(err, "blasto experiment: --config and --out are required (blasto experiment --help)\n"),
          "usage error: exit %d, %s", rc, err);
    struct stat s;
    snprintf(cmd, sizeof cmd, "%s/bad-usage", dir);
    CHECK(stat(cmd, &s) != 0, "usage error: nothing written");

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return test_summary("test_experiment");
}
