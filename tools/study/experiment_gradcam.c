/* experiment_gradcam.c — the Grad-CAM unit of `blasto experiment` (experiment.h, docs/experiment.md): Grad-CAM and
 * ICM/TE focus scores on the test rows for the best original-input and the best enhanced-input fold unit (the rule
 * of the calibration unit, bl_experiment_best_unit), then Table 3 (tools/study/agreement.h) from the two units'
 * test.csv and focus.csv. Computes what `blasto gradcam --split … --set test` and `blasto focus-compare --out`
 * compute; the overlay PNGs only for the first BL_EXPERIMENT_OVERLAYS test rows (the report's gallery). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "study/agreement.h"
#include "study/cohort.h"
#include "core/autograd.h"
#include "core/kernels.h"
#include "study/csv.h"
#include "study/files.h"
#include "core/device.h"
#include "study/experiment.h"
#include "study/gradcam.h"
#include "study/predictions.h"
#include "study/train.h"

/* Grad-CAM of out_dir/runs/<unit>/best.safetensors on the rows of its test.csv (in that order) → the text of
 * focus.csv (`blasto gradcam`'s columns and number format) in *csv (malloc'ed), and the overlays of the first
 * min(n, BL_EXPERIMENT_OVERLAYS) rows with their ids (overlays[], ids[] zeroed by the caller; freed by it).
 * The model's input is the row of `inputs` (the unit's own cohort: for a unit on predicted masks, the images
 * enhanced from them); the ICM and TE of the focus scores and overlays are the manual ones of `cohort`. */
static bl_status unit_focus(const bl_cohort *cohort, const bl_cohort *inputs, const char *out_dir, const char *unit,
                            const bl_device_options *device, char **csv, bl_image overlays[BL_EXPERIMENT_OVERLAYS],
                            char *ids[BL_EXPERIMENT_OVERLAYS]) {
    char best[1400], test[1400];
    snprintf(best, sizeof best, "%s/runs/%s/best.safetensors", out_dir, unit);
    snprintf(test, sizeof test, "%s/runs/%s/test.csv", out_dir, unit);
    bl_predictions *p = NULL;
    bl_ctx *ctx = NULL;
    bl_pregnancy_model *m = NULL;
    bl_train_options o;
    bl_train_state s = {0};
    float *x = NULL;
    uint8_t *icm = NULL, *te = NULL, *gray = NULL;
    char *buf = NULL;
    size_t cap = 0, len = 0;
    *csv = NULL;
    bl_status st = bl_predictions_read(test, &p);
    if (!st) st = bl_checkpoint_open_model(best, device, &o, &s, &ctx, &m);
    int size = o.size;
    if (!st) {
        size_t pix = (size_t)size * size;
        cap = 128 + (size_t)p->n * 256;
        x = malloc(3 * pix * sizeof *x), icm = malloc(pix), te = malloc(pix), gray = malloc(pix), buf = malloc(cap);
        if (!x || !icm || !te || !gray || !buf) st = bl_fail(BL_ERR_NOMEM, "out of memory");
    }
    if (!st) len = (size_t)snprintf(buf, cap, BL_FOCUS_CSV_HEADER);
    bl_loader_options lo;
    bl_train_eval_loader_options(&o, &lo);
    bl_enhance_options eo;
    bl_enhance_options_default(&eo);
    for (int i = 0; !st && i < p->n; i++) {
        int k = bl_cohort_find(cohort, p->rows[i].id);
        if (k < 0) {
            st = bl_fail(BL_ERR_FORMAT, "%s: line %d: column 'id': '%s' is not in the cohort", test, i + 2, p->rows[i].id);
            break;
        }
        const bl_cohort_row *row = &cohort->rows[k];
        int q = bl_cohort_find(inputs, p->rows[i].id);
        if (q < 0) {
            st = bl_fail(BL_ERR_FORMAT, "%s: line %d: column 'id': '%s' is not in %s", test, i + 2, p->rows[i].id,
                         inputs->path);
            break;
        }
        float z = isfinite(row->age) ? (float)((row->age - s.age_mean) / s.age_sd) : 0.0f;
        bl_gradcam_map map;
        bl_focus f;
        st = bl_loader_prepare_sample(&inputs->rows[q], &lo, 0, x);
        if (!st) st = bl_gradcam_row_inputs(row, &eo, size, icm, te, gray);
        if (!st) st = bl_gradcam_compute(m, NULL, x, size, z, &map);
        if (st) break;
        double score = bl_logit_probability(map.logit);
        bl_focus_scores(map.heat, icm, te, size, &f);
        if (i < BL_EXPERIMENT_OVERLAYS) {
            st = bl_gradcam_overlay(map.heat, gray, icm, te, size, &overlays[i]);
            if (!st && !(ids[i] = strdup(row->id))) st = bl_fail(BL_ERR_NOMEM, "out of memory");
        }
        bl_gradcam_map_free(&map);
        if (st) break;
        size_t need = strlen(row->id) + 200;
        if (len + need > cap) {
            char *b = realloc(buf, cap = 2 * cap + need);
            if (!b) {
                st = bl_fail(BL_ERR_NOMEM, "out of memory");
                break;
            }
            buf = b;
        }
        len += (size_t)bl_focus_csv_row(buf + len, cap - len, row->id, row->label, score, &f);
    }
    if (!st) *csv = buf, buf = NULL;
    free(buf);
    free(x);
    free(icm);
    free(te);
    free(gray);
    free(s.log);
    bl_pregnancy_free(m);
    bl_ctx_free(ctx);
    bl_predictions_free(p);
    return st;
}

