/* experiment_analysis.c — the analysis units of `blasto experiment` (experiment.h, docs/experiment.md): Table 1
 * (age t-tests positives vs negatives, whole cohort and per clinic) and the calibration of the best fold unit
 * (isotonic fitted on its validation predictions, applied to its test predictions). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "study/calibration.h"
#include "study/cohort.h"
#include "study/csv.h"
#include "study/experiment.h"
#include "study/metrics.h"
#include "study/predictions.h"
#include "study/stats.h"

/* %.17g; "" for a non-finite value (an undefined statistic) */
static void cell(char *dst, double v) {
    if (isfinite(v)) snprintf(dst, 32, "%.17g", v);
    else dst[0] = 0;
}

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* One Table 1 row over the cohort rows whose clinic equals `clinic` (NULL = all rows); rows with a missing (NaN)
 * age are left out. pos, neg: scratch [cohort->n]. */
static bl_status table1_row(const bl_cohort *cohort, const char *clinic, double *pos, double *neg, bl_csv_writer *w) {
    int np = 0, nn = 0;
    for (int j = 0; j < cohort->n; j++) {
        const bl_cohort_row *row = &cohort->rows[j];
        if ((clinic && strcmp(row->clinic ? row->clinic : "", clinic)) || isnan(row->age)) continue;
        if (row->label) pos[np++] = row->age;
        else neg[nn++] = row->age;
    }
    char cells[14][32];
    const char *f[14];
    snprintf(cells[0], 32, "%s", clinic ? "clinic" : "all");
    snprintf(cells[2], 32, "%d", np);
    snprintf(cells[3], 32, "%d", nn);
    double mp = NAN, sp = NAN, mn = NAN, sn = NAN;
    if (np >= 1) bl_experiment_mean_sd(np, pos, &mp, &sp);
    if (nn >= 1) bl_experiment_mean_sd(nn, neg, &mn, &sn);
    cell(cells[4], mp);
    cell(cells[5], sp);
    cell(cells[6], mn);
    cell(cells[7], sn);
    for (int e = 0; e < 2; e++) {
        bl_ttest t = {NAN, NAN, NAN};
        /* fewer than 2 ages in a class, or t = 0/0: the test is undefined and its cells stay empty */
        if (np < 2 || nn < 2 || bl_ttest_samples(np, pos, nn, neg, e == 0, &t)) t = (bl_ttest){NAN, NAN, NAN};
        cell(cells[8 + 3 * e], t.t);
        cell(cells[9 + 3 * e], t.df);
        cell(cells[10 + 3 * e], t.p);
    }
    for (int q = 0; q < 14; q++) f[q] = cells[q];
    f[1] = clinic ? clinic : "";
    return bl_csv_writer_add(w, f);
}

bl_status bl_experiment_table1(const bl_cohort *cohort, const char *path) {
    static const char *const header[14] = {"scope", "clinic", "n_pos", "n_neg", "age_mean_pos", "age_sd_pos",
                                           "age_mean_neg", "age_sd_neg", "student_t", "student_df", "student_p",
                                           "welch_t", "welch_df", "welch_p"};
    int n = cohort->n;
    double *pos = calloc((size_t)n + 1, sizeof *pos), *neg = calloc((size_t)n + 1, sizeof *neg);
    const char **clinics = calloc((size_t)n + 1, sizeof *clinics);
    bl_csv_writer *w = NULL;
    bl_status st = pos && neg && clinics ? bl_csv_writer_create(14, header, &w) : bl_fail(BL_ERR_NOMEM, "out of memory");
    if (!st) st = table1_row(cohort, NULL, pos, neg, w);
    for (int j = 0; j < n; j++) clinics[j] = cohort->rows[j].clinic ? cohort->rows[j].clinic : "";
    if (!st) qsort(clinics, (size_t)n, sizeof *clinics, compare_strings);
    for (int j = 0; !st && j < n; j++)
        if (j == 0 || strcmp(clinics[j], clinics[j - 1])) st = table1_row(cohort, clinics[j], pos, neg, w);
    if (!st) st = bl_csv_writer_save(w, path);
    bl_csv_writer_free(w);
    free(pos);
    free(neg);
    free(clinics);
    return st;
}

