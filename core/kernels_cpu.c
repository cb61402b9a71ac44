/* kernels_cpu.c — the `cpu` backend table: the ref backend with its GEMM-shaped slots made fast.
 *
 * What it is: a copy of *bl_kernels_ref() named "cpu" whose sgemm, conv2d_* and linear_* slots are the packed,
 * threaded SIMD GEMM (gemm.c, micro-kernel chosen at run time by cpu_features.c) and im2col convolution
 * (conv2d_cpu.c). Those are the ops where nearly all of a CNN's time goes; every other slot stays the ref kernel,
 * so it is bitwise equal to the oracle by construction.
 *
 * What it is not: a second set of elementwise / pooling / batchnorm kernels. Speeding those up is possible but
 * each one would need its own parity proof; until a profile shows they matter, the ref loops serve. */
#include <pthread.h>

#include "gemm.h"
#include "kernels.h"

static bl_kernels cpu_kernels;
static pthread_once_t cpu_kernels_once = PTHREAD_ONCE_INIT;

static void build_cpu_kernels(void) {
    cpu_kernels = *bl_kernels_ref();
    cpu_kernels.name = "cpu";
    cpu_kernels.sgemm = bl_sgemm_cpu;
    cpu_kernels.conv2d_forward = conv2d_forward_cpu;
    cpu_kernels.conv2d_backward_data = conv2d_backward_data_cpu;
    cpu_kernels.conv2d_backward_filter = conv2d_backward_filter_cpu;
    cpu_kernels.linear_forward = linear_forward_cpu;
    cpu_kernels.linear_backward = linear_backward_cpu;
}

const bl_kernels *bl_kernels_cpu(void) {
    pthread_once(&cpu_kernels_once, build_cpu_kernels);
    return &cpu_kernels;
}
