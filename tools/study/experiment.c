/* experiment.c — `blasto experiment`: the config reader and the resumable units (experiment.h, docs/experiment.md). */
#include "study/json.h"
#include "study/experiment.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "study/cohort.h"
#include "study/csv.h"
#include "study/files.h"
#include "study/metrics.h"
#include "study/predictions.h"
#include "study/report.h"
#include "study/split.h"

static const char *const config_keys[] = {"cohort", "test_count", "folds", "seed", "archs", "inputs", "epochs",
                                          "batch", "lr", "optimizer", "size", "freeze_backbone_epochs",
                                          "weights_dir", "demo", "device", "deterministic", "tf32",
                                          "annotations", "segment_epochs", "segment_size", "segment_width",
                                          "segment_batch"};

/* `name` relative to the folder of `base` unless absolute → dst[size]. */
static bl_status resolve_path(const char *base, const char *name, char *dst, size_t size, const char *what) {
    int n;
    const char *slash = strrchr(base, '/');
    if (name[0] == '/' || !slash) n = snprintf(dst, size, "%s", name);
    else n = snprintf(dst, size, "%.*s/%s", (int)(slash - base), base, name);
    if (n < 0 || (size_t)n >= size) return bl_fail(BL_ERR_INVALID, "%s: %s: path too long", base, what);
    return BL_OK;
}

static bl_status get_int(const char *path, const cJSON *root, const char *key, long lo, long hi, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) return BL_OK;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < (double)lo ||
        v->valuedouble > (double)hi)
        return bl_fail(BL_ERR_INVALID, "%s: %s: expected an integer in [%ld, %ld], got %s", path, key, lo, hi,
                       cJSON_IsNumber(v) ? "a number outside it" : "another JSON type");
    *out = (int)v->valuedouble;
    return BL_OK;
}

static bl_status get_string_array(const char *path, const cJSON *root, const char *key, int max, const cJSON **arr,
                                  int *n) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    *arr = NULL;
    if (!v) return BL_OK;
    int count = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
    if (count < 1 || count > max)
        return bl_fail(BL_ERR_INVALID, "%s: %s: expected an array of 1 to %d strings", path, key, max);
    for (int i = 0; i < count; i++)
        if (!cJSON_IsString(cJSON_GetArrayItem(v, i)))
            return bl_fail(BL_ERR_INVALID, "%s: %s[%d]: expected a string", path, key, i);
    *arr = v;
    *n = count;
    return BL_OK;
}

/* message without its "<field>: " prefix (the caller names the config key instead) */
static const char *skip_prefix(const char *message, const char *prefix) {
    size_t n = strlen(prefix);
    return strncmp(message, prefix, n) ? message : message + n;
}

