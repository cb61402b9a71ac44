/* A program outside the blasto tree that finds an installed blasto with find_package(blasto) and links the engine
 * alone, blasto::blasto (tests/run_install_test.sh). */
#include <stdio.h>

#include "core/autograd.h"

int main(void) {
    bl_ctx *ctx = NULL;
    if (bl_ctx_create(bl_kernels_cpu(), &ctx) != BL_OK) return 1;
    int shape[1] = {3};
    float values[3] = {-1.0f, 2.0f, 3.0f};
    bl_tensor *y = bl_sum(ctx, bl_relu(ctx, bl_tensor_from(ctx, 1, shape, values)));
    int ok = y && y->data[0] == 5.0f;
    printf("installed blasto: sum(relu([-1,2,3])) = %g\n", y ? y->data[0] : -1.0);
    bl_ctx_free(ctx);
    return ok ? 0 : 1;
}
