/* cmd_enhance.c — `blasto enhance`: the paper's enhanced ICM/TE images (tools/study/enhance.h), for a whole cohort
 * or for one image.
 *
 * Cohort mode writes DIR/<id>.png, DIR/masks/<id>_icm.png, DIR/masks/<id>_te.png and DIR/cohort.csv. Nothing
 * appears in DIR unless every row succeeds: the images are written into a staging folder DIR/.enhance-tmp-<pid>/
 * (each file atomically), moved into place when all rows are done, and the cohort CSV is written last. On an error
 * the staging folder is removed (and DIR itself when this run created it). Rows run in parallel through
 * bl_parallel_for; each row is independent and the reported error is the one of the lowest failing row, so the
 * message does not depend on the thread count. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "core/cpu/threads.h"
#include "study/csv.h"
#include "study/enhance.h"
#include "study/files.h"
#include "study/labelme.h"

static int enhance_help(void) {
    printf("usage: blasto enhance --cohort C.csv --out DIR [--order gray,icm,te] [--threads N] [--impute-age]\n"
           "                      [--verbose]\n"
           "       blasto enhance --image I --annotation J --out O.png [--masks-out DIR] [--order gray,icm,te]\n\n"
           "Builds the enhanced ICM/TE image of Kim et al. 2024: three channels (gray, gray inside the ICM, gray\n"
           "inside the TE), with OpenCV-exact grayscale (cv2 COLOR_BGR2GRAY) and polygon filling (cv2.fillPoly,\n"
           "LINE_8; labelme float coordinates truncated toward zero as np.int32 does).\n\n"
           "  --cohort C.csv    cohort CSV (id,image,annotation,age,clinic,label); every row needs an annotation:\n"
           "                    a labelme JSON (labels icm/ICM and te/TE/te_<n>; other labels ignored) or\n"
           "                    two mask PNGs \"icm.png|te.png\" (non-zero = inside)\n"
           "  --out DIR         cohort mode: writes DIR/<id>.png, DIR/masks/<id>_icm.png, DIR/masks/<id>_te.png\n"
           "                    (0/255) and DIR/cohort.csv whose image column points at the enhanced images and\n"
           "                    whose annotation column is the mask pair \"masks/<id>_icm.png|masks/<id>_te.png\";\n"
           "                    nothing is left in DIR when a row fails\n"
           "  --out O.png       one-image mode: the enhanced RGB PNG\n"
           "  --image I         one image (PNG/JPEG/BMP, gray or colour)\n"
           "  --annotation J    its labelme JSON, or \"icm.png|te.png\"\n"
           "  --masks-out DIR   one-image mode: also write DIR/icm.png and DIR/te.png (0/255)\n"
           "  --order LIST      which source goes into R,G,B (default gray,icm,te)\n"
           "  --icm-labels L    comma-separated labelme labels that mean ICM, replacing the default icm,ICM\n"
           "  --te-labels L     likewise for TE, replacing the default te,TE,te_<n>,TE_<n>\n"
           "  --threads N       worker threads (default: BLASTO_THREADS or all cores)\n"
           "  --impute-age      accept empty/NaN ages (kept empty in the output cohort; imputed at training)\n"
           "  --verbose         list the labelme labels that were ignored, per row\n");
    return 0;
}

static int parse_order(const char *text, bl_enhance_options *o) {
    static const char *const names[3] = {"gray", "icm", "te"};
    int seen = 0, k = 0;
    const char *p = text;
    while (p && k < 3) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        int found = -1;
        for (int c = 0; c < 3; c++)
            if (strlen(names[c]) == len && strncmp(p, names[c], len) == 0) found = c;
        if (found < 0 || (seen & (1 << found))) break;
        seen |= 1 << found;
        o->order[k++] = (bl_channel)found;
        p = comma ? comma + 1 : NULL;
    }
    if (k != 3 || p) {
        fprintf(stderr, "blasto enhance: --order: expected a permutation of gray,icm,te, got '%s'\n",
                text ? text : "");
        return 2;
    }
    return 0;
}

/* ---- progress on stderr: nothing for the first 2 s, then a self-overwriting line on a terminal or a plain line
 * every 10 s otherwise ---- */
typedef struct progress {
    pthread_mutex_t lock;
    double start; /* bl_seconds_now() at progress_init */
    int total, done, tty, printed;
    double last_print;
} progress;

static void progress_init(progress *p, int total) {
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->lock, NULL);
    p->start = bl_seconds_now();
    p->total = total;
    p->tty = isatty(STDERR_FILENO);
}

