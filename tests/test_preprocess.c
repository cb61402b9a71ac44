/* test_preprocess.c — resize against cv2.resize (tests/golden/resize.safetensors, from Debian's python3-opencv 4.6),
 * the normalisation presets against paper-method.md §9, and the 8-bit → float conversion.
 *
 * Resize bound: max |blasto − cv2| ≤ 1e-5 on every case; the implementation restates OpenCV's float arithmetic, so
 * 0 differing elements are expected and the count is printed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/safetensors.h"
#include "harness.h"
#include "study/preprocess.h"

static const bl_st_entry *find(const bl_safetensors *st, const char *name) {
    const bl_st_entry *e = bl_safetensors_find(st, name);
    CHECK(e != NULL, "fixture tensor %s missing", name);
    return e;
}

static float *read_all(const bl_safetensors *st, const char *name, int64_t *count) {
    const bl_st_entry *e = find(st, name);
    if (!e) return NULL;
    float *data = malloc(sizeof(float) * (size_t)e->numel);
    if (bl_safetensors_read_f32(st, name, -1, NULL, e->numel, data)) {
        CHECK(0, "%s: %s", name, bl_last_error());
        free(data);
        return NULL;
    }
    *count = e->numel;
    return data;
}

static void test_resize_golden(void) {
    bl_safetensors *st = NULL;
    const char *path = BLASTO_TEST_DIR "/golden/resize.safetensors";
    if (bl_safetensors_open(path, &st)) {
        CHECK(0, "open %s: %s", path, bl_last_error());
        return;
    }
    cJSON *cases = cJSON_Parse(bl_safetensors_metadata(st, "cases"));
    CHECK(cJSON_IsArray(cases), "resize fixture: cases metadata");
    double worst = 0.0;
    int64_t differing = 0, total = 0;
    int index = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const cJSON *src_shape = cJSON_GetObjectItem(c, "src"), *dst_shape = cJSON_GetObjectItem(c, "dst");
        int sh = cJSON_GetArrayItem(src_shape, 0)->valueint, sw = cJSON_GetArrayItem(src_shape, 1)->valueint;
        int ch = cJSON_GetArrayItem(src_shape, 2)->valueint;
        int dh = cJSON_GetArrayItem(dst_shape, 0)->valueint, dw = cJSON_GetArrayItem(dst_shape, 1)->valueint;
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        const char *source = cJSON_GetObjectItem(c, "source")->valuestring;
        char key[128];
        int64_t n_src = 0, n_want = 0;
        float *src = NULL;
        if (strcmp(source, "rng") == 0) {
            const cJSON *rng = cJSON_GetObjectItem(c, "rng");
            n_src = (int64_t)sh * sw * ch;
            src = malloc(sizeof(float) * (size_t)n_src);
            test_fill_uniform(src, n_src, (uint64_t)cJSON_GetObjectItem(rng, "seed")->valuedouble,
                              (uint64_t)cJSON_GetObjectItem(rng, "index")->valuedouble,
                              (float)cJSON_GetObjectItem(rng, "lo")->valuedouble,
                              (float)cJSON_GetObjectItem(rng, "hi")->valuedouble);
        } else {
            snprintf(key, sizeof key, "resize/case%d/src", index);
            src = read_all(st, key, &n_src);
        }
        snprintf(key, sizeof key, "resize/case%d/dst", index);
        float *want = read_all(st, key, &n_want);
        float *got = malloc(sizeof(float) * (size_t)dh * dw * ch);
        if (src && want && got) {
            CHECK(bl_resize_bilinear(src, sh, sw, ch, got, dh, dw) == BL_OK, "%s: %s", name, bl_last_error());
            /* which output rows the fixture holds: all, or the listed ones */
            const cJSON *rows = cJSON_GetObjectItem(c, "rows");
            int n_rows = cJSON_IsArray(rows) ? cJSON_GetArraySize(rows) : dh;
            CHECK(n_want == (int64_t)n_rows * dw * ch, "%s: fixture size", name);
            double case_worst = 0.0;
            for (int r = 0; r < n_rows && n_want == (int64_t)n_rows * dw * ch; r++) {
                int y = cJSON_IsArray(rows) ? cJSON_GetArrayItem(rows, r)->valueint : r;
                for (int i = 0; i < dw * ch; i++) {
                    double d = fabs((double)got[(size_t)y * dw * ch + i] - (double)want[(size_t)r * dw * ch + i]);
                    if (d > case_worst) case_worst = d;
                    differing += d != 0.0;
                    total++;
                }
            }
            CHECK(case_worst <= 1e-5, "resize %s (%dx%dx%d → %dx%d): max |diff| %.3g > 1e-5", name, sw, sh, ch, dw,
                  dh, case_worst);
            if (case_worst > worst) worst = case_worst;
        }
        free(src);
        free(want);
        free(got);
        index++;
    }
    CHECK(index >= 10, "resize fixture: %d cases", index);
    printf("resize vs cv2.resize INTER_LINEAR: %d cases, %lld values, max |diff| %.3g, %lld values differ\n", index,
           (long long)total, worst, (long long)differing);
    cJSON_Delete(cases);
    bl_safetensors_close(st);
}

