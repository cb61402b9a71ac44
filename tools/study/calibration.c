/* calibration.c — isotonic regression (fit, predict, model JSON) and the uniform-bin calibration curve, step by
 * step as sklearn 1.2 computes them (calibration.h gives the references). Exactness: with 0/1 labels and unit
 * weights every merged mean and pooled block mean is one division of two exact integers, as in sklearn, so the
 * thresholds are bitwise sklearn's; prediction repeats np.interp's formula, so it is bitwise too. */
#include "study/json.h"
#include "study/calibration.h"
#include "core/fileio.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* numpy float64 `finfo.resolution` (10^−15): sklearn _make_unique merges x values closer than this to the first
 * x of a run. */
#define X_MERGE_RESOLUTION 1e-15
#define MODEL_MAX_BYTES ((size_t)64 << 20)

void bl_isotonic_free(bl_isotonic *iso) {
    if (!iso) return;
    free(iso->x);
    free(iso->y);
    iso->x = iso->y = NULL;
    iso->count = 0;
}

typedef struct point {
    double x, y, weight;
    int index;
} point;

/* np.lexsort((y, x)): by x, then y, then input order (lexsort is stable). */
static int by_x_then_y(const void *a, const void *b) {
    const point *p = a, *q = b;
    if (p->x != q->x) return p->x < q->x ? -1 : 1;
    if (p->y != q->y) return p->y < q->y ? -1 : 1;
    return (p->index > q->index) - (p->index < q->index);
}

/* Weighted pool-adjacent-violators in place, the single-pass variant with back-tracking of sklearn's
 * _inplace_contiguous_isotonic_regression. Blocks are tracked by `end`: for an active block [i..j], end[i] = j and
 * end[j] = i; y[i] and w[i] of a block start hold the block's weighted mean and total weight.
 * y, w: [n] read and written (y ends as the fit); end: [n] scratch. */
static void pool_adjacent_violators(int n, double *y, double *w, int *end) {
    for (int i = 0; i < n; i++) end[i] = i;
    int i = 0;
    while (i < n) {
        int k = end[i] + 1;
        if (k == n) break;
        if (y[i] < y[k]) { /* increasing: move on to the next block */
            i = k;
            continue;
        }
        /* Pool the whole non-increasing run of blocks that starts at block i. */
        double sum_wy = w[i] * y[i], sum_w = w[i];
        for (;;) {
            double previous_y = y[k];
            sum_wy += w[k] * y[k];
            sum_w += w[k];
            k = end[k] + 1;
            if (k == n || previous_y < y[k]) {
                y[i] = sum_wy / sum_w;
                w[i] = sum_w;
                end[i] = k - 1;
                end[k - 1] = i;
                if (i > 0) i = end[i - 1]; /* the new mean may now violate the block before: step back */
                break;
            }
        }
    }
    for (i = 0; i < n;) { /* spread each block's mean over the block */
        int k = end[i] + 1;
        for (int j = i + 1; j < k; j++) y[j] = y[i];
        i = k;
    }
}

