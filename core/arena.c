/* arena.c — chunked bump allocator; see arena.h for the policy. */
#include "core/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 64
#define ARENA_MIN_CHUNK ((size_t)1 << 20)

struct bl_arena_chunk {
    bl_arena_chunk *next;
    size_t size;   /* usable bytes after the header */
    size_t offset; /* bytes handed out in this chunk */
    unsigned char *base;
};

static void *host_chunk_alloc(size_t bytes) {
    if (bytes > SIZE_MAX - ARENA_ALIGN) return NULL;
    return aligned_alloc(ARENA_ALIGN, (bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN);
}

void bl_arena_init_on(bl_arena *a, const char *name, void *(*mem_alloc)(size_t bytes), void (*mem_free)(void *ptr)) {
    memset(a, 0, sizeof *a);
    a->name = name;
    a->mem_alloc = mem_alloc ? mem_alloc : host_chunk_alloc;
    a->mem_free = mem_alloc && mem_free ? mem_free : free;
}

void bl_arena_init(bl_arena *a, const char *name) { bl_arena_init_on(a, name, NULL, NULL); }

static bl_arena_chunk *chunk_new(bl_arena *a, size_t size) {
    bl_arena_chunk *c = malloc(sizeof *c);
    if (!c) return NULL;
    c->base = a->mem_alloc(size);
    if (!c->base) {
        free(c);
        return NULL;
    }
    c->size = size;
    c->offset = 0;
    c->next = a->chunks;
    a->chunks = c;
    a->capacity += size;
    a->n_mallocs++;
    return c;
}

bl_status bl_arena_reserve(bl_arena *a, size_t bytes) {
    if (bytes > SIZE_MAX / 2)
        return bl_fail(BL_ERR_NOMEM, "arena %s: out of memory: needs %zu bytes (more than can be addressed)", a->name,
                       bytes);
    if (a->chunks && a->chunks->size - a->chunks->offset >= bytes) return BL_OK;
    if (a->limit && a->used + bytes > a->limit)
        return bl_fail(BL_ERR_NOMEM, "arena %s: needs %zu bytes, limit is %zu", a->name, a->used + bytes, a->limit);
    if (!chunk_new(a, bytes < ARENA_MIN_CHUNK ? ARENA_MIN_CHUNK : bytes))
        return bl_fail(BL_ERR_NOMEM, "arena %s: out of memory: needs %zu bytes", a->name, bytes);
    return BL_OK;
}

void *bl_arena_alloc(bl_arena *a, size_t bytes) {
    if (bytes > SIZE_MAX / 2) { /* rounding up (and the geometric growth below) must not wrap around */
        bl_fail(BL_ERR_NOMEM, "arena %s: out of memory: needs %zu bytes (more than can be addressed)", a->name, bytes);
        return NULL;
    }
    size_t padded = (bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    if (padded == 0) padded = ARENA_ALIGN;
    if (a->limit && a->used + padded > a->limit) {
        bl_fail(BL_ERR_NOMEM, "arena %s: out of memory: needs %zu bytes, limit is %zu", a->name, a->used + padded,
                a->limit);
        return NULL;
    }
    bl_arena_chunk *c = a->chunks;
    if (!c || c->size - c->offset < padded) {
        /* grow geometrically so a first step costs O(log) mallocs */
        size_t size = a->capacity > padded ? a->capacity : padded;
        if (size < ARENA_MIN_CHUNK) size = ARENA_MIN_CHUNK;
        c = chunk_new(a, size);
        if (!c) {
            bl_fail(BL_ERR_NOMEM, "arena %s: out of memory: needs %zu bytes", a->name, size);
            return NULL;
        }
    }
    void *p = c->base + c->offset;
    c->offset += padded;
    a->used += padded;
    if (a->used > a->high_water) a->high_water = a->used;
    return p;
}

void *bl_arena_calloc(bl_arena *a, size_t bytes) {
    void *p = bl_arena_alloc(a, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

static void free_chunks(bl_arena *a) {
    while (a->chunks) {
        bl_arena_chunk *next = a->chunks->next;
        a->mem_free(a->chunks->base);
        free(a->chunks);
        a->chunks = next;
    }
    a->capacity = 0;
}

void bl_arena_reset(bl_arena *a) {
    if (a->chunks && a->chunks->next) {
        /* several chunks: replace them by one of the high-water size, so the next step fits without malloc */
        size_t want = a->high_water;
        free_chunks(a);
        chunk_new(a, want); /* failure here is reported by the next alloc */
    } else if (a->chunks) {
        a->chunks->offset = 0;
    }
    a->used = 0;
}

void bl_arena_free(bl_arena *a) {
    free_chunks(a);
    a->used = 0;
}

bl_arena_mark bl_arena_mark_now(const bl_arena *a) {
    bl_arena_mark m = {.chunk = a->chunks, .offset = a->chunks ? a->chunks->offset : 0, .used = a->used};
    return m;
}

int bl_arena_rewind(bl_arena *a, bl_arena_mark mark, const void *kept) {
    bl_arena_chunk *c = a->chunks;
    if (!c || !kept) return 0;
    const unsigned char *k = kept;
    if (k < c->base || k >= c->base + c->offset) return 0; /* not in the current chunk */
    if (c == mark.chunk) {
        if (k < c->base + mark.offset) return 0; /* allocated before the mark */
        c->offset = mark.offset;
        a->used = mark.used;
    } else { /* chunks were added after the mark: free the newest one entirely */
        a->used -= c->offset;
        c->offset = 0;
    }
    return 1;
}
