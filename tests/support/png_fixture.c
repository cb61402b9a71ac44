/* png_fixture.c — PNG files made byte by byte for tests (see png_fixture.h). */
#include "support/png_fixture.h"

#include <stdlib.h>
#include <string.h>

uint32_t test_crc32(const unsigned char *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
}

static void put_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8),
    p[3] = (unsigned char)v;
}

/* Finishes the chunk whose `len` data bytes already sit at at + 8: its length, its type and the CRC of type and
 * data. Returns where the next chunk starts. */
static unsigned char *put_chunk(unsigned char *at, const char *type, uint32_t len) {
    put_be32(at, len);
    memcpy(at + 4, type, 4);
    put_be32(at + 8 + len, test_crc32(at + 4, 4 + (size_t)len));
    return at + 12 + len;
}

/* The signature and the IHDR chunk of a gray PNG; returns where the next chunk starts. */
static unsigned char *put_signature_ihdr(unsigned char *b, uint32_t width, uint32_t height, int bit_depth) {
    memcpy(b, "\x89PNG\r\n\x1a\n", 8);
    unsigned char *ihdr = b + 8;
    put_be32(ihdr + 8, width);
    put_be32(ihdr + 12, height);
    ihdr[16] = (unsigned char)bit_depth; /* color type 0 (gray), compression 0, filter 0, no interlace */
    return put_chunk(ihdr, "IHDR", 13);
}

/* A PNG signature + IHDR (width × height, bit depth, gray) + an empty IDAT + IEND: tiny, but its header announces
 * whatever size we like. */
unsigned char *test_png_header_only(uint32_t width, uint32_t height, int bit_depth, size_t *size) {
    enum { N = 8 + 25 + 12 + 12 };
    unsigned char *b = calloc(N, 1);
    *size = b ? N : 0;
    if (!b) return NULL;
    put_chunk(put_chunk(put_signature_ihdr(b, width, height, bit_depth), "IDAT", 0), "IEND", 0);
    return b;
}

/* A valid 8-bit gray PNG of width × height with every pixel `value`, its zlib stream made of stored (uncompressed)
 * deflate blocks, so no compressor is needed. */
unsigned char *test_png_gray(uint32_t width, uint32_t height, unsigned char value, size_t *size_out) {
    size_t raw_size = (size_t)height * (1 + width), n_blocks = (raw_size + 65534) / 65535;
    size_t zsize = 2 + raw_size + 5 * n_blocks + 4, size = 8 + 25 + 12 + zsize + 12;
    unsigned char *b = calloc(size, 1), *raw = malloc(raw_size);
    *size_out = 0;
    if (!b || !raw) {
        free(b);
        free(raw);
        return NULL;
    }
    for (uint32_t y = 0; y < height; y++) {
        raw[(size_t)y * (1 + width)] = 0; /* filter: none */
        memset(raw + (size_t)y * (1 + width) + 1, value, width);
    }
    unsigned char *idat = put_signature_ihdr(b, width, height, 8), *z = idat + 8;
    z[0] = 0x78, z[1] = 0x01;
    size_t at = 2;
    uint32_t s1 = 1, s2 = 0; /* adler32 */
    for (size_t done = 0; done < raw_size;) {
        size_t len = raw_size - done < 65535 ? raw_size - done : 65535;
        z[at++] = done + len == raw_size ? 1 : 0;
        z[at++] = (unsigned char)len, z[at++] = (unsigned char)(len >> 8);
        z[at++] = (unsigned char)~len, z[at++] = (unsigned char)(~len >> 8);
        memcpy(z + at, raw + done, len);
        for (size_t i = 0; i < len; i++) s1 = (s1 + raw[done + i]) % 65521, s2 = (s2 + s1) % 65521;
        at += len;
        done += len;
    }
    put_be32(z + at, (s2 << 16) | s1);
    put_chunk(put_chunk(idat, "IDAT", (uint32_t)zsize), "IEND", 0);
    free(raw);
    *size_out = size;
    return b;
}
