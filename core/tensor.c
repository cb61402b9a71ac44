/* tensor.c — shape helpers. */
#include "core/tensor.h"

#include <stdio.h>

int64_t bl_shape_numel(int ndim, const int *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return -1;
        if (shape[i] != 0 && n > INT64_MAX / shape[i]) return -1;
        n *= shape[i];
    }
    return n;
}

int bl_same_shape(const bl_tensor *a, const bl_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

const char *bl_shape_str(const bl_tensor *t, char *buf, size_t size) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, size - k, "[");
    for (int i = 0; i < t->ndim && k < size; i++)
        k += (size_t)snprintf(buf + k, size - k, i ? ",%d" : "%d", t->shape[i]);
    if (k < size) snprintf(buf + k, size - k, "]");
    return buf;
}
