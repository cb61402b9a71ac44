/* test_metrics.c — tools/study/metrics.h, tools/study/predictions.h and `blasto metrics`:
 *   - every case of tests/golden/metrics.json (sklearn roc_auc_score / roc_curve, numpy DeLong; written by
 *     gen_metrics.py): AUROC and DeLong's AUC bit for bit, Youden threshold (exact), confusion counts at 0.5 and
 *     at Youden (exact), DeLong variance, CI and the paired test to 1e-9 (NaN where numpy gives NaN: fewer than 2
 *     samples in a class); ties, constant scores, n = 2 and 3, n = 5000, perfect and reversed rankings, one
 *     positive; one class → the exact error;
 *   - the paper-method.md §9 golden values on the toy data (AUROC, DeLong variance and CI, Youden, sens/spec/acc);
 *   - AUROC invariant to the row order (bitwise), bad inputs to the library;
 *   - predictions CSV: round trip (scores bit-exact), optional columns, every malformed field's exact message;
 *   - the CLI: JSON keys exactly as documented and their values, --compare against the fixture's paired test,
 *     every bad input → one line on stderr, exit 1, no output file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "harness.h"
#include "study/metrics.h"
#include "study/predictions.h"
#include "support/test_support.h"

static char tmp_dir[256];
static char out[1 << 16];

/* ---- helpers ---------------------------------------------------------------------------------------------- */

static cJSON *read_json(const char *path) {
    char *text = test_read_file(path, NULL);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    return j;
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN; /* null → NaN */
}

/* An array of numbers into a new malloc'ed double array. */
static double *doubles_of(const cJSON *a, int n) {
    double *x = malloc((size_t)n * sizeof *x);
    int i = 0;
    for (const cJSON *v = a ? a->child : NULL; v && i < n; v = v->next) x[i++] = v->valuedouble;
    return x;
}

static int *ints_of(const cJSON *a, int n) {
    int *x = malloc((size_t)n * sizeof *x);
    int i = 0;
    for (const cJSON *v = a ? a->child : NULL; v && i < n; v = v->next) x[i++] = (int)v->valuedouble;
    return x;
}

/* |got − want| ≤ tol·max(1, |want|); NaN matches NaN only. Tracks the worst relative error. */
static double worst_error;
static int close_to(double got, double want, double tol) {
    if (isnan(want) || isnan(got)) return isnan(want) && isnan(got);
    double err = fabs(got - want) / fmax(1.0, fabs(want));
    if (err > worst_error) worst_error = err;
    return err <= tol;
}

static const char *tmp_path(char *buf, const char *name) { return test_path_in(buf, 512, tmp_dir, name); }

/* Runs `BLASTO_CLI args` with stdout and stderr captured into out; returns the exit code. */
static int run(const char *args) { return test_run_cli(args, 1, out, sizeof out); }

/* Predictions CSV of a case: id r0, r1, … */
static void write_predictions(const char *path, int n, const double *score, const int *label) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot create %s", path);
    if (!f) return;
    fprintf(f, "id,label,score\n");
    for (int i = 0; i < n; i++) fprintf(f, "r%d,%d,%.17g\n", i, label[i], score[i]);
    fclose(f);
}

/* ---- the fixture ---------------------------------------------------------------------------------------------- */

