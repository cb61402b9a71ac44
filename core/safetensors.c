/* safetensors.c — the safetensors reader (validate everything, then hand out views) and writer (atomic save).
 *
 * What it is: a loader that trusts nothing in a file. bl_safetensors_open() reads the whole file into memory,
 * parses the header with cJSON and then checks every field, every number and every byte range before anyone
 * sees an entry; any failure is one line naming the file, the tensor or field, and expected vs got values.
 * The checks (and their exact messages) are listed in docs/formats.md, section "safetensors".
 *
 * What it is not: a memory-mapped or lazy loader (the data section is copied into one malloc'd block), nor a
 * general JSON library. Only the dtypes blasto uses are accepted (F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL);
 * valid safetensors dtypes beyond those (U16, U32, U64, F8_*) are refused as unsupported.
 *
 * Stricter than the reference implementation (huggingface/safetensors, Metadata::validate) in a few places,
 * all on purpose: unknown fields inside an entry, duplicate names or keys, a non-object __metadata__, integers
 * written as 2.0 / 2e0 / 02, integers above 2^53, raw control bytes or invalid UTF-8 in the header, and a
 * UTF-8 byte-order mark are refused. The coverage rule is the reference's: sorted by offset, each tensor must
 * begin exactly where the previous one ended, and the last must end at the end of the file.
 *
 * Endianness: tensor bytes are little-endian in the file. Reading and writing floats go through a bulk copy on
 * little-endian hosts and through explicit byte assembly (b0 | b1<<8 | …) otherwise, so big-endian hosts get
 * the byte swap for free. Raw (non-float32) data is passed through as stored. */
#define _POSIX_C_SOURCE 200809L

#include "core/safetensors.h"
#include "core/fileio.h"
#include "core/safetensors_common.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A header larger than this is refused before it is parsed (the reference refuses 100 MB). */
#define HEADER_LIMIT_BYTES ((uint64_t)100 * 1024 * 1024)

/* ---- dtypes ------------------------------------------------------------------------------------------------ */

static const struct dtype_info {
    const char *name;
    size_t size;
} dtype_table[] = {
    [BL_DTYPE_F64] = {"F64", 8}, [BL_DTYPE_F32] = {"F32", 4}, [BL_DTYPE_F16] = {"F16", 2},
    [BL_DTYPE_BF16] = {"BF16", 2}, [BL_DTYPE_I64] = {"I64", 8}, [BL_DTYPE_I32] = {"I32", 4},
    [BL_DTYPE_I16] = {"I16", 2}, [BL_DTYPE_I8] = {"I8", 1}, [BL_DTYPE_U8] = {"U8", 1},
    [BL_DTYPE_BOOL] = {"BOOL", 1},
};
#define DTYPE_COUNT ((int)(sizeof dtype_table / sizeof dtype_table[0]))
#define DTYPE_LIST "F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL"

int st_dtype_is_valid(bl_dtype d) { return (int)d >= 0 && (int)d < DTYPE_COUNT; }

const char *bl_dtype_name(bl_dtype d) { return st_dtype_is_valid(d) ? dtype_table[d].name : "?"; }

size_t bl_dtype_size(bl_dtype d) { return st_dtype_is_valid(d) ? dtype_table[d].size : 0; }

/* ---- small helpers ----------------------------------------------------------------------------------------- */

/* 1 when the host stores the low byte of an integer first (the file's byte order). */
int st_host_is_little_endian(void) {
    const uint16_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

/* b[8]: read, little-endian. */
uint64_t st_load_le_u64(const unsigned char *b) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

/* b[8]: written, little-endian. */
void st_store_le_u64(unsigned char *b, uint64_t v) {
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
}

/* A malloc'd copy of the NUL-terminated s (strdup is not C11); NULL when out of memory. */
char *st_copy_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *c = malloc(n);
    if (c) memcpy(c, s, n);
    return c;
}

