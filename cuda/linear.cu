// linear.cu — sgemm and linear through cuBLAS; the bias of linear and its gradient by our kernels.
//
// Row-major ↔ column-major. Our buffers are row-major; cuBLAS is column-major. A row-major matrix X [r,c] with row
// stride ld IS, read column-major with leading dimension ld, the matrix Xᵀ [c,r]. So the row-major product
//     C[m,n] = op(A)·op(B)            is, in cuBLAS's view,      Cᵀ[n,m] = op(B)ᵀ·op(A)ᵀ,
// and since cuBLAS sees Bᵀ where we store B, "op(B)ᵀ" is cuBLAS's op(B) with the SAME transpose flag:
//     cublasSgemm(opB, opA, n, m, k, α, B, ldb, A, lda, β, C, ldc)
// (swap the operands and the m/n sizes, keep the flags and the leading dimensions). β = 0: cuBLAS does not read C.
//
// Math mode: CUBLAS_DEFAULT_MATH keeps fp32 inputs at fp32 (no TF32: the default mode only uses compute precisions
// with at least the requested mantissa); --tf32 selects CUBLAS_TF32_TENSOR_OP_MATH. The environment variable
// NVIDIA_TF32_OVERRIDE=1 could still force TF32 behind our back; docs/cuda.md says so.
#include "cuda/common.h"

static bl_sgemm_fn bl_cuda_sgemm;
static bl_linear_forward_fn bl_cuda_linear_forward;
static bl_linear_backward_fn bl_cuda_linear_backward;

void bl_cuda_blas_set_math(void) {
    cublasMath_t mode = bl_cuda.options.tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH;
    CUBLAS_OK(cublasSetMathMode(bl_cuda.cublas, mode));
}

static void bl_cuda_sgemm(const bl_kernels *, int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                   int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        // C = β·C (cuBLAS handles k = 0 the same way, but our contract allows NaN garbage in C when β = 0)
        if (beta == 0.0f) {
            for (int i = 0; i < m; i++) bl_cuda_fill(n, 0.0f, c + (int64_t)i * ldc);
            return;
        }
    }
    cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    CUBLAS_OK(cublasSgemm(bl_cuda.cublas, op_b, op_a, n, m, k, &alpha, b, ldb, a, lda, &beta, c, ldc));
}

// y[n,out] = x[n,in]·wᵀ (+ b): sgemm(N, T) then the bias added per column.
static void bl_cuda_linear_forward(const bl_kernels *, int n, int in, int out, const float *x, const float *w, const float *b,
                            float *y) {
    bl_cuda_sgemm(NULL, 0, 1, n, out, in, 1.0f, x, in, w, in, 0.0f, y, out);
    if (b) bl_cuda_add_channel_bias(n, out, 1, b, y);
}

// dx[n,in] += dy[n,out]·w[out,in];  dw[out,in] += dy[n,out]ᵀ·x[n,in];  db[out] += Σ_rows dy  (β = 1: accumulate)
static void bl_cuda_linear_backward(const bl_kernels *, int n, int in, int out, const float *x, const float *w,
                             const float *dy, float *dx, float *dw, float *db) {
    if (dx) bl_cuda_sgemm(NULL, 0, 0, n, in, out, 1.0f, dy, out, w, in, 1.0f, dx, in);
    if (dw) bl_cuda_sgemm(NULL, 1, 0, out, in, n, 1.0f, dy, out, x, in, 1.0f, dw, in);
    if (db) bl_cuda_channel_sum_accumulate(n, out, 1, dy, db);
}

void bl_cuda_linear_slots(bl_kernels *k) {
    k->sgemm = bl_cuda_sgemm;
    k->linear_forward = bl_cuda_linear_forward;
    k->linear_backward = bl_cuda_linear_backward;
}
