/* segmenter.h — a trained ICM/TE segmenter applied to one image (docs/segmentation.md, "Prediction").
 *
 * bl_segmenter_predict: the image prepared as in training without augmentation (bl_seg_prepare: S×S, grey or RGB)
 * → the U-Net's logits [3, S, S] → with test-time augmentation (tta), the mean of the logits over the 8 symmetries
 * of the square (the identity, 3 quarter turns, and the 4 with a left-right flip first), each computed on the
 * transformed image and transformed back, all 8 in one batch → resized to the image's W×H (bl_resize_bilinear on
 * the class planes) → the class of highest logit per pixel (the first maximum wins) → with largest_icm, only the
 * largest 8-connected ICM region stays ICM (an embryo has one inner cell mass); a pixel of any other ICM region
 * takes the higher-logit class of background and TE. */
#ifndef BLASTO_SEGMENTER_H
#define BLASTO_SEGMENTER_H

#include <stdint.h>

#include "core/device.h"
#include "study/cohort.h"
#include "study/segment_train.h"

typedef struct bl_segmenter {
    bl_ctx *ctx;
    bl_unet *unet;
    bl_segment_options options; /* the checkpoint's: size, channels, label mapping */
    int epoch;                  /* epochs the checkpoint had trained */
    int tta;                    /* 1: mean logits over the 8 symmetries (default 1) */
    int largest_icm;            /* 1: keep the largest ICM region only (default 1) */
} bl_segmenter;

/* Opens a checkpoint of bl_segment_train (best or last) on the device; tta and largest_icm on. */
bl_status bl_segmenter_open(const char *path, const bl_device_options *device, bl_segmenter **out);
/* The label map of a row's image at the image's own size (above). labels is malloc'ed [height·width]. */
bl_status bl_segmenter_predict(bl_segmenter *s, const bl_cohort_row *row, uint8_t **labels, int *width,
                               int *height);
void bl_segmenter_free(bl_segmenter *s);

/* Symmetry t (0..7) of the square applied in place to `planes` planes of S×S: a left-right flip first when t ≥ 4,
 * then t mod 4 quarter turns counter-clockwise (dst(y, x) = src(x, S−1−y)); inverse = 1 undoes it. tmp: scratch of
 * the same size. Exposed for the tests. */
void bl_seg_symmetry(float *a, float *tmp, int planes, int S, int t, int inverse);

/* Keeps the largest 8-connected region of class `keep` in labels [h·w] (ties: the first in row-major order); the
 * pixels of its other regions get the class of higher logit among the other classes (logits [h·w·classes], pixel
 * major). Exposed for the tests. */
bl_status bl_seg_keep_largest(uint8_t *labels, int w, int h, int keep, const float *logits, int classes);

#endif
