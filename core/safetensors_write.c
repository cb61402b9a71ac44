/* safetensors_write.c — the safetensors writer: tensors added by pointer, a header laid out byte for byte as the
 * reference writer does (metadata first, insertion order, padded with spaces to a multiple of 8), and an atomic
 * save (temp file + fsync + rename; no partial output on any failure). The reader is in safetensors.c. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/safetensors.h"
#include "core/fileio.h"
#include "core/safetensors_common.h"

/* ---- writer ------------------------------------------------------------------------------------------------- */

typedef struct writer_tensor {
    char *name;
    bl_dtype dtype;
    int ndim;
    int64_t shape[BL_MAX_DIMS];
    uint64_t nbytes;
    const void *data;   /* caller's buffer: host floats when host_floats, else little-endian bytes */
    int host_floats;
} writer_tensor;

struct bl_st_writer {
    writer_tensor *tensors;
    int tensor_count, tensor_capacity;
    char **metadata_keys, **metadata_values;
    int metadata_count, metadata_capacity;
};

#define WRITER "safetensors writer"

/* An empty writer: no tensors, no metadata. */
bl_status bl_st_writer_create(bl_st_writer **out) {
    if (!out) return bl_fail(BL_ERR_INVALID, WRITER ": out is NULL");
    *out = calloc(1, sizeof **out);
    return *out ? BL_OK : bl_fail(BL_ERR_NOMEM, WRITER ": cannot allocate %zu bytes", sizeof **out);
}

void bl_st_writer_free(bl_st_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->tensor_count; i++) free(w->tensors[i].name);
    for (int i = 0; i < w->metadata_count; i++) {
        free(w->metadata_keys[i]);
        free(w->metadata_values[i]);
    }
    free(w->tensors);
    free(w->metadata_keys);
    free(w->metadata_values);
    free(w);
}

/* shape[ndim]: read. Checks the name and the shape, appends the tensor. */
static bl_status writer_add(bl_st_writer *w, const char *name, bl_dtype dtype, int ndim, const int64_t *shape,
                            const void *data, int host_floats) {
    if (!w || !name) return bl_fail(BL_ERR_INVALID, WRITER ": writer and name must not be NULL");
    quoted_name q = st_quote_name(name);
    if (!st_utf8_is_valid(name)) return bl_fail(BL_ERR_INVALID, WRITER ": %s: name is not valid UTF-8", q.text);
    if (!strcmp(name, "__metadata__"))
        return bl_fail(BL_ERR_INVALID, WRITER ": '__metadata__' is reserved and cannot name a tensor");
    for (int i = 0; i < w->tensor_count; i++)
        if (!strcmp(w->tensors[i].name, name)) return bl_fail(BL_ERR_INVALID, WRITER ": duplicate tensor name %s", q.text);
    if (!st_dtype_is_valid(dtype)) return bl_fail(BL_ERR_INVALID, WRITER ": %s: invalid dtype %d", q.text, (int)dtype);
    if (ndim < 0 || ndim > BL_MAX_DIMS || (ndim > 0 && !shape))
        return bl_fail(BL_ERR_INVALID, WRITER ": %s: ndim %d (expected 0..%d with a shape)", q.text, ndim, BL_MAX_DIMS);
    writer_tensor t = {.dtype = dtype, .ndim = ndim, .data = data, .host_floats = host_floats};
    int64_t numel = 1, element_size = (int64_t)bl_dtype_size(dtype);
    for (int i = 0; i < ndim; i++) {
        t.shape[i] = shape[i];
        if (shape[i] < 0 || (double)shape[i] > JSON_INTEGER_LIMIT || (shape[i] && numel > INT64_MAX / shape[i])) {
            shape_string st = st_shape_text_i64(ndim, shape);
            return bl_fail(BL_ERR_INVALID, WRITER ": %s: invalid shape %s (negative or too many elements)", q.text,
                           st.text);
        }
        numel *= shape[i];
    }
    if (numel > INT64_MAX / element_size || (double)(numel * element_size) > JSON_INTEGER_LIMIT)
        return bl_fail(BL_ERR_INVALID, WRITER ": %s: %lld elements are too many bytes", q.text, (long long)numel);
    t.nbytes = (uint64_t)(numel * element_size);
    if (t.nbytes && !data) return bl_fail(BL_ERR_INVALID, WRITER ": %s: data is NULL", q.text);
    if (w->tensor_count == w->tensor_capacity) {
        int capacity = w->tensor_capacity ? 2 * w->tensor_capacity : 16;
        writer_tensor *grown = realloc(w->tensors, (size_t)capacity * sizeof *grown);
        if (!grown) return bl_fail(BL_ERR_NOMEM, WRITER ": cannot grow to %d tensors", capacity);
        w->tensors = grown;
        w->tensor_capacity = capacity;
    }
    t.name = st_copy_string(name);
    if (!t.name) return bl_fail(BL_ERR_NOMEM, WRITER ": %s: cannot copy the name", q.text);
    w->tensors[w->tensor_count++] = t;
    return BL_OK;
}

