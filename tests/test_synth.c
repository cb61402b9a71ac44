/* test_synth.c — the synthetic cohort (tools/study/synth.h, `blasto synth`):
 *   - the outcome model on n = 600 draws: prevalence 0.32 and age mean/SD per label (paper Table 1) within 4
 *     standard errors; all five clinics; the ICM outline area and the TE cell count separate the labels
 *     (AUROC > 0.6), so the annotated regions carry signal;
 *   - polygons: inside the image (not clamped), ≥ 3 points, the ICM inside the embryo, little ICM/TE overlap when
 *     both are filled with cv2-exact bl_fill_poly;
 *   - the CLI: byte-identical PNG/JSON/CSV for the same seed with 1 and 2 threads, other files for another seed,
 *     embryo i independent of N, cohort.csv rows matching bl_synth_draw, every labelme JSON parsed with cJSON
 *     (and with tools/study/labelme.h), progress with ETA on stderr, errors with exit codes and no cohort.csv. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "harness.h"
#include "study/csv.h"
#include "study/labelme.h"
#include "study/raster.h"
#include "study/synth.h"
#include "support/test_support.h"

#define SEED 11
#define N_STATS 600

static char work_dir[256];

static const char *path_in(const char *fmt, const char *name) {
    static char buf[8][1024];
    static int k;
    k = (k + 1) % 8;
    char rel[512];
    snprintf(rel, sizeof rel, fmt, name);
    snprintf(buf[k], sizeof buf[k], "%s/%s", work_dir, rel);
    return buf[k];
}

/* AUROC of score for label 1 vs 0 (Mann–Whitney, ties count one half) */
static double auroc(const double *score, const int *label, int n) {
    double wins = 0;
    long pairs = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (label[i] == 1 && label[j] == 0) {
                wins += score[i] > score[j] ? 1.0 : score[i] == score[j] ? 0.5 : 0.0;
                pairs++;
            }
    return pairs ? wins / pairs : 0.5;
}

/* shoelace area of a polygon in pixels² */
static double polygon_area(const float (*p)[2], int n) {
    double a = 0;
    for (int k = 0; k < n; k++) {
        int m = (k + 1) % n;
        a += (double)p[k][0] * p[m][1] - (double)p[m][0] * p[k][1];
    }
    return fabs(a) / 2;
}

static void test_outcome_model(void) {
    static int label[N_STATS];
    static double age[N_STATS], icm_area[N_STATS], te_cells[N_STATS];
    int clinics[BL_SYNTH_CLINICS] = {0};
    bl_synth_embryo e, again;
    bl_synth_polygons p;
    for (int i = 0; i < N_STATS; i++) {
        if (bl_synth_draw(SEED, i, 256, &e) || bl_synth_polygons_of(&e, &p)) {
            CHECK(0, "draw %d: %s", i, bl_last_error());
            return;
        }
        label[i] = e.label;
        age[i] = e.age;
        clinics[e.clinic]++;
        icm_area[i] = polygon_area((const float (*)[2])p.icm, BL_SYNTH_ICM_POINTS);
        te_cells[i] = p.te_cells;
    }
    bl_synth_draw(SEED, 17, 256, &e);
    bl_synth_draw(SEED, 17, 256, &again);
    CHECK(memcmp(&e, &again, sizeof e) == 0, "the same (seed, index) draws the same embryo");
    bl_synth_draw(SEED + 1, 17, 256, &again);
    CHECK(e.center_x != again.center_x && e.quality != again.quality, "another seed draws another embryo");

    /* prevalence and age | label within 4 standard errors */
    int pos = 0;
    double sum[2] = {0}, sum2[2] = {0};
    for (int i = 0; i < N_STATS; i++) pos += label[i], sum[label[i]] += age[i], sum2[label[i]] += age[i] * age[i];
    double prevalence = (double)pos / N_STATS, se = sqrt(0.32 * 0.68 / N_STATS);
    CHECK(fabs(prevalence - 0.32) < 4 * se, "prevalence %.3f ≈ 0.32 (± %.3f)", prevalence, 4 * se);
    const double want_mean[2] = {36.2, 34.0}, want_sd[2] = {3.9, 3.1};
    int count[2] = {N_STATS - pos, pos};
    for (int y = 0; y < 2; y++) {
        double mean = sum[y] / count[y];
        double sd = sqrt((sum2[y] - count[y] * mean * mean) / (count[y] - 1));
        double se_mean = want_sd[y] / sqrt(count[y]), se_sd = want_sd[y] / sqrt(2.0 * (count[y] - 1));
        printf("label %d: n %d, age %.2f ± %.2f (paper %.1f ± %.1f)\n", y, count[y], mean, sd, want_mean[y],
               want_sd[y]);
        CHECK(fabs(mean - want_mean[y]) < 4 * se_mean, "label %d: mean age %.2f ≈ %.1f (± %.2f)", y, mean,
              want_mean[y], 4 * se_mean);
        CHECK(fabs(sd - want_sd[y]) < 4 * se_sd + 0.1, "label %d: age SD %.2f ≈ %.1f (± %.2f)", y, sd, want_sd[y],
              4 * se_sd + 0.1);
    }
    for (int k = 0; k < BL_SYNTH_CLINICS; k++) CHECK(clinics[k] > 20, "clinic %c has rows (%d)", 'A' + k, clinics[k]);
    /* what the annotations outline carries the outcome */
    double auc_icm = auroc(icm_area, label, N_STATS), auc_te = auroc(te_cells, label, N_STATS);
    double neg_age[N_STATS];
    for (int i = 0; i < N_STATS; i++) neg_age[i] = -age[i];
    double auc_age = auroc(neg_age, label, N_STATS);
    printf("AUROC vs label: ICM outline area %.3f, TE cell count %.3f, younger age %.3f\n", auc_icm, auc_te, auc_age);
    CHECK(auc_icm > 0.6, "ICM area separates the labels (AUROC %.3f)", auc_icm);
    CHECK(auc_te > 0.6, "TE cell count separates the labels (AUROC %.3f)", auc_te);
    CHECK(auc_age > 0.58, "age separates the labels (AUROC %.3f)", auc_age);
}

