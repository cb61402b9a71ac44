// conv2d.cu — conv2d forward, backward-data and backward-filter through cuDNN's convolution API (NCHW, float,
// cross-correlation — the same formula as core/kernels.h), the bias and its gradient by our kernels.
//
// Plans. Descriptors and the three chosen algorithms are cached per bl_conv2d_shape (the whole struct is the key),
// built the first time a shape is seen — in a training loop, during the first step.
//
// Algorithm selection (per direction, the first time it is needed): cuDNN's heuristics (cudnnGet*Algorithm_v7)
// rank the algorithms; we take the first one that (when none does: implicit GEMM forward, ALGO_1 backward — they
// exist for every 2-D shape, are deterministic and run with FMA math)
//   - cuDNN reports as supported for this shape (status success, and the workspace query succeeds),
//   - needs at most the workspace bound (bl_cuda_options.workspace_limit, default 256 MiB),
//   - is a direct or GEMM-style algorithm: FFT and Winograd variants are left out (unless the option
//     transform_algorithms asks for them), so every output element is a dot product of the data's own values and
//     the rounding-error bound of docs/numerics.md holds (docs/cuda.md),
//   - in deterministic mode, is reported CUDNN_DETERMINISTIC (and is not one of the atomics-based ALGO_0 of
//     backward data, ALGO_0/ALGO_3 of backward filter),
//   - without --tf32, does not use tensor-op math (TF32).
//
// Math type. With TF32 off the descriptor's math type is CUDNN_FMA_MATH (cuDNN ≥ 8: "only FMA kernels", i.e. no
// TF32 tensor cores; CUDNN_DEFAULT_MATH would allow TF32 for float data on Ampere and later). cuDNN 7 has neither
// TF32 nor FMA_MATH and uses CUDNN_DEFAULT_MATH. With --tf32: CUDNN_TENSOR_OP_MATH for the heuristics, then the math
// type the chosen algorithm reports.
//
// Accumulation. cuDNN computes dst = α·result + β·dst; backward data/filter pass α = 1, β = 1, which is exactly the
// += of our contract; forward passes β = 0 (y is written, not read).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/common.h"

static bl_conv2d_forward_fn bl_cuda_conv2d_forward;
static bl_conv2d_backward_data_fn bl_cuda_conv2d_backward_data;
static bl_conv2d_backward_filter_fn bl_cuda_conv2d_backward_filter;
static bl_bias_channels_forward_fn bl_cuda_bias_channels_forward;
static bl_bias_channels_backward_fn bl_cuda_bias_channels_backward;

#if CUDNN_MAJOR >= 8
#define STRICT_FP32_MATH CUDNN_FMA_MATH
#else
#define STRICT_FP32_MATH CUDNN_DEFAULT_MATH
#endif

typedef struct conv_plan {
    bl_conv2d_shape shape;
    cudnnTensorDescriptor_t x_desc, y_desc;
    cudnnFilterDescriptor_t w_desc;
    cudnnConvolutionDescriptor_t conv_desc;
    int fwd_ready, data_ready, filter_ready;  // algorithm chosen
    cudnnConvolutionFwdAlgo_t fwd_algo;
    cudnnConvolutionBwdDataAlgo_t data_algo;
    cudnnConvolutionBwdFilterAlgo_t filter_algo;
    cudnnMathType_t fwd_math, data_math, filter_math;
    size_t fwd_bytes, data_bytes, filter_bytes;
} conv_plan;

static conv_plan **plans;
static int plan_count, plan_capacity, last_plan = -1;

static void destroy_plan(conv_plan *p) {
    if (!p) return;
    if (p->x_desc) cudnnDestroyTensorDescriptor(p->x_desc);
    if (p->y_desc) cudnnDestroyTensorDescriptor(p->y_desc);
    if (p->w_desc) cudnnDestroyFilterDescriptor(p->w_desc);
    if (p->conv_desc) cudnnDestroyConvolutionDescriptor(p->conv_desc);
    free(p);
}

void bl_cuda_conv_cache_clear(void) {
    for (int i = 0; i < plan_count; i++) destroy_plan(plans[i]);
    free(plans);
    plans = NULL;
    plan_count = plan_capacity = 0;
    last_plan = -1;
}

static cudnnMathType_t base_math(void) { return bl_cuda.options.tf32 ? CUDNN_TENSOR_OP_MATH : STRICT_FP32_MATH; }
// the math type of a fallback algorithm chosen without the heuristics (TF32 allowed only when asked for)
static cudnnMathType_t fallback_math(void) { return bl_cuda.options.tf32 ? CUDNN_DEFAULT_MATH : STRICT_FP32_MATH; }

