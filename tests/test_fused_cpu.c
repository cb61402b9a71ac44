/* test_fused_cpu.c — the fused inference fast path batchnorm + ReLU (kernels.h slot batchnorm2d_relu_forward_eval,
 * core/op_fused.h, layers' bl_batchnorm2d_relu_layer_forward) gives BITWISE the unfused result:
 *   1. kernel: the cpu slot (and its portable build) against the ref slot, which is ref's batchnorm eval followed by
 *      ref's ReLU — on random data with zeros, −0 and NaN, for 1 and 2 threads;
 *   2. op: bl_batchnorm2d_relu against bl_relu(bl_batchnorm2d(…)) in eval mode with grad off (fused), and with a
 *      gradient wanted (it must fall back and record a tape entry: backward reaches x);
 *   3. DenseNet's block buffer ops (bl_copy_channels, bl_batchnorm2d_relu_channels) against the concatenation and
 *      bl_batchnorm2d_relu, on ref and cpu, and their refusals;
 *   4. models: ResNet50, DenseNet121 and VGG16 (backbone) at 64×64 in inference, without a hook (fused, and no-grad scopes rewinding
 *      the step arena after each block: layers.h bl_scope_begin/end) and with a hook (neither): logits equal to the
 *      bit, and the first run keeps and peaks at less step memory. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/autograd.h"
#include "core/cpu/cpu.h"
#include "core/cpu/cpu_ops.h"
#include "core/op_fused.h"
#include "core/cpu/threads.h"
#include "harness.h"
#include "models/models.h"

/* A cpu backend limited to portable C (the batchnorm build without SIMD flags), made once. */
static bl_kernels *portable_cpu;
static const bl_kernels *portable_backend(void) {
    if (!portable_cpu) {
        bl_cpu_options o = bl_cpu_options_default();
        o.simd = BL_GEMM_KERNEL_GENERIC;
        CHECK(bl_kernels_cpu_create(&o, &portable_cpu) == BL_OK, "portable cpu backend: %s", bl_last_error());
    }
    return portable_cpu;
}

static float *awkward(int64_t n, uint64_t idx, float lo, float hi) {
    float *p = malloc((size_t)n * sizeof(float));
    test_fill_uniform(p, n, 77, idx, lo, hi);
    for (int64_t i = 0; i < n; i++) {
        if (i % 13 == 1) p[i] = 0.0f;
        if (i % 31 == 2) p[i] = -0.0f;
        if (i % 501 == 7) p[i] = NAN;
    }
    return p;
}

static void kernel_level(void) {
    const bl_kernels *ref = bl_kernels_ref(), *cpu = bl_kernels_cpu();
    CHECK(ref->batchnorm2d_relu_forward_eval && cpu->batchnorm2d_relu_forward_eval, "both backends fill the slot");
    if (!ref->batchnorm2d_relu_forward_eval || !cpu->batchnorm2d_relu_forward_eval) return;
    bl_batchnorm2d_shape s = {.n = 3, .c = 11, .h = 17, .w = 13, .eps = 1e-5f, .momentum = 0.1f};
    int64_t n = (int64_t)s.n * s.c * s.h * s.w;
    float *x = awkward(n, 1, -2, 2), *g = awkward(s.c, 2, -1.5f, 1.5f), *b = awkward(s.c, 3, -1, 1);
    float *rm = awkward(s.c, 4, -1, 1), *rv = awkward(s.c, 5, 0.1f, 2);
    rv[3] = 1.0f; /* a NaN variance would make a whole channel NaN: keep one channel meaningful at least */
    float *want = malloc((size_t)n * sizeof(float)), *got = malloc((size_t)n * sizeof(float));
    float *unfused = malloc((size_t)n * sizeof(float));
    ref->batchnorm2d_forward_eval(ref, &s, x, g, b, rm, rv, unfused);
    ref->relu_forward(ref, n, unfused, want);
    memset(got, 0xff, (size_t)n * sizeof(float));
    ref->batchnorm2d_relu_forward_eval(ref, &s, x, g, b, rm, rv, got);
    CHECK(memcmp(got, want, (size_t)n * sizeof(float)) == 0, "ref fused slot = ref batchnorm eval then ref relu");
    int negatives = 0, positives = 0;
    for (int64_t i = 0; i < n; i++) negatives += unfused[i] < 0, positives += want[i] > 0;
    CHECK(negatives > n / 10 && positives > n / 10, "the data exercise both sides of the ReLU (%d / %d)", negatives,
          positives);
    for (int threads = 1; threads <= 2; threads++) {
        bl_threads_set(threads);
        memset(got, 0xff, (size_t)n * sizeof(float));
        cpu->batchnorm2d_relu_forward_eval(cpu, &s, x, g, b, rm, rv, got);
        CHECK(memcmp(got, want, (size_t)n * sizeof(float)) == 0, "cpu fused slot (%d threads) = ref", threads);
        memset(got, 0xff, (size_t)n * sizeof(float));
        const bl_kernels *narrow = portable_backend();
        narrow->batchnorm2d_relu_forward_eval(narrow, &s, x, g, b, rm, rv, got);
        CHECK(memcmp(got, want, (size_t)n * sizeof(float)) == 0, "portable fused kernel (%d threads) = ref", threads);
    }
    free(x), free(g), free(b), free(rm), free(rv), free(want), free(got), free(unfused);
}

