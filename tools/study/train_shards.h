/* train_shards.h — the data-parallel parts of a training run (docs/distributed.md, "Data-parallel training"):
 * the trainable parameters' gradients moved as one flat buffer (summed over shards in shard order), and the
 * model's tensors copied from rank 0 to every rank. Used by train.c. */
#ifndef BLASTO_TRAIN_SHARDS_H
#define BLASTO_TRAIN_SHARDS_H

#include <stdint.h>

#include "core/collective.h"
#include "core/optim.h"
#include "models/pregnancy.h"

/* Floats in the gradients of the optimizer's parameters that require gradients now (frozen ones are left out). */
int64_t bl_shard_grad_count(const bl_optimizer *opt);
/* Those gradients, in parameter order, → dst [bl_shard_grad_count]; with add = 1 they are added to dst instead
 * (dst[i] += g[i], float32: the shard-order sum of one process equals the ranks' fixed-order all-reduce). */
bl_status bl_shard_grads_get(bl_ctx *ctx, const bl_optimizer *opt, float *dst, int add);
/* src [bl_shard_grad_count] → those gradients. */
bl_status bl_shard_grads_set(bl_ctx *ctx, const bl_optimizer *opt, const float *src);
/* Every tensor of the model (weights and batchnorm statistics) from rank 0 to every rank. */
bl_status bl_shard_broadcast_model(const bl_world *w, bl_ctx *ctx, const bl_pregnancy_model *m);

#endif
