/* test_segment_data.c — the segmentation data path (tools/study/segment.h, contour.h, the labelme writer):
 *   - borders: filling every traced border of a mask together (bl_fill_poly, even–odd, edges drawn) gives back
 *     the mask exactly, for random noise, unions of discs, rings and single pixels;
 *   - simplification at the tolerance predictions use keeps IoU ≥ 0.98 on blastocyst-like discs and rings;
 *   - labelme written → read → rasterised (bl_row_masks, what `blasto enhance` does) reproduces the masks;
 *   - samples: the augmentation moves image and labels alike (an image whose grey level encodes the class keeps
 *     encoding it after every flip and rotation), and the draws depend on (seed, epoch, id) only;
 *   - the overlap measures on hand-counted cases, including the empty-class rule. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "study/contour.h"
#include "study/enhance.h"
#include "study/image.h"
#include "study/labelme.h"
#include "study/raster.h"
#include "study/segment.h"
#include "study/segmenter.h"
#include "support/test_support.h"

#define PREDICT_TOLERANCE 0.5 /* the simplification tolerance of `blasto segment predict` */

static unsigned next_random(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (*s >> 16) & 0x7fff;
}

/* m [h·w]: kind 0 noise (a third set), 1 a union of discs, 2 rings (XOR of discs with holes), 3 single pixels */
static void make_mask(uint8_t *m, int w, int h, int kind, unsigned *seed) {
    memset(m, 0, (size_t)w * h);
    if (kind == 0 || kind == 3) {
        for (int i = 0; i < w * h; i++) m[i] = kind == 0 ? next_random(seed) % 3 == 0 : next_random(seed) % 50 == 0;
        return;
    }
    int blobs = 1 + (int)(next_random(seed) % 4);
    for (int b = 0; b < blobs; b++) {
        double cx = next_random(seed) % w, cy = next_random(seed) % h, r = 3 + next_random(seed) % 25;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double d = hypot(x - cx, y - cy);
                if (d < r && (kind == 1 || d >= r / 2)) m[y * w + x] ^= 1;
            }
    }
}

/* fill every polygon of p together into f [h·w] (0/1) */
static void fill_all(const bl_polygons *p, int w, int h, uint8_t *f) {
    bl_contour *c = malloc(sizeof *c * (size_t)(p->count + 1));
    for (int i = 0; i < p->count; i++) c[i] = (bl_contour){p->items[i].points, p->items[i].n_points};
    memset(f, 0, (size_t)w * h);
    CHECK(bl_fill_poly(f, w, h, c, p->count, 1) == BL_OK, "fill: %s", bl_last_error());
    free(c);
}

static double iou(const uint8_t *a, const uint8_t *b, int64_t n) {
    int64_t inter = 0, uni = 0;
    for (int64_t i = 0; i < n; i++) inter += a[i] && b[i], uni += a[i] || b[i];
    return uni ? (double)inter / (double)uni : 1.0;
}

static void test_borders_exact(void) {
    const int w = 97, h = 83;
    uint8_t *m = malloc((size_t)w * h), *f = malloc((size_t)w * h);
    unsigned seed = 7;
    int exact = 0, holes = 0;
    for (int trial = 0; trial < 200; trial++) {
        make_mask(m, w, h, trial % 4, &seed);
        bl_polygons p;
        CHECK(bl_trace_borders(m, w, h, &p) == BL_OK, "trace: %s", bl_last_error());
        fill_all(&p, w, h, f);
        int same = 1;
        for (int i = 0; i < w * h; i++) same &= (m[i] != 0) == (f[i] != 0);
        exact += same;
        for (int i = 0; i < p.count; i++) holes += p.items[i].hole;
        bl_polygons_free(&p);
    }
    CHECK(exact == 200, "traced borders filled back: %d of 200 masks exact", exact);
    CHECK(holes > 0, "the rings produced hole borders");
    printf("borders: 200 of 200 masks refilled exactly (%d hole borders)\n", holes);
    free(m);
    free(f);
}

