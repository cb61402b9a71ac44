/* weights_map.h — how tensor names of other checkpoints become blasto's, and what architecture a set of names
 * looks like. Pure string logic over names and shapes (no tensors, no files): `blasto convert` (cmd_convert.c)
 * uses it, tests/test_weights_bad.c tests it directly.
 *
 * blasto's names ARE torchvision's state_dict keys (models/models.h), so a torchvision file needs only two rules:
 *   - DenseNet's published checkpoint (densenet121-a639ec97.pth) keeps the old keys `…denselayerN.norm.1.weight`;
 *     torchvision renames them when loading with the regex
 *         ^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$
 *     → group 1 + group 2, i.e. the dot between `norm|relu|conv` and `1|2` is removed (`norm.1` → `norm1`).
 *     Only those four tensor kinds are renamed: `norm.1.num_batches_tracked` stays as it is (and is dropped).
 *   - `*.num_batches_tracked` (an int64 step counter of BatchNorm) is not a blasto tensor: dropped.
 * timm (huggingface/pytorch-image-models) uses torchvision's names for resnet50 and densenet121; its VGG has a
 * different head (timm/models/vgg.py, `_filter_fn` and `ConvMlp`), mapped back here:
 *     pre_logits.fc1.{weight,bias}  [4096,512,7,7]  → classifier.0  (weight flattened to [4096,25088])
 *     pre_logits.fc2.{weight,bias}  [4096,4096,1,1] → classifier.3  (weight flattened to [4096,4096])
 *     head.fc.{weight,bias}         [1000,4096]     → classifier.6
 * Flattening [O,C,kh,kw] → [O,C·kh·kw] keeps the bytes: a 7×7 convolution over a 7×7 map is the linear layer over
 * the C-order (c, y, x) flattening, which is exactly torchvision's `torch.flatten(x, 1)` order.
 * The `keras` source is a file written by tools/export_keras_h5.py, whose names are already blasto's. */
#ifndef BLASTO_TOOLS_WEIGHTS_MAP_H
#define BLASTO_TOOLS_WEIGHTS_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "core/tensor.h"
#include "models/models.h"

#define WM_NAME_MAX 256

typedef enum wm_source { WM_SOURCE_TORCHVISION = 0, WM_SOURCE_TIMM = 1, WM_SOURCE_KERAS = 2 } wm_source;

const char *wm_source_name(wm_source source); /* "torchvision", "timm", "keras" */
/* Parses a --from value; the error lists the valid names. */
bl_status wm_source_from_name(const char *name, wm_source *out);

/* What happens to one source tensor. */
typedef enum wm_rule {
    WM_RULE_SAME = 0,          /* kept under its own name */
    WM_RULE_DENSENET_OLD_KEY,  /* `norm.1` → `norm1` etc. */
    WM_RULE_TIMM_VGG_HEAD,     /* pre_logits.fc1/fc2, head.fc → classifier.0/3/6 */
    WM_RULE_DROP_BN_COUNTER,   /* `*.num_batches_tracked`: not kept */
} wm_rule;

const char *wm_rule_name(wm_rule rule); /* "same name", "densenet old key", "timm vgg head", "dropped" */

typedef struct wm_mapping {
    char name[WM_NAME_MAX]; /* blasto's name (empty when dropped) */
    wm_rule rule;
    int flatten;            /* 1: a conv-shaped linear weight [O,C,kh,kw] stored by blasto as [O,C·kh·kw] */
} wm_mapping;

/* Map one source name. Fails only when the name is too long (message names it). */
bl_status wm_map_name(wm_source source, const char *source_name, wm_mapping *out);

/* The shape a source tensor has once mapped: `flatten` folds dims 1.. into one. shape/out: [BL_MAX_DIMS]. */
void wm_mapped_shape(const wm_mapping *m, int ndim, const int64_t *shape, int *out_ndim, int64_t *out_shape);

/* A tensor name and shape after mapping (input of wm_guess_arch). */
typedef struct wm_tensor {
    const char *name;
    int ndim;
    int64_t shape[BL_MAX_DIMS];
} wm_tensor;

/* What a set of (mapped) names looks like.
 *   known = 1: it is one of blasto's architectures (`arch`); e.g. "resnet50 (torchvision v1.5: bottleneck
 *              blocks 3/4/6/3, convolutions without bias)".
 *   known = 0: `description` says what it looks like instead ("resnet101 (bottleneck blocks 3/4/23/3)",
 *              "vgg16_bn (VGG with batch norm)", "densenet169 (dense blocks 6/12/32/32)") or
 *              "no known architecture" when nothing matched. `family` is set when the family is recognisable
 *              (e.g. a resnet101 file: family BL_ARCH_RESNET50), else −1. */
typedef struct wm_guess {
    int known;
    bl_arch arch;
    int family;
    char description[192];
} wm_guess;

void wm_guess_arch(int count, const wm_tensor *tensors, wm_guess *out);

/* Format a shape as "[4096,512,7,7]" into buf; returns buf. */
const char *wm_shape_str(int ndim, const int64_t *shape, char *buf, size_t size);

/* FNV-1a 64 over raw bytes, continuing from `hash` (start with WM_FNV1A64_INIT). */
#define WM_FNV1A64_INIT 0xcbf29ce484222325ull
uint64_t wm_fnv1a64_bytes(uint64_t hash, const void *bytes, size_t size);

#endif
