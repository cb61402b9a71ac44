/* ops.c — the harness's list of ops (optest.h): one entry per file of tests/ops/, in the order of core/kernels.h. */
#include <string.h>

#include "ops/optest.h"

extern const optest_op optest_op_sgemm, optest_op_conv2d, optest_op_conv_transpose2d, optest_op_batchnorm2d,
    optest_op_maxpool2d, optest_op_avgpool2d, optest_op_global_avgpool, optest_op_upsample_bilinear2d,
    optest_op_linear, optest_op_relu, optest_op_sigmoid, optest_op_add, optest_op_dropout, optest_op_concat_channels,
    optest_op_reshape, optest_op_sum, optest_op_bce_with_logits, optest_op_softmax_cross_entropy, optest_op_dice_loss,
    optest_op_sgd, optest_op_adam;

static const optest_op *const OPS[] = {
    &optest_op_sgemm,
    &optest_op_conv2d,
    &optest_op_conv_transpose2d,
    &optest_op_batchnorm2d,
    &optest_op_maxpool2d,
    &optest_op_avgpool2d,
    &optest_op_global_avgpool,
    &optest_op_upsample_bilinear2d,
    &optest_op_linear,
    &optest_op_relu,
    &optest_op_sigmoid,
    &optest_op_add,
    &optest_op_dropout,
    &optest_op_concat_channels,
    &optest_op_reshape,
    &optest_op_sum,
    &optest_op_bce_with_logits,
    &optest_op_softmax_cross_entropy,
    &optest_op_dice_loss,
    &optest_op_sgd,
    &optest_op_adam,
};

int optest_op_count(void) { return (int)(sizeof OPS / sizeof OPS[0]); }

const optest_op *optest_op_at(int i) { return i >= 0 && i < optest_op_count() ? OPS[i] : NULL; }

const optest_op *optest_op_find(const char *name) {
    for (int i = 0; i < optest_op_count(); i++)
        if (strcmp(OPS[i]->name, name) == 0) return OPS[i];
    return NULL;
}
