/* test_image_exif.c — a JPEG's EXIF orientation is applied as cv2.imread and labelme apply it.
 *
 * tests/golden/exif/ (tests/golden/gen_exif.py): one 24×16 picture of six flat colour blocks, JPEG-encoded once,
 * as plain.jpg and as orientation_<k>.jpg with an Exif segment saying Orientation = k (k = 1 … 8; little- and
 * big-endian TIFF headers), and expected.json with cv2.imread's width, height and block-centre colours of each.
 *   1. blasto's decode of each file has cv2's width and height, and each block centre within 4 levels of cv2's
 *      (stb and libjpeg may round an IDCT differently; the blocks are 150+ levels apart, so a misplaced block fails);
 *   2. the eight files share their image data, so blasto's decode of orientation_k.jpg must equal, exactly, the
 *      transform k applied here by hand to its decode of plain.jpg (the geometry, without decoder differences);
 *   3. an Exif segment that lies (IFD offset past the segment, a count running off its end, orientation 9) is read
 *      as "no orientation", as OpenCV does, and the image is decoded unchanged. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "harness.h"
#include "study/image.h"
#include "support/test_support.h"

#define DIR_EXIF BLASTO_TEST_DIR "/golden/exif"

/* pixel (x, y) of the upright image, from the stored one (w × h), for orientation k (the EXIF definitions, written
 * here independently of tools/study/image.c) */
static void source_of(int k, int w, int h, int x, int y, int *sx, int *sy) {
    switch (k) {
    case 2: *sx = w - 1 - x, *sy = y; break;
    case 3: *sx = w - 1 - x, *sy = h - 1 - y; break;
    case 4: *sx = x, *sy = h - 1 - y; break;
    case 5: *sx = y, *sy = x; break;
    case 6: *sx = y, *sy = h - 1 - x; break;
    case 7: *sx = w - 1 - y, *sy = h - 1 - x; break;
    case 8: *sx = w - 1 - y, *sy = x; break;
    default: *sx = x, *sy = y; break;
    }
}

static int load(const char *name, bl_image *img) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", DIR_EXIF, name);
    bl_status st = bl_image_load(path, 3, img);
    CHECK(st == BL_OK, "%s: %s", name, bl_last_error());
    return st == BL_OK;
}

static void against_opencv(const cJSON *files) {
    const cJSON *f;
    cJSON_ArrayForEach(f, files) {
        bl_image img = {0};
        if (!load(f->string, &img)) continue;
        int w = cJSON_GetObjectItemCaseSensitive(f, "width")->valueint;
        int h = cJSON_GetObjectItemCaseSensitive(f, "height")->valueint;
        CHECK(img.width == w && img.height == h, "%s: %dx%d as cv2 (got %dx%d)", f->string, w, h, img.width,
              img.height);
        const cJSON *centres = cJSON_GetObjectItemCaseSensitive(f, "centres");
        int i = 0, worst = 0;
        for (int by = 0; img.width == w && by < h / 8; by++)
            for (int bx = 0; bx < w / 8; bx++, i++) {
                const cJSON *rgb = cJSON_GetArrayItem(centres, i);
                for (int ch = 0; ch < 3; ch++) {
                    int want = cJSON_GetArrayItem(rgb, ch)->valueint;
                    int got = img.pixels[((size_t)(8 * by + 4) * img.width + 8 * bx + 4) * 3 + ch];
                    int d = abs(got - want);
                    if (d > worst) worst = d;
                }
            }
        CHECK(worst <= 4, "%s: every block centre within 4 levels of cv2's (worst %d)", f->string, worst);
        bl_image_free(&img);
    }
}

