/* synth_render.c — draws one synthetic blastocyst (tools/study/synth.h) as a modulation-contrast micrograph, and
 * its labelme polygons. The geometry comes from bl_synth_draw (synth_cohort.c); nothing here draws random
 * latent variables, only pixel noise and texture from the embryo's own streams.
 *
 * Image formation (docs/synthetic.md, "Rendering"): every structure adds to an optical-thickness map T and to a
 * membrane map M (thin dark lines at cell borders), and textured structures to a granularity map K. Hoffman /
 * modulation-contrast optics show the derivative of the optical path along one "shear" direction, so
 *     I = background · (1 + contrast · (k_relief·∂T_blur/∂s − k_absorb·T_blur − k_membrane·M + k_texture·K·n))
 * then an illumination gradient and vignette, a Gaussian blur (the clinic's focus) and additive Gaussian noise,
 * rounded to 8 bits. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "study/synth.h"

#define PI 3.14159265358979323846
#define TWO_PI 6.283185307179586476925

/* ---- the embryo's shape as functions of the angle φ in the v frame ---- */

/* outer TE boundary radius (= inner zona boundary) at angle φ */
static double outer_radius(const bl_synth_embryo *e, double phi) {
    return 1.0 + e->wobble[0] * sin(2.0 * phi + e->wobble[1]) + e->wobble[2] * sin(3.0 * phi + e->wobble[3]);
}

/* TE cell containing φ and the position s ∈ [0,1) inside it */
static int te_cell_at(const bl_synth_embryo *e, double phi, double *s) {
    double a = fmod(phi - e->te_boundary[0], TWO_PI);
    if (a < 0) a += TWO_PI;
    a += e->te_boundary[0];
    int j = 0;
    while (j + 1 < e->te_cells && a >= e->te_boundary[j + 1]) j++;
    *s = (a - e->te_boundary[j]) / (e->te_boundary[j + 1] - e->te_boundary[j]);
    return j;
}

/* depth of the TE inner outline below the outer boundary: boundary depths interpolated, plus the cell's bulge */
static double te_depth(const bl_synth_embryo *e, int j, double s) {
    if (s <= 0.0) return e->te_boundary_depth[j]; /* exact at the ends: sin(π·1) is 1.2e-16, not 0 */
    if (s >= 1.0) return e->te_boundary_depth[j + 1];
    return (1.0 - s) * e->te_boundary_depth[j] + s * e->te_boundary_depth[j + 1] + e->te_bulge[j] * sin(PI * s);
}

/* angle at position t ∈ [0,1] of TE cell j; the ends are the boundary angles themselves (the last cell ends at
 * te_boundary[0], not at te_boundary[0] + 2π, whose cosine differs in the last bits) */
static double cell_angle(const bl_synth_embryo *e, int j, double t) {
    if (t <= 0.0) return e->te_boundary[j];
    if (t >= 1.0) return j + 1 == e->te_cells ? e->te_boundary[0] : e->te_boundary[j + 1];
    return e->te_boundary[j] + t * (e->te_boundary[j + 1] - e->te_boundary[j]);
}

/* v frame → pixel coordinates */
static void to_pixel(const bl_synth_embryo *e, double vx, double vy, float out[2]) {
    double ux = vx * e->radius, uy = vy * e->radius * e->aspect;
    double c = cos(e->rotation), s = sin(e->rotation);
    double px = e->center_x + c * ux - s * uy, py = e->center_y + s * ux + c * uy;
    double hi = (double)e->size - 0.01; /* labelme points stay inside the image */
    out[0] = (float)(px < 0 ? 0 : px > hi ? hi : px);
    out[1] = (float)(py < 0 ? 0 : py > hi ? hi : py);
}

/* ---- small numeric helpers ---- */

static double smoothstep(double x) { return x <= 0 ? 0 : x >= 1 ? 1 : x * x * (3 - 2 * x); }

/* soft indicator of lo ≤ x ≤ hi with edges `soft` wide */
static double band(double x, double lo, double hi, double soft) {
    return smoothstep((x - lo) / soft + 0.5) * smoothstep((hi - x) / soft + 0.5);
}

/* a thin line of width w (pixels) at distance d (pixels); exactly 0 beyond LINE_REACH·w (exp(−9) ≈ 1e-4) */
#define LINE_REACH 3.0
static double line(double d, double w) { return fabs(d) >= LINE_REACH * w ? 0.0 : exp(-(d * d) / (w * w)); }

