/* test_real_images.c — the pipeline on the real PCRM images.
 *
 * Needs BLASTO_SHARED_DIR/data/pcrm-blastocyst (labels.csv, images/<file_name>.jpg, annotations/<file_name>.json);
 * without it the test is skipped. Nothing is copied into the repository: a cohort CSV pointing at the shared files
 * by absolute path is written into a temporary directory, and everything else goes there too.
 *
 *   1. cohort: every labels.csv row with has_polygons = 1 whose image and labelme JSON both exist (109 rows,
 *      16 of them with a space in the id); age 35, clinic PCRM, label = outcome. labels.csv codes outcome 2 as
 *      unknown (47 of the 109, SOURCE.md); the cohort's label column takes only 0/1, so those rows get label 0 —
 *      the label plays no part in enhancement or Grad-CAM, and focus.csv's label is only compared with it.
 *   2. `blasto enhance --cohort` writes all 109 enhanced images, their masks and the enhanced cohort.csv.
 *   3. a tiny model: synth (24 at 64×64) → split → 1-epoch frozen-backbone resnet50 on enhanced input.
 *   4. `blasto gradcam --ids` on 10 PCRM ids (two with spaces) of the enhanced cohort: exit 0, focus.csv has
 *      exactly those 10 rows with finite in-range values, and every overlay PNG decodes at the model's 64×64. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "harness.h"
#include "study/image.h"
#include "support/test_support.h"

#define PCRM_DIR BLASTO_SHARED_DIR "/data/pcrm-blastocyst"
#define MAX_ROWS 512
#define N_PICK 10
#define SIZE 64

static int exists(const char *path) {
    struct stat s;
    return stat(path, &s) == 0;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct row {
    char id[128];
    int label; /* the cohort label: outcome 1 → 1, outcome 0 or 2 (unknown) → 0 */
    int known; /* outcome 0 or 1 */
} row;

/* Index of column `name` in the comma-separated header line, or −1. */
static int column(const char *header, const char *name) {
    int idx = 0;
    size_t n = strlen(name);
    for (const char *p = header;; idx++) {
        const char *end = p + strcspn(p, ",\r\n");
        if ((size_t)(end - p) == n && !strncmp(p, name, n)) return idx;
        if (*end != ',') return -1;
        p = end + 1;
    }
}

