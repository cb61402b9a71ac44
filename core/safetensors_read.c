/* safetensors_read.c — bl_safetensors_read_f32: one validated entry copied out as float32 (F32 copied; F64 rounded
 * to nearest; F16 and BF16 widened exactly; integer dtypes refused). The reader that validates the file is
 * safetensors.c; the writer is safetensors_write.c. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/bf16.h"
#include "core/safetensors.h"
#include "core/safetensors_common.h"

/* ---- conversion to float32 --------------------------------------------------------------------------------- */

/* IEEE binary16 → binary32, exact (every half value is a float): sign | exponent (bias 15) | 10-bit mantissa. */
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF;
    uint32_t bits;
    if (exponent == 0x1F) bits = sign | 0x7F800000u | (mantissa << 13); /* inf, NaN (payload kept) */
    else if (exponent != 0) bits = sign | ((exponent + 112) << 23) | (mantissa << 13); /* 127 − 15 = 112 */
    else { /* zero or subnormal: mantissa · 2^−24, exact in float */
        float magnitude = ldexpf((float)mantissa, -24);
        return sign ? -magnitude : magnitude;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* st: read. dst[numel]: written. shape[ndim]: read (ndim = −1: any shape with `count` elements; `count` is
 * only read then). */
bl_status bl_safetensors_read_f32(const bl_safetensors *st, const char *name, int ndim, const int *shape,
                                  int64_t count, float *dst) {
    if (!st || !name) return bl_fail(BL_ERR_INVALID, "bl_safetensors_read_f32: st and name must not be NULL");
    const char *label = bl_safetensors_path(st);
    quoted_name q = st_quote_name(name);
    if (ndim < -1 || ndim > BL_MAX_DIMS || (ndim > 0 && !shape))
        return st_fail_at(BL_ERR_INVALID, label, "%s: requested ndim %d (expected -1..%d with a shape)", q.text, ndim,
                       BL_MAX_DIMS);
    const bl_st_entry *e = bl_safetensors_find(st, name);
    if (!e) return st_fail_at(BL_ERR_FORMAT, label, "%s: missing (the file has %d tensors)", q.text,
                              bl_safetensors_count(st));
    shape_string got = st_shape_text_i64(e->ndim, e->shape);
    if (ndim >= 0) {
        int same = e->ndim == ndim;
        for (int i = 0; same && i < ndim; i++) same = e->shape[i] == shape[i];
        if (!same) {
            shape_string want = st_shape_text_int(ndim, shape);
            return st_fail_at(BL_ERR_FORMAT, label, "%s: shape mismatch (expected %s, got %s)", q.text, want.text,
                           got.text);
        }
    } else if (e->numel != count) {
        return st_fail_at(BL_ERR_FORMAT, label, "%s: element count mismatch (expected %lld, got %lld from shape %s)",
                       q.text, (long long)count, (long long)e->numel, got.text);
    }
    if (e->numel > 0 && !dst) return st_fail_at(BL_ERR_INVALID, label, "%s: dst is NULL", q.text);
    const unsigned char *b = e->data;
    int64_t n = e->numel;
    switch (e->dtype) {
    case BL_DTYPE_F32:
        if (st_host_is_little_endian()) {
            if (n) memcpy(dst, b, (size_t)n * 4);
        } else
            for (int64_t i = 0; i < n; i++) {
                const unsigned char *p = b + 4 * i;
                uint32_t bits = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
                memcpy(&dst[i], &bits, 4);
            }
        return BL_OK;
    case BL_DTYPE_F64:
        for (int64_t i = 0; i < n; i++) {
            uint64_t bits = st_load_le_u64(b + 8 * i);
            double v;
            memcpy(&v, &bits, 8);
            dst[i] = (float)v; /* IEEE conversion: round to nearest, ties to even (default rounding mode) */
        }
        return BL_OK;
    case BL_DTYPE_F16:
        for (int64_t i = 0; i < n; i++) dst[i] = half_to_float((uint16_t)(b[2 * i] | b[2 * i + 1] << 8));
        return BL_OK;
    case BL_DTYPE_BF16:
        for (int64_t i = 0; i < n; i++) dst[i] = bl_bf16_to_f32((bl_bf16)(b[2 * i] | b[2 * i + 1] << 8));
        return BL_OK;
    default:
        return st_fail_at(BL_ERR_FORMAT, label, "%s: dtype %s cannot be read as float32 (expected F32, F64, F16 or BF16)",
                       q.text, bl_dtype_name(e->dtype));
    }
}


bl_status bl_safetensors_metadata_number(const bl_safetensors *st, const char *key, double *out) {
    const char *v = bl_safetensors_metadata(st, key);
    if (!v) return bl_fail(BL_ERR_FORMAT, "%s: __metadata__.%s: missing", bl_safetensors_path(st), key);
    char *end = NULL;
    errno = 0;
    *out = strtod(v, &end);
    if (!*v || *end || errno == ERANGE)
        return bl_fail(BL_ERR_FORMAT, "%s: __metadata__.%s: not a number (got '%s')", bl_safetensors_path(st), key, v);
    return BL_OK;
}