static bl_status config_from_json(const char *path, const cJSON *root, bl_experiment_config *c) {
    if (!cJSON_IsObject(root)) return bl_fail(BL_ERR_FORMAT, "%s: expected a JSON object", path);
    for (const cJSON *it = root->child; it; it = it->next) {
        int known = 0;
        for (size_t k = 0; k < sizeof config_keys / sizeof *config_keys; k++) known |= !strcmp(it->string, config_keys[k]);
        if (!known) return bl_fail(BL_ERR_INVALID, "%s: %s: unknown key", path, it->string);
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "cohort");
    if (!v) return bl_fail(BL_ERR_INVALID, "%s: cohort: missing (expected the path of the cohort CSV)", path);
    if (!cJSON_IsString(v) || !v->valuestring[0])
        return bl_fail(BL_ERR_INVALID, "%s: cohort: expected a non-empty string", path);
    bl_status st = resolve_path(path, v->valuestring, c->cohort, sizeof c->cohort, "cohort");
    if (st) return st;
    if (!bl_is_file(c->cohort)) return bl_fail(BL_ERR_IO, "%s: cohort: %s: no such file", path, c->cohort);
    if (!cJSON_GetObjectItemCaseSensitive(root, "test_count"))
        return bl_fail(BL_ERR_INVALID, "%s: test_count: missing (expected the number of test rows)", path);
    if ((st = get_int(path, root, "test_count", 1, 100000000, &c->test_count))) return st;
    if ((st = get_int(path, root, "folds", 2, 100, &c->folds))) return st;
    int seed = 1;
    if ((st = get_int(path, root, "seed", 0, 0x7fffffffL, &seed))) return st;
    c->seed = (uint64_t)seed;
    if ((st = get_int(path, root, "epochs", 1, 100000, &c->epochs))) return st;
    if ((st = get_int(path, root, "batch", 2, 4096, &c->batch))) return st;
    if ((st = get_int(path, root, "size", 32, 1024, &c->size))) return st;
    if ((st = get_int(path, root, "freeze_backbone_epochs", 0, 100000, &c->freeze_backbone_epochs))) return st;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "lr"))) {
        if (!cJSON_IsNumber(v) || !(v->valuedouble >= 1e-12 && v->valuedouble < 10)) /* as blasto train: lr < 10 */
            return bl_fail(BL_ERR_INVALID, "%s: lr: expected a number in [1e-12, 10)", path);
        c->lr = v->valuedouble;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "optimizer"))) {
        const char *s = cJSON_IsString(v) ? v->valuestring : "";
        if (!strcmp(s, "adam")) c->optimizer = BL_OPTIM_ADAM;
        else if (!strcmp(s, "adamw")) c->optimizer = BL_OPTIM_ADAMW;
        else if (!strcmp(s, "sgd")) c->optimizer = BL_OPTIM_SGD;
        else return bl_fail(BL_ERR_INVALID, "%s: optimizer: expected adam, adamw or sgd, got '%s'", path, s);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "device"))) {
        const char *s = cJSON_IsString(v) ? v->valuestring : "";
        if (strcmp(s, "cpu") && strcmp(s, "cuda"))
            return bl_fail(BL_ERR_INVALID, "%s: device: expected cpu or cuda, got '%s'", path, s);
        bl_device_options_set(&c->device, s);
    }
    const char *flags[2] = {"deterministic", "tf32"};
    int *flag_values[2] = {&c->device.deterministic, &c->device.tf32};
    for (int f = 0; f < 2; f++)
        if ((v = cJSON_GetObjectItemCaseSensitive(root, flags[f]))) {
            if (!cJSON_IsBool(v)) return bl_fail(BL_ERR_INVALID, "%s: %s: expected true or false", path, flags[f]);
            *flag_values[f] = cJSON_IsTrue(v);
        }
    const cJSON *arr;
    int n = 0;
    if ((st = get_string_array(path, root, "archs", BL_EXPERIMENT_MAX_ARCHS, &arr, &n))) return st;
    if (arr) {
        c->n_archs = n;
        for (int i = 0; i < n; i++) {
            const char *name = cJSON_GetArrayItem(arr, i)->valuestring;
            if (bl_arch_from_name(name, &c->archs[i]))
                return bl_fail(BL_ERR_INVALID, "%s: archs[%d]: %s", path, i, skip_prefix(bl_last_error(), "arch: "));
            for (int j = 0; j < i; j++)
                if (c->archs[j] == c->archs[i]) return bl_fail(BL_ERR_INVALID, "%s: archs[%d]: '%s' twice", path, i, name);
        }
    }
    if ((st = get_string_array(path, root, "inputs", 2, &arr, &n))) return st;
    if (arr) {
        c->n_inputs = n;
        for (int i = 0; i < n; i++) {
            const char *name = cJSON_GetArrayItem(arr, i)->valuestring;
            if (bl_input_kind_parse(name, &c->inputs[i]))
                return bl_fail(BL_ERR_INVALID, "%s: inputs[%d]: %s", path, i, skip_prefix(bl_last_error(), "input: "));
            if (i == 1 && c->inputs[0] == c->inputs[1])
                return bl_fail(BL_ERR_INVALID, "%s: inputs[1]: '%s' twice", path, name);
        }
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "annotations"))) {
        const char *s = cJSON_IsString(v) ? v->valuestring : "";
        if (!strcmp(s, "manual")) c->annotations = BL_ANNOTATIONS_MANUAL;
        else if (!strcmp(s, "predicted")) c->annotations = BL_ANNOTATIONS_PREDICTED;
        else if (!strcmp(s, "both")) c->annotations = BL_ANNOTATIONS_BOTH;
        else return bl_fail(BL_ERR_INVALID, "%s: annotations: expected manual, predicted or both, got '%s'", path, s);
    }
    if ((st = get_int(path, root, "segment_epochs", 1, 100000, &c->segment.epochs))) return st;
    if ((st = get_int(path, root, "segment_batch", 1, 4096, &c->segment.batch))) return st;
    if ((st = get_int(path, root, "segment_width", 1, 512, &c->segment.unet.width))) return st;
    if ((st = get_int(path, root, "segment_size", 16, 2048, &c->segment.size))) return st;
    if (c->segment.size % (1 << c->segment.unet.depth))
        return bl_fail(BL_ERR_INVALID, "%s: segment_size: expected a multiple of %d (the U-Net halves it %d times), "
                       "got %d", path, 1 << c->segment.unet.depth, c->segment.unet.depth, c->segment.size);
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "demo"))) {
        if (!cJSON_IsBool(v)) return bl_fail(BL_ERR_INVALID, "%s: demo: expected true or false", path);
        c->demo = cJSON_IsTrue(v);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "weights_dir"))) {
        if (!cJSON_IsString(v) || !v->valuestring[0])
            return bl_fail(BL_ERR_INVALID, "%s: weights_dir: expected a non-empty string", path);
        if ((st = resolve_path(path, v->valuestring, c->weights_dir, sizeof c->weights_dir, "weights_dir"))) return st;
        for (int i = 0; i < c->n_archs; i++) {
            char w[1100];
            snprintf(w, sizeof w, "%s/%s.safetensors", c->weights_dir, bl_arch_name(c->archs[i]));
            if (!bl_is_file(w)) return bl_fail(BL_ERR_IO, "%s: weights_dir: %s: no such file", path, w);
        }
    }
    return BL_OK;
}

