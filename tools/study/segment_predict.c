/* segment_predict.c — see segment_predict.h. */
#include "study/segment_predict.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fileio.h"
#include "core/status.h"
#include "study/contour.h"
#include "study/files.h"
#include "study/image.h"
#include "study/labelme.h"
#include "study/raster.h"
#include "study/segment.h"

static char *path_join(const char *dir, const char *a, const char *b) {
    size_t n = strlen(dir) + strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s%s", dir, a, b);
    return p;
}

/* "<dir>/<sub><id>.png" (malloc'ed) */
static char *mask_path(const char *dir, const char *sub, const char *id) {
    size_t n = strlen(dir) + strlen(sub) + strlen(id) + 6;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s%s.png", dir, sub, id);
    return p;
}

/* labels → the mask of one class (0/255) */
static void class_mask(const uint8_t *labels, int64_t n, int cls, uint8_t *mask) {
    for (int64_t i = 0; i < n; i++) mask[i] = labels[i] == cls ? 255 : 0;
}

/* The borders of mask [h·w] as labelme polygons: simplified within BL_SEG_SIMPLIFY_TOLERANCE when the simplified polygons
 * still rasterise (bl_fill_poly, as `blasto enhance` does) to the mask with IoU ≥ 0.99, else as traced, which
 * rasterise back exactly (contour.h). A border of 1 or 2 points (a one-pixel speck or line) is padded to 3 by
 * repeating its points: labelme and the rasteriser need 3, and the repeated edge draws the same pixels. */
static bl_status mask_polygons(const uint8_t *mask, int w, int h, bl_polygons *out) {
    bl_status st = bl_trace_borders(mask, w, h, out);
    for (int i = 0; !st && i < out->count; i++) {
        bl_polygon *p = &out->items[i];
        if (p->n_points >= 3) continue;
        int32_t *grown = realloc(p->points, sizeof(int32_t) * 6);
        if (!grown) return bl_fail(BL_ERR_NOMEM, "out of memory");
        for (int k = p->n_points; k < 3; k++) grown[2 * k] = grown[0], grown[2 * k + 1] = grown[1];
        p->points = grown, p->n_points = 3;
    }
    if (st) return st;
    bl_polygons simple = {.count = out->count, .items = calloc((size_t)out->count + 1, sizeof(bl_polygon))};
    bl_contour *contours = calloc((size_t)out->count + 1, sizeof *contours);
    uint8_t *fill = calloc((size_t)w * (size_t)h, 1);
    if (!simple.items || !contours || !fill) st = bl_fail(BL_ERR_NOMEM, "out of memory");
    for (int i = 0; !st && i < out->count; i++) {
        bl_polygon *p = &out->items[i];
        simple.items[i] = *p;
        simple.items[i].points = malloc(sizeof(int32_t) * 2 * (size_t)p->n_points);
        if (!simple.items[i].points) {
            st = bl_fail(BL_ERR_NOMEM, "out of memory");
            break;
        }
        memcpy(simple.items[i].points, p->points, sizeof(int32_t) * 2 * (size_t)p->n_points);
        bl_polygon_simplify(&simple.items[i], BL_SEG_SIMPLIFY_TOLERANCE);
        contours[i] = (bl_contour){simple.items[i].points, simple.items[i].n_points};
    }
    if (!st) st = bl_fill_poly(fill, w, h, contours, out->count, 1);
    if (!st) {
        int64_t inter = 0, uni = 0;
        for (int64_t i = 0; i < (int64_t)w * h; i++) inter += mask[i] && fill[i], uni += mask[i] || fill[i];
        if (!uni || (double)inter >= 0.99 * (double)uni) { /* the simplified outline is close enough: keep it */
            bl_polygons exact = *out;
            *out = simple;
            simple = exact;
        }
    }
    bl_polygons_free(&simple);
    free(contours);
    free(fill);
    return st;
}

/* One row's outputs into the staging folder: icm/<id>.png, te/<id>.png and <id>.json (imagePath relative to the
 * final DIR, where the JSON will live) */
