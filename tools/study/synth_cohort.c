/* synth_cohort.c — the synthetic cohort's generative model (bl_synth_draw) and writer (bl_synth_write_cohort).
 * Rendering is in synth_render.c; the model's formulas are explained in docs/synthetic.md.
 *
 * Order of the draws from the embryo's stream (changing it changes every cohort, so it is fixed):
 *   label, age (with redraws), clinic, quality, 4 feature noises, frame, zona, TE, ICM, debris, imaging jitter. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/rng.h"
#include "core/cpu/threads.h"
#include "study/csv.h"
#include "study/files.h"
#include "study/synth.h"

#define TWO_PI 6.283185307179586476925

/* ---- the outcome model's constants (docs/synthetic.md, "Outcome") ---- */
#define PREVALENCE 0.32
static const double AGE_MEAN[2] = {36.2, 34.0}, AGE_SD[2] = {3.9, 3.1}; /* by label: paper Table 1 */
#define AGE_MIN 20.0
#define AGE_MAX 50.0
#define QUALITY_SHIFT 0.6  /* q | label ~ N(±0.6, 1) */
#define FEATURE_NOISE 0.8  /* z_k = q + 0.8·ε_k */

/* Clinic imaging: share of the cohort, background gray, contrast, focus blur (σ px at 256), noise (gray levels),
 * illumination gradient, vignette, shear direction (degrees). */
typedef struct clinic_imaging {
    double share, background, contrast, blur, noise, gradient, vignette, shear_degrees;
} clinic_imaging;
static const clinic_imaging CLINICS[BL_SYNTH_CLINICS] = {
    {0.30, 150, 1.00, 0.5, 4.0, 0.10, 0.10, 225},
    {0.25, 118, 1.30, 0.3, 6.0, 0.15, 0.05, 225},
    {0.20, 172, 0.75, 1.1, 3.0, 0.08, 0.20, 200},
    {0.15, 140, 1.10, 1.6, 5.0, 0.20, 0.10, 250},
    {0.10, 160, 0.90, 0.8, 8.0, 0.25, 0.25, 225},
};

char bl_synth_clinic_name(int clinic) { return (char)('A' + clinic); }

/* uniform double in [lo, hi) with 53 random bits */
static double uniform(bl_rng *r, double lo, double hi) {
    return lo + (hi - lo) * ((double)(bl_rng_next_u64(r) >> 11) * (1.0 / 9007199254740992.0));
}
static double normal(bl_rng *r) { return bl_rng_normal(r); }
static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double clamp(double x, double lo, double hi) { return x < lo ? lo : x > hi ? hi : x; }

/* depth of the TE inner outline at angle φ (same formula as synth_render.c's te_depth, for placing the ICM) */
static double te_depth_at(const bl_synth_embryo *e, double phi) {
    double a = fmod(phi - e->te_boundary[0], TWO_PI);
    if (a < 0) a += TWO_PI;
    a += e->te_boundary[0];
    int j = 0;
    while (j + 1 < e->te_cells && a >= e->te_boundary[j + 1]) j++;
    double s = (a - e->te_boundary[j]) / (e->te_boundary[j + 1] - e->te_boundary[j]);
    return (1 - s) * e->te_boundary_depth[j] + s * e->te_boundary_depth[j + 1] + e->te_bulge[j] * sin(TWO_PI / 2 * s);
}

