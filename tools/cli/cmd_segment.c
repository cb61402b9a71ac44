/* cmd_segment.c — `blasto segment train|predict|metrics`: the ICM/TE segmenter (docs/segmentation.md).
 *
 *   train    one cross-validation fold of the U-Net (tools/study/segment_train.h), progress with ETA, resumable
 *   predict  masks, labelme polygons and a cohort for every chosen row, built in a staging folder beside DIR and
 *            renamed into place only when every row succeeded (no partial DIR)
 *   metrics  Dice, Jaccard, precision and recall per class of predicted masks against the cohort's annotations */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "commands.h"
#include "core/status.h"
#include "study/contour.h"
#include "study/csv.h"
#include "study/files.h"
#include "study/image.h"
#include "study/labelme.h"
#include "study/raster.h"
#include "study/segment.h"
#include "study/segment_predict.h"
#include "study/segment_train.h"
#include "study/split.h"


static int segment_help(void) {
    printf("usage: blasto segment train --cohort C.csv --split S.csv --fold K --out RUN/ [options]\n"
           "       blasto segment train --resume --out RUN/ [--stop-after E] [--threads N] [device flags]\n"
           "       blasto segment predict --model RUN/best.safetensors --cohort C.csv --out DIR/\n"
           "                              [--split S.csv --set test|train|validation [--fold K]]\n"
           "                              [--tta on|off] [--icm largest|all]\n"
           "       blasto segment metrics --pred DIR/ --cohort C.csv [--out M.json]\n\n"
           "The ICM/TE segmenter: a U-Net classifying every pixel as background, inner cell mass or trophectoderm\n"
           "(docs/segmentation.md).\n\n"
           "train: the cohort rows with an annotation (labelme JSON or an icm.png|te.png mask pair); the split's train\n"
           "rows outside fold K train, fold K validates; test rows are never read. Loss: cross-entropy + soft Dice\n"
           "(ICM, TE); Adam, cosine learning-rate decay. After every epoch: validation Dice and Jaccard per class,\n"
           "RUN/log.csv, RUN/best.safetensors (best mean Jaccard of ICM and TE), RUN/last.safetensors (with the\n"
           "optimizer state; --resume continues it bit for bit, also after kill -9).\n"
           "  --size S (256, a multiple of 2^depth)  --epochs N (40)  --batch B (8)  --lr X (1e-3)\n"
           "  --depth D (4)  --width W (16)  --channels 1|3 (1: grey)  --augment on|off (on: flips, quarter\n"
           "  turns, brightness, contrast)  --seed S (1)  --icm-labels L,…  --te-labels L,… (labelme labels that\n"
           "  mean ICM / TE; default icm/ICM and te/TE/te_<n>)  --threads N  --stop-after E  " CLI_DEVICE_HELP "\n\n"
           "predict: for every chosen row, DIR/icm/<id>.png and DIR/te/<id>.png (0/255 at the image's own size),\n"
           "DIR/<id>.json (labelme polygons icm and te traced from the masks, simplified within %.1f px; a hole of the\n"
           "TE ring is one more te polygon) and DIR/cohort.csv: the chosen rows with their annotation set to the\n"
           "predicted mask pair, so every other command runs on it. DIR must not exist or be empty.\n"
           "  --tta on|off (on: the mean logits over the 8 symmetries of the square: quarter turns and flips)\n"
           "  --icm largest|all (largest: only the largest connected ICM region stays ICM)\n\n"
           "metrics: per image and over all images, Dice, Jaccard, precision and recall of ICM and TE of the masks in\n"
           "DIR (the rows of DIR/cohort.csv) against the annotations of C.csv at the images' own size; the table on\n"
           "stdout, JSON to --out (keys jaccard_icm, jaccard_te, dice_icm, dice_te, … each {mean, sd}, and\n"
           "per_image).\n", BL_SEG_SIMPLIFY_TOLERANCE);
    return 0;
}

static int fail(const char *cmd) {
    fprintf(stderr, "blasto segment %s: %s\n", cmd, bl_last_error());
    return 1;
}

static int parse_double(const char *opt, const char *val, double lo, double hi, double *out) {
    char *end = NULL;
    double v = val ? strtod(val, &end) : NAN;
    if (!val || end == val || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "blasto segment: %s: expected a number in [%g, %g], got '%s'\n", opt, lo, hi, val ? val : "");
        return 2;
    }
    *out = v;
    return 0;
}

static int copy_text(const char *opt, const char *val, char *dst, size_t size) {
    if (!val || !*val || strlen(val) >= size) {
        fprintf(stderr, "blasto segment: %s: expected a value shorter than %zu bytes (got '%s')\n", opt, size,
                val ? val : "");
        return 2;
    }
    strcpy(dst, val);
    return 0;
}