/* Record "<label>: <message>" as this thread's error and return `code`. */
bl_status st_fail_at(bl_status code, const char *label, const char *fmt, ...) {
    char message[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    return bl_fail(code, "%s: %s", label, message);
}

/* A tensor name as it appears in messages: in single quotes, control bytes as \xNN (so a message stays one
 * line whatever the file contains), cut after ~80 bytes (on a UTF-8 character boundary) with "...". */

quoted_name st_quote_name(const char *name) {
    quoted_name q;
    size_t k = 0, budget = 84; /* worst case after the loop: 84 + 4 (escape) + 3 ("...") + 2 < 112 */
    q.text[k++] = '\'';
    size_t i = 0;
    for (; name[i] && k < budget; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f) k += (size_t)snprintf(q.text + k, sizeof q.text - k, "\\x%02x", c);
        else q.text[k++] = (char)c;
    }
    if (name[i]) {
        while (k > 1 && ((unsigned char)q.text[k - 1] & 0xC0) == 0x80) k--; /* drop a cut UTF-8 tail */
        if (k > 1 && ((unsigned char)q.text[k - 1] & 0xC0) == 0xC0) k--;
        memcpy(q.text + k, "...", 3);
        k += 3;
    }
    q.text[k++] = '\'';
    q.text[k] = '\0';
    return q;
}


/* "[64,3,7,7]" for an int64 shape of ndim ≤ BL_MAX_DIMS; "[]" for a scalar. */
shape_string st_shape_text_i64(int ndim, const int64_t *shape) {
    shape_string s;
    size_t k = 0;
    s.text[k++] = '[';
    for (int i = 0; i < ndim; i++)
        k += (size_t)snprintf(s.text + k, sizeof s.text - k, i ? ",%lld" : "%lld", (long long)shape[i]);
    snprintf(s.text + k, sizeof s.text - k, "]");
    return s;
}

/* shape[ndim]: read. Same text for an int shape (the caller's expected shape in read_f32). */
shape_string st_shape_text_int(int ndim, const int *shape) {
    int64_t wide[BL_MAX_DIMS];
    for (int i = 0; i < ndim; i++) wide[i] = shape[i];
    return st_shape_text_i64(ndim, wide);
}

/* The JSON type of item, for "(got …)" in messages. */
static const char *json_type_name(const cJSON *item) {
    if (cJSON_IsNull(item)) return "null";
    if (cJSON_IsBool(item)) return "boolean";
    if (cJSON_IsNumber(item)) return "number";
    if (cJSON_IsString(item)) return "string";
    if (cJSON_IsArray(item)) return "array";
    if (cJSON_IsObject(item)) return "object";
    return "invalid";
}

/* text: NUL-terminated, read. 1 when it is entirely valid UTF-8. */
int st_utf8_is_valid(const char *text) { return bl_utf8_valid(text); }

/* ---- the reader's data ------------------------------------------------------------------------------------- */

struct bl_safetensors {
    char *label;                      /* path, or the label given to bl_safetensors_parse */
    unsigned char *file_bytes;        /* the whole file [file_size], owned */
    size_t file_size;
    bl_st_entry *entries;             /* [entry_count], sorted by (begin, end, name) */
    int entry_count;
    const bl_st_entry **by_name;      /* [entry_count] pointers into entries, sorted by name (for find) */
    struct metadata_pair { char *key, *value; } *metadata; /* [metadata_count], sorted by key */
    int metadata_count;
};

/* ---- lexical check of the header text ------------------------------------------------------------------------
 * cJSON is lenient where a trusted loader must not be: it treats any byte ≤ 32 as whitespace, skips a UTF-8
 * BOM, accepts raw control bytes and any byte sequence inside strings, turns a malformed \uXXXX into NUL, and
 * reads 2.0, 2e0 and 02 as the integer 2. One pass over the text (already accepted by cJSON, so its structure
 * is sound) finds the first problem of two kinds: text problems (reported before any entry is examined,
 * because names must be trustworthy) and number-spelling problems (reported after the entry checks, so that a
 * negative or fractional value gets the more useful message naming its tensor). */
typedef struct header_scan {
    const char *text_problem;   /* NULL when none */
    unsigned text_problem_byte;
    size_t text_problem_at;
    int number_problem;         /* 1 when a number is not spelled as a plain integer */
    char number_token[40];
    size_t number_problem_at;
} header_scan;

