/* arena.h — bump allocators for tensors (llm.c style).
 *
 * blasto never mallocs per tensor. Two kinds of arena exist in a context:
 *   persistent — parameters, their gradients, optimizer state, BN running statistics; never reset;
 *   step       — activations, saved tensors, activation gradients of one forward/backward; reset after the
 *                optimizer step with bl_arena_reset().
 *
 * An arena is a list of chunks. If an allocation does not fit, a new chunk is malloc'ed (so the first step of a
 * training run discovers its own size); bl_arena_reset() then replaces several chunks by ONE chunk of the
 * high-water size, so from the second step on no malloc happens inside a step. bl_arena_reserve() lets a caller
 * that knows its plan allocate everything at start and fail early with the byte count.
 * All allocations are 64-byte aligned (one cache line, one AVX-512 register). */
#ifndef BLASTO_ARENA_H
#define BLASTO_ARENA_H

#include <stddef.h>

#include "core/status.h"

typedef struct bl_arena_chunk bl_arena_chunk;

typedef struct bl_arena {
    const char *name;         /* "persistent", "step", … (for messages and the memory plan) */
    bl_arena_chunk *chunks;   /* newest first */
    size_t used;              /* bytes handed out since the last reset (incl. alignment padding) */
    size_t high_water;        /* max of `used` over the arena's life */
    size_t capacity;          /* bytes in all chunks */
    size_t limit;             /* 0 = unlimited; else allocations beyond `limit` bytes fail with BL_ERR_NOMEM */
    size_t n_mallocs;         /* chunk mallocs so far (tests check it stops growing after step 1) */
    void *(*mem_alloc)(size_t bytes); /* where chunks come from: host memory, or a backend's (kernels.h) */
    void (*mem_free)(void *ptr);
} bl_arena;

/* An arena of host memory (64-byte aligned). */
void bl_arena_init(bl_arena *a, const char *name);
/* An arena whose chunks come from mem_alloc/mem_free (a backend's memory, e.g. the GPU's: then only kernels may
 * touch what it hands out, and bl_arena_calloc must not be used on it). */
void bl_arena_init_on(bl_arena *a, const char *name, void *(*mem_alloc)(size_t bytes), void (*mem_free)(void *ptr));
/* Make sure `bytes` are available in a single chunk (after a reset). */
bl_status bl_arena_reserve(bl_arena *a, size_t bytes);
/* Returns NULL and sets the error message (with the byte count) when memory is exhausted. Memory is NOT zeroed. */
void *bl_arena_alloc(bl_arena *a, size_t bytes);
/* host arenas only */
void *bl_arena_calloc(bl_arena *a, size_t bytes);
/* Forget every allocation; keep (and consolidate) the memory. */
void bl_arena_reset(bl_arena *a);
void bl_arena_free(bl_arena *a);

/* ---- scopes (inference memory). A caller that knows every allocation made after a mark is dead except
 * one (a no-grad block whose intermediates nobody else holds) rewinds to the mark and moves that one down:
 *     bl_arena_mark m = bl_arena_mark_now(a);  …allocate…;  if (bl_arena_rewind(a, m, kept)) { re-allocate, memmove }
 * bl_arena_rewind checks that `kept` (the start of the allocation to keep) lies in the current chunk after the
 * mark; if so it frees everything after the mark in that chunk — or, when newer chunks were added since the mark,
 * everything in the newest chunk (the older ones stay used until the reset) — and returns 1: the next allocations
 * start at or below `kept`, so the caller's memmove of the kept bytes downwards is safe. Otherwise it changes
 * nothing and returns 0. */
typedef struct bl_arena_mark {
    const bl_arena_chunk *chunk;
    size_t offset, used;
} bl_arena_mark;
bl_arena_mark bl_arena_mark_now(const bl_arena *a);
int bl_arena_rewind(bl_arena *a, bl_arena_mark mark, const void *kept);

#endif
