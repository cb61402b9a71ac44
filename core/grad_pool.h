/* grad_pool.h — PRIVATE to core/: reusable backend memory for activation gradients.
 *
 * Why: an activation's gradient is dead as soon as the backward of the op that produced the activation has run
 * (every consumer has accumulated into it before, nobody reads it after). In the step arena, a bump allocator,
 * those dead gradients stayed until the step ended — as much memory again as the activations. The pool hands
 * the memory of a released gradient to the next gradient that fits, so the gradients alive at once, not all the
 * gradients of the step, set the peak (docs/architecture.md, "Memory model").
 *
 * A block list, not an arena: blocks come from the backend's mem_alloc, are never split, and stay allocated from
 * step to step (a CNN's backward asks for the same sizes every step, so after the first step no allocation
 * happens). take returns the smallest free block of at least `bytes` (a new block when none is free);
 * give marks it free; reset (step end) marks every block free; free returns the memory to the backend. */
#ifndef BLASTO_GRAD_POOL_H
#define BLASTO_GRAD_POOL_H

#include <stddef.h>

typedef struct bl_grad_block {
    void *data;
    size_t bytes;
    int in_use;
} bl_grad_block;

typedef struct bl_grad_pool {
    bl_grad_block *blocks; /* malloc'ed array */
    int count, cap;
    size_t bytes_total;      /* in all blocks */
    size_t bytes_in_use;     /* in blocks taken and not given back */
    size_t high_water;       /* max of bytes_in_use */
    size_t n_allocs;         /* blocks allocated so far (tests check it stops growing after step 1) */
    void *(*mem_alloc)(size_t bytes);
    void (*mem_free)(void *ptr);
} bl_grad_pool;

void bl_grad_pool_init(bl_grad_pool *p, void *(*mem_alloc)(size_t bytes), void (*mem_free)(void *ptr));
/* A free block of at least `bytes`; NULL when the backend is out of memory (bl_last_error names the bytes). */
void *bl_grad_pool_take(bl_grad_pool *p, size_t bytes);
/* Give back a block returned by take (data == NULL or not from this pool: no-op, returns 0). */
int bl_grad_pool_give(bl_grad_pool *p, void *data);
void bl_grad_pool_reset(bl_grad_pool *p);
void bl_grad_pool_free(bl_grad_pool *p);

#endif