/* scores and labels of a predictions file → fresh arrays s[n], y[n] */
static bl_status read_scores(const char *path, int *n, double **s, int **y) {
    bl_predictions *p = NULL;
    bl_status st = bl_predictions_read(path, &p);
    *s = NULL;
    *y = NULL;
    if (st) return st;
    *n = p->n;
    *s = calloc((size_t)p->n + 1, sizeof **s);
    *y = calloc((size_t)p->n + 1, sizeof **y);
    if (!*s || !*y) st = bl_fail(BL_ERR_NOMEM, "out of memory");
    for (int j = 0; !st && j < p->n; j++) (*s)[j] = p->rows[j].score, (*y)[j] = p->rows[j].label;
    bl_predictions_free(p);
    return st;
}

static cJSON *hl_json(bl_status st, const bl_hosmer_lemeshow *h) {
    if (st) return cJSON_CreateNull();
    cJSON *o = cJSON_CreateObject();
    /* a group whose expected count is 0 (probabilities of exactly 0 or 1, e.g. after isotonic calibration) makes
     * the statistic infinite or 0/0 (R's ResourceSelection gives Inf or NaN too); JSON has neither, so chi2 and p
     * are null, with the reason */
    if (isfinite(h->chi2)) cJSON_AddNumberToObject(o, "chi2", h->chi2);
    else cJSON_AddNullToObject(o, "chi2");
    cJSON_AddNumberToObject(o, "df", h->df);
    if (isfinite(h->chi2) && isfinite(h->p)) cJSON_AddNumberToObject(o, "p", h->p);
    else cJSON_AddNullToObject(o, "p");
    cJSON_AddNumberToObject(o, "groups", h->groups);
    if (!isfinite(h->chi2)) cJSON_AddStringToObject(o, "undefined", "a group has an expected count of 0: chi2 is not finite");
    return o;
}

/* {"brier", "hosmer_lemeshow_quantile", "hosmer_lemeshow_equal", "curve"} of p [n] against y [n] */
static bl_status calibration_json(int n, const double *p, const int *y, cJSON **out) {
    cJSON *o = cJSON_CreateObject();
    bl_hosmer_lemeshow h;
    cJSON_AddNumberToObject(o, "brier", bl_brier(n, p, y));
    /* HL is undefined with fewer than 3 non-empty groups (tiny test sets, constant probabilities): null */
    cJSON_AddItemToObject(o, "hosmer_lemeshow_quantile", hl_json(bl_hosmer_lemeshow_quantile(n, p, y, 10, &h), &h));
    cJSON_AddItemToObject(o, "hosmer_lemeshow_equal", hl_json(bl_hosmer_lemeshow_equal(n, p, y, 10, &h), &h));
    bl_calibration_curve c = {0};
    bl_status st = bl_calibration_curve_uniform(n, y, p, 10, &c);
    if (!st) {
        cJSON *curve = cJSON_AddArrayToObject(o, "curve");
        for (int b = 0; b < c.count; b++) {
            cJSON *bin = cJSON_CreateObject();
            cJSON_AddNumberToObject(bin, "bin", c.bin[b]);
            cJSON_AddNumberToObject(bin, "low", c.low[b]);
            cJSON_AddNumberToObject(bin, "high", c.high[b]);
            cJSON_AddNumberToObject(bin, "total", c.total[b]);
            cJSON_AddNumberToObject(bin, "prob_true", c.prob_true[b]);
            cJSON_AddNumberToObject(bin, "prob_pred", c.prob_pred[b]);
            cJSON_AddItemToArray(curve, bin);
        }
    }
    bl_calibration_curve_free(&c);
    if (st) cJSON_Delete(o), o = NULL;
    *out = o;
    return st;
}

static cJSON *number_array(int n, const double *x) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(x[i]));
    return a;
}

