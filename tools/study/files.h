/* files.h — small system helpers shared by the study library and the commands: making an output directory and
 * reading the monotonic clock. Reading, atomically writing and removing files is in core/fileio.h. */
#ifndef BLASTO_FILES_H
#define BLASTO_FILES_H

#include "core/fileio.h" /* bl_remove_tree */
#include "core/status.h"

/* Creates the directory `path` (one level, mode 0777 less the umask); a directory already there is accepted.
 * *created (when non-NULL) is set to 1 when this call made it, 0 otherwise — so a failing run can remove what it
 * created and leave an existing directory alone. Errors (BL_ERR_IO):
 *   "<path>: cannot create directory: <strerror>"   mkdir failed (a parent missing, no permission, …)
 *   "<path>: exists and is not a directory"         a file or other non-directory has that name
 * On failure errno is mkdir's error, or ENOTDIR when a non-directory is in the way. */
bl_status bl_make_dir(const char *path, int *created);

/* 1 when path names a regular file (following symbolic links). */
int bl_is_file(const char *path);

/* A path that an output records as JSON text (a checkpoint's options, a converted file's source) must be valid
 * UTF-8, checked before the work rather than at the first save: BL_ERR_INVALID "<option>: '<path with \xNN>' is not
 * valid UTF-8 (it is recorded as JSON text in the output; rename the file or folder)". NULL passes. */
bl_status bl_check_recorded_path(const char *option, const char *path);

/* A training run's folder RUN/ over its life (train and segment train): opened, it exists (made when absent, only
 * after every input validated) and is locked (one run per RUN/); a RUN/ this run made is removed by a signal, or by
 * a failure, until the first checkpoint is in it — then there is something to resume and it stays. */
typedef struct bl_run_dir {
    const char *path;
    int created;        /* this run made RUN/ */
    int has_checkpoint; /* RUN/last.safetensors exists (resumed, or written by this run) */
    int lock;           /* the descriptor holding the lock, or -1 */
} bl_run_dir;

/* resumed: RUN/ holds a checkpoint already. Errors: bl_make_dir's, bl_lock_dir's. */
bl_status bl_run_dir_open(bl_run_dir *d, const char *path, int resumed);
/* After RUN/last.safetensors was written. */
void bl_run_dir_checkpointed(bl_run_dir *d);
/* At the end of the run (st its status); a zeroed or unopened bl_run_dir is fine. */
void bl_run_dir_close(bl_run_dir *d, bl_status st);

/* Seconds on the monotonic clock (CLOCK_MONOTONIC: not moved by changes of the wall clock) as a double; only
 * differences of two readings mean anything. */
double bl_seconds_now(void);

#endif