bl_status bl_experiment_config_read(const char *path, bl_experiment_config *c) {
    bl_train_options d;
    bl_train_options_default(&d);
    *c = (bl_experiment_config){.folds = 3, .seed = 1, .n_archs = 1, .archs = {BL_ARCH_RESNET50}, .n_inputs = 2,
                                .inputs = {BL_INPUT_ORIGINAL, BL_INPUT_ENHANCED}, .epochs = d.epochs,
                                .batch = d.batch, .size = d.size, .freeze_backbone_epochs = d.freeze_backbone_epochs,
                                .lr = d.lr, .optimizer = d.optimizer};
    bl_segment_options_default(&c->segment);
    char *text = NULL;
    size_t size = 0;
    bl_status st = bl_read_file(path, 1 << 20, &text, &size);
    if (st) return st;
    cJSON *root = NULL;
    st = bl_json_parse(text, size, path, &root);
    free(text);
    if (st) return st;
    st = config_from_json(path, root, c);
    cJSON_Delete(root);
    if (!st && strlen(path) >= sizeof c->config_path) st = bl_fail(BL_ERR_INVALID, "%s: path too long", path);
    if (!st) snprintf(c->config_path, sizeof c->config_path, "%s", path);
    return st;
}

void bl_experiment_mean_sd(int n, const double *x, double *mean, double *sd) {
    double s = 0, ss = 0;
    for (int i = 0; i < n; i++) s += x[i];
    double m = s / n;
    for (int i = 0; i < n; i++) ss += (x[i] - m) * (x[i] - m);
    *mean = m;
    *sd = n > 1 ? sqrt(ss / (n - 1)) : NAN;
}

/* ---- running ---- */

typedef struct exp_run {
    const bl_experiment_config *c;
    const bl_experiment_callbacks *cb;
    const char *out;
    int unit, units;          /* 1-based index of the current unit, total */
    int fold_units_run;       /* fold units computed in this invocation */
    double fold_seconds;      /* time spent on those */
    /* the whole-run progress display (bl_experiment_progress) */
    double t_start;           /* bl_seconds_now() at the start */
    int fold_units_todo;      /* fold units without metrics.json at the start: this invocation's training work */
    double work_done;         /* finished share of that work, in fold units (resumed trainings count their rest) */
    double unit_start_frac;   /* the current unit's training fraction when this invocation first saw it (−1: none) */
    double unit_frac;         /* the current unit's training fraction now */
    char unit_name[160];
    bl_train_callbacks train_cb; /* wraps cb->train: progress goes through progress_from_train */
    int n_timings, timings_cap;
    bl_experiment_timing *timings; /* one per unit, for run.json */
    int n_arms;
    bl_experiment_arm arms[BL_EXPERIMENT_MAX_ARMS];
    int lead;                 /* rank 0 (or the only process): reports the shared units */
} exp_run;

/* ETA of this invocation's training: elapsed time × (work left / work done), work in fold units. Each training
 * batch counts 0.85/batches of its epoch and each validation batch 0.15/batches (a validation pass sees about
 * half as many images as training and runs forward only). Test prediction, Grad-CAM and the tables are not in the
 * estimate (they take a few percent of a run). */
static void progress_from_train(void *user, const bl_train_progress *p) {
    exp_run *r = user;
    double in_epoch = p->batches > 0 ? (double)p->batch / p->batches : 0;
    double frac = (p->epoch + (p->validating ? 0.85 + 0.15 * in_epoch : 0.85 * in_epoch)) / (p->epochs > 0 ? p->epochs : 1);
    /* where this invocation picked the unit up: the start of the phase of its first batch (a resumed training
     * restarts at an epoch boundary) */
    if (r->unit_start_frac < 0)
        r->unit_start_frac = (p->epoch + (p->validating ? 0.85 : 0.0)) / (p->epochs > 0 ? p->epochs : 1);
    r->unit_frac = frac;
    double done = r->work_done + (frac - r->unit_start_frac);
    double total = r->fold_units_todo > 0 ? r->fold_units_todo : 1;
    double elapsed = bl_seconds_now() - r->t_start;
    bl_experiment_progress e = {.unit = r->unit, .units = r->units, .name = r->unit_name, .epoch = p->epoch,
                                .epochs = p->epochs, .batch = p->batch, .batches = p->batches,
                                .validating = p->validating, .loss = p->loss, .fraction = done / total,
                                .elapsed_s = elapsed, .eta_s = done > 0.002 ? elapsed * (total - done) / done : -1};
    if (e.fraction > 1) e.fraction = 1;
    if (e.eta_s < 0 && done > 0.002) e.eta_s = 0;
    if (r->cb && r->cb->progress) r->cb->progress(r->cb->user, &e);
    if (r->cb && r->cb->train && r->cb->train->progress) r->cb->train->progress(r->cb->train->user, p);
}

static void epoch_passthrough(void *user, const bl_train_epoch *e) {
    exp_run *r = user;
    if (r->cb && r->cb->train && r->cb->train->epoch_done) r->cb->train->epoch_done(r->cb->train->user, e);
}

