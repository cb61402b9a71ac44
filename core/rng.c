/* rng.c — splitmix64-based counter RNG (see rng.h). */
#include "core/rng.h"

#include <math.h>

#define GOLDEN_GAMMA 0x9E3779B97F4A7C15ULL

uint64_t bl_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

bl_rng bl_rng_stream(uint64_t seed, uint64_t purpose, uint64_t index) {
    /* chain the coordinates through the mixer so (1,2,3) and (2,1,3) give unrelated keys */
    uint64_t key = bl_mix64(seed + GOLDEN_GAMMA);
    key = bl_mix64(key ^ (purpose + GOLDEN_GAMMA));
    key = bl_mix64(key ^ (index + GOLDEN_GAMMA));
    bl_rng r = {key, 0};
    return r;
}

uint64_t bl_rng_next_u64(bl_rng *r) {
    r->counter++;
    return bl_mix64(r->key + r->counter * GOLDEN_GAMMA);
}

float bl_rng_uniform(bl_rng *r) { return (float)(bl_rng_next_u64(r) >> 40) * (1.0f / 16777216.0f); }

float bl_rng_uniform_range(bl_rng *r, float lo, float hi) { return lo + (hi - lo) * bl_rng_uniform(r); }

float bl_rng_normal(bl_rng *r) {
    /* u1 in (0,1] avoids log(0) */
    double u1 = ((double)(bl_rng_next_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    double u2 = (double)(bl_rng_next_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2));
}
