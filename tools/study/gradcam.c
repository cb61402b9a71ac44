/* gradcam.c — Grad-CAM of the pregnancy model, focus scores against the ICM/TE masks, and overlays (gradcam.h). */
#include "study/gradcam.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/autograd.h"
#include "study/preprocess.h"

/* ---- Grad-CAM ------------------------------------------------------------------------------------------------ */

typedef struct capture {
    const char *layer;
    bl_tensor *a; /* the target activation of this step, or NULL */
} capture;

/* Activation hook: keep the first tensor reported under the target path and ask backward for its gradient. The
 * hook receives `const bl_tensor *` because observers must not change values; marking a step tensor as needing a
 * gradient changes no value, so the const is cast away here on purpose (the tensor lives in the step arena and is
 * not const in fact). */
static void capture_hook(void *user, const char *path, const bl_tensor *t) {
    capture *c = user;
    if (c->a || strcmp(path, c->layer) != 0) return;
    c->a = (bl_tensor *)(uintptr_t)t;
    bl_requires_grad(c->a);
}

void bl_gradcam_map_free(bl_gradcam_map *map) {
    if (!map) return;
    free(map->cam);
    free(map->heat);
    memset(map, 0, sizeof *map);
}

/* a [K·h·w], grad [K·h·w] read; cam [h·w] written: ReLU(Σ_k mean(grad_k)·A_k), min-max normalised. */
static void cam_from_activation(const float *a, const float *grad, int k_count, int hw, float *cam) {
    double *acc = calloc((size_t)hw, sizeof *acc);
    if (!acc) return;
    for (int k = 0; k < k_count; k++) {
        double alpha = 0;
        for (int i = 0; i < hw; i++) alpha += grad[(size_t)k * hw + i];
        alpha /= hw;
        for (int i = 0; i < hw; i++) acc[i] += alpha * a[(size_t)k * hw + i];
    }
    float lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < hw; i++) {
        cam[i] = acc[i] > 0 ? (float)acc[i] : 0.0f;
        lo = fminf(lo, cam[i]);
    }
    for (int i = 0; i < hw; i++) {
        cam[i] -= lo;
        hi = fmaxf(hi, cam[i]);
    }
    for (int i = 0; i < hw; i++) cam[i] /= hi + 1e-7f;
    free(acc);
}

