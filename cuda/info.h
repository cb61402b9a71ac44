/* info.h — versions of the CUDA runtime, driver, cuDNN and cuBLAS this build uses, and the visible GPU.
 * Compiled only with BLASTO_CUDA=ON. The CUDA backend proper (cuda/ mirrors core's op table) is a later issue. */
#ifndef BLASTO_CUDA_INFO_H
#define BLASTO_CUDA_INFO_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Writes several "key: value" lines into buf; never fails (reports "no CUDA device" when none is visible).
 * Returns the number of visible devices. */
int bl_cuda_describe(char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif
