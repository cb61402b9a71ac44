/* core/ref/sgemm.h — the ref kernels of sgemm: C = alpha·op(A)·op(B) + beta·C.
 * A template compiled twice (float, then double) by core/ref/ref.c: see core/ref/ops.h for the macros it
 * uses (real, REF_FN, REAL_FMA) and the numerics every ref kernel shares. Not a header: no include guard. */

/* ============================================================================================================
 * linear algebra
 * ========================================================================================================== */

/* C[m,n] = alpha · op(A) · op(B) + beta · C.
 * in a: [m,k] with row stride lda (or [k,m] when trans_a), in b: [k,n] with row stride ldb (or [n,k] when
 * trans_b), io c: [m,n] with row stride ldc — read only when beta != 0 (beta == 0 overwrites NaN garbage too). */
void REF_FN(sgemm_ref)(REF_SELF int trans_a, int trans_b, int m, int n, int k, real alpha, const real *a, int lda,
                       const real *b, int ldb, real beta, real *c, int ldc) {
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            double dot = 0.0;
            for (int p = 0; p < k; p++) {
                double a_ip = trans_a ? a[(int64_t)p * lda + i] : a[(int64_t)i * lda + p];
                double b_pj = trans_b ? b[(int64_t)j * ldb + p] : b[(int64_t)p * ldb + j];
                dot += a_ip * b_pj;
            }
            double result = (double)alpha * dot;
            if (beta != 0) result += (double)beta * c[(int64_t)i * ldc + j];
            c[(int64_t)i * ldc + j] = (real)result;
        }
    }
}