static void draw_trophectoderm(bl_synth_embryo *e, bl_rng *r) {
    e->te_regularity = sigmoid(1.5 * e->z_te_regularity);
    e->te_cells = (int)clamp(floor(16.0 + 4.0 * e->z_te_count + 0.5), 8, 28);
    int n = e->te_cells;
    double irregular = 1.0 - e->te_regularity;
    double spacing[BL_SYNTH_MAX_TE_CELLS], total = 0, thickness[BL_SYNTH_MAX_TE_CELLS];
    for (int j = 0; j < n; j++) total += spacing[j] = 1.0 + 0.7 * irregular * uniform(r, -1, 1);
    e->te_boundary[0] = uniform(r, 0, TWO_PI);
    for (int j = 0; j < n; j++) e->te_boundary[j + 1] = e->te_boundary[j] + TWO_PI * spacing[j] / total;
    e->te_boundary[n] = e->te_boundary[0] + TWO_PI; /* exact closure */
    double base = uniform(r, 0.07, 0.10);
    for (int j = 0; j < n; j++) thickness[j] = base * (1.0 + 0.6 * irregular * uniform(r, -1, 1));
    for (int j = 0; j <= n; j++) {
        double left = thickness[(j + n - 1) % n], right = thickness[j % n];
        e->te_boundary_depth[j] = 0.55 * (left + right) / 2.0;
    }
    for (int j = 0; j < n; j++)
        e->te_bulge[j] = fmax(thickness[j] - (e->te_boundary_depth[j] + e->te_boundary_depth[j + 1]) / 2.0,
                              0.2 * thickness[j]);
}

static void draw_icm(bl_synth_embryo *e, bl_rng *r) {
    double c = e->icm_compactness = sigmoid(1.5 * e->z_icm_compactness);
    double rc = e->icm_radius = clamp(0.36 + 0.06 * e->z_icm_size, 0.20, 0.50);
    int k = e->icm_cells = (int)clamp(floor(6.0 + 12.0 * c + uniform(r, -1.5, 1.5) + 0.5), 4, 20);
    double spread = rc * (0.72 + 0.5 * (1.0 - c));
    double cell = rc * sqrt(0.9 / k) * (1.1 + 0.3 * (1.0 - c));
    double turn = uniform(r, 0, TWO_PI), jitter = (0.1 + 0.35 * (1.0 - c)) * cell;
    /* the cluster sits against the TE at angle `side` */
    double side = uniform(r, 0, TWO_PI);
    double along = 1.0 + e->wobble[0] * sin(2 * side + e->wobble[1]) + e->wobble[2] * sin(3 * side + e->wobble[3]);
    along -= te_depth_at(e, side) + 0.8 * rc;
    double cx = along * cos(side), cy = along * sin(side);
    for (int j = 0; j < k; j++) {
        /* Vogel's sunflower spiral packs k points evenly in a disc; jitter loosens it */
        double radius = spread * sqrt((j + 0.5) / k), angle = turn + 2.399963229728653 * j;
        double x = cx + radius * cos(angle) + jitter * uniform(r, -1, 1);
        double y = cy + radius * sin(angle) + jitter * uniform(r, -1, 1);
        double rj = cell * uniform(r, 0.85, 1.15);
        double limit = 0.97 - rj, d = hypot(x, y); /* keep every cell inside the embryo */
        if (d > limit) x *= limit / d, y *= limit / d;
        e->icm_x[j] = x, e->icm_y[j] = y, e->icm_r[j] = rj;
    }
}

static void draw_debris(bl_synth_embryo *e, bl_rng *r) {
    int inside = (int)floor(uniform(r, 0, 4)), outside = (int)floor(uniform(r, 0, 3));
    e->debris = inside + outside;
    for (int k = 0; k < e->debris; k++) {
        double angle = uniform(r, 0, TWO_PI), dist;
        if (k < inside) dist = uniform(r, 0.1, 0.65), e->debris_r[k] = uniform(r, 0.015, 0.04);
        else dist = 1.0 + e->zona_thickness + uniform(r, 0.12, 0.5), e->debris_r[k] = uniform(r, 0.01, 0.05);
        e->debris_x[k] = dist * cos(angle);
        e->debris_y[k] = dist * sin(angle);
    }
}

