/* checkpoint.c — pregnancy-model checkpoints: weights, optimizer state and run metadata in one safetensors file,
 * and the run options as JSON (train.h, docs/training.md "Checkpoints"). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/autograd.h"
#include "core/tensor_host.h"
#include "study/train.h"

#define CHECKPOINT_FORMAT "blasto-pregnancy-checkpoint-1"

static const char *optim_name(bl_optim_kind k) { return k == BL_OPTIM_SGD ? "sgd" : k == BL_OPTIM_ADAM ? "adam" : "adamw"; }

char *bl_train_options_to_json(const bl_train_options *o) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    cJSON_AddStringToObject(j, "cohort", o->cohort);
    cJSON_AddStringToObject(j, "split", o->split);
    cJSON_AddStringToObject(j, "out", o->out);
    cJSON_AddStringToObject(j, "weights", o->weights);
    cJSON_AddNumberToObject(j, "fold", o->fold);
    cJSON_AddStringToObject(j, "arch", bl_arch_name(o->arch));
    cJSON_AddStringToObject(j, "input", bl_input_kind_name(o->input));
    cJSON_AddStringToObject(j, "preset", bl_normalize_name(o->preset));
    cJSON_AddNumberToObject(j, "epochs", o->epochs);
    cJSON_AddNumberToObject(j, "batch", o->batch);
    cJSON_AddNumberToObject(j, "size", o->size);
    cJSON_AddNumberToObject(j, "lr", o->lr); /* cJSON prints doubles with up to 17 digits: round-trip exact */
    cJSON_AddNumberToObject(j, "weight_decay", o->weight_decay);
    cJSON_AddStringToObject(j, "optimizer", optim_name(o->optimizer));
    cJSON_AddStringToObject(j, "schedule", bl_schedule_name(o->schedule));
    cJSON_AddNumberToObject(j, "warmup", o->warmup);
    cJSON_AddStringToObject(j, "class_weight", o->class_weight_balanced ? "balanced" : "none");
    cJSON_AddNumberToObject(j, "freeze_backbone_epochs", o->freeze_backbone_epochs);
    cJSON_AddNumberToObject(j, "patience", o->patience);
    cJSON_AddStringToObject(j, "seed", seed);
    cJSON_AddNumberToObject(j, "augment", o->augment);
    if (o->shards > 1) cJSON_AddNumberToObject(j, "shards", o->shards); /* absent: 1 (every run before shards) */
    if (o->sync_bn) cJSON_AddNumberToObject(j, "sync_bn", 1);            /* absent: 0 */
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return text;
}

static bl_status get_string(const cJSON *j, const char *key, const char *what, char *dst, size_t size,
                            const char **ptr) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= (dst ? size : (size_t)-1))
        return bl_fail(BL_ERR_FORMAT, "%s: options.%s: missing or not a string", what, key);
    if (dst) strcpy(dst, v->valuestring);
    if (ptr) *ptr = v->valuestring;
    return BL_OK;
}

static bl_status get_number(const cJSON *j, const char *key, const char *what, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsNumber(v)) return bl_fail(BL_ERR_FORMAT, "%s: options.%s: missing or not a number", what, key);
    *out = v->valuedouble;
    return BL_OK;
}

bl_status bl_train_options_from_json(const char *json, const char *what, bl_train_options *o) {
    cJSON *j = cJSON_Parse(json);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return bl_fail(BL_ERR_FORMAT, "%s: __metadata__.options: not a JSON object", what);
    }
    bl_status st = BL_OK;
    const char *s;
    double d = 0.0;
#define STR(key, field) \
    if (!st) st = get_string(j, key, what, o->field, sizeof o->field, NULL)
#define NUM(key, field, type) \
    if (!st && !(st = get_number(j, key, what, &d))) o->field = (type)d
    STR("cohort", cohort);
    STR("split", split);
    STR("out", out);
    STR("weights", weights);
    NUM("fold", fold, int);
    NUM("epochs", epochs, int);
    NUM("batch", batch, int);
    NUM("size", size, int);
    NUM("lr", lr, double);
    NUM("weight_decay", weight_decay, double);
    NUM("warmup", warmup, int);
    NUM("freeze_backbone_epochs", freeze_backbone_epochs, int);
    NUM("patience", patience, int);
    NUM("augment", augment, int);
    o->shards = 1;
    if (!st && cJSON_GetObjectItemCaseSensitive(j, "shards")) {
        NUM("shards", shards, int);
        if (!st && (d != (double)(int)d || d < 1 || d > 4096))
            st = bl_fail(BL_ERR_FORMAT, "%s: options.shards: expected an integer 1 … 4096 (got %g)", what, d);
    }
    o->sync_bn = 0;
    if (!st && cJSON_GetObjectItemCaseSensitive(j, "sync_bn")) {
        NUM("sync_bn", sync_bn, int);
        if (!st && d != 0 && d != 1)
            st = bl_fail(BL_ERR_FORMAT, "%s: options.sync_bn: expected 0 or 1 (got %g)", what, d);
    }
