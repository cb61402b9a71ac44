/* status.h — how blasto reports failure.
 *
 * Every fallible library call returns a bl_status (BL_OK == 0). The matching human-readable message is kept
 * per thread and read with bl_last_error(). Messages follow one shape so a user can act on them:
 *
 *     <file or object>: <field or tensor>: <what is wrong> (expected <x>, got <y>)
 *
 * The library never calls exit() or assert() on input; the command-line tool turns a status into one line on
 * stderr and a non-zero exit code. */
#ifndef BLASTO_STATUS_H
#define BLASTO_STATUS_H

#include <stdarg.h>

typedef enum bl_status {
    BL_OK = 0,
    BL_ERR_INVALID = 1,   /* bad argument or shape passed by the caller */
    BL_ERR_IO = 2,        /* file missing, unreadable, short write */
    BL_ERR_FORMAT = 3,    /* a file was read but its content is malformed */
    BL_ERR_NOMEM = 4,     /* an allocation failed (message gives the byte count) */
    BL_ERR_UNSUPPORTED = 5, /* valid request this build or backend cannot do */
    BL_ERR_NUMERIC = 6,   /* NaN / Inf where a finite number is required */
    BL_ERR_DEVICE = 7,    /* the device (GPU runtime or library) reported an error */
} bl_status;

/* Record a message for this thread and return `code` so callers can write `return bl_fail(...)`. */
bl_status bl_fail(bl_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bl_status bl_failv(bl_status code, const char *fmt, va_list ap);

/* The message of the last failure on this thread ("" when none). */
const char *bl_last_error(void);
void bl_clear_error(void);

/* Name of a status code, e.g. "format error". */
const char *bl_status_name(bl_status code);

#endif
