/* segment.c — segmentation samples and overlap measures (segment.h). */
#include "study/segment.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "study/augment.h"
#include "study/image.h"
#include "study/preprocess.h"

const char *bl_seg_class_name(int cls) {
    return cls == BL_SEG_ICM ? "icm" : cls == BL_SEG_TE ? "te" : cls == BL_SEG_BACKGROUND ? "background" : "?";
}

/* A mask file of the pair: one channel, the image's size, every pixel 0 or 255. */
static bl_status load_mask(const char *path, const char *image, int width, int height, bl_image *mask) {
    bl_status st = bl_image_load(path, 1, mask);
    if (!st && (mask->width != width || mask->height != height))
        st = bl_fail(BL_ERR_FORMAT, "%s: size does not match %s (expected %dx%d, got %dx%d)", path, image, width,
                     height, mask->width, mask->height);
    for (int64_t i = 0; !st && i < (int64_t)width * height; i++)
        if (mask->pixels[i] != 0 && mask->pixels[i] != 255)
            st = bl_fail(BL_ERR_FORMAT, "%s: pixel (%lld, %lld) is %d: expected a 0/255 mask", path,
                         (long long)(i % width), (long long)(i / width), mask->pixels[i]);
    return st;
}

bl_status bl_seg_row_labels(const bl_cohort_row *row, const bl_enhance_options *o, int width, int height,
                            uint8_t *labels) {
    bl_image icm = {0}, te = {0};
    bl_status st;
    if (row->icm_mask && row->te_mask) {
        st = load_mask(row->icm_mask, row->image, width, height, &icm);
        if (!st) st = load_mask(row->te_mask, row->image, width, height, &te);
    } else {
        st = bl_row_masks(row, o, width, height, &icm, &te);
    }
    if (!st)
        for (int64_t i = 0; i < (int64_t)width * height; i++)
            labels[i] = icm.pixels[i] ? BL_SEG_ICM : te.pixels[i] ? BL_SEG_TE : BL_SEG_BACKGROUND;
    bl_image_free(&icm);
    bl_image_free(&te);
    return st;
}

void bl_seg_sample_options_default(bl_seg_sample_options *o) {
    memset(o, 0, sizeof *o);
    o->size = 256;
    o->in_channels = 1;
    bl_enhance_options_default(&o->enhance);
    o->brightness_max_delta = 0.1f;
    o->contrast_lower = 0.8f;
    o->contrast_upper = 1.2f;
    o->seed = 1;
}

/* labels [h·w] → out [s·s], nearest neighbour with pixel centres aligned as in the bilinear resize of the image:
 * output d takes the source pixel that contains its centre, ⌊(d + 0.5)·in/out⌋ = ⌊(2d + 1)·in/(2·out)⌋ (exact in
 * integers). cv2's INTER_NEAREST takes ⌊d·in/out⌋ instead, up to half a source pixel away from the image's
 * samples. */
static void resize_nearest(const uint8_t *labels, int h, int w, int s, uint8_t *out) {
    for (int y = 0; y < s; y++) {
        int64_t sy = (2 * (int64_t)y + 1) * h / (2 * (int64_t)s);
        for (int x = 0; x < s; x++) {
            int64_t sx = (2 * (int64_t)x + 1) * w / (2 * (int64_t)s);
            out[(int64_t)y * s + x] = labels[sy * w + sx];
        }
    }
}

/* The geometric part of the augmentation, on an S×S plane of `channels` interleaved values (float) or of bytes:
 * flips, then k quarter turns counter-clockwise. Written once for both through element size. */
static void transform_plane(void *data, size_t elem, int s, int flip_ud, int flip_lr, int turns, void *scratch) {
    char *p = data, *t = scratch;
    size_t row = elem * (size_t)s;
    for (int y = 0; y < s; y++)
        for (int x = 0; x < s; x++) {
            int sy = flip_ud ? s - 1 - y : y, sx = flip_lr ? s - 1 - x : x;
            memcpy(t + (size_t)y * row + (size_t)x * elem, p + (size_t)sy * row + (size_t)sx * elem, elem);
        }
    for (int k = 0; k < turns; k++) { /* out(y, x) = in(x, s − 1 − y): a quarter turn counter-clockwise */
        for (int y = 0; y < s; y++)
            for (int x = 0; x < s; x++) {
                size_t to = (size_t)y * row + (size_t)x * elem, from = (size_t)x * row + (size_t)(s - 1 - y) * elem;
                memcpy(p + to, t + from, elem);
            }
        memcpy(t, p, row * (size_t)s);
    }
    memcpy(p, t, row * (size_t)s);
}

