/* train.h — training the pregnancy model of one cross-validation fold, with checkpoints and bit-identical resume
 * (docs/training.md).
 *
 * Data: the cohort rows whose split row has set=train; fold ≠ K → training part (loader with augmentation and a
 * per-epoch shuffle), fold = K → validation part (no augmentation, cohort order). Age is z-scored with the
 * training part's mean and sample SD (missing age → the mean, z = 0). Loss: bl_bce_with_logits with per-sample
 * weights n/(2·n_c) from the training part (class_weight balanced) or none.
 *
 * Each epoch: train, evaluate the validation part (BN running statistics), append one line to RUN/log.csv,
 * write RUN/best.safetensors when the validation AUROC improved (and RUN/validation.csv, the validation
 * predictions of that model), then RUN/last.safetensors — every file atomically. A checkpoint holds the weights,
 * BN statistics, optimizer state ("optim.a.<name>", "optim.b.<name>", step), and in __metadata__ the epoch, the
 * context step, age mean/SD, early-stopping state, the log so far, arch/variant/input/preprocessing/seed and
 * every option (JSON). Resume restores all of it; since the loader's draws depend on (seed, epoch, id) only and
 * the learning rate on (epoch, batch) only, the resumed run's weights are bitwise those of an uninterrupted one. */
#ifndef BLASTO_TRAIN_H
#define BLASTO_TRAIN_H

#include <stdint.h>

#include "core/device.h"
#include "core/optim.h"
#include "core/tensor_host.h"
#include "study/loader.h"
#include "models/pregnancy.h"
#include "study/preprocess.h"

typedef enum bl_schedule { BL_SCHEDULE_NONE = 0, BL_SCHEDULE_COSINE = 1, BL_SCHEDULE_STEP = 2 } bl_schedule;

typedef struct bl_train_options {
    char cohort[1024], split[1024], out[1024]; /* paths; out = the run directory (created if absent) */
    char weights[1024];                        /* ImageNet backbone weights, or "none" (random init) */
    int fold;                                  /* K: the validation fold */
    bl_arch arch;
    bl_input_kind input;
    bl_normalize preset;                       /* default: by arch (caffe: vgg16, resnet50-keras; torch: others) */
    int epochs, batch, size;
    double lr, weight_decay;
    bl_optim_kind optimizer;                   /* sgd uses momentum 0.9 */
    bl_schedule schedule;
    int warmup;                                /* epochs of linear warm-up (per step, from lr/steps to lr) */
    int class_weight_balanced;
    int freeze_backbone_epochs;                /* the first N epochs update only the head */
    int patience;                              /* early stopping on validation AUROC; 0 = off */
    uint64_t seed;
    int augment;                               /* 1 = the paper's augmentation on the training part */
    int shards;                                /* data-parallel shards K (default 1): every batch is split into K
                                                  contiguous shards, each with its own batch statistics, their
                                                  gradients summed in shard order (docs/distributed.md); under an
                                                  MPI launcher K = the number of ranks, shard = rank; in one process
                                                  the K shards run one after another (the same numbers) */
    int sync_bn;                               /* 1: under K ranks, batchnorm statistics over the whole batch (every
                                                  rank's shard; default 0, each shard its own) */
    /* not stored as run options (they do not change the numbers) */
    int loader_threads;                        /* default 1 */
    int stop_after;                            /* > 0: return after this many epochs of this invocation */
    int resume;                                /* continue from RUN/last.safetensors (its options win) */
    const struct bl_world *world;              /* the ranks sharing this training (NULL: one process) */
    bl_device_options device;                  /* where to compute (default cpu); also not stored: a run may be
                                                  resumed on another device (the numbers then differ in the last
                                                  bits; cpu and ref are bitwise identical run to run) */
} bl_train_options;

/* paper-like defaults: resnet50, original, weights none, 30 epochs, batch 16, size 224, adam lr 1e-4, wd 0,
 * cosine, warmup 0, balanced, freeze 0, patience 0, seed 1, augment on, fold 0, loader_threads 1. */
void bl_train_options_default(bl_train_options *o);
bl_normalize bl_train_default_preset(bl_arch arch);
/* Default preset given the backbone weights file: its __metadata__.source decides (keras → caffe, torchvision/timm →
 * torch); no weights → bl_train_default_preset. */
bl_normalize bl_train_preset_for_weights(bl_arch arch, const char *weights_path);
const char *bl_schedule_name(bl_schedule s);
bl_status bl_schedule_parse(const char *name, bl_schedule *out);
/* Learning rate of global step `step` (0-based) with `steps_per_epoch` steps per epoch. */
double bl_train_lr(const bl_train_options *o, int64_t step, int steps_per_epoch);

/* What the trainer reports while it runs (stderr drawing is the caller's business). */
typedef struct bl_train_progress {
    int epoch, epochs;       /* epoch is 0-based */
    int batch, batches;      /* batches done in this epoch's phase / total */
    int validating;          /* 0 = training phase, 1 = validation phase */
    double loss;             /* running mean training loss of this epoch */
    double images_per_s;     /* this phase so far */
    double eta_s;            /* estimated seconds left in the whole run */
} bl_train_progress;

