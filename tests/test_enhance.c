/* test_enhance.c — the enhanced ICM/TE image (tools/study/enhance.h) and `blasto enhance`:
 *   - label → region mapping; the three channels of a small synthetic case against raster.h directly (TE polygons
 *     filled in ONE call: overlapping cells cancel, as in cv2.fillPoly with a list); channel order; mask PNGs
 *     (any non-zero channel = inside) give the same image as the labelme polygons they came from;
 *   - bad annotations with their exact messages;
 *   - the CLI: cohort and one-image modes, identical bytes for 1 and 3 threads, every bad input → one line on
 *     stderr, exit 1 and NOTHING written in --out (also when the bad row is the last one, and in an existing DIR);
 *   - real data (../shared/data/pcrm-blastocyst, skipped when absent): all 109 annotated images, ICM-mask IoU
 *     ≥ 0.97 against the data set's own masks (drawn by PIL, another rasteriser). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/rng.h"
#include "harness.h"
#include "study/csv.h"
#include "study/enhance.h"
#include "study/labelme.h"
#include "study/raster.h"
#include "support/test_support.h"

static char tmp_dir[256];
static char out[1 << 16];

static const char *tmp_path(char *buf, const char *name) { return test_path_in(buf, 512, tmp_dir, name); }

/* Runs `BLASTO_CLI args` with stdout and stderr captured into out; returns the exit code. */
static int run(const char *args) { return test_run_cli(args, 1, out, sizeof out); }

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static int same_image(const bl_image *a, const bl_image *b) {
    return a->width == b->width && a->height == b->height && a->channels == b->channels &&
           memcmp(a->pixels, b->pixels, (size_t)a->width * a->height * a->channels) == 0;
}

static int same_file_bytes(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) same = 0;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

/* ---- a small synthetic case -------------------------------------------------------------------------------- */

enum { W = 40, H = 30 };
/* te_1 and te_2 overlap around x 10..15, y 2..10; "zp" is a circle with an ignored label */
static const char *const CASE_JSON =
    "{\"version\": \"3.16.7\", \"flags\": {}, \"shapes\": [\n"
    " {\"label\": \"icm\", \"points\": [[10.7, 5.2], [25.9, 8.1], [18.3, 20.6], [-0.6, 14.9]], \"shape_type\": \"polygon\"},\n"
    " {\"label\": \"te_1\", \"points\": [[-2.5, 0.5], [15.0, -1.0], [12.2, 10.4], [0.9, 12.0]], \"shape_type\": \"polygon\"},\n"
    " {\"label\": \"te_2\", \"points\": [[10.0, 2.0], [38.6, 3.3], [39.9, 29.9], [30.2, 27.0]], \"shape_type\": null},\n"
    " {\"label\": \"zp\", \"points\": [[20, 15], [35, 15]], \"shape_type\": \"circle\"}\n"
    "], \"imagePath\": \"case.png\", \"imageData\": null, \"imageHeight\": 30, \"imageWidth\": 40}\n";

static const double ICM_POINTS[] = {10.7, 5.2, 25.9, 8.1, 18.3, 20.6, -0.6, 14.9};
static const double TE1_POINTS[] = {-2.5, 0.5, 15.0, -1.0, 12.2, 10.4, 0.9, 12.0};
static const double TE2_POINTS[] = {10.0, 2.0, 38.6, 3.3, 39.9, 29.9, 30.2, 27.0};

static void truncate_points(const double *v, int n, int32_t *p) {
    for (int i = 0; i < 2 * n; i++) p[i] = bl_truncate_coordinate(v[i]);
}

/* <tmp>/case.png: random RGB pixels from the counter RNG */
static void make_case_image(const char *path) {
    bl_image img;
    CHECK(bl_image_alloc(&img, W, H, 3) == BL_OK, "alloc");
    bl_rng r = bl_rng_stream(7, BL_RNG_TEST, 0);
    for (int i = 0; i < W * H * 3; i++) img.pixels[i] = (uint8_t)(bl_rng_next_u64(&r) >> 56);
    CHECK(bl_image_save_png(&img, path) == BL_OK, "save %s: %s", path, bl_last_error());
    bl_image_free(&img);
}

