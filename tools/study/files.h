/* files.h — two small system helpers shared by the study library and the commands: making an output directory and
 * reading the monotonic clock. Reading and atomically writing files is in csv.h. */
#ifndef BLASTO_FILES_H
#define BLASTO_FILES_H

#include "core/status.h"

/* Creates the directory `path` (one level, mode 0777 less the umask); a directory already there is accepted.
 * *created (when non-NULL) is set to 1 when this call made it, 0 otherwise — so a failing run can remove what it
 * created and leave an existing directory alone. Errors (BL_ERR_IO):
 *   "<path>: cannot create directory: <strerror>"   mkdir failed (a parent missing, no permission, …)
 *   "<path>: exists and is not a directory"         a file or other non-directory has that name
 * On failure errno is mkdir's error, or ENOTDIR when a non-directory is in the way. */
bl_status bl_make_dir(const char *path, int *created);

/* Removes `path` and, when it is a directory, everything below it (links are removed, not followed). Errors are
 * ignored: for cleaning up what this process made. */
void bl_remove_tree(const char *path);

/* Seconds on the monotonic clock (CLOCK_MONOTONIC: not moved by changes of the wall clock) as a double; only
 * differences of two readings mean anything. */
double bl_seconds_now(void);

#endif