static void note_passthrough(void *user, const char *line) {
    exp_run *r = user;
    if (r->cb && r->cb->train && r->cb->train->note) r->cb->train->note(r->cb->train->user, line);
}

static void report(exp_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void segment_epoch(void *user, const bl_segment_epoch *e) {
    exp_run *r = user;
    report(r, "%s: segmenter epoch %d: validation Jaccard ICM %.3f, TE %.3f%s", r->unit_name, e->epoch + 1,
           e->jaccard[BL_SEG_ICM], e->jaccard[BL_SEG_TE], e->best ? " (best)" : "");
}

static void add_timing(exp_run *r, const char *unit, const char *status, double seconds) {
    if (r->n_timings >= r->timings_cap) return;
    bl_experiment_timing *t = &r->timings[r->n_timings++];
    snprintf(t->unit, sizeof t->unit, "%s", unit);
    snprintf(t->status, sizeof t->status, "%s", status);
    t->seconds = seconds;
}

static void report(exp_run *r, const char *fmt, ...) {
    if (!r->cb || !r->cb->unit) return;
    char line[1400], eta[32] = "--:--";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    double done = r->work_done, total = r->fold_units_todo, elapsed = bl_seconds_now() - r->t_start;
    if (done >= total) snprintf(eta, sizeof eta, "00:00");
    else if (done > 0.002) {
        double left = elapsed * (total - done) / done;
        snprintf(eta, sizeof eta, "%02d:%02d", (int)(left / 60), (int)fmod(left, 60));
    }
    char full[1500];
    snprintf(full, sizeof full, "[%d/%d] %s  ETA %s", r->unit, r->units, line, eta);
    r->cb->unit(r->cb->user, full);
}

static bl_status join(char *dst, size_t size, const char *a, const char *b) {
    int n = snprintf(dst, size, "%s/%s", a, b);
    if (n < 0 || (size_t)n >= size) return bl_fail(BL_ERR_INVALID, "%s/%s: path too long", a, b);
    return BL_OK;
}

/* a ⊕ b → dst[size] (b may be ""), failing when it does not fit */
static bl_status copy2(char *dst, size_t size, const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la + lb >= size) return bl_fail(BL_ERR_INVALID, "%s%s: path too long", a, b);
    memcpy(dst, a, la);
    memcpy(dst + la, b, lb + 1);
    return BL_OK;
}

static bl_status unit_split(exp_run *r, bl_split **split) {
    char path[1100];
    bl_status st = join(path, sizeof path, r->out, "split.csv");
    if (st) return st;
    if (bl_is_file(path)) {
        report(r, "split.csv: skipped (exists)");
        return bl_split_read(path, r->c->folds, split);
    }
    bl_split_options so;
    bl_split_options_default(&so);
    so.test_count = r->c->test_count;
    so.folds = r->c->folds;
    so.seed = r->c->seed;
    if (!(st = bl_split_cohort_file(r->c->cohort, &so, split))) st = bl_split_write(*split, path);
    if (!st) report(r, "split.csv: %d rows, %d test, %d folds", (*split)->n, (*split)->n_test, (*split)->folds);
    return st;
}

static void run_name(const exp_run *r, int a, int i, int k, char *dst, size_t size) {
    bl_experiment_unit_name(r->c, a, &r->arms[i], k, dst, size);
}

/* The training of a fold: skipped when last.safetensors says finished and best.safetensors + validation.csv exist,
 * resumed when last.safetensors exists unfinished, else started. */
static bl_status train_fold(exp_run *r, int a, int i, int k, const char *dir, const char *split_path) {
    char last[1200], best[1200], val[1200];
    bl_status st = join(last, sizeof last, dir, "last.safetensors");
    if (!st) st = join(best, sizeof best, dir, "best.safetensors");
    if (!st) st = join(val, sizeof val, dir, "validation.csv");
    if (st) return st;
    bl_train_options o;
    bl_train_options_default(&o);
    if (bl_is_file(last)) {
        bl_safetensors *ck = NULL;
        bl_train_state s = {0};
        if (!(st = bl_safetensors_open(last, &ck))) st = bl_checkpoint_read_meta(ck, &o, &s);
        bl_safetensors_close(ck);
        free(s.log);
        if (st) return st;
        if (s.finished && bl_is_file(best) && bl_is_file(val)) return BL_OK;
        bl_train_options_default(&o);
        if ((st = copy2(o.out, sizeof o.out, dir, ""))) return st;
        o.resume = 1;
        o.device = r->c->device;
        return bl_train_run(&o, &r->train_cb);
    }
    const bl_experiment_config *c = r->c;
    char w[1200];
    snprintf(w, sizeof w, "/%s.safetensors", bl_arch_name(c->archs[a]));
    char fold_cohort[1300];
    bl_experiment_fold_cohort(c, r->out, k, &r->arms[i], fold_cohort, sizeof fold_cohort);
    st = copy2(o.cohort, sizeof o.cohort, fold_cohort, "");
    if (!st) st = copy2(o.split, sizeof o.split, split_path, "");
    if (!st) st = copy2(o.out, sizeof o.out, dir, "");
    if (!st) st = c->weights_dir[0] ? copy2(o.weights, sizeof o.weights, c->weights_dir, w)
                                    : copy2(o.weights, sizeof o.weights, "none", "");
    if (st) return st;
    o.fold = k;
    o.arch = c->archs[a];
    o.input = r->arms[i].input;
    o.preset = bl_train_preset_for_weights(o.arch, o.weights);
    o.epochs = c->epochs;
    o.batch = c->batch;
    o.size = c->size;
    o.lr = c->lr;
    o.optimizer = c->optimizer;
    o.freeze_backbone_epochs = c->freeze_backbone_epochs;
    o.seed = c->seed;
    o.device = c->device;
    return bl_train_run(&o, &r->train_cb);
}

