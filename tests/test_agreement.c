/* test_agreement.c — Table 3 (tools/study/agreement.h, `blasto focus-compare`): the binomial tail against exact sums,
 * McNemar against statsmodels (tests/golden/agreement.json from gen_agreement.py) to 1e-12, a hand-built table with
 * the paper's Table 3 counts, the matching of the four files (every error names file, line and id), and the CLI. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "harness.h"
#include "study/agreement.h"
#include "study/csv.h"

static char tmp_dir[256];
static char out[65536];

static int close_rel(double got, double want, double rtol) {
    if (isnan(want)) return isnan(got);
    return fabs(got - want) <= 1e-300 + rtol * fabs(want);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot create %s", path);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static char *tmp_path(const char *name) {
    static char paths[16][512];
    static int next;
    char *p = paths[next++ % 16];
    snprintf(p, 512, "%s/%s", tmp_dir, name);
    return p;
}

/* Runs `BLASTO_CLI args` with stdout and stderr captured into out; returns the exit code. */
static int run(const char *args) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", BLASTO_CLI, args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t k = fread(out, 1, sizeof out - 1, p);
    out[k] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- binomial tail -------------------------------------------------------------------------------------------- */

/* P(X ≤ k), X ~ Bin(m, ½), by Pascal's triangle in long double (exact in binary for m ≤ 60). */
static double binomial_reference(int k, int m) {
    long double row[64] = {1};
    for (int r = 1; r <= m; r++)
        for (int i = r; i > 0; i--) row[i] += row[i - 1];
    long double sum = 0;
    for (int i = 0; i <= k && i <= m; i++) sum += row[i];
    return (double)ldexpl(sum, -m);
}

static void check_binomial(void) {
    int bad = 0;
    for (int m = 0; m <= 60; m++)
        for (int k = 0; k <= m + 1; k++) {
            double got = bl_binomial_half_cdf(k, m), want = binomial_reference(k, m);
            if (!close_rel(got, want, 1e-14)) {
                if (bad++ < 5) CHECK(0, "binomial cdf k=%d m=%d: got %.17g want %.17g", k, m, got, want);
            }
        }
    CHECK(bad == 0, "binomial cdf: %d of the m <= 60 values differ from Pascal's triangle", bad);
    CHECK(bl_binomial_half_cdf(0, 67) == ldexp(1.0, -67), "P(X <= 0 | m = 67) is 2^-67");
    CHECK(bl_binomial_half_cdf(-1, 5) == 0.0, "P(X <= -1) = 0");
}

/* ---- the fixture ---------------------------------------------------------------------------------------------- */

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN; /* null → NaN */
}

static int *ints(const cJSON *a, int n) {
    int *x = calloc((size_t)n + 1, sizeof *x);
    for (int i = 0; i < n; i++) x[i] = (int)cJSON_GetArrayItem(a, i)->valuedouble;
    return x;
}

static double *doubles(const cJSON *a, int n) {
    double *x = calloc((size_t)n + 1, sizeof *x);
    for (int i = 0; i < n; i++) x[i] = cJSON_GetArrayItem(a, i)->valuedouble;
    return x;
}

static double worst_rel;

static void check_mcnemar(const char *what, const bl_mcnemar *got, const cJSON *want) {
    const double tol = 1e-12;
    double w[3] = {num(want, "p_exact"), num(want, "chi2"), num(want, "p_chi2")};
    double g[3] = {got->p_exact, got->chi2, got->p_chi2};
    static const char *const names[3] = {"exact p", "chi2", "chi2 p"};
    CHECK(got->b == (int)num(want, "b") && got->c == (int)num(want, "c"), "%s: b, c = %d, %d", what, got->b, got->c);
    for (int i = 0; i < 3; i++) {
        CHECK(close_rel(g[i], w[i], tol), "%s: %s: got %.17g, statsmodels %.17g", what, names[i], g[i], w[i]);
        if (isfinite(w[i]) && w[i] > 1e-300) {
            double r = fabs(g[i] - w[i]) / w[i];
            if (r > worst_rel) worst_rel = r;
        }
    }
}

