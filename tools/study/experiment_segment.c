/* experiment_segment.c — the study on predicted ICM/TE masks (experiment.h, "segmentation units";
 * docs/experiment.md, "Predicted annotations"). */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/fileio.h"
#include "core/status.h"
#include "study/experiment.h"
#include "study/files.h"
#include "study/image.h"
#include "study/json.h"
#include "study/segment.h"
#include "study/segment_predict.h"
#include "study/segment_train.h"
#include "study/split.h"
#include "study/svg.h"

void bl_experiment_segment_dir(const char *out_dir, int k, const char *name, char *path, size_t size) {
    snprintf(path, size, "%s/segment/f%d%s%s", out_dir, k, name[0] ? "/" : "", name);
}

int bl_experiment_arms(const bl_experiment_config *c, bl_experiment_arm arms[BL_EXPERIMENT_MAX_ARMS]) {
    int n = 0;
    for (int i = 0; i < c->n_inputs; i++) {
        int enhanced = c->inputs[i] == BL_INPUT_ENHANCED;
        arms[n++] = (bl_experiment_arm){c->inputs[i], enhanced && c->annotations == BL_ANNOTATIONS_PREDICTED,
                                        bl_input_kind_name(c->inputs[i])};
        if (enhanced && c->annotations == BL_ANNOTATIONS_BOTH)
            arms[n++] = (bl_experiment_arm){BL_INPUT_ENHANCED, 1, "enhanced-predicted"};
    }
    return n;
}

void bl_experiment_unit_name(const bl_experiment_config *c, int arch, const bl_experiment_arm *arm, int k, char *dst,
                             size_t size) {
    snprintf(dst, size, "%s-%s-f%d", bl_arch_name(c->archs[arch]), arm->name, k);
}

void bl_experiment_fold_cohort(const bl_experiment_config *c, const char *out_dir, int k, const bl_experiment_arm *arm,
                               char *path, size_t size) {
    if (arm->predicted) bl_experiment_segment_dir(out_dir, k, "pred/cohort.csv", path, size);
    else snprintf(path, size, "%s", c->cohort);
}

void bl_experiment_unit_cohort(const bl_experiment_config *c, const char *out_dir, const char *unit, char *path,
                               size_t size) {
    bl_experiment_arm arms[BL_EXPERIMENT_MAX_ARMS];
    int n = bl_experiment_arms(c, arms);
    for (int a = 0; a < c->n_archs; a++)
        for (int i = 0; i < n; i++)
            for (int k = 0; k < c->folds; k++) {
                char name[160];
                bl_experiment_unit_name(c, a, &arms[i], k, name, sizeof name);
                if (!strcmp(name, unit)) {
                    bl_experiment_fold_cohort(c, out_dir, k, &arms[i], path, size);
                    return;
                }
            }
    snprintf(path, size, "%s", c->cohort);
}

/* Per-image Dice and Jaccard of ICM and TE, for the test rows that have a manual annotation. */
typedef struct seg_scores {
    const bl_split *split;
    const char *gallery; /* folder for the outline overlays of the first BL_EXPERIMENT_OVERLAYS scored images */
    int n, cap;
    double *v[4]; /* jaccard_icm, jaccard_te, dice_icm, dice_te, one per scored image */
} seg_scores;

/* 1 where labels[i] is ICM or TE and a 4-neighbour (or the image edge) is another class: the outline */
static int on_border(const uint8_t *labels, int w, int h, int64_t i) {
    uint8_t c = labels[i];
    if (c != BL_SEG_ICM && c != BL_SEG_TE) return 0;
    int y = (int)(i / w), x = (int)(i % w);
    return x == 0 || y == 0 || x == w - 1 || y == h - 1 || labels[i - 1] != c || labels[i + 1] != c ||
           labels[i - w] != c || labels[i + w] != c;
}

