/* calibration.h — isotonic calibration of predicted probabilities and the reliability (calibration) curve
 * (paper-method.md §6), each pinned to a reference implementation:
 *
 *   isotonic:  sklearn 1.2 IsotonicRegression(increasing=True, out_of_bounds="clip"), the calibrator of
 *              CalibratedClassifierCV(method="isotonic").
 *              fit:     sort by (x, y); merge x values closer than 1e-15 (numpy float64 `resolution`, sklearn
 *                       _make_unique) into one point with the weighted mean y and the summed weight; weighted
 *                       pool-adjacent-violators (sklearn _inplace_contiguous_isotonic_regression); keep the first,
 *                       the last and every point whose fitted y differs from a neighbour's (X_thresholds_,
 *                       y_thresholds_).
 *              predict: clip x to [x_thresholds[0], x_thresholds[count−1]], then linear interpolation between
 *                       thresholds (np.interp, which scipy interp1d(kind="linear") delegates to); one threshold →
 *                       that constant.
 *   curve:     sklearn calibration_curve(y, p, n_bins, strategy="uniform"): edges i·(1/n_bins) (np.linspace),
 *              bin = number of inner edges < p (np.searchsorted, side left: bins (a, b], the first [0, b]),
 *              empty bins dropped, fraction of positives and mean predicted probability per bin.
 *
 * The model file (`blasto calibrate fit` writes it, `apply` reads it) is JSON with at least
 *   {"format": "blasto-isotonic", "version": 1, "X_thresholds": [...], "y_thresholds": [...]}
 * and, for the reader, may hold anything else (the fit command adds curves and statistics). */
#ifndef BLASTO_CALIBRATION_H
#define BLASTO_CALIBRATION_H

#include <stddef.h>

#include "core/status.h"

typedef struct bl_isotonic {
    int count;          /* thresholds, >= 1 */
    double *x;          /* [count] strictly increasing: sklearn X_thresholds_ */
    double *y;          /* [count] non-decreasing: sklearn y_thresholds_ */
} bl_isotonic;

/* x, y: [n] read (finite); weight: [n] read (> 0, finite) or NULL for 1. Fills *out (free with bl_isotonic_free).
 * Fails on n < 1 or a non-finite / non-positive value, naming its index. */
bl_status bl_isotonic_fit(int n, const double *x, const double *y, const double *weight, bl_isotonic *out);
/* x: [n] read; out: [n] written (out may equal x). NaN in → NaN out. */
void bl_isotonic_predict(const bl_isotonic *iso, int n, const double *x, double *out);
void bl_isotonic_free(bl_isotonic *iso);

/* The model from a JSON file / buffer (`label` names it in messages). Checks: valid JSON object, "format" equal
 * to "blasto-isotonic", "version" 1, both threshold arrays present, of equal non-zero length, numbers only,
 * x finite and strictly increasing, y finite, non-decreasing and within [0, 1]. */
bl_status bl_isotonic_read_json(const char *path, bl_isotonic *out);
bl_status bl_isotonic_parse_json(const char *text, size_t size, const char *label, bl_isotonic *out);

typedef struct bl_calibration_curve {
    int n_bins;          /* requested bins */
    int count;           /* non-empty bins, the length of every array below */
    int *bin;            /* [count] bin index in 0..n_bins−1 */
    double *low, *high;  /* [count] bin edges (low, high], the first bin also holds low = 0 */
    int *total;          /* [count] samples in the bin */
    double *prob_true;   /* [count] fraction of label 1 (sklearn prob_true) */
    double *prob_pred;   /* [count] mean predicted probability (sklearn prob_pred) */
} bl_calibration_curve;

/* label: [n] read (0/1); p: [n] read (in [0, 1]); 1 <= n_bins <= 1000. Fills *out (free with
 * bl_calibration_curve_free). */
bl_status bl_calibration_curve_uniform(int n, const int *label, const double *p, int n_bins,
                                       bl_calibration_curve *out);
void bl_calibration_curve_free(bl_calibration_curve *curve);

#endif
