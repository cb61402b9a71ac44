/* enhance.c — the enhanced ICM/TE image of one cohort row (see enhance.h): region masks from labelme polygons
 * (cv2-exact fillPoly, tools/study/raster.h) or from mask PNGs, cv2-exact grayscale, and the channel merge.
 *
 * Decisions (docs/data.md, "Annotations"):
 *   - A shape whose label maps to a region must be a polygon (shape_type absent, null or "polygon") with ≥ 3
 *     points; other shape types are refused for region labels rather than guessed at (a labelme "rectangle" has
 *     2 corner points, a "circle" a centre and a rim point). Shapes with other labels are ignored, whatever type.
 *   - Both regions must be present: a file with no ICM polygon or no TE polygon is refused.
 *   - imageWidth / imageHeight, when the file has them, must equal the image's size. */
#include "study/enhance.h"

#include <stdlib.h>
#include <string.h>

#include "study/labelme.h"
#include "study/raster.h"

bl_region bl_region_of_label(const char *label) {
    if (strcmp(label, "icm") == 0 || strcmp(label, "ICM") == 0) return BL_REGION_ICM;
    if (strcmp(label, "te") == 0 || strcmp(label, "TE") == 0) return BL_REGION_TE;
    if ((strncmp(label, "te_", 3) == 0 || strncmp(label, "TE_", 3) == 0) && label[3] != '\0') {
        for (const char *c = label + 3; *c; c++)
            if (*c < '0' || *c > '9') return BL_REGION_NONE;
        return BL_REGION_TE;
    }
    return BL_REGION_NONE;
}

/* label ∈ comma-separated list? (exact, case-sensitive) */
static int label_in_list(const char *list, const char *label) {
    size_t n = strlen(label);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, label, n) == 0) return 1;
        if (!end) break;
        p = end + 1;
    }
    return 0;
}

bl_region bl_region_of_label_in(const bl_enhance_options *o, const char *label) {
    if (o && o->icm_labels && label_in_list(o->icm_labels, label)) return BL_REGION_ICM;
    if (o && o->te_labels && label_in_list(o->te_labels, label)) return BL_REGION_TE;
    bl_region r = bl_region_of_label(label);
    /* a region whose labels are configured no longer takes the default rule's labels */
    if (o && ((r == BL_REGION_ICM && o->icm_labels) || (r == BL_REGION_TE && o->te_labels))) return BL_REGION_NONE;
    return r;
}

void bl_enhance_options_default(bl_enhance_options *o) {
    o->icm_labels = NULL;
    o->te_labels = NULL;
    o->order[0] = BL_CHANNEL_GRAY;
    o->order[1] = BL_CHANNEL_ICM;
    o->order[2] = BL_CHANNEL_TE;
}

bl_status bl_gray_from_image(const bl_image *rgb, bl_image *gray) {
    if (rgb->channels != 1 && rgb->channels != 3)
        return bl_fail(BL_ERR_INVALID, "gray: image has %d channels (expected 1 or 3)", rgb->channels);
    bl_status st = bl_image_alloc(gray, rgb->width, rgb->height, 1);
    if (st) return st;
    int64_t n = (int64_t)rgb->width * rgb->height;
    if (rgb->channels == 1)
        memcpy(gray->pixels, rgb->pixels, (size_t)n); /* cv2 would replicate to BGR; gray(g,g,g) = g exactly */
    else
        bl_rgb_to_gray(rgb->pixels, n, gray->pixels);
    return BL_OK;
}

/* ---- masks from labelme polygons ---- */

/* Fill every polygon of `region` into mask [h·w] in ONE fillPoly call (even–odd across them, as cv2 with a list
 * of contours). Returns the number of polygons through *count. */
static bl_status fill_region(const bl_labelme *doc, const bl_enhance_options *o, bl_region region, bl_image *mask,
                             int *count) {
    *count = 0;
    int n_region = 0, n_points = 0;
    for (int i = 0; i < doc->n_shapes; i++) {
        const bl_labelme_shape *s = &doc->shapes[i];
        if (bl_region_of_label_in(o, s->label) != region) continue;
        if (strcmp(s->shape_type, "polygon") != 0)
            return bl_fail(BL_ERR_FORMAT,
                           "%s: shapes[%d].shape_type: not supported for region label '%s' (expected polygon, got '%s')",
                           doc->path, i, s->label, s->shape_type);
        if (s->n_points < 3)
            return bl_fail(BL_ERR_FORMAT, "%s: shapes[%d].points: polygon with %d points (expected ≥ 3)", doc->path, i,
                           s->n_points);
        n_region++;
        n_points += s->n_points;
    }
    if (n_region == 0) return BL_OK;
    bl_contour *contours = malloc((size_t)n_region * sizeof *contours);
    int32_t *points = malloc((size_t)n_points * 2 * sizeof *points);
    if (!contours || !points) {
        free(contours);
        free(points);
        return bl_fail(BL_ERR_NOMEM, "%s: out of memory for %d polygon points", doc->path, n_points);
    }
    bl_status st = BL_OK;
    int k = 0, p = 0;
    for (int i = 0; i < doc->n_shapes && !st; i++) {
        const bl_labelme_shape *s = &doc->shapes[i];
        if (bl_region_of_label_in(o, s->label) != region) continue;
        contours[k].points = points + 2 * p;
        contours[k].n_points = s->n_points;
        for (int j = 0; j < 2 * s->n_points; j++) {
            double v = s->points[j];
            if (!(v >= -BL_RASTER_COORD_MAX && v <= BL_RASTER_COORD_MAX)) {
                st = bl_fail(BL_ERR_FORMAT, "%s: shapes[%d].points[%d]: coordinate %g out of range (expected |v| ≤ %d)",
                             doc->path, i, j / 2, v, BL_RASTER_COORD_MAX);
                break;
            }
            points[2 * p + j] = bl_truncate_coordinate(v); /* np.int32: toward zero */
        }
        p += s->n_points;
        k++;
    }
    if (!st) st = bl_fill_poly(mask->pixels, mask->width, mask->height, contours, n_region, 255);
    free(contours);
    free(points);
    *count = n_region;
    return st;
}