static int is_hex_digit(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* text[length]: read. result: written. */
static void scan_header_text(const unsigned char *text, size_t length, header_scan *result) {
    memset(result, 0, sizeof *result);
#define TEXT_PROBLEM(what, byte, at)                                                                           \
    do {                                                                                                       \
        if (!result->text_problem) {                                                                           \
            result->text_problem = (what);                                                                     \
            result->text_problem_byte = (byte);                                                                \
            result->text_problem_at = (at);                                                                    \
        }                                                                                                      \
    } while (0)
    size_t i = 0;
    while (i < length && !(result->text_problem && result->number_problem)) {
        unsigned char c = text[i];
        if (c == '"') { /* a string: walk to its closing quote */
            i++;
            while (i < length && text[i] != '"') {
                unsigned char s = text[i];
                if (s == '\\') {
                    unsigned char e = i + 1 < length ? text[i + 1] : 0;
                    if (e == 'u') {
                        int ok = i + 5 < length && is_hex_digit(text[i + 2]) && is_hex_digit(text[i + 3]) &&
                                 is_hex_digit(text[i + 4]) && is_hex_digit(text[i + 5]);
                        if (!ok) TEXT_PROBLEM("malformed \\u escape", e, i);
                        else if (!memcmp(text + i + 2, "0000", 4)) TEXT_PROBLEM("escaped NUL (\\u0000) in a string", 0, i);
                        i += 6;
                    } else {
                        if (!e || !strchr("\"\\/bfnrt", e)) TEXT_PROBLEM("malformed escape", e, i);
                        i += 2;
                    }
                } else if (s < 0x20) {
                    TEXT_PROBLEM("raw control byte inside a string", s, i);
                    i++;
                } else {
                    size_t len = bl_utf8_sequence_length(text + i, length - i);
                    if (!len) {
                        TEXT_PROBLEM("invalid UTF-8", s, i);
                        len = 1;
                    }
                    i += len;
                }
            }
            i++; /* the closing quote */
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            /* a number token: the bytes cJSON would hand to strtod */
            size_t start = i;
            while (i < length && text[i] && strchr("0123456789+-.eE", text[i])) i++;
            size_t n = i - start, d = (text[start] == '-');
            int plain = n > d && (n - d == 1 || text[start + d] != '0');
            for (size_t k = start + d; k < i; k++)
                if (text[k] < '0' || text[k] > '9') plain = 0;
            if (!plain && !result->number_problem) {
                result->number_problem = 1;
                result->number_problem_at = start;
                size_t copy = n < sizeof result->number_token - 1 ? n : sizeof result->number_token - 1;
                memcpy(result->number_token, text + start, copy);
                result->number_token[copy] = '\0';
            }
        } else {
            int allowed = c == ' ' || c == '\t' || c == '\n' || c == '\r' || (c && strchr("{}[],:", c)) ||
                          (c >= 'a' && c <= 'z'); /* letters of true / false / null, checked by cJSON */
            if (!allowed) TEXT_PROBLEM("unexpected byte outside strings", c, i);
            i++;
        }
    }
#undef TEXT_PROBLEM
}

/* ---- entry validation ---------------------------------------------------------------------------------------- */

/* Read one JSON number that must be a non-negative integer ≤ 2^53 (shape dimension or data offset).
 * item: read. value: written. `field` and `position` name it in the message ("shape", 1 → "shape[1]"). */
static bl_status read_json_index(const char *label, const char *name, const char *field, int position,
                                 const cJSON *item, uint64_t *value) {
    quoted_name q = st_quote_name(name);
    if (!cJSON_IsNumber(item))
        return st_fail_at(BL_ERR_FORMAT, label, "%s: %s[%d] is not a number (got %s)", q.text, field, position,
                       json_type_name(item));
    double d = item->valuedouble;
    if (signbit(d))
        return st_fail_at(BL_ERR_FORMAT, label, "%s: %s[%d] is negative (expected an integer >= 0, got %.17g)", q.text,
                       field, position, d);
    if (d != floor(d))
        return st_fail_at(BL_ERR_FORMAT, label, "%s: %s[%d] is not an integer (got %.17g)", q.text, field, position, d);
    if (d > JSON_INTEGER_LIMIT)
        return st_fail_at(BL_ERR_FORMAT, label, "%s: %s[%d] is too large (expected <= 2^53, got %.17g)", q.text, field,
                       position, d);
    *value = (uint64_t)d;
    return BL_OK;
}

/* Parse and check one tensor entry {"dtype":…, "shape":[…], "data_offsets":[b,e]}.
 * object: read. entry: written (name not set here). data_size: bytes in the data section. */
static bl_status parse_entry(const char *label, const char *name, const cJSON *object, uint64_t data_size,
                             bl_st_entry *entry) {
    quoted_name q = st_quote_name(name);
    if (!cJSON_IsObject(object))
        return st_fail_at(BL_ERR_FORMAT, label, "%s: entry is not an object (got %s)", q.text, json_type_name(object));
    const cJSON *dtype = NULL, *shape = NULL, *offsets = NULL;
    for (const cJSON *field = object->child; field; field = field->next) {
        const cJSON **slot = !strcmp(field->string, "dtype") ? &dtype
                             : !strcmp(field->string, "shape") ? &shape
                             : !strcmp(field->string, "data_offsets") ? &offsets
                                                                        : NULL;
        quoted_name f = st_quote_name(field->string);
        if (!slot)
            return st_fail_at(BL_ERR_FORMAT, label, "%s: unknown field %s (expected dtype, shape, data_offsets)", q.text,
                           f.text);
        if (*slot) return st_fail_at(BL_ERR_FORMAT, label, "%s: field %s appears twice", q.text, f.text);
        *slot = field;
    }
    if (!dtype) return st_fail_at(BL_ERR_FORMAT, label, "%s: missing field 'dtype'", q.text);
    if (!shape) return st_fail_at(BL_ERR_FORMAT, label, "%s: missing field 'shape'", q.text);
    if (!offsets) return st_fail_at(BL_ERR_FORMAT, label, "%s: missing field 'data_offsets'", q.text);

    if (!cJSON_IsString(dtype))
        return st_fail_at(BL_ERR_FORMAT, label, "%s: dtype is not a string (got %s)", q.text, json_type_name(dtype));
    int found = -1;
    for (int d = 0; d < DTYPE_COUNT; d++)
        if (!strcmp(dtype->valuestring, dtype_table[d].name)) found = d;
    if (found < 0) {
        static const char *const other_safetensors_dtypes[] = {"U16", "U32", "U64", "F8_E5M2", "F8_E4M3"};
        quoted_name t = st_quote_name(dtype->valuestring);
        for (size_t k = 0; k < sizeof other_safetensors_dtypes / sizeof *other_safetensors_dtypes; k++)
            if (!strcmp(dtype->valuestring, other_safetensors_dtypes[k]))
                return st_fail_at(BL_ERR_UNSUPPORTED, label, "%s: unsupported dtype %s (expected one of " DTYPE_LIST ")",
                               q.text, t.text);
        return st_fail_at(BL_ERR_FORMAT, label, "%s: unknown dtype %s (expected one of " DTYPE_LIST ")", q.text, t.text);
    }
    entry->dtype = (bl_dtype)found;

    if (!cJSON_IsArray(shape))
        return st_fail_at(BL_ERR_FORMAT, label, "%s: shape is not an array (got %s)", q.text, json_type_name(shape));
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > BL_MAX_DIMS)
        return st_fail_at(BL_ERR_FORMAT, label, "%s: shape has %d dimensions (expected at most %d)", q.text, ndim,
                       BL_MAX_DIMS);
    entry->ndim = ndim;
    int position = 0;
    for (const cJSON *dim = shape->child; dim; dim = dim->next, position++) {
        uint64_t extent;
        bl_status s = read_json_index(label, name, "shape", position, dim, &extent);
        if (s) return s;
        entry->shape[position] = (int64_t)extent;
    }
    /* numel = Π shape, then bytes = numel · size, each step checked against int64 overflow */
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (entry->shape[i] != 0 && numel > INT64_MAX / entry->shape[i]) {
            shape_string st = st_shape_text_i64(ndim, entry->shape);
            return st_fail_at(BL_ERR_FORMAT, label, "%s: shape %s has more elements than fit in int64", q.text, st.text);
        }
        numel *= entry->shape[i];
    }
    entry->numel = numel;
    int64_t element_size = (int64_t)dtype_table[found].size;
    if (numel > INT64_MAX / element_size) {
        shape_string st = st_shape_text_i64(ndim, entry->shape);
        return st_fail_at(BL_ERR_FORMAT, label, "%s: shape %s of %s needs more bytes than fit in int64", q.text, st.text,
                       dtype_table[found].name);
    }
    uint64_t needed = (uint64_t)(numel * element_size);

    if (!cJSON_IsArray(offsets))
        return st_fail_at(BL_ERR_FORMAT, label, "%s: data_offsets is not an array (got %s)", q.text,
                       json_type_name(offsets));
    int offset_count = cJSON_GetArraySize(offsets);
    if (offset_count != 2)
        return st_fail_at(BL_ERR_FORMAT, label, "%s: data_offsets has %d items (expected 2)", q.text, offset_count);
    bl_status s = read_json_index(label, name, "data_offsets", 0, offsets->child, &entry->begin);
    if (!s) s = read_json_index(label, name, "data_offsets", 1, offsets->child->next, &entry->end);
    if (s) return s;
    unsigned long long begin = entry->begin, end = entry->end;
    if (begin > end)
        return st_fail_at(BL_ERR_FORMAT, label, "%s: data_offsets [%llu,%llu] have begin after end (expected begin <= end)",
                       q.text, begin, end);
    if (end > data_size)
        return st_fail_at(BL_ERR_FORMAT, label,
                       "%s: data_offsets [%llu,%llu] end beyond the data section (expected end <= %llu, got %llu)",
                       q.text, begin, end, (unsigned long long)data_size, end);
    if (end - begin != needed) {
        shape_string st = st_shape_text_i64(ndim, entry->shape);
        return st_fail_at(BL_ERR_FORMAT, label,
                       "%s: shape %s needs %llu bytes, data_offsets give %llu (dtype %s, data_offsets [%llu,%llu])",
                       q.text, st.text, (unsigned long long)needed, end - begin, dtype_table[found].name, begin, end);
    }
    return BL_OK;
}

