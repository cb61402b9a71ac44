/* test_safetensors.c — the safetensors reader and writer: round trips, byte-exact layout against the reference
 * format, float conversions, and every bad input the reader must refuse with its exact message.
 *
 * Expected values here never come from the code under test: layouts are written out by hand (the reference
 * implementation's own test vectors for "attn.0" / "attn0" / empty / metadata-only files), F16/BF16/F64 bit
 * patterns are paired with values written as C literals, and corrupt files are spelled out byte by byte.
 * An optional part hands files to Debian's /usr/bin/python3 + numpy (an independent reader and writer); it is
 * skipped, with a note, where that interpreter or numpy is missing. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/rng.h"
#include "core/safetensors.h"
#include "harness.h"

static char temp_dir[64];

/* ---- helpers -------------------------------------------------------------------------------------------------- */

/* A file image: 8-byte little-endian `length_field`, then header[header_size], then data_size zero bytes.
 * Returns malloc'd bytes; *size gets the total. */
static unsigned char *make_image(uint64_t length_field, const char *header, size_t header_size, size_t data_size,
                                 size_t *size) {
    *size = 8 + header_size + data_size;
    unsigned char *b = calloc(*size + 1, 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(length_field >> (8 * i));
    memcpy(b + 8, header, header_size);
    return b;
}

/* CHECK that `status` is `code` and the thread's message starts with "<label>: ", contains `want`, and is one
 * line. `what` names the case in a failure. */
static void check_error(const char *what, bl_status status, bl_status code, const char *label, const char *want) {
    const char *msg = bl_last_error();
    CHECK(status == code, "%s: status %d (%s), want %d; message: %s", what, (int)status, bl_status_name(status),
          (int)code, msg);
    CHECK(!strncmp(msg, label, strlen(label)) && !strncmp(msg + strlen(label), ": ", 2),
          "%s: message does not start with '%s: ': %s", what, label, msg);
    CHECK(strstr(msg, want) != NULL, "%s: message lacks \"%s\": %s", what, want, msg);
    CHECK(strchr(msg, '\n') == NULL, "%s: message is not one line: %s", what, msg);
}

/* Parse header + data_size zero bytes (length field = header length); expect failure with `want`. */
static void expect_bad_header(const char *what, const char *header, size_t data_size, bl_status code,
                              const char *want) {
    size_t size;
    unsigned char *image = make_image(strlen(header), header, strlen(header), data_size, &size);
    bl_safetensors *st = (bl_safetensors *)&size; /* must be reset to NULL on failure */
    bl_clear_error();
    bl_status s = bl_safetensors_parse(image, size, "mem.safetensors", &st);
    check_error(what, s, code, "mem.safetensors", want);
    CHECK(st == NULL, "%s: out not NULL after failure", what);
    if (s == BL_OK) bl_safetensors_close(st);
    free(image);
}

/* Parse header + data; expect success; returns the reader (caller closes) or NULL. */
static bl_safetensors *expect_good(const char *what, const char *header, const void *data, size_t data_size) {
    size_t size;
    unsigned char *image = make_image(strlen(header), header, strlen(header), data_size, &size);
    if (data_size) memcpy(image + 8 + strlen(header), data, data_size);
    bl_safetensors *st = NULL;
    bl_status s = bl_safetensors_parse(image, size, what, &st);
    CHECK(s == BL_OK && st, "%s: parse failed: %s", what, bl_last_error());
    free(image);
    return s == BL_OK ? st : NULL;
}

static char *path_in_temp(const char *name) {
    static char paths[4][400];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, sizeof paths[0], "%s/%s", temp_dir, name);
    return p;
}

static unsigned char *read_whole(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    *size = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

static void write_whole(const char *path, const void *bytes, size_t size) {
    FILE *f = fopen(path, "wb");
    if (size) fwrite(bytes, 1, size, f);
    fclose(f);
}

/* Number of entries in `dir` whose name contains `part`. */
static int count_files_containing(const char *dir, const char *part) {
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, part)) n++;
    closedir(d);
    return n;
}

static void remove_temp_dir(void) {
    DIR *d = opendir(temp_dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *p = path_in_temp(e->d_name);
        if (remove(p) != 0) rmdir(p);
    }
    closedir(d);
    rmdir(temp_dir);
}

/* ---- round trip ----------------------------------------------------------------------------------------------- */

