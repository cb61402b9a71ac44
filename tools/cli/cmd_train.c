/* cmd_train.c — `blasto train`: one cross-validation fold of the pregnancy model (tools/study/train.h), with a
 * progress bar on stderr (a self-overwriting line on a terminal, plain lines every few seconds otherwise). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "core/collective.h"
#include "core/status.h"
#include "study/files.h"
#include "study/train.h"

static int train_help(void) {
    printf("usage: blasto train --cohort C.csv --split split.csv --fold K --out RUN/ [options]\n"
           "       blasto train --resume --out RUN/ [--threads N] [--stop-after E] [--device cpu|cuda]\n\n"
           "Trains the pregnancy model (backbone → global average pool → [features, z-scored age] → linear → logit)\n"
           "on the split's train rows outside fold K and validates on fold K after every epoch.\n\n"
           "  --arch A                 vgg16 | resnet50 | resnet50-keras | densenet121 (default resnet50)\n"
           "  --input original|enhanced  image input (default original)\n"
           "  --weights W|none         converted ImageNet weights for the backbone, or random init (default none)\n"
           "  --preset P               caffe | torch | unit | none (default: what the weights expect — Keras weights\n"
           "                           caffe, torchvision/timm torch; without weights caffe for vgg16/resnet50-keras)\n"
           "  --epochs N (30)  --batch B (16)  --size S (224)  --lr X (1e-4)  --weight-decay X (0)\n"
           "  --optimizer adam|adamw|sgd (adam; sgd uses momentum 0.9)\n"
           "  --schedule cosine|step|none (cosine, per step; step = ×0.1 every ⌈epochs/3⌉ epochs)\n"
           "  --warmup N               epochs of linear warm-up (0)\n"
           "  --class-weight balanced|none   per-sample loss weights n/(2·n_c) (balanced)\n"
           "  --freeze-backbone-epochs N      the first N epochs train only the head (0)\n"
           "  --augment on|off         the paper's augmentation on the training part (on)\n"
           "  --patience N             early stopping on validation AUROC (0 = off)\n"
           "  --seed S (1)  --threads N (compute threads)  --loader-threads N (1)\n"
           "  --shards K               split every batch into K data-parallel shards, each with its own batchnorm\n"
           "                           statistics, their gradients summed in shard order (1). Under an MPI launcher\n"
           "                           (mpirun -np K blasto train …) each rank computes one shard and rank 0 writes;\n"
           "                           in one process the K shards run one after another, to the same numbers\n"
           "                           (docs/distributed.md)\n"
           "  --sync-bn                with ranks: batchnorm statistics over the whole batch (every rank's shard),\n"
           "                           as one process computes them (default: each shard its own)\n"
           "  " CLI_DEVICE_HELP "   where to compute; cuda: one GPU (a CUDA build),\n"
           "                           --deterministic: deterministic GPU algorithms only, --tf32: allow TF32 math\n"
           "  --resume                 continue RUN/last.safetensors with its stored options (the device flags may\n"
           "                           differ: they are not stored)\n"
           "  --stop-after E           stop after E epochs of this invocation (resume later)\n\n"
           "Writes RUN/log.csv (epoch,train_loss,val_loss,val_auroc,lr,images_per_s,seconds,best), RUN/best.safetensors,\n"
           "RUN/last.safetensors (weights, BN statistics, optimizer state, run metadata), RUN/validation.csv (the\n"
           "best epoch's validation predictions) and RUN/memory.json. docs/training.md explains every number.\n");
    return 0;
}

static void on_progress(void *user, const bl_train_progress *p) {
    cli_progress *bar = user;
    int last = p->batch == p->batches;
    if (p->validating) {
        cli_progress_show(bar, last, "epoch %d/%d  validating %d/%d  %.1f img/s", p->epoch + 1, p->epochs, p->batch,
                          p->batches, p->images_per_s);
        return;
    }
    char eta[32], bars[21];
    cli_eta_text(p->eta_s, eta, sizeof eta);
    int filled = p->batches ? 20 * p->batch / p->batches : 0;
    for (int i = 0; i < 20; i++) bars[i] = i < filled ? '#' : '.';
    bars[20] = 0;
    cli_progress_show(bar, last, "epoch %d/%d [%s] batch %d/%d  loss %.4f  %.1f img/s  ETA %s", p->epoch + 1,
                      p->epochs, bars, p->batch, p->batches, p->loss, p->images_per_s, eta);
}

static void on_epoch(void *user, const bl_train_epoch *e) {
    cli_progress_note(user, "epoch %d: train loss %.4f  val loss %.4f  val AUROC %.4f%s  lr %.3g  %.1f img/s  %.1f s",
                      e->epoch + 1, e->train_loss, e->val_loss, e->val_auroc, e->best ? " (best)" : "", e->lr,
                      e->images_per_s, e->seconds);
}

static void on_note(void *user, const char *line) { cli_progress_note(user, "%s", line); }

static int parse_double(const char *opt, const char *val, double lo, double hi, double *out) {
    char *end = NULL;
    double v = val ? strtod(val, &end) : NAN;
    if (!val || end == val || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "blasto train: %s: expected a number in [%g, %g], got '%s'\n", opt, lo, hi, val ? val : "");
        return 2;
    }
    *out = v;
    return 0;
}

static int set_path(const char *opt, const char *val, char *dst, size_t size) {
    if (!val || !*val || strlen(val) >= size) {
        fprintf(stderr, "blasto train: %s: expected a path (got '%s')\n", opt, val ? val : "");
        return 2;
    }
    strcpy(dst, val);
    return 0;
}

int cmd_train(int argc, char **argv) {
    bl_train_options o;
    bl_train_options_default(&o);
    long threads = 0, v = 0;
    int have_preset = 0, have[4] = {0, 0, 0, 0}, other_given = 0;
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (!strcmp(opt, "--help")) return train_help();
        if (!strcmp(opt, "--resume")) {
            o.resume = 1;
            continue;
        }
        if (!strcmp(opt, "--sync-bn")) {
            o.sync_bn = 1;
            other_given = 1;
            continue;
        }
        int device_rc = cli_device_option("train", argc, argv, &i, &o.device);
        if (device_rc == 2) return 2;
        if (device_rc == 1) continue; /* allowed with --resume: the device is not a stored option */
        const char *val = i + 1 < argc ? argv[++i] : NULL;
        int rc = 0;
        bl_status st = BL_OK;
        int counts = 1;
        if (!strcmp(opt, "--out")) rc = set_path(opt, val, o.out, sizeof o.out), have[3] = 1, counts = 0;
        else if (!strcmp(opt, "--threads")) rc = cli_parse_int("train", opt, val, 1, 1024, &threads), counts = 0;
        else if (!strcmp(opt, "--loader-threads")) rc = cli_parse_int("train", opt, val, 0, 64, &v), o.loader_threads = (int)v, counts = 0;
        else if (!strcmp(opt, "--stop-after")) rc = cli_parse_int("train", opt, val, 1, 100000, &v), o.stop_after = (int)v, counts = 0;
        else if (!strcmp(opt, "--cohort")) rc = set_path(opt, val, o.cohort, sizeof o.cohort), have[0] = 1;
        else if (!strcmp(opt, "--split")) rc = set_path(opt, val, o.split, sizeof o.split), have[1] = 1;
        else if (!strcmp(opt, "--weights")) rc = set_path(opt, val, o.weights, sizeof o.weights);
        else if (!strcmp(opt, "--fold")) rc = cli_parse_int("train", opt, val, 0, 1000, &v), o.fold = (int)v, have[2] = 1;
        else if (!strcmp(opt, "--arch")) st = val ? bl_arch_from_name(val, &o.arch) : bl_fail(BL_ERR_INVALID, "--arch: missing value");
        else if (!strcmp(opt, "--input")) st = val ? bl_input_kind_parse(val, &o.input) : bl_fail(BL_ERR_INVALID, "--input: missing value");
        else if (!strcmp(opt, "--preset")) st = val ? bl_normalize_parse(val, &o.preset) : bl_fail(BL_ERR_INVALID, "--preset: missing value"), have_preset = 1;
        else if (!strcmp(opt, "--schedule")) st = val ? bl_schedule_parse(val, &o.schedule) : bl_fail(BL_ERR_INVALID, "--schedule: missing value");
        else if (!strcmp(opt, "--epochs")) rc = cli_parse_int("train", opt, val, 1, 100000, &v), o.epochs = (int)v;
        else if (!strcmp(opt, "--batch")) rc = cli_parse_int("train", opt, val, 2, 4096, &v), o.batch = (int)v;
        else if (!strcmp(opt, "--size")) rc = cli_parse_int("train", opt, val, 32, 1024, &v), o.size = (int)v;
        else if (!strcmp(opt, "--warmup")) rc = cli_parse_int("train", opt, val, 0, 100000, &v), o.warmup = (int)v;
        else if (!strcmp(opt, "--patience")) rc = cli_parse_int("train", opt, val, 0, 100000, &v), o.patience = (int)v;
        else if (!strcmp(opt, "--freeze-backbone-epochs")) rc = cli_parse_int("train", opt, val, 0, 100000, &v), o.freeze_backbone_epochs = (int)v;
        else if (!strcmp(opt, "--shards")) rc = cli_parse_int("train", opt, val, 1, 4096, &v), o.shards = (int)v;
        else if (!strcmp(opt, "--seed")) rc = cli_parse_int("train", opt, val, 0, 0x7fffffffL, &v), o.seed = (uint64_t)v;
        else if (!strcmp(opt, "--lr")) rc = parse_double(opt, val, 1e-12, 10, &o.lr);
        else if (!strcmp(opt, "--weight-decay")) rc = parse_double(opt, val, 0, 0.999, &o.weight_decay);
        else if (!strcmp(opt, "--optimizer") && val && (!strcmp(val, "adam") || !strcmp(val, "adamw") || !strcmp(val, "sgd")))
            o.optimizer = !strcmp(val, "sgd") ? BL_OPTIM_SGD : !strcmp(val, "adam") ? BL_OPTIM_ADAM : BL_OPTIM_ADAMW;
        else if (!strcmp(opt, "--class-weight") && val && (!strcmp(val, "balanced") || !strcmp(val, "none")))
            o.class_weight_balanced = !strcmp(val, "balanced");
        else if (!strcmp(opt, "--augment") && val && (!strcmp(val, "on") || !strcmp(val, "off")))
            o.augment = !strcmp(val, "on");
        else {
            fprintf(stderr, "blasto train: bad option '%s'%s%s (blasto train --help)\n", opt, val ? " " : "", val ? val : "");
            return 2;
        }
        if (st) {
            fprintf(stderr, "blasto train: %s\n", bl_last_error());
            return 2;
        }
        if (rc) return rc;
        other_given |= counts;
    }
    if (!have[3]) {
        fprintf(stderr, "blasto train: --out RUN/ is required (blasto train --help)\n");
        return 2;
    }
    if (o.resume && other_given) {
        fprintf(stderr, "blasto train: --resume takes every option from RUN/last.safetensors (only --out, --threads, "
                        "--loader-threads, --stop-after and the device flags may be given)\n");
        return 2;
    }
    if (!o.resume && (!have[0] || !have[1] || !have[2])) {
        fprintf(stderr, "blasto train: --cohort, --split and --fold are required (blasto train --help)\n");
        return 2;
    }
    if (!have_preset) o.preset = bl_train_preset_for_weights(o.arch, o.weights);
    if (!o.resume && bl_train_check_options(&o) != BL_OK) { /* a bad option is a usage error, found before any work */
        fprintf(stderr, "blasto train: %s\n", bl_last_error());
        return 2;
    }
    bl_world world;
    if (cli_world_open("train", &world, threads)) return 1;
    if (cli_open_device("train", &o.device)) {
        bl_world_close(&world);
        return 1;
    }
    o.world = &world;
    cli_progress bar;
    cli_progress_init(&bar);
    /* with ranks, rank 0 reports the run (every rank computes the same numbers) */
    bl_train_callbacks cb = {.user = &bar, .progress = on_progress, .epoch_done = on_epoch, .note = on_note};
    bl_status st = bl_train_run(&o, world.rank == 0 ? &cb : NULL);
    if (st) {
        if (bar.tty) fputs("\r\033[K", stderr); /* the progress line goes */
        cli_world_error("train", &world);
    }
    bl_world_close(&world);
    return st ? 1 : 0;
}
