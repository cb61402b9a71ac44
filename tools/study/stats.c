/* stats.c — distribution functions, t-tests, Hosmer–Lemeshow and the Brier score (contract: stats.h; the math
 * and every numerical decision: docs/statistics.md).
 *
 * Distributions are written from the textbook algorithms, in double precision, with one idea throughout: the
 * power prefactors x^a·e^(−x)/Γ(a) and x^a·(1−x)^b/B(a,b) are evaluated as exp(log-prefactor), and for large
 * parameters the log-prefactor is a sum of small non-negative terms (Stirling's series with the remainder
 * δ(z) = lnΓ(z) − Stirling(z), and rlog1(t) = t − ln(1+t)), never the difference of two huge lnΓ values. That
 * keeps the relative error of I_x(a,b) and P(a,x) near 1e-13 for parameters up to 1e4 and beyond, where
 * exp(a·ln x + b·ln y − lnB(a,b)) would lose ~1e-11 to the cancellation of ±1e5-sized logs.
 *   - regularised incomplete beta: Lentz's continued fraction (Numerical Recipes §6.4 form), applied to whichever
 *     of I_x(a,b) and 1 − I_{1−x}(b,a) has x < (a+1)/(a+b+2);
 *   - regularised incomplete gamma: the power series for x < a+1, Legendre's continued fraction (Lentz) for Q
 *     otherwise, each computing the other as 1 − itself;
 *   - lnΓ: our own (Stirling series for z ≥ 10, upward recurrence below); libm's lgamma is not used because it
 *     writes the global `signgam` (a data race under threads) and because the Stirling form is needed anyway.
 * This file is not: a general special-function library (arguments outside the documented ranges are accepted but
 * not tuned), or the AUROC/DeLong/isotonic code (metrics.c, calibration). */
#include "study/stats.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LN_SQRT_2PI 0.91893853320467274178 /* ln √(2π) */
#define SQRT1_2 0.70710678118654752440     /* 1/√2 */
#define TWO_PI 6.28318530717958647693
#define MAX_ITERATIONS 1000000 /* continued fractions and series need O(√max(a,b)) terms; this is a safety stop */
#define TINY 1e-300            /* Lentz: replaces an exact zero denominator */

/* ---------------------------------------------------------------------------------------------------------------
 * log-gamma pieces */

/* δ(z) = lnΓ(z) − [(z − ½)·ln z − z + ln√(2π)], the remainder of Stirling's formula, for z ≥ 10.
 * Asymptotic series Σ B_2k / (2k(2k−1)·z^(2k−1)); at z = 10 the ninth term is below 1e-17 (absolute). */
static double stirling_remainder(double z) {
    static const double coefficient[] = {
        1.0 / 12.0,       -1.0 / 360.0,  1.0 / 1260.0, -1.0 / 1680.0,           1.0 / 1188.0,
        -691.0 / 360360.0, 1.0 / 156.0, -3617.0 / 122400.0, 43867.0 / 244188.0,
    };
    double inverse_square = 1.0 / (z * z), sum = 0.0;
    for (int k = (int)(sizeof coefficient / sizeof coefficient[0]) - 1; k >= 0; k--)
        sum = sum * inverse_square + coefficient[k];
    return sum / z;
}

/* lnΓ(z) for z > 0: Stirling with its remainder for z ≥ 10, else lnΓ(z + k) − ln(z(z+1)…(z+k−1)) with z + k ≥ 10.
 * Absolute error ~1e-15 · max(1, |lnΓ|); callers only use it where that absolute error is what matters. */
static double log_gamma(double z) {
    if (z >= 10.0) return (z - 0.5) * log(z) - z + LN_SQRT_2PI + stirling_remainder(z);
    double product = 1.0;
    while (z < 10.0) {
        product *= z;
        z += 1.0;
    }
    return (z - 0.5) * log(z) - z + LN_SQRT_2PI + stirling_remainder(z) - log(product);
}

/* rlog1(t) = t − ln(1 + t) ≥ 0 for t > −1, without cancellation near 0: with w = t/(2 + t),
 * ln(1 + t) = 2·atanh(w) and t − 2w = w·t, so rlog1(t) = w·t − 2·(w³/3 + w⁵/5 + …). */
