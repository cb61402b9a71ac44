/* cpu_features.h — what the running CPU can do, and which GEMM micro-kernels it can therefore run.
 *
 * The fast CPU backend is compiled once for generic x86-64 (or any other target); the AVX2 and AVX-512 kernels
 * live in their own files compiled with those ISA flags and are called only after this module has checked, at run
 * time, that the CPU (and the OS, which must save the wider registers) supports them. On non-x86 builds every
 * query answers "no" and the plain C kernel runs.
 *
 * A cpu backend uses the family its options name (core/cpu/cpu.h, `simd`); the default is the best one, which the
 * environment variable BLASTO_GEMM_KERNEL=generic|avx2|avx512 can narrow (asking for one the CPU lacks leaves the
 * best available), and BLASTO_CPU_ISA caps (below). */
#ifndef BLASTO_CPU_FEATURES_H
#define BLASTO_CPU_FEATURES_H

#include "core/status.h"

/* The GEMM micro-kernel families, narrowest first. */
typedef enum bl_gemm_kernel_kind {
    BL_GEMM_KERNEL_GENERIC = 0, /* portable C, any CPU */
    BL_GEMM_KERNEL_AVX2 = 1,    /* AVX2 + FMA (x86-64, Haswell / Zen 1 and later) */
    BL_GEMM_KERNEL_AVX512 = 2,  /* AVX-512F (+VL, DQ) */
} bl_gemm_kernel_kind;

/* The widest instruction set blasto may use: BLASTO_CPU_ISA=generic|avx2|avx512 caps every SIMD choice of the cpu
 * backend (GEMM micro-kernels, convolution transforms, batchnorm, the bf16 products), so an AVX-512 machine measures
 * what an AVX2-only one runs; unset (or avx512), no cap. bl_cpu_isa_parse: "generic"|"avx2"|"avx512" → *out, 1;
 * anything else 0 (the blasto command refuses such a value before it runs; the library then ignores it). */
bl_gemm_kernel_kind bl_cpu_isa_cap(void);
int bl_cpu_isa_parse(const char *text, bl_gemm_kernel_kind *out);

/* Non-zero when this build contains the kernel, the running CPU supports it and BLASTO_CPU_ISA allows it. */
int bl_cpu_has_avx2_fma(void);
int bl_cpu_has_avx512(void);
int bl_cpu_has_avx512_bf16(void); /* AVX512-BF16 (VDPBF16PS): the bf16 path of gemm_bf16.h */
int bl_gemm_kernel_available(bl_gemm_kernel_kind kind);

/* Space-separated features blasto cares about that the CPU has, e.g. "avx2 fma avx512f avx512bf16"; "none" when
 * none. */
const char *bl_cpu_features(void);

/* The best available kernel, narrowed by BLASTO_GEMM_KERNEL when set. */
bl_gemm_kernel_kind bl_gemm_kernel_default(void);

/* The micro-kernel of a family, e.g. "avx512 8x32", and the family's short name ("generic", "avx2", "avx512"). */
const char *bl_gemm_kernel_name(bl_gemm_kernel_kind kind);
const char *bl_gemm_kernel_kind_name(bl_gemm_kernel_kind kind);

#endif