/* shape[ndim]: read now. data[numel]: kept as a pointer, read at save (host floats, stored little-endian). */
bl_status bl_st_writer_add_f32(bl_st_writer *w, const char *name, int ndim, const int *shape, const float *data) {
    int64_t wide[BL_MAX_DIMS];
    if (ndim > 0 && ndim <= BL_MAX_DIMS && shape)
        for (int i = 0; i < ndim; i++) wide[i] = shape[i];
    return writer_add(w, name, BL_DTYPE_F32, ndim, ndim > 0 && shape ? wide : NULL, data, 1);
}

/* shape[ndim]: read now. data[numel · dtype size bytes]: kept as a pointer, written verbatim at save. */
bl_status bl_st_writer_add_raw(bl_st_writer *w, const char *name, bl_dtype dtype, int ndim, const int64_t *shape,
                               const void *data) {
    return writer_add(w, name, dtype, ndim, shape, data, 0);
}

/* key, value: copied now. Keys must be unique. */
bl_status bl_st_writer_add_metadata(bl_st_writer *w, const char *key, const char *value) {
    if (!w || !key || !value) return bl_fail(BL_ERR_INVALID, WRITER ": writer, key and value must not be NULL");
    quoted_name q = st_quote_name(key);
    if (!st_utf8_is_valid(key) || !st_utf8_is_valid(value))
        return bl_fail(BL_ERR_INVALID, WRITER ": metadata %s: key or value is not valid UTF-8", q.text);
    for (int i = 0; i < w->metadata_count; i++)
        if (!strcmp(w->metadata_keys[i], key)) return bl_fail(BL_ERR_INVALID, WRITER ": duplicate metadata key %s", q.text);
    if (w->metadata_count == w->metadata_capacity) {
        int capacity = w->metadata_capacity ? 2 * w->metadata_capacity : 8;
        char **keys = realloc(w->metadata_keys, (size_t)capacity * sizeof *keys);
        if (keys) w->metadata_keys = keys;
        char **values = keys ? realloc(w->metadata_values, (size_t)capacity * sizeof *values) : NULL;
        if (values) w->metadata_values = values;
        if (!keys || !values) return bl_fail(BL_ERR_NOMEM, WRITER ": cannot grow to %d metadata keys", capacity);
        w->metadata_capacity = capacity;
    }
    char *k = st_copy_string(key), *v = st_copy_string(value);
    if (!k || !v) {
        free(k);
        free(v);
        return bl_fail(BL_ERR_NOMEM, WRITER ": metadata %s: cannot copy", q.text);
    }
    w->metadata_keys[w->metadata_count] = k;
    w->metadata_values[w->metadata_count++] = v;
    return BL_OK;
}

/* A growable text buffer for the header; `failed` latches an allocation failure. */
typedef struct text_buffer {
    char *bytes;
    size_t length, capacity;
    int failed;
} text_buffer;

/* s[n]: read, appended to t (kept NUL-terminated). */
static void text_append(text_buffer *t, const char *s, size_t n) {
    if (t->failed) return;
    if (t->length + n + 1 > t->capacity) {
        size_t capacity = t->capacity ? t->capacity : 256;
        while (capacity < t->length + n + 1) capacity *= 2;
        char *grown = realloc(t->bytes, capacity);
        if (!grown) {
            t->failed = 1;
            return;
        }
        t->bytes = grown;
        t->capacity = capacity;
    }
    memcpy(t->bytes + t->length, s, n);
    t->length += n;
    t->bytes[t->length] = '\0';
}

static void text_append_cstr(text_buffer *t, const char *s) { text_append(t, s, strlen(s)); }

/* A JSON string escaped the way serde_json (the reference writer) does: \" \\ \b \f \n \r \t, other control
 * bytes as \u00xx in lower-case hex, everything else (UTF-8 included) verbatim — so our headers are
 * byte-identical to the reference's for the same content and order. */
static void text_append_json_string(text_buffer *t, const char *s) {
    text_append(t, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char escape[8];
        const char *short_form = *p == '"' ? "\\\"" : *p == '\\' ? "\\\\" : *p == '\b' ? "\\b" : *p == '\f' ? "\\f"
                               : *p == '\n' ? "\\n" : *p == '\r' ? "\\r" : *p == '\t' ? "\\t" : NULL;
        if (short_form) text_append_cstr(t, short_form);
        else if (*p < 0x20) {
            snprintf(escape, sizeof escape, "\\u%04x", *p);
            text_append_cstr(t, escape);
        } else text_append(t, (const char *)p, 1);
    }
    text_append(t, "\"", 1);
}