static double rlog1(double t) {
    if (fabs(t) > 0.5) return t - log1p(t);
    double w = t / (2.0 + t), w2 = w * w, power = w * w2, series = 0.0;
    for (int k = 3; k < 80; k += 2) {
        double term = power / k;
        series += term;
        if (fabs(term) <= 1e-17 * fabs(series)) break;
        power *= w2;
    }
    return w * t - 2.0 * series;
}

/* u − 1 − ln u = rlog1(u − 1) for a ratio u > 0 given directly: u − 1 is exact for u in [½, 2] (Sterbenz), and far
 * from 1 the logarithm of u itself is taken, so u ≪ 1 keeps its relative precision (1 + (u − 1) would not). */
static double ratio_excess(double u) {
    if (u >= 0.5 && u <= 2.0) return rlog1(u - 1.0);
    return (u - 1.0) - log(u);
}

/* ln B(a, b) when at most one of a, b is ≥ 10 (both large: see log_beta_prefactor). With the large one called
 * big: lnΓ(big) − lnΓ(big + small) = −small·ln big − (c − ½)·log1p(small/big) + small + δ(big) − δ(c). */
static double log_beta_small(double a, double b) {
    double small = a < b ? a : b, big = a < b ? b : a, c = a + b;
    if (big < 10.0) return log_gamma(a) + log_gamma(b) - log_gamma(c);
    return log_gamma(small) - small * log(big) - (c - 0.5) * log1p(small / big) + small + stirling_remainder(big) -
           stirling_remainder(c);
}

/* 1 − v, never below 0 (v can exceed 1 by rounding), NaN kept (fmax would drop it) */
static double complement(double v) {
    return v > 1.0 ? 0.0 : 1.0 - v;
}

/* ---------------------------------------------------------------------------------------------------------------
 * normal */

double bl_normal_cdf(double x) {
    /* Φ(x) = ½·erfc(−x/√2); near 0 through erf, which is more accurate there (the cephes ndtr split). */
    double z = x * SQRT1_2;
    if (isnan(x)) return x;
    if (fabs(z) < SQRT1_2) return 0.5 + 0.5 * erf(z);
    double tail = 0.5 * erfc(fabs(z));
    return z > 0 ? 1.0 - tail : tail;
}

/* ---------------------------------------------------------------------------------------------------------------
 * incomplete gamma */

/* ln(x^a·e^(−x)/Γ(a)). For a ≥ 10, Γ(a) = √(2π/a)·a^a·e^(−a)·e^δ(a) gives
 * ½·ln(a/2π) − a·(u − 1 − ln u) − δ(a) with u = x/a: terms that are small unless the result is, and an error
 * of about |x − a|·ε, the conditioning of x^a·e^(−x) itself. */
static double log_gamma_prefactor(double a, double x) {
    if (a >= 10.0) return 0.5 * log(a / TWO_PI) - a * ratio_excess(x / a) - stirling_remainder(a);
    return a * log(x) - x - log_gamma(a);
}

/* P(a,x) by the series x^a·e^(−x)/Γ(a+1) · Σ_n x^n/((a+1)…(a+n)); all terms positive. For x < a + 1. */
static double gamma_p_series(double a, double x) {
    double term = 1.0, sum = 1.0, denominator = a;
    for (int n = 1;; n++) {
        if (n == MAX_ITERATIONS) return NAN; /* a beyond the supported range (about 1e10) */
        denominator += 1.0;
        term *= x / denominator;
        sum += term;
        if (term <= sum * DBL_EPSILON * 0.5) break;
    }
    return exp(log_gamma_prefactor(a, x) - log(a) + log(sum));
}

/* Q(a,x) by Legendre's continued fraction x^a·e^(−x)/Γ(a) · 1/(x+1−a− 1·(1−a)/(x+3−a− 2·(2−a)/(x+5−a− …))),
 * evaluated with the modified Lentz method. For x ≥ a + 1. */
static double gamma_q_fraction(double a, double x) {
    double b = x + 1.0 - a, c = 1.0 / TINY, d = 1.0 / b, h = d;
    for (int i = 1;; i++) {
        if (i == MAX_ITERATIONS) return NAN;
        double an = -i * (i - a);
        b += 2.0;
        d = an * d + b;
        if (fabs(d) < TINY) d = TINY;
        c = b + an / c;
        if (fabs(c) < TINY) c = TINY;
        d = 1.0 / d;
        double delta = d * c;
        h *= delta;
        if (fabs(delta - 1.0) <= DBL_EPSILON) break;
    }
    return exp(log_gamma_prefactor(a, x) + log(h));
}

