/* image.c — decoding and PNG encoding through Debian's libstb (see image.h). */
#include "study/image.h"
#include "study/csv.h" /* bl_read_file */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

bl_status bl_image_alloc(bl_image *img, int width, int height, int channels) {
    memset(img, 0, sizeof *img);
    if (width < 1 || height < 1 || (channels != 1 && channels != 3))
        return bl_fail(BL_ERR_INVALID, "image: %dx%dx%d: expected positive size and 1 or 3 channels", width, height,
                       channels);
    if ((int64_t)width * height > BL_IMAGE_MAX_PIXELS)
        return bl_fail(BL_ERR_INVALID, "image: %dx%d exceeds the limit of %lld pixels", width, height,
                       (long long)BL_IMAGE_MAX_PIXELS);
    size_t bytes = (size_t)width * (size_t)height * (size_t)channels;
    img->pixels = calloc(bytes, 1);
    if (!img->pixels) return bl_fail(BL_ERR_NOMEM, "image: out of memory: needs %zu bytes", bytes);
    img->width = width;
    img->height = height;
    img->channels = channels;
    return BL_OK;
}

void bl_image_free(bl_image *img) {
    if (!img) return;
    free(img->pixels);
    memset(img, 0, sizeof *img);
}

/* The container by its signature. stb_image would also try TGA (which has no signature), PSD, GIF, HDR, PIC and
 * PNM on any bytes; blasto accepts only the three formats its users bring, so nothing else reaches a decoder. */
static const char *image_format(const unsigned char *b, size_t n) {
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n >= 8 && memcmp(b, png, 8) == 0) return "PNG";
    if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) return "JPEG";
    if (n >= 2 && b[0] == 'B' && b[1] == 'M') return "BMP";
    return NULL;
}

/* Two defects of stb_image 2.27 (Debian bookworm's libstb; both fixed upstream in 2.28), found by tests/fuzz, are
 * refused here before stb sees the file:
 *  - a DHT segment declaring more than 256 Huffman codes makes stb write past its 257-entry size table;
 *  - a scan that uses a Huffman table no DHT has defined yet makes stb decode with the uninitialised table of its
 *    malloc'ed decoder state (out-of-bounds index -1 in stbi__jpeg_huff_decode, garbage pixels).
 * The JPEG's marker segments are walked the way stb does — length-prefixed segments; bytes that are not a marker
 * skipped up to the next 0xFF, as stb's header scan does; after a start-of-scan the entropy-coded data up to the
 * next marker (0xFF followed by a byte other than 0x00, 0xFF or RST0..7). Bytes beyond the end read as 0, as stb's
 * reader does. Returns 0 when fine, else 1 with the reason in why[size]. */
