/* cmd_stats.c — `blasto stats ttest`: Table 1 of Kim et al. 2024, maternal age of negatives vs positives with
 * Student's and Welch's two-sample t-tests (tools/study/stats.h), from a cohort CSV (overall and per clinic) or from
 * published summary statistics. Prints an aligned table; --out writes the same rows as CSV (atomically).
 *
 * Cohort mode reads the cohort with missing ages allowed: a row without an age is left out of its group's
 * statistics and counted in the missing_age column. A group needs at least 2 ages in each class (the sample SD has
 * ddof 1); otherwise the command stops with a message naming the group, and writes nothing. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "study/cohort.h"
#include "study/csv.h"
#include "study/stats.h"

static int stats_help(void) {
    printf("usage: blasto stats ttest --cohort C.csv [--by clinic] [--out T.csv]\n"
           "       blasto stats ttest --from-summary S.csv [--rounding H] [--out T.csv]\n\n"
           "Table 1 of the paper: per group, n and mean ± SD (ddof 1) of the age of negatives (label 0) and\n"
           "positives (label 1), the two-sample t statistic and two-sided p of Student's pooled-variance test\n"
           "(scipy.stats.ttest_ind default, df = n1 + n2 - 2) and of Welch's test (Welch-Satterthwaite df).\n\n"
           "  --cohort C.csv        cohort CSV; rows with an empty/NaN age are left out and counted (missing_age)\n"
           "  --by clinic           one row for all embryos, then one per clinic (sorted by name)\n"
           "  --from-summary S.csv  published summary rows instead of data: columns\n"
           "                        group,n_neg,mean_neg,sd_neg,n_pos,mean_pos,sd_pos (others are ignored)\n"
           "  --rounding H          with --from-summary: the means and SDs were rounded to +-H (0.05 for one\n"
           "                        decimal); adds the range of each p over that rounding box, so a published\n"
           "                        p-value can be checked for consistency (p_student_min ... p_welch_max)\n"
           "  --out T.csv           write the table as CSV (written atomically): group,n_neg,mean_neg,sd_neg,\n"
           "                        n_pos,mean_pos,sd_pos,missing_age,t_student,df_student,p_student,t_welch,\n"
           "                        df_welch,p_welch[,p_student_min,p_student_max,p_welch_min,p_welch_max]\n\n"
           "Every group needs at least 2 ages per class; otherwise nothing is written and the message names the\n"
           "group. Formulas and references: docs/statistics.md.\n");
    return 0;
}

typedef struct table_row {
    char *group;
    int n[2];          /* [0] negatives, [1] positives, ages present */
    double mean[2], sd[2];
    int missing;       /* rows of the group without an age; −1 in summary mode (unknown) */
    bl_ttest student, welch;
    double p_range[4]; /* Student min, max, Welch min, max (with --rounding) */
} table_row;

typedef struct table {
    int n_rows;
    table_row *rows;
    int has_range;
} table;

static void table_free(table *t) {
    for (int i = 0; i < t->n_rows; i++) free(t->rows[i].group);
    free(t->rows);
}

static table_row *table_add(table *t, const char *group) {
    table_row *rows = realloc(t->rows, ((size_t)t->n_rows + 1) * sizeof *rows);
    if (!rows) return NULL;
    t->rows = rows;
    table_row *r = &rows[t->n_rows];
    memset(r, 0, sizeof *r);
    r->group = strdup(group);
    if (!r->group) return NULL;
    t->n_rows++;
    return r;
}

/* Both tests of one row: from the ages themselves when given (scipy.stats.ttest_ind), else from the row's summary
 * statistics (ttest_ind_from_stats). `where` prefixes the error (the file, and the line in summary mode). */
static int row_tests(const char *where, table_row *r, double *const ages[2]) {
    for (int k = 0; k < 2; k++)
        if (r->n[k] < 2) {
            const char *cls = k ? "positive" : "negative";
            fprintf(stderr, "blasto stats ttest: %s: group '%s': %d %s%s with an age (expected at least 2 per class",
                    where, r->group, r->n[k], cls, r->n[k] == 1 ? "" : "s");
            if (r->missing > 0) fprintf(stderr, "; %d missing age%s left out", r->missing, r->missing == 1 ? "" : "s");
            fprintf(stderr, ")\n");
            return 1;
        }
    /* negatives are sample 1: t > 0 when negatives are older, as in the paper */
    bl_status st = BL_OK;
    for (int equal = 1; !st && equal >= 0; equal--) {
        bl_ttest *out = equal ? &r->student : &r->welch;
        st = ages ? bl_ttest_samples(r->n[0], ages[0], r->n[1], ages[1], equal, out)
                  : bl_ttest_from_stats(r->mean[0], r->sd[0], r->n[0], r->mean[1], r->sd[1], r->n[1], equal, out);
    }
    if (st) {
        fprintf(stderr, "blasto stats ttest: %s: group '%s': %s\n", where, r->group, bl_last_error());
        return 1;
    }
    return 0;
}