double bl_gamma_p(double a, double x) {
    if (isnan(a) || isnan(x) || !(a > 0.0) || x < 0.0) return NAN;
    if (x == 0.0) return 0.0;
    if (isinf(x)) return 1.0;
    if (isinf(a)) return 0.0;
    return x < a + 1.0 ? gamma_p_series(a, x) : complement(gamma_q_fraction(a, x));
}

double bl_gamma_q(double a, double x) {
    if (isnan(a) || isnan(x) || !(a > 0.0) || x < 0.0) return NAN;
    if (x == 0.0) return 1.0;
    if (isinf(x)) return 0.0;
    if (isinf(a)) return 1.0;
    return x < a + 1.0 ? complement(gamma_p_series(a, x)) : gamma_q_fraction(a, x);
}

double bl_chi2_sf(double x, double df) {
    if (isnan(x) || isnan(df) || !(df > 0.0)) return NAN;
    if (x <= 0.0) return 1.0;
    return bl_gamma_q(0.5 * df, 0.5 * x);
}

/* ---------------------------------------------------------------------------------------------------------------
 * incomplete beta. Internally x and y = 1 − x travel together with their logarithms, so that a caller who knows
 * them more precisely than 1 − x and log(x) would give (the t distribution: x = df/(df+t²)) loses nothing. */

/* ln(x^a·y^b/B(a,b)). Both a, b ≥ 10: with c = a + b and Stirling for all three Γ's,
 *   x^a y^b / B(a,b) = u^a · v^b · √(ab/(2πc)) · e^(δ(c) − δ(a) − δ(b)),   u = xc/a, v = yc/b,
 * and since a(u − 1) + b(v − 1) = 0: a·ln u + b·ln v = −a·(u − 1 − ln u) − b·(v − 1 − ln v), both terms ≥ 0.
 * The error is ~ε·(a|u − 1| + b|v − 1|), which stays near 1e-12 wherever the result is representable. */
static double log_beta_prefactor(double a, double b, double x, double y, double log_x, double log_y) {
    if (a >= 10.0 && b >= 10.0) {
        double c = a + b;
        return 0.5 * log(a * (b / (TWO_PI * c))) - a * ratio_excess(x * c / a) - b * ratio_excess(y * c / b) +
               stirling_remainder(c) - stirling_remainder(a) - stirling_remainder(b);
    }
    return a * log_x + b * log_y - log_beta_small(a, b);
}

/* The continued fraction for I_x(a,b) (Numerical Recipes §6.4; Abramowitz & Stegun 26.5.8):
 *   I_x(a,b) = x^a y^b/(a·B(a,b)) · 1/(1 + d_1/(1 + d_2/(1 + …))),
 *   d_{2m+1} = −(a+m)(a+b+m)x/((a+2m)(a+2m+1)),  d_{2m} = m(b−m)x/((a+2m−1)(a+2m)),
 * which converges fast for x < (a+1)/(a+b+2), in O(√max(a,b)) terms. d_k for k ≥ 1: */
static double beta_fraction_term(double a, double b, double x, int k) {
    double m = (double)(k / 2); /* written as products of ratios: no overflow for a, b up to DBL_MAX/4 */
    if (k % 2) return -((a + m) / (a + 2 * m)) * ((a + b + m) / (a + 2 * m + 1)) * x;
    return (m / (a + 2 * m - 1)) * ((b - m) / (a + 2 * m)) * x;
}

/* 1 + d_{2m+1} without cancellation: (a+2m)(a+2m+1)·y + (a(2m+1−b) + m(3m+2−b))·x over (a+2m)(a+2m+1).
 * When a ≫ b and x → 1, d_1 → −1 and the naive 1 + d_1 keeps only a few digits. Both terms are ≥ 0 when
 * 2m + 1 ≥ b (then 3m + 2 > b too); otherwise the naive form is used (the bracket could cancel against the y
 * term, and 1 + d_k is not small there). */
static double beta_fraction_one_plus_odd(double a, double b, double x, double y, int k) {
    double m = (double)(k / 2);
    if (2 * m + 1 < b) return 1.0 + beta_fraction_term(a, b, x, k); /* then 1 + d_k is not small: no gain */
    /* excess/denominator, as ratios (no overflow) */
    double ratio = ((2 * m + 1 - b) * (a / (a + 2 * m)) + m * (3 * m + 2 - b) / (a + 2 * m)) / (a + 2 * m + 1);
    return y + ratio * x;
}

