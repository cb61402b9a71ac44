/* unet.h — U-Net (Ronneberger et al. 2015) for per-pixel classification: blastocyst images into background, inner
 * cell mass and trophectoderm (docs/segmentation.md).
 *
 *   level i = 0 … depth−1 (down):  down.i = conv3×3-BN-ReLU, conv3×3-BN-ReLU  (C_i = width·2^i channels)
 *                                   then max-pool 2×2 (the skip is down.i's output)
 *   bottom:                         down.depth, the same double convolution (C_depth channels)
 *   level i = depth−1 … 0 (up):     up.i.upconv = transposed conv 2×2 stride 2 (C_{i+1} → C_i, with bias),
 *                                   concatenated after the skip [skip_i, up] → up.i's double convolution (2·C_i → C_i)
 *   head:                           conv 1×1 (C_0 → classes, with bias) → logits [N, classes, H, W]
 *
 * Convolutions before a BN have no bias; BN eps 1e-5, momentum 0.1 (torch's defaults). H and W must be multiples
 * of 2^depth. Parameters are registered in state_dict order under the names of the PyTorch twin in
 * tests/golden/gen_models.py (`down.0.conv1.weight`, `down.0.bn1.running_var`, `up.0.upconv.bias`, `head.weight`,
 * …), so a checkpoint is a state_dict of that module. */
#ifndef BLASTO_UNET_H
#define BLASTO_UNET_H

#include <stdint.h>

#include "core/safetensors.h"
#include "core/tensor_host.h"
#include "layers/layers.h"

#define BL_UNET_MAX_DEPTH 6

typedef struct bl_unet_config {
    int in_channels; /* 1 (grey) or 3 */
    int classes;     /* ≥ 2: background, ICM, TE for the blastocyst study */
    int depth;       /* pooling steps, 1 … BL_UNET_MAX_DEPTH */
    int width;       /* channels of level 0; level i has width·2^i */
} bl_unet_config;

/* One double convolution: conv1 bn1 relu conv2 bn2 relu */
typedef struct bl_unet_block {
    bl_conv2d_layer conv1, conv2;
    bl_batchnorm2d_layer bn1, bn2;
} bl_unet_block;

typedef struct bl_unet {
    bl_ctx *ctx;
    bl_unet_config config;
    bl_unet_block down[BL_UNET_MAX_DEPTH + 1];
    bl_conv_transpose2d_layer upconv[BL_UNET_MAX_DEPTH];
    bl_unet_block up[BL_UNET_MAX_DEPTH];
    bl_conv2d_layer head;
    bl_tensor **tensors; /* every parameter and buffer, in state_dict order */
    int tensor_count;
} bl_unet;

/* Checks the config (a one-line error naming the field) and registers the parameters in ctx. */
bl_status bl_unet_create(bl_ctx *ctx, const bl_unet_config *config, bl_unet **out);
void bl_unet_free(bl_unet *m);
int64_t bl_unet_parameter_count(const bl_unet *m);
/* H and W an input must be a multiple of (2^depth) */
int bl_unet_size_multiple(const bl_unet *m);

/* torch-like random initialisation (bl_tensors_init_default) / the deterministic test fill (models.h) */
bl_status bl_unet_init_random(bl_unet *m, uint64_t seed);
bl_status bl_unet_fill_deterministic(bl_unet *m, uint64_t seed);

/* x [N, in_channels, H, W] → logits [N, classes, H, W]. Module outputs are reported to run's hook under
 * "down.<i>", "upconv.<i>", "up.<i>", "head". */
bl_tensor *bl_unet_forward(const bl_unet *m, const bl_run *run, bl_tensor *x);

/* A U-Net checkpoint: every tensor, plus __metadata__ arch "unet" and the config (in_channels, classes, depth,
 * width) and the given extra pairs; written atomically. */
bl_status bl_unet_save(const bl_unet *m, const char *path, int n_meta, const char *const *keys,
                       const char *const *values);
/* The model's tensors and its arch/config metadata into a writer the caller saves (checkpoints that add more);
 * copies holds the host copies until then (core/tensor_host.h). */
bl_status bl_unet_write_to(const bl_unet *m, bl_st_writer *w, bl_host_copies *copies);
/* The config a checkpoint was saved with (its __metadata__), checked: arch "unet" and the four fields present. */
bl_status bl_unet_config_of(const bl_safetensors *st, bl_unet_config *config);
/* Every tensor of the model from st with its exact shape; names starting with "optim." are skipped, any other
 * extra name is an error naming the file and tensor; the metadata config, when present, must equal the model's.
 * Nothing is modified unless everything validates. */
bl_status bl_unet_load(bl_unet *m, const bl_safetensors *st);

#endif
