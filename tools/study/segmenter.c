/* segmenter.c — see segmenter.h. */
#include "study/segmenter.h"

#include <stdlib.h>
#include <string.h>

#include "core/autograd.h"
#include "core/status.h"
#include "study/preprocess.h"
#include "study/segment.h"

bl_status bl_segmenter_open(const char *path, const bl_device_options *device, bl_segmenter **out) {
    *out = NULL;
    bl_segmenter *s = calloc(1, sizeof *s);
    if (!s) return bl_fail(BL_ERR_NOMEM, "%s: out of memory", path);
    bl_safetensors *st = NULL;
    const bl_kernels *k = NULL;
    bl_unet_config config;
    bl_status e = bl_safetensors_open(path, &st);
    if (!e) e = bl_segment_options_of(st, &s->options);
    if (!e) e = bl_unet_config_of(st, &config);
    double epoch = 0;
    if (!e) e = bl_safetensors_metadata_number(st, "epoch", &epoch);
    if (!e) e = bl_device_open_options(device, &k);
    if (!e) e = bl_ctx_create(k, &s->ctx);
    if (!e) e = bl_unet_create(s->ctx, &config, &s->unet);
    if (!e) e = bl_unet_load(s->unet, st);
    bl_safetensors_close(st);
    if (e) {
        bl_segmenter_free(s);
        return e;
    }
    s->options.unet = config;
    s->epoch = (int)epoch;
    s->tta = 1;
    s->largest_icm = 1;
    bl_set_training(s->ctx, 0);
    bl_set_grad_enabled(s->ctx, 0);
    *out = s;
    return BL_OK;
}

/* dst = src turned a quarter counter-clockwise, per plane of S×S: dst(y, x) = src(x, S−1−y). */
static void quarter_turn(const float *src, float *dst, int planes, int S) {
    for (int p = 0; p < planes; p++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                dst[((int64_t)p * S + y) * S + x] = src[((int64_t)p * S + x) * S + (S - 1 - y)];
}

/* left-right flip in place */
static void flip(float *a, int planes, int S) {
    for (int64_t r = 0; r < (int64_t)planes * S; r++)
        for (int x = 0; x < S / 2; x++) {
            float t = a[r * S + x];
            a[r * S + x] = a[r * S + S - 1 - x], a[r * S + S - 1 - x] = t;
        }
}

/* Symmetry t (0..7) of the square: flip first when t ≥ 4, then t mod 4 quarter turns; inverse undoes it exactly.
 * tmp is scratch of the same size. */
void bl_seg_symmetry(float *a, float *tmp, int planes, int S, int t, int inverse) {
    int turns = t % 4;
    if (!inverse && t >= 4) flip(a, planes, S);
    for (int q = 0; q < (inverse ? (4 - turns) % 4 : turns); q++) {
        quarter_turn(a, tmp, planes, S);
        memcpy(a, tmp, sizeof(float) * (size_t)planes * (size_t)S * (size_t)S);
    }
    if (inverse && t >= 4) flip(a, planes, S);
}

bl_status bl_seg_keep_largest(uint8_t *labels, int w, int h, int keep, const float *logits, int classes) {
    int64_t n = (int64_t)w * h;
    int32_t *region = malloc(sizeof(int32_t) * (size_t)(n + 1));
    int64_t *stack = malloc(sizeof(int64_t) * (size_t)(n + 1));
    if (!region || !stack) {
        free(region), free(stack);
        return bl_fail(BL_ERR_NOMEM, "out of memory");
    }
    for (int64_t i = 0; i < n; i++) region[i] = -1;
    int32_t regions = 0, best = -1;
    int64_t best_size = 0;
    for (int64_t seed = 0; seed < n; seed++) {
        if (labels[seed] != keep || region[seed] >= 0) continue;
        int64_t top = 0, size = 0;
        stack[top++] = seed;
        region[seed] = regions;
        while (top) {
            int64_t i = stack[--top];
            size++;
            int y = (int)(i / w), x = (int)(i % w);
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int yy = y + dy, xx = x + dx;
                    if ((dy || dx) && yy >= 0 && yy < h && xx >= 0 && xx < w) {
                        int64_t j = (int64_t)yy * w + xx;
                        if (labels[j] == keep && region[j] < 0) region[j] = regions, stack[top++] = j;
                    }
                }
        }
        if (size > best_size) best_size = size, best = regions;
        regions++;
    }
    for (int64_t i = 0; i < n; i++) {
        if (labels[i] != keep || region[i] == best) continue;
        int cls = -1;
        for (int k = 0; k < classes; k++)
            if (k != keep && (cls < 0 || logits[i * classes + k] > logits[i * classes + cls])) cls = k;
        labels[i] = (uint8_t)cls;
    }
    free(region);
    free(stack);
    return BL_OK;
}