/* Scores the test rows (cohort order) with dir/best.safetensors → dir/test.csv; confusion at 0.5 + AUROC →
 * dir/metrics.json. */
static bl_status test_fold(exp_run *r, int k, const char *dir, const bl_cohort *cohort, const bl_split *split) {
    char best[1200], test[1200], mpath[1200];
    bl_status st = join(best, sizeof best, dir, "best.safetensors");
    if (!st) st = join(test, sizeof test, dir, "test.csv");
    if (!st) st = join(mpath, sizeof mpath, dir, "metrics.json");
    if (st) return st;
    bl_safetensors *ck = NULL;
    bl_cohort_row *rows = calloc((size_t)cohort->n, sizeof *rows);
    double *scores = calloc((size_t)cohort->n, sizeof *scores);
    int *labels = calloc((size_t)cohort->n, sizeof *labels);
    bl_predictions *p = NULL;
    bl_train_options o;
    bl_train_state s = {0};
    int n = 0;
    if (!rows || !scores || !labels) st = bl_fail(BL_ERR_NOMEM, "out of memory");
    for (int j = 0; !st && j < cohort->n; j++) {
        int q = bl_split_find(split, cohort->rows[j].id);
        if (q >= 0 && split->rows[q].is_test) labels[n] = cohort->rows[j].label, rows[n++] = cohort->rows[j];
    }
    if (!st && n == 0) st = bl_fail(BL_ERR_INVALID, "%s: the split has no test rows", r->c->cohort);
    if (!st) st = bl_safetensors_open(best, &ck);
    if (!st) st = bl_checkpoint_read_meta(ck, &o, &s);
    if (!st) st = bl_checkpoint_score(ck, rows, n, 1, &r->c->device, scores);
    if (!st && !(p = bl_predictions_new(n))) st = bl_fail(BL_ERR_NOMEM, "out of memory");
    if (!st) {
        for (int j = 0; j < n; j++)
            p->rows[j] = (bl_prediction){.id = strdup(rows[j].id), .label = rows[j].label, .score = scores[j]};
        p->arch = strdup(bl_arch_name(o.arch));
        p->input = strdup(bl_input_kind_name(o.input));
        p->fold = k;
        st = bl_predictions_write(test, p);
    }
    double auc = 0;
    bl_confusion cm;
    if (!st) st = bl_auroc(n, scores, labels, &auc);
    if (!st) st = bl_confusion_at(n, scores, labels, 0.5, &cm);
    if (!st) {
        char text[2048];
        int len = snprintf(text, sizeof text,
                           "{\n  \"arch\": \"%s\",\n  \"input\": \"%s\",\n  \"fold\": %d,\n  \"set\": \"test\",\n"
                           "  \"n\": %d,\n  \"threshold\": 0.5,\n  \"auroc\": %.17g,\n  \"accuracy\": %.17g,\n"
                           "  \"sensitivity\": %.17g,\n  \"specificity\": %.17g,\n  \"tp\": %d,\n  \"fp\": %d,\n"
                           "  \"tn\": %d,\n  \"fn\": %d,\n  \"best_epoch\": %d\n}\n",
                           bl_arch_name(o.arch), bl_input_kind_name(o.input), k, n, auc, cm.accuracy,
                           cm.sensitivity, cm.specificity, cm.tp, cm.fp, cm.tn, cm.fn, s.best_epoch + 1);
        if (len < 0 || len >= (int)sizeof text) st = bl_fail(BL_ERR_INVALID, "%s: metrics text too long", mpath);
        else st = bl_write_file_atomic(mpath, text, (size_t)len);
    }
    bl_predictions_free(p);
    bl_safetensors_close(ck);
    free(s.log);
    free(rows);
    free(scores);
    free(labels);
    return st;
}

/* Which rank runs each of n units: the longest processing time rule — units by decreasing cost (ties: unit order),
 * each to the rank with the least cost so far (ties: the lowest rank). cost ≤ 0: done already, no rank (−1). Every
 * rank computes the same owners from the same files, so no message is needed. */
