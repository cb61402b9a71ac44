/* scratch.c — the cpu backend's reusable scratch buffers (scratch.h). */
#include "core/cpu/scratch.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

enum { SCRATCH_SLOTS = 2 * 1024 + 64, SCRATCH_ALIGN = 64 };

struct bl_scratch {
    float *data;
    size_t capacity; /* floats */
    int in_use;
};

static bl_scratch scratch_slots[SCRATCH_SLOTS];
static pthread_mutex_t scratch_mutex = PTHREAD_MUTEX_INITIALIZER;

static size_t scratch_limit = SIZE_MAX; /* floats; bl_scratch_set_limit (tests of the out-of-memory paths) */

void bl_scratch_set_limit(size_t count) { scratch_limit = count ? count : SIZE_MAX; }

/* Returns a free slot holding ≥ count floats: the smallest free slot that fits, else the largest free slot grown
 * (the old buffer is freed first, so memory does not ratchet up with every size seen). */
float *bl_scratch_acquire(size_t count, bl_scratch **handle) {
    *handle = NULL;
    if (count == 0) count = 1;
    if (count > (SIZE_MAX - SCRATCH_ALIGN) / sizeof(float) || count > scratch_limit) return NULL;
    pthread_mutex_lock(&scratch_mutex);
    bl_scratch *best_fit = NULL, *largest_free = NULL;
    for (int i = 0; i < SCRATCH_SLOTS; i++) {
        bl_scratch *slot = &scratch_slots[i];
        if (slot->in_use) continue;
        if (slot->capacity >= count && (!best_fit || slot->capacity < best_fit->capacity)) best_fit = slot;
        if (!largest_free || slot->capacity > largest_free->capacity) largest_free = slot;
        if (slot->capacity == 0) break; /* slots are filled in order: the rest are empty too */
    }
    bl_scratch *chosen = best_fit;
    if (!chosen && largest_free) {
        size_t bytes = (count * sizeof(float) + SCRATCH_ALIGN - 1) / SCRATCH_ALIGN * SCRATCH_ALIGN;
        free(largest_free->data);
        largest_free->data = aligned_alloc(SCRATCH_ALIGN, bytes);
        largest_free->capacity = largest_free->data ? bytes / sizeof(float) : 0;
        if (largest_free->data) chosen = largest_free;
    }
    if (chosen) chosen->in_use = 1;
    pthread_mutex_unlock(&scratch_mutex);
    if (!chosen) return NULL;
    *handle = chosen;
    return chosen->data;
}

void bl_scratch_release(bl_scratch *handle) {
    if (!handle) return;
    pthread_mutex_lock(&scratch_mutex);
    handle->in_use = 0;
    pthread_mutex_unlock(&scratch_mutex);
}

void bl_scratch_free_all(void) {
    pthread_mutex_lock(&scratch_mutex);
    for (int i = 0; i < SCRATCH_SLOTS; i++) {
        if (scratch_slots[i].in_use) continue; /* still lent out: the holder will release it */
        free(scratch_slots[i].data);
        scratch_slots[i].data = NULL;
        scratch_slots[i].capacity = 0;
    }
    pthread_mutex_unlock(&scratch_mutex);
}
