/* train.c — the training loop of one fold: data, schedule, epochs, validation, early stopping, checkpoints and
 * resume (train.h, docs/training.md). */
#include "study/train.h"

#include "core/safetensors.h"

#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/autograd.h"
#include "study/csv.h"
#include "study/files.h"
#include "study/metrics.h"
#include "study/predictions.h"
#include "study/split.h"
#include "study/train_shards.h"

void bl_train_options_default(bl_train_options *o) {
    memset(o, 0, sizeof *o);
    strcpy(o->weights, "none");
    o->arch = BL_ARCH_RESNET50;
    o->input = BL_INPUT_ORIGINAL;
    o->preset = bl_train_default_preset(o->arch);
    o->epochs = 30;
    o->batch = 16;
    o->size = 224;
    o->lr = 1e-4;
    o->optimizer = BL_OPTIM_ADAM;
    o->schedule = BL_SCHEDULE_COSINE;
    o->class_weight_balanced = 1;
    o->seed = 1;
    o->augment = 1;
    o->loader_threads = 1;
    o->shards = 1;
}

bl_normalize bl_train_default_preset(bl_arch arch) {
    return arch == BL_ARCH_VGG16 || arch == BL_ARCH_RESNET50_KERAS ? BL_NORMALIZE_CAFFE : BL_NORMALIZE_TORCH;
}

/* The preset the backbone's ImageNet weights were trained with: Keras weights (converter metadata source "keras",
 * and every resnet50-keras file) expect caffe mode, torchvision/timm weights expect torch mode
 * (docs/weights.md). Without weights, or when the file says nothing, the arch default above. */
bl_normalize bl_train_preset_for_weights(bl_arch arch, const char *weights_path) {
    if (arch == BL_ARCH_RESNET50_KERAS || !weights_path || !*weights_path || strcmp(weights_path, "none") == 0)
        return bl_train_default_preset(arch);
    bl_safetensors *st = NULL;
    if (bl_safetensors_open(weights_path, &st) != BL_OK) return bl_train_default_preset(arch); /* load reports it */
    const char *source = bl_safetensors_metadata(st, "source");
    bl_normalize preset = !source ? bl_train_default_preset(arch)
                          : strcmp(source, "keras") == 0 ? BL_NORMALIZE_CAFFE
                                                         : BL_NORMALIZE_TORCH;
    bl_safetensors_close(st);
    return preset;
}

const char *bl_schedule_name(bl_schedule s) {
    return s == BL_SCHEDULE_COSINE ? "cosine" : s == BL_SCHEDULE_STEP ? "step" : "none";
}

bl_status bl_schedule_parse(const char *name, bl_schedule *out) {
    if (!strcmp(name, "cosine")) *out = BL_SCHEDULE_COSINE;
    else if (!strcmp(name, "step")) *out = BL_SCHEDULE_STEP;
    else if (!strcmp(name, "none")) *out = BL_SCHEDULE_NONE;
    else return bl_fail(BL_ERR_INVALID, "schedule: unknown '%s' (expected cosine, step or none)", name);
    return BL_OK;
}

double bl_train_lr(const bl_train_options *o, int64_t step, int steps_per_epoch) {
    int64_t warm = (int64_t)o->warmup * steps_per_epoch, total = (int64_t)o->epochs * steps_per_epoch;
    if (step < warm) return o->lr * (double)(step + 1) / (double)warm;
    if (o->schedule == BL_SCHEDULE_COSINE) {
        double t = total > warm ? (double)(step - warm) / (double)(total - warm) : 0.0;
        return o->lr * 0.5 * (1.0 + cos(3.14159265358979323846 * t));
    }
    if (o->schedule == BL_SCHEDULE_STEP) { /* ×0.1 every ⌈epochs/3⌉ epochs */
        int every = (o->epochs + 2) / 3, epoch = (int)(step / steps_per_epoch);
        return o->lr * pow(0.1, (double)(epoch / (every > 0 ? every : 1)));
    }
    return o->lr;
}

/* ---- the run ---- */

typedef struct run {
    const bl_train_options *o;
    const bl_train_callbacks *cb;
    bl_cohort *cohort;
    bl_split *split;
    bl_cohort_row *train_rows, *val_rows; /* shallow copies of cohort rows */
    int n_train, n_val;
    const bl_kernels *kernels;            /* the device's op table (bl_device_open) */
    bl_ctx *ctx;
    bl_pregnancy_model *model;
    bl_optimizer *opt;
    bl_loader *train_loader, *val_loader;
    bl_train_state state;
    double class_weight[2];
    double *val_scores, *val_losses;  /* per validation row */
    int *val_labels;
    /* data-parallel shards (o->shards > 1): this process computes shards [s_lo, s_hi) — its rank's one under an MPI
     * launcher, all K in one process; grads [n + 2]: the summed gradients, then the loss and a failure flag */
    const bl_world *w;
    int lead;                             /* rank 0 (or the only process): writes the run's files */
    int s_lo, s_hi;
    float *grads;
    char path[1200];
    bl_run_dir dir;     /* RUN/: made, locked, kept once it holds a checkpoint */
} run;

static const bl_world one_process = {.rank = 0, .size = 1, .local_size = 1};