/* Independent checks of the resize rules that do not need cv2. */
static void test_resize_properties(void) {
    /* constant image stays constant (up and down); 1×1 source fills everything */
    float src[5 * 4 * 3], dst[9 * 11 * 3];
    for (int i = 0; i < 5 * 4 * 3; i++) src[i] = (float)(i % 3) * 50.0f + 7.0f;
    CHECK(bl_resize_bilinear(src, 5, 4, 3, dst, 9, 11) == BL_OK, "constant resize");
    /* c·(1 − f) + c·f is c up to rounding: within 2 ulp */
    float constant[9 * 11 * 3];
    for (int i = 0; i < 9 * 11 * 3; i++) constant[i] = (float)(i % 3) * 50.0f + 7.0f;
    CHECK_CLOSE("a constant image stays constant", dst, constant, 9 * 11 * 3, 2.4e-7, 0);
    /* 1-D ramp 0,1,2,3 → 8 columns: half-pixel centres give x_src = (dx + 0.5)/2 − 0.5 = −0.25, 0.25, …, 3.25 */
    float ramp[4] = {0, 1, 2, 3}, out8[8];
    CHECK(bl_resize_bilinear(ramp, 1, 4, 1, out8, 1, 8) == BL_OK, "ramp");
    const float want8[8] = {0.0f, 0.25f, 0.75f, 1.25f, 1.75f, 2.25f, 2.75f, 3.0f};
    CHECK_CLOSE("ramp 4 → 8 (edges clamp)", out8, want8, 8, 0, 0);
    /* exactly 2× down = 2×2 block means */
    float block[4 * 4], half[2 * 2];
    for (int i = 0; i < 16; i++) block[i] = (float)i;
    CHECK(bl_resize_bilinear(block, 4, 4, 1, half, 2, 2) == BL_OK, "half");
    const float want_half[4] = {2.5f, 4.5f, 10.5f, 12.5f};
    CHECK_CLOSE("2x down = block means", half, want_half, 4, 0, 0);
    /* errors */
    CHECK(bl_resize_bilinear(src, 0, 4, 3, dst, 9, 11) == BL_ERR_INVALID, "zero height refused");
    CHECK(strstr(bl_last_error(), "resize: size") != NULL, "message names the field: %s", bl_last_error());
    CHECK(bl_resize_bilinear(src, 5, 4, 3, dst, 9, -1) == BL_ERR_INVALID, "negative width refused");
}

static void test_normalize(void) {
    /* paper-method.md §9: RGB (255,128,0) → caffe (−103.939, 11.221, 131.32), torch (2.24891, 0.20518, −1.80444) */
    float pixel[2 * 3] = {255, 128, 0, 10, 20, 30};
    float chw[6];
    bl_normalize_to_chw(pixel, 1, 2, BL_NORMALIZE_CAFFE, chw);
    const float caffe[6] = {-103.939f, 30.0f - 103.939f, 11.221f, 20.0f - 116.779f, 131.32f, 10.0f - 123.68f};
    CHECK_CLOSE("caffe preset (BGR, mean subtracted)", chw, caffe, 6, 1e-6, 1e-5);
    bl_normalize_to_chw(pixel, 1, 2, BL_NORMALIZE_TORCH, chw);
    const float torch[2] = {2.24891f, 0.20518f};
    const float torch_got[2] = {chw[0], chw[2]};
    CHECK_CLOSE("torch preset R,G of (255,128,0)", torch_got, torch, 2, 0, 1e-5);
    CHECK(fabsf(chw[4] - -1.80444f) <= 1e-5f, "torch preset B of (255,128,0): %.6f", (double)chw[4]);
    /* float32 semantics: ((x/255) − mean)/std, each step rounded */
    float expect = ((10.0f / 255.0f) - 0.485f) / 0.229f;
    CHECK(chw[1] == expect, "torch preset is float32 step by step (%.9g vs %.9g)", (double)chw[1], (double)expect);
    bl_normalize_to_chw(pixel, 1, 2, BL_NORMALIZE_UNIT, chw);
    CHECK(chw[0] == 1.0f && chw[2] == 128.0f / 255.0f && chw[5] == 30.0f / 255.0f, "unit preset");
    bl_normalize_to_chw(pixel, 1, 2, BL_NORMALIZE_NONE, chw);
    CHECK(chw[0] == 255 && chw[1] == 10 && chw[2] == 128 && chw[3] == 20 && chw[4] == 0 && chw[5] == 30,
          "none preset: RGB planes unchanged");
    bl_normalize p;
    const char *names[] = {"none", "caffe", "torch", "unit"};
    for (int i = 0; i < 4; i++) {
        CHECK(bl_normalize_parse(names[i], &p) == BL_OK && (int)p == i, "parse %s", names[i]);
        CHECK(strcmp(bl_normalize_name(p), names[i]) == 0, "name of %s", names[i]);
    }
    CHECK(bl_normalize_parse("tf", &p) == BL_ERR_INVALID, "unknown preset refused");
    CHECK(strcmp(bl_last_error(), "normalize: unknown preset 'tf' (expected caffe, torch, unit or none)") == 0,
          "message: %s", bl_last_error());
}

static void test_to_float(void) {
    bl_image img;
    CHECK(bl_image_alloc(&img, 2, 1, 3) == BL_OK, "alloc");
    const uint8_t px[6] = {0, 1, 127, 128, 254, 255};
    memcpy(img.pixels, px, 6);
    float out[6];
    bl_image_to_float(&img, 1.0f, out);
    int ok = 1;
    for (int i = 0; i < 6; i++) ok &= out[i] == (float)px[i];
    CHECK(ok, "scale 1 keeps 0…255");
    bl_image_to_float(&img, 1.0f / 255.0f, out);
    ok = 1;
    for (int i = 0; i < 6; i++) ok &= out[i] == (float)px[i] * (1.0f / 255.0f);
    CHECK(ok, "scale 1/255 multiplies (as tf.image.convert_image_dtype)");
    CHECK(out[5] == 1.0f && out[0] == 0.0f, "255 → 1, 0 → 0 (got %.9g)", (double)out[5]);
    bl_image_free(&img);
}

int main(void) {
    test_resize_golden();
    test_resize_properties();
    test_normalize();
    test_to_float();
    return test_summary("test_preprocess");
}
