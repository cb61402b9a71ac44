/* labelme.c — labelme JSON shapes through cJSON (see labelme.h). Validation only; no rasterising here. */
#include "study/json.h"
#include "study/labelme.h"

#include "study/csv.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

void bl_labelme_free(bl_labelme *doc) {
    if (!doc) return;
    for (int i = 0; i < doc->n_shapes; i++) {
        free(doc->shapes[i].label);
        free(doc->shapes[i].shape_type);
        free(doc->shapes[i].points);
    }
    free(doc->shapes);
    free(doc->path);
    free(doc);
}

static char *copy_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

/* imageWidth / imageHeight: absent or null → 0; else a positive integer */
static bl_status read_size(const cJSON *root, const char *field, const char *label, int *out) {
    *out = 0;
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, field);
    if (!item || cJSON_IsNull(item)) return BL_OK;
    double v = cJSON_IsNumber(item) ? item->valuedouble : -1;
    if (!(v >= 1 && v <= 1 << 30 && v == floor(v)))
        return bl_fail(BL_ERR_FORMAT, "%s: %s: expected a positive integer or null", label, field);
    *out = (int)v;
    return BL_OK;
}

static bl_status read_shape(const cJSON *item, int index, const char *label, bl_labelme_shape *shape) {
    if (!cJSON_IsObject(item))
        return bl_fail(BL_ERR_FORMAT, "%s: shapes[%d]: expected an object with label and points", label, index);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(item, "label");
    if (!cJSON_IsString(name))
        return bl_fail(BL_ERR_FORMAT, "%s: shapes[%d].label: %s (expected a string)", label, index,
                       name ? "not a string" : "missing");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(item, "shape_type");
    if (type && !cJSON_IsNull(type) && !cJSON_IsString(type))
        return bl_fail(BL_ERR_FORMAT, "%s: shapes[%d].shape_type: not a string (expected e.g. \"polygon\")", label,
                       index);
    const cJSON *points = cJSON_GetObjectItemCaseSensitive(item, "points");
    if (!cJSON_IsArray(points))
        return bl_fail(BL_ERR_FORMAT, "%s: shapes[%d].points: %s (expected an array of [x, y] pairs)", label, index,
                       points ? "not an array" : "missing");
    shape->label = copy_string(name->valuestring);
    shape->shape_type = copy_string(cJSON_IsString(type) ? type->valuestring : "polygon");
    int n = cJSON_GetArraySize(points);
    shape->points = malloc((size_t)(n > 0 ? n : 1) * 2 * sizeof(double));
    if (!shape->label || !shape->shape_type || !shape->points)
        return bl_fail(BL_ERR_NOMEM, "%s: shapes[%d]: out of memory", label, index);
    int j = 0;
    for (const cJSON *pair = points->child; pair; pair = pair->next, j++) {
        const cJSON *x = cJSON_GetArrayItem(pair, 0), *y = cJSON_GetArrayItem(pair, 1);
        if (!cJSON_IsArray(pair) || cJSON_GetArraySize(pair) != 2 || !cJSON_IsNumber(x) || !cJSON_IsNumber(y))
            return bl_fail(BL_ERR_FORMAT, "%s: shapes[%d].points[%d]: expected [x, y] with two numbers", label,
                           index, j);
        if (!isfinite(x->valuedouble) || !isfinite(y->valuedouble))
            return bl_fail(BL_ERR_FORMAT, "%s: shapes[%d].points[%d]: coordinate is not finite (expected a number)",
                           label, index, j);
        shape->points[2 * j] = x->valuedouble;
        shape->points[2 * j + 1] = y->valuedouble;
    }
    shape->n_points = j;
    return BL_OK;
}

