/* cpu_features.h — what the running CPU can do, and which GEMM micro-kernel blasto therefore uses.
 *
 * The fast CPU backend is compiled once for generic x86-64 (or any other target); the AVX2 and AVX-512 kernels
 * live in their own files compiled with those ISA flags and are called only after this module has checked, at run
 * time, that the CPU (and the OS, which must save the wider registers) supports them. On non-x86 builds every
 * query answers "no" and the plain C kernel runs.
 *
 * The environment variable BLASTO_GEMM_KERNEL=generic|avx2|avx512 picks a narrower kernel than the best one (tests
 * use it to exercise every variant); asking for one the CPU lacks falls back to the best available. */
#ifndef BLASTO_CPU_FEATURES_H
#define BLASTO_CPU_FEATURES_H

#include "core/status.h"

/* The GEMM micro-kernel families, narrowest first. */
typedef enum bl_gemm_kernel_kind {
    BL_GEMM_KERNEL_GENERIC = 0, /* portable C, any CPU */
    BL_GEMM_KERNEL_AVX2 = 1,    /* AVX2 + FMA (x86-64, Haswell / Zen 1 and later) */
    BL_GEMM_KERNEL_AVX512 = 2,  /* AVX-512F (+VL, DQ) */
} bl_gemm_kernel_kind;

/* Non-zero when this build contains the kernel AND the running CPU supports it. */
int bl_cpu_has_avx2_fma(void);
int bl_cpu_has_avx512(void);
int bl_gemm_kernel_available(bl_gemm_kernel_kind kind);

/* Space-separated features blasto cares about that the CPU has, e.g. "avx2 fma avx512f"; "none" when none. */
const char *bl_cpu_features(void);

/* The best available kernel, narrowed by BLASTO_GEMM_KERNEL when set (read once, on first use). */
bl_gemm_kernel_kind bl_gemm_kernel_default(void);

/* The kernel bl_sgemm_cpu uses now (the default unless bl_gemm_set_kernel chose another), and a description of
 * it such as "avx512 8x32". */
bl_gemm_kernel_kind bl_gemm_kernel_selected(void);
const char *bl_gemm_kernel_name(void);

/* Force a kernel for the whole process (tests, `blasto bench --kernel`). BL_ERR_UNSUPPORTED when this build or
 * CPU lacks it. Different kernels round differently (FMA vs multiply-then-add, different k-blocking), so switch
 * only between computations whose results are not compared bitwise. */
bl_status bl_gemm_set_kernel(bl_gemm_kernel_kind kind);

#endif