static void check_fixture(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/golden/agreement.json", BLASTO_TEST_DIR);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL, "cannot read %s", path);
    if (!f) return;
    static char text[1 << 20];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    cJSON *root = cJSON_Parse(text);
    CHECK(root != NULL, "%s: not JSON", path);
    if (!root) return;
    int count = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "mcnemar")) {
        bl_mcnemar m;
        char what[64];
        snprintf(what, sizeof what, "mcnemar(b=%d, c=%d)", (int)num(c, "b"), (int)num(c, "c"));
        CHECK(bl_mcnemar_test((int)num(c, "b"), (int)num(c, "c"), &m) == BL_OK, "%s", what);
        check_mcnemar(what, &m, c);
        count++;
    }
    CHECK(count >= 15, "fixture has %d McNemar cases", count);
    int tables = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "tables")) {
        int n = (int)num(c, "n");
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        int *label = ints(cJSON_GetObjectItem(c, "label"), n), *hit_a = ints(cJSON_GetObjectItem(c, "hit_a"), n);
        int *hit_b = ints(cJSON_GetObjectItem(c, "hit_b"), n);
        double *score_a = doubles(cJSON_GetObjectItem(c, "score_a"), n);
        double *score_b = doubles(cJSON_GetObjectItem(c, "score_b"), n);
        bl_agreement t;
        CHECK(bl_agreement_compute(n, label, score_a, score_b, hit_a, hit_b, num(c, "threshold"), &t) == BL_OK,
              "%s: %s", name, bl_last_error());
        CHECK(t.correct_a == (int)num(c, "correct_a") && t.correct_b == (int)num(c, "correct_b"),
              "%s: correct %d, %d", name, t.correct_a, t.correct_b);
        for (int k = 0; k < BL_AGREE_CATEGORIES; k++) {
            const char *key = bl_agreement_category_key((bl_agreement_category)k);
            const cJSON *want = cJSON_GetObjectItem(cJSON_GetObjectItem(c, "cells"), key);
            const bl_agreement_cell *cell = &t.cell[k];
            CHECK(want && cell->n == (int)num(want, "n") && cell->hits_a == (int)num(want, "hits_a") &&
                      cell->hits_b == (int)num(want, "hits_b"),
                  "%s: %s: n %d hits %d %d", name, key, cell->n, cell->hits_a, cell->hits_b);
            CHECK(cell->n == 0 || cell->rate_a == (double)cell->hits_a / cell->n, "%s: %s: rate_a", name, key);
            char what[128];
            snprintf(what, sizeof what, "%s: %s", name, key);
            if (want) check_mcnemar(what, &cell->mcnemar, want);
        }
        free(label), free(hit_a), free(hit_b), free(score_a), free(score_b);
        tables++;
    }
    CHECK(tables >= 2, "fixture has %d tables", tables);
    printf("agreement fixture: %d McNemar cases, %d tables; worst relative difference to statsmodels %.3g\n", count,
           tables, worst_rel);
    cJSON_Delete(root);
}

/* ---- the paper's Table 3, hand-built ---------------------------------------------------------------------------- */

/* Category sizes and hits of the paper (original = A, enhanced = B); hits are prefixes, so within a category
 * b = max(0, hits_a − hits_b), c = max(0, hits_b − hits_a): total b = 0, c = 42 + 9 + 6 + 11 = 68. */
static const int paper_n[4] = {314, 106, 35, 57}, paper_a[4] = {270, 93, 29, 46}, paper_b[4] = {312, 102, 35, 57};

/* Fills [512] rows in category order; every label is 1; a model is correct iff its score is 0.5 (= threshold). */
static void paper_rows(int *label, double *sa, double *sb, int *ha, int *hb) {
    int i = 0;
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < paper_n[k]; j++, i++) {
            int ok_a = k == BL_AGREE_BOTH_CORRECT || k == BL_AGREE_ONLY_A_CORRECT;
            int ok_b = k == BL_AGREE_BOTH_CORRECT || k == BL_AGREE_ONLY_B_CORRECT;
            label[i] = 1, sa[i] = ok_a ? 0.5 : 0.25, sb[i] = ok_b ? 0.5 : 0.4999999;
            ha[i] = j < paper_a[k], hb[i] = j < paper_b[k];
        }
}

