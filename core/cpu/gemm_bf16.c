/* gemm_bf16.c — path choice, the portable kernel and B's packing for the AVX512-BF16 kernel (gemm_bf16.h). */
#include "core/cpu/gemm_bf16.h"

#include <stdlib.h>
#include <string.h>

#include "core/cpu/cpu_features.h"

int bl_bf16_path_available(bl_bf16_path path) {
    /* BLASTO_CPU_ISA: avx2 leaves the path that widens to float32, generic the portable one */
    if ((path == BL_BF16_AVX512BF16 && bl_cpu_isa_cap() < BL_GEMM_KERNEL_AVX512) ||
        (path == BL_BF16_AVX2 && bl_cpu_isa_cap() < BL_GEMM_KERNEL_AVX2))
        return 0;
    switch (path) {
    case BL_BF16_GENERIC: return 1;
#ifdef BLASTO_HAVE_X86_SIMD
    case BL_BF16_AVX2: return bl_cpu_has_avx2_fma();
    case BL_BF16_AVX512BF16: return bl_cpu_has_avx512_bf16();
#else
    case BL_BF16_AVX2:
    case BL_BF16_AVX512BF16: return 0;
#endif
    }
    return 0;
}

const char *bl_bf16_path_name(bl_bf16_path path) {
    switch (path) {
    case BL_BF16_GENERIC: return "generic";
    case BL_BF16_AVX2: return "avx2";
    case BL_BF16_AVX512BF16: return "avx512bf16";
    }
    return "unknown";
}

bl_bf16_path bl_bf16_path_default(void) {
    bl_bf16_path best = bl_bf16_path_available(BL_BF16_AVX512BF16) ? BL_BF16_AVX512BF16
                        : bl_bf16_path_available(BL_BF16_AVX2)     ? BL_BF16_AVX2
                                                                   : BL_BF16_GENERIC;
    const char *wanted = getenv("BLASTO_BF16_KERNEL");
    for (int p = BL_BF16_GENERIC; wanted && p <= BL_BF16_AVX512BF16; p++) /* only ever narrow */
        if (!strcmp(wanted, bl_bf16_path_name((bl_bf16_path)p)) && p <= (int)best &&
            bl_bf16_path_available((bl_bf16_path)p))
            return (bl_bf16_path)p;
    return best;
}

static void gemm_generic(int m, int n, int k, const bl_bf16 *a, const bl_bf16 *b, float *c) {
    for (int i = 0; i < m; i++) {
        float *row = c + (int64_t)i * n;
        for (int j = 0; j < n; j++) row[j] = 0.0f;
        for (int q = 0; q < k; q++) {
            float x = bl_bf16_to_f32(a[(int64_t)i * k + q]);
            const bl_bf16 *brow = b + (int64_t)q * n;
            for (int j = 0; j < n; j++) row[j] += x * bl_bf16_to_f32(brow[j]); /* the product is exact */
        }
    }
}

bl_status bl_gemm_bf16(bl_bf16_path path, int m, int n, int k, const bl_bf16 *a, const bl_bf16 *b, float *c) {
    if (m < 0 || n < 0 || k < 0) return bl_fail(BL_ERR_INVALID, "gemm_bf16: negative size (%d, %d, %d)", m, n, k);
    if (!bl_bf16_path_available(path))
        return bl_fail(BL_ERR_INVALID, "gemm_bf16: path %s: not available on this CPU or build (CPU has: %s)",
                       bl_bf16_path_name(path), bl_cpu_features());
    if (path == BL_BF16_GENERIC) {
        gemm_generic(m, n, k, a, b, c);
        return BL_OK;
    }
#ifdef BLASTO_HAVE_X86_SIMD
    if (path == BL_BF16_AVX2) {
        bl_gemm_bf16_avx2(m, n, k, a, b, c);
        return BL_OK;
    }
    int pairs = (k + 1) / 2;
    uint32_t *bp = malloc(sizeof(uint32_t) * ((size_t)pairs * (size_t)n + 1));
    if (!bp) return bl_fail(BL_ERR_NOMEM, "gemm_bf16: out of memory packing B (%d × %d)", k, n);
    for (int p = 0; p < pairs; p++)
        for (int j = 0; j < n; j++) {
            uint32_t lo = b[(int64_t)(2 * p) * n + j], hi = 2 * p + 1 < k ? b[(int64_t)(2 * p + 1) * n + j] : 0;
            bp[(int64_t)p * n + j] = lo | hi << 16; /* element 2i in the low half, as VDPBF16PS pairs them */
        }
    bl_gemm_bf16_avx512bf16(m, n, k, a, bp, c);
    free(bp);
#endif
    return BL_OK;
}
