/* pregnancy.c — the pregnancy head on a backbone: pool, age concat, one logit (pregnancy.h). */
#include "models/pregnancy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/autograd.h"
#include "core/tensor_host.h"

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int starts_with(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

bl_status bl_pregnancy_create(bl_ctx *ctx, bl_arch arch, bl_pregnancy_model **out) {
    *out = NULL;
    bl_pregnancy_model *m = calloc(1, sizeof *m);
    if (!m) return bl_fail(BL_ERR_NOMEM, "pregnancy model: out of memory");
    m->arch = arch;
    bl_status st = bl_model_create(ctx, arch, BL_HEAD_NONE, &m->backbone);
    if (st) {
        free(m);
        return st;
    }
    m->features = bl_arch_feature_channels(arch);
    int wshape[2] = {1, m->features + 1}, one = 1;
    m->fc_weight = bl_param(ctx, "head.fc.weight", 2, wshape);
    m->fc_bias = bl_param(ctx, "head.fc.bias", 1, &one);
    if (!m->fc_weight || !m->fc_bias) {
        bl_pregnancy_free(m);
        return bl_ctx_status(ctx) ? bl_ctx_status(ctx) : BL_ERR_NOMEM;
    }
    *out = m;
    return BL_OK;
}

void bl_pregnancy_free(bl_pregnancy_model *m) {
    if (!m) return;
    bl_model_free(m->backbone);
    free(m);
}

int bl_pregnancy_tensor_count(const bl_pregnancy_model *m) { return bl_model_tensor_count(m->backbone) + 2; }

bl_tensor *bl_pregnancy_tensor_at(const bl_pregnancy_model *m, int i) {
    int nb = bl_model_tensor_count(m->backbone);
    if (i < nb) return bl_model_tensor_at(m->backbone, i);
    return i == nb ? m->fc_weight : m->fc_bias;
}

bl_status bl_pregnancy_init_random(bl_pregnancy_model *m, uint64_t seed) {
    bl_ctx *ctx = bl_model_ctx(m->backbone);
    int count = bl_pregnancy_tensor_count(m);
    bl_tensor **tensors = malloc(sizeof *tensors * (size_t)count);
    if (!tensors) return bl_fail(BL_ERR_NOMEM, "pregnancy model: out of memory");
    for (int i = 0; i < count; i++) tensors[i] = bl_pregnancy_tensor_at(m, i);
    bl_status st = bl_tensors_init_default(ctx, count, tensors, seed);
    free(tensors);
    return st;
}

static int is_model_name(const bl_pregnancy_model *m, const char *name, int backbone_only) {
    int n = backbone_only ? bl_model_tensor_count(m->backbone) : bl_pregnancy_tensor_count(m);
    for (int i = 0; i < n; i++)
        if (strcmp(bl_pregnancy_tensor_at(m, i)->name, name) == 0) return 1;
    return 0;
}

/* Shared by the two loaders: `backbone_only` 1 = ImageNet file (skip its classifier), 0 = checkpoint (skip optim.). */
static bl_status load_tensors(bl_pregnancy_model *m, const bl_safetensors *st, int backbone_only) {
    const char *path = bl_safetensors_path(st);
    const char *arch = bl_safetensors_metadata(st, "arch");
    const char *want_arch = bl_arch_name(m->arch);
    if (arch && strcmp(arch, want_arch) != 0)
        return bl_fail(BL_ERR_FORMAT, "%s: __metadata__.arch: architecture mismatch (expected %s, got %s)", path,
                       want_arch, arch);
    int n = backbone_only ? bl_model_tensor_count(m->backbone) : bl_pregnancy_tensor_count(m);
    for (int i = 0; i < n; i++) {
        bl_status status = bl_check_expected_tensor(st, bl_pregnancy_tensor_at(m, i), want_arch);
        if (status) return status;
    }
    for (int i = 0; i < bl_safetensors_count(st); i++) {
        const char *name = bl_safetensors_entry(st, i)->name;
        if (ends_with(name, ".num_batches_tracked") || is_model_name(m, name, backbone_only)) continue;
        if (backbone_only && (starts_with(name, "fc.") || starts_with(name, "classifier."))) continue;
        if (!backbone_only && starts_with(name, "optim.")) continue;
        return bl_fail(BL_ERR_FORMAT, "%s: '%s': unexpected tensor (not a parameter or buffer of the %s %s)", path,
                       name, want_arch, backbone_only ? "backbone" : "pregnancy model");
    }
    for (int i = 0; i < n; i++) {
        bl_tensor *t = bl_pregnancy_tensor_at(m, i);
        bl_status s = bl_tensor_read_safetensors(bl_model_ctx(m->backbone), t, st, t->name);
        if (s) return s;
    }
    return BL_OK;
}

bl_status bl_pregnancy_load_backbone(bl_pregnancy_model *m, const bl_safetensors *st) { return load_tensors(m, st, 1); }

bl_status bl_pregnancy_load(bl_pregnancy_model *m, const bl_safetensors *st) { return load_tensors(m, st, 0); }

bl_tensor *bl_pregnancy_forward(const bl_pregnancy_model *m, const bl_run *run, bl_tensor *x, bl_tensor *age_z) {
    bl_ctx *ctx = run->ctx;
    bl_tensor *features = bl_model_forward(m->backbone, run, x);
    bl_tensor *pooled = bl_global_avgpool(ctx, features);
    if (!pooled || !age_z) return NULL;
    int n = pooled->shape[0];
    int fshape[4] = {n, m->features, 1, 1}, ashape[4] = {n, 1, 1, 1};
    bl_tensor *parts[2] = {bl_reshape(ctx, pooled, 4, fshape), bl_reshape(ctx, age_z, 4, ashape)};
    bl_tensor *joined = bl_flatten(ctx, bl_concat_channels(ctx, 2, parts));
    return bl_run_emit(run, "head.fc", bl_linear(ctx, joined, m->fc_weight, m->fc_bias));
}