static void progress_tick(progress *p) {
    pthread_mutex_lock(&p->lock);
    p->done++;
    double t = bl_seconds_now() - p->start;
    double interval = p->tty ? 0.25 : 10.0;
    if (t >= 2.0 && (t - p->last_print >= interval || p->done == p->total)) {
        double eta = p->done ? t / p->done * (p->total - p->done) : 0.0;
        fprintf(stderr, "%senhance: %d/%d images, %.1f s elapsed, ETA %.1f s%s", p->tty ? "\r" : "", p->done,
                p->total, t, eta, p->tty ? "   " : "\n");
        p->last_print = t;
        p->printed = 1;
    }
    pthread_mutex_unlock(&p->lock);
}

static void progress_end(progress *p) {
    if (p->tty && p->printed) fputc('\n', stderr);
    pthread_mutex_destroy(&p->lock);
}

/* ---- cohort mode ---- */

typedef struct cohort_job {
    const bl_cohort *cohort;
    const bl_enhance_options *options;
    const char *stage; /* staging folder */
    atomic_int first_failure; /* lowest failing row so far (cohort->n when none) */
    char **errors;            /* errors[i]: message of row i, or NULL */
    progress *progress;
} cohort_job;

static char *join_path(const char *dir, const char *middle, const char *name, const char *suffix) {
    size_t n = strlen(dir) + strlen(middle) + strlen(name) + strlen(suffix) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s%s%s", dir, middle, name, suffix);
    return p;
}

static const char *const OUTPUT_KINDS[3][2] = {{"", ".png"}, {"masks/", "_icm.png"}, {"masks/", "_te.png"}};

static void enhance_one_row(void *arg, int i) {
    cohort_job *job = arg;
    if (i > atomic_load(&job->first_failure)) return; /* an earlier row failed: its error is the one reported */
    const bl_cohort_row *row = &job->cohort->rows[i];
    bl_image images[3] = {{0}};
    bl_status st = bl_enhance_row(row, job->options, &images[0], &images[1], &images[2]);
    for (int k = 0; k < 3 && !st; k++) {
        char *path = join_path(job->stage, OUTPUT_KINDS[k][0], row->id, OUTPUT_KINDS[k][1]);
        st = path ? bl_image_save_png(&images[k], path) : bl_fail(BL_ERR_NOMEM, "out of memory");
        free(path);
    }
    for (int k = 0; k < 3; k++) bl_image_free(&images[k]);
    if (st) {
        job->errors[i] = strdup(bl_last_error());
        int seen = atomic_load(&job->first_failure);
        while (i < seen && !atomic_compare_exchange_weak(&job->first_failure, &seen, i)) {
        }
    }
    progress_tick(job->progress);
}

/* bl_make_dir that prints its error; returns 0, or 1 after printing */
static int make_directory(const char *path, int *created) {
    if (bl_make_dir(path, created) == BL_OK) return 0;
    fprintf(stderr, "blasto enhance: %s\n", bl_last_error());
    return 1;
}

/* The pid in our staging folder's name ".enhance-tmp-<digits>"; 0 when the name has another form. */
static long stage_pid(const char *name) {
    if (strncmp(name, ".enhance-tmp-", 13) != 0) return 0;
    const char *digits = name + 13;
    char *end = NULL;
    long pid = strtol(digits, &end, 10);
    return *digits >= '0' && *digits <= '9' && end && !*end && pid > 0 ? pid : 0;
}

/* Files and (with depth > 0) folders of dir, all of them; the folders only when emptied. */
static void remove_all_in(const char *dir, int depth) {
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *path = join_path(dir, "", e->d_name, "");
        struct stat sb;
        if (path && lstat(path, &sb) == 0) {
            if (S_ISDIR(sb.st_mode) && depth > 0) {
                remove_all_in(path, depth - 1);
                rmdir(path);
            } else if (!S_ISDIR(sb.st_mode)) {
                unlink(path);
            }
        }
        free(path);
    }
    closedir(d);
}

/* A run killed with -9 leaves its staging folder DIR/.enhance-tmp-<pid>/ and possibly atomic-write temporaries
 * (DIR/cohort.csv.tmp.<pid>); a later run removes those of processes that no longer exist (a live pid — a
 * concurrent run, or a reused pid — is left alone). tests/test_kill_safety.c checks that none remain. */