static void test_round_trip(void) {
    float weights[6], scalar = 3.25f, empty_unused = 0;
    test_fill_uniform(weights, 6, 7, 0, -1, 1);
    double f64[3] = {0.5, -2.0, 1e-3};
    unsigned char f64_bytes[24], i64_bytes[16], i32_bytes[8], i16_bytes[4];
    for (int i = 0; i < 3; i++) {
        uint64_t bits;
        memcpy(&bits, &f64[i], 8);
        for (int k = 0; k < 8; k++) f64_bytes[8 * i + k] = (unsigned char)(bits >> (8 * k));
    }
    const unsigned char f16_bytes[8] = {0x00, 0x3e, 0x00, 0xc0, 0xff, 0x7b, 0x01, 0x00}; /* 1.5 -2 65504 2^-24 */
    const unsigned char bf16_bytes[4] = {0x80, 0x3f, 0x40, 0xc0};                       /* 1 -3 */
    for (int i = 0; i < 16; i++) i64_bytes[i] = (unsigned char)(i * 17);
    for (int i = 0; i < 8; i++) i32_bytes[i] = (unsigned char)(200 - i);
    for (int i = 0; i < 4; i++) i16_bytes[i] = (unsigned char)(i + 1);
    const unsigned char i8_bytes[3] = {0x80, 0x7f, 0x00}, u8_bytes[5] = {1, 2, 3, 4, 255}, bool_bytes[2] = {1, 0};

    bl_st_writer *w = NULL;
    CHECK(bl_st_writer_create(&w) == BL_OK, "writer_create: %s", bl_last_error());
    const int shape_w[2] = {2, 3}, shape_zero[2] = {0, 5};
    const int64_t s3[1] = {3}, s4[1] = {4}, s2[1] = {2}, s2x1[2] = {2, 1}, s5[1] = {5};
    bl_status s = BL_OK;
    s |= bl_st_writer_add_metadata(w, "arch", "resnet50");
    s |= bl_st_writer_add_metadata(w, "note", "quote \" backslash \\ newline \n tab \t é");
    s |= bl_st_writer_add_f32(w, "fc.weight", 2, shape_w, weights);
    s |= bl_st_writer_add_raw(w, "f64", BL_DTYPE_F64, 1, s3, f64_bytes);
    s |= bl_st_writer_add_raw(w, "f16", BL_DTYPE_F16, 1, s4, f16_bytes);
    s |= bl_st_writer_add_raw(w, "bf16", BL_DTYPE_BF16, 1, s2, bf16_bytes);
    s |= bl_st_writer_add_raw(w, "i64", BL_DTYPE_I64, 1, s2, i64_bytes);
    s |= bl_st_writer_add_raw(w, "i32", BL_DTYPE_I32, 2, s2x1, i32_bytes);
    s |= bl_st_writer_add_raw(w, "i16", BL_DTYPE_I16, 1, s2, i16_bytes);
    s |= bl_st_writer_add_raw(w, "i8", BL_DTYPE_I8, 1, s3, i8_bytes);
    s |= bl_st_writer_add_raw(w, "u8", BL_DTYPE_U8, 1, s5, u8_bytes);
    s |= bl_st_writer_add_raw(w, "mask", BL_DTYPE_BOOL, 1, s2, bool_bytes);
    s |= bl_st_writer_add_f32(w, "scalar", 0, NULL, &scalar);
    s |= bl_st_writer_add_f32(w, "empty", 2, shape_zero, &empty_unused);
    CHECK(s == BL_OK, "adding tensors: %s", bl_last_error());
    const char *path = path_in_temp("round.safetensors");
    CHECK(bl_st_writer_save(w, path) == BL_OK, "save: %s", bl_last_error());
    bl_st_writer_free(w);
    CHECK(count_files_containing(temp_dir, ".tmp.") == 0, "a temporary file remains after a successful save");

    /* the layout: 8-byte length, header padded with spaces to a multiple of 8, data = sum of byte counts */
    size_t size = 0;
    unsigned char *file = read_whole(path, &size);
    uint64_t header_length = 0;
    for (int i = 7; i >= 0; i--) header_length = header_length << 8 | file[i];
    size_t data_bytes = 24 + 24 + 8 + 4 + 16 + 8 + 4 + 3 + 5 + 2 + 4 + 0;
    CHECK(header_length % 8 == 0, "header length %llu not a multiple of 8", (unsigned long long)header_length);
    CHECK(size == 8 + header_length + data_bytes, "file size %zu, want %llu", size,
          (unsigned long long)(8 + header_length + data_bytes));
    const char *prefix = "{\"__metadata__\":{\"arch\":\"resnet50\",\"note\":\"quote \\\" backslash \\\\ newline \\n "
                         "tab \\t \xc3\xa9\"},\"fc.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}";
    CHECK(header_length >= strlen(prefix) && !memcmp(file + 8, prefix, strlen(prefix)), "header begins %.120s",
          (const char *)file + 8);
    size_t json_end = 8 + header_length;
    while (json_end > 8 && file[json_end - 1] == ' ') json_end--;
    CHECK(file[json_end - 1] == '}' && 8 + header_length - json_end < 8, "header padding is not 0..7 spaces");
    free(file);

    bl_safetensors *st = NULL;
    CHECK(bl_safetensors_open(path, &st) == BL_OK, "open: %s", bl_last_error());
    if (!st) return;
    CHECK(!strcmp(bl_safetensors_path(st), path), "path %s", bl_safetensors_path(st));
    CHECK(bl_safetensors_count(st) == 12, "count %d, want 12", bl_safetensors_count(st));
    const char *order[12] = {"fc.weight", "f64", "f16", "bf16", "i64", "i32", "i16", "i8", "u8", "mask", "scalar", "empty"};
    /* "empty" (0 bytes) and "scalar" share no range; "empty" sits at the very end with begin = end = size */
    for (int i = 0; i < 12; i++) {
        const bl_st_entry *e = bl_safetensors_entry(st, i);
        CHECK(e && !strcmp(e->name, order[i]), "entry %d is %s, want %s", i, e ? e->name : "NULL", order[i]);
    }
    CHECK(bl_safetensors_entry(st, 12) == NULL && bl_safetensors_entry(st, -1) == NULL, "entry out of range");
    const bl_st_entry *e = bl_safetensors_find(st, "i32");
    CHECK(e && e->dtype == BL_DTYPE_I32 && e->ndim == 2 && e->shape[0] == 2 && e->shape[1] == 1 && e->numel == 2 &&
              e->end - e->begin == 8 && !memcmp(e->data, i32_bytes, 8),
          "i32 entry wrong");
    struct { const char *name; const void *bytes; size_t n; bl_dtype dtype; } raw[] = {
        {"f64", f64_bytes, 24, BL_DTYPE_F64}, {"f16", f16_bytes, 8, BL_DTYPE_F16}, {"bf16", bf16_bytes, 4, BL_DTYPE_BF16},
        {"i64", i64_bytes, 16, BL_DTYPE_I64}, {"i16", i16_bytes, 4, BL_DTYPE_I16}, {"i8", i8_bytes, 3, BL_DTYPE_I8},
        {"u8", u8_bytes, 5, BL_DTYPE_U8},     {"mask", bool_bytes, 2, BL_DTYPE_BOOL},
    };
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
        e = bl_safetensors_find(st, raw[i].name);
        CHECK(e && e->dtype == raw[i].dtype && e->end - e->begin == raw[i].n && !memcmp(e->data, raw[i].bytes, raw[i].n),
              "%s: bytes or dtype differ after the round trip", raw[i].name);
    }
    e = bl_safetensors_find(st, "scalar");
    CHECK(e && e->ndim == 0 && e->numel == 1, "scalar: ndim %d numel %lld", e ? e->ndim : -1,
          e ? (long long)e->numel : -1LL);
    e = bl_safetensors_find(st, "empty");
    CHECK(e && e->ndim == 2 && e->shape[0] == 0 && e->shape[1] == 5 && e->numel == 0 && e->begin == e->end,
          "empty tensor entry wrong");
    CHECK(bl_safetensors_find(st, "nope") == NULL, "find of an absent name");

    float got[6] = {0}, got_scalar = 0, got_f64[3], got_f16[4], got_bf16[2];
    CHECK(bl_safetensors_read_f32(st, "fc.weight", 2, shape_w, 0, got) == BL_OK, "%s", bl_last_error());
    CHECK(!memcmp(got, weights, sizeof weights), "F32 values changed in the round trip");
    CHECK(bl_safetensors_read_f32(st, "scalar", 0, NULL, 0, &got_scalar) == BL_OK && got_scalar == 3.25f,
          "scalar read: %s", bl_last_error());
    CHECK(bl_safetensors_read_f32(st, "empty", 2, shape_zero, 0, NULL) == BL_OK, "empty read: %s", bl_last_error());
    CHECK(bl_safetensors_read_f32(st, "fc.weight", -1, NULL, 6, got) == BL_OK, "any-shape read: %s", bl_last_error());
    CHECK(bl_safetensors_read_f32(st, "f64", -1, NULL, 3, got_f64) == BL_OK && got_f64[0] == 0.5f &&
              got_f64[1] == -2.0f && got_f64[2] == 1e-3f,
          "F64 read: %s", bl_last_error());
    CHECK(bl_safetensors_read_f32(st, "f16", -1, NULL, 4, got_f16) == BL_OK && got_f16[0] == 1.5f &&
              got_f16[1] == -2.0f && got_f16[2] == 65504.0f && got_f16[3] == 0x1p-24f,
          "F16 read: %s", bl_last_error());
    CHECK(bl_safetensors_read_f32(st, "bf16", -1, NULL, 2, got_bf16) == BL_OK && got_bf16[0] == 1.0f &&
              got_bf16[1] == -3.0f,
          "BF16 read: %s", bl_last_error());

    CHECK(bl_safetensors_metadata_count(st) == 2, "metadata count %d", bl_safetensors_metadata_count(st));
    CHECK(bl_safetensors_metadata(st, "arch") && !strcmp(bl_safetensors_metadata(st, "arch"), "resnet50"), "arch");
    CHECK(bl_safetensors_metadata(st, "note") &&
              !strcmp(bl_safetensors_metadata(st, "note"), "quote \" backslash \\ newline \n tab \t é"),
          "escaped metadata value changed");
    CHECK(bl_safetensors_metadata(st, "absent") == NULL, "absent metadata key");
    const char *key = NULL, *value = NULL;
    bl_safetensors_metadata_at(st, 0, &key, &value);
    CHECK(key && !strcmp(key, "arch") && value && !strcmp(value, "resnet50"), "metadata_at(0)");
    bl_safetensors_metadata_at(st, 5, &key, &value);
    CHECK(key == NULL && value == NULL, "metadata_at out of range");
    bl_safetensors_close(st);
}

