/* report_figures.c — the report's plots: Figure 4 (box plot of fold AUROCs per arch × input), the ROC curves of
 * every unit's test predictions, and the calibration curves before/after isotonic calibration. The numbers come
 * from the run directory's files; the ROC points from tools/study/metrics.h (bl_roc_curve, the points bl_auroc
 * integrates). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "study/csv.h"
#include "study/files.h"
#include "study/metrics.h"
#include "study/predictions.h"
#include "study/report.h"
#include "study/report_parts.h"

/* ---- the units under runs/ ------------------------------------------------------------------------------------- */

typedef struct unit {
    char *name;        /* runs/<name> */
    char group[160];   /* "<arch> <input>", or the unit name when neither file says */
    int has_metrics;
    double auroc;      /* metrics.json "auroc" */
    bl_predictions *test; /* runs/<name>/test.csv, NULL when absent */
    int group_index;
} unit;

static bl_status read_json_object(const char *path, cJSON **out) {
    char *text = NULL;
    size_t size = 0;
    bl_status st = bl_read_file(path, 16u << 20, &text, &size);
    if (st) return st;
    *out = cJSON_ParseWithLength(text, size);
    free(text);
    if (!cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        return bl_fail(BL_ERR_FORMAT, "%s: expected a JSON object", path);
    }
    return BL_OK;
}

/* metrics.json: "auroc" a finite number in [0, 1]; "arch" and "input" strings. */
static bl_status read_metrics(const char *path, unit *u) {
    cJSON *root = NULL;
    bl_status st = read_json_object(path, &root);
    if (st) return st;
    const cJSON *auroc = cJSON_GetObjectItemCaseSensitive(root, "auroc");
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(root, "arch");
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(root, "input");
    if (!cJSON_IsNumber(auroc) || !(auroc->valuedouble >= 0 && auroc->valuedouble <= 1))
        st = bl_fail(BL_ERR_FORMAT, "%s: auroc: expected a number in [0, 1]", path);
    else if (!cJSON_IsString(arch)) st = bl_fail(BL_ERR_FORMAT, "%s: arch: expected a string", path);
    else if (!cJSON_IsString(input)) st = bl_fail(BL_ERR_FORMAT, "%s: input: expected a string", path);
    else {
        u->has_metrics = 1;
        u->auroc = auroc->valuedouble;
        snprintf(u->group, sizeof u->group, "%s %s", arch->valuestring, input->valuestring);
    }
    cJSON_Delete(root);
    return st;
}

/* Groups in order: arch by name, then original before enhanced before anything else. */
static int input_rank(const char *group) {
    const char *space = strrchr(group, ' ');
    const char *input = space ? space + 1 : "";
    return strcmp(input, "original") == 0 ? 0 : strcmp(input, "enhanced") == 0 ? 1 : 2;
}

static int by_group(const void *a, const void *b) {
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    const char *sx = strrchr(x, ' '), *sy = strrchr(y, ' ');
    size_t lx = sx ? (size_t)(sx - x) : strlen(x), ly = sy ? (size_t)(sy - y) : strlen(y);
    int c = strncmp(x, y, lx < ly ? lx : ly);
    if (c) return c;
    if (lx != ly) return lx < ly ? -1 : 1;
    int rx = input_rank(x), ry = input_rank(y);
    return rx != ry ? (rx < ry ? -1 : 1) : strcmp(x, y);
}

typedef struct units {
    int count;
    unit *items;
    int n_groups;
    const char **groups; /* [n_groups] pointers into items[].group, sorted by by_group */
} units;

static void units_free(units *us) {
    for (int i = 0; i < us->count; i++) {
        free(us->items[i].name);
        bl_predictions_free(us->items[i].test);
    }
    free(us->items);
    free(us->groups);
}

