/* train_shards.c — see train_shards.h. */
#include "study/train_shards.h"

#include <stdlib.h>

#include "core/autograd.h"
#include "core/tensor_host.h"

int64_t bl_shard_grad_count(const bl_optimizer *opt) {
    int64_t n = 0;
    for (int i = 0; i < opt->n_params; i++)
        if (opt->params[i]->requires_grad) n += opt->params[i]->numel;
    return n;
}

bl_status bl_shard_grads_get(bl_ctx *ctx, const bl_optimizer *opt, float *dst, int add) {
    int64_t most = 0; /* adding needs one host copy, as large as the largest gradient */
    for (int i = 0; add && i < opt->n_params; i++)
        if (opt->params[i]->requires_grad && opt->params[i]->numel > most) most = opt->params[i]->numel;
    float *tmp = most ? malloc(sizeof(float) * (size_t)most) : NULL;
    if (most && !tmp) return bl_fail(BL_ERR_NOMEM, "shards: out of memory for %lld floats", (long long)most);
    bl_status st = BL_OK;
    for (int i = 0; !st && i < opt->n_params; i++) {
        const bl_tensor *p = opt->params[i];
        if (!p->requires_grad) continue;
        if (!p->grad) {
            st = bl_fail(BL_ERR_INVALID, "shards: parameter %s has no gradient", p->name ? p->name : "?");
        } else if (!add) {
            st = bl_tensor_download(ctx, p->grad, dst);
        } else if (!(st = bl_tensor_download(ctx, p->grad, tmp))) {
            for (int64_t j = 0; j < p->numel; j++) dst[j] += tmp[j];
        }
        dst += p->numel;
    }
    free(tmp);
    return st;
}

bl_status bl_shard_grads_set(bl_ctx *ctx, const bl_optimizer *opt, const float *src) {
    bl_status st = BL_OK;
    for (int i = 0; !st && i < opt->n_params; i++) {
        bl_tensor *p = opt->params[i];
        if (!p->requires_grad) continue;
        st = p->grad ? bl_tensor_upload(ctx, p->grad, src)
                     : bl_fail(BL_ERR_INVALID, "shards: parameter %s has no gradient", p->name ? p->name : "?");
        src += p->numel;
    }
    return st;
}

bl_status bl_shard_broadcast_model(const bl_world *w, bl_ctx *ctx, const bl_pregnancy_model *m) {
    if (w->size == 1) return BL_OK;
    int n = bl_pregnancy_tensor_count(m);
    int64_t most = 0;
    for (int i = 0; i < n; i++)
        if (bl_pregnancy_tensor_at(m, i)->numel > most) most = bl_pregnancy_tensor_at(m, i)->numel;
    float *buf = malloc(sizeof(float) * (size_t)(most > 0 ? most : 1));
    if (!buf) return bl_fail(BL_ERR_NOMEM, "shards: out of memory for %lld floats", (long long)most);
    bl_status st = BL_OK;
    for (int i = 0; i < n; i++) { /* every rank makes every broadcast, even after a failure: none waits forever */
        bl_tensor *t = bl_pregnancy_tensor_at(m, i);
        if (!st && w->rank == 0) st = bl_tensor_download(ctx, t, buf);
        bl_status b = bl_world_broadcast(w, buf, t->numel, 0);
        if (!st) st = b;
        if (!st && w->rank != 0) st = bl_tensor_upload(ctx, t, buf);
    }
    free(buf);
    return st;
}