static void check_paper_table(void) {
    int label[512], ha[512], hb[512];
    double sa[512], sb[512];
    paper_rows(label, sa, sb, ha, hb);
    bl_agreement t;
    CHECK(bl_agreement_compute(512, label, sa, sb, ha, hb, 0.5, &t) == BL_OK, "paper table: %s", bl_last_error());
    for (int k = 0; k < 4; k++) {
        const bl_agreement_cell *c = &t.cell[k];
        CHECK(c->n == paper_n[k] && c->hits_a == paper_a[k] && c->hits_b == paper_b[k],
              "paper table: %s: n %d hits %d %d", bl_agreement_category_key((bl_agreement_category)k), c->n,
              c->hits_a, c->hits_b);
        CHECK(c->mcnemar.b == 0 && c->mcnemar.c == paper_b[k] - paper_a[k], "paper table: category %d: b %d c %d", k,
              c->mcnemar.b, c->mcnemar.c);
    }
    const bl_agreement_cell *total = &t.cell[BL_AGREE_TOTAL];
    CHECK(total->n == 512 && total->hits_a == 438 && total->hits_b == 506, "paper table: total %d %d %d", total->n,
          total->hits_a, total->hits_b);
    CHECK(fabs(total->rate_a - 0.85546875) < 1e-15 && fabs(total->rate_b - 0.98828125) < 1e-15,
          "paper table: rates %.17g %.17g (paper: 85.5%%, 98.8%%)", total->rate_a, total->rate_b);
    CHECK(t.correct_a == 349 && t.correct_b == 371, "paper table: correct %d %d (paper: 314+35, 314+57)", t.correct_a,
          t.correct_b);
    /* b = 0, c = 68: exact p = 2·2^−68; chi2 = 67²/68 */
    CHECK(total->mcnemar.b == 0 && total->mcnemar.c == 68 && total->mcnemar.p_exact == ldexp(1.0, -67),
          "paper table: McNemar b %d c %d p %.17g", total->mcnemar.b, total->mcnemar.c, total->mcnemar.p_exact);
    CHECK(fabs(total->mcnemar.chi2 - 67.0 * 67.0 / 68.0) < 1e-12, "paper table: chi2 %.17g", total->mcnemar.chi2);
    CHECK(isnan(t.cell[BL_AGREE_ONLY_A_CORRECT].mcnemar.chi2) == 0, "only-original: b + c = 6 > 0");
    /* a category with b + c = 0: chi-square undefined, exact p 1 */
    int h1[2] = {1, 0}, lab[2] = {1, 0};
    double s[2] = {0.9, 0.1};
    CHECK(bl_agreement_compute(2, lab, s, s, h1, h1, 0.5, &t) == BL_OK && isnan(t.cell[BL_AGREE_TOTAL].mcnemar.chi2) &&
              t.cell[BL_AGREE_TOTAL].mcnemar.p_exact == 1.0 && isnan(t.cell[BL_AGREE_BOTH_WRONG].rate_a),
          "b + c = 0: chi2 NaN, exact p 1, empty category rate NaN");
    int bad_hit[2] = {2, 0};
    CHECK(bl_agreement_compute(2, lab, s, s, bad_hit, h1, 0.5, &t) == BL_ERR_INVALID, "hit 2 rejected");
    bl_mcnemar m;
    CHECK(bl_mcnemar_test(-1, 3, &m) == BL_ERR_INVALID, "negative count rejected");
}

/* ---- files and the CLI -------------------------------------------------------------------------------------------- */

/* The paper table as the four files: ids p0..p511; focus B written in reverse order (matching is by id). */
static void write_paper_files(void) {
    int label[512], ha[512], hb[512];
    double sa[512], sb[512];
    paper_rows(label, sa, sb, ha, hb);
    FILE *pa = fopen(tmp_path("a.csv"), "wb"), *pb = fopen(tmp_path("b.csv"), "wb");
    FILE *fa = fopen(tmp_path("fa.csv"), "wb"), *fb = fopen(tmp_path("fb.csv"), "wb");
    CHECK(pa && pb && fa && fb, "cannot create the paper files");
    if (!pa || !pb || !fa || !fb) return;
    fprintf(pa, "id,label,score\n"), fprintf(pb, "id,label,score\n");
    const char *focus_header = "id,label,score,hit,energy_icm,energy_te,energy_union,area_union\n";
    fputs(focus_header, fa), fputs(focus_header, fb);
    for (int i = 0; i < 512; i++) {
        fprintf(pa, "p%d,%d,%.17g\n", i, label[i], sa[i]);
        fprintf(pb, "p%d,%d,%.17g\n", i, label[i], sb[i]);
        fprintf(fa, "p%d,%d,%.17g,%d,0.5,0.25,0.75,0.3\n", i, label[i], sa[i], ha[i]);
        int r = 511 - i;
        fprintf(fb, "p%d,%d,%.17g,%d,0.5,0.25,0.75,0.3\n", r, label[r], sb[r], hb[r]);
    }
    fclose(pa), fclose(pb), fclose(fa), fclose(fb);
}

