/* experiment_fingerprint.c — DIR/fingerprint.json: what produced an experiment's results, so that a rerun into the
 * same folder never mixes results of two different runs (docs/experiment.md, "Fingerprint").
 *
 * Five parts, each a 64-bit FNV-1a hash written as 16 hex digits (a hash for change detection, not a cryptographic
 * one: it guards against mistakes, not against someone forging a cohort):
 *   config   every setting that changes a unit's numbers: test_count, folds, seed, epochs, batch, size,
 *            freeze_backbone_epochs, lr (exact, as %a), optimizer, demo; with predicted annotations also that and
 *            the segmenter's epochs, size, width, depth, batch, lr and augmentation. Not the lists of architectures and inputs:
 *            they choose which units exist, not what a unit computes, so adding an architecture keeps the others.
 *   cohort   the bytes of the cohort CSV (ids, labels, ages, clinics, paths)
 *   images   for every row in order: its id and the bytes of its image, labelme JSON or the two masks
 *   weights  the bytes of every architecture's ImageNet weights file ("none" without weights_dir)
 *   blasto   the version, and the backend: device, deterministic, tf32
 * and the whole fingerprint, the hash of the five. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "core/build_info.h"
#include "core/fileio.h"
#include "study/cohort.h"
#include "study/experiment.h"
#include "study/files.h"

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static uint64_t fnv(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * FNV_PRIME;
    return h;
}

static uint64_t fnv_text(uint64_t h, const char *s) { return fnv(h, s, strlen(s) + 1); /* the NUL separates */ }

/* h updated with the bytes of the file, read in blocks through bl_input_open (a regular file only) */
static bl_status hash_file(const char *path, uint64_t *h) {
    FILE *f = NULL;
    bl_status st = bl_input_open(path, 0, &f, NULL);
    if (st) return st;
    static _Thread_local unsigned char block[1 << 16];
    for (size_t got; (got = fread(block, 1, sizeof block, f)) > 0;) *h = fnv(*h, block, got);
    int bad = ferror(f);
    fclose(f);
    return bad ? bl_fail(BL_ERR_IO, "%s: read error while computing the experiment's fingerprint", path) : BL_OK;
}

static void hex(char out[17], uint64_t h) { snprintf(out, 17, "%016llx", (unsigned long long)h); }

bl_status bl_experiment_fingerprint_compute(const bl_experiment_config *c, const bl_cohort *cohort,
                                            bl_experiment_fingerprint *f) {
    memset(f, 0, sizeof *f);
    char text[512];
    snprintf(text, sizeof text, "test_count=%d;folds=%d;seed=%llu;epochs=%d;batch=%d;size=%d;freeze=%d;lr=%a;opt=%d;"
             "demo=%d", c->test_count, c->folds, (unsigned long long)c->seed, c->epochs, c->batch, c->size,
             c->freeze_backbone_epochs, c->lr, (int)c->optimizer, c->demo);
    if (c->annotations != BL_ANNOTATIONS_MANUAL) { /* only then: a manual run keeps the fingerprint it always had */
        size_t len = strlen(text);
        snprintf(text + len, sizeof text - len, ";annotations=%s;seg_epochs=%d;seg_size=%d;seg_width=%d;"
                 "seg_depth=%d;seg_batch=%d;seg_lr=%a;seg_augment=%d",
                 c->annotations == BL_ANNOTATIONS_BOTH ? "both" : "predicted", c->segment.epochs, c->segment.size,
                 c->segment.unet.width, c->segment.unet.depth, c->segment.batch, c->segment.lr, c->segment.augment);
    }
    hex(f->config, fnv_text(FNV_OFFSET, text));
    uint64_t h = FNV_OFFSET;
    bl_status st = hash_file(c->cohort, &h);
    hex(f->cohort, h);
    h = FNV_OFFSET;
    for (int i = 0; !st && i < cohort->n; i++) {
        const bl_cohort_row *r = &cohort->rows[i];
        h = fnv_text(h, r->id);
        const char *files[4] = {r->image, r->annotation, r->icm_mask, r->te_mask};
        for (int k = 0; !st && k < 4; k++)
            if (files[k]) st = hash_file(files[k], &h);
    }
    hex(f->images, h);
    h = FNV_OFFSET;
    if (!c->weights_dir[0]) h = fnv_text(h, "none");
    for (int a = 0; !st && c->weights_dir[0] && a < c->n_archs; a++) {
        char w[1200];
        snprintf(w, sizeof w, "%s/%s.safetensors", c->weights_dir, bl_arch_name(c->archs[a]));
        h = fnv_text(h, bl_arch_name(c->archs[a]));
        st = hash_file(w, &h);
    }
    hex(f->weights, h);
    snprintf(f->blasto, sizeof f->blasto, "%s", bl_build()->version);
    snprintf(f->backend, sizeof f->backend, "%s%s%s", c->device.name[0] ? c->device.name : "cpu",
             c->device.deterministic ? ", deterministic" : "", c->device.tf32 ? ", tf32" : "");
    h = FNV_OFFSET;
    const char *parts[] = {f->config, f->cohort, f->images, f->weights, f->blasto, f->backend};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) h = fnv_text(h, parts[i]);
    hex(f->whole, h);
    return st;
}

