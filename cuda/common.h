// common.h — what the files of the cuda backend share: the one process-wide backend state, the error
// recording (first failure wins, file:line plus the library's own error string), launch helpers and the
// declarations of every op-table slot (each defined in the .cu file of its topic).
//
// Compiled only with BLASTO_CUDA=ON, by nvcc. Not installed, not included by anything outside cuda/.
//
// Numerics rule for every kernel of ours (docs/cuda.md, "Numerics"): the CUDA sources are compiled with
// --fmad=false (no silent contraction of a·b + c into an FMA) and without --use_fast_math, so float and double
// + − · / and sqrt are IEEE round-to-nearest exactly as on the CPU; an FMA appears only where the ref backend
// writes one (the optimizers: __fmaf_rn, the CUDA spelling of fmaf). A kernel that evaluates the ref backend's
// double formula in the same order therefore returns the same bits.
#ifndef BLASTO_CUDA_COMMON_H
#define BLASTO_CUDA_COMMON_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <stddef.h>
#include <stdint.h>

// core's headers are C without extern "C" guards: give their declarations C linkage here
extern "C" {
#include "core/kernels.h"
#include "core/status.h"
}
#include "cuda/cuda.h"

// ---- the backend state (cuda/backend.cu owns it) --------------------------------------------------------------
typedef struct bl_cuda_state {
    int open;
    bl_cuda_options options;
    cudaStream_t stream;
    cudnnHandle_t cudnn;
    cublasHandle_t cublas;
    // cuDNN workspace: grown (never beyond options.workspace_limit) when an algorithm chosen for a new shape needs
    // more; in a training loop that happens during the first step only.
    void *workspace;
    size_t workspace_bytes;
    // device scratch for our reductions (per-block partial sums, per-channel statistics in double); grown like the
    // workspace, so it is sized by the first step.
    void *scratch;
    size_t scratch_bytes;
    // pinned staging ring for upload (2 buffers, each with an event recorded after its last copy) and download
    void *staging[2];
    size_t staging_bytes[2];
    cudaEvent_t staging_done[2];
    int staging_next;
    // device memory accounting (bl_cuda_peak_bytes): every cudaMalloc of this backend
    size_t live_bytes, peak_bytes;
} bl_cuda_state;

extern bl_cuda_state bl_cuda;

// ---- errors -----------------------------------------------------------------------------------------------------
// Record a failure (kept only if it is the first since the last take_error). Returns 0 so checks can be chained.
int bl_cuda_record(const char *file, int line, const char *what, const char *detail);
int bl_cuda_check_rt(cudaError_t e, const char *file, int line, const char *what);
int bl_cuda_check_dnn(cudnnStatus_t e, const char *file, int line, const char *what);
int bl_cuda_check_blas(cublasStatus_t e, const char *file, int line, const char *what);
// Each returns 1 when the call succeeded, 0 (after recording the error) when it failed.
#define CUDA_OK(call) bl_cuda_check_rt((call), __FILE__, __LINE__, #call)
#define CUDNN_OK(call) bl_cuda_check_dnn((call), __FILE__, __LINE__, #call)
#define CUBLAS_OK(call) bl_cuda_check_blas((call), __FILE__, __LINE__, #call)
// After a <<<…>>> launch: a bad configuration is reported at once by cudaGetLastError.
#define CUDA_LAUNCHED(name) bl_cuda_check_rt(cudaGetLastError(), __FILE__, __LINE__, "launch of " name)

// ---- device scratch -----------------------------------------------------------------------------------------
// At least `bytes` of device scratch (contents undefined), or NULL with the error recorded. Growing waits for the
// stream (the old buffer may still be in use by queued kernels) — it happens while shapes are new, not in a
// steady-state step.
void *bl_cuda_scratch(size_t bytes);
// The cuDNN workspace, at least `bytes` (≤ the bound; the caller chose algorithms within it), same growth rule.
void *bl_cuda_workspace(size_t bytes);

// ---- launch helpers -----------------------------------------------------------------------------------------
#define BL_CUDA_THREADS 256
// Blocks for a grid-stride loop over count elements (capped: the loop covers the rest).
static inline unsigned bl_cuda_blocks(int64_t count) {
    int64_t b = (count + BL_CUDA_THREADS - 1) / BL_CUDA_THREADS;
    if (b < 1) b = 1;
    if (b > 65535LL * 16) b = 65535LL * 16;
    return (unsigned)b;
}

