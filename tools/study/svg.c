/* svg.c — the text buffer, ticks, box statistics and SVG primitives declared in svg.h. */
#include "study/svg.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- text buffer ----------------------------------------------------------------------------------------------- */

static int strbuf_reserve(bl_strbuf *b, size_t extra) {
    if (b->failed) return 0;
    if (b->len + extra + 1 <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1) cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data) {
        b->failed = 1;
        return 0;
    }
    b->data = data, b->cap = cap;
    return 1;
}

void bl_strbuf_append_n(bl_strbuf *b, const char *text, size_t n) {
    if (!strbuf_reserve(b, n)) return;
    memcpy(b->data + b->len, text, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void bl_strbuf_append(bl_strbuf *b, const char *text) { bl_strbuf_append_n(b, text, strlen(text)); }

void bl_strbuf_printf(bl_strbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0) {
        b->failed = 1;
        return;
    }
    if (!strbuf_reserve(b, (size_t)need)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)need + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)need;
}

void bl_strbuf_append_escaped(bl_strbuf *b, const char *text) {
    for (const char *s = text; *s; s++) {
        switch (*s) {
        case '&': bl_strbuf_append(b, "&amp;"); break;
        case '<': bl_strbuf_append(b, "&lt;"); break;
        case '>': bl_strbuf_append(b, "&gt;"); break;
        case '"': bl_strbuf_append(b, "&quot;"); break;
        case '\'': bl_strbuf_append(b, "&#39;"); break;
        default: bl_strbuf_append_n(b, s, 1);
        }
    }
}

void bl_strbuf_free(bl_strbuf *b) {
    free(b->data);
    *b = (bl_strbuf){0};
}

/* ---- ticks and box statistics ---------------------------------------------------------------------------------- */

int bl_nice_ticks(double lo, double hi, int target, double *ticks, int cap, double *step) {
    double raw = (hi - lo) / (target < 1 ? 1 : target);
    double magnitude = pow(10.0, floor(log10(raw)));
    double residual = raw / magnitude;
    double s = (residual <= 1.0 ? 1.0 : residual <= 2.0 ? 2.0 : residual <= 5.0 ? 5.0 : 10.0) * magnitude;
    /* k·step with integer k, so ticks do not drift by repeated addition */
    double first = ceil(lo / s - 1e-9), last = floor(hi / s + 1e-9);
    int count = 0;
    for (double k = first; k <= last && count < cap; k += 1.0) {
        double v = k * s;
        ticks[count++] = fabs(v) < 1e-9 * s ? 0.0 : v;
    }
    *step = s;
    return count;
}

double bl_percentile_linear(int n, const double *sorted, double q) {
    double h = (n - 1) * q;
    int i = (int)floor(h);
    if (i >= n - 1) return sorted[n - 1];
    /* numpy's _lerp: a + (b − a)·t, or b − (b − a)·(1 − t) when t ≥ 0.5 (so t = 1 gives b exactly) */
    double a = sorted[i], b = sorted[i + 1], t = h - i;
    return t >= 0.5 ? b - (b - a) * (1.0 - t) : a + (b - a) * t;
}

