/* status.c — per-thread error messages (see status.h). */
#include "core/status.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char last_message[1024];

bl_status bl_failv(bl_status code, const char *fmt, va_list ap) {
    /* format into a scratch buffer first: an argument may be bl_last_error() itself (re-raising a message); then
     * every message is made one printable line, whatever text it quotes (a CSV cell with a newline, escape bytes,
     * a path that is not UTF-8): control bytes and invalid UTF-8 become \xNN */
    char scratch[sizeof last_message];
    vsnprintf(scratch, sizeof scratch, fmt, ap);
    bl_printable(scratch, last_message, sizeof last_message);
    return code;
}

bl_status bl_fail(bl_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    bl_failv(code, fmt, ap);
    va_end(ap);
    return code;
}

/* Length of the valid UTF-8 sequence starting at s[0] (n bytes available), or 0 if it is not valid UTF-8
 * (RFC 3629: no overlong forms, no surrogates U+D800..DFFF, nothing above U+10FFFF). */
size_t bl_utf8_sequence_length(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return 0;
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return len;
}

int bl_utf8_valid(const char *text) {
    const unsigned char *s = (const unsigned char *)text;
    size_t n = strlen(text);
    for (size_t i = 0; i < n;) {
        size_t len = bl_utf8_sequence_length(s + i, n - i);
        if (!len) return 0;
        i += len;
    }
    return 1;
}

const char *bl_printable(const char *text, char *buf, size_t cap) {
    const unsigned char *s = (const unsigned char *)text;
    size_t n = strlen(text), at = 0;
    if (!cap) return buf;
    for (size_t i = 0; i < n;) {
        size_t len = s[i] >= 0x20 && s[i] != 0x7f ? bl_utf8_sequence_length(s + i, n - i) : 0;
        if (len) { /* a printable character, copied whole or not at all */
            if (at + len >= cap) break;
            memcpy(buf + at, s + i, len);
            at += len, i += len;
        } else { /* a control byte or a byte that is not UTF-8: \xNN */
            if (at + 4 >= cap) break;
            snprintf(buf + at, cap - at, "\\x%02x", s[i]);
            at += 4, i++;
        }
    }
    buf[at] = '\0';
    return buf;
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
