/* unet.c — U-Net for per-pixel classification (unet.h, docs/segmentation.md). */
#include "models/unet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tensor_host.h"
#include "models/models.h"

#define BN_EPS 1e-5f

static const char *const CONFIG_KEYS[4] = {"in_channels", "classes", "depth", "width"};

static int config_field(const bl_unet_config *c, int i) {
    return i == 0 ? c->in_channels : i == 1 ? c->classes : i == 2 ? c->depth : c->width;
}

static bl_status check_config(const bl_unet_config *c) {
    if (c->in_channels != 1 && c->in_channels != 3)
        return bl_fail(BL_ERR_INVALID, "unet: in_channels %d: expected 1 or 3", c->in_channels);
    if (c->classes < 2 || c->classes > BL_CLASS_LOSS_MAX_CLASSES)
        return bl_fail(BL_ERR_INVALID, "unet: classes %d: expected 2 … %d", c->classes, BL_CLASS_LOSS_MAX_CLASSES);
    if (c->depth < 1 || c->depth > BL_UNET_MAX_DEPTH)
        return bl_fail(BL_ERR_INVALID, "unet: depth %d: expected 1 … %d", c->depth, BL_UNET_MAX_DEPTH);
    if (c->width < 1 || (int64_t)c->width << c->depth > 4096)
        return bl_fail(BL_ERR_INVALID, "unet: width %d: expected 1 … %d at depth %d (width·2^depth ≤ 4096)", c->width,
                       4096 >> c->depth, c->depth);
    return BL_OK;
}

static void block_init(bl_ctx *ctx, bl_unet_block *b, const char *path, int c_in, int c_out) {
    char name[BL_MODULE_PATH_MAX];
    snprintf(name, sizeof name, "%s.conv1", path);
    bl_conv2d_layer_init(ctx, &b->conv1, name, c_in, c_out, 3, 3, 1, 1, 0);
    snprintf(name, sizeof name, "%s.bn1", path);
    bl_batchnorm2d_layer_init(ctx, &b->bn1, name, c_out, BN_EPS);
    snprintf(name, sizeof name, "%s.conv2", path);
    bl_conv2d_layer_init(ctx, &b->conv2, name, c_out, c_out, 3, 3, 1, 1, 0);
    snprintf(name, sizeof name, "%s.bn2", path);
    bl_batchnorm2d_layer_init(ctx, &b->bn2, name, c_out, BN_EPS);
}

bl_status bl_unet_create(bl_ctx *ctx, const bl_unet_config *config, bl_unet **out) {
    *out = NULL;
    bl_status st = check_config(config);
    if (st) return st;
    bl_unet *m = calloc(1, sizeof *m);
    if (!m) return bl_fail(BL_ERR_NOMEM, "unet: out of memory");
    m->ctx = ctx;
    m->config = *config;
    int first = bl_param_count(ctx), depth = config->depth, width = config->width;
    char path[BL_MODULE_PATH_MAX];
    /* state_dict order of the PyTorch twin: down.0 … down.depth, then up.0 … up.depth−1 (upconv, conv1, bn1, …),
     * then head */
    for (int i = 0; i <= depth; i++) {
        snprintf(path, sizeof path, "down.%d", i);
        block_init(ctx, &m->down[i], path, i == 0 ? config->in_channels : width << (i - 1), width << i);
    }
    for (int i = 0; i < depth; i++) {
        snprintf(path, sizeof path, "up.%d.upconv", i);
        bl_conv_transpose2d_layer_init(ctx, &m->upconv[i], path, width << (i + 1), width << i, 2, 2, 1);
        snprintf(path, sizeof path, "up.%d", i);
        block_init(ctx, &m->up[i], path, 2 * (width << i), width << i);
    }
    bl_conv2d_layer_init(ctx, &m->head, "head", width, config->classes, 1, 1, 1, 0, 1);
    st = bl_ctx_status(ctx);
    m->tensor_count = bl_param_count(ctx) - first;
    m->tensors = st ? NULL : malloc(sizeof *m->tensors * (size_t)m->tensor_count);
    if (!st && !m->tensors) st = bl_fail(BL_ERR_NOMEM, "unet: out of memory");
    for (int i = 0; !st && i < m->tensor_count; i++) m->tensors[i] = bl_param_at(ctx, first + i);
    if (st) {
        bl_unet_free(m);
        return st;
    }
    *out = m;
    return BL_OK;
}

