/* experiment.h — the paper's runs as one resumable experiment (docs/experiment.md): split, then per
 * arch × input × fold train → test predictions → test metrics, then Table 2 (mean and SD over folds) and the paired
 * DeLong test enhanced vs original per arch and fold.
 *
 * Every step is a unit whose outputs are written atomically; a unit whose final output exists is skipped, so an
 * interrupted experiment continues where it stopped:
 *   split      DIR/split.csv
 *   fold unit  DIR/runs/<arch>-<input>-f<k>/{log.csv,best.safetensors,last.safetensors,validation.csv,test.csv,
 *              metrics.json}; done when metrics.json exists (a finished training is not repeated, an unfinished
 *              one is resumed bit-identically)
 *   table2     DIR/table2.csv  (recomputed when it is missing or a fold unit ran in this invocation)
 *   delong     DIR/delong.csv  (same rule; only when both inputs are configured)
 *   table1     DIR/table1.csv  (skipped when it exists; experiment_analysis.c)
 *   calibration DIR/calibration.json (rule of table2; experiment_analysis.c)
 *   gradcam    DIR/gradcam/<unit>/focus.csv for the best original and the best enhanced unit, then DIR/table3.csv
 *              (rule of table2, and recomputed when one of those files is missing; only with both inputs;
 *              experiment_gradcam.c)
 * With "annotations": "predicted" and the enhanced input, before the fold units (experiment_segment.c):
 *   segment    DIR/segment/f<k>/{log.csv,best.safetensors,last.safetensors,pred/,metrics.json}: the U-Net trained on
 *              fold k's training rows (validated on fold k), its predictions for fold k's validation and test rows
 *              (pred/cohort.csv lists every row, those pointing at the predicted masks: the enhanced fold unit k
 *              reads it), and the test rows' Dice/Jaccard against their manual annotations; done when
 *              metrics.json exists
 *   segmentation  DIR/segmentation.csv (rule of table2 over the segment units)
 * With "annotations": "both" the enhanced input runs as two arms (fold units <arch>-enhanced-f<k> on manual and
 * <arch>-enhanced-predicted-f<k> on predicted masks), and
 *   delong_masks  DIR/delong_masks.csv: the paired DeLong test of the two enhanced arms (rule of table2) */
#ifndef BLASTO_EXPERIMENT_H
#define BLASTO_EXPERIMENT_H

#include <stdint.h>
#include <time.h>

#include "core/collective.h"
#include "core/optim.h"
#include "study/loader.h"
#include "models/models.h"
#include "study/segment_train.h"
#include "study/split.h"
#include "study/train.h"

#define BL_EXPERIMENT_MAX_ARCHS 8

typedef enum bl_annotations { BL_ANNOTATIONS_MANUAL, BL_ANNOTATIONS_PREDICTED, BL_ANNOTATIONS_BOTH } bl_annotations;
/* Grad-CAM overlay PNGs the experiment writes per chosen unit (the first test rows; for the report's gallery) */
#define BL_EXPERIMENT_OVERLAYS 6

typedef struct bl_experiment_config {
    char cohort[1024];       /* resolved: relative paths in the file are relative to the config file's folder */
    char weights_dir[1024];  /* "" = random init; else DIR/<arch>.safetensors for every arch */
    int test_count, folds;   /* test_count ≥ 1 (required), folds ≥ 2 (default 3) */
    uint64_t seed;           /* default 1 */
    int n_archs;
    bl_arch archs[BL_EXPERIMENT_MAX_ARCHS];        /* default {resnet50} */
    int n_inputs;
    bl_input_kind inputs[2];                       /* default {original, enhanced} */
    int epochs, batch, size, freeze_backbone_epochs;  /* defaults: bl_train_options_default */
    double lr;
    bl_optim_kind optimizer;
    int demo;                /* "demo": true — a reduced configuration (`blasto demo`); the report says so */
    char config_path[1024];  /* the file it was read from (for run.json) */
    bl_device_options device;                      /* "device" (cpu | cuda), "deterministic", "tf32": default cpu */
    int rerun_changed;       /* not from the file: --rerun-changed (results of a different run are replaced) */
    const bl_world *world;   /* not from the file: the ranks that share the run (NULL: one process; below) */
    /* "annotations": "manual" (default) | "predicted": the enhanced input's validation and test rows enhanced from
     * masks a per-fold segmenter predicts | "both": the enhanced input run on each (two arms); "segment_epochs",
     * "segment_size", "segment_width", "segment_batch" set the segmenter's training (bl_segment_options_default) */
    bl_annotations annotations;
    bl_segment_options segment;
} bl_experiment_config;

/* One arm of the study: an input, and for the enhanced input whether its validation and test rows are enhanced from
 * predicted masks. Its fold units are runs/<arch>-<name>-f<k>. */
typedef struct bl_experiment_arm {
    bl_input_kind input;
    int predicted;
    const char *name; /* "original", "enhanced", or with "both" "enhanced-predicted" for the second enhanced arm */
} bl_experiment_arm;

