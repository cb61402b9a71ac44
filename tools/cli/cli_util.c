/* cli_util.c — option parsing helpers shared by the subcommands. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>
#include <string.h>

#include "commands.h"
#include "core/cpu/threads.h"
#include "core/device.h"

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