/* ---- cohort mode ---- */

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Fills one row from the cohort rows whose clinic is `clinic` (all rows when NULL). */
static int cohort_group(const bl_cohort *c, const char *clinic, table *t) {
    table_row *r = table_add(t, clinic ? clinic : "all");
    double *ages[2] = {malloc(((size_t)c->n + 1) * sizeof(double)), malloc(((size_t)c->n + 1) * sizeof(double))};
    if (!r || !ages[0] || !ages[1]) {
        free(ages[0]), free(ages[1]);
        fprintf(stderr, "blasto stats ttest: out of memory\n");
        return 1;
    }
    for (int i = 0; i < c->n; i++) {
        const bl_cohort_row *row = &c->rows[i];
        if (clinic && strcmp(row->clinic, clinic) != 0) continue;
        if (isnan(row->age)) r->missing++;
        else ages[row->label][r->n[row->label]++] = row->age;
    }
    for (int k = 0; k < 2; k++) { /* for the table; the tests recompute them from the ages */
        int n = r->n[k];
        double sum = 0.0, squares = 0.0;
        for (int i = 0; i < n; i++) sum += ages[k][i];
        r->mean[k] = n ? sum / n : NAN;
        for (int i = 0; i < n; i++) squares += (ages[k][i] - r->mean[k]) * (ages[k][i] - r->mean[k]);
        r->sd[k] = n > 1 ? sqrt(squares / (n - 1)) : NAN;
    }
    int rc = row_tests(c->path, r, ages);
    free(ages[0]), free(ages[1]);
    return rc;
}

static int table_from_cohort(const char *path, int by_clinic, table *t) {
    bl_cohort *c = NULL;
    if (bl_cohort_read(path, 1, &c)) {
        fprintf(stderr, "blasto stats ttest: %s\n", bl_last_error());
        return 1;
    }
    int rc = cohort_group(c, NULL, t);
    if (!rc && by_clinic) {
        char **clinics = malloc((size_t)c->n * sizeof *clinics);
        if (!clinics) {
            fprintf(stderr, "blasto stats ttest: out of memory\n");
            rc = 1;
        }
        for (int i = 0; !rc && i < c->n; i++) clinics[i] = c->rows[i].clinic;
        if (!rc) qsort(clinics, (size_t)c->n, sizeof *clinics, compare_strings);
        for (int i = 0; !rc && i < c->n; i++)
            if (i == 0 || strcmp(clinics[i], clinics[i - 1]) != 0) rc = cohort_group(c, clinics[i], t);
        free(clinics);
    }
    bl_cohort_free(c);
    return rc;
}

/* ---- summary mode ---- */

static int parse_field(const bl_csv *csv, int row, int column, int integer, double *out) {
    const char *text = csv->rows[row][column], *name = csv->header[column];
    char *end = NULL;
    errno = 0;
    double v = integer ? (double)strtol(text, &end, 10) : strtod(text, &end);
    while (end && (*end == ' ' || *end == '\t')) end++;
    int ok = !errno && end != text && *end == '\0' && isfinite(v) && (integer ? v >= 2 && v <= 1e9 : 1);
    if (ok && !integer && strncmp(name, "sd", 2) == 0) ok = v >= 0.0;
    if (!ok) {
        fprintf(stderr, "blasto stats ttest: %s: line %d: column '%s': %s (got '%s')\n", csv->path,
                csv->row_line[row], name,
                integer ? "not an integer >= 2" : strncmp(name, "sd", 2) == 0 ? "not a number >= 0" : "not a number",
                text);
        return 1;
    }
    *out = v;
    return 0;
}

/* p over a 5×5×5×5 grid of the rounding box (means and SDs each ± h); Student's p is monotone in each of them,
 * so its extremes are corners of the box, which the grid contains; Welch's df moves too, hence the grid. */