static void check_case(const cJSON *c) {
    const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
    int n = (int)num(c, "n");
    double *score = doubles_of(cJSON_GetObjectItem(c, "score"), n);
    int *label = ints_of(cJSON_GetObjectItem(c, "label"), n);
    const cJSON *score2_json = cJSON_GetObjectItem(c, "score2");
    double *score2 = score2_json ? doubles_of(score2_json, n) : NULL;
    const cJSON *e = cJSON_GetObjectItem(c, "expected");
    const double tol = 1e-9;

    if (cJSON_IsTrue(cJSON_GetObjectItem(e, "single_class"))) {
        double auc = 0;
        int n_pos = 0;
        for (int i = 0; i < n; i++) n_pos += label[i];
        char want[128];
        snprintf(want, sizeof want, "AUROC is undefined with a single class (n_pos = %d, n_neg = %d)", n_pos,
                 n - n_pos);
        CHECK(bl_auroc(n, score, label, &auc) == BL_ERR_INVALID && strcmp(bl_last_error(), want) == 0,
              "%s: single class: got '%s'", name, bl_last_error());
        bl_delong d;
        CHECK(bl_auroc_delong(n, score, label, &d) == BL_ERR_INVALID, "%s: delong on a single class", name);
        double t;
        CHECK(bl_youden_threshold(n, score, label, &t) == BL_ERR_INVALID, "%s: youden on a single class", name);
    } else {
        double auc = NAN, youden = NAN;
        CHECK(bl_auroc(n, score, label, &auc) == BL_OK, "%s: auroc: %s", name, bl_last_error());
        /* same arithmetic as sklearn (roc_curve, np.trapz with numpy's pairwise sum): equal to the bit */
        CHECK(auc == num(e, "auroc"), "%s: auroc %.17g, sklearn %.17g (expected bitwise equal)", name, auc,
              num(e, "auroc"));
        CHECK(bl_youden_threshold(n, score, label, &youden) == BL_OK, "%s: youden: %s", name, bl_last_error());
        CHECK(youden == num(e, "youden_threshold"), "%s: youden threshold %.17g, sklearn %.17g", name, youden,
              num(e, "youden_threshold"));
        const char *at_names[2] = {"at_half", "at_youden"};
        for (int k = 0; k < 2; k++) {
            const cJSON *w = cJSON_GetObjectItem(e, at_names[k]);
            bl_confusion cm;
            CHECK(bl_confusion_at(n, score, label, num(w, "threshold"), &cm) == BL_OK, "%s: confusion", name);
            CHECK(cm.tp == (int)num(w, "tp") && cm.fp == (int)num(w, "fp") && cm.tn == (int)num(w, "tn") &&
                      cm.fn == (int)num(w, "fn"),
                  "%s: %s: tp %d fp %d tn %d fn %d, expected %g %g %g %g", name, at_names[k], cm.tp, cm.fp, cm.tn,
                  cm.fn, num(w, "tp"), num(w, "fp"), num(w, "tn"), num(w, "fn"));
            CHECK(cm.accuracy == (double)(cm.tp + cm.tn) / n &&
                      cm.sensitivity == (double)cm.tp / (cm.tp + cm.fn) &&
                      cm.specificity == (double)cm.tn / (cm.tn + cm.fp),
                  "%s: %s: rates", name, at_names[k]);
        }
        const cJSON *dl = cJSON_GetObjectItem(e, "delong");
        bl_delong d;
        CHECK(bl_auroc_delong(n, score, label, &d) == BL_OK, "%s: delong: %s", name, bl_last_error());
        CHECK(d.auc == num(dl, "auc"), "%s: delong auc %.17g, numpy %.17g (expected bitwise equal: exact midrank sum)",
              name, d.auc, num(dl, "auc"));
        CHECK(close_to(d.var, num(dl, "var"), tol), "%s: delong var %.17g, numpy %.17g", name, d.var, num(dl, "var"));
        CHECK(close_to(d.ci_low, num(dl, "ci_low"), tol) && close_to(d.ci_high, num(dl, "ci_high"), tol),
              "%s: CI [%.17g, %.17g], numpy [%.17g, %.17g]", name, d.ci_low, d.ci_high, num(dl, "ci_low"),
              num(dl, "ci_high"));
        if (score2) {
            bl_delong_paired t;
            CHECK(bl_delong_paired_test(n, score, score2, label, &t) == BL_OK, "%s: paired: %s", name,
                  bl_last_error());
            CHECK(close_to(t.auc1, num(dl, "auc"), tol) && close_to(t.auc2, num(dl, "auc2"), tol),
                  "%s: paired aucs %.17g %.17g", name, t.auc1, t.auc2);
            CHECK(close_to(t.var1, num(dl, "var"), tol) && close_to(t.var2, num(dl, "var2"), tol) &&
                      close_to(t.cov12, num(dl, "cov12"), tol),
                  "%s: paired covariance [%.17g %.17g; %.17g], numpy [%.17g %.17g; %.17g]", name, t.var1, t.var2,
                  t.cov12, num(dl, "var"), num(dl, "var2"), num(dl, "cov12"));
            double want_z = num(dl, "z"), want_p = num(dl, "p");
            if (!isnan(want_z))
                CHECK(close_to(t.z, want_z, tol) && close_to(t.p, want_p, tol),
                      "%s: z %.17g p %.17g, numpy %.17g %.17g", name, t.z, t.p, want_z, want_p);
            else CHECK(!isfinite(t.z) || isnan(t.var1), "%s: z should be undefined, got %.17g", name, t.z);
            double auc2 = 0;
            CHECK(bl_auroc(n, score2, label, &auc2) == BL_OK && close_to(auc2, num(e, "auroc2"), tol),
                  "%s: auroc of score2 %.17g, sklearn %.17g", name, auc2, num(e, "auroc2"));
        }
        /* The row order does not change the AUROC, to the bit. */
        double *rs = malloc((size_t)n * sizeof *rs);
        int *rl = malloc((size_t)n * sizeof *rl);
        for (int i = 0; i < n; i++) rs[i] = score[n - 1 - i], rl[i] = label[n - 1 - i];
        double auc_reversed = NAN;
        CHECK(bl_auroc(n, rs, rl, &auc_reversed) == BL_OK && auc_reversed == auc, "%s: reversed rows: %.17g vs %.17g",
              name, auc_reversed, auc);
        free(rs), free(rl);
    }
    free(score), free(label), free(score2);
}