// Channel of element e of an NCHW tensor with planes of hw elements and c channels. 64-bit division is several
// times slower than 32-bit on the GPU, so the index arithmetic is 32-bit whenever the whole tensor's element count
// fits (`small`, decided once per launch on the host: always, for the models of this project).
__device__ __forceinline__ static int bl_cuda_channel_of(int64_t e, int64_t hw, int c, bool small) {
    if (small) return (int)(((uint32_t)e / (uint32_t)hw) % (uint32_t)c);
    return (int)((e / hw) % c);
}
static inline bool bl_cuda_small(int64_t count) { return count <= (int64_t)UINT32_MAX; }

// Sum of one double per thread over a block of THREADS threads (a power of two), in a fixed tree: thread t adds
// t + s for s = THREADS/2, THREADS/4, …, 1, so the result does not depend on timing. Every thread of the block must
// call it; every thread gets the total; shared (THREADS doubles) may be reused as soon as it returns.
template <int THREADS>
__device__ static double bl_cuda_block_sum(double v, double *shared) {
    static_assert(THREADS > 0 && (THREADS & (THREADS - 1)) == 0, "THREADS must be a power of two");
    shared[threadIdx.x] = v;
    __syncthreads();
    for (int s = THREADS / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s];
        __syncthreads();
    }
    double total = shared[0];
    __syncthreads();
    return total;
}

// A grid-stride loop over [0, count) with 64-bit indices.
#define GRID_STRIDE_LOOP(i, count) \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (count); i += (int64_t)gridDim.x * blockDim.x)

// Launch a one-thread-per-element kernel kernel(count, …) on the backend's stream (nothing for count ≤ 0).
#define LAUNCH(kernel, count, ...)                                                                   \
    do {                                                                                             \
        if ((count) <= 0) break;                                                                     \
        kernel<<<bl_cuda_blocks(count), BL_CUDA_THREADS, 0, bl_cuda.stream>>>((count), __VA_ARGS__); \
        CUDA_LAUNCHED(#kernel);                                                                      \
    } while (0)


// ---- the op-table slots: each file installs its own (bl_cuda_<file>_slots), declared there with its slot's
// function type (core/kernels.h gives every contract). The backend's state is the one process-wide bl_cuda above, so
// the definitions leave their first parameter (the table, `self` in kernels.h) unnamed.
void bl_cuda_linear_slots(bl_kernels *k);          // linear.cu: sgemm, linear
void bl_cuda_conv2d_slots(bl_kernels *k);          // conv2d.cu: conv2d, the per-channel bias of conv_transpose2d
void bl_cuda_batchnorm2d_slots(bl_kernels *k);     // batchnorm2d.cu
void bl_cuda_pool2d_slots(bl_kernels *k);          // pool2d.cu: max, average, global average
void bl_cuda_resize_slots(bl_kernels *k);          // resize.cu: bilinear
void bl_cuda_elementwise_slots(bl_kernels *k);     // elementwise.cu: relu, sigmoid, add, axpy, add_scalar, dropout, fill
void bl_cuda_concat_channels_slots(bl_kernels *k); // concat_channels.cu
void bl_cuda_loss_slots(bl_kernels *k);            // loss.cu: sum, bce_with_logits, softmax cross-entropy, dice
void bl_cuda_optim_slots(bl_kernels *k);           // optim.cu: sgd, adam

// ---- shared by several files ---------------------------------------------------------------------------------------
bl_fill_fn bl_cuda_fill; // elementwise.cu (linear.cu zeroes C with it)
void bl_cuda_blas_set_math(void);   // linear.cu
void bl_cuda_conv_cache_clear(void); // conv2d.cu
// Per-channel sums of an NCHW tensor (n planes of hw per channel) accumulated into out[c] (+=), in double, fixed
// order: the bias gradients of conv2d (hw = Ho·Wo) and linear (hw = 1). batchnorm2d.cu
void bl_cuda_channel_sum_accumulate(int n, int c, int64_t hw, const float *x, float *out);
// y[n,c,:] += b[c] (conv bias; linear bias with hw = 1). elementwise.cu
void bl_cuda_add_channel_bias(int n, int c, int64_t hw, const float *b, float *y);

#endif
