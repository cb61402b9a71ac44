/* registry.c — architecture names, model creation, forward dispatch, loading/saving weights, deterministic fill. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/init.h"
#include "core/rng.h"
#include "core/tensor_host.h"
#include "models/model_internal.h"

static const char *const arch_names[BL_ARCH_COUNT] = {"vgg16", "resnet50", "resnet50-keras", "densenet121"};
/* recorded in checkpoint metadata so the v1/v1.5 trap cannot load silently */
static const char *const arch_variants[BL_ARCH_COUNT] = {"torchvision", "torchvision-v1.5", "keras-v1",
                                                         "torchvision"};

const char *bl_arch_name(bl_arch arch) { return (arch >= 0 && arch < BL_ARCH_COUNT) ? arch_names[arch] : "?"; }

bl_status bl_arch_from_name(const char *name, bl_arch *out) {
    for (int i = 0; i < BL_ARCH_COUNT; i++)
        if (name && strcmp(name, arch_names[i]) == 0) {
            *out = (bl_arch)i;
            return BL_OK;
        }
    return bl_fail(BL_ERR_INVALID, "arch: unknown architecture '%s' (expected vgg16, resnet50, resnet50-keras or "
                   "densenet121)", name ? name : "");
}

int bl_arch_feature_channels(bl_arch arch) {
    switch (arch) {
    case BL_ARCH_VGG16: return 512;
    case BL_ARCH_RESNET50:
    case BL_ARCH_RESNET50_KERAS: return 2048;
    case BL_ARCH_DENSENET121: return 1024;
    default: return 0;
    }
}

bl_status bl_model_create(bl_ctx *ctx, bl_arch arch, bl_head head, bl_model **out) {
    *out = NULL;
    if (arch < 0 || arch >= BL_ARCH_COUNT) return bl_fail(BL_ERR_INVALID, "model: arch: invalid value %d", (int)arch);
    if (bl_ctx_status(ctx)) return bl_fail(bl_ctx_status(ctx), "%s", bl_ctx_error(ctx));
    bl_model *m = calloc(1, sizeof *m);
    if (!m) return bl_fail(BL_ERR_NOMEM, "model %s: out of memory", arch_names[arch]);
    m->arch = arch;
    m->head = head;
    m->ctx = ctx;
    m->first_tensor = bl_param_count(ctx);
    bl_status st;
    switch (arch) {
    case BL_ARCH_VGG16: st = vgg16_build(m); break;
    case BL_ARCH_RESNET50: st = resnet50_build(m, 0); break;
    case BL_ARCH_RESNET50_KERAS: st = resnet50_build(m, 1); break;
    default: st = densenet121_build(m); break;
    }
    m->tensor_count = bl_param_count(ctx) - m->first_tensor;
    if (st) {
        st = bl_fail(st, "model %s: %s", arch_names[arch], bl_ctx_error(ctx));
        free(m);
        return st;
    }
    *out = m;
    return BL_OK;
}

void bl_model_free(bl_model *m) { free(m); }
bl_arch bl_model_arch(const bl_model *m) { return m->arch; }
bl_head bl_model_head(const bl_model *m) { return m->head; }
bl_ctx *bl_model_ctx(const bl_model *m) { return m->ctx; }
int bl_model_tensor_count(const bl_model *m) { return m->tensor_count; }
bl_tensor *bl_model_tensor_at(const bl_model *m, int i) {
    return (i >= 0 && i < m->tensor_count) ? bl_param_at(m->ctx, m->first_tensor + i) : NULL;
}

int64_t bl_model_parameter_count(const bl_model *m) {
    int64_t n = 0;
    for (int i = 0; i < m->tensor_count; i++) {
        const bl_tensor *t = bl_model_tensor_at(m, i);
        if (t->requires_grad) n += t->numel;
    }
    return n;
}

bl_tensor *bl_model_forward(const bl_model *m, const bl_run *run, bl_tensor *x) {
    if (run->ctx != m->ctx) return bl_ctx_fail(run->ctx, BL_ERR_INVALID, "model %s: run context differs from the "
                                               "model's context", arch_names[m->arch]);
    if (x && (x->ndim != 4 || x->shape[1] != 3)) {
        char sx[64];
        return bl_ctx_fail(m->ctx, BL_ERR_INVALID, "model %s: input %s: expected [N,3,H,W]", arch_names[m->arch],
                           bl_shape_str(x, sx, sizeof sx));
    }
    if (x && (x->shape[2] < 32 || x->shape[3] < 32))
        return bl_ctx_fail(m->ctx, BL_ERR_INVALID, "model %s: input %dx%d: expected at least 32x32 (five halvings)",
                           arch_names[m->arch], x->shape[2], x->shape[3]);
    switch (m->arch) {
    case BL_ARCH_VGG16: return vgg16_forward(m, run, x);
    case BL_ARCH_RESNET50:
    case BL_ARCH_RESNET50_KERAS: return resnet50_forward(m, run, x);
    default: return densenet121_forward(m, run, x);
    }
}

