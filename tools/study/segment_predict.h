/* segment_predict.h — a trained segmenter's predictions for chosen cohort rows, written as a folder that every
 * other command reads like annotations (docs/segmentation.md, "Prediction"):
 *   DIR/icm/<id>.png, DIR/te/<id>.png   8-bit 0/255 masks at the image's own size
 *   DIR/<id>.json                        labelme file: `icm` and `te` polygons traced from the masks, simplified
 *                                        within 0.5 px where that keeps IoU ≥ 0.99 with the mask, else as traced
 *   DIR/cohort.csv                       the chosen rows (or every row) with the chosen ones pointing at DIR's masks
 * DIR is built in DIR.tmp-<pid> (removed on failure or on a signal) and renamed into place when every row
 * succeeded, so it never exists half written. */
#ifndef BLASTO_SEGMENT_PREDICT_H
#define BLASTO_SEGMENT_PREDICT_H

#include <stdint.h>

#include "study/cohort.h"
#include "study/segmenter.h"

/* px: polygons are simplified within this; keeps the labelme round trip above IoU 0.98 (tests/test_segment_data.c) */
#define BL_SEG_SIMPLIFY_TOLERANCE 0.5

typedef struct bl_segment_predict_callbacks {
    void *user;
    /* after each row: rows done of n, the seconds left (< 0: not known yet); may be NULL */
    void (*progress)(void *user, int done, int n, double eta_s);
    /* every predicted label map at the image's size, before it is written (to measure it); may be NULL */
    bl_status (*labels)(void *user, const bl_cohort_row *row, const uint8_t *labels, int width, int height);
} bl_segment_predict_callbacks;

/* Predicts cohort->rows[chosen[0..n-1]] into the new folder `out` (refused when it exists and is not an empty
 * folder: "<out>: exists and is not an empty directory (predictions go into a new one)"). keep_others: cohort.csv
 * lists every row in cohort order, the chosen ones pointing at their predicted masks (1), or the chosen rows only
 * (0). On success the chosen rows of `cohort` point at the masks in `out`. Paths in cohort.csv are relative to
 * `out`. cb may be NULL. */
bl_status bl_segment_predict_dir(bl_segmenter *seg, bl_cohort *cohort, const int *chosen, int n, int keep_others,
                                 const char *out, const bl_segment_predict_callbacks *cb);

#endif
