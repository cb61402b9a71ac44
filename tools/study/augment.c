/* augment.c — TF 2.10 augmentation steps and their counter-RNG draws (see augment.h).
 *
 * The saturation step restates TensorFlow's CPU kernel (tensorflow/core/kernels/image/adjust_saturation_op.cc,
 * internal::rgb_to_hsv / hsv_to_rgb) operation by operation, including its mixed float/double constants
 * (`norm·(b − r) + 2.0/6.0` adds a double and rounds back to float), so results agree to the last bit where the
 * arithmetic is IEEE float; we differ only where TF's C++ has undefined behaviour (a hue that is not finite, which
 * needs subnormal inputs: TF would loop forever; we return the gray value (v − c) like its NaN path on x86). */
#include "study/augment.h"

#include <math.h>
#include <string.h>

#include "core/rng.h"

void bl_augment_options_default(bl_augment_options *o) {
    memset(o, 0, sizeof *o);
    o->brightness = 1;
    o->brightness_max_delta = 0.1f;
    o->saturation = 1;
    o->saturation_lower = 0.8f;
    o->saturation_upper = 1.2f;
    o->contrast = 1;
    o->contrast_lower = 0.8f;
    o->contrast_upper = 1.2f;
    o->flip_up_down = 1;
    o->flip_left_right = 1;
}

static bl_status check_range(const char *name, float lower, float upper) {
    if (!isfinite(lower) || !isfinite(upper))
        return bl_fail(BL_ERR_INVALID, "augment: %s: bounds must be finite (got %g, %g)", name, (double)lower,
                       (double)upper);
    if (lower < 0.0f)
        return bl_fail(BL_ERR_INVALID, "augment: %s_lower: must be ≥ 0 (got %g)", name, (double)lower);
    if (!(lower < upper))
        return bl_fail(BL_ERR_INVALID, "augment: %s: lower must be < upper (got %g, %g)", name, (double)lower,
                       (double)upper);
    return BL_OK;
}

bl_status bl_augment_options_check(const bl_augment_options *o) {
    if (o->brightness && (!isfinite(o->brightness_max_delta) || o->brightness_max_delta < 0.0f))
        return bl_fail(BL_ERR_INVALID, "augment: brightness_max_delta: must be a finite number ≥ 0 (got %g)",
                       (double)o->brightness_max_delta);
    bl_status st;
    if (o->saturation && (st = check_range("saturation", o->saturation_lower, o->saturation_upper))) return st;
    if (o->contrast && (st = check_range("contrast", o->contrast_lower, o->contrast_upper))) return st;
    return BL_OK;
}

uint64_t bl_augment_sample_key(const char *id) {
    uint64_t hash = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
        hash ^= *p;
        hash *= 0x100000001b3ULL;
    }
    return hash;
}

uint64_t bl_augment_stream_index(int64_t epoch, uint64_t sample_key) {
    return bl_mix64(sample_key + 0x9E3779B97F4A7C15ULL * ((uint64_t)epoch + 1));
}

bl_augment_draw bl_augment_draw_for(const bl_augment_options *o, uint64_t seed, int64_t epoch, uint64_t sample_key) {
    bl_rng rng = bl_rng_stream(seed, BL_RNG_AUGMENT, bl_augment_stream_index(epoch, sample_key));
    bl_augment_draw d;
    d.brightness_delta = bl_rng_uniform_range(&rng, -o->brightness_max_delta, o->brightness_max_delta);
    d.saturation_factor = bl_rng_uniform_range(&rng, o->saturation_lower, o->saturation_upper);
    d.contrast_factor = bl_rng_uniform_range(&rng, o->contrast_lower, o->contrast_upper);
    d.flip_up_down = bl_rng_uniform(&rng) < 0.5f;
    d.flip_left_right = bl_rng_uniform(&rng) < 0.5f;
    return d;
}

void bl_adjust_brightness(float *img, int h, int w, float delta) {
    size_t count = (size_t)h * (size_t)w * 3;
    for (size_t i = 0; i < count; i++) img[i] += delta;
}

/* TF internal::rgb_to_hsv: v = max, s = (max − min)/max (0 when max ≤ 0), h in [0,1] by sextant. */
static void rgb_to_hsv_tf(float r, float g, float b, float *h, float *s, float *v) {
    float vv = fmaxf(r, fmaxf(g, b));
    float range = vv - fminf(r, fminf(g, b));
    *s = vv > 0 ? range / vv : 0.0f;
    float hh = 0.0f;
    if (!(range <= 0.0f)) { /* TF computes the hue first and then overwrites it with 0 when range ≤ 0 */
        float norm = 1.0f / (6.0f * range);
        if (r == vv)
            hh = norm * (g - b);
        else if (g == vv)
            hh = (float)((double)(norm * (b - r)) + 2.0 / 6.0);
        else
            hh = (float)((double)(norm * (r - g)) + 4.0 / 6.0);
    }
    if (hh < 0.0f) hh = hh + 1.0f;
    *v = vv;
    *h = hh;
}

