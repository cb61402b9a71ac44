/* test_raster.c — cv2-exact grayscale and fillPoly (tools/study/raster.h) against OpenCV 4.6 fixtures written by
 * tests/golden/gen_opencv.py: every polygon case must give a bit-identical mask, every fixture colour the same
 * gray level. Also checks the fixture is sensitive (a plausible wrong rule fails it). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/safetensors.h"
#include "harness.h"
#include "study/image.h"
#include "study/raster.h"

static int32_t read_i32(const unsigned char *p) {
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    int32_t s;
    memcpy(&s, &v, sizeof s);
    return s;
}

static double read_f64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    double d;
    memcpy(&d, &v, sizeof d);
    return d;
}

typedef struct fixture {
    bl_safetensors *st;
    const bl_st_entry *case_info, *contour_info, *points, *masks;
    int n_cases;
} fixture;

/* Rasterise case `c` into mask [h·w]; `rounding` 0 = np.int32 truncation (the rule), 1 = floor (a wrong rule
 * used to prove the fixture can tell them apart). Returns the number of pixels that differ from cv2's mask. */
static int64_t run_case(const fixture *f, int c, int rounding, int *w_out, int *h_out) {
    const unsigned char *ci = f->case_info->data + (size_t)c * 5 * 4;
    int w = read_i32(ci), h = read_i32(ci + 4), first = read_i32(ci + 8), count = read_i32(ci + 12);
    int64_t byte_offset = read_i32(ci + 16);
    *w_out = w;
    *h_out = h;
    bl_contour *contours = calloc((size_t)count, sizeof *contours);
    int32_t **pts = calloc((size_t)count, sizeof *pts);
    uint8_t *mask = calloc((size_t)w * (size_t)h, 1);
    for (int k = 0; k < count; k++) {
        const unsigned char *ki = f->contour_info->data + (size_t)(first + k) * 2 * 4;
        int p0 = read_i32(ki), n = read_i32(ki + 4);
        pts[k] = malloc((size_t)(n > 0 ? n : 1) * 2 * sizeof(int32_t));
        for (int i = 0; i < 2 * n; i++) {
            double v = read_f64(f->points->data + (size_t)(2 * p0 + i) * 8);
            pts[k][i] = rounding ? (int32_t)floor(v) : bl_truncate_coordinate(v);
        }
        contours[k].points = pts[k];
        contours[k].n_points = n;
    }
    bl_status st = bl_fill_poly(mask, w, h, contours, count, 255);
    CHECK(st == BL_OK, "case %d: fill_poly failed: %s", c, bl_last_error());
    int64_t diff = 0;
    for (int64_t i = 0; i < (int64_t)w * h; i++) {
        int want = (f->masks->data[byte_offset + i / 8] >> (7 - i % 8)) & 1;
        diff += want != (mask[i] == 255) || (mask[i] != 0 && mask[i] != 255);
    }
    for (int k = 0; k < count; k++) free(pts[k]);
    free(pts);
    free(contours);
    free(mask);
    return diff;
}