static conv_plan *find_plan(const bl_conv2d_shape *s) {
    if (last_plan >= 0 && memcmp(&plans[last_plan]->shape, s, sizeof *s) == 0) return plans[last_plan];
    for (int i = 0; i < plan_count; i++)
        if (memcmp(&plans[i]->shape, s, sizeof *s) == 0) {
            last_plan = i;
            return plans[i];
        }
    conv_plan *p = (conv_plan *)calloc(1, sizeof *p);
    if (!p) {
        bl_cuda_record(__FILE__, __LINE__, "calloc", "out of host memory for a convolution plan");
        return NULL;
    }
    p->shape = *s;
    int ok = CUDNN_OK(cudnnCreateTensorDescriptor(&p->x_desc)) && CUDNN_OK(cudnnCreateTensorDescriptor(&p->y_desc)) &&
             CUDNN_OK(cudnnCreateFilterDescriptor(&p->w_desc)) &&
             CUDNN_OK(cudnnCreateConvolutionDescriptor(&p->conv_desc)) &&
             CUDNN_OK(cudnnSetTensor4dDescriptor(p->x_desc, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, s->n, s->c_in, s->h_in,
                                                 s->w_in)) &&
             CUDNN_OK(cudnnSetTensor4dDescriptor(p->y_desc, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, s->n, s->c_out,
                                                 s->h_out, s->w_out)) &&
             CUDNN_OK(cudnnSetFilter4dDescriptor(p->w_desc, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, s->c_out, s->c_in,
                                                 s->kh, s->kw)) &&
             CUDNN_OK(cudnnSetConvolution2dDescriptor(p->conv_desc, s->pad_h, s->pad_w, s->stride_h, s->stride_w,
                                                      s->dil_h, s->dil_w, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    if (ok) {
        // cuDNN's idea of the output size must be ours (floor mode), else the descriptors disagree
        int n = 0, c = 0, h = 0, w = 0;
        ok = CUDNN_OK(cudnnGetConvolution2dForwardOutputDim(p->conv_desc, p->x_desc, p->w_desc, &n, &c, &h, &w));
        if (ok && (n != s->n || c != s->c_out || h != s->h_out || w != s->w_out)) {
            char detail[160];
            snprintf(detail, sizeof detail, "output shape [%d,%d,%d,%d] differs from the op's [%d,%d,%d,%d]", n, c, h,
                     w, s->n, s->c_out, s->h_out, s->w_out);
            bl_cuda_record(__FILE__, __LINE__, "cudnnGetConvolution2dForwardOutputDim", detail);
            ok = 0;
        }
    }
    if (!ok) {
        destroy_plan(p);
        return NULL;
    }
    if (plan_count == plan_capacity) {
        int cap = plan_capacity ? 2 * plan_capacity : 64;
        conv_plan **grown = (conv_plan **)realloc(plans, (size_t)cap * sizeof *grown);
        if (!grown) {
            destroy_plan(p);
            bl_cuda_record(__FILE__, __LINE__, "realloc", "out of host memory for the convolution plans");
            return NULL;
        }
        plans = grown;
        plan_capacity = cap;
    }
    plans[plan_count] = p;
    last_plan = plan_count++;
    return p;
}

static int is_tensor_op_math(cudnnMathType_t m) {
    return m == CUDNN_TENSOR_OP_MATH || m == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
}

// The common filter: supported, deterministic when asked, no TF32 unless allowed. Sets *math for the algorithm.
static int acceptable(cudnnStatus_t status, cudnnDeterminism_t determinism, cudnnMathType_t reported,
                      cudnnMathType_t *math) {
    if (status != CUDNN_STATUS_SUCCESS) return 0;
    if (bl_cuda.options.deterministic && determinism != CUDNN_DETERMINISTIC) return 0;
    if (!bl_cuda.options.tf32 && is_tensor_op_math(reported)) return 0;
    *math = bl_cuda.options.tf32 ? reported : STRICT_FP32_MATH;
    return 1;
}

#define MAX_ALGOS 16

static int choose_forward(conv_plan *p) {
    cudnnConvolutionFwdAlgoPerf_t perf[MAX_ALGOS];
    int returned = 0;
    if (!CUDNN_OK(cudnnSetConvolutionMathType(p->conv_desc, base_math())) ||
        !CUDNN_OK(cudnnGetConvolutionForwardAlgorithm_v7(bl_cuda.cudnn, p->x_desc, p->w_desc, p->conv_desc, p->y_desc,
                                                         MAX_ALGOS, &returned, perf)))
        return 0;
    for (int i = 0; i < returned; i++) {
        cudnnConvolutionFwdAlgo_t a = perf[i].algo;
        cudnnMathType_t math;
        int transform = a == CUDNN_CONVOLUTION_FWD_ALGO_FFT || a == CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING ||
                        a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD || a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
        if (transform && !bl_cuda.options.transform_algorithms) continue;
        if (!acceptable(perf[i].status, perf[i].determinism, perf[i].mathType, &math)) continue;
        size_t bytes = 0;
        if (cudnnSetConvolutionMathType(p->conv_desc, math) != CUDNN_STATUS_SUCCESS) continue;
        if (cudnnGetConvolutionForwardWorkspaceSize(bl_cuda.cudnn, p->x_desc, p->w_desc, p->conv_desc, p->y_desc, a,
                                                    &bytes) != CUDNN_STATUS_SUCCESS)
            continue;
        if (bytes > bl_cuda.options.workspace_limit) continue;
        p->fwd_algo = a, p->fwd_math = math, p->fwd_bytes = bytes, p->fwd_ready = 1;
        return 1;
    }
    // nothing acceptable among the heuristics' answers: the implicit-GEMM algorithms (deterministic, FMA kernels,
    // no or little workspace) are supported for every 2-D shape
    const cudnnConvolutionFwdAlgo_t fallback[] = {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM,
                                                  CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM};
    for (int i = 0; i < 2; i++) {
        size_t bytes = 0;
        if (cudnnSetConvolutionMathType(p->conv_desc, fallback_math()) != CUDNN_STATUS_SUCCESS ||
            cudnnGetConvolutionForwardWorkspaceSize(bl_cuda.cudnn, p->x_desc, p->w_desc, p->conv_desc, p->y_desc,
                                                    fallback[i], &bytes) != CUDNN_STATUS_SUCCESS ||
            bytes > bl_cuda.options.workspace_limit)
            continue;
        p->fwd_algo = fallback[i], p->fwd_math = fallback_math(), p->fwd_bytes = bytes, p->fwd_ready = 1;
        return 1;
    }
    return bl_cuda_record(__FILE__, __LINE__, "conv2d forward algorithm choice",
                          "no algorithm fits the workspace bound and the mode");
}

static int choose_backward_data(conv_plan *p) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[MAX_ALGOS];
    int returned = 0;
    if (!CUDNN_OK(cudnnSetConvolutionMathType(p->conv_desc, base_math())) ||
        !CUDNN_OK(cudnnGetConvolutionBackwardDataAlgorithm_v7(bl_cuda.cudnn, p->w_desc, p->y_desc, p->conv_desc,
                                                              p->x_desc, MAX_ALGOS, &returned, perf)))
        return 0;
    for (int i = 0; i < returned; i++) {
        cudnnConvolutionBwdDataAlgo_t a = perf[i].algo;
        cudnnMathType_t math;
        int transform = a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT || a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING ||
                        a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD ||
                        a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED;
        if (transform && !bl_cuda.options.transform_algorithms) continue;
        if (bl_cuda.options.deterministic && a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_0) continue;
        if (!acceptable(perf[i].status, perf[i].determinism, perf[i].mathType, &math)) continue;
        size_t bytes = 0;
        if (cudnnSetConvolutionMathType(p->conv_desc, math) != CUDNN_STATUS_SUCCESS) continue;
        if (cudnnGetConvolutionBackwardDataWorkspaceSize(bl_cuda.cudnn, p->w_desc, p->y_desc, p->conv_desc, p->x_desc,
                                                         a, &bytes) != CUDNN_STATUS_SUCCESS)
            continue;
        if (bytes > bl_cuda.options.workspace_limit) continue;
        p->data_algo = a, p->data_math = math, p->data_bytes = bytes, p->data_ready = 1;
        return 1;
    }
    // fallback: ALGO_1 (deterministic, GEMM-style)
    size_t bytes = 0;
    if (cudnnSetConvolutionMathType(p->conv_desc, fallback_math()) == CUDNN_STATUS_SUCCESS &&
        cudnnGetConvolutionBackwardDataWorkspaceSize(bl_cuda.cudnn, p->w_desc, p->y_desc, p->conv_desc, p->x_desc,
                                                     CUDNN_CONVOLUTION_BWD_DATA_ALGO_1,
                                                     &bytes) == CUDNN_STATUS_SUCCESS &&
        bytes <= bl_cuda.options.workspace_limit) {
        p->data_algo = CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, p->data_math = fallback_math(), p->data_bytes = bytes;
        p->data_ready = 1;
        return 1;
    }
    return bl_cuda_record(__FILE__, __LINE__, "conv2d backward-data algorithm choice",
                          "no algorithm fits the workspace bound and the mode");
}

static int choose_backward_filter(conv_plan *p) {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[MAX_ALGOS];
    int returned = 0;
    if (!CUDNN_OK(cudnnSetConvolutionMathType(p->conv_desc, base_math())) ||
        !CUDNN_OK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(bl_cuda.cudnn, p->x_desc, p->y_desc, p->conv_desc,
                                                                p->w_desc, MAX_ALGOS, &returned, perf)))
        return 0;
    for (int i = 0; i < returned; i++) {
        cudnnConvolutionBwdFilterAlgo_t a = perf[i].algo;
        cudnnMathType_t math;
        int transform =
            a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT || a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING ||
            a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD || a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED;
        if (transform && !bl_cuda.options.transform_algorithms) continue;
        if (bl_cuda.options.deterministic &&
            (a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0 || a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3))
            continue;
        if (!acceptable(perf[i].status, perf[i].determinism, perf[i].mathType, &math)) continue;
        size_t bytes = 0;
        if (cudnnSetConvolutionMathType(p->conv_desc, math) != CUDNN_STATUS_SUCCESS) continue;
        if (cudnnGetConvolutionBackwardFilterWorkspaceSize(bl_cuda.cudnn, p->x_desc, p->y_desc, p->conv_desc, p->w_desc,
                                                           a, &bytes) != CUDNN_STATUS_SUCCESS)
            continue;
        if (bytes > bl_cuda.options.workspace_limit) continue;
        p->filter_algo = a, p->filter_math = math, p->filter_bytes = bytes, p->filter_ready = 1;
        return 1;
    }
    // fallback: ALGO_1 (deterministic, GEMM-style)
    size_t bytes = 0;
    if (cudnnSetConvolutionMathType(p->conv_desc, fallback_math()) == CUDNN_STATUS_SUCCESS &&
        cudnnGetConvolutionBackwardFilterWorkspaceSize(bl_cuda.cudnn, p->x_desc, p->y_desc, p->conv_desc, p->w_desc,
                                                       CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1,
                                                       &bytes) == CUDNN_STATUS_SUCCESS &&
        bytes <= bl_cuda.options.workspace_limit) {
        p->filter_algo = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, p->filter_math = fallback_math();
        p->filter_bytes = bytes, p->filter_ready = 1;
        return 1;
    }
    return bl_cuda_record(__FILE__, __LINE__, "conv2d backward-filter algorithm choice",
                          "no algorithm fits the workspace bound and the mode");
}

