/* predictions.h — the predictions CSV written by `blasto predict` and read by metrics/calibrate:
 * columns id,label,score (score = probability in [0,1]) plus optional arch,input,fold.
 * Reading validates: unique non-empty ids, label 0 or 1, score finite and within [0,1] — each failure names the
 * file, line and column. Writing is atomic and prints scores with 17 significant digits (round-trip exact). */
#ifndef BLASTO_PREDICTIONS_H
#define BLASTO_PREDICTIONS_H

#include "core/status.h"

typedef struct bl_prediction {
    char *id;
    int label;
    double score;
} bl_prediction;

typedef struct bl_predictions {
    char *path;
    int n;
    bl_prediction *rows;
    char *arch;  /* NULL when the column is absent; else the (constant) value */
    char *input; /* "original" | "enhanced" | NULL */
    int fold;    /* −1 when absent */
} bl_predictions;

bl_status bl_predictions_read(const char *path, bl_predictions **out);
/* rows are copied by the caller into p->rows; arch/input may be NULL, fold −1 to omit those columns */
bl_status bl_predictions_write(const char *path, const bl_predictions *p);
bl_predictions *bl_predictions_new(int n); /* zeroed rows, fold −1 */
void bl_predictions_free(bl_predictions *p);

#endif
