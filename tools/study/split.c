/* split.c — stratified test set + K-fold cross-validation split, and the split CSV (see split.h for the rules).
 * This file reads the cohort CSV itself through tools/study/csv.h (only id, label, clinic); it does not use
 * tools/study/cohort.c, so a split can be made from any CSV with those columns. */
#include "study/split.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "study/cohort.h"
#include "study/csv.h"

void bl_split_options_default(bl_split_options *o) {
    o->test_count = -1;
    o->test_fraction = 0.2;
    o->folds = 3;
    o->seed = 1;
    o->stratify = BL_STRATIFY_LABEL;
}

void bl_split_free(bl_split *s) {
    if (!s) return;
    for (int i = 0; i < s->n; i++) free(s->rows[i].id);
    free(s->rows);
    free(s);
}

int bl_split_find(const bl_split *s, const char *id) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->rows[i].id, id) == 0) return i;
    return -1;
}

bl_split_role bl_split_role_of(const bl_split *s, int row, int fold) {
    if (s->rows[row].is_test) return BL_ROLE_TEST;
    return s->rows[row].fold == fold ? BL_ROLE_VALIDATION : BL_ROLE_TRAIN;
}

/* ---- sorting helpers: qsort with a context through a file-static pointer is not thread safe, so the sort keys
 * are materialised in small structs instead ---- */

typedef struct keyed_row {
    int row;          /* index into the caller's arrays */
    int label;        /* stratum key part (0 when not stratifying by label) */
    const char *clinic; /* stratum key part ("" when not stratifying by clinic) */
    const char *id;
} keyed_row;

static int compare_by_id(const void *a, const void *b) {
    const keyed_row *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->row > y->row) - (x->row < y->row);
}

/* stratum key order (label, then clinic bytes), then id: rows of one stratum become one run, sorted by id */
static int compare_by_stratum_then_id(const void *a, const void *b) {
    const keyed_row *x = a, *y = b;
    if (x->label != y->label) return x->label < y->label ? -1 : 1;
    int c = strcmp(x->clinic, y->clinic);
    return c ? c : compare_by_id(a, b);
}

static int same_stratum(const keyed_row *x, const keyed_row *y) {
    return x->label == y->label && strcmp(x->clinic, y->clinic) == 0;
}

/* Find a duplicate id among n ids: returns 1 and the two row indices (first < second), else 0. `sorted` is
 * scratch [n]. */
static int find_duplicate_id(int n, const char *const *ids, keyed_row *sorted, int *first, int *second) {
    for (int i = 0; i < n; i++) sorted[i] = (keyed_row){.row = i, .id = ids[i]};
    qsort(sorted, (size_t)n, sizeof *sorted, compare_by_id);
    for (int i = 1; i < n; i++)
        if (strcmp(sorted[i - 1].id, sorted[i].id) == 0) {
            *first = sorted[i - 1].row;
            *second = sorted[i].row;
            return 1;
        }
    return 0;
}

/* "label=1 clinic=E" */
static void describe_stratum(const keyed_row *r, int stratify, char *buf, size_t size) {
    if (!stratify) {
        snprintf(buf, size, "all rows");
        return;
    }
    int k = 0;
    if (stratify & BL_STRATIFY_LABEL) k = snprintf(buf, size, "label=%d", r->label);
    if (stratify & BL_STRATIFY_CLINIC) snprintf(buf + k, size - (size_t)k, "%sclinic=%s", k ? " " : "", r->clinic);
}

/* ---- the split ---- */

typedef struct stratum {
    int start, count; /* run [start, start+count) of the stratum-sorted rows */
    int test;         /* test rows allotted */
    long long remainder; /* N·count mod n: the fractional part of the quota, in units of 1/n */
} stratum;

/* Largest-remainder order: larger remainder first, then larger stratum, then key order (= start). */
static int compare_remainders(const void *a, const void *b) {
    const stratum *x = a, *y = b;
    if (x->remainder != y->remainder) return x->remainder > y->remainder ? -1 : 1;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return (x->start > y->start) - (x->start < y->start);
}

