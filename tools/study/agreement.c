/* agreement.c — Table 3 of the paper: focus rates of two models by agreement category, McNemar's test on the paired
 * focus hits (exact binomial and continuity-corrected chi-square, as statsmodels.stats.contingency_tables.mcnemar),
 * and the matching of the four input files by id. Definitions: agreement.h; docs/statistics.md. */
#include "study/agreement.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "study/csv.h"
#include "study/predictions.h"
#include "study/stats.h"

const char *bl_agreement_category_key(bl_agreement_category c) {
    static const char *const keys[BL_AGREE_CATEGORIES] = {"both_correct", "both_wrong", "only_a_correct",
                                                         "only_b_correct", "total"};
    return (int)c >= 0 && c < BL_AGREE_CATEGORIES ? keys[c] : "?";
}

/* ---- binomial tail and McNemar ------------------------------------------------------------------------------- */

double bl_binomial_half_cdf(int k, int m) {
    if (m < 0 || k < 0) return k < 0 ? 0.0 : NAN;
    if (k >= m) return 1.0;
    if (2 * (long)k > m) return 1.0 - bl_binomial_half_cdf(m - k - 1, m); /* P(X ≤ k) = 1 − P(X ≥ k+1) */
    /* C(m,k) = Π_{j=1..k} (m−k+j)/j as mantissa · 2^exponent */
    double mantissa = 1.0;
    int exponent = 0;
    for (int j = 1; j <= k; j++) {
        int e;
        mantissa = frexp(mantissa * ((double)(m - k + j) / (double)j), &e);
        exponent += e;
    }
    /* Σ_{i ≤ k} C(m,i)/C(m,k): going down, term_{i−1} = term_i · i/(m − i + 1); terms fall at least geometrically
     * once i < m/2, so stop when one no longer changes the sum. */
    double sum = 1.0, term = 1.0;
    for (int i = k; i > 0; i--) {
        term *= (double)i / (double)(m - i + 1);
        double next = sum + term;
        if (next == sum) break;
        sum = next;
    }
    return ldexp(mantissa * sum, exponent - m);
}

bl_status bl_mcnemar_test(int b, int c, bl_mcnemar *out) {
    if (b < 0 || c < 0 || (long)b + c > 0x7fffffffL)
        return bl_fail(BL_ERR_INVALID, "mcnemar: counts: must be non-negative (expected b, c >= 0, got %d, %d)", b,
                       c);
    out->b = b, out->c = c;
    int m = b + c;
    double p = 2.0 * bl_binomial_half_cdf(b < c ? b : c, m);
    out->p_exact = p < 1.0 ? p : 1.0;
    if (m == 0) {
        out->chi2 = out->p_chi2 = NAN;
    } else {
        double d = fabs((double)b - (double)c) - 1.0;
        out->chi2 = d * d / (double)m;
        out->p_chi2 = bl_chi2_sf(out->chi2, 1.0);
    }
    return BL_OK;
}

/* ---- the table ------------------------------------------------------------------------------------------------ */

bl_status bl_agreement_compute(int n, const int *label, const double *score_a, const double *score_b,
                               const int *hit_a, const int *hit_b, double threshold, bl_agreement *out) {
    if (n < 0) return bl_fail(BL_ERR_INVALID, "agreement: n: must be >= 0 (got %d)", n);
    if (!isfinite(threshold))
        return bl_fail(BL_ERR_INVALID, "agreement: threshold: must be finite (got %g)", threshold);
    memset(out, 0, sizeof *out);
    out->threshold = threshold;
    int b[BL_AGREE_CATEGORIES] = {0}, c[BL_AGREE_CATEGORIES] = {0};
    for (int i = 0; i < n; i++) {
        if ((label[i] != 0 && label[i] != 1) || (hit_a[i] != 0 && hit_a[i] != 1) || (hit_b[i] != 0 && hit_b[i] != 1))
            return bl_fail(BL_ERR_INVALID, "agreement: row %d: label and hits must be 0 or 1 (got %d, %d, %d)", i,
                           label[i], hit_a[i], hit_b[i]);
        if (!isfinite(score_a[i]) || !isfinite(score_b[i]))
            return bl_fail(BL_ERR_INVALID, "agreement: row %d: scores must be finite (got %g, %g)", i, score_a[i],
                           score_b[i]);
        int ok_a = (score_a[i] >= threshold) == (label[i] == 1);
        int ok_b = (score_b[i] >= threshold) == (label[i] == 1);
        out->correct_a += ok_a, out->correct_b += ok_b;
        bl_agreement_category cat = ok_a ? (ok_b ? BL_AGREE_BOTH_CORRECT : BL_AGREE_ONLY_A_CORRECT)
                                         : (ok_b ? BL_AGREE_ONLY_B_CORRECT : BL_AGREE_BOTH_WRONG);
        bl_agreement_category both[2] = {cat, BL_AGREE_TOTAL};
        for (int k = 0; k < 2; k++) {
            bl_agreement_cell *cell = &out->cell[both[k]];
            cell->n++, cell->hits_a += hit_a[i], cell->hits_b += hit_b[i];
            b[both[k]] += hit_a[i] && !hit_b[i];
            c[both[k]] += !hit_a[i] && hit_b[i];
        }
    }
    for (int k = 0; k < BL_AGREE_CATEGORIES; k++) {
        bl_agreement_cell *cell = &out->cell[k];
        cell->rate_a = cell->n ? (double)cell->hits_a / cell->n : NAN;
        cell->rate_b = cell->n ? (double)cell->hits_b / cell->n : NAN;
        bl_status st = bl_mcnemar_test(b[k], c[k], &cell->mcnemar);
        if (st) return st;
    }
    return BL_OK;
}

