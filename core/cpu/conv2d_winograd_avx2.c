/* conv2d_winograd_avx2.c — core/cpu/conv2d_winograd_impl.h compiled with AVX2 flags (the build gives *_avx2.c files
 * -mavx2 -mfma): the same transforms and plain C data-movement hooks as conv2d_winograd.c's portable copy, bitwise
 * the same results (-ffp-contract=off keeps the FMA units out of them), called only when the backend's instruction
 * set is AVX2 — what an AVX2-only CPU runs. */
#include <string.h>

#include "core/cpu/conv2d_winograd.h"

#define WINO_FN(name) name##_avx2
#define WINO_PORTABLE_HOOKS
#include "core/cpu/conv2d_winograd_impl.h"
#undef WINO_PORTABLE_HOOKS
#undef WINO_FN