/* The fraction's value h = 1/(1 + d_1/(1 + …)). Two passes:
 *   1. Lentz's forward recurrence (modified, Thompson & Barnett) finds how many terms converge it;
 *   2. the fraction is then evaluated backwards from twice that depth, as E_k = 1 + d_k/E_{k+1}, where for odd k
 *      E_{k+1} + d_k = (1 + d_k) + d_{k+1}/E_{k+2} uses the exact 1 + d_k above.
 * Why the second pass: for a ≫ b and x near 1 (the t distribution with large df), 1 + d_1·(…) is a difference of
 * nearly equal numbers and the forward recurrence loses ~ε/(1 − x) — measured 3e-12 at df = 3e5, t = 4, where
 * the backward pass gives 3e-13. The forward pass alone would also stop early there (a step of size < ε that is
 * only rounding). */
static double beta_fraction_value(double a, double b, double x, double y) {
    /* pass 1: the forward ratios D_k, C_k of the modified Lentz method, started at the first level (C_1 = 1,
     * D_1 = 1/(1 + d_1)) as Numerical Recipes' betacf does, so that the first ratio C·D is not trivially 1; only
     * the depth at which C·D reaches 1 within ε is kept */
    double c = 1.0, d = 1.0 + beta_fraction_term(a, b, x, 1);
    if (fabs(d) < TINY) d = TINY;
    d = 1.0 / d;
    int converged_at = MAX_ITERATIONS;
    for (int k = 2; k < MAX_ITERATIONS; k++) {
        double term = beta_fraction_term(a, b, x, k);
        d = 1.0 + term * d;
        if (fabs(d) < TINY) d = TINY;
        c = 1.0 + term / c;
        if (fabs(c) < TINY) c = TINY;
        d = 1.0 / d;
        if (k % 2 == 1 && fabs(d * c - 1.0) <= DBL_EPSILON) {
            converged_at = k;
            break;
        }
    }
    /* pass 2: backwards from twice that depth; tail = T_{k+1} = d_{k+1}/E_{k+2}, e = E_{k+1} = 1 + T_{k+1} */
    if (converged_at == MAX_ITERATIONS) return NAN; /* parameters far beyond the supported range */
    int depth = 2 * converged_at + 32;
    double tail = 0.0, e = 1.0;
    for (int k = depth; k >= 1; k--) {
        double term = beta_fraction_term(a, b, x, k);
        double numerator = k % 2 ? beta_fraction_one_plus_odd(a, b, x, y, k) + tail : e + term;
        tail = term / e;
        e = numerator / e;
    }
    return 1.0 / e;
}

static double beta_fraction(double a, double b, double x, double y, double log_x, double log_y) {
    return exp(log_beta_prefactor(a, b, x, y, log_x, log_y) + log(beta_fraction_value(a, b, x, y) / a));
}

static double incomplete_beta(double a, double b, double x, double y, double log_x, double log_y) {
    if (x == 0.0) return 0.0;
    if (y == 0.0) return 1.0;
    if (x > (a + 1.0) / (a + b + 2.0)) return complement(beta_fraction(b, a, y, x, log_y, log_x));
    return beta_fraction(a, b, x, y, log_x, log_y);
}

double bl_incomplete_beta(double a, double b, double x) {
    if (isnan(a) || isnan(b) || isnan(x) || !(a > 0.0) || !(b > 0.0) || x < 0.0 || x > 1.0) return NAN;
    if (isinf(a) || isinf(b)) return NAN;
    double y = 1.0 - x; /* exact for x ≥ ½; for x < ½, ln y comes from log1p(−x) */
    return incomplete_beta(a, b, x, y, log(x), x < 0.5 ? log1p(-x) : log(y));
}

