/* image.h — 8-bit images in memory, decoded and encoded through stb_image / stb_image_write (Debian libstb-dev).
 *
 * Pixels are interleaved row-major, channels 1 (gray) or 3 (R,G,B — the order stb returns; note that OpenCV's
 * imread returns B,G,R, which matters for cv2-exact grayscale: see tools/study/enhance.h). Decoding refuses files
 * whose header announces more than BL_IMAGE_MAX_PIXELS pixels BEFORE allocating, so a tiny file cannot request
 * gigabytes. Writing PNG is atomic (temp file + rename). */
#ifndef BLASTO_IMAGE_H
#define BLASTO_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define BL_IMAGE_MAX_PIXELS ((int64_t)1 << 26) /* 64 Mpixel, e.g. 8192 × 8192: at most 192 MiB decoded (RGB) */
#define BL_IMAGE_MAX_FILE_BYTES ((size_t)512 << 20) /* files larger than this are refused before reading */

typedef struct bl_image {
    int width, height, channels; /* channels: 1 or 3 */
    uint8_t *pixels;             /* width·height·channels bytes, malloc'ed */
} bl_image;

/* Decode PNG/JPEG/BMP (8-bit) into `channels` = 1 (gray: the file's gray channel, or refused for colour files
 * unless convert) or 3 (RGB; gray files are replicated). desired_channels = 0 keeps the file's own (1 or 3; alpha is
 * dropped). Errors: "<path>: cannot open: …", "<path>: not a PNG/JPEG/BMP image (stb: …)", "<path>: 16-bit images
 * are not supported", "<path>: WxH exceeds the limit of … pixels". */
bl_status bl_image_load(const char *path, int desired_channels, bl_image *out);
/* The same on bytes in memory (what bl_image_load calls after reading the file; fuzzing): only PNG, JPEG and BMP
 * signatures are passed to stb, and the header's width × height is checked against max_pixels before decoding.
 * `label` names the bytes in messages. */
bl_status bl_image_decode(const void *data, size_t size, const char *label, int desired_channels,
                          int64_t max_pixels, bl_image *out);
bl_status bl_image_alloc(bl_image *img, int width, int height, int channels); /* zeroed */
bl_status bl_image_save_png(const bl_image *img, const char *path);
void bl_image_free(bl_image *img);

#endif
