/* image.c — decoding and PNG encoding through Debian's libstb (see image.h). */
#include "image.h"
#include "csv.h" /* bl_read_file */

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

/* stb_image 2.27 (Debian bookworm's libstb) writes past its 257-entry Huffman size table when a JPEG DHT segment
 * declares more than 256 codes (fixed upstream in 2.28; found by tests/fuzz/fuzz_image.c). Walk the JPEG's marker
 * segments the way stb does — length-prefixed segments; bytes that are not a marker skipped up to the next 0xFF, as
 * stb's header scan does; after a start-of-scan the entropy-coded data up to the next marker (0xFF followed by a
 * byte other than 0x00, 0xFF or RST0..7) — and refuse such a table before stb sees it. Bytes beyond the end read
 * as 0, as stb's reader does. Returns 0 when fine, else the offending code count. */
static int jpeg_bad_huffman_table(const unsigned char *b, size_t n) {
    size_t p = 2; /* after SOI */
    int in_scan = 0;
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
                for (int i = 0; i < 16; i++) codes += q + 1 + (size_t)i < n ? b[q + 1 + (size_t)i] : 0;
                if (codes > 256) return codes;
                q += 17 + (size_t)codes;
                left -= 17 + codes;
            }
        }
        if (marker == 0xda) in_scan = 1;
        if (len < 2) return 0; /* stb refuses it */
        p += len;
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
    int codes = strcmp(format, "JPEG") ? 0 : jpeg_bad_huffman_table(bytes, size);
    if (codes)
        return bl_fail(BL_ERR_FORMAT, "%s: corrupt JPEG: Huffman table with %d codes (expected at most 256)", label,
                       codes);
    int64_t hw = 0, hh = 0;
    if (header_size(format, bytes, size, &hw, &hh) && (hw < 1 || hh < 1 || hw * hh > max_pixels))
        return bl_fail(BL_ERR_FORMAT, "%s: %lldx%lld exceeds the limit of %lld pixels", label, (long long)hw,
                       (long long)hh, (long long)max_pixels);
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

bl_status bl_image_save_png(const bl_image *img, const char *path) {
    /* temp file + rename: a kill never leaves half a PNG under `path` (not fsync'ed: see synth_cohort.c) */
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return bl_fail(BL_ERR_INVALID, "%s: path too long", path);
    if (!stbi_write_png(tmp, img->width, img->height, img->channels, img->pixels, img->width * img->channels)) {
        unlink(tmp);
        return bl_fail(BL_ERR_IO, "%s: cannot write PNG", path);
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return bl_fail(BL_ERR_IO, "%s: cannot rename into place: %s", path, strerror(e));
    }
    return BL_OK;
}
