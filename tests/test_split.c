/* test_split.c — tools/study/split.h and `blasto split`: the paper's counts (2555 rows, 812 positives → 163 + 349
 * test rows, folds 681/681/681), largest-remainder stratification checked against an independent computation,
 * fold balance inside every stratum, determinism (same seed, shuffled row order) and sensitivity to the seed,
 * every refused input with its message, the split CSV read back and its validation, and the CLI (exit codes,
 * no output file on error). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/rng.h"
#include "harness.h"
#include "study/split.h"
#include "support/test_support.h"

static char work_dir[256];

static const char *path_in(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", work_dir, name);
    return buf[k];
}

/* The paper-sized cohort: n rows, `positives` of them label 1, clinics A–E of unequal sizes, rows in an order
 * given by `order_seed` (so two files can hold the same rows in different orders). */
#define PAPER_N 2555
#define PAPER_POSITIVES 812
typedef struct cohort_rows {
    char id[PAPER_N][16];
    int label[PAPER_N];
    char clinic[PAPER_N][2];
} cohort_rows;

static void make_rows(cohort_rows *c) {
    for (int i = 0; i < PAPER_N; i++) {
        snprintf(c->id[i], sizeof c->id[i], "emb%04d", i);
        c->label[i] = (i * 7919) % PAPER_N < PAPER_POSITIVES; /* a scattered set of exactly 812 */
        c->clinic[i][0] = "AAAABBBCCDE"[(i * 31) % 11];
        c->clinic[i][1] = 0;
    }
}

static void write_cohort(const cohort_rows *c, const char *path, uint64_t order_seed) {
    int order[PAPER_N];
    for (int i = 0; i < PAPER_N; i++) order[i] = i;
    bl_rng r = bl_rng_stream(order_seed, BL_RNG_TEST, 0);
    for (int i = PAPER_N - 1; order_seed && i > 0; i--) {
        int j = (int)(bl_rng_next_u64(&r) % (uint64_t)(i + 1)), t = order[i];
        order[i] = order[j], order[j] = t;
    }
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fprintf(f, "id,image,annotation,age,clinic,label\n");
    for (int k = 0; k < PAPER_N; k++) {
        int i = order[k];
        fprintf(f, "%s,img/%s.png,,35,%s,%d\n", c->id[i], c->id[i], c->clinic[i], c->label[i]);
    }
    fclose(f);
}

/* Independent largest-remainder allotment: quotas as doubles, leftovers to the largest fractional parts (ties
 * by larger stratum, then order) — the rule split.h states, written the obvious way. */
static void expected_allotment(int n_strata, const int *sizes, int n, int n_test, int *test) {
    double frac[64];
    int given = 0;
    for (int k = 0; k < n_strata; k++) {
        double q = (double)n_test * sizes[k] / n;
        test[k] = (int)q;
        frac[k] = q - test[k];
        given += test[k];
    }
    while (given < n_test) {
        int best = -1;
        for (int k = 0; k < n_strata; k++)
            if (frac[k] >= 0 && (best < 0 || frac[k] > frac[best] + 1e-12 ||
                                 (frac[k] > frac[best] - 1e-12 && sizes[k] > sizes[best])))
                best = k;
        test[best]++;
        frac[best] = -1;
        given++;
    }
}

static const bl_split_row *row_of(const bl_split *s, const char *id) {
    int i = bl_split_find(s, id);
    return i >= 0 ? &s->rows[i] : NULL;
}

static void test_paper_counts(const cohort_rows *c) {
    write_cohort(c, path_in("paper.csv"), 0);
    bl_split_options o;
    bl_split_options_default(&o);
    o.test_count = 512;
    o.folds = 3;
    o.seed = 42;
    bl_split *s = NULL;
    CHECK(bl_split_cohort_file(path_in("paper.csv"), &o, &s) == BL_OK, "paper split: %s", bl_last_error());
    if (!s) return;
    int test = 0, test_pos = 0, fold_rows[3] = {0}, fold_pos[3] = {0};
    for (int i = 0; i < s->n; i++) {
        const bl_split_row *r = row_of(s, c->id[i]);
        if (r->is_test) test++, test_pos += c->label[i];
        else fold_rows[r->fold]++, fold_pos[r->fold] += c->label[i];
    }
    CHECK(s->n == PAPER_N && s->n_test == 512 && test == 512, "512 test rows (got %d)", test);
    CHECK(test_pos == 163 && test - test_pos == 349, "163 positive + 349 negative test rows (got %d + %d)", test_pos,
          test - test_pos);
    for (int k = 0; k < 3; k++) {
        CHECK(fold_rows[k] == 681, "fold %d has 681 rows (got %d)", k, fold_rows[k]);
        CHECK(fold_pos[k] == 216 || fold_pos[k] == 217, "fold %d: 216 or 217 of the 649 train positives (got %d)", k,
              fold_pos[k]);
    }
    CHECK(fold_pos[0] + fold_pos[1] + fold_pos[2] == 649, "train positives 649");
    /* roles for the trainer */
    int roles[3] = {0};
    for (int i = 0; i < s->n; i++) roles[bl_split_role_of(s, i, 1)]++;
    CHECK(roles[BL_ROLE_TRAIN] == 1362 && roles[BL_ROLE_VALIDATION] == 681 && roles[BL_ROLE_TEST] == 512,
          "fold 1 model: train 1362 / validate 681 / test 512 (got %d/%d/%d)", roles[0], roles[1], roles[2]);

    /* --test-frac 0.2: round(0.2·2555) = 511 */
    o.test_count = -1;
    o.test_fraction = 0.2;
    bl_split *f = NULL;
    CHECK(bl_split_cohort_file(path_in("paper.csv"), &o, &f) == BL_OK && f && f->n_test == 511,
          "test fraction 0.2 of 2555 → 511 rows (got %d)", f ? f->n_test : -1);
    bl_split_free(f);

    /* write, read back: identical */
    CHECK(bl_split_write(s, path_in("split.csv")) == BL_OK, "write: %s", bl_last_error());
    bl_split *back = NULL;
    CHECK(bl_split_read(path_in("split.csv"), 3, &back) == BL_OK, "read back: %s", bl_last_error());
    int same = back && back->n == s->n && back->folds == 3 && back->n_test == 512;
    for (int i = 0; same && i < s->n; i++)
        same = strcmp(back->rows[i].id, s->rows[i].id) == 0 && back->rows[i].is_test == s->rows[i].is_test &&
               back->rows[i].fold == s->rows[i].fold;
    CHECK(same, "split CSV round trip is exact");
    bl_split_free(back);
    CHECK(bl_split_read(path_in("split.csv"), 0, &back) == BL_OK && back->folds == 3, "folds inferred as 3");
    bl_split_free(back);
    bl_split_free(s);
}

/* label+clinic strata: test counts equal the independent allotment; folds balanced within ±1 in every stratum */
static void test_stratified_by_clinic(const cohort_rows *c) {
    bl_split_options o;
    bl_split_options_default(&o);
    o.test_count = 512;
    o.folds = 3;
    o.seed = 7;
    o.stratify = BL_STRATIFY_LABEL | BL_STRATIFY_CLINIC;
    bl_split *s = NULL;
    CHECK(bl_split_cohort_file(path_in("paper.csv"), &o, &s) == BL_OK, "label,clinic split: %s", bl_last_error());
    if (!s) return;
    /* strata in key order: label 0 A..E, label 1 A..E */
    int sizes[10] = {0}, test[10] = {0}, folds[10][3] = {{0}}, want[10];
    for (int i = 0; i < PAPER_N; i++) {
        int k = c->label[i] * 5 + (c->clinic[i][0] - 'A');
        const bl_split_row *r = row_of(s, c->id[i]);
        sizes[k]++;
        if (r->is_test) test[k]++;
        else folds[k][r->fold]++;
    }
    expected_allotment(10, sizes, PAPER_N, 512, want);
    int exact = 1, balanced = 1, total_fold[3] = {0};
    for (int k = 0; k < 10; k++) {
        exact &= test[k] == want[k];
        int lo = folds[k][0], hi = folds[k][0];
        for (int f = 0; f < 3; f++) {
            lo = folds[k][f] < lo ? folds[k][f] : lo;
            hi = folds[k][f] > hi ? folds[k][f] : hi;
            total_fold[f] += folds[k][f];
        }
        balanced &= hi - lo <= 1;
        if (test[k] != want[k]) printf("stratum %d: size %d, test %d, expected %d\n", k, sizes[k], test[k], want[k]);
    }
    CHECK(exact, "every label×clinic stratum gets its largest-remainder test count");
    CHECK(balanced, "every stratum's train rows are spread over the folds within ±1");
    CHECK(total_fold[0] == 681 && total_fold[1] == 681 && total_fold[2] == 681, "folds 681/681/681 (got %d/%d/%d)",
          total_fold[0], total_fold[1], total_fold[2]);
    bl_split_free(s);
}

static int same_assignment(const bl_split *a, const bl_split *b) {
    if (a->n != b->n) return 0;
    for (int i = 0; i < a->n; i++) {
        const bl_split_row *r = row_of(b, a->rows[i].id);
        if (!r || r->is_test != a->rows[i].is_test || r->fold != a->rows[i].fold) return 0;
    }
    return 1;
}

static void test_determinism(const cohort_rows *c) {
    write_cohort(c, path_in("shuffled.csv"), 99);
    bl_split_options o;
    bl_split_options_default(&o);
    o.test_count = 512;
    bl_split *a = NULL, *b = NULL, *d = NULL, *e = NULL;
    o.seed = 5;
    bl_split_cohort_file(path_in("paper.csv"), &o, &a);
    bl_split_cohort_file(path_in("paper.csv"), &o, &b);
    bl_split_cohort_file(path_in("shuffled.csv"), &o, &d);
    o.seed = 6;
    bl_split_cohort_file(path_in("paper.csv"), &o, &e);
    CHECK(a && b && d && e, "four splits made");
    if (a && b && d && e) {
        CHECK(same_assignment(a, b), "same seed → same split");
        CHECK(same_assignment(a, d), "same seed, rows in another order → same split");
        CHECK(!same_assignment(a, e), "another seed → another split");
        int moved = 0;
        for (int i = 0; i < a->n; i++) moved += a->rows[i].is_test != row_of(e, a->rows[i].id)->is_test;
        CHECK(moved > 300, "another seed changes many test rows (%d moved)", moved);
    }
    bl_split_free(a), bl_split_free(b), bl_split_free(d), bl_split_free(e);
}

/* Expect `path` to be refused with a message containing `want`. */
static void expect_cohort_error(const char *text, const bl_split_options *o, const char *want) {
    test_write_file(path_in("bad.csv"), text);
    bl_split *s = NULL;
    bl_status st = bl_split_cohort_file(path_in("bad.csv"), o, &s);
    CHECK(st != BL_OK && !s && strstr(bl_last_error(), want), "expected an error containing '%s', got '%s'", want,
          st ? bl_last_error() : "success");
    bl_split_free(s);
}

