/* test_gradcam.c — Grad-CAM (tools/study/gradcam.h) and `blasto gradcam`.
 *
 *   1. closed form: with the pregnancy head (GAP + age + linear), ∂logit/∂A_k = w_k/(h·w) at every position of the
 *      backbone's final map (and, for VGG's pre-pool target, the max-pool routes each window's share to one
 *      element, so the mean is again w_k/(h·w)); hence Grad-CAM = normalise(ReLU(Σ_k w_k A_k)). Checked for every
 *      architecture at 64×64 with deterministic random weights, against A captured independently by a no-grad
 *      forward; the upsampled heat against bl_resize_bilinear of the reference; the logit against a plain forward.
 *   2. focus scores on a constructed heatmap and masks with known answers (energies, area, pointing-game tolerance
 *      at 224 and scaled at 112, the all-zero map), and the nearest-neighbour mask resize.
 *   3. CLI end to end: synth → split → 1-epoch frozen-backbone train at 64×64 → gradcam on the test set and by ids;
 *      files exist, values finite and in range; bad inputs → exact one-line errors and nothing written. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/autograd.h"
#include "core/kernels.h"
#include "harness.h"
#include "study/gradcam.h"
#include "study/preprocess.h"
#include "support/test_support.h"

/* ---- 1. closed form ------------------------------------------------------------------------------------------ */

typedef struct grab {
    const char *layer;
    float *copy;
    int c, h, w;
} grab;

static void grab_hook(void *user, const char *path, const bl_tensor *t) {
    grab *g = user;
    if (g->copy || strcmp(path, g->layer) != 0 || t->ndim != 4) return;
    g->c = t->shape[1], g->h = t->shape[2], g->w = t->shape[3];
    g->copy = malloc((size_t)t->numel * sizeof *g->copy);
    if (g->copy) memcpy(g->copy, t->data, (size_t)t->numel * sizeof *g->copy);
}

static void closed_form(bl_arch arch) {
    const int size = 64;
    const char *name = bl_arch_name(arch);
    bl_ctx *ctx = NULL;
    bl_pregnancy_model *m = NULL;
    if (bl_ctx_create(bl_kernels_cpu(), &ctx) || bl_pregnancy_create(ctx, arch, &m)) {
        CHECK(0, "%s: model created: %s", name, bl_last_error());
        bl_ctx_free(ctx);
        return;
    }
    bl_pregnancy_init_random(m, 11);
    bl_model_fill_deterministic(m->backbone, 5); /* non-trivial BN statistics */
    float *x = malloc((size_t)3 * size * size * sizeof *x);
    test_fill_uniform(x, 3 * size * size, 7, (uint64_t)arch, -2.0f, 2.0f);
    float age_z = 0.7f;

    /* reference: A from a no-grad forward */
    grab g = {.layer = bl_model_gradcam_layer(m->backbone)};
    bl_set_training(ctx, 0);
    bl_set_grad_enabled(ctx, 0);
    bl_run run = {.ctx = ctx, .bn_mode = BL_BN_RUNNING, .hook = grab_hook, .hook_user = &g};
    int xs[4] = {1, 3, size, size}, as[4] = {1, 1, 1, 1};
    bl_tensor *logit = bl_pregnancy_forward(m, &run, bl_tensor_from(ctx, 4, xs, x), bl_tensor_from(ctx, 4, as, &age_z));
    float want_logit = logit ? logit->data[0] : NAN;
    bl_step_end(ctx);
    CHECK(g.copy != NULL, "%s: target %s captured", name, g.layer);

    bl_gradcam_map map;
    bl_status st = bl_gradcam_compute(m, NULL, x, size, age_z, &map);
    CHECK(st == BL_OK, "%s: gradcam: %s", name, st ? bl_last_error() : "");
    if (!st && g.copy) {
        CHECK(map.h == g.h && map.w == g.w && map.channels == g.c && map.channels == m->features,
              "%s: map %dx%dx%d vs %dx%dx%d", name, map.channels, map.h, map.w, g.c, g.h, g.w);
        CHECK(fabsf(map.logit - want_logit) <= 1e-4f * (1 + fabsf(want_logit)), "%s: logit %g vs %g", name,
              map.logit, want_logit);
        int hw = g.h * g.w;
        const float *w = m->fc_weight->data;
        double *acc = calloc((size_t)hw, sizeof *acc);
        float *ref = malloc((size_t)hw * sizeof *ref), *ref_heat = malloc((size_t)size * size * sizeof *ref_heat);
        for (int k = 0; k < g.c; k++)
            for (int i = 0; i < hw; i++) acc[i] += (double)w[k] * g.copy[(size_t)k * hw + i];
        double lo = INFINITY, hi = -INFINITY;
        for (int i = 0; i < hw; i++) acc[i] = acc[i] > 0 ? acc[i] : 0, lo = fmin(lo, acc[i]);
        for (int i = 0; i < hw; i++) hi = fmax(hi, acc[i] - lo);
        for (int i = 0; i < hw; i++) ref[i] = (float)((acc[i] - lo) / (hi + 1e-7 * hi));
        CHECK(hi > 0, "%s: reference map not all zero", name);
        char what[64];
        snprintf(what, sizeof what, "%s cam", name);
        CHECK_CLOSE(what, map.cam, ref, hw, 1e-3, 1e-4);
        bl_resize_bilinear(ref, g.h, g.w, 1, ref_heat, size, size);
        snprintf(what, sizeof what, "%s heat", name);
        CHECK_CLOSE(what, map.heat, ref_heat, (int64_t)size * size, 1e-3, 2e-4);
        float mn = 1, mx = 0;
        for (int i = 0; i < hw; i++) mn = fminf(mn, map.cam[i]), mx = fmaxf(mx, map.cam[i]);
        CHECK(mn == 0.0f && mx > 0.999f && mx <= 1.0f, "%s: cam min %g max %g", name, mn, mx);
        free(acc);
        free(ref);
        free(ref_heat);
    }
    /* an unknown layer is refused with the arch's default named */
    bl_gradcam_map bad;
    st = bl_gradcam_compute(m, "layer9", x, size, age_z, &bad);
    char want[256];
    snprintf(want, sizeof want, "gradcam: layer 'layer9' is not a module of %s (default: %s)", name, g.layer);
    CHECK(st != BL_OK && !strcmp(bl_last_error(), want), "%s: unknown layer: %s", name, bl_last_error());
    CHECK(bad.cam == NULL && bad.heat == NULL, "%s: nothing allocated on error", name);
    bl_gradcam_map_free(&map);
    free(g.copy);
    free(x);
    bl_pregnancy_free(m);
    bl_ctx_free(ctx);
}

