// concat_channels.cu — concat along channels, forward (a copy into the channel slice) and backward (the slice of dy
// added into dx): one thread per element of the part, bitwise ref (a float copy; a double sum of two floats rounded
// once, which is the float sum).
#include "cuda/common.h"

static bl_concat_channels_forward_fn bl_cuda_concat_channels_forward;
static bl_concat_channels_backward_fn bl_cuda_concat_channels_backward;

// element e of the part x [n, c_part, hw] ↔ y[b, c_off + c, k] with e = (b·c_part + c)·hw + k
__global__ static void concat_forward_kernel(int64_t count, int c_part, int c_total, int c_off, int64_t hw,
                                             const float *x, float *y) {
    GRID_STRIDE_LOOP(e, count) {
        int64_t k = e % hw, bc = e / hw;
        int64_t c = bc % c_part, b = bc / c_part;
        y[(b * c_total + c_off + c) * hw + k] = x[e];
    }
}
// (32-bit index arithmetic when dy's element count fits: `small`, as bl_cuda_channel_of)
__global__ static void concat_backward_kernel(int64_t count, bool small, int c_part, int c_total, int c_off, int64_t hw,
                                              const float *dy, float *dx) {
    GRID_STRIDE_LOOP(e, count) {
        int64_t k, c, b;
        if (small) {
            uint32_t bc = (uint32_t)e / (uint32_t)hw;
            k = (int64_t)((uint32_t)e - bc * (uint32_t)hw);
            b = (int64_t)(bc / (uint32_t)c_part);
            c = (int64_t)(bc - (uint32_t)b * (uint32_t)c_part);
        } else {
            int64_t bc = e / hw;
            k = e - bc * hw;
            b = bc / c_part;
            c = bc - b * c_part;
        }
        dx[e] = (float)((double)dx[e] + (double)dy[(b * c_total + c_off + c) * hw + k]);
    }
}
static void bl_cuda_concat_channels_forward(const bl_kernels *, int n, int c_part, int c_total, int c_off, int64_t hw,
                                     const float *x, float *y) {
    if (hw <= 0 || c_part <= 0 || n <= 0) return;
    size_t row = (size_t)c_part * (size_t)hw * sizeof(float), pitch = (size_t)c_total * (size_t)hw * sizeof(float);
    if (pitch <= (size_t)INT32_MAX) {
        // a strided 2-D copy: n rows of c_part·hw floats, source pitch c_part·hw, destination pitch c_total·hw
        CUDA_OK(cudaMemcpy2DAsync(y + (int64_t)c_off * hw, pitch, x, row, row, (size_t)n, cudaMemcpyDeviceToDevice,
                                  bl_cuda.stream));
        return;
    }
    int64_t count = (int64_t)n * c_part * hw;  // pitches beyond what cudaMemcpy2D accepts
    LAUNCH(concat_forward_kernel, count, c_part, c_total, c_off, hw, x, y);
}
static void bl_cuda_concat_channels_backward(const bl_kernels *, int n, int c_part, int c_total, int c_off, int64_t hw,
                                      const float *dy, float *dx) {
    if (hw <= 0 || c_part <= 0) return;
    int64_t count = (int64_t)n * c_part * hw;
    LAUNCH(concat_backward_kernel, count, bl_cuda_small((int64_t)n * c_total * hw), c_part, c_total, c_off, hw, dy, dx);
}

void bl_cuda_concat_channels_slots(bl_kernels *k) {
    k->concat_channels_forward = bl_cuda_concat_channels_forward;
    k->concat_channels_backward = bl_cuda_concat_channels_backward;
}
