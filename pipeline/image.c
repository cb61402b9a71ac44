/* image.c — decoding and PNG encoding through Debian's libstb (see image.h). */
#include "image.h"

#include <errno.h>
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

bl_status bl_image_load(const char *path, int desired_channels, bl_image *out) {
    memset(out, 0, sizeof *out);
    if (desired_channels != 0 && desired_channels != 1 && desired_channels != 3)
        return bl_fail(BL_ERR_INVALID, "%s: channels: expected 0, 1 or 3, got %d", path, desired_channels);
    FILE *f = fopen(path, "rb");
    if (!f) return bl_fail(BL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    int w = 0, h = 0, comp = 0;
    /* read the header only: refuse absurd sizes before anything is allocated */
    if (!stbi_info_from_file(f, &w, &h, &comp)) {
        const char *why = stbi_failure_reason();
        fclose(f);
        return bl_fail(BL_ERR_FORMAT, "%s: not a readable PNG/JPEG/BMP image (stb: %s)", path, why ? why : "unknown");
    }
    if (w < 1 || h < 1 || (int64_t)w * h > BL_IMAGE_MAX_PIXELS) {
        fclose(f);
        return bl_fail(BL_ERR_FORMAT, "%s: %dx%d exceeds the limit of %lld pixels", path, w, h,
                       (long long)BL_IMAGE_MAX_PIXELS);
    }
    if (stbi_is_16_bit_from_file(f)) {
        fclose(f);
        return bl_fail(BL_ERR_UNSUPPORTED, "%s: 16-bit images are not supported (expected 8-bit)", path);
    }
    int want = desired_channels ? desired_channels : (comp <= 2 ? 1 : 3);
    unsigned char *pixels = stbi_load_from_file(f, &w, &h, &comp, want);
    fclose(f);
    if (!pixels) {
        const char *why = stbi_failure_reason();
        return bl_fail(BL_ERR_FORMAT, "%s: cannot decode (stb: %s)", path, why ? why : "unknown");
    }
    out->width = w;
    out->height = h;
    out->channels = want;
    size_t bytes = (size_t)w * (size_t)h * (size_t)want;
    /* hand out malloc'ed memory so bl_image_free works for every image */
    out->pixels = malloc(bytes);
    if (!out->pixels) {
        stbi_image_free(pixels);
        return bl_fail(BL_ERR_NOMEM, "%s: out of memory: needs %zu bytes", path, bytes);
    }
    memcpy(out->pixels, pixels, bytes);
    stbi_image_free(pixels);
    return BL_OK;
}

bl_status bl_image_save_png(const bl_image *img, const char *path) {
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
