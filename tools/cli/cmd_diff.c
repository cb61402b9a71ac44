/* cmd_diff.c — `blasto diff A.safetensors B.safetensors [--rtol R] [--atol A]`: compare two safetensors files
 * tensor by tensor, B being the reference.
 *
 * For every tensor present in both files it prints the largest absolute error max|a−b|, the largest relative error
 * max|a−b|/|b|, the scaled error max|a−b| / max|b| (the acceptance metric of docs/numerics.md), the worst element
 * as a multi-index with both values, and ok / FAIL. An element fails when |a − b| > atol + rtol·|b| (numpy's
 * allclose rule, B the reference); the worst element is the one with the largest |a−b| / (atol + rtol·|b|), i.e.
 * the one furthest past (or closest to) its tolerance. NaN equals NaN at the same place and nothing else; an
 * infinity equals the same infinity. Values are compared in double precision (every F32/F16/BF16 value and every
 * integer up to 2^53 is exact in a double; two integer tensors are compared exactly as int64), element by element straight from the file bytes, so memory stays at the two files' size.
 *
 * What it is not: a format validator beyond what the reader checks, or a metadata comparison (differing
 * __metadata__ values are listed as '#' notes and never fail). Exit: 0 all common tensors within tolerance,
 * 1 some tensor fails or differs in shape, no name is common to two non-empty files, or a file cannot be read;
 * 2 usage error. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "core/safetensors.h"

#define DEFAULT_RTOL 1e-5
#define DEFAULT_ATOL 1e-8

static void diff_help(void) {
    printf("usage: blasto diff A.safetensors B.safetensors [--rtol R] [--atol A]\n\n"
           "Compares every tensor present in both files, B being the reference. An element fails when\n"
           "|a - b| > atol + rtol*|b| (defaults: rtol %g, atol %g, numpy's allclose). One line per tensor:\n"
           "  name  shape  max_abs  max_rel  max_abs/max|b|  worst-index  a[worst]  b[worst]  ok|FAIL\n"
           "max_rel = max |a-b|/|b| (inf where b = 0 and a != 0); the worst element is the one with the largest\n"
           "|a-b| / (atol + rtol*|b|). NaN matches only NaN. Tensors with different shapes FAIL; different dtypes\n"
           "are compared by value and noted. Then the names present in only one file, differing __metadata__ as\n"
           "'#' notes, and a summary line. Any dtype is read (F64 F32 F16 BF16 in double; two integer tensors\n"
           "exactly, as int64).\n\n"
           "Exit: 0 every common tensor within tolerance; 1 some tensor fails or differs in shape, the files\n"
           "share no tensor name at all, or a file cannot be read; 2 usage error. Names present in only one\n"
           "file are listed but do not fail.\n",
           DEFAULT_RTOL, DEFAULT_ATOL);
}

/* "--rtol 1e-4" → *out (finite, ≥ 0); 0, or 2 after printing the usage error. */
static int parse_tolerance(const char *opt, const char *text, double *out) {
    if (!text) {
        fprintf(stderr, "blasto diff: %s: missing value\n", opt);
        return 2;
    }
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end != '\0' || !isfinite(v) || v < 0) {
        fprintf(stderr, "blasto diff: %s: expected a finite number >= 0, got '%s'\n", opt, text);
        return 2;
    }
    *out = v;
    return 0;
}

/* ---- element access: value i of an entry, as a double, from its little-endian bytes ------------------------ */

static uint64_t load_le(const unsigned char *p, int bytes) {
    uint64_t v = 0;
    for (int k = bytes - 1; k >= 0; k--) v = v << 8 | p[k];
    return v;
}

/* IEEE binary16 → double, exact: sign | 5-bit exponent (bias 15) | 10-bit mantissa. */
static double half_to_double(uint16_t h) {
    int sign = h >> 15, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    double magnitude;
    if (exponent == 0) magnitude = ldexp((double)mantissa, -24); /* zero and subnormals */
    else if (exponent == 31) magnitude = mantissa ? NAN : INFINITY;
    else magnitude = ldexp((double)(mantissa | 0x400), exponent - 25);
    return sign ? -magnitude : magnitude;
}

