/* cli_util.c — option parsing helpers shared by the subcommands. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <string.h>

#include "commands.h"
#include "core/collective.h"
#include "core/cpu/threads.h"
#include "core/device.h"
#include "study/files.h"

int cli_parse_int(const char *cmd, const char *opt, const char *text, long lo, long hi, long *out) {
    if (!text) {
        fprintf(stderr, "blasto %s: %s: missing value\n", cmd, opt);
        return 2;
    }
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "blasto %s: %s: expected an integer in [%ld, %ld], got '%s'\n", cmd, opt, lo, hi, text);
        return 2;
    }
    *out = v;
    return 0;
}

int cli_apply_threads(const char *cmd, long threads) {
    if (threads <= 0) return 0;
    if (bl_threads_set((int)threads) != BL_OK) {
        fprintf(stderr, "blasto %s: --threads: %s\n", cmd, bl_last_error());
        return 1;
    }
    return 0;
}

int cli_world_open(const char *cmd, struct bl_world *w, long threads) {
    if (bl_world_open(w) != BL_OK) {
        fprintf(stderr, "blasto %s: %s\n", cmd, bl_last_error());
        return 1;
    }
    /* ranks on one machine share its cores: each takes its share unless told otherwise */
    if (threads <= 0 && w->local_size > 1 && !getenv("BLASTO_THREADS")) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores / w->local_size > 1 ? cores / w->local_size : 1;
    }
    if (cli_apply_threads(cmd, threads)) {
        bl_world_close(w);
        return 1;
    }
    return 0;
}

void cli_world_error(const char *cmd, const struct bl_world *w) {
    if (w->size == 1) fprintf(stderr, "blasto %s: %s\n", cmd, bl_last_error());
    else if (!bl_world_error_relayed())
        fprintf(stderr, "blasto %s: rank %d of %d failed: %s\n", cmd, w->rank, w->size, bl_last_error());
}

int cli_device_option(const char *cmd, int argc, char **argv, int *i, bl_device_options *d) {
    const char *opt = argv[*i];
    if (strcmp(opt, "--deterministic") == 0) return d->deterministic = 1, 1;
    if (strcmp(opt, "--tf32") == 0) return d->tf32 = 1, 1;
    if (strcmp(opt, "--device") != 0) return 0;
    const char *name = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (!name || (strcmp(name, "cpu") != 0 && strcmp(name, "cuda") != 0)) {
        fprintf(stderr, "blasto %s: --device: expected cpu or cuda, got '%s'\n", cmd, name ? name : "");
        return 2;
    }
    bl_device_options_set(d, name);
    ++*i;
    return 1;
}

int cli_open_device(const char *cmd, const bl_device_options *d) {
    const bl_kernels *k = NULL;
    if (bl_device_open_options(d, &k) == BL_OK) return 0;
    fprintf(stderr, "blasto %s: %s\n", cmd, bl_last_error());
    return 1;
}

cJSON *cli_json_number(double v) {
    if (!isfinite(v)) return cJSON_CreateNull();
    char text[40];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, v);
        if (strtod(text, NULL) == v) break;
    }
    return cJSON_CreateRaw(text);
}

int cli_json_add_number(cJSON *object, const char *key, double v) {
    cJSON *item = cli_json_number(v);
    return item && cJSON_AddItemToObject(object, key, item) ? 0 : 1;
}

void cli_progress_init(cli_progress *p) { *p = (cli_progress){.tty = isatty(2), .last = bl_seconds_now()}; }

void cli_progress_show(cli_progress *p, int last, const char *fmt, ...) {
    double t = bl_seconds_now();
    if (!last && t - p->last < (p->tty ? 0.2 : 5.0)) return;
    p->last = t;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (p->tty) fprintf(stderr, "\r\033[K%s", line);
    else fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

void cli_progress_note(cli_progress *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (p->tty) fprintf(stderr, "\r\033[K");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void cli_eta_text(double s, char *buf, unsigned long n) {
    if (!(s >= 0)) snprintf(buf, n, "--:--");
    else if (s >= 3600) snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else snprintf(buf, n, "%02d:%02d", (int)(s / 60), (int)fmod(s, 60));
}
