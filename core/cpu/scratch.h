/* scratch.h — reusable scratch memory for the cpu backend's kernels (GEMM packing, im2col, Winograd tiles,
 * padded copies).
 *
 * A process-wide set of 64-byte-aligned buffers handed out under a mutex. Acquiring takes a free buffer at least
 * `count` floats long (growing one if needed); releasing returns it for reuse, so a training step allocates only
 * the first time it meets a given size. Buffers stay reachable from a static table; bl_scratch_free_all() frees
 * them (call it when no acquire is outstanding, e.g. at exit in leak-checked tests). */
#ifndef BLASTO_CPU_SCRATCH_H
#define BLASTO_CPU_SCRATCH_H

#include <stddef.h>

typedef struct bl_scratch bl_scratch;
/* Returns the buffer (contents undefined) and sets *handle, or NULL when memory is exhausted. */
float *bl_scratch_acquire(size_t count, bl_scratch **handle);
void bl_scratch_release(bl_scratch *handle);
void bl_scratch_free_all(void);
/* For tests of the out-of-memory paths: every acquire of more than `count` floats fails (0 lifts the limit). */
void bl_scratch_set_limit(size_t count);

#endif
