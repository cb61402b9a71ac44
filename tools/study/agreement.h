/* agreement.h — the paper's Table 3: where two models (A = original input, B = enhanced input) look, split by
 * whether each got the image right, and McNemar's test on the paired focus hits.
 *
 * Per image: A correct ⇔ (score_A ≥ t) == label, likewise B; the image falls in one agreement category (both
 * correct, both wrong, only A correct, only B correct) and in "total". Per category and model: n and the focus
 * rate hits/n, where a hit is the pointing-game hit of `blasto gradcam` (focus CSV column `hit`, 0 or 1).
 * McNemar on the paired hits of a category: b = #(A hit, B miss), c = #(A miss, B hit);
 *   exact (statsmodels mcnemar(exact=True)):        p = min(1, 2·P(X ≤ min(b,c))), X ~ Binomial(b + c, ½)
 *   chi-square (mcnemar(exact=False, correction=True)): χ² = (|b − c| − 1)² / (b + c), p = P(χ²₁ ≥ χ²)
 * With b + c = 0 the exact p is 1 and the chi-square version is undefined (NaN; statsmodels divides by zero). */
#ifndef BLASTO_AGREEMENT_H
#define BLASTO_AGREEMENT_H

#include "core/status.h"

typedef enum bl_agreement_category {
    BL_AGREE_BOTH_CORRECT = 0,
    BL_AGREE_BOTH_WRONG,
    BL_AGREE_ONLY_A_CORRECT,
    BL_AGREE_ONLY_B_CORRECT,
    BL_AGREE_TOTAL,
    BL_AGREE_CATEGORIES /* count */
} bl_agreement_category;

/* "both_correct", "both_wrong", "only_a_correct", "only_b_correct", "total" (the CSV keys). */
const char *bl_agreement_category_key(bl_agreement_category c);

typedef struct bl_mcnemar {
    int b, c;       /* discordant pairs: A hit & B miss, A miss & B hit */
    double p_exact; /* two-sided exact binomial p */
    double chi2;    /* continuity-corrected statistic; NaN when b + c = 0 */
    double p_chi2;  /* P(χ²₁ ≥ chi2); NaN when b + c = 0 */
} bl_mcnemar;

/* P(X ≤ k) for X ~ Binomial(m, ½), 0 ≤ k, m ≥ 0 (k ≥ m gives 1): the terms C(m,i)/2^m summed from i = min(k, m/2)
 * downward by the ratio i/(m − i + 1), the first term a product of k ratios with a separate binary exponent, so
 * nothing overflows; relative error ≲ 2·k·2⁻⁵³ (k ≤ m/2; the upper half by symmetry, 1 − P(X ≤ m − k − 1)). */
double bl_binomial_half_cdf(int k, int m);

/* McNemar's test from the discordant counts (b, c ≥ 0). */
bl_status bl_mcnemar_test(int b, int c, bl_mcnemar *out);

typedef struct bl_agreement_cell {
    int n;              /* images in the category */
    int hits_a, hits_b; /* focus hits of A and of B among them */
    double rate_a, rate_b; /* hits/n; NaN when n = 0 */
    bl_mcnemar mcnemar; /* paired hits within the category */
} bl_agreement_cell;

typedef struct bl_agreement {
    double threshold;
    int correct_a, correct_b; /* images each model got right */
    bl_agreement_cell cell[BL_AGREE_CATEGORIES];
} bl_agreement;

/* label, hit_a, hit_b: [n] in {0,1}; score_a, score_b: [n] finite (read). Positive iff score ≥ threshold. */
bl_status bl_agreement_compute(int n, const int *label, const double *score_a, const double *score_b,
                               const int *hit_a, const int *hit_b, double threshold, bl_agreement *out);

/* The four files of `blasto focus-compare`: predictions CSVs (tools/study/predictions.h) and focus CSVs (columns id
 * and hit required, label checked when present; other columns ignored). Rows are matched by id to predictions A;
 * every file must hold exactly the same ids, and labels must agree — the errors name the file, line and id. */
bl_status bl_agreement_from_files(const char *pred_a, const char *focus_a, const char *pred_b, const char *focus_b,
                                  double threshold, bl_agreement *out);

/* Table 3 as CSV (atomic): category,n,model_a,hits_a,rate_a,model_b,hits_b,rate_b,mcnemar_b,mcnemar_c,
 * mcnemar_exact_p,mcnemar_chi2,mcnemar_chi2_p — one row per category, numbers exact (bl_format_exact), undefined
 * values empty. Used by `blasto focus-compare --out` and `blasto experiment`. */
bl_status bl_agreement_write_csv(const bl_agreement *t, const char *name_a, const char *name_b, const char *path);

#endif
