/* pregnancy.h — the clinical-pregnancy model: a backbone (models.h, BL_HEAD_NONE) and a one-logit head that sees
 * the image features and the mother's age (paper-method.md §4):
 *
 *   x [N,3,S,S] → backbone → feature map [N,F,h,w] → global average pool [N,F]
 *   age_z [N] (age z-scored with the training fold's mean and SD; missing age → 0, i.e. the mean)
 *   concat → [N,F+1] → linear(F+1 → 1) → logit [N,1];   probability = sigmoid(logit)
 *
 * The concatenation is done with the ops the engine has: reshape to [N,F,1,1] and [N,1,1,1], bl_concat_channels,
 * bl_flatten. Head parameters: "head.fc.weight" [1,F+1] (column F multiplies the age), "head.fc.bias" [1];
 * backbone parameters keep torchvision's names, so a converted ImageNet file loads into the backbone directly. */
#ifndef BLASTO_PREGNANCY_H
#define BLASTO_PREGNANCY_H

#include <stdint.h>

#include "models/models.h"

typedef struct bl_pregnancy_model {
    bl_model *backbone; /* BL_HEAD_NONE */
    bl_arch arch;
    int features;       /* F = bl_arch_feature_channels(arch) */
    bl_tensor *fc_weight, *fc_bias;
} bl_pregnancy_model;

/* Registers the backbone then the head in ctx (so the head's tensors come last in the context's registry). */
bl_status bl_pregnancy_create(bl_ctx *ctx, bl_arch arch, bl_pregnancy_model **out);
void bl_pregnancy_free(bl_pregnancy_model *m);

/* Every tensor of the model (backbone in state_dict order, then head.fc.weight, head.fc.bias). */
int bl_pregnancy_tensor_count(const bl_pregnancy_model *m);
bl_tensor *bl_pregnancy_tensor_at(const bl_pregnancy_model *m, int i);

/* torch-default-like random initialisation of every tensor (bl_tensors_init_default, models.h). */
bl_status bl_pregnancy_init_random(bl_pregnancy_model *m, uint64_t seed);

/* ImageNet weights into the backbone: every backbone tensor must be present with its exact shape (float dtype);
 * the ImageNet classifier ("fc.*", "classifier.*") and "*.num_batches_tracked" are skipped; any other extra
 * name, or a metadata "arch" different from the model's, is an error naming the file and tensor. The head keeps
 * its values. Nothing is modified unless everything validates. */
bl_status bl_pregnancy_load_backbone(bl_pregnancy_model *m, const bl_safetensors *st);

/* A pregnancy checkpoint (tools/study/train.h) into the whole model: every backbone and head tensor present with its
 * exact shape; names starting with "optim." (optimizer state) are skipped; any other extra name, or a metadata
 * "arch" different from the model's, is an error. Nothing is modified unless everything validates. */
bl_status bl_pregnancy_load(bl_pregnancy_model *m, const bl_safetensors *st);

/* x [N,3,S,S], age_z [N,1,1,1] (step tensors) → logits [N,1]. */
bl_tensor *bl_pregnancy_forward(const bl_pregnancy_model *m, const bl_run *run, bl_tensor *x, bl_tensor *age_z);

#endif
