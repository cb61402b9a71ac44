/* cpu_features.c — run-time CPU feature detection and the choice of GEMM micro-kernel (see cpu_features.h).
 *
 * Detection uses the compiler's __builtin_cpu_supports, which reads CPUID and also checks (via XGETBV) that the
 * OS saves the AVX / AVX-512 register state; it exists on x86 only, so other targets report no features. A
 * kernel counts as available only when this build compiled it (BLASTO_HAVE_X86_SIMD) and the CPU supports it. */
#include "core/cpu/cpu_features.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu/gemm.h"

int bl_cpu_has_avx2_fma(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

int bl_cpu_has_avx512(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    /* the AVX-512 kernel file is compiled with -mavx512f -mavx512vl -mavx512dq: all three are required */
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq") && bl_cpu_has_avx2_fma();
#else
    return 0;
#endif
}

int bl_cpu_has_avx512_bf16(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}

int bl_cpu_isa_parse(const char *text, bl_gemm_kernel_kind *out) {
    static const char *const names[3] = {"generic", "avx2", "avx512"};
    for (int i = 0; text && i < 3; i++)
        if (!strcmp(text, names[i])) return *out = (bl_gemm_kernel_kind)i, 1;
    return 0;
}

bl_gemm_kernel_kind bl_cpu_isa_cap(void) {
    bl_gemm_kernel_kind cap = BL_GEMM_KERNEL_AVX512;
    const char *text = getenv("BLASTO_CPU_ISA");
    if (text && *text && !bl_cpu_isa_parse(text, &cap)) cap = BL_GEMM_KERNEL_AVX512; /* the command refuses it */
    return cap;
}

int bl_gemm_kernel_available(bl_gemm_kernel_kind kind) {
    if (kind > bl_cpu_isa_cap()) return 0;
    switch (kind) {
    case BL_GEMM_KERNEL_GENERIC: return 1;
#ifdef BLASTO_HAVE_X86_SIMD
    case BL_GEMM_KERNEL_AVX2: return bl_cpu_has_avx2_fma();
    case BL_GEMM_KERNEL_AVX512: return bl_cpu_has_avx512();
#else
    case BL_GEMM_KERNEL_AVX2:
    case BL_GEMM_KERNEL_AVX512: return 0;
#endif
    }
    return 0;
}

const char *bl_cpu_features(void) {
    static char text[96];
    static atomic_int ready;
    if (atomic_load_explicit(&ready, memory_order_acquire)) return text;
    /* building the same string twice in two threads writes identical bytes; the flag only skips the work */
    char local[96] = "";
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    /* __builtin_cpu_supports needs a string literal, hence the macro */
#define APPEND_IF_SUPPORTED(feature)                                   \
    if (__builtin_cpu_supports(feature)) {                             \
        if (local[0]) strcat(local, " ");                              \
        strcat(local, feature);                                        \
    }
    APPEND_IF_SUPPORTED("sse4.2")
    APPEND_IF_SUPPORTED("avx")
    APPEND_IF_SUPPORTED("avx2")
    APPEND_IF_SUPPORTED("fma")
    APPEND_IF_SUPPORTED("avx512f")
    APPEND_IF_SUPPORTED("avx512vl")
    APPEND_IF_SUPPORTED("avx512dq")
    APPEND_IF_SUPPORTED("avx512bw")
    APPEND_IF_SUPPORTED("avx512bf16")
#undef APPEND_IF_SUPPORTED
#endif
    if (!local[0]) strcpy(local, "none");
    memcpy(text, local, sizeof text);
    atomic_store_explicit(&ready, 1, memory_order_release);
    return text;
}

static bl_gemm_kernel_kind best_available(void) {
    if (bl_gemm_kernel_available(BL_GEMM_KERNEL_AVX512)) return BL_GEMM_KERNEL_AVX512;
    if (bl_gemm_kernel_available(BL_GEMM_KERNEL_AVX2)) return BL_GEMM_KERNEL_AVX2;
    return BL_GEMM_KERNEL_GENERIC;
}

bl_gemm_kernel_kind bl_gemm_kernel_default(void) {
    bl_gemm_kernel_kind kind = best_available();
    const char *wanted = getenv("BLASTO_GEMM_KERNEL");
    if (!wanted) return kind;
    bl_gemm_kernel_kind asked = kind;
    if (strcmp(wanted, "generic") == 0) asked = BL_GEMM_KERNEL_GENERIC;
    else if (strcmp(wanted, "avx2") == 0) asked = BL_GEMM_KERNEL_AVX2;
    else if (strcmp(wanted, "avx512") == 0) asked = BL_GEMM_KERNEL_AVX512;
    /* only ever narrow: an unknown name or a kernel the CPU lacks leaves the best one */
    return bl_gemm_kernel_available(asked) ? asked : kind;
}

const char *bl_gemm_kernel_name(bl_gemm_kernel_kind kind) {
    const bl_gemm_microkernel *kernel = bl_gemm_microkernel_for(kind);
    return kernel ? kernel->name : "generic C";
}

const char *bl_gemm_kernel_kind_name(bl_gemm_kernel_kind kind) {
    switch (kind) {
    case BL_GEMM_KERNEL_GENERIC: return "generic";
    case BL_GEMM_KERNEL_AVX2: return "avx2";
    case BL_GEMM_KERNEL_AVX512: return "avx512";
    }
    return "unknown";
}
