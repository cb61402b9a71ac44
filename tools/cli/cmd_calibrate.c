/* cmd_calibrate.c — `blasto calibrate fit|apply`: isotonic calibration of predicted probabilities
 * (tools/study/calibration.h; sklearn IsotonicRegression(increasing=True, out_of_bounds="clip")).
 *   fit:   predictions → model JSON (thresholds, and on the fit set: the calibration curve, Brier and
 *          Hosmer–Lemeshow before and after calibration).
 *   apply: model + predictions → the same predictions CSV with calibrated scores.
 * Outputs are written atomically; on any error nothing is written. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "commands.h"
#include "study/calibration.h"
#include "study/csv.h"
#include "study/predictions.h"
#include "study/stats.h"

#define HL_GROUPS 10
#define CURVE_BINS 10

static int calibrate_help(void) {
    printf("usage: blasto calibrate fit --predictions VAL.csv --out ISO.json\n"
           "       blasto calibrate apply --model ISO.json --predictions P.csv --out P_cal.csv\n\n"
           "Isotonic calibration exactly as sklearn IsotonicRegression(increasing=True, out_of_bounds='clip'):\n"
           "tied scores are merged (mean label, summed weight), pool-adjacent-violators makes the fit\n"
           "non-decreasing, and the thresholds where it changes are kept; a score is calibrated by clipping it to\n"
           "[first, last threshold] and interpolating linearly between thresholds.\n\n"
           "fit     --predictions VAL.csv  predictions to fit on (id,label,score; e.g. a fold's validation part)\n"
           "        --out ISO.json         the model: X_thresholds, y_thresholds, and on the fit set before and\n"
           "                               after calibration: calibration curve (%d uniform bins, sklearn\n"
           "                               calibration_curve), Brier, Hosmer-Lemeshow (g = %d, both groupings)\n"
           "apply   --model ISO.json       a model written by fit\n"
           "        --predictions P.csv    predictions to calibrate\n"
           "        --out P_cal.csv        the same predictions with calibrated scores (written atomically)\n",
           CURVE_BINS, HL_GROUPS);
    return 0;
}

static int add_array(cJSON *object, const char *key, int n, const double *values, const int *ints) {
    cJSON *array = cJSON_CreateArray();
    if (!array || !cJSON_AddItemToObject(object, key, array)) return cJSON_Delete(array), 1;
    for (int i = 0; i < n; i++) {
        cJSON *item = cli_json_number(values ? values[i] : ints[i]);
        if (!item || !cJSON_AddItemToArray(array, item)) return cJSON_Delete(item), 1;
    }
    return 0;
}

/* How well scores p fit the labels: the quantities the model file reports before and after calibration. */
typedef struct calibration_stats {
    bl_calibration_curve curve;
    double brier;
    bl_hosmer_lemeshow hl, hl_equal;
    int hl_ok, hl_equal_ok; /* Hosmer–Lemeshow needs 3 non-empty groups: after isotonic there may be fewer */
} calibration_stats;

static bl_status stats_of(int n, const double *p, const int *label, calibration_stats *s) {
    memset(s, 0, sizeof *s);
    bl_status st = bl_calibration_curve_uniform(n, label, p, CURVE_BINS, &s->curve);
    if (st) return st;
    s->brier = bl_brier(n, p, label);
    s->hl_ok = bl_hosmer_lemeshow_quantile(n, p, label, HL_GROUPS, &s->hl) == BL_OK;
    s->hl_equal_ok = bl_hosmer_lemeshow_equal(n, p, label, HL_GROUPS, &s->hl_equal) == BL_OK;
    return BL_OK;
}

/* {"brier", "hl_*", "calibration_curve": {...}} added to parent under key; returns non-zero on failure. */
static int add_stats(cJSON *parent, const char *key, const calibration_stats *s) {
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToObject(parent, key, o)) return cJSON_Delete(o), 1;
    int bad = cli_json_add_number(o, "brier", s->brier);
    bad = bad || cli_json_add_number(o, "hl_chi2", s->hl_ok ? s->hl.chi2 : NAN);
    bad = bad || cli_json_add_number(o, "hl_df", s->hl_ok ? s->hl.df : NAN) || cli_json_add_number(o, "hl_p", s->hl_ok ? s->hl.p : NAN);
    bad = bad || cli_json_add_number(o, "hl_equal_chi2", s->hl_equal_ok ? s->hl_equal.chi2 : NAN);
    bad = bad || cli_json_add_number(o, "hl_equal_p", s->hl_equal_ok ? s->hl_equal.p : NAN);
    cJSON *c = bad ? NULL : cJSON_CreateObject();
    if (!c || !cJSON_AddItemToObject(o, "calibration_curve", c)) return cJSON_Delete(c), 1;
    const bl_calibration_curve *k = &s->curve;
    bad = cli_json_add_number(c, "n_bins", k->n_bins) || !cJSON_AddStringToObject(c, "strategy", "uniform");
    bad = bad || add_array(c, "bin", k->count, NULL, k->bin) || add_array(c, "bin_low", k->count, k->low, NULL) ||
          add_array(c, "bin_high", k->count, k->high, NULL) || add_array(c, "count", k->count, NULL, k->total) ||
          add_array(c, "prob_true", k->count, k->prob_true, NULL) ||
          add_array(c, "prob_pred", k->count, k->prob_pred, NULL);
    return bad;
}