static void test_fill_poly_fixture(void) {
    fixture f = {0};
    const char *path = BLASTO_TEST_DIR "/golden/opencv_fillpoly.safetensors";
    if (bl_safetensors_open(path, &f.st) != BL_OK) {
        CHECK(0, "cannot open the fixture: %s", bl_last_error());
        return;
    }
    f.case_info = bl_safetensors_find(f.st, "case_info");
    f.contour_info = bl_safetensors_find(f.st, "contour_info");
    f.points = bl_safetensors_find(f.st, "points");
    f.masks = bl_safetensors_find(f.st, "masks");
    CHECK(f.case_info && f.contour_info && f.points && f.masks, "fixture tensors present");
    if (!f.case_info || !f.contour_info || !f.points || !f.masks) return;
    CHECK(f.case_info->dtype == BL_DTYPE_I32 && f.points->dtype == BL_DTYPE_F64 && f.masks->dtype == BL_DTYPE_U8,
          "fixture dtypes");
    f.n_cases = (int)f.case_info->shape[0];
    CHECK(f.n_cases >= 300, "at least 300 cases (got %d)", f.n_cases);
    const char *version = bl_safetensors_metadata(f.st, "opencv_version");
    int bad_cases = 0;
    int64_t pixels = 0, bad_pixels = 0, filled = 0;
    for (int c = 0; c < f.n_cases; c++) {
        int w, h;
        int64_t diff = run_case(&f, c, 0, &w, &h);
        pixels += (int64_t)w * h;
        bad_pixels += diff;
        if (diff) {
            if (bad_cases < 5) CHECK(0, "case %d (%dx%d): %lld pixels differ from cv2", c, w, h, (long long)diff);
            bad_cases++;
        }
        const unsigned char *ci = f.case_info->data + (size_t)c * 20;
        int64_t off = read_i32(ci + 16);
        for (int64_t i = 0; i < (int64_t)w * h; i++) filled += (f.masks->data[off + i / 8] >> (7 - i % 8)) & 1;
    }
    CHECK(bad_cases == 0, "%d of %d fillPoly cases differ from cv2 %s", bad_cases, f.n_cases, version);
    CHECK(filled > pixels / 10, "the fixture is not mostly empty (%lld of %lld pixels set)", (long long)filled,
          (long long)pixels);
    printf("fillPoly: %d cases, %lld pixels (%lld set), %lld differ from cv2 %s\n", f.n_cases, (long long)pixels,
           (long long)filled, (long long)bad_pixels, version ? version : "?");

    /* sensitivity: rounding fractional coordinates with floor instead of truncation must be caught */
    int64_t floor_diff = 0;
    for (int c = 0; c < f.n_cases; c++) {
        int w, h;
        int saved_failed = test_failed;
        floor_diff += run_case(&f, c, 1, &w, &h);
        test_failed = saved_failed;
    }
    CHECK(floor_diff > 0, "floor() instead of np.int32 truncation changes some mask (%lld pixels)",
          (long long)floor_diff);
    bl_safetensors_close(f.st);
}

static void test_paper_triangle(void) {
    /* paper-method.md §1.2: 12×12, triangle (2,2),(9,3),(6,9): rows 2..9 have pixels, rows 0,1,10,11 none */
    uint8_t mask[144] = {0};
    const int32_t tri[] = {2, 2, 9, 3, 6, 9};
    bl_contour c = {tri, 3};
    CHECK(bl_fill_poly(mask, 12, 12, &c, 1, 255) == BL_OK, "triangle fills");
    for (int y = 0; y < 12; y++) {
        int n = 0;
        for (int x = 0; x < 12; x++) n += mask[y * 12 + x] == 255;
        CHECK((y >= 2 && y <= 9) == (n > 0), "row %d has %d pixels", y, n);
    }
    CHECK(mask[2 * 12 + 2] == 255 && mask[3 * 12 + 9] == 255 && mask[9 * 12 + 6] == 255, "vertices are inside");
}