/* TF internal::hsv_to_rgb (the Wikipedia construction with chroma c = s·v and x = c·(1 − |(6h mod 2) − 1|)). */
static void hsv_to_rgb_tf(float h, float s, float v, float *r, float *g, float *b) {
    float c = s * v;
    float m = v - c;
    float dh = h * 6.0f;
    float rr = 0.0f, gg = 0.0f, bb = 0.0f;
    if (isfinite(dh)) {
        int category = (int)dh;
        float fmodu = dh;
        while (fmodu <= 0.0f) fmodu += 2.0f;
        while (fmodu >= 2.0f) fmodu -= 2.0f;
        float x = c * (1.0f - fabsf(fmodu - 1.0f));
        switch (category) {
        case 0: rr = c, gg = x, bb = 0.0f; break;
        case 1: rr = x, gg = c, bb = 0.0f; break;
        case 2: rr = 0.0f, gg = c, bb = x; break;
        case 3: rr = 0.0f, gg = x, bb = c; break;
        case 4: rr = x, gg = 0.0f, bb = c; break;
        case 5: rr = c, gg = 0.0f, bb = x; break;
        default: rr = gg = bb = 0.0f; break; /* h = 1 exactly (TF: hue −tiny + 1 rounds to 1): gray m */
        }
    }
    *r = rr + m;
    *g = gg + m;
    *b = bb + m;
}

void bl_adjust_saturation(float *img, int h, int w, float factor) {
    size_t pixels = (size_t)h * (size_t)w;
    for (size_t i = 0; i < pixels; i++) {
        float *p = img + 3 * i;
        float hue, sat, val;
        rgb_to_hsv_tf(p[0], p[1], p[2], &hue, &sat, &val);
        sat = fminf(1.0f, fmaxf(0.0f, sat * factor));
        hsv_to_rgb_tf(hue, sat, val, &p[0], &p[1], &p[2]);
    }
}

void bl_adjust_contrast(float *img, int h, int w, float factor) {
    size_t pixels = (size_t)h * (size_t)w;
    double sum[3] = {0.0, 0.0, 0.0};
    for (size_t i = 0; i < pixels; i++)
        for (int c = 0; c < 3; c++) sum[c] += img[3 * i + c];
    float mean[3];
    for (int c = 0; c < 3; c++) mean[c] = (float)(sum[c] / (double)pixels);
    /* AdjustContrastv2: output = mean; output += (input − output)·factor */
    for (size_t i = 0; i < pixels; i++)
        for (int c = 0; c < 3; c++) img[3 * i + c] = mean[c] + (img[3 * i + c] - mean[c]) * factor;
}

void bl_flip_up_down(float *img, int h, int w) {
    size_t row = (size_t)w * 3;
    for (int y = 0; y < h / 2; y++) {
        float *a = img + (size_t)y * row, *b = img + (size_t)(h - 1 - y) * row;
        for (size_t i = 0; i < row; i++) {
            float t = a[i];
            a[i] = b[i];
            b[i] = t;
        }
    }
}

void bl_flip_left_right(float *img, int h, int w) {
    for (int y = 0; y < h; y++) {
        float *row = img + (size_t)y * w * 3;
        for (int x = 0; x < w / 2; x++) {
            float *a = row + (size_t)x * 3, *b = row + (size_t)(w - 1 - x) * 3;
            for (int c = 0; c < 3; c++) {
                float t = a[c];
                a[c] = b[c];
                b[c] = t;
            }
        }
    }
}

void bl_clip_unit(float *img, int h, int w) {
    size_t count = (size_t)h * (size_t)w * 3;
    for (size_t i = 0; i < count; i++) img[i] = fminf(1.0f, fmaxf(0.0f, img[i]));
}

void bl_augment_apply(float *img, int h, int w, const bl_augment_options *o, const bl_augment_draw *d) {
    if (o->brightness) bl_adjust_brightness(img, h, w, d->brightness_delta);
    if (o->saturation) bl_adjust_saturation(img, h, w, d->saturation_factor);
    if (o->contrast) bl_adjust_contrast(img, h, w, d->contrast_factor);
    if (o->flip_up_down && d->flip_up_down) bl_flip_up_down(img, h, w);
    if (o->flip_left_right && d->flip_left_right) bl_flip_left_right(img, h, w);
    bl_clip_unit(img, h, w);
}
