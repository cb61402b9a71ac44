/* weights_map.c — name mapping and architecture guessing for `blasto convert` (see weights_map.h for the rules).
 * Nothing here touches tensor data; it is string work over at most a few thousand names. */
#include "weights_map.h"

#include <stdio.h>
#include <string.h>

const char *wm_source_name(wm_source source) {
    switch (source) {
    case WM_SOURCE_TORCHVISION: return "torchvision";
    case WM_SOURCE_TIMM: return "timm";
    case WM_SOURCE_KERAS: return "keras";
    }
    return "?";
}

bl_status wm_source_from_name(const char *name, wm_source *out) {
    for (int s = WM_SOURCE_TORCHVISION; s <= WM_SOURCE_KERAS; s++)
        if (name && strcmp(name, wm_source_name((wm_source)s)) == 0) {
            *out = (wm_source)s;
            return BL_OK;
        }
    return bl_fail(BL_ERR_INVALID, "--from: unknown source (expected torchvision, timm or keras, got '%s')",
                   name ? name : "(none)");
}

const char *wm_rule_name(wm_rule rule) {
    switch (rule) {
    case WM_RULE_SAME: return "same name";
    case WM_RULE_DENSENET_OLD_KEY: return "densenet old key";
    case WM_RULE_TIMM_VGG_HEAD: return "timm vgg head";
    case WM_RULE_DROP_BN_COUNTER: return "dropped";
    }
    return "?";
}

static int ends_with(const char *s, size_t len, const char *suffix) {
    size_t k = strlen(suffix);
    return len >= k && memcmp(s + len - k, suffix, k) == 0;
}

/* Position of the dot to delete if `name` matches torchvision's DenseNet old-key regex
 *   ^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$
 * (the dot between group 1 and group 2), else −1. Everything after `.*` is anchored at the end, so the match is
 * checked right to left: tensor kind, ".1"/".2", ".norm|relu|conv", digits, "denselayer". */
static long densenet_old_key_dot(const char *name) {
    static const char *const kinds[] = {"weight", "bias", "running_mean", "running_var"};
    const char *last_dot = strrchr(name, '.');
    if (!last_dot) return -1;
    size_t kind_at = (size_t)(last_dot - name) + 1;
    int kind_ok = 0;
    for (int i = 0; i < 4; i++) kind_ok |= strcmp(name + kind_at, kinds[i]) == 0;
    if (!kind_ok || kind_at < 3) return -1;
    size_t index_dot = kind_at - 3; /* "<module>.<1|2>.<kind>": name[kind_at-2] is 1|2, name[kind_at-3] the dot */
    if ((name[kind_at - 2] != '1' && name[kind_at - 2] != '2') || name[index_dot] != '.') return -1;
    /* name[0, index_dot) must end with "denselayer<digits>.<norm|relu|conv>" */
    if (!(ends_with(name, index_dot, ".norm") || ends_with(name, index_dot, ".relu") ||
          ends_with(name, index_dot, ".conv")))
        return -1;
    size_t digits_end = index_dot - 5, digits_begin = digits_end;
    while (digits_begin > 0 && name[digits_begin - 1] >= '0' && name[digits_begin - 1] <= '9') digits_begin--;
    if (digits_begin == digits_end || !ends_with(name, digits_begin, "denselayer")) return -1;
    return (long)index_dot;
}

/* timm's VGG head → torchvision's classifier indices (timm/models/vgg.py `_filter_fn`, in reverse). */
static const struct {
    const char *timm_prefix, *torchvision_prefix;
} timm_vgg_head[] = {
    {"pre_logits.fc1.", "classifier.0."},
    {"pre_logits.fc2.", "classifier.3."},
    {"head.fc.", "classifier.6."},
};

bl_status wm_map_name(wm_source source, const char *source_name, wm_mapping *out) {
    size_t len = strlen(source_name);
    memset(out, 0, sizeof *out);
    if (len + 1 > sizeof out->name)
        return bl_fail(BL_ERR_FORMAT, "%.64s…: tensor name too long (expected at most %d bytes, got %zu)", source_name,
                       WM_NAME_MAX - 1, len);
    memcpy(out->name, source_name, len + 1);
    out->rule = WM_RULE_SAME;
    if (ends_with(source_name, len, ".num_batches_tracked") || strcmp(source_name, "num_batches_tracked") == 0) {
        out->name[0] = '\0';
        out->rule = WM_RULE_DROP_BN_COUNTER;
        return BL_OK;
    }
    if (source == WM_SOURCE_TIMM) {
        for (size_t i = 0; i < sizeof timm_vgg_head / sizeof timm_vgg_head[0]; i++) {
            size_t k = strlen(timm_vgg_head[i].timm_prefix);
            if (strncmp(source_name, timm_vgg_head[i].timm_prefix, k) != 0) continue;
            snprintf(out->name, sizeof out->name, "%s%s", timm_vgg_head[i].torchvision_prefix, source_name + k);
            out->rule = WM_RULE_TIMM_VGG_HEAD;
            out->flatten = strcmp(source_name + k, "weight") == 0 && i < 2; /* fc1, fc2 are convolutions */
            return BL_OK;
        }
    }
    long dot = densenet_old_key_dot(source_name);
    if (dot >= 0) {
        memmove(out->name + dot, out->name + dot + 1, len - (size_t)dot); /* moves the terminating NUL too */
        out->rule = WM_RULE_DENSENET_OLD_KEY;
    }
    return BL_OK;
}