static void note(const run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const run *r, const char *fmt, ...) {
    if (!r->cb || !r->cb->note) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    r->cb->note(r->cb->user, line);
}

static const char *run_file(run *r, const char *name) {
    snprintf(r->path, sizeof r->path, "%s/%s", r->o->out, name);
    return r->path;
}

bl_status bl_train_check_options(const bl_train_options *o) {
    if (o->epochs < 1 || o->epochs > 100000) return bl_fail(BL_ERR_INVALID, "--epochs: expected 1 … 100000 (got %d)", o->epochs);
    if (o->batch < 2 || o->batch > 4096) return bl_fail(BL_ERR_INVALID, "--batch: expected 2 … 4096 (got %d)", o->batch);
    if (o->size < 32 || o->size > 1024) return bl_fail(BL_ERR_INVALID, "--size: expected 32 … 1024 (got %d)", o->size);
    if (!(o->lr > 0.0 && o->lr < 10.0)) return bl_fail(BL_ERR_INVALID, "--lr: expected (0, 10) (got %g)", o->lr);
    if (!(o->weight_decay >= 0.0 && o->weight_decay < 1.0))
        return bl_fail(BL_ERR_INVALID, "--weight-decay: expected [0, 1) (got %g)", o->weight_decay);
    if (o->warmup < 0 || o->warmup >= o->epochs)
        return bl_fail(BL_ERR_INVALID, "--warmup: expected 0 … epochs−1 = %d (got %d)", o->epochs - 1, o->warmup);
    if (o->shards < 1 || o->shards > 4096) return bl_fail(BL_ERR_INVALID, "--shards: expected 1 … 4096 (got %d)", o->shards);
    if (o->batch < 2 * o->shards)
        return bl_fail(BL_ERR_INVALID, "--batch: %d is too small for %d shards (each shard needs 2 samples for its batch "
                       "statistics: --batch ≥ %d)", o->batch, o->shards, 2 * o->shards);
    if (o->freeze_backbone_epochs < 0 || o->patience < 0)
        return bl_fail(BL_ERR_INVALID, "--freeze-backbone-epochs and --patience: expected ≥ 0");
    bl_status st = bl_check_recorded_path("--cohort", o->cohort);
    if (!st) st = bl_check_recorded_path("--split", o->split);
    if (!st) st = bl_check_recorded_path("--out", o->out);
    if (!st) st = bl_check_recorded_path("--weights", o->weights);
    return st;
}

/* Cohort + split → training and validation row lists; checks every split id against the cohort. */
static bl_status load_data(run *r) {
    const bl_train_options *o = r->o;
    bl_status st = bl_cohort_read(o->cohort, 1, &r->cohort);
    if (!st) st = bl_split_read(o->split, 0, &r->split);
    if (st) return st;
    if (o->fold < 0 || o->fold >= r->split->folds)
        return bl_fail(BL_ERR_INVALID, "%s: --fold %d out of range (the split has %d folds: 0 … %d)", o->split, o->fold,
                       r->split->folds, r->split->folds - 1);
    for (int i = 0; i < r->split->n; i++)
        if (bl_cohort_find(r->cohort, r->split->rows[i].id) < 0)
            return bl_fail(BL_ERR_FORMAT, "%s: line %d: column 'id': '%s' is not in the cohort %s", o->split, i + 2,
                           r->split->rows[i].id, o->cohort);
    r->train_rows = calloc((size_t)r->cohort->n, sizeof *r->train_rows);
    r->val_rows = calloc((size_t)r->cohort->n, sizeof *r->val_rows);
    if (!r->train_rows || !r->val_rows) return bl_fail(BL_ERR_NOMEM, "train: out of memory");
    int counts[2] = {0, 0};
    for (int i = 0; i < r->cohort->n; i++) {
        int s = bl_split_find(r->split, r->cohort->rows[i].id);
        if (s < 0) continue;
        bl_split_role role = bl_split_role_of(r->split, s, o->fold);
        if (role == BL_ROLE_TRAIN) {
            r->train_rows[r->n_train++] = r->cohort->rows[i];
            counts[r->cohort->rows[i].label]++;
        } else if (role == BL_ROLE_VALIDATION) {
            r->val_rows[r->n_val++] = r->cohort->rows[i];
        }
    }
    if (counts[0] == 0 || counts[1] == 0 || r->n_val < 2)
        return bl_fail(BL_ERR_INVALID, "%s: fold %d: training part has %d negatives and %d positives, validation %d rows "
                       "(expected both classes and ≥ 2 validation rows)", o->split, o->fold, counts[0], counts[1], r->n_val);
    for (int c = 0; c < 2; c++)
        r->class_weight[c] = o->class_weight_balanced ? (double)r->n_train / (2.0 * counts[c]) : 1.0;
    /* age statistics of the training part (sample SD; SD 1 when undefined or 0) */
    double sum = 0, sq = 0;
    int n = 0;
    for (int i = 0; i < r->n_train; i++)
        if (isfinite(r->train_rows[i].age)) sum += r->train_rows[i].age, n++;
    double mean = n ? sum / n : 0.0;
    for (int i = 0; i < r->n_train; i++)
        if (isfinite(r->train_rows[i].age)) sq += (r->train_rows[i].age - mean) * (r->train_rows[i].age - mean);
    double sd = n > 1 ? sqrt(sq / (n - 1)) : 1.0;
    r->state.age_mean = mean;
    r->state.age_sd = sd > 0.0 ? sd : 1.0;
    if (r->n_train < 2 * o->shards)
        return bl_fail(BL_ERR_INVALID, "%s: fold %d: %d training rows are too few for %d shards (each needs 2)",
                       o->split, o->fold, r->n_train, o->shards);
    r->val_scores = calloc((size_t)r->n_val, sizeof *r->val_scores);
    r->val_losses = calloc((size_t)r->n_val, sizeof *r->val_losses);
    r->val_labels = calloc((size_t)r->n_val, sizeof *r->val_labels);
    if (!r->val_scores || !r->val_losses || !r->val_labels) return bl_fail(BL_ERR_NOMEM, "train: out of memory");
    for (int i = 0; i < r->n_val; i++) r->val_labels[i] = r->val_rows[i].label;
    return BL_OK;
}