static bl_status masks_from_labelme(const bl_cohort_row *row, const bl_enhance_options *o, int width, int height,
                                    bl_image *icm, bl_image *te) {
    bl_labelme *doc = NULL;
    bl_status st = bl_labelme_read(row->annotation, &doc);
    if (st) return st;
    if (doc->image_width && doc->image_width != width)
        st = bl_fail(BL_ERR_FORMAT, "%s: imageWidth: does not match the width of %s (expected %d, got %d)", doc->path,
                     row->image, width, doc->image_width);
    else if (doc->image_height && doc->image_height != height)
        st = bl_fail(BL_ERR_FORMAT, "%s: imageHeight: does not match the height of %s (expected %d, got %d)",
                     doc->path, row->image, height, doc->image_height);
    int n_icm = 0, n_te = 0;
    if (!st && !(st = bl_image_alloc(icm, width, height, 1)) && !(st = bl_image_alloc(te, width, height, 1)) &&
        !(st = fill_region(doc, o, BL_REGION_ICM, icm, &n_icm)) &&
        !(st = fill_region(doc, o, BL_REGION_TE, te, &n_te))) {
        if (n_icm == 0)
            st = bl_fail(BL_ERR_FORMAT, "%s: shapes: no polygon labelled icm/ICM", doc->path);
        else if (n_te == 0)
            st = bl_fail(BL_ERR_FORMAT, "%s: shapes: no polygon labelled te/TE/te_<n>", doc->path);
    }
    bl_labelme_free(doc);
    return st;
}

/* ---- masks from PNGs ---- */

static bl_status mask_from_png(const char *path, const char *image_path, int width, int height, bl_image *mask) {
    bl_image file;
    bl_status st = bl_image_load(path, 0, &file);
    if (st) return st;
    if (file.width != width || file.height != height) {
        st = bl_fail(BL_ERR_FORMAT, "%s: size does not match %s (expected %dx%d, got %dx%d)", path, image_path, width,
                     height, file.width, file.height);
    } else if (!(st = bl_image_alloc(mask, width, height, 1))) {
        int64_t n = (int64_t)width * height;
        for (int64_t i = 0; i < n; i++) {
            int inside = 0; /* non-zero in any channel = inside */
            for (int c = 0; c < file.channels; c++) inside |= file.pixels[i * file.channels + c] != 0;
            mask->pixels[i] = inside ? 255 : 0;
        }
    }
    bl_image_free(&file);
    return st;
}

bl_status bl_row_masks(const bl_cohort_row *row, const bl_enhance_options *o, int width, int height, bl_image *icm,
                       bl_image *te) {
    memset(icm, 0, sizeof *icm);
    memset(te, 0, sizeof *te);
    bl_status st;
    if (row->annotation) {
        st = masks_from_labelme(row, o, width, height, icm, te);
    } else if (row->icm_mask && row->te_mask) {
        st = mask_from_png(row->icm_mask, row->image, width, height, icm);
        if (!st) st = mask_from_png(row->te_mask, row->image, width, height, te);
    } else {
        st = bl_fail(BL_ERR_INVALID,
                     "row '%s' (line %d): annotation: empty (expected a labelme JSON or icm.png|te.png to build the "
                     "ICM/TE masks)",
                     row->id ? row->id : "?", row->line);
    }
    if (st) {
        bl_image_free(icm);
        bl_image_free(te);
    }
    return st;
}

bl_status bl_enhance_row(const bl_cohort_row *row, const bl_enhance_options *o, bl_image *out, bl_image *icm_mask,
                         bl_image *te_mask) {
    memset(out, 0, sizeof *out);
    bl_image image = {0}, gray = {0}, icm = {0}, te = {0};
    bl_status st = bl_image_load(row->image, 0, &image);
    if (!st) st = bl_gray_from_image(&image, &gray);
    bl_image_free(&image);
    if (!st) st = bl_row_masks(row, o, gray.width, gray.height, &icm, &te);
    if (!st) st = bl_image_alloc(out, gray.width, gray.height, 3);
    if (!st) {
        for (int k = 0; k < 3; k++)
            if ((unsigned)o->order[k] > BL_CHANNEL_TE) {
                st = bl_fail(BL_ERR_INVALID, "enhance: order[%d]: %d is not a channel (expected 0 gray, 1 icm, 2 te)",
                             k, (int)o->order[k]);
                break;
            }
    }
    if (!st) {
        /* channel k of the output = gray, or gray where the region's mask is set and 0 elsewhere */
        int64_t n = (int64_t)gray.width * gray.height;
        for (int64_t i = 0; i < n; i++) {
            uint8_t g = gray.pixels[i];
            uint8_t source[3] = {g, icm.pixels[i] ? g : 0, te.pixels[i] ? g : 0};
            for (int k = 0; k < 3; k++) out->pixels[3 * i + k] = source[o->order[k]];
        }
    }
    bl_image_free(&gray);
    if (st) {
        bl_image_free(out);
        bl_image_free(&icm);
        bl_image_free(&te);
        return st;
    }
    if (icm_mask) *icm_mask = icm; else bl_image_free(&icm);
    if (te_mask) *te_mask = te; else bl_image_free(&te);
    return BL_OK;
}
