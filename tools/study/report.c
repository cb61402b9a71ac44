/* report.c — bl_report_write: the page skeleton, the shared helpers, run metadata (#meta) and the CSV tables
 * (#table1, #table2, #delong, #table3). The figures are in report_figures.c, the Grad-CAM gallery and base64 in
 * report_gallery.c. Everything is rendered into one buffer first; the file is written only when every part
 * succeeded. */
#include "study/report.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "study/csv.h"
#include "study/files.h"
#include "study/report_parts.h"

/* ---- shared helpers -------------------------------------------------------------------------------------------- */

bl_status report_join(char *buf, const char *dir, const char *name) {
    int len = snprintf(buf, REPORT_PATH_CAP, "%s/%s", dir, name);
    if (len < 0 || len >= REPORT_PATH_CAP)
        return bl_fail(BL_ERR_INVALID, "%s: path too long (expected at most %d bytes)", dir, REPORT_PATH_CAP - 1);
    return BL_OK;
}

int report_is_dir(const char *path) {
    struct stat s;
    return stat(path, &s) == 0 && S_ISDIR(s.st_mode);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void report_free_names(char **names, int count) {
    for (int i = 0; i < count; i++) free(names[i]);
    free(names);
}

bl_status report_list(const char *dir, int want_dirs, char ***names, int *count) {
    *names = NULL, *count = 0;
    DIR *d = opendir(dir);
    if (!d) return BL_OK;
    int cap = 0;
    bl_status st = BL_OK;
    for (struct dirent *e; !st && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char path[REPORT_PATH_CAP];
        if (report_join(path, dir, e->d_name)) continue;
        if (want_dirs ? !report_is_dir(path) : !bl_is_file(path)) continue;
        if (*count == cap) {
            cap = cap ? 2 * cap : 16;
            char **grown = realloc(*names, (size_t)cap * sizeof *grown);
            if (!grown) {
                st = bl_fail(BL_ERR_NOMEM, "%s: out of memory listing the directory", dir);
                break;
            }
            *names = grown;
        }
        if (!((*names)[*count] = strdup(e->d_name))) st = bl_fail(BL_ERR_NOMEM, "%s: out of memory", dir);
        else (*count)++;
    }
    closedir(d);
    if (st) {
        report_free_names(*names, *count);
        *names = NULL, *count = 0;
        return st;
    }
    if (*count > 1) qsort(*names, (size_t)*count, sizeof **names, by_name);
    return BL_OK;
}

void report_not_available(bl_strbuf *h, const char *what) {
    bl_strbuf_append(h, "<p class=\"na\">not available: ");
    bl_strbuf_append_escaped(h, what);
    bl_strbuf_append(h, " missing</p>\n");
}

void report_section_open(bl_strbuf *h, const char *id, const char *title) {
    bl_strbuf_printf(h, "<section id=\"%s\">\n<h2>", id);
    bl_strbuf_append_escaped(h, title);
    bl_strbuf_append(h, "</h2>\n");
}

void report_section_close(bl_strbuf *h) { bl_strbuf_append(h, "</section>\n"); }

/* "-0.000" (a tiny negative number rounded away) reads as "0.000" */
static const char *drop_negative_zero(char *buf) {
    if (buf[0] == '-' && strspn(buf + 1, "0.") == strlen(buf + 1)) memmove(buf, buf + 1, strlen(buf));
    return buf;
}

const char *report_fixed(char *buf, size_t cap, double v, int decimals) {
    if (isnan(v)) snprintf(buf, cap, "n/a");
    else snprintf(buf, cap, "%.*f", decimals, v);
    return drop_negative_zero(buf);
}

const char *report_general(char *buf, size_t cap, double v) {
    if (isnan(v)) snprintf(buf, cap, "n/a");
    else snprintf(buf, cap, "%.3g", v);
    return drop_negative_zero(buf);
}

const char *report_colour(int i) {
    static const char *const palette[8] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd",
                                           "#8c564b", "#e377c2", "#17becf", "#7f7f7f"};
    return palette[i % 8];
}

