/* gemm_bf16.h — bf16 matrix products with float32 accumulation, the building block of the cpu backend's bf16 convolution
 * and linear layers (docs/mixed-precision.md).
 *
 * C[m, n] = Σ_k A[m, k]·B[k, n] for bf16 A [M, K] and B [K, N] (row-major), float32 C [M, N] (row-major). Each
 * product of two bf16 values is exact in float32 (8 × 8 significant bits); the sums are float32, in k order for
 * each output element, one rounding per addition — so every path obeys the recursive-summation bound
 * |C − exact| ≤ γ_(K−1)·Σ_k |A[m,k]·B[k,n]| (docs/mixed-precision.md, "The oracle and the bounds"). Paths:
 *   generic     portable C: acc += a·b in k order (bitwise what a fused multiply-add would give: the product is exact)
 *   avx2        8 columns at a time, widened to float32, FMA in k order — bitwise equal to generic
 *   avx512bf16  VDPBF16PS on k pairs, 16 columns at a time: per pair acc + a₂ᵢ₊₁·b₂ᵢ₊₁, then + a₂ᵢ·b₂ᵢ (Intel's
 *               order); the instruction treats subnormal inputs as zero and flushes subnormal sums to zero, which
 *               adds at most 2^-126 per input and per addition (the bound's absolute term)
 * The default is the best path the CPU has; BLASTO_BF16_KERNEL=generic|avx2|avx512bf16 narrows it (tests force each
 * path). */
#ifndef BLASTO_GEMM_BF16_H
#define BLASTO_GEMM_BF16_H

#include <stdint.h>

#include "core/bf16.h"
#include "core/status.h"

typedef enum bl_bf16_path { BL_BF16_GENERIC = 0, BL_BF16_AVX2 = 1, BL_BF16_AVX512BF16 = 2 } bl_bf16_path;

/* Non-zero when this build has the path and the running CPU supports it. */
int bl_bf16_path_available(bl_bf16_path path);
bl_bf16_path bl_bf16_path_default(void);
const char *bl_bf16_path_name(bl_bf16_path path); /* "generic", "avx2", "avx512bf16" */

/* C = A·B on `path` (an unavailable path is refused: BL_ERR_INVALID). m, n, k ≥ 0. */
bl_status bl_gemm_bf16(bl_bf16_path path, int m, int n, int k, const bl_bf16 *a, const bl_bf16 *b, float *c);

/* The per-ISA kernels (gemm_bf16_avx2.c, gemm_bf16_avx512bf16.c); called only through bl_gemm_bf16. bp: B packed
 * for VDPBF16PS, [ceil(K/2)][N][2] (rows k and k+1 interleaved, a zero row after an odd K). */
void bl_gemm_bf16_avx2(int m, int n, int k, const bl_bf16 *a, const bl_bf16 *b, float *c);
void bl_gemm_bf16_avx512bf16(int m, int n, int k, const bl_bf16 *a, const uint32_t *bp, float *c);

#endif
