/* test_loader.c — the batch loader on a tiny generated cohort (PNGs written with tools/study/image.h and labelme JSON
 * written by hand in a temp dir): identical batches for 0, 1 and 3 threads; each sample equals the single-sample
 * path; shuffling is a per-epoch permutation; batch counts; original (RGB, gray replicated) and enhanced inputs;
 * worker errors surface from bl_loader_next naming the file; option checks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "study/loader.h"

#define N_ROWS 7

static char temp_dir[] = "/tmp/blasto_test_loader_XXXXXX";
static char paths[N_ROWS + 2][2][512]; /* image, json */
static bl_cohort_row rows[N_ROWS];
static char ids[N_ROWS][16];

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "write %s", path);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* Image i: size and channels vary (gray files included); a disc-ish pattern so enhancement has something to mask. */
static void make_sample(int i) {
    int w = 14 + 7 * i, h = 30 - 2 * i, channels = i % 3 == 1 ? 1 : 3;
    if (i == 2) w = h = 16; /* same as the loader size: resize is the identity */
    bl_image img;
    CHECK(bl_image_alloc(&img, w, h, channels) == BL_OK, "alloc");
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < channels; c++)
                img.pixels[(y * w + x) * channels + c] = (uint8_t)((x * 37 + y * 11 + c * 70 + i * 13) % 256);
    snprintf(paths[i][0], sizeof paths[i][0], "%s/img%d.png", temp_dir, i);
    CHECK(bl_image_save_png(&img, paths[i][0]) == BL_OK, "save %s: %s", paths[i][0], bl_last_error());
    bl_image_free(&img);
    char json[1024];
    snprintf(json, sizeof json,
             "{\"version\": \"5.0.1\", \"shapes\": ["
             "{\"label\": \"icm\", \"points\": [[%d.4, %d.9], [%d.2, %d.0], [%d.7, %d.5]], \"shape_type\": \"polygon\"},"
             "{\"label\": \"te\", \"points\": [[0, 0], [%d, 0], [%d, %d], [0, %d]], \"shape_type\": \"polygon\"},"
             "{\"label\": \"te\", \"points\": [[2, 2], [%d, 2], [%d, %d], [2, %d]], \"shape_type\": \"polygon\"}"
             "], \"imageWidth\": %d, \"imageHeight\": %d}",
             w / 4, h / 4, 3 * w / 4, h / 3, w / 2, 3 * h / 4, w - 1, w - 1, h - 1, h - 1, w - 3, w - 3, h - 3,
             h - 3, w, h);
    snprintf(paths[i][1], sizeof paths[i][1], "%s/img%d.json", temp_dir, i);
    write_text(paths[i][1], json);
    snprintf(ids[i], sizeof ids[i], "emb%02d", i);
    rows[i] = (bl_cohort_row){.id = ids[i], .image = paths[i][0], .annotation = paths[i][1], .age = 30.0 + i,
                              .clinic = "A", .label = i % 2, .line = i + 2};
}

/* All batches of epochs 0 and 1, concatenated: images [2·N,3,S,S] then rows, labels, ages. */
typedef struct run_result {
    float *images, *labels, *ages;
    int *rows;
    int batches, samples;
} run_result;

static bl_status run_epochs(const bl_cohort_row *r, int n, const bl_loader_options *o, run_result *out) {
    memset(out, 0, sizeof *out);
    size_t plane = (size_t)3 * o->size * o->size;
    out->images = calloc((size_t)2 * n * plane, sizeof(float));
    out->labels = calloc((size_t)2 * n, sizeof(float));
    out->ages = calloc((size_t)2 * n, sizeof(float));
    out->rows = calloc((size_t)2 * n, sizeof(int));
    bl_loader *l = NULL;
    bl_status st = bl_loader_create(r, n, o, &l);
    for (int epoch = 0; epoch < 2 && !st; epoch++) {
        st = bl_loader_start_epoch(l, epoch);
        const bl_batch *b = NULL;
        while (!st && !(st = bl_loader_next(l, &b)) && b) {
            CHECK(b->epoch == epoch && b->size == o->size, "batch epoch/size");
            for (int i = 0; i < b->count; i++, out->samples++) {
                memcpy(out->images + (size_t)out->samples * plane, b->images + (size_t)i * plane,
                       plane * sizeof(float));
                out->labels[out->samples] = b->labels[i];
                out->ages[out->samples] = b->ages[i];
                out->rows[out->samples] = b->rows[i];
            }
            out->batches++;
        }
    }
    bl_loader_free(l);
    return st;
}

