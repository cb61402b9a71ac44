// pool2d.cu — max / average / global-average pooling, forward and backward.
//
// One thread per output element (forward) or per input element (backward: a gather over the windows that cover
// it, so each dx element is one double sum rounded once — no atomics, no scatter). Each thread runs ref's loop
// (core/ref/ops.h) for its element in ref's order and precision, so the results are bitwise ref's:
// max pooling keeps the first maximum in row-major window order (a NaN always wins), padding is −inf; average
// pooling divides by the window clipped to the padded input (count_include_pad) or by its in-image part.
#include "cuda/common.h"

static bl_maxpool2d_forward_fn bl_cuda_maxpool2d_forward;
static bl_maxpool2d_backward_fn bl_cuda_maxpool2d_backward;
static bl_avgpool2d_forward_fn bl_cuda_avgpool2d_forward;
static bl_avgpool2d_backward_fn bl_cuda_avgpool2d_backward;
static bl_global_avgpool_forward_fn bl_cuda_global_avgpool_forward;
static bl_global_avgpool_backward_fn bl_cuda_global_avgpool_backward;

// Output positions along one axis whose window covers input position i (ref's pool_windows_covering).
__device__ static void windows_covering(int i, int kernel, int stride, int pad, int out, int *first, int *last) {
    int lowest = i + pad - kernel + 1;
    *first = lowest <= 0 ? 0 : (lowest + stride - 1) / stride;
    *last = (i + pad) / stride;
    if (*last > out - 1) *last = out - 1;
}

// Split a flat index e of an [nc, h, w] tensor into (nc, row, column); 32-bit arithmetic when the tensor's element
// count fits (`small`, decided per launch on the host), 64-bit otherwise.
__device__ __forceinline__ static void split_index(int64_t e, int h, int w, bool small, int64_t *nc, int *row,
                                                   int *col) {
    if (small) {
        uint32_t rest = (uint32_t)e / (uint32_t)w;
        *col = (int)((uint32_t)e - rest * (uint32_t)w);
        uint32_t plane = rest / (uint32_t)h;
        *row = (int)(rest - plane * (uint32_t)h);
        *nc = (int64_t)plane;
    } else {
        int64_t rest = e / w;
        *col = (int)(e - rest * w);
        *nc = rest / h;
        *row = (int)(rest - *nc * h);
    }
}

// Index within one [h_in,w_in] plane of window (oh,ow)'s maximum (ref's maxpool2d_argmax).
__device__ static int64_t maxpool_argmax(const bl_pool2d_shape s, const float *plane, int oh, int ow) {
    int h_start = oh * s.stride_h - s.pad_h, w_start = ow * s.stride_w - s.pad_w;
    int h_first = h_start < 0 ? 0 : h_start, w_first = w_start < 0 ? 0 : w_start;
    int h_end = h_start + s.kh < s.h_in ? h_start + s.kh : s.h_in;
    int w_end = w_start + s.kw < s.w_in ? w_start + s.kw : s.w_in;
    int64_t best = (int64_t)h_first * s.w_in + w_first;
    double best_value = -INFINITY;
    for (int ih = h_first; ih < h_end; ih++)
        for (int iw = w_first; iw < w_end; iw++) {
            double value = (double)plane[(int64_t)ih * s.w_in + iw];
            if (value > best_value || isnan(value)) {
                best_value = value;
                best = (int64_t)ih * s.w_in + iw;
            }
        }
    return best;
}

__global__ static void maxpool_forward_kernel(int64_t count, bool small, const bl_pool2d_shape s, const float *x,
                                              float *y) {
    int64_t in_plane = (int64_t)s.h_in * s.w_in;
    GRID_STRIDE_LOOP(e, count) {
        int64_t nc;
        int oh, ow;
        split_index(e, s.h_out, s.w_out, small, &nc, &oh, &ow);
        const float *xp = x + nc * in_plane;
        y[e] = xp[maxpool_argmax(s, xp, oh, ow)];
    }
}