#define BL_EXPERIMENT_MAX_ARMS 3
/* The arms of c in run order (its inputs; with "both" the enhanced input twice, manual then predicted) → count. */
int bl_experiment_arms(const bl_experiment_config *c, bl_experiment_arm arms[BL_EXPERIMENT_MAX_ARMS]);
/* "<arch>-<arm>-f<k>" */
void bl_experiment_unit_name(const bl_experiment_config *c, int arch, const bl_experiment_arm *arm, int k, char *dst,
                             size_t size);

/* Reads and validates the config JSON at `path` (unknown keys, missing cohort, unknown arch/input, folds < 2, a
 * missing cohort or weights file are errors "<path>: <key>: <problem> (expected …, got …)"). Writes nothing. */
bl_status bl_experiment_config_read(const char *path, bl_experiment_config *c);

/* Where the whole run stands, after every training batch (for one progress display with ETA). */
typedef struct bl_experiment_progress {
    int unit, units;         /* the current unit (1-based) and the total */
    const char *name;        /* "runs/resnet50-original-f0" */
    int epoch, epochs;       /* epoch 0-based */
    int batch, batches, validating;
    double loss;             /* running mean training loss of this epoch */
    double fraction;         /* done share of this invocation's training work, [0, 1] */
    double elapsed_s;        /* since bl_experiment_run started */
    double eta_s;            /* seconds left for the remaining training (< 0: not known yet) */
} bl_experiment_progress;

typedef struct bl_experiment_callbacks {
    void *user;
    /* one line per unit: "[3/9] runs/resnet50-original-f1: trained … | skipped (… exists)  ETA mm:ss" */
    void (*unit)(void *user, const char *line);
    /* after every training batch of every fold unit; may be NULL */
    void (*progress)(void *user, const bl_experiment_progress *p);
    const bl_train_callbacks *train;  /* epoch_done and note are passed through; may be NULL */
} bl_experiment_callbacks;

/* Runs (or resumes) the experiment into out_dir (created, one level). cb may be NULL. */
bl_status bl_experiment_run(const bl_experiment_config *c, const char *out_dir, const bl_experiment_callbacks *cb);

/* What produced an experiment's results (tools/study/experiment_fingerprint.c has the exact definition of each
 * part): 16-hex-digit hashes of the settings that change the numbers, the cohort CSV, every row's image and
 * annotation bytes, the ImageNet weights files; the blasto version and backend as text; `whole` over all of them. */
typedef struct bl_experiment_fingerprint {
    char config[17], cohort[17], images[17], weights[17];
    char blasto[64], backend[96];
    char whole[17];
} bl_experiment_fingerprint;

struct bl_cohort;
bl_status bl_experiment_fingerprint_compute(const bl_experiment_config *c, const struct bl_cohort *cohort,
                                            bl_experiment_fingerprint *f);
/* Compares f with DIR/fingerprint.json. Same: BL_OK. A different one, or results with no fingerprint.json (an older
 * blasto): BL_ERR_INVALID "DIR: holds the results of a different run (changed: config, images); --rerun-changed
 * replaces them, or choose another --out" — unless c->rerun_changed, which removes the stale results. Then writes
 * fingerprint.json. `changed` gets the list of changed parts ("" when none). */
bl_status bl_experiment_fingerprint_check(const bl_experiment_config *c, const char *out_dir,
                                          const bl_experiment_fingerprint *f, char *changed, size_t changed_size);

/* One unit's timing for run.json. */
typedef struct bl_experiment_timing {
    char unit[160];
    char status[16];         /* "ran" | "skipped" */
    double seconds;
} bl_experiment_timing;

/* DIR/run.json (atomically): blasto version, build, backend, device, threads, seed, demo flag, start/finish time
 * (ISO 8601 UTC), the config, the weights per arch and every unit's timing (docs/experiment.md, "run.json").
 * experiment_meta.c */
bl_status bl_experiment_write_run_json(const bl_experiment_config *c, const char *out_dir, const char *backend,
                                       const char *device, time_t started, time_t finished, int n_timings,
                                       const bl_experiment_timing *timings, const bl_experiment_fingerprint *fp);

/* Mean and sample SD (ddof = 1) of x [n], n ≥ 2. */
void bl_experiment_mean_sd(int n, const double *x, double *mean, double *sd);

/* ---- analysis units (experiment_analysis.c) ---- */
/* Table 1 → path (atomic): a row "all" over the cohort, then one "clinic" row per clinic (sorted by name), each with
 * the positives' and negatives' age count, mean, SD (ddof 1) and the Student and Welch t-tests positives vs
 * negatives (scipy ttest_ind). Missing ages are left out; a test that is undefined (fewer than 2 ages in a class,
 * or both variances 0 with equal means) leaves its cells empty, as does an undefined mean or SD. */