static double element_value(const bl_st_entry *e, int64_t i) {
    const unsigned char *p = e->data + (size_t)i * bl_dtype_size(e->dtype);
    switch (e->dtype) {
    case BL_DTYPE_F64: {
        uint64_t bits = load_le(p, 8);
        double v;
        memcpy(&v, &bits, sizeof v);
        return v;
    }
    case BL_DTYPE_F32: {
        uint32_t bits = (uint32_t)load_le(p, 4);
        float v;
        memcpy(&v, &bits, sizeof v);
        return v;
    }
    case BL_DTYPE_BF16: { /* the top half of a binary32 */
        uint32_t bits = (uint32_t)load_le(p, 2) << 16;
        float v;
        memcpy(&v, &bits, sizeof v);
        return v;
    }
    case BL_DTYPE_F16: return half_to_double((uint16_t)load_le(p, 2));
    case BL_DTYPE_I64: return (double)(int64_t)load_le(p, 8);
    case BL_DTYPE_I32: return (double)(int32_t)(uint32_t)load_le(p, 4);
    case BL_DTYPE_I16: return (double)(int16_t)(uint16_t)load_le(p, 2);
    case BL_DTYPE_I8: return (double)(int8_t)p[0];
    case BL_DTYPE_U8: return (double)p[0];
    case BL_DTYPE_BOOL: return p[0] ? 1.0 : 0.0;
    }
    return NAN;
}

/* Integer dtypes are also read exactly as int64: a double holds every integer only up to 2^53, and 2^53 + 1 must
 * not compare equal to 2^53. */
static int integer_dtype(bl_dtype d) {
    return d == BL_DTYPE_I64 || d == BL_DTYPE_I32 || d == BL_DTYPE_I16 || d == BL_DTYPE_I8 || d == BL_DTYPE_U8 ||
           d == BL_DTYPE_BOOL;
}

static int64_t element_integer(const bl_st_entry *e, int64_t i) {
    const unsigned char *p = e->data + (size_t)i * bl_dtype_size(e->dtype);
    switch (e->dtype) {
    case BL_DTYPE_I64: return (int64_t)load_le(p, 8);
    case BL_DTYPE_I32: return (int32_t)(uint32_t)load_le(p, 4);
    case BL_DTYPE_I16: return (int16_t)(uint16_t)load_le(p, 2);
    case BL_DTYPE_I8: return (int8_t)p[0];
    case BL_DTYPE_U8: return p[0];
    case BL_DTYPE_BOOL: return p[0] != 0;
    default: return 0;
    }
}

/* ---- one tensor -------------------------------------------------------------------------------------------- */

typedef struct tensor_diff {
    double max_abs, max_rel, max_ref; /* max |a−b|, max |a−b|/|b|, max finite |b| */
    double worst_ratio, worst_error;  /* |a−b| / (atol + rtol·|b|) and |a−b| at the worst element */
    int64_t worst;                    /* its flat index (−1: no elements) */
    int64_t failing;                  /* elements past the tolerance */
} tensor_diff;

/* a, b [numel] read from the two entries (same numel). */
static tensor_diff compare_entries(const bl_st_entry *a, const bl_st_entry *b, double rtol, double atol) {
    tensor_diff d = {0, 0, 0, -1, 0, -1, 0};
    int integers = integer_dtype(a->dtype) && integer_dtype(b->dtype);
    for (int64_t i = 0; i < a->numel; i++) {
        double x = element_value(a, i), y = element_value(b, i);
        double magnitude = fabs(y);
        if (isfinite(magnitude) && magnitude > d.max_ref) d.max_ref = magnitude;
        double error = 0, relative = 0, ratio = 0;
        int64_t xi = integers ? element_integer(a, i) : 0, yi = integers ? element_integer(b, i) : 0;
        int same = integers ? xi == yi : (x == y || (isnan(x) && isnan(y)));
        if (!same) {
            /* integers: the exact difference (as an unsigned magnitude, then rounded), never 0 when they differ */
            error = integers ? (double)(xi > yi ? (uint64_t)xi - (uint64_t)yi : (uint64_t)yi - (uint64_t)xi)
                             : fabs(x - y);
            if (isnan(error)) error = INFINITY; /* one side NaN */
            relative = magnitude > 0 && isfinite(magnitude) ? error / magnitude : INFINITY;
            double tolerance = atol + rtol * magnitude;
            ratio = isinf(error) ? INFINITY : tolerance > 0 ? error / tolerance : INFINITY;
            if (isinf(error) || error > tolerance) d.failing++;
        }
        if (error > d.max_abs) d.max_abs = error;
        if (relative > d.max_rel) d.max_rel = relative;
        if (ratio > d.worst_ratio || (ratio == d.worst_ratio && error > d.worst_error)) {
            d.worst_ratio = ratio;
            d.worst_error = error;
            d.worst = i;
        }
    }
    return d;
}

