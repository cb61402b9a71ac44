/* csv.c — RFC 4180 reader and atomic writer (see csv.h). */
#include "study/csv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CSV_MAX_BYTES ((size_t)1 << 30)

/* ---- a growable list of strings (one row) and of rows ---- */
typedef struct string_list {
    char **items;
    int n, cap;
} string_list;

static int list_push(string_list *l, char *s) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 8;
        char **p = realloc(l->items, (size_t)cap * sizeof *p);
        if (!p) return 1;
        l->items = p;
        l->cap = cap;
    }
    l->items[l->n++] = s;
    return 0;
}

static void list_clear(string_list *l) {
    for (int i = 0; i < l->n; i++) free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

void bl_csv_free(bl_csv *csv) {
    if (!csv) return;
    for (int j = 0; j < csv->n_columns; j++) free(csv->header[j]);
    free(csv->header);
    for (int i = 0; i < csv->n_rows; i++) {
        for (int j = 0; j < csv->n_columns; j++) free(csv->rows[i][j]);
        free(csv->rows[i]);
    }
    free(csv->rows);
    free(csv->row_line);
    free(csv->path);
    free(csv);
}

/* Parse one record starting at text[*pos]; fields go to `fields`. Returns 0, or an error code with the message set.
 * *line advances over every newline consumed (also inside quotes). */
static bl_status parse_record(const char *text, size_t size, size_t *pos, int *line, const char *label,
                              string_list *fields) {
    size_t i = *pos;
    for (;;) {
        /* one field */
        char *buf = NULL;
        size_t len = 0, cap = 0;
        int quoted = i < size && text[i] == '"';
        int start_line = *line;
        if (quoted) i++;
        for (;;) {
            if (i >= size) {
                if (quoted) {
                    free(buf);
                    return bl_fail(BL_ERR_FORMAT, "%s: line %d: unterminated quoted field", label, start_line);
                }
                break;
            }
            char c = text[i];
            if (quoted) {
                if (c == '"') {
                    if (i + 1 < size && text[i + 1] == '"') {
                        i += 2;
                        c = '"';
                    } else {
                        i++;
                        quoted = 0;
                        if (i < size && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
                            free(buf);
                            return bl_fail(BL_ERR_FORMAT, "%s: line %d: text after a closing quote", label, *line);
                        }
                        continue;
                    }
                } else {
                    if (c == '\n') (*line)++;
                    i++;
                }
            } else {
                if (c == ',' || c == '\n' || c == '\r') break;
                if (c == '"') {
                    free(buf);
                    return bl_fail(BL_ERR_FORMAT, "%s: line %d: quote inside an unquoted field", label, *line);
                }
                i++;
            }
            if (c == '\0') {
                free(buf);
                return bl_fail(BL_ERR_FORMAT, "%s: line %d: NUL byte in the file", label, *line);
            }
            if (len + 2 > cap) {
                cap = cap ? 2 * cap : 32;
                char *p = realloc(buf, cap);
                if (!p) {
                    free(buf);
                    return bl_fail(BL_ERR_NOMEM, "%s: out of memory", label);
                }
                buf = p;
            }
            buf[len++] = c;
        }
        if (!buf && !(buf = malloc(1))) return bl_fail(BL_ERR_NOMEM, "%s: out of memory", label);
        buf[len] = '\0';
        if (list_push(fields, buf)) {
            free(buf);
            return bl_fail(BL_ERR_NOMEM, "%s: out of memory", label);
        }
        if (i < size && text[i] == ',') {
            i++;
            continue;
        }
        break;
    }
    /* end of record: CRLF, LF, CR or end of text */
    if (i < size && text[i] == '\r') i++;
    if (i < size && text[i] == '\n') i++;
    (*line)++;
    *pos = i;
    return BL_OK;
}

static int blank_line(const char *text, size_t size, size_t pos) {
    return pos < size && (text[pos] == '\n' || text[pos] == '\r');
}

bl_status bl_csv_parse(const char *text, size_t size, const char *label, bl_csv **out) {
    *out = NULL;
    bl_csv *csv = calloc(1, sizeof *csv);
    if (!csv || !(csv->path = strdup(label))) {
        free(csv);
        return bl_fail(BL_ERR_NOMEM, "%s: out of memory", label);
    }
    size_t pos = 0;
    int line = 1;
    if (size >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) pos = 3;
    while (blank_line(text, size, pos)) pos += text[pos] == '\r' && pos + 1 < size && text[pos + 1] == '\n' ? 2 : 1, line++;
    if (pos >= size) {
        bl_csv_free(csv);
        return bl_fail(BL_ERR_FORMAT, "%s: empty file (expected a header line)", label);
    }
    string_list fields = {0};
    bl_status st = parse_record(text, size, &pos, &line, label, &fields);
    if (st) {
        list_clear(&fields);
        bl_csv_free(csv);
        return st;
    }
    csv->n_columns = fields.n;
    csv->header = fields.items;
    memset(&fields, 0, sizeof fields);
    /* a column named twice is ambiguous (which 'label' counts?): refused, whatever the reader looks up */
    for (int a = 0; a < csv->n_columns; a++)
        for (int b = a + 1; b < csv->n_columns; b++)
            if (!strcmp(csv->header[a], csv->header[b])) {
                bl_status dup = bl_fail(BL_ERR_FORMAT, "%s: header: column '%s' twice (columns %d and %d)", label,
                                        csv->header[a], a + 1, b + 1);
                bl_csv_free(csv);
                return dup;
            }
    int cap = 0;
    while (pos < size) {
        if (blank_line(text, size, pos)) {
            pos += text[pos] == '\r' && pos + 1 < size && text[pos + 1] == '\n' ? 2 : 1;
            line++;
            continue;
        }
        int row_line = line;
        st = parse_record(text, size, &pos, &line, label, &fields);
        if (!st && fields.n != csv->n_columns)
            st = bl_fail(BL_ERR_FORMAT, "%s: line %d: %d fields (expected %d, as in the header)", label, row_line,
                         fields.n, csv->n_columns);
        if (!st && csv->n_rows == cap) {
            cap = cap ? 2 * cap : 64;
            char ***rows = realloc(csv->rows, (size_t)cap * sizeof *rows);
            int *lines = rows ? realloc(csv->row_line, (size_t)cap * sizeof *lines) : NULL;
            if (rows) csv->rows = rows;
            if (lines) csv->row_line = lines;
            if (!rows || !lines) st = bl_fail(BL_ERR_NOMEM, "%s: out of memory at line %d", label, row_line);
        }
        if (st) {
            list_clear(&fields);
            bl_csv_free(csv);
            return st;
        }
        csv->rows[csv->n_rows] = fields.items;
        csv->row_line[csv->n_rows] = row_line;
        csv->n_rows++;
        memset(&fields, 0, sizeof fields);
    }
    *out = csv;
    return BL_OK;
}

bl_status bl_csv_read(const char *path, bl_csv **out) {
    *out = NULL;
    char *text = NULL;
    size_t size = 0;
    bl_status st = bl_read_file(path, CSV_MAX_BYTES, &text, &size);
    if (st) return st;
    st = bl_csv_parse(text, size, path, out);
    free(text);
    return st;
}

int bl_csv_column(const bl_csv *csv, const char *name) {
    for (int j = 0; j < csv->n_columns; j++)
        if (strcmp(csv->header[j], name) == 0) return j;
    return -1;
}

bl_status bl_csv_require(const bl_csv *csv, int n, const char *const *names) {
    for (int i = 0; i < n; i++) {
        if (bl_csv_column(csv, names[i]) >= 0) continue;
        char expected[512];
        size_t k = 0;
        for (int j = 0; j < n && k < sizeof expected; j++)
            k += (size_t)snprintf(expected + k, sizeof expected - k, j ? ",%s" : "%s", names[j]);
        return bl_fail(BL_ERR_FORMAT, "%s: header: missing column '%s' (expected %s)", csv->path, names[i], expected);
    }
    return BL_OK;
}

/* ---- writing ---- */

struct bl_csv_writer {
    int n_columns;
    char *text;
    size_t len, cap;
};

static int append(bl_csv_writer *w, const char *s, size_t n) {
    if (w->len + n + 1 > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->len + n + 1) cap *= 2;
        char *p = realloc(w->text, cap);
        if (!p) return 1;
        w->text = p;
        w->cap = cap;
    }
    memcpy(w->text + w->len, s, n);
    w->len += n;
    return 0;
}

