/* preprocess.c — float conversion, cv2-exact bilinear resize, normalisation presets (see preprocess.h).
 *
 * How OpenCV 4.6 resizes float32 with INTER_LINEAR (modules/imgproc/src/resize.cpp: cv::resize computes the tap
 * tables, resizeGeneric_ runs HResizeLinear then VResizeLinear), restated:
 *   scale = 1 / (dst/src)  (double: "1./inv_scale_x" with inv_scale_x = (double)dsize.width/ssize.width)
 *   fx    = (float)((dx + 0.5)·scale − 0.5);  sx = floor(fx);  fx −= sx          (the subtraction in float)
 *   horizontal: sx < 0 → (sx, fx) = (0, 0); sx ≥ src_w − 1 → (sx, fx) = (src_w − 1, 0) and ONE tap (S[sx]·1);
 *               otherwise H = S[sx]·(1 − fx) + S[sx+1]·fx          (two float products, one float sum)
 *   vertical:   fy, sy from the same formula but fy is NOT reset at the borders; the two source rows are
 *               clamp(sy) and clamp(sy + 1) to [0, src_h − 1];  D = H[r0]·(1 − fy) + H[r1]·fy
 * Horizontal first, then vertical; no fused multiply-add anywhere (Debian builds this file for SSE2, where
 * v_muladd is a multiply and an add; our build uses -ffp-contract=off), so each output is bit-identical.
 * Special case: when the source is exactly twice the destination in both directions cv::resize switches
 * INTER_LINEAR to INTER_AREA's fast path, the mean of each 2×2 block: sum·0.25 with the sum taken as
 * ((a + b) + (c + d)) where OpenCV's 4-wide SIMD loop runs (1-channel images: the first ⌊w/4⌋·4 outputs of a row;
 * 4-channel images: all) and ((a + b) + c) + d in its scalar loop (the rest, and all of 2- and 3-channel images).
 * Both orders were checked against cv2 4.6 on Debian's python3-opencv (tests/golden/gen_augment.py). */
#include "study/preprocess.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void bl_image_to_float(const bl_image *img, float scale, float *out) {
    size_t count = (size_t)img->width * (size_t)img->height * (size_t)img->channels;
    if (scale == 1.0f) {
        for (size_t i = 0; i < count; i++) out[i] = (float)img->pixels[i];
    } else {
        for (size_t i = 0; i < count; i++) out[i] = (float)img->pixels[i] * scale;
    }
}

/* One output coordinate's taps: source index, its weight, the next index's weight, and whether the second tap
 * exists (horizontal borders use one tap). */
typedef struct resize_tap {
    int index0, index1;
    float weight0, weight1;
    int two_taps;
} resize_tap;

/* taps [dst] written for one axis. horizontal = 1: OpenCV's x rules (border weights reset, one tap);
 * horizontal = 0: its y rules (weights kept, indices clamped). */
static void resize_taps(int src, int dst, int horizontal, resize_tap *taps) {
    double scale = 1.0 / ((double)dst / (double)src);
    for (int d = 0; d < dst; d++) {
        float f = (float)(((double)d + 0.5) * scale - 0.5);
        int s = (int)floorf(f);
        f -= (float)s;
        resize_tap t;
        if (horizontal) {
            if (s < 0) s = 0, f = 0.0f;
            t.two_taps = s + 1 < src;
            if (!t.two_taps) s = src - 1, f = 0.0f;
            t.index0 = s;
            t.index1 = t.two_taps ? s + 1 : s;
        } else {
            t.two_taps = 1;
            t.index0 = s < 0 ? 0 : (s > src - 1 ? src - 1 : s);
            t.index1 = s + 1 < 0 ? 0 : (s + 1 > src - 1 ? src - 1 : s + 1);
        }
        t.weight0 = 1.0f - f;
        t.weight1 = f;
        taps[d] = t;
    }
}

/* src row [src_w·channels] read; out [dst_w·channels] written: the horizontal pass of one source row. */
static void resize_row_horizontal(const float *src_row, int channels, const resize_tap *x_taps, int dst_w,
                                  float *out) {
    for (int dx = 0; dx < dst_w; dx++) {
        const resize_tap *t = &x_taps[dx];
        const float *s0 = src_row + (size_t)t->index0 * channels;
        const float *s1 = src_row + (size_t)t->index1 * channels;
        float *o = out + (size_t)dx * channels;
        if (t->two_taps) {
            for (int c = 0; c < channels; c++) o[c] = s0[c] * t->weight0 + s1[c] * t->weight1;
        } else {
            for (int c = 0; c < channels; c++) o[c] = s0[c] * t->weight0;
        }
    }
}

/* OpenCV's INTER_AREA fast path for exactly 2× down: src [2h·2w·channels] read, dst [h·w·channels] written. */
static void resize_half(const float *src, int dst_h, int dst_w, int channels, float *dst) {
    size_t src_row = (size_t)2 * dst_w * channels;
    size_t row_elements = (size_t)dst_w * channels;
    /* elements of an output row that OpenCV's SIMD loop (4 floats per step) handles, in pairwise order */
    size_t simd_elements = channels == 1 ? row_elements / 4 * 4 : (channels == 4 ? row_elements : 0);
    for (int y = 0; y < dst_h; y++) {
        const float *r0 = src + (size_t)2 * y * src_row;
        const float *r1 = r0 + src_row;
        float *o = dst + (size_t)y * row_elements;
        for (size_t e = 0; e < row_elements; e++) {
            size_t x = e / (size_t)channels, c = e % (size_t)channels;
            float a = r0[2 * x * channels + c], b = r0[(2 * x + 1) * channels + c];
            float p = r1[2 * x * channels + c], q = r1[(2 * x + 1) * channels + c];
            float sum = e < simd_elements ? (a + b) + (p + q) : ((a + b) + p) + q;
            o[e] = sum * 0.25f;
        }
    }
}

