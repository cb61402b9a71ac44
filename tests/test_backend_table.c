/* test_backend_table.c — the op table's own contract (core/kernels.h, core/kernels.c): every built-in backend fills
 * every required slot, and a backend that leaves one empty cannot create a context — the error names the slot.
 *
 * The fake backend is ref's table renamed "fake" with one slot cleared at a time, for every slot of the table:
 * required ones must make bl_ctx_create fail with "fake backend: slot <name> missing", optional ones must not. */
#include <string.h>

#include "core/autograd.h"
#include "core/kernels.h"
#include "harness.h"
#include "support/guard_backend.h"

/* ref's table named "fake" with slot i's pointer cleared */
static bl_kernels without_slot(int i) {
    bl_kernels fake = *bl_kernels_ref();
    fake.name = "fake";
    memset((char *)&fake + bl_kernel_slot_at(i)->offset, 0, sizeof(void (*)(void)));
    return fake;
}

int main(void) {
    const int n = bl_kernel_slot_count();
    CHECK(n >= 40, "the table lists %d slots", n);
    int optional = 0;
    for (int i = 0; i < n; i++) {
        const bl_kernel_slot *slot = bl_kernel_slot_at(i);
        bl_kernels fake = without_slot(i);
        CHECK(!bl_kernels_has(&fake, i), "slot %s is cleared in the fake table", slot->name);
        bl_ctx *ctx = NULL;
        bl_status s = bl_ctx_create(&fake, &ctx);
        if (slot->optional) {
            optional++;
            CHECK(s == BL_OK && ctx, "optional slot %s empty: bl_ctx_create fails: %s", slot->name, bl_last_error());
        } else {
            char want[96];
            snprintf(want, sizeof want, "fake backend: slot %s missing", slot->name);
            CHECK(s == BL_ERR_INVALID && !ctx && strcmp(bl_last_error(), want) == 0,
                  "required slot %s empty: expected \"%s\", got status %d \"%s\"", slot->name, want, (int)s,
                  bl_last_error());
        }
        bl_ctx_free(ctx);
    }
    CHECK(optional == 6, "6 optional slots (conv2d_forward_nograd, batchnorm2d_relu_forward_eval, "
                         "batchnorm2d_moments, batchnorm2d_backward_dx, relu_backward_inplace, take_error), got %d",
          optional);
    CHECK(bl_kernel_slot_at(-1) == NULL && bl_kernel_slot_at(n) == NULL, "slot lookup out of range gives NULL");

    /* every built-in backend, and the guard, is complete — including the optional slots they implement */
    const bl_kernels *backends[] = {bl_kernels_ref(), bl_kernels_cpu(), guard_kernels()};
    for (size_t b = 0; b < sizeof backends / sizeof backends[0]; b++) {
        CHECK(bl_kernels_check(backends[b]) == BL_OK, "%s: %s", backends[b]->name, bl_last_error());
        int empty = 0;
        for (int i = 0; i < n; i++) empty += !bl_kernels_has(backends[b], i);
        CHECK(empty <= (strcmp(backends[b]->name, "cpu") == 0 ? 1 : 2), "%s leaves %d slots empty", backends[b]->name,
              empty);
    }
    bl_kernels unnamed = without_slot(0);
    unnamed.name = NULL;
    CHECK(bl_kernels_check(&unnamed) != BL_OK && strstr(bl_last_error(), "(unnamed) backend: slot sgemm missing"),
          "an unnamed backend is called (unnamed): %s", bl_last_error());
    return test_summary("test_backend_table");
}
