/* loader.h — batches for training and evaluation, prepared in worker threads while the caller trains.
 *
 * For a list of cohort rows, each sample goes through
 *
 *   decode (original: the image as RGB, gray files replicated; enhanced: bl_enhance_row, tools/study/enhance.h)
 *   → float HWC  ([0,1] = x·(1/255) when augmenting, as tf.image.convert_image_dtype; else [0,255])
 *   → bl_resize_bilinear to size×size (cv2 INTER_LINEAR, aspect not kept)
 *   → augmentation (tools/study/augment.h, draws keyed by (seed, epoch, row id)), then ·255
 *   → bl_normalize_to_chw with the preset
 *
 * and lands at its place in a batch: images [B,3,S,S], labels [B] (0/1 as float), ages [B] (years as in the row;
 * NaN stays NaN — the trainer imputes and standardises).
 *
 * Order: with shuffle, epoch e visits the rows in a permutation drawn from the stream (seed, BL_RNG_DATA, e)
 * (Fisher–Yates, unbiased bounded draws); without, in the given order. Batches hold consecutive positions of that
 * order; the last one is smaller unless drop_last. Every value of every batch is a function of (rows, options,
 * epoch) only: the same for any number of loader threads (tests/test_loader.c checks 0, 1 and 3).
 *
 * Double buffering: bl_loader_start_epoch starts filling batch 0. bl_loader_next waits until the batch being filled
 * is ready, starts filling the next one into the other buffer, and returns the ready one; it stays valid until the
 * following bl_loader_next / bl_loader_start_epoch / bl_loader_free. The workers are the loader's own pthreads
 * (not core/cpu/threads.h, whose pool the training step uses); threads = 0 fills batches synchronously inside
 * bl_loader_next (no prefetch; useful for debugging).
 *
 * Errors: a sample that cannot be read or enhanced fails its batch; bl_loader_next returns that error with the
 * worker's message (it names the file, e.g. "data/e7.png: cannot open: No such file or directory"; when several
 * samples of a batch fail, the one earliest in the batch is reported). After an error the loader only reports it
 * again until bl_loader_start_epoch is called. */
#ifndef BLASTO_LOADER_H
#define BLASTO_LOADER_H

#include <stdint.h>

#include "study/augment.h"
#include "study/cohort.h"
#include "study/enhance.h"
#include "study/preprocess.h"

typedef enum bl_input_kind {
    BL_INPUT_ORIGINAL = 0, /* the image file as RGB */
    BL_INPUT_ENHANCED = 1, /* (gray, gray·ICM, gray·TE) from bl_enhance_row */
} bl_input_kind;

/* "original" | "enhanced" → kind; error "input: unknown kind 'x' (expected original or enhanced)". */
bl_status bl_input_kind_parse(const char *name, bl_input_kind *out);
const char *bl_input_kind_name(bl_input_kind kind);

typedef struct bl_loader_options {
    bl_input_kind input;
    bl_enhance_options enhance; /* channel order, for BL_INPUT_ENHANCED */
    int size;                   /* S; default BL_INPUT_SIZE_DEFAULT (224) */
    bl_normalize normalize;     /* default caffe */
    int augment;                /* 0/1; default 0 */
    bl_augment_options augment_options;
    int batch_size;             /* default 32 */
    int shuffle;                /* default 1 */
    int drop_last;              /* default 0 */
    uint64_t seed;              /* default 0 */
    int threads;                /* worker threads, 0 … 64; default 2 */
    /* Data-parallel shards: every batch is the same global batch, of which this loader prepares only shard
     * `shard` of `shards` (bl_shard_range); default 0 of 1, the whole batch */
    int shards, shard;
} bl_loader_options;

/* Shard s of K of a batch of n samples: positions [lo, hi) with lo = ⌊s·n/K⌋, hi = ⌊(s+1)·n/K⌋ — contiguous,
 * in rank order, sizes differing by at most 1 (a shard may be empty when n < K). */
void bl_shard_range(int n, int shards, int shard, int *lo, int *hi);

void bl_loader_options_default(bl_loader_options *o);

typedef struct bl_batch {
    int count;          /* B: samples in this batch (≤ batch_size); with shards, in this loader's shard */
    int global_count;   /* samples in the whole batch (= count without shards) */
    int first;          /* the shard's first position in the whole batch (0 without shards) */
    int size;           /* S */
    int64_t epoch;
    int index;          /* batch number within the epoch */
    float *images;      /* [B,3,S,S] */
    float *labels;      /* [B] */
    float *ages;        /* [B] */
    const int *rows;    /* [B] positions in the loader's row list */
} bl_batch;

typedef struct bl_loader bl_loader;

/* rows [n_rows] are read, not copied: they must outlive the loader. Checks the options (size 1 … 4096, batch size
 * 1 … 65536, threads 0 … 64, augmentation options) and that n_rows ≥ 1; starts the worker threads. */
bl_status bl_loader_create(const bl_cohort_row *rows, int n_rows, const bl_loader_options *o, bl_loader **out);
/* Begin epoch `epoch` (≥ 0): computes its order and starts filling batch 0. Clears a previous error. */
bl_status bl_loader_start_epoch(bl_loader *l, int64_t epoch);
/* The next batch of the current epoch, or *out = NULL when the epoch is done (BL_OK). */
bl_status bl_loader_next(bl_loader *l, const bl_batch **out);
int bl_loader_batches_per_epoch(const bl_loader *l);
/* Row positions of epoch `epoch` in visiting order: order [n_rows] written (a permutation, or 0…n−1). */
void bl_loader_epoch_order(const bl_loader *l, int64_t epoch, int *order);
/* The permutation of 0 … n−1 that epoch `epoch` visits: Fisher–Yates from the back with unbiased bounded draws from
 * the stream (seed, BL_RNG_DATA, epoch). order [n] written. */
void bl_shuffled_order(uint64_t seed, int64_t epoch, int n, int *order);
void bl_loader_free(bl_loader *l);

/* One sample exactly as the workers prepare it (tests, previews): out [3·S·S] CHW written. The augmentation draws
 * use (o->seed, epoch, row->id); epoch is ignored without augmentation. */
bl_status bl_loader_prepare_sample(const bl_cohort_row *row, const bl_loader_options *o, int64_t epoch, float *out);

#endif
