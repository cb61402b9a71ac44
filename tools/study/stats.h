/* stats.h — the statistics of the paper, in double precision, each pinned to a reference implementation
 * (paper-method.md §5–§6): distribution functions (regularised incomplete beta and gamma, normal), Student and
 * Welch t-tests (scipy.stats.ttest_ind / ttest_ind_from_stats), Hosmer–Lemeshow in two groupings (R
 * ResourceSelection::hoslem.test quantile cut — primary; statsmodels test_chisquare_binning equal-size groups —
 * secondary), and the Brier score (sklearn brier_score_loss). Tested against scipy/statsmodels to 1e-10 / 1e-9. */
#ifndef BLASTO_STATS_H
#define BLASTO_STATS_H

#include "core/status.h"

/* ---- distributions ---- */
double bl_normal_cdf(double x);                     /* Φ(x) */
double bl_incomplete_beta(double a, double b, double x); /* I_x(a,b), regularised; a,b > 0, 0 ≤ x ≤ 1 */
double bl_gamma_p(double a, double x);              /* P(a,x), regularised lower incomplete gamma */
double bl_gamma_q(double a, double x);              /* Q(a,x) = 1 − P(a,x), computed without cancellation */
double bl_student_t_sf2(double t, double df);       /* two-sided p: P(|T| ≥ |t|) */
double bl_chi2_sf(double x, double df);             /* P(X ≥ x) */

/* ---- t-tests ---- */
typedef struct bl_ttest {
    double t, df, p; /* two-sided */
} bl_ttest;
/* from summary statistics (sd with ddof = 1); equal_var: Student (pooled) else Welch */
bl_status bl_ttest_from_stats(double mean1, double sd1, int n1, double mean2, double sd2, int n2, int equal_var,
                              bl_ttest *out);
bl_status bl_ttest_samples(int n1, const double *x1, int n2, const double *x2, int equal_var, bl_ttest *out);

/* ---- calibration statistics ---- */
typedef struct bl_hosmer_lemeshow {
    double chi2;
    int df;     /* G − 2 over non-empty groups */
    double p;
    int groups; /* G */
} bl_hosmer_lemeshow;
/* Quantile cut keeping ties together: breaks = unique(quantile(p, 0:g/g), type 7), intervals (a,b] with the lowest
 * closed, statistic Σ over both outcome classes (O−E)²/E (ResourceSelection). y ∈ {0,1}, p ∈ [0,1]. */
bl_status bl_hosmer_lemeshow_quantile(int n, const double *p, const int *y, int g, bl_hosmer_lemeshow *out);
/* Equal-size groups of the stable sort by p (np.array_split: the first n mod g groups get one extra), statsmodels */
bl_status bl_hosmer_lemeshow_equal(int n, const double *p, const int *y, int g, bl_hosmer_lemeshow *out);
/* mean((y − p)²) */
double bl_brier(int n, const double *p, const int *y);

#endif
