/* cmd_inspect.c — `blasto inspect FILE [--json]`: what is in a safetensors file, for an auditor.
 *
 * The file is validated in full first (core/safetensors.c: header, offsets, sizes). Then one row per tensor, in
 * the file's data order: name, dtype, shape, min / max / mean over the finite elements (computed in double from
 * the stored values, whatever the dtype), and FNV-1a 64 of the tensor's raw bytes (so two files can be compared
 * tensor by tensor without loading them: equal checksum ⇔ equal bytes, up to 2^-64). NaN/Inf are counted and
 * reported, never folded into the statistics. Then __metadata__ and a final line with the counts and the total
 * number of parameters (elements of every tensor except BatchNorm running statistics and num_batches_tracked —
 * for a torchvision ResNet50 that is its 25,557,032). Not here: comparing two files (`blasto diff`). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "core/safetensors.h"
#include "weights_map.h"

static const char *const inspect_usage =
    "usage: blasto inspect FILE.safetensors [--json]\n"
    "\n"
    "List every tensor of a safetensors file: name, dtype, shape, min / max / mean (computed in double over\n"
    "the finite elements; NaN/Inf are counted separately) and an FNV-1a 64 checksum of its raw bytes, then the\n"
    "file's __metadata__ and a final line with the number of tensors, elements, bytes and parameters\n"
    "(elements of all tensors except BatchNorm running_mean/running_var and num_batches_tracked).\n"
    "The file is fully validated first; a malformed file is one error line and exit 1.\n"
    "\n"
    "  --json   one JSON object instead of the table (the same numbers; checksums as 16 hex digits)\n";

typedef struct tensor_stats {
    double min, max, mean;
    int64_t finite, nan, inf;
    uint64_t checksum;
} tensor_stats;

static uint64_t load_le(const unsigned char *p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* IEEE binary16 → double (exact). */
static double half_to_double(uint16_t h) {
    int sign = h >> 15, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    double v;
    if (exponent == 0) v = ldexp((double)mantissa, -24);
    else if (exponent == 31) v = mantissa ? NAN : INFINITY;
    else v = ldexp((double)(mantissa | 0x400), exponent - 25);
    return sign ? -v : v;
}

/* Element k of the raw little-endian buffer as a double. */
static double element(const unsigned char *data, bl_dtype dtype, int64_t k) {
    size_t size = bl_dtype_size(dtype);
    const unsigned char *p = data + (size_t)k * size;
    uint64_t bits = load_le(p, (int)size);
    switch (dtype) {
    case BL_DTYPE_F64: {
        double d;
        memcpy(&d, &bits, sizeof d);
        return d;
    }
    case BL_DTYPE_F32: {
        uint32_t b32 = (uint32_t)bits;
        float f;
        memcpy(&f, &b32, sizeof f);
        return f;
    }
    case BL_DTYPE_BF16: {
        uint32_t b32 = (uint32_t)bits << 16;
        float f;
        memcpy(&f, &b32, sizeof f);
        return f;
    }
    case BL_DTYPE_F16: return half_to_double((uint16_t)bits);
    case BL_DTYPE_I64: return (double)(int64_t)bits;
    case BL_DTYPE_I32: return (double)(int32_t)(uint32_t)bits;
    case BL_DTYPE_I16: return (double)(int16_t)(uint16_t)bits;
    case BL_DTYPE_I8: return (double)(int8_t)(uint8_t)bits;
    case BL_DTYPE_U8: return (double)(uint8_t)bits;
    case BL_DTYPE_BOOL: return bits ? 1.0 : 0.0;
    }
    return NAN;
}

