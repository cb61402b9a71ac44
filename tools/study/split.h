/* split.h — the study's data split: a fixed stratified test set plus K stratified cross-validation folds over the
 * rest (paper-method.md §8: 2555 → 512 test + 3 × 681), written to and read back from a split CSV.
 *
 * The split CSV has the columns id,set,fold:
 *   id    a cohort id (unique)
 *   set   "test" or "train"
 *   fold  0 … K−1 for train rows (the fold in which the row is the validation part), empty for test rows
 *
 * How rows are assigned (bl_split_make; docs/data.md "Split" has the worked example):
 *   1. Strata: rows are grouped by the stratification key (label, label+clinic, clinic, or one group), and the
 *      groups are ordered by key (label 0 before 1, clinics in byte order).
 *   2. Test count per stratum by largest remainder (Hamilton): with N test rows out of n and a stratum of n_s
 *      rows, the quota is N·n_s/n; every stratum first gets ⌊quota⌋, and the N − Σ⌊quota⌋ rows left go one each to
 *      the strata with the largest remainders (N·n_s mod n, compared exactly in integers; ties: larger stratum,
 *      then key order). 2555 rows with 812 positives and N = 512 → 162.73 / 349.27 → 163 positives, 349 negatives.
 *   3. Within a stratum the rows are sorted by id (so the input row order does not matter) and shuffled by
 *      Fisher–Yates with the counter stream (seed, BL_RNG_DATA, stratum number); the first t_s are test rows.
 *   4. Folds: the train rows are dealt to folds 0,1,…,K−1,0,1,… in rotation, stratum after stratum in key order,
 *      each stratum in its shuffled order, the rotation continuing across strata. So the fold sizes differ by at
 *      most 1 overall (2043 → 681/681/681) and within every stratum (1394 negatives → 465/465/464, then the
 *      rotation resumes at fold 2: 649 positives → 216/216/217).
 * Same (seed, ids, labels, clinics) → same split, whatever the row order of the cohort file. */
#ifndef BLASTO_SPLIT_H
#define BLASTO_SPLIT_H

#include <stdint.h>

#include "core/status.h"

/* Stratification keys: a bit set. 0 = no stratification (one stratum). */
enum { BL_STRATIFY_LABEL = 1, BL_STRATIFY_CLINIC = 2 };

typedef struct bl_split_options {
    int test_count;        /* exact number of test rows (0 ≤ N < n); −1: use test_fraction */
    double test_fraction;  /* in [0, 1): N = ⌊F·n + 0.5⌋ (0.2·2555 = 511.0 → 511; the paper used 512) */
    int folds;             /* K ≥ 2 */
    uint64_t seed;
    int stratify;          /* BL_STRATIFY_* bits */
} bl_split_options;

/* Defaults: test_count −1, test_fraction 0.2, folds 3, seed 1, stratify by label. */
void bl_split_options_default(bl_split_options *o);

typedef struct bl_split_row {
    char *id;
    int is_test; /* 1 = test, 0 = train */
    int fold;    /* 0 … folds−1 for train rows, −1 for test rows */
} bl_split_row;

typedef struct bl_split {
    int n;              /* rows, in the order of the cohort (or of the split file when read) */
    bl_split_row *rows;
    int folds;          /* K */
    int n_test;         /* rows with is_test */
} bl_split;

/* The split of n rows. ids [n] (unique, non-empty), labels [n] (0/1; read only when stratifying by label),
 * clinics [n] (strings; read only when stratifying by clinic, may then be NULL otherwise). `what` names the
 * data in messages (the cohort path). Errors: K < 2, N outside [0, n), a duplicate or empty id, a stratum with
 * fewer train rows than folds ("<what>: stratum label=1 clinic=E: 2 rows for training, fewer than the 3 folds
 * (use fewer folds or a coarser --stratify)"). */
bl_status bl_split_make(int n, const char *const *ids, const int *labels, const char *const *clinics,
                        const bl_split_options *o, const char *what, bl_split **out);

/* Read the cohort CSV at `cohort_path` with tools/study/csv.h (only the id, label and — when stratifying by clinic —
 * clinic columns are used; label must be exactly 0 or 1) and split it. Errors name the file, the line and the
 * column: "<csv>: line 7: column 'label': expected 0 or 1 (got '2')". */
bl_status bl_split_cohort_file(const char *cohort_path, const bl_split_options *o, bl_split **out);

/* Write id,set,fold in row order (atomic). */
bl_status bl_split_write(const bl_split *s, const char *path);

/* Read a split CSV back and validate it: columns id,set,fold present; ids non-empty and unique; set test|train;
 * train rows have an integer fold in [0, K), test rows an empty fold; every fold 0 … K−1 has at least one row;
 * K ≥ 2. K is taken from the file (largest fold + 1) when expected_folds is 0, else it must equal expected_folds. */
bl_status bl_split_read(const char *path, int expected_folds, bl_split **out);

void bl_split_free(bl_split *s);

/* Index of the row with this id, or −1 (linear search). */
int bl_split_find(const bl_split *s, const char *id);

/* The role of a row when training the model of fold k: test rows are TEST for every fold; train rows are
 * VALIDATION in their own fold and TRAIN in the other K−1. */
typedef enum bl_split_role { BL_ROLE_TRAIN = 0, BL_ROLE_VALIDATION = 1, BL_ROLE_TEST = 2 } bl_split_role;
bl_split_role bl_split_role_of(const bl_split *s, int row, int fold);

/* The cohort rows a command works on: every row (split NULL), or the rows of `set`: "test" the test rows, "train"
 * the train rows (only fold `fold` when fold ≥ 0), "validation" fold `fold` of the train rows. Every id of the
 * split must be in the cohort (the error names the split's line) and fold must be < the split's folds.
 * indices [cohort->n] receive the chosen rows' positions in cohort order, *n their count; none chosen is an
 * error. */
struct bl_cohort;
bl_status bl_split_select(const struct bl_cohort *cohort, const bl_split *split, const char *split_path,
                          const char *set, int fold, int *indices, int *n);

#endif