static void free_result(run_result *r) {
    free(r->images);
    free(r->labels);
    free(r->ages);
    free(r->rows);
}

static void test_determinism_and_content(bl_input_kind kind) {
    bl_loader_options o;
    bl_loader_options_default(&o);
    o.input = kind;
    o.size = 16;
    o.batch_size = 3;
    o.augment = 1;
    o.seed = 1234;
    o.normalize = BL_NORMALIZE_TORCH;
    const char *kind_name = bl_input_kind_name(kind);
    run_result base;
    o.threads = 0;
    CHECK(run_epochs(rows, N_ROWS, &o, &base) == BL_OK, "%s, 0 threads: %s", kind_name, bl_last_error());
    CHECK(base.batches == 6 && base.samples == 2 * N_ROWS, "%s: 2 epochs of 3 batches (3,3,1): got %d batches, %d "
          "samples", kind_name, base.batches, base.samples);
    size_t plane = (size_t)3 * o.size * o.size;
    for (int threads = 1; threads <= 3; threads += 2) {
        run_result other;
        o.threads = threads;
        CHECK(run_epochs(rows, N_ROWS, &o, &other) == BL_OK, "%s, %d threads: %s", kind_name, threads,
              bl_last_error());
        CHECK(other.samples == base.samples, "sample count");
        if (other.samples == base.samples) {
            size_t n = (size_t)base.samples;
            CHECK(memcmp(base.images, other.images, n * plane * sizeof(float)) == 0 &&
                      memcmp(base.rows, other.rows, n * sizeof(int)) == 0 &&
                      memcmp(base.labels, other.labels, n * sizeof(float)) == 0 &&
                      memcmp(base.ages, other.ages, n * sizeof(float)) == 0,
                  "%s: %d threads give bitwise the same batches as 0 threads", kind_name, threads);
        }
        free_result(&other);
    }
    /* each epoch is a permutation; the two epochs differ; labels/ages follow the rows */
    for (int epoch = 0; epoch < 2; epoch++) {
        int seen[N_ROWS] = {0};
        for (int i = 0; i < N_ROWS; i++) seen[base.rows[epoch * N_ROWS + i]]++;
        int perm = 1;
        for (int i = 0; i < N_ROWS; i++) perm &= seen[i] == 1;
        CHECK(perm, "%s: epoch %d visits every row once", kind_name, epoch);
    }
    CHECK(memcmp(base.rows, base.rows + N_ROWS, sizeof(int) * N_ROWS) != 0, "epochs 0 and 1 are shuffled differently");
    int meta_ok = 1;
    for (int i = 0; i < base.samples; i++) {
        const bl_cohort_row *r = &rows[base.rows[i]];
        meta_ok &= base.labels[i] == (float)r->label && base.ages[i] == (float)r->age;
    }
    CHECK(meta_ok, "labels and ages belong to the sample's row");
    /* every sample equals the single-sample path for its (row, epoch) */
    float *one = malloc(plane * sizeof(float));
    int same = 1;
    for (int i = 0; i < base.samples; i++) {
        CHECK(bl_loader_prepare_sample(&rows[base.rows[i]], &o, i / N_ROWS, one) == BL_OK, "prepare");
        same &= memcmp(one, base.images + (size_t)i * plane, plane * sizeof(float)) == 0;
    }
    CHECK(same, "%s: batch samples equal bl_loader_prepare_sample", kind_name);
    /* augmentation depends on the epoch: a row's sample differs between epochs */
    int differs = 0;
    for (int i = 0; i < N_ROWS; i++)
        for (int j = 0; j < N_ROWS; j++)
            if (base.rows[i] == base.rows[N_ROWS + j])
                differs += memcmp(base.images + (size_t)i * plane, base.images + (size_t)(N_ROWS + j) * plane,
                                  plane * sizeof(float)) != 0;
    CHECK(differs == N_ROWS, "%s: each row is augmented differently in epochs 0 and 1 (%d of %d)", kind_name, differs,
          N_ROWS);
    free(one);
    free_result(&base);
}

