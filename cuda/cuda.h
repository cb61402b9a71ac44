/* cuda.h — the `cuda` backend: core's op table (core/kernels.h) on one NVIDIA GPU.
 * Compiled only with BLASTO_CUDA=ON (the macro BLASTO_HAVE_CUDA is then defined for every user of the library).
 *
 * One process-wide backend state: the device, one stream, cuDNN and cuBLAS handles, a cuDNN workspace, a pinned
 * staging buffer for uploads. Every CUDA/cuDNN/cuBLAS call is checked; the first failure is kept (file:line and
 * the library's error string) and handed to autograd through the table's take_error slot.
 * docs/cuda.md explains how each op maps to cuDNN / cuBLAS / our kernels. */
#ifndef BLASTO_KERNELS_CUDA_H
#define BLASTO_KERNELS_CUDA_H

#include "core/kernels.h"
#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bl_cuda_options {
    int device_index;  /* cudaSetDevice index, normally 0 */
    int deterministic; /* only deterministic cuDNN algorithms; no float atomics in our kernels */
    int tf32;          /* allow TF32 tensor-core math in cuDNN/cuBLAS (off by default: strict fp32) */
    size_t workspace_limit; /* cuDNN workspace bound in bytes; 0 = default (256 MiB) */
    /* also let cuDNN use its FFT and Winograd convolution algorithms (faster for some 3×3 convolutions; their
     * rounding error is not the dot-product bound of docs/numerics.md, so the default leaves them out). The
     * environment variable BLASTO_CUDA_TRANSFORM_ALGOS=1 sets it too (for benchmarks). docs/cuda.md. */
    int transform_algorithms;
} bl_cuda_options;

/* Number of visible CUDA devices (0 when there is no driver or no device; never fails). */
int bl_cuda_device_count(void);
/* Open (once per process; a second call with different options fails) and return the op table.
 * Fails with a one-line message (bl_last_error) when no device is visible or initialisation fails. */
bl_status bl_kernels_cuda_open(const bl_cuda_options *options, const bl_kernels **out);
/* Release handles, workspace and staging memory (optional, at exit). */
void bl_kernels_cuda_close(void);
/* Wait until every operation queued so far has finished on the device (kernels are asynchronous: a timer read
 * after a step without this measures only the host's queuing). Returns BL_OK, or BL_ERR_DEVICE with the pending
 * error's message (bl_last_error) — the error is then taken (take_error will not report it again). */
bl_status bl_cuda_synchronize(void);
/* Peak device memory allocated through this backend since open (bytes), for the benchmark. */
size_t bl_cuda_peak_bytes(void);
/* The cuDNN algorithms (enum values), math types and workspace bytes chosen for a conv2d shape, as one line into
 * buf; 0 (and "") when the shape has not run yet. For tests and benchmark reports. */
int bl_cuda_conv_describe(const bl_conv2d_shape *s, char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif
