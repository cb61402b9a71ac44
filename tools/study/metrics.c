/* metrics.c — AUROC, DeLong variance and paired test, Youden's threshold and the confusion matrix at a threshold.
 *
 * Each quantity follows one reference arithmetic step by step, so the results agree with it to the last bits
 * where the reference's arithmetic is reproducible (docs/statistics.md, "AUROC and DeLong"):
 *   - AUROC: sklearn 1.2 roc_auc_score → roc_curve (distinct thresholds, drop_intermediate) → auc (np.trapz, whose
 *     final sum is numpy's pairwise summation, reproduced by pairwise_sum below).
 *   - DeLong: the fast algorithm of Sun & Xu (2014) with midranks, as in yandexdataschool/roc_comparison
 *     (fastDeLong); np.cov with ddof 1 (its dot product goes through BLAS, whose summation order we cannot
 *     reproduce, so variances agree to ~1e-16 relative rather than bitwise).
 * What this file is not: it does not read files (tools/study/predictions.h) and does not compute calibration
 * statistics (tools/study/stats.h, tools/study/calibration.h). */
#include "study/metrics.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* z such that Φ(z) = 0.975, R's qnorm(0.975) as used by pROC's ci.auc(method = "delong"). */
#define Z_975 1.959963984540054

/* ---- shared helpers ------------------------------------------------------------------------------------------ */

/* numpy's pairwise summation (umath loops: blocks of 8 partial sums up to 128 elements, halves above), which is
 * what np.sum / np.add.reduce / np.trapz use on a contiguous float64 array.
 * x: [n] read. */
static double pairwise_sum(const double *x, int64_t n) {
    if (n < 8) {
        double sum = 0.0;
        for (int64_t i = 0; i < n; i++) sum += x[i];
        return sum;
    }
    if (n <= 128) {
        double r[8];
        for (int j = 0; j < 8; j++) r[j] = x[j];
        int64_t i = 8;
        for (; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) r[j] += x[i + j];
        double sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) sum += x[i];
        return sum;
    }
    int64_t half = n / 2;
    half -= half % 8;
    return pairwise_sum(x, half) + pairwise_sum(x + half, n - half);
}

/* Labels 0/1, scores finite, both classes present (when need_both). Counts positives into *n_pos. */
static bl_status check_inputs(const char *what, int n, const double *score, const int *label, int need_both,
                              int *n_pos) {
    if (n < 1 || !score || !label)
        return bl_fail(BL_ERR_INVALID, "%s: no samples (expected n >= 1, got %d)", what, n);
    int pos = 0;
    for (int i = 0; i < n; i++) {
        if (label[i] != 0 && label[i] != 1)
            return bl_fail(BL_ERR_INVALID, "%s: label[%d]: expected 0 or 1, got %d", what, i, label[i]);
        if (!isfinite(score[i]))
            return bl_fail(BL_ERR_NUMERIC, "%s: score[%d]: expected a finite number, got %g", what, i, score[i]);
        pos += label[i];
    }
    if (need_both && (pos == 0 || pos == n))
        return bl_fail(BL_ERR_INVALID, "AUROC is undefined with a single class (n_pos = %d, n_neg = %d)", pos,
                       n - pos);
    *n_pos = pos;
    return BL_OK;
}

typedef struct scored {
    double score;
    int label;
    int index;
} scored;

/* Descending score; ties by index so the order (and so every sum) is deterministic. */
static int by_score_descending(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->score > y->score) return -1;
    if (x->score < y->score) return 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* ---- ROC curve (sklearn roc_curve with drop_intermediate = True) ---------------------------------------------- */

typedef struct roc_curve {
    int count;          /* points, including the leading (0, 0) */
    double *fpr, *tpr;  /* [count] */
    double *threshold;  /* [count]; threshold[0] = threshold[1] + 1 (sklearn 1.2: "nobody is positive") */
} roc_curve;

static void roc_free(roc_curve *roc) {
    free(roc->fpr);
    free(roc->tpr);
    free(roc->threshold);
}