static int compare_starts(const void *a, const void *b) {
    const stratum *x = a, *y = b;
    return (x->start > y->start) - (x->start < y->start);
}

/* Fisher–Yates on rows[0..count) with draws from `rng`; j = u64 mod (i+1) (bias < count/2^64, negligible). */
static void shuffle_rows(keyed_row *rows, int count, bl_rng *rng) {
    for (int i = count - 1; i > 0; i--) {
        int j = (int)(bl_rng_next_u64(rng) % (uint64_t)(i + 1));
        keyed_row t = rows[i];
        rows[i] = rows[j];
        rows[j] = t;
    }
}

static int test_count_of(int n, const bl_split_options *o) {
    if (o->test_count >= 0) return o->test_count;
    return (int)floor(o->test_fraction * (double)n + 0.5);
}

bl_status bl_split_make(int n, const char *const *ids, const int *labels, const char *const *clinics,
                        const bl_split_options *o, const char *what, bl_split **out) {
    *out = NULL;
    if (o->folds < 2)
        return bl_fail(BL_ERR_INVALID, "%s: folds: need at least 2 cross-validation folds (got %d)", what, o->folds);
    if (o->test_count < 0 && !(o->test_fraction >= 0.0 && o->test_fraction < 1.0))
        return bl_fail(BL_ERR_INVALID, "%s: test fraction: expected a number in [0, 1) (got %g)", what,
                       o->test_fraction);
    if (n < 1) return bl_fail(BL_ERR_INVALID, "%s: no rows to split", what);
    int n_test = test_count_of(n, o);
    if (n_test >= n)
        return bl_fail(BL_ERR_INVALID, "%s: test count: %d test rows out of %d leave nothing to train on (expected "
                       "0 ≤ N < %d)", what, n_test, n, n);
    if ((o->stratify & BL_STRATIFY_CLINIC) && !clinics)
        return bl_fail(BL_ERR_INVALID, "%s: stratify by clinic: no clinic column given", what);
    if ((o->stratify & BL_STRATIFY_LABEL) && !labels)
        return bl_fail(BL_ERR_INVALID, "%s: stratify by label: no label column given", what);

    bl_status st = BL_OK;
    keyed_row *rows = malloc((size_t)n * sizeof *rows);
    stratum *strata = malloc((size_t)n * sizeof *strata);
    bl_split *s = calloc(1, sizeof *s);
    if (s) s->rows = calloc((size_t)n, sizeof *s->rows);
    if (!rows || !strata || !s || !s->rows) {
        st = bl_fail(BL_ERR_NOMEM, "%s: out of memory splitting %d rows", what, n);
        goto done;
    }
    s->n = n;
    s->folds = o->folds;
    s->n_test = n_test;
    for (int i = 0; i < n; i++) {
        if (!ids[i] || !ids[i][0]) {
            st = bl_fail(BL_ERR_FORMAT, "%s: row %d: empty id", what, i + 1);
            goto done;
        }
        if ((o->stratify & BL_STRATIFY_LABEL) && labels[i] != 0 && labels[i] != 1) {
            st = bl_fail(BL_ERR_FORMAT, "%s: row %d: label: expected 0 or 1 (got %d)", what, i + 1, labels[i]);
            goto done;
        }
    }
    int dup_a, dup_b;
    if (find_duplicate_id(n, ids, rows, &dup_a, &dup_b)) {
        st = bl_fail(BL_ERR_FORMAT, "%s: rows %d and %d: duplicate id '%s'", what, dup_a + 1, dup_b + 1, ids[dup_a]);
        goto done;
    }

    /* 1. strata as runs of the (stratum, id)-sorted rows */
    for (int i = 0; i < n; i++)
        rows[i] = (keyed_row){.row = i,
                              .label = (o->stratify & BL_STRATIFY_LABEL) ? labels[i] : 0,
                              .clinic = (o->stratify & BL_STRATIFY_CLINIC) ? clinics[i] : "",
                              .id = ids[i]};
    qsort(rows, (size_t)n, sizeof *rows, compare_by_stratum_then_id);
    int n_strata = 0;
    for (int i = 0; i < n; i++) {
        if (i == 0 || !same_stratum(&rows[i - 1], &rows[i])) strata[n_strata++] = (stratum){.start = i};
        strata[n_strata - 1].count++;
    }

    /* 2. test rows per stratum: floor of the quota, then the leftovers by largest remainder */
    int allotted = 0;
    for (int k = 0; k < n_strata; k++) {
        long long product = (long long)n_test * strata[k].count;
        strata[k].test = (int)(product / n);
        strata[k].remainder = product % n;
        allotted += strata[k].test;
    }
    qsort(strata, (size_t)n_strata, sizeof *strata, compare_remainders);
    for (int k = 0; allotted < n_test; k++, allotted++) strata[k].test++; /* at most n_strata − 1 leftovers */
    qsort(strata, (size_t)n_strata, sizeof *strata, compare_starts);

    /* 3. shuffle each stratum; 4. test rows first, then deal the rest to folds in rotation across strata */
    int next_fold = 0;
    for (int k = 0; k < n_strata; k++) {
        const stratum *g = &strata[k];
        int train = g->count - g->test;
        if (train < o->folds) {
            char key[256];
            describe_stratum(&rows[g->start], o->stratify, key, sizeof key);
            st = bl_fail(BL_ERR_INVALID, "%s: stratum %s: %d of its %d rows left for training, fewer than the %d "
                         "folds (use fewer folds, fewer test rows or a coarser --stratify)", what, key, train,
                         g->count, o->folds);
            goto done;
        }
        bl_rng rng = bl_rng_stream(o->seed, BL_RNG_DATA, (uint64_t)k);
        shuffle_rows(rows + g->start, g->count, &rng);
        for (int i = 0; i < g->count; i++) {
            bl_split_row *r = &s->rows[rows[g->start + i].row];
            if (i < g->test) {
                r->is_test = 1;
                r->fold = -1;
            } else {
                r->fold = next_fold;
                next_fold = (next_fold + 1) % o->folds;
            }
        }
    }
    for (int i = 0; i < n; i++)
        if (!(s->rows[i].id = strdup(ids[i]))) {
            st = bl_fail(BL_ERR_NOMEM, "%s: out of memory", what);
            goto done;
        }

done:
    free(rows);
    free(strata);
    if (st) {
        bl_split_free(s);
        return st;
    }
    *out = s;
    return BL_OK;
}

