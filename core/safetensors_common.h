/* safetensors_common.h — PRIVATE helpers shared by the safetensors reader (safetensors.c) and writer
 * (safetensors_write.c). Not installed for users; see safetensors.h for the API. */
#ifndef BLASTO_SAFETENSORS_COMMON_H
#define BLASTO_SAFETENSORS_COMMON_H

#include <stdint.h>

#include "core/safetensors.h"

/* JSON numbers reach us as doubles (cJSON); every integer up to 2^53 is exact in a double, beyond it is not. */
#define JSON_INTEGER_LIMIT 9007199254740992.0

/* A tensor name as it appears in messages: quoted, control bytes escaped, cut after ~80 bytes. */
typedef struct quoted_name { char text[112]; } quoted_name;
/* "[64,3,7,7]"; "[]" for a scalar. */
typedef struct shape_string { char text[160]; } shape_string;

int st_host_is_little_endian(void);
void st_store_le_u64(unsigned char *b, uint64_t v);
char *st_copy_string(const char *s);
/* bl_fail with "<label>: " in front of the formatted message */
bl_status st_fail_at(bl_status code, const char *label, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
quoted_name st_quote_name(const char *name);
shape_string st_shape_text_i64(int ndim, const int64_t *shape);
int st_utf8_is_valid(const char *text);
int st_dtype_is_valid(bl_dtype d);
uint64_t st_load_le_u64(const unsigned char *b);
shape_string st_shape_text_int(int ndim, const int *shape);

#endif
