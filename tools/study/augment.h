/* augment.h — the paper's training augmentation with TensorFlow 2.10 semantics (paper-method.md §2).
 *
 * Images are float HWC RGB (pixel (y,x) channel c at [(y·w + x)·3 + c]), normally in [0,1]. In the paper's order:
 *
 *   1. brightness  x + δ,                δ ~ U[−max_delta, max_delta)   tf.image.random_brightness / adjust_brightness
 *   2. saturation  RGB → HSV, s·f clamped to [0,1], → RGB,  f ~ U[lower, upper)   tf.image.random_saturation
 *                  (the AdjustSaturation CPU kernel's float arithmetic, hue in [0,1))
 *   3. contrast    (x − m_c)·f + m_c with m_c the mean of channel c over H×W,  f ~ U[lower, upper)
 *                  tf.image.random_contrast → AdjustContrastv2
 *   4. flip up/down      iff u < 0.5, u ~ U[0,1)                        tf.image.random_flip_up_down
 *   5. flip left/right   iff u < 0.5                                     tf.image.random_flip_left_right
 *   6. clip to [0,1]     (tf.clip_by_value; the TF ops themselves never clip float images)
 *
 * Randomness: the five draws of one (seed, epoch, sample) come from the counter RNG stream
 *     (seed, BL_RNG_AUGMENT, bl_augment_stream_index(epoch, sample_key))
 * in the order δ, f_saturation, f_contrast, u_ud, u_lr — always all five, even for disabled steps, so switching
 * one step off does not change the others. uniform(lo, hi) = lo + (hi − lo)·u with u = bl_rng_uniform (24 bits), in
 * float, as TF's random_uniform computes u·(hi − lo) + lo. sample_key is a hash of the sample's id string
 * (bl_augment_sample_key), so a sample's augmentation depends on (seed, epoch, id) only — not on batch
 * composition, thread count, or the row's position in a fold. */
#ifndef BLASTO_AUGMENT_H
#define BLASTO_AUGMENT_H

#include <stdint.h>

#include "core/status.h"

typedef struct bl_augment_options {
    int brightness;               /* step on/off */
    float brightness_max_delta;   /* ≥ 0; default 0.1 */
    int saturation;
    float saturation_lower, saturation_upper; /* 0 ≤ lower < upper; default 0.8, 1.2 */
    int contrast;
    float contrast_lower, contrast_upper;     /* 0 ≤ lower < upper; default 0.8, 1.2 */
    int flip_up_down, flip_left_right;        /* default on */
} bl_augment_options;

/* All five steps on with the defaults above (paper-method.md §2 DECISION). */
void bl_augment_options_default(bl_augment_options *o);
/* TF's own argument checks: "augment: brightness_max_delta: must be ≥ 0 (got -1)", "augment: contrast: lower must
 * be < upper (got 1.2, 0.8)", "augment: saturation_lower: must be ≥ 0 (got -0.1)"; non-finite values refused. */
bl_status bl_augment_options_check(const bl_augment_options *o);

/* The random draws of one sample (the values actually used; fields of disabled steps are still drawn). */
typedef struct bl_augment_draw {
    float brightness_delta;
    float saturation_factor;
    float contrast_factor;
    int flip_up_down, flip_left_right; /* 1 = flip */
} bl_augment_draw;

/* FNV-1a 64-bit hash of the id's bytes (offset basis 0xcbf29ce484222325, prime 0x100000001b3). */
uint64_t bl_augment_sample_key(const char *id);
/* Stream index = mix64(sample_key + 0x9E3779B97F4A7C15·(epoch + 1)) — mix64 is core/rng.h's bl_mix64. */
uint64_t bl_augment_stream_index(int64_t epoch, uint64_t sample_key);
bl_augment_draw bl_augment_draw_for(const bl_augment_options *o, uint64_t seed, int64_t epoch, uint64_t sample_key);

/* The single steps, in place on img [h·w·3] (HWC RGB). They accept any float values (as TF does: no clipping). */
void bl_adjust_brightness(float *img, int h, int w, float delta);
void bl_adjust_saturation(float *img, int h, int w, float factor);
/* Channel means are summed in double and rounded to float once (TF's Eigen float reduction may differ in the last
 * bit of the mean; docs/data.md). */
void bl_adjust_contrast(float *img, int h, int w, float factor);
void bl_flip_up_down(float *img, int h, int w);
void bl_flip_left_right(float *img, int h, int w);
void bl_clip_unit(float *img, int h, int w);

/* Steps 1–6 with the given draws, skipping the steps `o` disables (clipping always happens). img [h·w·3]. */
void bl_augment_apply(float *img, int h, int w, const bl_augment_options *o, const bl_augment_draw *d);

#endif