/* ---- train ---- */

static void on_progress(void *user, const bl_segment_progress *p) {
    int last = p->batch == p->batches;
    if (p->validating == 2) {
        cli_progress_show(user, last, "checking the data: %d/%d images", p->batch, p->batches);
        return;
    }
    if (p->validating) {
        cli_progress_show(user, last, "epoch %d/%d  validating %d/%d  %.1f img/s", p->epoch + 1, p->epochs, p->batch,
                          p->batches, p->images_per_s);
        return;
    }
    char eta[32];
    cli_eta_text(p->eta_s, eta, sizeof eta);
    cli_progress_show(user, last, "epoch %d/%d  batch %d/%d  loss %.4f  %.1f img/s  ETA %s", p->epoch + 1, p->epochs,
                      p->batch, p->batches, p->loss, p->images_per_s, eta);
}

static void on_epoch(void *user, const bl_segment_epoch *e) {
    cli_progress_note(user, "epoch %d: train loss %.4f  val loss %.4f  Jaccard ICM %.4f TE %.4f  Dice ICM %.4f TE "
                      "%.4f%s  lr %.3g  %.1f s", e->epoch + 1, e->train_loss, e->val_loss, e->jaccard[BL_SEG_ICM],
                      e->jaccard[BL_SEG_TE], e->dice[BL_SEG_ICM], e->dice[BL_SEG_TE], e->best ? " (best)" : "", e->lr,
                      e->seconds);
}

static void on_note(void *user, const char *line) { cli_progress_note(user, "%s", line); }

static int segment_train(int argc, char **argv) {
    bl_segment_options o;
    bl_segment_options_default(&o);
    long threads = 0, v = 0;
    int have[4] = {0}, stored_given = 0;
    for (int i = 2; i < argc; i++) {
        const char *opt = argv[i];
        if (!strcmp(opt, "--help")) return segment_help();
        if (!strcmp(opt, "--resume")) {
            o.resume = 1;
            continue;
        }
        int device_rc = cli_device_option("segment", argc, argv, &i, &o.device);
        if (device_rc == 2) return 2;
        if (device_rc == 1) continue;
        const char *val = i + 1 < argc ? argv[++i] : NULL;
        int rc = 0, stored = 1;
        if (!strcmp(opt, "--out")) rc = copy_text(opt, val, o.out, sizeof o.out), have[3] = 1, stored = 0;
        else if (!strcmp(opt, "--threads")) rc = cli_parse_int("segment", opt, val, 1, 1024, &threads), stored = 0;
        else if (!strcmp(opt, "--stop-after"))
            rc = cli_parse_int("segment", opt, val, 1, 100000, &v), o.stop_after = (int)v, stored = 0;
        else if (!strcmp(opt, "--cohort")) rc = copy_text(opt, val, o.cohort, sizeof o.cohort), have[0] = 1;
        else if (!strcmp(opt, "--split")) rc = copy_text(opt, val, o.split, sizeof o.split), have[1] = 1;
        else if (!strcmp(opt, "--fold"))
            rc = cli_parse_int("segment", opt, val, 0, 1000, &v), o.fold = (int)v, have[2] = 1;
        else if (!strcmp(opt, "--size")) rc = cli_parse_int("segment", opt, val, 2, 2048, &v), o.size = (int)v;
        else if (!strcmp(opt, "--epochs")) rc = cli_parse_int("segment", opt, val, 1, 100000, &v), o.epochs = (int)v;
        else if (!strcmp(opt, "--batch")) rc = cli_parse_int("segment", opt, val, 1, 4096, &v), o.batch = (int)v;
        else if (!strcmp(opt, "--depth"))
            rc = cli_parse_int("segment", opt, val, 1, BL_UNET_MAX_DEPTH, &v), o.unet.depth = (int)v;
        else if (!strcmp(opt, "--width")) rc = cli_parse_int("segment", opt, val, 1, 1024, &v), o.unet.width = (int)v;
        else if (!strcmp(opt, "--channels") && val && (!strcmp(val, "1") || !strcmp(val, "3")))
            o.unet.in_channels = atoi(val);
        else if (!strcmp(opt, "--seed"))
            rc = cli_parse_int("segment", opt, val, 0, 0x7fffffffL, &v), o.seed = (uint64_t)v;
        else if (!strcmp(opt, "--lr")) rc = parse_double(opt, val, 1e-12, 10, &o.lr);
        else if (!strcmp(opt, "--augment") && val && (!strcmp(val, "on") || !strcmp(val, "off")))
            o.augment = !strcmp(val, "on");
        else if (!strcmp(opt, "--icm-labels")) rc = copy_text(opt, val, o.icm_labels, sizeof o.icm_labels);
        else if (!strcmp(opt, "--te-labels")) rc = copy_text(opt, val, o.te_labels, sizeof o.te_labels);
        else {
            fprintf(stderr, "blasto segment train: bad option '%s'%s%s (blasto segment --help)\n", opt, val ? " " : "",
                    val ? val : "");
            return 2;
        }
        if (rc) return rc;
        stored_given |= stored;
    }
    if (!have[3]) {
        fprintf(stderr, "blasto segment train: --out RUN/ is required (blasto segment --help)\n");
        return 2;
    }
    if (o.resume && stored_given) {
        fprintf(stderr, "blasto segment train: --resume takes every option from RUN/last.safetensors (only --out, "
                        "--threads, --stop-after and the device flags may be given)\n");
        return 2;
    }
    if (!o.resume && (!have[0] || !have[1] || !have[2])) {
        fprintf(stderr, "blasto segment train: --cohort, --split and --fold are required (blasto segment --help)\n");
        return 2;
    }
    if (cli_apply_threads("segment", threads) || cli_open_device("segment", &o.device)) return 1;
    cli_progress bar;
    cli_progress_init(&bar);
    bl_segment_callbacks cb = {.user = &bar, .progress = on_progress, .epoch_done = on_epoch, .note = on_note};
    if (bl_segment_train(&o, &cb)) {
        cli_progress_note(&bar, "blasto segment train: %s", bl_last_error());
        return 1;
    }
    return 0;
}