void wm_mapped_shape(const wm_mapping *m, int ndim, const int64_t *shape, int *out_ndim, int64_t *out_shape) {
    if (!m->flatten || ndim < 2) {
        *out_ndim = ndim;
        for (int i = 0; i < ndim; i++) out_shape[i] = shape[i];
        return;
    }
    int64_t rest = 1;
    for (int i = 1; i < ndim; i++) rest *= shape[i];
    *out_ndim = 2;
    out_shape[0] = shape[0];
    out_shape[1] = rest;
}

const char *wm_shape_str(int ndim, const int64_t *shape, char *buf, size_t size) {
    size_t used = 0;
    if (size == 0) return buf;
    buf[0] = '\0';
    used += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (used < size) snprintf(buf + used, size - used, "]");
    return buf;
}

uint64_t wm_fnv1a64_bytes(uint64_t hash, const void *bytes, size_t size) {
    const unsigned char *p = bytes;
    for (size_t i = 0; i < size; i++) {
        hash ^= p[i];
        hash *= 0x100000001b3ull;
    }
    return hash;
}

/* ---- architecture guessing ---------------------------------------------------------------------------------- */

static const wm_tensor *find_tensor(int count, const wm_tensor *tensors, const char *name) {
    for (int i = 0; i < count; i++)
        if (strcmp(tensors[i].name, name) == 0) return &tensors[i];
    return NULL;
}

/* Reads a decimal number at *p (advancing it); −1 when there is none. */
static long read_number(const char **p) {
    if (**p < '0' || **p > '9') return -1;
    long v = 0;
    while (**p >= '0' && **p <= '9' && v < 100000) v = v * 10 + (*(*p)++ - '0');
    return v;
}

/* Number of blocks per stage: for names "<before><stage><between><index>.", blocks[stage-1] = 1 + largest index
 * (stages 1..max_stages). Used for "layer<L>.<i>." (ResNet) and "features.denseblock<b>.denselayer<m>." (DenseNet,
 * whose layers count from 1: pass one_based). */
static void count_blocks(int count, const wm_tensor *tensors, const char *before, const char *between, int one_based,
                         int max_stages, int *blocks) {
    size_t before_len = strlen(before), between_len = strlen(between);
    for (int s = 0; s < max_stages; s++) blocks[s] = 0;
    for (int i = 0; i < count; i++) {
        const char *p = tensors[i].name;
        if (strncmp(p, before, before_len) != 0) continue;
        p += before_len;
        long stage = read_number(&p);
        if (stage < 1 || stage > max_stages || strncmp(p, between, between_len) != 0) continue;
        p += between_len;
        long index = read_number(&p);
        if (index < 0 || *p != '.') continue;
        int n = (int)(one_based ? index : index + 1);
        if (n > blocks[stage - 1]) blocks[stage - 1] = n;
    }
}

static int blocks_equal(const int *blocks, int a, int b, int c, int d) {
    return blocks[0] == a && blocks[1] == b && blocks[2] == c && blocks[3] == d;
}

static void guess_densenet(int count, const wm_tensor *tensors, wm_guess *g) {
    int blocks[4];
    count_blocks(count, tensors, "features.denseblock", ".denselayer", 1, 4, blocks);
    const wm_tensor *conv2 = find_tensor(count, tensors, "features.denseblock1.denselayer1.conv2.weight");
    long growth = conv2 && conv2->ndim == 4 ? (long)conv2->shape[0] : -1;
    const char *name = "densenet";
    if (growth == 32 && blocks_equal(blocks, 6, 12, 24, 16)) name = "densenet121";
    else if (growth == 32 && blocks_equal(blocks, 6, 12, 32, 32)) name = "densenet169";
    else if (growth == 32 && blocks_equal(blocks, 6, 12, 48, 32)) name = "densenet201";
    else if (growth == 48 && blocks_equal(blocks, 6, 12, 36, 24)) name = "densenet161";
    g->family = BL_ARCH_DENSENET121;
    g->known = strcmp(name, "densenet121") == 0;
    g->arch = BL_ARCH_DENSENET121;
    snprintf(g->description, sizeof g->description, "%s (dense blocks %d/%d/%d/%d, growth %ld)", name, blocks[0],
             blocks[1], blocks[2], blocks[3], growth);
}