/* ---- CSV tables ------------------------------------------------------------------------------------------------ */

typedef enum cell_kind {
    CELL_TEXT,      /* escaped as is */
    CELL_INT,       /* an integer */
    CELL_FIXED2,    /* 2 decimals */
    CELL_FIXED3,    /* 3 decimals */
    CELL_GENERAL,   /* %.3g: p-values, z, covariances */
    CELL_PERCENT,   /* a rate in [0, 1] as "86.0%" */
    CELL_MEAN_SD2,  /* column and column_sd as "mean (SD)", 2 decimals */
    CELL_MEAN_SD3,  /* the same with 3 decimals */
} cell_kind;

typedef struct table_column {
    const char *heading, *column, *column_sd;
    cell_kind kind;
} table_column;

/* A numeric cell: empty (an undefined value in our tables) and "nan" read as NaN; anything else must be a whole
 * number. Fails naming the file, line and column. */
static bl_status cell_number(const bl_csv *csv, int row, const char *column, int integer, double *v) {
    const char *text = csv->rows[row][bl_csv_column(csv, column)];
    if (!*text || strcmp(text, "nan") == 0 || strcmp(text, "NaN") == 0) {
        *v = NAN;
        return BL_OK;
    }
    char *end = NULL;
    *v = strtod(text, &end);
    if (end == text || *end || (integer && (!isfinite(*v) || *v != floor(*v))))
        return bl_fail(BL_ERR_FORMAT, "%s: line %d: column '%s': expected %s, got '%s'", csv->path,
                       csv->row_line[row], column, integer ? "an integer" : "a number", text);
    return BL_OK;
}

static bl_status render_cell(const bl_csv *csv, int row, const table_column *c, bl_strbuf *h) {
    char buf[96], sd_buf[48];
    double v = 0, sd = 0;
    bl_status st = BL_OK;
    if (c->kind != CELL_TEXT) st = cell_number(csv, row, c->column, c->kind == CELL_INT, &v);
    if (!st && c->column_sd) st = cell_number(csv, row, c->column_sd, 0, &sd);
    if (st) return st;
    bl_strbuf_append(h, c->kind == CELL_TEXT ? "<td>" : "<td class=\"num\">");
    switch (c->kind) {
    case CELL_TEXT: bl_strbuf_append_escaped(h, csv->rows[row][bl_csv_column(csv, c->column)]); break;
    case CELL_INT: isnan(v) ? snprintf(buf, sizeof buf, "—") : snprintf(buf, sizeof buf, "%.0f", v); break;
    case CELL_FIXED2: report_fixed(buf, sizeof buf, v, 2); break;
    case CELL_FIXED3: report_fixed(buf, sizeof buf, v, 3); break;
    case CELL_GENERAL: report_general(buf, sizeof buf, v); break;
    case CELL_PERCENT: isnan(v) ? snprintf(buf, sizeof buf, "n/a") : snprintf(buf, sizeof buf, "%.1f%%", 100 * v); break;
    case CELL_MEAN_SD2:
    case CELL_MEAN_SD3: {
        int d = c->kind == CELL_MEAN_SD2 ? 2 : 3;
        char mean_buf[48];
        snprintf(buf, sizeof buf, "%s (%s)", report_fixed(mean_buf, sizeof mean_buf, v, d),
                 report_fixed(sd_buf, sizeof sd_buf, sd, d));
        break;
    }
    }
    if (c->kind != CELL_TEXT) bl_strbuf_append_escaped(h, buf);
    bl_strbuf_append(h, "</td>");
    return BL_OK;
}