/* ---- predict ---- */

static char *path_join(const char *dir, const char *a, const char *b) {
    size_t n = strlen(dir) + strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s%s", dir, a, b);
    return p;
}

static void on_predicted(void *user, int done, int n, double eta_s) {
    char eta_text[32];
    cli_eta_text(eta_s, eta_text, sizeof eta_text);
    cli_progress_show(user, done == n, "segment predict: %d/%d images  ETA %s", done, n, eta_text);
}

static int segment_predict(int argc, char **argv) {
    const char *model = NULL, *cohort_path = NULL, *out = NULL, *split_path = NULL, *set = NULL;
    long fold = -1, threads = 0;
    int tta = 1, largest_icm = 1;
    bl_device_options device = {"cpu", 0, 0};
    for (int i = 2; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = cli_device_option("segment", argc, argv, &i, &device);
        if (rc == 2) return 2;
        if (rc == 1) continue;
        if (!strcmp(opt, "--help")) return segment_help();
        i++;
        if (!val) {
            fprintf(stderr, "blasto segment predict: %s: missing value (blasto segment --help)\n", opt);
            return 2;
        }
        if (!strcmp(opt, "--model")) model = val;
        else if (!strcmp(opt, "--cohort")) cohort_path = val;
        else if (!strcmp(opt, "--out")) out = val;
        else if (!strcmp(opt, "--split")) split_path = val;
        else if (!strcmp(opt, "--set") && (!strcmp(val, "test") || !strcmp(val, "train") || !strcmp(val, "validation")))
            set = val;
        else if (!strcmp(opt, "--fold")) rc = cli_parse_int("segment", opt, val, 0, 1000, &fold);
        else if (!strcmp(opt, "--tta") && (!strcmp(val, "on") || !strcmp(val, "off"))) tta = !strcmp(val, "on");
        else if (!strcmp(opt, "--icm") && (!strcmp(val, "largest") || !strcmp(val, "all")))
            largest_icm = !strcmp(val, "largest");
        else if (!strcmp(opt, "--threads")) rc = cli_parse_int("segment", opt, val, 1, 1024, &threads);
        else {
            fprintf(stderr, "blasto segment predict: bad option '%s' %s (blasto segment --help)\n", opt, val);
            return 2;
        }
        if (rc) return rc;
    }
    if (!model || !cohort_path || !out) {
        fprintf(stderr, "blasto segment predict: --model, --cohort and --out are required (blasto segment --help)\n");
        return 2;
    }
    if ((split_path != NULL) != (set != NULL)) {
        fprintf(stderr, "blasto segment predict: --split and --set go together (blasto segment --help)\n");
        return 2;
    }
    if (cli_apply_threads("segment", threads) || cli_open_device("segment", &device)) return 1;

    bl_segmenter *seg = NULL;
    bl_cohort *cohort = NULL;
    bl_split *split = NULL;
    int *chosen = NULL, n = 0, rc = 1;
    bl_status st = bl_segmenter_open(model, &device, &seg);
    if (!st) seg->tta = tta, seg->largest_icm = largest_icm;
    if (!st) st = bl_cohort_read(cohort_path, 1, &cohort);
    if (!st && split_path) st = bl_split_read(split_path, 0, &split);
    if (!st && split && !strcmp(set, "validation") && fold < 0) fold = seg->options.fold;
    if (!st && !(chosen = calloc((size_t)cohort->n, sizeof *chosen))) st = bl_fail(BL_ERR_NOMEM, "out of memory");
    if (!st) st = bl_split_select(cohort, split, split_path, set, (int)fold, chosen, &n);
    cli_progress bar;
    cli_progress_init(&bar);
    bl_segment_predict_callbacks cb = {.user = &bar, .progress = on_predicted};
    if (!st) st = bl_segment_predict_dir(seg, cohort, chosen, n, 0, out, &cb);
    if (st && strncmp(bl_last_error(), out, strlen(out)) == 0 && strstr(bl_last_error(), ": exists and is not")) {
        char rest[512]; /* name the option: "<out>: --out: exists and is not …" */
        snprintf(rest, sizeof rest, "%s", bl_last_error() + strlen(out));
        bl_fail(st, "%s: --out%s", out, rest);
    }
    if (st) cli_progress_note(&bar, "blasto segment predict: %s", bl_last_error());
    if (!st) {
        rc = 0;
        cli_progress_note(&bar, "segment predict: %d images with %s (epoch %d) -> %s (icm/, te/, <id>.json, "
                          "cohort.csv)", n, model, seg->epoch, out);
    }
    free(chosen);
    bl_split_free(split);
    bl_cohort_free(cohort);
    bl_segmenter_free(seg);
    return rc;
}