/* x_sample_stride: the eval forwards read the first c channels of each sample of a wider [n, C, h, w] x (the
 * DenseNet block buffer); the result must be bit for bit the dense kernel on the compacted prefix, and channels
 * c … C−1 (NaN here) must not be read. Every backend and variant, plain and fused, 1 and 2 threads. */
static void strided_samples(void) {
    const bl_kernels *ref = bl_kernels_ref(), *cpu = bl_kernels_cpu();
    enum { N = 3, C = 17, CH = 11, H = 9, W = 7 };
    const int64_t plane = H * W, wide = (int64_t)N * C * plane, dense = (int64_t)N * CH * plane;
    float *x_wide = malloc((size_t)wide * sizeof(float)), *x_dense = awkward(dense, 11, -2, 2);
    float *g = awkward(CH, 12, -1.5f, 1.5f), *b = awkward(CH, 13, -1, 1), *rm = awkward(CH, 14, -1, 1);
    float *rv = awkward(CH, 15, 0.1f, 2);
    for (int64_t i = 0; i < wide; i++) x_wide[i] = NAN;
    for (int n = 0; n < N; n++)
        memcpy(x_wide + (int64_t)n * C * plane, x_dense + (int64_t)n * CH * plane, (size_t)CH * plane * sizeof(float));
    bl_batchnorm2d_shape s = {.n = N, .c = CH, .h = H, .w = W, .eps = 1e-5f, .momentum = 0.1f};
    bl_batchnorm2d_shape strided = s;
    strided.x_sample_stride = (int64_t)C * plane;
    float *want = malloc((size_t)dense * sizeof(float)), *want_relu = malloc((size_t)dense * sizeof(float));
    float *got = malloc((size_t)dense * sizeof(float));
    ref->batchnorm2d_forward_eval(ref, &s, x_dense, g, b, rm, rv, want);
    ref->batchnorm2d_relu_forward_eval(ref, &s, x_dense, g, b, rm, rv, want_relu);
    const struct {
        const char *name;
        const bl_kernels *k;
    } variants[] = {{"ref", ref}, {"cpu", cpu}, {"portable", portable_backend()}};
    for (int threads = 1; threads <= 2; threads++) {
        bl_threads_set(threads);
        for (int v = 0; v < 3; v++) {
            memset(got, 0xff, (size_t)dense * sizeof(float));
            variants[v].k->batchnorm2d_forward_eval(variants[v].k, &strided, x_wide, g, b, rm, rv, got);
            CHECK(memcmp(got, want, (size_t)dense * sizeof(float)) == 0,
                  "%s batchnorm eval, strided samples (%d threads) = dense on the compacted prefix", variants[v].name,
                  threads);
            memset(got, 0xff, (size_t)dense * sizeof(float));
            variants[v].k->batchnorm2d_relu_forward_eval(variants[v].k, &strided, x_wide, g, b, rm, rv, got);
            CHECK(memcmp(got, want_relu, (size_t)dense * sizeof(float)) == 0,
                  "%s batchnorm + ReLU eval, strided samples (%d threads) = dense on the compacted prefix",
                  variants[v].name, threads);
        }
    }
    free(x_wide), free(x_dense), free(g), free(b), free(rm), free(rv), free(want), free(want_relu), free(got);
}

