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
#include <stddef.h>

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
/* The message of the last failure on this thread: always one line of printable text (bl_fail passes what it
 * formats through bl_printable). */
const char *bl_last_error(void);

/* Length of the valid UTF-8 sequence starting at s[0] (n bytes available), or 0 when it is not valid UTF-8
 * (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF). */
size_t bl_utf8_sequence_length(const unsigned char *s, size_t n);
/* 1 when `text` is entirely valid UTF-8 (what JSON strings and safetensors metadata must be), 0 otherwise. */
int bl_utf8_valid(const char *text);
/* `text` made fit for a one-line message: control bytes (below 0x20, 0x7f) and bytes that are not valid UTF-8 are
 * written as \xNN, everything else as is; cut at a character boundary to fit cap bytes with the NUL. Returns buf. */
const char *bl_printable(const char *text, char *buf, size_t cap);
void bl_clear_error(void);

/* Name of a status code, e.g. "format error". */
const char *bl_status_name(bl_status code);

#endif