static int compare_metadata_keys(const void *pa, const void *pb) {
    const struct metadata_pair *a = pa, *b = pb;
    return strcmp(a->key, b->key);
}

/* "__metadata__": an object whose values are all strings. object: read. st->metadata[count]: written, sorted by
 * key (qsort: a hostile header may hold millions of keys, so nothing quadratic here). */
static bl_status parse_metadata(bl_safetensors *st, const cJSON *object) {
    const char *label = st->label;
    if (!cJSON_IsObject(object))
        return st_fail_at(BL_ERR_FORMAT, label, "'__metadata__': not an object (got %s)", json_type_name(object));
    int count = cJSON_GetArraySize(object);
    st->metadata = calloc((size_t)count + 1, sizeof *st->metadata);
    if (!st->metadata) return st_fail_at(BL_ERR_NOMEM, label, "'__metadata__': cannot allocate %d keys", count);
    for (const cJSON *item = object->child; item; item = item->next) {
        quoted_name k = st_quote_name(item->string);
        if (!cJSON_IsString(item))
            return st_fail_at(BL_ERR_FORMAT, label, "'__metadata__': %s: value is not a string (got %s)", k.text,
                           json_type_name(item));
        struct metadata_pair *pair = &st->metadata[st->metadata_count++];
        pair->key = st_copy_string(item->string);
        pair->value = st_copy_string(item->valuestring);
        if (!pair->key || !pair->value)
            return st_fail_at(BL_ERR_NOMEM, label, "'__metadata__': %s: cannot copy the value", k.text);
    }
    /* a key that appears twice is refused: cJSON keeps both, and a reader must not pick one silently */
    if (st->metadata_count > 1) qsort(st->metadata, (size_t)st->metadata_count, sizeof *st->metadata, compare_metadata_keys);
    for (int i = 1; i < st->metadata_count; i++)
        if (!strcmp(st->metadata[i - 1].key, st->metadata[i].key)) {
            quoted_name k = st_quote_name(st->metadata[i].key);
            return st_fail_at(BL_ERR_FORMAT, label, "'__metadata__': duplicate key %s", k.text);
        }
    return BL_OK;
}