static void op_level(void) {
    bl_ctx *ctx = NULL;
    CHECK(bl_ctx_create(bl_kernels_cpu(), &ctx) == BL_OK, "ctx");
    int c = 6, xs[4] = {2, 6, 9, 7};
    bl_tensor *g = bl_param(ctx, "g", 1, &c), *b = bl_param(ctx, "b", 1, &c);
    bl_tensor *rm = bl_buffer(ctx, "rm", 1, &c), *rv = bl_buffer(ctx, "rv", 1, &c);
    test_fill_uniform(g->data, c, 5, 1, 0.5f, 1.5f), test_fill_uniform(b->data, c, 5, 2, -0.5f, 0.5f);
    test_fill_uniform(rm->data, c, 5, 3, -0.2f, 0.2f), test_fill_uniform(rv->data, c, 5, 4, 0.5f, 1.5f);
    float xv[2 * 6 * 9 * 7];
    test_fill_uniform(xv, 2 * 6 * 9 * 7, 5, 5, -2, 2);
    bl_set_training(ctx, 0);
    bl_set_grad_enabled(ctx, 0);
    bl_tensor *x = bl_tensor_from(ctx, 4, xs, xv);
    bl_tensor *fused = bl_batchnorm2d_relu(ctx, x, g, b, rm, rv, 1e-5f, 0.1f);
    bl_tensor *plain = bl_relu(ctx, bl_batchnorm2d(ctx, x, g, b, rm, rv, 1e-5f, 0.1f));
    CHECK(fused && plain && memcmp(fused->data, plain->data, sizeof xv) == 0, "op: fused = unfused (eval, no grad)");
    float fused_copy[2 * 6 * 9 * 7];
    if (fused) memcpy(fused_copy, fused->data, sizeof fused_copy);
    bl_step_end(ctx);

    /* with gradients wanted it must be the recorded composition: backward reaches x */
    bl_set_grad_enabled(ctx, 1);
    x = bl_tensor_from(ctx, 4, xs, xv);
    bl_requires_grad(x);
    bl_tensor *y = bl_batchnorm2d_relu(ctx, x, g, b, rm, rv, 1e-5f, 0.1f);
    CHECK(y && memcmp(y->data, fused_copy, sizeof xv) == 0, "op with grad: same values");
    CHECK(bl_backward(ctx, bl_sum(ctx, y)) == BL_OK, "backward through the fallback: %s", bl_ctx_error(ctx));
    int nonzero = 0;
    for (int i = 0; x->grad && i < 2 * 6 * 9 * 7; i++) nonzero += x->grad->data[i] != 0.0f;
    CHECK(x->grad && nonzero > 0, "op with grad: x received a gradient (%d nonzero)", nonzero);
    bl_step_end(ctx);

    /* a shape error still gets the batchnorm op's message */
    bl_set_grad_enabled(ctx, 0);
    int bad = 5;
    bl_tensor *wrong = bl_buffer(ctx, "wrong", 1, &bad);
    CHECK(bl_batchnorm2d_relu(ctx, bl_tensor_from(ctx, 4, xs, xv), g, b, wrong, rv, 1e-5f, 0.1f) == NULL &&
              strstr(bl_ctx_error(ctx), "running_mean") != NULL,
          "shape error names the tensor: %s", bl_ctx_error(ctx));
    bl_ctx_free(ctx);
}

