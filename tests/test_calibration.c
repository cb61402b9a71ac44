/* test_calibration.c — tools/study/calibration.h and `blasto calibrate`:
 *   - every isotonic case of tests/golden/calibration.json (sklearn IsotonicRegression(increasing=True,
 *     out_of_bounds="clip"), written by gen_metrics.py): X_thresholds_ and y_thresholds_ bit for bit, and
 *     predict() at ~80 query points per case (below/above the range, every knot, midpoints, random) bit for bit;
 *     ties, x closer than 1e-15 (merged as sklearn does), weights with real-valued targets, equal weighted targets
 *     (pooled, with sklearn's rounding), decreasing data (one pooled block), constant x, n = 1 and 2, one class,
 *     n = 5000;
 *   - every calibration_curve case (uniform bins 10, 7, 5; scores exactly on the bin edges i*0.1 and i/10, which
 *     differ in the last bit): prob_true, prob_pred bit for bit;
 *   - paper-method.md §9: thresholds, predictions at [0, .33, .52, 1], in-sample Brier, calibration curve;
 *   - model JSON: every malformed model gives its exact message;
 *   - the CLI: fit on the toy data (thresholds, before/after Brier), apply (calibrated scores, other columns
 *     kept), bad inputs → one line, exit 1, no output file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "harness.h"
#include "study/calibration.h"
#include "study/predictions.h"
#include "study/stats.h"
#include "support/test_support.h"

static char tmp_dir[256];
static char out[1 << 16];

static cJSON *read_json(const char *path) {
    char *text = test_read_file(path, NULL);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    return j;
}

static double *doubles_of(const cJSON *a, int *n) {
    int count = cJSON_GetArraySize(a);
    double *x = malloc((size_t)(count > 0 ? count : 1) * sizeof *x);
    int i = 0;
    for (const cJSON *v = a ? a->child : NULL; v; v = v->next) x[i++] = v->valuedouble;
    if (n) *n = count;
    return x;
}

static int *ints_of(const cJSON *a) {
    int count = cJSON_GetArraySize(a);
    int *x = malloc((size_t)(count > 0 ? count : 1) * sizeof *x);
    int i = 0;
    for (const cJSON *v = a ? a->child : NULL; v; v = v->next) x[i++] = (int)v->valuedouble;
    return x;
}

static const char *tmp_path(char *buf, const char *name) { return test_path_in(buf, 512, tmp_dir, name); }

static int run(const char *args) { return test_run_cli(args, 1, out, sizeof out); }

/* Count of elements that differ in their bits (NaN = NaN); *worst = the largest |a − b|. */
static int differing(int n, const double *a, const double *b, double *worst) {
    int count = 0;
    for (int i = 0; i < n; i++) {
        int same = a[i] == b[i] || (isnan(a[i]) && isnan(b[i]));
        count += !same;
        if (!same && fabs(a[i] - b[i]) > *worst) *worst = fabs(a[i] - b[i]);
    }
    return count;
}

/* ---- fixture ---------------------------------------------------------------------------------------------------- */