/* blastocyst-like shapes at a realistic size: a wobbly disc (ICM) and a wobbly ring (TE) */
static void test_simplified_iou(void) {
    const int w = 480, h = 400;
    uint8_t *m = malloc((size_t)w * h), *f = malloc((size_t)w * h);
    unsigned seed = 3;
    double worst[2] = {1, 1};
    int64_t points_before = 0, points_after = 0;
    for (int trial = 0; trial < 20; trial++) {
        int ring = trial % 2;
        double cx = 200 + next_random(&seed) % 80, cy = 180 + next_random(&seed) % 60;
        double r = ring ? 120 + next_random(&seed) % 40 : 30 + next_random(&seed) % 30;
        double th = 12 + next_random(&seed) % 10;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double d = hypot(x - cx, y - cy) * (1 + 0.08 * sin(5 * atan2(y - cy, x - cx) + trial));
                m[y * w + x] = ring ? d < r && d >= r - th : d < r;
            }
        bl_polygons p;
        bl_trace_borders(m, w, h, &p);
        for (int i = 0; i < p.count; i++) {
            points_before += p.items[i].n_points;
            bl_polygon_simplify(&p.items[i], PREDICT_TOLERANCE);
            points_after += p.items[i].n_points;
        }
        fill_all(&p, w, h, f);
        worst[ring] = fmin(worst[ring], iou(m, f, (int64_t)w * h));
        bl_polygons_free(&p);
    }
    CHECK(worst[0] >= 0.98 && worst[1] >= 0.98, "simplified at %.2f px: worst IoU disc %.4f, ring %.4f (want >= 0.98)",
          PREDICT_TOLERANCE, worst[0], worst[1]);
    CHECK(points_after < points_before / 2, "simplification keeps %lld of %lld points", (long long)points_after,
          (long long)points_before);
    printf("simplified at %.2f px: worst IoU disc %.4f, ring %.4f; %lld of %lld points kept\n", PREDICT_TOLERANCE,
           worst[0], worst[1], (long long)points_after, (long long)points_before);
    free(m);
    free(f);
}

/* masks → borders → labelme JSON → bl_row_masks (the enhance path) */
static void test_labelme_round_trip(const char *dir) {
    const int w = 120, h = 100;
    uint8_t *icm = calloc((size_t)w * h, 1), *te = calloc((size_t)w * h, 1);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double d = hypot(x - 60, y - 50), di = hypot(x - 50, y - 45);
            te[y * w + x] = d < 45 && d >= 33;
            icm[y * w + x] = di < 14;
        }
    bl_polygons regions[2];
    bl_trace_borders(icm, w, h, &regions[0]);
    bl_trace_borders(te, w, h, &regions[1]);
    bl_labelme_polygon shapes[16];
    int n = 0;
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < regions[r].count && n < 16; i++)
            shapes[n++] =
                (bl_labelme_polygon){r ? "te" : "icm", regions[r].items[i].n_points, regions[r].items[i].points};
    char json[512], image_path[512];
    test_path_in(json, sizeof json, dir, "round.json");
    test_path_in(image_path, sizeof image_path, dir, "round.png");
    bl_image img = {0};
    bl_image_alloc(&img, w, h, 1);
    bl_image_save_png(&img, image_path);
    CHECK(bl_labelme_write(json, "round.png", w, h, n, shapes) == BL_OK, "labelme write: %s", bl_last_error());
    bl_labelme *doc = NULL;
    CHECK(bl_labelme_read(json, &doc) == BL_OK && doc->n_shapes == n && doc->image_width == w &&
              doc->image_height == h && strcmp(doc->shapes[0].shape_type, "polygon") == 0,
          "the written file reads back: %s", bl_last_error());
    bl_labelme_free(doc);
    bl_cohort_row row = {.id = "round", .image = image_path, .annotation = json};
    bl_image icm_back = {0}, te_back = {0};
    bl_enhance_options o;
    bl_enhance_options_default(&o);
    CHECK(bl_row_masks(&row, &o, w, h, &icm_back, &te_back) == BL_OK, "masks from the written file: %s",
          bl_last_error());
    int same = icm_back.pixels && te_back.pixels;
    for (int i = 0; same && i < w * h; i++)
        same = (icm_back.pixels[i] != 0) == icm[i] && (te_back.pixels[i] != 0) == te[i];
    CHECK(same, "labelme round trip: the rasterised masks equal the traced ones");
    bl_image_free(&icm_back);
    bl_image_free(&te_back);
    bl_image_free(&img);
    bl_polygons_free(&regions[0]);
    bl_polygons_free(&regions[1]);
    free(icm);
    free(te);
}

/* An image whose grey level encodes the class (background 20, ICM 240, TE 130) and the mask pair of the classes:
 * after augmentation every pixel's value must still name its label. */
