/* files.c — directory creation and the monotonic clock (see files.h). */
#include "study/files.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

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