/* Shards: shard s of K of every batch is positions [⌊s·B/K⌋, ⌊(s+1)·B/K⌋) of the unsharded batch — the same rows,
 * labels, ages and image bytes — and the K shards together are the whole batch (with K > B, some are empty). */
static void test_shards(void) {
    bl_loader_options o;
    bl_loader_options_default(&o);
    o.size = 16;
    o.batch_size = 3;
    o.augment = 1;
    o.seed = 77;
    o.threads = 2;
    size_t plane = (size_t)3 * o.size * o.size;
    run_result whole;
    CHECK(run_epochs(rows, N_ROWS, &o, &whole) == BL_OK, "shards: the unsharded loader: %s", bl_last_error());
    for (int k = 2; k <= 4; k += 2) {
        int covered = 0, same = 1, layout = 1;
        for (int s = 0; s < k; s++) {
            bl_loader_options so = o;
            so.shards = k, so.shard = s;
            bl_loader *l = NULL;
            CHECK(bl_loader_create(rows, N_ROWS, &so, &l) == BL_OK, "shard %d of %d: %s", s, k, bl_last_error());
            int base = 0; /* position of the batch's first sample in `whole` */
            for (int epoch = 0; l && epoch < 2; epoch++) {
                const bl_batch *b = NULL;
                CHECK(bl_loader_start_epoch(l, epoch) == BL_OK, "start");
                while (bl_loader_next(l, &b) == BL_OK && b) {
                    int lo, hi;
                    bl_shard_range(b->global_count, k, s, &lo, &hi);
                    layout &= b->first == lo && b->count == hi - lo;
                    for (int i = 0; i < b->count; i++) {
                        int at = base + b->first + i;
                        same &= b->rows[i] == whole.rows[at] && b->labels[i] == whole.labels[at] &&
                                memcmp(b->images + (size_t)i * plane, whole.images + (size_t)at * plane,
                                       plane * sizeof(float)) == 0;
                    }
                    covered += b->count;
                    base += b->global_count;
                }
            }
            bl_loader_free(l);
        }
        CHECK(layout, "%d shards: each batch's shard is ⌊s·B/K⌋ … ⌊(s+1)·B/K⌋ − 1", k);
        CHECK(same, "%d shards: each shard holds exactly the unsharded batch's samples at its positions", k);
        CHECK(covered == whole.samples, "%d shards cover every sample once (%d of %d)", k, covered, whole.samples);
    }
    bl_loader *bad = NULL;
    o.shards = 2, o.shard = 2;
    CHECK(bl_loader_create(rows, N_ROWS, &o, &bad) == BL_ERR_INVALID && strstr(bl_last_error(), "shard 2 of 2"),
          "shard 2 of 2 is refused: %s", bl_last_error());
    free_result(&whole);
}

