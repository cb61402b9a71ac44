/* grad_pool.c — the activation-gradient block pool (see grad_pool.h). */
#include "core/grad_pool.h"

#include <stdint.h>
#include <stdlib.h>

#include "core/status.h"

enum { GRAD_POOL_ALIGN = 64 };

void bl_grad_pool_init(bl_grad_pool *p, void *(*mem_alloc)(size_t bytes), void (*mem_free)(void *ptr)) {
    *p = (bl_grad_pool){.mem_alloc = mem_alloc, .mem_free = mem_free};
}

void *bl_grad_pool_take(bl_grad_pool *p, size_t bytes) {
    if (bytes > SIZE_MAX - GRAD_POOL_ALIGN) {
        bl_fail(BL_ERR_NOMEM, "gradient pool: out of memory: needs %zu bytes", bytes);
        return NULL;
    }
    bytes = (bytes + GRAD_POOL_ALIGN - 1) / GRAD_POOL_ALIGN * GRAD_POOL_ALIGN;
    if (bytes == 0) bytes = GRAD_POOL_ALIGN;
    bl_grad_block *best = NULL;
    for (int i = 0; i < p->count; i++) {
        bl_grad_block *b = &p->blocks[i];
        if (!b->in_use && b->bytes >= bytes && (!best || b->bytes < best->bytes)) best = b;
    }
    if (!best) {
        if (p->count == p->cap) {
            int cap = p->cap ? 2 * p->cap : 64;
            bl_grad_block *grown = realloc(p->blocks, (size_t)cap * sizeof *grown);
            if (!grown) {
                bl_fail(BL_ERR_NOMEM, "gradient pool: out of memory for its block list (%d blocks)", cap);
                return NULL;
            }
            p->blocks = grown;
            p->cap = cap;
        }
        void *data = p->mem_alloc(bytes);
        if (!data) {
            bl_fail(BL_ERR_NOMEM, "gradient pool: out of memory: needs %zu bytes (%zu held in %d blocks)", bytes,
                    p->bytes_total, p->count);
            return NULL;
        }
        best = &p->blocks[p->count++];
        *best = (bl_grad_block){.data = data, .bytes = bytes};
        p->bytes_total += bytes;
        p->n_allocs++;
    }
    best->in_use = 1;
    p->bytes_in_use += best->bytes;
    if (p->bytes_in_use > p->high_water) p->high_water = p->bytes_in_use;
    return best->data;
}

int bl_grad_pool_give(bl_grad_pool *p, void *data) {
    if (!data) return 0;
    for (int i = p->count - 1; i >= 0; i--) {
        bl_grad_block *b = &p->blocks[i];
        if (b->data != data) continue;
        if (b->in_use) {
            b->in_use = 0;
            p->bytes_in_use -= b->bytes;
        }
        return 1;
    }
    return 0;
}

void bl_grad_pool_reset(bl_grad_pool *p) {
    for (int i = 0; i < p->count; i++) p->blocks[i].in_use = 0;
    p->bytes_in_use = 0;
}

void bl_grad_pool_free(bl_grad_pool *p) {
    for (int i = 0; i < p->count; i++) p->mem_free(p->blocks[i].data);
    free(p->blocks);
    bl_grad_pool_init(p, p->mem_alloc, p->mem_free);
}