const char *bl_model_gradcam_layer(const bl_model *m) {
    switch (m->arch) {
    case BL_ARCH_VGG16: return "features.29";
    case BL_ARCH_RESNET50:
    case BL_ARCH_RESNET50_KERAS: return "layer4";
    default: return "features.relu5";
    }
}

/* ---- weights ------------------------------------------------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static const bl_tensor *model_find(const bl_model *m, const char *name) {
    for (int i = 0; i < m->tensor_count; i++) {
        const bl_tensor *t = bl_model_tensor_at(m, i);
        if (strcmp(t->name, name) == 0) return t;
    }
    return NULL;
}

static void shape_text(char *buf, size_t size, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && k < size; i++) k += (size_t)snprintf(buf + k, size - k, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (k < size) snprintf(buf + k, size - k, "]");
}

bl_status bl_check_variances(const bl_safetensors *st, const char *name, int64_t numel) {
    float *v = malloc((size_t)(numel > 0 ? numel : 1) * sizeof *v);
    if (!v) return bl_fail(BL_ERR_NOMEM, "%s: '%s': out of memory for %lld floats", bl_safetensors_path(st), name,
                           (long long)numel);
    bl_status s = bl_safetensors_read_f32(st, name, -1, NULL, numel, v);
    for (int64_t k = 0; !s && k < numel; k++)
        if (!(v[k] >= 0.0f) || isinf(v[k])) /* NaN fails the comparison */
            s = bl_fail(BL_ERR_NUMERIC, "%s: '%s': element %lld is %g (expected a variance: finite and >= 0)",
                        bl_safetensors_path(st), name, (long long)k, (double)v[k]);
    free(v);
    return s;
}

bl_status bl_check_expected_tensor(const bl_safetensors *st, const bl_tensor *t, const char *owner) {
    const char *path = bl_safetensors_path(st);
    const bl_st_entry *e = bl_safetensors_find(st, t->name);
    char want[96], got[96];
    int64_t want_shape[BL_MAX_DIMS];
    for (int d = 0; d < t->ndim; d++) want_shape[d] = t->shape[d];
    shape_text(want, sizeof want, t->ndim, want_shape);
    if (!e)
        return bl_fail(BL_ERR_FORMAT, "%s: '%s': missing tensor (expected shape %s for %s)", path, t->name, want, owner);
    if (e->dtype != BL_DTYPE_F32 && e->dtype != BL_DTYPE_F16 && e->dtype != BL_DTYPE_BF16 && e->dtype != BL_DTYPE_F64)
        return bl_fail(BL_ERR_FORMAT, "%s: '%s': dtype %s is not a float type (expected F32)", path, t->name,
                       bl_dtype_name(e->dtype));
    int same = e->ndim == t->ndim;
    for (int d = 0; same && d < t->ndim; d++) same = e->shape[d] == t->shape[d];
    if (!same) {
        shape_text(got, sizeof got, e->ndim, e->shape);
        return bl_fail(BL_ERR_FORMAT, "%s: '%s': shape mismatch (expected %s, got %s)", path, t->name, want, got);
    }
    return ends_with(t->name, ".running_var") ? bl_check_variances(st, t->name, t->numel) : BL_OK;
}

bl_status bl_model_load(bl_model *m, const bl_safetensors *st) {
    const char *path = bl_safetensors_path(st);
    const char *arch = bl_safetensors_metadata(st, "arch");
    if (arch && strcmp(arch, arch_names[m->arch]) != 0)
        return bl_fail(BL_ERR_FORMAT, "%s: __metadata__.arch: architecture mismatch (expected %s, got %s)", path,
                       arch_names[m->arch], arch);
    /* pass 1: validate everything before touching the model */
    for (int i = 0; i < m->tensor_count; i++) {
        bl_status status = bl_check_expected_tensor(st, bl_model_tensor_at(m, i), arch_names[m->arch]);
        if (status) return status;
    }
    for (int i = 0; i < bl_safetensors_count(st); i++) {
        const bl_st_entry *e = bl_safetensors_entry(st, i);
        if (ends_with(e->name, ".num_batches_tracked")) continue; /* torch's BN step counter: blasto keeps none */
        if (!model_find(m, e->name))
            return bl_fail(BL_ERR_FORMAT, "%s: '%s': unexpected tensor (not a parameter or buffer of %s%s)", path,
                           e->name, arch_names[m->arch], m->head == BL_HEAD_NONE ? " without its ImageNet head" : "");
    }
    /* pass 2: copy (conversions only; every check above already passed) */
    for (int i = 0; i < m->tensor_count; i++) {
        bl_tensor *t = bl_model_tensor_at(m, i);
        bl_status s = bl_tensor_read_safetensors(m->ctx, t, st, t->name);
        if (s) return s;
    }
    return BL_OK;
}