static int empty(const bl_conv2d_shape *s) {
    return s->n <= 0 || s->c_in <= 0 || s->c_out <= 0 || s->h_out <= 0 || s->w_out <= 0;
}

// y = x ⋆ w (β = 0: written), then y[n,co,:] += b[co]
static void bl_cuda_conv2d_forward(const bl_kernels *, const bl_conv2d_shape *s, const float *x, const float *w,
                            const float *b, float *y) {
    if (empty(s)) return;
    conv_plan *p = find_plan(s);
    if (!p || (!p->fwd_ready && !choose_forward(p))) return;
    void *ws = bl_cuda_workspace(p->fwd_bytes);
    if (p->fwd_bytes && !ws) return;
    const float one = 1.0f, zero = 0.0f;
    if (!CUDNN_OK(cudnnSetConvolutionMathType(p->conv_desc, p->fwd_math))) return;
    if (!CUDNN_OK(cudnnConvolutionForward(bl_cuda.cudnn, &one, p->x_desc, x, p->w_desc, w, p->conv_desc, p->fwd_algo,
                                          ws, p->fwd_bytes, &zero, p->y_desc, y)))
        return;
    if (b) bl_cuda_add_channel_bias(s->n, s->c_out, (int64_t)s->h_out * s->w_out, b, y);
}

