/* cohort.c — reading, checking and writing the cohort CSV (see cohort.h). Built on tools/study/csv.h. */
#include "study/cohort.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "study/csv.h"

static const char *const COHORT_COLUMNS[] = {"id", "image", "annotation", "age", "clinic", "label"};
enum { N_COHORT_COLUMNS = 6 };

static char *copy_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

static void free_row(bl_cohort_row *r) {
    free(r->id);
    free(r->image);
    free(r->annotation);
    free(r->icm_mask);
    free(r->te_mask);
    free(r->clinic);
}

void bl_cohort_free(bl_cohort *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) free_row(&c->rows[i]);
    free(c->rows);
    free(c->path);
    free(c);
}

int bl_cohort_find(const bl_cohort *c, const char *id) {
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->rows[i].id, id) == 0) return i;
    return -1;
}

/* Directory part of a path including the final '/', or "" (the current directory). */
static char *directory_of(const char *path) {
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) + 1 : 0;
    char *dir = malloc(n + 1);
    if (!dir) return NULL;
    memcpy(dir, path, n);
    dir[n] = '\0';
    return dir;
}

/* `path` as written in the CSV, made relative to the CSV's directory unless absolute. */
static char *resolve(const char *dir, const char *path) {
    if (path[0] == '/') return copy_string(path);
    size_t a = strlen(dir), b = strlen(path);
    char *out = malloc(a + b + 1);
    if (!out) return NULL;
    memcpy(out, dir, a);
    memcpy(out + a, path, b + 1);
    return out;
}

/* Copy of s without leading and trailing white space. */
static char *trimmed(const char *s) {
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
    char *out = malloc(n + 1);
    if (!out) return NULL;
    memcpy(out, s, n);
    out[n] = '\0';
    return out;
}

static int is_missing_marker(const char *s) {
    return s[0] == '\0' || strcasecmp(s, "nan") == 0 || strcasecmp(s, "na") == 0 || strcasecmp(s, "n/a") == 0;
}