/* |(x, y)| (hypot's overflow care is not needed at these magnitudes, and it is several times slower) */
static double distance(double x, double y) { return sqrt(x * x + y * y); }

/* Adds weight·(value noise in [−1,1]) to field [S·S]: a lattice of `cell`-pixel spacing whose values are the
 * draws of the texture stream at counters layer·2^32 + j·columns + i, smoothstep-interpolated between lattice
 * points. The lattice is drawn first (a few hundred values), so each pixel costs an interpolation only. */
static bl_status add_value_noise(float *field, int S, const bl_rng *stream, uint64_t layer, double cell,
                                 double weight) {
    int columns = (int)ceil(S / cell) + 2, count = columns * columns;
    double *lattice = malloc((size_t)count * sizeof *lattice);
    if (!lattice) return bl_fail(BL_ERR_NOMEM, "synth: out of memory for a %d-point noise lattice", count);
    bl_rng r = *stream;
    r.counter = layer << 32;
    for (int k = 0; k < count; k++) lattice[k] = (double)(bl_rng_next_u64(&r) >> 11) * (2.0 / 9007199254740992.0) - 1.0;
    int *column = malloc((size_t)S * sizeof *column);
    double *weight_x = malloc((size_t)S * sizeof *weight_x);
    if (!column || !weight_x) {
        free(lattice), free(column), free(weight_x);
        return bl_fail(BL_ERR_NOMEM, "synth: out of memory for a noise row");
    }
    for (int x = 0; x < S; x++) {
        double gx = (x + 0.5) / cell, fx = floor(gx);
        column[x] = (int)fx;
        weight_x[x] = smoothstep(gx - fx);
    }
    for (int y = 0; y < S; y++) {
        double gy = (y + 0.5) / cell, fy = floor(gy), ty = smoothstep(gy - fy);
        const double *row0 = lattice + (int)fy * columns, *row1 = row0 + columns;
        float *dst = field + (size_t)y * S;
        for (int x = 0; x < S; x++) {
            int i = column[x];
            double tx = weight_x[x];
            double v = (1 - ty) * ((1 - tx) * row0[i] + tx * row0[i + 1]) +
                       ty * ((1 - tx) * row1[i] + tx * row1[i + 1]);
            dst[x] += (float)(weight * v);
        }
    }
    free(column);
    free(weight_x);
    free(lattice);
    return BL_OK;
}

/* Approximately standard normal from one 64-bit draw: the sum of four 16-bit uniforms, centred and scaled to
 * variance 1 (Irwin–Hall; tails end at ±3.46, which pixel noise does not miss). */
static double pixel_noise(bl_rng *r) {
    uint64_t u = bl_rng_next_u64(r);
    double sum = (double)(u & 0xffff) + (double)((u >> 16) & 0xffff) + (double)((u >> 32) & 0xffff) + (double)(u >> 48);
    return (sum / 65536.0 - 2.0) * 1.7320508075688772; /* var of one U[0,1) is 1/12 → 4/12; ×√3 → 1 */
}

/* Separable Gaussian blur in place: x [h·w], scratch [h·w + w + 2·32] (edges clamped). sigma < 0.3 → unchanged.
 * Horizontal pass through a padded copy of each row, vertical pass as a weighted sum of whole rows. */
static void gaussian_blur(float *x, float *scratch, int w, int h, double sigma) {
    if (sigma < 0.3) return;
    int radius = (int)ceil(3.0 * sigma);
    if (radius > 32) radius = 32;
    float kernel[65];
    double sum = 0, weights[65];
    for (int k = -radius; k <= radius; k++) sum += weights[k + radius] = exp(-0.5 * k * k / (sigma * sigma));
    for (int k = 0; k <= 2 * radius; k++) kernel[k] = (float)(weights[k] / sum);
    float *line_buffer = scratch + (size_t)w * h;
    for (int y = 0; y < h; y++) {
        const float *row = x + (size_t)y * w;
        for (int i = -radius; i < w + radius; i++) line_buffer[i + radius] = row[i < 0 ? 0 : i >= w ? w - 1 : i];
        float *dst = scratch + (size_t)y * w;
        for (int i = 0; i < w; i++) {
            float acc = 0;
            for (int k = 0; k <= 2 * radius; k++) acc += kernel[k] * line_buffer[i + k];
            dst[i] = acc;
        }
    }
    for (int y = 0; y < h; y++) {
        float *dst = x + (size_t)y * w;
        for (int i = 0; i < w; i++) dst[i] = 0;
        for (int k = -radius; k <= radius; k++) {
            int ys = y + k < 0 ? 0 : y + k >= h ? h - 1 : y + k;
            const float *src = scratch + (size_t)ys * w;
            float weight = kernel[k + radius];
            for (int i = 0; i < w; i++) dst[i] += weight * src[i];
        }
    }
}