static bl_status append_row(bl_csv_writer *w, const char *const *fields) {
    for (int j = 0; j < w->n_columns; j++) {
        const char *f = fields[j] ? fields[j] : "";
        int err = j ? append(w, ",", 1) : 0;
        /* quoted also: the only field of a row when empty (unquoted it would be a blank line, which readers skip)
         * and a first field starting with a UTF-8 byte-order mark (a reader strips one at the start of the file) */
        int quote = strpbrk(f, ",\"\r\n") || (w->n_columns == 1 && !f[0]) || (j == 0 && !strncmp(f, "\xef\xbb\xbf", 3));
        if (quote) {
            err |= append(w, "\"", 1);
            for (const char *c = f; *c; c++) err |= *c == '"' ? append(w, "\"\"", 2) : append(w, c, 1);
            err |= append(w, "\"", 1);
        } else {
            err |= append(w, f, strlen(f));
        }
        if (err) return bl_fail(BL_ERR_NOMEM, "csv writer: out of memory");
    }
    if (append(w, "\n", 1)) return bl_fail(BL_ERR_NOMEM, "csv writer: out of memory");
    return BL_OK;
}

bl_status bl_csv_writer_create(int n_columns, const char *const *header, bl_csv_writer **out) {
    *out = NULL;
    bl_csv_writer *w = calloc(1, sizeof *w);
    if (!w) return bl_fail(BL_ERR_NOMEM, "csv writer: out of memory");
    w->n_columns = n_columns;
    bl_status st = append_row(w, header);
    if (st) {
        bl_csv_writer_free(w);
        return st;
    }
    *out = w;
    return BL_OK;
}

