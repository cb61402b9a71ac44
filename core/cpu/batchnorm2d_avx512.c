/* batchnorm2d_avx512.c — core/cpu/batchnorm2d_impl.h compiled with AVX-512 flags (the build gives *_avx512.c
 * files -mavx512f …): the same kernels as core/cpu/batchnorm2d.c's portable build, bitwise the same results, called by
 * core/cpu/batchnorm2d.c only when the CPU has AVX-512. */
#include <math.h>

#include "core/cpu/cpu_ops.h"
#include "core/cpu/threads.h"

#define BN_FN(name) name##_avx512
#include "core/cpu/batchnorm2d_impl.h"
#undef BN_FN