static void shape_text(const bl_st_entry *e, char *buf, size_t size) {
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int k = 0; k < e->ndim && used < size; k++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", k ? "," : "", (long long)e->shape[k]);
    if (used < size) snprintf(buf + used, size - used, "]");
}

/* "[1,0,3,4]": the multi-index of flat element `flat` of the entry's row-major shape. */
static void index_text(const bl_st_entry *e, int64_t flat, char *buf, size_t size) {
    int64_t index[BL_MAX_DIMS] = {0};
    for (int k = e->ndim - 1; k >= 0; k--) {
        index[k] = e->shape[k] > 0 ? flat % e->shape[k] : 0;
        flat = e->shape[k] > 0 ? flat / e->shape[k] : 0;
    }
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int k = 0; k < e->ndim && used < size; k++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", k ? "," : "", (long long)index[k]);
    if (used < size) snprintf(buf + used, size - used, "]");
}

static int same_shape(const bl_st_entry *a, const bl_st_entry *b) {
    if (a->ndim != b->ndim) return 0;
    for (int k = 0; k < a->ndim; k++)
        if (a->shape[k] != b->shape[k]) return 0;
    return 1;
}

/* Prints one line for the common tensor a/b; returns 1 when it fails (shape or tolerance). */
static int report_tensor(const bl_st_entry *a, const bl_st_entry *b, int name_width, int shape_width, double rtol,
                         double atol) {
    char sa[160], sb[160];
    shape_text(a, sa, sizeof sa);
    if (!same_shape(a, b)) {
        shape_text(b, sb, sizeof sb);
        printf("%-*s  %s vs %s  FAIL (shape mismatch)\n", name_width, a->name, sa, sb);
        return 1;
    }
    tensor_diff d = compare_entries(a, b, rtol, atol);
    double scaled = d.max_ref > 0 ? d.max_abs / d.max_ref : d.max_abs > 0 ? INFINITY : 0;
    char where[160] = "-", values[96] = "-";
    if (d.worst >= 0 && d.max_abs > 0) { /* no worst element when the tensors are equal */
        index_text(a, d.worst, where, sizeof where);
        snprintf(values, sizeof values, "%.9g %.9g", element_value(a, d.worst), element_value(b, d.worst));
    }
    char note[96] = "";
    if (d.failing) snprintf(note, sizeof note, " (%lld of %lld elements)", (long long)d.failing, (long long)a->numel);
    if (a->dtype != b->dtype)
        snprintf(note + strlen(note), sizeof note - strlen(note), " (%s vs %s)", bl_dtype_name(a->dtype),
                 bl_dtype_name(b->dtype));
    printf("%-*s  %-*s  %.3e  %.3e  %-14.3e  %s  %s  %s%s\n", name_width, a->name, shape_width, sa, d.max_abs, d.max_rel, scaled,
           where, values, d.failing ? "FAIL" : "ok", note);
    return d.failing ? 1 : 0;
}

/* '#' lines for metadata keys whose values differ or that only one file has. */
static void report_metadata(const bl_safetensors *a, const bl_safetensors *b) {
    for (int i = 0; i < bl_safetensors_metadata_count(a); i++) {
        const char *key, *value;
        bl_safetensors_metadata_at(a, i, &key, &value);
        const char *other = bl_safetensors_metadata(b, key);
        if (!other) printf("# metadata %s: only in A ('%s')\n", key, value);
        else if (strcmp(value, other) != 0) printf("# metadata %s: '%s' vs '%s'\n", key, value, other);
    }
    for (int i = 0; i < bl_safetensors_metadata_count(b); i++) {
        const char *key, *value;
        bl_safetensors_metadata_at(b, i, &key, &value);
        if (!bl_safetensors_metadata(a, key)) printf("# metadata %s: only in B ('%s')\n", key, value);
    }
}

