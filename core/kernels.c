/* kernels.c — the op table's list of slots and the check that a backend filled every required one (kernels.h).
 *
 * SLOTS names every function-pointer member of bl_kernels once, in table order, with whether it is optional. The
 * static assertion below counts the members: a slot added to bl_kernels and not listed here does not compile. */
#include "core/kernels.h"

#include <string.h>

#define REQUIRED(slot) {#slot, offsetof(bl_kernels, slot), 0}
#define OPTIONAL(slot) {#slot, offsetof(bl_kernels, slot), 1}

static const bl_kernel_slot SLOTS[] = {
    REQUIRED(sgemm),
    REQUIRED(conv2d_forward),
    REQUIRED(conv2d_backward_data),
    REQUIRED(conv2d_backward_filter),
    OPTIONAL(conv2d_forward_nograd),
    REQUIRED(bias_channels_forward),
    REQUIRED(bias_channels_backward),
    REQUIRED(batchnorm2d_forward_train),
    REQUIRED(batchnorm2d_forward_eval),
    REQUIRED(batchnorm2d_eval_stats),
    REQUIRED(batchnorm2d_backward),
    OPTIONAL(batchnorm2d_relu_forward_eval),
    OPTIONAL(batchnorm2d_moments),
    OPTIONAL(batchnorm2d_backward_dx),
    REQUIRED(maxpool2d_forward),
    REQUIRED(maxpool2d_backward),
    REQUIRED(avgpool2d_forward),
    REQUIRED(avgpool2d_backward),
    REQUIRED(global_avgpool_forward),
    REQUIRED(global_avgpool_backward),
    REQUIRED(upsample_bilinear2d_forward),
    REQUIRED(upsample_bilinear2d_backward),
    REQUIRED(linear_forward),
    REQUIRED(linear_backward),
    REQUIRED(relu_forward),
    REQUIRED(relu_backward),
    OPTIONAL(relu_backward_inplace),
    REQUIRED(sigmoid_forward),
    REQUIRED(sigmoid_backward),
    REQUIRED(add_forward),
    REQUIRED(axpy),
    REQUIRED(add_scalar),
    REQUIRED(dropout_mask),
    REQUIRED(mul_forward),
    REQUIRED(mul_backward),
    REQUIRED(concat_channels_forward),
    REQUIRED(concat_channels_backward),
    REQUIRED(sum_forward),
    REQUIRED(bce_with_logits_forward),
    REQUIRED(bce_with_logits_backward),
    REQUIRED(softmax_cross_entropy_forward),
    REQUIRED(softmax_cross_entropy_backward),
    REQUIRED(dice_loss_forward),
    REQUIRED(dice_loss_backward),
    REQUIRED(sgd_update),
    REQUIRED(adam_update),
    REQUIRED(mem_alloc),
    REQUIRED(mem_free),
    REQUIRED(upload),
    REQUIRED(download),
    REQUIRED(copy),
    REQUIRED(fill),
    OPTIONAL(take_error),
};

#define SLOT_COUNT ((int)(sizeof SLOTS / sizeof SLOTS[0]))

/* Every member after host_memory is a function pointer, and function pointers of every type have one size on every
 * platform blasto builds for (POSIX requires it), so the members after host_memory are exactly SLOT_COUNT wide. */
_Static_assert(SLOT_COUNT * sizeof(void (*)(void)) == sizeof(bl_kernels) - offsetof(bl_kernels, sgemm),
               "every function-pointer member of bl_kernels must be listed in SLOTS (core/kernels.c)");

int bl_kernel_slot_count(void) { return SLOT_COUNT; }

const bl_kernel_slot *bl_kernel_slot_at(int i) { return i >= 0 && i < SLOT_COUNT ? &SLOTS[i] : NULL; }

int bl_kernels_has(const bl_kernels *k, int i) {
    if (!k || i < 0 || i >= SLOT_COUNT) return 0;
    void (*fn)(void); /* the member's bytes, read as a generic function pointer: only compared with NULL */
    memcpy(&fn, (const char *)k + SLOTS[i].offset, sizeof fn);
    return fn != NULL;
}

bl_status bl_kernels_check(const bl_kernels *k) {
    if (!k) return bl_fail(BL_ERR_INVALID, "backend: no op table given");
    const char *name = k->name && *k->name ? k->name : "(unnamed)";
    for (int i = 0; i < SLOT_COUNT; i++)
        if (!SLOTS[i].optional && !bl_kernels_has(k, i))
            return bl_fail(BL_ERR_INVALID, "%s backend: slot %s missing", name, SLOTS[i].name);
    return BL_OK;
}
