/* predictions.c — the predictions CSV (id,label,score[,arch][,input][,fold]) read and written for
 * `blasto predict`, `blasto metrics` and `blasto calibrate` (see predictions.h). Reading checks every field and
 * names the file, line and column of the first problem; writing is atomic with round-trip exact scores. */
#include "study/predictions.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "study/csv.h"

bl_predictions *bl_predictions_new(int n) {
    bl_predictions *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->fold = -1;
    p->n = n > 0 ? n : 0;
    if (p->n && !(p->rows = calloc((size_t)p->n, sizeof *p->rows))) {
        free(p);
        return NULL;
    }
    return p;
}

void bl_predictions_free(bl_predictions *p) {
    if (!p) return;
    for (int i = 0; i < p->n && p->rows; i++) free(p->rows[i].id);
    free(p->rows);
    free(p->path);
    free(p->arch);
    free(p->input);
    free(p);
}

static char *copy_string(const char *s) {
    size_t len = strlen(s) + 1;
    char *c = malloc(len);
    if (c) memcpy(c, s, len);
    return c;
}

/* A field without leading and trailing blanks, in buf (size cap); fields longer than that are cut, which only
 * shortens the text quoted in an error message. */
static const char *trim(const char *field, char *buf, size_t cap) {
    while (*field == ' ' || *field == '\t') field++;
    size_t len = strlen(field);
    while (len && (field[len - 1] == ' ' || field[len - 1] == '\t')) len--;
    if (len >= cap) len = cap - 1;
    memcpy(buf, field, len);
    buf[len] = '\0';
    return buf;
}

static bl_status parse_label(const bl_csv *csv, int row, int col, int *label) {
    char buf[64];
    const char *text = trim(csv->rows[row][col], buf, sizeof buf);
    if (strcmp(text, "0") && strcmp(text, "1"))
        return bl_fail(BL_ERR_FORMAT, "%s: line %d: column 'label': not 0 or 1 (expected 0 or 1, got '%s')",
                       csv->path, csv->row_line[row], csv->rows[row][col]);
    *label = text[0] == '1';
    return BL_OK;
}

static bl_status parse_score(const bl_csv *csv, int row, int col, double *score) {
    char buf[128];
    const char *text = trim(csv->rows[row][col], buf, sizeof buf);
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end != '\0')
        return bl_fail(BL_ERR_FORMAT, "%s: line %d: column 'score': not a number (expected a probability in [0, 1], "
                       "got '%s')", csv->path, csv->row_line[row], csv->rows[row][col]);
    if (!isfinite(v))
        return bl_fail(BL_ERR_FORMAT, "%s: line %d: column 'score': not finite (expected a probability in [0, 1], "
                       "got '%s')", csv->path, csv->row_line[row], csv->rows[row][col]);
    if (!(v >= 0.0 && v <= 1.0))
        return bl_fail(BL_ERR_FORMAT, "%s: line %d: column 'score': out of range (expected a probability in [0, 1], "
                       "got '%s')", csv->path, csv->row_line[row], csv->rows[row][col]);
    *score = v;
    return BL_OK;
}

/* The optional columns hold one value per file (one model's predictions); the first row's value is kept.
 * fold: empty → −1, else an integer >= 0. input: original | enhanced. */
static bl_status read_constant_column(const bl_csv *csv, const char *name, char **value) {
    int col = bl_csv_column(csv, name);
    *value = NULL;
    if (col < 0) return BL_OK;
    const char *first = csv->rows[0][col];
    for (int i = 1; i < csv->n_rows; i++)
        if (strcmp(csv->rows[i][col], first) != 0)
            return bl_fail(BL_ERR_FORMAT, "%s: line %d: column '%s': differs from line %d (expected one value per "
                           "file, got '%s' and '%s')", csv->path, csv->row_line[i], name, csv->row_line[0],
                           first, csv->rows[i][col]);
    if (!(*value = copy_string(first))) return bl_fail(BL_ERR_NOMEM, "%s: out of memory", csv->path);
    return BL_OK;
}

static bl_status read_optional_columns(const bl_csv *csv, bl_predictions *p) {
    char *fold = NULL;
    bl_status st = read_constant_column(csv, "arch", &p->arch);
    if (!st) st = read_constant_column(csv, "input", &p->input);
    if (!st) st = read_constant_column(csv, "fold", &fold);
    if (st) return free(fold), st;
    if (p->input && strcmp(p->input, "original") && strcmp(p->input, "enhanced")) {
        st = bl_fail(BL_ERR_FORMAT, "%s: line %d: column 'input': unknown input kind (expected original or "
                     "enhanced, got '%s')", csv->path, csv->row_line[0], p->input);
    } else if (fold && fold[0]) {
        char buf[64];
        const char *text = trim(fold, buf, sizeof buf);
        char *end = NULL;
        errno = 0;
        long v = strtol(text, &end, 10);
        if (errno || end == text || *end || v < 0 || v > 1000000)
            st = bl_fail(BL_ERR_FORMAT, "%s: line %d: column 'fold': not a fold number (expected an integer >= 0 or "
                         "empty, got '%s')", csv->path, csv->row_line[0], fold);
        else p->fold = (int)v;
    }
    free(fold);
    return st;
}

typedef struct id_at {
    const char *id;
    int row;
} id_at;

static int by_id_then_row(const void *pa, const void *pb) {
    const id_at *a = pa, *b = pb;
    int c = strcmp(a->id, b->id);
    return c ? c : (a->row > b->row) - (a->row < b->row);
}

