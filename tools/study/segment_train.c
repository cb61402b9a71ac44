/* segment_train.c — the U-Net trainer of one fold (segment_train.h, docs/segmentation.md). */
#include "study/segment_train.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/autograd.h"
#include "core/optim.h"
#include "study/csv.h"
#include "study/files.h"
#include "study/loader.h"
#include "study/preprocess.h"
#include "study/split.h"
#include "study/train.h"

void bl_segment_options_default(bl_segment_options *o) {
    memset(o, 0, sizeof *o);
    o->unet = (bl_unet_config){.in_channels = 1, .classes = BL_SEG_CLASSES, .depth = 4, .width = 16};
    o->size = 256;
    o->epochs = 40;
    o->batch = 8;
    o->lr = 1e-3;
    o->augment = 1;
    o->seed = 1;
}

void bl_segment_sample_options(const bl_segment_options *o, int augment, bl_seg_sample_options *s) {
    bl_seg_sample_options_default(s);
    s->size = o->size;
    s->in_channels = o->unet.in_channels;
    s->augment = augment;
    s->seed = o->seed;
    s->enhance.icm_labels = o->icm_labels[0] ? o->icm_labels : NULL;
    s->enhance.te_labels = o->te_labels[0] ? o->te_labels : NULL;
}

/* ---- options ↔ JSON (the checkpoint's copy; every field, unknown keys refused) ---- */

static char *options_to_json(const bl_segment_options *o) {
    cJSON *j = cJSON_CreateObject();
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    cJSON_AddStringToObject(j, "cohort", o->cohort);
    cJSON_AddStringToObject(j, "split", o->split);
    cJSON_AddNumberToObject(j, "fold", o->fold);
    cJSON_AddNumberToObject(j, "in_channels", o->unet.in_channels);
    cJSON_AddNumberToObject(j, "classes", o->unet.classes);
    cJSON_AddNumberToObject(j, "depth", o->unet.depth);
    cJSON_AddNumberToObject(j, "width", o->unet.width);
    cJSON_AddNumberToObject(j, "size", o->size);
    cJSON_AddNumberToObject(j, "epochs", o->epochs);
    cJSON_AddNumberToObject(j, "batch", o->batch);
    cJSON_AddNumberToObject(j, "lr", o->lr);
    cJSON_AddNumberToObject(j, "augment", o->augment);
    cJSON_AddStringToObject(j, "seed", seed);
    cJSON_AddStringToObject(j, "icm_labels", o->icm_labels);
    cJSON_AddStringToObject(j, "te_labels", o->te_labels);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return text;
}

static bl_status options_from_json(const char *text, const char *path, bl_segment_options *o) {
    cJSON *j = cJSON_Parse(text);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return bl_fail(BL_ERR_FORMAT, "%s: __metadata__.options: not a JSON object", path);
    }
    static const char *const strings[] = {"cohort", "split", "seed", "icm_labels", "te_labels"};
    static const char *const numbers[] = {"fold", "in_channels", "classes", "depth", "width", "size", "epochs",
                                          "batch", "lr", "augment"};
    bl_status st = BL_OK;
    const cJSON *item;
    cJSON_ArrayForEach(item, j) {
        int known = 0;
        for (size_t i = 0; i < sizeof strings / sizeof *strings; i++) known |= strcmp(item->string, strings[i]) == 0;
        for (size_t i = 0; i < sizeof numbers / sizeof *numbers; i++) known |= strcmp(item->string, numbers[i]) == 0;
        if (!known) st = bl_fail(BL_ERR_FORMAT, "%s: __metadata__.options.%s: unknown option", path, item->string);
    }
    double v[10];
    for (size_t i = 0; !st && i < sizeof numbers / sizeof *numbers; i++) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, numbers[i]);
        int integer = strcmp(numbers[i], "lr") != 0; /* every other number is an int field */
        if (!cJSON_IsNumber(n) || !isfinite(n->valuedouble) ||
            (integer && (n->valuedouble != floor(n->valuedouble) || fabs(n->valuedouble) > 1e9)))
            st = bl_fail(BL_ERR_FORMAT, "%s: __metadata__.options.%s: expected %s", path, numbers[i],
                         integer ? "an integer" : "a number");
        else v[i] = n->valuedouble;
    }
    const char *s[5] = {0};
    for (size_t i = 0; !st && i < 5; i++) {
        s[i] = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, strings[i]));
        if (!s[i]) st = bl_fail(BL_ERR_FORMAT, "%s: __metadata__.options.%s: expected a string", path, strings[i]);
    }
    if (!st) {
        snprintf(o->cohort, sizeof o->cohort, "%s", s[0]);
        snprintf(o->split, sizeof o->split, "%s", s[1]);
        o->seed = strtoull(s[2], NULL, 10);
        snprintf(o->icm_labels, sizeof o->icm_labels, "%s", s[3]);
        snprintf(o->te_labels, sizeof o->te_labels, "%s", s[4]);
        o->fold = (int)v[0];
        o->unet = (bl_unet_config){(int)v[1], (int)v[2], (int)v[3], (int)v[4]};
        o->size = (int)v[5], o->epochs = (int)v[6], o->batch = (int)v[7];
        o->lr = v[8], o->augment = (int)v[9];
    }
    cJSON_Delete(j);
    return st;
}