bl_status bl_seg_prepare(const bl_cohort_row *row, const bl_seg_sample_options *o, int64_t epoch, float *image,
                         float *labels, int *width, int *height) {
    if (o->size < 1 || o->size > 4096 || (o->in_channels != 1 && o->in_channels != 3))
        return bl_fail(BL_ERR_INVALID, "segmentation sample: size %d, channels %d: expected 1 … 4096 and 1 or 3",
                       o->size, o->in_channels);
    const int s = o->size, c = o->in_channels;
    const int64_t plane = (int64_t)s * s;
    bl_image rgb = {0}, gray = {0};
    float *hwc = NULL, *resized = NULL, *scratch = NULL;
    uint8_t *full = NULL, *small = NULL;
    bl_status st = bl_image_load(row->image, 3, &rgb);
    if (!st && c == 1) st = bl_gray_from_image(&rgb, &gray);
    const bl_image *src = c == 1 ? &gray : &rgb;
    if (!st) {
        hwc = malloc(sizeof(float) * (size_t)src->width * (size_t)src->height * (size_t)c);
        resized = malloc(sizeof(float) * (size_t)plane * (size_t)c);
        scratch = malloc(sizeof(float) * (size_t)plane * (size_t)c);
        small = malloc((size_t)plane);
        if (!hwc || !resized || !scratch || !small) st = bl_fail(BL_ERR_NOMEM, "%s: out of memory", row->image);
    }
    if (!st) {
        bl_image_to_float(src, 1.0f / 255.0f, hwc);
        st = bl_resize_bilinear(hwc, src->height, src->width, c, resized, s, s);
    }
    if (!st && labels) {
        full = malloc((size_t)src->width * (size_t)src->height);
        if (!full) st = bl_fail(BL_ERR_NOMEM, "%s: out of memory", row->image);
        if (!st) st = bl_seg_row_labels(row, &o->enhance, src->width, src->height, full);
        if (!st) resize_nearest(full, src->height, src->width, s, small);
    }
    if (!st && o->augment) {
        uint64_t stream = bl_augment_stream_index(epoch, bl_augment_sample_key(row->id));
        bl_rng r = bl_rng_stream(o->seed, BL_RNG_AUGMENT, stream);
        float delta = bl_rng_uniform_range(&r, -o->brightness_max_delta, o->brightness_max_delta);
        float factor = bl_rng_uniform_range(&r, o->contrast_lower, o->contrast_upper);
        int flip_ud = bl_rng_uniform(&r) < 0.5f, flip_lr = bl_rng_uniform(&r) < 0.5f;
        int turns = (int)(4.0f * bl_rng_uniform(&r));
        for (int ch = 0; ch < c; ch++) {
            double mean = 0;
            for (int64_t i = 0; i < plane; i++) mean += resized[i * c + ch] + delta;
            float m = (float)(mean / (double)plane);
            for (int64_t i = 0; i < plane; i++) {
                float v = ((resized[i * c + ch] + delta) - m) * factor + m;
                resized[i * c + ch] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
            }
        }
        transform_plane(resized, sizeof(float) * (size_t)c, s, flip_ud, flip_lr, turns, scratch);
        if (labels) transform_plane(small, 1, s, flip_ud, flip_lr, turns, scratch);
    }
    if (!st && width) *width = src->width;
    if (!st && height) *height = src->height;
    if (!st && image)
        for (int ch = 0; ch < c; ch++)
            for (int64_t i = 0; i < plane; i++) image[ch * plane + i] = (resized[i * c + ch] - 0.5f) * 2.0f;
    if (!st && labels)
        for (int64_t i = 0; i < plane; i++) labels[i] = (float)small[i];
    bl_image_free(&rgb);
    bl_image_free(&gray);
    free(hwc);
    free(resized);
    free(scratch);
    free(full);
    free(small);
    return st;
}

void bl_seg_count(const uint8_t *truth, const uint8_t *pred, int64_t n, bl_seg_counts *c) {
    for (int64_t i = 0; i < n; i++) {
        int t = truth[i], p = pred[i];
        if (t >= BL_SEG_CLASSES || p >= BL_SEG_CLASSES) continue;
        if (t == p) {
            c->tp[t]++;
        } else {
            c->fn[t]++;
            c->fp[p]++;
        }
    }
}

/* a/b, and 1 when b is 0 (then a is 0 too: nothing to find, nothing wrongly found) */
static double ratio_or_one(double a, double b) { return b > 0 ? a / b : 1.0; }

double bl_seg_dice(const bl_seg_counts *c, int k) {
    return ratio_or_one(2.0 * (double)c->tp[k], 2.0 * (double)c->tp[k] + (double)c->fp[k] + (double)c->fn[k]);
}
double bl_seg_jaccard(const bl_seg_counts *c, int k) {
    return ratio_or_one((double)c->tp[k], (double)c->tp[k] + (double)c->fp[k] + (double)c->fn[k]);
}
double bl_seg_precision(const bl_seg_counts *c, int k) {
    return ratio_or_one((double)c->tp[k], (double)c->tp[k] + (double)c->fp[k]);
}
double bl_seg_recall(const bl_seg_counts *c, int k) {
    return ratio_or_one((double)c->tp[k], (double)c->tp[k] + (double)c->fn[k]);
}

void bl_seg_argmax(const float *logits, int classes, int64_t pixels, uint8_t *labels) {
    for (int64_t i = 0; i < pixels; i++) {
        int best = 0;
        for (int k = 1; k < classes; k++)
            if (logits[k * pixels + i] > logits[best * pixels + i]) best = k;
        labels[i] = (uint8_t)best;
    }
}