static bl_status units_read(const char *runs, units *us) {
    char **names = NULL;
    int count = 0;
    *us = (units){0};
    bl_status st = report_list(runs, 1, &names, &count);
    if (st) return st;
    us->items = calloc((size_t)count + 1, sizeof *us->items);
    us->groups = calloc((size_t)count + 1, sizeof *us->groups);
    if (!us->items || !us->groups) st = bl_fail(BL_ERR_NOMEM, "%s: out of memory", runs);
    for (int i = 0; !st && i < count; i++) {
        unit *u = &us->items[us->count++];
        u->name = names[i], names[i] = NULL;
        snprintf(u->group, sizeof u->group, "%s", u->name);
        char dir[REPORT_PATH_CAP], path[REPORT_PATH_CAP];
        st = report_join(dir, runs, u->name);
        if (!st) st = report_join(path, dir, "metrics.json");
        if (!st && bl_is_file(path)) st = read_metrics(path, u);
        if (!st) st = report_join(path, dir, "test.csv");
        if (!st && bl_is_file(path)) {
            st = bl_predictions_read(path, &u->test);
            if (!st && !u->has_metrics && u->test->arch && u->test->input)
                snprintf(u->group, sizeof u->group, "%s %s", u->test->arch, u->test->input);
        }
    }
    report_free_names(names, count);
    for (int i = 0; !st && i < us->count; i++) {
        int known = 0;
        for (int g = 0; g < us->n_groups && !known; g++) known = strcmp(us->groups[g], us->items[i].group) == 0;
        if (!known) us->groups[us->n_groups++] = us->items[i].group;
    }
    if (us->n_groups > 1) qsort(us->groups, (size_t)us->n_groups, sizeof *us->groups, by_group);
    for (int i = 0; !st && i < us->count; i++)
        for (int g = 0; g < us->n_groups; g++)
            if (strcmp(us->groups[g], us->items[i].group) == 0) us->items[i].group_index = g;
    if (st) units_free(us), *us = (units){0};
    return st;
}

/* "resnet50 original" → "resnet50\noriginal" for a two-line category label */
static void two_lines(char *dst, size_t cap, const char *group) {
    snprintf(dst, cap, "%s", group);
    char *space = strrchr(dst, ' ');
    if (space) *space = '\n';
}

/* ---- Figure 4 -------------------------------------------------------------------------------------------------- */

static bl_status figure4(const units *us, bl_strbuf *h) {
    report_section_open(h, "figure4", "Figure 4: test AUROC of each fold, per architecture × input");
    int n_values = 0;
    double lo = 1, hi = 0;
    for (int i = 0; i < us->count; i++)
        if (us->items[i].has_metrics) {
            n_values++;
            lo = fmin(lo, us->items[i].auroc), hi = fmax(hi, us->items[i].auroc);
        }
    if (n_values == 0) {
        report_not_available(h, "runs/*/metrics.json");
        report_section_close(h);
        return BL_OK;
    }
    int G = us->n_groups;
    char (*labels)[170] = calloc((size_t)G, sizeof *labels);
    const char **label_ptrs = calloc((size_t)G, sizeof *label_ptrs);
    double *values = calloc((size_t)us->count, sizeof *values);
    bl_status st = labels && label_ptrs && values ? BL_OK : bl_fail(BL_ERR_NOMEM, "figure 4: out of memory");
    for (int g = 0; !st && g < G; g++) two_lines(labels[g], sizeof labels[g], us->groups[g]), label_ptrs[g] = labels[g];
    /* the y range: the data padded by 0.02, widened to multiples of 0.05 within [0, 1], at least 0.2 tall */
    lo = fmax(0.0, floor((lo - 0.02) / 0.05) * 0.05), hi = fmin(1.0, ceil((hi + 0.02) / 0.05) * 0.05);
    if (hi - lo < 0.2) lo = fmax(0.0, hi - 0.2), hi = fmin(1.0, lo + 0.2);
    bl_svg_plot p = {.title = "Fold AUROC on the test set", .y_label = "AUROC", .x_label = "architecture, input",
                     .width = G * 120 + 120 > 420 ? G * 120 + 120 : 420, .height = 360, .y_min = lo, .y_max = hi,
                     .n_categories = G, .categories = label_ptrs};
    if (!st) bl_svg_begin(h, &p, "figure4-svg");
    for (int g = 0; !st && g < G; g++) {
        int n = 0;
        for (int i = 0; i < us->count; i++)
            if (us->items[i].has_metrics && us->items[i].group_index == g) values[n++] = us->items[i].auroc;
        if (n == 0) continue;
        bl_box_stats b;
        st = bl_box_stats_compute(n, values, &b);
        if (!st) bl_svg_box(h, &p, g + 1.0, 0.25, &b, n, values, report_colour(g), us->groups[g]);
        bl_box_stats_free(&b);
    }
    if (!st) {
        bl_svg_end(h);
        bl_strbuf_append(h, "<p class=\"caption\">Boxes: quartiles (linear interpolation), median in red, whiskers at "
                            "the furthest fold within 1.5 IQR; dots: the folds.</p>\n<table>\n<tr><th>Series</th>"
                            "<th>Fold AUROCs (runs/*/metrics.json)</th></tr>\n");
        for (int g = 0; g < G; g++) {
            bl_strbuf_append(h, "<tr><td>");
            bl_strbuf_append_escaped(h, us->groups[g]);
            bl_strbuf_append(h, "</td><td class=\"num\">");
            int first = 1;
            for (int i = 0; i < us->count; i++)
                if (us->items[i].has_metrics && us->items[i].group_index == g) {
                    bl_strbuf_printf(h, "%s%.3f", first ? "" : ", ", us->items[i].auroc);
                    first = 0;
                }
            bl_strbuf_append(h, "</td></tr>\n");
        }
        bl_strbuf_append(h, "</table>\n");
    }
    free(labels), free(label_ptrs), free(values);
    report_section_close(h);
    return st;
}