static bl_status make_loaders(run *r) {
    const bl_train_options *o = r->o;
    bl_loader_options lo;
    bl_loader_options_default(&lo);
    lo.input = o->input;
    lo.size = o->size;
    lo.normalize = o->preset;
    lo.batch_size = o->batch;
    lo.seed = o->seed;
    lo.threads = o->loader_threads;
    lo.augment = o->augment;
    lo.shuffle = 1;
    lo.drop_last = r->n_train > o->batch; /* a 1-sample batch would break batch statistics */
    if (r->w->size > 1) lo.shards = r->w->size, lo.shard = r->w->rank; /* this rank prepares its shard only */
    bl_status st = bl_loader_create(r->train_rows, r->n_train, &lo, &r->train_loader);
    bl_train_eval_loader_options(o, &lo);
    lo.threads = o->loader_threads;
    if (r->w->size > 1) lo.shards = r->w->size, lo.shard = r->w->rank;
    if (!st) st = bl_loader_create(r->val_rows, r->n_val, &lo, &r->val_loader);
    return st;
}

/* ages [n] (years, NaN = missing) → z [n] with the run's mean/SD; missing → 0 */
static void age_z(const run *r, int n, const float *ages, float *z) {
    for (int i = 0; i < n; i++)
        z[i] = isfinite(ages[i]) ? (float)(((double)ages[i] - r->state.age_mean) / r->state.age_sd) : 0.0f;
}

static double sigmoid(double z) { return z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z)); }

/* Validation pass: scores [n_val] into r->val_scores, mean unweighted BCE into *loss. A sharded run evaluates every
 * batch as its shards (ranks: each its own; one process: one after another), so the numbers do not depend on how
 * the shards are spread; the ranks then sum the per-row results (each row is computed by one rank, the others
 * add 0: exact). */
static bl_status validate(run *r, int epoch, double *loss) {
    bl_ctx *ctx = r->ctx;
    bl_set_training(ctx, 0);
    bl_set_grad_enabled(ctx, 0);
    int ranks = r->w->size > 1, shards = ranks ? 1 : r->o->shards; /* slices of each loader batch done here */
    for (int i = 0; i < r->n_val; i++) r->val_scores[i] = r->val_losses[i] = 0;
    bl_status st = bl_loader_start_epoch(r->val_loader, 0);
    const bl_batch *b = NULL;
    int done = 0;
    double t0 = bl_seconds_now();
    float z[4096], logit[4096]; /* batch ≤ 4096 (bl_train_check_options) */
    while (!st && !(st = bl_loader_next(r->val_loader, &b)) && b) {
        int64_t step = bl_ctx_step(ctx);
        for (int s = 0; !st && s < shards; s++) {
            int lo = 0, hi = b->count;
            bl_shard_range(b->count, shards, s, &lo, &hi);
            if (hi == lo) continue;
            int n = hi - lo, xs[4] = {n, 3, b->size, b->size}, as[4] = {n, 1, 1, 1};
            age_z(r, n, b->ages + lo, z);
            bl_run run_opts = {.ctx = ctx, .bn_mode = BL_BN_FOLLOW_CONTEXT};
            bl_tensor *logits = bl_pregnancy_forward(
                r->model, &run_opts, bl_tensor_from(ctx, 4, xs, b->images + (size_t)lo * 3 * b->size * b->size),
                bl_tensor_from(ctx, 4, as, z));
            if ((st = bl_ctx_status(ctx)) || (st = bl_tensor_download(ctx, logits, logit))) break;
            for (int i = 0; i < n; i++) {
                double l = logit[i], y = b->labels[lo + i];
                r->val_scores[b->rows[lo + i]] = sigmoid(l);
                r->val_losses[b->rows[lo + i]] = fmax(l, 0.0) - l * y + log1p(exp(-fabs(l)));
            }
            done += n;
            bl_step_end(ctx);
            if (s + 1 < shards) bl_ctx_set_step(ctx, step); /* one context step per batch, as without shards */
        }
        if (!st && r->cb && r->cb->progress) {
            double dt = bl_seconds_now() - t0;
            bl_train_progress p = {.epoch = epoch, .epochs = r->o->epochs, .batch = b->index + 1,
                                   .batches = bl_loader_batches_per_epoch(r->val_loader), .validating = 1,
                                   .images_per_s = dt > 0 ? done / dt : 0, .eta_s = -1};
            r->cb->progress(r->cb->user, &p);
        }
    }
    if (st && bl_ctx_status(ctx)) st = bl_fail(st, "%s", bl_ctx_error(ctx));
    if (ranks) { /* every rank makes both sums, even after a failure, then they agree */
        bl_status a = bl_world_allreduce_sum_f64(r->w, r->val_scores, r->n_val);
        bl_status c = bl_world_allreduce_sum_f64(r->w, r->val_losses, r->n_val);
        if (!st) st = a ? a : c;
        st = bl_world_agree(r->w, st);
    }
    bl_set_training(ctx, 1);
    bl_set_grad_enabled(ctx, 1);
    double total = 0;
    for (int i = 0; i < r->n_val; i++) total += r->val_losses[i]; /* row order, as the batches visit them */
    *loss = st ? NAN : total / r->n_val;
    return st;
}