bl_status bl_gradcam_compute(const bl_pregnancy_model *m, const char *layer, const float *x, int size, float age_z,
                             bl_gradcam_map *out) {
    memset(out, 0, sizeof *out);
    const char *default_layer = bl_model_gradcam_layer(m->backbone);
    if (!layer) layer = default_layer;
    bl_ctx *ctx = bl_model_ctx(m->backbone);
    int was_training = bl_is_training(ctx), had_grad = bl_grad_enabled(ctx);
    bl_set_training(ctx, 0);
    bl_set_grad_enabled(ctx, 1);
    capture c = {.layer = layer};
    bl_run run = {.ctx = ctx, .bn_mode = BL_BN_RUNNING, .hook = capture_hook, .hook_user = &c};
    int xs[4] = {1, 3, size, size}, as[4] = {1, 1, 1, 1};
    bl_tensor *xt = bl_tensor_from(ctx, 4, xs, x), *at = bl_tensor_from(ctx, 4, as, &age_z);
    bl_tensor *logit = bl_pregnancy_forward(m, &run, xt, at);
    bl_status st = bl_ctx_status(ctx);
    if (st) st = bl_fail(st, "gradcam: %s", bl_ctx_error(ctx));
    else if (!c.a)
        st = bl_fail(BL_ERR_INVALID, "gradcam: layer '%s' is not a module of %s (default: %s)", layer,
                     bl_arch_name(m->arch), default_layer);
    else if (c.a->ndim != 4 || c.a->shape[0] != 1)
        st = bl_fail(BL_ERR_INVALID, "gradcam: layer '%s' gives a tensor of %d dimensions (expected a [1,K,h,w] map)",
                     layer, c.a->ndim);
    if (!st) st = bl_tensor_download(ctx, logit, &out->logit);
    if (!st) {
        const float one = 1.0f;
        if (bl_backward_with(ctx, logit, &one) || !c.a->grad)
            st = bl_fail(BL_ERR_INVALID, "gradcam: backward: %s",
                         bl_ctx_status(ctx) ? bl_ctx_error(ctx) : "no gradient reached the target layer");
    }
    float *a = NULL, *grad = NULL; /* host copies of A and ∂logit/∂A [K·h·w] */
    if (!st) {
        out->channels = c.a->shape[1];
        out->h = c.a->shape[2];
        out->w = c.a->shape[3];
        out->size = size;
        out->cam = malloc((size_t)out->h * out->w * sizeof *out->cam);
        out->heat = malloc((size_t)size * size * sizeof *out->heat);
        a = malloc((size_t)c.a->numel * sizeof *a);
        grad = malloc((size_t)c.a->numel * sizeof *grad);
        if (!out->cam || !out->heat || !a || !grad) st = bl_fail(BL_ERR_NOMEM, "gradcam: out of memory");
    }
    if (!st && (bl_tensor_download(ctx, c.a, a) || bl_tensor_download(ctx, c.a->grad, grad)))
        st = bl_fail(bl_ctx_status(ctx), "gradcam: %s", bl_ctx_error(ctx));
    if (!st) {
        cam_from_activation(a, grad, out->channels, out->h * out->w, out->cam);
        st = bl_resize_bilinear(out->cam, out->h, out->w, 1, out->heat, size, size);
        for (int i = 0; !st && i < size * size; i++) out->heat[i] = fminf(fmaxf(out->heat[i], 0.0f), 1.0f);
    }
    free(a);
    free(grad);
    bl_zero_grad(ctx); /* parameter gradients of this pass are not wanted */
    bl_step_end(ctx);
    bl_ctx_clear_error(ctx);
    bl_set_training(ctx, was_training);
    bl_set_grad_enabled(ctx, had_grad);
    if (st) bl_gradcam_map_free(out);
    return st;
}

/* ---- focus scores -------------------------------------------------------------------------------------------- */

void bl_focus_scores(const float *heat, const uint8_t *icm, const uint8_t *te, int size, bl_focus *out) {
    memset(out, 0, sizeof *out);
    int n = size * size, best = 0, n_union = 0;
    double total = 0, in_icm = 0, in_te = 0, in_union = 0;
    for (int i = 0; i < n; i++) {
        double v = heat[i];
        if (heat[i] > heat[best]) best = i;
        total += v;
        if (icm[i]) in_icm += v;
        if (te[i]) in_te += v;
        if (icm[i] || te[i]) in_union += v, n_union++;
    }
    out->area_union = (double)n_union / n;
    if (!(total > 0)) return; /* an all-zero heatmap points nowhere and has no energy */
    out->energy_icm = in_icm / total;
    out->energy_te = in_te / total;
    out->energy_union = in_union / total;
    double tol = BL_GRADCAM_TOLERANCE_224 * size / 224.0;
    int by = best / size, bx = best % size, r = (int)ceil(tol);
    for (int y = by - r; y <= by + r && !out->hit; y++) {
        if (y < 0 || y >= size) continue;
        for (int x = bx - r; x <= bx + r; x++) {
            if (x < 0 || x >= size) continue;
            double dy = y - by, dx = x - bx;
            if (dx * dx + dy * dy <= tol * tol && (icm[y * size + x] || te[y * size + x])) {
                out->hit = 1;
                break;
            }
        }
    }
}

void bl_mask_resize_nearest(const uint8_t *src, int src_h, int src_w, uint8_t *dst, int dst_h, int dst_w) {
    for (int y = 0; y < dst_h; y++) {
        int sy = (int)((int64_t)y * src_h / dst_h);
        for (int x = 0; x < dst_w; x++) {
            int sx = (int)((int64_t)x * src_w / dst_w);
            dst[(size_t)y * dst_w + x] = src[(size_t)sy * src_w + sx];
        }
    }
}