/* qsort order of entries: by begin, then end, then name (a total order, so the result is deterministic). */
static int compare_by_offset(const void *pa, const void *pb) {
    const bl_st_entry *a = pa, *b = pb;
    if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end) return a->end < b->end ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* qsort order of entry pointers: by name, byte-wise. */
static int compare_by_name(const void *pa, const void *pb) {
    const bl_st_entry *const *a = pa, *const *b = pb;
    return strcmp((*a)->name, (*b)->name);
}

/* The checks that span entries: unique names, then — sorted by offset — each tensor begins exactly where the
 * previous one ended (no overlap, no gap) and the last ends at the end of the data section. */
static bl_status check_layout(bl_safetensors *st, uint64_t data_size) {
    const char *label = st->label;
    int n = st->entry_count;
    if (n > 1) qsort(st->entries, (size_t)n, sizeof *st->entries, compare_by_offset);
    st->by_name = malloc(((size_t)n + 1) * sizeof *st->by_name);
    if (!st->by_name) return st_fail_at(BL_ERR_NOMEM, label, "cannot allocate the name index of %d tensors", n);
    for (int i = 0; i < n; i++) st->by_name[i] = &st->entries[i];
    if (n > 1) qsort(st->by_name, (size_t)n, sizeof *st->by_name, compare_by_name);
    for (int i = 1; i < n; i++)
        if (!strcmp(st->by_name[i - 1]->name, st->by_name[i]->name)) {
            quoted_name q = st_quote_name(st->by_name[i]->name);
            return st_fail_at(BL_ERR_FORMAT, label, "duplicate tensor name %s", q.text);
        }
    uint64_t expected_begin = 0;
    for (int i = 0; i < n; i++) {
        const bl_st_entry *e = &st->entries[i];
        quoted_name q = st_quote_name(e->name);
        if (e->begin < expected_begin) {
            const bl_st_entry *p = &st->entries[i - 1];
            quoted_name qp = st_quote_name(p->name);
            return st_fail_at(BL_ERR_FORMAT, label, "%s: data_offsets [%llu,%llu] overlap %s [%llu,%llu]", qp.text,
                           (unsigned long long)p->begin, (unsigned long long)p->end, q.text,
                           (unsigned long long)e->begin, (unsigned long long)e->end);
        }
        if (e->begin > expected_begin) {
            if (i == 0)
                return st_fail_at(BL_ERR_FORMAT, label,
                               "%s: data_offsets [%llu,%llu] leave %llu unused bytes at the start of the data section "
                               "(expected begin 0, got %llu)",
                               q.text, (unsigned long long)e->begin, (unsigned long long)e->end,
                               (unsigned long long)e->begin, (unsigned long long)e->begin);
            quoted_name qp = st_quote_name(st->entries[i - 1].name);
            return st_fail_at(BL_ERR_FORMAT, label,
                           "%s: data_offsets [%llu,%llu] leave a gap of %llu bytes after %s (expected begin %llu, "
                           "got %llu)",
                           q.text, (unsigned long long)e->begin, (unsigned long long)e->end,
                           (unsigned long long)(e->begin - expected_begin), qp.text,
                           (unsigned long long)expected_begin, (unsigned long long)e->begin);
        }
        expected_begin = e->end;
    }
    if (expected_begin != data_size)
        return st_fail_at(BL_ERR_FORMAT, label,
                       "data section has %llu trailing bytes not covered by any tensor (expected data size %llu, "
                       "got %llu)",
                       (unsigned long long)(data_size - expected_begin), (unsigned long long)expected_begin,
                       (unsigned long long)data_size);
    return BL_OK;
}

