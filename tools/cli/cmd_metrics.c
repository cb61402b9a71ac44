/* cmd_metrics.c — `blasto metrics`: discrimination and calibration metrics of one predictions CSV (AUROC with
 * DeLong variance and CI, confusion rates at a threshold, Youden's threshold, Brier, Hosmer–Lemeshow both ways),
 * or the paired DeLong test of two predictions files on the same ids. Prints a table; --out writes JSON
 * atomically. Formulas and references: tools/study/metrics.h, tools/study/stats.h, docs/statistics.md. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "commands.h"
#include "study/csv.h"
#include "study/metrics.h"
#include "study/predictions.h"
#include "study/stats.h"

#define HL_GROUPS 10

static int metrics_help(void) {
    printf("usage: blasto metrics --predictions P.csv [--threshold 0.5|youden|X] [--out M.json]\n"
           "       blasto metrics --compare A.csv B.csv [--out C.json]\n\n"
           "Metrics of a predictions CSV (columns id,label,score as written by blasto predict):\n"
           "  AUROC        sklearn roc_auc_score (ties count 1/2: trapezoid over distinct thresholds)\n"
           "  DeLong       variance of the AUROC (Sun & Xu fast algorithm, midranks, covariances with ddof 1);\n"
           "               95%% CI = AUROC +/- 1.959963984540054*sqrt(var), clipped to [0, 1] (pROC)\n"
           "  threshold    a sample is positive iff score >= threshold; accuracy, sensitivity, specificity there\n"
           "  Youden       the roc_curve threshold maximising sensitivity + specificity - 1 (highest on ties)\n"
           "  Brier        mean((label - score)^2)\n"
           "  HL           Hosmer-Lemeshow with g = %d: quantile groups keeping ties together (primary,\n"
           "               R ResourceSelection) and equal-size groups (statsmodels); df = groups - 2\n\n"
           "  --predictions P.csv  the predictions\n"
           "  --threshold T        0.5 (default), youden, or any number\n"
           "  --compare A.csv B.csv  paired DeLong test of two models' AUROCs on the same ids (matched by id;\n"
           "                       the id sets and the labels must agree): z = (AUC_A - AUC_B)/sqrt(var_A + var_B\n"
           "                       - 2 cov), two-sided p = 2*Phi(-|z|)\n"
           "  --out FILE           write the numbers as JSON (atomically); the table goes to stdout either way\n\n"
           "JSON keys (single file): n, n_pos, auroc, auroc_var, auroc_ci_low, auroc_ci_high, threshold,\n"
           "youden_threshold, accuracy, sensitivity, specificity, brier, hl_chi2, hl_df, hl_p, hl_equal_chi2,\n"
           "hl_equal_p. A quantity that is undefined for the data (the DeLong variance with fewer than 2 samples in\n"
           "a class, Hosmer-Lemeshow with fewer than 3 non-empty groups) is null and a note says why.\n"
           "Errors (exit 1, nothing written): labels not 0/1, scores not in [0, 1] or NaN, duplicate ids, a\n"
           "single class (AUROC undefined).\n",
           HL_GROUPS);
    return 0;
}

/* Serialise (with a final newline) and write atomically; returns the exit code. */
static int write_json(cJSON *root, const char *path) {
    char *text = cJSON_Print(root);
    size_t len = text ? strlen(text) : 0;
    char *file = text ? malloc(len + 2) : NULL;
    if (!file) {
        cJSON_free(text);
        fprintf(stderr, "blasto metrics: %s: out of memory formatting JSON\n", path);
        return 1;
    }
    memcpy(file, text, len);
    file[len] = '\n';
    bl_status st = bl_write_file_atomic(path, file, len + 1);
    free(file);
    cJSON_free(text);
    if (st) {
        fprintf(stderr, "blasto metrics: %s\n", bl_last_error());
        return 1;
    }
    return 0;
}