static void check_isotonic_case(const cJSON *c) {
    const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
    int n, n_thresholds, n_query;
    double *x = doubles_of(cJSON_GetObjectItem(c, "x"), &n), *y = doubles_of(cJSON_GetObjectItem(c, "y"), NULL);
    const cJSON *w = cJSON_GetObjectItem(c, "weight");
    double *weight = w ? doubles_of(w, NULL) : NULL;
    const cJSON *e = cJSON_GetObjectItem(c, "expected");
    double *want_x = doubles_of(cJSON_GetObjectItem(e, "X_thresholds"), &n_thresholds);
    double *want_y = doubles_of(cJSON_GetObjectItem(e, "y_thresholds"), NULL);
    double *query = doubles_of(cJSON_GetObjectItem(e, "query"), &n_query);
    double *want_p = doubles_of(cJSON_GetObjectItem(e, "predict"), NULL);
    double *got_p = malloc((size_t)n_query * sizeof *got_p);
    bl_isotonic iso;
    CHECK(bl_isotonic_fit(n, x, y, weight, &iso) == BL_OK, "%s: fit: %s", name, bl_last_error());
    double worst = 0;
    CHECK(iso.count == n_thresholds, "%s: %d thresholds, sklearn %d", name, iso.count, n_thresholds);
    if (iso.count == n_thresholds) {
        int dx = differing(n_thresholds, iso.x, want_x, &worst), dy = differing(n_thresholds, iso.y, want_y, &worst);
        CHECK(dx == 0 && dy == 0, "%s: %d X and %d y thresholds differ from sklearn (worst %.3g)", name, dx, dy, worst);
    }
    bl_isotonic_predict(&iso, n_query, query, got_p);
    int dp = differing(n_query, got_p, want_p, &worst);
    CHECK(dp == 0, "%s: %d of %d predictions differ from sklearn (worst %.3g)", name, dp, n_query, worst);
    bl_isotonic_free(&iso);
    free(x), free(y), free(weight), free(want_x), free(want_y), free(query), free(want_p), free(got_p);
}

static void check_curve_case(const cJSON *c) {
    const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
    int n, n_bins = (int)cJSON_GetObjectItem(c, "n_bins")->valuedouble, count;
    double *p = doubles_of(cJSON_GetObjectItem(c, "p"), &n);
    int *label = ints_of(cJSON_GetObjectItem(c, "label"));
    const cJSON *e = cJSON_GetObjectItem(c, "expected");
    double *want_true = doubles_of(cJSON_GetObjectItem(e, "prob_true"), &count);
    double *want_pred = doubles_of(cJSON_GetObjectItem(e, "prob_pred"), NULL);
    bl_calibration_curve curve;
    CHECK(bl_calibration_curve_uniform(n, label, p, n_bins, &curve) == BL_OK, "%s: %s", name, bl_last_error());
    CHECK(curve.count == count, "%s: %d non-empty bins, sklearn %d", name, curve.count, count);
    if (curve.count == count) {
        double worst = 0;
        int dt = differing(count, curve.prob_true, want_true, &worst);
        int dp = differing(count, curve.prob_pred, want_pred, &worst);
        CHECK(dt == 0 && dp == 0, "%s: prob_true %d / prob_pred %d bins differ (worst %.3g)", name, dt, dp, worst);
        int total = 0;
        for (int k = 0; k < count; k++) total += curve.total[k];
        CHECK(total == n, "%s: bin counts sum to %d, expected %d", name, total, n);
    }
    bl_calibration_curve_free(&curve);
    free(p), free(label), free(want_true), free(want_pred);
}

/* ---- paper-method.md §9 ------------------------------------------------------------------------------------- */

static const double toy_neg[17] = {.05, .05, .10, .10, .15, .20, .20, .25, .30, .30, .35, .35, .40, .45, .50, .50, .60};
static const double toy_pos[13] = {.35, .35, .45, .55, .55, .65, .65, .70, .75, .80, .85, .90, .95};

static void toy_data(double *score, int *label) {
    for (int i = 0; i < 17; i++) score[i] = toy_neg[i], label[i] = 0;
    for (int i = 0; i < 13; i++) score[17 + i] = toy_pos[i], label[17 + i] = 1;
}