__global__ static void maxpool_backward_kernel(int64_t count, bool small, const bl_pool2d_shape s, const float *x,
                                               const float *dy, float *dx) {
    int64_t in_plane = (int64_t)s.h_in * s.w_in, out_plane = (int64_t)s.h_out * s.w_out;
    GRID_STRIDE_LOOP(e, count) {
        int64_t nc;
        int ih, iw;
        split_index(e, s.h_in, s.w_in, small, &nc, &ih, &iw);
        const float *xp = x + nc * in_plane;
        int oh_first, oh_last, ow_first, ow_last;
        windows_covering(ih, s.kh, s.stride_h, s.pad_h, s.h_out, &oh_first, &oh_last);
        windows_covering(iw, s.kw, s.stride_w, s.pad_w, s.w_out, &ow_first, &ow_last);
        int64_t here = (int64_t)ih * s.w_in + iw;
        double sum = 0.0;
        for (int oh = oh_first; oh <= oh_last; oh++)
            for (int ow = ow_first; ow <= ow_last; ow++)
                if (maxpool_argmax(s, xp, oh, ow) == here)
                    sum += (double)dy[nc * out_plane + (int64_t)oh * s.w_out + ow];
        dx[e] = (float)((double)dx[e] + sum);
    }
}

// Divisor of window (oh,ow) and its in-image range [h_first,h_end) × [w_first,w_end) (ref's avgpool2d_window).
__device__ static double avgpool_window(const bl_pool2d_shape s, int oh, int ow, int *h_first, int *h_end, int *w_first,
                                        int *w_end) {
    int h_start = oh * s.stride_h - s.pad_h, w_start = ow * s.stride_w - s.pad_w;
    int h_stop_padded = h_start + s.kh < s.h_in + s.pad_h ? h_start + s.kh : s.h_in + s.pad_h;
    int w_stop_padded = w_start + s.kw < s.w_in + s.pad_w ? w_start + s.kw : s.w_in + s.pad_w;
    int padded_size = (h_stop_padded - h_start) * (w_stop_padded - w_start);
    *h_first = h_start < 0 ? 0 : h_start;
    *w_first = w_start < 0 ? 0 : w_start;
    *h_end = h_stop_padded < s.h_in ? h_stop_padded : s.h_in;
    *w_end = w_stop_padded < s.w_in ? w_stop_padded : s.w_in;
    int real_size = (*h_end - *h_first) * (*w_end - *w_first);
    return s.count_include_pad ? (double)padded_size : (double)real_size;
}

__global__ static void avgpool_forward_kernel(int64_t count, bool small, const bl_pool2d_shape s, const float *x,
                                              float *y) {
    int64_t in_plane = (int64_t)s.h_in * s.w_in;
    GRID_STRIDE_LOOP(e, count) {
        int64_t nc;
        int oh, ow;
        split_index(e, s.h_out, s.w_out, small, &nc, &oh, &ow);
        const float *xp = x + nc * in_plane;
        int h_first, h_end, w_first, w_end;
        double divisor = avgpool_window(s, oh, ow, &h_first, &h_end, &w_first, &w_end);
        double sum = 0.0;
        for (int ih = h_first; ih < h_end; ih++)
            for (int iw = w_first; iw < w_end; iw++) sum += (double)xp[(int64_t)ih * s.w_in + iw];
        y[e] = (float)(sum / divisor);
    }
}