/* ---- paper-method.md §9 --------------------------------------------------------------------------------------- */

static const double toy_neg[17] = {.05, .05, .10, .10, .15, .20, .20, .25, .30, .30, .35, .35, .40, .45, .50, .50, .60};
static const double toy_pos[13] = {.35, .35, .45, .55, .55, .65, .65, .70, .75, .80, .85, .90, .95};

static void toy_data(double *score, int *label) {
    for (int i = 0; i < 17; i++) score[i] = toy_neg[i], label[i] = 0;
    for (int i = 0; i < 13; i++) score[17 + i] = toy_pos[i], label[17 + i] = 1;
}

static void check_section9(void) {
    double score[30];
    int label[30];
    toy_data(score, label);
    double auc, youden;
    bl_delong d;
    bl_confusion cm;
    CHECK(bl_auroc(30, score, label, &auc) == BL_OK && fabs(auc - 0.920814479638009) < 1e-15, "§9 AUROC %.17g", auc);
    CHECK(bl_auroc_delong(30, score, label, &d) == BL_OK && fabs(d.var - 0.0022005930809497485) < 1e-15,
          "§9 DeLong var %.17g", d.var);
    CHECK(fabs(d.ci_low - 0.82887) < 5e-6 && d.ci_high == 1.0, "§9 CI [%.6f, %.6f]", d.ci_low, d.ci_high);
    CHECK(bl_youden_threshold(30, score, label, &youden) == BL_OK && youden == 0.55, "§9 Youden %.17g", youden);
    CHECK(bl_confusion_at(30, score, label, youden, &cm) == BL_OK && fabs(cm.sensitivity - 0.76923) < 5e-6 &&
              fabs(cm.specificity - 0.94118) < 5e-6 && fabs(cm.accuracy - 0.86667) < 5e-6,
          "§9 at Youden: sens %.6f spec %.6f acc %.6f", cm.sensitivity, cm.specificity, cm.accuracy);
}

/* ---- library input checks -------------------------------------------------------------------------------------- */