/* ---- the four files --------------------------------------------------------------------------------------------- */

static const bl_predictions *sort_ids_of; /* qsort has no context argument */
static int compare_ids(const void *x, const void *y) {
    return strcmp(sort_ids_of->rows[*(const int *)x].id, sort_ids_of->rows[*(const int *)y].id);
}

/* Row of `id` in ref via order (ref's row indices sorted by id), or −1. order: [ref->n] (read). */
static int find_id(const bl_predictions *ref, const int *order, const char *id) {
    int lo = 0, hi = ref->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, cmp = strcmp(ref->rows[order[mid]].id, id);
        if (cmp == 0) return order[mid];
        if (cmp < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

/* Places one row of `path` (id, label or −1 when absent, line or 0 when unknown) onto its row in ref; seen: [ref->n]
 * 0/1 (updated). Returns ref's row or −1 after bl_fail. */
static int place(const bl_predictions *ref, const int *order, char *seen, const char *path, int line, const char *id,
                 int label) {
    char where[64] = "";
    if (line > 0) snprintf(where, sizeof where, "line %d: ", line);
    int r = find_id(ref, order, id);
    if (r < 0) {
        bl_fail(BL_ERR_FORMAT, "%s: %sid '%s' is not in %s (expected the same ids in all four files)", path, where,
                id, ref->path);
        return -1;
    }
    if (seen[r]) {
        bl_fail(BL_ERR_FORMAT, "%s: %sid '%s' appears twice (expected unique ids)", path, where, id);
        return -1;
    }
    if (label >= 0 && label != ref->rows[r].label) {
        bl_fail(BL_ERR_FORMAT, "%s: %slabel of '%s': differs from %s (expected %d, got %d)", path, where, id,
                ref->path, ref->rows[r].label, label);
        return -1;
    }
    seen[r] = 1;
    return r;
}

/* After placing every row of `path`: fail on an id of ref that it lacks. */
static bl_status check_complete(const bl_predictions *ref, const char *seen, const char *path) {
    for (int r = 0; r < ref->n; r++)
        if (!seen[r])
            return bl_fail(BL_ERR_FORMAT, "%s: id '%s' of %s is missing (expected the same ids in all four files)",
                           path, ref->rows[r].id, ref->path);
    return BL_OK;
}

/* Reads a focus CSV onto ref's rows: hit: [ref->n] (written). */
static bl_status read_focus(const bl_predictions *ref, const int *order, char *seen, const char *path, int *hit) {
    bl_csv *csv = NULL;
    bl_status st = bl_csv_read(path, &csv);
    if (st) return st;
    static const char *const required[] = {"id", "hit"};
    if ((st = bl_csv_require(csv, 2, required))) {
        bl_csv_free(csv);
        return st;
    }
    int col_id = bl_csv_column(csv, "id"), col_hit = bl_csv_column(csv, "hit");
    int col_label = bl_csv_column(csv, "label");
    memset(seen, 0, (size_t)ref->n);
    for (int i = 0; i < csv->n_rows && !st; i++) {
        const char *const *row = (const char *const *)csv->rows[i];
        int line = csv->row_line[i], label = -1;
        if (col_label >= 0) {
            const char *text = row[col_label];
            if (strcmp(text, "0") != 0 && strcmp(text, "1") != 0) {
                st = bl_fail(BL_ERR_FORMAT, "%s: line %d: column label: not a class (expected 0 or 1, got '%s')",
                             path, line, text);
                break;
            }
            label = text[0] - '0';
        }
        const char *text = row[col_hit];
        if (strcmp(text, "0") != 0 && strcmp(text, "1") != 0) {
            st = bl_fail(BL_ERR_FORMAT, "%s: line %d: column hit: not a pointing-game hit (expected 0 or 1, got '%s')",
                         path, line, text);
            break;
        }
        int r = place(ref, order, seen, path, line, row[col_id], label);
        if (r < 0) st = BL_ERR_FORMAT;
        else hit[r] = text[0] - '0';
    }
    if (!st) st = check_complete(ref, seen, path);
    bl_csv_free(csv);
    return st;
}

bl_status bl_agreement_from_files(const char *pred_a, const char *focus_a, const char *pred_b, const char *focus_b,
                                  double threshold, bl_agreement *out) {
    bl_predictions *a = NULL, *b = NULL;
    bl_status st = bl_predictions_read(pred_a, &a);
    if (!st) st = bl_predictions_read(pred_b, &b);
    if (st) {
        bl_predictions_free(a);
        return st;
    }
    int n = a->n;
    size_t count = n > 0 ? (size_t)n : 1;
    int *order = malloc(count * sizeof *order), *label = malloc(count * sizeof *label);
    int *hit_a = malloc(count * sizeof *hit_a), *hit_b = malloc(count * sizeof *hit_b);
    double *score_a = malloc(count * sizeof *score_a), *score_b = malloc(count * sizeof *score_b);
    char *seen = calloc(count, 1);
    if (!order || !label || !hit_a || !hit_b || !score_a || !score_b || !seen) {
        st = bl_fail(BL_ERR_NOMEM, "agreement: out of memory for %d rows", n);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        order[i] = i, label[i] = a->rows[i].label, score_a[i] = a->rows[i].score;
    }
    sort_ids_of = a;
    qsort(order, (size_t)n, sizeof *order, compare_ids);
    for (int i = 0; i < b->n && !st; i++) {
        int r = place(a, order, seen, pred_b, 0, b->rows[i].id, b->rows[i].label);
        if (r < 0) st = BL_ERR_FORMAT;
        else score_b[r] = b->rows[i].score;
    }
    if (!st) st = check_complete(a, seen, pred_b);
    if (!st) st = read_focus(a, order, seen, focus_a, hit_a);
    if (!st) st = read_focus(a, order, seen, focus_b, hit_b);
    if (!st) st = bl_agreement_compute(n, label, score_a, score_b, hit_a, hit_b, threshold, out);
done:
    free(order), free(label), free(hit_a), free(hit_b), free(score_a), free(score_b), free(seen);
    bl_predictions_free(a);
    bl_predictions_free(b);
    return st;
}

bl_status bl_agreement_write_csv(const bl_agreement *t, const char *name_a, const char *name_b, const char *path) {
    static const char *const header[13] = {"category", "n", "model_a", "hits_a", "rate_a", "model_b", "hits_b",
                                           "rate_b", "mcnemar_b", "mcnemar_c", "mcnemar_exact_p", "mcnemar_chi2",
                                           "mcnemar_chi2_p"};
    bl_csv_writer *w = NULL;
    bl_status st = bl_csv_writer_create(13, header, &w);
    for (int k = 0; k < BL_AGREE_CATEGORIES && !st; k++) {
        const bl_agreement_cell *c = &t->cell[k];
        char n[16], ha[16], hb[16], b[16], cc[16], ra[40], rb[40], pe[40], x2[40], pc[40];
        snprintf(n, sizeof n, "%d", c->n);
        snprintf(ha, sizeof ha, "%d", c->hits_a);
        snprintf(hb, sizeof hb, "%d", c->hits_b);
        snprintf(b, sizeof b, "%d", c->mcnemar.b);
        snprintf(cc, sizeof cc, "%d", c->mcnemar.c);
        const char *row[13] = {bl_agreement_category_key((bl_agreement_category)k), n, name_a, ha,
                               bl_format_exact(ra, sizeof ra, c->rate_a), name_b, hb,
                               bl_format_exact(rb, sizeof rb, c->rate_b), b, cc,
                               bl_format_exact(pe, sizeof pe, c->mcnemar.p_exact),
                               bl_format_exact(x2, sizeof x2, c->mcnemar.chi2),
                               bl_format_exact(pc, sizeof pc, c->mcnemar.p_chi2)};
        st = bl_csv_writer_add(w, row);
    }
    if (!st) st = bl_csv_writer_save(w, path);
    bl_csv_writer_free(w);
    return st;
}