bl_status bl_experiment_table1(const struct bl_cohort *cohort, const char *path);
/* Picks the fold unit with the highest AUROC of its validation.csv (ties: the first in config order), fits isotonic
 * calibration on its validation.csv and applies it to its test.csv → out_dir/calibration.json (unit, thresholds,
 * Brier, Hosmer–Lemeshow quantile and equal-size with g = 10, calibration curve with 10 uniform bins, before and
 * after). The chosen unit's name → unit[size]. */
bl_status bl_experiment_calibration(const bl_experiment_config *c, const char *out_dir, char *unit, size_t size);
/* The best fold unit: the highest AUROC of its runs/<unit>/validation.csv (the validation predictions of
 * best.safetensors, so the best validation AUROC of its training); units whose validation set has one class are no
 * candidates; ties → the first in config order (arch, input, fold). input_filter: a bl_input_kind to consider only
 * that input, −1 for all. → name[size], its AUROC → *best_auc. */
bl_status bl_experiment_best_unit(const bl_experiment_config *c, const char *out_dir, int input_filter, char *name,
                                  size_t size, double *best_auc);

/* ---- segmentation units (experiment_segment.c) ---- */
/* DIR/segment/f<k>/<name> (name "" → the folder) */
void bl_experiment_segment_dir(const char *out_dir, int k, const char *name, char *path, size_t size);
/* The cohort fold unit k of `arm` reads: DIR/segment/f<k>/pred/cohort.csv for an arm on predicted masks, else the
 * config's cohort. */
void bl_experiment_fold_cohort(const bl_experiment_config *c, const char *out_dir, int k, const bl_experiment_arm *arm,
                               char *path, size_t size);
/* The same for a fold unit given by name ("<arch>-<arm>-f<k>"); an unknown name gets the config's cohort. */
void bl_experiment_unit_cohort(const bl_experiment_config *c, const char *out_dir, const char *unit, char *path,
                               size_t size);
/* DIR/delong_masks.csv (with "both"): the paired DeLong test per arch and fold of the enhanced input on manual
 * against predicted masks (columns arch, fold, n, auroc_manual, auroc_predicted, predicted_minus_manual, z, p, cov):
 * bl_experiment_delong with the two enhanced arms, labels "manual" and "predicted". */

/* ---- tables (experiment_tables.c) ---- */
/* DIR/table2.csv: per arch × arm the mean and SD (ddof 1) over the folds' metrics.json (input column = arm name). */
bl_status bl_experiment_table2(const bl_experiment_config *c, const char *out_dir);
/* DIR/<file>: per arch and fold the paired DeLong test of arm_a against arm_b on their test.csv (the same rows);
 * columns arch, fold, n, auroc_<label_a>, auroc_<label_b>, <label_b>_minus_<label_a>, z, p, cov. */
bl_status bl_experiment_delong(const bl_experiment_config *c, const char *out_dir, const bl_experiment_arm *arm_a,
                               const bl_experiment_arm *arm_b, const char *label_a, const char *label_b,
                               const char *file);
/* The segment unit of fold k (above); the cohort's rows are modified (pointed at the predictions). cb may be NULL. */
bl_status bl_experiment_segment_fold(const bl_experiment_config *c, struct bl_cohort *cohort, const bl_split *split,
                                     const char *split_path, const char *out_dir, int k,
                                     const bl_segment_callbacks *cb);
/* DIR/segmentation.csv: per fold the test images' mean and SD of Jaccard and Dice per class, then the mean (SD)
 * over folds of the fold means (columns scope, n, <measure>_mean, <measure>_sd). */
bl_status bl_experiment_segmentation_table(const bl_experiment_config *c, const char *out_dir, const char *path);

/* ---- Grad-CAM unit (experiment_gradcam.c) ---- */
/* The best original-input and the best enhanced-input unit (bl_experiment_best_unit) → units[0], units[1]. */
bl_status bl_experiment_gradcam_units(const bl_experiment_config *c, const char *out_dir, char units[2][128]);
/* For both units: Grad-CAM (default target layer, BN eval) of runs/<unit>/best.safetensors on the rows of
 * runs/<unit>/test.csv → out_dir/gradcam/<unit>/focus.csv (the columns and numbers of `blasto gradcam`, no overlay
 * PNGs); then Table 3 (tools/study/agreement.h, threshold 0.5, A = original unit, B = enhanced unit) from the two
 * test.csv and focus.csv → out_dir/table3.csv (the columns of `blasto focus-compare --out`; model_a / model_b =
 * the unit names). Everything is computed before the first file is written; table3.csv is written last. Requires
 * both inputs in the config. The chosen units → units. With c->world of K > 1 ranks every rank calls it: unit u
 * runs on rank u mod K, rank 0 writes Table 3 after every rank's focus file exists. */
bl_status bl_experiment_gradcam(const bl_experiment_config *c, const struct bl_cohort *cohort, const char *out_dir,
                                char units[2][128]);

#endif
