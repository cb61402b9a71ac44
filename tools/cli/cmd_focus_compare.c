/* cmd_focus_compare.c — `blasto focus-compare`: the paper's Table 3 from two models' predictions and Grad-CAM focus
 * files on the same images: focus rates by agreement category and McNemar's test on the paired focus hits. Prints
 * the table; --out writes it as CSV atomically. Definitions: tools/study/agreement.h, docs/statistics.md. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "study/agreement.h"
#include "study/csv.h"

#define NAME_CAP 64

static int focus_compare_help(void) {
    printf("usage: blasto focus-compare --pred-a A.csv --focus-a FA.csv --pred-b B.csv --focus-b FB.csv\n"
           "                            [--threshold 0.5] [--names original,enhanced] [--out T.csv]\n\n"
           "Table 3 of the paper: where two models look (A = original input, B = enhanced input), split by whether\n"
           "each classified the image correctly, and McNemar's test on the paired focus hits.\n\n"
           "  --pred-a, --pred-b    predictions CSVs (id,label,score as written by blasto predict)\n"
           "  --focus-a, --focus-b  focus CSVs of blasto gradcam (columns id and hit used; label checked if present)\n"
           "  --threshold T         a prediction is positive iff score >= T (default 0.5)\n"
           "  --names A,B           the models' names in the table and the CSV (default original,enhanced)\n"
           "  --out FILE            write the table as CSV (atomically); the table goes to stdout either way\n\n"
           "Categories: both correct, both wrong, only A correct, only B correct, total. Per category and model:\n"
           "N, focus hits (pointing-game hit on ICM or TE) and the rate hits/N. McNemar per category with\n"
           "b = #(A hit, B miss), c = #(A miss, B hit): exact two-sided p = min(1, 2*P(X <= min(b,c))),\n"
           "X ~ Binomial(b+c, 1/2) (statsmodels mcnemar exact=True), and chi2 = (|b-c|-1)^2/(b+c) with\n"
           "p = P(chi2_1 >= chi2) (exact=False, correction=True), undefined (empty) when b + c = 0.\n\n"
           "CSV columns: category,n,model_a,hits_a,rate_a,model_b,hits_b,rate_b,mcnemar_b,mcnemar_c,\n"
           "mcnemar_exact_p,mcnemar_chi2,mcnemar_chi2_p; category is both_correct, both_wrong, only_a_correct,\n"
           "only_b_correct or total; an undefined number (rate with N = 0, chi2 with b + c = 0) is empty.\n"
           "Errors (exit 1, nothing written): the four files must hold the same ids with the same labels; hit must\n"
           "be 0 or 1.\n");
    return 0;
}

/* "270 (86.0%)" or "0 (n/a)". */
static const char *count_rate(char *buf, size_t cap, int hits, int n) {
    if (n > 0) snprintf(buf, cap, "%d (%.1f%%)", hits, 100.0 * hits / n);
    else snprintf(buf, cap, "%d (n/a)", hits);
    return buf;
}

static const char *p_text(char *buf, size_t cap, double p) {
    if (!isfinite(p)) snprintf(buf, cap, "n/a");
    else if (p < 1e-4) snprintf(buf, cap, "%.2e", p);
    else snprintf(buf, cap, "%.4f", p);
    return buf;
}

