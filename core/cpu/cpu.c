/* cpu.c — the `cpu` backend table: the ref backend with its GEMM-shaped slots made fast.
 *
 * What it is: a copy of *bl_kernels_ref() named "cpu" whose sgemm, conv2d_* and linear_* slots are the packed,
 * threaded SIMD GEMM (gemm.c, micro-kernel chosen at run time by cpu_features.c) and im2col convolution
 * (conv2d_cpu.c), and whose batchnorm, pooling, elementwise, concat and optimizer slots are threaded versions
 * that are bitwise equal to ref (kernels_cpu_elementwise.c, batchnorm_cpu.c, pool2d_cpu.c; the argument for
 * equality is in kernels_cpu_ops.h). Profiles showed those ops at 20–30 % of a ResNet50 training step when they
 * ran ref's single-threaded loops.
 *
 * What it is not: sigmoid, sum and the BCE loss stay ref (scalar-sized work in every model here). */
#include <pthread.h>

#include "core/cpu/gemm.h"
#include "core/kernels.h"
#include "core/cpu/cpu_ops.h"

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
    /* threaded non-GEMM kernels, bitwise equal to ref (kernels_cpu_ops.h) */
    cpu_kernels.batchnorm2d_forward_train = batchnorm2d_forward_train_cpu;
    cpu_kernels.batchnorm2d_forward_eval = batchnorm2d_forward_eval_cpu;
    cpu_kernels.batchnorm2d_backward = batchnorm2d_backward_cpu;
    cpu_kernels.maxpool2d_forward = maxpool2d_forward_cpu;
    cpu_kernels.maxpool2d_backward = maxpool2d_backward_cpu;
    cpu_kernels.avgpool2d_forward = avgpool2d_forward_cpu;
    cpu_kernels.avgpool2d_backward = avgpool2d_backward_cpu;
    cpu_kernels.global_avgpool_forward = global_avgpool_forward_cpu;
    cpu_kernels.global_avgpool_backward = global_avgpool_backward_cpu;
    cpu_kernels.relu_forward = relu_forward_cpu;
    cpu_kernels.relu_backward = relu_backward_cpu;
    cpu_kernels.add_forward = add_forward_cpu;
    cpu_kernels.axpy = axpy_cpu;
    cpu_kernels.fill = fill_cpu;
    cpu_kernels.copy = copy_cpu;
    cpu_kernels.add_scalar = add_scalar_cpu;
    cpu_kernels.mul_forward = mul_forward_cpu;
    cpu_kernels.mul_backward = mul_backward_cpu;
    cpu_kernels.concat_channels_forward = concat_channels_forward_cpu;
    cpu_kernels.concat_channels_backward = concat_channels_backward_cpu;
    cpu_kernels.sgd_update = sgd_update_cpu;
    cpu_kernels.adam_update = adam_update_cpu;
    /* fused fast paths */
    cpu_kernels.batchnorm2d_relu_forward_eval = batchnorm2d_relu_forward_eval_cpu;
    cpu_kernels.relu_backward_inplace = relu_backward_inplace_cpu;
    cpu_kernels.conv2d_forward_nograd = conv2d_forward_nograd_cpu;
}

const bl_kernels *bl_kernels_cpu(void) {
    pthread_once(&cpu_kernels_once, build_cpu_kernels);
    return &cpu_kernels;
}