static void print_stats_line(const char *when, const calibration_stats *s) {
    printf("  %-7s Brier %.6f   HL chi2 ", when, s->brier);
    if (s->hl_ok) printf("%.6g, df %d, p %.6g", s->hl.chi2, s->hl.df, s->hl.p);
    else printf("n/a (fewer than 3 groups)");
    if (s->hl_equal_ok) printf("   (equal-size groups: p %.6g)\n", s->hl_equal.p);
    else printf("   (equal-size groups: n/a)\n");
}

/* One line per bin: fraction positive / mean score (count), before and after. */
static void print_curves(const calibration_stats *before, const calibration_stats *after) {
    printf("  calibration curve (%d uniform bins): fraction positive / mean score (count)\n", CURVE_BINS);
    printf("    %-12s %-26s %s\n", "bin", "before", "after");
    for (int b = 0; b < CURVE_BINS; b++) {
        char cell[2][64];
        const bl_calibration_curve *curves[2] = {&before->curve, &after->curve};
        for (int k = 0; k < 2; k++) {
            snprintf(cell[k], sizeof cell[k], "-");
            for (int j = 0; j < curves[k]->count; j++)
                if (curves[k]->bin[j] == b)
                    snprintf(cell[k], sizeof cell[k], "%.4f / %.4f (%d)", curves[k]->prob_true[j],
                             curves[k]->prob_pred[j], curves[k]->total[j]);
        }
        printf("    (%.1f, %.1f]   %-26s %s\n", b / (double)CURVE_BINS, (b + 1) / (double)CURVE_BINS, cell[0], cell[1]);
    }
}

static int fit(const char *predictions_path, const char *out_path) {
    bl_predictions *p = NULL;
    if (bl_predictions_read(predictions_path, &p)) {
        fprintf(stderr, "blasto calibrate: %s\n", bl_last_error());
        return 1;
    }
    int n = p->n, n_pos = 0, rc = 0;
    double *score = malloc((size_t)n * sizeof *score), *label_value = malloc((size_t)n * sizeof *label_value);
    double *calibrated = malloc((size_t)n * sizeof *calibrated);
    int *label = malloc((size_t)n * sizeof *label);
    bl_isotonic iso = {0};
    calibration_stats before = {0}, after = {0};
    cJSON *root = NULL;
    char *text = NULL, *file = NULL;
    if (!score || !label_value || !calibrated || !label) {
        fprintf(stderr, "blasto calibrate: out of memory for %d rows\n", n);
        rc = 1;
        goto done;
    }
    for (int i = 0; i < n; i++) {
        score[i] = p->rows[i].score, label[i] = p->rows[i].label, label_value[i] = label[i];
        n_pos += label[i];
    }
    if (bl_isotonic_fit(n, score, label_value, NULL, &iso)) {
        fprintf(stderr, "blasto calibrate: %s: %s\n", predictions_path, bl_last_error());
        rc = 1;
        goto done;
    }
    bl_isotonic_predict(&iso, n, score, calibrated);
    if (stats_of(n, score, label, &before) || stats_of(n, calibrated, label, &after)) {
        fprintf(stderr, "blasto calibrate: %s: %s\n", predictions_path, bl_last_error());
        rc = 1;
        goto done;
    }

    root = cJSON_CreateObject();
    int bad = !root;
    bad = bad || !cJSON_AddStringToObject(root, "format", "blasto-isotonic") || cli_json_add_number(root, "version", 1);
    bad = bad || !cJSON_AddStringToObject(root, "method", "sklearn IsotonicRegression(increasing=True, "
                                                          "out_of_bounds='clip')");
    bad = bad || !cJSON_AddStringToObject(root, "fitted_on", predictions_path);
    if (!bad && p->arch) bad = !cJSON_AddStringToObject(root, "arch", p->arch);
    if (!bad && p->input) bad = !cJSON_AddStringToObject(root, "input", p->input);
    if (!bad && p->fold >= 0) bad = cli_json_add_number(root, "fold", p->fold);
    bad = bad || cli_json_add_number(root, "n", n) || cli_json_add_number(root, "n_pos", n_pos);
    bad = bad || add_array(root, "X_thresholds", iso.count, iso.x, NULL);
    bad = bad || add_array(root, "y_thresholds", iso.count, iso.y, NULL);
    bad = bad || add_stats(root, "before", &before) || add_stats(root, "after", &after);
    size_t len = 0;
    if (!bad && (text = cJSON_Print(root))) len = strlen(text), file = malloc(len + 2);
    if (!file) {
        fprintf(stderr, "blasto calibrate: out of memory building %s\n", out_path);
        rc = 1;
        goto done;
    }
    memcpy(file, text, len);
    file[len] = '\n';
    if (bl_write_file_atomic(out_path, file, len + 1)) {
        fprintf(stderr, "blasto calibrate: %s\n", bl_last_error());
        rc = 1;
        goto done;
    }
    printf("isotonic calibration fitted on %s (n = %d, %d positive): %d thresholds -> %s\n", predictions_path, n,
           n_pos, iso.count, out_path);
    print_stats_line("before", &before);
    print_stats_line("after", &after);
    print_curves(&before, &after);
done:
    free(file);
    cJSON_free(text);
    cJSON_Delete(root);
    bl_calibration_curve_free(&before.curve);
    bl_calibration_curve_free(&after.curve);
    bl_isotonic_free(&iso);
    free(score), free(label_value), free(calibrated), free(label);
    bl_predictions_free(p);
    return rc;
}

static int apply(const char *model_path, const char *predictions_path, const char *out_path) {
    bl_isotonic iso;
    if (bl_isotonic_read_json(model_path, &iso)) {
        fprintf(stderr, "blasto calibrate: %s\n", bl_last_error());
        return 1;
    }
    bl_predictions *p = NULL;
    if (bl_predictions_read(predictions_path, &p)) {
        fprintf(stderr, "blasto calibrate: %s\n", bl_last_error());
        bl_isotonic_free(&iso);
        return 1;
    }
    int rc = 0;
    double *score = malloc((size_t)p->n * sizeof *score);
    if (!score) {
        fprintf(stderr, "blasto calibrate: out of memory for %d rows\n", p->n);
        rc = 1;
    } else {
        for (int i = 0; i < p->n; i++) score[i] = p->rows[i].score;
        bl_isotonic_predict(&iso, p->n, score, score);
        for (int i = 0; i < p->n; i++) p->rows[i].score = score[i];
        if (bl_predictions_write(out_path, p)) {
            fprintf(stderr, "blasto calibrate: %s\n", bl_last_error());
            rc = 1;
        } else {
            printf("calibrated %d predictions of %s with %s (%d thresholds) -> %s\n", p->n, predictions_path,
                   model_path, iso.count, out_path);
        }
    }
    free(score);
    bl_predictions_free(p);
    bl_isotonic_free(&iso);
    return rc;
}

int cmd_calibrate(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "blasto calibrate: expected fit or apply (blasto calibrate --help)\n");
        return 2;
    }
    const char *action = argv[1];
    if (strcmp(action, "--help") == 0 || strcmp(action, "-h") == 0) return calibrate_help();
    if (strcmp(action, "fit") != 0 && strcmp(action, "apply") != 0) {
        fprintf(stderr, "blasto calibrate: unknown action '%s' (expected fit or apply; blasto calibrate --help)\n",
                action);
        return 2;
    }
    const char *predictions = NULL, *out_path = NULL, *model = NULL;
    for (int i = 2; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) return calibrate_help();
        if (strcmp(opt, "--predictions") == 0 && val) predictions = val, i++;
        else if (strcmp(opt, "--out") == 0 && val) out_path = val, i++;
        else if (strcmp(opt, "--model") == 0 && val && action[0] == 'a') model = val, i++;
        else {
            fprintf(stderr, "blasto calibrate: %s: bad option '%s'%s (blasto calibrate --help)\n", action, opt,
                    val || strncmp(opt, "--", 2) ? "" : ": missing value");
            return 2;
        }
    }
    const char *missing = !predictions ? "--predictions" : !out_path ? "--out" : !model && action[0] == 'a' ? "--model"
                                                                                                             : NULL;
    if (missing) {
        fprintf(stderr, "blasto calibrate: %s: %s is required (blasto calibrate --help)\n", action, missing);
        return 2;
    }
    return action[0] == 'f' ? fit(predictions, out_path) : apply(model, predictions, out_path);
}
