/* experiment_ui.c — see experiment_ui.h. */
#include "experiment_ui.h"

#include <stdio.h>
#include <unistd.h>

#include "study/files.h"

static void mmss(double s, char *buf, size_t size) {
    if (s < 0) {
        snprintf(buf, size, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, size, "%02ld:%02ld", t / 60, t % 60);
}

void experiment_ui_clear(experiment_ui *u) {
    if (u->drawn) fputs("\r\033[K", stderr);
    u->drawn = 0;
}

static void draw(experiment_ui *u) {
    const bl_experiment_progress *p = &u->last;
    char el[48], eta[48];
    mmss(p->elapsed_s, el, sizeof el);
    mmss(p->eta_s, eta, sizeof eta);
    fprintf(stderr, "\r\033[K[%d/%d] %s  epoch %d/%d  %s %d/%d  loss %.4f | %3.0f%%  elapsed %s  ETA %s", p->unit,
            p->units, p->name, p->epoch + 1, p->epochs, p->validating ? "validation" : "batch", p->batch, p->batches,
            p->loss, 100.0 * p->fraction, el, eta);
    fflush(stderr);
    u->drawn = 1;
}

static void on_progress(void *user, const bl_experiment_progress *p) {
    experiment_ui *u = user;
    u->last = *p;
    u->have_last = 1;
    double t = bl_seconds_now();
    if (u->tty && t - u->last_draw >= 0.2) {
        u->last_draw = t;
        draw(u);
    }
}

static void on_unit(void *user, const char *line) {
    experiment_ui *u = user;
    experiment_ui_clear(u);
    fprintf(stderr, "%s: %s\n", u->prefix, line);
    fflush(stderr);
}

static void on_epoch(void *user, const bl_train_epoch *e) {
    experiment_ui *u = user;
    experiment_ui_clear(u);
    char eta[48] = "--:--";
    if (u->have_last) mmss(u->last.eta_s, eta, sizeof eta);
    fprintf(stderr, "  %sepoch %d: train loss %.4f  val AUROC %.4f%s  %.1f s | overall %.0f%%  ETA %s\n", u->tag, e->epoch + 1,
            e->train_loss, e->val_auroc, e->best ? " (best)" : "", e->seconds,
            u->have_last ? 100.0 * u->last.fraction : 0.0, eta);
    fflush(stderr);
    if (u->tty && u->have_last) draw(u);
}

static void on_note(void *user, const char *line) {
    experiment_ui *u = user;
    experiment_ui_clear(u);
    fprintf(stderr, "  %s%s\n", u->tag, line);
    fflush(stderr);
}

void experiment_ui_init(experiment_ui *u, const char *prefix) {
    *u = (experiment_ui){.prefix = prefix, .tag = "", .tty = isatty(2)};
    u->train = (bl_train_callbacks){.user = u, .epoch_done = on_epoch, .note = on_note};
    u->cb = (bl_experiment_callbacks){.user = u, .unit = on_unit, .progress = on_progress, .train = &u->train};
}