double bl_student_t_sf2(double t, double df) {
    /* P(|T| ≥ |t|) = I_x(df/2, ½) with x = df/(df + t²); with q = t²/df, x = 1/(1+q), y = q/(1+q),
     * ln x = −log1p(q), ln y = ln q − log1p(q): all from q, which carries only two roundings. */
    if (isnan(t) || isnan(df) || !(df > 0.0)) return NAN;
    if (t == 0.0) return 1.0;
    if (isinf(t)) return 0.0;
    if (isinf(df)) return 2.0 * bl_normal_cdf(-fabs(t));
    double at = fabs(t), q = (at / df) * at, a = 0.5 * df;
    if (q > 1e300) {
        /* t²/df overflows (or nearly): x = df/(df+t²) ≈ df/t² may underflow while p ≈ x^a·… does not (df = 1,
         * t = 1e200: p = 2/(πt)). Then y = 1, ln x = ln df − 2·ln|t|, and the fraction is 1 + O(x). */
        double log_x = log(df) - 2.0 * log(at);
        return exp(log_beta_prefactor(a, 0.5, exp(log_x), 1.0, log_x, 0.0) - log(a));
    }
    double x, y, log_x, log_y;
    if (q <= 1.0) {
        x = 1.0 / (1.0 + q);
        y = q / (1.0 + q);
        log_x = -log1p(q);
        log_y = log(q) - log1p(q);
    } else {
        double r = 1.0 / q; /* = df/t² */
        x = r / (1.0 + r);
        y = 1.0 / (1.0 + r);
        log_x = log(r) - log1p(r);
        log_y = -log1p(r);
    }
    return incomplete_beta(a, 0.5, x, y, log_x, log_y);
}

/* ---------------------------------------------------------------------------------------------------------------
 * t-tests (scipy.stats.ttest_ind_from_stats / ttest_ind, scipy 1.10 _stats_py.py) */

bl_status bl_ttest_from_stats(double mean1, double sd1, int n1, double mean2, double sd2, int n2, int equal_var,
                              bl_ttest *out) {
    if (!out) return bl_fail(BL_ERR_INVALID, "t-test: out: NULL");
    if (n1 < 2 || n2 < 2)
        return bl_fail(BL_ERR_INVALID, "t-test: group %d: too few values (expected at least 2, got %d)",
                       n1 < 2 ? 1 : 2, n1 < 2 ? n1 : n2);
    const double mean[2] = {mean1, mean2}, sd[2] = {sd1, sd2};
    for (int k = 0; k < 2; k++) {
        if (!isfinite(mean[k]))
            return bl_fail(BL_ERR_NUMERIC, "t-test: group %d: mean: not finite (got %g)", k + 1, mean[k]);
        if (!isfinite(sd[k]) || sd[k] < 0.0)
            return bl_fail(BL_ERR_NUMERIC, "t-test: group %d: sd: not a finite number ≥ 0 (got %g)", k + 1, sd[k]);
    }
    double var1 = sd1 * sd1, var2 = sd2 * sd2, df, denominator;
    if (equal_var) {
        df = (double)n1 + (double)n2 - 2.0;
        double pooled = ((n1 - 1) * var1 + (n2 - 1) * var2) / df;
        denominator = sqrt(pooled * (1.0 / n1 + 1.0 / n2));
    } else {
        double vn1 = var1 / n1, vn2 = var2 / n2;
        df = (vn1 + vn2) * (vn1 + vn2) / (vn1 * vn1 / (n1 - 1) + vn2 * vn2 / (n2 - 1));
        if (isnan(df)) df = 1.0; /* both variances 0: scipy's choice; t is then ±inf or undefined below */
        denominator = sqrt(vn1 + vn2);
    }
    double t = (mean1 - mean2) / denominator;
    if (isnan(t))
        return bl_fail(BL_ERR_NUMERIC,
                       "t-test: both groups have zero variance and equal means (t = 0/0 is undefined)");
    out->t = t;
    out->df = df;
    out->p = bl_student_t_sf2(t, df);
    return BL_OK;
}

/* mean and sample variance (ddof 1) of n values, two passes; fails on a non-finite value. */
static bl_status mean_and_sd(int group, int n, const double *x, double *mean, double *sd) {
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            return bl_fail(BL_ERR_NUMERIC, "t-test: group %d: value %d: not finite (got %g)", group, i + 1, x[i]);
        sum += x[i];
    }
    double m = sum / n, squares = 0.0, deviations = 0.0;
    for (int i = 0; i < n; i++) {
        squares += (x[i] - m) * (x[i] - m);
        deviations += x[i] - m;
    }
    /* corrected two-pass (Chan, Golub & LeVeque): removes the rounding error of m from the sum of squares */
    *mean = m;
    *sd = sqrt(fmax(0.0, squares - deviations * deviations / n) / (n - 1));
    return BL_OK;
}