/* Section `id` from run_dir/<file>: every listed column is required; missing file → "not available". */
static bl_status table_section(const char *run_dir, const char *file, const char *id, const char *title,
                               const char *caption, int n_columns, const table_column *columns, bl_strbuf *h) {
    char path[REPORT_PATH_CAP];
    bl_status st = report_join(path, run_dir, file);
    if (st) return st;
    report_section_open(h, id, title);
    if (!bl_is_file(path)) {
        report_not_available(h, file);
        report_section_close(h);
        return BL_OK;
    }
    bl_csv *csv = NULL;
    if ((st = bl_csv_read(path, &csv))) return st;
    for (int j = 0; !st && j < n_columns; j++) {
        const char *need[2] = {columns[j].column, columns[j].column_sd};
        st = bl_csv_require(csv, columns[j].column_sd ? 2 : 1, need);
    }
    if (!st) {
        bl_strbuf_printf(h, "<p class=\"caption\">%s</p>\n<table>\n<tr>", caption);
        for (int j = 0; j < n_columns; j++) {
            bl_strbuf_append(h, "<th>");
            bl_strbuf_append_escaped(h, columns[j].heading);
            bl_strbuf_append(h, "</th>");
        }
        bl_strbuf_append(h, "</tr>\n");
    }
    for (int i = 0; !st && i < csv->n_rows; i++) {
        bl_strbuf_append(h, "<tr>");
        for (int j = 0; !st && j < n_columns; j++) st = render_cell(csv, i, &columns[j], h);
        bl_strbuf_append(h, "</tr>\n");
    }
    if (!st) bl_strbuf_append(h, "</table>\n");
    bl_csv_free(csv);
    report_section_close(h);
    return st;
}

static const table_column table1_columns[] = {
    {"Scope", "scope", NULL, CELL_TEXT},
    {"Clinic", "clinic", NULL, CELL_TEXT},
    {"n (pregnant)", "n_pos", NULL, CELL_INT},
    {"n (not pregnant)", "n_neg", NULL, CELL_INT},
    {"Age, pregnant: mean (SD)", "age_mean_pos", "age_sd_pos", CELL_MEAN_SD2},
    {"Age, not pregnant: mean (SD)", "age_mean_neg", "age_sd_neg", CELL_MEAN_SD2},
    {"Student t", "student_t", NULL, CELL_FIXED3},
    {"df", "student_df", NULL, CELL_FIXED2},
    {"p", "student_p", NULL, CELL_GENERAL},
    {"Welch t", "welch_t", NULL, CELL_FIXED3},
    {"df", "welch_df", NULL, CELL_FIXED2},
    {"p", "welch_p", NULL, CELL_GENERAL},
};

static const table_column table2_columns[] = {
    {"Architecture", "arch", NULL, CELL_TEXT},
    {"Input", "input", NULL, CELL_TEXT},
    {"Folds", "folds", NULL, CELL_INT},
    {"AUROC", "auroc_mean", "auroc_sd", CELL_MEAN_SD3},
    {"Accuracy", "accuracy_mean", "accuracy_sd", CELL_MEAN_SD3},
    {"Sensitivity", "sensitivity_mean", "sensitivity_sd", CELL_MEAN_SD3},
    {"Specificity", "specificity_mean", "specificity_sd", CELL_MEAN_SD3},
};

static const table_column delong_columns[] = {
    {"Architecture", "arch", NULL, CELL_TEXT},
    {"Fold", "fold", NULL, CELL_INT},
    {"n", "n", NULL, CELL_INT},
    {"AUROC original", "auroc_original", NULL, CELL_FIXED3},
    {"AUROC enhanced", "auroc_enhanced", NULL, CELL_FIXED3},
    {"Enhanced − original", "enhanced_minus_original", NULL, CELL_FIXED3},
    {"z", "z", NULL, CELL_GENERAL},
    {"p", "p", NULL, CELL_GENERAL},
    {"cov", "cov", NULL, CELL_GENERAL},
};