void bl_unet_free(bl_unet *m) {
    if (!m) return;
    free(m->tensors);
    free(m);
}

int64_t bl_unet_parameter_count(const bl_unet *m) {
    int64_t count = 0;
    for (int i = 0; i < m->tensor_count; i++)
        if (m->tensors[i]->requires_grad) count += m->tensors[i]->numel;
    return count;
}

int bl_unet_size_multiple(const bl_unet *m) { return 1 << m->config.depth; }

bl_status bl_unet_init_random(bl_unet *m, uint64_t seed) {
    return bl_tensors_init_default(m->ctx, m->tensor_count, m->tensors, seed);
}

bl_status bl_unet_fill_deterministic(bl_unet *m, uint64_t seed) {
    bl_status st = bl_ctx_status(m->ctx);
    for (int i = 0; !st && i < m->tensor_count; i++) st = bl_tensor_fill_deterministic(m->ctx, m->tensors[i], seed);
    return st;
}

/* conv-BN-ReLU twice; the ReLUs reported as "<path>.relu1" / ".relu2", the block's output as "<path>" */
static bl_tensor *block_forward(const bl_run *run, const bl_unet_block *b, const char *path, bl_tensor *x) {
    char relu[BL_MODULE_PATH_MAX + 8];
    snprintf(relu, sizeof relu, "%s.relu1", path);
    x = bl_batchnorm2d_relu_layer_forward(run, &b->bn1, relu, bl_conv2d_layer_forward(run, &b->conv1, x));
    snprintf(relu, sizeof relu, "%s.relu2", path);
    x = bl_batchnorm2d_relu_layer_forward(run, &b->bn2, relu, bl_conv2d_layer_forward(run, &b->conv2, x));
    return bl_run_emit(run, path, x);
}

bl_tensor *bl_unet_forward(const bl_unet *m, const bl_run *run, bl_tensor *x) {
    if (run->ctx != m->ctx) return bl_ctx_fail(run->ctx, BL_ERR_INVALID, "unet: run context differs from the model's");
    if (!x) return bl_ctx_fail(m->ctx, BL_ERR_INVALID, "unet: input: NULL tensor");
    int multiple = bl_unet_size_multiple(m), depth = m->config.depth;
    if (x->ndim != 4 || x->shape[1] != m->config.in_channels || x->shape[2] % multiple || x->shape[3] % multiple) {
        char sx[64];
        return bl_ctx_fail(m->ctx, BL_ERR_INVALID,
                           "unet: input %s: expected [N,%d,H,W] with H and W multiples of %d (depth %d)",
                           bl_shape_str(x, sx, sizeof sx), m->config.in_channels, multiple, depth);
    }
    bl_tensor *skip[BL_UNET_MAX_DEPTH];
    char path[BL_MODULE_PATH_MAX];
    bl_tensor *h = x;
    for (int i = 0; i < depth; i++) {
        snprintf(path, sizeof path, "down.%d", i);
        skip[i] = block_forward(run, &m->down[i], path, h);
        snprintf(path, sizeof path, "pool.%d", i);
        h = bl_maxpool2d_module(run, path, skip[i], 2, 2, 0);
    }
    snprintf(path, sizeof path, "down.%d", depth);
    h = block_forward(run, &m->down[depth], path, h);
    for (int i = depth - 1; i >= 0; i--) {
        bl_tensor *parts[2] = {skip[i], bl_conv_transpose2d_layer_forward(run, &m->upconv[i], h)};
        snprintf(path, sizeof path, "up.%d", i);
        h = block_forward(run, &m->up[i], path, bl_concat_channels(run->ctx, 2, parts));
    }
    return bl_conv2d_layer_forward(run, &m->head, h);
}

bl_status bl_unet_write_to(const bl_unet *m, bl_st_writer *w, bl_host_copies *copies) {
    bl_status st = bl_st_writer_add_metadata(w, "arch", "unet");
    for (int i = 0; !st && i < 4; i++) {
        char value[16];
        snprintf(value, sizeof value, "%d", config_field(&m->config, i));
        st = bl_st_writer_add_metadata(w, CONFIG_KEYS[i], value);
    }
    for (int i = 0; !st && i < m->tensor_count; i++)
        st = bl_st_writer_add_tensor(w, m->tensors[i]->name, m->ctx, m->tensors[i], copies);
    return st;
}