/* ---- byte-exact layout ----------------------------------------------------------------------------------------- */

/* The reference implementation's test vectors (huggingface/safetensors tensor.rs: test_serialization,
 * test_serialization_forced_alignement, test_empty), written out by hand. */
static void test_reference_layout(void) {
    static const unsigned char floats_0_to_5[24] = {0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64,
                                                    0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64};
    const float values[6] = {0, 1, 2, 3, 4, 5};
    struct {
        const char *name;
        int ndim;
        int shape[4];
        const char *metadata_key;
        const char *header; /* exactly as the reference writes it, padding included */
    } cases[] = {
        {"attn.0", 3, {1, 2, 3}, NULL, "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}"},
        {"attn0", 4, {1, 1, 2, 3}, NULL,
         "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}       "},
        {NULL, 0, {0}, NULL, "{}      "},
        {NULL, 0, {0}, "framework", "{\"__metadata__\":{\"framework\":\"pt\"}}     "},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        bl_st_writer *w = NULL;
        bl_st_writer_create(&w);
        if (cases[c].name) bl_st_writer_add_f32(w, cases[c].name, cases[c].ndim, cases[c].shape, values);
        if (cases[c].metadata_key) bl_st_writer_add_metadata(w, cases[c].metadata_key, "pt");
        const char *path = path_in_temp("layout.safetensors");
        CHECK(bl_st_writer_save(w, path) == BL_OK, "layout %zu: save: %s", c, bl_last_error());
        bl_st_writer_free(w);
        size_t header_size = strlen(cases[c].header), data_size = cases[c].name ? 24 : 0, size = 0;
        unsigned char *want = make_image(header_size, cases[c].header, header_size, data_size, &size);
        if (data_size) memcpy(want + 8 + header_size, floats_0_to_5, 24);
        size_t got_size = 0;
        unsigned char *got = read_whole(path, &got_size);
        CHECK(got && got_size == size && !memcmp(got, want, size), "layout %zu: %zu bytes differ from the reference "
              "layout (want %zu bytes, header %s)", c, got_size, size, cases[c].header);
        CHECK(header_size % 8 == 0, "layout %zu: the expected header itself is not padded", c);
        bl_safetensors *st = NULL;
        CHECK(bl_safetensors_parse(want, size, "reference", &st) == BL_OK, "layout %zu: reference bytes refused: %s",
              c, bl_last_error());
        bl_safetensors_close(st);
        free(want);
        free(got);
    }
}

/* ---- conversions and layouts a reader must accept ---------------------------------------------------------------- */