static void test_order_and_counts(void) {
    bl_loader_options o;
    bl_loader_options_default(&o);
    o.size = 8;
    o.batch_size = 3;
    o.threads = 2;
    o.shuffle = 0;
    o.drop_last = 1;
    bl_loader *l = NULL;
    CHECK(bl_loader_create(rows, N_ROWS, &o, &l) == BL_OK, "create: %s", bl_last_error());
    if (!l) return;
    CHECK(bl_loader_batches_per_epoch(l) == 2, "drop_last: 7 rows / 3 → 2 batches");
    const bl_batch *b = NULL;
    CHECK(bl_loader_next(l, &b) == BL_ERR_INVALID && b == NULL, "next before start_epoch refused");
    CHECK(bl_loader_start_epoch(l, 0) == BL_OK, "start");
    int expect_row = 0, batches = 0;
    while (bl_loader_next(l, &b) == BL_OK && b) {
        for (int i = 0; i < b->count; i++) CHECK(b->rows[i] == expect_row++, "unshuffled order");
        CHECK(b->index == batches, "batch index");
        batches++;
    }
    CHECK(batches == 2 && expect_row == 6, "2 full batches, row 6 dropped (%d, %d)", batches, expect_row);
    CHECK(bl_loader_next(l, &b) == BL_OK && b == NULL, "after the epoch: NULL again");
    /* restarting mid-epoch is allowed */
    CHECK(bl_loader_start_epoch(l, 5) == BL_OK && bl_loader_next(l, &b) == BL_OK && b && b->epoch == 5, "restart");
    CHECK(bl_loader_start_epoch(l, 6) == BL_OK, "restart while a batch is being filled");
    bl_loader_free(l);

    /* shuffled order: same (seed, epoch) → same permutation, as bl_loader_epoch_order says */
    o.shuffle = 1;
    o.drop_last = 0;
    o.seed = 99;
    bl_loader *a = NULL, *c = NULL;
    CHECK(bl_loader_create(rows, N_ROWS, &o, &a) == BL_OK && bl_loader_create(rows, N_ROWS, &o, &c) == BL_OK, "two");
    if (a && c) {
        int oa[N_ROWS], oc[N_ROWS];
        bl_loader_epoch_order(a, 4, oa);
        bl_loader_epoch_order(c, 4, oc);
        CHECK(memcmp(oa, oc, sizeof oa) == 0, "same seed and epoch → same order");
        CHECK(bl_loader_start_epoch(a, 4) == BL_OK && bl_loader_next(a, &b) == BL_OK && b, "batch");
        CHECK(b && b->rows[0] == oa[0] && b->rows[1] == oa[1] && b->rows[2] == oa[2], "batch 0 = first 3 of order");
    }
    bl_loader_free(a);
    bl_loader_free(c);
}

/* Original input, no augmentation: known pixel values come through the preset exactly as documented. */
static void test_original_values(void) {
    char solid[600], gray[600];
    snprintf(solid, sizeof solid, "%s/solid.png", temp_dir);
    snprintf(gray, sizeof gray, "%s/gray.png", temp_dir);
    bl_image img;
    CHECK(bl_image_alloc(&img, 20, 12, 3) == BL_OK, "alloc");
    for (int i = 0; i < 20 * 12; i++) img.pixels[3 * i] = 200, img.pixels[3 * i + 1] = 100, img.pixels[3 * i + 2] = 50;
    CHECK(bl_image_save_png(&img, solid) == BL_OK, "save");
    bl_image_free(&img);
    CHECK(bl_image_alloc(&img, 9, 9, 1) == BL_OK, "alloc");
    for (int i = 0; i < 81; i++) img.pixels[i] = (uint8_t)(i * 3);
    CHECK(bl_image_save_png(&img, gray) == BL_OK, "save");
    bl_image_free(&img);
    bl_cohort_row r[2] = {{.id = "solid", .image = solid, .age = 33, .label = 1},
                          {.id = "gray", .image = gray, .age = 40, .label = 0}};
    bl_loader_options o;
    bl_loader_options_default(&o);
    o.size = 16;
    o.normalize = BL_NORMALIZE_CAFFE;
    float out[3 * 16 * 16];
    CHECK(bl_loader_prepare_sample(&r[0], &o, 0, out) == BL_OK, "solid: %s", bl_last_error());
    /* caffe: channel 0 = B − 103.939 …; the resize of a constant is exact up to rounding (≤ 2 ulp of 200) */
    double worst = 0;
    const float want[3] = {50.0f - 103.939f, 100.0f - 116.779f, 200.0f - 123.68f};
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 256; i++) worst = fmax(worst, fabs((double)out[c * 256 + i] - (double)want[c]));
    CHECK(worst <= 3e-5, "solid RGB (200,100,50) → caffe BGR means: max |diff| %.3g", worst);
    o.normalize = BL_NORMALIZE_NONE;
    CHECK(bl_loader_prepare_sample(&r[1], &o, 0, out) == BL_OK, "gray: %s", bl_last_error());
    CHECK(memcmp(out, out + 256, 256 * sizeof(float)) == 0 && memcmp(out, out + 512, 256 * sizeof(float)) == 0,
          "a gray file is replicated into R, G and B");
    CHECK(out[0] == 0.0f, "gray (0,0) pixel stays 0 (got %g)", (double)out[0]);
}