static bl_status assign_units(const bl_world *w, int n, const double *cost, int *owner) {
    int *order = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    double *load = calloc((size_t)w->size, sizeof *load);
    if (!order || !load) {
        free(order);
        free(load);
        return bl_fail(BL_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) order[i] = i, owner[i] = -1;
    for (int i = 1; i < n; i++) /* insertion sort: stable, n is small */
        for (int j = i; j > 0 && cost[order[j]] > cost[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1], order[j - 1] = t;
        }
    for (int i = 0; i < n && cost[order[i]] > 0; i++) {
        int best = 0;
        for (int q = 1; q < w->size; q++)
            if (load[q] < load[best]) best = q;
        owner[order[i]] = best;
        load[best] += cost[order[i]];
    }
    free(order);
    free(load);
    return BL_OK;
}

/* A fold unit's cost for assign_units: the backbone's forward GFLOPs at 224×224 (every fold of an experiment sees
 * about the same number of images). */
static double arch_cost(bl_arch a) {
    return a == BL_ARCH_VGG16 ? 15.5 : a == BL_ARCH_DENSENET121 ? 2.9 : 4.1;
}

/* A non-fold unit: skipped when `skip`, else run by fn; one progress line and one timing either way. */
#define TABLE_UNIT(r, st, name, skip, call, done_line)                                                         \
    do {                                                                                                       \
        (r)->unit++;                                                                                           \
        if (st) break;                                                                                         \
        double t0_ = bl_seconds_now();                                                                                  \
        if (skip) {                                                                                            \
            if ((r)->lead) report(r, "%s: skipped (exists)", name);                                            \
            add_timing(r, name, "skipped", 0);                                                                 \
        } else if (!((st) = (call))) {                                                                         \
            add_timing(r, name, "ran", bl_seconds_now() - t0_);                                                         \
            if ((r)->lead) report done_line;                                                                   \
        }                                                                                                      \
    } while (0)

bl_status bl_experiment_run(const bl_experiment_config *c, const char *out_dir, const bl_experiment_callbacks *cb) {
    static const bl_world one = {.rank = 0, .size = 1, .local_size = 1};
    const bl_world *w = c->world ? c->world : &one;
    int lead = w->rank == 0; /* rank 0: the folder, the split, the tables, the report; every rank: its units */
    int with_delong = c->n_inputs == 2; /* both inputs: DeLong and the Grad-CAM unit */
    exp_run r = {.c = c, .cb = cb, .out = out_dir, .lead = lead,
                 .t_start = bl_seconds_now(), .unit_start_frac = -1};
    time_t started = time(NULL);
    r.train_cb = (bl_train_callbacks){.user = &r, .progress = progress_from_train, .epoch_done = epoch_passthrough,
                                      .note = note_passthrough};
    r.n_arms = bl_experiment_arms(c, r.arms);
    int n_fold = c->n_archs * r.n_arms * c->folds;
    int with_segment = 0, with_masks = c->annotations == BL_ANNOTATIONS_BOTH, io = -1, ie = -1, ip = -1;
    for (int i = 0; i < r.n_arms; i++) {
        with_segment |= r.arms[i].predicted;
        if (r.arms[i].input == BL_INPUT_ORIGINAL) io = i;
        else if (!r.arms[i].predicted && ie < 0) ie = i;
        else if (r.arms[i].predicted && ip < 0) ip = i;
    }
    if (ie < 0) ie = ip; /* "predicted": the enhanced arm is the predicted one */
    with_masks = with_masks && ie >= 0 && ip >= 0 && ie != ip;
    int n_seg = with_segment ? c->folds : 0;
    /* split, [segment units, segmentation.csv], folds, tables, calibration, gradcam, report */
    r.units = 5 + n_fold + 2 * with_delong + (with_segment ? c->folds + 1 : 0) + with_masks;
    r.timings_cap = r.units;
    bl_split *split = NULL;
    bl_cohort *cohort = NULL;
    char runs[1100], split_path[1100] = "", path[1100];
    /* per segment unit, then per fold unit: its cost (0 = done), the rank that runs it, and the seconds it took
     * there (summed over the ranks: the others add 0) */
    int n_all = n_seg + n_fold;
    double *cost = calloc((size_t)n_all + 1, sizeof *cost), *seconds = calloc((size_t)n_all + 1, sizeof *seconds);
    int *owner = calloc((size_t)n_all + 1, sizeof *owner);
    bl_status st = (r.timings = calloc((size_t)r.units, sizeof *r.timings)) && cost && seconds && owner
                       ? BL_OK : bl_fail(BL_ERR_NOMEM, "out of memory");
    int created = 0, lock = -1;
    bl_experiment_fingerprint fp;
    if (!st && lead) st = bl_make_dir(out_dir, &created);
    if (!st && lead) st = bl_lock_dir(out_dir, &lock); /* one experiment per folder at a time */
    /* what produces the results: a folder holding another run's results is refused (or, asked, emptied) */
    char changed[128] = "";
    if (!st) st = bl_cohort_read(c->cohort, 1, &cohort);
    if (!st && lead) st = bl_experiment_fingerprint_compute(c, cohort, &fp);
    if (!st && lead) st = bl_experiment_fingerprint_check(c, out_dir, &fp, changed, sizeof changed);
    if (!st && changed[0]) report(&r, "fingerprint %s: results of a different run removed (changed: %s)", fp.whole, changed);
    if (!st) st = join(runs, sizeof runs, out_dir, "runs");
    if (!st) st = join(split_path, sizeof split_path, out_dir, "split.csv");
    if (!st && lead) st = bl_make_dir(runs, NULL);
    r.unit = 1;
    if (!st && lead) {
        double t0 = bl_seconds_now();
        int existed = bl_is_file(split_path);
        st = unit_split(&r, &split);
        if (!st) add_timing(&r, "split.csv", existed ? "skipped" : "ran", existed ? 0 : bl_seconds_now() - t0);
    }
    st = bl_world_agree(w, st);
    if (!st && !lead) st = bl_split_read(split_path, c->folds, &split);
    /* the units and their ranks; this rank's training work: its fold units without metrics.json */
    for (int k = 0; !st && k < n_seg; k++) {
        char mpath[1300];
        bl_experiment_segment_dir(out_dir, k, "metrics.json", mpath, sizeof mpath);
        cost[k] = bl_is_file(mpath) ? 0 : 1;
    }
    for (int a = 0, u = n_seg; !st && a < c->n_archs; a++)
        for (int i = 0; i < r.n_arms; i++)
            for (int k = 0; k < c->folds; k++, u++) {
                char name[128], mpath[1400];
                run_name(&r, a, i, k, name, sizeof name);
                snprintf(mpath, sizeof mpath, "%s/%s/metrics.json", runs, name);
                cost[u] = bl_is_file(mpath) ? 0 : arch_cost(c->archs[a]);
            }
    if (!st) st = assign_units(w, n_seg, cost, owner);
    if (!st) st = assign_units(w, n_fold, cost + n_seg, owner + n_seg);
    for (int u = n_seg; !st && u < n_all; u++) r.fold_units_todo += owner[u] == w->rank;
    int segment_units_run = 0;
    for (int k = 0; with_segment && !st && k < c->folds; k++) {
        char name[64];
        snprintf(name, sizeof name, "segment/f%d", k);
        r.unit++;
        if (owner[k] != w->rank) {
            if (owner[k] < 0 && lead) report(&r, "%s: skipped (metrics.json exists)", name);
            continue;
        }
        double t0 = bl_seconds_now();
        bl_cohort *own = NULL; /* the unit points its rows at the predictions: a copy of its own */
        bl_segment_callbacks scb = {.user = &r, .epoch_done = segment_epoch, .note = note_passthrough};
        snprintf(r.unit_name, sizeof r.unit_name, "%s", name);
        st = bl_cohort_read(c->cohort, 1, &own);
        if (!st) st = bl_experiment_segment_fold(c, own, split, split_path, out_dir, k, &scb);
        bl_cohort_free(own);
        if (st) break;
        seconds[k] = bl_seconds_now() - t0;
        report(&r, "%s: segmenter trained, pred/ and metrics.json written (%.1f s)", name, seconds[k]);
    }
    st = bl_world_agree(w, st); /* the fold units of predicted arms read every segment unit's predictions */
    int first_seg_timing = r.n_timings;
    for (int k = 0; !st && k < n_seg; k++) {
        char name[64];
        snprintf(name, sizeof name, "segment/f%d", k);
        segment_units_run += owner[k] >= 0;
        add_timing(&r, name, owner[k] >= 0 ? "ran" : "skipped", 0); /* the seconds come below */
    }
    if (with_segment && lead) {
        if (!st) st = join(path, sizeof path, out_dir, "segmentation.csv");
        TABLE_UNIT(&r, st, "segmentation.csv", !segment_units_run && bl_is_file(path),
                   bl_experiment_segmentation_table(c, out_dir, path), (&r, "segmentation.csv written"));
    } else if (with_segment) {
        r.unit++;
    }
    int first_fold_timing = r.n_timings;
    for (int a = 0, u = n_seg; !st && a < c->n_archs; a++)
        for (int i = 0; !st && i < r.n_arms; i++)
            for (int k = 0; !st && k < c->folds; k++, u++) {
                char name[128], dir[1300];
                run_name(&r, a, i, k, name, sizeof name);
                snprintf(dir, sizeof dir, "%s/%s", runs, name);
                snprintf(r.unit_name, sizeof r.unit_name, "runs/%s", name);
                add_timing(&r, r.unit_name, owner[u] >= 0 ? "ran" : "skipped", 0);
                r.unit++;
                if (owner[u] != w->rank) {
                    if (owner[u] < 0 && lead) report(&r, "runs/%s: skipped (metrics.json exists)", name);
                    continue;
                }
                double t0 = bl_seconds_now();
                r.unit_start_frac = -1;
                r.unit_frac = 0;
                st = train_fold(&r, a, i, k, dir, split_path);
                if (!st && r.arms[i].predicted) {
                    char fold_cohort[1300]; /* the test rows enhanced from their predicted masks */
                    bl_cohort *fc = NULL;
                    bl_experiment_fold_cohort(c, out_dir, k, &r.arms[i], fold_cohort, sizeof fold_cohort);
                    st = bl_cohort_read(fold_cohort, 1, &fc);
                    if (!st) st = test_fold(&r, k, dir, fc, split);
                    bl_cohort_free(fc);
                } else if (!st) {
                    st = test_fold(&r, k, dir, cohort, split);
                }
                if (st) break;
                /* a training resumed at fraction f0 (or skipped as finished: no progress at all) did 1 − f0 */
                r.work_done += r.unit_start_frac < 0 ? 1.0 : 1.0 - r.unit_start_frac;
                seconds[u] = bl_seconds_now() - t0;
                r.fold_seconds += seconds[u];
                report(&r, "runs/%s: trained, test.csv and metrics.json written (%.1f s)", name, seconds[u]);
            }
    st = bl_world_agree(w, st); /* the tables and Grad-CAM read every fold unit */
    if (!st) st = bl_world_allreduce_sum_f64(w, seconds, n_all);
    for (int u = 0; !st && u < n_all; u++) {
        int t = u < n_seg ? first_seg_timing + u : first_fold_timing + u - n_seg;
        if (t < r.n_timings) r.timings[t].seconds = seconds[u];
        r.fold_units_run += u >= n_seg && owner[u] >= 0;
    }
    if (lead) {
        /* the tables: recomputed when missing or when a fold unit ran now */
        if (!st) st = join(path, sizeof path, out_dir, "table2.csv");
        TABLE_UNIT(&r, st, "table2.csv", !r.fold_units_run && bl_is_file(path), bl_experiment_table2(c, out_dir),
                   (&r, "table2.csv written"));
        if (with_delong) {
            if (!st) st = join(path, sizeof path, out_dir, "delong.csv");
            TABLE_UNIT(&r, st, "delong.csv", !r.fold_units_run && bl_is_file(path),
                       bl_experiment_delong(c, out_dir, &r.arms[io], &r.arms[ie], "original", "enhanced", "delong.csv"),
                       (&r, "delong.csv written"));
        }
        if (with_masks) { /* the enhanced input on manual against predicted masks */
            if (!st) st = join(path, sizeof path, out_dir, "delong_masks.csv");
            TABLE_UNIT(&r, st, "delong_masks.csv", !r.fold_units_run && bl_is_file(path),
                       bl_experiment_delong(c, out_dir, &r.arms[ie], &r.arms[ip], "manual", "predicted",
                                            "delong_masks.csv"),
                       (&r, "delong_masks.csv written"));
        }
        /* Table 1: depends on the cohort only */
        if (!st) st = join(path, sizeof path, out_dir, "table1.csv");
        TABLE_UNIT(&r, st, "table1.csv", bl_is_file(path), bl_experiment_table1(cohort, path), (&r, "table1.csv written"));
        /* calibration of the best fold unit: the rule of the tables */
        char best[128] = "";
        if (!st) st = join(path, sizeof path, out_dir, "calibration.json");
        TABLE_UNIT(&r, st, "calibration.json", !r.fold_units_run && bl_is_file(path),
                   bl_experiment_calibration(c, out_dir, best, sizeof best),
                   (&r, "calibration.json written (isotonic on runs/%s)", best));
    } else {
        r.unit += 3 + with_delong + with_masks;
    }
    /* Grad-CAM of the best original and best enhanced unit, Table 3: the rule of the tables, and recomputed when
     * one of its files is missing; every rank takes part (bl_experiment_gradcam) */
    if (with_delong) {
        char units[2][128], f0[1400], f1[1400];
        int done = 0;
        st = bl_world_agree(w, st);
        if (!st) st = join(path, sizeof path, out_dir, "table3.csv");
        if (!st && !r.fold_units_run && bl_is_file(path) && !(st = bl_experiment_gradcam_units(c, out_dir, units))) {
            snprintf(f0, sizeof f0, "%s/gradcam/%s/focus.csv", out_dir, units[0]);
            snprintf(f1, sizeof f1, "%s/gradcam/%s/focus.csv", out_dir, units[1]);
            done = bl_is_file(f0) && bl_is_file(f1);
        }
        TABLE_UNIT(&r, st, "gradcam + table3.csv", done, bl_experiment_gradcam(c, cohort, out_dir, units),
                   (&r, "gradcam/%s, gradcam/%s and table3.csv written", units[0], units[1]));
    }
    if (!st && lead) {
        const char *dev = c->device.name[0] ? c->device.name : "cpu";
        char backend[64];
        snprintf(backend, sizeof backend, "%s%s%s", dev, c->device.deterministic ? ", deterministic" : "",
                 c->device.tf32 ? ", tf32" : "");
        st = bl_experiment_write_run_json(c, out_dir, backend, dev, started, time(NULL), r.n_timings, r.timings, &fp);
    }
    /* the report: always rewritten (it shows run.json's timings of this invocation) */
    r.unit++;
    if (!st && lead) st = bl_report_write(out_dir, NULL);
    if (!st && lead) report(&r, "report.html written");
    bl_cohort_free(cohort);
    bl_split_free(split);
    free(r.timings);
    free(cost);
    free(seconds);
    free(owner);
    /* a folder this invocation made and that holds no split yet has nothing to resume from: it goes */
    if (st && created && !bl_is_file(split_path)) bl_remove_tree(out_dir);
    bl_unlock_dir(lock);
    return st;
}