bl_status bl_experiment_gradcam_units(const bl_experiment_config *c, const char *out_dir, char units[2][128]) {
    static const bl_input_kind kinds[2] = {BL_INPUT_ORIGINAL, BL_INPUT_ENHANCED};
    for (int u = 0; u < 2; u++) {
        double auc;
        bl_status st = bl_experiment_best_unit(c, out_dir, (int)kinds[u], units[u], 128, &auc);
        if (st) return st;
    }
    return BL_OK;
}

bl_status bl_experiment_gradcam(const bl_experiment_config *c, const bl_cohort *cohort, const char *out_dir,
                                char units[2][128]) {
    static const bl_world one = {.rank = 0, .size = 1, .local_size = 1};
    const bl_world *w = c->world ? c->world : &one;
    bl_status st = bl_experiment_gradcam_units(c, out_dir, units);
    char *csv[2] = {NULL, NULL}, *ids[2][BL_EXPERIMENT_OVERLAYS] = {{NULL}};
    bl_image overlays[2][BL_EXPERIMENT_OVERLAYS];
    memset(overlays, 0, sizeof overlays);
    char gdir[1200], udir[2][1400], focus[2][1500], pred[2][1400], t3[1200];
    snprintf(gdir, sizeof gdir, "%s/gradcam", out_dir);
    snprintf(t3, sizeof t3, "%s/table3.csv", out_dir);
    for (int u = 0; !st && u < 2; u++) {
        snprintf(udir[u], sizeof udir[u], "%s/%s", gdir, units[u]);
        snprintf(focus[u], sizeof focus[u], "%s/gradcam/%s/focus.csv", out_dir, units[u]);
        snprintf(pred[u], sizeof pred[u], "%s/runs/%s/test.csv", out_dir, units[u]);
    }
    /* unit u on rank u mod K: in memory first, then its overlays and focus file; Table 3 last, on rank 0, once every
     * rank's focus file is written (its existence marks the unit done) */
    for (int u = 0; !st && u < 2; u++) {
        if (u % w->size != w->rank) continue;
        char own[1400];
        bl_cohort *inputs = NULL;
        bl_experiment_unit_cohort(c, out_dir, units[u], own, sizeof own);
        if (strcmp(own, c->cohort) != 0) st = bl_cohort_read(own, 1, &inputs);
        if (!st) st = unit_focus(cohort, inputs ? inputs : cohort, out_dir, units[u], &c->device, &csv[u], overlays[u],
                                 ids[u]);
        bl_cohort_free(inputs);
    }
    if (!st) st = bl_make_dir(gdir, NULL);
    for (int u = 0; !st && u < 2; u++) {
        if (!csv[u]) continue;
        st = bl_make_dir(udir[u], NULL);
        for (int i = 0; !st && i < BL_EXPERIMENT_OVERLAYS && ids[u][i]; i++) {
            char png[1700];
            if ((size_t)snprintf(png, sizeof png, "%s/%s.png", udir[u], ids[u][i]) >= sizeof png)
                st = bl_fail(BL_ERR_INVALID, "%s/%s.png: path too long", udir[u], ids[u][i]);
            else st = bl_image_save_png(&overlays[u][i], png);
        }
        if (!st) st = bl_write_file_atomic(focus[u], csv[u], strlen(csv[u]));
    }
    st = bl_world_agree(w, st);
    bl_agreement t;
    if (!st && w->rank == 0) st = bl_agreement_from_files(pred[0], focus[0], pred[1], focus[1], 0.5, &t);
    if (!st && w->rank == 0) st = bl_agreement_write_csv(&t, units[0], units[1], t3);
    free(csv[0]);
    free(csv[1]);
    for (int u = 0; u < 2; u++)
        for (int i = 0; i < BL_EXPERIMENT_OVERLAYS; i++) {
            free(ids[u][i]);
            bl_image_free(&overlays[u][i]);
        }
    return st;
}