#undef STR
#undef NUM
    if (!st && !(st = get_string(j, "arch", what, NULL, 0, &s))) st = bl_arch_from_name(s, &o->arch);
    if (!st && !(st = get_string(j, "input", what, NULL, 0, &s))) st = bl_input_kind_parse(s, &o->input);
    if (!st && !(st = get_string(j, "preset", what, NULL, 0, &s))) st = bl_normalize_parse(s, &o->preset);
    if (!st && !(st = get_string(j, "schedule", what, NULL, 0, &s))) st = bl_schedule_parse(s, &o->schedule);
    if (!st && !(st = get_string(j, "optimizer", what, NULL, 0, &s))) {
        if (!strcmp(s, "sgd")) o->optimizer = BL_OPTIM_SGD;
        else if (!strcmp(s, "adam")) o->optimizer = BL_OPTIM_ADAM;
        else if (!strcmp(s, "adamw")) o->optimizer = BL_OPTIM_ADAMW;
        else st = bl_fail(BL_ERR_FORMAT, "%s: options.optimizer: unknown '%s' (expected sgd, adam or adamw)", what, s);
    }
    if (!st && !(st = get_string(j, "class_weight", what, NULL, 0, &s))) o->class_weight_balanced = !strcmp(s, "balanced");
    if (!st && !(st = get_string(j, "seed", what, NULL, 0, &s))) {
        char *end;
        errno = 0;
        o->seed = strtoull(s, &end, 10);
        if (errno || *end || !*s) st = bl_fail(BL_ERR_FORMAT, "%s: options.seed: not an integer (got '%s')", what, s);
    }
    cJSON_Delete(j);
    return st;
}

static const char *variant_of(bl_arch a) {
    return a == BL_ARCH_RESNET50 ? "torchvision-v1.5" : a == BL_ARCH_RESNET50_KERAS ? "keras-v1" : "torchvision";
}

bl_status bl_checkpoint_add_optimizer(bl_st_writer *w, const bl_optimizer *opt, bl_host_copies *copies) {
    char name[512];
    bl_status st = BL_OK;
    for (int i = 0; !st && i < opt->n_params; i++) {
        const bl_tensor *p = opt->params[i], *state[2] = {opt->state_a[i], opt->state_b[i]};
        for (int k = 0; !st && k < 2; k++) {
            if (!state[k]) continue;
            snprintf(name, sizeof name, "optim.%c.%s", k ? 'b' : 'a', p->name);
            st = bl_st_writer_add_tensor(w, name, opt->ctx, state[k], copies);
        }
    }
    return st;
}

bl_status bl_checkpoint_write(const char *path, const bl_pregnancy_model *m, const bl_optimizer *opt,
                              const bl_train_options *o, const bl_train_state *s) {
    bl_ctx *ctx = bl_model_ctx(m->backbone);
    bl_st_writer *w = NULL;
    bl_host_copies copies = {0}; /* host copies of every tensor, alive until the writer saved */
    bl_status st = bl_st_writer_create(&w);
    for (int i = 0; !st && i < bl_pregnancy_tensor_count(m); i++) {
        const bl_tensor *t = bl_pregnancy_tensor_at(m, i);
        st = bl_st_writer_add_tensor(w, t->name, ctx, t, &copies);
    }
    if (!st && opt) st = bl_checkpoint_add_optimizer(w, opt, &copies);
    char *json = bl_train_options_to_json(o);
    if (!st && !json) st = bl_fail(BL_ERR_NOMEM, "%s: out of memory for the options", path);
    char num[10][64];
    snprintf(num[0], 64, "%d", s->epoch);
    snprintf(num[1], 64, "%lld", (long long)s->step);
    snprintf(num[2], 64, "%lld", (long long)(opt ? opt->step : 0));
    snprintf(num[3], 64, "%.17g", s->age_mean);
    snprintf(num[4], 64, "%.17g", s->age_sd);
    snprintf(num[5], 64, "%.17g", s->best_auroc);
    snprintf(num[6], 64, "%d", s->best_epoch);
    snprintf(num[7], 64, "%d", s->bad_epochs);
    snprintf(num[8], 64, "%d", s->finished);
    snprintf(num[9], 64, "%d", o->fold);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    const char *meta[][2] = {
        {"format", CHECKPOINT_FORMAT}, {"arch", bl_arch_name(o->arch)}, {"variant", variant_of(o->arch)},
        {"input", bl_input_kind_name(o->input)}, {"preprocessing", bl_normalize_name(o->preset)}, {"seed", seed},
        {"fold", num[9]}, {"epoch", num[0]}, {"step", num[1]}, {"optim_step", num[2]}, {"age_mean", num[3]},
        {"age_sd", num[4]}, {"best_auroc", num[5]}, {"best_epoch", num[6]}, {"bad_epochs", num[7]},
        {"finished", num[8]}, {"optimizer", optim_name(o->optimizer)}, {"options", json ? json : ""},
        {"log", s->log ? s->log : ""},
    };
    for (size_t i = 0; !st && i < sizeof meta / sizeof meta[0]; i++) st = bl_st_writer_add_metadata(w, meta[i][0], meta[i][1]);
    if (!st) st = bl_st_writer_save(w, path);
    free(json);
    bl_st_writer_free(w);
    bl_host_copies_free(&copies);
    return st;
}