/* ---- parsing a whole file image ---------------------------------------------------------------------------- */

/* bytes[size]: read, and owned from here on (freed on failure, kept by *out on success). */
static bl_status parse_owned(unsigned char *bytes, size_t size, const char *label, bl_safetensors **out) {
    *out = NULL;
    bl_safetensors *st = calloc(1, sizeof *st);
    char *label_copy = st_copy_string(label);
    if (!st || !label_copy) {
        free(st);
        free(label_copy);
        free(bytes);
        return st_fail_at(BL_ERR_NOMEM, label, "cannot allocate the reader");
    }
    st->label = label_copy;
    st->file_bytes = bytes;
    st->file_size = size;
    cJSON *root = NULL;
    bl_status s = BL_OK;
    if (size == 0) {
        s = st_fail_at(BL_ERR_FORMAT, label, "file is empty (expected at least 8 bytes: the header length)");
        goto done;
    }
    if (size < 8) {
        s = st_fail_at(BL_ERR_FORMAT, label, "file is %zu bytes, too short for the 8-byte header length", size);
        goto done;
    }
    uint64_t header_length = st_load_le_u64(bytes);
    if (header_length > HEADER_LIMIT_BYTES) {
        s = st_fail_at(BL_ERR_FORMAT, label, "header length %llu exceeds the 100 MiB limit (expected <= %llu)",
                    (unsigned long long)header_length, (unsigned long long)HEADER_LIMIT_BYTES);
        goto done;
    }
    if (header_length > size - 8) {
        s = st_fail_at(BL_ERR_FORMAT, label, "header length %llu exceeds file size %zu (expected <= %zu = file size - 8)",
                    (unsigned long long)header_length, size, size - 8);
        goto done;
    }
    const char *text = (const char *)bytes + 8;
    size_t text_length = (size_t)header_length;
    const char *parse_end = NULL;
    root = cJSON_ParseWithLengthOpts(text, text_length, &parse_end, 0);
    if (!root) {
        size_t at = parse_end ? (size_t)(parse_end - text) : 0;
        s = st_fail_at(BL_ERR_FORMAT, label, "header is not valid JSON (parse error at header byte %zu of %zu)", at,
                    text_length);
        goto done;
    }
    /* the reference pads the header with spaces to a multiple of 8 bytes; JSON whitespace is all that may
     * follow the object */
    for (size_t i = (size_t)(parse_end - text); i < text_length; i++)
        if (!text[i] || !strchr(" \t\r\n", text[i])) {
            s = st_fail_at(BL_ERR_FORMAT, label,
                        "header: unexpected byte 0x%02x after the JSON object at header byte %zu (only space "
                        "padding may follow)",
                        (unsigned char)text[i], i);
            goto done;
        }
    if (!cJSON_IsObject(root)) {
        s = st_fail_at(BL_ERR_FORMAT, label, "header is not a JSON object (got %s)", json_type_name(root));
        goto done;
    }
    header_scan scan;
    scan_header_text((const unsigned char *)text, (size_t)(parse_end - text), &scan);
    if (scan.text_problem) {
        s = st_fail_at(BL_ERR_FORMAT, label, "header: %s (byte 0x%02x at header byte %zu)", scan.text_problem,
                    scan.text_problem_byte, scan.text_problem_at);
        goto done;
    }

    uint64_t data_size = (uint64_t)(size - 8 - text_length);
    const unsigned char *data_section = bytes + 8 + text_length;
    int members = cJSON_GetArraySize(root);
    st->entries = calloc((size_t)members + 1, sizeof *st->entries);
    if (!st->entries) {
        s = st_fail_at(BL_ERR_NOMEM, label, "cannot allocate %d entries", members);
        goto done;
    }
    int seen_metadata = 0;
    for (const cJSON *member = root->child; member; member = member->next) {
        if (!strcmp(member->string, "__metadata__")) {
            if (seen_metadata++) {
                s = st_fail_at(BL_ERR_FORMAT, label, "duplicate '__metadata__'");
                goto done;
            }
            s = parse_metadata(st, member);
            if (s) goto done;
            continue;
        }
        bl_st_entry *entry = &st->entries[st->entry_count];
        s = parse_entry(label, member->string, member, data_size, entry);
        if (s) goto done;
        entry->name = st_copy_string(member->string);
        if (!entry->name) {
            s = st_fail_at(BL_ERR_NOMEM, label, "cannot copy a tensor name");
            goto done;
        }
        st->entry_count++;
    }
    if (scan.number_problem) {
        s = st_fail_at(BL_ERR_FORMAT, label,
                    "header: number '%s' at header byte %zu is not a plain integer (expected digits only, no "
                    "fraction, exponent or leading zero)",
                    scan.number_token, scan.number_problem_at);
        goto done;
    }
    s = check_layout(st, data_size);
    if (s) goto done;
    for (int i = 0; i < st->entry_count; i++) st->entries[i].data = data_section + st->entries[i].begin;
done:
    cJSON_Delete(root);
    if (s) bl_safetensors_close(st);
    else *out = st;
    return s;
}

