/* bf16.c — see bf16.h. */
#include "core/bf16.h"

#include <float.h>
#include <math.h>

bl_bf16 bl_bf16_from_f64(double d) {
    if (isnan(d)) return bl_bf16_from_f32((float)d); /* (float) of a NaN is a NaN of the same sign */
    double a = fabs(d), r;
    if (a < 0x1p-126) {
        r = nearbyint(a * 0x1p133) * 0x1p-133; /* the subnormal grid; exact scalings, one rounding (to
                                                 * even: the default rounding mode, which blasto never changes) */
    } else {
        /* keep 8 significant bits: round the double's 52-bit fraction to 7 bits, ties to even, in its bits */
        uint64_t bits;
        memcpy(&bits, &a, 8);
        bits += ((uint64_t)1 << 44) - 1 + ((bits >> 45) & 1);
        bits &= ~(((uint64_t)1 << 45) - 1);
        memcpy(&r, &bits, 8);
    }
    float f = r > FLT_MAX ? INFINITY : (float)r; /* exact: r has 8 significant bits within float's range */
    return bl_bf16_from_f32(signbit(d) ? -f : f);
}

void bl_bf16_from_f32_array(const float *src, bl_bf16 *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = bl_bf16_from_f32(src[i]);
}

void bl_bf16_to_f32_array(const bl_bf16 *src, float *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = bl_bf16_to_f32(src[i]);
}
