/* batchnorm_lanes.h — PRIVATE to core/: the summation order of batchnorm's per-channel sums, shared by the ref
 * kernels (core/ref/ops.h) and the cpu kernels (core/cpu/batchnorm2d_impl.h), which must agree to the bit.
 *
 * The sums Σ over (n, k) of one channel (k: the position in the h·w plane) are taken in double as 8 partial
 * sums, "lanes": element k of every plane goes to lane k mod 8, each lane adds in (n, k) order, and the total is
 * ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)). One sequential chain per channel was latency-bound on the
 * cpu backend (one dependent double add per element); eight lanes are one 8-wide vector add per 8 elements
 * there, in exactly this order (docs/numerics.md, "Batchnorm sums in eight lanes"). */
#ifndef BLASTO_BATCHNORM_LANES_H
#define BLASTO_BATCHNORM_LANES_H

enum { BN_LANES = 8 };

static inline double bn_lanes_total(const double *l) {
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

#endif