static void test_sample_alignment(const char *dir) {
    const int w = 70, h = 50;
    bl_image img = {0}, icm = {0}, te = {0};
    bl_image_alloc(&img, w, h, 1);
    bl_image_alloc(&icm, w, h, 1);
    bl_image_alloc(&te, w, h, 1);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) { /* asymmetric shapes, so every flip and turn shows */
            int in_icm = x > 10 && x < 25 && y > 5 && y < 30, in_te = !in_icm && x > 30 && y > 20 && x + y < 95;
            icm.pixels[y * w + x] = in_icm ? 255 : 0;
            te.pixels[y * w + x] = in_te ? 255 : 0;
            img.pixels[y * w + x] = in_icm ? 240 : in_te ? 130 : 20;
        }
    char paths[3][512];
    test_path_in(paths[0], sizeof paths[0], dir, "a.png");
    test_path_in(paths[1], sizeof paths[1], dir, "a_icm.png");
    test_path_in(paths[2], sizeof paths[2], dir, "a_te.png");
    bl_image_save_png(&img, paths[0]);
    bl_image_save_png(&icm, paths[1]);
    bl_image_save_png(&te, paths[2]);
    bl_cohort_row row = {.id = "a", .image = paths[0], .icm_mask = paths[1], .te_mask = paths[2]};
    bl_seg_sample_options o;
    bl_seg_sample_options_default(&o);
    o.size = 32;
    o.augment = 1;
    o.brightness_max_delta = 0;
    o.contrast_lower = o.contrast_upper = 1; /* geometry only: values stay readable */
    float image[32 * 32], labels[32 * 32], again[32 * 32];
    int mismatched = 0, distinct = 0;
    float first[32 * 32];
    for (int epoch = 0; epoch < 16; epoch++) {
        CHECK(bl_seg_prepare(&row, &o, epoch, image, labels, NULL, NULL) == BL_OK, "prepare: %s", bl_last_error());
        for (int i = 0; i < 32 * 32; i++) {
            float grey = image[i] / 2.0f + 0.5f; /* back to [0,1] */
            int cls = (int)labels[i];
            /* bilinear resizing blends values at class borders: only pixels whose value is clearly one class's */
            int clear = fabsf(grey - 20 / 255.f) < 0.02f || fabsf(grey - 130 / 255.f) < 0.02f ||
                        fabsf(grey - 240 / 255.f) < 0.02f;
            int named = grey > 0.7f ? BL_SEG_ICM : grey > 0.35f ? BL_SEG_TE : BL_SEG_BACKGROUND;
            mismatched += clear && named != cls;
        }
        if (epoch == 0) memcpy(first, labels, sizeof labels);
        else distinct += memcmp(first, labels, sizeof labels) != 0;
    }
    CHECK(mismatched == 0, "augmented samples: %d pixels whose value names another class than their label", mismatched);
    CHECK(distinct >= 8, "16 epochs gave %d label maps different from epoch 0's (the flips and turns vary)", distinct);
    /* the same (seed, epoch, id) gives the same sample */
    CHECK(bl_seg_prepare(&row, &o, 5, image, labels, NULL, NULL) == BL_OK &&
              bl_seg_prepare(&row, &o, 5, again, NULL, NULL, NULL) == BL_OK &&
              memcmp(image, again, sizeof image) == 0,
          "a sample depends on (seed, epoch, id) only");
    /* a mask of another size than the image is refused naming it */
    bl_image small = {0};
    bl_image_alloc(&small, 10, 10, 1);
    bl_image_save_png(&small, paths[2]);
    bl_status st = bl_seg_prepare(&row, &o, 0, image, labels, NULL, NULL);
    CHECK(st != BL_OK && strstr(bl_last_error(), "a_te.png"), "wrong-size mask: %s", bl_last_error());
    bl_image_free(&small);
    bl_image_free(&img);
    bl_image_free(&icm);
    bl_image_free(&te);
}

static void test_measures(void) {
    /* truth: 4 ICM, 4 TE, 2 background; prediction: 3 of the ICM right, one ICM called TE, one background called ICM */
    const uint8_t truth[10] = {1, 1, 1, 1, 2, 2, 2, 2, 0, 0}, pred[10] = {1, 1, 1, 2, 2, 2, 2, 2, 1, 0};
    bl_seg_counts c = {0};
    bl_seg_count(truth, pred, 10, &c);
    CHECK(c.tp[1] == 3 && c.fp[1] == 1 && c.fn[1] == 1 && c.tp[2] == 4 && c.fp[2] == 1 && c.fn[2] == 0,
          "counts: icm %lld/%lld/%lld te %lld/%lld/%lld", (long long)c.tp[1], (long long)c.fp[1], (long long)c.fn[1],
          (long long)c.tp[2], (long long)c.fp[2], (long long)c.fn[2]);
    CHECK(fabs(bl_seg_dice(&c, 1) - 6.0 / 8.0) < 1e-15 && fabs(bl_seg_jaccard(&c, 1) - 3.0 / 5.0) < 1e-15 &&
              fabs(bl_seg_precision(&c, 2) - 4.0 / 5.0) < 1e-15 && fabs(bl_seg_recall(&c, 2) - 1.0) < 1e-15,
          "dice/jaccard/precision/recall by hand");
    bl_seg_counts empty = {0};
    const uint8_t none[3] = {0, 0, 0};
    bl_seg_count(none, none, 3, &empty);
    CHECK(bl_seg_dice(&empty, BL_SEG_TE) == 1 && bl_seg_jaccard(&empty, BL_SEG_TE) == 1 &&
              bl_seg_precision(&empty, BL_SEG_TE) == 1 && bl_seg_recall(&empty, BL_SEG_TE) == 1,
          "a class absent from truth and prediction scores 1");
    float logits[2 * 3] = {0.5f, 2.0f, -1.0f, 0.5f, 1.0f, -1.0f}; /* classes × pixels */
    uint8_t arg[3];
    bl_seg_argmax(logits, 2, 3, arg);
    CHECK(arg[0] == 0 && arg[1] == 0 && arg[2] == 0, "argmax with a tie keeps the first class: %d %d %d", arg[0],
          arg[1], arg[2]);
}