static void expect_error(const char *fa_text, const char *fb_text, const char *want) {
    write_text(tmp_path("bad_fa.csv"), fa_text);
    write_text(tmp_path("bad_fb.csv"), fb_text);
    bl_agreement t;
    bl_status st = bl_agreement_from_files(tmp_path("small_a.csv"), tmp_path("bad_fa.csv"), tmp_path("small_b.csv"),
                                           tmp_path("bad_fb.csv"), 0.5, &t);
    char expected[1024];
    snprintf(expected, sizeof expected, want, tmp_dir, tmp_dir);
    CHECK(st != BL_OK && strcmp(bl_last_error(), expected) == 0, "error:\n  got  '%s'\n  want '%s'", bl_last_error(),
          expected);
}

static void check_files(void) {
    write_paper_files();
    bl_agreement t;
    CHECK(bl_agreement_from_files(tmp_path("a.csv"), tmp_path("fa.csv"), tmp_path("b.csv"), tmp_path("fb.csv"), 0.5,
                                  &t) == BL_OK,
          "paper files: %s", bl_last_error());
    CHECK(t.cell[BL_AGREE_TOTAL].hits_a == 438 && t.cell[BL_AGREE_TOTAL].hits_b == 506 &&
              t.cell[BL_AGREE_ONLY_B_CORRECT].n == 57 && t.cell[BL_AGREE_TOTAL].mcnemar.c == 68,
          "paper files: reversed focus B matched by id");

    write_text(tmp_path("small_a.csv"), "id,label,score\nx,1,0.9\ny,0,0.2\nz,1,0.4\n");
    write_text(tmp_path("small_b.csv"), "id,label,score\nz,1,0.6\nx,1,0.9\ny,0,0.7\n");
    const char *fb_ok = "id,hit\nx,1\ny,1\nz,0\n";
    expect_error("id,hit\nx,1\ny,0\n", fb_ok,
                 "%s/bad_fa.csv: id 'z' of %s/small_a.csv is missing (expected the same ids in all four files)");
    expect_error("id,hit\nx,1\ny,0\nz,1\nw,0\n", fb_ok,
                 "%s/bad_fa.csv: line 5: id 'w' is not in %s/small_a.csv (expected the same ids in all four files)");
    expect_error("id,hit\nx,1\ny,0\nx,1\n", fb_ok, "%s/bad_fa.csv: line 4: id 'x' appears twice (expected unique ids)");
    expect_error("id,label,hit\nx,1,1\ny,1,0\nz,1,1\n", fb_ok,
                 "%s/bad_fa.csv: line 3: label of 'y': differs from %s/small_a.csv (expected 0, got 1)");
    expect_error("id,hit\nx,1\ny,0\nz,1\n", "id,hit\nx,1\ny,yes\nz,0\n",
                 "%s/bad_fb.csv: line 3: column hit: not a pointing-game hit (expected 0 or 1, got 'yes')");
    write_text(tmp_path("bad_fa.csv"), "id,score\nx,1\ny,0\nz,1\n");
    CHECK(bl_agreement_from_files(tmp_path("small_a.csv"), tmp_path("bad_fa.csv"), tmp_path("small_b.csv"),
                                  tmp_path("bad_fb.csv"), 0.5, &t) != BL_OK &&
              strstr(bl_last_error(), "missing column 'hit'"),
          "missing hit column: '%s'", bl_last_error());
    write_text(tmp_path("small_b2.csv"), "id,label,score\nz,1,0.6\nx,0,0.9\ny,0,0.7\n");
    write_text(tmp_path("ok_fa.csv"), "id,hit\nx,1\ny,0\nz,1\n");
    CHECK(bl_agreement_from_files(tmp_path("small_a.csv"), tmp_path("ok_fa.csv"), tmp_path("small_b2.csv"),
                                  tmp_path("ok_fa.csv"), 0.5, &t) != BL_OK &&
              strstr(bl_last_error(), "small_b2.csv: label of 'x': differs from") &&
              strstr(bl_last_error(), "(expected 1, got 0)"),
          "label mismatch in predictions B: '%s'", bl_last_error());
    /* the small case itself: A right on x, y; B right on x, z */
    CHECK(bl_agreement_from_files(tmp_path("small_a.csv"), tmp_path("ok_fa.csv"), tmp_path("small_b.csv"),
                                  tmp_path("ok_fa.csv"), 0.5, &t) == BL_OK &&
              t.cell[BL_AGREE_BOTH_CORRECT].n == 1 && t.cell[BL_AGREE_ONLY_A_CORRECT].n == 1 &&
              t.cell[BL_AGREE_ONLY_B_CORRECT].n == 1 && t.cell[BL_AGREE_BOTH_WRONG].n == 0,
          "small case categories");
}

