/* experiment_tables.c — Table 2 and the paired DeLong tables of `blasto experiment` (experiment.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/fileio.h"
#include "core/status.h"
#include "study/csv.h"
#include "study/experiment.h"
#include "study/metrics.h"
#include "study/predictions.h"
#include "study/stats.h"

static const char *const metric_names[4] = {"auroc", "accuracy", "sensitivity", "specificity"};

static bl_status read_metrics(const char *path, double v[4]) {
    char *text = NULL;
    size_t size = 0;
    bl_status st = bl_read_file(path, 1 << 20, &text, &size);
    if (st) return st;
    cJSON *root = cJSON_ParseWithLength(text, size);
    free(text);
    if (!root) return bl_fail(BL_ERR_FORMAT, "%s: not valid JSON", path);
    for (int m = 0; !st && m < 4; m++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(root, metric_names[m]);
        if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble))
            st = bl_fail(BL_ERR_FORMAT, "%s: %s: expected a finite number", path, metric_names[m]);
        else v[m] = x->valuedouble;
    }
    cJSON_Delete(root);
    return st;
}

/* %.17g (round-trip exact); NaN as "nan" whatever its sign */
static void fmt(char *dst, double v) {
    if (isnan(v)) snprintf(dst, 32, "nan");
    else snprintf(dst, 32, "%.17g", v);
}

bl_status bl_experiment_table2(const bl_experiment_config *c, const char *out_dir) {
    bl_experiment_arm arms[BL_EXPERIMENT_MAX_ARMS];
    int n_arms = bl_experiment_arms(c, arms);
    static const char *const header[11] = {"arch", "input", "folds", "auroc_mean", "auroc_sd", "accuracy_mean",
                                           "accuracy_sd", "sensitivity_mean", "sensitivity_sd",
                                           "specificity_mean", "specificity_sd"};
    bl_csv_writer *w = NULL;
    double *vals = calloc((size_t)c->folds * 4, sizeof *vals);
    bl_status st = vals ? bl_csv_writer_create(11, header, &w) : bl_fail(BL_ERR_NOMEM, "out of memory");
    for (int a = 0; !st && a < c->n_archs; a++)
        for (int i = 0; !st && i < n_arms; i++) {
            for (int k = 0; !st && k < c->folds; k++) {
                char name[128], path[1300];
                bl_experiment_unit_name(c, a, &arms[i], k, name, sizeof name);
                if (snprintf(path, sizeof path, "%s/runs/%s/metrics.json", out_dir, name) >= (int)sizeof path)
                    st = bl_fail(BL_ERR_INVALID, "%s: path too long", out_dir);
                double m4[4];
                if (!st) st = read_metrics(path, m4);
                for (int m = 0; !st && m < 4; m++) vals[m * c->folds + k] = m4[m];
            }
            char cells[11][32];
            const char *f[11];
            snprintf(cells[0], 32, "%s", bl_arch_name(c->archs[a]));
            snprintf(cells[1], 32, "%s", arms[i].name);
            snprintf(cells[2], 32, "%d", c->folds);
            for (int m = 0; m < 4; m++) {
                double mean, sd;
                bl_experiment_mean_sd(c->folds, vals + m * c->folds, &mean, &sd);
                fmt(cells[3 + 2 * m], mean);
                fmt(cells[4 + 2 * m], sd);
            }
            for (int q = 0; q < 11; q++) f[q] = cells[q];
            if (!st) st = bl_csv_writer_add(w, f);
        }
    char path[1100];
    if (!st && snprintf(path, sizeof path, "%s/table2.csv", out_dir) >= (int)sizeof path)
        st = bl_fail(BL_ERR_INVALID, "%s: path too long", out_dir);
    if (!st) st = bl_csv_writer_save(w, path);
    bl_csv_writer_free(w);
    free(vals);
    return st;
}

bl_status bl_experiment_delong(const bl_experiment_config *c, const char *out_dir, const bl_experiment_arm *arm_a,
                               const bl_experiment_arm *arm_b, const char *label_a, const char *label_b,
                               const char *file) {
    char h3[48], h4[48], h5[64];
    snprintf(h3, sizeof h3, "auroc_%s", label_a);
    snprintf(h4, sizeof h4, "auroc_%s", label_b);
    snprintf(h5, sizeof h5, "%s_minus_%s", label_b, label_a);
    const char *const header[9] = {"arch", "fold", "n", h3, h4, h5, "z", "p", "cov"};
    bl_csv_writer *w = NULL;
    bl_status st = bl_csv_writer_create(9, header, &w);
    for (int a = 0; !st && a < c->n_archs; a++)
        for (int k = 0; !st && k < c->folds; k++) {
            char na[128], ne[128], pa[1300], pe[1300];
            bl_experiment_unit_name(c, a, arm_a, k, na, sizeof na);
            bl_experiment_unit_name(c, a, arm_b, k, ne, sizeof ne);
            snprintf(pa, sizeof pa, "%s/runs/%s/test.csv", out_dir, na);
            snprintf(pe, sizeof pe, "%s/runs/%s/test.csv", out_dir, ne);
            bl_predictions *po = NULL, *pn = NULL;
            double *so = NULL, *sn = NULL;
            int *lab = NULL;
            bl_delong_paired d;
            st = bl_predictions_read(pa, &po);
            if (!st) st = bl_predictions_read(pe, &pn);
            if (!st && po->n != pn->n)
                st = bl_fail(BL_ERR_FORMAT, "%s: %d rows, but %s has %d (expected the same test rows)", pe, pn->n, pa, po->n);
            int n = st ? 0 : po->n;
            if (!st && (!(so = calloc((size_t)n, sizeof *so)) || !(sn = calloc((size_t)n, sizeof *sn)) ||
                        !(lab = calloc((size_t)n, sizeof *lab))))
                st = bl_fail(BL_ERR_NOMEM, "out of memory");
            for (int j = 0; !st && j < n; j++) {
                if (strcmp(po->rows[j].id, pn->rows[j].id) || po->rows[j].label != pn->rows[j].label)
                    st = bl_fail(BL_ERR_FORMAT, "%s: line %d: column 'id': '%s' (expected '%s', as in %s)", pe, j + 2,
                                 pn->rows[j].id, po->rows[j].id, pa);
                else so[j] = po->rows[j].score, sn[j] = pn->rows[j].score, lab[j] = po->rows[j].label;
            }
            if (!st) st = bl_delong_paired_test(n, so, sn, lab, &d);
            if (!st) {
                char cells[9][32];
                const char *f[9];
                snprintf(cells[0], 32, "%s", bl_arch_name(c->archs[a]));
                snprintf(cells[1], 32, "%d", k);
                snprintf(cells[2], 32, "%d", n);
                fmt(cells[3], d.auc1);
                fmt(cells[4], d.auc2);
                fmt(cells[5], d.auc2 - d.auc1);
                fmt(cells[6], d.z);
                fmt(cells[7], d.p);
                fmt(cells[8], d.cov12);
                for (int q = 0; q < 9; q++) f[q] = cells[q];
                st = bl_csv_writer_add(w, f);
            }
            bl_predictions_free(po);
            bl_predictions_free(pn);
            free(so);
            free(sn);
            free(lab);
        }
    char path[1100];
    if (!st && snprintf(path, sizeof path, "%s/%s", out_dir, file) >= (int)sizeof path)
        st = bl_fail(BL_ERR_INVALID, "%s: path too long", out_dir);
    if (!st) st = bl_csv_writer_save(w, path);
    bl_csv_writer_free(w);
    return st;
}