static void test_conversions(void) {
    /* F16: 0, −0, 1, −2.5, 65504 (max), 2^−14 (min normal), 1023·2^−24 (max subnormal), 2^−24, +inf */
    const unsigned char f16[18] = {0x00, 0x00, 0x00, 0x80, 0x00, 0x3c, 0x00, 0xc1, 0xff,
                                   0x7b, 0x00, 0x04, 0xff, 0x03, 0x01, 0x00, 0x00, 0x7c};
    const float f16_want[9] = {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 0x1p-14f, 0x1.ff8p-15f, 0x1p-24f, INFINITY};
    bl_safetensors *st = expect_good("f16", "{\"h\":{\"dtype\":\"F16\",\"shape\":[9],\"data_offsets\":[0,18]}}", f16, 18);
    float got[9];
    if (st) {
        CHECK(bl_safetensors_read_f32(st, "h", 1, (const int[]){9}, 0, got) == BL_OK, "%s", bl_last_error());
        for (int i = 0; i < 9; i++)
            CHECK(got[i] == f16_want[i] && signbit(got[i]) == signbit(f16_want[i]), "F16 %d: got %a want %a", i,
                  (double)got[i], (double)f16_want[i]);
        bl_safetensors_close(st);
    }
    /* F16 NaN (0x7e00) stays NaN; BF16: 1, −3, 2^−133 (smallest subnormal), NaN (0x7fc0) */
    const unsigned char nan16[2] = {0x00, 0x7e}, bf16[8] = {0x80, 0x3f, 0x40, 0xc0, 0x01, 0x00, 0xc0, 0x7f};
    st = expect_good("nan16", "{\"h\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[0,2]}}", nan16, 2);
    if (st) {
        CHECK(bl_safetensors_read_f32(st, "h", 0, NULL, 0, got) == BL_OK && isnan(got[0]), "F16 NaN: %g", got[0]);
        bl_safetensors_close(st);
    }
    st = expect_good("bf16", "{\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,8]}}", bf16, 8);
    if (st) {
        CHECK(bl_safetensors_read_f32(st, "b", -1, NULL, 4, got) == BL_OK, "%s", bl_last_error());
        CHECK(got[0] == 1.0f && got[1] == -3.0f && got[2] == 0x1p-133f && isnan(got[3]), "BF16: %a %a %a %a",
              (double)got[0], (double)got[1], (double)got[2], (double)got[3]);
        bl_safetensors_close(st);
    }
    /* F64 → F32 rounds to nearest, ties to even: 1 + 2^−24 is halfway between 1 and 1 + 2^−23 → 1 (even);
     * 1 + 3·2^−24 is halfway between 1 + 2^−23 and 1 + 2^−22 → 1 + 2^−22 (even); 0.1 → 0x1.99999ap-4; 1e40 → inf */
    const double f64[5] = {1 + 0x1p-24, 1 + 0x3p-24, 0.1, 1e40, -0x1p-149};
    unsigned char f64_bytes[40];
    for (int i = 0; i < 5; i++) {
        uint64_t bits;
        memcpy(&bits, &f64[i], 8);
        for (int k = 0; k < 8; k++) f64_bytes[8 * i + k] = (unsigned char)(bits >> (8 * k));
    }
    st = expect_good("f64", "{\"d\":{\"dtype\":\"F64\",\"shape\":[5],\"data_offsets\":[0,40]}}", f64_bytes, 40);
    if (st) {
        CHECK(bl_safetensors_read_f32(st, "d", 1, (const int[]){5}, 0, got) == BL_OK, "%s", bl_last_error());
        CHECK(got[0] == 1.0f && got[1] == 1.0f + 0x1p-22f && got[2] == 0x1.99999ap-4f && isinf(got[3]) &&
                  got[4] == -0x1p-149f,
              "F64 rounding: %a %a %a %a %a", (double)got[0], (double)got[1], (double)got[2], (double)got[3],
              (double)got[4]);
        bl_safetensors_close(st);
    }
    /* unaligned float data (a U8 tensor first), entries listed out of offset order, a zero-size tensor between
     * two others and a second zero-size one at the same offset, fields in any order, tab/newline padding,
     * a UTF-8 name — all valid */
    unsigned char data[13] = {9, 0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, 0, 0, 0x40, 0x40};
    const char *header = "{\"f\":{\"data_offsets\":[1,13],\"shape\":[3],\"dtype\":\"F32\"},"
                         "\"z2\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[1,1]},"
                         "\"z1\":{\"dtype\":\"I64\",\"shape\":[0],\"data_offsets\":[1,1]},"
                         "\"poids_\xc3\xa9\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}} \t\n\r ";
    st = expect_good("unaligned", header, data, 13);
    if (st) {
        const char *order[4] = {"poids_\xc3\xa9", "z1", "z2", "f"};
        for (int i = 0; i < 4; i++)
            CHECK(bl_safetensors_entry(st, i) && !strcmp(bl_safetensors_entry(st, i)->name, order[i]),
                  "offset order %d: %s, want %s", i, bl_safetensors_entry(st, i)->name, order[i]);
        CHECK(bl_safetensors_read_f32(st, "f", 1, (const int[]){3}, 0, got) == BL_OK && got[0] == 1.0f &&
                  got[1] == -2.0f && got[2] == 3.0f,
              "unaligned F32: %s", bl_last_error());
        CHECK(bl_safetensors_find(st, "poids_\xc3\xa9") != NULL, "UTF-8 name not found");
        bl_safetensors_close(st);
    }
    st = expect_good("empty header object", "{}", NULL, 0);
    CHECK(st && bl_safetensors_count(st) == 0 && bl_safetensors_metadata_count(st) == 0, "empty file content");
    bl_safetensors_close(st);
}

/* ---- bad input --------------------------------------------------------------------------------------------------- */

static void test_bad_length_field(void) {
    bl_safetensors *st = NULL;
    size_t size;
    bl_status s = bl_safetensors_parse("", 0, "mem", &st);
    check_error("empty", s, BL_ERR_FORMAT, "mem", "file is empty (expected at least 8 bytes");
    s = bl_safetensors_parse("\x02\0\0\0\0", 5, "mem", &st);
    check_error("short", s, BL_ERR_FORMAT, "mem", "file is 5 bytes, too short for the 8-byte header length");
    unsigned char *image = make_image(4096, "{}", 2, 90, &size);
    s = bl_safetensors_parse(image, size, "mem", &st);
    check_error("beyond", s, BL_ERR_FORMAT, "mem", "header length 4096 exceeds file size 100 (expected <= 92");
    free(image);
    image = make_image((uint64_t)1 << 63, "{}", 2, 0, &size);
    s = bl_safetensors_parse(image, size, "mem", &st);
    check_error("huge", s, BL_ERR_FORMAT, "mem",
                "header length 9223372036854775808 exceeds the 100 MiB limit (expected <= 104857600)");
    free(image);
    image = make_image(UINT64_MAX, "{}", 2, 0, &size);
    s = bl_safetensors_parse(image, size, "mem", &st);
    check_error("2^64-1", s, BL_ERR_FORMAT, "mem", "header length 18446744073709551615 exceeds the 100 MiB limit");
    free(image);
    image = make_image(104857601, "{}", 2, 0, &size);
    s = bl_safetensors_parse(image, size, "mem", &st);
    check_error("limit+1", s, BL_ERR_FORMAT, "mem", "header length 104857601 exceeds the 100 MiB limit");
    free(image);
    image = make_image(2, "{}", 2, 0, &size);
    s = bl_safetensors_parse(image, size, "mem", &st); /* exactly 10 bytes, header length = file size − 8: valid */
    CHECK(s == BL_OK, "header length = size - 8 refused: %s", bl_last_error());
    bl_safetensors_close(st);
    free(image);
    CHECK(bl_safetensors_parse(NULL, 0, "mem", NULL) == BL_ERR_INVALID, "NULL out accepted");
}

typedef struct bad_case {
    const char *what, *header;
    size_t data_size;
    bl_status code;
    const char *want;
} bad_case;

#define X_F32(offsets) "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":" offsets "}}"
#define X_SHAPE(shape, offsets) "{\"x\":{\"dtype\":\"F32\",\"shape\":" shape ",\"data_offsets\":" offsets "}}"
#define ENTRY(name, dtype, shape, begin, end) \
    "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":[" #begin "," #end "]}"