bl_status bl_experiment_best_unit(const bl_experiment_config *c, const char *out_dir, int input_filter, char *name,
                           size_t size, double *best_auc) {
    *best_auc = -1;
    name[0] = 0;
    bl_experiment_arm arms[BL_EXPERIMENT_MAX_ARMS];
    int n_arms = bl_experiment_arms(c, arms);
    for (int a = 0; a < c->n_archs; a++)
        for (int i = 0; i < n_arms; i++) {
            if (input_filter >= 0 && (int)arms[i].input != input_filter) continue;
            for (int k = 0; k < c->folds; k++) {
                char run[128], path[1400];
                bl_experiment_unit_name(c, a, &arms[i], k, run, sizeof run);
                if (snprintf(path, sizeof path, "%s/runs/%s/validation.csv", out_dir, run) >= (int)sizeof path)
                    return bl_fail(BL_ERR_INVALID, "%s: path too long", out_dir);
                int n = 0, *y = NULL;
                double *s = NULL, auc = NAN;
                bl_status st = read_scores(path, &n, &s, &y);
                if (!st && bl_auroc(n, s, y, &auc)) auc = NAN; /* one class only: not a candidate */
                free(s);
                free(y);
                if (st) return st;
                if (auc > *best_auc) *best_auc = auc, snprintf(name, size, "%s", run);
            }
        }
    if (!name[0]) return bl_fail(BL_ERR_NUMERIC, "%s: no fold unit has a defined validation AUROC", out_dir);
    return BL_OK;
}

bl_status bl_experiment_calibration(const bl_experiment_config *c, const char *out_dir, char *unit, size_t size) {
    double auc;
    bl_status st = bl_experiment_best_unit(c, out_dir, -1, unit, size, &auc);
    if (st) return st;
    char vpath[1400], tpath[1400], path[1400];
    snprintf(vpath, sizeof vpath, "%s/runs/%s/validation.csv", out_dir, unit);
    snprintf(tpath, sizeof tpath, "%s/runs/%s/test.csv", out_dir, unit);
    snprintf(path, sizeof path, "%s/calibration.json", out_dir);
    int nv = 0, nt = 0, *yv = NULL, *yt = NULL;
    double *sv = NULL, *st_scores = NULL, *cal = NULL;
    bl_isotonic iso = {0};
    cJSON *root = NULL, *before = NULL, *after = NULL;
    st = read_scores(vpath, &nv, &sv, &yv);
    if (!st) st = read_scores(tpath, &nt, &st_scores, &yt);
    double *yv_double = st ? NULL : calloc((size_t)nv + 1, sizeof *yv_double);
    if (!st && (!yv_double || !(cal = calloc((size_t)nt + 1, sizeof *cal)))) st = bl_fail(BL_ERR_NOMEM, "out of memory");
    for (int j = 0; !st && j < nv; j++) yv_double[j] = yv[j];
    if (!st) st = bl_isotonic_fit(nv, sv, yv_double, NULL, &iso);
    if (!st) bl_isotonic_predict(&iso, nt, st_scores, cal);
    if (!st) st = calibration_json(nt, st_scores, yt, &before);
    if (!st) st = calibration_json(nt, cal, yt, &after);
    if (!st) {
        root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "unit", unit);
        cJSON_AddStringToObject(root, "rule", "highest AUROC of runs/<unit>/validation.csv; ties: first in config order");
        cJSON_AddNumberToObject(root, "validation_auroc", auc);
        cJSON_AddNumberToObject(root, "n_validation", nv);
        cJSON_AddNumberToObject(root, "n_test", nt);
        cJSON_AddStringToObject(root, "method", "isotonic (fit on validation.csv, applied to test.csv)");
        cJSON_AddItemToObject(root, "X_thresholds", number_array(iso.count, iso.x));
        cJSON_AddItemToObject(root, "y_thresholds", number_array(iso.count, iso.y));
        cJSON_AddItemToObject(root, "before", before);
        cJSON_AddItemToObject(root, "after", after);
        before = after = NULL;
        char *text = cJSON_Print(root);
        if (!text) st = bl_fail(BL_ERR_NOMEM, "out of memory");
        else {
            size_t len = strlen(text);
            char *nl = realloc(text, len + 2);
            if (nl) text = nl, text[len++] = '\n', text[len] = 0;
            st = bl_write_file_atomic(path, text, len);
            free(text);
        }
    }
    cJSON_Delete(root);
    cJSON_Delete(before);
    cJSON_Delete(after);
    bl_isotonic_free(&iso);
    free(sv);
    free(yv);
    free(yv_double);
    free(st_scores);
    free(yt);
    free(cal);
    return st;
}
