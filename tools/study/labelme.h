/* labelme.h — reading the shapes of a labelme JSON annotation (https://github.com/wkentaro/labelme).
 *
 * What is read (everything else, imageData and imagePath included, is ignored):
 *
 *   {
 *     "shapes": [ {"label": "icm", "points": [[x, y], …], "shape_type": "polygon", …}, … ],
 *     "imageWidth": 500, "imageHeight": 400          (optional; null or absent = unknown)
 *   }
 *
 * Every shape must be an object with a string `label` and `points` = an array of [x, y] pairs of finite numbers
 * (image pixels, x to the right, y down; labelme writes floats). `shape_type` may be absent or null (labelme < 3.0
 * wrote none); both mean "polygon". The parser keeps every shape, whatever its type or label; which labels matter
 * and that they must be polygons is decided by the caller (tools/study/enhance.c). Errors name the file and the field
 * as a JSON path: "<json>: shapes[3].points[1]: expected [x, y] with two numbers". */
#ifndef BLASTO_LABELME_H
#define BLASTO_LABELME_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Files larger than this are refused before reading (labelme embeds the image as base64, so a few MB is normal). */
#define BL_LABELME_MAX_BYTES ((size_t)256 << 20)

typedef struct bl_labelme_shape {
    char *label;      /* e.g. "icm", "te_3" */
    char *shape_type; /* "polygon", "rectangle", "circle", … ("polygon" when the file has none) */
    int n_points;
    double *points;   /* [n_points·2]: x, y as written in the file */
} bl_labelme_shape;

typedef struct bl_labelme {
    char *path;
    int image_width, image_height; /* from imageWidth / imageHeight; 0 when absent or null */
    int n_shapes;
    bl_labelme_shape *shapes;      /* in file order: shapes[i] is "shapes[i]" in messages */
} bl_labelme;

bl_status bl_labelme_read(const char *path, bl_labelme **out);
/* Same on a buffer (fuzzing, tests); `label` names it in messages. */
bl_status bl_labelme_parse(const char *text, size_t size, const char *label, bl_labelme **out);
void bl_labelme_free(bl_labelme *doc);

/* One polygon to write: label and integer pixel coordinates (x, y pairs). */
typedef struct bl_labelme_polygon {
    const char *label;
    int n_points;
    const int32_t *points;
} bl_labelme_polygon;

/* A labelme 5 annotation file that labelme opens (version "5.2.1", shapes as polygons, imageData null, imagePath
 * as given — write it relative to the JSON's directory — and imageWidth / imageHeight), written atomically. */
bl_status bl_labelme_write(const char *path, const char *image_path, int width, int height, int n_polygons,
                           const bl_labelme_polygon *polygons);

#endif
