/* report_parts.h — internal to the report (tools/study/report*.c): the helpers its files share and the sections each
 * file renders. Not installed for library users to rely on; tools/study/report.h is the interface. */
#ifndef BLASTO_REPORT_PARTS_H
#define BLASTO_REPORT_PARTS_H

#include <stddef.h>

#include "core/status.h"
#include "study/svg.h"

#define REPORT_PATH_CAP 4096

/* "<dir>/<name>" into buf [REPORT_PATH_CAP]; fails when it does not fit. */
bl_status report_join(char *buf, const char *dir, const char *name);
int report_is_dir(const char *path);
/* The names in dir (sorted by strcmp, "." entries left out); want_dirs: subdirectories only, else regular files
 * only. *names [*count] malloc'ed; free with report_free_names. A missing dir gives 0 names. */
bl_status report_list(const char *dir, int want_dirs, char ***names, int *count);
void report_free_names(char **names, int count);

/* <p class="na">not available: <what> missing</p> */
void report_not_available(bl_strbuf *h, const char *what);
void report_section_open(bl_strbuf *h, const char *id, const char *title);
void report_section_close(bl_strbuf *h);

/* The readable forms used throughout: fixed decimals, "%.3g" for p-values and small statistics; "n/a" for NaN. */
const char *report_fixed(char *buf, size_t cap, double v, int decimals);
const char *report_general(char *buf, size_t cap, double v);

/* The colour of the i-th arch × input series. */
const char *report_colour(int i);

/* Sections, each appended to h; a malformed file fails naming the file and the field. */
bl_status report_figure4_and_roc(const char *run_dir, bl_strbuf *h);   /* report_figures.c */
bl_status report_calibration(const char *run_dir, bl_strbuf *h);      /* report_figures.c */
bl_status report_gallery(const char *run_dir, bl_strbuf *h);           /* report_gallery.c */
/* The outline overlays of segment/f<k>/gallery/<id>.png (appended inside the segmentation section); nothing without
 * segment/. report_gallery.c */
bl_status report_segmentation_gallery(const char *run_dir, bl_strbuf *h);
/* <img alt=… src="data:image/png;base64,…"> of the PNG at path (its signature checked). report_gallery.c */
bl_status report_embed_png(const char *path, const char *alt, bl_strbuf *h);

#endif