/* One rendered embryo per clinic size: polygons inside, masks sensible. */
static void test_render(void) {
    for (int i = 0; i < 6; i++) {
        int size = i == 5 ? 128 : 256;
        bl_synth_embryo e;
        bl_synth_polygons p;
        bl_image img = {0};
        if (bl_synth_draw(SEED, i, size, &e) || bl_synth_render(&e, &img, &p)) {
            CHECK(0, "render %d: %s", i, bl_last_error());
            continue;
        }
        CHECK(img.width == size && img.height == size && img.channels == 1, "image %d is %dx%d gray", i, size, size);
        double mean = 0;
        int lo = 255, hi = 0;
        for (int k = 0; k < size * size; k++) {
            mean += img.pixels[k];
            lo = img.pixels[k] < lo ? img.pixels[k] : lo;
            hi = img.pixels[k] > hi ? img.pixels[k] : hi;
        }
        mean /= size * size;
        CHECK(mean > 60 && mean < 210 && hi - lo > 60, "image %d: mean %.0f, range %d..%d", i, mean, lo, hi);
        /* every point strictly inside (the render clamps to the border only as a last resort) */
        int inside = 1;
        for (int k = 0; k < BL_SYNTH_ICM_POINTS; k++)
            inside &= p.icm[k][0] >= 1 && p.icm[k][1] >= 1 && p.icm[k][0] < size - 1 && p.icm[k][1] < size - 1;
        for (int j = 0; j < p.te_cells; j++)
            for (int k = 0; k < p.te_points[j]; k++)
                inside &= p.te[j][k][0] >= 1 && p.te[j][k][1] >= 1 && p.te[j][k][0] < size - 1 &&
                          p.te[j][k][1] < size - 1;
        CHECK(inside, "image %d: every polygon point inside the image", i);
        /* cv2-exact masks: ICM a few % of the image, TE a ring, little overlap */
        static uint8_t icm[256 * 256], te[256 * 256];
        static int32_t pts[BL_SYNTH_MAX_TE_CELLS][BL_SYNTH_TE_MAX_POINTS * 2], icm_pts[BL_SYNTH_ICM_POINTS * 2];
        memset(icm, 0, sizeof icm), memset(te, 0, sizeof te);
        for (int k = 0; k < BL_SYNTH_ICM_POINTS; k++) { /* np.int32 truncation, as tools/study/enhance.c does */
            icm_pts[2 * k] = bl_truncate_coordinate(p.icm[k][0]);
            icm_pts[2 * k + 1] = bl_truncate_coordinate(p.icm[k][1]);
        }
        bl_contour contour = {icm_pts, BL_SYNTH_ICM_POINTS}, te_contours[BL_SYNTH_MAX_TE_CELLS];
        for (int j = 0; j < p.te_cells; j++) {
            for (int k = 0; k < p.te_points[j]; k++) {
                pts[j][2 * k] = bl_truncate_coordinate(p.te[j][k][0]);
                pts[j][2 * k + 1] = bl_truncate_coordinate(p.te[j][k][1]);
            }
            te_contours[j] = (bl_contour){pts[j], p.te_points[j]};
        }
        CHECK(bl_fill_poly(icm, size, size, &contour, 1, 255) == BL_OK &&
                  bl_fill_poly(te, size, size, te_contours, p.te_cells, 255) == BL_OK,
              "fill: %s", bl_last_error());
        /* neighbouring TE cells share their boundary edge bit for bit, and the cells do not overlap: filling them
         * all in one even–odd call (as tools/study/enhance.c does) equals the union of the cells filled one by one */
        int shared = 1;
        for (int j = 0; j < p.te_cells; j++) {
            int next = (j + 1) % p.te_cells, arc = p.te_points[j] / 2, next_arc = p.te_points[next] / 2;
            shared &= memcmp(p.te[j][arc - 1], p.te[next][0], sizeof p.te[j][0]) == 0 &&
                      memcmp(p.te[j][arc], p.te[next][2 * next_arc - 1], sizeof p.te[j][0]) == 0;
        }
        CHECK(shared, "image %d: neighbouring TE cells share their boundary points exactly", i);
        static uint8_t te_union[256 * 256];
        memset(te_union, 0, sizeof te_union);
        for (int j = 0; j < p.te_cells; j++) bl_fill_poly(te_union, size, size, &te_contours[j], 1, 255);
        CHECK(memcmp(te, te_union, (size_t)size * size) == 0, "image %d: one-call TE fill = union of the cells", i);
        int a_icm = 0, a_te = 0, both = 0;
        for (int k = 0; k < size * size; k++) a_icm += icm[k] > 0, a_te += te[k] > 0, both += icm[k] && te[k];
        double f_icm = (double)a_icm / (size * size), f_te = (double)a_te / (size * size);
        CHECK(f_icm > 0.01 && f_icm < 0.15, "image %d: ICM mask %.3f of the image", i, f_icm);
        CHECK(f_te > 0.03 && f_te < 0.25, "image %d: TE mask %.3f of the image", i, f_te);
        CHECK(both < 0.25 * a_icm, "image %d: ICM/TE overlap %d of %d ICM pixels", i, both, a_icm);
        /* the TE ring has a hole: the embryo's centre is not TE */
        int cx = (int)e.center_x, cy = (int)e.center_y;
        CHECK(!te[cy * size + cx], "image %d: the TE mask is a ring (centre not TE)", i);
        bl_image_free(&img);
    }
}

