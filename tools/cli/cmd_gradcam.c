/* cmd_gradcam.c — `blasto gradcam`: Grad-CAM overlays and ICM/TE focus scores of a trained pregnancy checkpoint
 * (tools/study/gradcam.h, docs/gradcam.md). Everything is computed in memory first; the output directory and its
 * files are written only once every selected image succeeded (each file atomically, focus.csv last). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "core/autograd.h"
#include "core/kernels.h"
#include "core/status.h"
#include "study/csv.h"
#include "study/files.h"
#include "core/device.h"
#include "study/gradcam.h"
#include "study/split.h"
#include "study/train.h"

static int gradcam_help(void) {
    printf("usage: blasto gradcam --model RUN/best.safetensors --cohort C.csv --out DIR\n"
           "                      [--split split.csv --set test|train | --ids a,b,c] [--layer NAME] [--threads N]\n"
           "                      [" CLI_DEVICE_HELP "]\n\n"
           "Grad-CAM of a checkpoint written by `blasto train` on cohort rows (every row, the rows of --set of a\n"
           "split, or the listed ids), at the run's image size and preprocessing, BN in eval mode. Target layer:\n"
           "resnet50 'layer4', vgg16 'features.29', densenet121 'features.relu5' unless --layer names another module.\n"
           "Writes DIR/<id>.png (jet heatmap over the grayscale image; ICM outline magenta, TE outline white) and\n"
           "DIR/focus.csv: id,label,score,hit,energy_icm,energy_te,energy_union,area_union (score = probability;\n"
           "hit = heatmap argmax within 15 px at 224 scale of ICM or TE; energy_* = share of the heat inside the\n"
           "region; area_union = the union's share of the image, the chance level of energy_union).\n");
    return 0;
}

typedef struct result {
    bl_image overlay;
    bl_focus focus;
    double score;
} result;

/* Selects rows [*n] of the cohort: by --ids (in the given order), by --set of a split, or all. */
static bl_status select_rows(const bl_cohort *cohort, const char *cohort_path, const char *split_path,
                             const char *set, const char *ids, bl_cohort_row *rows, int *n) {
    *n = 0;
    if (ids) {
        char *copy = strdup(ids), *save = NULL;
        if (!copy) return bl_fail(BL_ERR_NOMEM, "out of memory");
        bl_status st = BL_OK;
        for (char *tok = strtok_r(copy, ",", &save); tok && !st; tok = strtok_r(NULL, ",", &save)) {
            int k = bl_cohort_find(cohort, tok);
            int twice = 0;
            for (int j = 0; k >= 0 && j < *n && !twice; j++) twice = !strcmp(rows[j].id, tok);
            if (k < 0) st = bl_fail(BL_ERR_INVALID, "--ids: '%s' is not in the cohort %s", tok, cohort_path);
            else if (twice) st = bl_fail(BL_ERR_INVALID, "--ids: '%s' given twice (focus.csv has one row per id)", tok);
            else if (*n < cohort->n) rows[(*n)++] = cohort->rows[k];
        }
        free(copy);
        if (!st && *n == 0) st = bl_fail(BL_ERR_INVALID, "--ids: no id given");
        return st;
    }
    bl_split *split = NULL;
    if (split_path) {
        bl_status st = bl_split_read(split_path, 0, &split);
        if (st) return st;
    }
    for (int i = 0; i < cohort->n; i++) {
        int keep = 1;
        if (split) {
            int k = bl_split_find(split, cohort->rows[i].id);
            keep = k >= 0 && (!strcmp(set, "test") ? split->rows[k].is_test : !split->rows[k].is_test);
        }
        if (keep) rows[(*n)++] = cohort->rows[i];
    }
    bl_split_free(split);
    if (*n == 0) return bl_fail(BL_ERR_INVALID, "%s: no rows selected (set %s)", cohort_path, set ? set : "all");
    return BL_OK;
}

/* focus.csv text of rows [n] and their results (malloc'ed). */
static char *focus_csv(const bl_cohort_row *rows, const result *res, int n) {
    size_t cap = 128 + (size_t)n * 256, len = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    len += (size_t)snprintf(buf, cap, BL_FOCUS_CSV_HEADER);
    for (int i = 0; i < n; i++) {
        const bl_focus *f = &res[i].focus;
        size_t need = strlen(rows[i].id) + 200;
        if (len + need > cap) {
            cap = 2 * cap + need;
            char *b = realloc(buf, cap);
            if (!b) return free(buf), NULL;
            buf = b;
        }
        len += (size_t)bl_focus_csv_row(buf + len, cap - len, rows[i].id, rows[i].label, res[i].score, f);
    }
    return buf;
}