static void remove_stale_temporaries(const char *out_dir) {
    static const char *const cohort_csv[] = {"cohort.csv"}; /* only our own temporary: DIR's other files are the user's */
    bl_remove_stale_temporaries(out_dir, 1, cohort_csv);
    DIR *d = opendir(out_dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        long pid = stage_pid(e->d_name);
        if (!pid || !bl_process_gone(pid)) continue;
        char *path = join_path(out_dir, "", e->d_name, "");
        struct stat sb;
        if (path && lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            remove_all_in(path, 1); /* <stage>/<id>.png, <stage>/masks/<id>_icm.png, their .tmp.<pid> */
            rmdir(path);
        }
        free(path);
    }
    closedir(d);
}

static void remove_stage(const bl_cohort *c, const char *stage) {
    for (int i = 0; i < c->n; i++)
        for (int k = 0; k < 3; k++) {
            char *path = join_path(stage, OUTPUT_KINDS[k][0], c->rows[i].id, OUTPUT_KINDS[k][1]);
            if (path) unlink(path);
            free(path);
        }
    char *masks = join_path(stage, "", "masks", "");
    char *csv = join_path(stage, "", "cohort.csv", "");
    if (masks) rmdir(masks);
    if (csv) unlink(csv);
    free(masks);
    free(csv);
    rmdir(stage);
    bl_cleanup_forget(stage);
}

/* Moves the n first of the 3·c->n staged files (row-major, kind-minor) between the stage and DIR: forward into
 * place, or back into the stage after a later failure (so that removing the stage removes them). Returns the index
 * of the first file that could not be moved, or n. */
static int move_files(const bl_cohort *c, const char *stage, const char *out_dir, int n, int back) {
    for (int f = 0; f < n; f++) {
        int i = f / 3, k = f % 3;
        char *staged = join_path(stage, OUTPUT_KINDS[k][0], c->rows[i].id, OUTPUT_KINDS[k][1]);
        char *placed = join_path(out_dir, OUTPUT_KINDS[k][0], c->rows[i].id, OUTPUT_KINDS[k][1]);
        int bad = !staged || !placed || (back ? rename(placed, staged) : rename(staged, placed)) != 0;
        if (bad && !back)
            fprintf(stderr, "blasto enhance: %s: cannot move into place: %s\n", placed ? placed : "?", strerror(errno));
        free(staged);
        free(placed);
        if (bad && !back) return f;
    }
    return n;
}

static void print_ignored_labels(const bl_cohort *c, const bl_enhance_options *o) {
    for (int i = 0; i < c->n; i++) {
        bl_labelme *doc = NULL;
        if (!c->rows[i].annotation || bl_labelme_read(c->rows[i].annotation, &doc) != BL_OK) continue;
        int listed = 0;
        for (int s = 0; s < doc->n_shapes; s++) {
            if (bl_region_of_label_in(o, doc->shapes[s].label) != BL_REGION_NONE) continue;
            if (listed++) printf(", %s", doc->shapes[s].label);
            else printf("%s: ignored labels: %s", c->rows[i].id, doc->shapes[s].label);
        }
        if (listed) printf("\n");
        bl_labelme_free(doc);
    }
}