typedef struct bl_train_epoch {
    int epoch;               /* 0-based */
    double train_loss, val_loss, val_auroc, lr, images_per_s, seconds;
    int best;                /* 1 when this epoch became best.safetensors */
} bl_train_epoch;

typedef struct bl_train_callbacks {
    void *user;
    void (*progress)(void *user, const bl_train_progress *p);   /* after every batch */
    void (*epoch_done)(void *user, const bl_train_epoch *e);
    void (*note)(void *user, const char *line);                 /* one-line messages (memory plan, resume) */
} bl_train_callbacks;

/* The checks bl_train_run makes of the options before it reads anything (ranges of epochs, batch, size, lr, weight
 * decay, warmup; paths that the checkpoint records must be UTF-8): BL_ERR_INVALID naming the option. A command
 * calls it first to report a bad option as a usage error. */
bl_status bl_train_check_options(const bl_train_options *o);
/* Runs (or resumes) the training described by o; cb may be NULL. */
bl_status bl_train_run(const bl_train_options *o, const bl_train_callbacks *cb);

/* The loader settings that evaluate a model trained with o (validation, predict, Grad-CAM): its input, size,
 * preprocessing preset, batch and seed; no augmentation, no shuffling, every row. */
void bl_train_eval_loader_options(const bl_train_options *o, bl_loader_options *lo);

/* ---- checkpoints (tools/study/checkpoint.c) ---- */
typedef struct bl_train_state {
    int epoch;               /* completed epochs */
    int64_t step;            /* context step (= optimizer steps taken) */
    double age_mean, age_sd;
    double best_auroc;       /* −1 before the first validation */
    int best_epoch;          /* −1 before the first validation */
    int bad_epochs;          /* epochs since the best one */
    int finished;            /* 1 when the run ended (all epochs or early stop) */
    char *log;               /* log.csv text so far (malloc'ed) */
} bl_train_state;

/* Options → JSON text (malloc'ed) and back (every field; unknown keys are an error). */
char *bl_train_options_to_json(const bl_train_options *o);
bl_status bl_train_options_from_json(const char *json, const char *what, bl_train_options *o);

/* Atomic write of model + optimizer state + metadata. */
bl_status bl_checkpoint_write(const char *path, const bl_pregnancy_model *m, const bl_optimizer *opt,
                              const bl_train_options *o, const bl_train_state *s);
/* Reads the options of a checkpoint (for resume and predict) and its state (s->log malloc'ed; may be NULL). */
bl_status bl_checkpoint_read_meta(const bl_safetensors *st, bl_train_options *o, bl_train_state *s);
/* Any model's optimizer state in a checkpoint: the tensors "optim.a.<param>", "optim.b.<param>" (SGD momentum or
 * Adam m; Adam v) of every parameter that has them, and __metadata__ "optim_step" (written by the caller).
 * read_optimizer with load = 0 only checks that every tensor is there (so a caller can validate before touching
 * anything); load = 1 reads them and the step. */
bl_status bl_checkpoint_add_optimizer(bl_st_writer *w, const bl_optimizer *opt, bl_host_copies *copies);
bl_status bl_checkpoint_read_optimizer(const bl_safetensors *st, bl_optimizer *opt, int load);
/* Loads weights (and, when opt is non-NULL, the optimizer state and its step) from a checkpoint. */
bl_status bl_checkpoint_load(const bl_safetensors *st, bl_pregnancy_model *m, bl_optimizer *opt);
/* The trained model of a checkpoint, ready to evaluate: opens the file, reads its metadata, opens the device,
 * creates a context on it and the pregnancy model of the checkpoint's arch, and loads the weights and BN statistics
 * (not the optimizer state); the file is closed again.
 *   path    the checkpoint (bl_checkpoint_write's file), read
 *   device  where the model computes (NULL: cpu)
 *   o       written: the run's options (arch, size, input, preset, batch, seed — bl_train_eval_loader_options)
 *   s       written: the run's state (age mean/SD for the age input); s->log is malloc'ed, the caller frees it
 *   ctx     written: the new context; the caller frees it with bl_ctx_free after the model
 *   model   written: the new model; the caller frees it with bl_pregnancy_free
 * Errors are those of the steps, unchanged: bl_safetensors_open ("<path>: cannot open: <strerror>", …),
 * bl_checkpoint_read_meta ("<path>: __metadata__.format: not a pregnancy checkpoint …"), bl_device_open_options,
 * bl_ctx_create, bl_pregnancy_create, bl_checkpoint_load. On failure *ctx and *model are NULL and s->log is freed. */
bl_status bl_checkpoint_open_model(const char *path, const bl_device_options *device, bl_train_options *o,
                                   bl_train_state *s, bl_ctx **ctx, bl_pregnancy_model **model);
/* Probabilities of rows [n] under a checkpoint, exactly as its training run scored its validation part (eval mode,
 * no augmentation, the checkpoint's batch size, size, preset, input and age mean/SD), computed on `device` (NULL:
 * cpu): scores [n] written. */
bl_status bl_checkpoint_score(const bl_safetensors *ck, const bl_cohort_row *rows, int n, int loader_threads,
                              const bl_device_options *device, double *scores);

#endif
