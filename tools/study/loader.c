/* loader.c — the double-buffered batch loader and its small pthread pool (see loader.h).
 *
 * One "job" = filling one batch buffer. The main thread posts it; workers take sample positions from a shared
 * counter (any worker may take any sample: each sample's values depend only on its row, the options and the epoch,
 * and it is written to its own place in the buffer, so scheduling cannot change a single bit); the last worker to
 * finish a sample of the job signals completion. Worker errors are per-thread messages (core/status.h), so the
 * worker copies its message into the buffer's slot, keeping the one of the earliest failing position. */
#include "study/loader.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

#define LOADER_MAX_THREADS 64
#define LOADER_MESSAGE_BYTES 1024

bl_status bl_input_kind_parse(const char *name, bl_input_kind *out) {
    if (strcmp(name, "original") == 0) *out = BL_INPUT_ORIGINAL;
    else if (strcmp(name, "enhanced") == 0) *out = BL_INPUT_ENHANCED;
    else return bl_fail(BL_ERR_INVALID, "input: unknown kind '%s' (expected original or enhanced)", name);
    return BL_OK;
}

const char *bl_input_kind_name(bl_input_kind kind) { return kind == BL_INPUT_ENHANCED ? "enhanced" : "original"; }

void bl_loader_options_default(bl_loader_options *o) {
    memset(o, 0, sizeof *o);
    o->input = BL_INPUT_ORIGINAL;
    bl_enhance_options_default(&o->enhance);
    o->size = BL_INPUT_SIZE_DEFAULT;
    o->normalize = BL_NORMALIZE_CAFFE;
    o->augment = 0;
    bl_augment_options_default(&o->augment_options);
    o->batch_size = 32;
    o->shuffle = 1;
    o->drop_last = 0;
    o->shards = 1;
    o->shard = 0;
    o->seed = 0;
    o->threads = 2;
}

/* ---- one sample ---------------------------------------------------------------------------------------------- */

/* img (1 or 3 channels) read; out [h·w·3] written: RGB floats x·scale, gray replicated. */
static void image_to_rgb_float(const bl_image *img, float scale, float *out) {
    if (img->channels == 3) {
        bl_image_to_float(img, scale, out);
        return;
    }
    size_t pixels = (size_t)img->width * (size_t)img->height;
    for (size_t i = 0; i < pixels; i++) {
        float v = scale == 1.0f ? (float)img->pixels[i] : (float)img->pixels[i] * scale;
        out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = v;
    }
}

bl_status bl_loader_prepare_sample(const bl_cohort_row *row, const bl_loader_options *o, int64_t epoch, float *out) {
    if (o->size < 1 || o->size > 4096)
        return bl_fail(BL_ERR_INVALID, "loader: size: expected 1 … 4096, got %d", o->size);
    bl_image img = {0};
    bl_status st;
    if (o->input == BL_INPUT_ENHANCED) {
        st = bl_enhance_row(row, &o->enhance, &img, NULL, NULL);
    } else {
        st = bl_image_load(row->image, 3, &img);
    }
    if (st) return st;
    int s = o->size;
    size_t source_floats = (size_t)img.width * (size_t)img.height * 3;
    size_t sized_floats = (size_t)s * (size_t)s * 3;
    float *source = malloc(source_floats * sizeof(float));
    float *sized = malloc(sized_floats * sizeof(float));
    if (!source || !sized) {
        st = bl_fail(BL_ERR_NOMEM, "%s: out of memory: needs %zu bytes", row->image,
                     (source_floats + sized_floats) * sizeof(float));
        goto done;
    }
    /* TF's convert_image_dtype multiplies by the float nearest 1/255 */
    image_to_rgb_float(&img, o->augment ? 1.0f / 255.0f : 1.0f, source);
    st = bl_resize_bilinear(source, img.height, img.width, 3, sized, s, s);
    if (st) goto done;
    if (o->augment) {
        bl_augment_draw d = bl_augment_draw_for(&o->augment_options, o->seed, epoch,
                                                bl_augment_sample_key(row->id ? row->id : ""));
        bl_augment_apply(sized, s, s, &o->augment_options, &d);
        for (size_t i = 0; i < sized_floats; i++) sized[i] *= 255.0f;
    }
    bl_normalize_to_chw(sized, s, s, o->normalize, out);
done:
    free(source);
    free(sized);
    bl_image_free(&img);
    return st;
}