static const char *const PART_NAMES[] = {"config", "cohort", "images", "weights", "blasto", "backend"};
#define N_PARTS 6

static const char *part_of(const bl_experiment_fingerprint *f, int i) {
    const char *parts[N_PARTS] = {f->config, f->cohort, f->images, f->weights, f->blasto, f->backend};
    return parts[i];
}

/* What an earlier invocation left: the results a changed fingerprint makes stale (everything but fingerprint.json
 * and what the user put there). */
static const char *const RESULTS[] = {"split.csv", "runs", "table1.csv", "table2.csv", "delong.csv",
                                      "calibration.json", "gradcam", "table3.csv", "run.json", "report.html"};
#define N_RESULTS (int)(sizeof RESULTS / sizeof RESULTS[0])

static int any_result(const char *out_dir) {
    for (int i = 0; i < N_RESULTS; i++) {
        char p[1200];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", out_dir, RESULTS[i]);
        if (lstat(p, &sb) != 0) continue;
        if (!S_ISDIR(sb.st_mode)) return 1;
        DIR *d = opendir(p); /* an empty runs/ or gradcam/ holds no result */
        int entries = 0;
        for (struct dirent *e; d && (e = readdir(d));) entries += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
        if (d) closedir(d);
        if (entries) return 1;
    }
    return 0;
}

bl_status bl_experiment_fingerprint_check(const bl_experiment_config *c, const char *out_dir,
                                          const bl_experiment_fingerprint *f, char *changed, size_t changed_size) {
    changed[0] = '\0';
    char path[1200];
    snprintf(path, sizeof path, "%s/fingerprint.json", out_dir);
    struct stat sb;
    int known = stat(path, &sb) == 0;
    if (known) { /* which parts differ */
        char *text = NULL;
        size_t size = 0;
        bl_status st = bl_read_file(path, 1 << 16, &text, &size);
        if (st) return st;
        bl_input_release(path); /* the state this invocation may replace */
        cJSON *root = cJSON_ParseWithLength(text, size);
        free(text);
        if (!cJSON_IsObject(root)) {
            cJSON_Delete(root);
            return bl_fail(BL_ERR_FORMAT, "%s: not a JSON object (remove it to start this folder afresh)", path);
        }
        const cJSON *parts = cJSON_GetObjectItemCaseSensitive(root, "parts");
        for (int i = 0; i < N_PARTS; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(parts, PART_NAMES[i]);
            if (cJSON_IsString(v) && !strcmp(v->valuestring, part_of(f, i))) continue;
            size_t n = strlen(changed);
            snprintf(changed + n, changed_size - n, "%s%s", n ? ", " : "", PART_NAMES[i]);
        }
        cJSON_Delete(root);
    } else if (any_result(out_dir)) {
        snprintf(changed, changed_size, "unknown: no fingerprint.json");
    }
    if (changed[0] && !c->rerun_changed)
        return bl_fail(BL_ERR_INVALID, "%s: holds the results of a different run (changed: %s); --rerun-changed "
                       "replaces them, or choose another --out", out_dir, changed);
    if (changed[0]) /* --rerun-changed: the stale results go, every unit runs again */
        for (int i = 0; i < N_RESULTS; i++) {
            char p[1200];
            snprintf(p, sizeof p, "%s/%s", out_dir, RESULTS[i]);
            bl_remove_tree(p);
        }
    if (known && !changed[0]) return BL_OK;
    cJSON *root = cJSON_CreateObject(), *parts = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "fingerprint", f->whole);
    for (int i = 0; i < N_PARTS; i++) cJSON_AddStringToObject(parts, PART_NAMES[i], part_of(f, i));
    cJSON_AddItemToObject(root, "parts", parts);
    char *printed = cJSON_Print(root);
    cJSON_Delete(root);
    if (!printed) return bl_fail(BL_ERR_NOMEM, "%s: out of memory", path);
    size_t n = strlen(printed);
    printed[n] = '\n'; /* cJSON_Print's terminator becomes the final newline */
    bl_status st = bl_write_file_atomic(path, printed, n + 1);
    free(printed);
    return st;
}
