/* threads.c — the process-wide pthread pool behind bl_parallel_for (see threads.h).
 *
 * What it is: T−1 persistent worker threads plus the calling thread. One bl_parallel_for call is one "job":
 * the caller publishes (fn, arg, n_tasks) and bumps a generation counter; every participant t ∈ [0, T) runs the
 * contiguous task range [t·n/T, (t+1)·n/T) (the caller is participant 0); the caller returns when a pending
 * counter reaches zero. Workers spin briefly on the generation counter (cheap back-to-back jobs, as a GEMM per
 * convolution sample makes) and then sleep on a condition variable so an idle pool costs no CPU.
 *
 * What it is not: a work-stealing scheduler. Static partitioning is deliberate — which thread runs a task never
 * changes a result as long as each task owns its outputs (threads.h). Nested calls (a task calling
 * bl_parallel_for) and calls made while another thread is dispatching run serially in the calling thread: that
 * is always correct, only slower.
 *
 * Memory ordering: the job fields are written before the generation counter is stored with release order;
 * a worker that observes the new generation (acquire) therefore sees the job. Each participant's writes are
 * published by its acq_rel decrement of `pending`; the caller's acquire load of pending == 0 makes all of them
 * visible before bl_parallel_for returns. Sleeping and waking happen under one mutex, so no wake-up is lost. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, sched_yield */
#include "core/cpu/threads.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { THREADS_MAX = 1024 };

/* How long a waiting thread polls before it sleeps. Waking a sleeping thread costs a futex call and, in a VM
 * whose idle vCPU has halted, ~100 µs (measured: an empty bl_parallel_for after 2 ms idle took ~220 µs, two
 * wake-ups, versus 0.25 µs back to back). Polling for up to a millisecond keeps a training step's stream of
 * GEMMs, separated by short serial ops, on the fast path; after that the pool costs no CPU. */
static const double SPIN_SECONDS = 1e-3;

typedef struct thread_pool {
    pthread_mutex_t dispatch_mutex; /* held by the one thread currently dispatching a job (or resizing) */
    pthread_mutex_t wake_mutex;     /* protects sleeping/waking on the two condition variables */
    pthread_cond_t work_ready;      /* signalled when generation changes or on shutdown */
    pthread_cond_t work_done;       /* signalled when pending reaches zero */

    pthread_t workers[THREADS_MAX];
    int worker_count;    /* threads started, 0 when the pool is stopped */
    int workers_wanted;  /* T − 1 when they were started (creation may have failed for some) */
    int participants;    /* how many threads take a share of the job being run */
    unsigned start_generation; /* generation when the workers were created: their "last job seen" */

    /* the current job (valid while pending > 0) */
    bl_task_fn job_fn;
    void *job_arg;
    int job_tasks;

    atomic_uint generation;
    atomic_int pending;
    atomic_int shutting_down;
} thread_pool;

static thread_pool pool = {
    .dispatch_mutex = PTHREAD_MUTEX_INITIALIZER,
    .wake_mutex = PTHREAD_MUTEX_INITIALIZER,
    .work_ready = PTHREAD_COND_INITIALIZER,
    .work_done = PTHREAD_COND_INITIALIZER,
};

/* The configured thread count; 0 until the default has been computed. Read lock-free because a task running
 * inside a worker may ask for it while the dispatching thread holds dispatch_mutex. */
static atomic_int configured_threads;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

/* Non-zero in a pool worker and in a caller while it runs its share: bl_parallel_for then runs serially. */
static _Thread_local int inside_parallel_region;

static double monotonic_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Poll until done(state) is true or SPIN_SECONDS pass; returns the last done() value. The first polls use the
 * CPU's pause hint; later ones sched_yield(), so a thread that shares its core with runnable work (an
 * oversubscribed machine) gives it the core instead of burning it. */