static void check_bad_library_inputs(void) {
    double score[4] = {0.1, 0.4, 0.35, 0.8}, auc;
    int label[4] = {0, 0, 1, 1};
    label[2] = 2;
    CHECK(bl_auroc(4, score, label, &auc) == BL_ERR_INVALID &&
              strcmp(bl_last_error(), "auroc: label[2]: expected 0 or 1, got 2") == 0,
          "label 2: '%s'", bl_last_error());
    label[2] = 1;
    score[1] = NAN;
    CHECK(bl_auroc(4, score, label, &auc) == BL_ERR_NUMERIC &&
              strcmp(bl_last_error(), "auroc: score[1]: expected a finite number, got nan") == 0,
          "NaN score: '%s'", bl_last_error());
    score[1] = 0.4;
    CHECK(bl_auroc(0, score, label, &auc) == BL_ERR_INVALID, "n = 0");
    bl_confusion cm;
    CHECK(bl_confusion_at(4, score, label, NAN, &cm) == BL_ERR_NUMERIC, "NaN threshold");
    CHECK(bl_auroc(4, score, label, &auc) == BL_OK && auc == 0.75, "small AUROC %.17g", auc);
}

/* ---- predictions CSV ------------------------------------------------------------------------------------------- */

static void expect_read_error(const char *name, const char *text, const char *want_suffix) {
    char path[512], want[1024];
    test_write_text(tmp_path(path, name), text);
    bl_predictions *p = NULL;
    bl_status st = bl_predictions_read(path, &p);
    snprintf(want, sizeof want, "%s: %s", path, want_suffix);
    CHECK(st != BL_OK && p == NULL && strcmp(bl_last_error(), want) == 0, "%s: got '%s', want '%s'", name,
          bl_last_error(), want);
    bl_predictions_free(p);
}

static void check_predictions_csv(void) {
    char path[512], path2[512];
    bl_predictions *p = bl_predictions_new(3);
    const double scores[3] = {0.1, 1.0 / 3.0, 0.0};
    for (int i = 0; i < 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "e%d", i);
        p->rows[i].id = strdup(id);
        p->rows[i].label = i % 2;
        p->rows[i].score = scores[i];
    }
    p->arch = strdup("resnet50");
    p->input = strdup("enhanced");
    p->fold = 2;
    CHECK(bl_predictions_write(tmp_path(path, "p.csv"), p) == BL_OK, "write: %s", bl_last_error());
    bl_predictions *q = NULL;
    CHECK(bl_predictions_read(path, &q) == BL_OK, "read back: %s", bl_last_error());
    if (q) {
        int same = q->n == 3 && q->fold == 2 && q->arch && strcmp(q->arch, "resnet50") == 0 && q->input &&
                   strcmp(q->input, "enhanced") == 0;
        for (int i = 0; same && i < 3; i++)
            same = strcmp(q->rows[i].id, p->rows[i].id) == 0 && q->rows[i].label == p->rows[i].label &&
                   q->rows[i].score == p->rows[i].score;
        CHECK(same, "round trip differs");
    }
    bl_predictions_free(q);
    free(p->arch), free(p->input);
    p->arch = p->input = NULL;
    p->fold = -1;
    CHECK(bl_predictions_write(tmp_path(path2, "p2.csv"), p) == BL_OK && bl_predictions_read(path2, &q) == BL_OK &&
              q->arch == NULL && q->input == NULL && q->fold == -1,
          "without optional columns");
    bl_predictions_free(q);
    p->rows[1].score = 1.5;
    CHECK(bl_predictions_write(tmp_path(path2, "never.csv"), p) == BL_ERR_INVALID && access(path2, F_OK) != 0,
          "writing a score 1.5 must fail and write nothing");
    bl_predictions_free(p);

    expect_read_error("label.csv", "id,label,score\na,0,0.2\nb,2,0.5\n",
                      "line 3: column 'label': not 0 or 1 (expected 0 or 1, got '2')");
    expect_read_error("nan.csv", "id,label,score\na,0,0.2\nb,1,nan\n",
                      "line 3: column 'score': not finite (expected a probability in [0, 1], got 'nan')");
    expect_read_error("range.csv", "id,label,score\na,0,1.5\n",
                      "line 2: column 'score': out of range (expected a probability in [0, 1], got '1.5')");
    expect_read_error("text.csv", "id,label,score\na,0,0.5x\n",
                      "line 2: column 'score': not a number (expected a probability in [0, 1], got '0.5x')");
    expect_read_error("dup.csv", "id,label,score\na,0,0.1\nb,1,0.2\nc,0,0.3\nb,1,0.4\na,0,0.5\n",
                      "line 5: column 'id': duplicate id (first on line 3, got 'b')");
    expect_read_error("empty_id.csv", "id,label,score\n,0,0.1\n",
                      "line 2: column 'id': empty (expected a non-empty id, got '')");
    expect_read_error("no_rows.csv", "id,label,score\n", "no data rows (expected at least one prediction)");
    expect_read_error("fold.csv", "id,label,score,fold\na,0,0.1,1\nb,1,0.2,2\n",
                      "line 3: column 'fold': differs from line 2 (expected one value per file, got '1' and '2')");
    expect_read_error("input.csv", "id,label,score,input\na,0,0.1,raw\n",
                      "line 2: column 'input': unknown input kind (expected original or enhanced, got 'raw')");
}