/* ---- the loader ---------------------------------------------------------------------------------------------- */

typedef struct loader_slot {
    bl_batch batch;
    int *rows;             /* [batch_size], batch.rows points here */
    bl_status status;      /* first (earliest position) failure of this fill */
    int error_position;
    char message[LOADER_MESSAGE_BYTES];
} loader_slot;

struct bl_loader {
    const bl_cohort_row *rows;
    int n_rows;
    bl_loader_options o;
    int batches_per_epoch;
    int *order;            /* [n_rows] this epoch's visiting order */
    int64_t epoch;
    int started;
    int next_batch;        /* next batch number to start filling */
    int filling;           /* slot being filled, −1 when none */
    loader_slot slots[2];
    bl_status error;       /* sticky until the next start_epoch */
    char error_message[LOADER_MESSAGE_BYTES];

    /* pool */
    pthread_t *threads;
    int n_threads;
    pthread_mutex_t mutex;
    pthread_cond_t work_ready, job_done;
    loader_slot *job;      /* the slot being filled by the workers, NULL when idle */
    int job_next, job_finished;
    int shutting_down;
    int sync_ready;        /* mutex and condition variables initialised */
};

static void slot_record_error(loader_slot *slot, int position, bl_status st) {
    if (slot->status != BL_OK && slot->error_position <= position) return;
    slot->status = st;
    slot->error_position = position;
    snprintf(slot->message, sizeof slot->message, "%s", bl_last_error());
}

/* Prepare sample `position` of the slot's batch (called by a worker or, with threads = 0, by the caller). */
static bl_status fill_sample(bl_loader *l, loader_slot *slot, int position) {
    const bl_cohort_row *row = &l->rows[slot->rows[position]];
    size_t plane = (size_t)3 * l->o.size * l->o.size;
    return bl_loader_prepare_sample(row, &l->o, slot->batch.epoch, slot->batch.images + (size_t)position * plane);
}

static void *worker_main(void *arg) {
    bl_loader *l = arg;
    pthread_mutex_lock(&l->mutex);
    for (;;) {
        while (!l->shutting_down && !(l->job && l->job_next < l->job->batch.count))
            pthread_cond_wait(&l->work_ready, &l->mutex);
        if (l->shutting_down) break;
        loader_slot *slot = l->job;
        int position = l->job_next++;
        pthread_mutex_unlock(&l->mutex);
        bl_status st = fill_sample(l, slot, position);
        pthread_mutex_lock(&l->mutex);
        if (st) slot_record_error(slot, position, st);
        if (++l->job_finished == slot->batch.count) {
            l->job = NULL;
            pthread_cond_broadcast(&l->job_done);
        }
    }
    pthread_mutex_unlock(&l->mutex);
    return NULL;
}

void bl_shard_range(int n, int shards, int shard, int *lo, int *hi) {
    *lo = (int)((int64_t)shard * n / shards);
    *hi = (int)((int64_t)(shard + 1) * n / shards);
}

/* Set up slot k for batch `index` of the current epoch and hand it to the workers. */
static void start_fill(bl_loader *l, int k, int index) {
    loader_slot *slot = &l->slots[k];
    int first = index * l->o.batch_size;
    int global = l->n_rows - first < l->o.batch_size ? l->n_rows - first : l->o.batch_size, lo = 0, hi = global;
    bl_shard_range(global, l->o.shards, l->o.shard, &lo, &hi);
    first += lo;
    int count = hi - lo;
    slot->batch.count = count;
    slot->batch.global_count = global;
    slot->batch.first = lo;
    slot->batch.epoch = l->epoch;
    slot->batch.index = index;
    slot->status = BL_OK;
    slot->error_position = count;
    slot->message[0] = '\0';
    for (int i = 0; i < count; i++) {
        const bl_cohort_row *row = &l->rows[l->order[first + i]];
        slot->rows[i] = l->order[first + i];
        slot->batch.labels[i] = (float)row->label;
        slot->batch.ages[i] = (float)row->age;
    }
    l->filling = k;
    if (l->n_threads == 0 || count == 0) return; /* filled synchronously when asked for; or nothing to fill */
    pthread_mutex_lock(&l->mutex);
    l->job = slot;
    l->job_next = 0;
    l->job_finished = 0;
    pthread_cond_broadcast(&l->work_ready);
    pthread_mutex_unlock(&l->mutex);
}