static int ascending(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

bl_status bl_box_stats_compute(int n, const double *x, bl_box_stats *out) {
    *out = (bl_box_stats){0};
    if (n < 1) return bl_fail(BL_ERR_INVALID, "box plot: no values (expected n >= 1, got %d)", n);
    double *s = malloc((size_t)n * sizeof *s);
    if (!s) return bl_fail(BL_ERR_NOMEM, "box plot: out of memory for %d values", n);
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i])) {
            free(s);
            return bl_fail(BL_ERR_NUMERIC, "box plot: value[%d]: expected a finite number, got %g", i, x[i]);
        }
        s[i] = x[i];
    }
    qsort(s, (size_t)n, sizeof *s, ascending);
    out->n = n;
    out->q1 = bl_percentile_linear(n, s, 0.25);
    out->median = bl_percentile_linear(n, s, 0.5);
    out->q3 = bl_percentile_linear(n, s, 0.75);
    double iqr = out->q3 - out->q1, fence_low = out->q1 - 1.5 * iqr, fence_high = out->q3 + 1.5 * iqr;
    /* matplotlib: the lowest datum >= the low fence (Q1 if none), the highest <= the high fence (Q3 if none) */
    out->whisker_low = out->q1, out->whisker_high = out->q3;
    for (int i = 0; i < n; i++)
        if (s[i] >= fence_low) {
            out->whisker_low = fmin(s[i], out->q1);
            break;
        }
    for (int i = n - 1; i >= 0; i--)
        if (s[i] <= fence_high) {
            out->whisker_high = fmax(s[i], out->q3);
            break;
        }
    int k = 0;
    for (int i = 0; i < n; i++)
        if (s[i] < out->whisker_low || s[i] > out->whisker_high) s[k++] = s[i];
    out->n_outliers = k;
    if (k > 0) out->outliers = s;
    else free(s);
    return BL_OK;
}

void bl_box_stats_free(bl_box_stats *b) {
    free(b->outliers);
    *b = (bl_box_stats){0};
}

/* ---- plots ----------------------------------------------------------------------------------------------------- */

#define FONT "font-family=\"sans-serif\""

double bl_svg_x(const bl_svg_plot *p, double x) {
    return p->left + (x - p->x_min) / (p->x_max - p->x_min) * (p->right - p->left);
}

double bl_svg_y(const bl_svg_plot *p, double y) {
    return p->bottom - (y - p->y_min) / (p->y_max - p->y_min) * (p->bottom - p->top);
}

/* Decimals that print every multiple of step exactly: 0.2 → 1, 0.05 → 2, 5 → 0. */
static int tick_decimals(double step) {
    int d = 0;
    for (double scaled = step; d < 9 && fabs(scaled - round(scaled)) > 1e-6 * scaled; scaled *= 10.0) d++;
    return d;
}

/* One text element, lines split at '\n' into tspans 13 px apart. anchor: start | middle | end. */
static void text_lines(bl_strbuf *out, double x, double y, const char *anchor, int size, const char *extra,
                       const char *text) {
    bl_strbuf_printf(out, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"%s\" " FONT " font-size=\"%d\"%s>", x, y, anchor,
                     size, extra ? extra : "");
    int first = 1;
    for (const char *s = text;; first = 0) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        char *line = malloc(len + 1);
        if (!line) {
            out->failed = 1;
            return;
        }
        memcpy(line, s, len);
        line[len] = '\0';
        bl_strbuf_printf(out, "<tspan x=\"%.2f\" dy=\"%s\">", x, first ? "0" : "13");
        bl_strbuf_append_escaped(out, line);
        bl_strbuf_append(out, "</tspan>");
        free(line);
        if (!nl) break;
        s = nl + 1;
    }
    bl_strbuf_append(out, "</text>\n");
}

static int count_lines(const char *text) {
    int lines = 1;
    for (; *text; text++) lines += *text == '\n';
    return lines;
}

