/* raster.c — cv2-exact grayscale, LINE_8 lines and fillPoly (see raster.h).
 *
 * Written from the algorithm of OpenCV's modules/imgproc/src/drawing.cpp (CollectPolyEdges, FillEdgeCollection,
 * clipLine, LineIterator) as restated in ../shared/reference/paper-method.md §1.2; the code here is ours. OpenCV
 * walks a linked list of active edges and advances each x by repeated addition; we compute the same integers
 * directly (x_row = x_top + (row − y_top)·dx is exactly what the additions produce) and pair the sorted x's of
 * each row, which is what OpenCV's merge + bubble sort + draw toggle amount to. */
#include "study/raster.h"

#include <stdlib.h>
#include <string.h>

enum { FIXED_SHIFT = 16, FIXED_ONE = 1 << FIXED_SHIFT };

void bl_rgb_to_gray(const uint8_t *rgb, int64_t count, uint8_t *gray) {
    for (int64_t i = 0; i < count; i++) gray[i] = bl_gray_of_rgb(rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]);
}

int32_t bl_truncate_coordinate(double v) {
    /* a C cast from double to an integer type truncates toward zero, as numpy's astype does */
    return (int32_t)v;
}

/* floor(v / 2^16) without relying on the implementation-defined right shift of negative numbers */
static int64_t floor_fixed(int64_t v) { return v >= 0 ? v / FIXED_ONE : -((-v + FIXED_ONE - 1) / FIXED_ONE); }

/* ---- lines ---------------------------------------------------------------------------------------------------- */

/* Clip the segment to [0, width−1] × [0, height−1] with cv2's integer clipper (Cohen–Sutherland outcodes, C
 * truncating division, the second end point computed from the already-moved first one). Returns 1 if something
 * is left to draw. The arithmetic, order included, must stay as it is: the clipped end points decide which
 * pixels the Bresenham walk visits. */
static int clip_line(int64_t width, int64_t height, int64_t *x1, int64_t *y1, int64_t *x2, int64_t *y2) {
    int64_t right = width - 1, bottom = height - 1;
    if (width <= 0 || height <= 0) return 0;
    int c1 = (*x1 < 0) + (*x1 > right) * 2 + (*y1 < 0) * 4 + (*y1 > bottom) * 8;
    int c2 = (*x2 < 0) + (*x2 > right) * 2 + (*y2 < 0) * 4 + (*y2 > bottom) * 8;
    if ((c1 & c2) == 0 && (c1 | c2) != 0) {
        int64_t a;
        if (c1 & 12) { /* first point above or below: move it onto the top or bottom row */
            a = c1 < 8 ? 0 : bottom;
            *x1 += (a - *y1) * (*x2 - *x1) / (*y2 - *y1);
            *y1 = a;
            c1 = (*x1 < 0) + (*x1 > right) * 2;
        }
        if (c2 & 12) {
            a = c2 < 8 ? 0 : bottom;
            *x2 += (a - *y2) * (*x2 - *x1) / (*y2 - *y1);
            *y2 = a;
            c2 = (*x2 < 0) + (*x2 > right) * 2;
        }
        if ((c1 & c2) == 0 && (c1 | c2) != 0) { /* still left or right of the image: move onto a border column */
            if (c1) {
                a = c1 == 1 ? 0 : right;
                *y1 += (a - *x1) * (*y2 - *y1) / (*x2 - *x1);
                *x1 = a;
                c1 = 0;
            }
            if (c2) {
                a = c2 == 1 ? 0 : right;
                *y2 += (a - *x2) * (*y2 - *y1) / (*x2 - *x1);
                *x2 = a;
                c2 = 0;
            }
        }
    }
    return (c1 | c2) == 0;
}

void bl_draw_line8(uint8_t *mask, int width, int height, int32_t x0, int32_t y0, int32_t x1, int32_t y1,
                   uint8_t value) {
    int64_t ax = x0, ay = y0, bx = x1, by = y1;
    int outside = ax < 0 || ax >= width || bx < 0 || bx >= width || ay < 0 || ay >= height || by < 0 ||
                  by >= height;
    if (outside && !clip_line(width, height, &ax, &ay, &bx, &by)) return;
    /* cv2 walks left to right: when the line goes left, start from the other end */
    if (bx < ax) {
        int64_t t = ax; ax = bx; bx = t;
        t = ay; ay = by; by = t;
    }
    int64_t dx = bx - ax, dy = by - ay;
    int64_t y_dir = dy < 0 ? -1 : 1;
    if (dy < 0) dy = -dy;
    /* major axis = the longer one (x on ties); minor steps when the error term goes negative */
    int vertical = dy > dx;
    int64_t major = vertical ? dy : dx, minor = vertical ? dx : dy;
    int64_t err = major - 2 * minor;
    int64_t x = ax, y = ay;
    for (int64_t i = 0; i <= major; i++) {
        mask[(size_t)y * (size_t)width + (size_t)x] = value;
        int minor_step = err < 0;
        err += -2 * minor + (minor_step ? 2 * major : 0);
        if (vertical) {
            y += y_dir;
            x += minor_step;
        } else {
            x += 1;
            y += minor_step ? y_dir : 0;
        }
    }
}

/* ---- polygon fill --------------------------------------------------------------------------------------------- */

/* A non-horizontal polygon edge, active on rows y_top ≤ y < y_bottom (half-open: the lower end belongs to the next
 * edge). x_top = upper vertex x · 2^16; dx = Δx·2^16 / Δy with C truncation, so row y has x = x_top + (y−y_top)·dx. */
typedef struct poly_edge {
    int64_t y_top, y_bottom;
    int64_t x_top, dx;
} poly_edge;