/* ---- the CLI ---- */

static int run(const char *args, char *out, size_t size) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "synth %s", args);
    return test_run_cli(cmd, 1, out, size);
}

static int same_file(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    char *x = test_read_file(a, &na), *y = test_read_file(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x), free(y);
    return same;
}

static int exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Every labelme JSON of the cohort in `dir`: cJSON parse, shapes, points, image fields. */
static void check_annotations(const char *dir, int n) {
    char rel[256];
    int ok_json = 1, ok_shapes = 1, ok_points = 1, ok_image = 1, ok_reader = 1;
    for (int i = 0; i < n; i++) {
        snprintf(rel, sizeof rel, "%s/annotations/synth_%04d.json", dir, i + 1);
        size_t size = 0;
        char *text = test_read_file(path_in("%s", rel), &size);
        cJSON *doc = text ? cJSON_Parse(text) : NULL;
        free(text);
        if (!doc) {
            ok_json = 0;
            continue;
        }
        bl_synth_embryo e;
        bl_synth_draw(SEED, i, 256, &e);
        cJSON *shapes = cJSON_GetObjectItemCaseSensitive(doc, "shapes");
        int icm = 0, te = 0, n_shapes = cJSON_GetArraySize(shapes);
        for (int s = 0; s < n_shapes; s++) {
            cJSON *shape = cJSON_GetArrayItem(shapes, s);
            cJSON *label = cJSON_GetObjectItemCaseSensitive(shape, "label");
            cJSON *type = cJSON_GetObjectItemCaseSensitive(shape, "shape_type");
            cJSON *points = cJSON_GetObjectItemCaseSensitive(shape, "points");
            if (!cJSON_IsString(label) || !cJSON_IsString(type) || strcmp(type->valuestring, "polygon") != 0)
                ok_shapes = 0;
            else if (strcmp(label->valuestring, "icm") == 0) icm++;
            else if (strncmp(label->valuestring, "te_", 3) == 0 && atoi(label->valuestring + 3) == te + 1) te++;
            else ok_shapes = 0;
            if (!cJSON_IsArray(points) || cJSON_GetArraySize(points) < 3) ok_points = 0;
            cJSON *pt;
            cJSON_ArrayForEach(pt, points) {
                cJSON *x = cJSON_GetArrayItem(pt, 0), *y = cJSON_GetArrayItem(pt, 1);
                if (cJSON_GetArraySize(pt) != 2 || !cJSON_IsNumber(x) || !cJSON_IsNumber(y) || x->valuedouble < 0 ||
                    y->valuedouble < 0 || x->valuedouble >= 256 || y->valuedouble >= 256)
                    ok_points = 0;
            }
        }
        if (icm != 1 || te != e.te_cells) ok_shapes = 0;
        cJSON *path = cJSON_GetObjectItemCaseSensitive(doc, "imagePath");
        char image[512];
        snprintf(image, sizeof image, "%s/annotations/%s", dir, cJSON_IsString(path) ? path->valuestring : "?");
        if (!exists(path_in("%s", image)) || cJSON_GetObjectItemCaseSensitive(doc, "imageWidth")->valueint != 256 ||
            cJSON_GetObjectItemCaseSensitive(doc, "imageHeight")->valueint != 256 ||
            !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(doc, "imageData")))
            ok_image = 0;
        cJSON_Delete(doc);
        bl_labelme *lm = NULL; /* the project's own labelme reader accepts it too */
        if (bl_labelme_read(path_in("%s", rel), &lm) != BL_OK || lm->n_shapes != 1 + e.te_cells ||
            lm->image_width != 256)
            ok_reader = 0;
        bl_labelme_free(lm);
    }
    CHECK(ok_json, "every annotation parses with cJSON");
    CHECK(ok_shapes, "one 'icm' polygon and te_1 … te_<n> polygons (n = the embryo's TE cells)");
    CHECK(ok_points, "every polygon has ≥ 3 [x, y] points inside the 256×256 image");
    CHECK(ok_image, "imagePath points at the PNG; imageWidth/imageHeight 256; imageData null");
    CHECK(ok_reader, "tools/study/labelme.h reads every annotation");
}

