/* infer_min.c — the smallest program that runs a blasto model: what a port to a restricted machine links.
 *
 *   infer_min ARCH [SIZE]      ARCH vgg16 | resnet50 | densenet121, SIZE the input side (default 224)
 *
 * Creates the cpu backend and the model with its ImageNet head, fills the weights deterministically (no file to
 * carry; a port loads its converted weights with bl_model_load instead), runs one batch-1 forward of a fixed
 * input in evaluation mode without gradients, and prints the arg-max class, its logit and the process's peak
 * resident memory. It uses the engine library only (no study code, no CLI); tools/port/measure.sh measures it
 * (docs/porting.md). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "core/autograd.h"
#include "core/kernels.h"
#include "models/models.h"

int main(int argc, char **argv) {
    bl_arch arch;
    int size = argc > 2 ? atoi(argv[2]) : 224;
    if (argc < 2 || bl_arch_from_name(argv[1], &arch) != BL_OK || size < 32 || size > 1024) {
        fprintf(stderr, "usage: infer_min vgg16|resnet50|densenet121 [SIZE 32…1024]\n");
        return 2;
    }
    bl_ctx *ctx = NULL;
    bl_model *m = NULL;
    float *x = malloc(sizeof(float) * 3 * (size_t)size * (size_t)size), logits[1000];
    bl_status st = x ? bl_ctx_create(bl_kernels_cpu(), &ctx) : BL_ERR_NOMEM;
    if (!st) st = bl_model_create(ctx, arch, BL_HEAD_IMAGENET, &m);
    if (!st) st = bl_model_fill_deterministic(m, 1);
    if (!st) {
        for (int i = 0; i < 3 * size * size; i++) x[i] = (float)(i % 251) / 125.0f - 1.0f;
        bl_set_training(ctx, 0);
        bl_set_grad_enabled(ctx, 0);
        int shape[4] = {1, 3, size, size};
        bl_run run = {.ctx = ctx, .bn_mode = BL_BN_FOLLOW_CONTEXT};
        bl_tensor *y = bl_model_forward(m, &run, bl_tensor_from(ctx, 4, shape, x));
        st = bl_ctx_status(ctx);
        if (!st) st = bl_tensor_download(ctx, y, logits);
    }
    if (st) {
        fprintf(stderr, "infer_min: %s\n", bl_last_error());
        return 1;
    }
    int best = 0;
    for (int i = 1; i < 1000; i++)
        if (logits[i] > logits[best]) best = i;
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    printf("%s %dx%d: class %d, logit %.6g, peak RSS %.1f MiB\n", argv[1], size, size, best, logits[best],
           u.ru_maxrss / 1024.0);
    bl_model_free(m);
    bl_ctx_free(ctx);
    free(x);
    return 0;
}