/* "0.923456" or "n/a" for NaN/inf, into buf. */
static const char *fmt(char *buf, size_t cap, const char *format, double v) {
    if (isfinite(v)) snprintf(buf, cap, format, v);
    else snprintf(buf, cap, "n/a");
    return buf;
}

/* Scores and labels of a predictions file as plain arrays (caller frees). */
static int columns_of(const bl_predictions *p, double **score, int **label) {
    *score = malloc((size_t)p->n * sizeof **score);
    *label = malloc((size_t)p->n * sizeof **label);
    if (!*score || !*label) {
        free(*score), free(*label);
        fprintf(stderr, "blasto metrics: out of memory for %d rows\n", p->n);
        return 1;
    }
    for (int i = 0; i < p->n; i++) (*score)[i] = p->rows[i].score, (*label)[i] = p->rows[i].label;
    return 0;
}

typedef struct summary {
    int n, n_pos;
    bl_delong delong;
    double threshold, youden;
    bl_confusion at;
    double brier;
    bl_hosmer_lemeshow hl, hl_equal;
    int hl_ok, hl_equal_ok;
    char hl_note[512], hl_equal_note[512];
} summary;

static bl_status summarise(int n, const double *score, const int *label, int use_youden, double threshold,
                           summary *s) {
    memset(s, 0, sizeof *s);
    s->n = n;
    for (int i = 0; i < n; i++) s->n_pos += label[i];
    bl_status st = bl_auroc(n, score, label, &s->delong.auc);
    double auc_sklearn = s->delong.auc;
    if (!st) st = bl_auroc_delong(n, score, label, &s->delong);
    if (!st) st = bl_youden_threshold(n, score, label, &s->youden);
    if (st) return st;
    s->delong.auc = auc_sklearn; /* the reported AUROC is sklearn's trapezoid; DeLong's agrees to rounding */
    s->threshold = use_youden ? s->youden : threshold;
    if ((st = bl_confusion_at(n, score, label, s->threshold, &s->at))) return st;
    s->brier = bl_brier(n, score, label);
    s->hl_ok = bl_hosmer_lemeshow_quantile(n, score, label, HL_GROUPS, &s->hl) == BL_OK;
    if (!s->hl_ok) snprintf(s->hl_note, sizeof s->hl_note, "%s", bl_last_error());
    s->hl_equal_ok = bl_hosmer_lemeshow_equal(n, score, label, HL_GROUPS, &s->hl_equal) == BL_OK;
    if (!s->hl_equal_ok) snprintf(s->hl_equal_note, sizeof s->hl_equal_note, "%s", bl_last_error());
    return BL_OK;
}

