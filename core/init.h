/* init.h — parameter initialisation from the counter RNG (stream (seed, BL_RNG_INIT, index)).
 * torch's defaults for Conv2d and Linear (kaiming_uniform_ with a = √5, which reduces to U(−1/√fan_in, 1/√fan_in)
 * for the weight, and U(−1/√fan_in, 1/√fan_in) for the bias) with OUR generator: the distribution matches torch,
 * the draws do not (torch's Mersenne Twister is not reproduced).
 *
 * The values go through the context's backend (upload / fill), so these work on every backend, the GPU included;
 * errors become the context's sticky error and are returned. */
#ifndef BLASTO_INIT_H
#define BLASTO_INIT_H

#include <stdint.h>

#include "core/autograd.h"

/* t ← U(−bound, bound) from stream (seed, BL_RNG_INIT, index) */
bl_status bl_init_uniform(bl_ctx *ctx, bl_tensor *t, float bound, uint64_t seed, uint64_t index);
bl_status bl_init_constant(bl_ctx *ctx, bl_tensor *t, float value);
/* fan_in = numel / shape[0] for a [out, in, …] weight */
float bl_fan_in_bound(const bl_tensor *weight);

#endif