static const table_column segmentation_columns[] = {
    {"Scope", "scope", NULL, CELL_TEXT},
    {"Test images", "n", NULL, CELL_INT},
    {"Jaccard ICM", "jaccard_icm_mean", "jaccard_icm_sd", CELL_MEAN_SD3},
    {"Jaccard TE", "jaccard_te_mean", "jaccard_te_sd", CELL_MEAN_SD3},
    {"Dice ICM", "dice_icm_mean", "dice_icm_sd", CELL_MEAN_SD3},
    {"Dice TE", "dice_te_mean", "dice_te_sd", CELL_MEAN_SD3},
};

static const table_column delong_masks_columns[] = {
    {"Architecture", "arch", NULL, CELL_TEXT},
    {"Fold", "fold", NULL, CELL_INT},
    {"n", "n", NULL, CELL_INT},
    {"AUROC manual masks", "auroc_manual", NULL, CELL_FIXED3},
    {"AUROC predicted masks", "auroc_predicted", NULL, CELL_FIXED3},
    {"Predicted − manual", "predicted_minus_manual", NULL, CELL_FIXED3},
    {"z", "z", NULL, CELL_GENERAL},
    {"p", "p", NULL, CELL_GENERAL},
    {"cov", "cov", NULL, CELL_GENERAL},
};

static const table_column table3_columns[] = {
    {"Category", "category", NULL, CELL_TEXT},
    {"N", "n", NULL, CELL_INT},
    {"Model A", "model_a", NULL, CELL_TEXT},
    {"A hits", "hits_a", NULL, CELL_INT},
    {"A rate", "rate_a", NULL, CELL_PERCENT},
    {"Model B", "model_b", NULL, CELL_TEXT},
    {"B hits", "hits_b", NULL, CELL_INT},
    {"B rate", "rate_b", NULL, CELL_PERCENT},
    {"b", "mcnemar_b", NULL, CELL_INT},
    {"c", "mcnemar_c", NULL, CELL_INT},
    {"McNemar exact p", "mcnemar_exact_p", NULL, CELL_GENERAL},
    {"McNemar χ²", "mcnemar_chi2", NULL, CELL_FIXED3},
    {"χ² p", "mcnemar_chi2_p", NULL, CELL_GENERAL},
};

#define COUNT(a) (int)(sizeof(a) / sizeof((a)[0]))

/* ---- #meta (run.json) ------------------------------------------------------------------------------------------ */

/* One <tr><th>key</th><td>value</td></tr>; kind 's' string, 'i' integer, 'b' boolean. A wrong type fails. */
static bl_status meta_row(const char *path, const cJSON *root, const char *key, const char *heading, char kind,
                          bl_strbuf *h) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(root, key);
    bl_strbuf_append(h, "<tr><th>");
    bl_strbuf_append_escaped(h, heading);
    bl_strbuf_append(h, "</th><td>");
    if (!x || cJSON_IsNull(x)) {
        bl_strbuf_append(h, "<span class=\"na\">not recorded</span></td></tr>\n");
        return BL_OK;
    }
    if (kind == 's' && cJSON_IsString(x)) bl_strbuf_append_escaped(h, x->valuestring);
    else if (kind == 'i' && cJSON_IsNumber(x) && x->valuedouble == floor(x->valuedouble) && fabs(x->valuedouble) < 1e15)
        bl_strbuf_printf(h, "%.0f", x->valuedouble);
    else if (kind == 'b' && cJSON_IsBool(x)) bl_strbuf_append(h, cJSON_IsTrue(x) ? "yes" : "no");
    else
        return bl_fail(BL_ERR_FORMAT, "%s: %s: expected %s", path, key,
                       kind == 's' ? "a string" : kind == 'i' ? "an integer" : "true or false");
    bl_strbuf_append(h, "</td></tr>\n");
    return BL_OK;
}

