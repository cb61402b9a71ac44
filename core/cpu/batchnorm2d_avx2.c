/* batchnorm2d_avx2.c — core/cpu/batchnorm2d_impl.h compiled with AVX2 flags (the build gives *_avx2.c files
 * -mavx2 -mfma): the same kernels as core/cpu/batchnorm2d.c's portable build, bitwise the same results, called by
 * core/cpu/batchnorm2d.c when the backend's instruction set is AVX2. */
#include <math.h>

#include "core/cpu/cpu_ops.h"
#include "core/cpu/threads.h"

#define BN_FN(name) name##_avx2
#include "core/cpu/batchnorm2d_impl.h"
#undef BN_FN