/* DenseNet's block buffer ops (core/op_fused.h): copying parts into a buffer is the concatenation, and eval
 * batchnorm + ReLU of a prefix of its channels is bl_batchnorm2d_relu of that prefix — bit for bit, on ref and cpu;
 * bad shapes and wanted gradients are refused with a message and nothing written. */
static void block_buffer_ops(const bl_kernels *k, const char *backend) {
    bl_ctx *ctx = NULL;
    CHECK(bl_ctx_create(k, &ctx) == BL_OK, "ctx");
    int as[4] = {2, 4, 9, 7}, bs[4] = {2, 2, 9, 7}, all[4] = {2, 6, 9, 7}, c4 = 4, c6 = 6;
    float av[2 * 4 * 63], bv[2 * 2 * 63], p[4][6];
    test_fill_uniform(av, 2 * 4 * 63, 6, 1, -2, 2), test_fill_uniform(bv, 2 * 2 * 63, 6, 2, -2, 2);
    for (int i = 0; i < 4; i++) test_fill_uniform(p[i], 6, 6, 3 + (uint64_t)i, i == 3 ? 0.5f : -1.0f, 1.5f);
    bl_set_training(ctx, 0);
    bl_set_grad_enabled(ctx, 0);
    bl_tensor *a = bl_tensor_from(ctx, 4, as, av), *b = bl_tensor_from(ctx, 4, bs, bv);
    bl_tensor *parts[2] = {a, b};
    bl_tensor *concat = bl_concat_channels(ctx, 2, parts);
    bl_tensor *buf = bl_tensor_new(ctx, 4, all);
    if (buf) test_fill_uniform(buf->data, buf->numel, 6, 9, -9, 9); /* garbage: every element must be written */
    CHECK(bl_copy_channels(ctx, buf, 0, a) == BL_OK && bl_copy_channels(ctx, buf, 4, b) == BL_OK,
          "%s: copy_channels: %s", backend, bl_ctx_error(ctx));
    CHECK(concat && buf && memcmp(concat->data, buf->data, sizeof av + sizeof bv) == 0,
          "%s: parts copied into the buffer = their concatenation", backend);
    for (int prefix = 4; prefix <= 6; prefix += 2) {
        bl_tensor *prm[4];
        for (int i = 0; i < 4; i++) prm[i] = bl_tensor_from(ctx, 1, prefix == 4 ? &c4 : &c6, p[i]);
        bl_tensor *want = bl_batchnorm2d_relu(ctx, prefix == 4 ? a : concat, prm[0], prm[1], prm[2], prm[3], 1e-5f,
                                              0.1f);
        bl_tensor *got = bl_batchnorm2d_relu_channels(ctx, buf, prefix, prm[0], prm[1], prm[2], prm[3], 1e-5f);
        CHECK(want && got && got->shape[1] == prefix && memcmp(want->data, got->data,
                                                                   (size_t)want->numel * sizeof(float)) == 0,
              "%s: batchnorm + ReLU of the first %d channels = bl_batchnorm2d_relu of them: %s", backend, prefix,
              bl_ctx_error(ctx));
    }
    /* refusals */
    bl_tensor *prm4[4];
    for (int i = 0; i < 4; i++) prm4[i] = bl_tensor_from(ctx, 1, &c4, p[i]);
    CHECK(bl_batchnorm2d_relu_channels(ctx, buf, 7, prm4[0], prm4[1], prm4[2], prm4[3], 1e-5f) == NULL &&
              strstr(bl_ctx_error(ctx), "1 ≤ c ≤ C") != NULL,
          "%s: a prefix longer than the buffer is refused: %s", backend, bl_ctx_error(ctx));
    bl_step_end(ctx);
    bl_ctx_free(ctx), ctx = NULL;
    CHECK(bl_ctx_create(k, &ctx) == BL_OK, "ctx");
    bl_set_training(ctx, 0);
    bl_set_grad_enabled(ctx, 0);
    buf = bl_tensor_new(ctx, 4, all), a = bl_tensor_from(ctx, 4, as, av);
    for (int i = 0; i < 4; i++) prm4[i] = bl_tensor_from(ctx, 1, &c4, p[i]);
    CHECK(bl_batchnorm2d_relu_channels(ctx, buf, 5, prm4[0], prm4[1], prm4[2], prm4[3], 1e-5f) == NULL &&
              strstr(bl_ctx_error(ctx), "parameter 1") != NULL,
          "%s: parameters of the wrong length are refused: %s", backend, bl_ctx_error(ctx));
    bl_ctx_free(ctx), ctx = NULL;
    CHECK(bl_ctx_create(k, &ctx) == BL_OK, "ctx");
    buf = bl_tensor_new(ctx, 4, all), a = bl_tensor_from(ctx, 4, as, av);
    CHECK(bl_copy_channels(ctx, buf, 3, a) != BL_OK && strstr(bl_ctx_error(ctx), "copy_channels") != NULL,
          "%s: a part that does not fit is refused: %s", backend, bl_ctx_error(ctx));
    bl_ctx_free(ctx), ctx = NULL;
    CHECK(bl_ctx_create(k, &ctx) == BL_OK, "ctx");
    bl_set_grad_enabled(ctx, 1);
    buf = bl_tensor_new(ctx, 4, all), a = bl_tensor_from(ctx, 4, as, av);
    bl_requires_grad(a);
    CHECK(bl_copy_channels(ctx, buf, 0, a) != BL_OK && strstr(bl_ctx_error(ctx), "inference only") != NULL,
          "%s: copy_channels with a gradient wanted is refused: %s", backend, bl_ctx_error(ctx));
    bl_ctx_free(ctx);
}

