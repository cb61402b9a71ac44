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

double bl_seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void bl_remove_tree(const char *path) {
    struct stat sb;
    if (lstat(path, &sb) != 0) return;
    if (!S_ISDIR(sb.st_mode)) {
        unlink(path);
        return;
    }
    DIR *d = opendir(path);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        size_t n = strlen(path) + strlen(e->d_name) + 2;
        char *child = malloc(n);
        if (!child) continue;
        snprintf(child, n, "%s/%s", path, e->d_name);
        bl_remove_tree(child);
        free(child);
    }
    if (d) closedir(d);
    rmdir(path);
}
