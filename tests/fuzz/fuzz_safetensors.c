/* fuzz_safetensors.c — core/safetensors.c's header and bounds validation on arbitrary bytes, then every accessor
 * and the float32 read-out of every float tensor the validator accepted (reads data through the offsets it
 * checked, so an accepted-but-wrong offset is an ASan out-of-bounds read). */
#include <string.h>

#include "core/safetensors.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bl_safetensors *st = NULL;
    if (bl_safetensors_parse(data, size, "<fuzz>", &st)) return 0;
    int n = bl_safetensors_count(st);
    for (int i = 0; i < n; i++) {
        const bl_st_entry *e = bl_safetensors_entry(st, i);
        fuzz_check(bl_safetensors_find(st, e->name) == e);
        fuzz_check(e->end - e->begin == (uint64_t)e->numel * bl_dtype_size(e->dtype));
        if (e->numel > (1 << 20)) continue; /* the data section holds them, but keep each run small */
        float *dst = malloc(e->numel ? (size_t)e->numel * sizeof *dst : 1);
        if (!dst) continue;
        bl_status s = bl_safetensors_read_f32(st, e->name, -1, NULL, e->numel, dst);
        int is_float = e->dtype == BL_DTYPE_F32 || e->dtype == BL_DTYPE_F64 || e->dtype == BL_DTYPE_F16 ||
                       e->dtype == BL_DTYPE_BF16;
        fuzz_check((s == BL_OK) == is_float);
        if (e->ndim > 0 && is_float) { /* the exact-shape path with the entry's own shape, when it fits an int */
            int shape[BL_MAX_DIMS], fits = 1;
            for (int d = 0; d < e->ndim; d++) fits &= e->shape[d] <= 0x7fffffff, shape[d] = (int)e->shape[d];
            if (fits) fuzz_check(bl_safetensors_read_f32(st, e->name, e->ndim, shape, 0, dst) == BL_OK);
        }
        free(dst);
    }
    for (int i = 0; i < bl_safetensors_metadata_count(st); i++) {
        const char *k, *v;
        bl_safetensors_metadata_at(st, i, &k, &v);
        fuzz_check(bl_safetensors_metadata(st, k) == v);
    }
    bl_safetensors_close(st);
    return 0;
}
