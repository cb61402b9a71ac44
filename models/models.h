/* models.h — the architecture registry: VGG16, ResNet50 (torchvision v1.5 and Keras v1), DenseNet121.
 *
 * bl_model_create() registers every parameter and buffer in the context under torchvision's state_dict key, in
 * state_dict order, so a model's parameters ARE a state_dict (minus `num_batches_tracked`, which blasto does not
 * keep and which loading accepts and ignores). With BL_HEAD_IMAGENET the forward returns the ImageNet logits
 * [N,1000]; with BL_HEAD_NONE it returns the final feature map (VGG16: features output [N,512,H/32,W/32];
 * ResNet50: layer4 output [N,2048,…]; DenseNet121: relu(norm5) [N,1024,…]) and the classifier is not created.
 *
 * Variants: "resnet50" is torchvision's v1.5 (stride on the 3×3 conv); "resnet50-keras" is Keras applications'
 * v1 (stride on the first 1×1 conv and on the shortcut, conv biases, BN eps 1.001e-5) under torchvision-style keys
 * (docs/weights.md gives the Keras → blasto name map). Their tensor shapes differ only by the conv biases, so the
 * variant is part of the architecture name and of checkpoint metadata. */
#ifndef BLASTO_MODELS_H
#define BLASTO_MODELS_H

#include <stdint.h>

#include "core/safetensors.h"
#include "layers/layers.h"

typedef enum bl_arch {
    BL_ARCH_VGG16 = 0,
    BL_ARCH_RESNET50 = 1,
    BL_ARCH_RESNET50_KERAS = 2,
    BL_ARCH_DENSENET121 = 3,
    BL_ARCH_COUNT
} bl_arch;

typedef enum bl_head { BL_HEAD_IMAGENET = 0, BL_HEAD_NONE = 1 } bl_head;

/* "vgg16", "resnet50", "resnet50-keras", "densenet121" */
const char *bl_arch_name(bl_arch arch);
bl_status bl_arch_from_name(const char *name, bl_arch *out); /* error lists the valid names */
/* Channels of the backbone's final feature map (512, 2048, 2048, 1024). */
int bl_arch_feature_channels(bl_arch arch);

typedef struct bl_model bl_model;

bl_status bl_model_create(bl_ctx *ctx, bl_arch arch, bl_head head, bl_model **out);
void bl_model_free(bl_model *m);
bl_arch bl_model_arch(const bl_model *m);
bl_head bl_model_head(const bl_model *m);
bl_ctx *bl_model_ctx(const bl_model *m);
/* Trainable parameter count (ResNet50 25,557,032; VGG16 138,357,544; DenseNet121 7,978,856 with the head). */
int64_t bl_model_parameter_count(const bl_model *m);
/* Parameters and buffers of this model in state_dict order (indices into the context's registry). */
int bl_model_tensor_count(const bl_model *m);
bl_tensor *bl_model_tensor_at(const bl_model *m, int i);

/* x [N,3,H,W] (normalised) → logits [N,1000] or the feature map. `run` supplies the BN mode and the activation
 * hook; run->ctx must be the model's context. */
bl_tensor *bl_model_forward(const bl_model *m, const bl_run *run, bl_tensor *x);
/* The module path whose output Grad-CAM uses by default: resnet "layer4", vgg16 "features.29" (the last ReLU,
 * before the final max-pool), densenet121 "features.relu5" (relu of norm5). */
const char *bl_model_gradcam_layer(const bl_model *m);

/* Load every tensor of the model from a safetensors file: each expected name present exactly once with the exact
 * shape and a float dtype (F32, or F16/BF16/F64 converted); `*.num_batches_tracked` entries are ignored; any other
 * extra name is an error (message names the file and the tensor); `__metadata__` "arch", when present, must equal
 * this model's arch name. Nothing is modified unless everything validates. */
bl_status bl_model_load(bl_model *m, const bl_safetensors *st);
/* The loader's per-tensor check, shared with other loaders (models/pregnancy.c): `t->name` present in st, a float
 * dtype, exactly t's shape, and for a `*.running_var` values that a variance can have (bl_check_variances); the
 * message names the file, the tensor and `owner` (e.g. the arch name). */
bl_status bl_check_expected_tensor(const bl_safetensors *st, const bl_tensor *t, const char *owner);
/* A batchnorm running variance read from a file must be finite and >= 0 (a negative one makes 1/sqrt(var + eps)
 * NaN, which a ReLU then hides): BL_ERR_NUMERIC "<file>: '<name>': element K is V (expected a variance: finite and
 * >= 0)". Every model loader (through bl_check_expected_tensor) and the converter check every `*.running_var`. */
bl_status bl_check_variances(const bl_safetensors *st, const char *name, int64_t numel);
/* Write every tensor of the model (state_dict order) plus __metadata__ arch/variant and the given extra key/value
 * pairs (may be NULL) atomically. */
bl_status bl_model_save(const bl_model *m, const char *path, int n_meta, const char *const *keys,
                        const char *const *values);

/* Deterministic weights for whole-model tests without 100 MB fixtures: every tensor named `name` is filled from the
 * counter RNG stream (seed, BL_RNG_INIT, fnv1a64(name)) with u = bl_rng_uniform:
 *   conv / linear weight (ndim ≥ 2): (2u − 1)·sqrt(6/fan_in)   (He-uniform; keeps activations O(1) through depth)
 *   BN weight: 0.5 + u;  BN running_var: 0.5 + u;  BN running_mean and every bias: 0.2·(u − 0.5)
 * The Python twin is in tests/golden/gen_models.py. Values are uploaded through the context's backend; a backend
 * error is returned (and is the context's sticky error). */
bl_status bl_model_fill_deterministic(bl_model *m, uint64_t seed);
/* The same fill for one tensor (any model's: the U-Net uses it too) */
bl_status bl_tensor_fill_deterministic(bl_ctx *ctx, bl_tensor *t, uint64_t seed);
uint64_t bl_fnv1a64(const char *s);

/* torch-default-like random initialisation of a model's tensors (in state_dict order) with our counter RNG
 * (core/init.h), tensor i from stream (seed, BL_RNG_INIT, i): conv / linear / transposed-conv weights
 * U(±1/√fan_in), a bias U(±1/√fan_in) of its layer's weight, BN weight 1, bias 0, running_mean 0, running_var 1. */
bl_status bl_tensors_init_default(bl_ctx *ctx, int count, bl_tensor *const *tensors, uint64_t seed);

#endif