/* Enhanced input at the image's own size: the loader's CHW planes are the enhanced image's channels. */
static void test_enhanced_values(void) {
    bl_loader_options o;
    bl_loader_options_default(&o);
    o.input = BL_INPUT_ENHANCED;
    o.size = 16;
    o.normalize = BL_NORMALIZE_NONE;
    const bl_cohort_row *r = &rows[2]; /* 16×16 */
    float out[3 * 256];
    CHECK(bl_loader_prepare_sample(r, &o, 0, out) == BL_OK, "enhanced: %s", bl_last_error());
    bl_image e;
    CHECK(bl_enhance_row(r, &o.enhance, &e, NULL, NULL) == BL_OK, "bl_enhance_row: %s", bl_last_error());
    int same = e.width == 16 && e.height == 16 && e.channels == 3, icm_zero = 0, icm_set = 0;
    for (int c = 0; c < 3 && same; c++)
        for (int i = 0; i < 256; i++) same &= out[c * 256 + i] == (float)e.pixels[3 * i + c];
    for (int i = 0; i < 256; i++) icm_zero += out[256 + i] == 0.0f, icm_set += out[256 + i] != 0.0f;
    CHECK(same, "enhanced planes = (gray, gray·ICM, gray·TE) of bl_enhance_row");
    CHECK(icm_zero > 0 && icm_set > 0, "ICM plane has masked and unmasked pixels (%d, %d)", icm_zero, icm_set);
    bl_image_free(&e);
}