static int enhance_cohort(const char *cohort_path, const char *out_dir, const bl_enhance_options *o,
                          int impute_age, int verbose) {
    bl_cohort *c = NULL;
    if (bl_cohort_read(cohort_path, impute_age, &c) != BL_OK) {
        fprintf(stderr, "blasto enhance: %s\n", bl_last_error());
        return 1;
    }
    char *out_csv = join_path(out_dir, "", "cohort.csv", "");
    char *masks_dir = join_path(out_dir, "", "masks", "");
    char stage_name[64];
    snprintf(stage_name, sizeof stage_name, ".enhance-tmp-%ld", (long)getpid());
    char *stage = join_path(out_dir, "", stage_name, "");
    char *stage_masks = stage ? join_path(stage, "", "masks", "") : NULL;
    char **errors = calloc((size_t)c->n, sizeof *errors);
    int rc = 1, created_out = 0, created_masks = 0, created_stage = 0, created_stage_masks = 0;
    if (!out_csv || !masks_dir || !stage || !stage_masks || !errors) {
        fprintf(stderr, "blasto enhance: out of memory\n");
        goto done;
    }
    const char *inputs[] = {cohort_path};
    if (bl_output_check(out_csv, 1, inputs) != BL_OK) {
        fprintf(stderr, "blasto enhance: --out: %s\n", bl_last_error());
        rc = 2;
        goto done;
    }
    if (make_directory(out_dir, &created_out)) goto cleanup;
    if (created_out) bl_cleanup_add_tree(out_dir); /* made by this run: a signal removes it with the rest */
    else remove_stale_temporaries(out_dir);
    if (make_directory(stage, &created_stage)) goto cleanup;
    bl_cleanup_add_tree(stage); /* Ctrl-C or kill: the stage goes, DIR keeps what it had */
    if (make_directory(stage_masks, &created_stage_masks)) goto cleanup;

    progress prog;
    progress_init(&prog, c->n);
    cohort_job job = {.cohort = c, .options = o, .stage = stage, .errors = errors, .progress = &prog};
    atomic_init(&job.first_failure, c->n);
    bl_parallel_for(c->n, enhance_one_row, &job);
    progress_end(&prog);
    int failed = atomic_load(&job.first_failure);
    if (failed < c->n) {
        fprintf(stderr, "blasto enhance: %s\n", errors[failed] ? errors[failed] : "unknown error");
        goto cleanup;
    }

    /* every row succeeded: the cohort CSV is written into the stage first (the step that can fail on a full disk),
     * then the files are moved into place and the CSV last; a failed move moves the others back */
    for (int i = 0; i < c->n; i++) {
        bl_cohort_row *r = &c->rows[i];
        free(r->image);
        free(r->annotation);
        free(r->icm_mask);
        free(r->te_mask);
        r->annotation = NULL;
        r->image = join_path(out_dir, "", r->id, ".png");
        r->icm_mask = join_path(out_dir, "masks/", r->id, "_icm.png");
        r->te_mask = join_path(out_dir, "masks/", r->id, "_te.png");
        if (!r->image || !r->icm_mask || !r->te_mask) {
            fprintf(stderr, "blasto enhance: out of memory\n");
            goto cleanup;
        }
    }
    char *staged_csv = join_path(stage, "", "cohort.csv", "");
    if (!staged_csv || bl_cohort_write_relative_to(c, staged_csv, out_dir) != BL_OK) { /* paths as seen from DIR */
        fprintf(stderr, "blasto enhance: %s\n", staged_csv ? bl_last_error() : "out of memory");
        free(staged_csv);
        goto cleanup;
    }
    if (make_directory(masks_dir, &created_masks)) {
        free(staged_csv);
        goto cleanup;
    }
    int moved = move_files(c, stage, out_dir, 3 * c->n, 0);
    if (moved < 3 * c->n || rename(staged_csv, out_csv) != 0) {
        if (moved == 3 * c->n) fprintf(stderr, "blasto enhance: %s: cannot move into place: %s\n", out_csv, strerror(errno));
        move_files(c, stage, out_dir, moved, 1);
        free(staged_csv);
        goto cleanup;
    }
    free(staged_csv);
    rc = 0;
    printf("enhance: %d images -> %s (images <id>.png, masks/<id>_icm.png and masks/<id>_te.png, cohort.csv)\n", c->n,
           out_dir);
    if (verbose) {
        bl_cohort *input = NULL;
        if (bl_cohort_read(cohort_path, impute_age, &input) == BL_OK) print_ignored_labels(input, o);
        bl_cohort_free(input);
    }
cleanup:
    remove_stage(c, stage);
    if (rc != 0) { /* leave DIR as it was: remove what this run created */
        if (created_masks) rmdir(masks_dir);
        if (created_out) rmdir(out_dir);
    }
    if (created_out) bl_cleanup_forget(out_dir);
done:
    for (int i = 0; c && errors && i < c->n; i++) free(errors[i]);
    free(errors);
    free(out_csv);
    free(masks_dir);
    free(stage);
    free(stage_masks);
    bl_cohort_free(c);
    return rc;
}

/* ---- one-image mode ---- */