static int compare_edges_by_top(const void *pa, const void *pb) {
    const poly_edge *a = pa, *b = pb;
    if (a->y_top != b->y_top) return a->y_top < b->y_top ? -1 : 1;
    if (a->x_top != b->x_top) return a->x_top < b->x_top ? -1 : 1;
    return (a->dx > b->dx) - (a->dx < b->dx);
}

bl_status bl_fill_poly(uint8_t *mask, int width, int height, const bl_contour *contours, int n_contours,
                       uint8_t value) {
    if (width < 1 || height < 1)
        return bl_fail(BL_ERR_INVALID, "fill_poly: image size %dx%d (expected ≥ 1x1)", width, height);
    int64_t total_points = 0;
    for (int c = 0; c < n_contours; c++) {
        for (int i = 0; i < contours[c].n_points; i++) {
            int32_t x = contours[c].points[2 * i], y = contours[c].points[2 * i + 1];
            if (x < -BL_RASTER_COORD_MAX || x > BL_RASTER_COORD_MAX || y < -BL_RASTER_COORD_MAX ||
                y > BL_RASTER_COORD_MAX)
                return bl_fail(BL_ERR_INVALID,
                               "fill_poly: contour %d point %d: (%d, %d) out of range (expected |x|, |y| ≤ %d)", c, i,
                               (int)x, (int)y, BL_RASTER_COORD_MAX);
        }
        if (contours[c].n_points > 0) total_points += contours[c].n_points;
    }
    poly_edge *edges = total_points ? malloc((size_t)total_points * sizeof *edges) : NULL;
    int64_t *row_x = total_points ? malloc((size_t)total_points * sizeof *row_x) : NULL;
    if (total_points && (!edges || !row_x)) {
        free(edges);
        free(row_x);
        return bl_fail(BL_ERR_NOMEM, "fill_poly: out of memory: needs %lld bytes",
                       (long long)(total_points * (int64_t)(sizeof *edges + sizeof *row_x)));
    }

    /* 1. every edge is drawn as a cv2 LINE_8 line, and the non-horizontal ones are collected */
    int64_t n_edges = 0;
    for (int c = 0; c < n_contours; c++) {
        int n = contours[c].n_points;
        if (n <= 0) continue;
        const int32_t *p = contours[c].points;
        int32_t px = p[2 * (n - 1)], py = p[2 * (n - 1) + 1];
        for (int i = 0; i < n; i++) {
            int32_t qx = p[2 * i], qy = p[2 * i + 1];
            bl_draw_line8(mask, width, height, px, py, qx, qy, value);
            if (py != qy) {
                poly_edge *e = &edges[n_edges++];
                int p_is_top = py < qy;
                e->y_top = p_is_top ? py : qy;
                e->y_bottom = p_is_top ? qy : py;
                e->x_top = (int64_t)(p_is_top ? px : qx) * FIXED_ONE;
                e->dx = ((int64_t)qx - px) * FIXED_ONE / ((int64_t)qy - py);
            }
            px = qx;
            py = qy;
        }
    }

    /* 2. nothing to fill when fewer than two edges or all of them miss the image (cv2 returns early then too) */
    int64_t y_min = INT64_MAX, y_max = INT64_MIN, x_min = INT64_MAX, x_max = -1;
    for (int64_t i = 0; i < n_edges; i++) {
        const poly_edge *e = &edges[i];
        int64_t x_end = e->x_top + (e->y_bottom - e->y_top) * e->dx;
        if (e->y_top < y_min) y_min = e->y_top;
        if (e->y_bottom > y_max) y_max = e->y_bottom;
        int64_t lo = e->x_top < x_end ? e->x_top : x_end, hi = e->x_top < x_end ? x_end : e->x_top;
        if (lo < x_min) x_min = lo;
        if (hi > x_max) x_max = hi;
    }
    if (n_edges < 2 || y_max < 0 || y_min >= height || x_max < 0 || x_min >= (int64_t)width * FIXED_ONE) {
        free(edges);
        free(row_x);
        return BL_OK;
    }

    /* 3. scanlines: the active edges' x's, sorted, paired (even–odd across all contours); each pair fills
     * columns ceil(x_left) … floor(x_right), clipped to the image */
    qsort(edges, (size_t)n_edges, sizeof *edges, compare_edges_by_top);
    int64_t first_row = y_min < 0 ? 0 : y_min, end_row = y_max < height ? y_max : height;
    int64_t next_edge = 0; /* edges[0 … next_edge) have y_top ≤ current row */
    for (int64_t y = first_row; y < end_row; y++) {
        while (next_edge < n_edges && edges[next_edge].y_top <= y) next_edge++;
        int64_t n_active = 0;
        for (int64_t i = 0; i < next_edge; i++) {
            const poly_edge *e = &edges[i];
            if (y >= e->y_bottom) continue;
            int64_t x = e->x_top + (y - e->y_top) * e->dx;
            /* insertion sort: rows have few crossings */
            int64_t k = n_active++;
            while (k > 0 && row_x[k - 1] > x) {
                row_x[k] = row_x[k - 1];
                k--;
            }
            row_x[k] = x;
        }
        uint8_t *row = mask + (size_t)y * (size_t)width;
        for (int64_t k = 0; k + 1 < n_active; k += 2) {
            int64_t x_left = floor_fixed(row_x[k] + FIXED_ONE - 1), x_right = floor_fixed(row_x[k + 1]);
            if (x_left >= width || x_right < 0) continue;
            if (x_left < 0) x_left = 0;
            if (x_right >= width) x_right = width - 1;
            if (x_right >= x_left) memset(row + x_left, value, (size_t)(x_right - x_left + 1));
        }
    }
    free(edges);
    free(row_x);
    return BL_OK;
}