static bl_status write_validation(run *r) {
    bl_predictions *p = bl_predictions_new(r->n_val);
    if (!p) return bl_fail(BL_ERR_NOMEM, "train: out of memory");
    for (int i = 0; i < r->n_val; i++)
        p->rows[i] = (bl_prediction){.id = strdup(r->val_rows[i].id), .label = r->val_rows[i].label,
                                     .score = r->val_scores[i]};
    p->arch = strdup(bl_arch_name(r->o->arch));
    p->input = strdup(bl_input_kind_name(r->o->input));
    p->fold = r->o->fold;
    bl_status st = bl_predictions_write(run_file(r, "validation.csv"), p);
    bl_predictions_free(p);
    return st;
}

static bl_status append_log(run *r, const bl_train_epoch *e) {
    char line[512];
    int n = snprintf(line, sizeof line, "%d,%.9g,%.9g,%.9g,%.9g,%.6g,%.6g,%d\n", e->epoch + 1, e->train_loss,
                     e->val_loss, e->val_auroc, e->lr, e->images_per_s, e->seconds, e->best);
    const char *header = "epoch,train_loss,val_loss,val_auroc,lr,images_per_s,seconds,best\n";
    size_t old = r->state.log ? strlen(r->state.log) : 0;
    char *log = realloc(r->state.log, old + strlen(header) + (size_t)n + 1);
    if (!log) return bl_fail(BL_ERR_NOMEM, "train: out of memory for the log");
    if (!old) strcpy(log, header);
    strcat(log, line);
    r->state.log = log;
    return BL_OK;
}

/* Freeze: the backbone's parameters stop requiring gradients (backward skips them); optimizer_step then updates
 * only the head, whose two parameters are the optimizer's last two. */
static void set_frozen(run *r, int frozen, int n_all) {
    bl_optimizer *opt = r->opt;
    int head = n_all - 2;
    for (int i = 0; i < head; i++) opt->params[i]->requires_grad = !frozen;
}

static bl_status optimizer_step(run *r, int frozen, int n_all) {
    bl_optimizer *opt = r->opt;
    if (!frozen) return bl_optimizer_step(opt);
    int head = n_all - 2;
    opt->params += head, opt->state_a += head, opt->state_b += head, opt->n_params = 2;
    bl_status st = bl_optimizer_step(opt);
    opt->params -= head, opt->state_a -= head, opt->state_b -= head, opt->n_params = n_all;
    return st;
}

/* One batch of a sharded run (b NULL: this rank failed with `failed` before the step): shards s_lo … s_hi−1 of o->shards, each a forward and backward with its own batch
 * statistics (shard 0 alone updates the running statistics; the others run BL_BN_BATCH), its per-sample loss
 * weights scaled by its share of the batch (so the shards' losses add up to the batch's), its gradients summed in
 * shard order — in one process one after another into r->grads, across ranks by the fixed-order all-reduce — then
 * one optimizer step on the sum. *loss_value: the batch's loss (the shards' losses summed in shard order). */