/* score, label: [n] read. Both classes must be present (checked by the caller). Fills *roc (caller frees). */
static bl_status roc_compute(int n, const double *score, const int *label, roc_curve *roc) {
    roc->count = 0;
    roc->fpr = roc->tpr = roc->threshold = NULL;
    scored *sorted = malloc((size_t)n * sizeof *sorted);
    int64_t *tps = malloc(((size_t)n + 1) * sizeof *tps), *fps = malloc(((size_t)n + 1) * sizeof *fps);
    double *thr = malloc(((size_t)n + 1) * sizeof *thr);
    roc->fpr = malloc(((size_t)n + 1) * sizeof *roc->fpr);
    roc->tpr = malloc(((size_t)n + 1) * sizeof *roc->tpr);
    roc->threshold = malloc(((size_t)n + 1) * sizeof *roc->threshold);
    if (!sorted || !tps || !fps || !thr || !roc->fpr || !roc->tpr || !roc->threshold) {
        free(sorted), free(tps), free(fps), free(thr), roc_free(roc);
        return bl_fail(BL_ERR_NOMEM, "roc curve: out of memory for %d samples", n);
    }
    for (int i = 0; i < n; i++) sorted[i] = (scored){score[i], label[i], i};
    qsort(sorted, (size_t)n, sizeof *sorted, by_score_descending);

    /* One point per distinct score: counts of samples with score >= that threshold. */
    int distinct = 0;
    int64_t positives = 0;
    for (int i = 0; i < n; i++) {
        positives += sorted[i].label;
        if (i == n - 1 || sorted[i + 1].score != sorted[i].score) {
            tps[distinct] = positives;
            fps[distinct] = (int64_t)(i + 1) - positives;
            thr[distinct] = sorted[i].score;
            distinct++;
        }
    }
    /* drop_intermediate: keep the ends and every corner (non-zero second difference of fps or tps). */
    int kept = 0;
    for (int k = 0; k < distinct; k++) {
        int corner = k == 0 || k == distinct - 1 || distinct <= 2 ||
                     (fps[k + 1] - fps[k]) - (fps[k] - fps[k - 1]) != 0 ||
                     (tps[k + 1] - tps[k]) - (tps[k] - tps[k - 1]) != 0;
        if (!corner) continue;
        tps[kept] = tps[k], fps[kept] = fps[k], thr[kept] = thr[k];
        kept++;
    }
    double total_pos = (double)tps[kept - 1], total_neg = (double)fps[kept - 1];
    roc->count = kept + 1;
    roc->fpr[0] = 0.0, roc->tpr[0] = 0.0, roc->threshold[0] = thr[0] + 1.0;
    for (int k = 0; k < kept; k++) {
        roc->fpr[k + 1] = (double)fps[k] / total_neg;
        roc->tpr[k + 1] = (double)tps[k] / total_pos;
        roc->threshold[k + 1] = thr[k];
    }
    free(sorted), free(tps), free(fps), free(thr);
    return BL_OK;
}

bl_status bl_auroc(int n, const double *score, const int *label, double *auc) {
    int n_pos;
    bl_status st = check_inputs("auroc", n, score, label, 1, &n_pos);
    if (st) return st;
    roc_curve roc;
    if ((st = roc_compute(n, score, label, &roc))) return st;
    /* np.trapz(tpr, fpr): terms d·(y[k+1] + y[k]) / 2, then numpy's pairwise sum. */
    double *terms = malloc((size_t)roc.count * sizeof *terms);
    if (!terms) {
        roc_free(&roc);
        return bl_fail(BL_ERR_NOMEM, "auroc: out of memory for %d points", roc.count);
    }
    for (int k = 0; k + 1 < roc.count; k++)
        terms[k] = (roc.fpr[k + 1] - roc.fpr[k]) * (roc.tpr[k + 1] + roc.tpr[k]) / 2.0;
    *auc = pairwise_sum(terms, roc.count - 1);
    free(terms);
    roc_free(&roc);
    return BL_OK;
}

bl_status bl_youden_threshold(int n, const double *score, const int *label, double *threshold) {
    int n_pos;
    bl_status st = check_inputs("youden threshold", n, score, label, 1, &n_pos);
    if (st) return st;
    roc_curve roc;
    if ((st = roc_compute(n, score, label, &roc))) return st;
    /* np.argmax(tpr − fpr): the first maximum, i.e. the highest threshold among equals. */
    int best = 0;
    double best_j = roc.tpr[0] - roc.fpr[0];
    for (int k = 1; k < roc.count; k++) {
        double j = roc.tpr[k] - roc.fpr[k];
        if (j > best_j) best_j = j, best = k;
    }
    *threshold = roc.threshold[best];
    roc_free(&roc);
    return BL_OK;
}