/* ---- from a cohort CSV ---- */

bl_status bl_split_cohort_file(const char *cohort_path, const bl_split_options *o, bl_split **out) {
    *out = NULL;
    bl_csv *csv = NULL;
    bl_status st = bl_csv_read(cohort_path, &csv);
    if (st) return st;
    int by_clinic = (o->stratify & BL_STRATIFY_CLINIC) != 0;
    const char *required[3] = {"id", "label", "clinic"};
    if ((st = bl_csv_require(csv, by_clinic ? 3 : 2, required))) {
        bl_csv_free(csv);
        return st;
    }
    int col_id = bl_csv_column(csv, "id"), col_label = bl_csv_column(csv, "label");
    int col_clinic = by_clinic ? bl_csv_column(csv, "clinic") : -1;
    int n = csv->n_rows;
    const char **ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
    const char **clinics = malloc((size_t)(n ? n : 1) * sizeof *clinics);
    int *labels = malloc((size_t)(n ? n : 1) * sizeof *labels);
    keyed_row *scratch = malloc((size_t)(n ? n : 1) * sizeof *scratch);
    if (!ids || !clinics || !labels || !scratch) {
        st = bl_fail(BL_ERR_NOMEM, "%s: out of memory reading %d rows", cohort_path, n);
        goto done;
    }
    if (n == 0) {
        st = bl_fail(BL_ERR_FORMAT, "%s: no data rows (expected at least one row after the header)", cohort_path);
        goto done;
    }
    /* every row checked here, so messages carry the file's line numbers */
    for (int i = 0; i < n; i++) {
        char **f = csv->rows[i];
        ids[i] = f[col_id];
        clinics[i] = by_clinic ? f[col_clinic] : "";
        /* the cohort reader's own rules for ids and labels: a split is never made of rows the readers refuse */
        if ((st = bl_cohort_check_id(cohort_path, csv->row_line[i], ids[i])) ||
            (st = bl_cohort_parse_label(cohort_path, csv->row_line[i], f[col_label], &labels[i])))
            goto done;
    }
    int a, b;
    if (find_duplicate_id(n, ids, scratch, &a, &b)) {
        st = bl_fail(BL_ERR_FORMAT, "%s: line %d: column 'id': duplicate id '%s' (first on line %d)", cohort_path,
                     csv->row_line[b], ids[b], csv->row_line[a]);
        goto done;
    }
    st = bl_split_make(n, ids, labels, clinics, o, cohort_path, out);
done:
    free(ids);
    free(clinics);
    free(labels);
    free(scratch);
    bl_csv_free(csv);
    return st;
}

