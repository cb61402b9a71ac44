/* test_augment.c — TF 2.10 augmentation: the documented examples of tensorflow/python/ops/image_ops_impl.py
 * (paper-method.md §2), the float64 formula fixture tests/golden/augment.safetensors (gen_augment.py) within 1e-6,
 * the keyed draws (exact, also pinned by the fixture) and determinism. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/safetensors.h"
#include "harness.h"
#include "study/augment.h"

/* x = [[[1,2,3],[4,5,6]],[[7,8,9],[10,11,12]]] — the docstring example image */
static void doc_image(float *x) {
    for (int i = 0; i < 12; i++) x[i] = (float)(i + 1);
}

static void test_documented_examples(void) {
    float x[12];
    doc_image(x);
    bl_adjust_brightness(x, 2, 2, 0.1f);
    float want_b[12];
    for (int i = 0; i < 12; i++) want_b[i] = (float)(i + 1) + 0.1f;
    CHECK_CLOSE("adjust_brightness(x, 0.1) = x + 0.1", x, want_b, 12, 0, 0);

    doc_image(x);
    bl_adjust_contrast(x, 2, 2, 2.0f);
    const float want_c[12] = {-3.5f, -2.5f, -1.5f, 2.5f, 3.5f, 4.5f, 8.5f, 9.5f, 10.5f, 14.5f, 15.5f, 16.5f};
    CHECK_CLOSE("adjust_contrast(x, 2)", x, want_c, 12, 0, 0);

    doc_image(x);
    bl_adjust_saturation(x, 2, 2, 0.5f);
    const float want_s[12] = {2, 2.5f, 3, 5, 5.5f, 6, 8, 8.5f, 9, 11, 11.5f, 12};
    CHECK_CLOSE("adjust_saturation(x, 0.5)", x, want_s, 12, 1e-6, 0);
    int exact = memcmp(x, want_s, sizeof x) == 0;

    /* random_saturation(x, 5, 10) prints this in the docstring. It is the result for every factor ≥ 6, not ≥ 5: the
     * pixel (10,11,12) has s = 2/12 and reaches s = 1 only at factor 6 (at 5 it gives (2, 7, 12)) — the doc's draw
     * happened to be ≥ 6. */
    const float want_s5[12] = {0, 1.5f, 3, 0, 3, 6, 0, 4.5f, 9, 0, 6, 12};
    const float factors[4] = {6.0f, 7.5f, 9.99f, 100.0f};
    for (int k = 0; k < 4; k++) {
        float factor = factors[k];
        doc_image(x);
        bl_adjust_saturation(x, 2, 2, factor);
        char what[64];
        snprintf(what, sizeof what, "adjust_saturation(x, %g) (s clamps to 1)", (double)factor);
        CHECK_CLOSE(what, x, want_s5, 12, 1e-6, 0);
        exact &= memcmp(x, want_s5, sizeof x) == 0;
    }
    doc_image(x);
    bl_adjust_saturation(x, 2, 2, 5.0f);
    CHECK(fabsf(x[9] - 2.0f) < 1e-6f && fabsf(x[10] - 7.0f) < 1e-5f && x[11] == 12.0f,
          "factor 5: (10,11,12) → (2,7,12), got (%g,%g,%g)", (double)x[9], (double)x[10], (double)x[11]);
    printf("documented examples: brightness and contrast exact; saturation %s\n",
           exact ? "exact" : "within 1e-6 relative");
}

static float *read_tensor(const bl_safetensors *st, const char *name, int64_t *count) {
    const bl_st_entry *e = bl_safetensors_find(st, name);
    CHECK(e != NULL, "fixture tensor %s missing", name);
    if (!e) return NULL;
    float *data = malloc(sizeof(float) * (size_t)e->numel);
    CHECK(bl_safetensors_read_f32(st, name, -1, NULL, e->numel, data) == BL_OK, "%s", bl_last_error());
    *count = e->numel;
    return data;
}

static void options_from_json(const cJSON *j, bl_augment_options *o) {
    o->brightness = cJSON_GetObjectItem(j, "brightness")->valueint;
    o->brightness_max_delta = (float)cJSON_GetObjectItem(j, "brightness_max_delta")->valuedouble;
    o->saturation = cJSON_GetObjectItem(j, "saturation")->valueint;
    o->saturation_lower = (float)cJSON_GetObjectItem(j, "saturation_lower")->valuedouble;
    o->saturation_upper = (float)cJSON_GetObjectItem(j, "saturation_upper")->valuedouble;
    o->contrast = cJSON_GetObjectItem(j, "contrast")->valueint;
    o->contrast_lower = (float)cJSON_GetObjectItem(j, "contrast_lower")->valuedouble;
    o->contrast_upper = (float)cJSON_GetObjectItem(j, "contrast_upper")->valuedouble;
    o->flip_up_down = cJSON_GetObjectItem(j, "flip_up_down")->valueint;
    o->flip_left_right = cJSON_GetObjectItem(j, "flip_left_right")->valueint;
}

