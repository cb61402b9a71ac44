/* cmd_predict.c — `blasto predict`: probabilities of a trained pregnancy checkpoint for cohort rows → a predictions
 * CSV (tools/study/predictions.h: id,label,score,arch,input,fold). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "core/fileio.h"
#include "core/status.h"
#include "study/predictions.h"
#include "study/split.h"
#include "study/train.h"

static int predict_help(void) {
    printf("usage: blasto predict --model RUN/best.safetensors --cohort C.csv --out P.csv\n"
           "                      [--split split.csv --set test|train|validation [--fold K]] [--arch A] [--threads N]\n"
           "                      [" CLI_DEVICE_HELP "]\n\n"
           "Scores cohort rows with a checkpoint written by `blasto train` (eval mode, no augmentation, the run's image\n"
           "size, preprocessing and age standardisation) and writes id,label,score,arch,input,fold (score = probability).\n"
           "Rows: every cohort row, or with --split the rows of --set: test = the fixed test set, train = all training\n"
           "rows (--fold K: only fold K), validation = fold K of the train rows (K defaults to the checkpoint's fold).\n"
           "--arch A refuses a checkpoint of another architecture. The fold column is the checkpoint's fold.\n"
           "--device cuda computes on the GPU (a CUDA build); --deterministic and --tf32 as in blasto train.\n");
    return 0;
}

static int fail(const char *msg) {
    fprintf(stderr, "blasto predict: %s\n", msg);
    return 1;
}

int cmd_predict(int argc, char **argv) {
    const char *model = NULL, *cohort_path = NULL, *out = NULL, *split_path = NULL, *set = NULL, *arch = NULL;
    long fold = -1, threads = 0;
    bl_device_options device = {"cpu", 0, 0};
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = cli_device_option("predict", argc, argv, &i, &device);
        if (rc == 2) return 2;
        if (rc == 1) continue;
        if (!strcmp(opt, "--help")) return predict_help();
        i++; /* every other option takes a value */
        if (!val) {
            fprintf(stderr, "blasto predict: %s: missing value (blasto predict --help)\n", opt);
            return 2;
        }
        if (!strcmp(opt, "--model")) model = val;
        else if (!strcmp(opt, "--cohort")) cohort_path = val;
        else if (!strcmp(opt, "--out")) out = val;
        else if (!strcmp(opt, "--split")) split_path = val;
        else if (!strcmp(opt, "--arch")) arch = val;
        else if (!strcmp(opt, "--set") && (!strcmp(val, "test") || !strcmp(val, "train") || !strcmp(val, "validation"))) set = val;
        else if (!strcmp(opt, "--fold")) rc = cli_parse_int("predict", opt, val, 0, 1000, &fold);
        else if (!strcmp(opt, "--threads")) rc = cli_parse_int("predict", opt, val, 1, 1024, &threads);
        else {
            fprintf(stderr, "blasto predict: bad option '%s' %s (blasto predict --help)\n", opt, val);
            return 2;
        }
        if (rc) return rc;
    }
    if (!model || !cohort_path || !out) {
        fprintf(stderr, "blasto predict: --model, --cohort and --out are required (blasto predict --help)\n");
        return 2;
    }
    if ((split_path != NULL) != (set != NULL)) {
        fprintf(stderr, "blasto predict: --split and --set go together (blasto predict --help)\n");
        return 2;
    }
    const char *inputs[] = {model, cohort_path, split_path};
    if (bl_output_check(out, 3, inputs) != BL_OK) { /* before the scoring: never a device, never an input */
        fprintf(stderr, "blasto predict: --out: %s\n", bl_last_error());
        return 2;
    }
    if (cli_apply_threads("predict", threads) || cli_open_device("predict", &device)) return 1;

    bl_safetensors *ck = NULL;
    bl_cohort *cohort = NULL;
    bl_split *split = NULL;
    bl_cohort_row *rows = NULL;
    int *chosen = NULL;
    double *scores = NULL;
    bl_predictions *p = NULL;
    bl_train_options o;
    bl_train_state s = {0};
    int rc = 1, n = 0;
    bl_status st = bl_safetensors_open(model, &ck);
    if (!st) st = bl_checkpoint_read_meta(ck, &o, &s);
    if (!st && arch) {
        bl_arch want;
        if (!(st = bl_arch_from_name(arch, &want)) && want != o.arch)
            st = bl_fail(BL_ERR_FORMAT, "%s: __metadata__.arch: architecture mismatch (expected %s, got %s)", model,
                         bl_arch_name(want), bl_arch_name(o.arch));
    }
    if (!st) st = bl_cohort_read(cohort_path, 1, &cohort);
    if (!st && split_path) st = bl_split_read(split_path, 0, &split);
    if (!st && split && !strcmp(set, "validation") && fold < 0) fold = o.fold;
    if (!st && (!(rows = calloc((size_t)cohort->n, sizeof *rows)) ||
                !(chosen = calloc((size_t)cohort->n, sizeof *chosen))))
        st = bl_fail(BL_ERR_NOMEM, "out of memory");
    if (!st) st = bl_split_select(cohort, split, split_path, set, (int)fold, chosen, &n);
    for (int i = 0; !st && i < n; i++) rows[i] = cohort->rows[chosen[i]];
    if (!st && !(scores = calloc((size_t)(n > 0 ? n : 1), sizeof *scores))) st = bl_fail(BL_ERR_NOMEM, "out of memory");
    int no_age = 0;
    for (int i = 0; !st && i < n; i++) no_age += !isfinite(rows[i].age);
    if (no_age) /* said, not silent */
        fprintf(stderr, "blasto predict: %d of the %d rows have no age: their age input is the training rows' mean "
                "(z = 0)\n", no_age, n);
    if (!st) st = bl_checkpoint_score(ck, rows, n, 1, &device, scores);
    if (!st && !(p = bl_predictions_new(n))) st = bl_fail(BL_ERR_NOMEM, "out of memory");
    if (!st) {
        for (int i = 0; i < n; i++)
            p->rows[i] = (bl_prediction){.id = strdup(rows[i].id), .label = rows[i].label, .score = scores[i]};
        p->arch = strdup(bl_arch_name(o.arch));
        p->input = strdup(bl_input_kind_name(o.input));
        p->fold = o.fold;
        st = bl_predictions_write(out, p);
    }
    if (st) fail(bl_last_error());
    else rc = 0;
    if (!st)
        fprintf(stderr, "blasto predict: %d rows scored with %s (%s, %s input, epoch %d) → %s\n", n, model,
                bl_arch_name(o.arch), bl_input_kind_name(o.input), s.epoch, out);
    bl_predictions_free(p);
    free(scores);
    free(rows);
    free(chosen);
    free(s.log);
    bl_split_free(split);
    bl_cohort_free(cohort);
    bl_safetensors_close(ck);
    return rc;
}