bl_status bl_synth_draw(uint64_t seed, int index, int size, bl_synth_embryo *e) {
    if (size < 64 || size > 2048)
        return bl_fail(BL_ERR_INVALID, "synth: size: expected 64 … 2048 pixels (got %d)", size);
    if (index < 0) return bl_fail(BL_ERR_INVALID, "synth: index: expected ≥ 0 (got %d)", index);
    memset(e, 0, sizeof *e);
    e->seed = seed;
    e->index = index;
    e->size = size;
    bl_rng r = bl_rng_stream(seed, BL_RNG_DATA, BL_SYNTH_STREAM + 4 * (uint64_t)index);
    /* outcome first, then what depends on it */
    e->label = uniform(&r, 0, 1) < PREVALENCE;
    double age;
    do age = AGE_MEAN[e->label] + AGE_SD[e->label] * normal(&r);
    while (age < AGE_MIN || age > AGE_MAX);
    e->age = (int)floor(age + 0.5);
    double u = uniform(&r, 0, 1), cumulative = 0;
    e->clinic = BL_SYNTH_CLINICS - 1;
    for (int k = 0; k < BL_SYNTH_CLINICS; k++)
        if (u < (cumulative += CLINICS[k].share)) {
            e->clinic = k;
            break;
        }
    e->quality = (e->label ? QUALITY_SHIFT : -QUALITY_SHIFT) + normal(&r);
    e->z_icm_size = e->quality + FEATURE_NOISE * normal(&r);
    e->z_icm_compactness = e->quality + FEATURE_NOISE * normal(&r);
    e->z_te_count = e->quality + FEATURE_NOISE * normal(&r);
    e->z_te_regularity = e->quality + FEATURE_NOISE * normal(&r);
    /* frame: size, shape, pose; the zona must stay inside the image */
    e->radius = size * uniform(&r, 0.32, 0.37);
    e->aspect = uniform(&r, 0.88, 1.0);
    e->rotation = uniform(&r, 0, TWO_PI);
    e->zona_thickness = uniform(&r, 0.08, 0.13);
    e->wobble[0] = uniform(&r, 0, 0.015);
    e->wobble[1] = uniform(&r, 0, TWO_PI);
    e->wobble[2] = uniform(&r, 0, 0.012);
    e->wobble[3] = uniform(&r, 0, TWO_PI);
    double extent = e->radius * (1.0 + e->zona_thickness * 1.12 + e->wobble[0] + e->wobble[2] + 0.03);
    double room = clamp(fmin(size / 2.0 - extent - 3.0, 0.1 * size), 0, size);
    e->center_x = size / 2.0 + uniform(&r, -room, room);
    e->center_y = size / 2.0 + uniform(&r, -room, room);
    draw_trophectoderm(e, &r);
    draw_icm(e, &r);
    draw_debris(e, &r);
    /* imaging: the clinic's settings with per-image jitter */
    const clinic_imaging *ci = &CLINICS[e->clinic];
    e->background = ci->background * uniform(&r, 0.92, 1.08);
    e->contrast = ci->contrast * uniform(&r, 0.9, 1.1);
    e->blur_sigma = ci->blur * uniform(&r, 0.8, 1.2);
    e->noise_sigma = ci->noise * uniform(&r, 0.8, 1.2);
    e->shear_angle = ci->shear_degrees * (TWO_PI / 360.0) + uniform(&r, -0.15, 0.15);
    e->light_gradient = ci->gradient * uniform(&r, 0.5, 1.5);
    e->light_angle = uniform(&r, 0, TWO_PI);
    e->vignette = ci->vignette * uniform(&r, 0.7, 1.3);
    return BL_OK;
}

/* ---- writing a cohort ---- */

/* mkdir -p; a non-directory in the way is "<prefix>: cannot create directory: Not a directory", as mkdir -p says */
static bl_status make_directories(const char *path) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return bl_fail(BL_ERR_INVALID, "%s: path too long", path);
    for (char *p = buf + 1;; p++) {
        int end = *p == '\0';
        if (*p == '/' || end) {
            *p = '\0';
            if (bl_make_dir(buf, NULL) != BL_OK)
                return bl_fail(BL_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
            if (end) return BL_OK;
            *p = '/';
        }
    }
}

typedef struct row_summary { /* what latent.csv and cohort.csv need of an embryo */
    int label, age, clinic, icm_cells, te_cells;
    double quality, z[4], icm_radius, icm_compactness, te_regularity;
} row_summary;