static void test_region_labels(void) {
    static const struct { const char *label; bl_region region; } cases[] = {
        {"icm", BL_REGION_ICM}, {"ICM", BL_REGION_ICM}, {"te", BL_REGION_TE},       {"TE", BL_REGION_TE},
        {"te_1", BL_REGION_TE}, {"TE_12", BL_REGION_TE}, {"te_86", BL_REGION_TE},   {"te_", BL_REGION_NONE},
        {"te_x", BL_REGION_NONE}, {"Icm", BL_REGION_NONE}, {"zp", BL_REGION_NONE}, {"icm ", BL_REGION_NONE},
        {"te_1a", BL_REGION_NONE}, {"", BL_REGION_NONE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(bl_region_of_label(cases[i].label) == cases[i].region, "label '%s'", cases[i].label);
    /* a configured mapping replaces the default rule for its region only */
    bl_enhance_options o;
    bl_enhance_options_default(&o);
    CHECK(bl_region_of_label_in(&o, "te_3") == BL_REGION_TE && bl_region_of_label_in(NULL, "ICM") == BL_REGION_ICM,
          "default options = default rule");
    o.icm_labels = "inner_cell_mass,icm2";
    o.te_labels = "trophectoderm";
    CHECK(bl_region_of_label_in(&o, "icm2") == BL_REGION_ICM, "configured ICM label");
    CHECK(bl_region_of_label_in(&o, "icm") == BL_REGION_NONE, "default ICM label no longer counts");
    CHECK(bl_region_of_label_in(&o, "trophectoderm") == BL_REGION_TE, "configured TE label");
    CHECK(bl_region_of_label_in(&o, "te_1") == BL_REGION_NONE, "default TE label no longer counts");
    CHECK(bl_region_of_label_in(&o, "inner_cell") == BL_REGION_NONE, "labels match exactly, not by prefix");
    o.te_labels = NULL;
    CHECK(bl_region_of_label_in(&o, "te_1") == BL_REGION_TE, "an unconfigured region keeps the default rule");
}

static void test_synthetic_case(void) {
    char image_path[512], json_path[512];
    make_case_image(tmp_path(image_path, "case.png"));
    test_write_text(tmp_path(json_path, "case.json"), CASE_JSON);
    bl_cohort_row row = {.id = "case", .image = image_path, .annotation = json_path, .line = 2};
    bl_enhance_options o;
    bl_enhance_options_default(&o);
    bl_image enhanced, icm, te, rgb;
    bl_status st = bl_enhance_row(&row, &o, &enhanced, &icm, &te);
    CHECK(st == BL_OK, "synthetic case enhances: %s", bl_last_error());
    if (st) return;
    CHECK(bl_image_load(image_path, 3, &rgb) == BL_OK, "reload");

    /* expected masks straight from raster.h: ICM alone, TE = te_1 and te_2 in one call */
    uint8_t want_icm[W * H] = {0}, want_te[W * H] = {0}, separate_te[W * H] = {0};
    int32_t p_icm[8], p_te1[8], p_te2[8];
    truncate_points(ICM_POINTS, 4, p_icm);
    truncate_points(TE1_POINTS, 4, p_te1);
    truncate_points(TE2_POINTS, 4, p_te2);
    bl_contour c_icm = {p_icm, 4}, c_te[2] = {{p_te1, 4}, {p_te2, 4}};
    CHECK(bl_fill_poly(want_icm, W, H, &c_icm, 1, 255) == BL_OK, "icm fill");
    CHECK(bl_fill_poly(want_te, W, H, c_te, 2, 255) == BL_OK, "te fill");
    CHECK(bl_fill_poly(separate_te, W, H, &c_te[0], 1, 255) == BL_OK &&
              bl_fill_poly(separate_te, W, H, &c_te[1], 1, 255) == BL_OK,
          "te fills one by one");
    CHECK(memcmp(icm.pixels, want_icm, sizeof want_icm) == 0, "ICM mask = fillPoly of the truncated icm polygon");
    CHECK(memcmp(te.pixels, want_te, sizeof want_te) == 0, "TE mask = fillPoly of both te polygons in one call");
    int overlap_hole = 0, icm_pixels = 0;
    for (int i = 0; i < W * H; i++) {
        overlap_hole += separate_te[i] && !te.pixels[i];
        icm_pixels += icm.pixels[i] == 255;
    }
    CHECK(overlap_hole > 0, "even-odd across the region: the te_1/te_2 overlap is a hole (%d pixels)", overlap_hole);
    CHECK(icm_pixels > 50 && want_icm[14 * W + 0] == 255, "ICM covers %d pixels; x = -0.6 truncates to column 0",
          icm_pixels);

    int bad = 0;
    for (int i = 0; i < W * H; i++) {
        uint8_t g = bl_gray_of_rgb(rgb.pixels[3 * i], rgb.pixels[3 * i + 1], rgb.pixels[3 * i + 2]);
        bad += enhanced.pixels[3 * i] != g || enhanced.pixels[3 * i + 1] != (want_icm[i] ? g : 0) ||
               enhanced.pixels[3 * i + 2] != (want_te[i] ? g : 0);
    }
    CHECK(bad == 0, "channels (gray, gray·ICM, gray·TE): %d pixels differ", bad);

    /* order te,gray,icm puts TE in R, gray in G, ICM in B */
    bl_image permuted;
    o.order[0] = BL_CHANNEL_TE, o.order[1] = BL_CHANNEL_GRAY, o.order[2] = BL_CHANNEL_ICM;
    CHECK(bl_enhance_row(&row, &o, &permuted, NULL, NULL) == BL_OK, "permuted order");
    bad = 0;
    for (int i = 0; i < W * H; i++)
        bad += permuted.pixels[3 * i] != enhanced.pixels[3 * i + 2] ||
               permuted.pixels[3 * i + 1] != enhanced.pixels[3 * i] ||
               permuted.pixels[3 * i + 2] != enhanced.pixels[3 * i + 1];
    CHECK(bad == 0, "order te,gray,icm permutes the channels (%d pixels differ)", bad);
    bl_image_free(&permuted);

    /* the same masks as PNGs: ICM as 0/1 gray, TE as RGB with the inside only in G → same enhanced image */
    bl_image icm01, te_rgb, from_masks;
    bl_image_alloc(&icm01, W, H, 1);
    bl_image_alloc(&te_rgb, W, H, 3);
    for (int i = 0; i < W * H; i++) {
        icm01.pixels[i] = icm.pixels[i] ? 1 : 0;
        te_rgb.pixels[3 * i + 1] = te.pixels[i] ? 5 : 0;
    }
    char icm_path[512], te_path[512];
    bl_image_save_png(&icm01, tmp_path(icm_path, "case_icm01.png"));
    bl_image_save_png(&te_rgb, tmp_path(te_path, "case_te_rgb.png"));
    bl_cohort_row mask_row = {.id = "case", .image = image_path, .icm_mask = icm_path, .te_mask = te_path};
    bl_enhance_options_default(&o);
    CHECK(bl_enhance_row(&mask_row, &o, &from_masks, NULL, NULL) == BL_OK, "mask pair: %s", bl_last_error());
    CHECK(same_image(&from_masks, &enhanced), "mask PNGs (non-zero in any channel = inside) give the same image");
    bl_image_free(&from_masks);

    /* a 1-channel image is its own gray */
    bl_image gray_in, gray_out;
    bl_image_alloc(&gray_in, 3, 2, 1);
    for (int i = 0; i < 6; i++) gray_in.pixels[i] = (uint8_t)(40 * i + 3);
    CHECK(bl_gray_from_image(&gray_in, &gray_out) == BL_OK && same_image(&gray_in, &gray_out), "gray copy");
    bl_image_free(&gray_in);
    bl_image_free(&gray_out);

    bl_image_free(&icm01);
    bl_image_free(&te_rgb);
    bl_image_free(&rgb);
    bl_image_free(&enhanced);
    bl_image_free(&icm);
    bl_image_free(&te);
}

/* ---- bad annotations (library) ---- */

static void expect_annotation_error(const char *name, const char *json, const char *message) {
    char image_path[512], json_path[512], want[1024];
    tmp_path(image_path, "case.png");
    test_write_text(tmp_path(json_path, name), json);
    bl_cohort_row row = {.id = "case", .image = image_path, .annotation = json_path};
    bl_enhance_options o;
    bl_enhance_options_default(&o);
    bl_image img, icm, te;
    bl_status st = bl_enhance_row(&row, &o, &img, &icm, &te);
    snprintf(want, sizeof want, "%s: %s", json_path, message);
    CHECK(st != BL_OK && img.pixels == NULL, "%s: refused", name);
    CHECK(strcmp(bl_last_error(), want) == 0, "%s\n   got  %s\n   want %s", name, bl_last_error(), want);
}

static void test_bad_annotations(void) {
    expect_annotation_error("no_icm.json",
                            "{\"shapes\": [{\"label\": \"te_1\", \"points\": [[1,1],[9,1],[5,8]]}]}",
                            "shapes: no polygon labelled icm/ICM");
    expect_annotation_error("no_te.json", "{\"shapes\": [{\"label\": \"ICM\", \"points\": [[1,1],[9,1],[5,8]]}]}",
                            "shapes: no polygon labelled te/TE/te_<n>");
    expect_annotation_error("two_points.json",
                            "{\"shapes\": [{\"label\": \"te\", \"points\": [[1,1],[9,1],[5,8]]},"
                            " {\"label\": \"icm\", \"points\": [[1,1],[9,1]]}]}",
                            "shapes[1].points: polygon with 2 points (expected ≥ 3)");
    expect_annotation_error("circle.json",
                            "{\"shapes\": [{\"label\": \"icm\", \"points\": [[5,5],[9,5]], \"shape_type\": \"circle\"}]}",
                            "shapes[0].shape_type: not supported for region label 'icm' (expected polygon, got "
                            "'circle')");
    char message[1024];
    snprintf(message, sizeof message, "imageWidth: does not match the width of %s/case.png (expected 40, got 41)",
             tmp_dir);
    expect_annotation_error("width.json",
                            "{\"imageWidth\": 41, \"shapes\": [{\"label\": \"icm\", \"points\": [[1,1],[9,1],[5,8]]}]}",
                            message);
    expect_annotation_error("bad_point.json",
                            "{\"shapes\": [{\"label\": \"icm\", \"points\": [[1,1],[9],[5,8]]}]}",
                            "shapes[0].points[1]: expected [x, y] with two numbers");
    expect_annotation_error("no_label.json", "{\"shapes\": [{\"points\": [[1,1],[9,1],[5,8]]}]}",
                            "shapes[0].label: missing (expected a string)");
    expect_annotation_error("no_shapes.json", "{\"imageWidth\": 40}",
                            "shapes: missing (expected an array of labelme shapes)");
    expect_annotation_error("far.json", "{\"shapes\": [{\"label\": \"icm\", \"points\": [[1,1],[9,1e9],[5,8]]}]}",
                            "shapes[0].points[1]: coordinate 1e+09 out of range (expected |v| ≤ 16777216)");
    expect_annotation_error("truncated.json", "{\"shapes\": [{\"label\": \"icm\", \"points\": [[1,1],",
                            "not valid JSON (error near byte 45 of 46)");
}

/* Every prefix of a valid file and 3000 random byte edits: the parser returns a status (never crashes, never
 * leaks — run under ASan), and every prefix shorter than the whole file is refused. */
static void test_labelme_robustness(void) {
    size_t n = strlen(CASE_JSON);
    char *buf = malloc(n + 1);
    int refused = 0, accepted = 0;
    for (size_t len = 0; len < n; len++) {
        bl_labelme *doc = NULL;
        bl_status st = bl_labelme_parse(CASE_JSON, len, "prefix", &doc);
        /* the text ends with "}\n": only the prefix missing just the newline is complete */
        if (len + 1 < n) refused += st != BL_OK && doc == NULL;
        bl_labelme_free(doc);
    }
    CHECK(refused == (int)n - 1, "every proper prefix refused (%d of %d)", refused, (int)n - 1);
    bl_rng r = bl_rng_stream(11, BL_RNG_TEST, 1);
    static const char alphabet[] = "{}[],:\"0123456789.-e ";
    for (int trial = 0; trial < 3000; trial++) {
        memcpy(buf, CASE_JSON, n + 1);
        for (int k = 0; k < 3; k++) {
            size_t at = (size_t)(bl_rng_next_u64(&r) % n);
            buf[at] = alphabet[bl_rng_next_u64(&r) % (sizeof alphabet - 1)];
        }
        bl_labelme *doc = NULL;
        if (bl_labelme_parse(buf, n, "mutated", &doc) == BL_OK) {
            accepted++;
            for (int i = 0; i < doc->n_shapes; i++)
                CHECK(doc->shapes[i].label && doc->shapes[i].shape_type && doc->shapes[i].n_points >= 0,
                      "accepted shapes are complete");
        } else {
            CHECK(doc == NULL && bl_last_error()[0] != '\0', "a refusal has a message");
        }
        bl_labelme_free(doc);
    }
    printf("labelme robustness: %d prefixes refused; %d of 3000 mutated files still valid JSON shapes\n", refused,
           accepted);
    free(buf);
}

/* ---- the command line ---- */

/* A cohort CSV at <tmp>/<name> with one row per entry of `rows` ("id,image,annotation,age,clinic,label" lines). */
static void write_cohort(const char *name, const char *rows) {
    char path[512], text[4096];
    snprintf(text, sizeof text, "id,image,annotation,age,clinic,label\n%s", rows);
    test_write_text(tmp_path(path, name), text);
}

/* Runs enhance on <tmp>/<cohort> into <tmp>/<out_name> and expects exit 1, exactly "blasto enhance: <message>"
 * (message may start with "@" = the tmp dir) and no output directory afterwards. */
static void expect_cli_error(const char *cohort, const char *extra, const char *message) {
    char args[2048], out_dir[512], want[2048];
    tmp_path(out_dir, "never");
    snprintf(args, sizeof args, "enhance --cohort '%s/%s' --out '%s' %s", tmp_dir, cohort, out_dir, extra);
    int rc = run(args);
    if (message[0] == '@')
        snprintf(want, sizeof want, "blasto enhance: %s%s\n", tmp_dir, message + 1);
    else
        snprintf(want, sizeof want, "blasto enhance: %s\n", message);
    CHECK(rc == 1, "%s: exit 1 (got %d)", cohort, rc);
    CHECK(strcmp(out, want) == 0, "%s: output\n   got  %s   want %s", cohort, out, want);
    CHECK(!file_exists(out_dir), "%s: nothing written (%s exists)", cohort, out_dir);
}

static void test_cli(void) {
    char args[4096], a[512], b[512];
    CHECK(run("enhance --help") == 0 && strstr(out, "usage: blasto enhance"), "enhance --help");
    CHECK(run("enhance --out x --cohort c.csv --order gray,te") == 2 &&
              strcmp(out, "blasto enhance: --order: expected a permutation of gray,icm,te, got 'gray,te'\n") == 0,
          "bad --order is a usage error: %s", out);
    CHECK(run("enhance --cohort c.csv") == 2 && strstr(out, "--out is required"), "--out required: %s", out);

    /* three rows: labelme, labelme, mask pair (relative paths) */
    bl_image icm, te;
    tmp_path(a, "case.png");
    tmp_path(b, "case.json");
    bl_cohort_row row = {.id = "case", .image = a, .annotation = b};
    CHECK(bl_row_masks(&row, NULL, W, H, &icm, &te) == BL_OK, "masks for the pair row");
    bl_image_save_png(&icm, tmp_path(a, "pair_icm.png"));
    bl_image_save_png(&te, tmp_path(a, "pair_te.png"));
    bl_image_free(&icm);
    bl_image_free(&te);
    write_cohort("cohort.csv", "a,case.png,case.json,34,A,1\n"
                               "b 2,case.png,case.json,NaN,B,0\n"
                               "c,case.png,pair_icm.png|pair_te.png,38,A,0\n");
    char out1[512], out3[512];
    tmp_path(out1, "out1");
    tmp_path(out3, "out3");
    snprintf(args, sizeof args, "enhance --cohort '%s/cohort.csv' --out '%s' --threads 1", tmp_dir, out1);
    CHECK(run(args) == 1 && strstr(out, "column 'age': missing and imputation is off"), "NaN age refused: %s", out);
    CHECK(!file_exists(out1), "nothing written for a NaN age");
    strcat(args, " --impute-age");
    CHECK(run(args) == 0, "cohort mode, 1 thread: %s", out);
    snprintf(args, sizeof args, "enhance --cohort '%s/cohort.csv' --out '%s' --threads 3 --impute-age --verbose",
             tmp_dir, out3);
    CHECK(run(args) == 0 && strstr(out, "a: ignored labels: zp"), "cohort mode, 3 threads, verbose: %s", out);
    CHECK(count_entries(out1) == 5 && count_entries(tmp_path(a, "out1/masks")) == 6,
          "3 images + masks/ + cohort.csv, 6 masks (got %d, %d)", count_entries(out1),
          count_entries(tmp_path(a, "out1/masks")));
    const char *files[] = {"a.png", "b 2.png", "c.png", "masks/a_icm.png", "masks/b 2_te.png", "masks/c_te.png",
                           "cohort.csv"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path1[1024], path3[1024];
        snprintf(path1, sizeof path1, "%s/%s", out1, files[i]);
        snprintf(path3, sizeof path3, "%s/%s", out3, files[i]);
        CHECK(same_file_bytes(path1, path3), "%s identical for 1 and 3 threads", files[i]);
    }
    /* the written cohort points at the outputs; every row's image is the same enhanced case */
    FILE *f = fopen(tmp_path(a, "out1/cohort.csv"), "rb");
    size_t k = f ? fread(out, 1, sizeof out - 1, f) : 0;
    out[k] = '\0';
    if (f) fclose(f);
    CHECK(strcmp(out, "id,image,annotation,age,clinic,label\n"
                      "a,a.png,masks/a_icm.png|masks/a_te.png,34,A,1\n"
                      "b 2,b 2.png,masks/b 2_icm.png|masks/b 2_te.png,,B,0\n"
                      "c,c.png,masks/c_icm.png|masks/c_te.png,38,A,0\n") == 0,
          "output cohort.csv:\n%s", out);
    CHECK(same_file_bytes(tmp_path(a, "out1/a.png"), tmp_path(b, "out1/c.png")),
          "labelme row and mask-pair row give the same enhanced image");

    /* one-image mode */
    snprintf(args, sizeof args, "enhance --image '%s/case.png' --annotation '%s/case.json' --out '%s/single.png' "
             "--masks-out '%s/single_masks'", tmp_dir, tmp_dir, tmp_dir, tmp_dir);
    CHECK(run(args) == 0, "one-image mode: %s", out);
    CHECK(same_file_bytes(tmp_path(a, "single.png"), tmp_path(b, "out1/a.png")), "one-image output = cohort output");
    CHECK(same_file_bytes(tmp_path(a, "single_masks/icm.png"), tmp_path(b, "out1/masks/a_icm.png")) &&
              same_file_bytes(tmp_path(a, "single_masks/te.png"), tmp_path(b, "out1/masks/a_te.png")),
          "--masks-out writes icm.png and te.png");
    snprintf(args, sizeof args, "enhance --image '%s/case.png' --annotation '%s/case.json' --out '%s/single.png' "
             "--order te,icm,gray", tmp_dir, tmp_dir, tmp_dir);
    CHECK(run(args) == 0, "--order te,icm,gray: %s", out);

    /* bad inputs: one line, exit 1, nothing written */
    test_write_text(tmp_path(a, "no_icm.json"),
                    "{\"shapes\": [{\"label\": \"te_1\", \"points\": [[1,1],[9,1],[5,8]]}]}");
    test_write_text(tmp_path(a, "two_points.json"), "{\"shapes\": [{\"label\": \"icm\", \"points\": [[1,1],[9,1]]},"
                                               " {\"label\": \"te\", \"points\": [[1,1],[9,1],[5,8]]}]}");
    write_cohort("missing_image.csv", "a,case.png,case.json,34,A,1\nm,missing.png,case.json,34,A,1\n");
    expect_cli_error("missing_image.csv", "", "@/missing.png: cannot open: No such file or directory");
    write_cohort("no_icm.csv", "a,case.png,no_icm.json,34,A,1\n");
    expect_cli_error("no_icm.csv", "", "@/no_icm.json: shapes: no polygon labelled icm/ICM");
    write_cohort("two_points.csv", "a,case.png,two_points.json,34,A,1\n");
    expect_cli_error("two_points.csv", "", "@/two_points.json: shapes[0].points: polygon with 2 points (expected ≥ 3)");
    test_write_text(tmp_path(a, "no_label_column.csv"), "id,image,annotation,age,clinic\na,case.png,case.json,34,A\n");
    expect_cli_error("no_label_column.csv", "",
                     "@/no_label_column.csv: header: missing column 'label' (expected "
                     "id,image,annotation,age,clinic,label)");
    write_cohort("label_yes.csv", "a,case.png,case.json,34,A,yes\n");
    expect_cli_error("label_yes.csv", "", "@/label_yes.csv: line 2: column 'label': not 0 or 1 (expected 0 or 1, got 'yes')");
    write_cohort("duplicate.csv", "a,case.png,case.json,34,A,1\na,case.png,case.json,35,A,0\n");
    expect_cli_error("duplicate.csv", "", "@/duplicate.csv: line 3: column 'id': duplicate id (first on line 2, got 'a')");
    write_cohort("nan_age.csv", "a,case.png,case.json,nan,A,1\n");
    expect_cli_error("nan_age.csv", "",
                     "@/nan_age.csv: line 2: column 'age': missing and imputation is off (expected years in (0, 100), "
                     "got 'nan')");
    write_cohort("no_annotation.csv", "a,case.png,,34,A,1\n");
    expect_cli_error("no_annotation.csv", "",
                     "row 'a' (line 2): annotation: empty (expected a labelme JSON or icm.png|te.png to build the "
                     "ICM/TE masks)");
    /* two bad rows: the first one is reported whatever the thread count */
    write_cohort("two_bad.csv", "a,case.png,case.json,34,A,1\nb,case.png,no_icm.json,34,A,1\n"
                                "c,case.png,case.json,34,A,1\nd,gone.png,case.json,34,A,1\n");
    expect_cli_error("two_bad.csv", "--threads 1", "@/no_icm.json: shapes: no polygon labelled icm/ICM");
    expect_cli_error("two_bad.csv", "--threads 4", "@/no_icm.json: shapes: no polygon labelled icm/ICM");

    /* an existing DIR keeps exactly what it had when the last row fails */
    char keep[512];
    mkdir(tmp_path(a, "existing"), 0755);
    test_write_text(tmp_path(keep, "existing/keep.txt"), "x");
    write_cohort("last_bad.csv", "a,case.png,case.json,34,A,1\nb,case.png,case.json,34,A,1\nz,case.png,no_icm.json,34,A,1\n");
    snprintf(args, sizeof args, "enhance --cohort '%s/last_bad.csv' --out '%s/existing'", tmp_dir, tmp_dir);
    CHECK(run(args) == 1 && strstr(out, "no polygon labelled icm/ICM"), "last row bad: %s", out);
    CHECK(count_entries(tmp_path(a, "existing")) == 1 && file_exists(keep), "existing DIR unchanged (%d entries)",
          count_entries(tmp_path(a, "existing")));

    /* one-image mode errors */
    snprintf(args, sizeof args, "enhance --image '%s/case.png' --annotation '%s/two_points.json' --out '%s/bad.png' "
             "--masks-out '%s/bad_masks'", tmp_dir, tmp_dir, tmp_dir, tmp_dir);
    CHECK(run(args) == 1 && !file_exists(tmp_path(a, "bad.png")) && !file_exists(tmp_path(b, "bad_masks")),
          "one-image error writes nothing: %s", out);
}

/* ---- real data ------------------------------------------------------------------------------------------- */

static int test_real_data(void) {
    const char *root = BLASTO_SHARED_DIR "/data/pcrm-blastocyst";
    char labels_path[1024];
    snprintf(labels_path, sizeof labels_path, "%s/labels.csv", root);
    if (!file_exists(labels_path)) {
        printf("skipped: no ../shared/data/pcrm-blastocyst (real-data IoU check)\n");
        return 0;
    }
    bl_csv *labels = NULL;
    if (bl_csv_read(labels_path, &labels) != BL_OK) {
        CHECK(0, "%s", bl_last_error());
        return 0;
    }
    int col_name = bl_csv_column(labels, "file_name"), col_image = bl_csv_column(labels, "has_image"),
        col_poly = bl_csv_column(labels, "has_polygons"), col_outcome = bl_csv_column(labels, "outcome");
    CHECK(col_name >= 0 && col_image >= 0 && col_poly >= 0 && col_outcome >= 0, "labels.csv columns");
    if (col_name < 0 || col_image < 0 || col_poly < 0 || col_outcome < 0) return 0;

    /* a cohort CSV in the temp dir (absolute paths into the data set; nothing of it enters the repository) */
    static const char *const header[] = {"id", "image", "annotation", "age", "clinic", "label"};
    bl_csv_writer *w = NULL;
    bl_csv_writer_create(6, header, &w);
    int n = 0;
    for (int i = 0; i < labels->n_rows; i++) {
        const char *name = labels->rows[i][col_name];
        if (strcmp(labels->rows[i][col_image], "1") != 0 || strcmp(labels->rows[i][col_poly], "1") != 0) continue;
        char image[1024], json[1024];
        snprintf(image, sizeof image, "%s/images/%s.jpg", root, name);
        snprintf(json, sizeof json, "%s/annotations/%s.json", root, name);
        const char *fields[6] = {name, image, json, "35", "pcrm", strcmp(labels->rows[i][col_outcome], "1") ? "0" : "1"};
        bl_csv_writer_add(w, fields);
        n++;
    }
    char cohort_path[512];
    CHECK(bl_csv_writer_save(w, tmp_path(cohort_path, "pcrm.csv")) == BL_OK, "write the PCRM cohort");
    bl_csv_writer_free(w);
    bl_csv_free(labels);
    CHECK(n == 109, "109 annotated images with polygons (got %d)", n);

    bl_cohort *c = NULL;
    if (bl_cohort_read(cohort_path, 0, &c) != BL_OK) {
        CHECK(0, "%s", bl_last_error());
        return 0;
    }
    bl_enhance_options o;
    bl_enhance_options_default(&o);
    double icm_min = 1, icm_sum = 0, te_min = 1, te_sum = 0;
    const char *worst = "";
    int failures = 0;
    for (int i = 0; i < c->n; i++) {
        bl_image enhanced, icm, te, ref_icm, ref_te;
        if (bl_enhance_row(&c->rows[i], &o, &enhanced, &icm, &te) != BL_OK) {
            CHECK(0, "%s: %s", c->rows[i].id, bl_last_error());
            failures++;
            continue;
        }
        char ref_path[1024];
        snprintf(ref_path, sizeof ref_path, "%s/masks/icm/%s.png", root, c->rows[i].id);
        bl_status st = bl_image_load(ref_path, 1, &ref_icm);
        snprintf(ref_path, sizeof ref_path, "%s/masks/te/%s.png", root, c->rows[i].id);
        if (!st) st = bl_image_load(ref_path, 1, &ref_te);
        CHECK(st == BL_OK, "reference masks of %s: %s", c->rows[i].id, bl_last_error());
        if (st) continue;
        CHECK(ref_icm.width == icm.width && ref_icm.height == icm.height, "%s: mask size", c->rows[i].id);
        int64_t inter[2] = {0}, uni[2] = {0}, channel_bad = 0, np = (int64_t)icm.width * icm.height;
        for (int64_t p = 0; p < np && ref_icm.width == icm.width && ref_icm.height == icm.height; p++) {
            int a0 = icm.pixels[p] != 0, b0 = ref_icm.pixels[p] != 0, a1 = te.pixels[p] != 0, b1 = ref_te.pixels[p] != 0;
            inter[0] += a0 && b0;
            uni[0] += a0 || b0;
            inter[1] += a1 && b1;
            uni[1] += a1 || b1;
            uint8_t g = enhanced.pixels[3 * p];
            channel_bad += enhanced.pixels[3 * p + 1] != (a0 ? g : 0) || enhanced.pixels[3 * p + 2] != (a1 ? g : 0);
        }
        double iou_icm = uni[0] ? (double)inter[0] / (double)uni[0] : 0, iou_te = uni[1] ? (double)inter[1] / (double)uni[1] : 0;
        CHECK(iou_icm >= 0.97, "%s: ICM IoU %.4f (expected ≥ 0.97)", c->rows[i].id, iou_icm);
        CHECK(channel_bad == 0, "%s: ICM/TE channels are gray inside the masks, 0 outside", c->rows[i].id);
        if (iou_icm < icm_min) icm_min = iou_icm, worst = c->rows[i].id;
        icm_sum += iou_icm;
        if (iou_te < te_min) te_min = iou_te;
        te_sum += iou_te;
        bl_image_free(&enhanced);
        bl_image_free(&icm);
        bl_image_free(&te);
        bl_image_free(&ref_icm);
        bl_image_free(&ref_te);
    }
    printf("pcrm-blastocyst: %d images; ICM IoU vs masks/icm min %.4f (%s) mean %.4f; TE (all te_* in one fillPoly) "
           "IoU vs masks/te min %.4f mean %.4f\n",
           c->n, icm_min, worst, c->n ? icm_sum / c->n : 0, te_min, c->n ? te_sum / c->n : 0);
    CHECK(failures == 0, "every real image enhances (%d failed)", failures);
    bl_cohort_free(c);
    return 1;
}

int main(void) {
    if (!test_make_tmp_dir(tmp_dir, sizeof tmp_dir, "blasto_enhance"))
        return test_skip("cannot create a temporary directory");
    test_region_labels();
    test_synthetic_case();
    test_bad_annotations();
    test_labelme_robustness();
    test_cli();
    test_real_data();
    test_remove_tree(tmp_dir);
    return test_summary("test_enhance");
}