static bl_status sharded_step(run *r, const bl_batch *b, bl_status failed, int frozen, int n_all,
                              float *loss_value) {
    bl_ctx *ctx = r->ctx;
    int ranks = r->w->size > 1, global = !b ? 0 : ranks ? b->global_count : b->count;
    int64_t n = bl_shard_grad_count(r->opt), step = bl_ctx_step(ctx);
    float z[4096], w[4096], total = 0.0f;
    bl_status st = failed; /* ranks: this rank failed before its step (no batch); it still joins the all-reduce */
    /* synchronised batchnorm exchanges statistics inside the forward and backward: every rank must know before it
     * starts that every other one has its batch */
    if (ranks && r->o->sync_bn && (st = bl_world_agree(r->w, st))) return st;
    for (int s = r->s_lo; !st && b && s < r->s_hi; s++) {
        int lo = 0, hi = b->count; /* a rank's loader holds its shard only */
        if (!ranks) bl_shard_range(b->count, r->o->shards, s, &lo, &hi);
        int cnt = hi - lo, xs[4] = {cnt, 3, b->size, b->size}, as[4] = {cnt, 1, 1, 1}, ys[2] = {cnt, 1};
        age_z(r, cnt, b->ages + lo, z);
        for (int i = 0; i < cnt; i++) w[i] = (float)(r->class_weight[b->labels[lo + i] > 0.5f] * cnt / global);
        /* synchronised, every rank's batchnorm computes the same running statistics */
        bl_run run_opts = {.ctx = ctx, .bn_mode = s == 0 || r->o->sync_bn ? BL_BN_FOLLOW_CONTEXT : BL_BN_BATCH};
        bl_tensor *logits = bl_pregnancy_forward(
            r->model, &run_opts, bl_tensor_from(ctx, 4, xs, b->images + (size_t)lo * 3 * b->size * b->size),
            bl_tensor_from(ctx, 4, as, z));
        bl_tensor *loss = bl_bce_with_logits(ctx, logits, bl_tensor_from(ctx, 2, ys, b->labels + lo),
                                             bl_tensor_from(ctx, 1, &cnt, w));
        float ls = 0.0f;
        if (!(st = bl_ctx_status(ctx)) && !(st = bl_backward(ctx, loss))) st = bl_tensor_download(ctx, loss, &ls);
        if (!st) st = bl_shard_grads_get(ctx, r->opt, r->grads, s > r->s_lo);
        total += ls;
        bl_zero_grad(ctx);
        bl_step_end(ctx);
        bl_ctx_set_step(ctx, step); /* one context step per batch, as without shards */
    }
    if (st && bl_ctx_status(ctx)) st = bl_fail(st, "%s", bl_ctx_error(ctx));
    if (ranks) { /* every rank makes the all-reduce, a failed one too (its flag tells the others) */
        r->grads[n] = st ? 0.0f : total;
        r->grads[n + 1] = st ? 1.0f : 0.0f;
        bl_status a = bl_world_allreduce_sum(r->w, r->grads, n + 2);
        if (a) st = a;
        else if (r->grads[n + 1] != 0.0f) st = bl_world_agree(r->w, st);
        total = r->grads[n];
    }
    if (!st) st = bl_shard_grads_set(ctx, r->opt, r->grads);
    if (!st) st = optimizer_step(r, frozen, n_all);
    *loss_value = total;
    return st;
}

static bl_status train_epoch(run *r, int epoch, bl_train_epoch *rep, int first_epoch) {
    const bl_train_options *o = r->o;
    bl_ctx *ctx = r->ctx;
    int n_all = r->opt->n_params, frozen = epoch < o->freeze_backbone_epochs;
    set_frozen(r, frozen, n_all);
    int spe = bl_loader_batches_per_epoch(r->train_loader), ranks = r->w->size > 1;
    /* ranks: a failure of this rank is not returned at once (the others would wait for it in the next all-reduce)
     * but kept pending and handed to the next sharded_step, whose flag stops every rank together */
    bl_status pending = bl_loader_start_epoch(r->train_loader, epoch), st = BL_OK;
    if (!ranks) st = pending, pending = BL_OK;
    const bl_batch *b = NULL;
    double t0 = bl_seconds_now(), loss_sum = 0;
    int done = 0, index = 0;
    float z[4096], w[4096];
    bl_run run_opts = {.ctx = ctx, .bn_mode = BL_BN_FOLLOW_CONTEXT};
    while (!st) {
        bl_status got = bl_loader_next(r->train_loader, &b);
        if (!got && !b) break;
        if (got && !ranks) {
            st = got;
            break;
        }
        if (got || pending) b = NULL, pending = pending ? pending : got;
        int64_t step = (int64_t)epoch * spe + index++;
        r->opt->lr = (float)bl_train_lr(o, step, spe);
        rep->lr = r->opt->lr;
        float loss_value = 0.0f;
        if (o->shards > 1) {
            st = sharded_step(r, b, pending, frozen, n_all, &loss_value);
            if (st || !b) break; /* every rank stops here together */
        } else {
            int xs[4] = {b->count, 3, b->size, b->size}, as[4] = {b->count, 1, 1, 1}, ys[2] = {b->count, 1};
            age_z(r, b->count, b->ages, z);
            for (int i = 0; i < b->count; i++) w[i] = (float)r->class_weight[b->labels[i] > 0.5f];
            bl_tensor *logits = bl_pregnancy_forward(r->model, &run_opts, bl_tensor_from(ctx, 4, xs, b->images),
                                                     bl_tensor_from(ctx, 4, as, z));
            bl_tensor *loss = bl_bce_with_logits(ctx, logits, bl_tensor_from(ctx, 2, ys, b->labels),
                                                 bl_tensor_from(ctx, 1, &b->count, w));
            if (!(st = bl_ctx_status(ctx)) && !(st = bl_backward(ctx, loss))) st = optimizer_step(r, frozen, n_all);
            if (!st) st = bl_tensor_download(ctx, loss, &loss_value);
        }
        if (!st && !isfinite(loss_value)) /* a diverged run stops here: no checkpoint of NaN weights is written */
            st = bl_fail(BL_ERR_NUMERIC, "epoch %d, batch %d: the training loss is %s (the run diverged; a lower --lr "
                         "may help); %s keeps the checkpoint of the epoch before", epoch + 1, b->index + 1,
                         isnan(loss_value) ? "NaN" : "infinite", o->out);
        if (st) break;
        loss_sum += (double)loss_value * b->global_count;
        done += b->global_count;
        if (first_epoch && b->index == 0 && r->lead) {
            size_t pers = bl_ctx_persistent(ctx)->high_water, stepb = bl_ctx_step_arena(ctx)->high_water;
            char json[256];
            int len = snprintf(json, sizeof json,
                               "{\"persistent_bytes\": %zu, \"step_bytes\": %zu, \"total_bytes\": %zu, \"batch\": %d, "
                               "\"size\": %d, \"device\": \"%s\"}\n", pers, stepb, pers + stepb, o->batch, o->size,
                               r->kernels->name);
            note(r, "memory plan after the first step: persistent arena %.1f MiB (weights, grads, optimizer), step arena "
                 "%.1f MiB (activations at batch %d, %d×%d), %s memory → %s/memory.json", pers / 1048576.0,
                 stepb / 1048576.0, o->batch, o->size, o->size, r->kernels->name, o->out);
            if ((st = bl_write_file_atomic(run_file(r, "memory.json"), json, (size_t)len))) {
                if (!ranks) break;
                pending = st, st = BL_OK;
            }
        }
        bl_zero_grad(ctx);
        bl_step_end(ctx);
        if (r->cb && r->cb->progress) {
            double dt = bl_seconds_now() - t0, ips = dt > 0 ? done / dt : 0;
            double left_imgs = (double)(o->epochs - epoch - 1) * (r->n_train + r->n_val) + (r->n_train - done) + r->n_val;
            bl_train_progress p = {.epoch = epoch, .epochs = o->epochs, .batch = b->index + 1, .batches = spe,
                                   .loss = loss_sum / done, .images_per_s = ips, .eta_s = ips > 0 ? left_imgs / ips : -1};
            r->cb->progress(r->cb->user, &p);
        }
    }
    if (st && bl_ctx_status(ctx)) st = bl_fail(st, "%s", bl_ctx_error(ctx));
    if (!st) st = pending; /* the epoch's end: run_epochs makes every rank agree */
    set_frozen(r, 0, n_all);
    rep->train_loss = done ? loss_sum / done : NAN;
    rep->images_per_s = done / (bl_seconds_now() - t0);
    return st;
}