bl_status bl_ttest_samples(int n1, const double *x1, int n2, const double *x2, int equal_var, bl_ttest *out) {
    if (n1 < 2 || n2 < 2)
        return bl_fail(BL_ERR_INVALID, "t-test: group %d: too few values (expected at least 2, got %d)",
                       n1 < 2 ? 1 : 2, n1 < 2 ? n1 : n2);
    if (!x1 || !x2) return bl_fail(BL_ERR_INVALID, "t-test: values: NULL");
    double mean1, sd1, mean2, sd2;
    bl_status st = mean_and_sd(1, n1, x1, &mean1, &sd1);
    if (!st) st = mean_and_sd(2, n2, x2, &mean2, &sd2);
    if (st) return st;
    return bl_ttest_from_stats(mean1, sd1, n1, mean2, sd2, n2, equal_var, out);
}

/* ---------------------------------------------------------------------------------------------------------------
 * Hosmer–Lemeshow and Brier */

static bl_status check_probabilities(const char *what, int n, const double *p, const int *y) {
    if (n < 1) return bl_fail(BL_ERR_INVALID, "%s: no observations (expected n ≥ 1, got %d)", what, n);
    if (!p || !y) return bl_fail(BL_ERR_INVALID, "%s: probabilities or labels: NULL", what);
    for (int i = 0; i < n; i++) {
        if (!(p[i] >= 0.0 && p[i] <= 1.0))
            return bl_fail(BL_ERR_INVALID, "%s: probability %d: not in [0, 1] (got %g)", what, i + 1, p[i]);
        if (y[i] != 0 && y[i] != 1)
            return bl_fail(BL_ERR_INVALID, "%s: label %d: not 0 or 1 (got %d)", what, i + 1, y[i]);
    }
    return BL_OK;
}

/* One cell of the statistic: (O − E)²/E, with the limit 0 when E = 0 and O = 0 (a group whose probabilities are
 * all exactly 0 or 1 and whose outcomes agree), and +∞ when E = 0 but O > 0 (an event the model called impossible). */
static double pearson_cell(double observed, double expected) {
    if (expected > 0.0) return (observed - expected) * (observed - expected) / expected;
    return observed == 0.0 ? 0.0 : INFINITY;
}

typedef struct hl_group {
    int count;
    double observed1, expected1, expected0; /* Σ y, Σ p, Σ (1 − p) */
} hl_group;

static bl_status hl_finish(const char *what, const hl_group *group, int g, bl_hosmer_lemeshow *out) {
    double chi2 = 0.0;
    int nonempty = 0;
    for (int k = 0; k < g; k++) {
        if (group[k].count == 0) continue;
        nonempty++;
        chi2 += pearson_cell(group[k].observed1, group[k].expected1) +
                pearson_cell(group[k].count - group[k].observed1, group[k].expected0);
    }
    if (nonempty < 3)
        return bl_fail(BL_ERR_INVALID,
                       "%s: %d non-empty group%s (expected at least 3 so that df = G − 2 ≥ 1; are the probabilities "
                       "constant or n too small?)",
                       what, nonempty, nonempty == 1 ? "" : "s");
    out->chi2 = chi2;
    out->df = nonempty - 2;
    out->groups = nonempty;
    out->p = bl_chi2_sf(chi2, out->df);
    return BL_OK;
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* numpy.quantile(sorted, q), method "linear" (= R type 7) with numpy 1.24's rounding: virtual index (n−1)·q,
 * and _lerp(a, b, t) = a + (b−a)·t, or b − (b−a)·(1−t) when t ≥ ½.  sorted: [n] ascending (read). */
static double quantile_type7(int n, const double *sorted, double q) {
    double index = (n - 1) * q;
    if (index >= n - 1) return sorted[n - 1];
    double below = floor(index), t = index - below;
    double a = sorted[(int)below], b = sorted[(int)below + 1], difference = b - a;
    return t >= 0.5 ? b - difference * (1.0 - t) : a + difference * t;
}

bl_status bl_hosmer_lemeshow_quantile(int n, const double *p, const int *y, int g, bl_hosmer_lemeshow *out) {
    const char *what = "Hosmer–Lemeshow (quantile groups)";
    if (!out) return bl_fail(BL_ERR_INVALID, "%s: out: NULL", what);
    if (g < 3) return bl_fail(BL_ERR_INVALID, "%s: g: too few groups (expected at least 3, got %d)", what, g);
    bl_status st = check_probabilities(what, n, p, y);
    if (st) return st;
    double *sorted = malloc((size_t)n * sizeof *sorted), *breaks = malloc(((size_t)g + 1) * sizeof *breaks);
    hl_group *group = calloc((size_t)g, sizeof *group);
    if (!sorted || !breaks || !group) {
        free(sorted), free(breaks), free(group);
        return bl_fail(BL_ERR_NOMEM, "%s: out of memory (n = %d, g = %d)", what, n, g);
    }
    memcpy(sorted, p, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, compare_double);
    /* breaks = unique(quantile(p, seq(0, 1, 1/g))); R's seq gives i·(1/g), clipped to 1 */
    int n_breaks = 0;
    for (int i = 0; i <= g; i++) breaks[n_breaks++] = quantile_type7(n, sorted, fmin(i * (1.0 / g), 1.0));
    qsort(breaks, (size_t)n_breaks, sizeof *breaks, compare_double);
    int unique = 1;
    for (int i = 1; i < n_breaks; i++)
        if (breaks[i] != breaks[unique - 1]) breaks[unique++] = breaks[i];
    /* cut(p, breaks, include.lowest = TRUE): intervals (b_{k}, b_{k+1}], the first closed on the left; the group
     * of v is the first break ≥ v (binary search), minus one, and v = b_0 joins the first group. */
    for (int i = 0; i < n; i++) {
        int lo = 0, hi = unique - 1;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (breaks[mid] >= p[i]) hi = mid;
            else lo = mid + 1;
        }
        int k = lo > 0 ? lo - 1 : 0;
        group[k].count++;
        group[k].observed1 += y[i];
        group[k].expected1 += p[i];
        group[k].expected0 += 1.0 - p[i];
    }
    st = hl_finish(what, group, unique > 1 ? unique - 1 : 1, out);
    free(sorted), free(breaks), free(group);
    return st;
}