/* Every line of the comparison; returns the exit code (0 or 1). */
static int compare_files(const bl_safetensors *a, const bl_safetensors *b, const char *path_a, const char *path_b,
                         double rtol, double atol) {
    int name_width = 6, shape_width = 5;
    for (int i = 0; i < bl_safetensors_count(a); i++) {
        const bl_st_entry *e = bl_safetensors_entry(a, i);
        char text[160];
        shape_text(e, text, sizeof text);
        int n = (int)strlen(e->name), k = (int)strlen(text);
        if (n > name_width) name_width = n < 60 ? n : 60;
        if (k > shape_width) shape_width = k < 40 ? k : 40;
    }
    printf("# blasto diff A=%s B=%s (reference B; fail: |a-b| > atol + rtol*|b|; rtol %g, atol %g)\n", path_a,
           path_b, rtol, atol);
    report_metadata(a, b);
    printf("# %-*s  %-*s  max_abs    max_rel    max_abs/max|b|  worst  a  b  result\n", name_width - 2, "tensor",
           shape_width, "shape");
    int common = 0, failed = 0, only_a = 0, only_b = 0;
    for (int i = 0; i < bl_safetensors_count(a); i++) {
        const bl_st_entry *ea = bl_safetensors_entry(a, i), *eb = bl_safetensors_find(b, ea->name);
        if (!eb) continue;
        common++;
        failed += report_tensor(ea, eb, name_width, shape_width, rtol, atol);
    }
    for (int i = 0; i < bl_safetensors_count(a); i++) {
        const bl_st_entry *e = bl_safetensors_entry(a, i);
        if (!bl_safetensors_find(b, e->name)) printf("only in A: %s\n", e->name), only_a++;
    }
    for (int i = 0; i < bl_safetensors_count(b); i++) {
        const bl_st_entry *e = bl_safetensors_entry(b, i);
        if (!bl_safetensors_find(a, e->name)) printf("only in B: %s\n", e->name), only_b++;
    }
    printf("summary: %d common tensors, %d ok, %d FAIL; %d only in A, %d only in B\n", common, common - failed,
           failed, only_a, only_b);
    if (common == 0 && only_a + only_b > 0) { /* nothing was compared: never report that as agreement */
        fprintf(stderr, "blasto diff: no tensor name in common (expected at least one)\n");
        return 1;
    }
    return failed ? 1 : 0;
}

int cmd_diff(int argc, char **argv) {
    const char *paths[2] = {NULL, NULL};
    int n_paths = 0;
    double rtol = DEFAULT_RTOL, atol = DEFAULT_ATOL;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            diff_help();
            return 0;
        }
        if (strcmp(arg, "--rtol") == 0 || strcmp(arg, "--atol") == 0) {
            int rc = parse_tolerance(arg, i + 1 < argc ? argv[i + 1] : NULL, arg[2] == 'r' ? &rtol : &atol);
            if (rc) return rc;
            i++;
        } else if (arg[0] == '-' && arg[1] != '\0') {
            fprintf(stderr, "blasto diff: unknown option '%s' (blasto diff --help)\n", arg);
            return 2;
        } else if (n_paths == 2) {
            fprintf(stderr, "blasto diff: unexpected argument '%s' (expected two files)\n", arg);
            return 2;
        } else {
            paths[n_paths++] = arg;
        }
    }
    if (n_paths != 2) {
        fprintf(stderr, "blasto diff: expected two files A.safetensors B.safetensors (blasto diff --help)\n");
        return 2;
    }
    bl_safetensors *a = NULL, *b = NULL;
    if (bl_safetensors_open(paths[0], &a) != BL_OK || bl_safetensors_open(paths[1], &b) != BL_OK) {
        fprintf(stderr, "blasto diff: %s\n", bl_last_error());
        bl_safetensors_close(a);
        return 1;
    }
    int rc = compare_files(a, b, paths[0], paths[1], rtol, atol);
    bl_safetensors_close(a);
    bl_safetensors_close(b);
    return rc;
}
