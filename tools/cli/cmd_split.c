/* cmd_split.c — `blasto split`: the fixed stratified test set and the K cross-validation folds of a cohort
 * (tools/study/split.h has the assignment rules). Writes id,set,fold atomically and prints a summary table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "study/csv.h"
#include "study/split.h"

static int split_help(void) {
    printf("usage: blasto split --cohort C.csv (--test-count N | --test-frac F) [--folds K] [--seed S]\n"
           "                    [--stratify label|label,clinic|clinic|none] --out split.csv\n\n"
           "Splits a cohort into a fixed test set and K cross-validation folds over the rest, both stratified.\n"
           "Writes split.csv with the columns id,set,fold (set test|train; fold 0..K-1 for train rows, empty for\n"
           "test rows), in the cohort's row order.\n\n"
           "  --cohort C.csv   cohort CSV; only its id, label (0/1) and clinic columns are read\n"
           "  --test-count N   exactly N test rows (the paper: 512 of 2555)\n"
           "  --test-frac F    N = floor(F*n + 0.5); note 0.2 * 2555 = 511, not the paper's 512\n"
           "  --folds K        cross-validation folds over the train rows (default 3, at least 2)\n"
           "  --seed S         shuffle seed (default 1); same seed and cohort -> same split\n"
           "  --stratify KEY   strata for both the test set and the folds (default label)\n"
           "  --out FILE       the split CSV (written atomically)\n\n"
           "Test rows per stratum: floor of the proportional quota N*n_s/n, leftovers to the largest remainders.\n"
           "Folds: train rows dealt in rotation, stratum after stratum, so fold sizes differ by at most 1.\n"
           "2555 rows with 812 positives, --test-count 512 --folds 3 -> 163 + 349 test, folds 681/681/681.\n");
    return 0;
}

static int parse_fraction(const char *text, double *out) {
    if (!text) {
        fprintf(stderr, "blasto split: --test-frac: missing value\n");
        return 2;
    }
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !(v >= 0.0 && v < 1.0)) {
        fprintf(stderr, "blasto split: --test-frac: expected a number in [0, 1), got '%s'\n", text);
        return 2;
    }
    *out = v;
    return 0;
}

static int parse_stratify(const char *text, int *out) {
    static const struct { const char *name; int bits; } keys[] = {
        {"label", BL_STRATIFY_LABEL},
        {"label,clinic", BL_STRATIFY_LABEL | BL_STRATIFY_CLINIC},
        {"clinic,label", BL_STRATIFY_LABEL | BL_STRATIFY_CLINIC},
        {"clinic", BL_STRATIFY_CLINIC},
        {"none", 0},
    };
    for (size_t i = 0; text && i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(text, keys[i].name) == 0) {
            *out = keys[i].bits;
            return 0;
        }
    fprintf(stderr, "blasto split: --stratify: expected label, label,clinic, clinic or none, got '%s'\n",
            text ? text : "");
    return 2;
}

/* Labels per row of the written split, for the summary (the cohort is re-read: the split keeps only ids). */
static void print_summary(const bl_split *s, const char *cohort, const char *out_path) {
    bl_csv *csv = NULL;
    int *pos = NULL, *count = NULL;
    if (bl_csv_read(cohort, &csv) == BL_OK) {
        int col_label = bl_csv_column(csv, "label");
        pos = calloc((size_t)s->folds + 1, sizeof *pos);
        count = calloc((size_t)s->folds + 1, sizeof *count);
        if (pos && count && col_label >= 0 && csv->n_rows == s->n)
            for (int i = 0; i < s->n; i++) {
                int part = s->rows[i].is_test ? s->folds : s->rows[i].fold;
                count[part]++;
                pos[part] += strcmp(csv->rows[i][col_label], "1") == 0;
            }
    }
    printf("split: %d rows -> %d test + %d train in %d folds -> %s\n", s->n, s->n_test, s->n - s->n_test, s->folds,
           out_path);
    if (pos && count) {
        printf("  %-8s %6s %6s %8s\n", "part", "rows", "label1", "fraction");
        for (int k = 0; k <= s->folds; k++) {
            char name[32];
            if (k == s->folds) snprintf(name, sizeof name, "test");
            else snprintf(name, sizeof name, "fold %d", k);
            printf("  %-8s %6d %6d %8.4f\n", name, count[k], pos[k], count[k] ? (double)pos[k] / count[k] : 0.0);
        }
    }
    free(pos);
    free(count);
    bl_csv_free(csv);
}

int cmd_split(int argc, char **argv) {
    const char *cohort = NULL, *out_path = NULL;
    bl_split_options o;
    bl_split_options_default(&o);
    int have_count = 0, have_frac = 0;
    long folds = 3, seed = 1, test_count = 0;
    for (int i = 1; i < argc; i += 2) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) return split_help();
        if (strcmp(opt, "--cohort") == 0 && val) cohort = val;
        else if (strcmp(opt, "--out") == 0 && val) out_path = val;
        else if (strcmp(opt, "--test-count") == 0) {
            rc = cli_parse_int("split", opt, val, 0, 0x7fffffffL, &test_count);
            have_count = 1;
        } else if (strcmp(opt, "--test-frac") == 0) {
            rc = parse_fraction(val, &o.test_fraction);
            have_frac = 1;
        }
        else if (strcmp(opt, "--folds") == 0) rc = cli_parse_int("split", opt, val, 2, 1000000, &folds);
        else if (strcmp(opt, "--seed") == 0) rc = cli_parse_int("split", opt, val, 0, 0x7fffffffL, &seed);
        else if (strcmp(opt, "--stratify") == 0) rc = parse_stratify(val, &o.stratify);
        else {
            fprintf(stderr, "blasto split: bad option '%s'%s%s (blasto split --help)\n", opt, val ? " " : "",
                    val ? val : "");
            return 2;
        }
        if (rc) return rc;
    }
    if (!cohort || !out_path) {
        fprintf(stderr, "blasto split: %s is required (blasto split --help)\n", !cohort ? "--cohort" : "--out");
        return 2;
    }
    if (have_count == have_frac) {
        fprintf(stderr, "blasto split: give exactly one of --test-count N and --test-frac F (blasto split --help)\n");
        return 2;
    }
    o.test_count = have_count ? (int)test_count : -1;
    o.folds = (int)folds;
    o.seed = (uint64_t)seed;

    bl_split *s = NULL;
    bl_status st = bl_split_cohort_file(cohort, &o, &s);
    if (!st) st = bl_split_write(s, out_path);
    if (st) {
        fprintf(stderr, "blasto split: %s\n", bl_last_error());
        bl_split_free(s);
        return 1;
    }
    print_summary(s, cohort, out_path);
    bl_split_free(s);
    return 0;
}