static int p_range(const char *where, table_row *r, double h) {
    double lo[2] = {INFINITY, INFINITY}, hi[2] = {0.0, 0.0};
    for (int i = 0; i < 625; i++) {
        double step[4];
        for (int k = 0, rest = i; k < 4; k++, rest /= 5) step[k] = h * ((rest % 5) / 2.0 - 1.0);
        double sd0 = fmax(0.0, r->sd[0] + step[2]), sd1 = fmax(0.0, r->sd[1] + step[3]);
        for (int equal = 0; equal < 2; equal++) {
            bl_ttest tt;
            if (bl_ttest_from_stats(r->mean[0] + step[0], sd0, r->n[0], r->mean[1] + step[1], sd1, r->n[1], equal,
                                    &tt)) {
                fprintf(stderr, "blasto stats ttest: %s: group '%s': --rounding: %s\n", where, r->group,
                        bl_last_error());
                return 1;
            }
            int k = equal ? 0 : 1;
            lo[k] = fmin(lo[k], tt.p);
            hi[k] = fmax(hi[k], tt.p);
        }
    }
    r->p_range[0] = lo[0], r->p_range[1] = hi[0], r->p_range[2] = lo[1], r->p_range[3] = hi[1];
    return 0;
}

static int table_from_summary(const char *path, double rounding, table *t) {
    static const char *const columns[] = {"group", "n_neg", "mean_neg", "sd_neg", "n_pos", "mean_pos", "sd_pos"};
    bl_csv *csv = NULL;
    if (bl_csv_read(path, &csv) || bl_csv_require(csv, 7, columns)) {
        fprintf(stderr, "blasto stats ttest: %s\n", bl_last_error());
        bl_csv_free(csv);
        return 1;
    }
    int index[7], rc = 0;
    for (int k = 0; k < 7; k++) index[k] = bl_csv_column(csv, columns[k]);
    if (csv->n_rows == 0) {
        fprintf(stderr, "blasto stats ttest: %s: no data rows (expected at least one group)\n", path);
        rc = 1;
    }
    for (int i = 0; !rc && i < csv->n_rows; i++) {
        table_row *r = table_add(t, csv->rows[i][index[0]]);
        if (!r) {
            fprintf(stderr, "blasto stats ttest: out of memory\n");
            rc = 1;
            break;
        }
        double n0, n1;
        r->missing = -1;
        rc = parse_field(csv, i, index[1], 1, &n0) || parse_field(csv, i, index[2], 0, &r->mean[0]) ||
             parse_field(csv, i, index[3], 0, &r->sd[0]) || parse_field(csv, i, index[4], 1, &n1) ||
             parse_field(csv, i, index[5], 0, &r->mean[1]) || parse_field(csv, i, index[6], 0, &r->sd[1]);
        if (rc) break;
        r->n[0] = (int)n0, r->n[1] = (int)n1;
        char where[600];
        snprintf(where, sizeof where, "%s: line %d", path, csv->row_line[i]);
        rc = row_tests(where, r, NULL);
        if (!rc && rounding > 0.0) rc = p_range(where, r, rounding);
    }
    t->has_range = rounding > 0.0;
    bl_csv_free(csv);
    return rc;
}

/* ---- output ---- */

/* Shortest of %.15g, %.16g, %.17g that reads back as the same double. */
static void format_double(char *buf, size_t size, double v) {
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, size, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) return;
    }
}

static int write_csv(const table *t, const char *path) {
    static const char *const header[] = {"group",     "n_neg",      "mean_neg",      "sd_neg",        "n_pos",
                                         "mean_pos",  "sd_pos",     "missing_age",   "t_student",     "df_student",
                                         "p_student", "t_welch",    "df_welch",      "p_welch",       "p_student_min",
                                         "p_student_max", "p_welch_min", "p_welch_max"};
    int n_columns = t->has_range ? 18 : 14;
    bl_csv_writer *w = NULL;
    bl_status st = bl_csv_writer_create(n_columns, header, &w);
    for (int i = 0; !st && i < t->n_rows; i++) {
        const table_row *r = &t->rows[i];
        char text[18][40];
        const double values[] = {r->mean[0], r->sd[0],       r->mean[1],     r->sd[1],
                                 r->student.t, r->student.df, r->student.p, r->welch.t,
                                 r->welch.df,  r->welch.p,    r->p_range[0], r->p_range[1],
                                 r->p_range[2], r->p_range[3]};
        static const int slot[] = {2, 3, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17};
        for (int k = 0; k < 14; k++) format_double(text[slot[k]], sizeof text[0], values[k]);
        snprintf(text[1], sizeof text[1], "%d", r->n[0]);
        snprintf(text[4], sizeof text[4], "%d", r->n[1]);
        if (r->missing >= 0) snprintf(text[7], sizeof text[7], "%d", r->missing);
        else text[7][0] = '\0';
        const char *fields[18];
        fields[0] = r->group;
        for (int k = 1; k < 18; k++) fields[k] = text[k];
        st = bl_csv_writer_add(w, fields);
    }
    if (!st) st = bl_csv_writer_save(w, path);
    bl_csv_writer_free(w);
    if (st) {
        fprintf(stderr, "blasto stats ttest: %s\n", bl_last_error());
        return 1;
    }
    return 0;
}