/* bytes[size]: read (copied, so the caller may free it at once). */
bl_status bl_safetensors_parse(const void *bytes, size_t size, const char *label, bl_safetensors **out) {
    if (!label) label = "<memory>";
    if (!out) return st_fail_at(BL_ERR_INVALID, label, "bl_safetensors_parse: out is NULL");
    *out = NULL;
    if (!bytes && size) return st_fail_at(BL_ERR_INVALID, label, "bl_safetensors_parse: bytes is NULL");
    unsigned char *copy = malloc(size + 1);
    if (!copy) return st_fail_at(BL_ERR_NOMEM, label, "cannot allocate %zu bytes for a copy", size + 1);
    if (size) memcpy(copy, bytes, size);
    return parse_owned(copy, size, label, out);
}

/* Reads the whole file into one buffer (size from fstat, then a check that nothing more follows) and parses it. */
bl_status bl_safetensors_open(const char *path, bl_safetensors **out) {
    if (!out) return bl_fail(BL_ERR_INVALID, "bl_safetensors_open: out is NULL");
    *out = NULL;
    if (!path) return bl_fail(BL_ERR_INVALID, "bl_safetensors_open: path is NULL");
    FILE *f = NULL;
    uint64_t file_size = 0;
    bl_status opened = bl_input_open(path, 0, &f, &file_size); /* a regular file only; the message names it */
    if (opened) return opened;
    if (file_size >= (uint64_t)SIZE_MAX) {
        fclose(f);
        return st_fail_at(BL_ERR_IO, path, "cannot open: file of %llu bytes does not fit in memory",
                          (unsigned long long)file_size);
    }
    size_t size = (size_t)file_size;
    unsigned char *bytes = malloc(size + 1);
    if (!bytes) {
        fclose(f);
        return st_fail_at(BL_ERR_NOMEM, path, "cannot allocate %zu bytes to read the file", size + 1);
    }
    size_t got = fread(bytes, 1, size, f);
    int read_error = ferror(f), errno_saved = errno;
    /* one more byte must hit end-of-file, else the file grew while we read it */
    int grew = !read_error && got == size && fgetc(f) != EOF;
    fclose(f);
    if (read_error || got != size || grew) {
        free(bytes);
        if (read_error) return st_fail_at(BL_ERR_IO, path, "cannot read: %s", strerror(errno_saved));
        return st_fail_at(BL_ERR_IO, path, "file changed while being read (expected %zu bytes, got %s%zu)", size,
                       grew ? "more than " : "", got);
    }
    return parse_owned(bytes, size, path, out);
}

