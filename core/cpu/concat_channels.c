/* concat_channels.c — the cpu backend's concat along channels: one memcpy (forward) or one float add loop
 * (backward) per sample, samples split over threads; bitwise ref (cpu_ops.h). */
#include <string.h>

#include "core/cpu/cpu_ops.h"
#include "core/cpu/threads.h"
#include "core/ref/ref.h"

static bl_concat_channels_forward_fn concat_channels_forward_cpu;
static bl_concat_channels_backward_fn concat_channels_backward_cpu;

typedef struct concat_job {
    int c_part, c_total, c_off;
    int64_t hw;
    const float *src;
    float *dst;
} concat_job;

/* sample b: y[b, c_off … c_off + c_part) = x[b] — one contiguous block of c_part·hw floats */
static void concat_forward_task(void *arg, int b) {
    const concat_job *j = arg;
    int64_t block = (int64_t)j->c_part * j->hw;
    memcpy(j->dst + ((int64_t)b * j->c_total + j->c_off) * j->hw, j->src + (int64_t)b * block,
           (size_t)block * sizeof(float));
}

/* in x [n,c_part,hw], out y [n,c_total,hw] at channel offset c_off */
static void concat_channels_forward_cpu(const bl_kernels *self, int n, int c_part, int c_total, int c_off, int64_t hw,
                                 const float *x, float *y) {
    concat_job job = {.c_part = c_part, .c_total = c_total, .c_off = c_off, .hw = hw, .src = x, .dst = y};
    bl_parallel_for(n, concat_forward_task, &job);
}

/* sample b: dx[b] += dy[b, c_off …] (float add: ref's double sum of two floats, innocuous) */
static void concat_backward_task(void *arg, int b) {
    const concat_job *j = arg;
    int64_t block = (int64_t)j->c_part * j->hw;
    const float *restrict dy = j->src + ((int64_t)b * j->c_total + j->c_off) * j->hw;
    float *restrict dx = j->dst + (int64_t)b * block;
    for (int64_t i = 0; i < block; i++) dx[i] = dx[i] + dy[i];
}

/* in dy [n,c_total,hw], acc dx [n,c_part,hw] += the slice at channel offset c_off */
static void concat_channels_backward_cpu(const bl_kernels *self, int n, int c_part, int c_total, int c_off, int64_t hw,
                                  const float *dy, float *dx) {
    concat_job job = {.c_part = c_part, .c_total = c_total, .c_off = c_off, .hw = hw, .src = dy, .dst = dx};
    bl_parallel_for(n, concat_backward_task, &job);
}

void bl_cpu_concat_channels_slots(bl_kernels *k) {
    k->concat_channels_forward = concat_channels_forward_cpu;
    k->concat_channels_backward = concat_channels_backward_cpu;
}