/* bilinear sample of x [h·w] at (px, py) in pixel-centre coordinates, edges clamped */
static double sample(const float *x, int w, int h, double px, double py) {
    px -= 0.5;
    py -= 0.5;
    if (px < 0) px = 0;
    if (py < 0) py = 0;
    if (px > w - 1) px = w - 1;
    if (py > h - 1) py = h - 1;
    int x0 = (int)px, y0 = (int)py;
    int x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
    double tx = px - x0, ty = py - y0;
    return (1 - ty) * ((1 - tx) * x[(size_t)y0 * w + x0] + tx * x[(size_t)y0 * w + x1]) +
           ty * ((1 - tx) * x[(size_t)y1 * w + x0] + tx * x[(size_t)y1 * w + x1]);
}

/* ---- structure maps ---- */

typedef struct maps {
    float *density;   /* D [size·size]: extra absorption of the dense ICM */
    float *thickness; /* T [size·size] */
    float *membrane;  /* M [size·size] */
    float *grain;     /* K [size·size] */
} maps;

/* The ring where the zona and the trophectoderm can be: [inner, outer] in normalised radius. Pixels outside it
 * skip the angle-dependent work (atan2, sines), which is most of the image. */
static void shell_limits(const bl_synth_embryo *e, double px1, double *inner, double *outer) {
    double wobble = e->wobble[0] + e->wobble[2], deepest = 0;
    for (int j = 0; j < e->te_cells; j++) {
        double d = fmax(e->te_boundary_depth[j], e->te_boundary_depth[j + 1]) + e->te_bulge[j];
        if (d > deepest) deepest = d;
    }
    *inner = 1.0 - wobble - deepest - 4.0 * px1;
    *outer = 1.0 + wobble + 1.12 * e->zona_thickness + 6.0 * px1;
}