static int jpeg_unsafe_for_stb(const unsigned char *b, size_t n, char *why, size_t size) {
    size_t p = 2; /* after SOI */
    int in_scan = 0, defined[2][4] = {{0}};
#define AT(i) ((i) < n ? b[(i)] : 0)
    while (p + 1 < n) {
        if (in_scan) { /* entropy-coded data: find the next real marker */
            if (b[p] != 0xff || b[p + 1] == 0x00 || b[p + 1] == 0xff || (b[p + 1] >= 0xd0 && b[p + 1] <= 0xd7)) {
                p++;
                continue;
            }
            in_scan = 0;
        }
        if (b[p] != 0xff) { /* not a marker: stb scans forward for the next 0xFF ("padding"), so do we */
            p++;
            continue;
        }
        while (p < n && b[p] == 0xff) p++; /* fill bytes */
        if (p >= n) return 0;
        unsigned marker = b[p++];
        if (marker == 0xd9) return 0;                                        /* EOI */
        if (marker == 0x01 || (marker >= 0xd0 && marker <= 0xd8)) continue;  /* no length */
        if (p + 1 >= n) return 0;
        size_t len = ((size_t)b[p] << 8) | b[p + 1];
        if (marker == 0xc4) { /* DHT: tables of (class/id byte, 16 counts, values) while the length lasts */
            long left = (long)len - 2;
            size_t q = p + 2;
            while (left > 0) {
                int codes = 0;
                for (size_t i = 0; i < 16; i++) codes += AT(q + 1 + i);
                if (codes > 256) {
                    snprintf(why, size, "Huffman table with %d codes (expected at most 256)", codes);
                    return 1;
                }
                unsigned tc = AT(q) >> 4, th = AT(q) & 15;
                if (tc <= 1 && th <= 3) defined[tc][th] = 1; /* stb refuses other ids itself */
                q += 17 + (size_t)codes;
                left -= 17 + codes;
            }
        }
        if (marker == 0xda) { /* SOS: Ns, Ns × (component, DC table << 4 | AC table), Ss, Se, Ah << 4 | Al */
            size_t q = p + 2;
            unsigned ns = AT(q), ss = AT(q + 1 + 2 * (size_t)ns), se = AT(q + 2 + 2 * (size_t)ns),
                     ah = AT(q + 3 + 2 * (size_t)ns) >> 4;
            for (unsigned i = 0; i < ns && i < 4; i++) {
                unsigned td = AT(q + 2 + 2 * (size_t)i) >> 4, ta = AT(q + 2 + 2 * (size_t)i) & 15;
                int uses_dc = ss == 0 && ah == 0, uses_ac = se > 0 || ss > 0;
                const char *kind = NULL;
                unsigned id = 0;
                if (uses_dc && td <= 3 && !defined[0][td]) kind = "DC", id = td;
                else if (uses_ac && ta <= 3 && !defined[1][ta]) kind = "AC", id = ta;
                if (kind) {
                    snprintf(why, size, "scan uses Huffman table %s%u before any DHT defines it", kind, id);
                    return 1;
                }
            }
            in_scan = 1;
        }
        if (len < 2) return 0; /* stb refuses it */
        p += len;
    }
#undef AT
    return 0;
}

/* PNG chunks as stb reads them: stb grows its compressed-data buffer to a chunk's declared length before reading
 * it, so a 100-byte file declaring a 2 GiB IDAT makes it allocate 2 GiB (found by tests/fuzz/fuzz_mask.c). A chunk
 * longer than what remains of the file is refused first. Returns 0 when fine, else 1 with the reason. */
static int png_unsafe_for_stb(const unsigned char *b, size_t n, char *why, size_t size) {
    for (size_t p = 8; p + 8 <= n;) {
        uint32_t len = (uint32_t)b[p] << 24 | (uint32_t)b[p + 1] << 16 | (uint32_t)b[p + 2] << 8 | b[p + 3];
        if ((uint64_t)len + 12 > (uint64_t)(n - p)) {
            snprintf(why, size, "chunk '%c%c%c%c' declares %lu bytes, only %zu remain in the file",
                     b[p + 4] >= 32 && b[p + 4] < 127 ? b[p + 4] : '?', b[p + 5] >= 32 && b[p + 5] < 127 ? b[p + 5] : '?',
                     b[p + 6] >= 32 && b[p + 6] < 127 ? b[p + 6] : '?', b[p + 7] >= 32 && b[p + 7] < 127 ? b[p + 7] : '?',
                     (unsigned long)len, n - p - 8 < 4 ? (size_t)0 : n - p - 12);
            return 1;
        }
        if (!memcmp(b + p + 4, "IEND", 4)) return 0;
        p += 12 + (size_t)len;
    }
    return 0;
}

/* Width and height as the PNG (IHDR) or BMP (BITMAPINFOHEADER) header states them, read here so that an absurd size
 * is reported as such: stb's own info call gives up on sizes above its 2^30-byte limit with "unknown image type"
 * after trying every other format. Returns 0 when the header is too short to say (stb then decides). */
