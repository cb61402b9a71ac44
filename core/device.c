/* device.c — backend selection by name (device.h). */
#include "core/device.h"

#include <stdio.h>
#include <string.h>

#ifdef BLASTO_HAVE_CUDA
#include "cuda/cuda.h"
#endif

static const bl_kernels *test_backend; /* bl_device_register_test_backend */

void bl_device_register_test_backend(const bl_kernels *k) { test_backend = k; }

bl_status bl_device_open(const char *name, int deterministic, int tf32, const bl_kernels **out) {
    *out = NULL;
    if (!name || !*name || strcmp(name, "cpu") == 0) {
        *out = bl_kernels_cpu();
        return BL_OK;
    }
    if (strcmp(name, "ref") == 0) {
        *out = bl_kernels_ref();
        return BL_OK;
    }
    if (test_backend && strcmp(name, test_backend->name) == 0) {
        *out = test_backend;
        return BL_OK;
    }
    if (strcmp(name, "cuda") == 0) {
#ifdef BLASTO_HAVE_CUDA
        bl_cuda_options options = {.device_index = 0, .deterministic = deterministic, .tf32 = tf32,
                                   .workspace_limit = 0};
        return bl_kernels_cuda_open(&options, out);
#else
        (void)deterministic, (void)tf32;
        return bl_fail(BL_ERR_UNSUPPORTED,
                       "device cuda: this blasto was built without CUDA (configure with -DBLASTO_CUDA=ON)");
#endif
    }
    return bl_fail(BL_ERR_INVALID, "device %s: unknown (expected cpu, ref or cuda)", name);
}

bl_status bl_device_open_options(const bl_device_options *o, const bl_kernels **out) {
    return o ? bl_device_open(o->name, o->deterministic, o->tf32, out) : bl_device_open("cpu", 0, 0, out);
}

bl_status bl_device_options_set(bl_device_options *o, const char *name) {
    size_t n = strlen(name);
    if (n >= sizeof o->name)
        return bl_fail(BL_ERR_INVALID, "device: name '%.32s…' too long (expected cpu, ref or cuda)", name);
    memcpy(o->name, name, n + 1);
    return BL_OK;
}

size_t bl_device_peak_bytes(const bl_kernels *k) {
#ifdef BLASTO_HAVE_CUDA
    if (k && strcmp(k->name, "cuda") == 0) return bl_cuda_peak_bytes();
#else
    (void)k;
#endif
    return 0;
}