/* Wait until the workers have finished the job they hold (no-op without workers or job). */
static void wait_workers(bl_loader *l) {
    if (l->n_threads == 0) return;
    pthread_mutex_lock(&l->mutex);
    while (l->job) pthread_cond_wait(&l->job_done, &l->mutex);
    pthread_mutex_unlock(&l->mutex);
}

int bl_loader_batches_per_epoch(const bl_loader *l) { return l->batches_per_epoch; }

void bl_loader_epoch_order(const bl_loader *l, int64_t epoch, int *order) {
    if (l->o.shuffle) {
        bl_shuffled_order(l->o.seed, epoch, l->n_rows, order);
        return;
    }
    for (int i = 0; i < l->n_rows; i++) order[i] = i;
}

void bl_shuffled_order(uint64_t seed, int64_t epoch, int n, int *order) {
    for (int i = 0; i < n; i++) order[i] = i;
    /* Fisher–Yates from the back; j uniform in [0, i] by rejection (no modulo bias) */
    bl_rng rng = bl_rng_stream(seed, BL_RNG_DATA, (uint64_t)epoch);
    for (int i = n - 1; i > 0; i--) {
        uint64_t bound = (uint64_t)i + 1, threshold = (0 - bound) % bound, r;
        do r = bl_rng_next_u64(&rng);
        while (r < threshold);
        int j = (int)(r % bound);
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

static void loader_stop_threads(bl_loader *l, int started) {
    pthread_mutex_lock(&l->mutex);
    l->shutting_down = 1;
    pthread_cond_broadcast(&l->work_ready);
    pthread_mutex_unlock(&l->mutex);
    for (int i = 0; i < started; i++) pthread_join(l->threads[i], NULL);
}

bl_status bl_loader_create(const bl_cohort_row *rows, int n_rows, const bl_loader_options *o, bl_loader **out) {
    *out = NULL;
    if (n_rows < 1) return bl_fail(BL_ERR_INVALID, "loader: rows: expected at least 1 row, got %d", n_rows);
    if (o->size < 1 || o->size > 4096)
        return bl_fail(BL_ERR_INVALID, "loader: size: expected 1 … 4096, got %d", o->size);
    if (o->batch_size < 1 || o->batch_size > 65536)
        return bl_fail(BL_ERR_INVALID, "loader: batch_size: expected 1 … 65536, got %d", o->batch_size);
    if (o->shards < 1 || o->shards > 65536 || o->shard < 0 || o->shard >= o->shards)
        return bl_fail(BL_ERR_INVALID, "loader: shard %d of %d: expected 0 ≤ shard < shards ≤ 65536", o->shard,
                       o->shards);
    if (o->threads < 0 || o->threads > LOADER_MAX_THREADS)
        return bl_fail(BL_ERR_INVALID, "loader: threads: expected 0 … %d, got %d", LOADER_MAX_THREADS, o->threads);
    if (o->normalize < BL_NORMALIZE_NONE || o->normalize > BL_NORMALIZE_UNIT)
        return bl_fail(BL_ERR_INVALID, "loader: normalize: unknown preset %d", (int)o->normalize);
    if (o->input != BL_INPUT_ORIGINAL && o->input != BL_INPUT_ENHANCED)
        return bl_fail(BL_ERR_INVALID, "loader: input: unknown kind %d", (int)o->input);
    bl_status st;
    if (o->augment && (st = bl_augment_options_check(&o->augment_options))) return st;

    bl_loader *l = calloc(1, sizeof *l);
    if (!l) return bl_fail(BL_ERR_NOMEM, "loader: out of memory");
    if (pthread_mutex_init(&l->mutex, NULL)) {
        free(l);
        return bl_fail(BL_ERR_NOMEM, "loader: cannot create a mutex");
    }
    if (pthread_cond_init(&l->work_ready, NULL)) {
        pthread_mutex_destroy(&l->mutex);
        free(l);
        return bl_fail(BL_ERR_NOMEM, "loader: cannot create a condition variable");
    }
    if (pthread_cond_init(&l->job_done, NULL)) {
        pthread_cond_destroy(&l->work_ready);
        pthread_mutex_destroy(&l->mutex);
        free(l);
        return bl_fail(BL_ERR_NOMEM, "loader: cannot create a condition variable");
    }
    l->sync_ready = 1;
    l->rows = rows;
    l->n_rows = n_rows;
    l->o = *o;
    l->batches_per_epoch = o->drop_last ? n_rows / o->batch_size : (n_rows + o->batch_size - 1) / o->batch_size;
    l->filling = -1;
    l->order = malloc(sizeof(int) * (size_t)n_rows);
    size_t batch = (size_t)o->batch_size, plane = (size_t)3 * o->size * o->size;
    int ok = l->order != NULL;
    for (int k = 0; k < 2 && ok; k++) {
        loader_slot *slot = &l->slots[k];
        slot->rows = malloc(sizeof(int) * batch);
        slot->batch.images = malloc(sizeof(float) * batch * plane);
        slot->batch.labels = malloc(sizeof(float) * batch);
        slot->batch.ages = malloc(sizeof(float) * batch);
        slot->batch.rows = slot->rows;
        slot->batch.size = o->size;
        ok = slot->rows && slot->batch.images && slot->batch.labels && slot->batch.ages;
    }
    if (!ok) {
        bl_loader_free(l);
        return bl_fail(BL_ERR_NOMEM, "loader: out of memory: two batches of %zu images need %zu bytes", batch,
                       2 * sizeof(float) * batch * plane);
    }
    if (o->threads > 0) {
        l->threads = calloc((size_t)o->threads, sizeof(pthread_t));
        if (!l->threads) {
            bl_loader_free(l);
            return bl_fail(BL_ERR_NOMEM, "loader: out of memory");
        }
        for (int i = 0; i < o->threads; i++) {
            if (pthread_create(&l->threads[i], NULL, worker_main, l) != 0) {
                bl_loader_free(l); /* stops the n_threads already running */
                return bl_fail(BL_ERR_NOMEM, "loader: cannot start worker thread %d of %d", i + 1, o->threads);
            }
            l->n_threads = i + 1;
        }
    }
    *out = l;
    return BL_OK;
}

bl_status bl_loader_start_epoch(bl_loader *l, int64_t epoch) {
    if (epoch < 0) return bl_fail(BL_ERR_INVALID, "loader: epoch: expected ≥ 0, got %lld", (long long)epoch);
    wait_workers(l); /* a fill still running writes into a buffer we are about to reuse */
    l->filling = -1;
    l->error = BL_OK;
    l->error_message[0] = '\0';
    l->epoch = epoch;
    l->started = 1;
    bl_loader_epoch_order(l, epoch, l->order);
    l->next_batch = 0;
    if (l->batches_per_epoch > 0) start_fill(l, 0, l->next_batch++);
    return BL_OK;
}

bl_status bl_loader_next(bl_loader *l, const bl_batch **out) {
    *out = NULL;
    if (l->error) return bl_fail(l->error, "%s", l->error_message);
    if (!l->started) return bl_fail(BL_ERR_INVALID, "loader: next: call bl_loader_start_epoch first");
    if (l->filling < 0) return BL_OK; /* epoch done */
    int k = l->filling;
    loader_slot *slot = &l->slots[k];
    if (l->n_threads == 0) {
        for (int i = 0; i < slot->batch.count; i++) {
            bl_status st = fill_sample(l, slot, i);
            if (st) {
                slot_record_error(slot, i, st); /* in order, so this is the earliest */
                break;
            }
        }
    }
    wait_workers(l);
    l->filling = -1;
    if (slot->status) {
        l->error = slot->status;
        snprintf(l->error_message, sizeof l->error_message, "%s", slot->message);
        return bl_fail(l->error, "%s", l->error_message);
    }
    if (l->next_batch < l->batches_per_epoch) start_fill(l, 1 - k, l->next_batch++);
    *out = &slot->batch;
    return BL_OK;
}

void bl_loader_free(bl_loader *l) {
    if (!l) return;
    if (l->n_threads > 0) {
        wait_workers(l);
        loader_stop_threads(l, l->n_threads);
    }
    if (l->sync_ready) {
        pthread_cond_destroy(&l->job_done);
        pthread_cond_destroy(&l->work_ready);
        pthread_mutex_destroy(&l->mutex);
    }
    free(l->threads);
    free(l->order);
    for (int k = 0; k < 2; k++) {
        free(l->slots[k].rows);
        free(l->slots[k].batch.images);
        free(l->slots[k].batch.labels);
        free(l->slots[k].batch.ages);
    }
    free(l);
}