/* e: one validated entry → its statistics (min/max/mean over finite elements; NaN when there are none). */
static void compute_stats(const bl_st_entry *e, tensor_stats *s) {
    double sum = 0;
    s->min = INFINITY;
    s->max = -INFINITY;
    s->finite = s->nan = s->inf = 0;
    for (int64_t k = 0; k < e->numel; k++) {
        double v = element(e->data, e->dtype, k);
        if (isnan(v)) s->nan++;
        else if (isinf(v)) s->inf++;
        else {
            s->finite++;
            sum += v;
            if (v < s->min) s->min = v;
            if (v > s->max) s->max = v;
        }
    }
    if (s->finite == 0) s->min = s->max = NAN;
    s->mean = s->finite ? sum / (double)s->finite : NAN;
    s->checksum = wm_fnv1a64_bytes(WM_FNV1A64_INIT, e->data, (size_t)(e->end - e->begin));
}

static int is_parameter(const char *name) {
    size_t len = strlen(name);
    static const char *const not_parameters[] = {"running_mean", "running_var", "num_batches_tracked"};
    for (int i = 0; i < 3; i++) {
        size_t k = strlen(not_parameters[i]);
        if (len >= k && strcmp(name + len - k, not_parameters[i]) == 0) return 0;
    }
    return 1;
}

static void format_number(double v, char *buf, size_t size) {
    if (isnan(v)) snprintf(buf, size, "-");
    else snprintf(buf, size, "%.7g", v);
}

static int print_json(const bl_safetensors *st, const tensor_stats *stats, int64_t elements, int64_t parameters,
                      uint64_t bytes) {
    cJSON *root = cJSON_CreateObject(), *meta = cJSON_AddObjectToObject(root, "metadata");
    cJSON *list = cJSON_AddArrayToObject(root, "tensors");
    cJSON_AddStringToObject(root, "file", bl_safetensors_path(st));
    for (int i = 0; i < bl_safetensors_metadata_count(st); i++) {
        const char *k, *v;
        bl_safetensors_metadata_at(st, i, &k, &v);
        cJSON_AddStringToObject(meta, k, v);
    }
    for (int i = 0; i < bl_safetensors_count(st); i++) {
        const bl_st_entry *e = bl_safetensors_entry(st, i);
        const tensor_stats *s = &stats[i];
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "name", e->name);
        cJSON_AddStringToObject(t, "dtype", bl_dtype_name(e->dtype));
        cJSON *shape = cJSON_AddArrayToObject(t, "shape");
        for (int d = 0; d < e->ndim; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)e->shape[d]));
        cJSON_AddNumberToObject(t, "numel", (double)e->numel);
        if (s->finite) {
            cJSON_AddNumberToObject(t, "min", s->min);
            cJSON_AddNumberToObject(t, "max", s->max);
            cJSON_AddNumberToObject(t, "mean", s->mean);
        } else {
            cJSON_AddNullToObject(t, "min");
            cJSON_AddNullToObject(t, "max");
            cJSON_AddNullToObject(t, "mean");
        }
        cJSON_AddNumberToObject(t, "nan", (double)s->nan);
        cJSON_AddNumberToObject(t, "inf", (double)s->inf);
        char hex[17];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)s->checksum);
        cJSON_AddStringToObject(t, "fnv1a64", hex);
        cJSON_AddItemToArray(list, t);
    }
    cJSON_AddNumberToObject(root, "tensor_count", bl_safetensors_count(st));
    cJSON_AddNumberToObject(root, "elements", (double)elements);
    cJSON_AddNumberToObject(root, "parameters", (double)parameters);
    cJSON_AddNumberToObject(root, "data_bytes", (double)bytes);
    char *text = cJSON_Print(root);
    int ok = text != NULL;
    if (ok) printf("%s\n", text);
    free(text);
    cJSON_Delete(root);
    if (!ok) fprintf(stderr, "blasto inspect: out of memory while formatting JSON\n");
    return ok ? 0 : 1;
}

/* the table shows names and metadata as printable text: a control byte in a name (valid in safetensors' JSON as
 * \u001b, say) would otherwise reach the terminal as a command; the JSON form keeps them escaped by JSON */
static const char *shown(const char *text, char *buf, size_t size) { return bl_printable(text, buf, size); }

