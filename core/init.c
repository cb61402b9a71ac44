/* init.c — see init.h. */
#include "init.h"

#include <math.h>

#include "rng.h"

void bl_init_uniform(bl_tensor *t, float bound, uint64_t seed, uint64_t index) {
    bl_rng r = bl_rng_stream(seed, BL_RNG_INIT, index);
    for (int64_t i = 0; i < t->numel; i++) t->data[i] = bl_rng_uniform_range(&r, -bound, bound);
}

void bl_init_constant(bl_tensor *t, float value) {
    for (int64_t i = 0; i < t->numel; i++) t->data[i] = value;
}

float bl_fan_in_bound(const bl_tensor *weight) {
    int64_t fan_in = weight->ndim > 0 && weight->shape[0] > 0 ? weight->numel / weight->shape[0] : 1;
    return (float)(1.0 / sqrt((double)(fan_in > 0 ? fan_in : 1)));
}