static const bad_case bad_cases[] = {
    {"empty header", "", 0, BL_ERR_FORMAT, "header is not valid JSON (parse error at header byte 0 of 0)"},
    {"not JSON", "{\"x\":", 0, BL_ERR_FORMAT, "header is not valid JSON"},
    {"garbage after", "{}x", 0, BL_ERR_FORMAT, "header: unexpected byte 0x78 after the JSON object at header byte 2"},
    {"array", "[1,2]", 0, BL_ERR_FORMAT, "header is not a JSON object (got array)"},
    {"string", "\"abc\"", 0, BL_ERR_FORMAT, "header is not a JSON object (got string)"},
    {"entry not object", "{\"x\":5}", 0, BL_ERR_FORMAT, "'x': entry is not an object (got number)"},
    {"no dtype", "{\"x\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, BL_ERR_FORMAT, "'x': missing field 'dtype'"},
    {"no shape", "{\"x\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, BL_ERR_FORMAT, "'x': missing field 'shape'"},
    {"no offsets", "{\"x\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, BL_ERR_FORMAT, "'x': missing field 'data_offsets'"},
    {"unknown field", "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"foo\":1}}", 8, BL_ERR_FORMAT,
     "'x': unknown field 'foo' (expected dtype, shape, data_offsets)"},
    {"field twice", "{\"x\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
     BL_ERR_FORMAT, "'x': field 'dtype' appears twice"},
    {"dtype number", "{\"x\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, BL_ERR_FORMAT,
     "'x': dtype is not a string (got number)"},
    {"unknown dtype", "{\"x\":{\"dtype\":\"F31\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, BL_ERR_FORMAT,
     "'x': unknown dtype 'F31' (expected one of F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)"},
    {"lower-case dtype", "{\"x\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, BL_ERR_FORMAT,
     "'x': unknown dtype 'f32'"},
    {"unsupported dtype", "{\"x\":{\"dtype\":\"U16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, BL_ERR_UNSUPPORTED,
     "'x': unsupported dtype 'U16'"},
    {"shape number", X_SHAPE("3", "[0,12]"), 12, BL_ERR_FORMAT, "'x': shape is not an array (got number)"},
    {"shape string item", X_SHAPE("[\"2\"]", "[0,8]"), 8, BL_ERR_FORMAT, "'x': shape[0] is not a number (got string)"},
    {"negative shape", X_SHAPE("[-2,3]", "[0,8]"), 8, BL_ERR_FORMAT,
     "'x': shape[0] is negative (expected an integer >= 0, got -2)"},
    {"minus zero", X_SHAPE("[2,-0]", "[0,0]"), 0, BL_ERR_FORMAT, "'x': shape[1] is negative (expected an integer >= 0, got -0)"},
    {"fractional shape", X_SHAPE("[2.5,2]", "[0,20]"), 20, BL_ERR_FORMAT, "'x': shape[0] is not an integer (got 2.5)"},
    {"2.0", X_SHAPE("[2.0]", "[0,8]"), 8, BL_ERR_FORMAT,
     "header: number '2.0' at header byte 29 is not a plain integer (expected digits only, no fraction, exponent or "
     "leading zero)"},
    {"exponent", X_SHAPE("[2]", "[0,8e0]"), 8, BL_ERR_FORMAT, "header: number '8e0' at header byte 50"},
    {"leading zero", X_SHAPE("[02]", "[0,8]"), 8, BL_ERR_FORMAT, "header: number '02' at header byte 29"},
    {"above 2^53", X_SHAPE("[9007199254740994]", "[0,8]"), 8, BL_ERR_FORMAT,
     "'x': shape[0] is too large (expected <= 2^53, got 9007199254740994)"},
    {"7 dims", X_SHAPE("[1,1,1,1,1,1,1]", "[0,4]"), 4, BL_ERR_FORMAT, "'x': shape has 7 dimensions (expected at most 6)"},
    {"numel overflow", X_SHAPE("[1099511627776,1099511627776,1099511627776]", "[0,8]"), 8, BL_ERR_FORMAT,
     "'x': shape [1099511627776,1099511627776,1099511627776] has more elements than fit in int64"},
    {"bytes overflow", "{\"x\":{\"dtype\":\"F64\",\"shape\":[1099511627776,4194304],\"data_offsets\":[0,8]}}", 8,
     BL_ERR_FORMAT, "'x': shape [1099511627776,4194304] of F64 needs more bytes than fit in int64"},
    {"offsets object", X_F32("{}"), 8, BL_ERR_FORMAT, "'x': data_offsets is not an array (got object)"},
    {"3 offsets", X_F32("[0,4,8]"), 8, BL_ERR_FORMAT, "'x': data_offsets has 3 items (expected 2)"},
    {"1 offset", X_F32("[8]"), 8, BL_ERR_FORMAT, "'x': data_offsets has 1 items (expected 2)"},
    {"offset null", X_F32("[0,null]"), 8, BL_ERR_FORMAT, "'x': data_offsets[1] is not a number (got null)"},
    {"negative offset", X_F32("[-8,0]"), 8, BL_ERR_FORMAT, "'x': data_offsets[0] is negative"},
    {"begin > end", X_SHAPE("[0]", "[8,4]"), 8, BL_ERR_FORMAT,
     "'x': data_offsets [8,4] have begin after end (expected begin <= end)"},
    {"end beyond data", X_SHAPE("[100]", "[0,400]"), 100, BL_ERR_FORMAT,
     "'x': data_offsets [0,400] end beyond the data section (expected end <= 100, got 400)"},
    {"byte count", X_SHAPE("[2,3]", "[0,20]"), 20, BL_ERR_FORMAT,
     "'x': shape [2,3] needs 24 bytes, data_offsets give 20 (dtype F32, data_offsets [0,20])"},
    {"overlap", "{" ENTRY("fc.bias", "F32", "[4]", 32, 48) "," ENTRY("conv.weight", "F32", "[10]", 0, 40) "}", 48,
     BL_ERR_FORMAT, "'conv.weight': data_offsets [0,40] overlap 'fc.bias' [32,48]"},
    {"zero-size inside another", "{" ENTRY("a", "F32", "[4]", 0, 16) "," ENTRY("z", "F32", "[0]", 8, 8) "}", 16,
     BL_ERR_FORMAT, "'a': data_offsets [0,16] overlap 'z' [8,8]"},
    {"gap", "{" ENTRY("a", "F32", "[2]", 0, 8) "," ENTRY("b", "F32", "[2]", 16, 24) "}", 24, BL_ERR_FORMAT,
     "'b': data_offsets [16,24] leave a gap of 8 bytes after 'a' (expected begin 8, got 16)"},
    {"gap at start", "{" ENTRY("a", "F32", "[2]", 8, 16) "}", 16, BL_ERR_FORMAT,
     "'a': data_offsets [8,16] leave 8 unused bytes at the start of the data section (expected begin 0, got 8)"},
    {"trailing bytes", "{" ENTRY("a", "F32", "[2]", 0, 8) "}", 12, BL_ERR_FORMAT,
     "data section has 4 trailing bytes not covered by any tensor (expected data size 8, got 12)"},
    {"data, no tensors", "{}", 4, BL_ERR_FORMAT, "data section has 4 trailing bytes"},
    {"duplicate name", "{" ENTRY("x", "F32", "[1]", 0, 4) "," ENTRY("x", "F32", "[1]", 4, 8) "}", 8, BL_ERR_FORMAT,
     "duplicate tensor name 'x'"},
    {"duplicate same range", "{" ENTRY("x", "F32", "[1]", 0, 4) "," ENTRY("x", "F32", "[1]", 0, 4) "}", 4,
     BL_ERR_FORMAT, "duplicate tensor name 'x'"},
    {"metadata array", "{\"__metadata__\":[1]}", 0, BL_ERR_FORMAT, "'__metadata__': not an object (got array)"},
    {"metadata number", "{\"__metadata__\":{\"arch\":\"vgg16\",\"epoch\":3}}", 0, BL_ERR_FORMAT,
     "'__metadata__': 'epoch': value is not a string (got number)"},
    {"metadata null", "{\"__metadata__\":{\"a\":null}}", 0, BL_ERR_FORMAT, "'__metadata__': 'a': value is not a string (got null)"},
    {"metadata duplicate key", "{\"__metadata__\":{\"a\":\"1\",\"b\":\"2\",\"a\":\"3\"}}", 0, BL_ERR_FORMAT,
     "'__metadata__': duplicate key 'a'"},
    {"metadata twice", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, BL_ERR_FORMAT, "duplicate '__metadata__'"},
    {"invalid UTF-8", "{\"\xff\":1}", 0, BL_ERR_FORMAT, "header: invalid UTF-8 (byte 0xff at header byte 2)"},
    {"overlong UTF-8", "{\"\xc0\xaf\":1}", 0, BL_ERR_FORMAT, "header: invalid UTF-8 (byte 0xc0 at header byte 2)"},
    {"UTF-16 surrogate in UTF-8", "{\"\xed\xa0\x80\":1}", 0, BL_ERR_FORMAT, "header: invalid UTF-8 (byte 0xed"},
    {"raw control byte", "{\"a\x01\":1}", 0, BL_ERR_FORMAT,
     "header: raw control byte inside a string (byte 0x01 at header byte 3)"},
    {"escaped NUL", "{\"a\\u0000b\":1}", 0, BL_ERR_FORMAT, "header: escaped NUL (\\u0000) in a string"},
    {"bad \\u escape", "{\"a\\uZZZZ\":1}", 0, BL_ERR_FORMAT, "header: malformed \\u escape"},
    {"BOM", "\xef\xbb\xbf{}", 0, BL_ERR_FORMAT, "header: unexpected byte outside strings (byte 0xef at header byte 0)"},
    {"control byte as space", "{\x01}", 0, BL_ERR_FORMAT,
     "header: unexpected byte outside strings (byte 0x01 at header byte 1)"},
    {"name escaped in message", "{\"a\\nb\":5}", 0, BL_ERR_FORMAT, "'a\\x0ab': entry is not an object (got number)"},
};

static void test_bad_headers(void) {
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        expect_bad_header(bad_cases[i].what, bad_cases[i].header, bad_cases[i].data_size, bad_cases[i].code,
                          bad_cases[i].want);
    }
    /* header padded with NUL bytes instead of spaces (strlen cannot express it in the table) */
    size_t size;
    unsigned char *image = make_image(8, "{}\0\0\0\0\0\0", 8, 0, &size);
    bl_safetensors *st = NULL;
    bl_status s = bl_safetensors_parse(image, size, "mem", &st);
    check_error("NUL padding", s, BL_ERR_FORMAT, "mem", "header: unexpected byte 0x00 after the JSON object at header byte 2");
    free(image);
    /* a very long name is cut in the message, which stays bounded */
    char header[700];
    memset(header, 0, sizeof header);
    strcpy(header, "{\"");
    memset(header + 2, 'n', 500);
    strcat(header, "\":5}");
    expect_bad_header("long name", header, 0, BL_ERR_FORMAT, "nnn...': entry is not an object");
    /* deep nesting is refused by cJSON's nesting limit instead of overflowing the stack */
    char *deep = malloc(20003);
    deep[0] = '{';
    memcpy(deep + 1, "\"a\":", 4);
    memset(deep + 5, '[', 10000);
    memset(deep + 10005, ']', 9997);
    deep[20002] = '\0';
    expect_bad_header("deep nesting", deep, 0, BL_ERR_FORMAT, "header is not valid JSON");
    free(deep);
}

/* Bytes of a valid two-tensor file mutated at random positions (deterministically): every result must be a
 * clean success (all ranges in bounds) or one well-formed message; valgrind / ASan watch the memory. */
static void test_mutations(void) {
    const char *header = "{\"__metadata__\":{\"k\":\"v\"}," ENTRY("a", "F32", "[2,2]", 0, 16) ","
                         ENTRY("b", "F16", "[3]", 16, 22) "}";
    size_t size;
    unsigned char *valid = make_image(strlen(header), header, strlen(header), 22, &size);
    unsigned char *image = malloc(size);
    bl_rng rng = bl_rng_stream(2024, BL_RNG_TEST, 99);
    int accepted = 0, refused = 0, malformed = 0;
    for (int trial = 0; trial < 4000; trial++) {
        memcpy(image, valid, size);
        size_t n = size;
        uint64_t r = bl_rng_next_u64(&rng);
        int kind = (int)(r % 4), count = 1 + (int)((r >> 8) % 3);
        for (int m = 0; m < count && n > 0; m++) {
            uint64_t p = bl_rng_next_u64(&rng);
            size_t at = (size_t)(p % n);
            if (kind == 0) image[at] = (unsigned char)(p >> 32);                      /* random byte */
            else if (kind == 1) image[at] ^= (unsigned char)(1u << ((p >> 32) % 8)); /* bit flip */
            else if (kind == 2) image[at] = (unsigned char)"{}[],:\"0123456789-.e \\"[(p >> 32) % 22]; /* JSON char */
            else n = at;                                                            /* truncation */
        }
        bl_safetensors *st = NULL;
        bl_status s = bl_safetensors_parse(image, n, "fuzz", &st);
        if (s == BL_OK) {
            accepted++;
            for (int i = 0; i < bl_safetensors_count(st); i++) {
                const bl_st_entry *e = bl_safetensors_entry(st, i);
                if (e->begin > e->end || (uint64_t)(e->end - e->begin) != (uint64_t)e->numel * bl_dtype_size(e->dtype))
                    malformed++;
            }
            bl_safetensors_close(st);
        } else {
            refused++;
            const char *msg = bl_last_error();
            if (st || strncmp(msg, "fuzz: ", 6) || strchr(msg, '\n') || strlen(msg) < 10) malformed++;
        }
    }
    CHECK(malformed == 0, "mutations: %d malformed results (accepted %d, refused %d)", malformed, accepted, refused);
    CHECK(refused > 3000, "mutations: only %d of 4000 refused", refused);
    printf("mutations: %d accepted, %d refused, 0 crashes\n", accepted, refused);
    free(valid);
    free(image);
}

static void test_files(void) {
    bl_safetensors *st = NULL;
    const char *missing = path_in_temp("missing.safetensors");
    bl_status s = bl_safetensors_open(missing, &st);
    check_error("missing file", s, BL_ERR_IO, missing, "cannot open: No such file or directory");
    CHECK(st == NULL, "missing file: out not NULL");
    const char *empty = path_in_temp("empty.safetensors");
    write_whole(empty, "", 0);
    s = bl_safetensors_open(empty, &st);
    check_error("empty file", s, BL_ERR_FORMAT, empty, "file is empty");
    const char *short_file = path_in_temp("short.safetensors");
    write_whole(short_file, "\x10\0\0", 3);
    s = bl_safetensors_open(short_file, &st);
    check_error("short file", s, BL_ERR_FORMAT, short_file, "file is 3 bytes, too short");
    const char *beyond = path_in_temp("beyond.safetensors");
    write_whole(beyond, "\x00\x10\0\0\0\0\0\0{}", 10);
    s = bl_safetensors_open(beyond, &st);
    check_error("beyond file", s, BL_ERR_FORMAT, beyond, "header length 4096 exceeds file size 10");
    s = bl_safetensors_open(temp_dir, &st);
    check_error("directory", s, BL_ERR_IO, temp_dir, "cannot read: not a regular file (a folder)");
    const char *trailing = path_in_temp("trailing.safetensors");
    write_whole(trailing, "\x08\0\0\0\0\0\0\0{}      \x01", 17);
    s = bl_safetensors_open(trailing, &st);
    check_error("trailing byte", s, BL_ERR_FORMAT, trailing, "data section has 1 trailing bytes");
    CHECK(bl_safetensors_open(NULL, &st) == BL_ERR_INVALID, "NULL path accepted");
}

static void test_read_f32_errors(void) {
    const char *header = "{" ENTRY("conv1.weight", "F32", "[2,3]", 0, 24) "," ENTRY("steps", "I64", "[1]", 24, 32) "}";
    unsigned char data[32] = {0};
    bl_safetensors *st = expect_good("model.safetensors", header, data, 32);
    if (!st) return;
    float dst[64 * 3 * 7 * 7];
    const int want[4] = {64, 3, 7, 7};
    bl_status s = bl_safetensors_read_f32(st, "conv1.weight", 4, want, 0, dst);
    check_error("wrong shape", s, BL_ERR_FORMAT, "model.safetensors",
                "'conv1.weight': shape mismatch (expected [64,3,7,7], got [2,3])");
    s = bl_safetensors_read_f32(st, "conv1.weight", 2, (const int[]){3, 2}, 0, dst);
    check_error("transposed shape", s, BL_ERR_FORMAT, "model.safetensors", "shape mismatch (expected [3,2], got [2,3])");
    s = bl_safetensors_read_f32(st, "conv1.weight", -1, NULL, 5, dst);
    check_error("count", s, BL_ERR_FORMAT, "model.safetensors",
                "'conv1.weight': element count mismatch (expected 5, got 6 from shape [2,3])");
    s = bl_safetensors_read_f32(st, "fc.weight", 2, (const int[]){2, 3}, 0, dst);
    check_error("missing name", s, BL_ERR_FORMAT, "model.safetensors", "'fc.weight': missing");
    s = bl_safetensors_read_f32(st, "steps", 1, (const int[]){1}, 0, dst);
    check_error("integer dtype", s, BL_ERR_FORMAT, "model.safetensors",
                "'steps': dtype I64 cannot be read as float32 (expected F32, F64, F16 or BF16)");
    s = bl_safetensors_read_f32(st, "conv1.weight", 7, want, 0, dst);
    check_error("ndim 7", s, BL_ERR_INVALID, "model.safetensors", "requested ndim 7");
    bl_safetensors_close(st);
}

static void test_writer_errors(void) {
    bl_st_writer *w = NULL;
    bl_st_writer_create(&w);
    float x[4] = {1, 2, 3, 4};
    const int shape[1] = {4};
    CHECK(bl_st_writer_add_f32(w, "x", 1, shape, x) == BL_OK, "%s", bl_last_error());
    bl_status s = bl_st_writer_add_f32(w, "x", 1, shape, x);
    check_error("duplicate", s, BL_ERR_INVALID, "safetensors writer", "duplicate tensor name 'x'");
    s = bl_st_writer_add_f32(w, "__metadata__", 1, shape, x);
    check_error("reserved", s, BL_ERR_INVALID, "safetensors writer", "'__metadata__' is reserved");
    s = bl_st_writer_add_f32(w, "neg", 1, (const int[]){-1}, x);
    check_error("negative", s, BL_ERR_INVALID, "safetensors writer", "'neg': invalid shape [-1]");
    s = bl_st_writer_add_f32(w, "null", 1, shape, NULL);
    check_error("NULL data", s, BL_ERR_INVALID, "safetensors writer", "'null': data is NULL");
    s = bl_st_writer_add_raw(w, "bad", (bl_dtype)42, 1, (const int64_t[]){1}, x);
    check_error("bad dtype", s, BL_ERR_INVALID, "safetensors writer", "'bad': invalid dtype 42");
    s = bl_st_writer_add_f32(w, "\xff", 1, shape, x);
    check_error("bad UTF-8", s, BL_ERR_INVALID, "safetensors writer", "name is not valid UTF-8");
    CHECK(bl_st_writer_add_metadata(w, "k", "v") == BL_OK, "%s", bl_last_error());
    s = bl_st_writer_add_metadata(w, "k", "w");
    check_error("duplicate key", s, BL_ERR_INVALID, "safetensors writer", "duplicate metadata key 'k'");

    /* saving into a directory that does not exist fails, names the path, and creates nothing */
    char nowhere[200];
    snprintf(nowhere, sizeof nowhere, "%s/no_such_dir/out.safetensors", temp_dir);
    s = bl_st_writer_save(w, nowhere);
    check_error("no directory", s, BL_ERR_IO, nowhere, "cannot create temporary file");
    CHECK(strstr(bl_last_error(), "No such file or directory") != NULL, "errno text missing: %s", bl_last_error());
    CHECK(count_files_containing(temp_dir, "no_such_dir") == 0, "something was created for the missing directory");
    /* a target that is a directory is refused before anything is written, and left alone */
    const char *target = path_in_temp("is_a_directory");
    mkdir(target, 0700);
    s = bl_st_writer_save(w, target);
    check_error("onto a directory", s, BL_ERR_INVALID, target, "exists and is not a regular file (a folder)");
    struct stat info;
    CHECK(stat(target, &info) == 0 && S_ISDIR(info.st_mode), "the directory was replaced");
    CHECK(count_files_containing(temp_dir, ".tmp.") == 0, "a temporary file remains after a failed save");
    /* overwriting an existing file replaces it whole */
    const char *out = path_in_temp("overwrite.safetensors");
    write_whole(out, "old content", 11);
    CHECK(bl_st_writer_save(w, out) == BL_OK, "overwrite: %s", bl_last_error());
    bl_safetensors *st = NULL;
    CHECK(bl_safetensors_open(out, &st) == BL_OK && bl_safetensors_count(st) == 1, "overwritten file: %s",
          bl_last_error());
    bl_safetensors_close(st);
    bl_st_writer_free(w);
}

/* ---- optional: an independent reader and writer (Python + numpy) -------------------------------------------------- */

static const char *interop_script =
    "import json, struct, sys\n"
    "import numpy as np\n"
    "d = sys.argv[1]\n"
    "b = open(d + '/ours.safetensors', 'rb').read()\n"
    "n = struct.unpack('<Q', b[:8])[0]\n"
    "assert n % 8 == 0, 'header not padded'\n"
    "h = json.loads(b[8:8 + n].decode('utf-8'))\n"
    "assert h['__metadata__'] == {'format': 'pt'}, h\n"
    "t = h['w']; o = t['data_offsets']\n"
    "assert t['dtype'] == 'F32' and t['shape'] == [3, 4], t\n"
    "w = np.frombuffer(b[8 + n + o[0]:8 + n + o[1]], dtype='<f4')\n"
    "assert (w == np.arange(12, dtype=np.float32) * 0.5 - 2).all(), w\n"
    "assert len(b) == 8 + n + o[1]\n"
    "arrays = {'w': (np.arange(10, dtype='<f4') * 0.25 - 1).reshape(2, 5),\n"
    "          'h': np.array([1.5, -2, 65504, 2.0 ** -24], dtype='<f2'),\n"
    "          'd': np.array([0.1, 1 / 3, 1e40], dtype='<f8')}\n"
    "names = {'<f4': 'F32', '<f2': 'F16', '<f8': 'F64'}\n"
    "header, data, off = {'__metadata__': {'writer': 'numpy'}}, b'', 0\n"
    "for k in sorted(arrays):\n"
    "    a = arrays[k]; raw = a.tobytes()\n"
    "    header[k] = {'dtype': names[a.dtype.str], 'shape': list(a.shape), 'data_offsets': [off, off + len(raw)]}\n"
    "    data += raw; off += len(raw)\n"
    "hb = json.dumps(header, separators=(',', ':')).encode()\n"
    "hb += b' ' * ((8 - len(hb) % 8) % 8)\n"
    "open(d + '/theirs.safetensors', 'wb').write(struct.pack('<Q', len(hb)) + hb + data)\n";

static void test_python_interop(void) {
    if (access("/usr/bin/python3", X_OK) != 0 || system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") != 0) {
        printf("note: python interop part skipped (no /usr/bin/python3 with numpy)\n");
        return;
    }
    float w[12];
    for (int i = 0; i < 12; i++) w[i] = (float)i * 0.5f - 2;
    bl_st_writer *writer = NULL;
    bl_st_writer_create(&writer);
    bl_st_writer_add_metadata(writer, "format", "pt");
    bl_st_writer_add_f32(writer, "w", 2, (const int[]){3, 4}, w);
    CHECK(bl_st_writer_save(writer, path_in_temp("ours.safetensors")) == BL_OK, "%s", bl_last_error());
    bl_st_writer_free(writer);
    const char *script = path_in_temp("interop.py");
    write_whole(script, interop_script, strlen(interop_script));
    char command[512];
    snprintf(command, sizeof command, "/usr/bin/python3 %s %s", script, temp_dir);
    CHECK(system(command) == 0, "python could not read our file or write its own (see its traceback above)");
    bl_safetensors *st = NULL;
    CHECK(bl_safetensors_open(path_in_temp("theirs.safetensors"), &st) == BL_OK, "numpy-written file: %s",
          bl_last_error());
    if (!st) return;
    float got[10], want[10], h[4], d[3];
    for (int i = 0; i < 10; i++) want[i] = (float)i * 0.25f - 1;
    CHECK(bl_safetensors_read_f32(st, "w", 2, (const int[]){2, 5}, 0, got) == BL_OK && !memcmp(got, want, sizeof got),
          "numpy F32: %s", bl_last_error());
    CHECK(bl_safetensors_read_f32(st, "h", 1, (const int[]){4}, 0, h) == BL_OK && h[0] == 1.5f && h[1] == -2.0f &&
              h[2] == 65504.0f && h[3] == 0x1p-24f,
          "numpy F16: %s", bl_last_error());
    CHECK(bl_safetensors_read_f32(st, "d", 1, (const int[]){3}, 0, d) == BL_OK && d[0] == 0.1f &&
              d[1] == (float)(1.0 / 3) && isinf(d[2]),
          "numpy F64: %s", bl_last_error());
    CHECK(bl_safetensors_metadata(st, "writer") && !strcmp(bl_safetensors_metadata(st, "writer"), "numpy"), "metadata");
    bl_safetensors_close(st);
}

int main(void) {
    snprintf(temp_dir, sizeof temp_dir, "/tmp/blasto_safetensors_XXXXXX");
    if (!mkdtemp(temp_dir)) {
        printf("cannot create a temporary directory: %s\n", strerror(errno));
        return 1;
    }
    test_round_trip();
    test_reference_layout();
    test_conversions();
    test_bad_length_field();
    test_bad_headers();
    test_mutations();
    test_files();
    test_read_f32_errors();
    test_writer_errors();
    test_python_interop();
    remove_temp_dir();
    struct stat info;
    CHECK(stat(temp_dir, &info) != 0, "temporary directory %s not removed", temp_dir);
    return test_summary("test_safetensors");
}
