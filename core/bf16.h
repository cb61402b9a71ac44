/* bf16.h — bfloat16, the storage type of mixed precision (docs/mixed-precision.md): the upper 16 bits of an IEEE
 * binary32 — 1 sign bit, float32's 8 exponent bits, 7 fraction bits (8 significant bits, unit roundoff u = 2^-8).
 *
 * Every rounding to bf16 in blasto is round to nearest, ties to even — the IEEE default, what AVX512-BF16's
 * VCVTNE2PS2BF16, CUDA's __float2bfloat16_rn and PyTorch's float → bfloat16 conversion do:
 *   NaN stays NaN (sign and the top 7 payload bits kept, made quiet); ±Inf stays ±Inf; a finite value beyond the
 *   largest bf16 (0x7F7F = (2 − 2^-7)·2^127) by half an ulp or more becomes ±Inf; values below 2^-126 round on
 *   bf16's subnormal grid (multiples of 2^-133). Widening bf16 → float is exact.
 * bl_bf16_from_f64 rounds a double ONCE to bf16: the reference backend's rule (compute in double, round once) —
 * not the same as (float) then bf16, which can round twice. */
#ifndef BLASTO_BF16_H
#define BLASTO_BF16_H

#include <stdint.h>
#include <string.h>

typedef uint16_t bl_bf16;

static inline float bl_bf16_to_f32(bl_bf16 h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline bl_bf16 bl_bf16_from_f32(float f) {
    uint32_t bits;
    memcpy(&bits, &f, 4);
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return (bl_bf16)((bits >> 16) | 0x0040u); /* NaN: quiet */
    bits += 0x7FFFu + ((bits >> 16) & 1u); /* ties to even; a carry out of the fraction bumps the exponent */
    return (bl_bf16)(bits >> 16);
}

bl_bf16 bl_bf16_from_f64(double d);
void bl_bf16_from_f32_array(const float *src, bl_bf16 *dst, int64_t n);
void bl_bf16_to_f32_array(const bl_bf16 *src, float *dst, int64_t n);

#endif