__global__ static void avgpool_backward_kernel(int64_t count, bool small, const bl_pool2d_shape s, const float *dy,
                                               float *dx) {
    int64_t out_plane = (int64_t)s.h_out * s.w_out;
    GRID_STRIDE_LOOP(e, count) {
        int64_t nc;
        int ih, iw;
        split_index(e, s.h_in, s.w_in, small, &nc, &ih, &iw);
        int oh_first, oh_last, ow_first, ow_last;
        windows_covering(ih, s.kh, s.stride_h, s.pad_h, s.h_out, &oh_first, &oh_last);
        windows_covering(iw, s.kw, s.stride_w, s.pad_w, s.w_out, &ow_first, &ow_last);
        double sum = 0.0;
        for (int oh = oh_first; oh <= oh_last; oh++)
            for (int ow = ow_first; ow <= ow_last; ow++) {
                int h_first, h_end, w_first, w_end;
                double divisor = avgpool_window(s, oh, ow, &h_first, &h_end, &w_first, &w_end);
                sum += (double)dy[nc * out_plane + (int64_t)oh * s.w_out + ow] / divisor;
            }
        dx[e] = (float)((double)dx[e] + sum);
    }
}

// y[i] = (Σ_j x[i,j])/hw, one thread per row, sequential in j (ref's order)
__global__ static void global_avgpool_forward_kernel(int64_t nc, int64_t hw, const float *x, float *y) {
    GRID_STRIDE_LOOP(i, nc) {
        double sum = 0.0;
        for (int64_t j = 0; j < hw; j++) sum += (double)x[i * hw + j];
        y[i] = (float)(sum / (double)hw);
    }
}

// dx[i,j] += dy[i]/hw
__global__ static void global_avgpool_backward_kernel(int64_t count, int64_t hw, const float *dy, float *dx) {
    GRID_STRIDE_LOOP(e, count) {
        double share = (double)dy[e / hw] / (double)hw;
        dx[e] = (float)((double)dx[e] + share);
    }
}

static void bl_cuda_maxpool2d_forward(const bl_kernels *, const bl_pool2d_shape *s, const float *x, float *y) {
    int64_t count = (int64_t)s->n * s->c * s->h_out * s->w_out;
    LAUNCH(maxpool_forward_kernel, count, bl_cuda_small(count), *s, x, y);
}
static void bl_cuda_maxpool2d_backward(const bl_kernels *, const bl_pool2d_shape *s, const float *x, const float *dy,
                                float *dx) {
    int64_t count = (int64_t)s->n * s->c * s->h_in * s->w_in;
    LAUNCH(maxpool_backward_kernel, count, bl_cuda_small(count), *s, x, dy, dx);
}
static void bl_cuda_avgpool2d_forward(const bl_kernels *, const bl_pool2d_shape *s, const float *x, float *y) {
    int64_t count = (int64_t)s->n * s->c * s->h_out * s->w_out;
    LAUNCH(avgpool_forward_kernel, count, bl_cuda_small(count), *s, x, y);
}
static void bl_cuda_avgpool2d_backward(const bl_kernels *, const bl_pool2d_shape *s, const float *dy, float *dx) {
    int64_t count = (int64_t)s->n * s->c * s->h_in * s->w_in;
    LAUNCH(avgpool_backward_kernel, count, bl_cuda_small(count), *s, dy, dx);
}
static void bl_cuda_global_avgpool_forward(const bl_kernels *, int64_t nc, int64_t hw, const float *x, float *y) {
    if (hw <= 0) return;
    LAUNCH(global_avgpool_forward_kernel, nc, hw, x, y);
}
static void bl_cuda_global_avgpool_backward(const bl_kernels *, int64_t nc, int64_t hw, const float *dy, float *dx) {
    if (hw <= 0) return;
    int64_t count = nc * hw;
    LAUNCH(global_avgpool_backward_kernel, count, hw, dy, dx);
}

void bl_cuda_pool2d_slots(bl_kernels *k) {
    k->maxpool2d_forward = bl_cuda_maxpool2d_forward;
    k->maxpool2d_backward = bl_cuda_maxpool2d_backward;
    k->avgpool2d_forward = bl_cuda_avgpool2d_forward;
    k->avgpool2d_backward = bl_cuda_avgpool2d_backward;
    k->global_avgpool_forward = bl_cuda_global_avgpool_forward;
    k->global_avgpool_backward = bl_cuda_global_avgpool_backward;
}
