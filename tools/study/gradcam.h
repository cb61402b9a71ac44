/* gradcam.h — Grad-CAM heatmaps of the pregnancy model and objective focus scores against the ICM and TE masks
 * (paper-method.md §7; docs/gradcam.md).
 *
 * Grad-CAM (Selvaraju et al. 2017, as pytorch-grad-cam computes it) for one image:
 *   A [1,K,h,w]  = the output of the target module (captured through the bl_run activation hook)
 *   α_k          = mean over h×w of ∂logit/∂A_k   (backward from the logit with dy = 1, BN running statistics)
 *   cam [h·w]    = ReLU(Σ_k α_k A_k), then cam − min(cam), then / (max + 1e-7)
 *   heat [S·S]   = cam bilinearly resized to the input size (bl_resize_bilinear, cv2 INTER_LINEAR)
 *
 * Focus scores of a heatmap against masks (both at the model's input size S×S):
 *   hit          1 when the heatmap's argmax (first maximum in row-major order) lies within 15·S/224 pixels
 *                (Euclidean, inclusive) of some ICM ∪ TE pixel — the pointing game; 0 when the heatmap is all zero
 *   energy_X     Σ heat over the pixels of X / Σ heat over the image (0 when the heatmap is all zero)
 *   area_union   |ICM ∪ TE| / S² — the energy fraction a uniform heatmap would have (chance baseline) */
#ifndef BLASTO_GRADCAM_H
#define BLASTO_GRADCAM_H

#include <stdint.h>

#include "study/cohort.h"
#include "study/enhance.h"
#include "study/image.h"
#include "models/pregnancy.h"

#define BL_GRADCAM_TOLERANCE_224 15.0 /* pointing-game tolerance in pixels at 224×224 */

typedef struct bl_gradcam_map {
    int h, w;      /* spatial size of the target activation */
    int channels;  /* K */
    float *cam;    /* [h·w] normalised map before upsampling (malloc'ed) */
    int size;      /* S */
    float *heat;   /* [S·S] upsampled map in [0,1] (malloc'ed) */
    float logit;   /* the model's logit for this image */
} bl_gradcam_map;

/* Grad-CAM of one image. x [3·S·S] (CHW, normalised as the model was trained), age_z the standardised age. layer =
 * module path (NULL = bl_model_gradcam_layer of the backbone). The model's context must not be inside a step; the
 * step is ended before returning. Errors: "gradcam: layer 'X' is not a module of ARCH (default: L)", a target
 * that is not a 4-D map, and the context's errors. out is zeroed first; free it with bl_gradcam_map_free. */
bl_status bl_gradcam_compute(const bl_pregnancy_model *m, const char *layer, const float *x, int size, float age_z,
                             bl_gradcam_map *out);
void bl_gradcam_map_free(bl_gradcam_map *map);

typedef struct bl_focus {
    int hit;
    double energy_icm, energy_te, energy_union, area_union;
} bl_focus;

/* heat [S·S] read; icm, te [S·S] masks (non-zero = inside) read. */
void bl_focus_scores(const float *heat, const uint8_t *icm, const uint8_t *te, int size, bl_focus *out);
/* focus.csv: the header line and one row (id,label,score,hit,energies,area; %.9g), as `blasto gradcam` and
 * `blasto experiment` write them. Returns snprintf's count. */
#define BL_FOCUS_CSV_HEADER "id,label,score,hit,energy_icm,energy_te,energy_union,area_union\n"
int bl_focus_csv_row(char *buf, size_t cap, const char *id, int label, double score, const bl_focus *f);
/* probability of a logit, computed without overflow */
double bl_logit_probability(double logit);

/* Nearest-neighbour resize of a 1-channel mask, as cv2 INTER_NEAREST: dst(y,x) = src(⌊y·H/S⌋, ⌊x·W/S⌋), computed
 * exactly in integers. src [src_h·src_w] read, dst [dst_h·dst_w] written. */
void bl_mask_resize_nearest(const uint8_t *src, int src_h, int src_w, uint8_t *dst, int dst_h, int dst_w);

/* ICM and TE masks of a cohort row at S×S (bl_row_masks at the image's size, then bl_mask_resize_nearest) and the
 * row's grayscale image at S×S (cv2 gray, bilinear, rounded): icm, te, gray [S·S] written. */
bl_status bl_gradcam_row_inputs(const bl_cohort_row *row, const bl_enhance_options *o, int size, uint8_t *icm,
                                uint8_t *te, uint8_t *gray);

/* Overlay for viewing: the heatmap through the jet colormap blended 50/50 over the grayscale image (as
 * pytorch-grad-cam's show_cam_on_image), then the ICM outline in magenta (255,0,255) and the TE outline in white
 * (a mask pixel with a 4-neighbour outside the mask or on the border). out: an RGB image S×S (allocated here). */
bl_status bl_gradcam_overlay(const float *heat, const uint8_t *gray, const uint8_t *icm, const uint8_t *te, int size,
                             bl_image *out);

#endif