typedef struct cohort_job {
    const char *dir;
    const bl_synth_options *o;
    int digits, first;
    row_summary *rows;
    bl_status *status;
    char (*message)[512];
} cohort_job;

static void format_id(char *buf, size_t size, int digits, int index) {
    if (digits < 4 || digits > 12) digits = 12; /* never: bl_synth_write_cohort gives 4 … 7 */
    snprintf(buf, size, "synth_%0*d", digits, index + 1);
}

/* Temp file + rename, like bl_image_save_png: atomic (a reader sees the old file or the whole new one) but not
 * fsync'ed — the images are not either, and one fsync per JSON tripled the time of a 600-image cohort. */
static bl_status write_text_atomic(const char *path, const char *text) {
    bl_output out;
    bl_status st = bl_output_open(path, &out);
    if (st) return st;
    size_t size = strlen(text);
    if (fwrite(text, 1, size, out.f) != size) {
        int err = errno;
        bl_output_abort(&out);
        return bl_fail(BL_ERR_IO, "%s: cannot write: %s", path, strerror(err));
    }
    return bl_output_commit(&out, 0);
}

static bl_status write_one(const cohort_job *job, int i) {
    bl_synth_embryo e;
    bl_image gray = {0};
    bl_synth_polygons polygons;
    char id[64], path[4096], image_ref[128];
    char *json = NULL;
    bl_status st = bl_synth_draw(job->o->seed, i, job->o->size, &e);
    if (!st) st = bl_synth_render(&e, &gray, &polygons);
    format_id(id, sizeof id, job->digits, i);
    if (!st && snprintf(path, sizeof path, "%s/images/%s.png", job->dir, id) >= (int)sizeof path)
        st = bl_fail(BL_ERR_INVALID, "%s: path too long", job->dir);
    if (!st) st = bl_image_save_png(&gray, path);
    snprintf(image_ref, sizeof image_ref, "../images/%s.png", id);
    if (!st) st = bl_synth_labelme_json(&polygons, e.size, image_ref, &json);
    if (!st && snprintf(path, sizeof path, "%s/annotations/%s.json", job->dir, id) >= (int)sizeof path)
        st = bl_fail(BL_ERR_INVALID, "%s: path too long", job->dir);
    if (!st) st = write_text_atomic(path, json);
    free(json);
    bl_image_free(&gray);
    if (!st)
        job->rows[i] = (row_summary){e.label, e.age, e.clinic, e.icm_cells, e.te_cells, e.quality,
                                     {e.z_icm_size, e.z_icm_compactness, e.z_te_count, e.z_te_regularity},
                                     e.icm_radius, e.icm_compactness, e.te_regularity};
    return st;
}

static void write_task(void *arg, int task) {
    const cohort_job *job = arg;
    int i = job->first + task;
    job->status[i] = write_one(job, i);
    if (job->status[i]) snprintf(job->message[i], sizeof job->message[i], "%s", bl_last_error());
}