/* ---- metrics ---- */

enum { MEASURES = 4 };
static const char *const MEASURE_NAMES[MEASURES] = {"dice", "jaccard", "precision", "recall"};

static double measure(const bl_seg_counts *c, int which, int cls) {
    return which == 0 ? bl_seg_dice(c, cls)
           : which == 1 ? bl_seg_jaccard(c, cls)
           : which == 2 ? bl_seg_precision(c, cls)
                        : bl_seg_recall(c, cls);
}

/* the labels of a row at w×h (its masks or labelme polygons rasterised at that size) */
static bl_status row_labels(const bl_cohort_row *row, int w, int h, uint8_t **labels) {
    bl_enhance_options o;
    bl_enhance_options_default(&o);
    *labels = malloc((size_t)w * (size_t)h);
    if (!*labels) return bl_fail(BL_ERR_NOMEM, "out of memory");
    return bl_seg_row_labels(row, &o, w, h, *labels);
}

static int segment_metrics(int argc, char **argv) {
    const char *pred_dir = NULL, *cohort_path = NULL, *out = NULL;
    for (int i = 2; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(opt, "--help")) return segment_help();
        i++;
        if (!val) {
            fprintf(stderr, "blasto segment metrics: %s: missing value (blasto segment --help)\n", opt);
            return 2;
        }
        if (!strcmp(opt, "--pred")) pred_dir = val;
        else if (!strcmp(opt, "--cohort")) cohort_path = val;
        else if (!strcmp(opt, "--out")) out = val;
        else {
            fprintf(stderr, "blasto segment metrics: bad option '%s' %s (blasto segment --help)\n", opt, val);
            return 2;
        }
    }
    if (!pred_dir || !cohort_path) {
        fprintf(stderr, "blasto segment metrics: --pred and --cohort are required (blasto segment --help)\n");
        return 2;
    }
    bl_cohort *pred = NULL, *truth = NULL;
    char *pred_csv = path_join(pred_dir, "cohort.csv", "");
    bl_status st = pred_csv ? bl_cohort_read(pred_csv, 1, &pred) : bl_fail(BL_ERR_NOMEM, "out of memory");
    if (!st) st = bl_cohort_read(cohort_path, 1, &truth);
    int n = pred ? pred->n : 0;
    double *values = !st ? calloc((size_t)n * 2 * MEASURES, sizeof *values) : NULL; /* [image][class][measure] */
    if (!st && !values) st = bl_fail(BL_ERR_NOMEM, "out of memory");
    bl_seg_counts pooled = {0};
    static const int classes[2] = {BL_SEG_ICM, BL_SEG_TE};
    for (int i = 0; !st && i < n; i++) {
        const bl_cohort_row *p = &pred->rows[i];
        int t = bl_cohort_find(truth, p->id);
        if (t < 0) {
            st = bl_fail(BL_ERR_INVALID, "%s: id '%s' (line %d) is not in %s", pred_csv, p->id, p->line, cohort_path);
            break;
        }
        if (!p->icm_mask) {
            st = bl_fail(BL_ERR_INVALID, "%s: line %d: column 'annotation': expected the predicted mask pair", pred_csv,
                         p->line);
            break;
        }
        if (!truth->rows[t].annotation && !truth->rows[t].icm_mask) {
            st = bl_fail(BL_ERR_INVALID, "%s: line %d: column 'annotation': '%s' has no annotation to compare with",
                         cohort_path, truth->rows[t].line, p->id);
            break;
        }
        bl_image mask = {0};
        uint8_t *pl = NULL, *tl = NULL;
        if (!(st = bl_image_load(p->icm_mask, 1, &mask)) && !(st = row_labels(p, mask.width, mask.height, &pl)))
            st = row_labels(&truth->rows[t], mask.width, mask.height, &tl);
        if (!st) {
            bl_seg_counts c = {0};
            bl_seg_count(tl, pl, (int64_t)mask.width * mask.height, &c);
            bl_seg_count(tl, pl, (int64_t)mask.width * mask.height, &pooled);
            for (int k = 0; k < 2; k++)
                for (int m = 0; m < MEASURES; m++) values[(i * 2 + k) * MEASURES + m] = measure(&c, m, classes[k]);
        }
        bl_image_free(&mask);
        free(pl);
        free(tl);
    }
    cJSON *root = NULL;
    if (!st) {
        root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "predictions", pred_dir);
        cJSON_AddStringToObject(root, "cohort", cohort_path);
        cJSON_AddNumberToObject(root, "images", n);
        printf("segment metrics: %d images (%s against %s)\n", n, pred_dir, cohort_path);
        printf("%-5s %-18s %-18s %-18s %-18s\n", "class", "dice mean (SD)", "jaccard mean (SD)", "precision (SD)",
               "recall (SD)");
        for (int k = 0; k < 2; k++) {
            printf("%-5s", bl_seg_class_name(classes[k]));
            for (int m = 0; m < MEASURES; m++) {
                double sum = 0, sq = 0;
                for (int i = 0; i < n; i++) sum += values[(i * 2 + k) * MEASURES + m];
                double mean = sum / n;
                for (int i = 0; i < n; i++) sq += pow(values[(i * 2 + k) * MEASURES + m] - mean, 2);
                double sd = n > 1 ? sqrt(sq / (n - 1)) : 0;
                char key[64];
                snprintf(key, sizeof key, "%s_%s", MEASURE_NAMES[m], bl_seg_class_name(classes[k]));
                cJSON *entry = cJSON_AddObjectToObject(root, key);
                cli_json_add_number(entry, "mean", mean);
                cli_json_add_number(entry, "sd", sd);
                cli_json_add_number(entry, "pooled", measure(&pooled, m, classes[k]));
                printf(" %.4f (%.4f)    ", mean, sd);
            }
            printf("\n");
        }
        cJSON *per_image = cJSON_AddArrayToObject(root, "per_image");
        for (int i = 0; i < n; i++) {
            cJSON *row = cJSON_CreateObject();
            cJSON_AddStringToObject(row, "id", pred->rows[i].id);
            for (int k = 0; k < 2; k++)
                for (int m = 0; m < MEASURES; m++) {
                    char key[64];
                    snprintf(key, sizeof key, "%s_%s", MEASURE_NAMES[m], bl_seg_class_name(classes[k]));
                    cli_json_add_number(row, key, values[(i * 2 + k) * MEASURES + m]);
                }
            cJSON_AddItemToArray(per_image, row);
        }
        if (out) {
            char *text = cJSON_Print(root);
            st = text ? bl_write_file_atomic(out, text, strlen(text)) : bl_fail(BL_ERR_NOMEM, "out of memory");
            free(text);
        }
    }
    cJSON_Delete(root);
    free(values);
    free(pred_csv);
    bl_cohort_free(pred);
    bl_cohort_free(truth);
    return st ? fail("metrics") : 0;
}

int cmd_segment(int argc, char **argv) {
    const char *sub = argc > 1 ? argv[1] : NULL;
    if (!sub || !strcmp(sub, "--help") || !strcmp(sub, "help")) return segment_help();
    if (!strcmp(sub, "train")) return segment_train(argc, argv);
    if (!strcmp(sub, "predict")) return segment_predict(argc, argv);
    if (!strcmp(sub, "metrics")) return segment_metrics(argc, argv);
    fprintf(stderr, "blasto segment: unknown subcommand '%s' (expected train, predict or metrics; blasto segment "
                    "--help)\n", sub);
    return 2;
}
