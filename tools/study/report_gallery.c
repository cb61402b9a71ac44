/* report_gallery.c — the report's Grad-CAM gallery (#gradcam): the overlays of the original-input unit and the
 * enhanced-input unit side by side, each with its label, score and pointing-game hit from the unit's focus.csv,
 * embedded as base64 data: URIs. Also the base64 encoder (RFC 4648). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "study/csv.h"
#include "study/files.h"
#include "study/report.h"
#include "study/report_parts.h"

/* ---- base64 ---------------------------------------------------------------------------------------------------- */

void bl_base64_append(bl_strbuf *out, const unsigned char *data, size_t size) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char quad[4];
    /* every 3 bytes (24 bits) become 4 characters of 6 bits, most significant first */
    for (size_t i = 0; i < size; i += 3) {
        size_t left = size - i;
        unsigned bits = (unsigned)data[i] << 16;
        if (left > 1) bits |= (unsigned)data[i + 1] << 8;
        if (left > 2) bits |= data[i + 2];
        quad[0] = alphabet[(bits >> 18) & 63];
        quad[1] = alphabet[(bits >> 12) & 63];
        quad[2] = left > 1 ? alphabet[(bits >> 6) & 63] : '=';
        quad[3] = left > 2 ? alphabet[bits & 63] : '=';
        bl_strbuf_append_n(out, quad, 4);
    }
}

/* ---- focus.csv ------------------------------------------------------------------------------------------------- */

typedef struct focus {
    bl_csv *csv; /* NULL when the unit has no focus.csv */
    int id, label, score, hit; /* column indices */
} focus;

static bl_status parse_field(const bl_csv *csv, int row, int column, int integer, double lo, double hi) {
    const char *text = csv->rows[row][column];
    char *end = NULL;
    double v = strtod(text, &end);
    if (end == text || *end || !(v >= lo && v <= hi) || (integer && v != (double)(long)v))
        return bl_fail(BL_ERR_FORMAT, "%s: line %d: column '%s': expected %s in [%g, %g], got '%s'", csv->path,
                       csv->row_line[row], csv->header[column], integer ? "an integer" : "a number", lo, hi, text);
    return BL_OK;
}

static bl_status focus_read(const char *path, focus *f) {
    *f = (focus){0};
    if (!bl_is_file(path)) return BL_OK;
    static const char *const need[4] = {"id", "label", "score", "hit"};
    bl_status st = bl_csv_read(path, &f->csv);
    if (!st) st = bl_csv_require(f->csv, 4, need);
    if (st) {
        bl_csv_free(f->csv);
        f->csv = NULL;
        return st;
    }
    f->id = bl_csv_column(f->csv, "id"), f->label = bl_csv_column(f->csv, "label");
    f->score = bl_csv_column(f->csv, "score"), f->hit = bl_csv_column(f->csv, "hit");
    for (int i = 0; !st && i < f->csv->n_rows; i++) {
        st = parse_field(f->csv, i, f->label, 1, 0, 1);
        if (!st) st = parse_field(f->csv, i, f->score, 0, 0, 1);
        if (!st) st = parse_field(f->csv, i, f->hit, 1, 0, 1);
    }
    if (st) bl_csv_free(f->csv), f->csv = NULL;
    return st;
}

static int focus_row(const focus *f, const char *id) {
    for (int i = 0; f->csv && i < f->csv->n_rows; i++)
        if (strcmp(f->csv->rows[i][f->id], id) == 0) return i;
    return -1;
}

/* ---- choosing the two units ------------------------------------------------------------------------------------ */

/* From table3.csv (model_a = original, model_b = enhanced), else the first gradcam/ folders whose names contain
 * "-original" and "-enhanced". Empty strings when not found. */
static bl_status choose_units(const char *run_dir, const char *gradcam, char *a, char *b, size_t cap) {
    char path[REPORT_PATH_CAP];
    bl_status st = report_join(path, run_dir, "table3.csv");
    a[0] = b[0] = '\0';
    if (!st && bl_is_file(path)) {
        bl_csv *csv = NULL;
        static const char *const need[2] = {"model_a", "model_b"};
        st = bl_csv_read(path, &csv);
        if (!st) st = bl_csv_require(csv, 2, need);
        if (!st && csv->n_rows > 0) {
            snprintf(a, cap, "%s", csv->rows[0][bl_csv_column(csv, "model_a")]);
            snprintf(b, cap, "%s", csv->rows[0][bl_csv_column(csv, "model_b")]);
        }
        bl_csv_free(csv);
        if (st || (a[0] && b[0])) return st;
    }
    char **names = NULL;
    int count = 0;
    if (!st) st = report_list(gradcam, 1, &names, &count);
    for (int i = 0; !st && i < count; i++) {
        if (!a[0] && strstr(names[i], "-original")) snprintf(a, cap, "%s", names[i]);
        if (!b[0] && strstr(names[i], "-enhanced")) snprintf(b, cap, "%s", names[i]);
    }
    report_free_names(names, count);
    return st;
}