static int header_size(const char *format, const unsigned char *b, size_t n, int64_t *w, int64_t *h) {
    if (!strcmp(format, "PNG") && n >= 24 && !memcmp(b + 12, "IHDR", 4)) {
        *w = ((int64_t)b[16] << 24) | ((int64_t)b[17] << 16) | ((int64_t)b[18] << 8) | b[19];
        *h = ((int64_t)b[20] << 24) | ((int64_t)b[21] << 16) | ((int64_t)b[22] << 8) | b[23];
        return 1;
    }
    if (!strcmp(format, "BMP") && n >= 26) {
        uint32_t header = (uint32_t)b[14] | (uint32_t)b[15] << 8 | (uint32_t)b[16] << 16 | (uint32_t)b[17] << 24;
        if (header < 40) return 0; /* the old 12-byte core header has 16-bit sizes: nothing absurd possible */
        int32_t width = (int32_t)((uint32_t)b[18] | (uint32_t)b[19] << 8 | (uint32_t)b[20] << 16 | (uint32_t)b[21] << 24);
        int32_t height = (int32_t)((uint32_t)b[22] | (uint32_t)b[23] << 8 | (uint32_t)b[24] << 16 | (uint32_t)b[25] << 24);
        *w = width < 0 ? -(int64_t)width : width;
        *h = height < 0 ? -(int64_t)height : height; /* negative height = top-down rows */
        return 1;
    }
    return 0;
}

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Two more stb 2.27 defects found by tests/fuzz (fuzz_mask, fuzz_image), removed by rewriting the input into an
 * equivalent file before stb sees it. Returns a malloc'ed copy (*out_size) when a rewrite was needed, else NULL.
 *  - BMP with 1, 4 or 8 bits per pixel: stb reads `psize` palette entries (psize from the pixel-data offset) into a
 *    256-entry stack array and indexes it with every pixel value, so a palette shorter than 2^bpp entries lets
 *    pixels copy uninitialised stack bytes into the image (decoding the same file twice gave different pixels). The
 *    copy inserts black entries up to 2^bpp and moves the pixel-data offset by as much — what a reader that
 *    zero-fills the palette would decode. A pixel-data offset inside the header (negative psize: no palette read
 *    at all) is refused.
 *  - PNG whose first IDAT chunk is empty: stb computes NULL + 0 (undefined behaviour, UBSan "applying zero offset
 *    to null pointer"). Empty IDAT chunks carry no data; the copy leaves them out. */
static unsigned char *stb_safe_copy(const char *format, const unsigned char *b, size_t n, size_t *out_size,
                                    int *no_memory, long *bad_offset) {
    *no_memory = 0;
    *bad_offset = -1;
    if (!strcmp(format, "BMP") && n >= 30) {
        uint32_t offset = le32(b + 10), hsz = le32(b + 14);
        unsigned bpp = hsz == 12 ? (unsigned)(b[24] | b[25] << 8) : (unsigned)(b[28] | b[29] << 8);
        if (bpp != 1 && bpp != 4 && bpp != 8) return NULL;
        /* stb's formula, in its int arithmetic (extra_read is 14 for these depths) */
        long psize = hsz == 12 ? ((long)(int)offset - 14 - 24) / 3 : ((long)(int)offset - 14 - (long)(int)hsz) >> 2;
        long need = 1L << bpp, entry = hsz == 12 ? 3 : 4;
        if (psize < 0) { /* the pixel data would start inside the header: stb reads no palette at all */
            *bad_offset = (long)offset;
            return NULL;
        }
        if (psize < 1 || psize >= need || hsz > 4096) return NULL; /* stb refuses 0 and > 256 itself */
        size_t at = 14 + (size_t)hsz + (size_t)psize * (size_t)entry, pad = (size_t)(need - psize) * (size_t)entry;
        if (at > n) at = n;
        unsigned char *copy = malloc(n + pad);
        if (!copy) return *no_memory = 1, NULL;
        memcpy(copy, b, at);
        memset(copy + at, 0, pad);
        memcpy(copy + at + pad, b + at, n - at);
        uint32_t moved = offset + (uint32_t)pad;
        copy[10] = (unsigned char)moved, copy[11] = (unsigned char)(moved >> 8), copy[12] = (unsigned char)(moved >> 16),
        copy[13] = (unsigned char)(moved >> 24);
        *out_size = n + pad;
        return copy;
    }
    if (!strcmp(format, "PNG")) {
        int empty_idat = 0;
        for (size_t p = 8; p + 12 <= n;) {
            uint32_t len = be32(b + p);
            if (len > n - p - 12) break;
            empty_idat |= len == 0 && !memcmp(b + p + 4, "IDAT", 4);
            p += 12 + (size_t)len;
        }
        if (!empty_idat) return NULL;
        unsigned char *copy = malloc(n);
        if (!copy) return *no_memory = 1, NULL;
        size_t k = 8, p = 8;
        memcpy(copy, b, 8);
        while (p + 12 <= n) {
            uint32_t len = be32(b + p);
            if (len > n - p - 12) break;
            if (!(len == 0 && !memcmp(b + p + 4, "IDAT", 4))) memcpy(copy + k, b + p, 12 + (size_t)len), k += 12 + len;
            p += 12 + (size_t)len;
        }
        memcpy(copy + k, b + p, n - p); /* whatever follows the last whole chunk, as it was */
        *out_size = k + (n - p);
        return copy;
    }
    return NULL;
}

static bl_status decode_checked(const unsigned char *bytes, size_t size, const char *label, int desired_channels,
                                int64_t max_pixels, bl_image *out);

/* The EXIF orientation of a JPEG (1 … 8), or 1 when it has none: the tag Orientation (0x0112, SHORT) of IFD0 in
 * the first APP1 "Exif" segment before the first scan; any other value, or a segment that does not hold together,
 * counts as 1 (no change), as in OpenCV. Every read is bounds-checked against the segment. */
static int jpeg_exif_orientation(const unsigned char *b, size_t n) {
    size_t p = 2;
    while (p + 4 <= n && b[p] == 0xff) {
        unsigned marker = b[p + 1];
        if (marker == 0xda || marker == 0xd9) return 1; /* SOS, EOI: no Exif before the image data */
        if (marker == 0xff) { /* a fill byte */
            p++;
            continue;
        }
        size_t len = ((size_t)b[p + 2] << 8) | b[p + 3];
        if (len < 2 || p + 2 + len > n) return 1;
        const unsigned char *seg = b + p + 4; /* after the length */
        size_t seg_n = len - 2;
        if (marker == 0xe1 && seg_n >= 14 && !memcmp(seg, "Exif\0\0", 6)) {
            const unsigned char *t = seg + 6; /* the TIFF header */
            size_t tn = seg_n - 6;
            int big = t[0] == 'M' && t[1] == 'M';
            if (!big && !(t[0] == 'I' && t[1] == 'I')) return 1;
#define U16(q) (big ? (unsigned)((t[(q)] << 8) | t[(q) + 1]) : (unsigned)(t[(q)] | (t[(q) + 1] << 8)))
#define U32(q) (big ? ((uint32_t)U16(q) << 16 | U16((q) + 2)) : ((uint32_t)U16((q) + 2) << 16 | U16(q)))
            if (U16(2) != 42) return 1;
            uint32_t ifd = U32(4);
            if (ifd > tn || tn - ifd < 2) return 1;
            unsigned count = U16(ifd);
            if ((size_t)ifd + 2 + 12 * (size_t)count > tn) return 1; /* the directory must fit whole */
            for (unsigned i = 0; i < count; i++) {
                size_t e = (size_t)ifd + 2 + 12 * (size_t)i;
                if (U16(e) == 0x0112 && U16(e + 2) == 3 && U32(e + 4) == 1) {
                    unsigned v = U16(e + 8);
                    return v >= 1 && v <= 8 ? (int)v : 1;
                }
            }
#undef U16
#undef U32
            return 1;
        }
        p += 2 + len;
    }
    return 1;
}

/* The image turned upright as its EXIF orientation says (the result an EXIF viewer, cv2.imread and labelme show):
 * output pixel (x, y) comes from input pixel (sx, sy) below; 5 … 8 swap width and height. */
static bl_status apply_orientation(bl_image *img, int orientation, const char *label) {
    if (orientation <= 1) return BL_OK;
    int w = img->width, h = img->height, c = img->channels, swap = orientation >= 5;
    int ow = swap ? h : w, oh = swap ? w : h;
    unsigned char *out = malloc((size_t)w * (size_t)h * (size_t)c);
    if (!out) return bl_fail(BL_ERR_NOMEM, "%s: out of memory turning the image upright", label);
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            int sx = x, sy = y;
            switch (orientation) {
            case 2: sx = w - 1 - x; break;                 /* mirrored left-right */
            case 3: sx = w - 1 - x, sy = h - 1 - y; break; /* turned 180° */
            case 4: sy = h - 1 - y; break;                 /* mirrored top-bottom */
            case 5: sx = y, sy = x; break;                 /* transposed */
            case 6: sx = y, sy = h - 1 - x; break;         /* turned 90° clockwise to view */
            case 7: sx = w - 1 - y, sy = h - 1 - x; break; /* transversed */
            case 8: sx = w - 1 - y, sy = x; break;         /* turned 90° anticlockwise to view */
            }
            memcpy(out + ((size_t)y * ow + x) * c, img->pixels + ((size_t)sy * w + sx) * c, (size_t)c);
        }
    free(img->pixels);
    img->pixels = out;
    img->width = ow;
    img->height = oh;
    return BL_OK;
}

