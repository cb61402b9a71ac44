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

#endif
