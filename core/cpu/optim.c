/* optim.c — the cpu backend's SGD and Adam/AdamW updates: ref's update (torch's sequence of roundings) on slices
 * of the parameter, one per thread; on CPUs with AVX2 + FMA the slices run the AVX2 + FMA compilation of ref's
 * loops (optim_avx2.c). Bitwise ref (cpu_ops.h). */
#include "core/cpu/cpu_features.h"
#include "core/cpu/cpu_ops.h"
#include "core/cpu/threads.h"
#include "core/ref/ref.h"

static bl_sgd_update_fn sgd_update_cpu;
static bl_adam_update_fn adam_update_cpu;

typedef struct optimizer_job {
    int avx2;              /* the backend's instruction set includes AVX2 + FMA: run optim_avx2.c's build */
    float *p, *buf, *m, *v;
    const float *grad;
    float lr, momentum, dampening, weight_decay, beta1, beta2, eps;
    int nesterov, first_step, decoupled;
    int64_t step;
} optimizer_job;

/* The AVX2 + FMA build of ref's loops (optim_avx2.c) when the backend's instruction set includes it. */
static int use_avx2_fma(const bl_kernels *self) {
    return bl_cpu_state_of(self)->options.simd >= BL_GEMM_KERNEL_AVX2;
}

static void sgd_range(void *arg, int64_t begin, int64_t end) {
    const optimizer_job *j = arg;
#ifdef BLASTO_HAVE_X86_SIMD
    if (j->avx2) {
        sgd_update_avx2(NULL, end - begin, j->p + begin, j->grad + begin, j->buf ? j->buf + begin : NULL, j->lr,
                        j->momentum, j->dampening, j->weight_decay, j->nesterov, j->first_step);
        return;
    }
#endif
    sgd_update_ref(NULL, end - begin, j->p + begin, j->grad + begin, j->buf ? j->buf + begin : NULL, j->lr, j->momentum,
                   j->dampening, j->weight_decay, j->nesterov, j->first_step);
}

/* io p, in grad, io buf (NULL when momentum == 0) — [count] */
static void sgd_update_cpu(const bl_kernels *self, int64_t count, float *p, const float *grad, float *buf, float lr,
                    float momentum, float dampening, float weight_decay, int nesterov, int first_step) {
    optimizer_job job = {.avx2 = use_avx2_fma(self), .p = p, .grad = grad, .buf = buf, .lr = lr, .momentum = momentum,
                         .dampening = dampening, .weight_decay = weight_decay, .nesterov = nesterov,
                         .first_step = first_step};
    bl_parallel_range(count, BL_CPU_ELEMENTWISE_GRAIN, sgd_range, &job);
}

static void adam_range(void *arg, int64_t begin, int64_t end) {
    const optimizer_job *j = arg;
#ifdef BLASTO_HAVE_X86_SIMD
    if (j->avx2) {
        adam_update_avx2(NULL, end - begin, j->p + begin, j->grad + begin, j->m + begin, j->v + begin, j->lr, j->beta1,
                         j->beta2, j->eps, j->weight_decay, j->decoupled, j->step);
        return;
    }
#endif
    adam_update_ref(NULL, end - begin, j->p + begin, j->grad + begin, j->m + begin, j->v + begin, j->lr, j->beta1,
                    j->beta2, j->eps, j->weight_decay, j->decoupled, j->step);
}

/* io p, in grad, io m, io v — [count]; step t ≥ 1 */
static void adam_update_cpu(const bl_kernels *self, int64_t count, float *p, const float *grad, float *m, float *v, float lr,
                     float beta1, float beta2, float eps, float weight_decay, int decoupled, int64_t step) {
    optimizer_job job = {.avx2 = use_avx2_fma(self), .p = p, .grad = grad, .m = m, .v = v, .lr = lr, .beta1 = beta1,
                         .beta2 = beta2, .eps = eps, .weight_decay = weight_decay, .decoupled = decoupled, .step = step};
    bl_parallel_range(count, BL_CPU_ELEMENTWISE_GRAIN, adam_range, &job);
}

void bl_cpu_optim_slots(bl_kernels *k) {
    k->sgd_update = sgd_update_cpu;
    k->adam_update = adam_update_cpu;
}