bl_status bl_segment_options_of(const bl_safetensors *st, bl_segment_options *o) {
    const char *path = bl_safetensors_path(st), *format = bl_safetensors_metadata(st, "format");
    if (!format || strcmp(format, BL_SEGMENTER_FORMAT) != 0)
        return bl_fail(BL_ERR_FORMAT, "%s: __metadata__.format: not a segmenter checkpoint (expected %s, got %s)", path,
                       BL_SEGMENTER_FORMAT, format ? format : "none");
    const char *json = bl_safetensors_metadata(st, "options");
    if (!json) return bl_fail(BL_ERR_FORMAT, "%s: __metadata__.options: missing", path);
    bl_segment_options_default(o);
    return options_from_json(json, path, o);
}

/* ---- the run ---- */

typedef struct train_state {
    int epoch;          /* completed epochs */
    int64_t step;       /* context step */
    double best_score;  /* −1 before the first validation */
    int best_epoch, finished;
    char *log;          /* log.csv so far */
} train_state;

typedef struct run {
    bl_segment_options *o;
    const bl_segment_callbacks *cb;
    const bl_kernels *kernels;
    bl_ctx *ctx;
    bl_unet *unet;
    bl_optimizer *opt;
    bl_cohort *cohort;
    bl_split *split;
    int *train_rows, *val_rows, n_train, n_val;
    float *images, *labels; /* one batch on the host */
    uint8_t *truth, *pred;  /* one sample's labels */
    train_state state;
    char path[1100];
    bl_run_dir dir;     /* RUN/: made, locked, kept once it holds a checkpoint */
} run;