bl_status bl_labelme_parse(const char *text, size_t size, const char *label, bl_labelme **out) {
    *out = NULL;
    cJSON *root = NULL;
    bl_status st = bl_json_parse(text, size, label, &root);
    if (st) return st;
    bl_labelme *doc = calloc(1, sizeof *doc);
    if (!doc || !(doc->path = copy_string(label))) {
        st = bl_fail(BL_ERR_NOMEM, "%s: out of memory", label);
        goto done;
    }
    if (!cJSON_IsObject(root)) {
        st = bl_fail(BL_ERR_FORMAT, "%s: top level: expected a JSON object (a labelme file)", label);
        goto done;
    }
    if ((st = read_size(root, "imageWidth", label, &doc->image_width)) ||
        (st = read_size(root, "imageHeight", label, &doc->image_height)))
        goto done;
    const cJSON *shapes = cJSON_GetObjectItemCaseSensitive(root, "shapes");
    if (!cJSON_IsArray(shapes)) {
        st = bl_fail(BL_ERR_FORMAT, "%s: shapes: %s (expected an array of labelme shapes)", label,
                     shapes ? "not an array" : "missing");
        goto done;
    }
    int n = cJSON_GetArraySize(shapes);
    doc->shapes = calloc((size_t)(n > 0 ? n : 1), sizeof *doc->shapes);
    if (!doc->shapes) {
        st = bl_fail(BL_ERR_NOMEM, "%s: out of memory for %d shapes", label, n);
        goto done;
    }
    int i = 0;
    for (const cJSON *item = shapes->child; item; item = item->next, i++) {
        doc->n_shapes = i + 1; /* so that free() releases a partly read shape */
        if ((st = read_shape(item, i, label, &doc->shapes[i]))) goto done;
    }
    doc->n_shapes = i;
done:
    cJSON_Delete(root);
    if (st) {
        bl_labelme_free(doc);
        return st;
    }
    *out = doc;
    return BL_OK;
}

bl_status bl_labelme_read(const char *path, bl_labelme **out) {
    *out = NULL;
    char *text = NULL;
    size_t size = 0;
    bl_status read_status = bl_read_file(path, BL_LABELME_MAX_BYTES, &text, &size);
    if (read_status) return read_status;
    bl_status st = bl_labelme_parse(text, size, path, out);
    free(text);
    return st;
}

bl_status bl_labelme_write(const char *path, const char *image_path, int width, int height, int n_polygons,
                           const bl_labelme_polygon *polygons) {
    cJSON *root = cJSON_CreateObject(), *shapes = cJSON_CreateArray();
    int ok = root && shapes;
    if (ok) {
        cJSON_AddStringToObject(root, "version", "5.2.1");
        cJSON_AddItemToObject(root, "flags", cJSON_CreateObject());
        cJSON_AddItemToObject(root, "shapes", shapes);
    } else {
        cJSON_Delete(shapes);
    }
    for (int i = 0; ok && i < n_polygons; i++) {
        cJSON *shape = cJSON_CreateObject(), *points = cJSON_CreateArray();
        ok = shape && points;
        for (int k = 0; ok && k < polygons[i].n_points; k++) {
            cJSON *xy = cJSON_CreateArray();
            ok = xy && cJSON_AddItemToArray(xy, cJSON_CreateNumber(polygons[i].points[2 * k])) &&
                 cJSON_AddItemToArray(xy, cJSON_CreateNumber(polygons[i].points[2 * k + 1])) &&
                 cJSON_AddItemToArray(points, xy);
        }
        if (ok) {
            cJSON_AddStringToObject(shape, "label", polygons[i].label);
            cJSON_AddItemToObject(shape, "points", points);
            cJSON_AddNullToObject(shape, "group_id");
            cJSON_AddStringToObject(shape, "description", "");
            cJSON_AddStringToObject(shape, "shape_type", "polygon");
            cJSON_AddItemToObject(shape, "flags", cJSON_CreateObject());
            ok = cJSON_AddItemToArray(shapes, shape);
        } else {
            cJSON_Delete(points);
            cJSON_Delete(shape);
        }
    }
    if (ok) {
        cJSON_AddStringToObject(root, "imagePath", image_path);
        cJSON_AddNullToObject(root, "imageData");
        cJSON_AddNumberToObject(root, "imageHeight", height);
        cJSON_AddNumberToObject(root, "imageWidth", width);
    }
    char *text = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text) return bl_fail(BL_ERR_NOMEM, "%s: out of memory for the labelme JSON", path);
    bl_status st = bl_write_file_atomic(path, text, strlen(text));
    free(text);
    return st;
}