bl_status bl_roc_curve(int n, const double *score, const int *label, int *count, double **fpr, double **tpr) {
    int n_pos;
    bl_status st = check_inputs("roc curve", n, score, label, 1, &n_pos);
    if (st) return st;
    roc_curve roc;
    if ((st = roc_compute(n, score, label, &roc))) return st;
    *count = roc.count, *fpr = roc.fpr, *tpr = roc.tpr;
    free(roc.threshold);
    return BL_OK;
}

bl_status bl_confusion_at(int n, const double *score, const int *label, double threshold, bl_confusion *out) {
    int n_pos;
    bl_status st = check_inputs("confusion matrix", n, score, label, 0, &n_pos);
    if (st) return st;
    if (isnan(threshold)) return bl_fail(BL_ERR_NUMERIC, "confusion matrix: threshold: expected a number, got NaN");
    bl_confusion c = {.threshold = threshold};
    for (int i = 0; i < n; i++) {
        int predicted_positive = score[i] >= threshold;
        if (label[i]) predicted_positive ? c.tp++ : c.fn++;
        else predicted_positive ? c.fp++ : c.tn++;
    }
    /* A rate over an empty class is 0/0: NaN, reported as null by the commands. */
    c.accuracy = (double)(c.tp + c.tn) / n;
    c.sensitivity = c.tp + c.fn ? (double)c.tp / (c.tp + c.fn) : NAN;
    c.specificity = c.tn + c.fp ? (double)c.tn / (c.tn + c.fp) : NAN;
    *out = c;
    return BL_OK;
}

/* ---- DeLong (Sun & Xu 2014) ---------------------------------------------------------------------------------- */

typedef struct index_score {
    double score;
    int index;
} index_score;

