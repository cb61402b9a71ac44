// resize.cu — bilinear resizing (align_corners=False), forward and backward: ref's formulas in ref's order (the
// same double taps and products, one thread per output element forward and per input element backward, a gather),
// so bitwise ref (the build has no FMA contraction: --fmad=false).
#include "cuda/common.h"

static bl_upsample_bilinear2d_forward_fn bl_cuda_upsample_bilinear2d_forward;
static bl_upsample_bilinear2d_backward_fn bl_cuda_upsample_bilinear2d_backward;

// the taps of output o along one axis (core/ref/ref.c bilinear_tap_at: the same double arithmetic)
struct bilinear_tap {
    int index[2];
    double weight[2];
};

__device__ static bilinear_tap bilinear_tap_at(int o, int in, int out) {
    double src = ((double)in / (double)out) * ((double)o + 0.5) - 0.5;
    if (src < 0) src = 0;
    int i0 = (int)src;
    if (i0 > in - 1) i0 = in - 1;
    double lambda = src - i0;
    bilinear_tap t;
    t.index[0] = i0;
    t.index[1] = i0 < in - 1 ? i0 + 1 : i0;
    t.weight[0] = 1.0 - lambda;
    t.weight[1] = lambda;
    return t;
}

__device__ static double bilinear_weight_of(bilinear_tap t, int i) {
    return (t.index[0] == i ? t.weight[0] : 0.0) + (t.index[1] == i ? t.weight[1] : 0.0);
}

// the contiguous range of outputs whose taps include input i (ref.c bilinear_outputs_of)
__device__ static void bilinear_outputs_of(int i, int in, int out, int *first, int *last) {
    int lo = 0, hi = out;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (bilinear_tap_at(mid, in, out).index[1] >= i) hi = mid;
        else lo = mid + 1;
    }
    *first = lo;
    lo = 0, hi = out;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (bilinear_tap_at(mid, in, out).index[0] > i) hi = mid;
        else lo = mid + 1;
    }
    *last = lo - 1;
}

__global__ static void bilinear_forward_kernel(int64_t count, bl_resize_shape s, const float *x, float *y) {
    GRID_STRIDE_LOOP(e, count) {
        int ow = (int)(e % s.w_out);
        int oh = (int)((e / s.w_out) % s.h_out);
        int64_t plane = e / ((int64_t)s.w_out * s.h_out);
        const float *xp = x + plane * s.h_in * s.w_in;
        bilinear_tap th = bilinear_tap_at(oh, s.h_in, s.h_out), tw = bilinear_tap_at(ow, s.w_in, s.w_out);
        double sum = 0.0;
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++)
                sum += th.weight[a] * tw.weight[b] * (double)xp[(int64_t)th.index[a] * s.w_in + tw.index[b]];
        y[e] = (float)sum;
    }
}

__global__ static void bilinear_backward_kernel(int64_t count, bl_resize_shape s, const float *dy, float *dx) {
    GRID_STRIDE_LOOP(e, count) {
        int iw = (int)(e % s.w_in);
        int ih = (int)((e / s.w_in) % s.h_in);
        int64_t plane = e / ((int64_t)s.w_in * s.h_in);
        const float *dyp = dy + plane * s.h_out * s.w_out;
        int oh_first, oh_last, ow_first, ow_last;
        bilinear_outputs_of(ih, s.h_in, s.h_out, &oh_first, &oh_last);
        bilinear_outputs_of(iw, s.w_in, s.w_out, &ow_first, &ow_last);
        double sum = 0.0;
        for (int oh = oh_first; oh <= oh_last; oh++) {
            double wh = bilinear_weight_of(bilinear_tap_at(oh, s.h_in, s.h_out), ih);
            for (int ow = ow_first; ow <= ow_last; ow++) {
                double ww = bilinear_weight_of(bilinear_tap_at(ow, s.w_in, s.w_out), iw);
                sum += wh * ww * (double)dyp[(int64_t)oh * s.w_out + ow];
            }
        }
        dx[e] = (float)((double)dx[e] + sum);
    }
}

static void bl_cuda_upsample_bilinear2d_forward(const bl_kernels *, const bl_resize_shape *s, const float *x,
                                                float *y) {
    int64_t count = (int64_t)s->n * s->c * s->h_out * s->w_out;
    LAUNCH(bilinear_forward_kernel, count, *s, x, y);
}

static void bl_cuda_upsample_bilinear2d_backward(const bl_kernels *, const bl_resize_shape *s, const float *dy,
                                                 float *dx) {
    int64_t count = (int64_t)s->n * s->c * s->h_in * s->w_in;
    LAUNCH(bilinear_backward_kernel, count, *s, dy, dx);
}

void bl_cuda_resize_slots(bl_kernels *k) {
    k->upsample_bilinear2d_forward = bl_cuda_upsample_bilinear2d_forward;
    k->upsample_bilinear2d_backward = bl_cuda_upsample_bilinear2d_backward;
}