/* ---- 2. focus scores ----------------------------------------------------------------------------------------- */

static void focus(void) {
    enum { S = 224 };
    static float heat[S * S];
    static uint8_t icm[S * S], te[S * S];
    memset(heat, 0, sizeof heat);
    for (int y = 100; y < 120; y++)
        for (int x = 100; x < 120; x++) icm[y * S + x] = 255;
    for (int y = 50; y < 60; y++)
        for (int x = 0; x < S; x++) te[y * S + x] = 1, heat[y * S + x] = 0.5f;
    heat[110 * S + 110] = 1.0f;
    bl_focus f;
    bl_focus_scores(heat, icm, te, S, &f);
    CHECK(f.hit == 1, "peak inside ICM hits");
    CHECK(fabs(f.energy_icm - 1.0 / 1121.0) < 1e-12, "energy_icm %.12g", f.energy_icm);
    CHECK(fabs(f.energy_te - 1120.0 / 1121.0) < 1e-12, "energy_te %.12g", f.energy_te);
    CHECK(fabs(f.energy_union - 1.0) < 1e-12, "energy_union %.12g", f.energy_union);
    CHECK(fabs(f.area_union - 2640.0 / (S * S)) < 1e-15, "area_union %.12g", f.area_union);

    /* pointing game: peak 15 px right of the ICM's last column hits, 16 px misses (TE is far away) */
    memset(heat, 0, sizeof heat);
    heat[110 * S + 134] = 1.0f;
    bl_focus_scores(heat, icm, te, S, &f);
    CHECK(f.hit == 1 && fabs(f.energy_union) == 0.0, "15 px away hits (hit %d, energy %g)", f.hit, f.energy_union);
    heat[110 * S + 134] = 0.0f, heat[110 * S + 135] = 1.0f;
    bl_focus_scores(heat, icm, te, S, &f);
    CHECK(f.hit == 0, "16 px away misses");
    heat[110 * S + 135] = 0.0f, heat[(119 + 11) * S + 119 + 11] = 1.0f; /* diagonal √242 ≈ 15.56 */
    bl_focus_scores(heat, icm, te, S, &f);
    CHECK(f.hit == 0, "diagonal 15.56 px misses (Euclidean)");

    /* all-zero map */
    memset(heat, 0, sizeof heat);
    bl_focus_scores(heat, icm, te, S, &f);
    CHECK(f.hit == 0 && f.energy_icm == 0 && f.energy_te == 0 && f.energy_union == 0 &&
              fabs(f.area_union - 2640.0 / (S * S)) < 1e-15, "all-zero map: no hit, no energy");

    /* tolerance scales with the size: at 112, 7.5 px */
    enum { H = 112 };
    static float h2[H * H];
    static uint8_t i2[H * H], t2[H * H];
    i2[50 * H + 50] = 1;
    h2[50 * H + 57] = 1.0f;
    bl_focus_scores(h2, i2, t2, H, &f);
    CHECK(f.hit == 1 && f.energy_icm == 0 && fabs(f.area_union - 1.0 / (H * H)) < 1e-15, "7 px at 112 hits");
    h2[50 * H + 57] = 0.0f, h2[50 * H + 58] = 1.0f;
    bl_focus_scores(h2, i2, t2, H, &f);
    CHECK(f.hit == 0, "8 px at 112 misses");

    /* nearest-neighbour resize */
    const uint8_t src[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    uint8_t down[4], up[36];
    bl_mask_resize_nearest(src, 4, 4, down, 2, 2);
    CHECK(down[0] == 1 && down[1] == 3 && down[2] == 9 && down[3] == 11, "4→2 nearest %d %d %d %d", down[0],
          down[1], down[2], down[3]);
    bl_mask_resize_nearest(src, 2, 2, up, 6, 6); /* reads the first 2×2 as [1 2; 3 4] */
    CHECK(up[0] == 1 && up[2] == 1 && up[3] == 2 && up[5] == 2 && up[3 * 6] == 3 && up[35] == 4, "2→6 nearest");
}

/* ---- 3. CLI -------------------------------------------------------------------------------------------------- */

static int exists(const char *path) {
    struct stat s;
    return stat(path, &s) == 0;
}

/* Runs the CLI with stderr (gradcam writes nothing on stdout) captured into err; returns the exit code. */
static int cli_err(const char *dir, const char *args, char *err, size_t size) {
    (void)dir;
    return test_run_cli(args, 1, err, size);
}

/* Checks focus.csv: n_want rows, each value finite and in range; returns the row count. */
static int check_focus(const char *path, int n_want) {
    char *text = test_read_file(path, NULL);
    CHECK(text != NULL, "%s readable", path);
    if (!text) return -1;
    const char *header = "id,label,score,hit,energy_icm,energy_te,energy_union,area_union\n";
    CHECK(!strncmp(text, header, strlen(header)), "header");
    int n = 0;
    char *save = NULL;
    for (char *line = strtok_r(strchr(text, '\n') + 1, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char id[64];
        int label, hit;
        double score, ei, et, eu, au;
        int got = sscanf(line, "%63[^,],%d,%lf,%d,%lf,%lf,%lf,%lf", id, &label, &score, &hit, &ei, &et, &eu, &au);
        CHECK(got == 8, "row parses: %s", line);
        if (got != 8) continue;
        CHECK((label == 0 || label == 1) && (hit == 0 || hit == 1), "%s: label/hit", id);
        CHECK(isfinite(score) && score > 0 && score < 1, "%s: score %g", id, score);
        CHECK(ei >= 0 && ei <= 1 && et >= 0 && et <= 1 && eu >= 0 && eu <= 1 + 1e-9, "%s: energies %g %g %g", id,
              ei, et, eu);
        CHECK(eu >= fmax(ei, et) - 1e-9 && eu <= ei + et + 1e-9, "%s: union energy between max and sum", id);
        CHECK(au > 0 && au < 1, "%s: area %g", id, au);
        n++;
    }
    CHECK(n == n_want, "%s: %d rows (expected %d)", path, n, n_want);
    free(text);
    return n;
}

static void cli(void) {
    char dir[512], args[4096], err[4096], want[2048], path[1024];
    if (!test_make_tmp_dir(dir, sizeof dir, "blasto_gradcam")) {
        CHECK(0, "tmp dir");
        return;
    }
    snprintf(args, sizeof args, "synth --out %s/c --n 24 --size 64 --seed 3 --quiet", dir);
    CHECK(test_run_cli(args, 0, err, sizeof err) == 0, "synth");
    snprintf(args, sizeof args, "split --cohort %s/c/cohort.csv --test-count 6 --folds 2 --out %s/split.csv", dir, dir);
    CHECK(test_run_cli(args, 0, err, sizeof err) == 0, "split");
    snprintf(args, sizeof args,
             "train --cohort %s/c/cohort.csv --split %s/split.csv --fold 0 --out %s/run --arch resnet50 --size 64 "
             "--batch 8 --epochs 1 --freeze-backbone-epochs 1 --threads 2",
             dir, dir, dir);
    CHECK(test_run_cli(args, 0, err, sizeof err) == 0, "train");

    snprintf(args, sizeof args,
             "gradcam --model %s/run/best.safetensors --cohort %s/c/cohort.csv --split %s/split.csv --set test "
             "--out %s/gc",
             dir, dir, dir, dir);
    int rc = cli_err(dir, args, err, sizeof err);
    CHECK(rc == 0, "gradcam exits 0 (stderr: %s)", err);
    CHECK(strstr(err, "ETA") != NULL, "progress with ETA on stderr");
    snprintf(path, sizeof path, "%s/gc/focus.csv", dir);
    check_focus(path, 6);
    char *text = test_read_file(path, NULL);
    int pngs = 0;
    for (char *p = text ? strchr(text, '\n') : NULL; p && p[1]; p = strchr(p + 1, '\n')) {
        char id[64] = "";
        sscanf(p + 1, "%63[^,]", id);
        snprintf(path, sizeof path, "%s/gc/%s.png", dir, id);
        bl_image img = {0};
        if (!bl_image_load(path, 0, &img) && img.width == 64 && img.height == 64 && img.channels == 3) pngs++;
        bl_image_free(&img);
    }
    free(text);
    CHECK(pngs == 6, "6 overlays 64x64 RGB (got %d)", pngs);

    /* by ids, another layer */
    snprintf(args, sizeof args,
             "gradcam --model %s/run/best.safetensors --cohort %s/c/cohort.csv --ids synth_0002,synth_0007 "
             "--layer layer3 --out %s/gc2",
             dir, dir, dir);
    rc = cli_err(dir, args, err, sizeof err);
    CHECK(rc == 0, "gradcam --ids --layer exits 0 (stderr: %s)", err);
    snprintf(path, sizeof path, "%s/gc2/focus.csv", dir);
    check_focus(path, 2);
    snprintf(path, sizeof path, "%s/gc2/synth_0007.png", dir);
    CHECK(exists(path), "overlay by id");

    /* bad inputs: exact messages, nothing written */
    snprintf(args, sizeof args, "gradcam --model %s/run/nope.safetensors --cohort %s/c/cohort.csv --out %s/bad1", dir,
             dir, dir);
    rc = cli_err(dir, args, err, sizeof err);
    snprintf(want, sizeof want, "blasto gradcam: %s/run/nope.safetensors: cannot open: No such file or directory\n", dir);
    snprintf(path, sizeof path, "%s/bad1", dir);
    CHECK(rc == 1 && !strcmp(err, want) && !exists(path), "missing checkpoint (rc %d): %s", rc, err);

    snprintf(args, sizeof args,
             "gradcam --model %s/run/best.safetensors --cohort %s/c/cohort.csv --ids synth_0002 --layer layer9 "
             "--out %s/bad2",
             dir, dir, dir);
    rc = cli_err(dir, args, err, sizeof err);
    snprintf(want, sizeof want,
             "blasto gradcam: gradcam: layer 'layer9' is not a module of resnet50 (default: layer4)\n");
    snprintf(path, sizeof path, "%s/bad2", dir);
    CHECK(rc == 1 && !strcmp(err, want) && !exists(path), "unknown layer (rc %d): %s", rc, err);

    snprintf(args, sizeof args,
             "gradcam --model %s/run/best.safetensors --cohort %s/c/cohort.csv --ids synth_0002,ghost --out %s/bad3",
             dir, dir, dir);
    rc = cli_err(dir, args, err, sizeof err);
    snprintf(want, sizeof want, "blasto gradcam: --ids: 'ghost' is not in the cohort %s/c/cohort.csv\n", dir);
    snprintf(path, sizeof path, "%s/bad3", dir);
    CHECK(rc == 1 && !strcmp(err, want) && !exists(path), "unknown id (rc %d): %s", rc, err);

    rc = cli_err(dir, "gradcam --model x --out y", err, sizeof err);
    CHECK(rc == 2 && !strcmp(err, "blasto gradcam: --model, --cohort and --out are required (blasto gradcam --help)\n"),
          "usage error (rc %d): %s", rc, err);
    CHECK(test_run_cli("gradcam --help", 0, err, sizeof err) == 0 && strstr(err, "usage: blasto gradcam"), "--help exits 0");
    test_remove_tree(dir);
}

int main(void) {
    focus();
    closed_form(BL_ARCH_RESNET50);
    closed_form(BL_ARCH_RESNET50_KERAS);
    closed_form(BL_ARCH_DENSENET121);
    closed_form(BL_ARCH_VGG16);
    cli();
    return test_summary("test_gradcam");
}