static void note(run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(run *r, const char *fmt, ...) {
    if (!r->cb || !r->cb->note) return;
    char line[1024];
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

static bl_status check_options(const bl_segment_options *o) {
    int multiple = 1 << (o->unet.depth > 0 && o->unet.depth <= BL_UNET_MAX_DEPTH ? o->unet.depth : 0);
    if (o->size < multiple || o->size > 2048 || o->size % multiple)
        return bl_fail(BL_ERR_INVALID, "segment train: --size %d: expected a multiple of %d (2^depth) up to 2048",
                       o->size, multiple);
    if (o->epochs < 1 || o->batch < 1 || !(o->lr > 0) || !isfinite(o->lr))
        return bl_fail(BL_ERR_INVALID, "segment train: epochs %d, batch %d, lr %g: expected ≥ 1, ≥ 1, > 0",
                       o->epochs, o->batch, o->lr);
    if (o->unet.classes != BL_SEG_CLASSES)
        return bl_fail(BL_ERR_INVALID, "segment train: classes %d: the segmenter has %d (background, ICM, TE)",
                       o->unet.classes, BL_SEG_CLASSES);
    bl_status st = bl_check_recorded_path("--cohort", o->cohort);
    if (!st) st = bl_check_recorded_path("--split", o->split);
    if (!st) st = bl_check_recorded_path("--out", o->out);
    return st;
}

static int annotated(const bl_cohort_row *row) { return row->annotation || row->icm_mask; }

static bl_status prepare_batch(run *r, const int *rows, int count, int augment, int64_t epoch);

static bl_status load_data(run *r) {
    const bl_segment_options *o = r->o;
    bl_status st = bl_cohort_read(o->cohort, 1, &r->cohort);
    if (!st) st = bl_split_read(o->split, 0, &r->split);
    if (st) return st;
    if (o->fold < 0 || o->fold >= r->split->folds)
        return bl_fail(BL_ERR_INVALID, "segment train: --fold %d: %s has folds 0 … %d", o->fold, o->split,
                       r->split->folds - 1);
    r->train_rows = malloc(sizeof(int) * (size_t)r->cohort->n);
    r->val_rows = malloc(sizeof(int) * (size_t)r->cohort->n);
    if (!r->train_rows || !r->val_rows) return bl_fail(BL_ERR_NOMEM, "segment train: out of memory");
    int unannotated = 0;
    for (int i = 0; i < r->cohort->n; i++) {
        int s = bl_split_find(r->split, r->cohort->rows[i].id);
        if (s < 0)
            return bl_fail(BL_ERR_INVALID, "%s: id '%s' (line %d of %s) is not in the split", o->split,
                           r->cohort->rows[i].id, r->cohort->rows[i].line, o->cohort);
        bl_split_role role = bl_split_role_of(r->split, s, o->fold);
        if (role == BL_ROLE_TEST) continue;
        if (!annotated(&r->cohort->rows[i])) {
            unannotated++;
            continue;
        }
        if (role == BL_ROLE_TRAIN) r->train_rows[r->n_train++] = i;
        else r->val_rows[r->n_val++] = i;
    }
    if (!r->n_train || !r->n_val)
        return bl_fail(BL_ERR_INVALID, "%s: fold %d has %d annotated training rows and %d annotated validation rows "
                       "(both must be ≥ 1; %d rows without annotation skipped)", o->cohort, o->fold, r->n_train,
                       r->n_val, unannotated);
    if (unannotated) note(r, "%d train rows without an annotation skipped", unannotated);
    int64_t plane = (int64_t)o->size * o->size;
    r->images = malloc(sizeof(float) * (size_t)(plane * o->unet.in_channels * o->batch));
    r->labels = malloc(sizeof(float) * (size_t)(plane * o->batch));
    r->truth = malloc((size_t)plane);
    r->pred = malloc((size_t)plane);
    if (!r->images || !r->labels || !r->truth || !r->pred) return bl_fail(BL_ERR_NOMEM, "segment train: out of memory");
    /* every sample once before anything is written: a bad image or annotation fails the run here, naming its file,
     * instead of in epoch 1 after RUN/ exists */
    for (int i = 0; !st && i < r->n_train + r->n_val; i++) {
        int row = i < r->n_train ? r->train_rows[i] : r->val_rows[i - r->n_train];
        st = prepare_batch(r, &row, 1, 0, 0);
        if (r->cb && r->cb->progress) {
            bl_segment_progress p = {.epoch = -1, .batch = i + 1, .batches = r->n_train + r->n_val, .validating = 2};
            r->cb->progress(r->cb->user, &p);
        }
    }
    return st;
}

/* the batch of rows[first … first + count) into r->images / r->labels */
static bl_status prepare_batch(run *r, const int *rows, int count, int augment, int64_t epoch) {
    bl_seg_sample_options so;
    bl_segment_sample_options(r->o, augment, &so);
    int64_t plane = (int64_t)r->o->size * r->o->size;
    for (int i = 0; i < count; i++) {
        bl_status st = bl_seg_prepare(&r->cohort->rows[rows[i]], &so, epoch,
                                      r->images + i * plane * r->o->unet.in_channels, r->labels + i * plane, NULL,
                                      NULL);
        if (st) return st;
    }
    return BL_OK;
}

/* cross-entropy + soft Dice over ICM and TE of logits against the batch's labels */
static bl_tensor *loss_of(run *r, bl_tensor *logits, int count) {
    int ls[3] = {count, r->o->size, r->o->size};
    bl_tensor *labels = bl_tensor_from(r->ctx, 3, ls, r->labels);
    bl_dice_loss_args dice = {.ignore_index = -1, .smooth = 1.0f, .skip_background = 1};
    return bl_add(r->ctx, bl_softmax_cross_entropy(r->ctx, logits, labels, NULL, -1),
                  bl_dice_loss(r->ctx, logits, labels, dice));
}

/* cosine decay from lr at step 0 towards 0 at the last step */
static double lr_at(const bl_segment_options *o, int64_t step, int64_t total) {
    const double pi = 3.14159265358979323846;
    return o->lr * 0.5 * (1.0 + cos(pi * (double)step / (double)(total > 0 ? total : 1)));
}

static int batches_of(int rows, int batch) { return (rows + batch - 1) / batch; }

static bl_status train_epoch(run *r, int epoch, bl_segment_epoch *rep) {
    const bl_segment_options *o = r->o;
    int *order = malloc(sizeof(int) * (size_t)r->n_train), *rows = malloc(sizeof(int) * (size_t)o->batch);
    if (!order || !rows) {
        free(order), free(rows);
        return bl_fail(BL_ERR_NOMEM, "segment train: out of memory");
    }
    bl_shuffled_order(o->seed, epoch, r->n_train, order);
    int spe = batches_of(r->n_train, o->batch);
    int64_t total = (int64_t)spe * o->epochs;
    double t0 = bl_seconds_now(), loss_sum = 0;
    int done = 0;
    bl_status st = BL_OK;
    bl_run run_opts = {.ctx = r->ctx};
    for (int b = 0; !st && b < spe; b++) {
        int count = r->n_train - b * o->batch < o->batch ? r->n_train - b * o->batch : o->batch;
        for (int i = 0; i < count; i++) rows[i] = r->train_rows[order[b * o->batch + i]];
        if ((st = prepare_batch(r, rows, count, o->augment, epoch))) break;
        int64_t step = (int64_t)epoch * spe + b;
        r->opt->lr = (float)lr_at(o, step, total);
        rep->lr = r->opt->lr;
        int xs[4] = {count, o->unet.in_channels, o->size, o->size};
        bl_tensor *logits = bl_unet_forward(r->unet, &run_opts, bl_tensor_from(r->ctx, 4, xs, r->images));
        bl_tensor *loss = loss_of(r, logits, count);
        float value = 0;
        if (!(st = bl_ctx_status(r->ctx)) && !(st = bl_backward(r->ctx, loss)) && !(st = bl_optimizer_step(r->opt)))
            st = bl_tensor_download(r->ctx, loss, &value);
        if (!st && !isfinite(value)) /* a diverged run stops here: no checkpoint of NaN weights is written */
            st = bl_fail(BL_ERR_NUMERIC, "epoch %d, batch %d: the training loss is %s (the run diverged; a lower --lr "
                         "may help); %s keeps the checkpoint of the epoch before", epoch + 1, b + 1,
                         isnan(value) ? "NaN" : "infinite", o->out);
        if (st) break;
        loss_sum += (double)value * count;
        done += count;
        bl_zero_grad(r->ctx);
        bl_step_end(r->ctx);
        if (r->cb && r->cb->progress) {
            double dt = bl_seconds_now() - t0, ips = dt > 0 ? done / dt : 0;
            double left = (double)(o->epochs - epoch - 1) * (r->n_train + r->n_val) + (r->n_train - done) + r->n_val;
            bl_segment_progress p = {.epoch = epoch, .epochs = o->epochs, .batch = b + 1, .batches = spe,
                                     .loss = loss_sum / done, .images_per_s = ips, .eta_s = ips > 0 ? left / ips : -1};
            r->cb->progress(r->cb->user, &p);
        }
    }
    if (st && bl_ctx_status(r->ctx)) st = bl_fail(st, "%s", bl_ctx_error(r->ctx));
    rep->train_loss = done ? loss_sum / done : NAN;
    free(order);
    free(rows);
    return st;
}

static bl_status validate(run *r, int epoch, bl_segment_epoch *rep) {
    const bl_segment_options *o = r->o;
    bl_ctx *ctx = r->ctx;
    bl_set_training(ctx, 0);
    bl_set_grad_enabled(ctx, 0);
    bl_seg_counts counts = {0};
    int64_t plane = (int64_t)o->size * o->size;
    float *logits_host = malloc(sizeof(float) * (size_t)(plane * o->unet.classes * o->batch));
    double loss_sum = 0, t0 = bl_seconds_now();
    int done = 0, batches = batches_of(r->n_val, o->batch);
    bl_status st = logits_host ? BL_OK : bl_fail(BL_ERR_NOMEM, "segment train: out of memory");
    bl_run run_opts = {.ctx = ctx};
    for (int b = 0; !st && b < batches; b++) {
        int count = r->n_val - b * o->batch < o->batch ? r->n_val - b * o->batch : o->batch;
        if ((st = prepare_batch(r, r->val_rows + b * o->batch, count, 0, 0))) break;
        int xs[4] = {count, o->unet.in_channels, o->size, o->size};
        bl_tensor *logits = bl_unet_forward(r->unet, &run_opts, bl_tensor_from(ctx, 4, xs, r->images));
        bl_tensor *loss = loss_of(r, logits, count);
        float value = 0;
        if ((st = bl_ctx_status(ctx)) || (st = bl_tensor_download(ctx, loss, &value)) ||
            (st = bl_tensor_download(ctx, logits, logits_host)))
            break;
        loss_sum += (double)value * count;
        for (int i = 0; i < count; i++) {
            bl_seg_argmax(logits_host + i * plane * o->unet.classes, o->unet.classes, plane, r->pred);
            for (int64_t k = 0; k < plane; k++) r->truth[k] = (uint8_t)r->labels[i * plane + k];
            bl_seg_count(r->truth, r->pred, plane, &counts);
        }
        done += count;
        bl_step_end(ctx);
        if (r->cb && r->cb->progress) {
            double dt = bl_seconds_now() - t0;
            bl_segment_progress p = {.epoch = epoch, .epochs = o->epochs, .batch = b + 1, .batches = batches,
                                     .validating = 1, .images_per_s = dt > 0 ? done / dt : 0, .eta_s = -1};
            r->cb->progress(r->cb->user, &p);
        }
    }
    if (st && bl_ctx_status(ctx)) st = bl_fail(st, "%s", bl_ctx_error(ctx));
    bl_ctx_clear_error(ctx);
    bl_step_end(ctx);
    bl_set_training(ctx, 1);
    bl_set_grad_enabled(ctx, 1);
    free(logits_host);
    rep->val_loss = done ? loss_sum / done : NAN;
    for (int k = 0; k < BL_SEG_CLASSES; k++) {
        rep->dice[k] = bl_seg_dice(&counts, k);
        rep->jaccard[k] = bl_seg_jaccard(&counts, k);
    }
    rep->score = 0.5 * (rep->jaccard[BL_SEG_ICM] + rep->jaccard[BL_SEG_TE]);
    return st;
}

static bl_status append_log(run *r, const bl_segment_epoch *e) {
    static const char header[] =
        "epoch,train_loss,val_loss,dice_icm,dice_te,jaccard_icm,jaccard_te,mean_jaccard,lr,seconds,best\n";
    char line[512];
    int n = snprintf(line, sizeof line, "%d,%.9g,%.9g,%.6f,%.6f,%.6f,%.6f,%.6f,%.6g,%.3f,%d\n", e->epoch + 1,
                     e->train_loss, e->val_loss, e->dice[BL_SEG_ICM], e->dice[BL_SEG_TE], e->jaccard[BL_SEG_ICM],
                     e->jaccard[BL_SEG_TE], e->score, e->lr, e->seconds, e->best);
    size_t old = r->state.log ? strlen(r->state.log) : 0;
    char *log = realloc(r->state.log, old + sizeof header + (size_t)n + 1);
    if (!log) return bl_fail(BL_ERR_NOMEM, "segment train: out of memory for the log");
    if (!old) strcpy(log, header);
    strcat(log, line);
    r->state.log = log;
    return BL_OK;
}

/* RUN/best.safetensors (weights and metadata) or RUN/last.safetensors (also the optimizer state), atomically */
static bl_status write_checkpoint(run *r, const char *name, int with_optimizer) {
    bl_st_writer *w = NULL;
    bl_host_copies copies = {0};
    char *json = options_to_json(r->o);
    char num[6][40];
    snprintf(num[0], sizeof num[0], "%d", r->state.epoch);
    snprintf(num[1], sizeof num[1], "%lld", (long long)r->state.step);
    snprintf(num[2], sizeof num[2], "%lld", (long long)r->opt->step);
    snprintf(num[3], sizeof num[3], "%.17g", r->state.best_score);
    snprintf(num[4], sizeof num[4], "%d", r->state.best_epoch);
    snprintf(num[5], sizeof num[5], "%d", r->state.finished);
    const char *meta[][2] = {{"format", BL_SEGMENTER_FORMAT},
                             {"epoch", num[0]},
                             {"step", num[1]},
                             {"optim_step", num[2]},
                             {"best_score", num[3]},
                             {"best_epoch", num[4]},
                             {"finished", num[5]},
                             {"options", json ? json : ""},
                             {"log", r->state.log ? r->state.log : ""}};
    bl_status st = json ? bl_st_writer_create(&w) : bl_fail(BL_ERR_NOMEM, "segment train: out of memory");
    if (!st) st = bl_unet_write_to(r->unet, w, &copies);
    if (!st && with_optimizer) st = bl_checkpoint_add_optimizer(w, r->opt, &copies);
    for (size_t i = 0; !st && i < sizeof meta / sizeof meta[0]; i++)
        st = bl_st_writer_add_metadata(w, meta[i][0], meta[i][1]);
    if (!st) st = bl_st_writer_save(w, run_file(r, name));
    bl_st_writer_free(w);
    bl_host_copies_free(&copies);
    free(json);
    return st;
}

static bl_status read_state(const bl_safetensors *st, train_state *s) {
    static const char *const keys[5] = {"epoch", "step", "best_score", "best_epoch", "finished"};
    double v[5];
    for (int i = 0; i < 5; i++) {
        bl_status e = bl_safetensors_metadata_number(st, keys[i], &v[i]);
        if (e) return e;
    }
    const char *log = bl_safetensors_metadata(st, "log");
    *s = (train_state){.epoch = (int)v[0], .step = (int64_t)v[1], .best_score = v[2], .best_epoch = (int)v[3],
                       .finished = (int)v[4], .log = strdup(log ? log : "")};
    return s->log ? BL_OK : bl_fail(BL_ERR_NOMEM, "segment train: out of memory");
}

static bl_status run_epochs(run *r) {
    const bl_segment_options *o = r->o;
    int ran = 0;
    for (int epoch = r->state.epoch; epoch < o->epochs; epoch++) {
        double t0 = bl_seconds_now();
        bl_segment_epoch rep = {.epoch = epoch};
        bl_status st = train_epoch(r, epoch, &rep);
        if (!st) st = validate(r, epoch, &rep);
        if (st) return st;
        rep.best = rep.score > r->state.best_score;
        if (rep.best) r->state.best_score = rep.score, r->state.best_epoch = epoch;
        rep.seconds = bl_seconds_now() - t0;
        r->state.epoch = epoch + 1;
        r->state.step = bl_ctx_step(r->ctx);
        r->state.finished = r->state.epoch == o->epochs;
        if ((st = append_log(r, &rep))) return st;
        if (rep.best && (st = write_checkpoint(r, "best.safetensors", 0))) return st;
        if ((st = write_checkpoint(r, "last.safetensors", 1))) return st;
        bl_run_dir_checkpointed(&r->dir);
        if ((st = bl_write_file_atomic(run_file(r, "log.csv"), r->state.log, strlen(r->state.log)))) return st;
        if (r->cb && r->cb->epoch_done) r->cb->epoch_done(r->cb->user, &rep);
        if (o->stop_after > 0 && ++ran >= o->stop_after && !r->state.finished) {
            note(r, "stopping after %d epoch(s) as asked (--stop-after); continue with --resume", ran);
            break;
        }
    }
    return BL_OK;
}

bl_status bl_segment_train(const bl_segment_options *given, const bl_segment_callbacks *cb) {
    bl_segment_options o = *given;
    run r = {.o = &o, .cb = cb, .state = {.best_score = -1, .best_epoch = -1}};
    bl_safetensors *ck = NULL;
    bl_status st = bl_device_open_options(&given->device, &r.kernels);
    if (!st && given->resume) {
        snprintf(r.path, sizeof r.path, "%s/last.safetensors", given->out);
        if (!(st = bl_safetensors_open(r.path, &ck)) && !(st = bl_segment_options_of(ck, &o)))
            st = read_state(ck, &r.state);
        if (st) goto done;
        bl_input_release(r.path); /* the checkpoint read is the one this run goes on replacing */
        snprintf(o.out, sizeof o.out, "%s", given->out); /* the options that do not change the numbers */
        o.stop_after = given->stop_after;
        o.device = given->device;
        if (r.state.finished) {
            note(&r, "%s: the run is already finished (%d epochs); nothing to do", r.path, r.state.epoch);
            if (r.state.log) st = bl_write_file_atomic(run_file(&r, "log.csv"), r.state.log, strlen(r.state.log));
            goto done;
        }
        note(&r, "resuming %s at epoch %d of %d", r.path, r.state.epoch + 1, o.epochs);
    }
    if (st || (st = check_options(&o)) || (st = load_data(&r))) goto done;
    if (!(st = bl_ctx_create(r.kernels, &r.ctx)) && !(st = bl_unet_create(r.ctx, &o.unet, &r.unet)))
        st = bl_adam_create(r.ctx, BL_OPTIM_ADAM, (float)o.lr, 0.9f, 0.999f, 1e-8f, 0.0f, &r.opt);
    if (st) goto done;
    bl_set_seed(r.ctx, o.seed);
    bl_set_training(r.ctx, 1);
    if (ck) {
        /* validate everything before loading anything */
        if (!(st = bl_checkpoint_read_optimizer(ck, r.opt, 0)) && !(st = bl_unet_load(r.unet, ck)))
            st = bl_checkpoint_read_optimizer(ck, r.opt, 1);
        if (st) goto done;
        bl_ctx_set_step(r.ctx, r.state.step);
    } else {
        if ((st = bl_unet_init_random(r.unet, o.seed))) goto done;
    }
    if ((st = bl_run_dir_open(&r.dir, o.out, ck != NULL))) goto done; /* only once every input validated */
    static const char *const outputs[] = {"last.safetensors", "best.safetensors", "log.csv"};
    int removed = bl_remove_stale_temporaries(o.out, 3, outputs);
    if (removed) note(&r, "removed %d temporary file(s) of an interrupted run from %s", removed, o.out);
    note(&r, "fold %d: %d training rows, %d validation rows; unet depth %d width %d (%lld parameters), %d×%d %s",
         o.fold, r.n_train, r.n_val, o.unet.depth, o.unet.width, (long long)bl_unet_parameter_count(r.unet), o.size,
         o.size, o.unet.in_channels == 1 ? "grey" : "RGB");
    st = run_epochs(&r);
done:
    bl_run_dir_close(&r.dir, st);
    bl_safetensors_close(ck);
    bl_optimizer_free(r.opt);
    bl_unet_free(r.unet);
    bl_ctx_free(r.ctx);
    bl_cohort_free(r.cohort);
    bl_split_free(r.split);
    free(r.train_rows);
    free(r.val_rows);
    free(r.images);
    free(r.labels);
    free(r.truth);
    free(r.pred);
    free(r.state.log);
    return st;
}