/* Test-time augmentation's symmetries: each inverse undoes its transform exactly; the 8 transforms of a random
 * 2-plane 5×5 array are all different (the whole group of the square); t = 1 is the quarter turn
 * dst(y, x) = src(x, S−1−y) and t = 4 the left-right flip, written out here. */
static void test_symmetries(void) {
    enum { S = 5, P = 2, N = P * S * S };
    float src[N], views[8][N], tmp[N];
    unsigned seed = 7;
    for (int i = 0; i < N; i++) src[i] = (float)(rand_r(&seed) % 1000);
    for (int t = 0; t < 8; t++) {
        memcpy(views[t], src, sizeof src);
        bl_seg_symmetry(views[t], tmp, P, S, t, 0);
        float back[N];
        memcpy(back, views[t], sizeof back);
        bl_seg_symmetry(back, tmp, P, S, t, 1);
        CHECK(!memcmp(back, src, sizeof src), "symmetry %d: the inverse undoes it", t);
        for (int u = 0; u < t; u++) CHECK(memcmp(views[t], views[u], sizeof src) != 0, "symmetries %d and %d differ", u, t);
    }
    int turn_ok = 1, flip_ok = 1;
    for (int p = 0; p < P; p++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                turn_ok &= views[1][(p * S + y) * S + x] == src[(p * S + x) * S + (S - 1 - y)];
                flip_ok &= views[4][(p * S + y) * S + x] == src[(p * S + y) * S + (S - 1 - x)];
            }
    CHECK(turn_ok && flip_ok, "symmetry 1 is the quarter turn, 4 the left-right flip");
}

/* The largest ICM region stays; a smaller one (and a diagonal neighbour of the large one: 8-connected) is
 * decided by the logits of the other classes. */
static void test_keep_largest(void) {
    enum { W = 8, H = 6, C = 3 };
    uint8_t labels[W * H] = {0};
    float logits[W * H * C];
    for (int i = 0; i < W * H; i++) /* background above TE in the left half, TE above background in the right */
        logits[i * C + 0] = (i % W) < 4 ? 1.0f : 0.0f, logits[i * C + 1] = 5.0f, logits[i * C + 2] = (i % W) < 4 ? 0.0f : 1.0f;
    const int big[] = {1 * W + 1, 1 * W + 2, 2 * W + 1, 2 * W + 2, 3 * W + 3}; /* 3·W+3 touches 2·W+2 diagonally */
    for (size_t i = 0; i < sizeof big / sizeof *big; i++) labels[big[i]] = BL_SEG_ICM;
    labels[1 * W + 6] = labels[2 * W + 6] = BL_SEG_ICM; /* a 2-pixel region on the right */
    labels[5 * W + 0] = BL_SEG_ICM;                     /* a 1-pixel region on the left */
    labels[0] = BL_SEG_TE;
    CHECK(bl_seg_keep_largest(labels, W, H, BL_SEG_ICM, logits, C) == BL_OK, "keep_largest runs");
    int kept = 1;
    for (size_t i = 0; i < sizeof big / sizeof *big; i++) kept &= labels[big[i]] == BL_SEG_ICM;
    CHECK(kept, "the 5-pixel 8-connected ICM region stays");
    CHECK(labels[1 * W + 6] == BL_SEG_TE && labels[2 * W + 6] == BL_SEG_TE, "the right region becomes TE (its logit)");
    CHECK(labels[5 * W + 0] == BL_SEG_BACKGROUND, "the left pixel becomes background (its logit)");
    CHECK(labels[0] == BL_SEG_TE, "other classes are untouched");
}

int main(void) {
    test_symmetries();
    test_keep_largest();
    char dir[256];
    CHECK(test_make_tmp_dir(dir, sizeof dir, "blasto_segment_data") != NULL, "temporary directory");
    test_borders_exact();
    test_simplified_iou();
    test_labelme_round_trip(dir);
    test_sample_alignment(dir);
    test_measures();
    test_remove_tree(dir);
    return test_summary("test_segment_data");
}