/* <dir>/<id>.png or <dir>/overlays/<id>.png into path; 0 when neither is a file (or the id is not a plain name). */
static int find_overlay(const char *dir, const char *id, char *path) {
    if (!*id || id[0] == '.' || strchr(id, '/')) return 0;
    if (snprintf(path, REPORT_PATH_CAP, "%s/%s.png", dir, id) < REPORT_PATH_CAP && bl_is_file(path)) return 1;
    if (snprintf(path, REPORT_PATH_CAP, "%s/overlays/%s.png", dir, id) < REPORT_PATH_CAP && bl_is_file(path)) return 1;
    return 0;
}

/* The ids to show, in order: the original unit's focus.csv rows, else its PNG file names (sorted). */
static bl_status gallery_ids(const char *dir_a, const focus *fa, char ***ids, int *count) {
    if (fa->csv) {
        *count = 0;
        *ids = calloc((size_t)fa->csv->n_rows + 1, sizeof **ids);
        if (!*ids) return bl_fail(BL_ERR_NOMEM, "gallery: out of memory");
        for (int i = 0; i < fa->csv->n_rows; i++)
            if (!((*ids)[(*count)++] = strdup(fa->csv->rows[i][fa->id]))) return bl_fail(BL_ERR_NOMEM, "gallery: out of memory");
        return BL_OK;
    }
    char overlays[REPORT_PATH_CAP], **more = NULL;
    int n_more = 0;
    bl_status st = report_list(dir_a, 0, ids, count);
    if (!st) st = report_join(overlays, dir_a, "overlays");
    if (!st) st = report_list(overlays, 0, &more, &n_more);
    char **all = st ? NULL : calloc((size_t)(*count + n_more) + 1, sizeof *all);
    int n = 0;
    for (int i = 0; all && i < *count + n_more; i++) {
        char *name = i < *count ? (*ids)[i] : more[i - *count];
        size_t len = strlen(name);
        if (len > 4 && strcmp(name + len - 4, ".png") == 0) {
            name[len - 4] = '\0';
            int seen = 0;
            for (int j = 0; j < n && !seen; j++) seen = strcmp(all[j], name) == 0;
            if (!seen) all[n++] = strdup(name);
        }
    }
    if (!st && !all) st = bl_fail(BL_ERR_NOMEM, "gallery: out of memory");
    report_free_names(*ids, *count);
    report_free_names(more, n_more);
    *ids = all, *count = n;
    return st;
}

/* ---- the gallery ----------------------------------------------------------------------------------------------- */

bl_status report_embed_png(const char *path, const char *alt, bl_strbuf *h) {
    char *bytes = NULL;
    size_t size = 0;
    bl_status st = bl_read_file(path, 32u << 20, &bytes, &size);
    if (st) return st;
    static const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (size < 8 || memcmp(bytes, signature, 8) != 0) {
        free(bytes);
        return bl_fail(BL_ERR_FORMAT, "%s: not a PNG file (bad signature)", path);
    }
    bl_strbuf_append(h, "<img alt=\"");
    bl_strbuf_append_escaped(h, alt);
    bl_strbuf_append(h, "\" src=\"data:image/png;base64,");
    bl_base64_append(h, (const unsigned char *)bytes, size);
    bl_strbuf_append(h, "\">");
    free(bytes);
    return BL_OK;
}

/* "original: score 0.734, hit yes" */
static void focus_caption(const char *unit_name, const focus *f, const char *id, bl_strbuf *h) {
    int row = focus_row(f, id);
    bl_strbuf_append(h, "<br>");
    bl_strbuf_append_escaped(h, unit_name);
    if (row < 0) {
        bl_strbuf_append(h, ": <span class=\"na\">not recorded</span>");
        return;
    }
    char **r = f->csv->rows[row];
    bl_strbuf_printf(h, ": score %.3f, hit %s", strtod(r[f->score], NULL), strcmp(r[f->hit], "1") == 0 ? "yes" : "no");
}