// dx += wᵀ ⋆ dy (α = 1, β = 1)
static void bl_cuda_conv2d_backward_data(const bl_kernels *, const bl_conv2d_shape *s, const float *dy, const float *w,
                                  float *dx) {
    if (empty(s) || !dx) return;
    conv_plan *p = find_plan(s);
    if (!p || (!p->data_ready && !choose_backward_data(p))) return;
    void *ws = bl_cuda_workspace(p->data_bytes);
    if (p->data_bytes && !ws) return;
    const float one = 1.0f;
    if (!CUDNN_OK(cudnnSetConvolutionMathType(p->conv_desc, p->data_math))) return;
    CUDNN_OK(cudnnConvolutionBackwardData(bl_cuda.cudnn, &one, p->w_desc, w, p->y_desc, dy, p->conv_desc, p->data_algo,
                                          ws, p->data_bytes, &one, p->x_desc, dx));
}

// dw += Σ_n dy ⋆ x (α = 1, β = 1); db += per-channel Σ dy (our deterministic reduction)
static void bl_cuda_conv2d_backward_filter(const bl_kernels *, const bl_conv2d_shape *s, const float *x, const float *dy,
                                    float *dw, float *db) {
    if (empty(s)) return;
    if (dw) {
        conv_plan *p = find_plan(s);
        if (!p || (!p->filter_ready && !choose_backward_filter(p))) return;
        void *ws = bl_cuda_workspace(p->filter_bytes);
        if (p->filter_bytes && !ws) return;
        const float one = 1.0f;
        if (!CUDNN_OK(cudnnSetConvolutionMathType(p->conv_desc, p->filter_math))) return;
        if (!CUDNN_OK(cudnnConvolutionBackwardFilter(bl_cuda.cudnn, &one, p->x_desc, x, p->y_desc, dy, p->conv_desc,
                                                     p->filter_algo, ws, p->filter_bytes, &one, p->w_desc, dw)))
            return;
    }
    if (db) bl_cuda_channel_sum_accumulate(s->n, s->c_out, (int64_t)s->h_out * s->w_out, dy, db);
}