static void check_section9(void) {
    double score[30], y[30], calibrated[30];
    int label[30];
    toy_data(score, label);
    for (int i = 0; i < 30; i++) y[i] = label[i];
    bl_isotonic iso;
    CHECK(bl_isotonic_fit(30, score, y, NULL, &iso) == BL_OK, "§9 fit");
    static const double want_x[8] = {.05, .30, .35, .50, .55, .60, .65, .95};
    static const double want_y[8] = {0, 0, 1.0 / 3, 1.0 / 3, 2.0 / 3, 2.0 / 3, 1, 1};
    int same = iso.count == 8;
    for (int i = 0; same && i < 8; i++) same = iso.x[i] == want_x[i] && iso.y[i] == want_y[i];
    CHECK(same, "§9 isotonic thresholds");
    double query[4] = {0, .33, .52, 1.0}, got[4];
    bl_isotonic_predict(&iso, 4, query, got);
    CHECK(got[0] == 0 && fabs(got[1] - 0.2) < 1e-15 && fabs(got[2] - 0.46667) < 5e-6 && got[3] == 1,
          "§9 predict: %.17g %.17g %.17g %.17g", got[0], got[1], got[2], got[3]);
    bl_isotonic_predict(&iso, 30, score, calibrated);
    double brier = bl_brier(30, calibrated, label);
    CHECK(fabs(brier - 0.08889) < 5e-6, "§9 in-sample Brier after isotonic %.17g", brier);
    bl_isotonic_free(&iso);

    bl_calibration_curve curve;
    static const double want_true[10] = {0, 0, 0, .4, .25, 2.0 / 3, 1, 1, 1, 1};
    static const double want_pred[10] = {.075, .18333, .28333, .36, .475, .56667, .66667, .775, .875, .95};
    CHECK(bl_calibration_curve_uniform(30, label, score, 10, &curve) == BL_OK && curve.count == 10, "§9 curve");
    for (int k = 0; k < curve.count && k < 10; k++)
        CHECK(fabs(curve.prob_true[k] - want_true[k]) < 1e-15 && fabs(curve.prob_pred[k] - want_pred[k]) < 5e-6,
              "§9 curve bin %d: %.6f / %.6f", k, curve.prob_true[k], curve.prob_pred[k]);
    bl_calibration_curve_free(&curve);
}

/* ---- malformed models --------------------------------------------------------------------------------------- */

static void expect_model_error(const char *text, const char *want_suffix) {
    bl_isotonic iso;
    char want[512];
    snprintf(want, sizeof want, "m.json: %s", want_suffix);
    bl_status st = bl_isotonic_parse_json(text, strlen(text), "m.json", &iso);
    CHECK(st == BL_ERR_FORMAT && strcmp(bl_last_error(), want) == 0 && iso.x == NULL && iso.y == NULL,
          "model %s: got '%s', want '%s'", text, bl_last_error(), want);
}

static void check_model_json(void) {
    bl_isotonic iso;
    const char *good = "{\"format\":\"blasto-isotonic\",\"version\":1,\"X_thresholds\":[0.1,0.5],"
                       "\"y_thresholds\":[0.25,0.75],\"extra\":{}}";
    CHECK(bl_isotonic_parse_json(good, strlen(good), "m.json", &iso) == BL_OK && iso.count == 2 &&
              iso.x[1] == 0.5 && iso.y[0] == 0.25,
          "good model: %s", bl_last_error());
    bl_isotonic_free(&iso);
    expect_model_error("{\"format\":\"blasto-isotonic\",", "not valid JSON (error near byte 27 of 28)");
    expect_model_error("[1,2]", "top level: expected a JSON object (an isotonic calibration model)");
    expect_model_error("{\"version\":1}",
                       "format: missing (expected \"blasto-isotonic\", written by blasto calibrate fit)");
    expect_model_error("{\"format\":\"platt\",\"version\":1}",
                       "format: unknown format (expected \"blasto-isotonic\", written by blasto calibrate fit)");
    expect_model_error("{\"format\":\"blasto-isotonic\",\"version\":2}", "version: unsupported version (expected 1)");
    expect_model_error("{\"format\":\"blasto-isotonic\",\"version\":1,\"y_thresholds\":[0]}",
                       "X_thresholds: missing (expected an array of numbers)");
    expect_model_error("{\"format\":\"blasto-isotonic\",\"version\":1,\"X_thresholds\":[],\"y_thresholds\":[]}",
                       "X_thresholds: empty (expected at least one threshold)");
    expect_model_error("{\"format\":\"blasto-isotonic\",\"version\":1,\"X_thresholds\":[0.1,\"a\"],"
                       "\"y_thresholds\":[0,1]}",
                       "X_thresholds[1]: not a finite number (expected a number)");
    expect_model_error("{\"format\":\"blasto-isotonic\",\"version\":1,\"X_thresholds\":[0.1,0.2],"
                       "\"y_thresholds\":[0]}",
                       "y_thresholds: length differs from X_thresholds (expected 2, got 1)");
    expect_model_error("{\"format\":\"blasto-isotonic\",\"version\":1,\"X_thresholds\":[0.5,0.5],"
                       "\"y_thresholds\":[0,1]}",
                       "X_thresholds[1]: not increasing (expected > 0.5, got 0.5)");
    expect_model_error("{\"format\":\"blasto-isotonic\",\"version\":1,\"X_thresholds\":[0.1,0.5],"
                       "\"y_thresholds\":[0.5,0.25]}",
                       "y_thresholds[1]: decreasing (expected >= 0.5, got 0.25)");
    expect_model_error("{\"format\":\"blasto-isotonic\",\"version\":1,\"X_thresholds\":[0.1,0.5],"
                       "\"y_thresholds\":[0,1.5]}",
                       "y_thresholds[1]: not a probability (expected a value in [0, 1], got 1.5)");
    double bad_x[2] = {0.1, NAN}, y[2] = {0, 1};
    CHECK(bl_isotonic_fit(2, bad_x, y, NULL, &iso) == BL_ERR_NUMERIC &&
              strcmp(bl_last_error(), "isotonic fit: x[1]: not finite (got nan)") == 0,
          "fit NaN: %s", bl_last_error());
}

