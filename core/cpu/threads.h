/* threads.h — a small pthread pool for data-parallel loops.
 *
 * One process-wide pool. bl_parallel_for(n_tasks, fn, arg) calls fn(arg, task) for task = 0 … n_tasks−1, split
 * into contiguous static ranges (thread t gets tasks [t·n/T, (t+1)·n/T)), and returns when all are done; the
 * calling thread works too. Static partitioning is one half of bitwise determinism: callers must also make each
 * output element's reduction happen inside one task, in a fixed order, so the result cannot depend on T.
 * Thread count: bl_threads_set(n) (the CLI's --threads), else env BLASTO_THREADS, else the number of online cores.
 * Nested calls (fn calling bl_parallel_for) run serially in the caller. */
#ifndef BLASTO_THREADS_H
#define BLASTO_THREADS_H

#include <stdint.h>

#include "core/status.h"

typedef void (*bl_task_fn)(void *arg, int task);

/* n ≥ 1; (re)starts the pool. Returns BL_ERR_INVALID for n < 1 or n > 1024. */
bl_status bl_threads_set(int n);
/* Current thread count (initialises the default on first use). */
int bl_threads_get(void);
void bl_parallel_for(int n_tasks, bl_task_fn fn, void *arg);

/* Split [0, count) into contiguous ranges, one per thread (a range never splits below `grain` elements, and inner
 * boundaries fall on multiples of 16 elements); fn(arg, begin, end) runs once per range. */
typedef void (*bl_range_fn)(void *arg, int64_t begin, int64_t end);
void bl_parallel_range(int64_t count, int64_t grain, bl_range_fn fn, void *arg);
/* Stop the workers (tests under valgrind call it so no thread is left). */
void bl_threads_shutdown(void);

#endif
