/* build_info.c — values baked in by CMakeLists.txt's compile definitions. */
#include "core/build_info.h"

#ifndef BLASTO_VERSION
#define BLASTO_VERSION "unknown"
#endif
#ifndef BLASTO_COMPILER
#define BLASTO_COMPILER "unknown"
#endif
#ifndef BLASTO_BUILD_TYPE
#define BLASTO_BUILD_TYPE "unknown"
#endif

const bl_build_info *bl_build(void) {
    static const bl_build_info info = {
        .version = BLASTO_VERSION,
        .compiler = BLASTO_COMPILER,
        .build_type = BLASTO_BUILD_TYPE,
#ifdef BLASTO_HAVE_X86_SIMD
        .simd = 1,
#endif
#ifdef BLASTO_HAVE_CUDA
        .cuda = 1,
#endif
#ifdef BLASTO_SANITIZE
        .sanitize = 1,
#endif
#ifdef BLASTO_FAST_MATH
        .fast_math = 1,
#endif
    };
    return &info;
}