static bl_status run_gradcam(const char *model, const char *cohort_path, const char *split_path, const char *set,
                             const char *ids, const char *out, const char *layer, const bl_device_options *device) {
    bl_cohort *cohort = NULL;
    bl_cohort_row *rows = NULL;
    result *res = NULL;
    bl_ctx *ctx = NULL;
    bl_pregnancy_model *m = NULL;
    float *x = NULL;
    uint8_t *icm = NULL, *te = NULL, *gray = NULL;
    bl_train_options o;
    bl_train_state s = {0};
    int n = 0;
    bl_status st = bl_checkpoint_open_model(model, device, &o, &s, &ctx, &m);
    if (!st) st = bl_cohort_read(cohort_path, 1, &cohort);
    if (!st && !(rows = calloc((size_t)cohort->n, sizeof *rows))) st = bl_fail(BL_ERR_NOMEM, "out of memory");
    if (!st) st = select_rows(cohort, cohort_path, split_path, set, ids, rows, &n);
    int size = o.size;
    if (!st) {
        res = calloc((size_t)n, sizeof *res);
        x = malloc((size_t)3 * size * size * sizeof *x);
        icm = malloc((size_t)size * size), te = malloc((size_t)size * size), gray = malloc((size_t)size * size);
        if (!res || !x || !icm || !te || !gray) st = bl_fail(BL_ERR_NOMEM, "out of memory");
    }
    bl_loader_options lo;
    bl_train_eval_loader_options(&o, &lo);
    bl_enhance_options eo;
    bl_enhance_options_default(&eo);
    double t0 = bl_seconds_now();
    int tty = isatty(2);
    for (int i = 0; !st && i < n; i++) {
        const bl_cohort_row *row = &rows[i];
        float z = isfinite(row->age) ? (float)((row->age - s.age_mean) / s.age_sd) : 0.0f;
        bl_gradcam_map map;
        st = bl_loader_prepare_sample(row, &lo, 0, x);
        if (!st) st = bl_gradcam_row_inputs(row, &eo, size, icm, te, gray);
        if (!st) st = bl_gradcam_compute(m, layer, x, size, z, &map);
        if (st) break;
        res[i].score = bl_logit_probability(map.logit);
        bl_focus_scores(map.heat, icm, te, size, &res[i].focus);
        st = bl_gradcam_overlay(map.heat, gray, icm, te, size, &res[i].overlay);
        bl_gradcam_map_free(&map);
        double dt = bl_seconds_now() - t0, eta = dt / (i + 1) * (n - i - 1);
        fprintf(stderr, tty ? "\rblasto gradcam: %d/%d images, %.1f s, ETA %.0f s   " : "blasto gradcam: %d/%d images, %.1f s, ETA %.0f s\n",
                i + 1, n, dt, eta);
        if (tty && i + 1 == n) fputc('\n', stderr);
    }
    /* every image succeeded: write */
    if (!st) st = bl_make_dir(out, NULL);
    for (int i = 0; !st && i < n; i++) {
        size_t len = strlen(out) + strlen(rows[i].id) + 8;
        char *path = malloc(len);
        if (!path) st = bl_fail(BL_ERR_NOMEM, "out of memory");
        else {
            snprintf(path, len, "%s/%s.png", out, rows[i].id);
            st = bl_image_save_png(&res[i].overlay, path);
            free(path);
        }
    }
    if (!st) {
        char *csv = focus_csv(rows, res, n);
        size_t len = strlen(out) + 16;
        char *path = malloc(len);
        if (!csv || !path) st = bl_fail(BL_ERR_NOMEM, "out of memory");
        else {
            snprintf(path, len, "%s/focus.csv", out);
            st = bl_write_file_atomic(path, csv, strlen(csv));
        }
        free(csv);
        free(path);
    }
    if (!st) {
        int hits = 0;
        for (int i = 0; i < n; i++) hits += res[i].focus.hit;
        fprintf(stderr, "blasto gradcam: %d images (%s, layer %s): pointing-game hits %d/%d → %s\n", n,
                bl_arch_name(o.arch), layer ? layer : bl_model_gradcam_layer(m->backbone), hits, n, out);
    }
    for (int i = 0; res && i < n; i++) bl_image_free(&res[i].overlay);
    free(res);
    free(x);
    free(icm);
    free(te);
    free(gray);
    free(rows);
    free(s.log);
    bl_pregnancy_free(m);
    bl_ctx_free(ctx);
    bl_cohort_free(cohort);
    return st;
}

int cmd_gradcam(int argc, char **argv) {
    const char *model = NULL, *cohort = NULL, *out = NULL, *split = NULL, *set = NULL, *ids = NULL, *layer = NULL;
    long threads = 0;
    bl_device_options device = {"cpu", 0, 0};
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = cli_device_option("gradcam", argc, argv, &i, &device);
        if (rc == 2) return 2;
        if (rc == 1) continue;
        if (!strcmp(opt, "--help")) return gradcam_help();
        i++; /* every other option takes a value */
        if (!val) {
            fprintf(stderr, "blasto gradcam: %s: missing value (blasto gradcam --help)\n", opt);
            return 2;
        }
        if (!strcmp(opt, "--model")) model = val;
        else if (!strcmp(opt, "--cohort")) cohort = val;
        else if (!strcmp(opt, "--out")) out = val;
        else if (!strcmp(opt, "--split")) split = val;
        else if (!strcmp(opt, "--ids")) ids = val;
        else if (!strcmp(opt, "--layer")) layer = val;
        else if (!strcmp(opt, "--set") && (!strcmp(val, "test") || !strcmp(val, "train"))) set = val;
        else if (!strcmp(opt, "--threads")) rc = cli_parse_int("gradcam", opt, val, 1, 1024, &threads);
        else {
            fprintf(stderr, "blasto gradcam: bad option '%s' %s (blasto gradcam --help)\n", opt, val);
            return 2;
        }
        if (rc) return rc;
    }
    if (!model || !cohort || !out) {
        fprintf(stderr, "blasto gradcam: --model, --cohort and --out are required (blasto gradcam --help)\n");
        return 2;
    }
    if ((split != NULL) != (set != NULL) || (ids && split)) {
        fprintf(stderr, "blasto gradcam: use --split with --set, or --ids, not both (blasto gradcam --help)\n");
        return 2;
    }
    if (cli_apply_threads("gradcam", threads) || cli_open_device("gradcam", &device)) return 1;
    if (run_gradcam(model, cohort, split, set, ids, out, layer, &device)) {
        fprintf(stderr, "blasto gradcam: %s\n", bl_last_error());
        return 1;
    }
    return 0;
}