/* Writes D, T, M, K [size·size] for every pixel. */
static void draw_structures(const bl_synth_embryo *e, const maps *m) {
    const int S = e->size;
    const double c = cos(e->rotation), s = sin(e->rotation);
    const double scale = e->radius * (1.0 + e->aspect) / 2.0; /* pixels per normalised unit (mean) */
    const double px1 = 1.0 / scale;                           /* one pixel in normalised units */
    const double lw = 0.8 * S / 256.0 + 0.3;                  /* membrane line width, pixels */
    const double reach = LINE_REACH * lw * px1;               /* where a membrane line has faded out */
    double shell_in, shell_out;
    shell_limits(e, px1, &shell_in, &shell_out);
    double icm_cx = 0, icm_cy = 0, icm_extent = 0;
    for (int j = 0; j < e->icm_cells; j++) icm_cx += e->icm_x[j], icm_cy += e->icm_y[j];
    if (e->icm_cells) icm_cx /= e->icm_cells, icm_cy /= e->icm_cells;
    for (int j = 0; j < e->icm_cells; j++) {
        double far = distance(e->icm_x[j] - icm_cx, e->icm_y[j] - icm_cy) + e->icm_r[j] + reach;
        if (far > icm_extent) icm_extent = far;
    }
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            double dx = x + 0.5 - e->center_x, dy = y + 0.5 - e->center_y;
            double vx = (c * dx + s * dy) / e->radius, vy = (-s * dx + c * dy) / (e->radius * e->aspect);
            double rho = distance(vx, vy);
            double T = 0, M = 0, K = 0, D = 0;
            if (rho >= shell_in && rho <= shell_out) {
                double phi = atan2(vy, vx);
                double r_out = outer_radius(e, phi);
                double zona_out = r_out + e->zona_thickness * (1.0 + 0.12 * sin(phi + e->wobble[3]));
                /* zona pellucida: a translucent granular shell with a faint outer edge */
                double zona = band(rho, r_out, zona_out, 2.0 * px1);
                T += 0.3 * zona;
                K += 0.9 * zona;
                M = fmax(M, 0.25 * line((rho - zona_out) * scale, 1.5 * lw));
                /* trophectoderm: cells between boundary angles, thicker at their nuclei */
                double t;
                int j = te_cell_at(e, phi, &t);
                double depth = te_depth(e, j, t), r_in = r_out - depth;
                double te = band(rho, r_in, r_out, 1.5 * px1);
                if (te > 0) {
                    double middle = 1.0 - fabs(2.0 * (rho - (r_in + r_out) / 2.0) / depth);
                    T += te * (0.3 + 0.35 * sin(PI * t) * fmax(middle, 0.0));
                    K += 0.7 * te;
                }
                M = fmax(M, line((rho - r_out) * scale, lw));
                if (rho < r_out + px1) M = fmax(M, 0.6 * line((rho - r_in) * scale, lw));
                double at_boundary = fmin(t, 1.0 - t) * (e->te_boundary[j + 1] - e->te_boundary[j]) * rho * scale;
                double boundary_depth = t < 0.5 ? e->te_boundary_depth[j] : e->te_boundary_depth[j + 1];
                if (rho <= r_out && rho >= r_out - boundary_depth) M = fmax(M, 0.7 * line(at_boundary, lw));
            }
            /* inner cell mass: overlapping round cells, granular */
            if (distance(vx - icm_cx, vy - icm_cy) < icm_extent) {
                double dome = 0;
                for (int k = 0; k < e->icm_cells; k++) {
                    double ddx = vx - e->icm_x[k], ddy = vy - e->icm_y[k], r = e->icm_r[k];
                    if (fabs(ddx) > r + reach || fabs(ddy) > r + reach) continue;
                    double d = distance(ddx, ddy);
                    if (d < r) dome = fmax(dome, sqrt(1.0 - (d / r) * (d / r)));
                    M = fmax(M, 0.5 * line((d - r) * scale, lw));
                }
                T += 0.7 * dome;
                K += dome > 0 ? 1.5 : 0.0;
                D = dome > 0 ? e->icm_compactness * fmin(1.0, 3.0 * dome) : 0.0; /* a compact ICM is denser */
            }
            /* debris: small dark fragments */
            for (int k = 0; k < e->debris; k++) {
                double ddx = vx - e->debris_x[k], ddy = vy - e->debris_y[k], r = e->debris_r[k];
                if (fabs(ddx) > r + reach || fabs(ddy) > r + reach) continue;
                double d = distance(ddx, ddy) / r;
                if (d < 1.0) T += 0.6 * sqrt(1.0 - d * d), K += 0.8;
                M = fmax(M, 0.5 * line((d - 1.0) * r * scale, lw));
            }
            size_t p = (size_t)y * S + x;
            m->density[p] = (float)D;
            m->thickness[p] = (float)T;
            m->membrane[p] = (float)M;
            m->grain[p] = (float)K;
        }
}