bl_status bl_gradcam_row_inputs(const bl_cohort_row *row, const bl_enhance_options *o, int size, uint8_t *icm,
                                uint8_t *te, uint8_t *gray) {
    bl_image image = {0}, g = {0}, mi = {0}, mt = {0};
    float *gf = NULL, *gs = NULL;
    bl_status st = bl_image_load(row->image, 0, &image);
    if (!st) st = bl_gray_from_image(&image, &g);
    if (!st) st = bl_row_masks(row, o, g.width, g.height, &mi, &mt);
    if (!st) {
        gf = malloc((size_t)g.width * g.height * sizeof *gf);
        gs = malloc((size_t)size * size * sizeof *gs);
        if (!gf || !gs) st = bl_fail(BL_ERR_NOMEM, "gradcam: out of memory");
    }
    if (!st) {
        bl_image_to_float(&g, 1.0f, gf);
        st = bl_resize_bilinear(gf, g.height, g.width, 1, gs, size, size);
    }
    if (!st) {
        for (int i = 0; i < size * size; i++) gray[i] = (uint8_t)lrintf(fminf(fmaxf(gs[i], 0.0f), 255.0f));
        bl_mask_resize_nearest(mi.pixels, mi.height, mi.width, icm, size, size);
        bl_mask_resize_nearest(mt.pixels, mt.height, mt.width, te, size, size);
    }
    free(gf);
    free(gs);
    bl_image_free(&image);
    bl_image_free(&g);
    bl_image_free(&mi);
    bl_image_free(&mt);
    return st;
}

/* ---- overlay ------------------------------------------------------------------------------------------------- */

/* The jet colormap, v in [0,1] → rgb [3] (piecewise linear, as matplotlib's / OpenCV's jet). */
static void jet(float v, uint8_t *rgb) {
    float r = fminf(fmaxf(1.5f - fabsf(4.0f * v - 3.0f), 0.0f), 1.0f);
    float g = fminf(fmaxf(1.5f - fabsf(4.0f * v - 2.0f), 0.0f), 1.0f);
    float b = fminf(fmaxf(1.5f - fabsf(4.0f * v - 1.0f), 0.0f), 1.0f);
    rgb[0] = (uint8_t)lrintf(255.0f * r);
    rgb[1] = (uint8_t)lrintf(255.0f * g);
    rgb[2] = (uint8_t)lrintf(255.0f * b);
}

static int on_outline(const uint8_t *mask, int size, int y, int x) {
    if (!mask[y * size + x]) return 0;
    if (y == 0 || x == 0 || y == size - 1 || x == size - 1) return 1;
    return !mask[(y - 1) * size + x] || !mask[(y + 1) * size + x] || !mask[y * size + x - 1] ||
           !mask[y * size + x + 1];
}

bl_status bl_gradcam_overlay(const float *heat, const uint8_t *gray, const uint8_t *icm, const uint8_t *te, int size,
                             bl_image *out) {
    bl_status st = bl_image_alloc(out, size, size, 3);
    if (st) return st;
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++) {
            int i = y * size + x;
            uint8_t *p = out->pixels + 3 * (size_t)i, c[3];
            jet(heat[i], c);
            for (int ch = 0; ch < 3; ch++) p[ch] = (uint8_t)((c[ch] + gray[i] + 1) / 2);
            if (on_outline(te, size, y, x)) p[0] = p[1] = p[2] = 255;
            if (on_outline(icm, size, y, x)) p[0] = 255, p[1] = 0, p[2] = 255;
        }
    return BL_OK;
}

int bl_focus_csv_row(char *buf, size_t cap, const char *id, int label, double score, const bl_focus *f) {
    return snprintf(buf, cap, "%s,%d,%.9g,%d,%.9g,%.9g,%.9g,%.9g\n", id, label, score, f->hit, f->energy_icm,
                    f->energy_te, f->energy_union, f->area_union);
}

double bl_logit_probability(double logit) {
    return logit >= 0 ? 1.0 / (1.0 + exp(-logit)) : exp(logit) / (1.0 + exp(logit));
}