/* The files of an epoch (rank 0 alone writes): the log, best.safetensors and validation.csv when it improved,
 * last.safetensors, log.csv. */
static bl_status write_epoch(run *r, const bl_train_epoch *rep) {
    const bl_train_options *o = r->o;
    bl_status st = append_log(r, rep);
    if (!r->lead) return st;
    if (!st && rep->best) st = bl_checkpoint_write(run_file(r, "best.safetensors"), r->model, r->opt, o, &r->state);
    if (!st && rep->best) st = write_validation(r);
    if (!st) st = bl_checkpoint_write(run_file(r, "last.safetensors"), r->model, r->opt, o, &r->state);
    if (!st) bl_run_dir_checkpointed(&r->dir);
    if (!st) st = bl_write_file_atomic(run_file(r, "log.csv"), r->state.log, strlen(r->state.log));
    return st;
}

static bl_status run_epochs(run *r) {
    const bl_train_options *o = r->o;
    int ran = 0;
    for (int epoch = r->state.epoch; epoch < o->epochs; epoch++) {
        double t0 = bl_seconds_now();
        bl_train_epoch rep = {.epoch = epoch};
        bl_status st = train_epoch(r, epoch, &rep, ran == 0);
        /* ranks: agree on the epoch; rank 0's batchnorm running statistics (those of shard 0) to every rank */
        st = bl_world_agree(r->w, st);
        if (!st) st = bl_shard_broadcast_model(r->w, r->ctx, r->model);
        if (!st) st = validate(r, epoch, &rep.val_loss);
        if (!st) st = bl_auroc(r->n_val, r->val_scores, r->val_labels, &rep.val_auroc);
        if (st) return st;
        rep.best = rep.val_auroc > r->state.best_auroc;
        if (rep.best) {
            r->state.best_auroc = rep.val_auroc;
            r->state.best_epoch = epoch;
            r->state.bad_epochs = 0;
        } else {
            r->state.bad_epochs++;
        }
        rep.seconds = bl_seconds_now() - t0;
        r->state.epoch = epoch + 1;
        r->state.step = bl_ctx_step(r->ctx);
        r->state.finished = r->state.epoch == o->epochs || (o->patience > 0 && r->state.bad_epochs >= o->patience);
        if ((st = bl_world_agree(r->w, write_epoch(r, &rep)))) return st;
        if (r->cb && r->cb->epoch_done) r->cb->epoch_done(r->cb->user, &rep);
        ran++;
        if (r->state.finished && r->state.epoch < o->epochs) {
            note(r, "early stop: validation AUROC has not improved for %d epochs (best %.4f at epoch %d)",
                 r->state.bad_epochs, r->state.best_auroc, r->state.best_epoch + 1);
            break;
        }
        if (o->stop_after > 0 && ran >= o->stop_after && !r->state.finished) {
            note(r, "stopping after %d epoch(s) as asked (--stop-after); continue with --resume", ran);
            break;
        }
    }
    return BL_OK;
}

