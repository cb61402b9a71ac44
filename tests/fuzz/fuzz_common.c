/* fuzz_common.c — scratch folder for the fuzz targets (see fuzz_common.h). */
#include "fuzz_common.h"

#include <string.h>
#include <unistd.h>

#define MAX_NAMES 8

static char scratch[4096];
static char names[MAX_NAMES][64];
static char paths[MAX_NAMES][4200];
static int n_names;

static void remove_scratch(void) { /* newest first, so "w/x" goes before the folder "w" */
    for (int i = n_names - 1; i >= 0; i--) remove(paths[i]);
    if (scratch[0]) rmdir(scratch);
}

const char *fuzz_dir(void) {
    if (!scratch[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(scratch, sizeof scratch, "%s/blasto_fuzz_XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
        if (!mkdtemp(scratch)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(remove_scratch);
    }
    return scratch;
}

const char *fuzz_path(const char *name) {
    for (int i = 0; i < n_names; i++)
        if (!strcmp(names[i], name)) return paths[i];
    if (n_names == MAX_NAMES || strlen(name) >= sizeof names[0]) abort();
    snprintf(names[n_names], sizeof names[0], "%s", name);
    snprintf(paths[n_names], sizeof paths[0], "%s/%s", fuzz_dir(), name);
    return paths[n_names++];
}

const char *fuzz_write(const char *name, const void *data, size_t size) {
    const char *path = fuzz_path(name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
    return path;
}