/* gallery/<id>.png: the grey image with the manual outlines in green, the predicted ones in magenta, white where
 * they coincide (both classes' borders, ICM and TE alike) */
static bl_status write_outlines(const char *dir, const bl_cohort_row *row, const uint8_t *truth, const uint8_t *pred,
                                int w, int h) {
    bl_image grey = {0}, out = {0};
    bl_status st = bl_image_load(row->image, 1, &grey);
    if (!st && (grey.width != w || grey.height != h))
        st = bl_fail(BL_ERR_FORMAT, "%s: %dx%d, expected %dx%d", row->image, grey.width, grey.height, w, h);
    if (!st) st = bl_image_alloc(&out, w, h, 3);
    for (int64_t i = 0; !st && i < (int64_t)w * h; i++) {
        int manual = on_border(truth, w, h, i), predicted = on_border(pred, w, h, i);
        uint8_t g = grey.pixels[i], *o = out.pixels + 3 * i;
        o[0] = manual && !predicted ? 0 : predicted ? 255 : g;
        o[1] = manual ? (predicted ? 255 : 200) : predicted ? 0 : g;
        o[2] = manual && !predicted ? 0 : predicted ? 255 : g;
    }
    char path[1600];
    if (!st && snprintf(path, sizeof path, "%s/%s.png", dir, row->id) >= (int)sizeof path)
        st = bl_fail(BL_ERR_INVALID, "%s/%s.png: path too long", dir, row->id);
    if (!st) st = bl_image_save_png(&out, path);
    bl_image_free(&grey);
    bl_image_free(&out);
    return st;
}

static bl_status score_row(void *user, const bl_cohort_row *row, const uint8_t *labels, int w, int h) {
    seg_scores *s = user;
    int q = bl_split_find(s->split, row->id);
    if (q < 0 || !s->split->rows[q].is_test || (!row->annotation && !row->icm_mask)) return BL_OK;
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        for (int m = 0; m < 4; m++) {
            double *grown = realloc(s->v[m], sizeof(double) * (size_t)s->cap);
            if (!grown) return bl_fail(BL_ERR_NOMEM, "out of memory");
            s->v[m] = grown;
        }
    }
    bl_enhance_options eo;
    bl_enhance_options_default(&eo);
    uint8_t *truth = malloc((size_t)w * (size_t)h);
    if (!truth) return bl_fail(BL_ERR_NOMEM, "out of memory");
    bl_status st = bl_seg_row_labels(row, &eo, w, h, truth);
    if (!st) {
        bl_seg_counts counts = {0};
        bl_seg_count(truth, labels, (int64_t)w * h, &counts);
        s->v[0][s->n] = bl_seg_jaccard(&counts, BL_SEG_ICM);
        s->v[1][s->n] = bl_seg_jaccard(&counts, BL_SEG_TE);
        s->v[2][s->n] = bl_seg_dice(&counts, BL_SEG_ICM);
        s->v[3][s->n] = bl_seg_dice(&counts, BL_SEG_TE);
        if (s->n < BL_EXPERIMENT_OVERLAYS) st = write_outlines(s->gallery, row, truth, labels, w, h);
        s->n++;
    }
    free(truth);
    return st;
}

static const char *const MEASURE_KEYS[4] = {"jaccard_icm", "jaccard_te", "dice_icm", "dice_te"};

/* A JSON number, or null for an undefined one (JSON has no NaN). */
static const char *json_number(char *buf, size_t size, double v) {
    if (isnan(v)) snprintf(buf, size, "null");
    else snprintf(buf, size, "%.17g", v);
    return buf;
}