typedef struct indexed_probability {
    double p;
    int index;
} indexed_probability;

/* by probability, then by position: qsort with this order is a stable sort */
static int compare_indexed(const void *a, const void *b) {
    const indexed_probability *x = a, *y = b;
    if (x->p != y->p) return (x->p > y->p) - (x->p < y->p);
    return (x->index > y->index) - (x->index < y->index);
}

bl_status bl_hosmer_lemeshow_equal(int n, const double *p, const int *y, int g, bl_hosmer_lemeshow *out) {
    const char *what = "Hosmer–Lemeshow (equal-size groups)";
    if (!out) return bl_fail(BL_ERR_INVALID, "%s: out: NULL", what);
    if (g < 3) return bl_fail(BL_ERR_INVALID, "%s: g: too few groups (expected at least 3, got %d)", what, g);
    bl_status st = check_probabilities(what, n, p, y);
    if (st) return st;
    indexed_probability *order = malloc((size_t)n * sizeof *order);
    hl_group *group = calloc((size_t)g, sizeof *group);
    if (!order || !group) {
        free(order), free(group);
        return bl_fail(BL_ERR_NOMEM, "%s: out of memory (n = %d, g = %d)", what, n, g);
    }
    for (int i = 0; i < n; i++) order[i] = (indexed_probability){p[i], i};
    qsort(order, (size_t)n, sizeof *order, compare_indexed);
    /* np.array_split: n = q·g + r; the first r groups hold q + 1 observations, the others q */
    int base = n / g, extra = n % g, position = 0;
    for (int k = 0; k < g; k++) {
        int size = base + (k < extra);
        for (int j = 0; j < size; j++, position++) {
            int i = order[position].index;
            group[k].count++;
            group[k].observed1 += y[i];
            group[k].expected1 += p[i];
            group[k].expected0 += 1.0 - p[i];
        }
    }
    st = hl_finish(what, group, g, out);
    free(order), free(group);
    return st;
}

double bl_brier(int n, const double *p, const int *y) {
    if (n < 1 || !p || !y) return NAN;
    /* Neumaier-compensated sum: the mean is then correctly rounded up to the last bits for any n */
    double sum = 0.0, compensation = 0.0;
    for (int i = 0; i < n; i++) {
        double d = (double)y[i] - p[i], term = d * d, t = sum + term;
        compensation += fabs(sum) >= fabs(term) ? (sum - t) + term : (term - t) + sum;
        sum = t;
    }
    return (sum + compensation) / n;
}