bl_status bl_resize_bilinear(const float *src, int src_h, int src_w, int channels, float *dst, int dst_h,
                             int dst_w) {
    if (src_h < 1 || src_w < 1 || dst_h < 1 || dst_w < 1 || channels < 1)
        return bl_fail(BL_ERR_INVALID,
                       "resize: size: expected positive sizes and channels, got %dx%d → %dx%d with %d channels",
                       src_w, src_h, dst_w, dst_h, channels);
    size_t row_elements = (size_t)dst_w * channels;
    if (src_h == dst_h && src_w == dst_w) {
        memcpy(dst, src, (size_t)dst_h * row_elements * sizeof(float));
        return BL_OK;
    }
    if (src_w == 2 * dst_w && src_h == 2 * dst_h) {
        resize_half(src, dst_h, dst_w, channels, dst);
        return BL_OK;
    }
    resize_tap *x_taps = malloc(sizeof(resize_tap) * (size_t)(dst_w + dst_h));
    float *rows = malloc(sizeof(float) * 2 * row_elements);
    if (!x_taps || !rows) {
        free(x_taps);
        free(rows);
        return bl_fail(BL_ERR_NOMEM, "resize: out of memory: needs %zu bytes",
                       sizeof(resize_tap) * (size_t)(dst_w + dst_h) + sizeof(float) * 2 * row_elements);
    }
    resize_tap *y_taps = x_taps + dst_w;
    resize_taps(src_w, dst_w, 1, x_taps);
    resize_taps(src_h, dst_h, 0, y_taps);
    /* a cache of two horizontally resized source rows; the rows needed only move down as dy grows */
    int cached[2] = {-1, -1};
    size_t src_row = (size_t)src_w * channels;
    for (int dy = 0; dy < dst_h; dy++) {
        const resize_tap *t = &y_taps[dy];
        const float *h[2];
        int want[2] = {t->index0, t->index1};
        for (int k = 0; k < 2; k++) {
            int slot = cached[0] == want[k] ? 0 : (cached[1] == want[k] ? 1 : -1);
            if (slot < 0) {
                /* reuse the slot that does not hold the other row this output needs */
                slot = cached[0] == want[1 - k] ? 1 : 0;
                resize_row_horizontal(src + (size_t)want[k] * src_row, channels, x_taps, dst_w,
                                      rows + (size_t)slot * row_elements);
                cached[slot] = want[k];
            }
            h[k] = rows + (size_t)slot * row_elements;
        }
        float *o = dst + (size_t)dy * row_elements;
        for (size_t e = 0; e < row_elements; e++) o[e] = h[0][e] * t->weight0 + h[1][e] * t->weight1;
    }
    free(x_taps);
    free(rows);
    return BL_OK;
}

bl_status bl_normalize_parse(const char *name, bl_normalize *out) {
    static const struct { const char *name; bl_normalize preset; } presets[] = {
        {"none", BL_NORMALIZE_NONE}, {"caffe", BL_NORMALIZE_CAFFE}, {"torch", BL_NORMALIZE_TORCH},
        {"unit", BL_NORMALIZE_UNIT},
    };
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        if (strcmp(name, presets[i].name) == 0) {
            *out = presets[i].preset;
            return BL_OK;
        }
    }
    return bl_fail(BL_ERR_INVALID, "normalize: unknown preset '%s' (expected caffe, torch, unit or none)", name);
}

const char *bl_normalize_name(bl_normalize preset) {
    switch (preset) {
    case BL_NORMALIZE_NONE: return "none";
    case BL_NORMALIZE_CAFFE: return "caffe";
    case BL_NORMALIZE_TORCH: return "torch";
    case BL_NORMALIZE_UNIT: return "unit";
    }
    return "?";
}

void bl_normalize_to_chw(const float *hwc, int h, int w, bl_normalize preset, float *chw) {
    /* Keras imagenet_utils (caffe: BGR means) and torchvision/Keras torch mode (RGB mean and std) */
    static const float caffe_mean_bgr[3] = {103.939f, 116.779f, 123.68f};
    static const float torch_mean[3] = {0.485f, 0.456f, 0.406f};
    static const float torch_std[3] = {0.229f, 0.224f, 0.225f};
    size_t plane = (size_t)h * (size_t)w;
    for (int c = 0; c < 3; c++) {
        float *out = chw + (size_t)c * plane;
        switch (preset) {
        case BL_NORMALIZE_CAFFE: {
            const float *in = hwc + (2 - c); /* output channel 0 = B = input channel 2 */
            for (size_t i = 0; i < plane; i++) out[i] = in[3 * i] - caffe_mean_bgr[c];
            break;
        }
        case BL_NORMALIZE_TORCH: {
            const float *in = hwc + c;
            for (size_t i = 0; i < plane; i++) out[i] = (in[3 * i] / 255.0f - torch_mean[c]) / torch_std[c];
            break;
        }
        case BL_NORMALIZE_UNIT: {
            const float *in = hwc + c;
            for (size_t i = 0; i < plane; i++) out[i] = in[3 * i] / 255.0f;
            break;
        }
        case BL_NORMALIZE_NONE:
        default: {
            const float *in = hwc + c;
            for (size_t i = 0; i < plane; i++) out[i] = in[3 * i];
            break;
        }
        }
    }
}