static bl_status meta_weights(const char *path, const cJSON *root, bl_strbuf *h) {
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(root, "weights");
    bl_strbuf_append(h, "<tr><th>Weights</th><td>");
    if (!w || cJSON_IsNull(w)) bl_strbuf_append(h, "<span class=\"na\">not recorded</span>");
    else if (!cJSON_IsObject(w)) return bl_fail(BL_ERR_FORMAT, "%s: weights: expected an object {arch: path}", path);
    for (const cJSON *e = w ? w->child : NULL; e; e = e->next) {
        if (!cJSON_IsString(e))
            return bl_fail(BL_ERR_FORMAT, "%s: weights.%s: expected a string (a path or 'random init')", path,
                           e->string);
        bl_strbuf_append(h, "<code>");
        bl_strbuf_append_escaped(h, e->string);
        bl_strbuf_append(h, "</code>: ");
        bl_strbuf_append_escaped(h, e->valuestring);
        bl_strbuf_append(h, e->next ? "<br>" : "");
    }
    bl_strbuf_append(h, "</td></tr>\n");
    return BL_OK;
}

static bl_status meta_units(const char *path, const cJSON *root, bl_strbuf *h) {
    const cJSON *units = cJSON_GetObjectItemCaseSensitive(root, "units");
    if (!units || cJSON_IsNull(units)) {
        bl_strbuf_append(h, "<p>Per-unit timings: <span class=\"na\">not recorded</span></p>\n");
        return BL_OK;
    }
    if (!cJSON_IsArray(units)) return bl_fail(BL_ERR_FORMAT, "%s: units: expected an array", path);
    bl_strbuf_append(h, "<table>\n<tr><th>Unit</th><th>Seconds</th><th>Status</th></tr>\n");
    double total = 0;
    int index = 0;
    for (const cJSON *u = units->child; u; u = u->next, index++) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(u, "unit");
        const cJSON *seconds = cJSON_GetObjectItemCaseSensitive(u, "seconds");
        const cJSON *status = cJSON_GetObjectItemCaseSensitive(u, "status");
        if (!cJSON_IsString(name)) return bl_fail(BL_ERR_FORMAT, "%s: units[%d].unit: expected a string", path, index);
        if (seconds && (!cJSON_IsNumber(seconds) || !isfinite(seconds->valuedouble)))
            return bl_fail(BL_ERR_FORMAT, "%s: units[%d].seconds: expected a number", path, index);
        if (status && !cJSON_IsString(status))
            return bl_fail(BL_ERR_FORMAT, "%s: units[%d].status: expected a string", path, index);
        bl_strbuf_append(h, "<tr><td>");
        bl_strbuf_append_escaped(h, name->valuestring);
        if (seconds) bl_strbuf_printf(h, "</td><td class=\"num\">%.1f</td><td>", seconds->valuedouble);
        else bl_strbuf_append(h, "</td><td class=\"na\">not recorded</td><td>");
        bl_strbuf_append_escaped(h, status ? status->valuestring : "not recorded");
        bl_strbuf_append(h, "</td></tr>\n");
        total += seconds ? seconds->valuedouble : 0;
    }
    bl_strbuf_printf(h, "<tr><th>total</th><td class=\"num\">%.1f</td><td></td></tr>\n</table>\n", total);
    return BL_OK;
}

