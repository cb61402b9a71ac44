/* synth.h — the built-in synthetic cohort: blastocyst-like grayscale images with labelme ICM/TE polygons and an
 * outcome that depends on what the polygons outline (docs/synthetic.md gives the generative model and its
 * formulas).
 *
 * One embryo i of a cohort with seed S is a pure function of (S, i, image size): its latent variables come from
 * the counter stream (S, BL_RNG_DATA, BL_SYNTH_STREAM + 4·i), its pixel noise from (…, + 4·i + 1) and its
 * texture lattice from (…, + 4·i + 2). So a cohort is byte-identical for any thread count, and embryo i is the
 * same whether the cohort has 10 or 10 000 rows.
 *
 * Two steps, usable separately (tests render one embryo; `blasto synth` writes a whole cohort):
 *   bl_synth_draw    label → age | label → latent quality | label → feature z-scores → geometry, clinic, imaging
 *   bl_synth_render  geometry → 8-bit gray image + ICM outline polygon + one polygon per TE cell
 *                    (bl_synth_polygons_of: the polygons alone, no pixels)
 * and bl_synth_write_cohort which writes DIR/images/<id>.png, DIR/annotations/<id>.json (labelme),
 * DIR/latent.csv (the hidden variables, for audits) and DIR/cohort.csv last. */
#ifndef BLASTO_SYNTH_H
#define BLASTO_SYNTH_H

#include <stdint.h>

#include "core/status.h"
#include "study/image.h"

#define BL_SYNTH_STREAM ((uint64_t)1 << 40) /* synth's block of BL_RNG_DATA stream indices */
#define BL_SYNTH_MAX_TE_CELLS 32
#define BL_SYNTH_MAX_ICM_CELLS 24
#define BL_SYNTH_MAX_DEBRIS 8
#define BL_SYNTH_CLINICS 5 /* A … E */

/* Every number that defines one synthetic embryo. Geometry lives in the embryo's own normalised frame v, where
 * the trophectoderm's outer boundary is (nearly) the unit circle; pixel = center + R(rotation)·diag(radius,
 * radius·aspect)·v, pixel centres at (x + 0.5, y + 0.5). */
typedef struct bl_synth_embryo {
    /* the cohort row */
    int label;   /* 1 = gestational sac */
    int age;     /* years */
    int clinic;  /* 0 … 4 = A … E */
    /* latent variables: quality q | label ~ N(±0.6, 1); each z_k = q + 0.8·ε_k */
    double quality;
    double z_icm_size, z_icm_compactness, z_te_count, z_te_regularity;
    /* embryo frame */
    int size;                 /* image side in pixels */
    double center_x, center_y; /* pixels */
    double radius;            /* pixels: TE outer boundary (semi-axis along the rotated x) */
    double aspect;            /* other semi-axis / radius, in (0.85, 1] */
    double rotation;          /* radians */
    double zona_thickness;    /* normalised units */
    double wobble[4];         /* outer boundary r(φ) = 1 + w0·sin(2φ + w1) + w2·sin(3φ + w3) */
    /* trophectoderm: n cells between boundary angles; inner outline depth per cell */
    int te_cells;
    double te_regularity;                          /* in (0,1) */
    double te_boundary[BL_SYNTH_MAX_TE_CELLS + 1]; /* increasing angles, te_boundary[n] = te_boundary[0] + 2π */
    double te_boundary_depth[BL_SYNTH_MAX_TE_CELLS + 1]; /* depth of the inner outline at each boundary */
    double te_bulge[BL_SYNTH_MAX_TE_CELLS];        /* extra depth at the cell's middle (its nucleus) */
    /* inner cell mass: discs in the v frame */
    int icm_cells;
    double icm_compactness;   /* in (0,1) */
    double icm_radius;        /* cluster radius, normalised */
    double icm_x[BL_SYNTH_MAX_ICM_CELLS], icm_y[BL_SYNTH_MAX_ICM_CELLS], icm_r[BL_SYNTH_MAX_ICM_CELLS];
    /* debris: dark fragments (v frame) */
    int debris;
    double debris_x[BL_SYNTH_MAX_DEBRIS], debris_y[BL_SYNTH_MAX_DEBRIS], debris_r[BL_SYNTH_MAX_DEBRIS];
    /* imaging (clinic settings jittered per image) */
    double background;        /* gray level of the empty field */
    double contrast;          /* multiplies every optical effect */
    double blur_sigma;        /* pixels, final Gaussian blur */
    double noise_sigma;       /* gray levels, additive Gaussian noise */
    double shear_angle;       /* radians: direction of the modulation-contrast relief */
    double light_gradient;    /* relative brightness change across the image */
    double light_angle;       /* direction of that gradient */
    double vignette;          /* relative darkening at the corners */
    uint64_t seed;            /* cohort seed and index: the noise and texture streams */
    int index;
} bl_synth_embryo;

/* The ICM outline and the TE cell polygons in pixel coordinates (x, y), as labelme stores them. */
#define BL_SYNTH_ICM_POINTS 48
#define BL_SYNTH_TE_MAX_POINTS 64 /* per TE cell: outer arc out, inner arc back */
typedef struct bl_synth_polygons {
    float icm[BL_SYNTH_ICM_POINTS][2];
    int te_cells;
    int te_points[BL_SYNTH_MAX_TE_CELLS];
    float te[BL_SYNTH_MAX_TE_CELLS][BL_SYNTH_TE_MAX_POINTS][2];
} bl_synth_polygons;

/* Draw embryo `index` of the cohort with this seed at image side `size` (64 … 2048; the renderer holds 7 float maps of size² per thread). */
bl_status bl_synth_draw(uint64_t seed, int index, int size, bl_synth_embryo *e);

/* Render: gray [size·size] (allocated here, 1 channel) and, when polygons is not NULL, the polygons. */
bl_status bl_synth_render(const bl_synth_embryo *e, bl_image *gray, bl_synth_polygons *polygons);

/* Only the polygons (cheap: no pixels). */
bl_status bl_synth_polygons_of(const bl_synth_embryo *e, bl_synth_polygons *polygons);

/* The labelme JSON text of one embryo (malloc'ed, NUL-terminated): shapes "icm" and "te_1" … "te_<n>",
 * imagePath relative to the JSON file. */
bl_status bl_synth_labelme_json(const bl_synth_polygons *p, int size, const char *image_path, char **json);

/* The clinic's letter. */
char bl_synth_clinic_name(int clinic);

/* Called between chunks of images by the thread that called bl_synth_write_cohort. */
typedef void (*bl_synth_progress_fn)(void *arg, int done, int total);

typedef struct bl_synth_options {
    int n;         /* rows, ≥ 1 */
    uint64_t seed;
    int size;      /* image side, default 256 */
} bl_synth_options;

/* Write the whole cohort under dir (created if absent, with images/ and annotations/): every file atomically,
 * images in parallel (core/cpu/threads.h), cohort.csv last. Ids are "synth_0001" … (at least 4 digits). */
bl_status bl_synth_write_cohort(const char *dir, const bl_synth_options *o, bl_synth_progress_fn progress,
                                void *progress_arg);

#endif