/* v in decimal, no sign, no leading zeros (the spelling the reader requires). */
static void text_append_u64(text_buffer *t, uint64_t v) {
    char digits[24];
    snprintf(digits, sizeof digits, "%llu", (unsigned long long)v);
    text_append_cstr(t, digits);
}

/* The header JSON, compact (no spaces, like serde_json), "__metadata__" first, tensors in insertion order
 * with consecutive offsets, padded with spaces to a multiple of 8 bytes so the data section starts aligned. */
static bl_status build_header(const bl_st_writer *w, text_buffer *t) {
    text_append(t, "{", 1);
    if (w->metadata_count) {
        text_append_cstr(t, "\"__metadata__\":{");
        for (int i = 0; i < w->metadata_count; i++) {
            if (i) text_append(t, ",", 1);
            text_append_json_string(t, w->metadata_keys[i]);
            text_append(t, ":", 1);
            text_append_json_string(t, w->metadata_values[i]);
        }
        text_append(t, "}", 1);
    }
    uint64_t offset = 0;
    for (int i = 0; i < w->tensor_count; i++) {
        const writer_tensor *x = &w->tensors[i];
        if (i || w->metadata_count) text_append(t, ",", 1);
        text_append_json_string(t, x->name);
        text_append_cstr(t, ":{\"dtype\":\"");
        text_append_cstr(t, bl_dtype_name(x->dtype));
        text_append_cstr(t, "\",\"shape\":[");
        for (int d = 0; d < x->ndim; d++) {
            if (d) text_append(t, ",", 1);
            text_append_u64(t, (uint64_t)x->shape[d]);
        }
        text_append_cstr(t, "],\"data_offsets\":[");
        text_append_u64(t, offset);
        text_append(t, ",", 1);
        text_append_u64(t, offset + x->nbytes);
        text_append_cstr(t, "]}");
        offset += x->nbytes;
    }
    text_append(t, "}", 1);
    while (!t->failed && t->length % 8) text_append(t, " ", 1);
    return t->failed ? bl_fail(BL_ERR_NOMEM, WRITER ": cannot allocate the header") : BL_OK;
}

/* Writes one tensor's bytes; float32 data is stored little-endian whatever the host's byte order. */
static int write_tensor_data(FILE *f, const writer_tensor *x) {
    if (!x->nbytes) return 1;
    if (!x->host_floats || st_host_is_little_endian()) return fwrite(x->data, 1, (size_t)x->nbytes, f) == x->nbytes;
    const float *values = x->data;
    for (uint64_t i = 0; i < x->nbytes / 4; i++) {
        uint32_t bits;
        memcpy(&bits, &values[i], 4);
        unsigned char le[4] = {(unsigned char)bits, (unsigned char)(bits >> 8), (unsigned char)(bits >> 16),
                               (unsigned char)(bits >> 24)};
        if (fwrite(le, 1, 4, f) != 4) return 0;
    }
    return 1;
}

/* Writes 8-byte length, header, data to "<path>.tmp.<pid>", flushes and fsyncs it, then renames it onto path.
 * Any failure removes the temporary file, so path is either the old file or the complete new one. */
bl_status bl_st_writer_save(bl_st_writer *w, const char *path) {
    if (!w || !path) return bl_fail(BL_ERR_INVALID, WRITER ": writer and path must not be NULL");
    text_buffer header = {0};
    bl_status s = build_header(w, &header);
    if (s) {
        free(header.bytes);
        return s;
    }
    bl_output out;
    s = bl_output_open(path, &out); /* refuses a device, a folder or an input as the target */
    if (s) {
        free(header.bytes);
        return s;
    }
    FILE *f = out.f;
    unsigned char length_bytes[8];
    st_store_le_u64(length_bytes, (uint64_t)header.length);
    int ok = fwrite(length_bytes, 1, 8, f) == 8 && fwrite(header.bytes, 1, header.length, f) == header.length;
    for (int i = 0; ok && i < w->tensor_count; i++) ok = write_tensor_data(f, &w->tensors[i]);
    free(header.bytes);
    if (!ok) {
        int e = errno;
        s = st_fail_at(BL_ERR_IO, path, "cannot save: write of '%s' failed: %s", out.temp, strerror(e));
        bl_output_abort(&out);
        return s;
    }
    return bl_output_commit(&out, 1);
}