static void print_table(const bl_agreement *t, const char *name_a, const char *name_b) {
    char labels[BL_AGREE_CATEGORIES][NAME_CAP + 32];
    snprintf(labels[BL_AGREE_BOTH_CORRECT], sizeof labels[0], "Both correct");
    snprintf(labels[BL_AGREE_BOTH_WRONG], sizeof labels[0], "Both wrong");
    snprintf(labels[BL_AGREE_ONLY_A_CORRECT], sizeof labels[0], "Only %s correct", name_a);
    snprintf(labels[BL_AGREE_ONLY_B_CORRECT], sizeof labels[0], "Only %s correct", name_b);
    snprintf(labels[BL_AGREE_TOTAL], sizeof labels[0], "Total");
    int n = t->cell[BL_AGREE_TOTAL].n;
    printf("Table 3: Grad-CAM focus on ICM/TE (pointing-game hit) by agreement category; positive iff score >= %g\n",
           t->threshold);
    printf("accuracy: %s %d/%d, %s %d/%d\n\n", name_a, t->correct_a, n, name_b, t->correct_b, n);
    printf("%-28s %6s  %-28s  %-28s  %s\n", "", "", name_a, name_b, "McNemar on hits");
    printf("%-28s %6s  %-14s%-14s  %-14s%-14s  %5s %5s %10s %10s\n", "category", "N", "ICM/TE", "Other", "ICM/TE",
           "Other", "b", "c", "exact p", "chi2 p");
    for (int k = 0; k < BL_AGREE_CATEGORIES; k++) {
        const bl_agreement_cell *c = &t->cell[k];
        char ha[40], oa[40], hb[40], ob[40], pe[24], pc[24];
        printf("%-28s %6d  %-14s%-14s  %-14s%-14s  %5d %5d %10s %10s\n", labels[k], c->n,
               count_rate(ha, sizeof ha, c->hits_a, c->n), count_rate(oa, sizeof oa, c->n - c->hits_a, c->n),
               count_rate(hb, sizeof hb, c->hits_b, c->n), count_rate(ob, sizeof ob, c->n - c->hits_b, c->n),
               c->mcnemar.b, c->mcnemar.c, p_text(pe, sizeof pe, c->mcnemar.p_exact),
               p_text(pc, sizeof pc, c->mcnemar.p_chi2));
    }
}

static int write_csv(const bl_agreement *t, const char *name_a, const char *name_b, const char *path) {
    if (bl_agreement_write_csv(t, name_a, name_b, path) == BL_OK) return 0;
    fprintf(stderr, "blasto focus-compare: %s\n", bl_last_error());
    return 1;
}

int cmd_focus_compare(int argc, char **argv) {
    const char *pred_a = NULL, *focus_a = NULL, *pred_b = NULL, *focus_b = NULL, *out_path = NULL;
    const char *threshold_text = NULL, *names = "original,enhanced";
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) return focus_compare_help();
        if (strcmp(opt, "--pred-a") == 0 && val) pred_a = val, i++;
        else if (strcmp(opt, "--focus-a") == 0 && val) focus_a = val, i++;
        else if (strcmp(opt, "--pred-b") == 0 && val) pred_b = val, i++;
        else if (strcmp(opt, "--focus-b") == 0 && val) focus_b = val, i++;
        else if (strcmp(opt, "--threshold") == 0 && val) threshold_text = val, i++;
        else if (strcmp(opt, "--names") == 0 && val) names = val, i++;
        else if (strcmp(opt, "--out") == 0 && val) out_path = val, i++;
        else {
            fprintf(stderr, "blasto focus-compare: bad option '%s'%s (blasto focus-compare --help)\n", opt,
                    val || strncmp(opt, "--", 2) ? "" : ": missing value");
            return 2;
        }
    }
    if (!pred_a || !focus_a || !pred_b || !focus_b) {
        fprintf(stderr, "blasto focus-compare: --pred-a, --focus-a, --pred-b and --focus-b are required "
                        "(blasto focus-compare --help)\n");
        return 2;
    }
    double threshold = 0.5;
    if (threshold_text) {
        char *end = NULL;
        errno = 0;
        threshold = strtod(threshold_text, &end);
        if (errno || end == threshold_text || *end || !isfinite(threshold)) {
            fprintf(stderr, "blasto focus-compare: --threshold: expected a number, got '%s'\n", threshold_text);
            return 2;
        }
    }
    const char *comma = strchr(names, ',');
    size_t len_a = comma ? (size_t)(comma - names) : 0, len_b = comma ? strlen(comma + 1) : 0;
    if (!comma || len_a == 0 || len_b == 0 || strchr(comma + 1, ',') || len_a >= NAME_CAP || len_b >= NAME_CAP) {
        fprintf(stderr, "blasto focus-compare: --names: expected two non-empty names A,B of under %d characters, "
                        "got '%s'\n", NAME_CAP, names);
        return 2;
    }
    char name_a[NAME_CAP], name_b[NAME_CAP];
    memcpy(name_a, names, len_a), name_a[len_a] = '\0';
    memcpy(name_b, comma + 1, len_b + 1);

    bl_agreement table;
    if (bl_agreement_from_files(pred_a, focus_a, pred_b, focus_b, threshold, &table)) {
        fprintf(stderr, "blasto focus-compare: %s\n", bl_last_error());
        return 1;
    }
    if (out_path && write_csv(&table, name_a, name_b, out_path)) return 1;
    print_table(&table, name_a, name_b);
    return 0;
}