bl_status bl_synth_render(const bl_synth_embryo *e, bl_image *gray, bl_synth_polygons *polygons) {
    const int S = e->size;
    const size_t N = (size_t)S * S;
    bl_status st = bl_image_alloc(gray, S, S, 1);
    if (st) return st;
    float *buffers = calloc(7 * N + (size_t)S + 64, sizeof *buffers); /* + the blur's row buffer */
    if (!buffers) {
        bl_image_free(gray);
        return bl_fail(BL_ERR_NOMEM, "synth: out of memory for a %dx%d image", S, S);
    }
    maps m = {buffers, buffers + N, buffers + 2 * N, buffers + 3 * N};
    float *fine = buffers + 4 * N, *mottle = buffers + 5 * N, *out = buffers + 6 * N;
    draw_structures(e, &m);
    /* lengths are given for a 256-pixel image and scaled; below 256 some are floored in pixels so that the
     * relief (a difference quotient of T) does not turn into pixel-sized speckle */
    const double px_scale = S / 256.0;
    gaussian_blur(m.thickness, out, S, S, fmax(1.0 * px_scale, 0.8));
    gaussian_blur(m.membrane, out, S, S, fmax(0.5 * px_scale, 0.4));
    gaussian_blur(m.density, out, S, S, fmax(1.0 * px_scale, 0.8));
    /* texture: granularity at 2 and 5 px (scaled by K), a faint 24 px mottle everywhere */
    bl_rng texture = bl_rng_stream(e->seed, BL_RNG_DATA, BL_SYNTH_STREAM + 4 * (uint64_t)e->index + 2);
    st = add_value_noise(fine, S, &texture, 0, fmax(2.0 * px_scale, 1.0), 1.0);
    if (!st) st = add_value_noise(fine, S, &texture, 1, fmax(5.0 * px_scale, 1.5), 0.6);
    if (!st) st = add_value_noise(mottle, S, &texture, 2, 24.0 * px_scale, 1.0);
    if (st) {
        free(buffers);
        bl_image_free(gray);
        return st;
    }

    /* optics: relief along the shear direction, absorption, membranes, granularity; then illumination */
    const double h = fmax(1.5 * px_scale, 1.0), sx = cos(e->shear_angle) * h, sy = sin(e->shear_angle) * h;
    const double lx = cos(e->light_angle), ly = sin(e->light_angle);
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            size_t p = (size_t)y * S + x;
            double cx = x + 0.5, cy = y + 0.5;
            double relief =
                (sample(m.thickness, S, S, cx + sx, cy + sy) - sample(m.thickness, S, S, cx - sx, cy - sy)) / 2.0;
            double optics = 1.6 * relief / fmax(px_scale, 0.5) - 0.18 * m.thickness[p] - 0.12 * m.density[p] -
                            0.55 * m.membrane[p] + 0.10 * m.grain[p] * fine[p] + 0.025 * mottle[p];
            double rx = (cx - S / 2.0) / S, ry = (cy - S / 2.0) / S;
            double light = 1.0 + e->light_gradient * (rx * lx + ry * ly) - e->vignette * 2.0 * (rx * rx + ry * ry);
            out[p] = (float)(e->background * light * (1.0 + e->contrast * optics));
        }
    /* scratch: grain's buffer, and the start of fine's for the row padding — both read already */
    gaussian_blur(out, m.grain, S, S, e->blur_sigma * px_scale);
    bl_rng noise = bl_rng_stream(e->seed, BL_RNG_DATA, BL_SYNTH_STREAM + 4 * (uint64_t)e->index + 1);
    for (size_t p = 0; p < N; p++) {
        double v = out[p] + e->noise_sigma * pixel_noise(&noise);
        v = floor(v + 0.5);
        gray->pixels[p] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
    free(buffers);
    if (polygons && (st = bl_synth_polygons_of(e, polygons))) bl_image_free(gray);
    return st;
}