static void test_bad_cohorts(void) {
    bl_split_options o;
    bl_split_options_default(&o);
    o.test_count = 1;
    o.folds = 2;
    const char *ok = "id,clinic,label\na,A,0\nb,A,1\nc,A,0\nd,A,1\ne,A,0\nf,A,1\n";
    bl_split *s = NULL;
    test_write_file(path_in("ok.csv"), ok);
    CHECK(bl_split_cohort_file(path_in("ok.csv"), &o, &s) == BL_OK, "small ok: %s", bl_last_error());
    bl_split_free(s);
    expect_cohort_error("id,clinic\na,A\nb,A\n", &o, "header: missing column 'label'");
    expect_cohort_error("name,label\na,0\nb,1\n", &o, "missing column 'id'");
    expect_cohort_error("id,label\na,0\nb,2\nc,1\n", &o, "line 3: column 'label': not 0 or 1 (expected 0 or 1, got '2')");
    expect_cohort_error("id,label\na,0\nb,\nc,1\n", &o, "line 3: column 'label': not 0 or 1 (expected 0 or 1, got '')");
    /* the cohort reader's rules, the same here: ids that name no file are refused, " 1" is 1 */
    expect_cohort_error("id,label\na,0\nb|c,1\n", &o, "line 3: column 'id': not usable as a file name");
    expect_cohort_error("id,label\na,0\n..,1\n", &o, "line 3: column 'id': not usable as a file name");
    expect_cohort_error("id,label\na,0\nx/y,1\n", &o, "line 3: column 'id': not usable as a file name");
    expect_cohort_error("id,label\na,0\nb,1\na,1\n", &o, "line 4: column 'id': duplicate id 'a' (first on line 2)");
    expect_cohort_error("id,label\na,0\n,1\n", &o, "line 3: column 'id': not usable as a file name");
    expect_cohort_error("id,label\n", &o, "no data rows");
    bl_split_options k1 = o;
    k1.folds = 1;
    expect_cohort_error(ok, &k1, "need at least 2 cross-validation folds (got 1)");
    bl_split_options all = o;
    all.test_count = 6;
    expect_cohort_error(ok, &all, "6 test rows out of 6 leave nothing to train on");
    bl_split_options tiny = o; /* label 1 has 3 rows: 1 test (largest remainder) leaves 2 < 3 folds */
    tiny.folds = 3;
    expect_cohort_error(ok, &tiny, "stratum label=0: 2 of its 3 rows left for training, fewer than the 3 folds");
    bl_split_options by_clinic = o;
    by_clinic.stratify = BL_STRATIFY_LABEL | BL_STRATIFY_CLINIC;
    expect_cohort_error("id,label\na,0\nb,1\n", &by_clinic, "missing column 'clinic'");
    expect_cohort_error("id,clinic,label\na,A,0\nb,A,0\ng,A,0\nc,B,0\nd,A,1\ne,A,1\n", &by_clinic,
                        "stratum label=0 clinic=B: 1 of its 1 rows left for training, fewer than the 2 folds");
}

static void expect_read_error(const char *text, int folds, const char *want) {
    test_write_file(path_in("badsplit.csv"), text);
    bl_split *s = NULL;
    bl_status st = bl_split_read(path_in("badsplit.csv"), folds, &s);
    CHECK(st != BL_OK && !s && strstr(bl_last_error(), want), "split read: expected '%s', got '%s'", want,
          st ? bl_last_error() : "success");
    bl_split_free(s);
}

static void test_bad_split_files(void) {
    expect_read_error("id,set\na,test\n", 0, "header: missing column 'fold'");
    expect_read_error("id,set,fold\na,test,\nb,val,0\n", 0, "line 3: column 'set': expected test or train (got 'val')");
    expect_read_error("id,set,fold\na,test,0\nb,train,0\nc,train,1\n", 0,
                      "line 2: column 'fold': test rows have no fold");
    expect_read_error("id,set,fold\na,train,x\nb,train,1\n", 0, "line 2: column 'fold': expected a fold number");
    expect_read_error("id,set,fold\na,train,-1\nb,train,1\n", 0, "got '-1'");
    expect_read_error("id,set,fold\na,train,0\nb,train,1\na,train,1\n", 0, "line 4: column 'id': duplicate id 'a'");
    expect_read_error("id,set,fold\na,train,0\nb,train,3\n", 3, "line 3: column 'fold': fold 3 out of range");
    expect_read_error("id,set,fold\na,train,0\nb,train,2\n", 0, "fold 1 has no rows");
    expect_read_error("id,set,fold\na,train,0\nb,test,\n", 0, "1 fold(s) (expected at least 2");
    expect_read_error("id,set,fold\na,train,0\nb,train,1\n", 3, "fold 2 has no rows");
    bl_split *s = NULL;
    test_write_file(path_in("good.csv"), "id,set,fold\nx,train,1\ny,test,\nz,train,0\n");
    CHECK(bl_split_read(path_in("good.csv"), 0, &s) == BL_OK && s->n == 3 && s->folds == 2 && s->n_test == 1 &&
              s->rows[0].fold == 1 && s->rows[1].is_test && s->rows[1].fold == -1,
          "a valid split file reads: %s", bl_last_error());
    bl_split_free(s);
}