/* ---- ROC curves ------------------------------------------------------------------------------------------------ */

static bl_status roc_section(const units *us, bl_strbuf *h) {
    report_section_open(h, "roc", "ROC curves on the test set");
    int with_test = 0;
    for (int i = 0; i < us->count; i++) with_test += us->items[i].test != NULL;
    if (with_test == 0) {
        report_not_available(h, "runs/*/test.csv");
        report_section_close(h);
        return BL_OK;
    }
    int G = us->n_groups;
    double *sum = calloc((size_t)G, sizeof *sum);
    int *count = calloc((size_t)G, sizeof *count);
    char (*legend)[224] = calloc((size_t)G, sizeof *legend);
    const char **legend_ptrs = calloc((size_t)G, sizeof *legend_ptrs), **colours = calloc((size_t)G, sizeof *colours);
    bl_strbuf notes = {0};
    bl_status st = sum && count && legend && legend_ptrs && colours ? BL_OK : bl_fail(BL_ERR_NOMEM, "roc: out of memory");
    bl_svg_plot p = {.title = "ROC, one curve per fold unit", .x_label = "1 − specificity (false positive rate)",
                     .y_label = "sensitivity (true positive rate)", .width = 560, .height = 520, .x_min = 0,
                     .x_max = 1, .y_min = 0, .y_max = 1};
    if (!st) {
        bl_svg_begin(h, &p, "roc-svg");
        const double diagonal[2] = {0, 1};
        bl_svg_polyline(h, &p, 2, diagonal, diagonal, "#999999", 1, "chance");
    }
    for (int i = 0; !st && i < us->count; i++) {
        const unit *u = &us->items[i];
        if (!u->test) continue;
        int n = u->test->n, points = 0;
        double *score = malloc((size_t)n * sizeof *score), *fpr = NULL, *tpr = NULL, auc = 0;
        int *label = malloc((size_t)n * sizeof *label);
        if (!score || !label) st = bl_fail(BL_ERR_NOMEM, "roc: out of memory");
        for (int j = 0; !st && j < n; j++) score[j] = u->test->rows[j].score, label[j] = u->test->rows[j].label;
        int positives = 0;
        for (int j = 0; !st && j < n; j++) positives += label[j];
        if (!st && (positives == 0 || positives == n)) {
            /* a single class has no ROC curve: say so instead of failing the report */
            bl_strbuf_append(&notes, "<p class=\"na\">runs/");
            bl_strbuf_append_escaped(&notes, u->name);
            bl_strbuf_printf(&notes, "/test.csv: no ROC curve (a single class: %d positive of %d)</p>\n", positives, n);
        } else if (!st) {
            st = bl_roc_curve(n, score, label, &points, &fpr, &tpr);
            if (!st) st = bl_auroc(n, score, label, &auc);
            if (!st) {
                bl_svg_polyline(h, &p, points, fpr, tpr, report_colour(u->group_index), 0, u->name);
                sum[u->group_index] += auc, count[u->group_index]++;
            }
        }
        free(score), free(label), free(fpr), free(tpr);
    }
    int n_legend = 0;
    for (int g = 0; !st && g < G; g++) {
        if (count[g] == 0) continue;
        snprintf(legend[n_legend], sizeof legend[0], "%s: mean AUROC %.3f (%d unit%s)", us->groups[g],
                 sum[g] / count[g], count[g], count[g] == 1 ? "" : "s");
        legend_ptrs[n_legend] = legend[n_legend], colours[n_legend] = report_colour(g);
        n_legend++;
    }
    if (!st) {
        bl_svg_legend(h, &p, n_legend, legend_ptrs, colours, 0);
        bl_svg_end(h);
        if (notes.len) bl_strbuf_append(h, notes.data);
        bl_strbuf_append(h, "<p class=\"caption\">Points as sklearn roc_curve (drop_intermediate); the mean is over "
                            "the units' test AUROCs. Dashed: chance.</p>\n");
    }
    if (notes.failed) h->failed = 1;
    bl_strbuf_free(&notes);
    free(sum), free(count), free(legend), free(legend_ptrs), free(colours);
    report_section_close(h);
    return st;
}

