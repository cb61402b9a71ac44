/* fileio.h — the one way blasto reads and writes files.
 *
 * Inputs. bl_input_open() opens a file without blocking, checks that it is a regular file (a FIFO, a device, a
 * socket or a folder is refused before one byte is read: a FIFO would hang, /dev/urandom never ends) and that its
 * size is within the caller's limit. Once bl_input_guard_enable() was called (the blasto command does, first) it
 * also records the file's identity (device, inode) for the rest of the process: the inputs of the command.
 *
 * Outputs. bl_output_open() writes into "<target>.tmp.<pid>" beside the target and bl_output_commit() renames it
 * onto the target, so a reader sees the old file or the complete new one. Before anything is written it refuses
 *   - a target that exists and is not a regular file (a device such as /dev/null, a FIFO, a folder): blasto never
 *     replaces one;
 *   - a target that is the same file (device and inode) as an input this process has read (with the guard
 *     enabled) or as one named by the caller: an output never destroys an input.
 * A symbolic link is written through: the file it points to is replaced (in its own folder), the link stays.
 *
 * Cleanup. Every temporary is registered while it exists, and so is a folder a command is building aside
 * (bl_cleanup_add_tree). bl_cleanup_install() (the blasto command calls it first) stops SIGINT, SIGTERM and SIGHUP
 * from interrupting the work threads and waits for them on a thread of its own, which removes what is registered
 * and then ends the process with the signal's default action (exit status 128 + signal in a shell). A signal the
 * process was started with ignored (SIGHUP under nohup, SIGINT in a script's background job) stays ignored. SIGKILL cannot
 * be caught: a killed process's temporaries carry its pid, and bl_remove_stale_temporaries removes them later. */
#ifndef BLASTO_FILEIO_H
#define BLASTO_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/status.h"

/* Opens `path` for reading. Errors (nothing is left open):
 *   BL_ERR_IO      "<path>: cannot open: <strerror>"
 *   BL_ERR_IO      "<path>: cannot read: not a regular file (a FIFO|a character device|a block device|a socket|a folder)"
 *   BL_ERR_FORMAT  "<path>: file too large (expected at most N bytes, got M)"      (max_bytes 0: no limit)
 * On success *f is a stdio stream (close with fclose) and *size the file's size at open. */
bl_status bl_input_open(const char *path, uint64_t max_bytes, FILE **f, uint64_t *size);

/* Reads a whole regular file into a NUL-terminated malloc'ed buffer (*size excludes the NUL), through
 * bl_input_open. A file that changes size while it is read is refused ("file changed while being read"). */
bl_status bl_read_file(const char *path, size_t max_bytes, char **text, size_t *size);

/* Turns on the recording of inputs for the rest of the process. A program that is one command (blasto) calls it;
 * a library user that reads and rewrites its own files (a test fixture, a notebook-like driver) leaves it off. */
void bl_input_guard_enable(void);
/* 1 when `path` names (following links) a file this process has opened with bl_input_open since the guard was
 * enabled, 0 otherwise. */
int bl_input_is_known(const char *path);
/* Declares that the input `path` is the previous state of an output this command updates (a resumed run's
 * last.safetensors): it may be replaced from now on. Every other input stays protected. */
void bl_input_release(const char *path);

/* The checks bl_output_open makes before creating anything, on their own, so that a command can refuse a bad
 * output before it starts its work. Errors (BL_ERR_INVALID):
 *   "<path>: exists and is not a regular file (a character device); blasto replaces only regular files"
 *   "<path>: is also an input of this command; choose another output"   (an input read so far, or one of the
 *                                                                          n_inputs paths given here)
 *   "<path>: is a symbolic link to a missing file" / "<path>: empty path"  */
bl_status bl_output_check(const char *path, int n_inputs, const char *const *inputs);
/* 1 once bl_output_check (or bl_output_open) has refused an output in this process: the blasto command then exits
 * with status 2, a usage error, whichever command it was. */
int bl_output_refused(void);

typedef struct bl_output {
    FILE *f;      /* write here between open and commit */
    char *target; /* the file that is replaced: path, or the file its symbolic link points to */
    char *temp;   /* "<target>.tmp.<pid>" */
    const char *path; /* as given, for messages */
} bl_output;

/* bl_output_check(path, 0, NULL), then creates the temporary (mode 0644 less the umask, never through a link). */
bl_status bl_output_open(const char *path, bl_output *o);
/* Flushes, fsyncs when `durable` (and then the folder after the rename), closes and renames onto the target. On
 * any failure the temporary is removed and the target is untouched: "<path>: cannot save: <step> failed: <why>". */
bl_status bl_output_commit(bl_output *o, int durable);
/* Removes the temporary and frees `o`; for a writer that failed before commit. Accepts a zeroed bl_output. */
void bl_output_abort(bl_output *o);

/* Writes `size` bytes to `path` through bl_output_open / bl_output_commit(durable = 1). */
bl_status bl_write_file_atomic(const char *path, const void *data, size_t size);

/* Takes an exclusive lock on the folder `path` (flock on the folder itself: nothing is written, and the kernel
 * drops the lock when the process ends, even by SIGKILL). *fd gets the descriptor that holds it; bl_unlock_dir
 * releases it. Errors: BL_ERR_IO "<path>: cannot open the folder: <strerror>", BL_ERR_INVALID "<path>: in use by
 * another blasto process (a second run into the same folder would mix their files); wait for it or choose another
 * folder". */
bl_status bl_lock_dir(const char *path, int *fd);
void bl_unlock_dir(int fd);

/* Registers a folder (with everything under it) or a file to be removed if the process is ended by SIGINT, SIGTERM
 * or SIGHUP; bl_cleanup_forget() unregisters it (after it was renamed into place or removed). Thread-safe. When
 * memory for the registration cannot be had it is dropped (what the signal then leaves, the next run removes). */
void bl_cleanup_add_tree(const char *path);
void bl_cleanup_forget(const char *path);
/* Removes `path` and, when it is a folder, everything below it (links are removed, not followed). Errors are
 * ignored: for cleaning up what this process made. */
void bl_remove_tree(const char *path);
/* Starts the signal thread described above. Call it once, before any other thread is created; a second call does
 * nothing. Returns 0, or -1 when the thread could not be started (signals then keep their default action). */
int bl_cleanup_install(void);

#endif