bl_status bl_image_decode(const void *data, size_t size, const char *label, int desired_channels,
                          int64_t max_pixels, bl_image *out) {
    memset(out, 0, sizeof *out);
    if (desired_channels != 0 && desired_channels != 1 && desired_channels != 3)
        return bl_fail(BL_ERR_INVALID, "%s: channels: expected 0, 1 or 3, got %d", label, desired_channels);
    if (size == 0) return bl_fail(BL_ERR_FORMAT, "%s: file is empty (expected a PNG/JPEG/BMP image)", label);
    if (size > (size_t)INT_MAX) /* stb takes the length as an int */
        return bl_fail(BL_ERR_FORMAT, "%s: file is %zu bytes (expected at most %d)", label, size, INT_MAX);
    const unsigned char *bytes = data;
    const char *format = image_format(bytes, size);
    if (!format)
        return bl_fail(BL_ERR_FORMAT, "%s: not a PNG/JPEG/BMP image (unrecognised signature 0x%02x%02x%02x%02x)",
                       label, bytes[0], size > 1 ? bytes[1] : 0, size > 2 ? bytes[2] : 0, size > 3 ? bytes[3] : 0);
    int64_t hw = 0, hh = 0;
    if (header_size(format, bytes, size, &hw, &hh) && (hw < 1 || hh < 1 || hw > max_pixels || hh > max_pixels ||
                                                      hw * hh > max_pixels)) /* each ≤ 2^32: the product fits */
        return bl_fail(BL_ERR_FORMAT, "%s: %lldx%lld exceeds the limit of %lld pixels", label, (long long)hw,
                       (long long)hh, (long long)max_pixels);
    char why[160];
    if (!strcmp(format, "JPEG") && jpeg_unsafe_for_stb(bytes, size, why, sizeof why))
        return bl_fail(BL_ERR_FORMAT, "%s: corrupt JPEG: %s", label, why);
    if (!strcmp(format, "PNG") && png_unsafe_for_stb(bytes, size, why, sizeof why))
        return bl_fail(BL_ERR_FORMAT, "%s: corrupt PNG: %s", label, why);
    size_t safe_size = 0;
    int no_memory = 0;
    long bad_offset = -1;
    unsigned char *safe = stb_safe_copy(format, bytes, size, &safe_size, &no_memory, &bad_offset);
    if (no_memory) return bl_fail(BL_ERR_NOMEM, "%s: out of memory: needs %zu bytes for a copy of the file", label, size);
    if (bad_offset >= 0)
        return bl_fail(BL_ERR_FORMAT, "%s: corrupt BMP: pixel data offset %ld lies inside the headers", label, bad_offset);
    bl_status st = safe ? decode_checked(safe, safe_size, label, desired_channels, max_pixels, out)
                        : decode_checked(bytes, size, label, desired_channels, max_pixels, out);
    free(safe);
    /* a JPEG's EXIF orientation is applied, as cv2.imread and labelme do: the polygons match the upright image */
    if (!st && !strcmp(format, "JPEG")) st = apply_orientation(out, jpeg_exif_orientation(bytes, size), label);
    if (st) bl_image_free(out);
    return st;
}