static void test_cli(void) {
    static char out[1 << 16];
    char args[2048];
    CHECK(run("--help", out, sizeof out) == 0 && strstr(out, "usage: blasto synth"), "--help: %s", out);
    snprintf(args, sizeof args, "--out %s --n 24 --seed %d --threads 1", path_in("%s", "t1"), SEED);
    CHECK(run(args, out, sizeof out) == 0 && strstr(out, "synth: 24/24 images") && strstr(out, "ETA"),
          "synth --n 24 with progress on stderr: %s", out);
    snprintf(args, sizeof args, "--out %s --n 24 --seed %d --threads 2", path_in("%s", "t2"), SEED);
    CHECK(run(args, out, sizeof out) == 0, "synth --threads 2: %s", out);
    snprintf(args, sizeof args, "--out %s --n 10 --seed %d --quiet", path_in("%s", "n10"), SEED);
    CHECK(run(args, out, sizeof out) == 0 && !strstr(out, "ETA"), "synth --n 10 --quiet: %s", out);
    snprintf(args, sizeof args, "--out %s --n 24 --seed %d --quiet", path_in("%s", "other"), SEED + 1);
    CHECK(run(args, out, sizeof out) == 0, "synth other seed: %s", out);

    int identical = same_file(path_in("%s", "t1/cohort.csv"), path_in("%s", "t2/cohort.csv")) &&
                    same_file(path_in("%s", "t1/latent.csv"), path_in("%s", "t2/latent.csv"));
    int prefix = 1, differs = 0;
    char a[256], b[256];
    for (int i = 1; i <= 24; i++) {
        const char *kinds[2][2] = {{"images", "png"}, {"annotations", "json"}};
        for (int k = 0; k < 2; k++) {
            snprintf(a, sizeof a, "t1/%s/synth_%04d.%s", kinds[k][0], i, kinds[k][1]);
            snprintf(b, sizeof b, "t2/%s/synth_%04d.%s", kinds[k][0], i, kinds[k][1]);
            identical &= same_file(path_in("%s", a), path_in("%s", b));
            if (i <= 10) {
                snprintf(b, sizeof b, "n10/%s/synth_%04d.%s", kinds[k][0], i, kinds[k][1]);
                prefix &= same_file(path_in("%s", a), path_in("%s", b));
            }
            snprintf(b, sizeof b, "other/%s/synth_%04d.%s", kinds[k][0], i, kinds[k][1]);
            differs += !same_file(path_in("%s", a), path_in("%s", b));
        }
    }
    CHECK(identical, "1 and 2 threads: byte-identical PNG, JSON and CSV files");
    CHECK(prefix, "embryo i does not depend on N (the first 10 of N = 24 equal N = 10)");
    CHECK(differs == 48 && !same_file(path_in("%s", "t1/cohort.csv"), path_in("%s", "other/cohort.csv")),
          "another seed: every file differs (%d of 48)", differs);

    /* cohort.csv: the header, relative paths that exist, rows equal to bl_synth_draw */
    bl_csv *csv = NULL;
    CHECK(bl_csv_read(path_in("%s", "t1/cohort.csv"), &csv) == BL_OK, "cohort.csv reads: %s", bl_last_error());
    if (csv) {
        const char *header[6] = {"id", "image", "annotation", "age", "clinic", "label"};
        int cols_ok = csv->n_columns == 6;
        for (int j = 0; cols_ok && j < 6; j++) cols_ok = strcmp(csv->header[j], header[j]) == 0;
        CHECK(cols_ok && csv->n_rows == 24, "cohort.csv: id,image,annotation,age,clinic,label and 24 rows");
        int rows_ok = 1;
        for (int i = 0; cols_ok && i < csv->n_rows; i++) {
            bl_synth_embryo e;
            bl_synth_draw(SEED, i, 256, &e);
            char id[32], rel[300];
            snprintf(id, sizeof id, "synth_%04d", i + 1);
            rows_ok &= strcmp(csv->rows[i][0], id) == 0 && atoi(csv->rows[i][3]) == e.age &&
                       csv->rows[i][4][0] == bl_synth_clinic_name(e.clinic) && atoi(csv->rows[i][5]) == e.label;
            snprintf(rel, sizeof rel, "t1/%s", csv->rows[i][1]);
            rows_ok &= csv->rows[i][1][0] != '/' && exists(path_in("%s", rel));
            snprintf(rel, sizeof rel, "t1/%s", csv->rows[i][2]);
            rows_ok &= exists(path_in("%s", rel));
        }
        CHECK(rows_ok, "cohort rows: ids, ages, clinics, labels as drawn; relative paths that exist");
        bl_csv_free(csv);
    }
    check_annotations("t1", 24);

    /* errors: usage → 2; an unusable directory → 1, one line, no cohort.csv */
    snprintf(args, sizeof args, "--out %s --n 0", path_in("%s", "bad"));
    CHECK(run(args, out, sizeof out) == 2 && strstr(out, "--n: expected an integer"), "--n 0: exit 2: %s", out);
    snprintf(args, sizeof args, "--n 5");
    CHECK(run(args, out, sizeof out) == 2 && strstr(out, "--out DIR is required"), "no --out: exit 2: %s", out);
    snprintf(args, sizeof args, "--out %s --n 5 --size 32", path_in("%s", "bad"));
    CHECK(run(args, out, sizeof out) == 2, "--size 32: exit 2: %s", out);
    FILE *f = fopen(path_in("%s", "a_file"), "w");
    if (f) fclose(f);
    snprintf(args, sizeof args, "--out %s/sub --n 5 --quiet", path_in("%s", "a_file"));
    CHECK(run(args, out, sizeof out) == 1 && strncmp(out, "blasto synth: ", 14) == 0 &&
              strstr(out, "cannot create directory") && !exists(path_in("%s", "a_file/sub/cohort.csv")),
          "output under a file: exit 1, one message: %s", out);
}

int main(void) {
    if (!test_make_tmp_dir(work_dir, sizeof work_dir, "blasto_test_synth"))
        return test_skip("cannot create a temporary directory");
    test_outcome_model();
    test_render();
    test_cli();
    test_remove_tree(work_dir);
    return test_summary("test_synth");
}