/* the batchnorm reducer of --sync-bn: the sum over the ranks (bl_set_batch_reduce) */
static bl_status world_sum(void *user, double *values, int64_t n) {
    return bl_world_allreduce_sum_f64((const bl_world *)user, values, n);
}

static bl_status setup_model(run *r, const bl_safetensors *resume_from) {
    const bl_train_options *o = r->o;
    bl_status st = BL_OK;
    if (!r->kernels) st = bl_device_open_options(&o->device, &r->kernels);
    if (!st) st = bl_ctx_create(r->kernels, &r->ctx);
    if (!st) st = bl_pregnancy_create(r->ctx, o->arch, &r->model);
    if (st) return st;
    if (o->sync_bn) bl_set_batch_reduce(r->ctx, world_sum, (void *)r->w);
    bl_set_seed(r->ctx, o->seed);
    bl_set_training(r->ctx, 1);
    if (o->optimizer == BL_OPTIM_SGD) st = bl_sgd_create(r->ctx, (float)o->lr, 0.9f, 0.0f, (float)o->weight_decay, 0, &r->opt);
    else st = bl_adam_create(r->ctx, o->optimizer, (float)o->lr, 0.9f, 0.999f, 1e-8f, (float)o->weight_decay, &r->opt);
    if (st) return st;
    if (resume_from) {
        if ((st = bl_checkpoint_load(resume_from, r->model, r->opt))) return st;
        bl_ctx_set_step(r->ctx, r->state.step);
        return BL_OK;
    }
    if ((st = bl_pregnancy_init_random(r->model, o->seed))) return st;
    if (strcmp(o->weights, "none") != 0) {
        bl_safetensors *w = NULL;
        if (!(st = bl_safetensors_open(o->weights, &w))) st = bl_pregnancy_load_backbone(r->model, w);
        bl_safetensors_close(w);
    }
    return st;
}

static void run_free(run *r) {
    bl_loader_free(r->train_loader);
    bl_loader_free(r->val_loader);
    bl_optimizer_free(r->opt);
    bl_pregnancy_free(r->model);
    bl_ctx_free(r->ctx);
    bl_cohort_free(r->cohort);
    bl_split_free(r->split);
    free(r->train_rows);
    free(r->val_rows);
    free(r->val_scores);
    free(r->val_losses);
    free(r->val_labels);
    free(r->grads);
    free(r->state.log);
}

void bl_train_eval_loader_options(const bl_train_options *o, bl_loader_options *lo) {
    bl_loader_options_default(lo);
    lo->input = o->input;
    lo->size = o->size;
    lo->normalize = o->preset;
    lo->batch_size = o->batch;
    lo->seed = o->seed;
    lo->augment = 0;
    lo->shuffle = 0;
    lo->drop_last = 0;
}