/* The stb part of bl_image_decode: header info, size limit, 16-bit refusal, decode. */
static bl_status decode_checked(const unsigned char *bytes, size_t size, const char *label, int desired_channels,
                                int64_t max_pixels, bl_image *out) {
    if (size > (size_t)INT_MAX) /* stb takes the length as an int */
        return bl_fail(BL_ERR_FORMAT, "%s: file is %zu bytes (expected at most %d)", label, size, INT_MAX);
    int w = 0, h = 0, comp = 0;
    /* read the header only: refuse absurd sizes before anything is allocated */
    if (!stbi_info_from_memory(bytes, (int)size, &w, &h, &comp)) {
        const char *why = stbi_failure_reason();
        return bl_fail(BL_ERR_FORMAT, "%s: not a readable PNG/JPEG/BMP image (stb: %s)", label, why ? why : "unknown");
    }
    if (w < 1 || h < 1 || (int64_t)w * h > max_pixels)
        return bl_fail(BL_ERR_FORMAT, "%s: %dx%d exceeds the limit of %lld pixels", label, w, h, (long long)max_pixels);
    if (stbi_is_16_bit_from_memory(bytes, (int)size))
        return bl_fail(BL_ERR_UNSUPPORTED, "%s: 16-bit images are not supported (expected 8-bit)", label);
    int want = desired_channels ? desired_channels : (comp <= 2 ? 1 : 3);
    int w2 = 0, h2 = 0;
    unsigned char *pixels = stbi_load_from_memory(bytes, (int)size, &w2, &h2, &comp, want);
    if (!pixels) {
        const char *why = stbi_failure_reason();
        return bl_fail(BL_ERR_FORMAT, "%s: cannot decode (stb: %s)", label, why ? why : "unknown");
    }
    if (w2 != w || h2 != h) { /* the header read twice must agree; never trust a size that was not checked */
        stbi_image_free(pixels);
        return bl_fail(BL_ERR_FORMAT, "%s: decoded size %dx%d differs from the header's %dx%d", label, w2, h2, w, h);
    }
    size_t bytes_out = (size_t)w * (size_t)h * (size_t)want;
    /* hand out malloc'ed memory so bl_image_free works for every image */
    out->pixels = malloc(bytes_out);
    if (!out->pixels) {
        stbi_image_free(pixels);
        return bl_fail(BL_ERR_NOMEM, "%s: out of memory: needs %zu bytes for the decoded %dx%dx%d image", label,
                       bytes_out, w, h, want);
    }
    memcpy(out->pixels, pixels, bytes_out);
    stbi_image_free(pixels);
    out->width = w;
    out->height = h;
    out->channels = want;
    return BL_OK;
}