static int enhance_single(const char *image, const char *annotation, const char *out_path, const char *masks_out,
                          const bl_enhance_options *o) {
    bl_cohort_row row = {.id = "image", .image = (char *)image, .line = 0};
    char *icm = NULL;
    const char *bar = strchr(annotation, '|');
    if (bar) {
        icm = strndup(annotation, (size_t)(bar - annotation));
        row.icm_mask = icm;
        row.te_mask = (char *)(bar + 1);
        if (!icm || !icm[0] || !bar[1] || strchr(bar + 1, '|')) {
            fprintf(stderr, "blasto enhance: --annotation: expected a labelme JSON or icm.png|te.png, got '%s'\n",
                    annotation);
            free(icm);
            return 2;
        }
    } else {
        row.annotation = (char *)annotation;
    }
    /* outputs are checked before the work: never a device, never one of the inputs */
    const char *inputs[] = {image, row.annotation, row.icm_mask, row.te_mask};
    char *icm_path = masks_out ? join_path(masks_out, "", "icm.png", "") : NULL;
    char *te_path = masks_out ? join_path(masks_out, "", "te.png", "") : NULL;
    const char *outputs[] = {out_path, icm_path, te_path};
    for (int k = 0; k < 3; k++)
        if (outputs[k] && bl_output_check(outputs[k], 4, inputs) != BL_OK) {
            fprintf(stderr, "blasto enhance: %s: %s\n", k ? "--masks-out" : "--out", bl_last_error());
            free(icm), free(icm_path), free(te_path);
            return 2;
        }
    bl_image out = {0}, icm_mask = {0}, te_mask = {0};
    bl_status st = bl_enhance_row(&row, o, &out, &icm_mask, &te_mask);
    free(icm);
    int rc = 0;
    if (st) {
        fprintf(stderr, "blasto enhance: %s\n", bl_last_error());
        free(icm_path), free(te_path);
        return 1;
    }
    if (masks_out) {
        int created = 0;
        if (make_directory(masks_out, &created)) rc = 1;
        else if (!icm_path || !te_path) rc = 1, fprintf(stderr, "blasto enhance: out of memory\n");
        else if (bl_image_save_png(&icm_mask, icm_path) || bl_image_save_png(&te_mask, te_path))
            rc = 1, fprintf(stderr, "blasto enhance: %s\n", bl_last_error());
    }
    free(icm_path);
    free(te_path);
    if (!rc && bl_image_save_png(&out, out_path)) rc = 1, fprintf(stderr, "blasto enhance: %s\n", bl_last_error());
    if (!rc) printf("enhance: %s -> %s (%dx%d)\n", image, out_path, out.width, out.height);
    bl_image_free(&out);
    bl_image_free(&icm_mask);
    bl_image_free(&te_mask);
    return rc;
}

int cmd_enhance(int argc, char **argv) {
    const char *cohort = NULL, *out = NULL, *image = NULL, *annotation = NULL, *masks_out = NULL;
    bl_enhance_options o;
    bl_enhance_options_default(&o);
    long threads = 0;
    int impute_age = 0, verbose = 0;
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) return enhance_help();
        if (strcmp(opt, "--impute-age") == 0) { impute_age = 1; continue; }
        if (strcmp(opt, "--verbose") == 0) { verbose = 1; continue; }
        if (!val) {
            fprintf(stderr, "blasto enhance: %s: missing value (blasto enhance --help)\n", opt);
            return 2;
        }
        if (strcmp(opt, "--cohort") == 0) cohort = val;
        else if (strcmp(opt, "--out") == 0) out = val;
        else if (strcmp(opt, "--image") == 0) image = val;
        else if (strcmp(opt, "--annotation") == 0) annotation = val;
        else if (strcmp(opt, "--masks-out") == 0) masks_out = val;
        else if (strcmp(opt, "--order") == 0) rc = parse_order(val, &o);
        else if (strcmp(opt, "--icm-labels") == 0) o.icm_labels = val;
        else if (strcmp(opt, "--te-labels") == 0) o.te_labels = val;
        else if (strcmp(opt, "--threads") == 0) rc = cli_parse_int("enhance", opt, val, 1, 1024, &threads);
        else {
            fprintf(stderr, "blasto enhance: unknown option '%s' (blasto enhance --help)\n", opt);
            return 2;
        }
        if (rc) return rc;
        i++;
    }
    if (!out) {
        fprintf(stderr, "blasto enhance: --out is required (blasto enhance --help)\n");
        return 2;
    }
    if (cohort && (image || annotation || masks_out)) {
        fprintf(stderr, "blasto enhance: --cohort cannot be combined with --image/--annotation/--masks-out\n");
        return 2;
    }
    if (!cohort && (!image || !annotation)) {
        fprintf(stderr, "blasto enhance: give --cohort C.csv, or --image I with --annotation J (blasto enhance "
                        "--help)\n");
        return 2;
    }
    if (cli_apply_threads("enhance", threads)) return 1;
    if (cohort) return enhance_cohort(cohort, out, &o, impute_age, verbose);
    return enhance_single(image, annotation, out, masks_out, &o);
}