static int by_score_ascending(const void *a, const void *b) {
    const index_score *x = a, *y = b;
    if (x->score < y->score) return -1;
    if (x->score > y->score) return 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* Midranks (1-based ranks, ties get the mean of their ranks), Algorithm 1 of Sun & Xu.
 * x: [n] read; rank: [n] written; work: [n] scratch. */
static void midranks(int n, const double *x, double *rank, index_score *work) {
    for (int i = 0; i < n; i++) work[i] = (index_score){x[i], i};
    qsort(work, (size_t)n, sizeof *work, by_score_ascending);
    for (int i = 0; i < n;) {
        int j = i;
        while (j < n && work[j].score == work[i].score) j++;
        double mid = 0.5 * (double)(i + j - 1) + 1.0; /* sorted positions i..j−1, 1-based */
        for (int k = i; k < j; k++) rank[work[k].index] = mid;
        i = j;
    }
}

/* The structural components of one score vector: V10 (one per positive) and V01 (one per negative).
 * score, label: [n] read; v10: [m] written; v01: [n − m] written; *auc written. */
static bl_status delong_components(int n, int m, const double *score, const int *label, double *v10, double *v01,
                                   double *auc) {
    int k = n - m;
    double *pos = malloc((size_t)m * sizeof *pos), *neg = malloc((size_t)k * sizeof *neg);
    double *all = malloc((size_t)n * sizeof *all), *rank_all = malloc((size_t)n * sizeof *rank_all);
    double *rank_pos = malloc((size_t)m * sizeof *rank_pos), *rank_neg = malloc((size_t)k * sizeof *rank_neg);
    index_score *work = malloc((size_t)n * sizeof *work);
    bl_status st = BL_OK;
    if (!pos || !neg || !all || !rank_all || !rank_pos || !rank_neg || !work) {
        st = bl_fail(BL_ERR_NOMEM, "delong: out of memory for %d samples", n);
        goto done;
    }
    /* positives first, then negatives, each in input order */
    int ip = 0, in = 0;
    for (int i = 0; i < n; i++)
        if (label[i]) pos[ip++] = score[i];
        else neg[in++] = score[i];
    for (int i = 0; i < m; i++) all[i] = pos[i];
    for (int i = 0; i < k; i++) all[m + i] = neg[i];
    midranks(m, pos, rank_pos, work);
    midranks(k, neg, rank_neg, work);
    midranks(n, all, rank_all, work);
    /* AUC = ΣTz₊/(m·k) − (m+1)/(2k); the midranks are half-integers, so the sum is exact. */
    *auc = pairwise_sum(rank_all, m) / m / k - (m + 1.0) / 2.0 / k;
    for (int i = 0; i < m; i++) v10[i] = (rank_all[i] - rank_pos[i]) / k;
    for (int j = 0; j < k; j++) v01[j] = 1.0 - (rank_all[m + j] - rank_neg[j]) / m;
done:
    free(pos), free(neg), free(all), free(rank_all), free(rank_pos), free(rank_neg), free(work);
    return st;
}

/* np.cov of two rows with ddof 1: mean by pairwise sum, centred products summed, times 1/(count − 1).
 * a, b: [count] read; centred_a, centred_b: [count] scratch. NaN when count < 2 (numpy: 0/0). */
static double covariance(int count, const double *a, const double *b, double *centred_a, double *centred_b) {
    if (count < 2) return NAN;
    double mean_a = pairwise_sum(a, count) / count, mean_b = pairwise_sum(b, count) / count;
    for (int i = 0; i < count; i++) centred_a[i] = a[i] - mean_a, centred_b[i] = b[i] - mean_b;
    for (int i = 0; i < count; i++) centred_a[i] *= centred_b[i];
    return pairwise_sum(centred_a, count) * (1.0 / (count - 1));
}

bl_status bl_auroc_delong(int n, const double *score, const int *label, bl_delong *out) {
    int m;
    bl_status st = check_inputs("delong", n, score, label, 1, &m);
    if (st) return st;
    int k = n - m;
    double *v10 = malloc((size_t)m * sizeof *v10), *v01 = malloc((size_t)k * sizeof *v01);
    double *scratch = malloc(2 * (size_t)n * sizeof *scratch);
    if (!v10 || !v01 || !scratch) {
        free(v10), free(v01), free(scratch);
        return bl_fail(BL_ERR_NOMEM, "delong: out of memory for %d samples", n);
    }
    double auc = 0;
    st = delong_components(n, m, score, label, v10, v01, &auc);
    if (!st) {
        double *sa = scratch, *sb = scratch + n;
        out->auc = auc;
        out->var = covariance(m, v10, v10, sa, sb) / m + covariance(k, v01, v01, sa, sb) / k;
        /* pROC ci_auc_delong: AUC ± z₀.₉₇₅·SE, clipped to [0, 1]; NaN when the variance is undefined (fewer than 2
         * samples in a class) */
        double half_width = Z_975 * sqrt(out->var);
        out->ci_low = isnan(half_width) ? NAN : fmax(0.0, auc - half_width);
        out->ci_high = isnan(half_width) ? NAN : fmin(1.0, auc + half_width);
    }
    free(v10), free(v01), free(scratch);
    return st;
}

bl_status bl_delong_paired_test(int n, const double *score1, const double *score2, const int *label,
                                bl_delong_paired *out) {
    int m;
    bl_status st = check_inputs("delong", n, score1, label, 1, &m);
    if (!st) st = check_inputs("delong (second score)", n, score2, label, 1, &m);
    if (st) return st;
    int k = n - m;
    double *v10 = malloc(2 * (size_t)m * sizeof *v10), *v01 = malloc(2 * (size_t)k * sizeof *v01);
    double *scratch = malloc(2 * (size_t)n * sizeof *scratch);
    if (!v10 || !v01 || !scratch) {
        free(v10), free(v01), free(scratch);
        return bl_fail(BL_ERR_NOMEM, "delong: out of memory for %d samples", n);
    }
    double auc1 = 0, auc2 = 0;
    st = delong_components(n, m, score1, label, v10, v01, &auc1);
    if (!st) st = delong_components(n, m, score2, label, v10 + m, v01 + k, &auc2);
    if (!st) {
        double *sa = scratch, *sb = scratch + n;
        /* S = cov(V10)/m + cov(V01)/k, a 2×2 matrix over the two scores */
        double s11 = covariance(m, v10, v10, sa, sb) / m + covariance(k, v01, v01, sa, sb) / k;
        double s22 = covariance(m, v10 + m, v10 + m, sa, sb) / m + covariance(k, v01 + k, v01 + k, sa, sb) / k;
        double s12 = covariance(m, v10, v10 + m, sa, sb) / m + covariance(k, v01, v01 + k, sa, sb) / k;
        double var_difference = s11 + s22 - 2.0 * s12;
        *out = (bl_delong_paired){.auc1 = auc1, .auc2 = auc2, .var1 = s11, .var2 = s22, .cov12 = s12};
        out->z = (auc1 - auc2) / sqrt(var_difference);
        out->p = erfc(fabs(out->z) / sqrt(2.0)); /* 2·Φ(−|z|), without cancellation in the tail */
    }
    free(v10), free(v01), free(scratch);
    return st;
}