static int spin_until(int (*done)(void *), void *state) {
    for (int spin = 0; spin < 256; spin++) {
        if (done(state)) return 1;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    double deadline = monotonic_seconds() + SPIN_SECONDS;
    for (;;) {
        for (int spin = 0; spin < 64; spin++) {
            if (done(state)) return 1;
            sched_yield();
        }
        if (monotonic_seconds() > deadline) return done(state);
    }
}

typedef struct generation_wait {
    unsigned seen;
    unsigned now;
} generation_wait;

/* done() for a worker: a new job was published, or the pool is shutting down */
static int new_job_or_shutdown(void *state) {
    generation_wait *wait = state;
    wait->now = atomic_load_explicit(&pool.generation, memory_order_acquire);
    return wait->now != wait->seen || atomic_load_explicit(&pool.shutting_down, memory_order_acquire);
}

/* done() for the dispatcher: every worker has finished its share */
static int all_workers_done(void *state) {
    (void)state;
    return atomic_load_explicit(&pool.pending, memory_order_acquire) == 0;
}

/* Parse a positive thread count from text; returns 0 when the text is not a whole number in [1, THREADS_MAX]. */
static int parse_thread_count(const char *text) {
    if (!text || !*text) return 0;
    char *end = NULL;
    long value = strtol(text, &end, 10);
    if (*end != '\0' || value < 1 || value > THREADS_MAX) return 0;
    return (int)value;
}

/* The default thread count, computed once: env BLASTO_THREADS when it is a valid count, else the online cores. */
static void compute_default_threads(void) {
    int n = parse_thread_count(getenv("BLASTO_THREADS"));
    if (n == 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        n = online >= 1 ? (online > THREADS_MAX ? THREADS_MAX : (int)online) : 1;
    }
    int expected = 0; /* bl_threads_set may already have chosen a count: keep it */
    atomic_compare_exchange_strong(&configured_threads, &expected, n);
}

int bl_threads_get(void) {
    pthread_once(&default_once, compute_default_threads);
    return atomic_load(&configured_threads);
}

/* Run participant `index`'s share [index·n/T, (index+1)·n/T) of the current job. 64-bit products: n·T may
 * exceed INT_MAX for large task counts. */
static void run_share(bl_task_fn fn, void *arg, int n_tasks, int participants, int index) {
    if (index >= participants) return;
    int begin = (int)((int64_t)index * n_tasks / participants);
    int end = (int)((int64_t)(index + 1) * n_tasks / participants);
    for (int task = begin; task < end; task++) fn(arg, task);
}

/* A pool worker: wait for a job (poll, then sleep), run its share, report done; until shutdown. */
static void *worker_main(void *arg) {
    int index = (int)(intptr_t)arg; /* participant number, 1 … T−1 */
    inside_parallel_region = 1;
    unsigned seen = pool.start_generation; /* not the live counter: a job may already have been published */
    for (;;) {
        /* poll first: the next job usually follows within microseconds */
        generation_wait wait = {.seen = seen, .now = seen};
        spin_until(new_job_or_shutdown, &wait);
        unsigned now = wait.now;
        if (now == seen) {
            pthread_mutex_lock(&pool.wake_mutex);
            while ((now = atomic_load_explicit(&pool.generation, memory_order_acquire)) == seen &&
                   !atomic_load_explicit(&pool.shutting_down, memory_order_acquire))
                pthread_cond_wait(&pool.work_ready, &pool.wake_mutex);
            pthread_mutex_unlock(&pool.wake_mutex);
        }
        if (now == seen) break; /* woken for shutdown with no new job */
        seen = now;

        run_share(pool.job_fn, pool.job_arg, pool.job_tasks, pool.participants, index);

        if (atomic_fetch_sub_explicit(&pool.pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&pool.wake_mutex);
            pthread_cond_signal(&pool.work_done);
            pthread_mutex_unlock(&pool.wake_mutex);
        }
    }
    return NULL;
}

/* Stop and join every worker. Caller holds dispatch_mutex. */
static void stop_workers_locked(void) {
    if (pool.worker_count == 0) return;
    pthread_mutex_lock(&pool.wake_mutex);
    atomic_store_explicit(&pool.shutting_down, 1, memory_order_release);
    pthread_cond_broadcast(&pool.work_ready);
    pthread_mutex_unlock(&pool.wake_mutex);
    for (int i = 0; i < pool.worker_count; i++) pthread_join(pool.workers[i], NULL);
    pool.worker_count = 0;
    pool.workers_wanted = 0;
    atomic_store(&pool.shutting_down, 0);
}

/* Start T−1 workers. Caller holds dispatch_mutex. If a thread cannot be created the pool runs with the ones
 * that started (fewer threads changes speed, never results). */
static void start_workers_locked(int threads) {
    int started = 0;
    pool.workers_wanted = threads - 1;
    pool.start_generation = atomic_load(&pool.generation);
    for (int i = 1; i < threads; i++) {
        if (pthread_create(&pool.workers[started], NULL, worker_main, (void *)(intptr_t)i) != 0) break;
        started++;
    }
    pool.worker_count = started;
}

bl_status bl_threads_set(int n) {
    if (n < 1 || n > THREADS_MAX)
        return bl_fail(BL_ERR_INVALID, "threads: count: out of range (expected 1 … %d, got %d)", THREADS_MAX, n);
    if (inside_parallel_region) /* resizing would wait for the job this very call is part of */
        return bl_fail(BL_ERR_INVALID, "threads: count: cannot be changed from inside a bl_parallel_for task");
    pthread_once(&default_once, compute_default_threads);
    pthread_mutex_lock(&pool.dispatch_mutex);
    stop_workers_locked(); /* restarted lazily by the next bl_parallel_for */
    atomic_store(&configured_threads, n);
    pthread_mutex_unlock(&pool.dispatch_mutex);
    return BL_OK;
}

void bl_threads_shutdown(void) {
    if (inside_parallel_region) return; /* the same deadlock as above; the pool stays up */
    pthread_mutex_lock(&pool.dispatch_mutex);
    stop_workers_locked();
    pthread_mutex_unlock(&pool.dispatch_mutex);
}

/* fn(arg, task) for task in [0, n_tasks); see threads.h. */
void bl_parallel_for(int n_tasks, bl_task_fn fn, void *arg) {
    if (n_tasks <= 0) return;
    /* serial cases: one task, one thread, a nested call, or another thread is dispatching right now */
    if (n_tasks == 1 || bl_threads_get() <= 1 || inside_parallel_region ||
        pthread_mutex_trylock(&pool.dispatch_mutex) != 0) {
        int saved = inside_parallel_region;
        inside_parallel_region = 1;
        for (int task = 0; task < n_tasks; task++) fn(arg, task);
        inside_parallel_region = saved;
        return;
    }

    int threads = bl_threads_get(); /* stable now: bl_threads_set needs dispatch_mutex */
    if (pool.workers_wanted != threads - 1) {
        stop_workers_locked();
        start_workers_locked(threads);
    }
    /* every started worker wakes for every job; those numbered ≥ participants get an empty range */
    int participants = pool.worker_count + 1;
    if (participants > n_tasks) participants = n_tasks;

    pool.job_fn = fn;
    pool.job_arg = arg;
    pool.job_tasks = n_tasks;
    pool.participants = participants;
    atomic_store_explicit(&pool.pending, pool.worker_count, memory_order_relaxed);
    pthread_mutex_lock(&pool.wake_mutex);
    atomic_fetch_add_explicit(&pool.generation, 1u, memory_order_release);
    pthread_cond_broadcast(&pool.work_ready);
    pthread_mutex_unlock(&pool.wake_mutex);

    inside_parallel_region = 1;
    run_share(fn, arg, n_tasks, participants, 0);
    inside_parallel_region = 0;

    if (!spin_until(all_workers_done, NULL)) {
        pthread_mutex_lock(&pool.wake_mutex);
        while (atomic_load_explicit(&pool.pending, memory_order_acquire) != 0)
            pthread_cond_wait(&pool.work_done, &pool.wake_mutex);
        pthread_mutex_unlock(&pool.wake_mutex);
    }
    pthread_mutex_unlock(&pool.dispatch_mutex);
}

/* ---- contiguous ranges (threads.h, bl_parallel_range) ---- */

typedef struct range_job {
    int64_t count, pieces;
    bl_range_fn fn;
    void *arg;
} range_job;

/* piece t of the job covers [t·count/pieces, (t+1)·count/pieces), boundaries rounded down to 16 elements so
 * that each piece's vector loop starts on a 64-byte boundary of the (64-byte aligned) tensors */
static void range_task(void *arg, int task) {
    range_job *job = arg;
    int64_t begin = job->count * task / job->pieces, end = job->count * (task + 1) / job->pieces;
    begin = task == 0 ? 0 : begin & ~(int64_t)15;
    end = task == job->pieces - 1 ? job->count : end & ~(int64_t)15;
    if (end > begin) job->fn(job->arg, begin, end);
}

void bl_parallel_range(int64_t count, int64_t grain, bl_range_fn fn, void *arg) {
    if (count <= 0) return;
    int64_t pieces = bl_threads_get();
    if (grain < 1) grain = 1;
    if (pieces > count / grain) pieces = count / grain;
    if (pieces <= 1) {
        fn(arg, 0, count);
        return;
    }
    range_job job = {.count = count, .pieces = pieces, .fn = fn, .arg = arg};
    bl_parallel_for((int)pieces, range_task, &job);
}