bl_status bl_model_save(const bl_model *m, const char *path, int n_meta, const char *const *keys,
                        const char *const *values) {
    bl_st_writer *w = NULL;
    bl_host_copies copies = {0};
    bl_status st = bl_st_writer_create(&w);
    if (!st) st = bl_st_writer_add_metadata(w, "arch", arch_names[m->arch]);
    if (!st) st = bl_st_writer_add_metadata(w, "variant", arch_variants[m->arch]);
    for (int i = 0; !st && i < n_meta; i++) st = bl_st_writer_add_metadata(w, keys[i], values[i]);
    for (int i = 0; !st && i < m->tensor_count; i++) {
        const bl_tensor *t = bl_model_tensor_at(m, i);
        st = bl_st_writer_add_tensor(w, t->name, m->ctx, t, &copies);
    }
    if (!st) st = bl_st_writer_save(w, path);
    bl_st_writer_free(w);
    bl_host_copies_free(&copies);
    return st;
}

/* ---- deterministic weights (the Python twin: tests/golden/gen_models.py) -------------------------------------- */

uint64_t bl_fnv1a64(const char *s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Values are generated on the host in blocks of BL_UPLOAD_BLOCK and uploaded block by block (any backend). */
bl_status bl_tensor_fill_deterministic(bl_ctx *ctx, bl_tensor *t, uint64_t seed) {
    float block[BL_UPLOAD_BLOCK];
    bl_status st = bl_ctx_status(ctx);
    bl_rng r = bl_rng_stream(seed, BL_RNG_INIT, bl_fnv1a64(t->name));
    enum { HE_UNIFORM, SCALE, SHIFT } kind = t->ndim >= 2 ? HE_UNIFORM /* conv / linear weight */
        : ends_with(t->name, ".running_var") || ends_with(t->name, ".weight") ? SCALE /* BN scale, variance */
        : SHIFT;                                                   /* biases, BN shift, running mean */
    float bound = kind == HE_UNIFORM ? (float)sqrt(6.0 / (double)(t->numel / t->shape[0])) : 0.0f;
    for (int64_t start = 0; !st && start < t->numel; start += BL_UPLOAD_BLOCK) {
        int64_t count = t->numel - start < BL_UPLOAD_BLOCK ? t->numel - start : BL_UPLOAD_BLOCK;
        for (int64_t j = 0; j < count; j++) {
            float u = bl_rng_uniform(&r);
            block[j] = kind == HE_UNIFORM ? (2.0f * u - 1.0f) * bound
                       : kind == SCALE    ? 0.5f + u
                                          : 0.2f * (u - 0.5f);
        }
        st = bl_tensor_upload_range(ctx, t, start, count, block);
    }
    return st;
}

bl_status bl_model_fill_deterministic(bl_model *m, uint64_t seed) {
    bl_status st = bl_ctx_status(m->ctx);
    for (int i = 0; !st && i < m->tensor_count; i++)
        st = bl_tensor_fill_deterministic(m->ctx, bl_model_tensor_at(m, i), seed);
    return st;
}

/* The weight a 1-D "<prefix>.bias" belongs to when that weight is a conv / linear weight (ndim ≥ 2), else NULL. */
static const bl_tensor *weight_of_bias(int count, bl_tensor *const *tensors, const char *bias_name) {
    size_t n = strlen(bias_name) - strlen("bias");
    for (int i = 0; i < count; i++) {
        const bl_tensor *t = tensors[i];
        if (t->ndim >= 2 && strncmp(t->name, bias_name, n) == 0 && strcmp(t->name + n, "weight") == 0) return t;
    }
    return NULL;
}

bl_status bl_tensors_init_default(bl_ctx *ctx, int count, bl_tensor *const *tensors, uint64_t seed) {
    bl_status st = bl_ctx_status(ctx);
    for (int i = 0; !st && i < count; i++) {
        bl_tensor *t = tensors[i];
        if (t->ndim >= 2) {
            st = bl_init_uniform(ctx, t, bl_fan_in_bound(t), seed, (uint64_t)i);
        } else if (ends_with(t->name, ".running_mean")) {
            st = bl_init_constant(ctx, t, 0.0f);
        } else if (ends_with(t->name, ".running_var")) {
            st = bl_init_constant(ctx, t, 1.0f);
        } else if (ends_with(t->name, ".bias")) {
            const bl_tensor *w = weight_of_bias(count, tensors, t->name);
            if (w) st = bl_init_uniform(ctx, t, bl_fan_in_bound(w), seed, (uint64_t)i);
            else st = bl_init_constant(ctx, t, 0.0f); /* BN beta */
        } else {
            st = bl_init_constant(ctx, t, 1.0f); /* BN gamma */
        }
    }
    return st;
}