static void test_errors_and_lines(void) {
    uint8_t mask[16] = {0};
    const int32_t far[] = {0, 0, BL_RASTER_COORD_MAX + 1, 0, 0, 3};
    bl_contour c = {far, 3};
    CHECK(bl_fill_poly(mask, 4, 4, &c, 1, 255) == BL_ERR_INVALID, "coordinate beyond the limit refused");
    CHECK(strstr(bl_last_error(), "contour 0 point 1") != NULL, "message names the point: %s", bl_last_error());
    int nonzero = 0;
    for (int i = 0; i < 16; i++) nonzero += mask[i] != 0;
    CHECK(nonzero == 0, "nothing drawn on error");
    /* a line entirely outside draws nothing; a diagonal draws its 4 pixels */
    bl_draw_line8(mask, 4, 4, -5, -1, -1, -5, 7);
    bl_draw_line8(mask, 4, 4, 3, 3, 0, 0, 7);
    nonzero = 0;
    for (int i = 0; i < 16; i++) nonzero += mask[i] != 0;
    CHECK(nonzero == 4 && mask[0] == 7 && mask[5] == 7 && mask[10] == 7 && mask[15] == 7, "diagonal line");
    CHECK(bl_truncate_coordinate(-0.7) == 0 && bl_truncate_coordinate(3.99) == 3 &&
              bl_truncate_coordinate(-2.5) == -2,
          "truncation toward zero");
}

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void test_gray_fixture(void) {
    bl_image png;
    const char *path = BLASTO_TEST_DIR "/golden/opencv_gray.png";
    if (bl_image_load(path, 1, &png) != BL_OK) {
        CHECK(0, "cannot load %s: %s", path, bl_last_error());
        return;
    }
    CHECK(png.width == 1024 && png.height == 1024 && png.channels == 1, "gray fixture is 1024x1024x1");
    int64_t bad = 0, n = (int64_t)png.width * png.height;
    for (int64_t i = 0; i < n; i++) {
        uint64_t c = 16 * (uint64_t)i + (mix64((uint64_t)i) & 15);
        uint8_t got = bl_gray_of_rgb((uint8_t)(c & 255), (uint8_t)(c >> 8 & 255), (uint8_t)(c >> 16));
        if (got != png.pixels[i] && bad++ < 3) CHECK(0, "colour %06llx: gray %d, cv2 %d", (unsigned long long)c, got,
                                                   png.pixels[i]);
    }
    CHECK(bad == 0, "%lld of %lld fixture colours differ from cv2", (long long)bad, (long long)n);
    printf("gray: %lld colours from cv2, %lld differ\n", (long long)n, (long long)bad);
    bl_image_free(&png);
}

static void test_gray_all_colours(void) {
    /* All 2^24 colours through the buffer function: equal to the scalar formula, gray(g,g,g) = g, and exactly
     * 43,864 colours differ from OpenCV 3.3's 14-bit formula (paper-method.md §1.1) — an independent count. */
    enum { CHUNK = 1 << 16 };
    uint8_t *rgb = malloc(3 * CHUNK), *gray = malloc(CHUNK);
    int64_t differ_14bit = 0, bad = 0;
    for (uint32_t base = 0; base < (1u << 24); base += CHUNK) {
        for (uint32_t k = 0; k < CHUNK; k++) {
            uint32_t c = base + k;
            rgb[3 * k] = (uint8_t)(c & 255);
            rgb[3 * k + 1] = (uint8_t)(c >> 8 & 255);
            rgb[3 * k + 2] = (uint8_t)(c >> 16);
        }
        bl_rgb_to_gray(rgb, CHUNK, gray);
        for (uint32_t k = 0; k < CHUNK; k++) {
            uint32_t r = rgb[3 * k], g = rgb[3 * k + 1], b = rgb[3 * k + 2];
            uint32_t y15 = (9798 * r + 19235 * g + 3735 * b + 16384) / 32768;
            uint32_t y14 = (4899 * r + 9617 * g + 1868 * b + 8192) / 16384;
            bad += gray[k] != y15;
            differ_14bit += y15 != y14;
        }
    }
    CHECK(bad == 0, "buffer conversion equals the formula on all 2^24 colours (%lld differ)", (long long)bad);
    CHECK(differ_14bit == 43864, "15-bit vs 14-bit formula differ on 43864 colours (got %lld)",
          (long long)differ_14bit);
    for (int v = 0; v < 256; v++) CHECK(bl_gray_of_rgb((uint8_t)v, (uint8_t)v, (uint8_t)v) == v, "gray(%d)", v);
    free(rgb);
    free(gray);
}

int main(void) {
    test_paper_triangle();
    test_errors_and_lines();
    test_fill_poly_fixture();
    test_gray_fixture();
    test_gray_all_colours();
    return test_summary("test_raster");
}