static void print_table(const bl_safetensors *st, const tensor_stats *stats) {
    int n = bl_safetensors_count(st), name_width = 4, shape_width = 5;
    char shape[96], lo[32], hi[32], mean[32], name[1024];
    for (int i = 0; i < n; i++) {
        const bl_st_entry *e = bl_safetensors_entry(st, i);
        int len = (int)strlen(shown(e->name, name, sizeof name)), slen = (int)strlen(wm_shape_str(e->ndim, e->shape, shape, sizeof shape));
        if (len > name_width) name_width = len;
        if (slen > shape_width) shape_width = slen;
    }
    printf("%-*s  %-5s  %-*s  %14s  %14s  %14s  %s\n", name_width, "name", "dtype", shape_width, "shape", "min",
           "max", "mean", "fnv1a64");
    for (int i = 0; i < n; i++) {
        const bl_st_entry *e = bl_safetensors_entry(st, i);
        const tensor_stats *s = &stats[i];
        format_number(s->min, lo, sizeof lo);
        format_number(s->max, hi, sizeof hi);
        format_number(s->mean, mean, sizeof mean);
        printf("%-*s  %-5s  %-*s  %14s  %14s  %14s  %016llx\n", name_width, shown(e->name, name, sizeof name),
               bl_dtype_name(e->dtype),
               shape_width, wm_shape_str(e->ndim, e->shape, shape, sizeof shape), lo, hi, mean,
               (unsigned long long)s->checksum);
    }
    for (int i = 0; i < n; i++)
        if (stats[i].nan || stats[i].inf)
            printf("warning: %s: %lld NaN, %lld infinite (excluded from min/max/mean)\n",
                   shown(bl_safetensors_entry(st, i)->name, name, sizeof name), (long long)stats[i].nan,
                   (long long)stats[i].inf);
    int m = bl_safetensors_metadata_count(st);
    printf("__metadata__:%s\n", m ? "" : " (none)");
    for (int i = 0; i < m; i++) {
        const char *k, *v;
        bl_safetensors_metadata_at(st, i, &k, &v);
        size_t cap = 4 * strlen(v) + 1; /* each byte at most "\xNN" */
        char *text = malloc(cap);
        printf("  %s: ", shown(k, name, sizeof name));
        printf("%s\n", text ? shown(v, text, cap) : "(out of memory)");
        free(text);
    }
}

int cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(inspect_usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "blasto inspect: unknown option '%s' (blasto inspect --help)\n", argv[i]);
            return 2;
        } else if (!path) {
            path = argv[i];
        } else {
            fprintf(stderr, "blasto inspect: expected one FILE, got '%s' too\n", argv[i]);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "blasto inspect: expected FILE.safetensors (blasto inspect --help)\n");
        return 2;
    }
    bl_safetensors *st = NULL;
    if (bl_safetensors_open(path, &st) != BL_OK) {
        fprintf(stderr, "blasto inspect: %s\n", bl_last_error());
        return 1;
    }
    int n = bl_safetensors_count(st);
    tensor_stats *stats = calloc((size_t)(n > 0 ? n : 1), sizeof *stats);
    if (!stats) {
        fprintf(stderr, "blasto inspect: out of memory for %d tensors\n", n);
        bl_safetensors_close(st);
        return 1;
    }
    int64_t elements = 0, parameters = 0;
    uint64_t bytes = 0;
    for (int i = 0; i < n; i++) {
        const bl_st_entry *e = bl_safetensors_entry(st, i);
        compute_stats(e, &stats[i]);
        elements += e->numel;
        bytes += e->end - e->begin;
        if (is_parameter(e->name)) parameters += e->numel;
    }
    int rc = 0;
    if (json) {
        rc = print_json(st, stats, elements, parameters, bytes);
    } else {
        print_table(st, stats);
        printf("%d tensors, %lld elements, %llu bytes of data; %lld parameters (without BatchNorm running "
               "statistics and num_batches_tracked)\n",
               n, (long long)elements, (unsigned long long)bytes, (long long)parameters);
    }
    free(stats);
    bl_safetensors_close(st);
    return rc;
}
