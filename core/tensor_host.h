/* tensor_host.h — moving tensor values between host code and the backend's memory, for the code outside the
 * kernels that must see or set numbers: initialisers, weight loaders and savers, readers of logits and losses.
 *
 * Tensor data lives in the backend's memory (kernels.h "memory"): plain host memory for ref and cpu, the GPU's for
 * cuda. Code outside the kernels never dereferences t->data; it moves values with bl_tensor_upload /
 * bl_tensor_download (autograd.h) or with the helpers below, which all go through the op table's upload/download
 * (a memcpy on host backends). One mechanism for every backend: tests/test_guard_backend.c runs the whole program
 * on a backend whose memory faults on any other access. Errors become the context's sticky error and are
 * returned. */
#ifndef BLASTO_TENSOR_HOST_H
#define BLASTO_TENSOR_HOST_H

#include <stdint.h>

#include "core/autograd.h"
#include "core/safetensors.h"

/* Generators that fill a large tensor on the host do it in blocks of this many floats (64 KiB of host memory
 * for a tensor of any size). */
#define BL_UPLOAD_BLOCK 16384

/* t's elements [offset, offset + count) ← values [count] */
bl_status bl_tensor_upload_range(bl_ctx *ctx, bl_tensor *t, int64_t offset, int64_t count, const float *values);

/* t ← safetensors entry `name` of st, which must have exactly t's shape (F32 copied; F16/BF16/F64 converted, as
 * bl_safetensors_read_f32), through one host buffer of t->numel floats. */
bl_status bl_tensor_read_safetensors(bl_ctx *ctx, bl_tensor *t, const bl_safetensors *st, const char *name);

/* Host copies of tensors for the safetensors writer, which keeps data pointers until it saves: add every tensor
 * with bl_st_writer_add_tensor, save, then bl_host_copies_free. */
typedef struct bl_host_copies {
    float **copies;
    int count, capacity;
} bl_host_copies;

/* bl_st_writer_add_f32(w, name, t's shape, a host copy of t's values) */
bl_status bl_st_writer_add_tensor(bl_st_writer *w, const char *name, bl_ctx *ctx, const bl_tensor *t,
                                  bl_host_copies *copies);
/* A host copy of t's values (malloc'ed, owned by copies), or NULL with the context's error set. */
const float *bl_host_copy(bl_ctx *ctx, bl_host_copies *copies, const bl_tensor *t);
void bl_host_copies_free(bl_host_copies *copies);

#endif