bl_status report_figure4_and_roc(const char *run_dir, bl_strbuf *h) {
    char runs[REPORT_PATH_CAP];
    bl_status st = report_join(runs, run_dir, "runs");
    if (st) return st;
    if (!report_is_dir(runs)) {
        report_section_open(h, "figure4", "Figure 4: test AUROC of each fold, per architecture × input");
        report_not_available(h, "runs/");
        report_section_close(h);
        report_section_open(h, "roc", "ROC curves on the test set");
        report_not_available(h, "runs/");
        report_section_close(h);
        return BL_OK;
    }
    units us;
    if ((st = units_read(runs, &us))) return st;
    st = figure4(&us, h);
    if (!st) st = roc_section(&us, h);
    units_free(&us);
    return st;
}

/* ---- calibration ----------------------------------------------------------------------------------------------- */

/* A number field of obj; in [lo, hi] (NaN bounds: any finite). `where` names the object in messages. */
static bl_status json_number(const char *path, const char *where, const cJSON *obj, const char *key, double lo,
                             double hi, double *v) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble) || x->valuedouble < lo || x->valuedouble > hi)
        return bl_fail(BL_ERR_FORMAT, "%s: %s.%s: expected a number in [%g, %g]", path, where, key, lo, hi);
    *v = x->valuedouble;
    return BL_OK;
}

/* "chi2 = 3.21 (df 8), p = 0.92" or "undefined (fewer than 3 groups)" */
static bl_status hl_cell(const char *path, const char *where, const cJSON *obj, const char *key, bl_strbuf *h) {
    const cJSON *hl = cJSON_GetObjectItemCaseSensitive(obj, key);
    char name[96];
    snprintf(name, sizeof name, "%s.%s", where, key);
    bl_strbuf_append(h, "<td>");
    if (!hl || cJSON_IsNull(hl)) {
        bl_strbuf_append(h, "undefined (fewer than 3 non-empty groups)</td>");
        return BL_OK;
    }
    const cJSON *c2 = cJSON_GetObjectItemCaseSensitive(hl, "chi2");
    if (cJSON_IsNull(c2)) { /* written by the experiment when a group's expected count is 0 */
        bl_strbuf_append(h, "undefined: χ² not finite (a group has an expected count of 0)</td>");
        return BL_OK;
    }
    double chi2 = 0, df = 0, p = 0;
    bl_status st = json_number(path, name, hl, "chi2", 0, INFINITY, &chi2);
    if (!st) st = json_number(path, name, hl, "df", -INFINITY, INFINITY, &df);
    if (!st) st = json_number(path, name, hl, "p", 0, 1, &p);
    if (st) return st;
    char a[32], b[32];
    bl_strbuf_printf(h, "χ² = %s (df %.0f), p = %s</td>", report_fixed(a, sizeof a, chi2, 3), df,
                     report_general(b, sizeof b, p));
    return BL_OK;
}

static bl_status calibration_plot(const char *path, const cJSON *root, const char *key, const char *title,
                                  const char *id, bl_strbuf *h) {
    const cJSON *side = cJSON_GetObjectItemCaseSensitive(root, key);
    const cJSON *curve = cJSON_GetObjectItemCaseSensitive(side, "curve");
    if (!cJSON_IsArray(curve)) return bl_fail(BL_ERR_FORMAT, "%s: %s.curve: expected an array of bins", path, key);
    int n = cJSON_GetArraySize(curve);
    double *x = calloc((size_t)n + 1, sizeof *x), *y = calloc((size_t)n + 1, sizeof *y);
    bl_status st = x && y ? BL_OK : bl_fail(BL_ERR_NOMEM, "calibration: out of memory");
    int i = 0;
    for (const cJSON *bin = curve->child; !st && bin; bin = bin->next, i++) {
        char where[64];
        snprintf(where, sizeof where, "%s.curve[%d]", key, i);
        st = json_number(path, where, bin, "prob_pred", 0, 1, &x[i]);
        if (!st) st = json_number(path, where, bin, "prob_true", 0, 1, &y[i]);
    }
    if (!st) {
        bl_svg_plot p = {.title = title, .x_label = "mean predicted probability", .y_label = "fraction pregnant",
                         .width = 420, .height = 400, .x_min = 0, .x_max = 1, .y_min = 0, .y_max = 1};
        const double diagonal[2] = {0, 1};
        bl_svg_begin(h, &p, id);
        bl_svg_polyline(h, &p, 2, diagonal, diagonal, "#999999", 1, "perfectly calibrated");
        bl_svg_polyline(h, &p, n, x, y, "#1f77b4", 0, key);
        bl_svg_markers(h, &p, n, x, y, "#1f77b4");
        const char *labels[2] = {"model", "perfectly calibrated"}, *colours[2] = {"#1f77b4", "#999999"};
        bl_svg_legend(h, &p, 2, labels, colours, 1);
        bl_svg_end(h);
    }
    free(x), free(y);
    return st;
}

bl_status report_calibration(const char *run_dir, bl_strbuf *h) {
    char path[REPORT_PATH_CAP];
    bl_status st = report_join(path, run_dir, "calibration.json");
    if (st) return st;
    report_section_open(h, "calibration", "Calibration of the best unit: before and after isotonic regression");
    if (!bl_is_file(path)) {
        report_not_available(h, "calibration.json");
        report_section_close(h);
        return BL_OK;
    }
    cJSON *root = NULL;
    if ((st = read_json_object(path, &root))) return st;
    const cJSON *unit_name = cJSON_GetObjectItemCaseSensitive(root, "unit");
    if (unit_name && !cJSON_IsString(unit_name)) st = bl_fail(BL_ERR_FORMAT, "%s: unit: expected a string", path);
    static const char *const sides[2] = {"before", "after"};
    for (int s = 0; !st && s < 2; s++)
        if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, sides[s])))
            st = bl_fail(BL_ERR_FORMAT, "%s: %s: expected an object", path, sides[s]);
    if (!st) {
        bl_strbuf_append(h, "<p class=\"caption\">Unit <code>");
        bl_strbuf_append_escaped(h, unit_name ? unit_name->valuestring : "not recorded");
        bl_strbuf_append(h, "</code>: isotonic regression fitted on its validation predictions, applied to its test "
                            "predictions; 10 uniform bins (empty bins left out).</p>\n<div>\n");
    }
    if (!st) st = calibration_plot(path, root, "before", "Before calibration", "calibration-before-svg", h);
    if (!st) st = calibration_plot(path, root, "after", "After isotonic calibration", "calibration-after-svg", h);
    if (!st)
        bl_strbuf_append(h, "</div>\n<table>\n<tr><th></th><th>Brier score</th><th>Hosmer–Lemeshow (quantile "
                            "groups, g = 10)</th><th>Hosmer–Lemeshow (equal-size groups, g = 10)</th></tr>\n");
    for (int s = 0; !st && s < 2; s++) {
        const cJSON *side = cJSON_GetObjectItemCaseSensitive(root, sides[s]);
        double brier = 0;
        char b[32];
        st = json_number(path, sides[s], side, "brier", 0, 1, &brier);
        if (!st) bl_strbuf_printf(h, "<tr><th>%s</th><td class=\"num\">%s</td>", sides[s], report_fixed(b, sizeof b, brier, 4));
        if (!st) st = hl_cell(path, sides[s], side, "hosmer_lemeshow_quantile", h);
        if (!st) st = hl_cell(path, sides[s], side, "hosmer_lemeshow_equal", h);
        bl_strbuf_append(h, "</tr>\n");
    }
    if (!st) bl_strbuf_append(h, "</table>\n");
    cJSON_Delete(root);
    report_section_close(h);
    return st;
}