bl_status bl_csv_writer_add(bl_csv_writer *w, const char *const *fields) { return append_row(w, fields); }

bl_status bl_csv_writer_save(bl_csv_writer *w, const char *path) { return bl_write_file_atomic(path, w->text, w->len); }

void bl_csv_writer_free(bl_csv_writer *w) {
    if (!w) return;
    free(w->text);
    free(w);
}

long bl_temporary_pid(const char *name) {
    const char *digits = strstr(name, ".tmp.");
    if (!digits || digits == name) return 0;
    digits += 5;
    char *end = NULL;
    long pid = strtol(digits, &end, 10);
    return *digits >= '0' && *digits <= '9' && end && !*end && pid > 0 ? pid : 0;
}

int bl_process_gone(long pid) { return kill((pid_t)pid, 0) != 0 && errno == ESRCH; }

int bl_remove_stale_temporaries(const char *dir, int n, const char *const *bases) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int removed = 0;
    for (struct dirent *e; (e = readdir(d));) {
        long pid = bl_temporary_pid(e->d_name);
        if (!pid || !bl_process_gone(pid)) continue;
        size_t base_len = (size_t)(strstr(e->d_name, ".tmp.") - e->d_name);
        int ours = 0;
        for (int i = 0; i < n && !ours; i++)
            ours = strlen(bases[i]) == base_len && !strncmp(e->d_name, bases[i], base_len);
        char path[4096];
        struct stat sb;
        if (!ours || snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
        if (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) && unlink(path) == 0) removed++;
    }
    closedir(d);
    return removed;
}

const char *bl_format_exact(char *buf, size_t cap, double v) {
    buf[0] = '\0';
    for (int digits = 15; isfinite(v) && digits <= 17; digits++) {
        snprintf(buf, cap, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) break;
    }
    return buf;
}