bl_status bl_train_run(const bl_train_options *given, const bl_train_callbacks *cb) {
    bl_train_options o = *given;
    run r = {.o = &o, .cb = cb, .w = given->world ? given->world : &one_process};
    r.lead = r.w->rank == 0;
    r.state = (bl_train_state){.best_auroc = -1.0, .best_epoch = -1};
    bl_safetensors *ck = NULL;
    /* the device first: a run that cannot start on it fails before reading anything */
    bl_status st = bl_device_open_options(&given->device, &r.kernels);
    if (st) goto done;
    if (given->resume) {
        snprintf(r.path, sizeof r.path, "%s/last.safetensors", given->out);
        struct stat sb;
        if (stat(given->out, &sb) == 0 && stat(r.path, &sb) != 0 && errno == ENOENT) {
            /* killed before its first checkpoint: nothing to resume; what the kill left is removed */
            static const char *const outputs[] = {"last.safetensors", "best.safetensors", "validation.csv", "log.csv",
                                                  "memory.json"};
            bl_remove_stale_temporaries(given->out, (int)(sizeof outputs / sizeof outputs[0]), outputs);
            st = bl_fail(BL_ERR_IO, "%s: nothing to resume: last.safetensors is missing (the run stopped before its "
                         "first epoch ended); run the same command without --resume", given->out);
            goto done;
        }
        if (!(st = bl_safetensors_open(r.path, &ck))) st = bl_checkpoint_read_meta(ck, &o, &r.state);
        if (st) goto done;
        bl_input_release(r.path); /* the checkpoint read is the one this run goes on replacing */
        /* the checkpoint's options win, except those that do not change the numbers */
        snprintf(o.out, sizeof o.out, "%s", given->out);
        o.loader_threads = given->loader_threads;
        o.stop_after = given->stop_after;
        o.device = given->device;
        o.world = given->world;
        if (r.w->size > 1 && o.shards != r.w->size) {
            st = bl_fail(BL_ERR_INVALID, "%s: the run was trained with %d shard(s); resume it with %d rank(s) (mpirun "
                         "-np %d), not %d", r.path, o.shards, o.shards, o.shards, r.w->size);
            goto done;
        }
        if (r.state.finished) {
            note(&r, "%s: the run is already finished (%d epochs); nothing to do", r.path, r.state.epoch);
            /* a kill between last.safetensors and log.csv of the final epoch leaves the log one row short: the
             * checkpoint's copy of the log is the truth, so write it again (atomically; same bytes otherwise) */
            if (r.state.log) st = bl_write_file_atomic(run_file(&r, "log.csv"), r.state.log, strlen(r.state.log));
            goto done;
        }
        note(&r, "resuming %s at epoch %d of %d (step %lld)", r.path, r.state.epoch + 1, o.epochs,
             (long long)r.state.step);
    }
    if (r.w->size > 1 && !given->resume) {
        if (o.shards != 1 && o.shards != r.w->size) {
            st = bl_fail(BL_ERR_INVALID, "--shards %d: started as %d ranks, which make %d shards", o.shards, r.w->size,
                         r.w->size);
            goto done;
        }
        o.shards = r.w->size; /* a rank per shard */
    }
    if (o.sync_bn && r.w->size == 1) {
        st = bl_fail(BL_ERR_INVALID, "--sync-bn: synchronises the batchnorm statistics of MPI ranks (mpirun -np K "
                     "blasto train …); in one process every batch's statistics are already the whole batch's");
        goto done;
    }
    /* the shards this process computes: its rank's under a launcher, all of them in one process */
    r.s_lo = r.w->size > 1 ? r.w->rank : 0;
    r.s_hi = r.w->size > 1 ? r.w->rank + 1 : o.shards;
    if ((st = bl_train_check_options(&o))) goto done;
    double age_mean = r.state.age_mean, age_sd = r.state.age_sd;
    if ((st = load_data(&r))) goto done;
    if (ck) r.state.age_mean = age_mean, r.state.age_sd = age_sd; /* exactly the stored ones */
    if ((st = setup_model(&r, ck))) goto done;
    if ((st = make_loaders(&r))) goto done;
    if (o.shards > 1) {
        int64_t n = bl_shard_grad_count(r.opt);
        if (!(r.grads = malloc(sizeof(float) * (size_t)(n + 2))))
            st = bl_fail(BL_ERR_NOMEM, "train: out of memory for the %lld-float gradient buffer", (long long)n);
    }
    /* every rank has read its inputs; rank 0's initial weights to every rank (identical by the seed already; a
     * resumed run's come from the same file); only then does rank 0 make RUN/ */
    st = bl_world_agree(r.w, st);
    if (!st) st = bl_shard_broadcast_model(r.w, r.ctx, r.model);
    if (!st && r.lead) st = bl_run_dir_open(&r.dir, o.out, ck != NULL); /* only once every input validated */
    st = bl_world_agree(r.w, st);
    if (st) goto done;
    if (r.lead) {
        /* a run killed with -9 (or a power cut) leaves its atomic writers' temporaries: remove those of dead pids */
        static const char *const outputs[] = {"last.safetensors", "best.safetensors", "validation.csv", "log.csv",
                                              "memory.json"};
        int removed = bl_remove_stale_temporaries(o.out, (int)(sizeof outputs / sizeof outputs[0]), outputs);
        if (removed) note(&r, "removed %d temporary file(s) of an interrupted run from %s", removed, o.out);
    }
    int no_age = 0;
    for (int i = 0; i < r.n_train; i++) no_age += !isfinite(r.train_rows[i].age);
    for (int i = 0; i < r.n_val; i++) no_age += !isfinite(r.val_rows[i].age);
    if (no_age) /* said, not silent: the age input of these rows is the training mean (z = 0) */
        note(&r, "%d of the %d rows have no age: their age input is the training rows' mean (z = 0)", no_age,
             r.n_train + r.n_val);
    note(&r, "fold %d: %d training rows, %d validation rows; %s from %s, %s input %d×%d, preset %s; class weights %.4g / %.4g",
         o.fold, r.n_train, r.n_val, bl_arch_name(o.arch), strcmp(o.weights, "none") ? o.weights : "random init",
         bl_input_kind_name(o.input), o.size, o.size, bl_normalize_name(o.preset), r.class_weight[0], r.class_weight[1]);
    st = run_epochs(&r);
done:
    bl_run_dir_close(&r.dir, st);
    bl_safetensors_close(ck);
    run_free(&r);
    return st;
}

bl_status bl_checkpoint_score(const bl_safetensors *ck, const bl_cohort_row *rows, int n, int loader_threads,
                              const bl_device_options *device, double *scores) {
    bl_train_options o;
    bl_train_options_default(&o);
    run r = {.o = &o, .w = &one_process, .lead = 1};
    bl_status st = bl_device_open_options(device, &r.kernels);
    if (!st) st = bl_checkpoint_read_meta(ck, &o, &r.state);
    /* a sharded run's model is evaluated shard by shard, as its validation was */
    if (!st && !(r.val_losses = calloc((size_t)n, sizeof *r.val_losses))) st = bl_fail(BL_ERR_NOMEM, "out of memory");
    strcpy(o.weights, "none"); /* the checkpoint replaces every tensor */
    if (!st) st = setup_model(&r, NULL);
    if (!st) st = bl_checkpoint_load(ck, r.model, NULL);
    bl_loader_options lo;
    bl_train_eval_loader_options(&o, &lo);
    lo.threads = loader_threads;
    if (!st) st = bl_loader_create(rows, n, &lo, &r.val_loader);
    if (!st) {
        r.n_val = n;
        r.val_scores = scores;
        double loss;
        st = validate(&r, 0, &loss);
        r.val_scores = NULL;
    }
    run_free(&r);
    return st;
}