static bl_status write_metrics(const char *path, int k, int epoch, const seg_scores *s) {
    bl_strbuf b = {0};
    bl_strbuf_printf(&b, "{\n  \"fold\": %d,\n  \"set\": \"test\",\n  \"n\": %d,\n  \"segmenter_epochs\": %d", k,
                     s->n, epoch);
    for (int m = 0; m < 4; m++) {
        double mean = NAN, sd = NAN; /* the mean of one image is itself; its SD is undefined */
        if (s->n >= 2) bl_experiment_mean_sd(s->n, s->v[m], &mean, &sd);
        else if (s->n == 1) mean = s->v[m][0];
        char x[32], y[32];
        bl_strbuf_printf(&b, ",\n  \"%s\": {\"mean\": %s, \"sd\": %s}", MEASURE_KEYS[m],
                         json_number(x, sizeof x, mean), json_number(y, sizeof y, sd));
    }
    bl_strbuf_append(&b, "\n}\n");
    bl_status st = b.failed ? bl_fail(BL_ERR_NOMEM, "out of memory") : bl_write_file_atomic(path, b.data, b.len);
    bl_strbuf_free(&b);
    return st;
}

/* pred.tmp-<pid> folders a killed run left in dir (a signal's cleanup removes them; kill -9 cannot) */
static void remove_stale_stages(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strncmp(e->d_name, "pred.tmp-", 9) != 0) continue;
        char path[1600];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path) bl_remove_tree(path);
    }
    if (d) closedir(d);
}

bl_status bl_experiment_segment_fold(const bl_experiment_config *c, bl_cohort *cohort, const bl_split *split,
                                     const char *split_path, const char *out_dir, int k,
                                     const bl_segment_callbacks *cb) {
    char dir[1200], last[1300], best[1300], pred[1300], metrics[1300], gallery[1300];
    bl_experiment_segment_dir(out_dir, k, "", dir, sizeof dir);
    bl_experiment_segment_dir(out_dir, k, "last.safetensors", last, sizeof last);
    bl_experiment_segment_dir(out_dir, k, "best.safetensors", best, sizeof best);
    bl_experiment_segment_dir(out_dir, k, "pred", pred, sizeof pred);
    bl_experiment_segment_dir(out_dir, k, "metrics.json", metrics, sizeof metrics);
    bl_experiment_segment_dir(out_dir, k, "gallery", gallery, sizeof gallery);
    char parent[1200];
    snprintf(parent, sizeof parent, "%s/segment", out_dir);
    bl_status st = bl_make_dir(parent, NULL);
    if (st) return st;
    /* training: started, or resumed from last.safetensors (a finished one returns at once) */
    bl_segment_options o = c->segment;
    const char *from[3] = {c->cohort, split_path, dir};
    char *to[3] = {o.cohort, o.split, o.out};
    for (int i = 0; i < 3; i++) {
        size_t len = strlen(from[i]);
        if (len >= sizeof o.out) return bl_fail(BL_ERR_INVALID, "%s: path too long (%zu bytes)", from[i], len);
        memcpy(to[i], from[i], len + 1);
    }
    o.fold = k;
    o.seed = c->seed;
    o.device = c->device;
    o.resume = bl_is_file(last);
    st = bl_segment_train(&o, cb);
    if (st) return st;
    /* predictions of the fold's validation and test rows; a pred/ left by an interrupted run is rebuilt */
    int *chosen = calloc((size_t)cohort->n + 1, sizeof *chosen), n = 0;
    if (!chosen) return bl_fail(BL_ERR_NOMEM, "out of memory");
    for (int j = 0; j < cohort->n; j++) {
        int q = bl_split_find(split, cohort->rows[j].id);
        if (q >= 0 && (split->rows[q].is_test || split->rows[q].fold == k)) chosen[n++] = j;
    }
    bl_remove_tree(pred);
    bl_remove_tree(gallery);
    remove_stale_stages(dir);
    bl_status made = bl_make_dir(gallery, NULL);
    if (made) {
        free(chosen);
        return made;
    }
    bl_segmenter *seg = NULL;
    seg_scores scores = {.split = split, .gallery = gallery};
    bl_segment_predict_callbacks pcb = {.user = &scores, .labels = score_row};
    st = bl_segmenter_open(best, &c->device, &seg);
    if (!st) st = bl_segment_predict_dir(seg, cohort, chosen, n, 1, pred, &pcb);
    if (!st) st = write_metrics(metrics, k, seg->epoch, &scores);
    bl_segmenter_free(seg);
    for (int m = 0; m < 4; m++) free(scores.v[m]);
    free(chosen);
    return st;
}

