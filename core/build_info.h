/* build_info.h — how this copy of blasto was built (for `blasto info` and checkpoint metadata). */
#ifndef BLASTO_BUILD_INFO_H
#define BLASTO_BUILD_INFO_H

typedef struct bl_build_info {
    const char *version;    /* "0.1.0" */
    const char *compiler;   /* "GNU 12.2.0" */
    const char *build_type; /* "Release" */
    int simd;               /* AVX2/AVX-512 kernels compiled in */
    int cuda;               /* CUDA backend compiled in */
    int sanitize;           /* ASan + UBSan */
    int fast_math;          /* -ffast-math (never for results of record) */
} bl_build_info;

const bl_build_info *bl_build(void);

#endif
