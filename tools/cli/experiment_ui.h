/* experiment_ui.h — the progress display of `blasto experiment` and `blasto demo` on stderr: one status line
 * for the whole run (unit, epoch, batch, loss, overall %, elapsed, ETA) redrawn in place on a terminal, with the
 * unit and epoch lines printed above it; on a pipe or file only the unit and epoch lines (each with the overall
 * ETA), so logs stay short. */
#ifndef BLASTO_EXPERIMENT_UI_H
#define BLASTO_EXPERIMENT_UI_H

#include "study/experiment.h"

typedef struct experiment_ui {
    const char *prefix;            /* "blasto experiment" */
    const char *tag;               /* before epoch and note lines: "" (one process) or "[rank r of K] " */
    int tty;
    double last_draw;              /* monotonic seconds of the last status-line draw */
    int drawn;                     /* a status line is on screen (must be cleared before other output) */
    bl_experiment_progress last;   /* the latest progress */
    int have_last;
    bl_train_callbacks train;
    bl_experiment_callbacks cb;
} experiment_ui;

/* Fills u (u->cb is what to pass to bl_experiment_run). */
void experiment_ui_init(experiment_ui *u, const char *prefix);
/* Clears the status line (call before printing anything else after the run). */
void experiment_ui_clear(experiment_ui *u);

#endif