bl_status bl_cohort_check_id(const char *csv_path, int line, const char *id) {
    if (id[0] == '\0' || strchr(id, '/') || strchr(id, '\\') || strchr(id, '|') || strcmp(id, ".") == 0 ||
        strcmp(id, "..") == 0)
        return bl_fail(BL_ERR_FORMAT,
                       "%s: line %d: column 'id': not usable as a file name (expected a non-empty id without '/', "
                       "'\\' or '|', got '%s')",
                       csv_path, line, id);
    for (const char *c = id; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return bl_fail(BL_ERR_FORMAT, "%s: line %d: column 'id': control character in the id", csv_path, line);
    return BL_OK;
}

bl_status bl_cohort_parse_label(const char *csv_path, int line, const char *text, int *label) {
    char *label_text = trimmed(text);
    if (!label_text) return bl_fail(BL_ERR_NOMEM, "%s: line %d: out of memory", csv_path, line);
    int ok = strcmp(label_text, "0") == 0 || strcmp(label_text, "1") == 0;
    *label = label_text[0] == '1';
    free(label_text);
    if (!ok) {
        char shown[128];
        return bl_fail(BL_ERR_FORMAT, "%s: line %d: column 'label': not 0 or 1 (expected 0 or 1, got '%s')", csv_path,
                       line, bl_printable(text, shown, sizeof shown));
    }
    return BL_OK;
}

/* Check and store one data row; `fields` are indexed by the cohort column order. */
static bl_status read_row(const char *csv_path, const char *dir, int line, const char *const *fields,
                          int allow_missing_age, bl_cohort_row *row) {
    const char *id = fields[0], *image = fields[1], *annotation = fields[2], *age = fields[3], *clinic = fields[4],
               *label = fields[5];
    row->line = line;
    bl_status checked = bl_cohort_check_id(csv_path, line, id);
    if (checked) return checked;
    if (image[0] == '\0')
        return bl_fail(BL_ERR_FORMAT, "%s: line %d: column 'image': empty (expected an image path, got '')", csv_path,
                       line);
    if (!(row->id = copy_string(id)) || !(row->image = resolve(dir, image)) || !(row->clinic = copy_string(clinic)))
        return bl_fail(BL_ERR_NOMEM, "%s: line %d: out of memory", csv_path, line);

    /* annotation: empty, a labelme JSON, or "icm.png|te.png" */
    const char *bar = strchr(annotation, '|');
    if (bar) {
        size_t n_icm = (size_t)(bar - annotation);
        const char *te = bar + 1;
        if (n_icm == 0 || te[0] == '\0' || strchr(te, '|'))
            return bl_fail(BL_ERR_FORMAT,
                           "%s: line %d: column 'annotation': malformed mask pair (expected icm.png|te.png, got '%s')",
                           csv_path, line, annotation);
        char *icm = malloc(n_icm + 1);
        if (!icm) return bl_fail(BL_ERR_NOMEM, "%s: line %d: out of memory", csv_path, line);
        memcpy(icm, annotation, n_icm);
        icm[n_icm] = '\0';
        row->icm_mask = resolve(dir, icm);
        row->te_mask = resolve(dir, te);
        free(icm);
        if (!row->icm_mask || !row->te_mask) return bl_fail(BL_ERR_NOMEM, "%s: line %d: out of memory", csv_path, line);
    } else if (annotation[0] != '\0') {
        if (!(row->annotation = resolve(dir, annotation)))
            return bl_fail(BL_ERR_NOMEM, "%s: line %d: out of memory", csv_path, line);
    }

    /* age: a finite number of years in (0, 100); missing only when the caller imputes */
    char *age_text = trimmed(age);
    if (!age_text) return bl_fail(BL_ERR_NOMEM, "%s: line %d: out of memory", csv_path, line);
    bl_status st = BL_OK;
    if (is_missing_marker(age_text)) {
        if (allow_missing_age)
            row->age = NAN;
        else
            st = bl_fail(BL_ERR_FORMAT,
                         "%s: line %d: column 'age': missing and imputation is off (expected years in (0, 100), "
                         "got '%s')",
                         csv_path, line, age);
    } else {
        char *end = NULL;
        errno = 0;
        double v = strtod(age_text, &end);
        int hex = strchr(age_text, 'x') || strchr(age_text, 'X');
        if (end == age_text || *end != '\0' || hex || errno == ERANGE || !isfinite(v))
            st = bl_fail(BL_ERR_FORMAT, "%s: line %d: column 'age': not a number (expected years in (0, 100), got '%s')",
                         csv_path, line, age);
        else if (!(v > 0 && v < 100))
            st = bl_fail(BL_ERR_FORMAT, "%s: line %d: column 'age': out of range (expected years in (0, 100), got '%s')",
                         csv_path, line, age);
        else
            row->age = v;
    }
    free(age_text);
    if (st) return st;

    /* label: 1 = gestational sac, 0 = none */
    return bl_cohort_parse_label(csv_path, line, label, &row->label);
}

typedef struct id_at {
    const char *id;
    int row;
} id_at;

static int compare_id_at(const void *pa, const void *pb) {
    const id_at *a = pa, *b = pb;
    int c = strcmp(a->id, b->id);
    return c ? c : (a->row > b->row) - (a->row < b->row);
}

/* Refuse duplicate ids, naming the earliest line that repeats an id seen before and where it was first. */
static bl_status check_unique_ids(const bl_cohort *c) {
    if (c->n < 2) return BL_OK;
    id_at *ids = malloc((size_t)c->n * sizeof *ids);
    if (!ids) return bl_fail(BL_ERR_NOMEM, "%s: out of memory", c->path);
    for (int i = 0; i < c->n; i++) ids[i] = (id_at){c->rows[i].id, i};
    qsort(ids, (size_t)c->n, sizeof *ids, compare_id_at); /* equal ids end up together, in row order */
    int repeat = -1, first = -1;
    for (int i = 1; i < c->n; i++)
        if (strcmp(ids[i].id, ids[i - 1].id) == 0 && (i < 2 || strcmp(ids[i - 1].id, ids[i - 2].id) != 0) &&
            (repeat < 0 || ids[i].row < repeat)) {
            repeat = ids[i].row; /* the second occurrence of this id */
            first = ids[i - 1].row;
        }
    free(ids);
    if (repeat < 0) return BL_OK;
    return bl_fail(BL_ERR_FORMAT, "%s: line %d: column 'id': duplicate id (first on line %d, got '%s')", c->path,
                   c->rows[repeat].line, c->rows[first].line, c->rows[repeat].id);
}

bl_status bl_cohort_read(const char *path, int allow_missing_age, bl_cohort **out) {
    *out = NULL;
    bl_csv *csv = NULL;
    bl_status st = bl_csv_read(path, &csv);
    if (st) return st;
    if ((st = bl_csv_require(csv, N_COHORT_COLUMNS, COHORT_COLUMNS))) {
        bl_csv_free(csv);
        return st;
    }
    int column[N_COHORT_COLUMNS];
    for (int j = 0; j < N_COHORT_COLUMNS; j++) column[j] = bl_csv_column(csv, COHORT_COLUMNS[j]);
    bl_cohort *c = calloc(1, sizeof *c);
    char *dir = directory_of(path);
    if (!c || !dir || !(c->path = copy_string(path)) ||
        !(c->rows = calloc((size_t)(csv->n_rows > 0 ? csv->n_rows : 1), sizeof *c->rows))) {
        free(dir);
        bl_cohort_free(c);
        bl_csv_free(csv);
        return bl_fail(BL_ERR_NOMEM, "%s: out of memory", path);
    }
    for (int i = 0; i < csv->n_rows && !st; i++) {
        const char *fields[N_COHORT_COLUMNS];
        for (int j = 0; j < N_COHORT_COLUMNS; j++) fields[j] = csv->rows[i][column[j]];
        c->n = i + 1;
        st = read_row(path, dir, csv->row_line[i], fields, allow_missing_age, &c->rows[i]);
    }
    if (!st && csv->n_rows == 0) st = bl_fail(BL_ERR_FORMAT, "%s: no data rows (expected at least one embryo)", path);
    if (!st) st = check_unique_ids(c);
    free(dir);
    bl_csv_free(csv);
    if (st) {
        bl_cohort_free(c);
        return st;
    }
    *out = c;
    return BL_OK;
}

/* ---- writing ---- */

/* Absolute form of a path (the current directory prepended to a relative one); no normalisation. */
static char *absolute(const char *path) {
    if (path[0] == '/') return copy_string(path);
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd)) return NULL;
    size_t a = strlen(cwd), b = strlen(path);
    char *out = malloc(a + b + 2);
    if (!out) return NULL;
    memcpy(out, cwd, a);
    out[a] = '/';
    memcpy(out + a + 1, path, b + 1);
    return out;
}