static void test_errors(void) {
    /* rows 4 and 5 missing (positions 4, 5 of batch 1 with batch size 3, no shuffle): the earlier one is named */
    bl_cohort_row bad[N_ROWS];
    memcpy(bad, rows, sizeof bad);
    char missing4[600], missing5[600];
    snprintf(missing4, sizeof missing4, "%s/nope4.png", temp_dir);
    snprintf(missing5, sizeof missing5, "%s/nope5.png", temp_dir);
    bad[4].image = missing4;
    bad[5].image = missing5;
    for (int threads = 0; threads <= 3; threads += 3) {
        bl_loader_options o;
        bl_loader_options_default(&o);
        o.size = 8, o.batch_size = 3, o.shuffle = 0, o.threads = threads, o.augment = 1;
        bl_loader *l = NULL;
        CHECK(bl_loader_create(bad, N_ROWS, &o, &l) == BL_OK, "create");
        if (!l) continue;
        const bl_batch *b = NULL;
        CHECK(bl_loader_start_epoch(l, 0) == BL_OK && bl_loader_next(l, &b) == BL_OK && b, "batch 0 is fine");
        CHECK(bl_loader_next(l, &b) == BL_ERR_IO && b == NULL, "batch 1 fails (%d threads)", threads);
        CHECK(strstr(bl_last_error(), missing4) != NULL && strstr(bl_last_error(), "cannot open") != NULL,
              "%d threads: the message names the first failing file: %s", threads, bl_last_error());
        bl_clear_error();
        CHECK(bl_loader_next(l, &b) == BL_ERR_IO && strstr(bl_last_error(), missing4), "the error is sticky");
        CHECK(bl_loader_start_epoch(l, 1) == BL_OK && bl_loader_next(l, &b) == BL_OK && b, "a new epoch starts over");
        bl_loader_free(l);
    }
    /* enhanced input without an annotation: enhance's message comes through */
    bl_cohort_row no_json = rows[0];
    no_json.annotation = NULL;
    bl_loader_options o;
    bl_loader_options_default(&o);
    o.input = BL_INPUT_ENHANCED, o.size = 8, o.threads = 1;
    bl_loader *l = NULL;
    const bl_batch *b = NULL;
    CHECK(bl_loader_create(&no_json, 1, &o, &l) == BL_OK && bl_loader_start_epoch(l, 0) == BL_OK, "create");
    CHECK(l && bl_loader_next(l, &b) != BL_OK && strstr(bl_last_error(), "annotation"), "enhance error: %s",
          bl_last_error());
    bl_loader_free(l);
    /* option checks */
    bl_loader_options_default(&o);
    o.size = 0;
    CHECK(bl_loader_create(rows, N_ROWS, &o, &l) == BL_ERR_INVALID && strstr(bl_last_error(), "size"), "size 0");
    bl_loader_options_default(&o);
    o.threads = 65;
    CHECK(bl_loader_create(rows, N_ROWS, &o, &l) == BL_ERR_INVALID && strstr(bl_last_error(), "threads"), "threads");
    bl_loader_options_default(&o);
    o.batch_size = 0;
    CHECK(bl_loader_create(rows, N_ROWS, &o, &l) == BL_ERR_INVALID, "batch size 0");
    bl_loader_options_default(&o);
    CHECK(bl_loader_create(rows, 0, &o, &l) == BL_ERR_INVALID, "no rows");
    o.augment = 1, o.augment_options.contrast_lower = 2.0f;
    CHECK(bl_loader_create(rows, N_ROWS, &o, &l) == BL_ERR_INVALID && strstr(bl_last_error(), "contrast"),
          "augmentation options checked: %s", bl_last_error());
    bl_input_kind k;
    CHECK(bl_input_kind_parse("enhanced", &k) == BL_OK && k == BL_INPUT_ENHANCED, "parse enhanced");
    CHECK(bl_input_kind_parse("raw", &k) == BL_ERR_INVALID && strstr(bl_last_error(), "expected original or enhanced"),
          "unknown input kind");
}

/* Not a check: how fast is one sample at the paper's size (printed for docs/data.md). */
static void measure_speed(void) {
    char big[600];
    snprintf(big, sizeof big, "%s/big.png", temp_dir);
    bl_image img;
    if (bl_image_alloc(&img, 500, 400, 3)) return;
    for (unsigned i = 0; i < 500u * 400u * 3u; i++) img.pixels[i] = (uint8_t)((i * 7919u) % 251u);
    bl_status st = bl_image_save_png(&img, big);
    bl_image_free(&img);
    if (st) return;
    bl_cohort_row r = {.id = "big", .image = big, .age = 35};
    bl_loader_options o;
    bl_loader_options_default(&o);
    o.augment = 1;
    float *out = malloc(sizeof(float) * 3 * 224 * 224);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int n = 20;
    for (int i = 0; i < n; i++) bl_loader_prepare_sample(&r, &o, i, out);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = ((double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6) / n;
    printf("one 500x400 PNG sample → decode, resize 224, augment, caffe: %.2f ms (one thread)\n", ms);
    free(out);
    unlink(big);
}

int main(void) {
    if (!mkdtemp(temp_dir)) return test_skip("cannot create a temporary directory");
    for (int i = 0; i < N_ROWS; i++) make_sample(i);
    test_determinism_and_content(BL_INPUT_ORIGINAL);
    test_determinism_and_content(BL_INPUT_ENHANCED);
    test_order_and_counts();
    test_shards();
    test_original_values();
    test_enhanced_values();
    test_errors();
    measure_speed();
    for (int i = 0; i < N_ROWS; i++) unlink(paths[i][0]), unlink(paths[i][1]);
    char p[600];
    snprintf(p, sizeof p, "%s/solid.png", temp_dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/gray.png", temp_dir);
    unlink(p);
    rmdir(temp_dir);
    return test_summary("test_loader");
}