static bl_status section_meta(const char *run_dir, bl_strbuf *h) {
    char path[REPORT_PATH_CAP];
    bl_status st = report_join(path, run_dir, "run.json");
    if (st) return st;
    report_section_open(h, "meta", "Run");
    if (!bl_is_file(path)) {
        report_not_available(h, "run.json");
        report_section_close(h);
        return BL_OK;
    }
    char *text = NULL;
    size_t size = 0;
    if ((st = bl_read_file(path, 16u << 20, &text, &size))) return st;
    cJSON *root = cJSON_ParseWithLength(text, size);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return bl_fail(BL_ERR_FORMAT, "%s: expected a JSON object", path);
    }
    const cJSON *demo = cJSON_GetObjectItemCaseSensitive(root, "demo");
    if (cJSON_IsTrue(demo)) bl_strbuf_append(h, "<p class=\"banner\">Demo configuration — not the paper's setting</p>\n");
    static const struct { const char *key, *heading; char kind; } rows[] = {
        {"blasto_version", "blasto version", 's'}, {"build", "Build", 's'},   {"backend", "Backend", 's'},
        {"device", "Device", 's'},                  {"threads", "Threads", 'i'}, {"seed", "Seed", 'i'},
        {"demo", "Demo configuration", 'b'},        {"started", "Started", 's'}, {"finished", "Finished", 's'},
        {"fingerprint", "Fingerprint (fingerprint.json: what produced these results)", 's'},
    };
    bl_strbuf_append(h, "<table class=\"meta\">\n");
    for (int i = 0; !st && i < COUNT(rows); i++) st = meta_row(path, root, rows[i].key, rows[i].heading, rows[i].kind, h);
    if (!st) st = meta_weights(path, root, h);
    const cJSON *config = cJSON_GetObjectItemCaseSensitive(root, "config");
    if (!st && config && !cJSON_IsObject(config) && !cJSON_IsNull(config))
        st = bl_fail(BL_ERR_FORMAT, "%s: config: expected an object", path);
    if (!st) {
        bl_strbuf_append(h, "<tr><th>Configuration</th><td>");
        char *printed = cJSON_IsObject(config) ? cJSON_Print(config) : NULL;
        if (printed) {
            bl_strbuf_append(h, "<pre>");
            bl_strbuf_append_escaped(h, printed);
            bl_strbuf_append(h, "</pre>");
        } else {
            bl_strbuf_append(h, "<span class=\"na\">not recorded</span>");
        }
        free(printed);
        bl_strbuf_append(h, "</td></tr>\n</table>\n");
    }
    if (!st) st = meta_units(path, root, h);
    cJSON_Delete(root);
    report_section_close(h);
    return st;
}

/* ---- the page -------------------------------------------------------------------------------------------------- */

static const char *const style =
    "body{font-family:sans-serif;margin:24px auto;max-width:1200px;color:#222;line-height:1.4}"
    "h1{margin-bottom:4px}h2{border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:36px}"
    "table{border-collapse:collapse;margin:8px 0;font-size:14px}"
    "th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}"
    "th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums}"
    ".na{color:#a33;font-style:italic}.caption{color:#555;font-size:14px}"
    ".banner{background:#fff3cd;border:2px solid #e0a800;padding:8px 12px;font-weight:bold}"
    "pre{margin:0;font-size:12px}svg{margin:6px 12px 6px 0;border:1px solid #ddd}"
    ".pair{display:inline-block;margin:8px 16px 16px 0;vertical-align:top;font-size:13px}"
    ".pair img{width:224px;height:auto;margin-right:4px;image-rendering:pixelated}"
    "nav a{margin-right:12px}";

