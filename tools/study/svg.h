/* svg.h — a tiny SVG plotting module for the HTML report (tools/study/report.h): a growable text buffer, "nice" axis
 * ticks, box-plot statistics and a plot with axes, ticks, tick labels, axis labels, title, legend, polylines,
 * markers and box plots.
 *
 * What it is: just enough to draw the paper's figures (ROC curves, calibration curves, Figure 4's box plot) as
 * plain SVG 1.1 that any browser shows, with no script. Output is deterministic: the same calls give the same
 * bytes (coordinates are printed with "%.2f", data values with "%.6g"). Every piece of text is XML-escaped.
 * What it is not: a general plotting library (no log axes, no automatic layout of long labels, no clipping: the
 * caller chooses axis ranges that hold the data).
 *
 * Geometry: a plot of width × height pixels has the data area [left, right] × [top, bottom] (pixels, y down);
 * a data point (x, y) is drawn at
 *     px = left + (x − x_min)/(x_max − x_min)·(right − left),   py = bottom − (y − y_min)/(y_max − y_min)·(bottom − top).
 * Series carry their data values too (attribute data-xy="x,y x,y …", "%.6g"), so a reader or a test can check the
 * numbers without inverting the mapping.
 *
 * Box plots follow matplotlib's default (Axes.boxplot, cbook.boxplot_stats with whis = 1.5): quartiles by numpy's
 * default "linear" percentile (h = (n − 1)·q, x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]) on the sorted data), whiskers
 * at the most extreme data points within [Q1 − 1.5·IQR, Q3 + 1.5·IQR] (at Q1 / Q3 when no point is inside), points
 * beyond the whiskers drawn as outliers. */
#ifndef BLASTO_SVG_H
#define BLASTO_SVG_H

#include <stddef.h>

#include "core/status.h"

/* ---- growable text buffer ---- */

/* Zero-initialise ({0}) to start. An allocation failure sets `failed`, after which appends do nothing: check it
 * once at the end. */
typedef struct bl_strbuf {
    char *data; /* NUL-terminated when len > 0 */
    size_t len, cap;
    int failed;
} bl_strbuf;

void bl_strbuf_append(bl_strbuf *b, const char *text);
void bl_strbuf_append_n(bl_strbuf *b, const char *text, size_t n);
void bl_strbuf_printf(bl_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* text with & < > " ' replaced by entities (safe inside elements and quoted attributes) */
void bl_strbuf_append_escaped(bl_strbuf *b, const char *text);
void bl_strbuf_free(bl_strbuf *b);

/* ---- ticks and box statistics ---- */

/* Tick values covering [lo, hi] by the 1-2-5 rule: step = the smallest of {1, 2, 5, 10}·10^k that is at least
 * (hi − lo)/target; ticks are the multiples k·step inside [lo, hi] (within 1e-9·step). Writes at most `cap` ticks,
 * returns their count and the step in *step. lo < hi, both finite, target ≥ 1. */
int bl_nice_ticks(double lo, double hi, int target, double *ticks, int cap, double *step);

/* numpy.percentile(x, 100·q) with the default "linear" method, including numpy's two-sided interpolation
 * (b − (b − a)·(1 − t) for t ≥ 0.5). sorted: [n] ascending, n ≥ 1; 0 ≤ q ≤ 1. */
double bl_percentile_linear(int n, const double *sorted, double q);

typedef struct bl_box_stats {
    int n;
    double q1, median, q3;
    double whisker_low, whisker_high;
    int n_outliers;
    double *outliers; /* [n_outliers] ascending, malloc'ed (NULL when none) */
} bl_box_stats;
/* x: [n] read (finite, n ≥ 1; any order). Free with bl_box_stats_free. */
bl_status bl_box_stats_compute(int n, const double *x, bl_box_stats *out);
void bl_box_stats_free(bl_box_stats *b);

/* ---- plots ---- */

typedef struct bl_svg_plot {
    const char *title, *x_label, *y_label; /* may be NULL */
    int width, height;                     /* pixels */
    double x_min, x_max, y_min, y_max;     /* data ranges of the axes (x ignored when n_categories > 0) */
    int n_categories;                      /* > 0: a categorical x axis, category i (0-based) centred at x = i + 1 */
    const char *const *categories;         /* [n_categories] labels; '\n' breaks a label into lines */
    /* set by bl_svg_begin: the data area in pixels */
    double left, right, top, bottom;
} bl_svg_plot;

/* Opens <svg …>, draws the background, grid, ticks with labels, axis labels, title and the frame.
 * `id` becomes the svg's id attribute (may be NULL). */
void bl_svg_begin(bl_strbuf *out, bl_svg_plot *p, const char *id);
void bl_svg_end(bl_strbuf *out);
double bl_svg_x(const bl_svg_plot *p, double x);
double bl_svg_y(const bl_svg_plot *p, double y);

/* x, y: [n] read. A polyline named `series` (data-series attribute, may be NULL); dashed != 0 draws it dashed. */
void bl_svg_polyline(bl_strbuf *out, const bl_svg_plot *p, int n, const double *x, const double *y, const char *color,
                     int dashed, const char *series);
/* x, y: [n] read. Filled circles of radius 3. */
void bl_svg_markers(bl_strbuf *out, const bl_svg_plot *p, int n, const double *x, const double *y, const char *color);
/* One box at data x = `x`, half_width in data units, from *b; points: [n_points] read, the raw values drawn as
 * small dots on the box's centre line (NULL/0: none). */
void bl_svg_box(bl_strbuf *out, const bl_svg_plot *p, double x, double half_width, const bl_box_stats *b,
                int n_points, const double *points, const char *color, const char *series);
/* labels, colors: [n] read. A legend box in the lower-right (corner 0) or upper-left (corner 1) of the data area. */
void bl_svg_legend(bl_strbuf *out, const bl_svg_plot *p, int n, const char *const *labels, const char *const *colors,
                   int corner);

#endif
