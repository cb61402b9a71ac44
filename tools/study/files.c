/* files.c — directory creation, removal, and the monotonic clock (see files.h). */
#define _DEFAULT_SOURCE /* lstat */
#include "study/files.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int bl_is_file(const char *path) {
    struct stat s;
    return stat(path, &s) == 0 && S_ISREG(s.st_mode);
}

bl_status bl_make_dir(const char *path, int *created) {
    if (created) *created = 0;
    if (mkdir(path, 0777) == 0) {
        if (created) *created = 1;
        return BL_OK;
    }
    int error = errno;
    struct stat s;
    if (error == EEXIST && stat(path, &s) == 0 && S_ISDIR(s.st_mode)) return BL_OK;
    bl_status st = error == EEXIST ? bl_fail(BL_ERR_IO, "%s: exists and is not a directory", path)
                                   : bl_fail(BL_ERR_IO, "%s: cannot create directory: %s", path, strerror(error));
    errno = error == EEXIST ? ENOTDIR : error;
    return st;
}

bl_status bl_check_recorded_path(const char *option, const char *path) {
    if (!path || bl_utf8_valid(path)) return BL_OK;
    char shown[512];
    return bl_fail(BL_ERR_INVALID, "%s: '%s' is not valid UTF-8 (it is recorded as JSON text in the output; rename the "
                   "file or folder)", option, bl_printable(path, shown, sizeof shown));
}

bl_status bl_run_dir_open(bl_run_dir *d, const char *path, int resumed) {
    *d = (bl_run_dir){.path = path, .has_checkpoint = resumed, .lock = -1};
    bl_status st = resumed ? BL_OK : bl_make_dir(path, &d->created);
    if (!st && d->created) bl_cleanup_add_tree(path);
    if (!st) st = bl_lock_dir(path, &d->lock);
    return st;
}

void bl_run_dir_checkpointed(bl_run_dir *d) {
    if (d->created && !d->has_checkpoint) bl_cleanup_forget(d->path); /* resumable from now on: it stays */
    d->has_checkpoint = 1;
}

void bl_run_dir_close(bl_run_dir *d, bl_status st) {
    if (!d->path) return; /* never opened */
    if (d->created && !d->has_checkpoint) { /* nothing to resume from: no RUN/ left behind */
        if (st) bl_remove_tree(d->path);
        bl_cleanup_forget(d->path);
    }
    if (d->lock >= 0) bl_unlock_dir(d->lock);
    d->lock = -1;
}

double bl_seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