/* Frees everything the reader owns; entries and their data pointers die with it. Accepts NULL and half-built readers. */
void bl_safetensors_close(bl_safetensors *st) {
    if (!st) return;
    if (st->entries)
        for (int i = 0; i < st->entry_count; i++) free(st->entries[i].name);
    if (st->metadata)
        for (int i = 0; i < st->metadata_count; i++) {
            free(st->metadata[i].key);
            free(st->metadata[i].value);
        }
    free(st->metadata);
    free(st->entries);
    free(st->by_name);
    free(st->file_bytes);
    free(st->label);
    free(st);
}

const char *bl_safetensors_path(const bl_safetensors *st) { return st ? st->label : NULL; }

int bl_safetensors_count(const bl_safetensors *st) { return st ? st->entry_count : 0; }

const bl_st_entry *bl_safetensors_entry(const bl_safetensors *st, int i) {
    return st && i >= 0 && i < st->entry_count ? &st->entries[i] : NULL;
}

/* Binary search over by_name; names are unique (checked at open). */
const bl_st_entry *bl_safetensors_find(const bl_safetensors *st, const char *name) {
    if (!st || !name) return NULL;
    int lo = 0, hi = st->entry_count - 1; /* binary search over the name-sorted index */
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(st->by_name[mid]->name, name);
        if (c == 0) return st->by_name[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

/* Binary search over the key-sorted pairs. */
const char *bl_safetensors_metadata(const bl_safetensors *st, const char *key) {
    if (!st || !key || !st->metadata_count) return NULL;
    struct metadata_pair probe = {(char *)key, NULL};
    const struct metadata_pair *hit =
        bsearch(&probe, st->metadata, (size_t)st->metadata_count, sizeof probe, compare_metadata_keys);
    return hit ? hit->value : NULL;
}

int bl_safetensors_metadata_count(const bl_safetensors *st) { return st ? st->metadata_count : 0; }

void bl_safetensors_metadata_at(const bl_safetensors *st, int i, const char **key, const char **value) {
    int ok = st && i >= 0 && i < st->metadata_count;
    if (key) *key = ok ? st->metadata[i].key : NULL;
    if (value) *value = ok ? st->metadata[i].value : NULL;
}