/* ---- the split CSV ---- */

bl_status bl_split_write(const bl_split *s, const char *path) {
    const char *header[3] = {"id", "set", "fold"};
    bl_csv_writer *w = NULL;
    bl_status st = bl_csv_writer_create(3, header, &w);
    for (int i = 0; !st && i < s->n; i++) {
        char fold[16] = "";
        if (!s->rows[i].is_test) snprintf(fold, sizeof fold, "%d", s->rows[i].fold);
        const char *fields[3] = {s->rows[i].id, s->rows[i].is_test ? "test" : "train", fold};
        st = bl_csv_writer_add(w, fields);
    }
    if (!st) st = bl_csv_writer_save(w, path);
    bl_csv_writer_free(w);
    return st;
}

/* a fold field: 1 to 9 decimal digits */
static int parse_fold(const char *text, int *fold) {
    if (!text[0] || strlen(text) > 9) return 0;
    for (const char *p = text; *p; p++)
        if (*p < '0' || *p > '9') return 0;
    *fold = atoi(text);
    return 1;
}

bl_status bl_split_read(const char *path, int expected_folds, bl_split **out) {
    *out = NULL;
    bl_csv *csv = NULL;
    bl_status st = bl_csv_read(path, &csv);
    if (st) return st;
    const char *required[3] = {"id", "set", "fold"};
    if ((st = bl_csv_require(csv, 3, required))) {
        bl_csv_free(csv);
        return st;
    }
    int col_id = bl_csv_column(csv, "id"), col_set = bl_csv_column(csv, "set"), col_fold = bl_csv_column(csv, "fold");
    int n = csv->n_rows;
    bl_split *s = calloc(1, sizeof *s);
    const char **ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
    keyed_row *scratch = malloc((size_t)(n ? n : 1) * sizeof *scratch);
    int *fold_rows = NULL;
    if (s) s->rows = calloc((size_t)(n ? n : 1), sizeof *s->rows);
    if (!s || !s->rows || !ids || !scratch) {
        st = bl_fail(BL_ERR_NOMEM, "%s: out of memory reading %d rows", path, n);
        goto done;
    }
    if (n == 0) {
        st = bl_fail(BL_ERR_FORMAT, "%s: no data rows (expected one row per cohort id)", path);
        goto done;
    }
    int max_fold = -1, max_fold_line = 0;
    for (int i = 0; i < n; i++) {
        char **f = csv->rows[i];
        int line = csv->row_line[i];
        ids[i] = f[col_id];
        if (!ids[i][0]) {
            st = bl_fail(BL_ERR_FORMAT, "%s: line %d: column 'id': empty id", path, line);
            goto done;
        }
        bl_split_row *r = &s->rows[i];
        if (strcmp(f[col_set], "test") == 0) {
            r->is_test = 1;
            r->fold = -1;
            if (f[col_fold][0]) {
                st = bl_fail(BL_ERR_FORMAT, "%s: line %d: column 'fold': test rows have no fold (expected empty, got "
                             "'%s')", path, line, f[col_fold]);
                goto done;
            }
            s->n_test++;
        } else if (strcmp(f[col_set], "train") == 0) {
            if (!parse_fold(f[col_fold], &r->fold)) {
                st = bl_fail(BL_ERR_FORMAT, "%s: line %d: column 'fold': expected a fold number 0, 1, … (got '%s')",
                             path, line, f[col_fold]);
                goto done;
            }
            if (r->fold > max_fold) max_fold = r->fold, max_fold_line = line;
        } else {
            st = bl_fail(BL_ERR_FORMAT, "%s: line %d: column 'set': expected test or train (got '%s')", path, line,
                         f[col_set]);
            goto done;
        }
    }
    int a, b;
    if (find_duplicate_id(n, ids, scratch, &a, &b)) {
        st = bl_fail(BL_ERR_FORMAT, "%s: line %d: column 'id': duplicate id '%s' (first on line %d)", path,
                     csv->row_line[b], ids[b], csv->row_line[a]);
        goto done;
    }
    int folds = max_fold + 1;
    if (expected_folds > 0 && folds > expected_folds) {
        st = bl_fail(BL_ERR_FORMAT, "%s: line %d: column 'fold': fold %d out of range (expected 0 … %d for %d folds)",
                     path, max_fold_line, max_fold, expected_folds - 1, expected_folds);
        goto done;
    }
    if (expected_folds > 0) folds = expected_folds;
    if (folds < 2) {
        st = bl_fail(BL_ERR_FORMAT, "%s: column 'fold': %d fold(s) (expected at least 2 cross-validation folds)", path,
                     folds < 0 ? 0 : folds);
        goto done;
    }
    fold_rows = calloc((size_t)folds, sizeof *fold_rows);
    if (!fold_rows) {
        st = bl_fail(BL_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (int i = 0; i < n; i++)
        if (!s->rows[i].is_test) fold_rows[s->rows[i].fold]++;
    for (int k = 0; k < folds; k++)
        if (!fold_rows[k]) {
            st = bl_fail(BL_ERR_FORMAT, "%s: column 'fold': fold %d has no rows (expected every fold 0 … %d used)",
                         path, k, folds - 1);
            goto done;
        }
    s->folds = folds;
    s->n = n; /* ids not yet copied are NULL, which bl_split_free accepts */
    for (int i = 0; i < n; i++)
        if (!(s->rows[i].id = strdup(ids[i]))) {
            st = bl_fail(BL_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
done:
    free(ids);
    free(scratch);
    free(fold_rows);
    bl_csv_free(csv);
    if (st) {
        bl_split_free(s);
        return st;
    }
    *out = s;
    return BL_OK;
}

bl_status bl_split_select(const bl_cohort *cohort, const bl_split *split, const char *split_path, const char *set,
                          int fold, int *indices, int *n) {
    *n = 0;
    if (split && fold >= split->folds)
        return bl_fail(BL_ERR_INVALID, "%s: --fold %d out of range (the split has %d folds: 0 … %d)", split_path, fold,
                       split->folds, split->folds - 1);
    for (int i = 0; split && i < split->n; i++)
        if (bl_cohort_find(cohort, split->rows[i].id) < 0)
            return bl_fail(BL_ERR_FORMAT, "%s: line %d: column 'id': '%s' is not in the cohort %s", split_path, i + 2,
                           split->rows[i].id, cohort->path);
    for (int i = 0; i < cohort->n; i++) {
        int keep = 1;
        if (split) {
            int k = bl_split_find(split, cohort->rows[i].id);
            if (k < 0) keep = 0;
            else if (!strcmp(set, "test")) keep = split->rows[k].is_test;
            else keep = !split->rows[k].is_test && (fold < 0 || split->rows[k].fold == fold);
        }
        if (keep) indices[(*n)++] = i;
    }
    if (*n == 0)
        return bl_fail(BL_ERR_INVALID, "%s: no rows selected (set %s, fold %d)", cohort->path, set ? set : "all", fold);
    return BL_OK;
}
