/* preprocess.h — from an 8-bit image to the network's input tensor: float conversion, OpenCV-exact bilinear resize,
 * and the ImageNet normalisation presets of the backbones' pretrained weights (paper-method.md §3.1–3.2).
 *
 * All images here are float, interleaved row-major ("HWC": pixel (y,x) channel c at [(y·w + x)·channels + c]),
 * channels 1 or 3 (R,G,B). The network's input is planar ("CHW": [c·h·w + y·w + x]), made by the last step.
 *
 *   bl_image (uint8, HWC) ──bl_image_to_float──▶ float HWC in [0,255] or [0,1]
 *                         ──bl_resize_bilinear──▶ float HWC, size×size (aspect not kept)
 *                         ──bl_normalize_to_chw──▶ float CHW [3,size,size] for the tensor
 *
 * Resize = cv2.resize(src_float32, (dst_w, dst_h), interpolation=cv2.INTER_LINEAR), reproduced bit for bit for
 * OpenCV 4.6 (Debian bookworm, x86-64) — see preprocess.c for the exact arithmetic and docs/data.md for the bound. */
#ifndef BLASTO_PREPROCESS_H
#define BLASTO_PREPROCESS_H

#include "core/status.h"
#include "study/image.h"

#define BL_INPUT_SIZE_DEFAULT 224

/* 8-bit → float. out [h·w·channels] (HWC, same channel count as img) is written with
 *   scale 1      → x            (values 0 … 255, what Keras preprocess_input / cv2 pipelines see)
 *   scale 1/255  → x · (1/255)  (values 0 … 1, as tf.image.convert_image_dtype(uint8 → float32) computes it:
 *                                one multiplication by the float nearest 1/255, not a division)
 * Any finite scale is accepted. */
void bl_image_to_float(const bl_image *img, float scale, float *out);

/* Bilinear resize with half-pixel centres, exactly as OpenCV 4.6's INTER_LINEAR on float32 input.
 * src [src_h·src_w·channels] read, dst [dst_h·dst_w·channels] written (HWC, channels ≥ 1; src ≠ dst).
 *   source x of output column dx:  fx = (float)((dx + 0.5)·(1/(dst_w/src_w)) − 0.5)   (double, then rounded)
 *   sx = floor(fx), weights (1 − (fx − sx), fx − sx) in float; columns left of 0 / right of src_w − 1 clamp to
 *   the edge column with weight 1; rows use the same formula but their weights are NOT reset at the borders —
 *   the row index is clamped instead (OpenCV's asymmetry, which changes the last bit there).
 * Exactly 2× down in both directions is OpenCV's INTER_AREA fast path (2×2 mean), as cv2 itself switches to it.
 * Errors (BL_ERR_INVALID): non-positive sizes or channels. */
bl_status bl_resize_bilinear(const float *src, int src_h, int src_w, int channels, float *dst, int dst_h, int dst_w);

/* Normalisation presets for float RGB in [0,255] (paper-method.md §3.1):
 *   caffe  Keras ResNet50/VGG16 'caffe' mode: RGB → BGR, minus (103.939, 116.779, 123.68); no scaling
 *   torch  Keras DenseNet121 'torch' mode and torchvision weights: (x/255 − (0.485, 0.456, 0.406)) / (0.229, 0.224,
 *          0.225) in RGB order
 *   unit   x/255 (the "/255" ablation of paper-method.md §3.1)
 *   none   x unchanged (0 … 255, RGB)
 * Every operation is one float32 operation, in the order written, as numpy/torch do it on float32 arrays. */
typedef enum bl_normalize {
    BL_NORMALIZE_NONE = 0,
    BL_NORMALIZE_CAFFE = 1,
    BL_NORMALIZE_TORCH = 2,
    BL_NORMALIZE_UNIT = 3,
} bl_normalize;

/* "none", "caffe", "torch", "unit" → preset. Error: "normalize: unknown preset 'x' (expected caffe, torch, unit or
 * none)". */
bl_status bl_normalize_parse(const char *name, bl_normalize *out);
const char *bl_normalize_name(bl_normalize preset);

/* hwc [h·w·3] RGB in [0,255] read; chw [3·h·w] written with the preset (caffe's channel 0 is B). */
void bl_normalize_to_chw(const float *hwc, int h, int w, bl_normalize preset, float *chw);

#endif