static void exact_geometry(void) {
    bl_image plain = {0};
    if (!load("plain.jpg", &plain)) return;
    for (int k = 1; k <= 8; k++) {
        char name[32];
        snprintf(name, sizeof name, "orientation_%d.jpg", k);
        bl_image img = {0};
        if (!load(name, &img)) continue;
        int swap = k >= 5, ok = img.width == (swap ? plain.height : plain.width) &&
                               img.height == (swap ? plain.width : plain.height);
        for (int y = 0; ok && y < img.height; y++)
            for (int x = 0; ok && x < img.width; x++) {
                int sx, sy;
                source_of(k, plain.width, plain.height, x, y, &sx, &sy);
                ok = !memcmp(img.pixels + ((size_t)y * img.width + x) * 3,
                             plain.pixels + ((size_t)sy * plain.width + sx) * 3, 3);
            }
        CHECK(ok, "orientation %d: exactly the plain image turned by hand", k);
        bl_image_free(&img);
    }
    bl_image_free(&plain);
}

/* plain.jpg with an Exif segment built from `tiff` (n bytes) inserted after SOI */
static int decode_with_exif(const unsigned char *tiff, size_t n, bl_image *img) {
    char path[1024];
    snprintf(path, sizeof path, "%s/plain.jpg", DIR_EXIF);
    size_t size = 0;
    char *jpg = test_read_file(path, &size);
    unsigned char *b = jpg ? malloc(size + n + 10) : NULL;
    if (!b) {
        free(jpg);
        return 0;
    }
    size_t len = n + 8;
    memcpy(b, jpg, 2);
    unsigned char head[10] = {0xff, 0xe1, (unsigned char)(len >> 8), (unsigned char)len, 'E', 'x', 'i', 'f', 0, 0};
    memcpy(b + 2, head, 10);
    memcpy(b + 12, tiff, n);
    memcpy(b + 12 + n, jpg + 2, size - 2);
    bl_status st = bl_image_decode(b, size + n + 10, "crafted.jpg", 3, BL_IMAGE_MAX_PIXELS, img);
    free(b);
    free(jpg);
    return st == BL_OK;
}

static void lying_segments(void) {
    bl_image plain = {0};
    if (!load("plain.jpg", &plain)) return;
    /* little-endian TIFF header, IFD0 at `ifd`, `count` entries, one Orientation entry of value `v` */
    const struct {
        const char *what;
        uint32_t ifd;
        uint16_t count, value;
    } cases[] = {{"IFD offset past the segment", 4000, 1, 6}, {"entry count past the segment", 8, 60, 6},
                 {"orientation 9", 8, 1, 9}, {"orientation 0", 8, 1, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char t[26] = {'I', 'I', 42, 0, (unsigned char)cases[i].ifd, (unsigned char)(cases[i].ifd >> 8),
                               (unsigned char)(cases[i].ifd >> 16), (unsigned char)(cases[i].ifd >> 24),
                               (unsigned char)cases[i].count, (unsigned char)(cases[i].count >> 8),
                               0x12, 0x01, 3, 0, 1, 0, 0, 0, (unsigned char)cases[i].value, 0, 0, 0, 0, 0, 0, 0};
        bl_image img = {0};
        int ok = decode_with_exif(t, sizeof t, &img);
        CHECK(ok && img.width == plain.width && img.height == plain.height &&
                  !memcmp(img.pixels, plain.pixels, (size_t)plain.width * plain.height * 3),
              "%s: decoded unchanged (%s)", cases[i].what, ok ? "decoded" : bl_last_error());
        bl_image_free(&img);
    }
    /* and the same segment told the truth: turned */
    unsigned char t[26] = {'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0};
    bl_image img = {0};
    CHECK(decode_with_exif(t, sizeof t, &img) && img.width == plain.height && img.height == plain.width,
          "a well-formed crafted segment with orientation 6 turns the image (%dx%d)", img.width, img.height);
    bl_image_free(&img);
    bl_image_free(&plain);
}

int main(void) {
    size_t size = 0;
    char *text = test_read_file(DIR_EXIF "/expected.json", &size);
    cJSON *root = text ? cJSON_ParseWithLength(text, size) : NULL;
    CHECK(root != NULL, "tests/golden/exif/expected.json readable");
    if (root) against_opencv(cJSON_GetObjectItemCaseSensitive(root, "files"));
    exact_geometry();
    lying_segments();
    cJSON_Delete(root);
    free(text);
    return test_summary("test_image_exif");
}
