/* segment_train.h — training the ICM/TE U-Net of one cross-validation fold, with checkpoints and bit-identical
 * resume (docs/segmentation.md, "Training").
 *
 * Data: the cohort rows that have an annotation (labelme JSON or a mask pair); of those, the split's train rows
 * outside fold K train and fold K validates; test rows are never read. Each epoch visits the training rows in the
 * permutation of (seed, epoch) (bl_shuffled_order), in batches of `batch` (the last one smaller), each sample
 * prepared by bl_seg_prepare with the augmentation of (seed, epoch, id). Loss: softmax cross-entropy + soft Dice
 * over ICM and TE (background skipped, ε = 1), Adam with a cosine learning-rate decay per step.
 *
 * Each epoch: train, evaluate the validation rows (BN running statistics, no augmentation), Dice and Jaccard per
 * class at S×S against the labels resized as the images; one line of RUN/log.csv; RUN/best.safetensors when the
 * mean Jaccard of ICM and TE improved; then RUN/last.safetensors with the optimizer state — every file atomic.
 * Since every draw depends on (seed, epoch, id) and the learning rate on the step only, a run resumed from
 * last.safetensors (after a stop or kill -9) computes bitwise what an uninterrupted run computes on the same
 * device. */
#ifndef BLASTO_SEGMENT_TRAIN_H
#define BLASTO_SEGMENT_TRAIN_H

#include <stdint.h>

#include "core/device.h"
#include "core/safetensors.h"
#include "models/unet.h"
#include "study/segment.h"

#define BL_SEGMENTER_FORMAT "blasto-segmenter-1"

typedef struct bl_segment_options {
    char cohort[1024], split[1024], out[1024];
    int fold;
    bl_unet_config unet;        /* in_channels 1, classes 3, depth 4, width 16 */
    int size, epochs, batch;    /* 256, 40, 8 */
    double lr;                  /* Adam's peak learning rate, decayed by a cosine to 0 (1e-3) */
    int augment;                /* flips, quarter turns, brightness, contrast (1) */
    uint64_t seed;              /* 1 */
    char icm_labels[256], te_labels[256]; /* labelme labels that mean ICM / TE ("" = the default rule) */
    /* not stored: they do not change the numbers */
    int stop_after;             /* > 0: return after this many epochs of this invocation */
    int resume;                 /* continue RUN/last.safetensors with its stored options */
    bl_device_options device;
} bl_segment_options;

void bl_segment_options_default(bl_segment_options *o);
/* The sample settings a model trained with o is evaluated with (no augmentation). */
void bl_segment_sample_options(const bl_segment_options *o, int augment, bl_seg_sample_options *s);

typedef struct bl_segment_progress {
    int epoch, epochs, batch, batches;
    int validating;     /* 0 training, 1 validating, 2 checking every sample before the run (epoch −1) */
    double loss, images_per_s, eta_s;
} bl_segment_progress;

typedef struct bl_segment_epoch {
    int epoch;          /* 0-based */
    double train_loss, val_loss, lr, seconds;
    double dice[BL_SEG_CLASSES], jaccard[BL_SEG_CLASSES]; /* validation, per class */
    double score;       /* mean Jaccard of ICM and TE: what "best" means */
    int best;
} bl_segment_epoch;

typedef struct bl_segment_callbacks {
    void *user;
    void (*progress)(void *user, const bl_segment_progress *p);
    void (*epoch_done)(void *user, const bl_segment_epoch *e);
    void (*note)(void *user, const char *line);
} bl_segment_callbacks;

bl_status bl_segment_train(const bl_segment_options *o, const bl_segment_callbacks *cb);

/* A segmenter checkpoint's training options (its __metadata__), checked: format BL_SEGMENTER_FORMAT. */
bl_status bl_segment_options_of(const bl_safetensors *st, bl_segment_options *o);

#endif