static void check_cli(void) {
    char args[4096];
    CHECK(run("focus-compare --help") == 0 && strstr(out, "usage: blasto focus-compare"), "--help: %s", out);
    CHECK(run("focus-compare --pred-a x.csv") == 2 && strstr(out, "blasto focus-compare: "), "usage error: %s", out);
    const char *csv = tmp_path("t3.csv");
    snprintf(args, sizeof args,
             "focus-compare --pred-a %s/a.csv --focus-a %s/fa.csv --pred-b %s/b.csv --focus-b %s/fb.csv "
             "--names orig,enh --out %s",
             tmp_dir, tmp_dir, tmp_dir, tmp_dir, csv);
    int rc = run(args);
    CHECK(rc == 0, "focus-compare exit %d: %s", rc, out);
    CHECK(strstr(out, "Only orig correct") && strstr(out, "270 (86.0%)") && strstr(out, "506 (98.8%)") &&
              strstr(out, "6 (1.2%)"),
          "table text:\n%s", out);
    bl_csv *t = NULL;
    CHECK(bl_csv_read(csv, &t) == BL_OK, "%s: %s", csv, bl_last_error());
    if (t) {
        CHECK(t->n_rows == 5 && t->n_columns == 13, "CSV shape %d x %d", t->n_rows, t->n_columns);
        if (t->n_rows == 5 && t->n_columns == 13) {
            char **total = t->rows[4];
            CHECK(strcmp(total[0], "total") == 0 && strcmp(total[1], "512") == 0 && strcmp(total[2], "orig") == 0 &&
                      strcmp(total[3], "438") == 0 && strtod(total[4], NULL) == 438.0 / 512 &&
                      strcmp(total[5], "enh") == 0 && strcmp(total[6], "506") == 0 && strcmp(total[8], "0") == 0 &&
                      strcmp(total[9], "68") == 0 && strtod(total[10], NULL) == ldexp(1.0, -67),
                  "CSV total row: %s,%s,%s,%s,%s,...", total[0], total[1], total[2], total[3], total[4]);
            CHECK(strcmp(t->rows[3][0], "only_b_correct") == 0 && strcmp(t->rows[3][12], "") != 0,
                  "CSV row order / chi2 p present");
        }
        bl_csv_free(t);
    }
    /* mismatched ids: exit 1, one line, nothing written */
    const char *csv2 = tmp_path("t3_bad.csv");
    snprintf(args, sizeof args,
             "focus-compare --pred-a %s/a.csv --focus-a %s/ok_fa.csv --pred-b %s/b.csv --focus-b %s/fb.csv --out %s",
             tmp_dir, tmp_dir, tmp_dir, tmp_dir, csv2);
    rc = run(args);
    CHECK(rc == 1 && strncmp(out, "blasto focus-compare: ", 22) == 0 && strchr(out, '\n') == out + strlen(out) - 1,
          "mismatch: exit %d: %s", rc, out);
    CHECK(access(csv2, F_OK) != 0, "no CSV written on error");
    snprintf(args, sizeof args,
             "focus-compare --pred-a %s/a.csv --focus-a %s/fa.csv --pred-b %s/b.csv --focus-b %s/fb.csv "
             "--threshold abc",
             tmp_dir, tmp_dir, tmp_dir, tmp_dir);
    CHECK(run(args) == 2 && strstr(out, "--threshold"), "bad threshold: %s", out);
    snprintf(args, sizeof args,
             "focus-compare --pred-a %s/a.csv --focus-a %s/fa.csv --pred-b %s/b.csv --focus-b %s/fb.csv --names x",
             tmp_dir, tmp_dir, tmp_dir, tmp_dir);
    CHECK(run(args) == 2 && strstr(out, "--names"), "bad names: %s", out);
}

int main(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/blasto_test_agreement_XXXXXX");
    CHECK(mkdtemp(tmp_dir) != NULL, "mkdtemp");
    check_binomial();
    check_fixture();
    check_paper_table();
    check_files();
    check_cli();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_dir);
    return test_summary("test_agreement");
}
