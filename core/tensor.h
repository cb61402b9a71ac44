/* tensor.h — the one data type: a float32, row-major (NCHW) tensor.
 *
 * A tensor does not own memory: `data` points into an arena (see arena.h) or, for a view, into another tensor's
 * data. Shapes have up to BL_MAX_DIMS dimensions; a scalar has ndim 0 and numel 1. Tensors are always
 * contiguous, so a view (reshape/flatten) is just a new header over the same data.
 *
 * Autograd fields: `requires_grad` says whether backward must produce ∂L/∂t; `grad` (same shape) holds it once
 * backward has run — for parameters it lives in the persistent arena and accumulates across backward calls until
 * bl_zero_grad(); for activations it lives in the context's gradient pool and is released during backward unless
 * the tensor asked to keep it (retain_grad, set by bl_requires_grad). */
#ifndef BLASTO_TENSOR_H
#define BLASTO_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#define BL_MAX_DIMS 6

typedef enum bl_device { BL_DEVICE_CPU = 0, BL_DEVICE_CUDA = 1 } bl_device;

typedef struct bl_tensor {
    float *data;
    int ndim;
    int shape[BL_MAX_DIMS];
    int64_t numel;
    bl_device device;
    const char *name;          /* optional, for traces and error messages */
    int requires_grad;
    int retain_grad;           /* keep .grad of an intermediate after backward (Grad-CAM) */
    struct bl_tensor *grad;    /* NULL until backward produced it (or persistent for parameters) */
    struct bl_tensor *view_of; /* base tensor when this is a view, else NULL */
} bl_tensor;

/* numel of a shape; returns -1 when a dimension is negative or the product overflows int64. */
int64_t bl_shape_numel(int ndim, const int *shape);
int bl_same_shape(const bl_tensor *a, const bl_tensor *b);
/* "[8,64,56,56]" into buf; returns buf. */
const char *bl_shape_str(const bl_tensor *t, char *buf, size_t size);

#endif