bl_status bl_segmenter_predict(bl_segmenter *s, const bl_cohort_row *row, uint8_t **labels, int *width,
                               int *height) {
    *labels = NULL;
    const bl_segment_options *o = &s->options;
    const int size = o->size, classes = o->unet.classes, channels = o->unet.in_channels, views = s->tta ? 8 : 1;
    const int64_t plane = (int64_t)size * size;
    bl_seg_sample_options so;
    bl_segment_sample_options(o, 0, &so);
    float *image = malloc(sizeof(float) * (size_t)(plane * channels * views));
    float *chw = malloc(sizeof(float) * (size_t)(plane * classes * views));
    float *mean = calloc((size_t)(plane * classes), sizeof(float));
    float *tmp = malloc(sizeof(float) * (size_t)(plane * (classes > channels ? classes : channels)));
    float *hwc = malloc(sizeof(float) * (size_t)(plane * classes));
    float *full = NULL;
    bl_status st = image && chw && mean && tmp && hwc ? BL_OK : bl_fail(BL_ERR_NOMEM, "%s: out of memory", row->image);
    if (!st) st = bl_seg_prepare(row, &so, 0, image, NULL, width, height);
    for (int t = 1; !st && t < views; t++) { /* view t: the image under symmetry t */
        memcpy(image + t * plane * channels, image, sizeof(float) * (size_t)(plane * channels));
        bl_seg_symmetry(image + t * plane * channels, tmp, channels, size, t, 0);
    }
    if (!st) {
        int xs[4] = {views, channels, size, size};
        bl_run run_opts = {.ctx = s->ctx};
        bl_tensor *logits = bl_unet_forward(s->unet, &run_opts, bl_tensor_from(s->ctx, 4, xs, image));
        if (!(st = bl_ctx_status(s->ctx))) st = bl_tensor_download(s->ctx, logits, chw);
        if (st && bl_ctx_status(s->ctx)) st = bl_fail(st, "%s: %s", row->image, bl_ctx_error(s->ctx));
        bl_ctx_clear_error(s->ctx);
        bl_step_end(s->ctx);
    }
    for (int t = 0; !st && t < views; t++) { /* back to the image's orientation, summed in view order */
        float *view = chw + t * plane * classes;
        if (t) bl_seg_symmetry(view, tmp, classes, size, t, 1);
        for (int64_t i = 0; i < plane * classes; i++) mean[i] += view[i];
    }
    int64_t pixels = st ? 0 : (int64_t)*width * *height;
    if (!st) {
        for (int64_t i = 0; i < plane; i++)
            for (int k = 0; k < classes; k++) hwc[i * classes + k] = mean[k * plane + i] / (float)views;
        full = malloc(sizeof(float) * (size_t)(pixels * classes));
        *labels = malloc((size_t)pixels);
        if (!full || !*labels) st = bl_fail(BL_ERR_NOMEM, "%s: out of memory", row->image);
    }
    if (!st) st = bl_resize_bilinear(hwc, size, size, classes, full, *height, *width);
    for (int64_t i = 0; !st && i < pixels; i++) {
        int best = 0;
        for (int k = 1; k < classes; k++)
            if (full[i * classes + k] > full[i * classes + best]) best = k;
        (*labels)[i] = (uint8_t)best;
    }
    if (!st && s->largest_icm) st = bl_seg_keep_largest(*labels, *width, *height, BL_SEG_ICM, full, classes);
    if (st) {
        free(*labels);
        *labels = NULL;
    }
    free(image);
    free(chw);
    free(mean);
    free(tmp);
    free(hwc);
    free(full);
    return st;
}

void bl_segmenter_free(bl_segmenter *s) {
    if (!s) return;
    bl_unet_free(s->unet);
    bl_ctx_free(s->ctx);
    free(s);
}
