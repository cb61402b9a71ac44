/* csv.h — RFC 4180 CSV reading and atomic writing for cohort, split and prediction files.
 *
 * Reading: the whole file is parsed up front into rows of fields; quoted fields ("a,b", "say ""hi""") may contain
 * commas, quotes and newlines; CRLF and LF line ends; a UTF-8 byte-order mark at the start is skipped; blank lines
 * are skipped; every row must have exactly as many fields as the header (error names the file, the line and the
 * counts). Line numbers are 1-based physical lines of the file (a quoted newline advances them), so messages point
 * at what a user sees in an editor.
 * Writing: rows are collected and written to "<path>.tmp.<pid>", then renamed — no partial file on failure. Fields
 * containing a comma, quote, CR or LF are quoted. */
#ifndef BLASTO_CSV_H
#define BLASTO_CSV_H

#include <stddef.h>

#include "core/fileio.h" /* bl_read_file, bl_write_file_atomic */
#include "core/status.h"

typedef struct bl_csv {
    char *path;
    int n_columns;
    char **header;    /* n_columns names */
    int n_rows;       /* data rows (header excluded) */
    char ***rows;     /* rows[i][j] = field j of data row i (never NULL; "" when empty) */
    int *row_line;    /* physical line where data row i starts */
} bl_csv;

bl_status bl_csv_read(const char *path, bl_csv **out);
/* Same on a buffer (fuzzing); `label` names it in messages. */
bl_status bl_csv_parse(const char *text, size_t size, const char *label, bl_csv **out);
void bl_csv_free(bl_csv *csv);
/* Column index by exact name, or −1. */
int bl_csv_column(const bl_csv *csv, const char *name);
/* Fail unless every listed column exists: "<path>: header: missing column 'age' (expected id,image,…)". */
bl_status bl_csv_require(const bl_csv *csv, int n, const char *const *names);

typedef struct bl_csv_writer bl_csv_writer;
bl_status bl_csv_writer_create(int n_columns, const char *const *header, bl_csv_writer **out);
/* Copies the fields. */
bl_status bl_csv_writer_add(bl_csv_writer *w, const char *const *fields);
bl_status bl_csv_writer_save(bl_csv_writer *w, const char *path);
void bl_csv_writer_free(bl_csv_writer *w);

/* The shortest of %.15g/%.16g/%.17g that reads back to exactly v ("" when v is not finite): numbers in our CSV
 * outputs round-trip bit for bit. Returns buf. */
const char *bl_format_exact(char *buf, size_t cap, double v);
/* Reading a whole file (bl_read_file) and writing one atomically (bl_write_file_atomic) are in core/fileio.h. */
/* The pid in an atomic-write temporary's name "<base>.tmp.<pid>" (this writer, core/safetensors_write.c,
 * tools/study/image.c), or 0 when `name` has another form. */
long bl_temporary_pid(const char *name);
/* 1 when no process `pid` exists (kill(pid, 0) fails with ESRCH). */
int bl_process_gone(long pid);
/* A run killed with -9 leaves "<base>.tmp.<pid>" behind. Removes from `dir` those of the n names in `bases` whose
 * process no longer exists (a live pid — a concurrent run, or a reused pid — is left alone; other files of dir are
 * never touched). Returns how many were removed. */
int bl_remove_stale_temporaries(const char *dir, int n, const char *const *bases);

#endif