/* Field `idx` of a comma-separated line (no quoting in labels.csv) into buf. */
static const char *field(const char *line, int idx, char *buf, size_t size) {
    const char *p = line;
    for (int i = 0; i < idx && p; i++) {
        p = strchr(p, ',');
        if (p) p++;
    }
    buf[0] = '\0';
    if (!p) return buf;
    size_t n = strcspn(p, ",\r\n");
    if (n >= size) n = size - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

/* Writes dir/pcrm.csv from labels.csv; fills rows, returns their count (−1 on a read failure). */
static int write_cohort(const char *dir, row *rows) {
    char *text = test_read_file(PCRM_DIR "/labels.csv", NULL);
    CHECK(text != NULL, "labels.csv readable");
    if (!text) return -1;
    char *save = NULL, *header = strtok_r(text, "\n", &save);
    int c_file = header ? column(header, "file_name") : -1, c_poly = header ? column(header, "has_polygons") : -1,
        c_out = header ? column(header, "outcome") : -1;
    CHECK(c_file >= 0 && c_poly >= 0 && c_out >= 0, "labels.csv columns file_name, has_polygons, outcome");
    if (c_file < 0 || c_poly < 0 || c_out < 0) {
        free(text);
        return -1;
    }
    size_t cap = 1 << 16, len = 0;
    char *csv = malloc(cap);
    len += (size_t)snprintf(csv, cap, "id,image,annotation,age,clinic,label\n");
    int n = 0;
    for (char *line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[128], poly[16], out[16], image[512], ann[512];
        field(line, c_file, name, sizeof name);
        field(line, c_poly, poly, sizeof poly);
        field(line, c_out, out, sizeof out);
        if (strcmp(poly, "1") != 0 || !name[0]) continue;
        snprintf(image, sizeof image, "%s/images/%s.jpg", PCRM_DIR, name);
        snprintf(ann, sizeof ann, "%s/annotations/%s.json", PCRM_DIR, name);
        if (!exists(image) || !exists(ann)) continue;
        CHECK(!strcmp(out, "0") || !strcmp(out, "1") || !strcmp(out, "2"), "%s: outcome '%s' is 0, 1 or 2", name,
              out);
        if (n >= MAX_ROWS || len + 2048 > cap) break;
        snprintf(rows[n].id, sizeof rows[n].id, "%s", name);
        rows[n].label = out[0] == '1';
        rows[n].known = out[0] != '2';
        len += (size_t)snprintf(csv + len, cap - len, "\"%s\",\"%s\",\"%s\",35,PCRM,%d\n", name, image, ann,
                                rows[n].label);
        n++;
    }
    char path[1024];
    test_write_text(test_path_in(path, sizeof path, dir, "pcrm.csv"), csv);
    free(csv);
    free(text);
    return n;
}

/* Checks focus.csv: exactly the ids in pick (each once), every value finite and in range; returns rows read. */
static int check_focus(const char *path, row *const *pick, int n_pick) {
    char *text = test_read_file(path, NULL);
    CHECK(text != NULL, "%s readable", path);
    if (!text) return -1;
    const char *header = "id,label,score,hit,energy_icm,energy_te,energy_union,area_union\n";
    CHECK(!strncmp(text, header, strlen(header)), "focus.csv header");
    int seen[N_PICK] = {0}, n = 0;
    char *save = NULL, *body = strchr(text, '\n');
    for (char *line = body ? strtok_r(body + 1, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
        char id[128];
        int label, hit;
        double score, ei, et, eu, au;
        int got = sscanf(line, "%127[^,],%d,%lf,%d,%lf,%lf,%lf,%lf", id, &label, &score, &hit, &ei, &et, &eu, &au);
        CHECK(got == 8, "row parses: %s", line);
        if (got != 8) continue;
        n++;
        int k = -1;
        for (int i = 0; i < n_pick; i++)
            if (!strcmp(pick[i]->id, id)) k = i;
        CHECK(k >= 0, "'%s' is one of the requested ids", id);
        if (k >= 0) {
            CHECK(seen[k] == 0, "'%s' appears once", id);
            seen[k]++;
            CHECK(label == pick[k]->label, "%s: label %d (cohort %d)", id, label, pick[k]->label);
        }
        CHECK(hit == 0 || hit == 1, "%s: hit %d", id, hit);
        CHECK(isfinite(score) && score > 0 && score < 1, "%s: score %g in (0,1)", id, score);
        CHECK(isfinite(ei) && isfinite(et) && isfinite(eu) && ei >= 0 && ei <= 1 && et >= 0 && et <= 1 && eu >= 0 &&
                  eu <= 1,
              "%s: energies %g %g %g in [0,1]", id, ei, et, eu);
        CHECK(eu >= fmax(ei, et) - 1e-6, "%s: energy_union %g ≥ max(%g, %g)", id, eu, ei, et);
        CHECK(isfinite(au) && au > 0 && au < 1, "%s: area %g in (0,1)", id, au);
    }
    for (int i = 0; i < n_pick; i++) CHECK(seen[i] == 1, "'%s' in focus.csv", pick[i]->id);
    CHECK(n == n_pick, "focus.csv: %d rows (expected %d)", n, n_pick);
    free(text);
    return n;
}

int main(void) {
    if (!exists(PCRM_DIR)) return test_skip("no ../shared/data/pcrm-blastocyst");
    double t0 = now_s();
    char dir[512], args[8192], out[8192], path[1024];
    if (!test_make_tmp_dir(dir, sizeof dir, "blasto_realimg")) {
        CHECK(0, "tmp dir");
        return test_summary("test_real_images");
    }
    static row rows[MAX_ROWS];

    /* 1. cohort */
    int n = write_cohort(dir, rows);
    CHECK(n == 109, "109 PCRM images with annotations (got %d)", n);

    /* 2. enhance */
    snprintf(args, sizeof args, "enhance --cohort '%s/pcrm.csv' --out '%s/enh' --threads 2", dir, dir);
    int rc = test_run_cli(args, 1, out, sizeof out);
    CHECK(rc == 0, "enhance exits 0 (rc %d): %s", rc, out);
    int written = 0, masks = 0;
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/enh/%.127s.png", dir, rows[i].id);
        written += exists(path);
        snprintf(path, sizeof path, "%s/enh/masks/%.127s_icm.png", dir, rows[i].id);
        int icm = exists(path);
        snprintf(path, sizeof path, "%s/enh/masks/%.127s_te.png", dir, rows[i].id);
        masks += icm && exists(path);
    }
    CHECK(n > 0 && written == n, "all %d enhanced images written (got %d)", n, written);
    CHECK(n > 0 && masks == n, "all %d mask pairs written (got %d)", n, masks);
    snprintf(path, sizeof path, "%s/enh/cohort.csv", dir);
    CHECK(exists(path), "enhanced cohort.csv written");

    /* 3. tiny model on a synthetic cohort */
    snprintf(args, sizeof args, "synth --out %s/c --n 24 --size %d --seed 3 --quiet", dir, SIZE);
    CHECK(test_run_cli(args, 1, out, sizeof out) == 0, "synth: %s", out);
    snprintf(args, sizeof args, "split --cohort %s/c/cohort.csv --test-count 6 --folds 2 --out %s/split.csv", dir, dir);
    CHECK(test_run_cli(args, 1, out, sizeof out) == 0, "split: %s", out);
    snprintf(args, sizeof args,
             "train --cohort %s/c/cohort.csv --split %s/split.csv --fold 0 --out %s/run --arch resnet50 "
             "--input enhanced --weights none --epochs 1 --batch 4 --size %d --freeze-backbone-epochs 1 --threads 2",
             dir, dir, dir, SIZE);
    rc = test_run_cli(args, 1, out, sizeof out);
    CHECK(rc == 0, "train exits 0 (rc %d): %.2000s", rc, out);

    /* 4. gradcam on 10 PCRM ids: the first 8 without a space and with a known outcome, and the first 2 with a
     *    space (all 16 of those have outcome 2, unknown) */
    row *pick[N_PICK];
    int n_pick = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n && n_pick < (pass ? N_PICK : N_PICK - 2); i++)
            if ((strchr(rows[i].id, ' ') != NULL) == pass && (pass || rows[i].known)) pick[n_pick++] = &rows[i];
    CHECK(n_pick == N_PICK, "%d ids picked", n_pick);
    char ids[2048] = "";
    for (int i = 0; i < n_pick; i++) {
        if (i) strcat(ids, ",");
        strcat(ids, pick[i]->id);
    }
    snprintf(args, sizeof args,
             "gradcam --model %s/run/best.safetensors --cohort '%s/enh/cohort.csv' --ids '%s' --out %s/cam "
             "--threads 2",
             dir, dir, ids, dir);
    rc = test_run_cli(args, 1, out, sizeof out);
    CHECK(rc == 0, "gradcam exits 0 (rc %d): %.2000s", rc, out);
    snprintf(path, sizeof path, "%s/cam/focus.csv", dir);
    check_focus(path, pick, n_pick);
    int pngs = 0;
    for (int i = 0; i < n_pick; i++) {
        snprintf(path, sizeof path, "%s/cam/%.127s.png", dir, pick[i]->id);
        bl_image img = {0};
        int ok = !bl_image_load(path, 0, &img) && img.width == SIZE && img.height == SIZE && img.channels == 3;
        CHECK(ok, "%s: overlay decodes at %dx%d (got %dx%dx%d)", pick[i]->id, SIZE, SIZE, img.width, img.height,
              img.channels);
        pngs += ok;
        bl_image_free(&img);
    }
    CHECK(pngs == n_pick, "%d overlays (got %d)", n_pick, pngs);

    double secs = now_s() - t0;
    printf("test_real_images: %d rows enhanced, %d Grad-CAMs, %.1f s\n", written, pngs, secs);
#if defined(__SANITIZE_ADDRESS__) /* ASan + UBSan (tools/check_sanitize.sh) run several times slower */
    const double limit = 240.0;
#else
    const double limit = 60.0;
#endif
    CHECK(secs <= limit, "runtime %.1f s ≤ %.0f s", secs, limit);
    test_remove_tree(dir);
    return test_summary("test_real_images");
}