// cuda/cuda.h: which algorithms a shape uses (after its first use), for tests and `blasto bench` reports.
extern "C" int bl_cuda_conv_describe(const bl_conv2d_shape *s, char *buf, size_t size) {
    for (int i = 0; i < plan_count; i++) {
        const conv_plan *p = plans[i];
        if (memcmp(&p->shape, s, sizeof *s) != 0) continue;
        snprintf(buf, size, "fwd %d (math %d, %zu B) | bwd-data %d (math %d, %zu B) | bwd-filter %d (math %d, %zu B)",
                 p->fwd_ready ? (int)p->fwd_algo : -1, (int)p->fwd_math, p->fwd_bytes,
                 p->data_ready ? (int)p->data_algo : -1, (int)p->data_math, p->data_bytes,
                 p->filter_ready ? (int)p->filter_algo : -1, (int)p->filter_math, p->filter_bytes);
        return 1;
    }
    if (size) buf[0] = '\0';
    return 0;
}

// ---- per-channel bias (conv_transpose2d): ref's formulas in ref's order, so bitwise ref ----

// y[e] = (float)((double)y[e] + b[channel of e])
__global__ static void bias_channels_forward_kernel(int64_t count, bool small, int64_t hw, int c, const float *b,
                                                    float *y) {
    GRID_STRIDE_LOOP(e, count) { y[e] = (float)((double)y[e] + (double)b[bl_cuda_channel_of(e, hw, c, small)]); }
}

// db[ch] += Σ_{n,p} dy[n,ch,p]: one thread per channel, samples then pixels in order (ref's sequential double sum)
__global__ static void bias_channels_backward_kernel(int n, int c, int64_t hw, const float *dy, float *db) {
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    if (ch >= c) return;
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        const float *plane = dy + ((int64_t)i * c + ch) * hw;
        for (int64_t k = 0; k < hw; k++) sum += (double)plane[k];
    }
    db[ch] = (float)((double)db[ch] + sum);
}

static void bl_cuda_bias_channels_forward(const bl_kernels *, int n, int c, int64_t hw, const float *b, float *y) {
    int64_t count = (int64_t)n * c * hw;
    LAUNCH(bias_channels_forward_kernel, count, bl_cuda_small(count), hw, c, b, y);
}

static void bl_cuda_bias_channels_backward(const bl_kernels *, int n, int c, int64_t hw, const float *dy,
                                           float *db) {
    if (c <= 0) return;
    bias_channels_backward_kernel<<<(c + BL_CUDA_THREADS - 1) / BL_CUDA_THREADS, BL_CUDA_THREADS, 0,
                                    bl_cuda.stream>>>(n, c, hw, dy, db);
    CUDA_LAUNCHED("bias_channels_backward_kernel");
}

void bl_cuda_conv2d_slots(bl_kernels *k) {
    k->conv2d_forward = bl_cuda_conv2d_forward;
    k->conv2d_backward_data = bl_cuda_conv2d_backward_data;
    k->conv2d_backward_filter = bl_cuda_conv2d_backward_filter;
    k->bias_channels_forward = bl_cuda_bias_channels_forward;
    k->bias_channels_backward = bl_cuda_bias_channels_backward;
}
