/* enhance.h — the paper's "enhanced ICM/TE image": three channels (gray, gray·[ICM], gray·[TE]) built with
 * OpenCV-exact grayscale and polygon filling (paper-method.md §1).
 *
 *   gray   = cv2.cvtColor(BGR, COLOR_BGR2GRAY) on 8-bit: (3735·B + 19235·G + 9798·R + 16384) >> 15
 *   masks  = cv2.fillPoly(zeros, [every polygon of the region], 255) with LINE_8, shift 0; float labelme
 *            coordinates truncated toward zero (np.int32), all polygons of a region in ONE call (even–odd across them)
 *   output = channels in the configured order, default (R,G,B) = (gray, gray where ICM else 0, gray where TE else 0)
 * Annotations come from labelme JSON (shape labels mapped to regions by bl_region_map) or from two mask PNGs
 * (non-zero = inside). */
#ifndef BLASTO_ENHANCE_H
#define BLASTO_ENHANCE_H

#include <stdint.h>

#include "study/cohort.h"
#include "study/image.h"

/* Which labelme labels belong to which region. Default: ICM ← "icm", "ICM"; TE ← "te", "TE", "te_<n>", "TE_<n>".
 * Other labels are ignored (and listed by `blasto enhance --verbose`). */
typedef enum bl_region { BL_REGION_NONE = 0, BL_REGION_ICM = 1, BL_REGION_TE = 2 } bl_region;
bl_region bl_region_of_label(const char *label);

/* Channel order of the enhanced image: a permutation of {GRAY, ICM, TE} written into R,G,B. */
typedef enum bl_channel { BL_CHANNEL_GRAY = 0, BL_CHANNEL_ICM = 1, BL_CHANNEL_TE = 2 } bl_channel;
typedef struct bl_enhance_options {
    bl_channel order[3];    /* default {GRAY, ICM, TE} */
    const char *icm_labels; /* comma-separated exact labels that mean ICM, replacing the default rule; NULL = default */
    const char *te_labels;  /* likewise for TE (e.g. "trophectoderm,te_ring") */
} bl_enhance_options;
/* The region of a label under the options' mapping (NULL options = the default rule). */
bl_region bl_region_of_label_in(const bl_enhance_options *o, const char *label);
void bl_enhance_options_default(bl_enhance_options *o);

/* gray [h·w] from an RGB image (cv2 BGR2GRAY 15-bit fixed point; a 1-channel image is copied) */
bl_status bl_gray_from_image(const bl_image *rgb, bl_image *gray);

/* ICM and TE masks (1 channel, 0/255) of a cohort row at the image's size: from its labelme JSON (rasterised) or
 * its mask pair (non-zero → 255; sizes must match the image). Errors name the file and the field, e.g.
 * "<json>: shapes: no polygon labelled icm/ICM", "<json>: shapes[3].points: polygon with 2 points (expected ≥ 3)". */
bl_status bl_row_masks(const bl_cohort_row *row, const bl_enhance_options *o, int width, int height, bl_image *icm,
                       bl_image *te);

/* The enhanced RGB image of a row (loads the image, builds the masks, combines). */
bl_status bl_enhance_row(const bl_cohort_row *row, const bl_enhance_options *o, bl_image *out, bl_image *icm_mask,
                         bl_image *te_mask);

#endif
