/* test_no_alloc.c — after the first forward, inference allocates nothing (docs/architecture.md, "Memory model"): a
 * program ported to a small machine runs in the memory its first batch took, with no allocator in the loop.
 *
 * Linked with --wrap for malloc, calloc, realloc, posix_memalign and aligned_alloc (tests/CMakeLists.txt), so every
 * call from blasto's static library (and from this file) goes through a counter. For VGG16, ResNet50 and
 * DenseNet121 at batch 1 on the cpu backend (2 threads; evaluation mode, no gradients): one forward to warm up
 * (the arenas grow to the step's size, the scratch buffers to the largest layer's), then 3 more forwards, each
 * followed by bl_step_end: the counter must not move during those. The same loop with a larger batch after the
 * warm-up must allocate (the counter can see allocations). */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/autograd.h"
#include "core/kernels.h"
#include "harness.h"
#include "models/models.h"

static atomic_int counting;
static atomic_long allocations;

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
int __real_posix_memalign(void **p, size_t alignment, size_t size);
void *__real_aligned_alloc(size_t alignment, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
int __wrap_posix_memalign(void **p, size_t alignment, size_t size);
void *__wrap_aligned_alloc(size_t alignment, size_t size);

/* counted from any thread (the pool's workers too) */
static void count(void) {
    if (atomic_load(&counting)) atomic_fetch_add(&allocations, 1);
}
void *__wrap_malloc(size_t size) { return count(), __real_malloc(size); }
void *__wrap_calloc(size_t n, size_t size) { return count(), __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t size) { return count(), __real_realloc(p, size); }
int __wrap_posix_memalign(void **p, size_t alignment, size_t size) {
    return count(), __real_posix_memalign(p, alignment, size);
}
void *__wrap_aligned_alloc(size_t alignment, size_t size) { return count(), __real_aligned_alloc(alignment, size); }

/* allocations during `rounds` forwards of batch n at size×size (each followed by bl_step_end) */
static long forwards(bl_ctx *ctx, bl_model *m, int n, int size, int rounds, const float *x) {
    int shape[4] = {n, 3, size, size};
    bl_run run = {.ctx = ctx, .bn_mode = BL_BN_FOLLOW_CONTEXT};
    long before = atomic_load(&allocations);
    atomic_store(&counting, 1);
    for (int r = 0; r < rounds; r++) {
        bl_tensor *y = bl_model_forward(m, &run, bl_tensor_from(ctx, 4, shape, x));
        if (!y) break;
        bl_step_end(ctx);
    }
    atomic_store(&counting, 0);
    return atomic_load(&allocations) - before;
}

int main(void) {
    static const bl_arch archs[3] = {BL_ARCH_VGG16, BL_ARCH_RESNET50, BL_ARCH_DENSENET121};
    static const int sizes[3] = {224, 64, 64};
    size_t most = (size_t)2 * 3 * 224 * 224;
    float *x = malloc(sizeof(float) * most);
    for (size_t i = 0; i < most; i++) x[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    for (int a = 0; a < 3; a++) {
        const char *name = bl_arch_name(archs[a]);
        bl_ctx *ctx = NULL;
        bl_model *m = NULL;
        CHECK(bl_ctx_create(bl_kernels_cpu(), &ctx) == BL_OK && bl_model_create(ctx, archs[a], BL_HEAD_IMAGENET, &m) ==
                  BL_OK && bl_model_fill_deterministic(m, 7) == BL_OK,
              "%s: model", name);
        if (!m) continue;
        bl_set_training(ctx, 0);
        bl_set_grad_enabled(ctx, 0);
        long warm = forwards(ctx, m, 1, sizes[a], 1, x);
        long later = forwards(ctx, m, 1, sizes[a], 3, x);
        CHECK(bl_ctx_status(ctx) == BL_OK, "%s: forwards ran: %s", name, bl_ctx_error(ctx));
        CHECK(later == 0, "%s at batch 1, %d×%d: 0 allocations in 3 forwards after the first (got %ld; the first "
              "made %ld)", name, sizes[a], sizes[a], later, warm);
        printf("%s %dx%d batch 1: first forward %ld allocations, the next 3: %ld\n", name, sizes[a], sizes[a], warm,
               later);
        long bigger = forwards(ctx, m, 2, sizes[a], 1, x);
        CHECK(bigger > 0, "%s: a larger batch after the warm-up grows the arenas (%ld allocations): the counter sees "
              "them", name, bigger);
        bl_model_free(m);
        bl_ctx_free(ctx);
    }
    free(x);
    return test_summary("test_no_alloc");
}