/* Refuse a repeated id, naming the earliest line that repeats an id and the line where it first appeared. */
static bl_status check_unique_ids(const bl_csv *csv, const bl_predictions *p) {
    if (p->n < 2) return BL_OK;
    id_at *ids = malloc((size_t)p->n * sizeof *ids);
    if (!ids) return bl_fail(BL_ERR_NOMEM, "%s: out of memory", csv->path);
    for (int i = 0; i < p->n; i++) ids[i] = (id_at){p->rows[i].id, i};
    qsort(ids, (size_t)p->n, sizeof *ids, by_id_then_row);
    int repeat = -1, first = -1;
    for (int i = 1; i < p->n; i++)
        if (strcmp(ids[i].id, ids[i - 1].id) == 0 && (repeat < 0 || ids[i].row < repeat)) {
            repeat = ids[i].row;
            first = ids[i - 1].row; /* the earlier row of the same id: the smallest repeat is a second one */
        }
    free(ids);
    if (repeat < 0) return BL_OK;
    return bl_fail(BL_ERR_FORMAT, "%s: line %d: column 'id': duplicate id (first on line %d, got '%s')", csv->path,
                   csv->row_line[repeat], csv->row_line[first], p->rows[repeat].id);
}

bl_status bl_predictions_read(const char *path, bl_predictions **out) {
    *out = NULL;
    bl_csv *csv = NULL;
    bl_status st = bl_csv_read(path, &csv);
    if (st) return st;
    static const char *const required[] = {"id", "label", "score"};
    if ((st = bl_csv_require(csv, 3, required))) return bl_csv_free(csv), st;
    if (csv->n_rows == 0) {
        st = bl_fail(BL_ERR_FORMAT, "%s: no data rows (expected at least one prediction)", path);
        return bl_csv_free(csv), st;
    }
    int col_id = bl_csv_column(csv, "id"), col_label = bl_csv_column(csv, "label"),
        col_score = bl_csv_column(csv, "score");
    bl_predictions *p = bl_predictions_new(csv->n_rows);
    if (!p || !(p->path = copy_string(path))) {
        bl_predictions_free(p);
        bl_csv_free(csv);
        return bl_fail(BL_ERR_NOMEM, "%s: out of memory for %d rows", path, csv->n_rows);
    }
    for (int i = 0; i < csv->n_rows && !st; i++) {
        const char *id = csv->rows[i][col_id];
        if (id[0] == '\0')
            st = bl_fail(BL_ERR_FORMAT, "%s: line %d: column 'id': empty (expected a non-empty id, got '')", path,
                         csv->row_line[i]);
        else if (!(p->rows[i].id = copy_string(id)))
            st = bl_fail(BL_ERR_NOMEM, "%s: out of memory", path);
        if (!st) st = parse_label(csv, i, col_label, &p->rows[i].label);
        if (!st) st = parse_score(csv, i, col_score, &p->rows[i].score);
    }
    if (!st) st = check_unique_ids(csv, p);
    if (!st) st = read_optional_columns(csv, p);
    bl_csv_free(csv);
    if (st) {
        bl_predictions_free(p);
        return st;
    }
    *out = p;
    return BL_OK;
}

bl_status bl_predictions_write(const char *path, const bl_predictions *p) {
    if (!p || p->n < 1 || !p->rows)
        return bl_fail(BL_ERR_INVALID, "%s: no predictions to write (expected n >= 1, got %d)", path, p ? p->n : 0);
    const char *header[6] = {"id", "label", "score"};
    int n_columns = 3, col_arch = -1, col_input = -1, col_fold = -1;
    if (p->arch) col_arch = n_columns, header[n_columns++] = "arch";
    if (p->input) col_input = n_columns, header[n_columns++] = "input";
    if (p->fold >= 0) col_fold = n_columns, header[n_columns++] = "fold";
    for (int i = 0; i < p->n; i++) {
        const bl_prediction *r = &p->rows[i];
        if (!r->id || !r->id[0])
            return bl_fail(BL_ERR_INVALID, "%s: row %d: id: empty (expected a non-empty id)", path, i);
        if (r->label != 0 && r->label != 1)
            return bl_fail(BL_ERR_INVALID, "%s: row %d (id '%s'): label: expected 0 or 1, got %d", path, i, r->id,
                           r->label);
        if (!(r->score >= 0.0 && r->score <= 1.0))
            return bl_fail(BL_ERR_INVALID, "%s: row %d (id '%s'): score: expected a probability in [0, 1], got %.17g",
                           path, i, r->id, r->score);
    }
    bl_csv_writer *w = NULL;
    bl_status st = bl_csv_writer_create(n_columns, header, &w);
    char fold_text[32];
    snprintf(fold_text, sizeof fold_text, "%d", p->fold);
    for (int i = 0; i < p->n && !st; i++) {
        char score_text[40];
        snprintf(score_text, sizeof score_text, "%.17g", p->rows[i].score);
        const char *fields[6] = {p->rows[i].id, p->rows[i].label ? "1" : "0", score_text};
        if (col_arch >= 0) fields[col_arch] = p->arch;
        if (col_input >= 0) fields[col_input] = p->input;
        if (col_fold >= 0) fields[col_fold] = fold_text;
        st = bl_csv_writer_add(w, fields);
    }
    if (!st) st = bl_csv_writer_save(w, path);
    bl_csv_writer_free(w);
    return st;
}