static cJSON *summary_json(const summary *s) {
    cJSON *o = cJSON_CreateObject();
    int bad = !o;
    bad = bad || cli_json_add_number(o, "n", s->n) || cli_json_add_number(o, "n_pos", s->n_pos);
    bad = bad || cli_json_add_number(o, "auroc", s->delong.auc) || cli_json_add_number(o, "auroc_var", s->delong.var);
    bad = bad || cli_json_add_number(o, "auroc_ci_low", s->delong.ci_low) || cli_json_add_number(o, "auroc_ci_high", s->delong.ci_high);
    bad = bad || cli_json_add_number(o, "threshold", s->threshold) || cli_json_add_number(o, "youden_threshold", s->youden);
    bad = bad || cli_json_add_number(o, "accuracy", s->at.accuracy) || cli_json_add_number(o, "sensitivity", s->at.sensitivity);
    bad = bad || cli_json_add_number(o, "specificity", s->at.specificity) || cli_json_add_number(o, "brier", s->brier);
    bad = bad || cli_json_add_number(o, "hl_chi2", s->hl_ok ? s->hl.chi2 : NAN);
    bad = bad || cli_json_add_number(o, "hl_df", s->hl_ok ? s->hl.df : NAN);
    bad = bad || cli_json_add_number(o, "hl_p", s->hl_ok ? s->hl.p : NAN);
    bad = bad || cli_json_add_number(o, "hl_equal_chi2", s->hl_equal_ok ? s->hl_equal.chi2 : NAN);
    bad = bad || cli_json_add_number(o, "hl_equal_p", s->hl_equal_ok ? s->hl_equal.p : NAN);
    if (bad) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static void print_summary(const char *path, const summary *s) {
    char a[64], b[64], c[64], d[64];
    printf("metrics of %s: n = %d, %d positive, %d negative\n", path, s->n, s->n_pos, s->n - s->n_pos);
    printf("  %-16s %s   (95%% CI %s - %s, DeLong var %s)\n", "AUROC", fmt(a, sizeof a, "%.6f", s->delong.auc),
           fmt(b, sizeof b, "%.6f", s->delong.ci_low), fmt(c, sizeof c, "%.6f", s->delong.ci_high),
           fmt(d, sizeof d, "%.6g", s->delong.var));
    printf("  %-16s %.6g   (Youden %.6g)\n", "threshold", s->threshold, s->youden);
    printf("  %-16s %s   (TP %d, FP %d, TN %d, FN %d)\n", "accuracy", fmt(a, sizeof a, "%.6f", s->at.accuracy),
           s->at.tp, s->at.fp, s->at.tn, s->at.fn);
    printf("  %-16s %s\n", "sensitivity", fmt(a, sizeof a, "%.6f", s->at.sensitivity));
    printf("  %-16s %s\n", "specificity", fmt(a, sizeof a, "%.6f", s->at.specificity));
    printf("  %-16s %s\n", "Brier", fmt(a, sizeof a, "%.6f", s->brier));
    if (s->hl_ok)
        printf("  %-16s chi2 %s, df %d, p %s   (quantile groups, %d groups)\n", "Hosmer-Lemeshow",
               fmt(a, sizeof a, "%.6g", s->hl.chi2), s->hl.df, fmt(b, sizeof b, "%.6g", s->hl.p), s->hl.groups);
    else printf("  %-16s n/a\n", "Hosmer-Lemeshow");
    if (s->hl_equal_ok)
        printf("  %-16s chi2 %s, df %d, p %s   (equal-size groups)\n", "", fmt(a, sizeof a, "%.6g", s->hl_equal.chi2),
               s->hl_equal.df, fmt(b, sizeof b, "%.6g", s->hl_equal.p));
    else printf("  %-16s n/a (equal-size groups)\n", "");
    if (!isfinite(s->delong.var))
        fprintf(stderr, "blasto metrics: note: DeLong variance undefined with fewer than 2 samples in a class "
                        "(n_pos = %d, n_neg = %d); auroc_var and the CI are null\n", s->n_pos, s->n - s->n_pos);
    if (!s->hl_ok) fprintf(stderr, "blasto metrics: note: %s; hl_chi2/hl_df/hl_p are null\n", s->hl_note);
    if (!s->hl_equal_ok)
        fprintf(stderr, "blasto metrics: note: %s; hl_equal_chi2/hl_equal_p are null\n", s->hl_equal_note);
}

static int run_single(const char *path, int use_youden, double threshold, const char *out_path) {
    bl_predictions *p = NULL;
    if (bl_predictions_read(path, &p)) {
        fprintf(stderr, "blasto metrics: %s\n", bl_last_error());
        return 1;
    }
    double *score = NULL;
    int *label = NULL;
    if (columns_of(p, &score, &label)) return bl_predictions_free(p), 1;
    summary s;
    int rc = 0;
    if (summarise(p->n, score, label, use_youden, threshold, &s)) {
        fprintf(stderr, "blasto metrics: %s: %s\n", path, bl_last_error());
        rc = 1;
    }
    cJSON *json = rc || !out_path ? NULL : summary_json(&s);
    if (!rc && out_path && !json) fprintf(stderr, "blasto metrics: out of memory building JSON\n"), rc = 1;
    if (!rc && json) rc = write_json(json, out_path);
    if (!rc) print_summary(path, &s);
    cJSON_Delete(json);
    free(score), free(label);
    bl_predictions_free(p);
    return rc;
}

typedef struct id_row {
    const char *id;
    int row;
} id_row;

static int by_id(const void *a, const void *b) { return strcmp(((const id_row *)a)->id, ((const id_row *)b)->id); }

/* B's rows in A's order: order[i] = row of B with A's id i. Fails when the id sets or the labels differ. */
static int match_ids(const bl_predictions *a, const bl_predictions *b, int *order) {
    id_row *index = malloc((size_t)b->n * sizeof *index);
    if (!index) return fprintf(stderr, "blasto metrics: out of memory for %d rows\n", b->n), 1;
    for (int i = 0; i < b->n; i++) index[i] = (id_row){b->rows[i].id, i};
    qsort(index, (size_t)b->n, sizeof *index, by_id);
    int rc = 0;
    for (int i = 0; i < a->n && !rc; i++) {
        id_row key = {a->rows[i].id, 0};
        const id_row *hit = bsearch(&key, index, (size_t)b->n, sizeof *index, by_id);
        if (!hit) {
            fprintf(stderr, "blasto metrics: %s: id '%s' of %s is missing (expected the same ids in both files)\n",
                    b->path, a->rows[i].id, a->path);
            rc = 1;
        } else if (b->rows[hit->row].label != a->rows[i].label) {
            fprintf(stderr, "blasto metrics: %s: id '%s': label differs from %s (expected %d, got %d)\n", b->path,
                    a->rows[i].id, a->path, a->rows[i].label, b->rows[hit->row].label);
            rc = 1;
        } else order[i] = hit->row;
    }
    if (!rc && b->n != a->n) {
        /* every id of A is in B, so B has ids A lacks: name the first one in B's order */
        char *seen = calloc((size_t)b->n, 1);
        if (!seen) fprintf(stderr, "blasto metrics: out of memory\n");
        for (int i = 0; seen && i < a->n; i++) seen[order[i]] = 1;
        for (int j = 0; seen && j < b->n; j++)
            if (!seen[j]) {
                fprintf(stderr, "blasto metrics: %s: id '%s' of %s is missing (expected the same ids in both files)\n",
                        a->path, b->rows[j].id, b->path);
                break;
            }
        free(seen);
        rc = 1;
    }
    free(index);
    return rc;
}

static int run_compare(const char *path_a, const char *path_b, const char *out_path) {
    bl_predictions *a = NULL, *b = NULL;
    if (bl_predictions_read(path_a, &a) || bl_predictions_read(path_b, &b)) {
        fprintf(stderr, "blasto metrics: %s\n", bl_last_error());
        bl_predictions_free(a);
        return 1;
    }
    int n = a->n, n_pos = 0, rc = 0;
    double *score_a = malloc((size_t)n * sizeof *score_a), *score_b = malloc((size_t)n * sizeof *score_b);
    int *label = malloc((size_t)n * sizeof *label), *order = malloc((size_t)n * sizeof *order);
    if (!score_a || !score_b || !label || !order) fprintf(stderr, "blasto metrics: out of memory\n"), rc = 1;
    if (!rc) rc = match_ids(a, b, order);
    bl_delong_paired t;
    if (!rc) {
        for (int i = 0; i < n; i++) {
            score_a[i] = a->rows[i].score, score_b[i] = b->rows[order[i]].score, label[i] = a->rows[i].label;
            n_pos += label[i];
        }
        if (bl_delong_paired_test(n, score_a, score_b, label, &t)) {
            fprintf(stderr, "blasto metrics: %s: %s\n", path_a, bl_last_error());
            rc = 1;
        } else if (isnan(t.var1) || isnan(t.var2)) {
            fprintf(stderr, "blasto metrics: paired DeLong test undefined: it needs at least 2 samples of each class "
                            "(n_pos = %d, n_neg = %d)\n", n_pos, n - n_pos);
            rc = 1;
        } else if (isnan(t.z)) {
            fprintf(stderr, "blasto metrics: paired DeLong test undefined: the AUROC difference has zero variance "
                            "(%s and %s order every positive-negative pair the same way)\n", path_a, path_b);
            rc = 1;
        }
    }
    cJSON *o = NULL;
    if (!rc && out_path) {
        o = cJSON_CreateObject();
        int bad = !o || !cJSON_AddStringToObject(o, "predictions_a", path_a) ||
                  !cJSON_AddStringToObject(o, "predictions_b", path_b);
        bad = bad || cli_json_add_number(o, "n", n) || cli_json_add_number(o, "n_pos", n_pos) || cli_json_add_number(o, "auroc_a", t.auc1);
        bad = bad || cli_json_add_number(o, "auroc_b", t.auc2) || cli_json_add_number(o, "var_a", t.var1);
        bad = bad || cli_json_add_number(o, "var_b", t.var2) || cli_json_add_number(o, "cov_ab", t.cov12);
        bad = bad || cli_json_add_number(o, "z", t.z) || cli_json_add_number(o, "p", t.p);
        if (bad) fprintf(stderr, "blasto metrics: out of memory building JSON\n"), rc = 1;
        else rc = write_json(o, out_path);
    }
    if (!rc) {
        printf("paired DeLong test: %s vs %s: n = %d matched ids, %d positive\n", path_a, path_b, n, n_pos);
        printf("  %-12s %.6f   (DeLong var %.6g)\n", "AUROC A", t.auc1, t.var1);
        printf("  %-12s %.6f   (DeLong var %.6g)\n", "AUROC B", t.auc2, t.var2);
        printf("  %-12s %.6g\n", "covariance", t.cov12);
        printf("  %-12s z = %.6g, p = %.6g (two-sided)\n", "A - B", t.z, t.p);
    }
    cJSON_Delete(o);
    free(score_a), free(score_b), free(label), free(order);
    bl_predictions_free(a);
    bl_predictions_free(b);
    return rc;
}

int cmd_metrics(int argc, char **argv) {
    const char *predictions = NULL, *out_path = NULL, *compare_a = NULL, *compare_b = NULL, *threshold_text = NULL;
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) return metrics_help();
        if (strcmp(opt, "--predictions") == 0 && val) predictions = val, i++;
        else if (strcmp(opt, "--out") == 0 && val) out_path = val, i++;
        else if (strcmp(opt, "--threshold") == 0 && val) threshold_text = val, i++;
        else if (strcmp(opt, "--compare") == 0) {
            if (!val || i + 2 >= argc) {
                fprintf(stderr, "blasto metrics: --compare: expected two predictions files A.csv B.csv\n");
                return 2;
            }
            compare_a = val, compare_b = argv[i + 2], i += 2;
        } else {
            fprintf(stderr, "blasto metrics: bad option '%s'%s (blasto metrics --help)\n", opt,
                    val || strncmp(opt, "--", 2) ? "" : ": missing value");
            return 2;
        }
    }
    if (!predictions == !compare_a) {
        fprintf(stderr, "blasto metrics: give exactly one of --predictions P.csv and --compare A.csv B.csv "
                        "(blasto metrics --help)\n");
        return 2;
    }
    if (compare_a) {
        if (threshold_text) {
            fprintf(stderr, "blasto metrics: --threshold does not apply to --compare (blasto metrics --help)\n");
            return 2;
        }
        return run_compare(compare_a, compare_b, out_path);
    }
    int use_youden = 0;
    double threshold = 0.5;
    if (threshold_text && strcmp(threshold_text, "youden") == 0) use_youden = 1;
    else if (threshold_text) {
        char *end = NULL;
        errno = 0;
        threshold = strtod(threshold_text, &end);
        if (errno || end == threshold_text || *end || !isfinite(threshold)) {
            fprintf(stderr, "blasto metrics: --threshold: expected youden or a number, got '%s'\n", threshold_text);
            return 2;
        }
    }
    return run_single(predictions, use_youden, threshold, out_path);
}