void bl_svg_begin(bl_strbuf *out, bl_svg_plot *p, const char *id) {
    int category_lines = 1;
    if (p->n_categories > 0) {
        p->x_min = 0.5, p->x_max = p->n_categories + 0.5;
        for (int i = 0; i < p->n_categories; i++)
            if (count_lines(p->categories[i]) > category_lines) category_lines = count_lines(p->categories[i]);
    }
    p->left = 62, p->right = p->width - 16, p->top = p->title ? 34 : 14;
    p->bottom = p->height - 44 - 13.0 * (category_lines - 1);
    bl_strbuf_append(out, "<svg xmlns=\"http://www.w3.org/2000/svg\"");
    if (id) {
        bl_strbuf_append(out, " id=\"");
        bl_strbuf_append_escaped(out, id);
        bl_strbuf_append(out, "\"");
    }
    bl_strbuf_printf(out, " width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n", p->width, p->height,
                     p->width, p->height);
    bl_strbuf_printf(out, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", p->width, p->height);
    if (p->title) text_lines(out, p->width / 2.0, 20, "middle", 14, " font-weight=\"bold\"", p->title);

    double ticks[64], step;
    /* y: grid line, tick mark and label per tick */
    int ny = bl_nice_ticks(p->y_min, p->y_max, 5, ticks, 64, &step);
    int dy = tick_decimals(step);
    for (int i = 0; i < ny; i++) {
        double y = bl_svg_y(p, ticks[i]);
        char label[48];
        snprintf(label, sizeof label, "%.*f", dy, ticks[i]);
        bl_strbuf_printf(out, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#e4e4e4\"/>\n", p->left, y,
                         p->right, y);
        bl_strbuf_printf(out, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#333333\"/>\n",
                         p->left - 5, y, p->left, y);
        text_lines(out, p->left - 8, y + 4, "end", 11, NULL, label);
    }
    /* x: numeric ticks or one label per category */
    if (p->n_categories > 0) {
        for (int i = 0; i < p->n_categories; i++) {
            double x = bl_svg_x(p, i + 1.0);
            bl_strbuf_printf(out, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#333333\"/>\n", x,
                             p->bottom, x, p->bottom + 5);
            text_lines(out, x, p->bottom + 18, "middle", 11, NULL, p->categories[i]);
        }
    } else {
        int nx = bl_nice_ticks(p->x_min, p->x_max, 5, ticks, 64, &step);
        int dx = tick_decimals(step);
        for (int i = 0; i < nx; i++) {
            double x = bl_svg_x(p, ticks[i]);
            char label[48];
            snprintf(label, sizeof label, "%.*f", dx, ticks[i]);
            bl_strbuf_printf(out, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#e4e4e4\"/>\n", x,
                             p->top, x, p->bottom);
            bl_strbuf_printf(out, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#333333\"/>\n", x,
                             p->bottom, x, p->bottom + 5);
            text_lines(out, x, p->bottom + 18, "middle", 11, NULL, label);
        }
    }
    bl_strbuf_printf(out,
                     "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" stroke=\"#333333\"/>\n",
                     p->left, p->top, p->right - p->left, p->bottom - p->top);
    if (p->x_label)
        text_lines(out, (p->left + p->right) / 2, p->height - 10.0, "middle", 12, NULL, p->x_label);
    if (p->y_label) {
        char rotate[96];
        double cx = 16, cy = (p->top + p->bottom) / 2;
        snprintf(rotate, sizeof rotate, " transform=\"rotate(-90 %.2f %.2f)\"", cx, cy);
        text_lines(out, cx, cy, "middle", 12, rotate, p->y_label);
    }
}

void bl_svg_end(bl_strbuf *out) { bl_strbuf_append(out, "</svg>\n"); }

static void series_attribute(bl_strbuf *out, const char *series) {
    if (!series) return;
    bl_strbuf_append(out, " data-series=\"");
    bl_strbuf_append_escaped(out, series);
    bl_strbuf_append(out, "\"");
}

void bl_svg_polyline(bl_strbuf *out, const bl_svg_plot *p, int n, const double *x, const double *y, const char *color,
                     int dashed, const char *series) {
    bl_strbuf_append(out, "<polyline");
    series_attribute(out, series);
    bl_strbuf_append(out, " data-xy=\"");
    for (int i = 0; i < n; i++) bl_strbuf_printf(out, "%s%.6g,%.6g", i ? " " : "", x[i], y[i]);
    bl_strbuf_append(out, "\" points=\"");
    for (int i = 0; i < n; i++) bl_strbuf_printf(out, "%s%.2f,%.2f", i ? " " : "", bl_svg_x(p, x[i]), bl_svg_y(p, y[i]));
    bl_strbuf_printf(out, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"%s\"%s/>\n", color, dashed ? "1" : "1.8",
                     dashed ? " stroke-dasharray=\"5,4\"" : "");
}

void bl_svg_markers(bl_strbuf *out, const bl_svg_plot *p, int n, const double *x, const double *y, const char *color) {
    for (int i = 0; i < n; i++)
        bl_strbuf_printf(out, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3\" fill=\"%s\"/>\n", bl_svg_x(p, x[i]),
                         bl_svg_y(p, y[i]), color);
}

static void line(bl_strbuf *out, double x1, double y1, double x2, double y2, const char *color, double width) {
    bl_strbuf_printf(out, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" stroke-width=\"%.1f\"/>\n",
                     x1, y1, x2, y2, color, width);
}

void bl_svg_box(bl_strbuf *out, const bl_svg_plot *p, double x, double half_width, const bl_box_stats *b,
                int n_points, const double *points, const char *color, const char *series) {
    double left = bl_svg_x(p, x - half_width), right = bl_svg_x(p, x + half_width), mid = bl_svg_x(p, x);
    double cap_left = bl_svg_x(p, x - half_width / 2), cap_right = bl_svg_x(p, x + half_width / 2);
    double y_q1 = bl_svg_y(p, b->q1), y_q3 = bl_svg_y(p, b->q3);
    bl_strbuf_append(out, "<g class=\"box\"");
    series_attribute(out, series);
    bl_strbuf_printf(out, " data-stats=\"%.6g,%.6g,%.6g,%.6g,%.6g\">\n", b->whisker_low, b->q1, b->median, b->q3,
                     b->whisker_high);
    line(out, mid, bl_svg_y(p, b->whisker_low), mid, y_q1, "#333333", 1);
    line(out, mid, y_q3, mid, bl_svg_y(p, b->whisker_high), "#333333", 1);
    line(out, cap_left, bl_svg_y(p, b->whisker_low), cap_right, bl_svg_y(p, b->whisker_low), "#333333", 1);
    line(out, cap_left, bl_svg_y(p, b->whisker_high), cap_right, bl_svg_y(p, b->whisker_high), "#333333", 1);
    bl_strbuf_printf(out,
                     "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\" fill-opacity=\"0.35\" "
                     "stroke=\"%s\"/>\n",
                     left, y_q3, right - left, y_q1 - y_q3, color, color);
    line(out, left, bl_svg_y(p, b->median), right, bl_svg_y(p, b->median), "#d62728", 2);
    for (int i = 0; i < b->n_outliers; i++)
        bl_strbuf_printf(out, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3.5\" fill=\"none\" stroke=\"#333333\"/>\n", mid,
                         bl_svg_y(p, b->outliers[i]));
    for (int i = 0; i < n_points; i++)
        bl_strbuf_printf(out, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"2\" fill=\"#333333\"/>\n", mid,
                         bl_svg_y(p, points[i]));
    bl_strbuf_append(out, "</g>\n");
}

void bl_svg_legend(bl_strbuf *out, const bl_svg_plot *p, int n, const char *const *labels, const char *const *colors,
                   int corner) {
    if (n < 1) return;
    size_t longest = 0;
    for (int i = 0; i < n; i++)
        if (strlen(labels[i]) > longest) longest = strlen(labels[i]);
    double w = 36 + 5.8 * (double)longest, h = 8 + 16.0 * n; /* ~5.8 px per character at 11 px sans-serif */
    double x0 = corner == 0 ? p->right - w - 8 : p->left + 8, y0 = corner == 0 ? p->bottom - h - 8 : p->top + 8;
    bl_strbuf_printf(out,
                     "<g class=\"legend\"><rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#ffffff\" "
                     "fill-opacity=\"0.9\" stroke=\"#999999\"/>\n",
                     x0, y0, w, h);
    for (int i = 0; i < n; i++) {
        double y = y0 + 12 + 16.0 * i;
        line(out, x0 + 6, y, x0 + 24, y, colors[i], 2.5);
        text_lines(out, x0 + 29, y + 4, "start", 11, NULL, labels[i]);
    }
    bl_strbuf_append(out, "</g>\n");
}