static void count_hook(void *user, const char *path, const bl_tensor *t) {
    (void)path, (void)t;
    (*(int *)user)++;
}

/* Two fresh contexts (so each step arena's high-water mark is its own): one forward without a hook (fused
 * batchnorm + ReLU, no-grad scopes) and one with a hook (unfused, nothing rewound). */
static void model_level(bl_arch arch, const char *name) {
    int xs[4] = {2, 3, 64, 64}, hooked = 0;
    float *xv = malloc(2 * 3 * 64 * 64 * sizeof(float)), logits[2][4096] = {{0}};
    bl_head head = arch == BL_ARCH_VGG16 ? BL_HEAD_NONE : BL_HEAD_IMAGENET; /* VGG's ImageNet head needs 224k */
    int64_t out_numel = arch == BL_ARCH_VGG16 ? 2 * 512 * 2 * 2 : 2000;
    test_fill_uniform(xv, 2 * 3 * 64 * 64, 9, 0, -1, 1);
    size_t peak[2] = {0, 0}, left[2] = {0, 0};
    for (int with_hook = 0; with_hook <= 1; with_hook++) {
        bl_ctx *ctx = NULL;
        bl_model *m = NULL;
        CHECK(bl_ctx_create(bl_kernels_cpu(), &ctx) == BL_OK, "ctx");
        CHECK(bl_model_create(ctx, arch, head, &m) == BL_OK, "%s: create", name);
        if (!m) {
            bl_ctx_free(ctx);
            break;
        }
        bl_model_fill_deterministic(m, 3);
        bl_set_training(ctx, 0);
        bl_set_grad_enabled(ctx, 0);
        bl_run run = {.ctx = ctx, .bn_mode = BL_BN_RUNNING, .hook = with_hook ? count_hook : NULL,
                      .hook_user = &hooked};
        bl_tensor *y = bl_model_forward(m, &run, bl_tensor_from(ctx, 4, xs, xv));
        CHECK(y && y->numel == out_numel, "%s: forward: %s", name, bl_ctx_error(ctx));
        if (y && y->numel == out_numel) memcpy(logits[with_hook], y->data, (size_t)out_numel * sizeof(float));
        peak[with_hook] = bl_ctx_step_arena(ctx)->high_water;
        left[with_hook] = bl_ctx_step_arena(ctx)->used;
        bl_step_end(ctx);
        bl_model_free(m);
        bl_ctx_free(ctx);
    }
    CHECK(hooked > 0, "%s: the hooked run reported modules", name);
    CHECK(memcmp(logits[0], logits[1], sizeof logits[0]) == 0, "%s: fused logits = unfused logits, bit for bit", name);
    CHECK(left[0] < left[1] / 2 && peak[0] < peak[1], "%s: the fused, scoped run keeps less memory (%zu vs %zu bytes "
          "at the end, high-water %zu vs %zu)", name, left[0], left[1], peak[0], peak[1]);
    printf("  %s: step arena at the end %zu bytes fused+scoped, %zu plain; high-water %zu vs %zu\n", name, left[0],
           left[1], peak[0], peak[1]);
    free(xv);
}