bl_status bl_report_write(const char *run_dir, const char *out_path) {
    if (!run_dir || !*run_dir) return bl_fail(BL_ERR_INVALID, "report: run directory: expected a path");
    if (!report_is_dir(run_dir)) return bl_fail(BL_ERR_IO, "%s: not a directory (expected an experiment run)", run_dir);
    char default_out[REPORT_PATH_CAP];
    bl_status st = BL_OK;
    if (!out_path) {
        if ((st = report_join(default_out, run_dir, "report.html"))) return st;
        out_path = default_out;
    }
    bl_strbuf h = {0};
    bl_strbuf_append(&h, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                         "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                         "img-src data:; style-src 'unsafe-inline'\">\n<title>blasto report: ");
    bl_strbuf_append_escaped(&h, run_dir);
    bl_strbuf_printf(&h, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>blasto experiment report</h1>\n", style);
    bl_strbuf_append(&h, "<p>Run directory: <code>");
    bl_strbuf_append_escaped(&h, run_dir);
    bl_strbuf_append(&h, "</code></p>\n<nav><a href=\"#meta\">Run</a><a href=\"#table1\">Table 1</a>"
                         "<a href=\"#table2\">Table 2</a><a href=\"#figure4\">Figure 4</a><a href=\"#roc\">ROC</a>"
                         "<a href=\"#delong\">DeLong</a><a href=\"#calibration\">Calibration</a>"
                         "<a href=\"#table3\">Table 3</a><a href=\"#gradcam\">Grad-CAM</a></nav>\n");
    st = section_meta(run_dir, &h);
    if (!st)
        st = table_section(run_dir, "table1.csv", "table1", "Table 1: age of pregnant vs not pregnant",
                           "Mean (SD, ddof 1) age per class; Student and Welch two-sample t-tests, two-sided.",
                           COUNT(table1_columns), table1_columns, &h);
    if (!st)
        st = table_section(run_dir, "table2.csv", "table2", "Table 2: test-set performance, mean (SD) over folds",
                           "Each fold's best checkpoint on the fixed test set; threshold 0.5; SD with ddof 1.",
                           COUNT(table2_columns), table2_columns, &h);
    char seg_path[REPORT_PATH_CAP];
    if (!st && !(st = report_join(seg_path, run_dir, "segmentation.csv")) && access(seg_path, F_OK) == 0)
        st = table_section(run_dir, "segmentation.csv", "segmentation",
                           "Segmentation: predicted ICM/TE masks against the manual ones",
                           "Per fold: the U-Net trained on that fold's training rows only, scored on the test images "
                           "(mean (SD) over images); last row: mean (SD) over folds of the fold means. The enhanced "
                           "input's validation and test rows were enhanced from these predicted masks.",
                           COUNT(segmentation_columns), segmentation_columns, &h);
    if (!st && access(seg_path, F_OK) == 0) {
        report_section_open(&h, "segmentation_gallery", "Segmentation: manual vs predicted outlines");
        st = report_segmentation_gallery(run_dir, &h);
        report_section_close(&h);
    }
    if (!st) st = report_figure4_and_roc(run_dir, &h);
    if (!st)
        st = table_section(run_dir, "delong.csv", "delong", "DeLong test: enhanced vs original input",
                           "Paired DeLong test per architecture and fold on the same test rows; two-sided p.",
                           COUNT(delong_columns), delong_columns, &h);
    char masks_path[REPORT_PATH_CAP];
    if (!st && !(st = report_join(masks_path, run_dir, "delong_masks.csv")) && access(masks_path, F_OK) == 0)
        st = table_section(run_dir, "delong_masks.csv", "delong_masks",
                           "DeLong test: enhanced from manual vs from predicted masks",
                           "The enhanced input with the validation and test rows enhanced from the manual outlines "
                           "against the same from the segmenter's masks; paired per architecture and fold on the "
                           "same test rows; two-sided p.",
                           COUNT(delong_masks_columns), delong_masks_columns, &h);
    if (!st) st = report_calibration(run_dir, &h);
    if (!st)
        st = table_section(run_dir, "table3.csv", "table3", "Table 3: Grad-CAM focus on ICM/TE by agreement",
                           "Pointing-game hits of model A (original input) and model B (enhanced input) per agreement "
                           "category; McNemar's test on the paired hits.",
                           COUNT(table3_columns), table3_columns, &h);
    if (!st) st = report_gallery(run_dir, &h);
    bl_strbuf_append(&h, "<p class=\"caption\">Written by blasto report. No script; every image is embedded.</p>\n"
                         "</body>\n</html>\n");
    if (!st && h.failed) st = bl_fail(BL_ERR_NOMEM, "%s: out of memory building the report", run_dir);
    if (!st) st = bl_write_file_atomic(out_path, h.data, h.len);
    bl_strbuf_free(&h);
    return st;
}