/* ---- the command ---------------------------------------------------------------------------------------------- */

static void check_cli(void) {
    char csv[512], model[512], applied[512], args[4096], never[512];
    double score[30];
    int label[30];
    toy_data(score, label);
    FILE *f = fopen(tmp_path(csv, "val.csv"), "wb");
    fprintf(f, "id,label,score,arch,input,fold\n");
    for (int i = 0; i < 30; i++) fprintf(f, "e%d,%d,%.17g,resnet50,enhanced,1\n", i, label[i], score[i]);
    fclose(f);
    snprintf(args, sizeof args, "calibrate fit --predictions %s --out %s", csv, tmp_path(model, "iso.json"));
    int rc = run(args);
    CHECK(rc == 0 && strstr(out, "8 thresholds"), "fit: rc %d: %s", rc, out);
    cJSON *m = read_json(model);
    CHECK(m != NULL, "model JSON unreadable");
    if (m) {
        int n;
        double *x = doubles_of(cJSON_GetObjectItem(m, "X_thresholds"), &n);
        CHECK(n == 8 && x[0] == 0.05 && x[7] == 0.95, "model thresholds");
        free(x);
        const cJSON *before = cJSON_GetObjectItem(m, "before"), *after = cJSON_GetObjectItem(m, "after");
        CHECK(fabs(cJSON_GetObjectItem(before, "brier")->valuedouble - 0.12875) < 1e-15 &&
                  fabs(cJSON_GetObjectItem(after, "brier")->valuedouble - 0.08889) < 5e-6,
              "Brier before/after");
        CHECK(fabs(cJSON_GetObjectItem(before, "hl_chi2")->valuedouble - 7.042192397848981) < 1e-9,
              "HL before (§9)");
        const cJSON *curve = cJSON_GetObjectItem(before, "calibration_curve");
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(curve, "prob_true")) == 10, "curve before has 10 bins");
        CHECK(strcmp(cJSON_GetObjectItem(m, "arch")->valuestring, "resnet50") == 0, "arch recorded");
        cJSON_Delete(m);
    }
    /* apply: [0, .33, .52, 1] → [0, .2, .46667, 1]; other columns kept */
    char test_csv[512];
    test_write_text(tmp_path(test_csv, "test.csv"),
               "id,label,score,arch,input,fold\na,0,0,resnet50,enhanced,1\nb,0,0.33,resnet50,enhanced,1\n"
               "c,1,0.52,resnet50,enhanced,1\nd,1,1,resnet50,enhanced,1\n");
    snprintf(args, sizeof args, "calibrate apply --model %s --predictions %s --out %s", model, test_csv,
             tmp_path(applied, "test_cal.csv"));
    CHECK(run(args) == 0, "apply: %s", out);
    bl_predictions *p = NULL;
    CHECK(bl_predictions_read(applied, &p) == BL_OK, "read applied: %s", bl_last_error());
    if (p) {
        CHECK(p->n == 4 && p->rows[0].score == 0 && fabs(p->rows[1].score - 0.2) < 1e-15 &&
                  fabs(p->rows[2].score - 0.46667) < 5e-6 && p->rows[3].score == 1,
              "applied scores");
        CHECK(p->arch && strcmp(p->arch, "resnet50") == 0 && p->fold == 1 && p->rows[2].label == 1 &&
                  strcmp(p->rows[2].id, "c") == 0,
              "applied columns");
    }
    bl_predictions_free(p);

    /* bad inputs: one line, exit 1, nothing written */
    tmp_path(never, "never.csv");
    char bad_model[512];
    test_write_text(tmp_path(bad_model, "bad.json"), "{\"format\": \"blasto-isotonic\", \"version\": 1, \"X_thr");
    snprintf(args, sizeof args, "calibrate apply --model %s --predictions %s --out %s", bad_model, test_csv, never);
    char expect[1024];
    snprintf(expect, sizeof expect, "blasto calibrate: %s: not valid JSON (error near byte 45 of 50)\n", bad_model);
    CHECK(run(args) == 1 && strcmp(out, expect) == 0 && access(never, F_OK) != 0, "malformed model: %s", out);
    char bad_csv[512];
    test_write_text(tmp_path(bad_csv, "bad.csv"), "id,label,score\na,0,0.2\nb,1,1.2\n");
    snprintf(args, sizeof args, "calibrate apply --model %s --predictions %s --out %s", model, bad_csv, never);
    snprintf(expect, sizeof expect,
             "blasto calibrate: %s: line 3: column 'score': out of range (expected a probability in [0, 1], got "
             "'1.2')\n", bad_csv);
    CHECK(run(args) == 1 && strcmp(out, expect) == 0 && access(never, F_OK) != 0, "bad score: %s", out);
    snprintf(args, sizeof args, "calibrate fit --predictions %s --out %s", bad_csv, never);
    CHECK(run(args) == 1 && strcmp(out, expect) == 0 && access(never, F_OK) != 0, "fit bad score: %s", out);
    snprintf(args, sizeof args, "calibrate apply --model %s/missing.json --predictions %s --out %s", tmp_dir,
             test_csv, never);
    CHECK(run(args) == 1 && strstr(out, "missing.json: cannot open") && access(never, F_OK) != 0, "no model: %s", out);
    CHECK(run("calibrate fit --predictions x.csv") == 2 && strstr(out, "--out is required"), "usage: %s", out);
    CHECK(run("calibrate frobnicate") == 2, "unknown action");
    CHECK(run("calibrate --help") == 0 && strstr(out, "usage: blasto calibrate"), "help");
}

int main(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/golden/calibration.json", BLASTO_TEST_DIR);
    cJSON *fixture = read_json(path);
    CHECK(fixture != NULL, "cannot read %s", path);
    if (!fixture) return test_summary("test_calibration");
    CHECK(test_make_tmp_dir(tmp_dir, sizeof tmp_dir, "blasto_test_calibration") != NULL, "mkdtemp");

    int n_iso = 0, n_curve = 0;
    for (const cJSON *c = cJSON_GetObjectItem(fixture, "isotonic")->child; c; c = c->next, n_iso++)
        check_isotonic_case(c);
    for (const cJSON *c = cJSON_GetObjectItem(fixture, "calibration_curve")->child; c; c = c->next, n_curve++)
        check_curve_case(c);
    CHECK(n_iso >= 10 && n_curve >= 7, "fixture: %d isotonic and %d curve cases", n_iso, n_curve);
    printf("calibration fixture: %d isotonic cases, %d calibration curves, compared bit for bit\n", n_iso, n_curve);
    check_section9();
    check_model_json();
    check_cli();
    cJSON_Delete(fixture);

    test_remove_tree(tmp_dir);
    return test_summary("test_calibration");
}