/* `file` as the output CSV should hold it: relative to `csv_dir_abs` (absolute, ending in '/') when the file lies
 * below it, else absolute. */
static char *path_for_csv(const char *file, const char *csv_dir_abs) {
    char *abs_file = absolute(file);
    if (!abs_file) return NULL;
    size_t n = strlen(csv_dir_abs);
    if (strncmp(abs_file, csv_dir_abs, n) == 0 && abs_file[n] != '\0') {
        char *rel = copy_string(abs_file + n);
        free(abs_file);
        return rel;
    }
    return abs_file;
}

static void format_age(double age, char *buf, size_t size) {
    if (isnan(age)) {
        buf[0] = '\0';
        return;
    }
    snprintf(buf, size, "%.15g", age); /* shortest form that reads back exactly, usually */
    if (strtod(buf, NULL) != age) snprintf(buf, size, "%.17g", age);
}

/* dir in absolute form ending in '/' */
static char *absolute_dir(const char *dir) {
    char *abs_dir = absolute(dir[0] ? dir : "./");
    size_t n = abs_dir ? strlen(abs_dir) : 0;
    if (abs_dir && (n == 0 || abs_dir[n - 1] != '/')) {
        char *slash = realloc(abs_dir, n + 2);
        if (!slash) {
            free(abs_dir);
            return NULL;
        }
        abs_dir = slash;
        strcpy(abs_dir + n, "/");
    }
    return abs_dir;
}

char *bl_path_relative_to(const char *file, const char *dir) {
    char *dir_abs = absolute_dir(dir);
    char *out = dir_abs ? path_for_csv(file, dir_abs) : NULL;
    free(dir_abs);
    return out;
}

bl_status bl_cohort_write(const bl_cohort *c, const char *path) {
    char *dir = directory_of(path);
    bl_status st = dir ? bl_cohort_write_relative_to(c, path, dir) : bl_fail(BL_ERR_NOMEM, "%s: out of memory", path);
    free(dir);
    return st;
}

bl_status bl_cohort_write_relative_to(const bl_cohort *c, const char *path, const char *dir) {
    char *dir_abs = absolute_dir(dir);
    if (!dir_abs) return bl_fail(BL_ERR_NOMEM, "%s: out of memory or no current directory", path);
    bl_csv_writer *w = NULL;
    bl_status st = bl_csv_writer_create(N_COHORT_COLUMNS, COHORT_COLUMNS, &w);
    for (int i = 0; i < c->n && !st; i++) {
        const bl_cohort_row *r = &c->rows[i];
        char *image = path_for_csv(r->image, dir_abs), *annotation = NULL;
        if (r->icm_mask && r->te_mask) {
            char *icm = path_for_csv(r->icm_mask, dir_abs), *te = path_for_csv(r->te_mask, dir_abs);
            if (icm && te && (annotation = malloc(strlen(icm) + strlen(te) + 2)))
                sprintf(annotation, "%s|%s", icm, te);
            free(icm);
            free(te);
        } else {
            annotation = r->annotation ? path_for_csv(r->annotation, dir_abs) : copy_string("");
        }
        char age[64], label[2] = {r->label ? '1' : '0', '\0'};
        format_age(r->age, age, sizeof age);
        if (!image || !annotation) {
            st = bl_fail(BL_ERR_NOMEM, "%s: out of memory", path);
        } else {
            const char *fields[N_COHORT_COLUMNS] = {r->id, image, annotation, age, r->clinic ? r->clinic : "", label};
            st = bl_csv_writer_add(w, fields);
        }
        free(image);
        free(annotation);
    }
    if (!st) st = bl_csv_writer_save(w, path);
    bl_csv_writer_free(w);
    free(dir_abs);
    return st;
}