static void test_fixture(void) {
    bl_safetensors *st = NULL;
    const char *path = BLASTO_TEST_DIR "/golden/augment.safetensors";
    if (bl_safetensors_open(path, &st)) {
        CHECK(0, "open %s: %s", path, bl_last_error());
        return;
    }
    cJSON *cases = cJSON_Parse(bl_safetensors_metadata(st, "cases"));
    CHECK(cJSON_IsArray(cases), "augment fixture: cases metadata");
    double worst_op = 0.0, worst_pipeline = 0.0;
    int index = 0, pipelines = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const char *op = cJSON_GetObjectItem(c, "op")->valuestring;
        const cJSON *shape = cJSON_GetObjectItem(c, "shape");
        int h = cJSON_GetArrayItem(shape, 0)->valueint, w = cJSON_GetArrayItem(shape, 1)->valueint;
        char key[96];
        int64_t nx = 0, ny = 0;
        snprintf(key, sizeof key, "augment/case%d/x", index);
        float *x = read_tensor(st, key, &nx);
        snprintf(key, sizeof key, "augment/case%d/y", index);
        float *y = read_tensor(st, key, &ny);
        if (x && y && nx == ny && nx == (int64_t)h * w * 3) {
            const cJSON *factor_json = cJSON_GetObjectItem(c, "factor");
            float factor = factor_json ? (float)factor_json->valuedouble : 0.0f;
            int is_pipeline = strcmp(op, "pipeline") == 0;
            if (strcmp(op, "brightness") == 0) bl_adjust_brightness(x, h, w, factor);
            else if (strcmp(op, "saturation") == 0) bl_adjust_saturation(x, h, w, factor);
            else if (strcmp(op, "contrast") == 0) bl_adjust_contrast(x, h, w, factor);
            else if (strcmp(op, "flip_up_down") == 0) bl_flip_up_down(x, h, w);
            else if (strcmp(op, "flip_left_right") == 0) bl_flip_left_right(x, h, w);
            else if (strcmp(op, "clip") == 0) bl_clip_unit(x, h, w);
            else if (is_pipeline) {
                bl_augment_options o;
                options_from_json(cJSON_GetObjectItem(c, "options"), &o);
                uint64_t seed = (uint64_t)cJSON_GetObjectItem(c, "seed")->valuedouble;
                int64_t epoch = (int64_t)cJSON_GetObjectItem(c, "epoch")->valuedouble;
                const char *id = cJSON_GetObjectItem(c, "id")->valuestring;
                bl_augment_draw d = bl_augment_draw_for(&o, seed, epoch, bl_augment_sample_key(id));
                int64_t nd = 0;
                snprintf(key, sizeof key, "augment/case%d/draws", index);
                float *want_draws = read_tensor(st, key, &nd);
                if (want_draws && nd == 5) {
                    CHECK(d.brightness_delta == want_draws[0] && d.saturation_factor == want_draws[1] &&
                              d.contrast_factor == want_draws[2] && d.flip_up_down == (int)want_draws[3] &&
                              d.flip_left_right == (int)want_draws[4],
                          "case %d (seed %llu, epoch %lld, id %s): draws (%.9g %.9g %.9g %d %d) differ from the "
                          "fixture (%.9g %.9g %.9g %g %g)",
                          index, (unsigned long long)seed, (long long)epoch, id, (double)d.brightness_delta,
                          (double)d.saturation_factor, (double)d.contrast_factor, d.flip_up_down,
                          d.flip_left_right, (double)want_draws[0], (double)want_draws[1], (double)want_draws[2],
                          (double)want_draws[3], (double)want_draws[4]);
                }
                free(want_draws);
                bl_augment_apply(x, h, w, &o, &d);
                pipelines++;
            } else {
                CHECK(0, "unknown op %s", op);
            }
            double worst = 0.0;
            for (int64_t i = 0; i < nx; i++) {
                double diff = fabs((double)x[i] - (double)y[i]);
                if (!(diff <= worst)) worst = diff; /* NaN → fails below */
            }
            CHECK(worst <= 1e-6, "case %d (%s, factor %g): max |diff| %.3g > 1e-6", index, op, (double)factor, worst);
            if (is_pipeline && worst > worst_pipeline) worst_pipeline = worst;
            if (!is_pipeline && worst > worst_op) worst_op = worst;
        } else {
            CHECK(0, "case %d: fixture shapes", index);
        }
        free(x);
        free(y);
        index++;
    }
    CHECK(index >= 20 && pipelines >= 6, "fixture: %d cases, %d pipelines", index, pipelines);
    printf("augment vs float64 formulas: %d cases; single ops max |diff| %.3g, pipelines (%d) max |diff| %.3g\n",
           index, worst_op, pipelines, worst_pipeline);
    cJSON_Delete(cases);
    bl_safetensors_close(st);
}

