/* safetensors.h — read and write the safetensors format, validated like a loader trusted with patient data.
 *
 * Format (https://github.com/huggingface/safetensors): 8-byte little-endian header length L, then L bytes of
 * JSON: {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, …, "__metadata__": {"k": "v"}},
 * then the data section; offsets are relative to the data section's start.
 *
 * bl_safetensors_open() reads the whole file and checks EVERYTHING before returning: header length within the
 * file, valid UTF-8/JSON object, every entry an object with a known dtype, a shape of non-negative integers,
 * offsets with begin ≤ end within the data section, byte count = numel × dtype size, no two entries overlapping,
 * no duplicate names, the data section fully covered (no trailing bytes, no gaps), metadata values strings.
 * Every failure is one message: "<path>: <tensor or field>: <problem> (expected …, got …)". */
#ifndef BLASTO_SAFETENSORS_H
#define BLASTO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "core/tensor.h"

typedef enum bl_dtype {
    BL_DTYPE_F64, BL_DTYPE_F32, BL_DTYPE_F16, BL_DTYPE_BF16,
    BL_DTYPE_I64, BL_DTYPE_I32, BL_DTYPE_I16, BL_DTYPE_I8, BL_DTYPE_U8, BL_DTYPE_BOOL,
} bl_dtype;

const char *bl_dtype_name(bl_dtype d); /* "F32" … */
size_t bl_dtype_size(bl_dtype d);

typedef struct bl_st_entry {
    char *name;
    bl_dtype dtype;
    int ndim;
    int64_t shape[BL_MAX_DIMS];
    int64_t numel;
    uint64_t begin, end;       /* offsets into the data section */
    const unsigned char *data; /* = file data section + begin (little-endian, possibly unaligned) */
} bl_st_entry;

typedef struct bl_safetensors bl_safetensors;

bl_status bl_safetensors_open(const char *path, bl_safetensors **out);
/* Same validation on an in-memory buffer (fuzzing, tests); `label` names it in messages. Copies the bytes. */
bl_status bl_safetensors_parse(const void *bytes, size_t size, const char *label, bl_safetensors **out);
void bl_safetensors_close(bl_safetensors *st);

const char *bl_safetensors_path(const bl_safetensors *st);
int bl_safetensors_count(const bl_safetensors *st);
const bl_st_entry *bl_safetensors_entry(const bl_safetensors *st, int i); /* in data-offset order */
const bl_st_entry *bl_safetensors_find(const bl_safetensors *st, const char *name); /* NULL if absent */
/* Value of a __metadata__ key, or NULL. */
const char *bl_safetensors_metadata(const bl_safetensors *st, const char *key);
/* The __metadata__ value `key` read as a number (strtod, the whole text): BL_ERR_FORMAT "<file>: __metadata__.<key>:
 * missing" or "<file>: __metadata__.<key>: not a number (got '<text>')". */
bl_status bl_safetensors_metadata_number(const bl_safetensors *st, const char *key, double *out);
int bl_safetensors_metadata_count(const bl_safetensors *st);
void bl_safetensors_metadata_at(const bl_safetensors *st, int i, const char **key, const char **value);

/* Copy tensor `name` into dst as float32, checking that it exists and its shape equals (ndim, shape) exactly
 * (ndim = −1: accept any shape with `count` elements). F32 is copied; F64/F16/BF16 are converted (F64 rounding
 * to nearest). Integer dtypes are refused. Errors: "<path>: <name>: missing", "… shape [..] expected [..]". */
bl_status bl_safetensors_read_f32(const bl_safetensors *st, const char *name, int ndim, const int *shape,
                                  int64_t count, float *dst);

/* ---- writing ----
 * Tensors are added by pointer (the caller keeps the data alive until save). Names must be unique. save()
 * writes to "<path>.tmp.<pid>" then renames, so a crash never leaves a half-written file under `path`. */
typedef struct bl_st_writer bl_st_writer;
bl_status bl_st_writer_create(bl_st_writer **out);
bl_status bl_st_writer_add_f32(bl_st_writer *w, const char *name, int ndim, const int *shape, const float *data);
/* Any dtype, raw little-endian bytes of numel × size. */
bl_status bl_st_writer_add_raw(bl_st_writer *w, const char *name, bl_dtype dtype, int ndim, const int64_t *shape,
                               const void *data);
bl_status bl_st_writer_add_metadata(bl_st_writer *w, const char *key, const char *value);
bl_status bl_st_writer_save(bl_st_writer *w, const char *path);
void bl_st_writer_free(bl_st_writer *w);

#endif
