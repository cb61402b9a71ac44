/* status.c — per-thread error messages (see status.h). */
#include "core/status.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char last_message[1024];

bl_status bl_failv(bl_status code, const char *fmt, va_list ap) {
    /* format into a scratch buffer first: an argument may be bl_last_error() itself (re-raising a message) */
    char scratch[sizeof last_message];
    vsnprintf(scratch, sizeof scratch, fmt, ap);
    memcpy(last_message, scratch, sizeof scratch);
    return code;
}

bl_status bl_fail(bl_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    bl_failv(code, fmt, ap);
    va_end(ap);
    return code;
}

const char *bl_last_error(void) { return last_message; }

void bl_clear_error(void) { last_message[0] = '\0'; }

const char *bl_status_name(bl_status code) {
    switch (code) {
    case BL_OK: return "ok";
    case BL_ERR_INVALID: return "invalid argument";
    case BL_ERR_IO: return "i/o error";
    case BL_ERR_FORMAT: return "format error";
    case BL_ERR_NOMEM: return "out of memory";
    case BL_ERR_UNSUPPORTED: return "unsupported";
    case BL_ERR_NUMERIC: return "numeric error";
    case BL_ERR_DEVICE: return "device error";
    }
    return "unknown error";
}