/* ReLU passes a NaN on, as PyTorch's relu does (docs/numerics.md "NaN"): on ref, on cpu (SIMD lanes and the scalar
 * tail, every ISA) and through the fused batchnorm + ReLU; and the gradient at a NaN is 0, as torch's (x > 0). */
static void nan_semantics(void) {
    const float in[9] = {NAN, -NAN, 1.5f, -1.5f, 0.0f, -0.0f, INFINITY, -INFINITY, NAN};
    const bl_kernels *backends[3] = {bl_kernels_ref(), bl_kernels_cpu(), portable_backend()};
    const char *names[3] = {"ref", "cpu", "portable cpu"};
    for (int b = 0; b < 3; b++) {
        if (!backends[b]) continue;
        float y[9], dx[9] = {0}, dy[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
        backends[b]->relu_forward(backends[b], 9, in, y); /* 8 in SIMD lanes, the last in the scalar tail */
        int ok = isnan(y[0]) && isnan(y[1]) && y[2] == 1.5f && y[3] == 0.0f && y[4] == 0.0f && y[5] == 0.0f &&
                 !signbit(y[5]) && y[6] == INFINITY && y[7] == 0.0f && isnan(y[8]);
        CHECK(ok, "%s: relu(NaN) = NaN, relu(-0) = +0, relu(±inf) = inf, 0", names[b]);
        backends[b]->relu_backward(backends[b], 9, in, dy, dx);
        CHECK(dx[0] == 0 && dx[1] == 0 && dx[8] == 0 && dx[2] == 1 && dx[6] == 1 && dx[4] == 0,
              "%s: the gradient at a NaN is 0 (x > 0 is false), at 1.5 and inf it is dy", names[b]);
        bl_batchnorm2d_shape s = {.n = 1, .c = 1, .h = 3, .w = 3, .eps = 1e-5f, .momentum = 0.1f};
        const float one = 1.0f, zero = 0.0f;
        float fused[9];
        backends[b]->batchnorm2d_relu_forward_eval(backends[b], &s, in, &one, &zero, &zero, &one, fused);
        CHECK(isnan(fused[0]) && isnan(fused[8]) && fused[3] == 0.0f && fused[2] > 0,
              "%s: the fused batchnorm + ReLU passes a NaN on too", names[b]);
    }
}

int main(void) {
    nan_semantics();
    kernel_level();
    strided_samples();
    op_level();
    block_buffer_ops(bl_kernels_ref(), "ref");
    block_buffer_ops(bl_kernels_cpu(), "cpu");
    bl_threads_set(2);
    model_level(BL_ARCH_RESNET50, "resnet50");
    model_level(BL_ARCH_DENSENET121, "densenet121");
    model_level(BL_ARCH_VGG16, "vgg16");
    bl_threads_shutdown();
    bl_kernels_cpu_free(portable_cpu);
    return test_summary("test_fused_cpu");
}