static void guess_resnet(int count, const wm_tensor *tensors, wm_guess *g) {
    int blocks[4];
    count_blocks(count, tensors, "layer", ".", 0, 4, blocks);
    int bottleneck = find_tensor(count, tensors, "layer1.0.conv3.weight") != NULL;
    int conv_bias = find_tensor(count, tensors, "layer1.0.conv1.bias") != NULL ||
                    find_tensor(count, tensors, "conv1.bias") != NULL;
    const wm_tensor *conv2 = find_tensor(count, tensors, "layer1.0.conv2.weight");
    int standard_width = conv2 && conv2->ndim == 4 && conv2->shape[0] == 64 && conv2->shape[1] == 64;
    const char *name = "resnet";
    if (bottleneck && blocks_equal(blocks, 3, 4, 6, 3)) {
        if (standard_width) name = "resnet50";
        else if (conv2 && conv2->ndim == 4 && conv2->shape[1] != conv2->shape[0]) name = "resnext50 (grouped 3×3)";
        else name = "wide_resnet50 (wider 3×3)";
    } else if (bottleneck && blocks_equal(blocks, 3, 4, 23, 3)) name = "resnet101";
    else if (bottleneck && blocks_equal(blocks, 3, 8, 36, 3)) name = "resnet152";
    else if (!bottleneck && blocks_equal(blocks, 2, 2, 2, 2)) name = "resnet18";
    else if (!bottleneck && blocks_equal(blocks, 3, 4, 6, 3)) name = "resnet34";
    g->family = BL_ARCH_RESNET50;
    g->known = strcmp(name, "resnet50") == 0;
    g->arch = conv_bias ? BL_ARCH_RESNET50_KERAS : BL_ARCH_RESNET50;
    if (g->known)
        snprintf(g->description, sizeof g->description, "%s (%s: bottleneck blocks 3/4/6/3, %s)",
                 conv_bias ? "resnet50-keras" : "resnet50", conv_bias ? "Keras v1" : "torchvision v1.5",
                 conv_bias ? "convolutions with bias" : "convolutions without bias");
    else
        snprintf(g->description, sizeof g->description, "%s (%s blocks %d/%d/%d/%d)", name,
                 bottleneck ? "bottleneck" : "basic", blocks[0], blocks[1], blocks[2], blocks[3]);
}

static void guess_vgg(int count, const wm_tensor *tensors, wm_guess *g) {
    int convs = 0;
    for (int i = 0; i < count; i++) {
        const char *p = tensors[i].name;
        if (strncmp(p, "features.", 9) != 0 || tensors[i].ndim != 4) continue;
        p += 9;
        if (read_number(&p) >= 0 && strcmp(p, ".weight") == 0) convs++;
    }
    int batch_norm = find_tensor(count, tensors, "features.1.running_mean") != NULL;
    const char *name = convs == 8 ? "vgg11" : convs == 10 ? "vgg13" : convs == 13 ? "vgg16" : convs == 16 ? "vgg19"
                                                                                                         : "vgg";
    g->family = BL_ARCH_VGG16;
    g->known = convs == 13 && !batch_norm;
    g->arch = BL_ARCH_VGG16;
    snprintf(g->description, sizeof g->description, "%s%s (%d convolutions%s)", name, batch_norm ? "_bn" : "", convs,
             batch_norm ? ", with batch norm" : "");
}

void wm_guess_arch(int count, const wm_tensor *tensors, wm_guess *out) {
    memset(out, 0, sizeof *out);
    out->family = -1;
    for (int i = 0; i < count; i++) {
        if (strncmp(tensors[i].name, "features.denseblock", 19) == 0) {
            guess_densenet(count, tensors, out);
            return;
        }
    }
    if (find_tensor(count, tensors, "layer1.0.conv1.weight")) {
        guess_resnet(count, tensors, out);
        return;
    }
    const wm_tensor *first = find_tensor(count, tensors, "features.0.weight");
    if (first && first->ndim == 4) {
        guess_vgg(count, tensors, out);
        return;
    }
    snprintf(out->description, sizeof out->description,
             "no known architecture (none of layer1.0.conv1.weight, features.denseblock1.*, features.0.weight)");
}
