/* linear.c — the cpu backend's linear kernels: two GEMMs on the packed SGEMM (gemm.h) and the bias.
 * y = x · wᵀ + b forward; dx += dy · w, dw += dyᵀ · x, db += Σ_rows dy backward (kernels.h). */
#include <stdint.h>

#include "core/cpu/cpu_ops.h"
#include "core/cpu/gemm.h"

static bl_linear_forward_fn linear_forward_cpu;
static bl_linear_backward_fn linear_backward_cpu;

/* in x [n,in], in w [out,in], in b [out] or NULL, out y [n,out]:  y = x · wᵀ + b */
static void linear_forward_cpu(const bl_kernels *self, int n, int in, int out, const float *x, const float *w, const float *b,
                        float *y) {
    if (n <= 0 || out <= 0) return;
    bl_sgemm_cpu(&bl_cpu_state_of(self)->gemm, 0, 1, n, out, in, 1.0f, x, in, w, in, 0.0f, y, out);
    if (b)
        for (int r = 0; r < n; r++)
            for (int o = 0; o < out; o++) y[(int64_t)r * out + o] += b[o];
}

/* in x [n,in], in w [out,in], in dy [n,out]; acc dx [n,in] += dy · w, acc dw [out,in] += dyᵀ · x,
 * acc db [out] += Σ_r dy[r,:] (double, rows in order); each may be NULL */
static void linear_backward_cpu(const bl_kernels *self, int n, int in, int out, const float *x, const float *w,
                         const float *dy, float *dx, float *dw, float *db) {
    if (n <= 0 || out <= 0) return;
    const bl_gemm_config *gemm = &bl_cpu_state_of(self)->gemm;
    if (dx) bl_sgemm_cpu(gemm, 0, 0, n, in, out, 1.0f, dy, out, w, in, 1.0f, dx, in);
    if (dw) bl_sgemm_cpu(gemm, 1, 0, out, in, n, 1.0f, dy, out, x, in, 1.0f, dw, in);
    if (db)
        for (int o = 0; o < out; o++) {
            double sum = 0.0;
            for (int r = 0; r < n; r++) sum += dy[(int64_t)r * out + o];
            db[o] += (float)sum;
        }
}

void bl_cpu_linear_slots(bl_kernels *k) {
    k->linear_forward = linear_forward_cpu;
    k->linear_backward = linear_backward_cpu;
}
