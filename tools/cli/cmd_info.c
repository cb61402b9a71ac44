/* cmd_info.c — `blasto info`: what this build is and what it will run on. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "core/build_info.h"
#include "core/collective.h"
#include "core/cpu/cpu.h"
#include "core/cpu/cpu_features.h"
#include "core/cpu/gemm_bf16.h"
#include "core/cpu/threads.h"
#ifdef BLASTO_HAVE_CUDA
#include "cuda/info.h"
#endif

int cmd_info(int argc, char **argv) {
    long threads = 0;
    for (int i = 1; i < argc; i += 2) {
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: blasto info [--threads N]\n\n"
                   "Prints the version, build flags, compiler, CPU features, the GEMM kernel chosen for this CPU,\n"
                   "the thread count and, in CUDA builds, the CUDA runtime/driver, cuDNN and cuBLAS versions and\n"
                   "the visible GPUs.\n");
            return 0;
        } else if (strcmp(argv[i], "--threads") == 0) {
            int rc = cli_parse_int("info", "--threads", i + 1 < argc ? argv[i + 1] : NULL, 1, 1024, &threads);
            if (rc) return rc;
        } else {
            fprintf(stderr, "blasto info: unknown option '%s' (blasto info --help)\n", argv[i]);
            return 2;
        }
    }
    if (cli_apply_threads("info", threads)) return 1;
    const bl_build_info *b = bl_build();
    printf("blasto %s\n", b->version);
    printf("build: %s, compiler %s\n", b->build_type, b->compiler);
    printf("flags: simd=%s cuda=%s sanitize=%s fast-math=%s\n", b->simd ? "on" : "off", b->cuda ? "on" : "off",
           b->sanitize ? "on" : "off", b->fast_math ? "on" : "off");
    printf("cpu features: %s\n", bl_cpu_features());
    if (bl_cpu_isa_cap() < BL_GEMM_KERNEL_AVX512)
        printf("cpu isa cap: %s (BLASTO_CPU_ISA: no wider instructions are used)\n",
               bl_gemm_kernel_kind_name(bl_cpu_isa_cap()));
    printf("gemm kernel: %s\n", bl_gemm_kernel_name(bl_kernels_cpu_options(bl_kernels_cpu())->simd));
    printf("bf16 products: %s (float32 accumulation; docs/mixed-precision.md)\n",
           bl_bf16_path_name(bl_bf16_path_default()));
    printf("mpi: %s\n", bl_world_mpi_built() ? "built (multi-process runs under mpirun or srun; docs/distributed.md)"
                                              : "not built (one process)");
    printf("threads: %d\n", bl_threads_get());
#ifdef BLASTO_HAVE_CUDA
    char buf[2048];
    bl_cuda_describe(buf, sizeof buf);
    fputs(buf, stdout);
#else
    printf("cuda: not built (configure with -DBLASTO_CUDA=ON and a CUDA toolkit + cuDNN)\n");
#endif
    return 0;
}