bl_status bl_unet_save(const bl_unet *m, const char *path, int n_meta, const char *const *keys,
                       const char *const *values) {
    bl_st_writer *w = NULL;
    bl_host_copies copies = {0};
    bl_status st = bl_st_writer_create(&w);
    if (!st) st = bl_unet_write_to(m, w, &copies);
    for (int i = 0; !st && i < n_meta; i++) st = bl_st_writer_add_metadata(w, keys[i], values[i]);
    if (!st) st = bl_st_writer_save(w, path);
    bl_st_writer_free(w);
    bl_host_copies_free(&copies);
    return st;
}

bl_status bl_unet_config_of(const bl_safetensors *st, bl_unet_config *config) {
    const char *path = bl_safetensors_path(st), *arch = bl_safetensors_metadata(st, "arch");
    if (!arch || strcmp(arch, "unet") != 0)
        return bl_fail(BL_ERR_FORMAT, "%s: __metadata__.arch: expected \"unet\", got %s%s%s", path, arch ? "\"" : "",
                       arch ? arch : "none", arch ? "\"" : "");
    int fields[4];
    for (int i = 0; i < 4; i++) {
        const char *text = bl_safetensors_metadata(st, CONFIG_KEYS[i]);
        char *end = NULL;
        long v = text ? strtol(text, &end, 10) : 0;
        if (!text || end == text || *end || v < 0 || v > 1 << 20)
            return bl_fail(BL_ERR_FORMAT, "%s: __metadata__.%s: expected an integer, got %s", path, CONFIG_KEYS[i],
                           text ? text : "none");
        fields[i] = (int)v;
    }
    *config = (bl_unet_config){.in_channels = fields[0], .classes = fields[1], .depth = fields[2], .width = fields[3]};
    bl_status s = check_config(config);
    return s ? bl_fail(s, "%s: __metadata__: %s", path, bl_last_error()) : BL_OK;
}

static int is_model_name(const bl_unet *m, const char *name) {
    for (int i = 0; i < m->tensor_count; i++)
        if (strcmp(m->tensors[i]->name, name) == 0) return 1;
    return 0;
}

bl_status bl_unet_load(bl_unet *m, const bl_safetensors *st) {
    const char *path = bl_safetensors_path(st);
    const char *arch = bl_safetensors_metadata(st, "arch");
    if (arch && strcmp(arch, "unet") != 0)
        return bl_fail(BL_ERR_FORMAT, "%s: __metadata__.arch: expected \"unet\", got \"%s\"", path, arch);
    for (int i = 0; i < 4; i++) {
        const char *text = bl_safetensors_metadata(st, CONFIG_KEYS[i]);
        char want[16];
        snprintf(want, sizeof want, "%d", config_field(&m->config, i));
        if (text && strcmp(text, want) != 0)
            return bl_fail(BL_ERR_FORMAT, "%s: __metadata__.%s: the model has %s, the file %s", path, CONFIG_KEYS[i],
                           want, text);
    }
    for (int i = 0; i < m->tensor_count; i++) {
        bl_status status = bl_check_expected_tensor(st, m->tensors[i], "unet");
        if (status) return status;
    }
    for (int i = 0; i < bl_safetensors_count(st); i++) {
        const char *name = bl_safetensors_entry(st, i)->name;
        size_t n = strlen(name), k = strlen(".num_batches_tracked");
        if (is_model_name(m, name) || strncmp(name, "optim.", 6) == 0 ||
            (n > k && strcmp(name + n - k, ".num_batches_tracked") == 0))
            continue;
        return bl_fail(BL_ERR_FORMAT, "%s: '%s': unexpected tensor (not a parameter or buffer of this unet)", path,
                       name);
    }
    for (int i = 0; i < m->tensor_count; i++) {
        bl_status s = bl_tensor_read_safetensors(m->ctx, m->tensors[i], st, m->tensors[i]->name);
        if (s) return s;
    }
    return BL_OK;
}