static void format_p(char *buf, size_t size, double p) {
    if (p >= 0.001) snprintf(buf, size, "%.4f", p);
    else snprintf(buf, size, "%.2e", p);
}

static void print_table(const table *t) {
    printf("%-12s %6s %15s %6s %15s %7s %8s %10s %10s", "group", "n_neg", "age_neg", "n_pos", "age_pos", "missing",
           "t", "p_student", "p_welch");
    if (t->has_range) printf("  %21s  %21s", "p_student range", "p_welch range");
    printf("\n");
    for (int i = 0; i < t->n_rows; i++) {
        const table_row *r = &t->rows[i];
        char neg[40], pos[40], missing[16], ps[16], pw[16];
        snprintf(neg, sizeof neg, "%.2f ± %.2f", r->mean[0], r->sd[0]);
        snprintf(pos, sizeof pos, "%.2f ± %.2f", r->mean[1], r->sd[1]);
        if (r->missing >= 0) snprintf(missing, sizeof missing, "%d", r->missing);
        else snprintf(missing, sizeof missing, "-");
        format_p(ps, sizeof ps, r->student.p);
        format_p(pw, sizeof pw, r->welch.p);
        /* "±" is 2 bytes and 1 column: widen the field by one */
        printf("%-12s %6d %16s %6d %16s %7s %8.3f %10s %10s", r->group[0] ? r->group : "(empty)", r->n[0], neg,
               r->n[1], pos, missing, r->student.t, ps, pw);
        if (t->has_range) {
            char range[4][16];
            for (int k = 0; k < 4; k++) format_p(range[k], sizeof range[k], r->p_range[k]);
            printf("  %9s – %9s  %9s – %9s", range[0], range[1], range[2], range[3]); /* "–" is 1 column */
        }
        printf("\n");
    }
}

static int stats_ttest(int argc, char **argv) {
    const char *cohort = NULL, *summary = NULL, *out_path = NULL, *by = NULL, *rounding_text = NULL;
    for (int i = 1; i < argc; i += 2) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) return stats_help();
        const char **target = strcmp(opt, "--cohort") == 0         ? &cohort
                              : strcmp(opt, "--from-summary") == 0 ? &summary
                              : strcmp(opt, "--out") == 0          ? &out_path
                              : strcmp(opt, "--by") == 0           ? &by
                              : strcmp(opt, "--rounding") == 0     ? &rounding_text
                                                                   : NULL;
        if (!target) {
            fprintf(stderr, "blasto stats ttest: bad option '%s' (blasto stats --help)\n", opt);
            return 2;
        }
        if (!val) {
            fprintf(stderr, "blasto stats ttest: %s: missing value\n", opt);
            return 2;
        }
        *target = val;
    }
    if (!cohort == !summary) {
        fprintf(stderr, "blasto stats ttest: give exactly one of --cohort and --from-summary (blasto stats --help)\n");
        return 2;
    }
    if (by && (strcmp(by, "clinic") != 0 || !cohort)) {
        fprintf(stderr, "blasto stats ttest: --by: expected 'clinic' with --cohort, got '%s'\n", by);
        return 2;
    }
    double rounding = 0.0;
    if (rounding_text) {
        char *end = NULL;
        errno = 0;
        rounding = strtod(rounding_text, &end);
        if (!summary || errno || end == rounding_text || *end || !(rounding > 0.0 && rounding < 1e6)) {
            fprintf(stderr, "blasto stats ttest: --rounding: expected a number > 0 with --from-summary, got '%s'\n",
                    rounding_text);
            return 2;
        }
    }
    table t = {0, NULL, 0};
    int rc = cohort ? table_from_cohort(cohort, by != NULL, &t) : table_from_summary(summary, rounding, &t);
    if (!rc && out_path) rc = write_csv(&t, out_path);
    if (!rc) print_table(&t);
    table_free(&t);
    return rc;
}

int cmd_stats(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        if (argc < 2) {
            fprintf(stderr, "blasto stats: missing subcommand (expected ttest; blasto stats --help)\n");
            return 2;
        }
        return stats_help();
    }
    if (strcmp(argv[1], "ttest") == 0) return stats_ttest(argc - 1, argv + 1);
    fprintf(stderr, "blasto stats: unknown subcommand '%s' (expected ttest; blasto stats --help)\n", argv[1]);
    return 2;
}
