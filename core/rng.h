/* rng.h — counter-based random numbers: every draw is a pure function of (seed, purpose, index, counter).
 *
 * There is no hidden global state. A stream is identified by (seed, purpose, index) — e.g. (run seed,
 * BL_RNG_INIT, parameter number) or (run seed, BL_RNG_DROPOUT, step·2^20 + call) — and yields a sequence of
 * 64-bit values v_k = mix(key + k·γ) with the splitmix64 finaliser (Steele, Lea, Flood 2014), k = 0,1,2,…
 * Because a value depends only on its coordinates, results do not change with thread count, backend or the
 * order in which streams are used, and a resumed run reproduces the same draws. The same generator is written
 * in Python in tests/golden/gen_golden.py, so whole-model fixtures need no stored weights. */
#ifndef BLASTO_RNG_H
#define BLASTO_RNG_H

#include <stdint.h>

typedef enum bl_rng_purpose {
    BL_RNG_INIT = 1,      /* parameter initialisation */
    BL_RNG_DROPOUT = 2,   /* dropout masks */
    BL_RNG_DATA = 3,      /* shuffling, splits */
    BL_RNG_AUGMENT = 4,   /* augmentation draws */
    BL_RNG_TEST = 5,      /* test inputs */
} bl_rng_purpose;

typedef struct bl_rng {
    uint64_t key;     /* derived from (seed, purpose, index) */
    uint64_t counter; /* next position in the stream */
} bl_rng;

/* splitmix64 finaliser: a bijective mix of 64 bits */
uint64_t bl_mix64(uint64_t z);
bl_rng bl_rng_stream(uint64_t seed, uint64_t purpose, uint64_t index);
uint64_t bl_rng_next_u64(bl_rng *r);
/* uniform in [0,1): top 24 bits · 2^-24 (exactly representable in float) */
float bl_rng_uniform(bl_rng *r);
/* uniform in [lo,hi) */
float bl_rng_uniform_range(bl_rng *r, float lo, float hi);
/* standard normal by Box–Muller from two uniforms (uses two draws per value; computed in double) */
float bl_rng_normal(bl_rng *r);

#endif