static void test_draws(void) {
    /* FNV-1a 64 reference values */
    CHECK(bl_augment_sample_key("") == 0xcbf29ce484222325ULL, "FNV-1a of \"\"");
    CHECK(bl_augment_sample_key("a") == 0xaf63dc4c8601ec8cULL, "FNV-1a of \"a\"");
    bl_augment_options o;
    bl_augment_options_default(&o);
    CHECK(bl_augment_options_check(&o) == BL_OK, "defaults valid");
    uint64_t key = bl_augment_sample_key("e001");
    bl_augment_draw a = bl_augment_draw_for(&o, 5, 2, key), b = bl_augment_draw_for(&o, 5, 2, key);
    CHECK(memcmp(&a, &b, sizeof a) == 0, "same (seed, epoch, id) → same draws");
    int differ_epoch = 0, differ_id = 0, differ_seed = 0;
    int flips_ud = 0, flips_lr = 0, in_range = 1;
    const int n = 4000;
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "emb%04d", i);
        bl_augment_draw d = bl_augment_draw_for(&o, 5, 2, bl_augment_sample_key(id));
        bl_augment_draw e = bl_augment_draw_for(&o, 5, 3, bl_augment_sample_key(id));
        bl_augment_draw s = bl_augment_draw_for(&o, 6, 2, bl_augment_sample_key(id));
        differ_epoch += d.brightness_delta != e.brightness_delta;
        differ_seed += d.brightness_delta != s.brightness_delta;
        differ_id += d.brightness_delta != a.brightness_delta;
        flips_ud += d.flip_up_down;
        flips_lr += d.flip_left_right;
        in_range &= d.brightness_delta >= -0.1f && d.brightness_delta < 0.1f;
        in_range &= d.saturation_factor >= 0.8f && d.saturation_factor < 1.2f;
        in_range &= d.contrast_factor >= 0.8f && d.contrast_factor < 1.2f;
    }
    CHECK(in_range, "draws within [lower, upper)");
    CHECK(differ_epoch > n * 99 / 100 && differ_seed > n * 99 / 100 && differ_id > n * 99 / 100,
          "epoch, seed and id change the draws (%d, %d, %d of %d)", differ_epoch, differ_seed, differ_id, n);
    /* flips: u < 0.5 with probability 1/2; 4000 draws → ±4.5 sd is ±142 */
    CHECK(abs(flips_ud - n / 2) < 142 && abs(flips_lr - n / 2) < 142, "flip frequency %d, %d of %d", flips_ud,
          flips_lr, n);
}

static void test_apply_and_options(void) {
    /* disabled steps: only the clip remains */
    bl_augment_options o;
    bl_augment_options_default(&o);
    o.brightness = o.saturation = o.contrast = o.flip_up_down = o.flip_left_right = 0;
    float x[4 * 3 * 3], y[4 * 3 * 3];
    test_fill_uniform(x, 36, 3, 1, -0.2f, 1.2f);
    memcpy(y, x, sizeof x);
    bl_augment_draw d = {0.05f, 1.1f, 0.9f, 1, 1};
    bl_augment_apply(x, 4, 3, &o, &d);
    int ok = 1;
    for (int i = 0; i < 36; i++) ok &= x[i] == fminf(1.0f, fmaxf(0.0f, y[i]));
    CHECK(ok, "all steps off: only the clip to [0,1]");
    /* flips move the right pixels */
    float img[2 * 3 * 3];
    for (int i = 0; i < 18; i++) img[i] = (float)i;
    bl_flip_left_right(img, 2, 3);
    CHECK(img[0] == 6 && img[1] == 7 && img[2] == 8 && img[6] == 0 && img[3] == 3, "flip_left_right");
    bl_flip_up_down(img, 2, 3);
    CHECK(img[0] == 15 && img[9] == 6, "flip_up_down");
    /* TF's argument checks */
    bl_augment_options bad;
    bl_augment_options_default(&bad);
    bad.contrast_lower = 1.2f, bad.contrast_upper = 0.8f;
    CHECK(bl_augment_options_check(&bad) == BL_ERR_INVALID, "contrast lower > upper refused");
    CHECK(strstr(bl_last_error(), "augment: contrast: lower must be < upper") != NULL, "message: %s",
          bl_last_error());
    bl_augment_options_default(&bad);
    bad.saturation_lower = -0.1f;
    CHECK(bl_augment_options_check(&bad) == BL_ERR_INVALID, "negative saturation lower refused");
    CHECK(strstr(bl_last_error(), "augment: saturation_lower: must be ≥ 0") != NULL, "message: %s", bl_last_error());
    bl_augment_options_default(&bad);
    bad.brightness_max_delta = -1.0f;
    CHECK(bl_augment_options_check(&bad) == BL_ERR_INVALID, "negative max_delta refused");
    bad.brightness = 0;
    CHECK(bl_augment_options_check(&bad) == BL_OK, "a disabled step's parameters are not checked");
    bl_augment_options_default(&bad);
    bad.contrast_upper = NAN;
    CHECK(bl_augment_options_check(&bad) == BL_ERR_INVALID, "NaN bound refused");
}

int main(void) {
    test_documented_examples();
    test_fixture();
    test_draws();
    test_apply_and_options();
    return test_summary("test_augment");
}