static bl_status write_tables(const char *dir, const bl_synth_options *o, int digits, const row_summary *rows) {
    static const char *const cohort_header[6] = {"id", "image", "annotation", "age", "clinic", "label"};
    static const char *const latent_header[14] = {"id", "label", "age", "clinic", "quality", "z_icm_size",
                                                  "z_icm_compactness", "z_te_count", "z_te_regularity", "icm_cells",
                                                  "icm_radius", "icm_compactness", "te_cells", "te_regularity"};
    bl_csv_writer *cohort = NULL, *latent = NULL;
    bl_status st = bl_csv_writer_create(6, cohort_header, &cohort);
    if (!st) st = bl_csv_writer_create(14, latent_header, &latent);
    for (int i = 0; !st && i < o->n; i++) {
        const row_summary *r = &rows[i];
        char id[64], image[128], annotation[128], age[16], clinic[2] = {bl_synth_clinic_name(r->clinic), 0},
             label[4], num[9][32];
        format_id(id, sizeof id, digits, i);
        snprintf(image, sizeof image, "images/%s.png", id);
        snprintf(annotation, sizeof annotation, "annotations/%s.json", id);
        snprintf(age, sizeof age, "%d", r->age);
        snprintf(label, sizeof label, "%d", r->label);
        const char *row[6] = {id, image, annotation, age, clinic, label};
        st = bl_csv_writer_add(cohort, row);
        double values[9] = {r->quality, r->z[0], r->z[1], r->z[2], r->z[3], r->icm_cells, r->icm_radius,
                            r->icm_compactness, r->te_cells};
        for (int k = 0; k < 9; k++) snprintf(num[k], sizeof num[k], k == 5 || k == 8 ? "%.0f" : "%.4f", values[k]);
        char regularity[32];
        snprintf(regularity, sizeof regularity, "%.4f", r->te_regularity);
        const char *lrow[14] = {id, label, age, clinic, num[0], num[1], num[2], num[3], num[4], num[5], num[6],
                                num[7], num[8], regularity};
        if (!st) st = bl_csv_writer_add(latent, lrow);
    }
    char path[4096];
    /* dir is at most 3000 bytes (checked by the caller), so the paths fit */
    if (!st) snprintf(path, sizeof path, "%s/latent.csv", dir), st = bl_csv_writer_save(latent, path);
    if (!st) snprintf(path, sizeof path, "%s/cohort.csv", dir), st = bl_csv_writer_save(cohort, path);
    bl_csv_writer_free(cohort);
    bl_csv_writer_free(latent);
    return st;
}

bl_status bl_synth_write_cohort(const char *dir, const bl_synth_options *o, bl_synth_progress_fn progress,
                                void *progress_arg) {
    if (o->n < 1 || o->n > 1000000) return bl_fail(BL_ERR_INVALID, "synth: n: expected 1 … 1000000 (got %d)", o->n);
    if (o->size < 64 || o->size > 2048)
        return bl_fail(BL_ERR_INVALID, "synth: size: expected 64 … 2048 pixels (got %d)", o->size);
    if (strlen(dir) > 3000) return bl_fail(BL_ERR_INVALID, "%s: path too long", dir);
    char sub[4096];
    struct stat before;
    int made = stat(dir, &before) != 0; /* this call makes DIR: a failure or a signal removes it again */
    row_summary *rows = NULL;
    bl_status *status = NULL;
    char(*message)[512] = NULL;
    bl_status st = make_directories(dir);
    if (!st && made) bl_cleanup_add_tree(dir);
    if (!st) snprintf(sub, sizeof sub, "%s/images", dir), st = make_directories(sub);
    if (!st) snprintf(sub, sizeof sub, "%s/annotations", dir), st = make_directories(sub);
    if (st) goto done;
    int digits = 4;
    for (int m = 10000; m <= o->n; m *= 10) digits++;
    rows = calloc((size_t)o->n, sizeof *rows);
    status = calloc((size_t)o->n, sizeof *status);
    message = calloc((size_t)o->n, sizeof *message);
    if (!rows || !status || !message) {
        st = bl_fail(BL_ERR_NOMEM, "synth: out of memory for %d rows", o->n);
        goto done;
    }
    /* chunks, so that progress is reported between them by this thread; the first failure in index order wins */
    int chunk = 8 * bl_threads_get();
    if (chunk < 16) chunk = 16;
    for (int first = 0; first < o->n && !st; first += chunk) {
        int count = o->n - first < chunk ? o->n - first : chunk;
        cohort_job job = {dir, o, digits, first, rows, status, message};
        bl_parallel_for(count, write_task, &job);
        for (int i = first; i < first + count; i++)
            if (status[i]) {
                st = bl_fail(status[i], "%s", message[i]);
                break;
            }
        if (progress) progress(progress_arg, first + count, o->n);
    }
    if (!st) st = write_tables(dir, o, digits, rows);
done:
    free(rows);
    free(status);
    free(message);
    if (made && st) bl_remove_tree(dir); /* no half cohort in a folder this call made */
    if (made) bl_cleanup_forget(dir);
    return st;
}