bl_status bl_checkpoint_read_meta(const bl_safetensors *st, bl_train_options *o, bl_train_state *s) {
    const char *path = bl_safetensors_path(st);
    const char *format = bl_safetensors_metadata(st, "format");
    if (!format || strcmp(format, CHECKPOINT_FORMAT) != 0)
        return bl_fail(BL_ERR_FORMAT, "%s: __metadata__.format: not a pregnancy checkpoint (expected %s, got %s)", path,
                       CHECKPOINT_FORMAT, format ? format : "none");
    const char *json = bl_safetensors_metadata(st, "options");
    if (!json) return bl_fail(BL_ERR_FORMAT, "%s: __metadata__.options: missing", path);
    bl_status e = bl_train_options_from_json(json, path, o);
    if (e) return e;
    double v[8];
    const char *keys[8] = {"epoch", "step", "age_mean", "age_sd", "best_auroc", "best_epoch", "bad_epochs", "finished"};
    for (int i = 0; i < 8; i++)
        if ((e = bl_safetensors_metadata_number(st, keys[i], &v[i]))) return e;
    if (!(v[3] > 0.0) || !isfinite(v[2]))
        return bl_fail(BL_ERR_FORMAT, "%s: __metadata__.age_sd: must be > 0 with a finite mean (got mean %g, sd %g)",
                       path, v[2], v[3]);
    *s = (bl_train_state){.epoch = (int)v[0], .step = (int64_t)v[1], .age_mean = v[2], .age_sd = v[3],
                          .best_auroc = v[4], .best_epoch = (int)v[5], .bad_epochs = (int)v[6], .finished = (int)v[7]};
    const char *log = bl_safetensors_metadata(st, "log");
    s->log = strdup(log ? log : "");
    if (!s->log) return bl_fail(BL_ERR_NOMEM, "%s: out of memory", path);
    return BL_OK;
}

bl_status bl_checkpoint_read_optimizer(const bl_safetensors *st, bl_optimizer *opt, int load) {
    const char *path = bl_safetensors_path(st);
    char name[512];
    for (int i = 0; i < opt->n_params; i++) {
        bl_tensor *p = opt->params[i], *state[2] = {opt->state_a[i], opt->state_b[i]};
        for (int k = 0; k < 2; k++) {
            if (!state[k]) continue;
            snprintf(name, sizeof name, "optim.%c.%s", k ? 'b' : 'a', p->name);
            if (!bl_safetensors_find(st, name))
                return bl_fail(BL_ERR_FORMAT, "%s: '%s': missing optimizer state (expected shape of %s)", path, name,
                               p->name);
            if (load) {
                bl_status e = bl_tensor_read_safetensors(opt->ctx, state[k], st, name);
                if (e) return e;
            }
        }
    }
    if (!load) return BL_OK;
    double step;
    bl_status e = bl_safetensors_metadata_number(st, "optim_step", &step);
    if (!e) opt->step = (int64_t)step;
    return e;
}

bl_status bl_checkpoint_load(const bl_safetensors *st, bl_pregnancy_model *m, bl_optimizer *opt) {
    /* validate the optimizer entries first, so a failure leaves the model untouched */
    bl_status e = opt ? bl_checkpoint_read_optimizer(st, opt, 0) : BL_OK;
    if (!e) e = bl_pregnancy_load(m, st);
    if (!e && opt) e = bl_checkpoint_read_optimizer(st, opt, 1);
    return e;
}

bl_status bl_checkpoint_open_model(const char *path, const bl_device_options *device, bl_train_options *o,
                                   bl_train_state *s, bl_ctx **ctx, bl_pregnancy_model **model) {
    bl_safetensors *ck = NULL;
    const bl_kernels *kernels = NULL;
    *s = (bl_train_state){0};
    *ctx = NULL;
    *model = NULL;
    bl_status st = bl_safetensors_open(path, &ck);
    if (!st) st = bl_checkpoint_read_meta(ck, o, s);
    if (!st) st = bl_device_open_options(device, &kernels);
    if (!st) st = bl_ctx_create(kernels, ctx);
    if (!st) st = bl_pregnancy_create(*ctx, o->arch, model);
    if (!st) st = bl_checkpoint_load(ck, *model, NULL);
    bl_safetensors_close(ck);
    if (st) {
        bl_pregnancy_free(*model);
        bl_ctx_free(*ctx);
        free(s->log);
        *s = (bl_train_state){0};
        *ctx = NULL;
        *model = NULL;
    }
    return st;
}