/* ---- the command ----------------------------------------------------------------------------------------------- */

static void check_cli(const cJSON *cases) {
    char csv[512], json_path[512], csv2[512], args[4096];
    double score[30];
    int label[30];
    toy_data(score, label);
    write_predictions(tmp_path(csv, "toy.csv"), 30, score, label);
    snprintf(args, sizeof args, "metrics --predictions %s --threshold youden --out %s", csv,
             tmp_path(json_path, "toy_metrics.json"));
    int rc = run(args);
    CHECK(rc == 0, "metrics exit %d: %s", rc, out);
    CHECK(strstr(out, "AUROC") && strstr(out, "0.920814"), "table: %s", out);
    cJSON *m = read_json(json_path);
    CHECK(m != NULL, "metrics JSON unreadable");
    if (m) {
        static const char *keys[] = {"n", "n_pos", "auroc", "auroc_var", "auroc_ci_low", "auroc_ci_high",
                                     "threshold", "youden_threshold", "accuracy", "sensitivity", "specificity",
                                     "brier", "hl_chi2", "hl_df", "hl_p", "hl_equal_chi2", "hl_equal_p"};
        int k = 0, same_keys = 1;
        for (const cJSON *item = m->child; item; item = item->next, k++)
            same_keys = same_keys && k < 17 && strcmp(item->string, keys[k]) == 0;
        CHECK(same_keys && k == 17, "JSON keys differ from the documented list");
        CHECK(num(m, "n") == 30 && num(m, "n_pos") == 13, "n, n_pos");
        CHECK(num(m, "auroc") == 0.920814479638009 && fabs(num(m, "auroc_var") - 0.0022005930809497485) < 1e-15,
              "auroc %.17g var %.17g", num(m, "auroc"), num(m, "auroc_var"));
        CHECK(fabs(num(m, "auroc_ci_low") - 0.82887) < 5e-6 && num(m, "auroc_ci_high") == 1.0, "CI");
        CHECK(num(m, "threshold") == 0.55 && num(m, "youden_threshold") == 0.55, "thresholds");
        CHECK(fabs(num(m, "sensitivity") - 10.0 / 13) < 1e-15 && fabs(num(m, "specificity") - 16.0 / 17) < 1e-15 &&
                  fabs(num(m, "accuracy") - 26.0 / 30) < 1e-15,
              "rates");
        CHECK(fabs(num(m, "brier") - 0.12875) < 1e-15, "brier %.17g", num(m, "brier"));
        CHECK(fabs(num(m, "hl_chi2") - 7.042192397848981) < 1e-9 && num(m, "hl_df") == 8 &&
                  fabs(num(m, "hl_p") - 0.5320873497521934) < 1e-9,
              "§9 HL quantile: chi2 %.17g df %g p %.17g", num(m, "hl_chi2"), num(m, "hl_df"), num(m, "hl_p"));
        CHECK(num(m, "hl_equal_chi2") >= 0 && num(m, "hl_equal_p") > 0, "HL equal present");
        cJSON_Delete(m);
    }
    /* default threshold 0.5: the two negatives at exactly 0.5 count as positive (score >= t) */
    snprintf(args, sizeof args, "metrics --predictions %s --out %s", csv, json_path);
    CHECK(run(args) == 0, "metrics at 0.5: %s", out);
    m = read_json(json_path);
    CHECK(m && num(m, "threshold") == 0.5 && fabs(num(m, "specificity") - 14.0 / 17) < 1e-15, "at 0.5");
    cJSON_Delete(m);

    /* --compare against the fixture's paired DeLong test (toy scores vs their noisy copy) */
    const cJSON *toy = cases->child;
    const cJSON *dl = cJSON_GetObjectItem(cJSON_GetObjectItem(toy, "expected"), "delong");
    double *s1 = doubles_of(cJSON_GetObjectItem(toy, "score"), 30);
    double *s2 = doubles_of(cJSON_GetObjectItem(toy, "score2"), 30);
    int *l = ints_of(cJSON_GetObjectItem(toy, "label"), 30);
    write_predictions(tmp_path(csv, "a.csv"), 30, s1, l);
    /* B in another row order: matching is by id */
    FILE *f = fopen(tmp_path(csv2, "b.csv"), "wb");
    fprintf(f, "id,label,score\n");
    for (int i = 29; i >= 0; i--) fprintf(f, "r%d,%d,%.17g\n", i, l[i], s2[i]);
    fclose(f);
    snprintf(args, sizeof args, "metrics --compare %s %s --out %s", csv, csv2, tmp_path(json_path, "cmp.json"));
    CHECK(run(args) == 0, "compare: %s", out);
    m = read_json(json_path);
    CHECK(m && close_to(num(m, "z"), num(dl, "z"), 1e-9) && close_to(num(m, "p"), num(dl, "p"), 1e-9) &&
              close_to(num(m, "auroc_a"), num(dl, "auc"), 1e-9) && close_to(num(m, "auroc_b"), num(dl, "auc2"), 1e-9),
          "compare z %.17g p %.17g vs numpy %.17g %.17g", num(m, "z"), num(m, "p"), num(dl, "z"), num(dl, "p"));
    cJSON_Delete(m);

    /* compare errors: a missing id, an extra id, a different label */
    char bad[512], expect[2048], outfile[512];
    tmp_path(outfile, "never.json");
    test_write_text(tmp_path(bad, "b_missing.csv"), "id,label,score\nr0,0,0.5\n");
    snprintf(args, sizeof args, "metrics --compare %s %s --out %s", csv, bad, outfile);
    snprintf(expect, sizeof expect,
             "blasto metrics: %s: id 'r1' of %s is missing (expected the same ids in both files)\n", bad, csv);
    CHECK(run(args) == 1 && strcmp(out, expect) == 0 && access(outfile, F_OK) != 0, "missing id: %s", out);
    f = fopen(bad, "wb");
    fprintf(f, "id,label,score\n");
    for (int i = 0; i < 30; i++) fprintf(f, "r%d,%d,0.5\n", i, l[i]);
    fprintf(f, "extra,1,0.5\n");
    fclose(f);
    snprintf(expect, sizeof expect,
             "blasto metrics: %s: id 'extra' of %s is missing (expected the same ids in both files)\n", csv, bad);
    CHECK(run(args) == 1 && strcmp(out, expect) == 0 && access(outfile, F_OK) != 0, "extra id: %s", out);
    f = fopen(bad, "wb");
    fprintf(f, "id,label,score\n");
    for (int i = 0; i < 30; i++) fprintf(f, "r%d,%d,0.5\n", i, i == 4 ? 1 - l[i] : l[i]);
    fclose(f);
    snprintf(expect, sizeof expect,
             "blasto metrics: %s: id 'r4': label differs from %s (expected %d, got %d)\n", bad, csv, l[4], 1 - l[4]);
    CHECK(run(args) == 1 && strcmp(out, expect) == 0 && access(outfile, F_OK) != 0, "label differs: %s", out);
    snprintf(args, sizeof args, "metrics --compare %s %s --out %s", csv, csv, outfile);
    CHECK(run(args) == 1 && strstr(out, "zero variance") && access(outfile, F_OK) != 0, "identical files: %s", out);
    free(s1), free(s2), free(l);

    /* bad single-file inputs: one line, exit 1, no output */
    struct {
        const char *name, *text, *message;
    } bad_inputs[] = {
        {"one_class.csv", "id,label,score\na,1,0.2\nb,1,0.7\n",
         "AUROC is undefined with a single class (n_pos = 2, n_neg = 0)"},
        {"label3.csv", "id,label,score\na,0,0.2\nb,3,0.7\n",
         "line 3: column 'label': not 0 or 1 (expected 0 or 1, got '3')"},
        {"nan.csv", "id,label,score\na,0,NaN\nb,1,0.7\n",
         "line 2: column 'score': not finite (expected a probability in [0, 1], got 'NaN')"},
        {"neg.csv", "id,label,score\na,0,-0.1\nb,1,0.7\n",
         "line 2: column 'score': out of range (expected a probability in [0, 1], got '-0.1')"},
        {"dup.csv", "id,label,score\na,0,0.1\na,1,0.7\n",
         "line 3: column 'id': duplicate id (first on line 2, got 'a')"},
        {"nocol.csv", "id,label,prob\na,0,0.1\n", "header: missing column 'score'"},
    };
    for (size_t i = 0; i < sizeof bad_inputs / sizeof bad_inputs[0]; i++) {
        test_write_text(tmp_path(bad, bad_inputs[i].name), bad_inputs[i].text);
        snprintf(args, sizeof args, "metrics --predictions %s --out %s", bad, outfile);
        rc = run(args);
        int one_line = strchr(out, '\n') == out + strlen(out) - 1;
        CHECK(rc == 1 && one_line && strncmp(out, "blasto metrics: ", 16) == 0 && strstr(out, bad_inputs[i].message) &&
                  access(outfile, F_OK) != 0,
              "%s: rc %d, '%s' (want '%s')", bad_inputs[i].name, rc, out, bad_inputs[i].message);
    }
    CHECK(run("metrics --predictions") == 2, "missing value → usage error");
    CHECK(run("metrics --threshold abc --predictions x.csv") == 2 && strstr(out, "--threshold"), "bad threshold");
    CHECK(run("metrics --help") == 0 && strstr(out, "usage: blasto metrics"), "help");
}

int main(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/golden/metrics.json", BLASTO_TEST_DIR);
    cJSON *fixture = read_json(path);
    CHECK(fixture != NULL, "cannot read %s", path);
    if (!fixture) return test_summary("test_metrics");
    CHECK(test_make_tmp_dir(tmp_dir, sizeof tmp_dir, "blasto_test_metrics") != NULL, "mkdtemp");

    const cJSON *cases = cJSON_GetObjectItem(fixture, "cases");
    int count = 0;
    for (const cJSON *c = cases ? cases->child : NULL; c; c = c->next, count++) check_case(c);
    CHECK(count >= 10, "fixture has %d cases", count);
    printf("metrics fixture: %d cases, worst relative difference to sklearn/numpy %.3g\n", count, worst_error);
    check_section9();
    check_bad_library_inputs();
    check_predictions_csv();
    check_cli(cases);
    cJSON_Delete(fixture);

    test_remove_tree(tmp_dir);
    return test_summary("test_metrics");
}