/* Run the CLI; returns the exit code, merged output in out. */
static int run(const char *args, char *out, size_t size) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "split %s", args);
    return test_run_cli(cmd, 1, out, size);
}

static int one_line(const char *out) {
    const char *nl = strchr(out, '\n');
    return nl && nl[1] == '\0';
}

static int exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

static void test_cli(void) {
    static char out[1 << 14];
    char args[1024];
    CHECK(run("--help", out, sizeof out) == 0 && strstr(out, "usage: blasto split"), "--help: %s", out);
    snprintf(args, sizeof args, "--cohort %s --test-count 512 --folds 3 --seed 42 --out %s", path_in("paper.csv"),
             path_in("cli_split.csv"));
    CHECK(run(args, out, sizeof out) == 0 && strstr(out, "512 test + 2043 train in 3 folds"), "CLI split: %s", out);
    bl_split *cli = NULL, *lib = NULL;
    CHECK(bl_split_read(path_in("cli_split.csv"), 3, &cli) == BL_OK, "CLI output reads back: %s", bl_last_error());
    bl_split_options o;
    bl_split_options_default(&o);
    o.test_count = 512;
    o.seed = 42;
    bl_split_cohort_file(path_in("paper.csv"), &o, &lib);
    CHECK(cli && lib && same_assignment(cli, lib), "CLI split equals the library's");
    bl_split_free(cli), bl_split_free(lib);

    snprintf(args, sizeof args, "--cohort %s --test-count 2555 --out %s", path_in("paper.csv"), path_in("no.csv"));
    CHECK(run(args, out, sizeof out) == 1 && strncmp(out, "blasto split: ", 14) == 0 && one_line(out) &&
              !exists(path_in("no.csv")),
          "N ≥ n: exit 1, one line, no output file: %s", out);
    test_write_file(path_in("bad.csv"), "id,label\na,0\nb,7\nc,1\nd,0\n");
    snprintf(args, sizeof args, "--cohort %s --test-count 1 --folds 2 --out %s", path_in("bad.csv"), path_in("no.csv"));
    CHECK(run(args, out, sizeof out) == 1 && strstr(out, "line 3: column 'label'") && !exists(path_in("no.csv")),
          "bad label: exit 1, no output: %s", out);
    snprintf(args, sizeof args, "--cohort %s --folds 3 --out %s", path_in("paper.csv"), path_in("no.csv"));
    CHECK(run(args, out, sizeof out) == 2 && strstr(out, "exactly one of --test-count"), "no test size: exit 2: %s",
          out);
    snprintf(args, sizeof args, "--cohort %s --test-frac 1.5 --out %s", path_in("paper.csv"), path_in("no.csv"));
    CHECK(run(args, out, sizeof out) == 2 && strstr(out, "--test-frac"), "bad fraction: exit 2: %s", out);
    snprintf(args, sizeof args, "--cohort %s --test-count 5 --stratify age --out %s", path_in("paper.csv"),
             path_in("no.csv"));
    CHECK(run(args, out, sizeof out) == 2 && strstr(out, "--stratify"), "bad --stratify: exit 2: %s", out);
    CHECK(!exists(path_in("no.csv")), "no output after any failure");
}

int main(void) {
    if (!test_make_tmp_dir(work_dir, sizeof work_dir, "blasto_test_split"))
        return test_skip("cannot create a temporary directory");
    static cohort_rows c;
    make_rows(&c);
    int positives = 0;
    for (int i = 0; i < PAPER_N; i++) positives += c.label[i];
    CHECK(positives == PAPER_POSITIVES, "fixture has 812 positives (got %d)", positives);
    test_paper_counts(&c);
    test_stratified_by_clinic(&c);
    test_determinism(&c);
    test_bad_cohorts();
    test_bad_split_files();
    test_cli();
    test_remove_tree(work_dir);
    return test_summary("test_split");
}
