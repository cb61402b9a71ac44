/* cohort.h — the cohort CSV: one row per embryo image.
 *
 * Header (order free, extra columns ignored): id,image,annotation,age,clinic,label
 *   id          unique, non-empty, no '/' (it names output files)
 *   image       path of the image, relative to the CSV's directory unless absolute
 *   annotation  a labelme JSON path, or two mask paths "icm.png|te.png" (same relative rule); may be empty only
 *               for commands that do not need masks (train on original images)
 *   age         years, a finite number in (0, 100); empty or NaN is an error unless the caller allows imputation
 *               (then stored as NaN and replaced by the training-fold mean later)
 *   clinic      free text (may be empty)
 *   label       1 = gestational sac, 0 = none
 * Every bad row is refused with "<csv>: line <n>: column '<name>': <problem> (got '<value>')". */
#ifndef BLASTO_COHORT_H
#define BLASTO_COHORT_H

#include "core/status.h"

typedef struct bl_cohort_row {
    char *id;
    char *image;       /* resolved path */
    char *annotation;  /* resolved labelme JSON path, or NULL */
    char *icm_mask;    /* resolved mask paths when annotation is "icm.png|te.png", else NULL */
    char *te_mask;
    double age;        /* NaN when missing and imputation allowed */
    char *clinic;
    int label;         /* 0 or 1 */
    int line;          /* line in the CSV */
} bl_cohort_row;

typedef struct bl_cohort {
    char *path;
    int n;
    bl_cohort_row *rows;
} bl_cohort;

bl_status bl_cohort_read(const char *path, int allow_missing_age, bl_cohort **out);
void bl_cohort_free(bl_cohort *c);
/* Index of the row with this id, or −1. */
int bl_cohort_find(const bl_cohort *c, const char *id);
/* Write a cohort CSV (atomic); paths are written relative to the output CSV's directory when possible. */
bl_status bl_cohort_write(const bl_cohort *c, const char *path);
/* The same with paths relative to `dir` (a CSV written in a staging folder that will be renamed to dir). */
bl_status bl_cohort_write_relative_to(const bl_cohort *c, const char *path, const char *dir);
/* `file` relative to `dir` when it lies below it, else absolute (malloc'ed; NULL when out of memory). */
char *bl_path_relative_to(const char *file, const char *dir);

/* The rules every reader of a cohort applies, in one place (the cohort reader and `blasto split`):
 * an id is non-empty, has no '/', '\\' or '|' (the separator of a mask pair "icm.png|te.png", which files named
 * after the id end up in), is not "." or "..", and has no control character — it names files:
 *   "<csv>: line N: column 'id': not usable as a file name (expected a non-empty id without '/', '\\' or '|', got '…')"
 * a label is 0 or 1, surrounding spaces allowed:
 *   "<csv>: line N: column 'label': not 0 or 1 (expected 0 or 1, got '…')". Both BL_ERR_FORMAT. */
bl_status bl_cohort_check_id(const char *csv_path, int line, const char *id);
bl_status bl_cohort_parse_label(const char *csv_path, int line, const char *text, int *label);

#endif