bl_status bl_isotonic_fit(int n, const double *x, const double *y, const double *weight, bl_isotonic *out) {
    out->count = 0;
    out->x = out->y = NULL;
    if (n < 1 || !x || !y) return bl_fail(BL_ERR_INVALID, "isotonic fit: no samples (expected n >= 1, got %d)", n);
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i])) return bl_fail(BL_ERR_NUMERIC, "isotonic fit: x[%d]: not finite (got %g)", i, x[i]);
        if (!isfinite(y[i])) return bl_fail(BL_ERR_NUMERIC, "isotonic fit: y[%d]: not finite (got %g)", i, y[i]);
        if (weight && !(isfinite(weight[i]) && weight[i] > 0))
            return bl_fail(BL_ERR_INVALID, "isotonic fit: weight[%d]: expected a finite weight > 0, got %g", i,
                           weight[i]);
    }
    point *pts = malloc((size_t)n * sizeof *pts);
    double *ux = malloc((size_t)n * sizeof *ux), *uy = malloc((size_t)n * sizeof *uy);
    double *uw = malloc((size_t)n * sizeof *uw);
    int *end = malloc((size_t)n * sizeof *end);
    bl_status st = BL_OK;
    if (!pts || !ux || !uy || !uw || !end) {
        st = bl_fail(BL_ERR_NOMEM, "isotonic fit: out of memory for %d samples", n);
        goto done;
    }
    for (int i = 0; i < n; i++) pts[i] = (point){x[i], y[i], weight ? weight[i] : 1.0, i};
    qsort(pts, (size_t)n, sizeof *pts, by_x_then_y);

    /* Merge runs of (nearly) equal x: weighted mean y, summed weight, x of the run's first point. */
    int unique = 0;
    double run_x = pts[0].x, run_wy = 0.0, run_w = 0.0;
    for (int j = 0; j < n; j++) {
        if (pts[j].x - run_x >= X_MERGE_RESOLUTION) {
            ux[unique] = run_x, uw[unique] = run_w, uy[unique] = run_wy / run_w;
            unique++;
            run_x = pts[j].x, run_w = pts[j].weight, run_wy = pts[j].y * pts[j].weight;
        } else {
            run_w += pts[j].weight;
            run_wy += pts[j].y * pts[j].weight;
        }
    }
    ux[unique] = run_x, uw[unique] = run_w, uy[unique] = run_wy / run_w;
    unique++;

    pool_adjacent_violators(unique, uy, uw, end);

    /* Keep the ends and every point whose y differs from the previous or the next one. */
    int kept = 0;
    for (int i = 0; i < unique; i++) {
        int keep = i == 0 || i == unique - 1 || uy[i] != uy[i - 1] || uy[i] != uy[i + 1];
        if (keep) ux[kept] = ux[i], uy[kept] = uy[i], kept++;
    }
    out->x = malloc((size_t)kept * sizeof *out->x);
    out->y = malloc((size_t)kept * sizeof *out->y);
    if (!out->x || !out->y) {
        bl_isotonic_free(out);
        st = bl_fail(BL_ERR_NOMEM, "isotonic fit: out of memory for %d thresholds", kept);
        goto done;
    }
    memcpy(out->x, ux, (size_t)kept * sizeof *ux);
    memcpy(out->y, uy, (size_t)kept * sizeof *uy);
    out->count = kept;
done:
    free(pts), free(ux), free(uy), free(uw), free(end);
    return st;
}

void bl_isotonic_predict(const bl_isotonic *iso, int n, const double *x, double *out) {
    const double *tx = iso->x, *ty = iso->y;
    int last = iso->count - 1;
    for (int i = 0; i < n; i++) {
        double v = x[i];
        if (isnan(v)) {
            out[i] = v;
            continue;
        }
        if (last == 0) { /* one threshold: a constant */
            out[i] = ty[0];
            continue;
        }
        v = v < tx[0] ? tx[0] : v > tx[last] ? tx[last] : v; /* np.clip(T, X_min_, X_max_) */
        /* np.interp: j with tx[j] <= v < tx[j+1]; the last knot and exact knots return their y */
        int lo = 0, hi = last;
        while (hi - lo > 1) {
            int mid = lo + (hi - lo) / 2;
            if (tx[mid] <= v) lo = mid;
            else hi = mid;
        }
        if (v >= tx[last]) out[i] = ty[last];
        else if (tx[lo] == v) out[i] = ty[lo];
        else {
            double slope = (ty[lo + 1] - ty[lo]) / (tx[lo + 1] - tx[lo]);
            out[i] = slope * (v - tx[lo]) + ty[lo];
        }
    }
}

/* ---- model JSON --------------------------------------------------------------------------------------------- */

