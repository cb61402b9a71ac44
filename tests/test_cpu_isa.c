/* test_cpu_isa.c — BLASTO_CPU_ISA caps the instruction set of every SIMD choice (core/cpu/cpu_features.h), so an
 * AVX-512 machine runs what an AVX2-only machine runs:
 *   - the library: with the cap avx2, no AVX-512 GEMM kernel and no AVX512-BF16 path is available, the cpu
 *     backend's default level is avx2 (when the CPU has AVX2) and the bf16 default the widening path; with generic
 *     only the portable kernels; unset, the widest the CPU has;
 *   - the command: `blasto info` names the cap and the kernels it leaves; a value it does not know is a usage
 *     error naming the variable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu/cpu.h"
#include "core/cpu/cpu_features.h"
#include "core/cpu/gemm_bf16.h"
#include "harness.h"
#include "support/test_support.h"

int main(void) {
    unsetenv("BLASTO_GEMM_KERNEL");
    unsetenv("BLASTO_BF16_KERNEL");
    unsetenv("BLASTO_CPU_ISA");
    int avx2 = bl_cpu_has_avx2_fma(), avx512 = bl_gemm_kernel_available(BL_GEMM_KERNEL_AVX512);
    int bf16 = bl_bf16_path_available(BL_BF16_AVX512BF16);
    CHECK(bl_cpu_isa_cap() == BL_GEMM_KERNEL_AVX512, "unset: no cap");
    printf("this CPU: avx2 %d, avx512 %d, avx512bf16 %d (%s)\n", avx2, avx512, bf16, bl_cpu_features());

    setenv("BLASTO_CPU_ISA", "avx2", 1);
    CHECK(bl_cpu_isa_cap() == BL_GEMM_KERNEL_AVX2, "avx2: the cap");
    CHECK(!bl_gemm_kernel_available(BL_GEMM_KERNEL_AVX512) && !bl_bf16_path_available(BL_BF16_AVX512BF16),
          "avx2: no AVX-512 GEMM kernel, no AVX512-BF16 path");
    CHECK(bl_cpu_options_default().simd == (avx2 ? BL_GEMM_KERNEL_AVX2 : BL_GEMM_KERNEL_GENERIC),
          "avx2: the cpu backend's default level is %s", avx2 ? "avx2" : "generic (this CPU has no AVX2)");
    CHECK(bl_bf16_path_default() == (avx2 ? BL_BF16_AVX2 : BL_BF16_GENERIC), "avx2: the bf16 products widen");
    bl_cpu_options o = bl_cpu_options_default();
    o.simd = BL_GEMM_KERNEL_AVX512;
    bl_kernels *k = NULL;
    CHECK(bl_kernels_cpu_create(&o, &k) != BL_OK, "avx2: a backend asking for avx512 is refused: %s", bl_last_error());

    setenv("BLASTO_CPU_ISA", "generic", 1);
    CHECK(bl_cpu_options_default().simd == BL_GEMM_KERNEL_GENERIC && bl_bf16_path_default() == BL_BF16_GENERIC &&
              !bl_gemm_kernel_available(BL_GEMM_KERNEL_AVX2),
          "generic: only the portable kernels");
    unsetenv("BLASTO_CPU_ISA");
    CHECK(bl_gemm_kernel_available(BL_GEMM_KERNEL_AVX512) == avx512, "unset again: the CPU's own set");

    char out[8192];
    int rc = test_run_shell("BLASTO_CPU_ISA=avx2 " BLASTO_CLI " info > info_avx2.txt", ".", NULL, 0);
    char *text = test_read_file("info_avx2.txt", NULL);
    CHECK(rc == 0 && text && strstr(text, "cpu isa cap: avx2") &&
              (!avx2 || (strstr(text, "gemm kernel: avx2") && strstr(text, "bf16 products: avx2"))),
          "blasto info under BLASTO_CPU_ISA=avx2 names the cap and the AVX2 kernels:\n%s", text ? text : "");
    free(text);
    remove("info_avx2.txt");
    rc = test_run_shell("BLASTO_CPU_ISA=avx3 " BLASTO_CLI " info", ".", out, sizeof out);
    CHECK(rc == 2 && strstr(out, "BLASTO_CPU_ISA: expected generic, avx2 or avx512, got 'avx3'"),
          "an unknown BLASTO_CPU_ISA is a usage error naming it (exit %d): %s", rc, out);
    return test_summary("test_cpu_isa");
}