bl_status bl_image_load(const char *path, int desired_channels, bl_image *out) {
    memset(out, 0, sizeof *out);
    if (desired_channels != 0 && desired_channels != 1 && desired_channels != 3)
        return bl_fail(BL_ERR_INVALID, "%s: channels: expected 0, 1 or 3, got %d", path, desired_channels);
    char *data = NULL;
    size_t size = 0;
    bl_status st = bl_read_file(path, BL_IMAGE_MAX_FILE_BYTES, &data, &size);
    if (st) return st;
    st = bl_image_decode(data, size, path, desired_channels, BL_IMAGE_MAX_PIXELS, out);
    free(data);
    return st;
}

typedef struct png_sink {
    FILE *f;
    int failed, error;
} png_sink;

static void png_sink_write(void *context, void *data, int size) {
    png_sink *s = context;
    if (!s->failed && size > 0 && fwrite(data, 1, (size_t)size, s->f) != (size_t)size) s->failed = 1, s->error = errno;
}

bl_status bl_image_save_png(const bl_image *img, const char *path) {
    /* through core/fileio.h's output: a kill never leaves half a PNG under `path`, a device or an input is never
     * replaced (not fsync'ed: see synth_cohort.c) */
    bl_output out;
    bl_status st = bl_output_open(path, &out);
    if (st) return st;
    png_sink sink = {out.f, 0, 0};
    if (!stbi_write_png_to_func(png_sink_write, &sink, img->width, img->height, img->channels, img->pixels,
                                img->width * img->channels) || sink.failed) {
        bl_output_abort(&out);
        return sink.failed ? bl_fail(BL_ERR_IO, "%s: cannot write PNG: %s", path, strerror(sink.error))
                           : bl_fail(BL_ERR_NOMEM, "%s: cannot encode PNG (%dx%dx%d): out of memory", path, img->width,
                                     img->height, img->channels);
    }
    return bl_output_commit(&out, 0);
}