static bl_status write_prediction(const char *stage, const char *final_dir, const bl_cohort_row *row,
                                  const uint8_t *labels, int w, int h) {
    int64_t n = (int64_t)w * h;
    bl_image mask = {0};
    bl_polygons regions[2] = {{0}, {0}};
    bl_labelme_polygon *shapes = NULL;
    char *paths[3] = {path_join(stage, "icm/", row->id), path_join(stage, "te/", row->id),
                      path_join(stage, "", row->id)};
    bl_status st = paths[0] && paths[1] && paths[2] ? bl_image_alloc(&mask, w, h, 1)
                                                    : bl_fail(BL_ERR_NOMEM, "out of memory");
    static const int classes[2] = {BL_SEG_ICM, BL_SEG_TE};
    for (int r = 0; !st && r < 2; r++) {
        char *png = malloc(strlen(paths[r]) + 5);
        if (!png) {
            st = bl_fail(BL_ERR_NOMEM, "out of memory");
            break;
        }
        sprintf(png, "%s.png", paths[r]);
        class_mask(labels, n, classes[r], mask.pixels);
        st = bl_image_save_png(&mask, png);
        free(png);
        if (!st) st = mask_polygons(mask.pixels, w, h, &regions[r]);
    }
    int count = regions[0].count + regions[1].count, k = 0;
    if (!st && !(shapes = calloc((size_t)(count + 1), sizeof *shapes))) st = bl_fail(BL_ERR_NOMEM, "out of memory");
    for (int r = 0; !st && r < 2; r++)
        for (int i = 0; i < regions[r].count; i++)
            shapes[k++] =
                (bl_labelme_polygon){r ? "te" : "icm", regions[r].items[i].n_points, regions[r].items[i].points};
    if (!st) {
        char *json = malloc(strlen(paths[2]) + 6);
        char *image_rel = bl_path_relative_to(row->image, final_dir);
        if (!json || !image_rel) st = bl_fail(BL_ERR_NOMEM, "out of memory");
        else sprintf(json, "%s.json", paths[2]);
        if (!st) st = bl_labelme_write(json, image_rel, w, h, k, shapes);
        free(json);
        free(image_rel);
    }
    free(shapes);
    bl_polygons_free(&regions[0]);
    bl_polygons_free(&regions[1]);
    bl_image_free(&mask);
    for (int i = 0; i < 3; i++) free(paths[i]);
    return st;
}

bl_status bl_segment_predict_dir(bl_segmenter *seg, bl_cohort *cohort, const int *chosen, int n, int keep_others,
                                 const char *out, const bl_segment_predict_callbacks *cb) {
    bl_status st = BL_OK;
    char *stage = NULL;
    /* DIR must be new (or empty): the outputs are built in DIR.tmp-<pid> and renamed to DIR at the end */
    struct stat sb;
    if (!st && stat(out, &sb) == 0 && (!S_ISDIR(sb.st_mode) || rmdir(out) != 0))
        st = bl_fail(BL_ERR_INVALID, "%s: exists and is not an empty directory (predictions go into a new one)",
                     out);
    if (!st) {
        size_t len = strlen(out) + 32;
        stage = malloc(len);
        if (!stage) st = bl_fail(BL_ERR_NOMEM, "out of memory");
        else snprintf(stage, len, "%s.tmp-%ld", out, (long)getpid());
    }
    char *sub[2] = {stage ? path_join(stage, "icm", "") : NULL, stage ? path_join(stage, "te", "") : NULL};
    if (!st && (!sub[0] || !sub[1])) st = bl_fail(BL_ERR_NOMEM, "out of memory");
    if (!st) st = bl_make_dir(stage, NULL);
    if (!st) bl_cleanup_add_tree(stage); /* Ctrl-C or kill: the stage goes */
    for (int i = 0; !st && i < 2; i++) st = bl_make_dir(sub[i], NULL);
    double t0 = bl_seconds_now();
    for (int i = 0; !st && i < n; i++) {
        bl_cohort_row *row = &cohort->rows[chosen[i]];
        uint8_t *labels = NULL;
        int w = 0, h = 0;
        st = bl_segmenter_predict(seg, row, &labels, &w, &h);
        if (!st && cb && cb->labels) st = cb->labels(cb->user, row, labels, w, h);
        if (!st) st = write_prediction(stage, out, row, labels, w, h);
        free(labels);
        if (!st) { /* the cohort row now points at the predicted masks, as they will be named in DIR */
            free(row->annotation), free(row->icm_mask), free(row->te_mask);
            row->annotation = NULL;
            row->icm_mask = mask_path(out, "icm/", row->id);
            row->te_mask = mask_path(out, "te/", row->id);
            if (!row->icm_mask || !row->te_mask) st = bl_fail(BL_ERR_NOMEM, "out of memory");
        }
        double dt = bl_seconds_now() - t0;
        if (!st && cb && cb->progress) cb->progress(cb->user, i + 1, n, dt / (i + 1) * (n - i - 1));
    }
    /* the output cohort: every row, or the chosen rows only, in cohort order */
    if (!st) {
        bl_cohort listed = {.path = cohort->path, .n = keep_others ? cohort->n : n,
                            .rows = malloc(sizeof(bl_cohort_row) * (size_t)(cohort->n + 1))};
        char *csv = path_join(stage, "cohort.csv", "");
        if (!listed.rows || !csv) st = bl_fail(BL_ERR_NOMEM, "out of memory");
        for (int i = 0; !st && i < listed.n; i++) listed.rows[i] = cohort->rows[keep_others ? i : chosen[i]];
        /* paths relative to DIR, which the staging folder becomes */
        if (!st) st = bl_cohort_write_relative_to(&listed, csv, out);
        free(csv);
        free(listed.rows);
    }
    if (!st && rename(stage, out) != 0)
        st = bl_fail(BL_ERR_IO, "%s: cannot move %s into place: %s", out, stage, strerror(errno));
    if (st && stage) bl_remove_tree(stage);
    if (stage) bl_cleanup_forget(stage);
    free(sub[0]);
    free(sub[1]);
    free(stage);
    return st;
}