/* One fold's metrics.json → mean[4] and sd[4] over its test images (NaN where null) and its n. */
static bl_status read_fold(const char *path, double mean[4], double sd[4], int *n) {
    char *text = NULL;
    size_t size = 0;
    cJSON *root = NULL;
    bl_status st = bl_read_file(path, 1 << 20, &text, &size);
    if (!st) st = bl_json_parse(text, size, path, &root);
    const cJSON *count = root ? cJSON_GetObjectItemCaseSensitive(root, "n") : NULL;
    if (!st && !cJSON_IsNumber(count)) st = bl_fail(BL_ERR_FORMAT, "%s: n: expected a number", path);
    if (!st) *n = count->valueint;
    for (int m = 0; !st && m < 4; m++) {
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, MEASURE_KEYS[m]);
        const char *part[2] = {"mean", "sd"};
        double *dst[2] = {&mean[m], &sd[m]};
        for (int q = 0; !st && q < 2; q++) {
            const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, part[q]) : NULL;
            if (cJSON_IsNumber(v)) *dst[q] = v->valuedouble;
            else if (cJSON_IsNull(v)) *dst[q] = NAN;
            else st = bl_fail(BL_ERR_FORMAT, "%s: %s.%s: expected a number or null", path, MEASURE_KEYS[m], part[q]);
        }
    }
    cJSON_Delete(root);
    free(text);
    return st;
}

static void cell(bl_strbuf *b, double v) {
    if (isnan(v)) bl_strbuf_append(b, ",");
    else bl_strbuf_printf(b, ",%.17g", v);
}

bl_status bl_experiment_segmentation_table(const bl_experiment_config *c, const char *out_dir, const char *path) {
    bl_strbuf b = {0};
    bl_strbuf_append(&b, "scope,n");
    for (int m = 0; m < 4; m++) bl_strbuf_printf(&b, ",%s_mean,%s_sd", MEASURE_KEYS[m], MEASURE_KEYS[m]);
    bl_strbuf_append(&b, "\n");
    double *means = calloc((size_t)c->folds * 4 + 1, sizeof *means);
    int total = 0;
    bl_status st = means ? BL_OK : bl_fail(BL_ERR_NOMEM, "out of memory");
    for (int k = 0; !st && k < c->folds; k++) {
        char metrics[1300];
        int n = 0;
        bl_experiment_segment_dir(out_dir, k, "metrics.json", metrics, sizeof metrics);
        double mean[4], sd[4];
        if ((st = read_fold(metrics, mean, sd, &n))) break;
        total += n;
        bl_strbuf_printf(&b, "fold %d,%d", k, n);
        for (int m = 0; m < 4; m++) {
            means[m * c->folds + k] = mean[m];
            cell(&b, mean[m]), cell(&b, sd[m]); /* over the fold's test images */
        }
        bl_strbuf_append(&b, "\n");
    }
    if (!st) {
        bl_strbuf_printf(&b, "mean (SD) over folds,%d", total);
        for (int m = 0; m < 4; m++) {
            double mean, sd;
            bl_experiment_mean_sd(c->folds, means + m * c->folds, &mean, &sd);
            cell(&b, mean), cell(&b, sd);
        }
        bl_strbuf_append(&b, "\n");
    }
    if (!st && b.failed) st = bl_fail(BL_ERR_NOMEM, "out of memory");
    if (!st) st = bl_write_file_atomic(path, b.data, b.len);
    bl_strbuf_free(&b);
    free(means);
    return st;
}
