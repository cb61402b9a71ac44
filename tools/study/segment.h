/* segment.h — ICM/TE segmentation data: label maps from a cohort row's annotation, the segmenter's samples
 * (resized, augmented identically in image and labels), and the overlap measures (docs/segmentation.md).
 *
 * Classes: 0 background, 1 inner cell mass (ICM), 2 trophectoderm (TE). Where the ICM and TE annotations overlap
 * (annotators outline the ICM over a few TE cells) the pixel is ICM. */
#ifndef BLASTO_SEGMENT_H
#define BLASTO_SEGMENT_H

#include <stdint.h>

#include "study/cohort.h"
#include "study/enhance.h"

enum { BL_SEG_BACKGROUND = 0, BL_SEG_ICM = 1, BL_SEG_TE = 2, BL_SEG_CLASSES = 3 };

/* "background", "icm", "te" */
const char *bl_seg_class_name(int cls);

/* labels [height·width] of a row at the image's size: ICM where its ICM mask is set, else TE where its TE mask is
 * set, else background. Labelme polygons are rasterised (bl_row_masks); a mask pair must be grey PNGs of exactly
 * width×height holding only 0 and 255 ("<png>: pixel (x, y) is 17: expected a 0/255 mask"). */
bl_status bl_seg_row_labels(const bl_cohort_row *row, const bl_enhance_options *o, int width, int height,
                            uint8_t *labels);

typedef struct bl_seg_sample_options {
    int size;                 /* S: samples are S×S (aspect not kept); a multiple of the U-Net's 2^depth */
    int in_channels;          /* 1: grey (cv2 BGR2GRAY of the image), 3: RGB */
    bl_enhance_options enhance; /* which labelme labels are ICM and TE */
    int augment;              /* 0/1: the draws below */
    float brightness_max_delta;           /* x + δ, δ ~ U[−d, d) (x in [0,1]); default 0.1 */
    float contrast_lower, contrast_upper; /* (x − mean_c)·f + mean_c, f ~ U[lower, upper); default 0.8, 1.2 */
    uint64_t seed;
} bl_seg_sample_options;

/* size 256, grey, default labels, augmentation off with the defaults above, seed 1 */
void bl_seg_sample_options_default(bl_seg_sample_options *o);

/* One training or evaluation sample of a row:
 *   image → float in [0,1] (x·(1/255)), grey or RGB → bl_resize_bilinear to S×S (cv2 INTER_LINEAR);
 *   labels at the image's size → nearest-neighbour to S×S (the source pixel containing the output pixel's centre,
 *   ⌊(d + 0.5)·in/out⌋, aligned with the image's bilinear samples);
 *   with augment, from the stream (seed, BL_RNG_AUGMENT, bl_augment_stream_index(epoch, id)), five draws in this
 *   order — δ, f, u_ud, u_lr, u_rot — : brightness and contrast on the image only, then on image and labels alike
 *   flip up/down iff u_ud < 0.5, flip left/right iff u_lr < 0.5, rotate by k·90° counter-clockwise with
 *   k = ⌊4·u_rot⌋; the image clipped to [0,1];
 *   → image [C,S,S] planar as (x − 0.5)·2 (values in [−1, 1]), labels [S,S] class indices as floats.
 * Either output may be NULL (labels NULL: the annotation is not read — prediction of unannotated images).
 * width / height (may be NULL) receive the image's own size. */
bl_status bl_seg_prepare(const bl_cohort_row *row, const bl_seg_sample_options *o, int64_t epoch, float *image,
                         float *labels, int *width, int *height);

/* Overlap counts per class of predicted against true labels (pixels, accumulated over images). */
typedef struct bl_seg_counts {
    int64_t tp[BL_SEG_CLASSES], fp[BL_SEG_CLASSES], fn[BL_SEG_CLASSES];
} bl_seg_counts;

/* counts += the confusion of pred against truth over n pixels (values ≥ BL_SEG_CLASSES are not counted) */
void bl_seg_count(const uint8_t *truth, const uint8_t *pred, int64_t n, bl_seg_counts *counts);

/* Per class: Dice 2TP/(2TP + FP + FN), Jaccard TP/(TP + FP + FN), precision TP/(TP + FP), recall TP/(TP + FN).
 * A ratio whose denominator is 0 is 1 (its numerator is 0 too: nothing to find, or nothing claimed, and nothing
 * wrong), so an image without TE and a prediction without TE scores 1, not NaN; precision of an empty prediction
 * and recall of an empty truth are 1 likewise. */
double bl_seg_dice(const bl_seg_counts *c, int cls);
double bl_seg_jaccard(const bl_seg_counts *c, int cls);
double bl_seg_precision(const bl_seg_counts *c, int cls);
double bl_seg_recall(const bl_seg_counts *c, int cls);

/* labels [S·S] = argmax over classes of logits [classes, S·S] (the first maximum wins) */
void bl_seg_argmax(const float *logits, int classes, int64_t pixels, uint8_t *labels);

#endif
