/* contour.c — border following (Suzuki & Abe 1985) and Douglas–Peucker simplification (contour.h). */
#include "study/contour.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The 8 neighbours in clockwise order (image coordinates, y down), starting east. */
static const int DX[8] = {1, 1, 0, -1, -1, -1, 0, 1};
static const int DY[8] = {0, 1, 1, 1, 0, -1, -1, -1};

static int direction_of(int dx, int dy) {
    for (int d = 0; d < 8; d++)
        if (DX[d] == dx && DY[d] == dy) return d;
    return 0;
}

typedef struct point_list {
    int32_t *xy;
    int n, cap;
} point_list;

static int push(point_list *l, int x, int y) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        int32_t *grown = realloc(l->xy, sizeof(int32_t) * 2 * (size_t)cap);
        if (!grown) return 0;
        l->xy = grown, l->cap = cap;
    }
    l->xy[2 * l->n] = x, l->xy[2 * l->n + 1] = y;
    l->n++;
    return 1;
}

/* f: the working labels of Suzuki & Abe over a frame one pixel wider on every side (so neighbours never leave it):
 * 0 background, 1 unvisited foreground, ±nbd visited border pixels. */
typedef struct tracer {
    int *f;
    int w, h; /* of the frame */
} tracer;

static int at(const tracer *t, int x, int y) { return t->f[(int64_t)y * t->w + x]; }

/* Follow the border that starts at (x, y) with its background neighbour in direction `from` (steps 3.1–3.5 of
 * Suzuki & Abe): marks it with ±nbd and appends its pixels, in the unframed image's coordinates, to out. */
static int follow(tracer *t, int x, int y, int from, int nbd, point_list *out) {
    /* 3.1: clockwise around (x, y) from `from`, the first foreground neighbour (x1, y1) */
    int d1 = -1;
    for (int k = 0; k < 8 && d1 < 0; k++)
        if (at(t, x + DX[(from + k) % 8], y + DY[(from + k) % 8]) != 0) d1 = (from + k) % 8;
    if (d1 < 0) { /* an isolated pixel */
        t->f[(int64_t)y * t->w + x] = -nbd;
        return push(out, x - 1, y - 1);
    }
    const int x1 = x + DX[d1], y1 = y + DY[d1];
    int x2 = x1, y2 = y1, x3 = x, y3 = y; /* 3.2 */
    /* a border visits each pixel at most 4 times (once per side); the bound only guards against a defect */
    for (int64_t steps = 0; steps <= 4 * (int64_t)t->w * t->h; steps++) {
        /* 3.3: counter-clockwise around (x3, y3), from the neighbour after (x2, y2), the first foreground one */
        int back = direction_of(x2 - x3, y2 - y3), d4 = back, east_examined_zero = 0;
        for (int k = 1; k <= 8; k++) {
            int d = (back - k + 8) % 8;
            int v = at(t, x3 + DX[d], y3 + DY[d]);
            if (v != 0) {
                d4 = d;
                break;
            }
            if (d == 0) east_examined_zero = 1;
        }
        /* 3.4: the east neighbour examined and background marks a right-most border pixel −nbd */
        int64_t here = (int64_t)y3 * t->w + x3;
        if (east_examined_zero) t->f[here] = -nbd;
        else if (t->f[here] == 1) t->f[here] = nbd;
        if (!push(out, x3 - 1, y3 - 1)) return 0;
        int x4 = x3 + DX[d4], y4 = y3 + DY[d4];
        /* 3.5: at (x1, y1) about to step onto the start: the border is closed */
        if (x4 == x && y4 == y && x3 == x1 && y3 == y1) return 1;
        x2 = x3, y2 = y3, x3 = x4, y3 = y4;
    }
    return 0;
}

static int add_polygon(bl_polygons *out, point_list *l, int hole) {
    bl_polygon *grown = realloc(out->items, sizeof *grown * (size_t)(out->count + 1));
    if (!grown) return 0;
    out->items = grown;
    out->items[out->count++] = (bl_polygon){.n_points = l->n, .points = l->xy, .hole = hole};
    *l = (point_list){0};
    return 1;
}

