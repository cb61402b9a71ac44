/* guard_backend.h — a test-only backend that PROVES code never touches tensor memory behind the op table's back.
 *
 * "guard" is the ref backend (bl_kernels_ref(): same kernels, so its results are bitwise ref's) with device-like
 * memory: host_memory = 0, and every arena chunk it hands out is page-aligned mmap'ed memory kept PROT_NONE except
 * while one of ITS slots runs. Each kernel, upload, download, copy and fill unprotects the chunks its buffers lie
 * in (an arena allocation never spans chunks, so that is all it may touch), calls the ref slot and protects them
 * again. Any other access to tensor data — `t->data[i]`, memcpy from t->data, a
 * safetensors writer given t->data — dies with SIGSEGV. So a test that runs inference, training, save/load,
 * predict and Grad-CAM on this backend and finishes shows the whole program moves tensor values only through
 * upload/download, as it must for the CUDA backend.
 *
 * It also checks the other half of the contract, which a fault cannot: every buffer a kernel is given (and the
 * device side of upload/download/copy/fill) must lie inside a live chunk — a host array handed to a kernel would
 * be a crash on a GPU. A violation is reported through the table's take_error slot, so autograd turns it into the
 * context's sticky error ("guard backend: conv2d_forward: buffer 3 is not backend memory"). */
#ifndef BLASTO_TEST_GUARD_BACKEND_H
#define BLASTO_TEST_GUARD_BACKEND_H

#include <stdint.h>

#include "core/kernels.h"

/* The guard op table (name "guard"); one per process. */
const bl_kernels *guard_kernels(void);

typedef struct guard_stats {
    int live_chunks;      /* mmap'ed chunks currently handed out */
    int64_t live_bytes;
    int64_t kernel_calls; /* kernel slots run so far (upload/download/copy/fill not counted) */
    int64_t transfers;    /* upload + download + copy + fill calls so far */
} guard_stats;
guard_stats guard_get_stats(void);

#endif