/* One threshold array: numbers, finite. Fills *values (malloc) and *count. */
static bl_status read_number_array(const cJSON *root, const char *key, const char *label, double **values,
                                   int *count) {
    const cJSON *array = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!array) return bl_fail(BL_ERR_FORMAT, "%s: %s: missing (expected an array of numbers)", label, key);
    if (!cJSON_IsArray(array))
        return bl_fail(BL_ERR_FORMAT, "%s: %s: not an array (expected an array of numbers)", label, key);
    int n = cJSON_GetArraySize(array);
    if (n < 1) return bl_fail(BL_ERR_FORMAT, "%s: %s: empty (expected at least one threshold)", label, key);
    *values = malloc((size_t)n * sizeof **values);
    if (!*values) return bl_fail(BL_ERR_NOMEM, "%s: %s: out of memory for %d numbers", label, key, n);
    int i = 0;
    for (const cJSON *item = array->child; item; item = item->next, i++) {
        if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble)) {
            free(*values);
            *values = NULL;
            return bl_fail(BL_ERR_FORMAT, "%s: %s[%d]: not a finite number (expected a number)", label, key, i);
        }
        (*values)[i] = item->valuedouble;
    }
    *count = n;
    return BL_OK;
}

static bl_status check_model(const cJSON *root, const char *label, bl_isotonic *iso) {
    if (!cJSON_IsObject(root))
        return bl_fail(BL_ERR_FORMAT, "%s: top level: expected a JSON object (an isotonic calibration model)", label);
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(root, "format");
    if (!cJSON_IsString(format) || strcmp(format->valuestring, "blasto-isotonic") != 0)
        return bl_fail(BL_ERR_FORMAT, "%s: format: %s (expected \"blasto-isotonic\", written by blasto calibrate "
                       "fit)", label, !format ? "missing" : cJSON_IsString(format) ? "unknown format" : "not a string");
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (!cJSON_IsNumber(version) || version->valuedouble != 1.0)
        return bl_fail(BL_ERR_FORMAT, "%s: version: %s (expected 1)", label,
                       !version ? "missing" : cJSON_IsNumber(version) ? "unsupported version" : "not a number");
    int nx = 0, ny = 0;
    bl_status st = read_number_array(root, "X_thresholds", label, &iso->x, &nx);
    if (!st) st = read_number_array(root, "y_thresholds", label, &iso->y, &ny);
    if (st) return st;
    if (nx != ny)
        return bl_fail(BL_ERR_FORMAT, "%s: y_thresholds: length differs from X_thresholds (expected %d, got %d)",
                       label, nx, ny);
    iso->count = nx;
    for (int i = 0; i < nx; i++) {
        if (i > 0 && !(iso->x[i] > iso->x[i - 1]))
            return bl_fail(BL_ERR_FORMAT, "%s: X_thresholds[%d]: not increasing (expected > %.17g, got %.17g)", label,
                           i, iso->x[i - 1], iso->x[i]);
        if (!(iso->y[i] >= 0.0 && iso->y[i] <= 1.0))
            return bl_fail(BL_ERR_FORMAT, "%s: y_thresholds[%d]: not a probability (expected a value in [0, 1], got "
                           "%.17g)", label, i, iso->y[i]);
        if (i > 0 && iso->y[i] < iso->y[i - 1])
            return bl_fail(BL_ERR_FORMAT, "%s: y_thresholds[%d]: decreasing (expected >= %.17g, got %.17g)", label, i,
                           iso->y[i - 1], iso->y[i]);
    }
    return BL_OK;
}

bl_status bl_isotonic_parse_json(const char *text, size_t size, const char *label, bl_isotonic *out) {
    out->count = 0;
    out->x = out->y = NULL;
    cJSON *root = NULL;
    bl_status st = bl_json_parse(text, size, label, &root);
    if (st) return st;
    st = check_model(root, label, out);
    cJSON_Delete(root);
    if (st) bl_isotonic_free(out);
    return st;
}

bl_status bl_isotonic_read_json(const char *path, bl_isotonic *out) {
    out->count = 0;
    out->x = out->y = NULL;
    char *text = NULL;
    size_t size = 0;
    bl_status st = bl_read_file(path, MODEL_MAX_BYTES, &text, &size);
    if (!st) st = bl_isotonic_parse_json(text, size, path, out);
    free(text);
    return st;
}

/* ---- calibration curve -------------------------------------------------------------------------------------- */

void bl_calibration_curve_free(bl_calibration_curve *curve) {
    if (!curve) return;
    free(curve->bin), free(curve->low), free(curve->high), free(curve->total);
    free(curve->prob_true), free(curve->prob_pred);
    memset(curve, 0, sizeof *curve);
}

bl_status bl_calibration_curve_uniform(int n, const int *label, const double *p, int n_bins,
                                       bl_calibration_curve *out) {
    memset(out, 0, sizeof *out);
    if (n < 1 || !label || !p)
        return bl_fail(BL_ERR_INVALID, "calibration curve: no samples (expected n >= 1, got %d)", n);
    if (n_bins < 1 || n_bins > 1000)
        return bl_fail(BL_ERR_INVALID, "calibration curve: n_bins: expected 1..1000, got %d", n_bins);
    for (int i = 0; i < n; i++) {
        if (label[i] != 0 && label[i] != 1)
            return bl_fail(BL_ERR_INVALID, "calibration curve: label[%d]: expected 0 or 1, got %d", i, label[i]);
        if (!(p[i] >= 0.0 && p[i] <= 1.0))
            return bl_fail(BL_ERR_INVALID, "calibration curve: p[%d]: expected a probability in [0, 1], got %g", i,
                           p[i]);
    }
    double step = 1.0 / n_bins;
    double *edge = malloc(((size_t)n_bins + 1) * sizeof *edge);
    double *sum_p = calloc((size_t)n_bins, sizeof *sum_p), *sum_y = calloc((size_t)n_bins, sizeof *sum_y);
    int *total = calloc((size_t)n_bins, sizeof *total);
    if (!edge || !sum_p || !sum_y || !total) {
        free(edge), free(sum_p), free(sum_y), free(total);
        return bl_fail(BL_ERR_NOMEM, "calibration curve: out of memory for %d bins", n_bins);
    }
    for (int b = 0; b < n_bins; b++) edge[b] = (double)b * step + 0.0; /* np.linspace(0, 1, n_bins + 1) */
    edge[n_bins] = 1.0;
    for (int i = 0; i < n; i++) {
        /* np.searchsorted(edges[1:-1], p): inner edges strictly below p */
        int lo = 0, hi = n_bins - 1; /* answer in [0, n_bins − 1] */
        while (lo < hi) {
            int mid = lo + (hi - lo) / 2; /* inner edge mid + 1 */
            if (edge[mid + 1] < p[i]) lo = mid + 1;
            else hi = mid;
        }
        sum_p[lo] += p[i]; /* np.bincount with weights: sums in input order */
        sum_y[lo] += label[i];
        total[lo]++;
    }
    int count = 0;
    for (int b = 0; b < n_bins; b++) count += total[b] > 0;
    out->n_bins = n_bins;
    out->bin = malloc((size_t)count * sizeof *out->bin);
    out->total = malloc((size_t)count * sizeof *out->total);
    out->low = malloc((size_t)count * sizeof *out->low);
    out->high = malloc((size_t)count * sizeof *out->high);
    out->prob_true = malloc((size_t)count * sizeof *out->prob_true);
    out->prob_pred = malloc((size_t)count * sizeof *out->prob_pred);
    bl_status st = BL_OK;
    if (!out->bin || !out->total || !out->low || !out->high || !out->prob_true || !out->prob_pred) {
        bl_calibration_curve_free(out);
        st = bl_fail(BL_ERR_NOMEM, "calibration curve: out of memory for %d bins", n_bins);
    } else {
        for (int b = 0, k = 0; b < n_bins; b++) {
            if (!total[b]) continue;
            out->bin[k] = b, out->total[k] = total[b];
            out->low[k] = edge[b], out->high[k] = edge[b + 1];
            out->prob_true[k] = sum_y[b] / total[b];
            out->prob_pred[k] = sum_p[b] / total[b];
            k++;
        }
        out->count = count;
    }
    free(edge), free(sum_p), free(sum_y), free(total);
    return st;
}