bl_status bl_synth_polygons_of(const bl_synth_embryo *e, bl_synth_polygons *polygons) {
    /* ICM outline: from the cluster's centroid, the farthest crossing of each ray with any cell disc */
    double icm_cx = 0, icm_cy = 0;
    for (int j = 0; j < e->icm_cells; j++) icm_cx += e->icm_x[j] / e->icm_cells, icm_cy += e->icm_y[j] / e->icm_cells;
    double reach[BL_SYNTH_ICM_POINTS];
    int hits = 0;
    for (int k = 0; k < BL_SYNTH_ICM_POINTS; k++) {
        double ux = cos(TWO_PI * k / BL_SYNTH_ICM_POINTS), uy = sin(TWO_PI * k / BL_SYNTH_ICM_POINTS);
        reach[k] = -1;
        for (int j = 0; j < e->icm_cells; j++) {
            double wx = e->icm_x[j] - icm_cx, wy = e->icm_y[j] - icm_cy;
            double b = wx * ux + wy * uy, disc = b * b - (wx * wx + wy * wy - e->icm_r[j] * e->icm_r[j]);
            if (disc >= 0 && b + sqrt(disc) > reach[k]) reach[k] = b + sqrt(disc);
        }
        hits += reach[k] > 0;
    }
    if (hits == 0) return bl_fail(BL_ERR_INVALID, "synth: embryo %d: ICM outline has no points", e->index);
    for (int k = 0; k < BL_SYNTH_ICM_POINTS; k++) { /* a ray through a gap: interpolate the nearest hits */
        if (reach[k] > 0) continue;
        int a = k, b = k, da = 0, db = 0;
        while (reach[a] <= 0) a = (a + BL_SYNTH_ICM_POINTS - 1) % BL_SYNTH_ICM_POINTS, da++;
        while (reach[b] <= 0) b = (b + 1) % BL_SYNTH_ICM_POINTS, db++;
        reach[k] = (reach[a] * db + reach[b] * da) / (da + db);
    }
    for (int k = 0; k < BL_SYNTH_ICM_POINTS; k++) {
        double ang = TWO_PI * k / BL_SYNTH_ICM_POINTS;
        to_pixel(e, icm_cx + reach[k] * cos(ang), icm_cy + reach[k] * sin(ang), polygons->icm[k]);
    }
    /* TE cells: outer arc forward, inner outline back; neighbours share their boundary edge exactly */
    polygons->te_cells = e->te_cells;
    for (int j = 0; j < e->te_cells; j++) {
        double a0 = e->te_boundary[j], a1 = e->te_boundary[j + 1];
        int arc = (int)ceil((a1 - a0) / TWO_PI * 120.0) + 1;
        if (arc < 3) arc = 3;
        if (arc > BL_SYNTH_TE_MAX_POINTS / 2) arc = BL_SYNTH_TE_MAX_POINTS / 2;
        /* the end points are computed exactly as the neighbour computes its start points (same angle, same
         * depth), so shared edges are bit-identical and the even–odd fill of all cells is their union */
        for (int k = 0; k < arc; k++) {
            double t = (double)k / (arc - 1), phi = cell_angle(e, j, t), r = outer_radius(e, phi);
            to_pixel(e, r * cos(phi), r * sin(phi), polygons->te[j][k]);
        }
        for (int k = 0; k < arc; k++) {
            double t = 1.0 - (double)k / (arc - 1), phi = cell_angle(e, j, t);
            double r = outer_radius(e, phi) - te_depth(e, j, t);
            to_pixel(e, r * cos(phi), r * sin(phi), polygons->te[j][arc + k]);
        }
        polygons->te_points[j] = 2 * arc;
    }
    return BL_OK;
}

/* ---- labelme JSON ---- */

typedef struct text_buffer {
    char *text;
    size_t len, cap;
    int failed;
} text_buffer;

static void put(text_buffer *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text_buffer *b, const char *fmt, ...) {
    if (b->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->text + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = 2 * b->cap + (size_t)n + 1;
        char *p = realloc(b->text, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->text = p;
        b->cap = cap;
    }
}

static void put_polygon(text_buffer *b, const char *label, const float (*points)[2], int n, int last) {
    put(b, "    {\n      \"label\": \"%s\",\n      \"points\": [\n", label);
    for (int k = 0; k < n; k++)
        put(b, "        [%.2f, %.2f]%s\n", (double)points[k][0], (double)points[k][1], k + 1 < n ? "," : "");
    put(b, "      ],\n      \"group_id\": null,\n      \"shape_type\": \"polygon\",\n      \"flags\": {}\n    }%s\n",
        last ? "" : ",");
}

bl_status bl_synth_labelme_json(const bl_synth_polygons *p, int size, const char *image_path, char **json) {
    *json = NULL;
    for (const char *c = image_path; *c; c++)
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
            return bl_fail(BL_ERR_INVALID, "synth: image path '%s': characters that need JSON escaping", image_path);
    text_buffer b = {malloc(16384), 0, 16384, 0};
    if (!b.text) return bl_fail(BL_ERR_NOMEM, "synth: out of memory for a labelme JSON");
    put(&b, "{\n  \"version\": \"5.0.1\",\n  \"flags\": {},\n  \"shapes\": [\n");
    put_polygon(&b, "icm", (const float (*)[2])p->icm, BL_SYNTH_ICM_POINTS, p->te_cells == 0);
    for (int j = 0; j < p->te_cells; j++) {
        char label[16];
        snprintf(label, sizeof label, "te_%d", j + 1);
        put_polygon(&b, label, (const float (*)[2])p->te[j], p->te_points[j], j + 1 == p->te_cells);
    }
    put(&b, "  ],\n  \"imagePath\": \"%s\",\n  \"imageData\": null,\n  \"imageHeight\": %d,\n  \"imageWidth\": %d\n}\n",
        image_path, size, size);
    if (b.failed) {
        free(b.text);
        return bl_fail(BL_ERR_NOMEM, "synth: out of memory for a labelme JSON");
    }
    *json = b.text;
    return BL_OK;
}
