/* metrics.h — discrimination metrics, each pinned to a reference (paper-method.md §5):
 * AUROC exactly as sklearn roc_auc_score (trapezoid over distinct thresholds = Mann–Whitney with ties counted ½),
 * DeLong variance by the fast algorithm of Sun & Xu (2014) with midranks, 95% CI = AUC ± 1.96·SE clipped to [0,1]
 * (pROC), the paired DeLong test of two correlated AUROCs, Youden's threshold (argmax tpr − fpr over roc_curve
 * thresholds, first on ties = highest threshold), and the confusion-matrix rates with "positive iff score ≥ t". */
#ifndef BLASTO_METRICS_H
#define BLASTO_METRICS_H

#include "core/status.h"

/* Fails (BL_ERR_INVALID, "AUROC is undefined with a single class (n_pos = …, n_neg = …)") when one class is empty,
 * and on labels not 0/1 or non-finite scores. */
bl_status bl_auroc(int n, const double *score, const int *label, double *auc);

typedef struct bl_delong {
    double auc, var, ci_low, ci_high;
} bl_delong;
bl_status bl_auroc_delong(int n, const double *score, const int *label, bl_delong *out);

typedef struct bl_delong_paired {
    double auc1, auc2, var1, var2, cov12, z, p; /* two-sided p = 2·Φ(−|z|) */
} bl_delong_paired;
bl_status bl_delong_paired_test(int n, const double *score1, const double *score2, const int *label,
                                bl_delong_paired *out);

typedef struct bl_confusion {
    double threshold;
    int tp, fp, tn, fn;
    double accuracy, sensitivity, specificity;
} bl_confusion;
bl_status bl_confusion_at(int n, const double *score, const int *label, double threshold, bl_confusion *out);
bl_status bl_youden_threshold(int n, const double *score, const int *label, double *threshold);

/* The ROC curve points exactly as sklearn roc_curve(drop_intermediate=True): (0, 0) first, then one point per kept
 * distinct threshold, descending. score, label: [n] read (both classes present). *fpr, *tpr: [*count] written,
 * malloc'ed (caller frees both). The same points bl_auroc integrates. */
bl_status bl_roc_curve(int n, const double *score, const int *label, int *count, double **fpr, double **tpr);

#endif