bl_status report_gallery(const char *run_dir, bl_strbuf *h) {
    char gradcam[REPORT_PATH_CAP], a[256], b[256], dir_a[REPORT_PATH_CAP], dir_b[REPORT_PATH_CAP];
    char focus_path[REPORT_PATH_CAP];
    bl_status st = report_join(gradcam, run_dir, "gradcam");
    if (st) return st;
    report_section_open(h, "gradcam", "Grad-CAM: original vs enhanced input");
    if (!report_is_dir(gradcam)) {
        report_not_available(h, "gradcam/");
        report_section_close(h);
        return BL_OK;
    }
    if ((st = choose_units(run_dir, gradcam, a, b, sizeof a))) return st;
    if (!a[0] || !b[0]) {
        report_not_available(h, !a[0] ? "gradcam/<original-input unit>/" : "gradcam/<enhanced-input unit>/");
        report_section_close(h);
        return BL_OK;
    }
    focus fa = {0}, fb = {0};
    char **ids = NULL;
    int n_ids = 0, shown = 0, with_both = 0;
    st = report_join(dir_a, gradcam, a);
    if (!st) st = report_join(dir_b, gradcam, b);
    if (!st) st = report_join(focus_path, dir_a, "focus.csv");
    if (!st) st = focus_read(focus_path, &fa);
    if (!st) st = report_join(focus_path, dir_b, "focus.csv");
    if (!st) st = focus_read(focus_path, &fb);
    if (!st) st = gallery_ids(dir_a, &fa, &ids, &n_ids);
    if (!st) {
        bl_strbuf_append(h, "<p class=\"caption\">Left: <code>");
        bl_strbuf_append_escaped(h, a);
        bl_strbuf_append(h, "</code> (original input); right: <code>");
        bl_strbuf_append_escaped(h, b);
        bl_strbuf_append(h, "</code> (enhanced input). Jet heatmap over the grayscale image; ICM outlined in magenta, "
                            "TE in white. Hit: the heatmap's maximum within 15 px (at 224) of ICM ∪ TE.</p>\n");
    }
    for (int i = 0; !st && i < n_ids; i++) {
        char png_a[REPORT_PATH_CAP], png_b[REPORT_PATH_CAP];
        if (!find_overlay(dir_a, ids[i], png_a) || !find_overlay(dir_b, ids[i], png_b)) continue;
        if (++with_both > BL_REPORT_MAX_GALLERY) continue;
        shown++;
        bl_strbuf_append(h, "<div class=\"pair\">");
        st = report_embed_png(png_a, a, h);
        if (!st) st = report_embed_png(png_b, b, h);
        if (st) break;
        bl_strbuf_append(h, "<br><b>");
        bl_strbuf_append_escaped(h, ids[i]);
        const focus *fl = &fa;
        int row = focus_row(&fa, ids[i]);
        if (row < 0) fl = &fb, row = focus_row(&fb, ids[i]);
        if (row >= 0) bl_strbuf_printf(h, "</b>, label %s", fl->csv->rows[row][fl->label]);
        else bl_strbuf_append(h, "</b>, label <span class=\"na\">not recorded</span>");
        focus_caption(a, &fa, ids[i], h);
        focus_caption(b, &fb, ids[i], h);
        bl_strbuf_append(h, "</div>\n");
    }
    if (!st && with_both == 0) {
        bl_strbuf_append(h, "<p class=\"na\">not available: no id has an overlay PNG in both gradcam/");
        bl_strbuf_append_escaped(h, a);
        bl_strbuf_append(h, " and gradcam/");
        bl_strbuf_append_escaped(h, b);
        bl_strbuf_append(h, " (run blasto gradcam for them)</p>\n");
    } else if (!st && with_both > shown) {
        bl_strbuf_printf(h, "<p class=\"caption\">%d more pairs are not shown (at most %d are embedded).</p>\n",
                         with_both - shown, BL_REPORT_MAX_GALLERY);
    }
    report_free_names(ids, n_ids);
    bl_csv_free(fa.csv);
    bl_csv_free(fb.csv);
    report_section_close(h);
    return st;
}

bl_status report_segmentation_gallery(const char *run_dir, bl_strbuf *h) {
    char segment[REPORT_PATH_CAP];
    bl_status st = report_join(segment, run_dir, "segment");
    if (st || !report_is_dir(segment)) return st;
    char **folds = NULL;
    int n_folds = 0, shown = 0, total = 0;
    if ((st = report_list(segment, 1, &folds, &n_folds))) return st;
    bl_strbuf_append(h, "<p class=\"caption\">Test images: the manual ICM and TE outlines in green, the segmenter's "
                        "in magenta, white where they coincide (the first test images of each fold).</p>\n");
    for (int f = 0; !st && f < n_folds; f++) {
        char gallery[REPORT_PATH_CAP], fold_dir[REPORT_PATH_CAP];
        char **pngs = NULL;
        int n = 0;
        st = report_join(fold_dir, segment, folds[f]);
        if (!st) st = report_join(gallery, fold_dir, "gallery");
        if (!st) st = report_list(gallery, 0, &pngs, &n);
        for (int i = 0; !st && i < n; i++) {
            size_t len = strlen(pngs[i]);
            if (len < 5 || strcmp(pngs[i] + len - 4, ".png") != 0) continue;
            total++;
            if (shown >= BL_REPORT_MAX_GALLERY) continue;
            char png[REPORT_PATH_CAP], alt[512];
            snprintf(alt, sizeof alt, "%s %.*s", folds[f], (int)(len - 4), pngs[i]);
            st = report_join(png, gallery, pngs[i]);
            bl_strbuf_append(h, "<div class=\"pair\">");
            if (!st) st = report_embed_png(png, alt, h);
            bl_strbuf_append(h, "<br>");
            bl_strbuf_append_escaped(h, alt);
            bl_strbuf_append(h, "</div>\n");
            shown++;
        }
        report_free_names(pngs, n);
    }
    if (!st && total > shown)
        bl_strbuf_printf(h, "<p class=\"caption\">%d more are not shown (at most %d are embedded).</p>\n",
                         total - shown, BL_REPORT_MAX_GALLERY);
    report_free_names(folds, n_folds);
    return st;
}