bl_status bl_trace_borders(const uint8_t *mask, int width, int height, bl_polygons *out) {
    *out = (bl_polygons){0};
    if (width < 1 || height < 1) return bl_fail(BL_ERR_INVALID, "trace borders: mask %dx%d is empty", width, height);
    tracer t = {.w = width + 2, .h = height + 2};
    t.f = calloc((size_t)t.w * (size_t)t.h, sizeof(int));
    if (!t.f) return bl_fail(BL_ERR_NOMEM, "trace borders: out of memory for a %dx%d mask", width, height);
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) t.f[(int64_t)(y + 1) * t.w + x + 1] = mask[(int64_t)y * width + x] != 0;
    int nbd = 1, ok = 1;
    for (int y = 1; ok && y < t.h - 1; y++)
        for (int x = 1; ok && x < t.w - 1; x++) {
            int v = at(&t, x, y);
            int outer = v == 1 && at(&t, x - 1, y) == 0, hole = !outer && v >= 1 && at(&t, x + 1, y) == 0;
            if (!outer && !hole) continue;
            point_list l = {0};
            ok = follow(&t, x, y, outer ? 4 : 0, ++nbd, &l) && add_polygon(out, &l, hole);
            if (!ok) free(l.xy);
        }
    free(t.f);
    if (!ok) {
        bl_polygons_free(out);
        return bl_fail(BL_ERR_NOMEM, "trace borders: out of memory");
    }
    return BL_OK;
}

void bl_polygons_free(bl_polygons *p) {
    for (int i = 0; i < p->count; i++) free(p->items[i].points);
    free(p->items);
    *p = (bl_polygons){0};
}

/* distance of point p from the segment a–b */
static double segment_distance(const int32_t *p, const int32_t *a, const int32_t *b) {
    double dx = b[0] - a[0], dy = b[1] - a[1], len2 = dx * dx + dy * dy;
    double t = len2 > 0 ? ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2 : 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double ex = a[0] + t * dx - p[0], ey = a[1] + t * dy - p[1];
    return sqrt(ex * ex + ey * ey);
}

/* keep[i] = 1 for the points Douglas–Peucker keeps on the open chain first … last (indices modulo n), with an
 * explicit stack of ranges instead of recursion (borders have thousands of points) */
static int simplify_chain(const int32_t *xy, int n, int first, int last, double tolerance, unsigned char *keep) {
    int *stack = malloc(sizeof(int) * 2 * (size_t)(n + 1)), top = 0;
    if (!stack) return 0;
    stack[top++] = first, stack[top++] = last;
    while (top) {
        int b = stack[--top], a = stack[--top];
        double worst = -1;
        int at_worst = -1;
        for (int i = (a + 1) % n; i != b; i = (i + 1) % n) {
            double d = segment_distance(xy + 2 * i, xy + 2 * a, xy + 2 * b);
            if (d > worst) worst = d, at_worst = i;
        }
        if (at_worst >= 0 && worst > tolerance) {
            keep[at_worst] = 1;
            stack[top++] = a, stack[top++] = at_worst;
            stack[top++] = at_worst, stack[top++] = b;
        }
    }
    free(stack);
    return 1;
}

void bl_polygon_simplify(bl_polygon *p, double tolerance) {
    int n = p->n_points;
    if (n <= 3) return;
    /* anchors: the first point and the point farthest from it split the closed outline into two chains */
    int far = 0;
    double far_d2 = -1;
    for (int i = 1; i < n; i++) {
        double dx = p->points[2 * i] - p->points[0], dy = p->points[2 * i + 1] - p->points[1];
        if (dx * dx + dy * dy > far_d2) far_d2 = dx * dx + dy * dy, far = i;
    }
    unsigned char *keep = calloc((size_t)n, 1);
    if (!keep) return; /* out of memory: the polygon stays as it is (still exact) */
    keep[0] = keep[far] = 1;
    if (simplify_chain(p->points, n, 0, far, tolerance, keep) &&
        simplify_chain(p->points, n, far, 0, tolerance, keep)) {
        int kept = 0;
        for (int i = 0; i < n; i++) kept += keep[i];
        if (kept >= 3) {
            int k = 0;
            for (int i = 0; i < n; i++)
                if (keep[i]) p->points[2 * k] = p->points[2 * i], p->points[2 * k + 1] = p->points[2 * i + 1], k++;
            p->n_points = k;
        }
    }
    free(keep);
}
